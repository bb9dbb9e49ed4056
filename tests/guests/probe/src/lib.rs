//! A guest that performs the fs and process calls a test asks for, one
//! custom step per call, so that a test can check each call's outcome in the
//! step results.
//!
//! The attribute `probes` is a list of probes, each a JSON object (or a
//! string holding one):
//!
//! | `op` | fields | default phase |
//! | --- | --- | --- |
//! | `read`, `stat`, `list` | `path` | verify |
//! | `write` | `path`, `content` (text), `mode`? | update |
//! | `mkdir` | `path`, `leading`? | update |
//! | `remove` | `path` | update |
//! | `symlink` | `path`, `target` | update |
//! | `chmod` | `path`, `mode` | update |
//! | `run` | `argv`, `cwd`?, `stdin`? | update |
//! | `spin`, `hog`, `panic` | — (loop, allocate without bound, panic) | verify |
//! | `file` | `path`, `content`, `mode`? — a built-in File step, not a call | — |
//! | `template` | `path`, `content` (the template text) — a File step rendered by the host | — |
//! | `tree` | `depth` — a chain of `depth` nested `noop` steps | — |
//! | `noop` | — (does nothing: up to date) | verify |
//! | `log` | `content`, `depth` (lines), `level`? (`info`, `warn`, `error`) | verify |
//!
//! Optional fields of every probe: `label` (the step's label; default `"<op>
//! <path or argv>"`), `phase` (`"verify"` or `"update"`, to run a write in
//! verify, for example), `expect` and `contains` (below). Unknown fields are
//! errors.
//!
//! Outcomes, per step, without `expect`:
//! - refused or failed: the step fails with the host's error unchanged (a
//!   `run` whose program exits non-zero fails with `failed`, naming the
//!   status and stderr);
//! - succeeded in verify: the step is up to date;
//! - phase update: verify says "needs update", and update performs the call;
//!   success means the step changed.
//!
//! berth stops a root at its first failed step, so a test that wants many
//! probes checked in one run gives each an `expect`: `"ok"` or an error kind
//! (`"denied"`, `"not-found"`, `"invalid"`, `"io"`, `"failed"`), and
//! optionally `contains`, a text the outcome's message must contain. The
//! step then succeeds exactly when the outcome matches, and otherwise fails
//! with ``probe `LABEL`: expected KIND, got KIND: MESSAGE``.
//!
//! Every outcome is logged at info level as ``probe `LABEL`: KIND: DETAIL``
//! (KIND `ok` or the error kind; DETAIL the text read, the stat, the listing,
//! the program's stdout, or the host's message).
//!
//! Four roots: `probe` needs nothing beyond the default grant;
//! `probe-granted` declares the programs `cat`, `true`, `false` and `sleep` and the
//! path `/tmp` read-write, for tests of granted calls; `probe-tools`
//! declares `bash`, `env`, `curl`, `cp`, `mknod`, `kill` and `cat`, for
//! tests of what a granted program can reach; `probe-daemon` declares
//! `bash`, `sleep`, `setsid`, `head`, `cat` and `touch`, for programs that
//! try to outlive their step or flood berth with output.

