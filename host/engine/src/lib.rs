//! berth's deployment engine: it loads an environment and the component
//! packages of a deployment repository, configures every root component in
//! its sandbox until provide/require settles, orders the roots, and walks
//! each root's step tree — verify, then update when needed.
//!
//! The engine never prints: it reports [`event::Event`]s to a
//! [`event::Reporter`].
//!
//! ```no_run
//! use berth_engine::{DeployOptions, deploy, event::Collect};
//! use std::sync::Arc;
//! # fn main() -> Result<(), berth_engine::EngineError> {
//! let reporter = Arc::new(Collect::default());
//! let summary = deploy(&DeployOptions::new(".", "local"), reporter.clone())?;
//! assert!(summary.success());
//! # Ok(())
//! # }
//! ```

pub mod address;
pub mod configure;
pub mod deploy;
mod error;
pub mod event;
pub mod model;
pub mod package;
pub mod pins;
pub mod python;
pub mod repo;
pub mod secrets;
pub mod show;

pub use error::{EngineError, Problem};

use berth_runtime::{Model, Package, Runtime, RuntimeOptions};
use configure::{Configured, Plan};
use event::{Event, Reporter, Summary};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// What to deploy and how.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// The deployment repository.
    pub repo: PathBuf,
    /// The environment's name.
    pub environment: String,
    /// Verify only and report what would change.
    pub predict: bool,
    /// Build source components that are missing or stale first.
    pub build: bool,
    /// Overrides the platform of every host.
    pub platform: Option<String>,
    /// How many roots may deploy at once (on different hosts); `None` takes
    /// `jobs` from the environment, else 4.
    pub jobs: Option<usize>,
    /// Settings of the WebAssembly runtime.
    pub runtime: RuntimeOptions,
    /// Where to find the age identities that decrypt the environment's
    /// secrets (read only when it has secrets).
    pub identities: berth_secrets::IdentitySources,
}

impl DeployOptions {
    /// Deploy `environment` of the repository at `repo` with defaults;
    /// secrets are decrypted with the identities that
    /// `BERTH_AGE_IDENTITY` or the default identity file give
    /// ([`berth_secrets::IdentitySources::from_env`]).
    pub fn new(repo: impl Into<PathBuf>, environment: &str) -> Self {
        Self {
            repo: repo.into(),
            environment: environment.to_string(),
            predict: false,
            build: true,
            jobs: None,
            platform: None,
            runtime: RuntimeOptions::default(),
            identities: berth_secrets::IdentitySources::from_env(Vec::new()),
        }
    }
}

/// An environment with its packages loaded and its model resolved.
#[derive(Debug)]
pub struct Loaded {
    /// The repository.
    pub repo: repo::Repository,
    /// The environment.
    pub environment: berth_config::Environment,
    /// The packages: pinned ones (from `packages.lock`) first, then the
    /// folders of `components/`.
    pub dirs: Vec<repo::PackageDir>,
    /// The loaded packages, in the order of `dirs`: pinned packages first.
    pub packages: Vec<Package>,
    /// One root per (host, root component).
    pub roots: Vec<model::Root>,
    /// The runtime that loaded the packages.
    pub runtime: Runtime,
    /// The platform that overrides every host's (`--platform`).
    pub platform: Option<String>,
    /// Address resolution as the environment configures it.
    pub addresses: Arc<address::Addresses>,
    /// Every secret of the environment, to mask output with.
    pub mask: Arc<berth_secrets::Mask>,
}

/// Loads the environment and every package, and checks them against each
/// other. Fails with every problem found before anything runs.
pub fn load(options: &DeployOptions, reporter: &dyn Reporter) -> Result<Loaded, EngineError> {
    let repo = repo::Repository::open(&options.repo)?;
    // The path as the user gave it, so messages name files the way they
    // would type them.
    let environment =
        berth_secrets::load(&options.repo, &options.environment, &options.identities)?;
    load_packages(options, repo, environment, reporter)
}

/// The mask of an environment's secrets (one that hides nothing without).
fn mask_of(environment: &berth_config::Environment) -> Arc<berth_secrets::Mask> {
    Arc::new(
        environment
            .secrets
            .as_ref()
            .map(berth_secrets::Mask::of)
            .unwrap_or_default(),
    )
}

/// Loads the packages of a repository whose environment is already read,
/// and resolves the model.
pub fn load_packages(
    options: &DeployOptions,
    repo: repo::Repository,
    environment: berth_config::Environment,
    reporter: &dyn Reporter,
) -> Result<Loaded, EngineError> {
    let mask = mask_of(&environment);
    load_resolved(options, repo, environment, reporter, mask.clone())
        .map_err(|e| secrets::mask_error(e, &mask))
}

