//! The validated model of an environment.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::error::Origin;

/// How berth reaches the hosts of an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ConnectMethod {
    /// Deploy on this machine, in process.
    #[default]
    Local,
    /// Deploy over SSH.
    Ssh,
}

impl ConnectMethod {
    /// Every method, as spelled in environment files.
    pub const ALL: [ConnectMethod; 2] = [ConnectMethod::Local, ConnectMethod::Ssh];

    /// The spelling in environment files: `local` or `ssh`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectMethod::Local => "local",
            ConnectMethod::Ssh => "ssh",
        }
    }
}

impl fmt::Display for ConnectMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ConnectMethod {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        ConnectMethod::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("unknown connect method `{s}`; expected `local` or `ssh`"))
    }
}

/// An environment: `environments/<name>/environment.cfg` (or
/// `environments/<name>.cfg`), parsed, substituted and validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Environment {
    /// The environment's name, e.g. `local`.
    pub name: String,
    /// The file it was read from.
    pub file: PathBuf,
    /// Every file read for it, in reading order: the files it `extends`
    /// (recursively, depth first), then [`Environment::file`] last.
    pub files: Vec<PathBuf>,
    /// `connect_method`; `local` by default.
    pub connect_method: ConnectMethod,
    /// `host_domain`: appended to host names to form their fqdn.
    pub host_domain: Option<String>,
    /// `service_user`: the user components run as, unless a host says otherwise.
    pub service_user: Option<String>,
    /// `platform`: the default platform of the hosts.
    pub platform: Option<String>,
    /// `timeout`: the wall-clock deadline of one guest call; 60 s by default.
    pub timeout: Duration,
    /// `connect_timeout`: how long connecting to a host over SSH may take;
    /// 10 s by default.
    pub connect_timeout: Duration,
    /// `jobs`: how many hosts to deploy at once, if set.
    pub jobs: Option<usize>,
    /// `target_directory`, absolute: where `work/` lives on the targets. For
    /// `local` it defaults to the repository root, and a relative path is
    /// taken relative to the repository root.
    pub target_directory: PathBuf,
    /// The hosts, in the order they first appear in the file.
    pub hosts: Vec<Host>,
    /// `[component:NAME]` sections by component name.
    pub components: BTreeMap<String, ComponentSection>,
    /// `[grants:NAME]` sections by root component name.
    pub grants: BTreeMap<String, Grants>,
    /// `[resolver]`: host names (as written) whose addresses override DNS,
    /// each with its addresses in file order.
    pub resolver: BTreeMap<String, Vec<IpAddr>>,
    /// `require_v4`: whether an address must resolve to an IPv4 address;
    /// [`IpRequirement::Required`] by default, as in batou.
    pub require_v4: IpRequirement,
    /// `require_v6`: whether an address must resolve to an IPv6 address;
    /// [`IpRequirement::Forbidden`] by default, as in batou.
    pub require_v6: IpRequirement,
    /// The decrypted secrets, when the `berth-secrets` crate loaded the
    /// environment and found a secrets file or secret files;
    /// [`crate::load`] leaves it `None`.
    pub secrets: Option<Secrets>,
    /// `allow_unconfined`: run granted programs even where the kernel
    /// cannot enforce every part of their confinement (berth warns and
    /// names the parts); `false` by default, and then such a run fails.
    pub allow_unconfined: bool,
}

/// The decrypted secrets of an environment: attribute overrides, host data
/// and secret files. The secrets crate (`berth-secrets`) decrypts and
/// checks them; the environment only carries them to the model.
///
/// Its `Debug` output lists files, sections and names, never values, so a
/// secret cannot reach a log through `{:?}`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secrets {
    /// The encrypted file of overrides (`secrets.cfg.age`), whether or not
    /// it exists.
    pub file: PathBuf,
    /// `[component:NAME]` (or bare `[NAME]`) sections by component name;
    /// origins are lines of the plaintext.
    pub components: BTreeMap<String, ComponentSection>,
    /// `[host:NAME]` sections: host data (`data-` stripped) by host name;
    /// the engine adds it to the host's [`Host::data`] for the components.
    pub hosts: BTreeMap<String, BTreeMap<String, RawValue>>,
    /// Secret files (`secret-NAME.age` beside the secrets file) by name.
    pub files: BTreeMap<String, SecretFile>,
}

/// A decrypted secret file; its bytes are zeroed when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretFile {
    /// The encrypted file.
    pub path: PathBuf,
    /// The plaintext.
    pub content: zeroize::Zeroizing<Vec<u8>>,
}

impl fmt::Debug for SecretFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretFile")
            .field("path", &self.path)
            .field("bytes", &self.content.len())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = |m: &BTreeMap<String, RawValue>| m.keys().cloned().collect::<Vec<_>>();
        let components: BTreeMap<&str, Vec<String>> = self
            .components
            .iter()
            .map(|(c, s)| (c.as_str(), keys(&s.attributes)))
            .collect();
        let hosts: BTreeMap<&str, Vec<String>> = self
            .hosts
            .iter()
            .map(|(h, d)| (h.as_str(), keys(d)))
            .collect();
        f.debug_struct("Secrets")
            .field("file", &self.file)
            .field("components", &components)
            .field("hosts", &hosts)
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

/// `require_v4` / `require_v6`: whether resolving an address must yield an
/// address of that family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpRequirement {
    /// `true`: an address without one of this family is an error.
    Required,
    /// `optional`: used when there is one, not an error when there is none.
    Optional,
    /// `false`: addresses of this family are not used.
    Forbidden,
}

