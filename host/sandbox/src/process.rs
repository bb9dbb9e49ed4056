//! Programs: the allow-list, and confined runs with a cleared environment,
//! captured output and a timeout.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

mod capture;
mod supervisor;

pub use capture::OUTPUT_LIMIT;

use crate::confine;
use crate::error::ProcessError;
use crate::fs::{CWD, RootKind, Sandbox, map_io};

/// The only search path for program names, and the `PATH` programs see.
pub const SAFE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The programs a component may run, resolved once to absolute paths.
#[derive(Debug, Clone, Default)]
pub struct Programs {
    allowed: Vec<Program>,
}

#[derive(Debug, Clone)]
struct Program {
    /// As granted: a name or an absolute path.
    name: String,
    path: PathBuf,
}

impl Programs {
    /// Resolves every granted program: a name on [`SAFE_PATH`], an absolute
    /// path as is.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Invalid`] naming the first program that is not found,
    /// is not executable, or is a relative path with a `/`.
    pub fn new(allowed: &[String]) -> Result<Programs, ProcessError> {
        let mut out = Vec::with_capacity(allowed.len());
        for name in allowed {
            let path = resolve_program(name)?;
            out.push(Program {
                name: name.clone(),
                path,
            });
        }
        Ok(Programs { allowed: out })
    }

    /// No program at all.
    pub fn none() -> Programs {
        Programs::default()
    }

    /// The absolute path of `program` (a granted name, or the absolute path
    /// of a granted program), or `None` when it is not granted.
    pub fn resolve(&self, program: &str) -> Option<&Path> {
        self.allowed
            .iter()
            .find(|p| p.name == program || p.path.as_os_str() == program)
            .map(|p| p.path.as_path())
    }

    /// The resolved absolute paths of the granted programs.
    pub(crate) fn paths(&self) -> impl Iterator<Item = &Path> {
        self.allowed.iter().map(|p| p.path.as_path())
    }

    /// The granted names, as given to [`Programs::new`].
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.allowed.iter().map(|p| p.name.as_str())
    }
}

fn resolve_program(name: &str) -> Result<PathBuf, ProcessError> {
    if name.is_empty() {
        return Err(ProcessError::Invalid(
            "an empty program name cannot be granted".into(),
        ));
    }
    let executable = |p: &Path| {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.starts_with('/') {
        let p = PathBuf::from(name);
        return if executable(&p) {
            Ok(p)
        } else {
            Err(ProcessError::Invalid(format!(
                "the program `{name}` does not exist or is not executable"
            )))
        };
    }
    if name.contains('/') {
        return Err(ProcessError::Invalid(format!(
            "the program `{name}` must be a plain name or an absolute path"
        )));
    }
    SAFE_PATH
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| executable(p))
        .ok_or_else(|| {
            ProcessError::Invalid(format!(
                "the program `{name}` is not found on the system path `{SAFE_PATH}`"
            ))
        })
}

/// A program run: never through a shell.
#[derive(Debug, Clone)]
pub struct Command {
    /// Program (a granted name or absolute path) and its arguments.
    pub argv: Vec<String>,
    /// Working directory relative to the workdir (or absolute inside it);
    /// `None` for the workdir itself.
    pub cwd: Option<String>,
    /// Bytes written to the program's standard input; `None` for `/dev/null`.
    pub stdin: Option<Vec<u8>>,
    /// How long the program may run before it is killed.
    pub timeout: Duration,
}

impl Command {
    /// A run of `argv` in the workdir, without input, with a 60 s timeout.
    pub fn new<I, S>(argv: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Command {
            argv: argv.into_iter().map(Into::into).collect(),
            cwd: None,
            stdin: None,
            timeout: Duration::from_secs(60),
        }
    }

    /// The argv as one line, for messages.
    pub fn display(&self) -> String {
        self.argv.join(" ")
    }
}

