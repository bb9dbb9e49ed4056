//! The engine, loaded packages and running instances.

use crate::bindings::{Component as Bindings, ComponentPre};
use crate::cache::{Cache, CacheOutcome};
use crate::host::{Limiter, LogSink, Model, Phase, State};
use crate::wit::{CustomSpec, Description, Error, Step, StepContext, Verdict};
use crate::{CallError, LoadError, Sources};
use berth_sandbox::{Programs, Sandbox};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimitsBuilder, Trap};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

/// How often the deadline clock ticks.
const TICK: Duration = Duration::from_millis(10);

/// How much a WASI guest may print between two flushes before it is cut.
const STDIO_CAPACITY: usize = 1 << 20;

/// Settings of a [`Runtime`].
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Where compiled components are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// The most linear memory one instance may use, in bytes.
    pub memory_limit: usize,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            cache_dir: crate::cache::default_dir(),
            memory_limit: 256 * 1024 * 1024,
        }
    }
}

/// One wasmtime engine with its linker, cache and deadline clock.
pub struct Runtime {
    engine: Engine,
    linker: Arc<Linker<State>>,
    cache: Cache,
    options: RuntimeOptions,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Runtime {
    /// Sets up the engine, the linker with every host import, and the clock
    /// thread that drives deadlines.
    ///
    /// Fails only when wasmtime cannot be configured on this machine.
    pub fn new(options: RuntimeOptions) -> Result<Self, LoadError> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        let engine = Engine::new(&config).map_err(|e| LoadError::Engine(format!("{e:#}")))?;

        let mut linker = Linker::<State>::new(&engine);
        Bindings::add_to_linker::<State, wasmtime::component::HasSelf<State>>(
            &mut linker,
            |state| state,
        )
        .map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        // Guests that import WASI (Python, JS) link against an empty context.
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        // Only berth's Python runtime imports it; other components ignore it.
        crate::python::add_to_linker(&mut linker)
            .map_err(|e| LoadError::Engine(format!("{e:#}")))?;

        let stop = Arc::new(AtomicBool::new(false));
        {
            let engine = engine.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("berth-deadline-clock".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| LoadError::Engine(format!("cannot start the clock thread: {e}")))?;
        }

        let cache = Cache::new(&engine, options.cache_dir.clone());
        Ok(Self {
            engine,
            linker: Arc::new(linker),
            cache,
            options,
            stop,
        })
    }

    /// Loads a component file: checks its API version, compiles it (or takes
    /// it from the cache), prepares instantiation, and calls `describe`.
    ///
    /// Nothing of the component runs before its version was checked.
    #[tracing::instrument(name = "runtime.load", level = "debug", skip(self), fields(path = %path.display()))]
    pub fn load(&self, path: &Path) -> Result<Package, LoadError> {
        let (sha256, api_version, component, cache) = self.compiled(path)?;
        self.prepare(path, sha256, api_version, component, cache, None)
    }

    /// Loads a Python component: berth's Python runtime `runtime` (compiled
    /// once, from the cache after that) serving `sources`. The package is
    /// named by `sources.path` in messages, and its `describe` runs the
    /// component's own code.
    ///
    /// Fails as [`Runtime::load`] does for the runtime file, and when the
    /// component's code fails to import or to describe itself.
    pub fn load_python(&self, runtime: &Path, sources: Sources) -> Result<Package, LoadError> {
        let (sha256, api_version, component, cache) = self.compiled(runtime)?;
        let path = sources.path.clone();
        self.prepare(
            &path,
            sha256,
            api_version,
            component,
            cache,
            Some(Arc::new(sources)),
        )
    }

    /// The compiled component of the file at `path`, its sha256 and API
    /// version.
    fn compiled(
        &self,
        path: &Path,
    ) -> Result<(String, String, wasmtime::component::Component, CacheOutcome), LoadError> {
        // A file seen before, unchanged (same size, modification time and
        // inode), whose compiled code is cached, is neither read, hashed nor
        // parsed again: an 18 MB Python runtime would cost ~50 ms a run.
        if let Some(digest) = self.cache.remembered(path)
            && let Some(component) = self.cache.cached(&self.engine, &digest.sha256)
        {
            return Ok((
                digest.sha256,
                digest.api_version,
                component,
                CacheOutcome::Hit,
            ));
        }
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let (sha256, api_version, component, cache) = self.compile(path, &bytes)?;
        self.cache.remember(path, &sha256, &api_version);
        Ok((sha256, api_version, component, cache))
    }

    fn compile(
        &self,
        path: &Path,
        bytes: &[u8],
    ) -> Result<(String, String, wasmtime::component::Component, CacheOutcome), LoadError> {
        let api_version = crate::version::check(path, bytes)?;
        let sha256 = hex::encode(Sha256::digest(bytes));
        let (component, cache) = self
            .cache
            .load(&self.engine, &sha256, bytes)
            .map_err(|e| compile_error(path, e))?;
        Ok((sha256, api_version, component, cache))
    }

