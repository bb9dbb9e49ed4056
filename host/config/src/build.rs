//! From a substituted [`Document`] to the validated [`Environment`].

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use crate::convert::{AttrType, parse_bool, split_list};
use crate::error::{ConfigError, Origin, did_you_mean_hint};
use crate::ini::{Document, Entry, Section};
use crate::model::{
    Access, CommandGrant, ComponentSection, ConnectMethod, Environment, Grants, Host,
    HostComponent, IpRequirement, PathGrant, RawValue, SecretGrant,
};
use crate::suggest::did_you_mean;

/// The default of `timeout`, in seconds.
pub(crate) const DEFAULT_TIMEOUT_SECS: u64 = 60;

/// The default of `connect_timeout`, in seconds.
pub(crate) const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = 10;

const ENVIRONMENT_KEYS: [&str; 12] = [
    "connect_method",
    "host_domain",
    "service_user",
    "platform",
    "timeout",
    "jobs",
    "target_directory",
    "require_v4",
    "require_v6",
    "extends",
    "allow_unconfined",
    "connect_timeout",
];
const HOST_KEYS: [&str; 4] = ["components", "platform", "service_user", "ignore"];
const GRANTS_KEYS: [&str; 4] = ["paths", "commands", "special-modes", "secrets"];
const SECTION_PREFIXES: [&str; 3] = ["host", "component", "grants"];

/// What a section header means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SectionKind<'a> {
    Environment,
    Hosts,
    Resolver,
    Host(&'a str),
    Component(&'a str),
    Grants(&'a str),
}

/// Tells what `section` is, or why its name is wrong.
pub(crate) fn classify(section: &Section) -> Result<SectionKind<'_>, ConfigError> {
    let name = section.name.as_str();
    match name {
        "environment" => return Ok(SectionKind::Environment),
        "hosts" => return Ok(SectionKind::Hosts),
        "resolver" => return Ok(SectionKind::Resolver),
        _ => {}
    }
    if let Some((prefix, rest)) = name.split_once(':') {
        let kind = match prefix {
            "host" => Some(SectionKind::Host(rest)),
            "component" => Some(SectionKind::Component(rest)),
            "grants" => Some(SectionKind::Grants(rest)),
            _ => None,
        };
        if let Some(kind) = kind {
            let what = if prefix == "grants" {
                "component"
            } else {
                prefix
            };
            check_name(what, rest, &section.origin)?;
            return Ok(kind);
        }
    }
    Err(unknown_section(section))
}

fn unknown_section(section: &Section) -> ConfigError {
    let name = section.name.as_str();
    let err = ConfigError::at(&section.origin, format!("unknown section `[{name}]`"));
    let suggestion = match name.split_once(':') {
        Some((prefix, rest)) => did_you_mean(prefix, SECTION_PREFIXES)
            .or_else(|| (prefix == "hosts").then_some("host"))
            .map(|p| format!("[{p}:{rest}]")),
        None if name == "host" => {
            return err.with_hint("did you mean `[hosts]` or `[host:NAME]`?");
        }
        None => did_you_mean(
            name,
            [
                "environment",
                "hosts",
                "host",
                "component",
                "grants",
                "resolver",
            ],
        )
        .map(|s| match s {
            "environment" | "hosts" | "resolver" => format!("[{s}]"),
            _ => format!("[{s}:NAME]"),
        }),
    };
    err.with_hint(did_you_mean_hint(suggestion.as_deref()).unwrap_or_else(|| {
        "known sections are [environment], [hosts], [host:NAME], [component:NAME], [grants:NAME] and [resolver]"
            .to_owned()
    }))
}

/// Checks every section name, so that a misspelt section is reported
/// before any value in it.
pub(crate) fn check_sections(doc: &Document) -> Result<(), ConfigError> {
    doc.sections.iter().try_for_each(|s| classify(s).map(drop))
}

/// The one rule for names of hosts, components (roots), features and
/// packages, wherever they come from (an environment file, a package's
/// `describe`, `packages.cfg`): letters, digits, `-`, `_` and `.`, starting
/// with a letter or a digit. A component name becomes its workdir
/// `work/NAME/`, so `.`, `..` and hidden names, which would map a root onto
/// `work/` itself, its parent or a folder berth keeps, are refused, and two
/// different names never share a workdir.
pub fn valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// What [`valid_name`] asks for, for hints.
pub const NAME_RULE: &str =
    "names use letters, digits, `-`, `_` and `.`, and start with a letter or a digit";

/// Names of hosts, components and features: letters, digits, `-`, `_`, `.`.
/// Checks a `what` (`component`, `host`) name as the environment file
/// spells it, with a hint when it is wrong.
///
/// Errors: an empty name, or one with other characters than letters,
/// digits, `-`, `_` and `.`.
pub fn check_name(what: &str, name: &str, origin: &Origin) -> Result<(), ConfigError> {
    if valid_name(name) {
        return Ok(());
    }
    if name.is_empty() {
        return Err(ConfigError::at(origin, format!("missing {what} name")));
    }
    let err = ConfigError::at(origin, format!("invalid {what} name `{name}`"));
    Err(if name.contains(char::is_whitespace) && what != "host" {
        err.with_hint("separate list items with commas or newlines")
    } else {
        err.with_hint(format!("{what} {NAME_RULE}"))
    })
}

/// The attribute overrides of a `[component:NAME]` (or, in secrets, bare
/// `[NAME]`) section, each with its line.
pub fn component_section(section: &Section) -> ComponentSection {
    let attributes = section
        .entries
        .iter()
        .map(|e| {
            let raw = RawValue {
                value: e.value(),
                origin: e.origin.clone(),
            };
            (e.key.clone(), raw)
        })
        .collect();
    ComponentSection {
        origin: section.origin.clone(),
        attributes,
    }
}

fn invalid_value(entry: &Entry, section: &str, value: &str, expected: &str) -> ConfigError {
    ConfigError::at(
        &entry.origin,
        format!(
            "invalid value `{value}` for `{}` in [{section}]: expected {expected}",
            entry.key
        ),
    )
}

/// The value of a key that takes one line.
pub(crate) fn single_line(entry: &Entry, section: &str) -> Result<String, ConfigError> {
    let value = entry.value();
    if entry.lines.len() > 1 || value.contains('\n') {
        return Err(ConfigError::at(
            &entry.origin,
            format!(
                "`{}` in [{section}] takes one line, got {} lines",
                entry.key,
                value.lines().count()
            ),
        ));
    }
    Ok(value)
}

/// A positive number of seconds (fractions allowed) in [environment].
fn seconds(entry: &Entry) -> Result<Duration, ConfigError> {
    let value = single_line(entry, "environment")?;
    value
        .parse::<f64>()
        .ok()
        .filter(|secs| secs.is_finite() && *secs > 0.0)
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| invalid_value(entry, "environment", &value, "a positive number of seconds"))
}