/// What a finished program left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The exit status; -1 when the program was killed by a signal.
    pub status: i32,
    /// What it wrote to standard output, up to [`OUTPUT_LIMIT`] bytes.
    pub stdout: Vec<u8>,
    /// What it wrote to standard error, up to [`OUTPUT_LIMIT`] bytes.
    pub stderr: Vec<u8>,
    /// How many bytes of standard output were dropped past the limit.
    pub stdout_dropped: u64,
    /// How many bytes of standard error were dropped past the limit.
    pub stderr_dropped: u64,
}

impl Output {
    /// A note on what was dropped, for a log line or an error: ``berth kept
    /// the first 16 MiB of stdout and dropped 2.9 GiB``; `None` when
    /// nothing was.
    pub fn dropped_note(&self) -> Option<String> {
        let parts: Vec<String> = [
            ("stdout", self.stdout_dropped),
            ("stderr", self.stderr_dropped),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(what, n)| format!("{what} ({} dropped)", human_bytes(n)))
        .collect();
        (!parts.is_empty()).then(|| {
            format!(
                "berth kept the first {} of {}",
                human_bytes(OUTPUT_LIMIT as u64),
                parts.join(" and ")
            )
        })
    }
}

/// `1.2 MB`-style sizes for messages: bytes below 1 KiB, else KiB, MiB or
/// GiB with one decimal where it matters.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n == 1 {
        return "1 byte".to_owned();
    }
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() < 0.05 || value >= 100.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