fn load_resolved(
    options: &DeployOptions,
    repo: repo::Repository,
    environment: berth_config::Environment,
    reporter: &dyn Reporter,
    mask: Arc<berth_secrets::Mask>,
) -> Result<Loaded, EngineError> {
    if options.build {
        repo.build_stale(reporter)?;
    }
    let components = repo.packages()?;
    let pinned = pins::pinned(&repo, &options.repo)?;
    for p in &pinned {
        if let Some(dir) = components.iter().find(|d| d.name == p.pin.name) {
            return Err(pins::PinError::Twice {
                name: p.pin.name.clone(),
                component: pins::in_repo(
                    &options.repo,
                    dir.defdir.strip_prefix(&repo.root).unwrap_or(&dir.defdir),
                ),
                file: p.shown.clone(),
            }
            .into());
        }
    }
    // `describe` runs under the environment's deadline, and a package whose
    // `describe` fails fails only the roots that use it.
    let runtime = Runtime::new(RuntimeOptions {
        broken_packages: true,
        ..options
            .runtime
            .clone()
            .with_environment_timeout(environment.timeout, &environment.file)
    })?;
    let python = python::Loader::new(python::runtime_dir(&options.runtime, &repo.root), reporter);
    let mut packages = Vec::with_capacity(components.len() + pinned.len());
    let mut dirs = Vec::with_capacity(components.len() + pinned.len());
    let lock_file = pins::in_repo(&options.repo, Path::new(berth_config::LOCK_FILE));
    for p in &pinned {
        let start = Instant::now();
        // One read: the bytes whose sha256 was checked are the bytes
        // compiled, and `load_bytes` consults no memo keyed by the file.
        let (bytes, contents) = pins::read_verified(p, &lock_file)?;
        let defdir = repo.unpacked_dir(&p.pin.name);
        pins::unpack(&defdir, &contents.files)?;
        let package = if contents.metadata.python_runtime.is_some() {
            let origin = python::shown(&repo, &defdir);
            python.load_packaged(&runtime, origin, &p.path, &contents.files)?
        } else {
            runtime.load_bytes(&p.path, &bytes)?
        };
        reporter.report(&Event::Loaded {
            package: p.pin.name.clone(),
            path: p.shown.display().to_string(),
            cached: package.cache == berth_runtime::CacheOutcome::Hit,
            millis: start.elapsed().as_secs_f64() * 1000.0,
        });
        packages.push(package);
        dirs.push(repo::PackageDir {
            name: p.pin.name.clone(),
            defdir,
            wasm: p.path.clone(),
            origin: repo::Origin::Pinned,
        });
    }
    for dir in components {
        if !dir.wasm.exists() {
            return Err(EngineError::Build(format!(
                "component `{}` is not built yet (`{}` is missing); run `berth build`",
                dir.name,
                dir.wasm.display()
            )));
        }
        let start = Instant::now();
        let package = if dir.origin == repo::Origin::Python {
            python.load_dir(&runtime, &repo, &dir)?
        } else {
            runtime.load(&dir.wasm)?
        };
        reporter.report(&Event::Loaded {
            package: dir.name.clone(),
            path: dir.wasm.display().to_string(),
            cached: package.cache == berth_runtime::CacheOutcome::Hit,
            millis: start.elapsed().as_secs_f64() * 1000.0,
        });
        if let Some(why) = package.broken() {
            reporter.report(&Event::Warning {
                message: why.to_owned(),
                hint: Some(format!(
                    "the roots of package `{}` cannot deploy; the others go on",
                    dir.name
                )),
            });
        }
        packages.push(package);
        dirs.push(dir);
    }
    let addresses = Arc::new(address::Addresses::new(&environment));
    let roots = model::resolve(
        &environment,
        &dirs,
        &packages,
        options.platform.as_deref(),
        &addresses,
    )
    .map_err(EngineError::Model)?;
    Ok(Loaded {
        repo,
        environment,
        dirs,
        packages,
        roots,
        runtime,
        platform: options.platform.clone(),
        addresses,
        mask,
    })
}

/// Instantiates every root and runs configure until provide/require settles.
pub fn plan(loaded: &Loaded, reporter: Arc<dyn Reporter>) -> Result<Plan, EngineError> {
    let reporter = secrets::masked(reporter, &loaded.mask);
    plan_masked(loaded, reporter).map_err(|e| secrets::mask_error(e, &loaded.mask))
}

