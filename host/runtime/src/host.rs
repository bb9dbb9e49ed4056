//! The host side of the WIT imports: the store state of one instance and the
//! capability checks of each phase.

use crate::bindings::berth::component::{fs, log, model, process, types};
use crate::wit::{EnvironmentInfo, Error, HostInfo, LogLevel, Provided, RequireOptions};
use berth_sandbox::{FsError, Kind, ProcessError, Programs, Sandbox};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits};
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

/// Counts refused memory growth so a trap can be reported as "out of memory".
#[derive(Debug)]
pub(crate) struct Limiter {
    pub(crate) limits: StoreLimits,
    pub(crate) memory: usize,
    pub(crate) hit: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = self.limits.memory_growing(current, desired, maximum)?;
        if !ok {
            self.hit = true;
        }
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
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
    pub(crate) log: LogSink,
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
        for (bytes, seen, level) in [
            (&out, &mut self.stdio_seen.0, LogLevel::Info),
            (&err, &mut self.stdio_seen.1, LogLevel::Warn),
        ] {
            if bytes.len() > *seen {
                let text = String::from_utf8_lossy(&bytes[*seen..]);
                for line in text.lines() {
                    (self.log)(level, line);
                }
                *seen = bytes.len();
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
    #[tracing::instrument(name = "model.host", level = "debug", skip_all, fields(component = %self.component), ret)]
    fn host(&mut self) -> HostInfo {
        self.model.host.clone()
    }

    #[tracing::instrument(name = "model.environment", level = "debug", skip_all, fields(component = %self.component))]
    fn environment(&mut self) -> EnvironmentInfo {
        self.model.environment.clone()
    }

    #[tracing::instrument(name = "model.attribute", level = "debug", skip_all, fields(component = %self.component, name = %name), ret, err(Debug))]
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

    #[tracing::instrument(name = "model.features", level = "debug", skip_all, fields(component = %self.component), ret)]
    fn features(&mut self) -> Vec<String> {
        self.model.features.clone()
    }

    #[tracing::instrument(name = "model.provide", level = "debug", skip_all, fields(component = %self.component, key = %key, value = %value), ret, err(Debug))]
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

    #[tracing::instrument(name = "model.require", level = "debug", skip_all, fields(component = %self.component, key = %key, options = ?options), ret, err(Debug))]
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

    #[tracing::instrument(name = "model.resolve", level = "debug", skip_all, fields(component = %self.component, address = %address), ret, err(Debug))]
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
    #[tracing::instrument(name = "fs.read", level = "debug", skip_all, fields(component = %self.component, path = %path, bytes = tracing::field::Empty), err(Debug))]
    fn read(&mut self, path: String) -> Result<Vec<u8>, Error> {
        let content = self
            .sandbox_for(&format!("fs.read(`{path}`)"))?
            .read(&path)
            .map_err(fs_error)?;
        tracing::Span::current().record("bytes", content.len());
        Ok(content)
    }

    #[tracing::instrument(name = "fs.write", level = "debug", skip_all, fields(component = %self.component, path = %path, bytes = content.len(), mode = ?mode), ret, err(Debug))]
    fn write(&mut self, path: String, content: Vec<u8>, mode: Option<u32>) -> Result<(), Error> {
        self.sandbox_for(&format!("fs.write(`{path}`)"))?
            .write_atomic(&path, &content, mode)
            .map_err(fs_error)
    }

    #[tracing::instrument(name = "fs.stat", level = "debug", skip_all, fields(component = %self.component, path = %path), ret, err(Debug))]
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

    #[tracing::instrument(name = "fs.list", level = "debug", skip_all, fields(component = %self.component, path = %path), ret, err(Debug))]
    fn list(&mut self, path: String) -> Result<Vec<String>, Error> {
        self.sandbox_for(&format!("fs.list(`{path}`)"))?
            .list(&path)
            .map_err(fs_error)
    }

    #[tracing::instrument(name = "fs.mkdir", level = "debug", skip_all, fields(component = %self.component, path = %path, leading = leading), ret, err(Debug))]
    fn mkdir(&mut self, path: String, leading: bool) -> Result<(), Error> {
        self.sandbox_for(&format!("fs.mkdir(`{path}`)"))?
            .mkdir(&path, leading)
            .map_err(fs_error)
    }

    #[tracing::instrument(name = "fs.remove", level = "debug", skip_all, fields(component = %self.component, path = %path), ret, err(Debug))]
    fn remove(&mut self, path: String) -> Result<(), Error> {
        self.sandbox_for(&format!("fs.remove(`{path}`)"))?
            .remove(&path)
            .map_err(fs_error)
    }

    #[tracing::instrument(name = "fs.symlink", level = "debug", skip_all, fields(component = %self.component, path = %path, target = %target), ret, err(Debug))]
    fn symlink(&mut self, path: String, target: String) -> Result<(), Error> {
        self.sandbox_for(&format!("fs.symlink(`{path}`)"))?
            .symlink(&path, &target)
            .map_err(fs_error)
    }

    #[tracing::instrument(name = "fs.chmod", level = "debug", skip_all, fields(component = %self.component, path = %path, mode = format_args!("{mode:o}")), ret, err(Debug))]
    fn chmod(&mut self, path: String, mode: u32) -> Result<(), Error> {
        self.sandbox_for(&format!("fs.chmod(`{path}`)"))?
            .chmod(&path, mode)
            .map_err(fs_error)
    }
}

impl process::Host for State {
    #[tracing::instrument(name = "process.run", level = "debug", skip_all, fields(component = %self.component, argv = ?cmd.argv, cwd = ?cmd.cwd, status = tracing::field::Empty), err(Debug))]
    fn run(&mut self, cmd: process::Command) -> Result<process::Output, Error> {
        let request = format!("process.run(`{}`)", cmd.argv.join(" "));
        let sandbox = self.sandbox_for(&request)?;
        let output = sandbox
            .run(
                &self.programs,
                &berth_sandbox::Command {
                    argv: cmd.argv,
                    cwd: cmd.cwd,
                    stdin: cmd.stdin,
                    timeout: self.timeout,
                },
            )
            .map_err(process_error)?;
        tracing::Span::current().record("status", output.status);
        Ok(process::Output {
            status: output.status,
            stdout: output.stdout,
            stderr: output.stderr,
        })
    }
}

impl log::Host for State {
    fn write(&mut self, level: LogLevel, message: String) {
        (self.log)(level, &message);
    }
}

impl Limiter {
    pub(crate) fn limits_memory(&self) -> usize {
        self.memory
    }
}
