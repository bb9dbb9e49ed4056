//! The one seam for targets: after the plan, each host's share of it goes
//! to a [`Target`] as [`HostRequest`]s; the target answers with the same
//! [`Event`]s a local deploy reports and one [`BatchResult`] per request.
//!
//! A local deploy runs [`execute`] in this process ([`LocalTarget`]); a
//! remote one sends the same request to `berth agent` on the host (the
//! `berth-remote` crate), which runs the same [`execute`]. Both configure
//! every root again with the inputs the controller settled on (configure is
//! deterministic), refuse a step tree that differs from the controller's,
//! and walk it with [`crate::deploy`]'s code. The engine knows nothing of
//! how a remote target is reached: it sees [`Connect`] and [`Target`].
//!
//! ```
//! use berth_engine::target::HostRequest;
//! // Requests are plain data: they travel as JSON.
//! let request = HostRequest { predict: true, timeout_ms: 1000, ..HostRequest::default() };
//! let json = serde_json::to_string(&request).unwrap();
//! let back: HostRequest = serde_json::from_str(&json).unwrap();
//! assert!(back.predict && back.roots.is_empty());
//! ```

use crate::configure::Configured;
use crate::deploy::{self, Shared, WalkOptions};
use crate::event::{Event, Reporter, Summary};
use crate::model::{AttributeValue, Root, ValueSource};
use berth_runtime::wit::{EnvironmentInfo, HostInfo, Step};
use berth_runtime::{Model, Package, ProvidedValue};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// One request to one host: consecutive roots of that host, in plan order,
/// that wait on no root of another host still to deploy.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HostRequest {
    /// Verify only.
    pub predict: bool,
    /// Deadline of one guest call or program run, in milliseconds.
    pub timeout_ms: u64,
    /// The most linear memory one instance may use, in bytes.
    pub memory_limit: usize,
    /// Run programs where the kernel cannot confine them fully.
    pub allow_unconfined: bool,
    /// The secrets this host's roots use, and only those.
    pub secrets: HostSecrets,
    /// The roots, in the order they deploy.
    pub roots: Vec<RootPlan>,
}

/// The share of the environment's secrets that one host gets: what its
/// components' File steps name, and every secret value its plan holds (so
/// that the target knows which content to treat as secret). Kept in
/// memory; never written anywhere by berth.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HostSecrets {
    /// Secret values in this host's plan (attributes, host data, provided
    /// values), to mask with.
    pub values: Vec<Secret>,
    /// The secret files its File steps name, by name.
    pub files: BTreeMap<String, Secret>,
}

/// Bytes that are secret: zeroed when dropped, never shown by `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(pub zeroize::Zeroizing<Vec<u8>>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} bytes)", berth_secrets::MASK, self.0.len())
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<u8>::deserialize(d).map(|v| Secret(zeroize::Zeroizing::new(v)))
    }
}

/// One root as the controller planned it: everything the target needs to
/// configure it again and walk its steps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RootPlan {
    /// The host, as the component sees it.
    pub host: HostFacts,
    /// The environment, as the component sees it.
    pub environment: EnvironmentFacts,
    /// The root component.
    pub component: String,
    /// Its package.
    pub package: PackageRef,
    /// Its attributes, resolved; only this root's (secret ones included:
    /// a host receives only the secrets its own components use).
    pub attributes: BTreeMap<String, Attribute>,
    /// Features switched on for it.
    pub features: Vec<String>,
    /// Extra paths on the target.
    pub grants: Vec<GrantPlan>,
    /// Programs it may run.
    pub commands: Vec<String>,
    /// The setuid, setgid and sticky bits it may set.
    pub special_modes: u32,
    /// Its work folder on the target (`~/` is the target user's home).
    pub workdir: PathBuf,
    /// Its definition folder.
    pub defdir: Defdir,
    /// The values provided to the keys it requires, as the controller's
    /// last configure round saw them.
    pub available: Vec<Provided>,
    /// What `model.resolve` answered on the controller, by address.
    pub resolved: BTreeMap<String, String>,
    /// The sha256 of the step tree configure returned on the controller.
    pub steps: String,
    /// Roots of this request (by index) that must succeed before this one.
    pub after: Vec<usize>,
}

