//! The host side of the WIT imports: the store state of one instance and the
//! capability checks of each phase.

use crate::bindings::berth::component::{fs, log, model, process, types};
use crate::wit::{EnvironmentInfo, Error, HostInfo, LogLevel, Provided, RequireOptions};
use berth_sandbox::{FsError, Kind, ProcessError, Programs, Sandbox};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Which lifecycle call is running; it decides which imports work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `describe`: no capabilities at all.
    Describe,
    /// `configure`: the model only; pure.
    Configure,
    /// `verify`: read-only filesystem and read-only confined programs.
    Verify,
    /// `update`: the granted filesystem and programs.
    Update,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Describe => "describe",
            Phase::Configure => "configure",
            Phase::Verify => "verify",
            Phase::Update => "update",
        })
    }
}

/// Receives the log lines of a component as they are written.
pub type LogSink = Arc<dyn Fn(LogLevel, &str) + Send + Sync>;

/// A value some root provided, as seen by `require`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProvidedValue {
    /// The key it was provided under.
    pub key: String,
    /// The providing root's host.
    pub host: String,
    /// The providing root.
    pub component: String,
    /// The value as JSON.
    pub value: String,
}

/// A `require` call a root made during configure.
#[derive(Debug, Clone)]
pub struct Require {
    /// The key.
    pub key: String,
    /// How it was asked.
    pub options: RequireOptions,
    /// How many values it got.
    pub answered: usize,
}

/// What a root sees of the deployment model, and what it published.
#[derive(Debug, Clone)]
pub struct Model {
    /// The host being deployed.
    pub host: HostInfo,
    /// The environment being deployed.
    pub environment: EnvironmentInfo,
    /// Resolved attribute values as JSON, by name.
    pub attributes: BTreeMap<String, String>,
    /// Features switched on for the root.
    pub features: Vec<String>,
    /// Everything provided so far by every root (the previous round).
    pub available: Arc<Vec<ProvidedValue>>,
    /// What this root provided in this round.
    pub provided: Vec<(String, String)>,
    /// What this root required in this round.
    pub required: Vec<Require>,
    /// Answers `model.resolve`; without one, `resolve` fails.
    pub addresses: Option<Arc<dyn ResolveAddress>>,
}

/// Resolves service addresses for `model.resolve` as the environment says
/// (its `[resolver]`, DNS, `require_v4` / `require_v6`).
pub trait ResolveAddress: Send + Sync + std::fmt::Debug {
    /// `host:port` resolved into the JSON object the WIT describes.
    fn resolve(&self, address: &str) -> Result<String, Error>;
}

impl Model {
    /// A model with no attributes and nothing provided.
    pub fn new(host: HostInfo, environment: EnvironmentInfo) -> Self {
        Self {
            host,
            environment,
            attributes: BTreeMap::new(),
            features: Vec::new(),
            available: Arc::new(Vec::new()),
            provided: Vec::new(),
            required: Vec::new(),
            addresses: None,
        }
    }
}

/// The memory cap of one instance: every linear memory and every table of
/// it counted together, and how many of each it may have.
///
/// wasmtime's own `StoreLimits` caps each memory on its own, so a component
/// with eight memories (or one huge table) could use eight times the cap.
/// Growth past the cap traps, so that the call fails with an error that
/// says so instead of the guest going on without the memory it asked for.
#[derive(Debug)]
pub(crate) struct Limiter {
    /// The cap in bytes.
    pub(crate) limit: usize,
    /// Bytes in use: memories plus tables at [`TABLE_ELEMENT`] bytes each.
    used: usize,
    /// Set when a growth was refused, to report the trap as out of memory.
    pub(crate) hit: bool,
}

/// What berth counts for one table element: wasmtime stores a pointer.
pub(crate) const TABLE_ELEMENT: usize = 8;

/// How many linear memories one instance may create.
pub const MAX_MEMORIES: usize = 16;