    /// Like [`Runtime::load`] for bytes already in memory; `path` is used in
    /// messages only.
    pub fn load_bytes(&self, path: &Path, bytes: &[u8]) -> Result<Package, LoadError> {
        let (sha256, api_version, component, cache) = self.compile(path, bytes)?;
        self.prepare(path, sha256, api_version, component, cache, None)
    }

    /// Links a compiled component and calls `describe`.
    fn prepare(
        &self,
        path: &Path,
        sha256: String,
        api_version: String,
        component: wasmtime::component::Component,
        cache: CacheOutcome,
        sources: Option<crate::python::Shared>,
    ) -> Result<Package, LoadError> {
        let compile_error = |e: wasmtime::Error| compile_error(path, e);
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(compile_error)?;
        let pre = ComponentPre::new(pre).map_err(compile_error)?;
        let mut package = Package {
            path: path.to_path_buf(),
            sha256,
            api_version,
            cache,
            description: Description {
                name: String::new(),
                version: String::new(),
                roots: Vec::new(),
            },
            pre,
            engine: self.engine.clone(),
            memory_limit: self.options.memory_limit,
            sources,
        };
        // A Python component is named after its folder, not `component.py`.
        let named = match &package.sources {
            Some(sources) => Path::new(&sources.origin),
            None => path,
        };
        let name = named
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        // `describe` cannot return an error, so a guest that fails in it
        // (a Python component whose sources do not import) traps; what it
        // logged at error level (the traceback) then becomes the error.
        let errors = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let sink = errors.clone();
        let mut instance = package
            .instantiate(
                &name,
                Model::new(empty_host(), empty_environment()),
                Arc::new(Programs::new(&[]).map_err(|e| LoadError::Engine(e.to_string()))?),
                Duration::from_secs(10),
                Arc::new(move |level, line| {
                    if level == crate::wit::LogLevel::Error
                        && let Ok(mut lines) = sink.lock()
                    {
                        lines.push(line.to_owned());
                    }
                }),
            )
            .map_err(|source| LoadError::Describe {
                path: path.to_path_buf(),
                source,
            })?;
        package.description = instance.describe().map_err(|source| {
            let logged = errors.lock().map(|l| l.join("\n")).unwrap_or_default();
            let source = match source {
                CallError::Trap {
                    component, phase, ..
                } if !logged.is_empty() => CallError::Guest {
                    component,
                    phase,
                    error: Error::Failed(logged),
                },
                other => other,
            };
            LoadError::Describe {
                path: path.to_path_buf(),
                source,
            }
        })?;
        Ok(package)
    }
}

fn compile_error(path: &Path, e: wasmtime::Error) -> LoadError {
    LoadError::Compile {
        path: path.to_path_buf(),
        message: format!("{e:#}"),
    }
}

fn empty_host() -> crate::wit::HostInfo {
    crate::wit::HostInfo {
        name: String::new(),
        fqdn: String::new(),
        platform: String::new(),
        service_user: String::new(),
        data: Vec::new(),
    }
}

fn empty_environment() -> crate::wit::EnvironmentInfo {
    crate::wit::EnvironmentInfo {
        name: String::new(),
        connect_method: String::new(),
        host_domain: String::new(),
        platform: String::new(),
    }
}

/// A loaded, compiled component package, ready to instantiate.
pub struct Package {
    /// The file it was loaded from.
    pub path: PathBuf,
    /// The sha256 of the file, hex.
    pub sha256: String,
    /// The API version stamped into it.
    pub api_version: String,
    /// Whether its compiled code came from the cache.
    pub cache: CacheOutcome,
    /// What `describe` returned.
    pub description: Description,
    pre: ComponentPre<State>,
    engine: Engine,
    memory_limit: usize,
    sources: Option<crate::python::Shared>,
}

impl std::fmt::Debug for Package {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Package")
            .field("path", &self.path)
            .field("sha256", &self.sha256)
            .field("api_version", &self.api_version)
            .finish_non_exhaustive()
    }
}

impl Package {
    /// The sources a Python package serves; `None` for a component file.
    /// A remote deploy ships them with the runtime.
    pub fn sources(&self) -> Option<&Sources> {
        self.sources.as_deref()
    }

