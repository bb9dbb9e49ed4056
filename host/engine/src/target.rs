//! The one seam for targets: after the plan, each host's share of it goes
//! to a [`Target`] as [`HostRequest`]s; the target answers with the same
//! [`Event`]s a local deploy reports and one [`BatchResult`] per request.
//!
//! A local deploy runs [`execute`] in this process ([`LocalTarget`]); a
//! remote one sends the same request to `berth agent` on the host, which
//! runs the same [`execute`]. Both configure every root again with the
//! inputs the controller settled on (configure is deterministic), refuse a
//! step tree that differs from the controller's, and walk it with
//! [`crate::deploy`]'s code.
//!
//! ```
//! use berth_engine::target::{HostRequest, RootPlan};
//! // Requests are plain data: they travel as JSON.
//! let request = HostRequest { predict: true, timeout_ms: 1000, memory_limit: 1 << 20, roots: Vec::new() };
//! let json = serde_json::to_string(&request).unwrap();
//! let back: HostRequest = serde_json::from_str(&json).unwrap();
//! assert!(back.predict && back.roots.is_empty());
//! # let _: Option<RootPlan> = None;
//! ```

use crate::configure::Configured;
use crate::deploy::{self, WalkOptions};
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostRequest {
    /// Verify only.
    pub predict: bool,
    /// Deadline of one guest call or program run, in milliseconds.
    pub timeout_ms: u64,
    /// The most linear memory one instance may use, in bytes.
    pub memory_limit: usize,
    /// The roots, in the order they deploy.
    pub roots: Vec<RootPlan>,
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
    /// The sha256 of its package file.
    pub package: String,
    /// Its attributes, resolved; only this root's (secret ones included:
    /// a host receives only the secrets its own components use).
    pub attributes: BTreeMap<String, Attribute>,
    /// Features switched on for it.
    pub features: Vec<String>,
    /// Extra paths on the target, with `ro` or `rw`.
    pub grants: Vec<(PathBuf, String)>,
    /// Programs it may run.
    pub commands: Vec<String>,
    /// Its work folder on the target.
    pub workdir: PathBuf,
    /// Its definition folder: on this machine for a local deploy; on a
    /// remote target the agent builds it from `defdir_files`.
    pub defdir: PathBuf,
    /// The defdir's files by sha256, for a target that builds the defdir
    /// from its store; `None` for a local deploy.
    pub defdir_files: Option<Vec<DefdirFile>>,
    /// The values every root provided, as the controller's last configure
    /// round saw them.
    pub available: Vec<Provided>,
    /// What `model.resolve` answered on the controller, by address.
    pub resolved: BTreeMap<String, String>,
    /// The sha256 of the step tree configure returned on the controller.
    pub steps: String,
    /// Roots of this request (by index) that must succeed before this one.
    pub after: Vec<usize>,
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
            true => f.write_str(berth_config::secrets::MASK),
            false => f.write_str(&self.json),
        }
    }
}

/// A file of a definition folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefdirFile {
    /// Its path below the defdir, with `/`.
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

impl From<&HostInfo> for HostFacts {
    fn from(h: &HostInfo) -> Self {
        Self {
            name: h.name.clone(),
            fqdn: h.fqdn.clone(),
            platform: h.platform.clone(),
            service_user: h.service_user.clone(),
            data: h.data.clone(),
        }
    }
}

impl From<&HostFacts> for HostInfo {
    fn from(h: &HostFacts) -> Self {
        Self {
            name: h.name.clone(),
            fqdn: h.fqdn.clone(),
            platform: h.platform.clone(),
            service_user: h.service_user.clone(),
            data: h.data.clone(),
        }
    }
}

impl From<&EnvironmentInfo> for EnvironmentFacts {
    fn from(e: &EnvironmentInfo) -> Self {
        Self {
            name: e.name.clone(),
            connect_method: e.connect_method.clone(),
            host_domain: e.host_domain.clone(),
            platform: e.platform.clone(),
        }
    }
}

impl From<&EnvironmentFacts> for EnvironmentInfo {
    fn from(e: &EnvironmentFacts) -> Self {
        Self {
            name: e.name.clone(),
            connect_method: e.connect_method.clone(),
            host_domain: e.host_domain.clone(),
            platform: e.platform.clone(),
        }
    }
}

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

/// A target that stopped answering or refused a request: the host is lost
/// for the rest of the run.
#[derive(Debug, Clone)]
pub struct TargetFault {
    /// What happened, naming the host and what it was doing.
    pub message: String,
    /// What the target reported before it failed (possibly fewer roots than
    /// the request had).
    pub partial: Box<BatchResult>,
}

