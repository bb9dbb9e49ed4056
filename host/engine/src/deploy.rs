//! The deploy walk: for each root in order, verify every step depth-first,
//! children before their parent, and update what needs it.

use crate::configure::Configured;
use crate::event::{Event, Outcome, Reporter, Summary};
use crate::target::{
    BatchResult, Connect, HostRequest, RootPlan, RootResult, Shipment, Target, TargetFault,
};
use berth_resources as res;
use berth_runtime::wit::{self, FileContent, Resource, StepContext, TemplateBody, Verdict};
use berth_sandbox::{Programs, Sandbox};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How the walk behaves.
#[derive(Debug, Clone, Copy)]
pub struct WalkOptions {
    /// Verify only; change nothing.
    pub predict: bool,
    /// Deadline of one program run.
    pub timeout: Duration,
    /// How many hosts may deploy at once.
    pub jobs: usize,
}

/// Where a root stands in the schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Status {
    Waiting,
    Running,
    Succeeded,
    /// Failed or skipped; the `host/component` to blame for dependents.
    Broken(String),
}

/// One root of the plan, as the schedule sends it to its host.
#[derive(Debug)]
pub struct Scheduled {
    /// The root's plan.
    pub plan: RootPlan,
    /// Why it failed already on the controller (configure), when it did.
    pub failed: Option<String>,
}

/// A host's connection state in the schedule.
enum HostSlot<'c> {
    /// Not opened yet.
    Closed,
    /// Open and idle.
    Open(Box<dyn Target + 'c>),
    /// Sending a request.
    Busy,
    /// Lost for the rest of the run, with the reason.
    Lost(String),
}

/// What a worker hands back: the host, its target (unless it was lost), and
/// the request's result or fault.
type Finished<'c> = (
    String,
    Vec<usize>,
    Result<(Box<dyn Target + 'c>, BatchResult), (Option<Box<dyn Target + 'c>>, TargetFault)>,
);