/// Where a root's package comes from on the target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum PackageRef {
    /// A component file, by its sha256.
    Wasm {
        /// The sha256 of the file.
        sha256: String,
    },
    /// A Python component: berth's Python runtime serving sources.
    Python {
        /// The sha256 of the runtime's file.
        runtime: String,
        /// The component's folder as its author knows it, for tracebacks.
        origin: String,
        /// The file that names the component in messages.
        path: String,
        /// The sources, by sha256.
        sources: Vec<DefdirFile>,
    },
}

/// A component's definition folder on the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Defdir {
    /// A folder the target can read as it is (a local deploy).
    Path {
        /// The folder.
        path: PathBuf,
    },
    /// Files the target has in its store; it builds the folder from them.
    Files {
        /// The files, sorted by path.
        files: Vec<DefdirFile>,
    },
}

/// An extra path a root may use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantPlan {
    /// The path on the target.
    pub path: PathBuf,
    /// Whether it may write there.
    pub writable: bool,
}

/// An attribute value as JSON; a secret one is never shown.
#[derive(Clone, Serialize, Deserialize)]
pub struct Attribute {
    /// The value as JSON.
    pub json: String,
    /// It came from the secrets.
    pub secret: bool,
}

impl std::fmt::Debug for Attribute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.secret {
            true => f.write_str(berth_secrets::MASK),
            false => f.write_str(&self.json),
        }
    }
}

/// A file of a definition folder (or of a Python component's sources).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DefdirFile {
    /// Its path below the folder, with `/`.
    pub path: String,
    /// The sha256 of its content.
    pub sha256: String,
    /// Whether it is executable.
    pub executable: bool,
}

/// [`HostInfo`] as data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostFacts {
    /// The host's name.
    pub name: String,
    /// Its fqdn.
    pub fqdn: String,
    /// Its platform.
    pub platform: String,
    /// Its service user.
    pub service_user: String,
    /// Its `data-*` values.
    pub data: Vec<(String, String)>,
}

/// [`EnvironmentInfo`] as data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnvironmentFacts {
    /// The environment's name.
    pub name: String,
    /// `local` or `ssh`.
    pub connect_method: String,
    /// Its host domain.
    pub host_domain: String,
    /// Its platform.
    pub platform: String,
}

/// [`ProvidedValue`] as data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Provided {
    /// The key.
    pub key: String,
    /// The providing root's host.
    pub host: String,
    /// The providing root.
    pub component: String,
    /// The value as JSON.
    pub value: String,
}

/// `From` both ways between a WIT record and its serde twin, which have
/// the same fields.
macro_rules! twins {
    ($wit:ty, $data:ty, $($field:ident),+) => {
        impl From<&$wit> for $data {
            fn from(v: &$wit) -> Self {
                Self { $($field: v.$field.clone()),+ }
            }
        }
        impl From<&$data> for $wit {
            fn from(v: &$data) -> Self {
                Self { $($field: v.$field.clone()),+ }
            }
        }
    };
}

twins!(
    HostInfo,
    HostFacts,
    name,
    fqdn,
    platform,
    service_user,
    data
);
twins!(
    EnvironmentInfo,
    EnvironmentFacts,
    name,
    connect_method,
    host_domain,
    platform
);

/// How one root of a request ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum RootResult {
    /// Every step succeeded.
    Succeeded,
    /// It failed; the summary holds why.
    Failed,
    /// A root it depends on failed.
    Skipped,
}

/// What a target answers to one request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BatchResult {
    /// The counts of this request (environment, predict and time unset).
    pub summary: Summary,
    /// One result per root of the request, in its order.
    pub roots: Vec<RootResult>,
}

/// A target that could not be reached, stopped answering or refused a
/// request: the host is lost for the rest of the run.
#[derive(Debug, Clone)]
pub struct TargetFault {
    /// What happened, naming the host and what it was doing.
    pub message: String,
    /// What the target reported before it failed (possibly fewer roots than
    /// the request had).
    pub partial: Box<BatchResult>,
}