fn optional_string(entry: &Entry, section: &str) -> Result<Option<String>, ConfigError> {
    let value = single_line(entry, section)?;
    Ok((!value.is_empty()).then_some(value))
}

/// The items of a comma and/or newline separated list, with the line each
/// is on.
pub(crate) fn list_items(entry: &Entry) -> Vec<(String, Origin)> {
    entry
        .lines
        .iter()
        .flat_map(|line| {
            split_list(&line.text)
                .map(|item| (item.to_owned(), Origin::new(&entry.origin.file, line.line)))
                .collect::<Vec<_>>()
        })
        .collect()
}

pub(crate) fn unknown_key(entry: &Entry, section: &str, known: &[&'static str]) -> ConfigError {
    ConfigError::at(
        &entry.origin,
        format!("unknown key `{}` in [{section}]", entry.key),
    )
    .with_hint(
        did_you_mean_hint(did_you_mean(&entry.key, known.iter().copied())).unwrap_or_else(|| {
            format!(
                "[{section}] knows {}",
                known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }),
    )
}

/// Builds the environment `name` of the repository `repo` from `doc`, the
/// substituted content of `file`.
pub(crate) fn build(
    repo: &Path,
    name: &str,
    file: PathBuf,
    files: Vec<PathBuf>,
    doc: &Document,
) -> Result<Environment, ConfigError> {
    let mut env = Environment {
        name: name.to_owned(),
        file,
        files,
        connect_method: ConnectMethod::Local,
        host_domain: None,
        service_user: None,
        platform: None,
        timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
        connect_timeout: Duration::from_secs(DEFAULT_CONNECT_TIMEOUT_SECS),
        jobs: None,
        target_directory: PathBuf::new(),
        hosts: Vec::new(),
        components: BTreeMap::new(),
        grants: BTreeMap::new(),
        resolver: BTreeMap::new(),
        require_v4: IpRequirement::Required,
        require_v6: IpRequirement::Forbidden,
        secrets: None,
        allow_unconfined: false,
    };
    let sections = doc
        .sections
        .iter()
        .map(|s| classify(s).map(|kind| (kind, s)))
        .collect::<Result<Vec<_>, _>>()?;

    let environment = sections
        .iter()
        .find(|(kind, _)| *kind == SectionKind::Environment)
        .map(|(_, s)| *s);
    environment_section(repo, environment, &mut env)?;

    let mut hosts = HostsBuilder::default();
    for (kind, section) in &sections {
        match *kind {
            SectionKind::Environment => {}
            SectionKind::Resolver => env.resolver = resolver_section(section)?,
            SectionKind::Hosts => {
                for entry in &section.entries {
                    hosts.hosts_entry(entry)?;
                }
            }
            SectionKind::Host(name) => hosts.host_section(name, section)?,
            SectionKind::Component(name) => {
                env.components
                    .insert(name.to_owned(), component_section(section));
            }
            SectionKind::Grants(name) => {
                env.grants.insert(name.to_owned(), grants_section(section)?);
            }
        }
    }
    env.hosts = hosts.finish(&env);
    Ok(env)
}

fn environment_section(
    repo: &Path,
    section: Option<&Section>,
    env: &mut Environment,
) -> Result<(), ConfigError> {
    const NAME: &str = "environment";
    let mut target_directory: Option<(String, &Entry)> = None;
    let mut last_requirement: Option<&Entry> = None;
    for entry in section.map(|s| s.entries.as_slice()).unwrap_or_default() {
        match entry.key.as_str() {
            "connect_method" => {
                let value = single_line(entry, NAME)?;
                env.connect_method = value.parse().map_err(|_| {
                    invalid_value(entry, NAME, &value, "`local` or `ssh`").with_hint_opt(
                        did_you_mean_hint(did_you_mean(
                            &value,
                            ConnectMethod::ALL.map(ConnectMethod::as_str),
                        )),
                    )
                })?;
            }
            "host_domain" => env.host_domain = optional_string(entry, NAME)?,
            "service_user" => env.service_user = optional_string(entry, NAME)?,
            "platform" => env.platform = optional_string(entry, NAME)?,
            "timeout" => env.timeout = seconds(entry)?,
            "connect_timeout" => {
                env.connect_timeout = seconds(entry)?;
                if env.connect_timeout < Duration::from_secs(1) {
                    let value = single_line(entry, NAME)?;
                    return Err(invalid_value(entry, NAME, &value, "at least 1 second"));
                }
            }
            "jobs" => {
                let value = single_line(entry, NAME)?;
                env.jobs = Some(
                    value
                        .parse::<usize>()
                        .ok()
                        .filter(|jobs| *jobs > 0)
                        .ok_or_else(|| invalid_value(entry, NAME, &value, "a positive integer"))?,
                );
            }
            "target_directory" => {
                let value = single_line(entry, NAME)?;
                if value.is_empty() {
                    return Err(invalid_value(entry, NAME, &value, "a path"));
                }
                target_directory = Some((value, entry));
            }
            key @ ("require_v4" | "require_v6") => {
                let value = single_line(entry, NAME)?;
                let requirement = value.parse::<IpRequirement>().map_err(|_| {
                    invalid_value(entry, NAME, &value, "`true`, `false` or `optional`")
                        .with_hint_opt(did_you_mean_hint(did_you_mean(
                            &value,
                            IpRequirement::ALL.map(IpRequirement::as_str),
                        )))
                })?;
                if key == "require_v4" {
                    env.require_v4 = requirement;
                } else {
                    env.require_v6 = requirement;
                }
                last_requirement = Some(entry);
            }
            "allow_unconfined" => {
                let value = single_line(entry, NAME)?;
                env.allow_unconfined = crate::convert::parse_bool(&value)
                    .ok_or_else(|| invalid_value(entry, NAME, &value, "`true` or `false`"))?;
            }
            // Read (and removed) before substitution, by `extends.rs`.
            "extends" => {}
            _ => return Err(unknown_key(entry, NAME, &ENVIRONMENT_KEYS)),
        }
    }
    if let Some(entry) = last_requirement
        && env.require_v4 == IpRequirement::Forbidden
        && env.require_v6 == IpRequirement::Forbidden
    {
        return Err(ConfigError::at(
            &entry.origin,
            "`require_v4` and `require_v6` are both `false`: addresses could not be listened on",
        )
        .with_hint("set one of them to `true` or `optional` (the defaults are `require_v4 = true`, `require_v6 = false`)"));
    }

    env.target_directory = match (env.connect_method, target_directory) {
        (ConnectMethod::Local, None) => absolute(repo)?,
        (ConnectMethod::Local, Some((dir, _))) => normalize(&absolute(repo)?.join(dir)),
        // `~/...` is the login (or service) user's home on the target, as
        // batou's default `~/deployment`.
        (ConnectMethod::Ssh, Some((dir, _)))
            if Path::new(&dir).is_absolute() || dir == "~" || dir.starts_with("~/") =>
        {
            PathBuf::from(dir)
        }
        (ConnectMethod::Ssh, Some((dir, entry))) => {
            return Err(invalid_value(
                entry,
                NAME,
                &dir,
                "an absolute path on the targets, or one below `~/`, as `connect_method = ssh`",
            ));
        }
        (ConnectMethod::Ssh, None) => PathBuf::from("~/deployment"),
    };
    Ok(())
}

/// `path` made absolute with `.` and `..` resolved, so that workdirs built
/// from it never contain `..` (the sandbox refuses such roots). The
/// repository exists, so its symlinks are resolved too.
fn absolute(path: &Path) -> Result<PathBuf, ConfigError> {
    let absolute = std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .map_err(|e| {
            ConfigError::new(format!(
                "cannot make `{}` an absolute path: {e}",
                path.display()
            ))
        })?;
    Ok(normalize(&absolute))
}

/// Resolves `.` and `..` lexically.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// A host while its sections are being read.
#[derive(Debug)]
struct HostDraft {
    name: String,
    origin: Origin,
    /// Where the host appears in `[hosts]`, if it does.
    in_hosts: Option<Origin>,
    ignore: bool,
    platform: Option<String>,
    service_user: Option<String>,
    components: Vec<HostComponent>,
    data: BTreeMap<String, String>,
    /// Every (component, feature) listed so far, for duplicate errors.
    listed: HashMap<(String, Option<String>), Origin>,
}

#[derive(Debug, Default)]
struct HostsBuilder {
    hosts: Vec<HostDraft>,
}

impl HostsBuilder {
    fn draft(&mut self, name: &str, origin: &Origin) -> &mut HostDraft {
        let index = match self.hosts.iter().position(|h| h.name == name) {
            Some(index) => index,
            None => {
                self.hosts.push(HostDraft {
                    name: name.to_owned(),
                    origin: origin.clone(),
                    in_hosts: None,
                    ignore: false,
                    platform: None,
                    service_user: None,
                    components: Vec::new(),
                    data: BTreeMap::new(),
                    listed: HashMap::new(),
                });
                self.hosts.len() - 1
            }
        };
        &mut self.hosts[index]
    }

    /// `host = comp1, comp2` or `!host = …` in `[hosts]`.
    fn hosts_entry(&mut self, entry: &Entry) -> Result<(), ConfigError> {
        let (ignore, name) = match entry.key.strip_prefix('!') {
            Some(name) => (true, name),
            None => (false, entry.key.as_str()),
        };
        check_name("host", name, &entry.origin)?;
        let host = self.draft(name, &entry.origin);
        if let Some(first) = &host.in_hosts {
            return Err(ConfigError::at(
                &entry.origin,
                format!("host `{name}` is listed twice in [hosts]; first at {first}"),
            ));
        }
        host.in_hosts = Some(entry.origin.clone());
        host.ignore |= ignore;
        for (item, origin) in list_items(entry) {
            host.add_component(&item, origin)?;
        }
        Ok(())
    }

    /// A `[host:NAME]` section.
    fn host_section(&mut self, name: &str, section: &Section) -> Result<(), ConfigError> {
        let section_name = section.name.as_str();
        let host = self.draft(name, &section.origin);
        for entry in &section.entries {
            match entry.key.as_str() {
                "components" => {
                    for (item, origin) in list_items(entry) {
                        host.add_component(&item, origin)?;
                    }
                }
                "platform" => host.platform = optional_string(entry, section_name)?,
                "service_user" => host.service_user = optional_string(entry, section_name)?,
                "ignore" => {
                    let value = single_line(entry, section_name)?;
                    host.ignore |= parse_bool(&value).ok_or_else(|| {
                        invalid_value(entry, section_name, &value, AttrType::Bool.expected())
                    })?;
                }
                key if key.starts_with("data-") => {
                    let data_key = &key["data-".len()..];
                    if data_key.is_empty() {
                        return Err(ConfigError::at(
                            &entry.origin,
                            format!("missing name after `data-` in [{section_name}]"),
                        )
                        .with_hint("host data is written `data-KEY = value`"));
                    }
                    host.data.insert(data_key.to_owned(), entry.value());
                }
                key => {
                    let err = unknown_key(entry, section_name, &HOST_KEYS);
                    return Err(match key.strip_prefix("data_") {
                        Some(rest) => err.with_hint(format!(
                            "host data is written `data-KEY`; did you mean `data-{rest}`?"
                        )),
                        None => err,
                    });
                }
            }
        }
        Ok(())
    }

    fn finish(self, env: &Environment) -> Vec<Host> {
        self.hosts
            .into_iter()
            .map(|h| Host {
                fqdn: match &env.host_domain {
                    Some(domain) => format!("{}.{domain}", h.name),
                    None => h.name.clone(),
                },
                name: h.name,
                platform: h.platform.or_else(|| env.platform.clone()),
                service_user: h.service_user.or_else(|| env.service_user.clone()),
                ignore: h.ignore,
                components: h.components,
                data: h.data,
                origin: h.origin,
            })
            .collect()
    }
}

impl HostDraft {
    /// One list item: `comp`, `!comp`, `comp:feature` or `!comp:feature`.
    fn add_component(&mut self, item: &str, origin: Origin) -> Result<(), ConfigError> {
        let (ignore, rest) = match item.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, item),
        };
        let (name, feature) = match rest.split_once(':') {
            Some((name, feature)) => (name.trim(), Some(feature.trim())),
            None => (rest, None),
        };
        check_name("component", name, &origin)?;
        if let Some(feature) = feature {
            check_name("feature", feature, &origin)?;
        }
        let key = (name.to_owned(), feature.map(str::to_owned));
        if let Some(first) = self.listed.get(&key) {
            let what = match feature {
                Some(feature) => format!("feature `{feature}` of component `{name}`"),
                None => format!("component `{name}`"),
            };
            return Err(ConfigError::at(
                &origin,
                format!(
                    "{what} is listed twice for host `{}`; first at {first}",
                    self.name
                ),
            ));
        }
        match self.components.iter_mut().find(|c| c.name == name) {
            Some(component) => {
                if component.ignore != ignore {
                    return Err(ConfigError::at(
                        &origin,
                        format!(
                            "component `{name}` is both ignored (`!{name}`) and not ignored on host `{}`; first listed at {}",
                            self.name, component.origin
                        ),
                    )
                    .with_hint(format!("mark every entry of `{name}` on this host the same way")));
                }
                component.features.extend(feature.map(str::to_owned));
            }
            None => self.components.push(HostComponent {
                name: name.to_owned(),
                features: feature.map(str::to_owned).into_iter().collect(),
                ignore,
                origin: origin.clone(),
            }),
        }
        self.listed.insert(key, origin);
        Ok(())
    }
}