/// Deploys every root of the plan through the hosts' targets. A host's
/// next root starts as soon as every root it depends on (on any host)
/// succeeded; consecutive roots of a host that wait on nothing else go in
/// one request. Up to `jobs` hosts work at once; roots of one host deploy
/// one after another, in plan order. The dependents of a failed root are
/// skipped; independent roots go on. A host that cannot be reached or is
/// lost fails its remaining roots. Every outcome is counted in `summary`.
#[allow(clippy::too_many_arguments)]
pub fn run<'c>(
    roots: &[Scheduled],
    after: &[Vec<usize>],
    options: WalkOptions,
    memory_limit: usize,
    connect: &'c dyn Connect,
    shipments: &BTreeMap<String, Shipment>,
    reporter: &Arc<dyn Reporter>,
    summary: &mut Summary,
    interrupt: &AtomicBool,
) {
    let host_of = |i: usize| roots[i].plan.host.name.clone();
    let mut status = vec![Status::Waiting; roots.len()];
    let mut hosts: BTreeMap<String, HostSlot<'c>> = roots
        .iter()
        .map(|r| (r.plan.host.name.clone(), HostSlot::Closed))
        .collect();
    let jobs = options.jobs.max(1);
    let empty = Shipment::default();

    std::thread::scope(|scope| {
        let (done, finished) = std::sync::mpsc::channel::<Finished<'c>>();
        let mut running = 0;
        loop {
            // Settle what needs no host: skipped dependents, roots that
            // failed on the controller, roots of a lost host.
            let mut settled = true;
            while settled {
                settled = false;
                for i in 0..roots.len() {
                    if status[i] != Status::Waiting || earlier_pending(roots, &status, i) {
                        continue;
                    }
                    let plan = &roots[i].plan;
                    let blame = after[i].iter().find_map(|&d| match &status[d] {
                        Status::Broken(who) => Some(who.clone()),
                        _ => None,
                    });
                    let lost = match hosts.get(&plan.host.name) {
                        Some(HostSlot::Lost(why)) => Some(why.clone()),
                        _ if interrupt.load(Ordering::Relaxed) => {
                            Some("the deploy was interrupted before this component started".into())
                        }
                        _ => None,
                    };
                    let id = format!("{}/{}", plan.host.name, plan.component);
                    if let Some(blame) = blame {
                        reporter.report(&Event::ComponentSkipped {
                            host: plan.host.name.clone(),
                            component: plan.component.clone(),
                            because: blame.clone(),
                        });
                        summary.skipped += 1;
                        status[i] = Status::Broken(blame);
                    } else if let Some(error) = roots[i].failed.clone().or(lost) {
                        reporter.report(&Event::ComponentFailed {
                            host: plan.host.name.clone(),
                            component: plan.component.clone(),
                            error: error.clone(),
                        });
                        summary.failed += 1;
                        summary.failures.push(format!("{id}: {error}"));
                        status[i] = Status::Broken(id);
                    } else {
                        continue;
                    }
                    settled = true;
                }
            }
            // Start every idle host whose next root is ready.
            for i in 0..roots.len() {
                if running >= jobs || interrupt.load(Ordering::Relaxed) {
                    break;
                }
                if status[i] != Status::Waiting
                    || earlier_pending(roots, &status, i)
                    || !after[i].iter().all(|&d| status[d] == Status::Succeeded)
                {
                    continue;
                }
                let host = host_of(i);
                let target = match hosts.insert(host.clone(), HostSlot::Busy) {
                    Some(HostSlot::Open(t)) => Some(t),
                    Some(HostSlot::Closed) | None => None,
                    Some(other) => {
                        hosts.insert(host.clone(), other);
                        continue;
                    }
                };
                let batch = batch(roots, after, &status, i);
                let request = HostRequest {
                    predict: options.predict,
                    timeout_ms: options.timeout.as_millis() as u64,
                    memory_limit,
                    roots: batch
                        .iter()
                        .map(|&j| {
                            let mut plan = roots[j].plan.clone();
                            plan.after = after[j]
                                .iter()
                                .filter_map(|d| batch.iter().position(|b| b == d))
                                .collect();
                            plan
                        })
                        .collect(),
                };
                for &j in &batch {
                    status[j] = Status::Running;
                }
                running += 1;
                let done = done.clone();
                let shipment = shipments.get(&host).unwrap_or(&empty);
                let facts = roots[i].plan.host.clone();
                let reporter = reporter.clone();
                scope.spawn(move || {
                    let result = match target {
                        Some(t) => Ok(t),
                        None => connect.open(&facts, shipment),
                    };
                    let outcome = match result {
                        Err(message) => Err((
                            None,
                            TargetFault {
                                message,
                                partial: Box::default(),
                            },
                        )),
                        Ok(mut target) => match target.deploy(&request, &reporter, interrupt) {
                            Ok(result) => Ok((target, result)),
                            Err(fault) => Err((Some(target), fault)),
                        },
                    };
                    // The receiver lives until every worker is joined.
                    let _ = done.send((facts.name, batch, outcome));
                });
            }
            if running == 0 {
                break;
            }
            let Ok((host, batch, outcome)) = finished.recv() else {
                break;
            };
            running -= 1;
            let (result, slot) = match outcome {
                Ok((target, result)) => (result, HostSlot::Open(target)),
                Err((target, fault)) => {
                    if let Some(target) = target {
                        target.finish(reporter.as_ref());
                    }
                    (*fault.partial, HostSlot::Lost(fault.message))
                }
            };
            hosts.insert(host, slot);
            summary.changed += result.summary.changed;
            summary.unchanged += result.summary.unchanged;
            summary.failed += result.summary.failed;
            summary.skipped += result.summary.skipped;
            summary.failures.extend(result.summary.failures);
            for (k, &i) in batch.iter().enumerate() {
                let id = format!("{}/{}", roots[i].plan.host.name, roots[i].plan.component);
                status[i] = match result.roots.get(k) {
                    Some(RootResult::Succeeded) => Status::Succeeded,
                    Some(_) => Status::Broken(id),
                    // Not reached: the lost host fails it below.
                    None => Status::Waiting,
                };
            }
        }
        for (_, slot) in std::mem::take(&mut hosts) {
            if let HostSlot::Open(target) = slot {
                target.finish(reporter.as_ref());
            }
        }
    });
}