impl TargetFault {
    /// A fault before anything was deployed.
    pub fn new(message: String) -> Self {
        Self {
            message,
            partial: Box::default(),
        }
    }
}

/// How a host is reached: what a transport needs of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The host's name in the environment.
    pub host: String,
    /// Its fqdn, where to connect to.
    pub fqdn: String,
    /// The user its deploy runs as (empty: the login user).
    pub service_user: String,
}

/// Reaches the hosts of an environment whose `connect_method` is not
/// `local`.
pub trait Transport {
    /// The [`Connect`] for `environment` of the repository at `repo`.
    ///
    /// Errors: the hosts cannot be reached at all (no agent to ship, say);
    /// the message says what to do.
    fn connect(
        &self,
        repo: &std::path::Path,
        environment: &berth_config::Environment,
    ) -> Result<Box<dyn Connect>, String>;
}

/// One host's target for the whole run.
pub trait Target: Send {
    /// Deploys one request and reports its events as they happen. Once
    /// `interrupt` is set, the target starts no further step and answers
    /// with the roots not done failed.
    ///
    /// Errors: the target is lost (connection, agent); the fault says
    /// where it was.
    fn deploy(
        &mut self,
        request: &HostRequest,
        reporter: &Arc<dyn Reporter>,
        interrupt: &AtomicBool,
    ) -> Result<BatchResult, TargetFault>;

    /// Ends the run on the target: releases its lock and closes its
    /// connection. Errors are reported, not returned: the deploy is over.
    fn finish(self: Box<Self>, reporter: &dyn Reporter);
}

/// Opens the [`Target`] of a host.
pub trait Connect: Sync {
    /// Called once with every host of the run before the plan is made, so
    /// that connections can be set up while the controller plans.
    fn prepare(&self, _hosts: &[Destination]) {}

    /// Opens the target of `host`, called once per host, when the host's
    /// first request is ready, in the worker that sends it.
    ///
    /// Errors: the host cannot be reached or refused; the fault names the
    /// host and says what went wrong.
    fn open(
        &self,
        host: &Destination,
        shipment: &Shipment,
    ) -> Result<Box<dyn Target + '_>, TargetFault>;
}

/// What a remote host needs besides its requests: every file they refer
/// to by sha256 (package files and defdir files), where this machine has
/// it, its target directory and how to lock it.
#[derive(Debug, Clone, Default)]
pub struct Shipment {
    /// Files by their sha256.
    pub blobs: BTreeMap<String, Blob>,
    /// `target_directory` on the host.
    pub target_directory: PathBuf,
    /// The deploy lock to take there; `None` in predict mode, which writes
    /// nothing.
    pub lock: Option<LockRequest>,
}

/// Where the controller has the content of a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blob {
    /// A file.
    File(PathBuf),
    /// Bytes in memory (a Python component's fetched dependencies).
    Bytes(Arc<Vec<u8>>),
}

/// How a target takes its deploy lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRequest {
    /// `user@controller`.
    pub owner: String,
    /// The deploy's command line.
    pub command: String,
    /// Take over a lock someone else holds.
    pub break_lock: bool,
}

/// Looks up packages by their [`PackageRef`].
pub trait Packages {
    /// The package, loading it when needed.
    ///
    /// Errors: it cannot be found or loaded; the message says which.
    fn package(&mut self, package: &PackageRef) -> Result<&Package, String>;
}

/// Opens [`LocalTarget`]s: every host of a `local` environment is this
/// machine.
#[derive(Debug)]
pub struct LocalConnect<'a> {
    /// The packages the controller loaded.
    pub packages: &'a [Package],
    /// Which of them each reference names.
    pub index: BTreeMap<PackageRef, usize>,
}

impl Connect for LocalConnect<'_> {
    fn open(&self, _: &Destination, _: &Shipment) -> Result<Box<dyn Target + '_>, TargetFault> {
        Ok(Box::new(LocalTarget { connect: self }))
    }
}