/// How many tables one instance may create.
pub const MAX_TABLES: usize = 16;

/// How many core instances one instance may create.
pub const MAX_INSTANCES: usize = 64;

impl Limiter {
    pub(crate) fn new(limit: usize) -> Limiter {
        Limiter {
            limit,
            used: 0,
            hit: false,
        }
    }

    fn grow(&mut self, from: usize, to: usize, what: &str) -> wasmtime::Result<bool> {
        let more = to.saturating_sub(from);
        match self.used.checked_add(more) {
            Some(used) if used <= self.limit => {
                self.used = used;
                Ok(true)
            }
            _ => {
                self.hit = true;
                Err(wasmtime::format_err!(
                    "growing a {what} by {more} bytes would exceed the memory limit of {} bytes",
                    self.limit
                ))
            }
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow(current, desired, "memory")
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow(
            current.saturating_mul(TABLE_ELEMENT),
            desired.saturating_mul(TABLE_ELEMENT),
            "table",
        )
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

/// The store state of one instance.
pub(crate) struct State {
    pub(crate) component: String,
    pub(crate) phase: Phase,
    pub(crate) model: Model,
    pub(crate) sandbox: Option<Sandbox>,
    pub(crate) programs: Arc<Programs>,
    pub(crate) timeout: Duration,
    /// Which setting gives `timeout`, for messages.
    pub(crate) timeout_setting: Arc<str>,
    /// When the running call must end: its start plus `timeout`. Host work
    /// done for the call (programs, WASI sleeps) gets what is left.
    pub(crate) deadline: Instant,
    /// Set when host work for the running call was cut at its deadline (a
    /// program killed, a WASI sleep shortened): the call then fails with
    /// [`crate::CallError::Deadline`], whatever the guest makes of it.
    pub(crate) overran: bool,
    pub(crate) log: LogSink,
    /// Log lines written in the running call, to cap them.
    pub(crate) logged: usize,
    pub(crate) limiter: Limiter,
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) stdout: MemoryOutputPipe,
    pub(crate) stderr: MemoryOutputPipe,
    pub(crate) stdio_seen: (usize, usize),
    /// What `berth:python-runtime/sources` hands the guest (Python
    /// components only).
    pub(crate) sources: Option<crate::python::Shared>,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl State {
    /// Forwards what a WASI guest printed since the last call to the log.
    pub(crate) fn flush_stdio(&mut self) {
        let out = self.stdout.contents();
        let err = self.stderr.contents();
        let fresh = |bytes: &[u8], seen: usize| {
            (bytes.len() > seen).then(|| String::from_utf8_lossy(&bytes[seen..]).into_owned())
        };
        let texts = [
            (fresh(&out, self.stdio_seen.0), LogLevel::Info),
            (fresh(&err, self.stdio_seen.1), LogLevel::Warn),
        ];
        self.stdio_seen = (out.len(), err.len());
        for (text, level) in texts {
            for line in text.iter().flat_map(|t| t.lines()) {
                self.log_line(level, line);
            }
        }
    }

    fn sandbox_for(&self, request: &str) -> Result<&Sandbox, Error> {
        match self.phase {
            Phase::Verify | Phase::Update => self.sandbox.as_ref().ok_or_else(|| {
                Error::Failed(format!("{request}: no sandbox is set up (a berth bug)"))
            }),
            phase => Err(Error::Invalid(format!(
                "{request} is not available during {phase}: configure must be pure; touch files and run programs in verify or update"
            ))),
        }
    }

    fn model_write(&self, request: &str) -> Result<(), Error> {
        if self.phase == Phase::Configure {
            Ok(())
        } else {
            Err(Error::Invalid(format!(
                "{request} is only available during configure, not during {}",
                self.phase
            )))
        }
    }
}

fn fs_error(e: FsError) -> Error {
    match e {
        FsError::Denied(m) => Error::Denied(m),
        FsError::NotFound(m) => Error::NotFound(m),
        FsError::Invalid(m) => Error::Invalid(m),
        FsError::Io(m) => Error::Io(m),
    }
}

fn process_error(e: ProcessError) -> Error {
    match e {
        ProcessError::Denied(m) => Error::Denied(m),
        ProcessError::Invalid(m) => Error::Invalid(m),
        ProcessError::Io(m) => Error::Io(m),
        ProcessError::TimedOut(m) => Error::Failed(m),
    }
}

impl types::Host for State {}

impl model::Host for State {
    fn host(&mut self) -> HostInfo {
        self.model.host.clone()
    }

    fn environment(&mut self) -> EnvironmentInfo {
        self.model.environment.clone()
    }

    fn attribute(&mut self, name: String) -> Result<String, Error> {
        self.model.attributes.get(&name).cloned().ok_or_else(|| {
            let known: Vec<&str> = self.model.attributes.keys().map(String::as_str).collect();
            Error::NotFound(format!(
                "component `{}` has no attribute `{name}` (it declares: {})",
                self.component,
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ))
        })
    }

    fn features(&mut self) -> Vec<String> {
        self.model.features.clone()
    }

    fn provide(&mut self, key: String, value: String) -> Result<(), Error> {
        self.model_write(&format!("provide(`{key}`)"))?;
        if let Err(e) = serde_json_check(&value) {
            return Err(Error::Invalid(format!(
                "provide(`{key}`): the value is not JSON: {e}"
            )));
        }
        self.model.provided.retain(|(k, _)| *k != key);
        self.model.provided.push((key, value));
        Ok(())
    }

    fn require(&mut self, key: String, options: RequireOptions) -> Result<Vec<Provided>, Error> {
        self.model_write(&format!("require(`{key}`)"))?;
        let host = &self.model.host.name;
        let found: Vec<Provided> = self
            .model
            .available
            .iter()
            .filter(|p| p.key == key && (!options.same_host || p.host == *host))
            .map(|p| Provided {
                host: p.host.clone(),
                component: p.component.clone(),
                value: p.value.clone(),
            })
            .collect();
        self.model.required.push(Require {
            key,
            options,
            answered: found.len(),
        });
        Ok(found)
    }

    fn resolve(&mut self, address: String) -> Result<String, Error> {
        match &self.model.addresses {
            Some(resolver) => resolver.resolve(&address),
            None => Err(Error::Failed(format!(
                "resolve(`{address}`): no address resolution is available here"
            ))),
        }
    }
}

fn serde_json_check(value: &str) -> Result<(), serde_json::Error> {
    // The host only needs to know that the value parses; it stays a string.
    serde_json::from_str::<serde::de::IgnoredAny>(value).map(|_| ())
}

impl fs::Host for State {
    fn read(&mut self, path: String) -> Result<Vec<u8>, Error> {
        self.sandbox_for(&format!("fs.read(`{path}`)"))?
            .read(&path)
            .map_err(fs_error)
    }

    fn write(&mut self, path: String, content: Vec<u8>, mode: Option<u32>) -> Result<(), Error> {
        self.sandbox_for(&format!("fs.write(`{path}`)"))?
            .write_atomic(&path, &content, mode)
            .map_err(fs_error)
    }

    fn stat(&mut self, path: String) -> Result<Option<fs::StatInfo>, Error> {
        let stat = self
            .sandbox_for(&format!("fs.stat(`{path}`)"))?
            .stat(&path)
            .map_err(fs_error)?;
        Ok(stat.map(|s| fs::StatInfo {
            kind: match s.kind {
                Kind::File => fs::FileKind::File,
                Kind::Directory => fs::FileKind::Directory,
                Kind::Symlink => fs::FileKind::Symlink,
                Kind::Other => fs::FileKind::Other,
            },
            size: s.size,
            mode: s.mode,
        }))
    }

    fn list(&mut self, path: String) -> Result<Vec<String>, Error> {
        self.sandbox_for(&format!("fs.list(`{path}`)"))?
            .list(&path)
            .map_err(fs_error)
    }

    fn mkdir(&mut self, path: String, leading: bool) -> Result<(), Error> {
        self.sandbox_for(&format!("fs.mkdir(`{path}`)"))?
            .mkdir(&path, leading)
            .map_err(fs_error)
    }

    fn remove(&mut self, path: String) -> Result<(), Error> {
        self.sandbox_for(&format!("fs.remove(`{path}`)"))?
            .remove(&path)
            .map_err(fs_error)
    }

    fn symlink(&mut self, path: String, target: String) -> Result<(), Error> {
        self.sandbox_for(&format!("fs.symlink(`{path}`)"))?
            .symlink(&path, &target)
            .map_err(fs_error)
    }

    fn chmod(&mut self, path: String, mode: u32) -> Result<(), Error> {
        self.sandbox_for(&format!("fs.chmod(`{path}`)"))?
            .chmod(&path, mode)
            .map_err(fs_error)
    }
}

impl process::Host for State {
    fn run(&mut self, cmd: process::Command) -> Result<process::Output, Error> {
        let request = format!("process.run(`{}`)", cmd.argv.join(" "));
        let sandbox = self.sandbox_for(&request)?;
        // A program gets what is left of the call's budget, not a budget of
        // its own: the call ends at its deadline whatever it runs.
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            self.overran = true;
            return Err(Error::Failed(format!(
                "{request}: the deadline of this {} call has passed",
                self.phase
            )));
        }
        let shown = cmd.argv.join(" ");
        let result = sandbox.run(
            &self.programs,
            &berth_sandbox::Command {
                argv: cmd.argv,
                cwd: cmd.cwd,
                stdin: cmd.stdin,
                timeout: left,
            },
        );
        if matches!(result, Err(ProcessError::TimedOut(_))) {
            self.overran = true;
        }
        let output = result.map_err(process_error)?;
        if let Some(note) = output.dropped_note() {
            self.log_line(
                LogLevel::Warn,
                &format!("`{shown}` wrote more than berth keeps: {note}"),
            );
        }
        Ok(process::Output {
            status: output.status,
            stdout: output.stdout,
            stderr: output.stderr,
        })
    }
}

/// How many log lines one call into a component may write; the rest are
/// counted and dropped with a note.
pub const MAX_LOG_LINES: usize = 1000;

/// How long one log line may be, in bytes; a longer one is cut.
pub const MAX_LOG_LINE: usize = 4096;

impl State {
    /// Passes a line to the log sink, within [`MAX_LOG_LINES`] per call and
    /// [`MAX_LOG_LINE`] bytes per line.
    pub(crate) fn log_line(&mut self, level: LogLevel, line: &str) {
        self.logged += 1;
        if self.logged > MAX_LOG_LINES {
            return;
        }
        if line.len() <= MAX_LOG_LINE {
            (self.log)(level, line);
            return;
        }
        let mut end = MAX_LOG_LINE;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        let cut = format!(
            "{}… ({} more bytes not shown)",
            &line[..end],
            line.len() - end
        );
        (self.log)(level, &cut);
    }

    /// At the end of a call: one note for the log lines past the cap.
    pub(crate) fn end_log(&mut self) {
        if self.logged > MAX_LOG_LINES {
            let dropped = self.logged - MAX_LOG_LINES;
            (self.log)(
                LogLevel::Warn,
                &format!(
                    "{dropped} more log lines of this {} call were dropped (at most {MAX_LOG_LINES} are shown per call)",
                    self.phase
                ),
            );
        }
        self.logged = 0;
    }
}

impl log::Host for State {
    fn write(&mut self, level: LogLevel, message: String) {
        self.log_line(level, &message);
    }
}
