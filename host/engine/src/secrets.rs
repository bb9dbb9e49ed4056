//! Secrets in the engine.
//!
//! The one choke point between the engine and whoever shows its output:
//! every string of every event, and every error, passes through the
//! environment's [`Mask`] before a reporter or the CLI sees it. Components
//! get the real values; only what leaves the engine is masked.
//!
//! Secret files reach a component's File step by name (`source =
//! "secret:NAME"`, see [`berth_secrets::SOURCE_PREFIX`]): the plan checks
//! the grants, the walk puts the bytes in.

use crate::configure::Plan;
use crate::error::{EngineError, Problem};
use crate::event::{Event, Outcome, Reporter, Summary};
use crate::target::{HostSecrets, Secret};
use berth_config::Secrets;
use berth_resources as res;
use berth_runtime::wit::{FileContent, Resource};
use berth_secrets::Mask;
use std::collections::BTreeSet;
use std::sync::Arc;

/// A reporter that masks every event before `inner` sees it.
struct Masked {
    inner: Arc<dyn Reporter>,
    mask: Arc<Mask>,
}

impl Reporter for Masked {
    fn report(&self, event: &Event) {
        let mut event = event.clone();
        mask_event(&mut event, &self.mask);
        self.inner.report(&event);
    }
}

/// `reporter`, masking with `mask` (itself when there is nothing to hide).
pub fn masked(reporter: Arc<dyn Reporter>, mask: &Arc<Mask>) -> Arc<dyn Reporter> {
    if mask.is_empty() {
        reporter
    } else {
        Arc::new(Masked {
            inner: reporter,
            mask: mask.clone(),
        })
    }
}

/// Masks every string of `event`; diffs line by line ([`Mask::diff`]).
pub fn mask_event(event: &mut Event, mask: &Mask) {
    let m = |s: &mut String| mask.apply(s);
    match event {
        Event::Started {
            environment, hosts, ..
        } => {
            m(environment);
            hosts.iter_mut().for_each(m);
        }
        Event::Building {
            workspace,
            components,
            tool,
        } => {
            m(workspace);
            components.iter_mut().for_each(m);
            m(tool);
        }
        Event::BuildOutput { line } => m(line),
        Event::Loaded { package, path, .. } => {
            m(package);
            m(path);
        }
        Event::Planned { order } => order.iter_mut().for_each(m),
        Event::Warning { message, hint } => {
            m(message);
            hint.iter_mut().for_each(m);
        }
        Event::ComponentStarted { host, component } => {
            m(host);
            m(component);
        }
        Event::Step {
            host,
            component,
            label,
            outcome,
            ..
        } => {
            m(host);
            m(component);
            m(label);
            match outcome {
                Outcome::Unchanged => {}
                Outcome::Changed { reason, diff } | Outcome::WouldChange { reason, diff } => {
                    m(reason);
                    if let Some(d) = diff {
                        *d = mask.diff(d);
                    }
                }
                Outcome::Failed { error } => m(error),
            }
        }
        Event::Log {
            host,
            component,
            level,
            message,
        } => {
            m(host);
            m(component);
            m(level);
            m(message);
        }
        Event::ComponentFinished {
            host, component, ..
        } => {
            m(host);
            m(component);
        }
        Event::ComponentFailed {
            host,
            component,
            error,
        } => {
            m(host);
            m(component);
            m(error);
        }
        Event::ComponentSkipped {
            host,
            component,
            because,
        } => {
            m(host);
            m(component);
            m(because);
        }
        Event::Phase { name } => m(name),
        Event::Built { components, .. } => components.iter_mut().for_each(m),
        Event::Summary(summary) => mask_summary(summary, mask),
    }
}

/// `summary` with every secret in its text masked.
pub fn mask_summary(summary: &mut Summary, mask: &Mask) {
    let m = |s: &mut String| mask.apply(s);
    m(&mut summary.environment);
    summary.failures.iter_mut().for_each(m);
}

/// `error` with every secret in its text masked. Errors that carry only
/// paths and names are returned as they are.
pub fn mask_error(error: EngineError, mask: &Mask) -> EngineError {
    if mask.is_empty() {
        return error;
    }
    let problem = |mut p: Problem| {
        p.origin.iter_mut().for_each(|o| mask.apply(o));
        mask.apply(&mut p.message);
        p.hint.iter_mut().for_each(|h| mask.apply(h));
        p
    };
    match error {
        EngineError::Model(problems) => {
            EngineError::Model(problems.into_iter().map(problem).collect())
        }
        EngineError::Build(message) => EngineError::Build(mask.text(&message)),
        other if mask.holds(other.to_string().as_bytes()) => {
            EngineError::Masked(mask.text(&other.to_string()))
        }
        other => other,
    }
}