/// Whether an earlier root of the same host has not finished.
fn earlier_pending(roots: &[Scheduled], status: &[Status], i: usize) -> bool {
    (0..i).any(|j| {
        roots[j].plan.host.name == roots[i].plan.host.name
            && matches!(status[j], Status::Waiting | Status::Running)
    })
}

/// Root `first` and the host's next roots that wait on nothing outside
/// what already succeeded and the batch itself.
fn batch(roots: &[Scheduled], after: &[Vec<usize>], status: &[Status], first: usize) -> Vec<usize> {
    let host = &roots[first].plan.host.name;
    let mut out = vec![first];
    for j in first + 1..roots.len() {
        if roots[j].plan.host.name != *host || status[j] != Status::Waiting {
            continue;
        }
        let ready = roots[j].failed.is_none()
            && after[j]
                .iter()
                .all(|d| status[*d] == Status::Succeeded || out.contains(d));
        if !ready {
            break;
        }
        out.push(j);
    }
    out
}

/// Deploys one root: reports its start, walks its steps, reports its end.
pub(crate) fn deploy_root(
    c: &mut Configured,
    options: WalkOptions,
    reporter: &dyn Reporter,
    summary: &mut Summary,
    cancel: &AtomicBool,
) {
    let id = c.root.id();
    let (host, component) = (c.root.host.name.clone(), c.root.component.clone());
    if let Some(error) = c.failed.clone() {
        reporter.report(&Event::ComponentFailed {
            host,
            component,
            error: error.clone(),
        });
        summary.failed += 1;
        summary.failures.push(format!("{id}: {error}"));
        return;
    }
    reporter.report(&Event::ComponentStarted {
        host: host.clone(),
        component: component.clone(),
    });
    let mut walk = Walk {
        options,
        reporter,
        summary,
        host: &host,
        component: &component,
        changed: 0,
        cancel,
    };
    let result = walk.root(c);
    let changed = walk.changed;
    if let Err(error) = &result {
        summary.failed += 1;
        summary.failures.push(format!("{id}: {error}"));
    }
    reporter.report(&Event::ComponentFinished {
        host,
        component,
        changed,
        failed: result.is_err(),
    });
}

struct Walk<'a> {
    options: WalkOptions,
    reporter: &'a dyn Reporter,
    summary: &'a mut Summary,
    host: &'a str,
    component: &'a str,
    changed: usize,
    cancel: &'a AtomicBool,
}

/// What one root's steps share while they run.
struct RootContext {
    sandbox: Sandbox,
    read_only: Sandbox,
    programs: Arc<Programs>,
    globals: serde_json::Value,
    templates: res::Templates,
    workdir_ready: bool,
}