/// `[resolver]`: `name = address, …` (comma and/or newline separated).
fn resolver_section(section: &Section) -> Result<BTreeMap<String, Vec<IpAddr>>, ConfigError> {
    let mut resolver = BTreeMap::new();
    for entry in &section.entries {
        check_name("host", &entry.key, &entry.origin)?;
        let mut addresses: Vec<IpAddr> = Vec::new();
        for (item, origin) in list_items(entry) {
            let address: IpAddr = item.parse().map_err(|_| {
                let err = ConfigError::at(
                    &origin,
                    format!(
                        "invalid address `{item}` for `{}` in [resolver]: expected an IPv4 or IPv6 address",
                        entry.key
                    ),
                );
                if item.parse::<std::net::SocketAddr>().is_ok() {
                    err.with_hint("[resolver] maps names to IP addresses; leave out the port")
                } else {
                    err
                }
            })?;
            if addresses.contains(&address) {
                return Err(ConfigError::at(
                    &origin,
                    format!(
                        "address `{address}` is listed twice for `{}` in [resolver]",
                        entry.key
                    ),
                ));
            }
            addresses.push(address);
        }
        if addresses.is_empty() {
            return Err(ConfigError::at(
                &entry.origin,
                format!("`{}` in [resolver] has no addresses", entry.key),
            )
            .with_hint("write `name = 192.0.2.1, 2001:db8::1` (IPv4 and/or IPv6)"));
        }
        resolver.insert(entry.key.clone(), addresses);
    }
    Ok(resolver)
}

