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
pub mod lock;
pub mod model;
pub mod package;
pub mod pins;
pub mod python;
pub mod repo;
pub mod schedule;
pub mod secrets;
pub mod show;
pub mod target;

pub use error::{EngineError, Problem};

use berth_runtime::{Model, Package, Runtime, RuntimeOptions};
use configure::{Configured, Plan};
use event::{Event, Reporter, Summary};
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
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
    /// Take over the deploy lock of a target, also one that another deploy
    /// holds.
    pub break_lock: bool,
    /// The command line, as the deploy lock records it.
    pub command: String,
    /// Set (by a Ctrl-C handler) to stop: no further step starts on any
    /// host, agents stop and release their locks.
    pub interrupt: Arc<AtomicBool>,
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
            break_lock: false,
            command: format!("berth deploy {environment}"),
            interrupt: Arc::default(),
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
    // Only what the environment uses is built and loaded.
    let available: Vec<&str> = components
        .iter()
        .map(|d| d.name.as_str())
        .chain(pinned.iter().map(|p| p.pin.name.as_str()))
        .collect();
    let used = repo::used_names(&environment, &available);
    let is_used = |name: &str| used.as_ref().is_none_or(|u| u.contains(name));
    let components: Vec<_> = components
        .into_iter()
        .filter(|d| is_used(&d.name))
        .collect();
    let pinned: Vec<_> = pinned
        .into_iter()
        .filter(|p| is_used(&p.pin.name))
        .collect();
    if options.build {
        repo.build_stale(&components, reporter)?;
    }
    let runtime = Runtime::new(options.runtime.clone())?;
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
    // What resolve answers here, a target answers when it configures again.
    let recorded = Arc::new(address::Recorded::new(loaded.addresses.clone()));
    let mut configured = Vec::with_capacity(loaded.roots.len());
    for root in &loaded.roots {
        let mut m = Model::new(root.host.clone(), env_info.clone());
        m.attributes = root
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), v.json.clone()))
            .collect();
        m.features = root.features.clone();
        m.addresses = Some(recorded.clone());
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
        let log = log_sink(reporter.clone(), root);
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
    plan.resolved = recorded.answers();
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

/// Where a root's log lines go: [`Event::Log`]s naming it.
pub(crate) fn log_sink(reporter: Arc<dyn Reporter>, root: &model::Root) -> berth_runtime::LogSink {
    let (host, component) = (root.host.name.clone(), root.component.clone());
    Arc::new(move |level, message| {
        reporter.report(&Event::Log {
            host: host.clone(),
            component: component.clone(),
            level: format!("{level:?}").to_lowercase(),
            message: message.to_string(),
        })
    })
}

/// Deploys an environment: load, configure, then verify and update every
/// root in dependency order. Returns the summary, which counts every
/// failure; the run succeeded only when [`Summary::success`] says so.
///
/// Errors mean the deployment could not start (bad environment, missing or
/// incompatible components, a held deploy lock); nothing was changed then.
/// An environment with `connect_method = ssh` needs a transport: see
/// [`deploy_with`].
pub fn deploy(
    options: &DeployOptions,
    reporter: Arc<dyn Reporter>,
) -> Result<Summary, EngineError> {
    deploy_with(options, reporter, None)
}