/// A local target: runs [`execute`] in this process with the packages the
/// controller loaded.
#[derive(Debug)]
pub struct LocalTarget<'a> {
    connect: &'a LocalConnect<'a>,
}

impl Packages for &LocalConnect<'_> {
    fn package(&mut self, package: &PackageRef) -> Result<&Package, String> {
        self.index
            .get(package)
            .and_then(|&i| self.packages.get(i))
            .ok_or_else(|| format!("no loaded package is {package:?}"))
    }
}

impl Target for LocalTarget<'_> {
    fn deploy(
        &mut self,
        request: &HostRequest,
        reporter: &Arc<dyn Reporter>,
        interrupt: &AtomicBool,
    ) -> Result<BatchResult, TargetFault> {
        let mut packages = self.connect;
        Ok(execute(request, &mut packages, reporter, interrupt))
    }

    // The local deploy's lock is the controller's, released by the engine.
    fn finish(self: Box<Self>, _: &dyn Reporter) {}
}

/// The sha256 of a step tree, to compare the target's configure with the
/// controller's. The `Debug` form of the generated WIT types lists every
/// field of every step, in order; both sides run the same berth.
pub fn steps_hash(steps: &[Step]) -> String {
    hex::encode(sha2::Sha256::digest(format!("{steps:?}").as_bytes()))
}

/// Runs one request where its files are: configures every root again with
/// the controller's inputs, checks the step tree, and walks it. Roots whose
/// dependencies (within the request) failed are skipped. Once `cancel` is
/// set, no further step starts; the roots not done are failed.
pub fn execute(
    request: &HostRequest,
    packages: &mut dyn Packages,
    reporter: &Arc<dyn Reporter>,
    cancel: &AtomicBool,
) -> BatchResult {
    let options = WalkOptions {
        predict: request.predict,
        timeout: Duration::from_millis(request.timeout_ms),
        jobs: 1,
        allow_unconfined: request.allow_unconfined,
    };
    let shared = Shared::of(&request.secrets);
    let mut out = BatchResult::default();
    for plan in &request.roots {
        if let Some(&d) = plan
            .after
            .iter()
            .find(|&&d| out.roots.get(d) != Some(&RootResult::Succeeded))
        {
            let blame = request
                .roots
                .get(d)
                .map(|r| format!("{}/{}", r.host.name, r.component))
                .unwrap_or_default();
            reporter.report(&Event::ComponentSkipped {
                host: plan.host.name.clone(),
                component: plan.component.clone(),
                because: blame,
            });
            out.summary.skipped += 1;
            out.roots.push(RootResult::Skipped);
            continue;
        }
        let mut c = match configure_again(plan, packages, reporter, options.timeout) {
            Ok(c) => c,
            Err(error) => Configured {
                root: root_of(plan),
                instance: None,
                programs: Arc::new(berth_sandbox::Programs::none()),
                steps: Vec::new(),
                failed: Some(error),
            },
        };
        if cancel.load(Ordering::Relaxed) && c.failed.is_none() {
            c.failed = Some(INTERRUPTED.into());
        }
        let mut local = Summary::default();
        deploy::deploy_root(
            &mut c,
            options,
            &shared,
            reporter.as_ref(),
            &mut local,
            cancel,
        );
        out.roots.push(if local.failed == 0 {
            RootResult::Succeeded
        } else {
            RootResult::Failed
        });
        out.summary.changed += local.changed;
        out.summary.unchanged += local.unchanged;
        out.summary.failed += local.failed;
        out.summary.failures.extend(local.failures);
    }
    out
}

/// Why a root that had not started when the deploy was interrupted failed.
pub const INTERRUPTED: &str = "the deploy was interrupted before this component started";