fn grants_section(section: &Section) -> Result<Grants, ConfigError> {
    let section_name = section.name.as_str();
    let mut grants = Grants {
        origin: section.origin.clone(),
        paths: Vec::new(),
        commands: Vec::new(),
        special_modes: 0,
        secrets: Vec::new(),
    };
    for entry in &section.entries {
        match entry.key.as_str() {
            "paths" => {
                for (item, origin) in list_items(entry) {
                    let grant = path_grant(&item, origin, section_name)?;
                    if let Some(first) = grants.paths.iter().find(|g| g.path == grant.path) {
                        return Err(ConfigError::at(
                            &grant.origin,
                            format!(
                                "path `{}` is granted twice in [{section_name}]; first at {}",
                                grant.path.display(),
                                first.origin
                            ),
                        ));
                    }
                    grants.paths.push(grant);
                }
            }
            "commands" => {
                for (program, origin) in words(entry) {
                    let grant = command_grant(program, origin)?;
                    if let Some(first) = grants.commands.iter().find(|g| g.program == grant.program)
                    {
                        return Err(ConfigError::at(
                            &grant.origin,
                            format!(
                                "command `{program}` is granted twice in [{section_name}]; first at {}",
                                first.origin
                            ),
                        ));
                    }
                    grants.commands.push(grant);
                }
            }
            "secrets" => {
                for (name, origin) in words(entry) {
                    grants.secrets.push(SecretGrant {
                        name: name.to_owned(),
                        origin,
                    });
                }
            }
            "special-modes" => grants.special_modes = special_modes(entry, section_name)?,
            _ => return Err(unknown_key(entry, section_name, &GRANTS_KEYS)),
        }
    }
    Ok(grants)
}

/// `special-modes = setuid setgid sticky`: the mode bits a component may set.
fn special_modes(entry: &Entry, section: &str) -> Result<u32, ConfigError> {
    const BITS: [(&str, u32); 3] = [("setuid", 0o4000), ("setgid", 0o2000), ("sticky", 0o1000)];
    let mut bits = 0;
    for (item, origin) in list_items(entry) {
        for word in item.split_whitespace() {
            let Some(&(_, bit)) = BITS.iter().find(|(name, _)| *name == word) else {
                return Err(ConfigError::at(
                    &origin,
                    format!("unknown special mode `{word}` in [{section}]"),
                )
                .with_hint(
                    did_you_mean_hint(did_you_mean(word, BITS.map(|(n, _)| n))).unwrap_or_else(
                        || "write any of `setuid`, `setgid` and `sticky`".to_owned(),
                    ),
                ));
            };
            bits |= bit;
        }
    }
    Ok(bits)
}

/// The words of a value (separated by commas or whitespace), each with its
/// line.
fn words(entry: &Entry) -> impl Iterator<Item = (&str, Origin)> {
    entry.lines.iter().flat_map(|line| {
        let origin = Origin::new(&entry.origin.file, line.line);
        line.text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|p| !p.is_empty())
            .map(move |w| (w, origin.clone()))
    })
}

fn path_grant(item: &str, origin: Origin, section: &str) -> Result<PathGrant, ConfigError> {
    let words: Vec<&str> = item.split_whitespace().collect();
    let (path, access) = match words.as_slice() {
        [path, access] => (*path, *access),
        [path] => {
            return Err(ConfigError::at(
                &origin,
                format!("missing access for path `{path}` in [{section}]"),
            )
            .with_hint(format!(
                "write `{path} ro` (read only) or `{path} rw` (read-write)"
            )));
        }
        _ => {
            return Err(ConfigError::at(
                &origin,
                format!("expected `PATH ro` or `PATH rw` in [{section}], got `{item}`"),
            )
            .with_hint("put one grant per line or separate grants with commas; paths with whitespace are not supported"));
        }
    };
    let access: Access = access.parse().map_err(|message: String| {
        ConfigError::at(&origin, format!("{message}, for path `{path}`"))
            .with_hint_opt(did_you_mean_hint(did_you_mean(access, ["ro", "rw"])))
    })?;
    let path = PathBuf::from(path);
    if !path.is_absolute() {
        return Err(ConfigError::at(
            &origin,
            format!("granted path `{}` is not absolute", path.display()),
        )
        .with_hint("grants name absolute paths on the target, e.g. `/etc/nginx ro`; the component's workdir and defdir are granted without asking"));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(ConfigError::at(
            &origin,
            format!("granted path `{}` contains `..`", path.display()),
        ));
    }
    Ok(PathGrant {
        path,
        access,
        origin,
    })
}