/// [`deploy`], with `transport` reaching the hosts of a `connect_method =
/// ssh` environment (the CLI passes berth-remote's SSH transport).
///
/// Errors as [`deploy`]; also [`EngineError::Remote`] when the environment
/// deploys over ssh and there is no transport, or it cannot start (no agent
/// binary to ship).
pub fn deploy_with(
    options: &DeployOptions,
    reporter: Arc<dyn Reporter>,
    transport: Option<&dyn target::Transport>,
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
    let remote = match environment.connect_method {
        berth_config::ConnectMethod::Local => None,
        berth_config::ConnectMethod::Ssh => {
            let transport = transport.ok_or_else(|| {
                EngineError::Remote(format!(
                    "environment `{}` deploys over ssh, and this program cannot connect to hosts",
                    environment.name
                ))
            })?;
            let connect = transport
                .connect(&options.repo, &environment)
                .map_err(EngineError::Remote)?;
            // Connecting takes longer than loading and planning: it goes on
            // meanwhile.
            connect.prepare(&destinations(&environment));
            Some(connect)
        }
    };
    // Each phase is an event for the reporter and a span for `-d` traces.
    let phase = |name: &'static str| {
        reporter.report(&Event::Phase {
            name: name.to_owned(),
        });
        tracing::info_span!("phase", name).entered()
    };
    let span = phase("loading");
    let loaded = load_packages(options, repo, environment, reporter.as_ref())?;
    drop(span);
    let span = phase("configuring");
    let plan = plan(&loaded, reporter.clone())?;
    drop(span);
    let _span = phase("deploying");
    let schedule = schedule(options, &loaded, &plan, remote.is_some())
        .map_err(|e| secrets::mask_error(e, &mask))?;
    // A local deploy locks its target directory here; a remote host's
    // agent locks the host's.
    let local_lock = match (remote.is_some(), options.predict) {
        (false, false) => Some(lock::DeployLock::acquire(
            &loaded.environment.target_directory,
            lock::Holder::here(&lock::owner_here(), &options.command),
            options.break_lock,
        )?),
        _ => None,
    };
    let local = target::LocalConnect {
        packages: &loaded.packages,
        index: package_index(&loaded, &schedule),
    };
    let connect: &dyn target::Connect = match &remote {
        Some(remote) => remote.as_ref(),
        None => &local,
    };
    let mut summary = Summary {
        environment: loaded.environment.name.clone(),
        predict: options.predict,
        ..Summary::default()
    };
    schedule::run(
        &schedule,
        deploy::WalkOptions {
            predict: options.predict,
            timeout: loaded.environment.timeout,
            jobs: options.jobs.or(loaded.environment.jobs).unwrap_or(4),
            allow_unconfined: loaded.environment.allow_unconfined,
        },
        options.runtime.memory_limit,
        connect,
        &reporter,
        &mut summary,
        &options.interrupt,
    );
    drop(remote);
    if let Some(lock) = local_lock {
        lock.release()?;
    }
    summary.millis = start.elapsed().as_secs_f64() * 1000.0;
    // The caller gets the summary too: it is masked like every event.
    secrets::mask_summary(&mut summary, &mask);
    reporter.report(&Event::Summary(summary.clone()));
    Ok(summary)
}

/// How every host that has roots is reached.
fn destinations(environment: &berth_config::Environment) -> Vec<target::Destination> {
    environment
        .hosts
        .iter()
        .filter(|h| !h.ignore && !h.components.is_empty())
        .map(|h| target::Destination {
            host: h.name.clone(),
            fqdn: h.fqdn.clone(),
            service_user: h.service_user.clone().unwrap_or_default(),
        })
        .collect()
}

/// Which loaded package each package reference of the schedule names.
fn package_index(
    loaded: &Loaded,
    schedule: &schedule::Schedule,
) -> BTreeMap<target::PackageRef, usize> {
    let mut index = BTreeMap::new();
    for (root, scheduled) in loaded.roots.iter().zip(&schedule.roots) {
        index.insert(scheduled.plan.package.clone(), root.package);
    }
    index
}

