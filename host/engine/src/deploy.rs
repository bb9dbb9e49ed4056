//! The deploy walk: for each root in order, verify every step depth-first,
//! children before their parent, and update what needs it.

use crate::configure::Configured;
use crate::event::{Event, Outcome, Reporter, Summary};
use crate::target::HostSecrets;
use berth_resources as res;
use berth_runtime::wit::{self, FileContent, Resource, StepContext, TemplateBody, Verdict};
use berth_sandbox::{Programs, Sandbox};
use std::path::PathBuf;
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
    /// Run programs where the kernel cannot confine them fully.
    pub allow_unconfined: bool,
}

/// What every root of a request shares: the secret files its File steps
/// may name, and the mask that tells which content holds a secret.
pub(crate) struct Shared {
    secrets: Arc<berth_config::Secrets>,
    mask: Arc<berth_secrets::Mask>,
}

impl Shared {
    /// The secrets a host received.
    pub(crate) fn of(secrets: &HostSecrets) -> Self {
        let files = secrets
            .files
            .iter()
            .map(|(name, secret)| {
                let file = berth_config::SecretFile {
                    path: PathBuf::from(format!("secret-{name}")),
                    content: secret.0.clone(),
                };
                (name.clone(), file)
            })
            .collect();
        let values = secrets.values.iter().map(|v| v.0.as_slice());
        let contents = secrets.files.values().map(|v| v.0.as_slice());
        Self {
            secrets: Arc::new(berth_config::Secrets {
                files,
                ..Default::default()
            }),
            mask: Arc::new(berth_secrets::Mask::new(values.chain(contents))),
        }
    }
}

/// Deploys one root: reports its start, walks its steps, reports its end.
/// Once `cancel` is set, no further step starts.
pub(crate) fn deploy_root(
    c: &mut Configured,
    options: WalkOptions,
    shared: &Shared,
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
    let result = walk.root(c, shared);
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
    globals: res::Globals,
    templates: res::Templates,
    workdir_ready: bool,
    secrets: Arc<berth_config::Secrets>,
    mask: Arc<berth_secrets::Mask>,
}

impl Walk<'_> {
    fn root(&mut self, c: &mut Configured, shared: &Shared) -> Result<(), String> {
        let root = &c.root;
        let sandbox = Sandbox::new(
            &root.component,
            root.workdir.clone(),
            root.defdir.clone(),
            root.grants.clone(),
        )
        .map_err(|e| e.to_string())?
        .allow_special_modes(root.special_modes)
        .allow_unconfined(self.options.allow_unconfined);
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
            globals: globals(c).into(),
            templates: res::Templates::new(),
            workdir_ready: false,
            secrets: shared.secrets.clone(),
            mask: shared.mask.clone(),
        };
        let Some(instance) = c.instance.as_mut() else {
            return Err("the component was not instantiated".into());
        };
        instance.set_sandbox(sandbox);

        let children = children(&c.steps)?;
        let walked = children[c.steps.len()].iter().try_for_each(|&top| {
            self.step(&c.steps, &children, top, instance, &mut cx)
                .map(drop)
        });
        // The root's staged file writes become durable together, also
        // those of the steps before a failure (docs/sandbox.md).
        let committed = cx.sandbox.commit().map_err(|e| e.to_string());
        walked.and(committed.map(drop))
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
            cx.sandbox.commit().map_err(|e| e.to_string())?; // the guest sees the files
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
        let mut resource = builtin(&step.resource)?;
        crate::secrets::secret_content(&mut resource, &cx.secrets)?;
        let check = {
            let context = res::Context {
                sandbox: &cx.read_only,
                programs: &cx.programs,
                globals: &cx.globals,
                templates: &cx.templates,
                timeout: self.options.timeout,
                mask: &cx.mask,
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
                mask: &cx.mask,
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