fn plan_masked(loaded: &Loaded, reporter: Arc<dyn Reporter>) -> Result<Plan, EngineError> {
    let env_info = model::environment_info(&loaded.environment);
    let mut configured = Vec::with_capacity(loaded.roots.len());
    for root in &loaded.roots {
        let mut m = Model::new(root.host.clone(), env_info.clone());
        m.attributes = root
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), v.json.clone()))
            .collect();
        m.features = root.features.clone();
        m.addresses = Some(loaded.addresses.clone());
        let programs = match berth_sandbox::Programs::new(&root.commands) {
            Ok(p) => Arc::new(p),
            Err(e) => {
                configured.push(Configured {
                    root: root.clone(),
                    instance: None,
                    programs: Arc::new(berth_sandbox::Programs::none()),
                    steps: Vec::new(),
                    failed: Some(e.to_string()),
                });
                continue;
            }
        };
        let (host, component) = (root.host.name.clone(), root.component.clone());
        let sink = reporter.clone();
        let log: berth_runtime::LogSink = Arc::new(move |level, message| {
            sink.report(&Event::Log {
                host: host.clone(),
                component: component.clone(),
                level: berth_runtime::log_level_name(level).to_owned(),
                message: message.to_string(),
            })
        });
        let (instance, failed) = match loaded.packages[root.package].instantiate(
            &root.component,
            m,
            programs.clone(),
            loaded.environment.timeout,
            log,
        ) {
            Ok(i) => (Some(i), None),
            Err(e) => (None, Some(e.to_string())),
        };
        configured.push(Configured {
            root: root.clone(),
            instance,
            programs,
            steps: Vec::new(),
            failed,
        });
    }
    let mut plan = configure::configure(configured).map_err(EngineError::Model)?;
    secrets::check_secret_files(&plan, &loaded.environment)?;
    plan.mask = loaded.mask.clone();
    if let Some(s) = &loaded.environment.secrets {
        plan.secrets = Arc::new(s.clone());
    }
    reporter.report(&Event::Planned {
        order: plan.roots.iter().map(|c| c.root.id()).collect(),
    });
    for warning in &plan.warnings {
        reporter.report(&Event::Warning {
            message: warning.message.clone(),
            hint: warning.hint.clone(),
        });
    }
    Ok(plan)
}

/// Deploys an environment: load, configure, then verify and update every
/// root in dependency order. Returns the summary, which counts every
/// failure; the run succeeded only when [`Summary::success`] says so.
///
/// Errors mean the deployment could not start (bad environment, missing or
/// incompatible components); nothing was changed then.
pub fn deploy(
    options: &DeployOptions,
    reporter: Arc<dyn Reporter>,
) -> Result<Summary, EngineError> {
    let start = Instant::now();
    let repo = repo::Repository::open(&options.repo)?;
    let environment =
        berth_secrets::load(&options.repo, &options.environment, &options.identities)?;
    let mask = mask_of(&environment);
    let reporter = secrets::masked(reporter, &mask);
    reporter.report(&Event::Started {
        environment: environment.name.clone(),
        predict: options.predict,
        hosts: environment
            .hosts
            .iter()
            .filter(|h| !h.ignore)
            .map(|h| h.name.clone())
            .collect(),
    });
    let loaded = load_packages(options, repo, environment, reporter.as_ref())?;
    let mut plan = plan(&loaded, reporter.clone())?;
    let mut summary = Summary {
        environment: loaded.environment.name.clone(),
        predict: options.predict,
        ..Summary::default()
    };
    deploy::run(
        &mut plan,
        deploy::WalkOptions {
            predict: options.predict,
            timeout: loaded.environment.timeout,
            jobs: options.jobs.or(loaded.environment.jobs).unwrap_or(4),
            allow_unconfined: loaded.environment.allow_unconfined,
        },
        reporter.as_ref(),
        &mut summary,
    );
    summary.millis = start.elapsed().as_secs_f64() * 1000.0;
    // The caller gets the summary too: it is masked like every event.
    secrets::mask_summary(&mut summary, &mask);
    reporter.report(&Event::Summary(summary.clone()));
    Ok(summary)
}

/// Finds the deployment repository: `start` or its nearest ancestor with an
/// `environments/` folder.
pub fn find_repository(start: &Path) -> Option<PathBuf> {
    let start = std::path::absolute(start).ok()?;
    start
        .ancestors()
        .find(|dir| dir.join("environments").is_dir())
        .map(Path::to_path_buf)
}
