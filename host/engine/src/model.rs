//! The deployment model: the environment checked against what the components
//! declare, resolved into one [`Root`] per (host, root component).

use crate::address::{AddressError, Addresses};
use crate::error::Problem;
use crate::repo::PackageDir;
use berth_config::{AttrType, Environment};
use berth_runtime::Package;
use berth_runtime::wit::{Access, AttributeType, EnvironmentInfo, HostInfo, RootDescription};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where an attribute's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueSource {
    /// The component's declared default.
    Default,
    /// An environment file, as `file:line`.
    Environment(String),
    /// The environment's secrets, as `file:line` of the decrypted text; the
    /// value is not to be shown.
    Secrets(String),
}

/// A resolved attribute value.
#[derive(Clone)]
pub struct AttributeValue {
    /// The value as JSON.
    pub json: String,
    /// Where it came from.
    pub source: ValueSource,
}

// By hand, so that `{:?}` of a root never prints a secret.
impl std::fmt::Debug for AttributeValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let json = match self.source {
            ValueSource::Secrets(_) => berth_secrets::MASK,
            _ => &self.json,
        };
        f.debug_struct("AttributeValue")
            .field("json", &json)
            .field("source", &self.source)
            .finish()
    }
}

/// One root component on one host, ready to configure.
///
/// Its `Debug` output names the host's data keys, not their values: host
/// data may come from secrets.
#[derive(Clone)]
pub struct Root {
    /// The host.
    pub host: HostInfo,
    /// The root component's name.
    pub component: String,
    /// Index of its package in the loaded package list.
    pub package: usize,
    /// Resolved attributes, by name.
    pub attributes: BTreeMap<String, AttributeValue>,
    /// Features switched on with `comp:feature`.
    pub features: Vec<String>,
    /// Extra paths it may use (declared and granted).
    pub grants: Vec<berth_sandbox::Grant>,
    /// Programs it may run (declared and granted).
    pub commands: Vec<String>,
    /// The setuid, setgid and sticky bits `[grants:NAME]` `special-modes`
    /// allows it to set.
    pub special_modes: u32,
    /// Its work folder on the target.
    pub workdir: PathBuf,
    /// Its definition folder.
    pub defdir: PathBuf,
}

impl std::fmt::Debug for Root {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Root")
            .field("host", &self.host.name)
            .field("fqdn", &self.host.fqdn)
            .field(
                "data",
                &self.host.data.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("component", &self.component)
            .field("package", &self.package)
            .field("attributes", &self.attributes)
            .field("features", &self.features)
            .field("grants", &self.grants)
            .field("commands", &self.commands)
            .field("workdir", &self.workdir)
            .field("defdir", &self.defdir)
            .finish()
    }
}

impl Root {
    /// `host/component`, as used in messages and the deploy order.
    pub fn id(&self) -> String {
        format!("{}/{}", self.host.name, self.component)
    }
}

/// The environment as the components see it.
pub fn environment_info(env: &Environment) -> EnvironmentInfo {
    EnvironmentInfo {
        name: env.name.clone(),
        connect_method: env.connect_method.to_string(),
        host_domain: env.host_domain.clone().unwrap_or_default(),
        platform: env.platform.clone().unwrap_or_default(),
    }
}

/// The environment-side name of a declared attribute type (`string`, `int`, …).
pub fn attr_type(t: AttributeType) -> AttrType {
    match t {
        AttributeType::String => AttrType::String,
        AttributeType::Int => AttrType::Int,
        AttributeType::Bool => AttrType::Bool,
        AttributeType::List => AttrType::List,
        AttributeType::Map => AttrType::Map,
        AttributeType::Address => AttrType::Address,
    }
}

/// A host as the components see it. `platform` (the CLI's `--platform`)
/// wins over the host's platform, which wins over the environment's.
pub fn host_info(env: &Environment, host: &berth_config::Host, platform: Option<&str>) -> HostInfo {
    HostInfo {
        name: host.name.clone(),
        fqdn: host.fqdn.clone(),
        platform: platform
            .map(str::to_owned)
            .or_else(|| host.platform.clone())
            .or_else(|| env.platform.clone())
            .unwrap_or_default(),
        service_user: host
            .service_user
            .clone()
            .or_else(|| env.service_user.clone())
            .unwrap_or_default(),
        // Host data from secrets (`[host:NAME]` in secrets) joins the
        // environment's; loading made sure that no key is in both.
        data: host
            .data
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .chain(
                env.secrets
                    .iter()
                    .filter_map(|s| s.hosts.get(&host.name))
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.value.clone())),
            )
            .collect(),
    }
}