impl Walk<'_> {
    fn root(&mut self, c: &mut Configured) -> Result<(), String> {
        let root = &c.root;
        let sandbox = Sandbox::new(
            &root.component,
            root.workdir.clone(),
            root.defdir.clone(),
            root.grants.clone(),
        )
        .map_err(|e| e.to_string())?;
        let sandbox = if self.options.predict {
            sandbox.read_only()
        } else {
            sandbox
        };
        let programs = c.programs.clone();
        let mut cx = RootContext {
            read_only: sandbox.read_only(),
            sandbox: sandbox.clone(),
            programs,
            globals: globals(c),
            templates: res::Templates::new(),
            workdir_ready: false,
        };
        let Some(instance) = c.instance.as_mut() else {
            return Err("the component was not instantiated".into());
        };
        instance.set_sandbox(sandbox);

        let children = children(&c.steps)?;
        for &top in &children[c.steps.len()] {
            self.step(&c.steps, &children, top, instance, &mut cx)?;
        }
        Ok(())
    }

    /// Deploys step `i` after its children; returns whether it changed
    /// (would change, in predict mode).
    fn step(
        &mut self,
        steps: &[wit::Step],
        children: &[Vec<usize>],
        i: usize,
        instance: &mut berth_runtime::Instance,
        cx: &mut RootContext,
    ) -> Result<bool, String> {
        let mut children_changed = false;
        if self.cancel.load(Ordering::Relaxed) {
            return Err("the deploy was interrupted; no further step started".into());
        }
        for &child in &children[i] {
            children_changed |= self.step(steps, children, child, instance, cx)?;
        }
        let step = &steps[i];
        let label = if step.label.is_empty() {
            default_label(&step.resource)
        } else {
            step.label.clone()
        };
        let result = self.verify_update(step, children_changed, instance, cx);
        let outcome = match &result {
            Ok(None) => Outcome::Unchanged,
            Ok(Some((reason, diff))) if self.options.predict => Outcome::WouldChange {
                reason: reason.clone(),
                diff: diff.clone(),
            },
            Ok(Some((reason, diff))) => Outcome::Changed {
                reason: reason.clone(),
                diff: diff.clone(),
            },
            Err(error) => Outcome::Failed {
                error: error.clone(),
            },
        };
        match &outcome {
            Outcome::Unchanged => self.summary.unchanged += 1,
            Outcome::Changed { .. } | Outcome::WouldChange { .. } => {
                self.summary.changed += 1;
                self.changed += 1;
            }
            Outcome::Failed { .. } => {}
        }
        self.reporter.report(&Event::Step {
            host: self.host.to_string(),
            component: self.component.to_string(),
            index: i,
            label: label.clone(),
            outcome,
        });
        match result {
            Ok(change) => Ok(change.is_some()),
            Err(error) => Err(format!("{label}: {error}")),
        }
    }

    /// Verifies one step and updates it when needed. Returns the reason and
    /// diff of a change, or `None` when it was up to date.
    #[allow(clippy::type_complexity)]
    fn verify_update(
        &mut self,
        step: &wit::Step,
        children_changed: bool,
        instance: &mut berth_runtime::Instance,
        cx: &mut RootContext,
    ) -> Result<Option<(String, Option<String>)>, String> {
        if let Resource::Custom(spec) = &step.resource {
            let context = StepContext {
                component: self.component.to_string(),
                children_changed,
            };
            let reason = match instance.verify(spec, &context).map_err(|e| e.to_string())? {
                Verdict::UpToDate => return Ok(None),
                Verdict::NeedsUpdate(reason) => reason,
            };
            if !self.options.predict {
                ensure_workdir(cx)?;
                instance.update(spec, &context).map_err(|e| e.to_string())?;
            }
            return Ok(Some((reason, None)));
        }
        let resource = builtin(&step.resource)?;
        let check = {
            let context = res::Context {
                sandbox: &cx.read_only,
                programs: &cx.programs,
                globals: &cx.globals,
                templates: &cx.templates,
                timeout: self.options.timeout,
            };
            res::verify(&resource, &context, children_changed).map_err(|e| e.to_string())?
        };
        let (reason, diff) = match &check.verdict {
            res::Verdict::UpToDate => return Ok(None),
            res::Verdict::NeedsUpdate { reason, diff } => (reason.clone(), diff.clone()),
        };
        if !self.options.predict {
            ensure_workdir(cx)?;
            let context = res::Context {
                sandbox: &cx.sandbox,
                programs: &cx.programs,
                globals: &cx.globals,
                templates: &cx.templates,
                timeout: self.options.timeout,
            };
            res::update(&resource, check, &context).map_err(|e| e.to_string())?;
        }
        Ok(Some((reason, diff)))
    }
}