fn command_grant(program: &str, origin: Origin) -> Result<CommandGrant, ConfigError> {
    if program.contains('/') {
        let path = Path::new(program);
        if !path.is_absolute() {
            return Err(ConfigError::at(
                &origin,
                format!("granted command `{program}` is neither a program name nor an absolute path"),
            )
            .with_hint("write a name looked up in `PATH` (`systemctl`) or an absolute path (`/usr/bin/systemctl`)"));
        }
        if path.components().any(|c| c == Component::ParentDir) {
            return Err(ConfigError::at(
                &origin,
                format!("granted command `{program}` contains `..`"),
            ));
        }
    }
    Ok(CommandGrant {
        program: program.to_owned(),
        origin,
    })
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::load;

    /// A repository in a temp dir with one environment `test`.
    struct Repo {
        dir: tempfile::TempDir,
    }

    impl Repo {
        fn new(text: &str) -> Repo {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("environments/test/environment.cfg");
            fs::create_dir_all(file.parent().unwrap()).unwrap();
            fs::write(&file, text).unwrap();
            Repo { dir }
        }

        fn file(&self) -> String {
            self.dir
                .path()
                .join("environments/test/environment.cfg")
                .display()
                .to_string()
        }

        fn load(&self) -> Environment {
            load(self.dir.path(), "test").unwrap_or_else(|e| panic!("{e}"))
        }

        /// The error, with the temp file's path shortened to `F`.
        fn err(&self) -> String {
            match load(self.dir.path(), "test") {
                Ok(env) => panic!("expected an error, got {env:#?}"),
                Err(e) => e.to_string().replace(&self.file(), "F"),
            }
        }
    }

    fn load_ok(text: &str) -> Environment {
        Repo::new(text).load()
    }

    fn load_err(text: &str) -> String {
        Repo::new(text).err()
    }

    fn names(components: &[HostComponent]) -> Vec<&str> {
        components.iter().map(|c| c.name.as_str()).collect()
    }

    // [environment]

    #[test]
    fn environment_defaults() {
        let repo = Repo::new("");
        let env = repo.load();
        assert_eq!(env.connect_method, ConnectMethod::Local);
        assert_eq!(env.timeout, Duration::from_secs(60));
        assert_eq!(env.jobs, None);
        assert_eq!(env.host_domain, None);
        assert_eq!(env.service_user, None);
        assert_eq!(env.platform, None);
        assert_eq!(env.target_directory, repo.dir.path());
        assert!(env.target_directory.is_absolute());
        assert!(env.hosts.is_empty() && env.components.is_empty() && env.grants.is_empty());
    }

    #[test]
    fn environment_keys() {
        let env = load_ok(
            "[environment]\nconnect_method = ssh\nhost_domain = example.com\nservice_user = deploy\n\
             platform = debian\ntimeout = 2.5\njobs = 3\ntarget_directory = /srv/d\n",
        );
        assert_eq!(env.connect_method, ConnectMethod::Ssh);
        assert_eq!(env.host_domain.as_deref(), Some("example.com"));
        assert_eq!(env.service_user.as_deref(), Some("deploy"));
        assert_eq!(env.platform.as_deref(), Some("debian"));
        assert_eq!(env.timeout, Duration::from_millis(2500));
        assert_eq!(env.jobs, Some(3));
        assert_eq!(env.target_directory, Path::new("/srv/d"));
    }

    #[test]
    fn empty_optional_strings_are_unset() {
        let env = load_ok("[environment]\nhost_domain =\nplatform =\n");
        assert_eq!(env.host_domain, None);
        assert_eq!(env.platform, None);
    }

    #[test]
    fn local_target_directory_is_relative_to_the_repository() {
        let repo = Repo::new("[environment]\ntarget_directory = build/out\n");
        assert_eq!(
            repo.load().target_directory,
            repo.dir.path().join("build/out")
        );
        let repo = Repo::new("[environment]\nconnect_method = local\ntarget_directory = /abs\n");
        assert_eq!(repo.load().target_directory, Path::new("/abs"));
    }

    #[test]
    fn target_directory_never_contains_dot_dot() {
        // A repository named through `..` (berth run from a subfolder) and a
        // target directory that climbs out of it.
        let repo = Repo::new("[environment]\ntarget_directory = ../out\n");
        let via = repo.dir.path().join("environments").join("..");
        let env = crate::load(&via, "test").unwrap();
        assert_eq!(
            env.target_directory,
            repo.dir.path().parent().unwrap().join("out")
        );
        let repo = Repo::new("[environment]\n");
        let env = crate::load(&repo.dir.path().join("environments/.."), "test").unwrap();
        assert_eq!(env.target_directory, repo.dir.path());
    }

    #[test]
    fn ssh_targets_default_to_the_home_deployment_folder() {
        let env = load_ok("[environment]\nconnect_method = ssh\n");
        assert_eq!(env.target_directory, PathBuf::from("~/deployment"));
        let env = load_ok("[environment]\nconnect_method = ssh\ntarget_directory = ~/srv\n");
        assert_eq!(env.target_directory, PathBuf::from("~/srv"));
    }

    #[test]
    fn ssh_needs_an_absolute_or_home_target_directory() {
        assert_eq!(
            load_err("[environment]\ntarget_directory = srv\nconnect_method = ssh\n"),
            "F:2: invalid value `srv` for `target_directory` in [environment]: expected an absolute path on the targets, or one below `~/`, as `connect_method = ssh`"
        );
        assert!(load_err("[environment]\ntarget_directory =\n").starts_with(
            "F:2: invalid value `` for `target_directory` in [environment]: expected a path"
        ));
    }

    #[test]
    fn unknown_environment_key_suggests() {
        assert_eq!(
            load_err("[environment]\njobs = 1\n\ntimout = 3\n"),
            "F:4: unknown key `timout` in [environment]\n  hint: did you mean `timeout`?"
        );
        let err = load_err("[environment]\nfoo = 1\n");
        assert!(err.starts_with("F:2: unknown key `foo` in [environment]\n  hint: [environment] knows `connect_method`, "), "{err}");
        assert_eq!(
            load_err("[environment]\nextend = base\n"),
            "F:2: unknown key `extend` in [environment]\n  hint: did you mean `extends`?"
        );
    }

    #[test]
    fn ip_requirements() {
        let env = load_ok("");
        assert_eq!(env.require_v4, IpRequirement::Required);
        assert_eq!(env.require_v6, IpRequirement::Forbidden);
        let env = load_ok("[environment]\nrequire_v4 = optional\nrequire_v6 = true\n");
        assert_eq!(env.require_v4, IpRequirement::Optional);
        assert_eq!(env.require_v6, IpRequirement::Required);
        let env = load_ok("[environment]\nrequire_v4 = no\nrequire_v6 = Optional\n");
        assert_eq!(env.require_v4, IpRequirement::Forbidden);
        assert_eq!(env.require_v6, IpRequirement::Optional);
        assert_eq!(
            load_err("[environment]\nrequire_v4 = false\n"),
            "F:2: `require_v4` and `require_v6` are both `false`: addresses could not be listened on\n  hint: set one of them to `true` or `optional` (the defaults are `require_v4 = true`, `require_v6 = false`)"
        );
        assert_eq!(
            load_err("[environment]\nrequire_v6 = optinal\n"),
            "F:2: invalid value `optinal` for `require_v6` in [environment]: expected `true`, `false` or `optional`\n  hint: did you mean `optional`?"
        );
        for value in IpRequirement::ALL {
            assert_eq!(value.as_str().parse::<IpRequirement>(), Ok(value));
        }
    }

    #[test]
    fn resolver_addresses() {
        let env = load_ok(
            "[resolver]\nwww.example.com =\n    3.2.1.4\n    ::2\ndb = 10.0.0.1, 10.0.0.2\n",
        );
        assert_eq!(
            env.resolver["www.example.com"],
            vec![
                "3.2.1.4".parse::<IpAddr>().unwrap(),
                "::2".parse::<IpAddr>().unwrap()
            ]
        );
        assert_eq!(env.resolver["db"].len(), 2);
        assert_eq!(
            load_err("[resolver]\nwww =\n  1.2.3.4\n  1.2.3.400\n"),
            "F:4: invalid address `1.2.3.400` for `www` in [resolver]: expected an IPv4 or IPv6 address"
        );
        assert!(load_err("[resolver]\nwww = 1.2.3.4:80\n").contains("leave out the port"));
        assert!(
            load_err("[resolver]\nwww =\n")
                .starts_with("F:2: `www` in [resolver] has no addresses")
        );
        assert!(load_err("[resolver]\nwww = ::1, ::1\n").contains("listed twice"));
    }

    #[test]
    fn connect_method_errors() {
        assert_eq!(
            load_err("[environment]\nconnect_method = shh\n"),
            "F:2: invalid value `shh` for `connect_method` in [environment]: expected `local` or `ssh`\n  hint: did you mean `ssh`?"
        );
    }

    #[test]
    fn timeout_errors() {
        for bad in ["0", "-1", "abc", "inf", "NaN", "1e300"] {
            assert_eq!(
                load_err(&format!("[environment]\ntimeout = {bad}\n")),
                format!(
                    "F:2: invalid value `{bad}` for `timeout` in [environment]: expected a positive number of seconds"
                ),
            );
        }
        assert_eq!(
            load_ok("[environment]\ntimeout = 0.01\n").timeout,
            Duration::from_millis(10)
        );
    }

    #[test]
    fn connect_timeout_is_whole_seconds_of_at_least_one() {
        assert_eq!(
            load_ok("[environment]\n").connect_timeout,
            Duration::from_secs(10)
        );
        assert_eq!(
            load_ok("[environment]\nconnect_timeout = 3\n").connect_timeout,
            Duration::from_secs(3)
        );
        assert_eq!(
            load_err("[environment]\nconnect_timeout = 0.5\n"),
            "F:2: invalid value `0.5` for `connect_timeout` in [environment]: expected at least 1 second"
        );
    }

    #[test]
    fn jobs_errors() {
        for bad in ["0", "-2", "1.5", "many"] {
            assert_eq!(
                load_err(&format!("[environment]\njobs = {bad}\n")),
                format!(
                    "F:2: invalid value `{bad}` for `jobs` in [environment]: expected a positive integer"
                ),
            );
        }
    }

    #[test]
    fn scalar_keys_take_one_line() {
        assert_eq!(
            load_err("[environment]\nplatform = a\n  b\n"),
            "F:2: `platform` in [environment] takes one line, got 2 lines"
        );
        // An empty first line does not count.
        assert_eq!(load_ok("[environment]\njobs =\n  4\n").jobs, Some(4));
    }

    // [hosts] and [host:NAME]

    #[test]
    fn hosts_components_and_order() {
        let env = load_ok(
            "[environment]\nhost_domain = example.com\n\
             [hosts]\nweb = nginx, app\ndb =\n    postgres\n    backup, cron\n!old = app\n",
        );
        let hosts: Vec<&str> = env.hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(hosts, vec!["web", "db", "old"]);
        let web = env.host("web").unwrap();
        assert_eq!(web.fqdn, "web.example.com");
        assert_eq!(web.origin.line, 4);
        assert!(!web.ignore);
        assert_eq!(names(&web.components), vec!["nginx", "app"]);
        assert!(
            web.components
                .iter()
                .all(|c| c.origin.line == 4 && !c.ignore)
        );
        let db = env.host("db").unwrap();
        assert_eq!(names(&db.components), vec!["postgres", "backup", "cron"]);
        let lines: Vec<usize> = db.components.iter().map(|c| c.origin.line).collect();
        assert_eq!(lines, vec![6, 7, 7]);
        assert!(env.host("old").unwrap().ignore);
    }

    #[test]
    fn fqdn_without_host_domain_is_the_name() {
        let env = load_ok("[hosts]\nlocalhost = a\n");
        assert_eq!(env.hosts[0].fqdn, "localhost");
    }

    #[test]
    fn features_and_ignored_components() {
        let env = load_ok("[hosts]\nweb = nginx:ssl, !app, nginx:http2\n  nginx\n");
        let web = &env.hosts[0];
        assert_eq!(names(&web.components), vec!["nginx", "app"]);
        assert_eq!(web.components[0].features, vec!["ssl", "http2"]);
        assert!(!web.components[0].ignore);
        assert!(web.components[1].ignore);
        assert!(web.components[1].features.is_empty());
    }

    #[test]
    fn duplicate_components_and_features() {
        assert_eq!(
            load_err("[hosts]\nweb = a,\n  b, a\n"),
            "F:3: component `a` is listed twice for host `web`; first at F:2"
        );
        assert_eq!(
            load_err("[hosts]\nweb = a:x\n[host:web]\ncomponents = a:x\n"),
            "F:4: feature `x` of component `a` is listed twice for host `web`; first at F:2"
        );
        assert_eq!(
            load_err("[hosts]\nweb = a, !a:x\n"),
            "F:2: component `a` is both ignored (`!a`) and not ignored on host `web`; first listed at F:2\n  hint: mark every entry of `a` on this host the same way"
        );
    }

    #[test]
    fn invalid_names_in_hosts() {
        assert_eq!(
            load_err("[hosts]\nweb = nginx app\n"),
            "F:2: invalid component name `nginx app`\n  hint: separate list items with commas or newlines"
        );
        assert!(load_err("[hosts]\nweb = a:\n").starts_with("F:2: missing feature name"));
        assert!(load_err("[hosts]\nweb = !\n").starts_with("F:2: missing component name"));
        assert!(load_err("[hosts]\nw$b = a\n").starts_with("F:2: invalid host name `w$b`"));
        assert!(load_err("[hosts]\n! = a\n").starts_with("F:2: missing host name"));
    }

    #[test]
    fn host_listed_twice_in_hosts() {
        assert_eq!(
            load_err("[hosts]\nweb = a\n!web = b\n"),
            "F:3: host `web` is listed twice in [hosts]; first at F:2"
        );
    }

    #[test]
    fn host_sections_merge_with_hosts() {
        let env = load_ok(
            "[environment]\nplatform = debian\nservice_user = svc\n\
             [host:cache]\ncomponents = redis\n\
             [hosts]\nweb = nginx\n\
             [host:web]\ncomponents = app:debug,\n  !cron\nplatform = alpine\nignore = yes\n\
             data-port = 8080\ndata-motd =\n  hello\n  world\n",
        );
        let hosts: Vec<&str> = env.hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(hosts, vec!["cache", "web"]);
        let cache = &env.hosts[0];
        assert_eq!(cache.origin.line, 4);
        assert_eq!(cache.platform.as_deref(), Some("debian"));
        assert_eq!(cache.service_user.as_deref(), Some("svc"));
        assert!(!cache.ignore);
        let web = &env.hosts[1];
        assert_eq!(web.origin.line, 7, "first mention is the [hosts] line");
        assert_eq!(names(&web.components), vec!["nginx", "app", "cron"]);
        assert_eq!(web.components[1].features, vec!["debug"]);
        assert_eq!(web.components[2].origin.line, 10);
        assert!(web.components[2].ignore);
        assert_eq!(web.platform.as_deref(), Some("alpine"));
        assert_eq!(web.service_user.as_deref(), Some("svc"));
        assert!(web.ignore);
        assert_eq!(web.data.get("port").map(String::as_str), Some("8080"));
        assert_eq!(
            web.data.get("motd").map(String::as_str),
            Some("hello\nworld")
        );
    }

    #[test]
    fn host_ignore_false_and_bang() {
        let env = load_ok("[hosts]\n!web = a\n[host:web]\nignore = false\n");
        assert!(
            env.hosts[0].ignore,
            "`!web` is not undone by `ignore = false`"
        );
        assert_eq!(
            load_err("[host:web]\nignore = perhaps\n"),
            "F:2: invalid value `perhaps` for `ignore` in [host:web]: expected a boolean (true/false, yes/no, on/off, 1/0)"
        );
    }

    #[test]
    fn host_section_unknown_keys() {
        assert_eq!(
            load_err("[host:web]\nplatfrom = x\n"),
            "F:2: unknown key `platfrom` in [host:web]\n  hint: did you mean `platform`?"
        );
        assert_eq!(
            load_err("[host:web]\ndata_port = 1\n"),
            "F:2: unknown key `data_port` in [host:web]\n  hint: host data is written `data-KEY`; did you mean `data-port`?"
        );
        assert!(
            load_err("[host:web]\ndata- = 1\n")
                .starts_with("F:2: missing name after `data-` in [host:web]")
        );
    }

    // [component:NAME]

    #[test]
    fn component_attributes_keep_raw_values_and_lines() {
        let env = load_ok(
            "[component:app]\nport = 8080\nhosts =\n    a\n    b\nempty =\n[component:other]\n",
        );
        let app = &env.components["app"];
        assert_eq!(app.origin.line, 1);
        assert_eq!(app.attributes["port"].value, "8080");
        assert_eq!(app.attributes["port"].origin.line, 2);
        assert_eq!(app.attributes["hosts"].value, "a\nb");
        assert_eq!(app.attributes["hosts"].origin.line, 3);
        assert_eq!(app.attributes["empty"].value, "");
        assert!(env.components["other"].attributes.is_empty());
        assert_eq!(
            crate::convert(&app.attributes["hosts"].value, AttrType::List).unwrap(),
            serde_json::json!(["a", "b"])
        );
    }

    #[test]
    fn component_section_needs_a_valid_name() {
        assert!(load_err("[component:]\n").starts_with("F:1: missing component name"));
        assert!(load_err("[component:a b]\n").starts_with("F:1: invalid component name `a b`"));
    }

    // [grants:NAME]

    #[test]
    fn grants_paths_and_commands() {
        let env = load_ok(
            "[grants:nginx]\npaths = /etc/nginx rw, /var/log/nginx ro\n    /srv/www  ro\n\
             commands = nginx systemctl,\n    /usr/sbin/nginx\n",
        );
        let grants = &env.grants["nginx"];
        assert_eq!(grants.origin.line, 1);
        let paths: Vec<(String, Access, usize)> = grants
            .paths
            .iter()
            .map(|g| (g.to_line(), g.access, g.origin.line))
            .collect();
        assert_eq!(
            paths,
            vec![
                ("/etc/nginx rw".to_owned(), Access::ReadWrite, 2),
                ("/var/log/nginx ro".to_owned(), Access::Read, 2),
                ("/srv/www ro".to_owned(), Access::Read, 3),
            ]
        );
        assert!(grants.paths[0].covers(Path::new("/etc/nginx/sites/a")));
        assert!(!grants.paths[0].covers(Path::new("/etc/nginxx")));
        let commands: Vec<(&str, usize)> = grants
            .commands
            .iter()
            .map(|c| (c.program.as_str(), c.origin.line))
            .collect();
        assert_eq!(
            commands,
            vec![("nginx", 4), ("systemctl", 4), ("/usr/sbin/nginx", 5)]
        );
    }

    #[test]
    fn grant_path_errors() {
        assert_eq!(
            load_err("[grants:a]\npaths =\n  /etc ro\n  /var\n"),
            "F:4: missing access for path `/var` in [grants:a]\n  hint: write `/var ro` (read only) or `/var rw` (read-write)"
        );
        assert!(
            load_err("[grants:a]\npaths = etc ro\n")
                .starts_with("F:2: granted path `etc` is not absolute"),
        );
        assert_eq!(
            load_err("[grants:a]\npaths = /etc wr\n"),
            "F:2: unknown access `wr`; expected `ro` or `rw`, for path `/etc`\n  hint: did you mean `rw`?"
        );
        assert!(
            load_err("[grants:a]\npaths = /my dir ro\n").starts_with(
                "F:2: expected `PATH ro` or `PATH rw` in [grants:a], got `/my dir ro`"
            )
        );
        assert!(
            load_err("[grants:a]\npaths = /etc/../root rw\n")
                .starts_with("F:2: granted path `/etc/../root` contains `..`")
        );
        assert_eq!(
            load_err("[grants:a]\npaths = /etc ro\n  /etc rw\n"),
            "F:3: path `/etc` is granted twice in [grants:a]; first at F:2"
        );
    }

    #[test]
    fn grant_command_errors() {
        assert!(load_err("[grants:a]\ncommands = bin/tool\n").starts_with(
            "F:2: granted command `bin/tool` is neither a program name nor an absolute path"
        ));
        assert!(
            load_err("[grants:a]\ncommands = /bin/../x\n")
                .starts_with("F:2: granted command `/bin/../x` contains `..`")
        );
        assert_eq!(
            load_err("[grants:a]\ncommands = ls,\n  ls\n"),
            "F:3: command `ls` is granted twice in [grants:a]; first at F:2"
        );
    }

    #[test]
    fn special_modes_are_granted_by_name() {
        let env = load_ok("[grants:a]\nspecial-modes = setuid sticky\n");
        assert_eq!(env.grants["a"].special_modes, 0o5000);
        assert_eq!(
            load_ok("[grants:a]\ncommands = ls\n").grants["a"].special_modes,
            0
        );
        assert_eq!(
            load_err("[grants:a]\nspecial-modes = setgid, setuidd\n"),
            "F:2: unknown special mode `setuidd` in [grants:a]\n  hint: did you mean `setuid`?"
        );
    }

    #[test]
    fn names_that_map_onto_work_itself_are_refused() {
        for name in [".", "..", ".hidden", "-x"] {
            assert!(!valid_name(name), "{name}");
            let err = load_err(&format!("[hosts]\nlocalhost = {name}\n"));
            assert!(
                err.contains(&format!("invalid component name `{name}`")),
                "{err}"
            );
        }
        assert!(valid_name("probe-granted") && valid_name("a.b_c") && valid_name("9lives"));
    }

    #[test]
    fn grants_unknown_key() {
        assert_eq!(
            load_err("[grants:a]\ncommand = ls\n"),
            "F:2: unknown key `command` in [grants:a]\n  hint: did you mean `commands`?"
        );
    }

    // Sections

    #[test]
    fn unknown_sections_suggest() {
        let cases = [
            (
                "[enviroment]\n",
                "unknown section `[enviroment]`\n  hint: did you mean `[environment]`?",
            ),
            (
                "[hosts:web]\n",
                "unknown section `[hosts:web]`\n  hint: did you mean `[host:web]`?",
            ),
            (
                "[host]\n",
                "unknown section `[host]`\n  hint: did you mean `[hosts]` or `[host:NAME]`?",
            ),
            (
                "[grant:nginx]\n",
                "unknown section `[grant:nginx]`\n  hint: did you mean `[grants:nginx]`?",
            ),
            (
                "[components:a]\n",
                "unknown section `[components:a]`\n  hint: did you mean `[component:a]`?",
            ),
            (
                "[component]\n",
                "unknown section `[component]`\n  hint: did you mean `[component:NAME]`?",
            ),
            (
                "[reslover]\n",
                "unknown section `[reslover]`\n  hint: did you mean `[resolver]`?",
            ),
            (
                "[whatever]\n",
                "unknown section `[whatever]`\n  hint: known sections are [environment], [hosts], [host:NAME], [component:NAME], [grants:NAME] and [resolver]",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(
                load_err(&format!("# x\n{text}")),
                format!("F:2: {expected}"),
                "{text}"
            );
        }
    }

    #[test]
    fn unknown_section_is_reported_before_substitution_errors() {
        assert_eq!(
            load_err("[environment]\nplatform = ${nowhere:x}\n[enviroment]\n"),
            "F:3: unknown section `[enviroment]`\n  hint: did you mean `[environment]`?"
        );
    }

    #[test]
    fn duplicate_sections_and_keys() {
        assert_eq!(
            load_err("[hosts]\na = b\n[host:a]\n[hosts]\n"),
            "F:4: duplicate section `[hosts]`; it is first defined at F:1\n  hint: merge the two sections into one"
        );
        assert_eq!(
            load_err("[component:x]\na = 1\na = 2\n"),
            "F:3: duplicate key `a` in [component:x]; it is first set at F:2"
        );
    }

    // Substitution through the whole pipeline

    #[test]
    fn substitution_everywhere() {
        let env = load_ok(
            "[environment]\nhost_domain = example.com\nplatform = ${host:web:platform}\n\
             [hosts]\nweb = ${component:app:name}\n\
             [host:web]\nplatform = debian\ndata-url = https://web.${environment:host_domain}:${host:web:data-port}/\n\
             data-port = 80\n\
             [component:app]\nname = app\nliteral = $${environment:platform}\n\
             [grants:app]\npaths = /srv/${component:app:name} rw\n",
        );
        assert_eq!(env.platform.as_deref(), Some("debian"));
        let web = &env.hosts[0];
        assert_eq!(names(&web.components), vec!["app"]);
        assert_eq!(web.data["url"], "https://web.example.com:80/");
        assert_eq!(
            env.components["app"].attributes["literal"].value,
            "${environment:platform}"
        );
        assert_eq!(env.grants["app"].paths[0].path, Path::new("/srv/app"));
    }

    #[test]
    fn substituted_list_keeps_the_referencing_line() {
        let env = load_ok("[hosts]\nweb = a\n  ${component:x:more}\n[component:x]\nmore = b, c\n");
        let lines: Vec<(&str, usize)> = env.hosts[0]
            .components
            .iter()
            .map(|c| (c.name.as_str(), c.origin.line))
            .collect();
        assert_eq!(lines, vec![("a", 2), ("b", 3), ("c", 3)]);
    }

    #[test]
    fn substitution_errors_name_the_line() {
        assert_eq!(
            load_err(
                "[environment]\nplatform = debian\n[component:a]\nx = ${environment:platfrom}\n"
            ),
            "F:4: unknown key `platfrom` in [environment], referenced as `${environment:platfrom}`\n  hint: did you mean `${environment:platform}`?"
        );
        let err =
            load_err("[component:a]\nx = ${component:b:y}\n[component:b]\ny = ${component:a:x}\n");
        assert!(
            err.starts_with("F:4: substitution cycle: `${component:a:x}` -> `${component:b:y}` -> `${component:a:x}`"),
            "{err}"
        );
    }

    // The example in the crate docs

    #[test]
    fn crate_doc_example_loads() {
        let docs = include_str!("lib.rs");
        let example: String = docs
            .lines()
            .skip_while(|l| *l != "//! ```ini")
            .skip(1)
            .take_while(|l| *l != "//! ```")
            .map(|l| format!("{}\n", l.strip_prefix("//! ").unwrap_or("")))
            .collect();
        assert!(example.contains("[grants:nginx]"), "{example}");
        let env = load_ok(&example);
        assert_eq!(env.connect_method, ConnectMethod::Ssh);
        assert_eq!(env.timeout, Duration::from_secs(30));
        assert_eq!(env.target_directory, Path::new("/srv/deployment"));
        let hosts: Vec<&str> = env.hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(hosts, vec!["web", "old", "db"]);
        assert_eq!(env.hosts[0].fqdn, "web.example.com");
        assert_eq!(env.hosts[0].components[0].features, vec!["ssl"]);
        assert!(env.hosts[1].ignore);
        assert!(env.hosts[2].components[1].ignore);
        let app = &env.components["app"];
        assert_eq!(
            app.attributes["upstream"].value,
            "http://db.example.com:8080"
        );
        assert_eq!(
            crate::convert(&app.attributes["options"].value, AttrType::Map).unwrap(),
            serde_json::json!({"debug": "false", "level": "info"})
        );
        assert_eq!(env.grants["nginx"].paths.len(), 2);
        assert_eq!(env.grants["nginx"].commands.len(), 2);
    }
}