/// Checks the environment against the components' descriptions and resolves
/// every (host, root component) pair. Reports every problem at once.
///
/// `platform` overrides every host's platform (the CLI's `--platform`);
/// otherwise a host's own platform wins over the environment's.
pub fn resolve(
    env: &Environment,
    dirs: &[PackageDir],
    packages: &[Package],
    platform: Option<&str>,
    addresses: &Addresses,
) -> Result<Vec<Root>, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut known: BTreeMap<&str, (usize, &RootDescription)> = BTreeMap::new();
    for (i, package) in packages.iter().enumerate() {
        for root in &package.description.roots {
            if !berth_config::valid_name(&root.name) {
                problems.push(
                    Problem::new(
                        Some(package.path.display().to_string()),
                        format!(
                            "the package describes a root component named `{}`, which is not a valid name",
                            root.name.escape_debug()
                        ),
                    )
                    .hint(format!("component {}", berth_config::NAME_RULE)),
                );
                continue;
            }
            if let Some((other, _)) = known.insert(root.name.as_str(), (i, root)) {
                problems.push(Problem::new(
                    None,
                    format!(
                        "two packages define the root component `{}`: `{}` and `{}`",
                        root.name,
                        packages[other].path.display(),
                        package.path.display()
                    ),
                ));
            }
        }
    }
    let names: Vec<&str> = known.keys().copied().collect();
    // `what` is how the name appears in the file: `mtod` in a host's list,
    // `[component:mtod]` as a section.
    let unknown = |name: &str, origin: String, what: String| {
        let mut p = Problem::new(
            Some(origin),
            format!("{what} is not a component of this repository"),
        );
        p = match berth_config::did_you_mean(name, names.iter().copied()) {
            Some(close) => p.hint(format!("did you mean `{close}`?")),
            None => p.hint(format!(
                "known components: {}",
                if names.is_empty() {
                    "none (is `components/` empty?)".to_string()
                } else {
                    names.join(", ")
                }
            )),
        };
        p
    };

    for (name, section) in &env.components {
        if !known.contains_key(name.as_str()) {
            problems.push(unknown(
                name,
                section.origin.to_string(),
                format!("`[component:{name}]`"),
            ));
        }
    }
    for (name, section) in env.secrets.iter().flat_map(|s| &s.components) {
        if !known.contains_key(name.as_str()) {
            problems.push(unknown(
                name,
                section.origin.to_string(),
                format!("`[component:{name}]` in secrets"),
            ));
        }
    }
    for (name, grants) in &env.grants {
        if !known.contains_key(name.as_str()) {
            problems.push(unknown(
                name,
                grants.origin.to_string(),
                format!("`[grants:{name}]`"),
            ));
        }
    }

    let mut roots = Vec::new();
    let mut checked_grants = std::collections::BTreeSet::new();
    for host in env.hosts.iter().filter(|h| !h.ignore) {
        let info = host_info(env, host, platform);
        for hc in host.components.iter().filter(|c| !c.ignore) {
            let Some(&(package, description)) = known.get(hc.name.as_str()) else {
                problems.push(unknown(
                    &hc.name,
                    hc.origin.to_string(),
                    format!("component `{}`", hc.name),
                ));
                continue;
            };
            let attributes = resolve_attributes(env, description, addresses, &mut problems);
            let (grants, commands) = if checked_grants.insert(hc.name.clone()) {
                check_grants(env, description, &mut problems)
            } else {
                granted(description)
            };
            roots.push(Root {
                host: info.clone(),
                component: hc.name.clone(),
                package,
                attributes,
                features: hc.features.clone(),
                grants,
                commands,
                special_modes: env.grants.get(&hc.name).map_or(0, |g| g.special_modes),
                workdir: env.target_directory.join("work").join(&hc.name),
                defdir: dirs
                    .iter()
                    .find(|d| d.wasm == packages[package].path)
                    .map(|d| d.defdir.clone())
                    .unwrap_or_else(|| env.target_directory.join("components").join(&hc.name)),
            });
        }
    }
    if problems.is_empty() {
        Ok(roots)
    } else {
        Err(problems)
    }
}