fn ensure_workdir(cx: &mut RootContext) -> Result<(), String> {
    if !cx.workdir_ready {
        cx.sandbox.ensure_workdir().map_err(|e| e.to_string())?;
        cx.workdir_ready = true;
    }
    Ok(())
}

/// The children of every step; index `steps.len()` holds the top level.
fn children(steps: &[wit::Step]) -> Result<Vec<Vec<usize>>, String> {
    let mut out = vec![Vec::new(); steps.len() + 1];
    for (i, step) in steps.iter().enumerate() {
        match step.parent {
            None => out[steps.len()].push(i),
            Some(p) if (p as usize) < i => out[p as usize].push(i),
            Some(p) => {
                return Err(format!(
                    "configure returned step {i} with parent {p}, which does not come before it (a bug in the component or its SDK)"
                ));
            }
        }
    }
    Ok(out)
}

/// Template globals: `host`, `environment` and `attributes`.
fn globals(c: &Configured) -> serde_json::Value {
    let root = &c.root;
    let attributes: serde_json::Map<String, serde_json::Value> = root
        .attributes
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                serde_json::from_str(&v.json).unwrap_or(serde_json::Value::Null),
            )
        })
        .collect();
    let data: serde_json::Map<String, serde_json::Value> = root
        .host
        .data
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let environment = c.instance.as_ref().map(|i| i.model().environment.clone());
    serde_json::json!({
        "host": {
            "name": root.host.name,
            "fqdn": root.host.fqdn,
            "platform": root.host.platform,
            "service_user": root.host.service_user,
            "data": data,
        },
        "environment": environment.map(|e| serde_json::json!({
            "name": e.name,
            "connect_method": e.connect_method,
            "host_domain": e.host_domain,
            "platform": e.platform,
        })),
        "attributes": attributes,
        "component": root.component,
        "workdir": root.workdir.display().to_string(),
    })
}

fn default_label(resource: &Resource) -> String {
    match resource {
        Resource::Custom(spec) => spec.kind.clone(),
        other => builtin(other).map(|r| res::label(&r)).unwrap_or_else(|e| e),
    }
}

/// The host-side form of a built-in step.
fn builtin(resource: &Resource) -> Result<res::Resource, String> {
    Ok(match resource {
        Resource::File(f) => res::Resource::File(res::File {
            path: f.path.clone(),
            content: match &f.content {
                FileContent::Text(t) => res::Content::Text(t.clone()),
                FileContent::Bytes(b) => res::Content::Bytes(b.clone()),
                FileContent::Source(s) => res::Content::Source(s.clone()),
                FileContent::Template(t) => res::Content::Template {
                    body: match &t.body {
                        TemplateBody::Inline(s) => res::TemplateBody::Inline(s.clone()),
                        TemplateBody::Source(s) => res::TemplateBody::Source(s.clone()),
                    },
                    context: if t.context.trim().is_empty() {
                        serde_json::Value::Object(Default::default())
                    } else {
                        serde_json::from_str(&t.context).map_err(|e| {
                            format!("file `{}`: the template context is not JSON: {e}", f.path)
                        })?
                    },
                },
            },
            mode: f.mode,
            leading: f.leading,
        }),
        Resource::Directory(d) => res::Resource::Directory(res::Directory {
            path: d.path.clone(),
            mode: d.mode,
            leading: d.leading,
        }),
        Resource::Symlink(s) => res::Resource::Symlink(res::Symlink {
            path: s.path.clone(),
            target: s.target.clone(),
        }),
        Resource::Purge(p) => res::Resource::Purge(res::Purge {
            pattern: p.pattern.clone(),
        }),
        Resource::Command(c) => res::Resource::Command(res::CommandStep {
            argv: c.argv.clone(),
            cwd: c.cwd.clone(),
            unless: c.unless.clone(),
            creates: c.creates.clone(),
            on_change: c.on_change,
        }),
        Resource::Custom(spec) => {
            return Err(format!("custom step `{}` is not a built-in", spec.kind));
        }
    })
}
