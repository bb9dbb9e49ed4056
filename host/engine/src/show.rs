//! The resolved model as data, for `berth check` and `berth show`: every
//! host, every root with its attribute values and where each came from, the
//! deploy order and the provide/require connections.
//!
//! Nothing here changes anything: [`resolve`] loads the environment and the
//! packages and runs configure until provide/require settles (the same
//! [`load`](crate::load) and [`plan`](crate::plan) a deployment starts
//! with), and [`view`] turns the result into a [`ModelView`] that serializes
//! to the JSON `berth show --format json` prints.

use crate::configure::Plan;
use crate::event::Reporter;
use crate::model::ValueSource;
use crate::{DeployOptions, EngineError, Loaded};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Loads the environment and the packages, resolves the model and runs
/// configure to the provide/require fix-point. Verifies and updates
/// nothing, and creates no workdir. Errors are the problems that would stop
/// a deployment from starting; a root whose configure failed is kept in the
/// plan with its error ([`Configured::failed`](crate::configure::Configured)).
pub fn resolve(
    options: &DeployOptions,
    reporter: Arc<dyn Reporter>,
) -> Result<(Loaded, Plan), EngineError> {
    let loaded = crate::load(options, reporter.as_ref())?;
    let plan = crate::plan(&loaded, reporter)?;
    Ok((loaded, plan))
}

/// The resolved model of an environment.
#[derive(Debug, Clone, Serialize)]
pub struct ModelView {
    /// The environment's name.
    pub environment: String,
    /// Its file, as given.
    pub file: String,
    /// The hosts that are not ignored, in the environment's order.
    pub hosts: Vec<HostView>,
    /// One root per (host, root component), in the environment's order.
    pub roots: Vec<RootView>,
    /// The deploy order, as `host/component`.
    pub order: Vec<String>,
    /// Every provide/require connection.
    pub edges: Vec<EdgeView>,
    /// How many rounds configure needed.
    pub rounds: usize,
}

/// A host as the components see it.
#[derive(Debug, Clone, Serialize)]
pub struct HostView {
    /// Its name in `[hosts]`.
    pub name: String,
    /// Its fully qualified name.
    pub fqdn: String,
    /// Its platform (host, else environment; empty when unset).
    pub platform: String,
    /// Its service user (empty when unset).
    pub service_user: String,
    /// Its `data-KEY = value` entries.
    pub data: BTreeMap<String, String>,
}