    /// A fresh instance for one root component.
    ///
    /// `component` names the root in messages; `model` is what its model
    /// imports answer; `programs` and the sandbox set with
    /// [`Instance::set_sandbox`] bound its verify and update.
    pub fn instantiate(
        &self,
        component: &str,
        model: Model,
        programs: Arc<Programs>,
        timeout: Duration,
        log: LogSink,
    ) -> Result<Instance, CallError> {
        let stdout = MemoryOutputPipe::new(STDIO_CAPACITY);
        let stderr = MemoryOutputPipe::new(STDIO_CAPACITY);
        // No preopens, no environment, no arguments, no sockets: the
        // component gets nothing through WASI that it was not granted.
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_blocking_current_thread(true)
            .build();
        let state = State {
            component: component.to_string(),
            phase: Phase::Describe,
            model,
            sandbox: None,
            programs,
            timeout,
            log,
            limiter: Limiter {
                limits: StoreLimitsBuilder::new()
                    .memory_size(self.memory_limit)
                    .instances(64)
                    .build(),
                memory: self.memory_limit,
                hit: false,
            },
            wasi,
            table: ResourceTable::new(),
            stdout,
            stderr,
            stdio_seen: (0, 0),
            sources: self.sources.clone(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        set_deadline(&mut store, timeout);
        let bindings = match self.pre.instantiate(&mut store) {
            Ok(b) => b,
            Err(e) => return Err(classify(&store, e)),
        };
        Ok(Instance {
            store,
            bindings,
            timeout,
        })
    }
}

fn set_deadline(store: &mut Store<State>, timeout: Duration) {
    let ticks = (timeout.as_millis() / TICK.as_millis()).max(1) as u64;
    store.set_epoch_deadline(ticks);
    store.epoch_deadline_trap();
}

fn classify(store: &Store<State>, e: wasmtime::Error) -> CallError {
    let state = store.data();
    let component = state.component.clone();
    let phase = state.phase;
    if state.limiter.hit {
        return CallError::Memory {
            component,
            phase,
            limit: state.limiter.limits_memory(),
        };
    }
    if let Some(Trap::Interrupt) = e.downcast_ref::<Trap>() {
        return CallError::Deadline {
            component,
            phase,
            timeout: state.timeout,
        };
    }
    CallError::Trap {
        component,
        phase,
        message: format!("{e:?}"),
    }
}

/// One instance of a package, serving one root component.
pub struct Instance {
    store: Store<State>,
    bindings: Bindings,
    timeout: Duration,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("component", &self.store.data().component)
            .finish_non_exhaustive()
    }
}

impl Instance {
    /// Gives verify and update their filesystem; verify always gets the
    /// read-only view of it.
    pub fn set_sandbox(&mut self, sandbox: Sandbox) {
        self.store.data_mut().sandbox = Some(sandbox);
    }

    /// The model as the guest left it (what it provided and required).
    pub fn model(&self) -> &Model {
        &self.store.data().model
    }

    /// Replaces the model before another configure round.
    pub fn model_mut(&mut self) -> &mut Model {
        &mut self.store.data_mut().model
    }

    fn call<T>(
        &mut self,
        phase: Phase,
        f: impl FnOnce(&Bindings, &mut Store<State>) -> wasmtime::Result<Result<T, Error>>,
    ) -> Result<T, CallError> {
        // One span per call into the guest; its host calls nest inside.
        let _span = tracing::debug_span!(
            "guest.call",
            component = %self.store.data().component,
            phase = %phase
        )
        .entered();
        let previous = self.store.data().sandbox.clone();
        {
            let state = self.store.data_mut();
            state.phase = phase;
            if phase == Phase::Verify {
                state.sandbox = state.sandbox.as_ref().map(Sandbox::read_only);
            }
        }
        set_deadline(&mut self.store, self.timeout);
        let result = f(&self.bindings, &mut self.store);
        self.store.data_mut().flush_stdio();
        self.store.data_mut().sandbox = previous;
        let component = self.store.data().component.clone();
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(CallError::Guest {
                component,
                phase,
                error,
            }),
            Err(e) => Err(classify(&self.store, e)),
        }
    }

    /// Calls `describe`.
    pub fn describe(&mut self) -> Result<Description, CallError> {
        self.call(Phase::Describe, |b, s| {
            b.berth_component_lifecycle().call_describe(s).map(Ok)
        })
    }

    /// Calls `configure` for the root this instance serves, clearing what the
    /// previous round provided and required.
    pub fn configure(&mut self) -> Result<Vec<Step>, CallError> {
        let component = self.store.data().component.clone();
        {
            let model = &mut self.store.data_mut().model;
            model.provided.clear();
            model.required.clear();
        }
        self.call(Phase::Configure, |b, s| {
            b.berth_component_lifecycle().call_configure(s, &component)
        })
    }

    /// Calls `verify` for a custom step, with a read-only sandbox.
    pub fn verify(&mut self, step: &CustomSpec, cx: &StepContext) -> Result<Verdict, CallError> {
        self.call(Phase::Verify, |b, s| {
            b.berth_component_lifecycle().call_verify(s, step, cx)
        })
    }

    /// Calls `update` for a custom step.
    pub fn update(&mut self, step: &CustomSpec, cx: &StepContext) -> Result<(), CallError> {
        self.call(Phase::Update, |b, s| {
            b.berth_component_lifecycle().call_update(s, step, cx)
        })
    }
}