impl IpRequirement {
    /// Every value, as spelled in environment files.
    pub const ALL: [IpRequirement; 3] = [
        IpRequirement::Required,
        IpRequirement::Optional,
        IpRequirement::Forbidden,
    ];

    /// The spelling in environment files: `true`, `optional` or `false`.
    pub fn as_str(self) -> &'static str {
        match self {
            IpRequirement::Required => "true",
            IpRequirement::Optional => "optional",
            IpRequirement::Forbidden => "false",
        }
    }
}

impl fmt::Display for IpRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IpRequirement {
    type Err = String;

    /// `optional`, or a boolean as [`crate::parse_bool`] reads it (`true`
    /// means required, `false` forbidden); case-insensitive.
    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim().eq_ignore_ascii_case("optional") {
            return Ok(IpRequirement::Optional);
        }
        match crate::parse_bool(s) {
            Some(true) => Ok(IpRequirement::Required),
            Some(false) => Ok(IpRequirement::Forbidden),
            None => Err(format!(
                "unknown IP requirement `{s}`; expected `true`, `false` or `optional`"
            )),
        }
    }
}

impl Environment {
    /// The host called `name`, if there is one.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }
}

/// A host, from `[hosts]` and/or `[host:NAME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The name as written in the file.
    pub name: String,
    /// `name.host_domain`, or just `name` without a `host_domain`.
    pub fqdn: String,
    /// The host's `platform`, else the environment's.
    pub platform: Option<String>,
    /// The host's `service_user`, else the environment's.
    pub service_user: Option<String>,
    /// `!name` in `[hosts]`, or `ignore = true` in `[host:NAME]`: configured
    /// but not deployed.
    pub ignore: bool,
    /// The root components on this host: those of `[hosts]` first, then
    /// those of `[host:NAME] components`, each in file order.
    pub components: Vec<HostComponent>,
    /// `data-KEY = value` entries of `[host:NAME]`, by `KEY`.
    pub data: BTreeMap<String, String>,
    /// Where the host is first mentioned.
    pub origin: Origin,
}

impl Host {
    /// The component called `name` on this host, if there is one.
    pub fn component(&self, name: &str) -> Option<&HostComponent> {
        self.components.iter().find(|c| c.name == name)
    }
}

/// A root component assigned to a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostComponent {
    /// The component's name.
    pub name: String,
    /// Features from `name:feature` entries, in file order.
    pub features: Vec<String>,
    /// `!name`: assigned, but not deployed on this host.
    pub ignore: bool,
    /// Where the component is first listed for this host.
    pub origin: Origin,
}

/// A `[component:NAME]` section: attribute overrides, not yet typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentSection {
    /// The section header.
    pub origin: Origin,
    /// Raw values by attribute name; convert them with [`crate::convert`]
    /// once the component's declared types are known.
    pub attributes: BTreeMap<String, RawValue>,
}

/// An attribute value as written (after `${…}` substitution).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawValue {
    /// The value; lines of a multi-line value are joined by `\n`.
    pub value: String,
    /// The line of the key.
    pub origin: Origin,
}

/// A `[grants:NAME]` section: what the environment allows root component
/// `NAME` beyond its workdir and defdir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants {
    /// The section header.
    pub origin: Origin,
    /// Granted paths, in file order.
    pub paths: Vec<PathGrant>,
    /// Granted programs, in file order.
    pub commands: Vec<CommandGrant>,
    /// `special-modes`: the setuid (`0o4000`), setgid (`0o2000`) and sticky
    /// (`0o1000`) bits the component may set; none by default.
    pub special_modes: u32,
    /// Granted secret files (`secrets = tls.key`), in file order.
    pub secrets: Vec<SecretGrant>,
}

/// A secret file of the environment (`secret-NAME.age`) that a component
/// may have written into one of its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretGrant {
    /// The secret file's name, as in `secret-NAME.age`.
    pub name: String,
    /// The line of the grant.
    pub origin: Origin,
}

/// Access to an absolute path and everything below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathGrant {
    /// An absolute path without `..`.
    pub path: PathBuf,
    /// `ro` or `rw`.
    pub access: Access,
    /// The line of the grant.
    pub origin: Origin,
}

impl PathGrant {
    /// The grant as it is written in a `paths =` line, e.g. `/etc/nginx rw`.
    pub fn to_line(&self) -> String {
        format!("{} {}", self.path.display(), self.access)
    }

    /// Whether this grant covers `path` (the path itself or anything below it).
    pub fn covers(&self, path: &Path) -> bool {
        path.starts_with(&self.path)
    }
}

/// The access a [`PathGrant`] gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Access {
    /// `ro`: read only.
    Read,
    /// `rw`: read and write.
    ReadWrite,
}

impl Access {
    /// The spelling in environment files: `ro` or `rw`.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "ro",
            Access::ReadWrite => "rw",
        }
    }

    /// Whether this access includes writing.
    pub fn can_write(self) -> bool {
        self == Access::ReadWrite
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Access {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ro" => Ok(Access::Read),
            "rw" => Ok(Access::ReadWrite),
            _ => Err(format!("unknown access `{s}`; expected `ro` or `rw`")),
        }
    }
}

/// A program a component may run: a name looked up in the target's `PATH`,
/// or an absolute path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandGrant {
    /// The program name or absolute path, as written.
    pub program: String,
    /// The line of the grant.
    pub origin: Origin,
}