use berth_sdk::process::Command;
use berth_sdk::{
    Access, Attribute, Component, Configure, Custom, CustomStep, Error, File, Needs, Result,
    StepContext, Verdict, fs, log,
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Op {
    Read,
    Stat,
    List,
    Write,
    Mkdir,
    Remove,
    Symlink,
    Chmod,
    Run,
    Spin,
    Hog,
    Panic,
    File,
    Template,
    Tree,
    Noop,
    Log,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Phase {
    Verify,
    Update,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Probe {
    op: Op,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mode: Option<u32>,
    #[serde(default)]
    leading: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    argv: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cwd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stdin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    phase: Option<Phase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expect: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    contains: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    depth: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    level: Option<String>,
}

impl Probe {
    fn phase(&self) -> Phase {
        self.phase.unwrap_or(match self.op {
            Op::Read
            | Op::Stat
            | Op::List
            | Op::Spin
            | Op::Hog
            | Op::Panic
            | Op::File
            | Op::Template
            | Op::Tree
            | Op::Noop
            | Op::Log => Phase::Verify,
            Op::Write | Op::Mkdir | Op::Remove | Op::Symlink | Op::Chmod | Op::Run => Phase::Update,
        })
    }

    fn label(&self) -> String {
        if let Some(label) = &self.label {
            return label.clone();
        }
        let op = serde_json::to_value(self.op)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        match (&self.path, self.argv.is_empty()) {
            (Some(path), _) => format!("{op} {path}"),
            (None, false) => format!("{op} {}", self.argv.join(" ")),
            (None, true) => op,
        }
    }

    fn path(&self) -> Result<&str> {
        self.path
            .as_deref()
            .ok_or_else(|| Error::invalid(format!("probe `{}` needs a `path`", self.label())))
    }

    /// Perform the call; the success detail for the log.
    fn perform(&self) -> Result<String> {
        Ok(match self.op {
            Op::Read => String::from_utf8_lossy(&fs::read(self.path()?)?).into_owned(),
            Op::Stat => format!("{:?}", fs::stat(self.path()?)?),
            Op::List => fs::list(self.path()?)?.join(" "),
            Op::Write => {
                let content = self.content.clone().unwrap_or_default();
                match self.mode {
                    Some(mode) => fs::write_with_mode(self.path()?, &content, mode)?,
                    None => fs::write(self.path()?, &content)?,
                }
                format!("wrote {} bytes", content.len())
            }
            Op::Mkdir => {
                fs::mkdir(self.path()?, self.leading)?;
                "created".to_owned()
            }
            Op::Remove => {
                fs::remove(self.path()?)?;
                "removed".to_owned()
            }
            Op::Symlink => {
                let target = self.target.as_deref().ok_or_else(|| {
                    Error::invalid(format!("probe `{}` needs a `target`", self.label()))
                })?;
                fs::symlink(self.path()?, target)?;
                format!("linked to {target}")
            }
            Op::Chmod => {
                let mode = self.mode.ok_or_else(|| {
                    Error::invalid(format!("probe `{}` needs a `mode`", self.label()))
                })?;
                fs::chmod(self.path()?, mode)?;
                format!("mode {mode:o}")
            }
            Op::Run => {
                let (program, args) = self.argv.split_first().ok_or_else(|| {
                    Error::invalid(format!("probe `{}` needs an `argv`", self.label()))
                })?;
                let mut command = Command::new(program).args(args);
                if let Some(cwd) = &self.cwd {
                    command = command.cwd(cwd);
                }
                if let Some(stdin) = &self.stdin {
                    command = command.stdin(stdin.as_bytes());
                }
                let out = command.run()?;
                if !out.success() {
                    return Err(Error::failed(format!(
                        "`{}` exited with status {}: {}",
                        self.argv.join(" "),
                        out.status,
                        out.stderr_str().trim()
                    )));
                }
                out.stdout_str().into_owned()
            }
            Op::Spin => loop {
                core::hint::black_box(());
            },
            Op::Hog => {
                let mut blocks: Vec<Vec<u8>> = Vec::new();
                loop {
                    let mut block = vec![0u8; 1 << 20];
                    for page in block.iter_mut().step_by(4096) {
                        *page = 1;
                    }
                    blocks.push(core::hint::black_box(block));
                }
            }
            Op::Panic => panic!("probe `{}` panics on purpose", self.label()),
            Op::Noop => String::new(),
            Op::Log => {
                let line = self.content.clone().unwrap_or_default();
                for _ in 0..self.depth.unwrap_or(1) {
                    match self.level.as_deref() {
                        Some("warn") => log::warn!("{line}"),
                        Some("error") => log::error!("{line}"),
                        _ => log::info!("{line}"),
                    }
                }
                format!("logged {} lines", self.depth.unwrap_or(1))
            }
            Op::File | Op::Template | Op::Tree => {
                return Err(Error::invalid("this probe is a step of configure"));
            }
        })
    }

    /// Perform the call in its phase, log the outcome and check it against
    /// `expect`.
    fn run_logged(&self) -> Result<()> {
        let outcome = self.perform();
        let (kind, detail) = match &outcome {
            Ok(detail) => ("ok", detail.trim_end()),
            Err(e) => (e.kind(), e.message()),
        };
        log::info!("probe `{}`: {kind}: {detail}", self.label());
        let Some(expect) = &self.expect else {
            return outcome.map(drop);
        };
        let contains = self.contains.as_deref().unwrap_or("");
        if kind == expect && detail.contains(contains) {
            return Ok(());
        }
        let wanted = match contains {
            "" => expect.clone(),
            text => format!("{expect} containing `{text}`"),
        };
        Err(Error::failed(format!(
            "probe `{}`: expected {wanted}, got {kind}: {detail}",
            self.label()
        )))
    }
}

fn configure(cx: &mut Configure) -> Result<()> {
    let probes: Vec<serde_json::Value> = cx.attribute("probes")?;
    for (i, value) in probes.into_iter().enumerate() {
        let probe: Probe = match value {
            serde_json::Value::String(json) => serde_json::from_str(&json),
            other => serde_json::from_value(other),
        }
        .map_err(|e| Error::invalid(format!("probe {i} of attribute `probes`: {e}")))?;
        let label = probe.label();
        if probe.op == Op::File {
            let mut file = File::new(probe.path()?)
                .text(probe.content.clone().unwrap_or_default())
                .label(label);
            if let Some(mode) = probe.mode {
                file = file.mode(mode);
            }
            cx.add(file);
            continue;
        }
        if probe.op == Op::Template {
            let file = File::new(probe.path()?)
                .template_str(probe.content.clone().unwrap_or_default())
                .label(label);
            cx.add(file);
            continue;
        }
        if probe.op == Op::Tree {
            let noop = |level: u32| {
                let step = Probe {
                    op: Op::Noop,
                    label: Some(format!("level {level}")),
                    ..probe.clone()
                };
                Custom::new("probe").data(&step).label(format!("level {level}"))
            };
            let mut parent = cx.add(noop(1));
            for level in 2..=probe.depth.unwrap_or(1) {
                parent = cx.add_under(parent, noop(level));
            }
            continue;
        }
        cx.add(Custom::new("probe").data(&probe).label(label));
    }
    Ok(())
}

fn verify(step: &CustomStep) -> Result<Verdict> {
    let probe: Probe = step.data()?;
    match probe.phase() {
        Phase::Verify => {
            probe.run_logged()?;
            Ok(Verdict::UpToDate)
        }
        Phase::Update => Ok(Verdict::needs_update(format!(
            "probe `{}` runs in update",
            probe.label()
        ))),
    }
}

fn update(step: &CustomStep) -> Result<()> {
    let probe: Probe = step.data()?;
    probe.run_logged()
}

fn attributes() -> Vec<Attribute> {
    vec![
        Attribute::list("probes")
            .default(Vec::<String>::new())
            .doc("The calls to make, one custom step each (see the crate docs)."),
    ]
}

/// A root of this package, named `$name`, declaring `$needs`: every root
/// takes the same attribute and makes its probes the same way.
macro_rules! probe_root {
    ($(#[$meta:meta])* $root:ident, $name:literal, $doc:expr, $needs:expr) => {
        $(#[$meta])*
        struct $root;

        impl Component for $root {
            const NAME: &'static str = $name;
            const DOC: &'static str = $doc;

            fn attributes() -> Vec<Attribute> {
                attributes()
            }

            fn needs() -> Needs {
                $needs
            }

            fn configure(cx: &mut Configure) -> Result<()> {
                configure(cx)
            }

            fn verify(step: &CustomStep, _cx: &StepContext) -> Result<Verdict> {
                verify(step)
            }

            fn update(step: &CustomStep, _cx: &StepContext) -> Result<()> {
                update(step)
            }
        }
    };
}

/// Needs of nothing but the programs `commands`.
fn commands(commands: &[&str]) -> Needs {
    commands
        .iter()
        .fold(Needs::new(), |needs, c| needs.command(*c))
}

probe_root!(
    /// Probes with the default grant only.
    Probes,
    "probe",
    "Test guest: performs the fs and process calls listed in `probes`.",
    Needs::new()
);

probe_root!(
    /// Probes that declare programs and `/tmp`.
    GrantedProbes,
    "probe-granted",
    "Test guest: like `probe`, declaring the programs `cat`, `true`, `sleep` \
     and `false` and the path `/tmp` read-write.",
    commands(&["cat", "true", "false", "sleep"]).path("/tmp", Access::ReadWrite)
);

probe_root!(
    /// Probes that declare the programs an attacker would reach for: a
    /// shell, `env`, `curl`, `cp`, `mknod` and `kill`, and nothing else.
    ToolProbes,
    "probe-tools",
    "Test guest: like `probe`, declaring the programs `bash`, `env`, `curl`, \
     `cp`, `mknod`, `kill` and `cat`.",
    commands(&["bash", "env", "curl", "cp", "mknod", "kill", "cat"])
);

probe_root!(
    /// Probes that declare the programs a step would use to outlive itself
    /// or to flood berth with output.
    DaemonProbes,
    "probe-daemon",
    "Test guest: like `probe`, declaring the programs `bash`, `sleep`, \
     `setsid`, `head`, `cat` and `touch`.",
    commands(&["bash", "sleep", "setsid", "head", "cat", "touch"])
);

berth_sdk::export!(Probes, GrantedProbes, ToolProbes, DaemonProbes);