/// A root component on a host.
#[derive(Debug, Clone, Serialize)]
pub struct RootView {
    /// The host's name.
    pub host: String,
    /// The root component's name.
    pub component: String,
    /// Every attribute, by name.
    pub attributes: Vec<AttributeView>,
    /// Features switched on with `comp:feature`.
    pub features: Vec<String>,
    /// Extra paths it may use, as `PATH ro|rw`.
    pub paths: Vec<String>,
    /// Programs it may run.
    pub commands: Vec<String>,
    /// What it provided in the last round, by key (values as JSON).
    pub provided: BTreeMap<String, serde_json::Value>,
    /// Why configure failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// An attribute's value and where it came from.
#[derive(Debug, Clone, Serialize)]
pub struct AttributeView {
    /// The attribute's name.
    pub name: String,
    /// Its value; `"********"` for a secret.
    pub value: serde_json::Value,
    /// `"default"`, the `file:line` of the environment line that set it, or
    /// `"secrets"`.
    pub source: String,
}

/// A value one root provided and another (or the same) root required.
#[derive(Debug, Clone, Serialize)]
pub struct EdgeView {
    /// The key.
    pub key: String,
    /// The providing root, `host/component`.
    pub provider: String,
    /// The requiring root, `host/component`.
    pub requirer: String,
    /// An empty answer would have been an error.
    pub strict: bool,
    /// Only values of the requirer's own host were asked for.
    pub same_host: bool,
    /// The requirer deploys before the provider.
    pub reverse: bool,
    /// No ordering edge (a cycle breaker).
    pub dirty: bool,
}

impl ModelView {
    /// Keeps only the roots (and edges touching them) on host `host` and of
    /// component `component`, and only the hosts that keep a root or are
    /// named. The deploy order keeps the remaining roots, in order.
    pub fn filter(&mut self, host: Option<&str>, component: Option<&str>) {
        let keep = |h: &str, c: &str| {
            host.is_none_or(|name| name == h) && component.is_none_or(|name| name == c)
        };
        self.roots.retain(|r| keep(&r.host, &r.component));
        let ids: Vec<String> = self
            .roots
            .iter()
            .map(|r| format!("{}/{}", r.host, r.component))
            .collect();
        self.order.retain(|id| ids.contains(id));
        self.edges
            .retain(|e| ids.contains(&e.provider) || ids.contains(&e.requirer));
        let roots = &self.roots;
        self.hosts.retain(|h| {
            host.is_some_and(|name| name == h.name) || roots.iter().any(|r| r.host == h.name)
        });
    }
}

/// The model of a resolved and configured environment.
///
/// Secrets show as `********`: attributes and host data from secrets, and
/// any secret in a provided value or a configure error.
pub fn view(loaded: &Loaded, plan: &Plan) -> ModelView {
    let env = &loaded.environment;
    let mask = &loaded.mask;
    let secret_data = |host: &str, key: &str| {
        env.secrets
            .as_ref()
            .and_then(|s| s.hosts.get(host))
            .is_some_and(|d| d.contains_key(key))
    };
    let hosts: Vec<HostView> = env
        .hosts
        .iter()
        .filter(|h| !h.ignore)
        .map(|host| {
            let info = crate::model::host_info(env, host, loaded.platform.as_deref());
            HostView {
                name: info.name,
                fqdn: info.fqdn,
                platform: info.platform,
                service_user: info.service_user,
                data: info
                    .data
                    .into_iter()
                    .map(|(k, v)| {
                        let v = if secret_data(&host.name, &k) {
                            berth_secrets::MASK.to_owned()
                        } else {
                            mask.text(&v)
                        };
                        (k, v)
                    })
                    .collect(),
            }
        })
        .collect();
    let order: Vec<String> = plan.roots.iter().map(|c| c.root.id()).collect();
    let roots = loaded
        .roots
        .iter()
        .map(|root| {
            let configured = plan
                .roots
                .iter()
                .find(|c| c.root.host.name == root.host.name && c.root.component == root.component);
            RootView {
                host: root.host.name.clone(),
                component: root.component.clone(),
                attributes: root
                    .attributes
                    .iter()
                    .map(|(name, v)| AttributeView {
                        name: name.clone(),
                        value: match &v.source {
                            ValueSource::Secrets(_) => berth_secrets::MASK.into(),
                            _ => json(&v.json),
                        },
                        source: match &v.source {
                            ValueSource::Default => "default".to_string(),
                            ValueSource::Environment(origin) => origin.clone(),
                            ValueSource::Secrets(_) => "secrets".to_string(),
                        },
                    })
                    .collect(),
                features: root.features.clone(),
                paths: root
                    .grants
                    .iter()
                    .map(|g| {
                        format!(
                            "{} {}",
                            g.path.display(),
                            match g.access {
                                berth_sandbox::Access::Read => "ro",
                                berth_sandbox::Access::ReadWrite => "rw",
                            }
                        )
                    })
                    .collect(),
                commands: root.commands.clone(),
                provided: configured
                    .and_then(|c| c.instance.as_ref())
                    .map(|i| {
                        i.model()
                            .provided
                            .iter()
                            .map(|(k, v)| (k.clone(), json(&mask.text(v))))
                            .collect()
                    })
                    .unwrap_or_default(),
                failed: configured.and_then(|c| c.failed.as_deref().map(|f| mask.text(f))),
            }
        })
        .collect();
    let edges = plan
        .edges
        .iter()
        .map(|e| EdgeView {
            key: e.key.clone(),
            provider: order[e.provider].clone(),
            requirer: order[e.requirer].clone(),
            strict: e.strict,
            same_host: e.same_host,
            reverse: e.reverse,
            dirty: e.dirty,
        })
        .collect();
    ModelView {
        environment: env.name.clone(),
        file: env.file.display().to_string(),
        hosts,
        roots,
        order,
        edges,
        rounds: plan.rounds,
    }
}

/// A JSON text as a value; text that is not JSON stays a string.
fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_string()))
}