/// Every root of the plan as its host receives it, and per host what a
/// remote target needs shipped (`remote`): package files and defdir files
/// by sha256, its target directory and how to lock it, and its share of the
/// secrets.
fn schedule(
    options: &DeployOptions,
    loaded: &Loaded,
    plan: &Plan,
    remote: bool,
) -> Result<schedule::Schedule, EngineError> {
    let mut out = schedule::Schedule {
        after: plan.after.clone(),
        ..Default::default()
    };
    let mut manifests: BTreeMap<PathBuf, Vec<target::DefdirFile>> = BTreeMap::new();
    let python_runtime =
        berth_build::python_runtime_file(&python::runtime_dir(&options.runtime, &loaded.repo.root));
    let env_info = model::environment_info(&loaded.environment);
    for c in &plan.roots {
        let root = &c.root;
        let package = &loaded.packages[root.package];
        let (available, environment) = match &c.instance {
            Some(i) => {
                let model = i.model();
                // Only the values this root's requires asked for.
                let keys: Vec<&str> = model.required.iter().map(|r| r.key.as_str()).collect();
                let available = model
                    .available
                    .iter()
                    .filter(|p| keys.contains(&p.key.as_str()))
                    .map(|p| target::Provided {
                        key: p.key.clone(),
                        host: p.host.clone(),
                        component: p.component.clone(),
                        value: p.value.clone(),
                    })
                    .collect();
                (available, (&model.environment).into())
            }
            None => (Vec::new(), (&env_info).into()),
        };
        let shipment = out.shipments.entry(root.host.name.clone()).or_default();
        let mut ship = |sha256: &str, blob: target::Blob| {
            if remote {
                shipment.blobs.entry(sha256.to_string()).or_insert(blob);
            }
        };
        let package_ref = match package.sources() {
            None => {
                ship(&package.sha256, target::Blob::File(package.path.clone()));
                target::PackageRef::Wasm {
                    sha256: package.sha256.clone(),
                }
            }
            Some(sources) => {
                ship(&package.sha256, target::Blob::File(python_runtime.clone()));
                let files = sources
                    .files
                    .iter()
                    .map(|(path, bytes)| {
                        let sha256 = hex::encode(sha2::Sha256::digest(bytes));
                        ship(&sha256, target::Blob::Bytes(Arc::new(bytes.clone())));
                        target::DefdirFile {
                            path: path.clone(),
                            sha256,
                            executable: false,
                        }
                    })
                    .collect();
                target::PackageRef::Python {
                    runtime: package.sha256.clone(),
                    origin: sources.origin.clone(),
                    path: sources.path.display().to_string(),
                    sources: files,
                }
            }
        };
        let defdir = match remote {
            false => target::Defdir::Path {
                path: root.defdir.clone(),
            },
            true => {
                if !manifests.contains_key(&root.defdir) {
                    let files = target::defdir_files(&root.defdir)?;
                    manifests.insert(root.defdir.clone(), files);
                }
                let files = manifests.get(&root.defdir).cloned().unwrap_or_default();
                for f in &files {
                    ship(&f.sha256, target::Blob::File(root.defdir.join(&f.path)));
                }
                target::Defdir::Files { files }
            }
        };
        out.roots.push(schedule::Scheduled {
            plan: target::RootPlan {
                host: (&root.host).into(),
                environment,
                component: root.component.clone(),
                package: package_ref,
                attributes: root
                    .attributes
                    .iter()
                    .map(|(k, v)| {
                        let secret = matches!(v.source, model::ValueSource::Secrets(_));
                        let json = v.json.clone();
                        (k.clone(), target::Attribute { json, secret })
                    })
                    .collect(),
                features: root.features.clone(),
                grants: root
                    .grants
                    .iter()
                    .map(|g| target::GrantPlan {
                        path: g.path.clone(),
                        writable: g.access == berth_sandbox::Access::ReadWrite,
                    })
                    .collect(),
                commands: root.commands.clone(),
                special_modes: root.special_modes,
                workdir: root.workdir.clone(),
                defdir,
                available,
                resolved: plan.resolved.clone(),
                steps: target::steps_hash(&c.steps),
                after: Vec::new(),
            },
            destination: target::Destination {
                host: root.host.name.clone(),
                fqdn: root.host.fqdn.clone(),
                service_user: root.host.service_user.clone(),
            },
            failed: c.failed.clone(),
        });
    }
    let lock = (!options.predict).then(|| target::LockRequest {
        owner: lock::owner_here(),
        command: options.command.clone(),
        break_lock: options.break_lock,
    });
    for (host, shipment) in &mut out.shipments {
        shipment.target_directory = loaded.environment.target_directory.clone();
        shipment.lock = lock.clone();
        let available: Vec<&str> = out
            .roots
            .iter()
            .filter(|r| &r.plan.host.name == host)
            .flat_map(|r| r.plan.available.iter().map(|p| p.value.as_str()))
            .collect();
        out.secrets.insert(
            host.clone(),
            secrets::host_share(plan, &loaded.environment, host, &available),
        );
    }
    Ok(out)
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