fn resolve_attributes(
    env: &Environment,
    description: &RootDescription,
    addresses: &Addresses,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, AttributeValue> {
    let name = &description.name;
    let overrides = env.components.get(name);
    let secrets = env.secrets.as_ref().and_then(|s| s.components.get(name));
    let mut out = BTreeMap::new();
    for section in overrides.iter().chain(&secrets) {
        for (key, raw) in &section.attributes {
            if !description.attributes.iter().any(|a| a.name == *key) {
                let names = description.attributes.iter().map(|a| a.name.as_str());
                let mut p = Problem::new(
                    Some(raw.origin.to_string()),
                    format!("component `{name}` has no attribute `{key}`"),
                );
                p = match berth_config::did_you_mean(key, names) {
                    Some(close) => p.hint(format!("did you mean `{close}`?")),
                    None => p.hint(format!(
                        "`berth inspect` lists the attributes of `{name}`: {}",
                        attribute_list(description)
                    )),
                };
                problems.push(p);
            }
        }
    }
    for decl in &description.attributes {
        // Loading made sure that no attribute is set in both.
        let secret = secrets.and_then(|s| s.attributes.get(&decl.name));
        let raw = secret.or_else(|| overrides.and_then(|s| s.attributes.get(&decl.name)));
        let ty = attr_type(decl.type_);
        // An address is resolved where its value came from, so that a
        // failure names that place.
        let mut resolved = |value: serde_json::Value, origin: Option<String>, what: String| {
            if ty != AttrType::Address {
                return Some(value.to_string());
            }
            match addresses.resolve_value(&value) {
                Ok(value) => Some(value.to_string()),
                Err(e) => {
                    let message =
                        format!("attribute `{}` of component `{name}`{what}: ", decl.name);
                    problems.push(match e {
                        AddressError::Invalid(m) => Problem::new(origin, message + &m),
                        AddressError::NotFound { message: m, hint } => {
                            Problem::new(origin, message + &m).hint(hint)
                        }
                    });
                    None
                }
            }
        };
        match (raw, &decl.default) {
            (Some(raw), _) => match berth_config::convert(&raw.value, ty) {
                Ok(value) => {
                    let origin = raw.origin.to_string();
                    if let Some(json) = resolved(value, Some(origin.clone()), String::new()) {
                        out.insert(
                            decl.name.clone(),
                            AttributeValue {
                                json,
                                source: match secret {
                                    Some(_) => ValueSource::Secrets(origin),
                                    None => ValueSource::Environment(origin),
                                },
                            },
                        );
                    }
                }
                // The conversion error quotes the value: not for a secret.
                Err(_) if secret.is_some() => problems.push(Problem::new(
                    Some(raw.origin.to_string()),
                    format!(
                        "attribute `{}` of component `{name}` is declared {}: its value in secrets is not {} (the value is not shown)",
                        decl.name,
                        attr_type(decl.type_),
                        attr_type(decl.type_).expected()
                    ),
                )),
                Err(expected) => problems.push(Problem::new(
                    Some(raw.origin.to_string()),
                    format!(
                        "attribute `{}` of component `{name}` is declared {}: {expected}",
                        decl.name,
                        attr_type(decl.type_)
                    ),
                )),
            },
            (None, Some(default)) => {
                let json = if ty == AttrType::Address {
                    let value = serde_json::from_str(default).unwrap_or(serde_json::Value::Null);
                    resolved(value, None, format!(" (its default {default})"))
                } else {
                    Some(default.clone())
                };
                if let Some(json) = json {
                    out.insert(
                        decl.name.clone(),
                        AttributeValue {
                            json,
                            source: ValueSource::Default,
                        },
                    );
                }
            }
            (None, None) => problems.push(
                Problem::new(
                    Some(env.file.display().to_string()),
                    format!(
                        "attribute `{}` of component `{name}` has no default and is not set",
                        decl.name
                    ),
                )
                .hint(format!("add:\n  [component:{name}]\n  {} = ...", decl.name)),
            ),
        }
    }
    out
}

fn attribute_list(description: &RootDescription) -> String {
    if description.attributes.is_empty() {
        "none".to_string()
    } else {
        description
            .attributes
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// How an access is written in `[grants:NAME]`: `ro` or `rw`.
pub fn access_word(a: Access) -> &'static str {
    match a {
        Access::Read => "ro",
        Access::ReadWrite => "rw",
    }
}

/// The capabilities a root declares, as sandbox grants.
fn granted(description: &RootDescription) -> (Vec<berth_sandbox::Grant>, Vec<String>) {
    let grants = description
        .needs
        .paths
        .iter()
        .map(|p| berth_sandbox::Grant {
            path: PathBuf::from(&p.path),
            access: match p.access {
                Access::Read => berth_sandbox::Access::Read,
                Access::ReadWrite => berth_sandbox::Access::ReadWrite,
            },
        })
        .collect();
    (grants, description.needs.commands.clone())
}

/// Every declared need must be granted; the grant given to the sandbox is the
/// declared need (the intersection of need and grant).
fn check_grants(
    env: &Environment,
    description: &RootDescription,
    problems: &mut Vec<Problem>,
) -> (Vec<berth_sandbox::Grant>, Vec<String>) {
    let name = &description.name;
    let grants = env.grants.get(name);
    let mut missing_paths = Vec::new();
    for need in &description.needs.paths {
        let need_path = PathBuf::from(&need.path);
        let ok = grants.is_some_and(|g| {
            g.paths.iter().any(|p| {
                need_path.starts_with(&p.path)
                    && (need.access == Access::Read || p.access == berth_config::Access::ReadWrite)
            })
        });
        if !ok {
            missing_paths.push(format!("{} {}", need.path, access_word(need.access)));
        }
    }
    let missing_commands: Vec<&str> = description
        .needs
        .commands
        .iter()
        .filter(|c| !grants.is_some_and(|g| g.commands.iter().any(|g| g.program == **c)))
        .map(String::as_str)
        .collect();
    if !missing_paths.is_empty() || !missing_commands.is_empty() {
        let mut lines = format!("add to `{}`:\n  [grants:{name}]", env.file.display());
        if !missing_paths.is_empty() {
            lines.push_str(&format!(
                "\n  paths = {}",
                missing_paths.join(",\n          ")
            ));
        }
        if !missing_commands.is_empty() {
            lines.push_str(&format!("\n  commands = {}", missing_commands.join(" ")));
        }
        problems.push(
            Problem::new(
                grants.map(|g| g.origin.to_string()),
                format!(
                    "component `{name}` needs capabilities that environment `{}` does not grant",
                    env.name
                ),
            )
            .hint(lines),
        );
    }
    granted(description)
}