/// Checks that every root was granted the secret files its File steps
/// name (`[grants:C] secrets = NAME`) and that they exist. Every problem is
/// reported at once, before anything changes.
pub(crate) fn check_secret_files(
    plan: &Plan,
    environment: &berth_config::Environment,
) -> Result<(), EngineError> {
    let mut problems = Vec::new();
    let files = environment.secrets.as_ref().map(|s| &s.files);
    for c in &plan.roots {
        let component = &c.root.component;
        let grants = environment.grants.get(component);
        let granted: BTreeSet<&str> = grants
            .map(|g| g.secrets.iter().map(|s| s.name.as_str()).collect())
            .unwrap_or_default();
        for (path, name) in c.steps.iter().filter_map(|s| secret_of(&s.resource)) {
            if !files.is_some_and(|f| f.contains_key(name)) {
                problems.push(
                    Problem::new(
                        Some(environment.file.display().to_string()),
                        format!(
                            "component `{component}` writes the secret file `{name}` into `{path}`, but environment `{}` has no `{}`",
                            environment.name,
                            berth_secrets::secret_file(&environment.file, name).display()
                        ),
                    )
                    .hint(format!(
                        "create it with `berth secrets edit {} {name}`",
                        environment.name
                    )),
                );
            } else if !granted.contains(name) {
                problems.push(
                    Problem::new(
                        grants.map(|g| g.origin.to_string()),
                        format!(
                            "component `{component}` needs the secret file `{name}` (for `{path}`), which environment `{}` does not grant",
                            environment.name
                        ),
                    )
                    .hint(format!(
                        "add to `{}`:\n  [grants:{component}]\n  secrets = {name}",
                        environment.file.display()
                    )),
                );
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(EngineError::Model(problems))
    }
}

/// The path and secret file of a File step that names one.
fn secret_of(resource: &Resource) -> Option<(&str, &str)> {
    let Resource::File(f) = resource else {
        return None;
    };
    let FileContent::Source(source) = &f.content else {
        return None;
    };
    berth_secrets::secret_source(source).map(|name| (f.path.as_str(), name))
}

/// Puts the bytes of the secret file a File step names into it; other
/// steps are left alone.
///
/// Errors: the plan has no such secret file (the plan checks it before, so
/// only a plan built by other means gets here).
pub(crate) fn secret_content(
    resource: &mut res::Resource,
    secrets: &Secrets,
) -> Result<(), String> {
    let res::Resource::File(f) = resource else {
        return Ok(());
    };
    let res::Content::Source(source) = &f.content else {
        return Ok(());
    };
    let Some(name) = berth_secrets::secret_source(source) else {
        return Ok(());
    };
    let file = secrets
        .files
        .get(name)
        .ok_or_else(|| format!("the secret file `{name}` is not part of this host's secrets"))?;
    f.content = res::Content::Bytes(file.content.to_vec());
    Ok(())
}

/// What the roots of `host` in `plan` use of the secrets: their
/// components, the host, the secret files their File steps name. A remote
/// host's plan carries only `berth_secrets::scope(&plan.secrets, &uses(plan,
/// host))`.
pub fn uses(plan: &Plan, host: &str) -> berth_secrets::Uses {
    let mut uses = berth_secrets::Uses {
        host: host.to_owned(),
        ..Default::default()
    };
    for c in plan.roots.iter().filter(|c| c.root.host.name == host) {
        uses.components.insert(c.root.component.clone());
        for (_, name) in c.steps.iter().filter_map(|s| secret_of(&s.resource)) {
            uses.files.insert(name.to_owned());
        }
    }
    uses
}

/// The secrets host `host` gets: the share [`uses`] says its roots use
/// ([`berth_secrets::scope`]), and, to mask with, every secret value that
/// its roots' plans hold, also one that reaches it as a provided value
/// (`available`).
pub(crate) fn host_share(
    plan: &Plan,
    environment: &berth_config::Environment,
    host: &str,
    available: &[&str],
) -> HostSecrets {
    let Some(all) = &environment.secrets else {
        return HostSecrets::default();
    };
    let scoped = berth_secrets::scope(all, &uses(plan, host));
    let secret = |bytes: &[u8]| Secret(zeroize::Zeroizing::new(bytes.to_vec()));
    let mut values: Vec<Secret> = scoped
        .components
        .values()
        .flat_map(|s| s.attributes.values())
        .chain(scoped.hosts.values().flat_map(|d| d.values()))
        .map(|raw| secret(raw.value.as_bytes()))
        .collect();
    let others = all
        .components
        .values()
        .flat_map(|s| s.attributes.values())
        .chain(all.hosts.values().flat_map(|d| d.values()))
        .map(|raw| raw.value.as_bytes());
    for value in others {
        let held = Mask::new([value]);
        if available.iter().any(|a| held.holds(a.as_bytes())) {
            values.push(secret(value));
        }
    }
    values.sort_by(|a, b| a.0.as_slice().cmp(b.0.as_slice()));
    values.dedup();
    HostSecrets {
        values,
        files: scoped
            .files
            .iter()
            .map(|(name, file)| (name.clone(), Secret(file.content.clone())))
            .collect(),
    }
}