/// The engine's root for a planned one.
fn root_of(plan: &RootPlan) -> Root {
    Root {
        host: (&plan.host).into(),
        component: plan.component.clone(),
        package: 0,
        attributes: plan
            .attributes
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    AttributeValue {
                        json: v.json.clone(),
                        source: match v.secret {
                            true => ValueSource::Secrets(String::new()),
                            false => ValueSource::Default,
                        },
                    },
                )
            })
            .collect(),
        features: plan.features.clone(),
        grants: plan
            .grants
            .iter()
            .map(|g| berth_sandbox::Grant {
                path: g.path.clone(),
                access: match g.writable {
                    true => berth_sandbox::Access::ReadWrite,
                    false => berth_sandbox::Access::Read,
                },
            })
            .collect(),
        commands: plan.commands.clone(),
        special_modes: plan.special_modes,
        workdir: plan.workdir.clone(),
        defdir: match &plan.defdir {
            Defdir::Path { path } => path.clone(),
            // The target replaces it with the folder it built; a plan that
            // reaches here without one has no definition folder to read.
            Defdir::Files { .. } => PathBuf::from("/nonexistent/berth-defdir"),
        },
    }
}

/// Instantiates a root and runs its configure once with the controller's
/// inputs; the step tree must be the controller's.
fn configure_again(
    plan: &RootPlan,
    packages: &mut dyn Packages,
    reporter: &Arc<dyn Reporter>,
    timeout: Duration,
) -> Result<Configured, String> {
    let root = root_of(plan);
    let package = packages.package(&plan.package)?;
    let mut model = Model::new(root.host.clone(), (&plan.environment).into());
    model.attributes = plan
        .attributes
        .iter()
        .map(|(k, v)| (k.clone(), v.json.clone()))
        .collect();
    model.features = plan.features.clone();
    model.available = Arc::new(
        plan.available
            .iter()
            .map(|p| ProvidedValue {
                key: p.key.clone(),
                host: p.host.clone(),
                component: p.component.clone(),
                value: p.value.clone(),
            })
            .collect(),
    );
    model.addresses = Some(Arc::new(crate::address::Replayed {
        answers: plan.resolved.clone(),
    }));
    let programs =
        Arc::new(berth_sandbox::Programs::new(&root.commands).map_err(|e| e.to_string())?);
    // The controller reported configure's log lines already; this
    // configure's are the same and stay quiet.
    let quiet = Arc::new(AtomicBool::new(true));
    let log = {
        let inner = crate::log_sink(reporter.clone(), &root);
        let quiet = quiet.clone();
        let log: berth_runtime::LogSink = Arc::new(move |level, message| {
            if !quiet.load(Ordering::Relaxed) {
                inner(level, message)
            }
        });
        log
    };
    let mut instance = package
        .instantiate(&root.component, model, programs.clone(), timeout, log)
        .map_err(|e| e.to_string())?;
    let steps = instance.configure().map_err(|e| e.to_string());
    quiet.store(false, Ordering::Relaxed);
    let steps = steps?;
    if steps_hash(&steps) != plan.steps {
        return Err(format!(
            "configure on the target returned other steps than on the controller ({} steps); configure must be deterministic: it may depend only on its attributes, host, environment and required values",
            steps.len()
        ));
    }
    Ok(Configured {
        root,
        instance: Some(instance),
        programs,
        steps,
        failed: None,
    })
}

/// The files of a definition folder as a package carries them
/// ([`berth_build::package_files`]: no hidden entries, no `target/`), each
/// with its sha256, sorted by path.
///
/// Errors: a folder or file cannot be read; the error names it.
pub fn defdir_files(dir: &std::path::Path) -> Result<Vec<DefdirFile>, crate::EngineError> {
    use std::os::unix::fs::PermissionsExt;
    let files = berth_build::package_files(dir).map_err(|e| crate::EngineError::Io {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    files
        .into_iter()
        .map(|rel| {
            let path = dir.join(&rel);
            let io = |e: std::io::Error| crate::EngineError::Io {
                path: path.clone(),
                message: e.to_string(),
            };
            let bytes = std::fs::read(&path).map_err(io)?;
            let mode = std::fs::metadata(&path).map_err(io)?.permissions().mode();
            Ok(DefdirFile {
                sha256: hex::encode(sha2::Sha256::digest(&bytes)),
                path: rel,
                executable: mode & 0o111 != 0,
            })
        })
        .collect()
}