/// One host's target for the whole run.
pub trait Target: Send {
    /// Deploys one request and reports its events as they happen. Once
    /// `interrupt` is set, the target starts no further step and answers
    /// with the roots not done failed.
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

/// Opens the [`Target`] of a host. The engine calls it once per host, when
/// the host's first request is ready, in the worker that sends it.
pub trait Connect: Sync {
    /// Opens the target of `host`; the error names the host and says what
    /// went wrong.
    fn open(&self, host: &HostFacts, shipment: &Shipment) -> Result<Box<dyn Target + '_>, String>;
}

/// What a remote host needs besides its requests: every file they refer
/// to by sha256 (package files and defdir files) with the file on this
/// machine that holds it, its target directory and how to lock it.
#[derive(Debug, Clone, Default)]
pub struct Shipment {
    /// Files by their sha256.
    pub blobs: BTreeMap<String, PathBuf>,
    /// `target_directory` on the host.
    pub target_directory: PathBuf,
    /// The deploy lock to take there; `None` in predict mode, which writes
    /// nothing.
    pub lock: Option<LockRequest>,
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

/// Looks up loaded packages by the sha256 of their file.
pub trait Packages {
    /// The package whose file has this sha256, loading it when needed.
    fn package(&mut self, sha256: &str) -> Result<&Package, String>;
}

impl Packages for &[Package] {
    fn package(&mut self, sha256: &str) -> Result<&Package, String> {
        self.iter()
            .find(|p| p.sha256 == sha256)
            .ok_or_else(|| format!("no loaded package has sha256 {sha256}"))
    }
}

/// Opens [`LocalTarget`]s: every host of a `local` environment is this
/// machine.
#[derive(Debug)]
pub struct LocalConnect<'a> {
    /// The packages the controller loaded.
    pub packages: &'a [Package],
}

impl Connect for LocalConnect<'_> {
    fn open(&self, _: &HostFacts, _: &Shipment) -> Result<Box<dyn Target + '_>, String> {
        Ok(Box::new(LocalTarget {
            packages: self.packages,
        }))
    }
}

/// A local target: runs [`execute`] in this process with the packages the
/// controller loaded.
#[derive(Debug)]
pub struct LocalTarget<'a> {
    /// The loaded packages.
    pub packages: &'a [Package],
}

impl Target for LocalTarget<'_> {
    fn deploy(
        &mut self,
        request: &HostRequest,
        reporter: &Arc<dyn Reporter>,
        interrupt: &AtomicBool,
    ) -> Result<BatchResult, TargetFault> {
        let mut packages = self.packages;
        Ok(execute(request, &mut packages, reporter, interrupt))
    }

    // The local deploy's lock is the controller's, released by the engine.
    fn finish(self: Box<Self>, _: &dyn Reporter) {}
}

/// The sha256 of a step tree, to compare the target's configure with the
/// controller's. The `Debug` form of the generated WIT types lists every
/// field of every step, in order.
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
    };
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
        if cancel.load(Ordering::Relaxed) {
            c.failed = Some("the deploy was interrupted before this component started".into());
        }
        let mut local = Summary::default();
        deploy::deploy_root(&mut c, options, reporter.as_ref(), &mut local, cancel);
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
            .map(|(path, access)| berth_sandbox::Grant {
                path: path.clone(),
                access: match access.as_str() {
                    "rw" => berth_sandbox::Access::ReadWrite,
                    _ => berth_sandbox::Access::Read,
                },
            })
            .collect(),
        commands: plan.commands.clone(),
        workdir: plan.workdir.clone(),
        defdir: plan.defdir.clone(),
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

/// The regular files below a definition folder, each with its sha256,
/// sorted by path. Symbolic links and other special files are left out: a
/// target gets the files' contents.
pub fn defdir_files(dir: &std::path::Path) -> Result<Vec<DefdirFile>, crate::EngineError> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let here = dir.join(&rel);
        let io = |e: std::io::Error| crate::EngineError::Io {
            path: here.clone(),
            message: e.to_string(),
        };
        for entry in std::fs::read_dir(&here).map_err(io)? {
            let entry = entry.map_err(io)?;
            let kind = entry.file_type().map_err(io)?;
            let name = rel.join(entry.file_name());
            if kind.is_dir() {
                pending.push(name);
            } else if kind.is_file() {
                let path = entry.path();
                let bytes = std::fs::read(&path).map_err(|e| crate::EngineError::Io {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                let mode = entry.metadata().map_err(io)?.permissions().mode();
                out.push(DefdirFile {
                    path: name.to_string_lossy().into_owned(),
                    sha256: hex::encode(sha2::Sha256::digest(&bytes)),
                    executable: mode & 0o111 != 0,
                });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}