impl Sandbox {
    /// Runs a granted program and waits for it, at most `cmd.timeout`.
    ///
    /// The program gets a cleared environment (only `PATH` = [`SAFE_PATH`],
    /// `LANG=C.UTF-8` and `HOME` = the workdir), runs in its own process
    /// group in a working directory inside the workdir (`/` when the workdir
    /// does not exist yet, as in a first predict run), and is confined by
    /// Landlock and a seccomp filter: it reads the system set and its roots
    /// (all read-only in a read-only sandbox), executes only itself and its
    /// interpreters, makes no device nodes, signals and connects to nothing
    /// outside its own process tree and, unless [`Sandbox::allow_network`],
    /// creates no socket at all. A non-zero exit is not an error.
    ///
    /// The program runs under a supervisor process (a child subreaper): when
    /// the program exits or the deadline passes, every process it started
    /// is killed, including those that called `setsid` or daemonized, before
    /// `run` returns. Of each output stream the first [`OUTPUT_LIMIT`] bytes
    /// are kept; the rest is read, counted ([`Output::stdout_dropped`]) and
    /// dropped.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Denied`] when the program is not granted, or when the
    /// kernel cannot enforce part of the confinement and unconfined runs are
    /// not allowed;
    /// [`ProcessError::Invalid`] for an empty argv or a bad `cwd`;
    /// [`ProcessError::TimedOut`] when it was killed at the deadline;
    /// [`ProcessError::Io`] when it could not be started.
    pub fn run(&self, programs: &Programs, cmd: &Command) -> Result<Output, ProcessError> {
        let shown = cmd.display();
        let Some(name) = cmd.argv.first() else {
            return Err(ProcessError::Invalid("cannot run an empty command".into()));
        };
        let Some(program) = programs.resolve(name) else {
            let c = self.component();
            return Err(ProcessError::Denied(format!(
                "running `{name}` is not granted; grant it with `[grants:{c}]` `commands = {name}`"
            )));
        };
        let missing = confine::unenforced(self.network);
        if !missing.is_empty() {
            if self.unconfined {
                tracing::warn!(command = %shown, unenforced = %missing.join(", "),
                    "this kernel cannot enforce every part of the confinement; running anyway");
            } else {
                return Err(ProcessError::Denied(format!(
                    "cannot run `{shown}`: this kernel cannot enforce {} for programs, so none is run; \
                     run berth on Linux 6.12 or later (Landlock ABI 6), or accept it with \
                     `allow_unconfined = true` in `[environment]`",
                    missing.join(", ")
                )));
            }
        }
        let confinement = confine::confinement(self, programs)
            .map_err(|e| ProcessError::Io(format!("cannot confine `{shown}`: {e}")))?;
        let cwd = self.cwd_fd(cmd.cwd.as_deref())?;

        let _span = tracing::debug_span!("berth.process.run", command = %shown).entered();
        let mut command = std::process::Command::new(program);
        command
            .arg0(name)
            .args(&cmd.argv[1..])
            .env_clear()
            .env("PATH", SAFE_PATH)
            .env("LANG", "C.UTF-8")
            .env("HOME", self.workdir())
            .stdin(if cmd.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // The supervisor first: it forks the program, which then confines
        // itself; the supervisor stays outside the confinement.
        let mut control = supervisor::install(&mut command)
            .map_err(|e| ProcessError::Io(format!("cannot run `{shown}`: {e}")))?;
        confine::install(&mut command, cwd, confinement, !self.unconfined);
        let mut child = command.spawn().map_err(|e| spawn_error(&shown, &e))?;
        drop(command);

        let captured = capture::collect(&mut child, &mut control, cmd.stdin.clone(), cmd.timeout)
            .map_err(|e| ProcessError::Io(format!("cannot wait for `{shown}`: {e}")))?;
        let Some(status) = captured.status else {
            return Err(ProcessError::TimedOut(format!(
                "`{shown}` did not finish within {} and was killed, with every process it started",
                human_duration(cmd.timeout)
            )));
        };
        Ok(Output {
            status: exit_code(status),
            stdout: captured.stdout.kept,
            stderr: captured.stderr.kept,
            stdout_dropped: captured.stdout.dropped,
            stderr_dropped: captured.stderr.dropped,
        })
    }

    /// Opens the working directory through the workdir's handle, so a symlink
    /// out of the workdir cannot become the program's cwd.
    fn cwd_fd(&self, cwd: Option<&str>) -> Result<Option<OwnedFd>, ProcessError> {
        let workdir = &self.roots()[0];
        let Some(cwd) = cwd else {
            return match workdir.dir() {
                Ok(d) => d
                    .try_clone()
                    .map(|d| Some(OwnedFd::from(d.into_std_file())))
                    .map_err(|e| map_io(e, CWD, &workdir.host).into()),
                // No workdir yet (a first predict run): run in `/`.
                Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::File::open("/")
                    .map(|f| Some(OwnedFd::from(f)))
                    .map_err(|e| ProcessError::Io(format!("cannot open `/`: {e}"))),
                Err(e) => Err(map_io(e, CWD, &workdir.host).into()),
            };
        };
        let r = self.resolve(cwd, CWD)?;
        if r.root.kind != RootKind::Workdir {
            return Err(ProcessError::Invalid(format!(
                "the working directory `{cwd}` is not inside the workdir `{}`",
                workdir.host.display()
            )));
        }
        let host = r.host();
        let dir = workdir.dir().map_err(|e| map_io(e, CWD, &host))?;
        let opened = if r.rel.as_os_str().is_empty() {
            dir.try_clone()
        } else {
            dir.open_dir(&r.rel)
        };
        opened
            .map(|d| Some(OwnedFd::from(d.into_std_file())))
            .map_err(|e| map_io(e, CWD, &host).into())
    }
}

fn spawn_error(shown: &str, e: &io::Error) -> ProcessError {
    if e.kind() == io::ErrorKind::PermissionDenied {
        ProcessError::Io(format!(
            "cannot run `{shown}`: {e} (programs run confined to the system paths and the granted paths)"
        ))
    } else {
        ProcessError::Io(format!("cannot run `{shown}`: {e}"))
    }
}

fn exit_code(status: ExitStatus) -> i32 {
    match status.code() {
        Some(code) => code,
        None => {
            debug_assert!(status.signal().is_some());
            -1
        }
    }
}

fn human_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}
