//! Service addresses: `host:port` values resolved into the forms a
//! component needs, as batou's `Address` does.
//!
//! A name is looked up in the environment's `[resolver]` first, then taken
//! as an IP address literal, then asked of DNS (the system resolver). The
//! environment's `require_v4` / `require_v6` decide which families are
//! used: `true` makes a missing family an error, `optional` tolerates it,
//! `false` leaves it out. Each name is looked up once per run.

use berth_config::{AttrType, Environment, IpRequirement};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};

/// Why an address could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressError {
    /// Not `host:port`: the message says what was expected.
    Invalid(String),
    /// A family the environment requires has no address.
    NotFound {
        /// What is missing and why.
        message: String,
        /// What to do about it.
        hint: String,
    },
}

impl std::fmt::Display for AddressError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AddressError::Invalid(m) => f.write_str(m),
            AddressError::NotFound { message, hint } => write!(f, "{message} ({hint})"),
        }
    }
}

/// The environment's address resolution: `[resolver]`, DNS, requirements.
#[derive(Debug)]
pub struct Addresses {
    overrides: BTreeMap<String, Vec<IpAddr>>,
    v4: IpRequirement,
    v6: IpRequirement,
    /// DNS answers by lower-cased name; errors are remembered too.
    dns: Mutex<HashMap<String, Lookup>>,
}

/// The addresses of a name, or why DNS gave none.
type Lookup = Result<Vec<IpAddr>, String>;

impl Addresses {
    /// Resolution as `env` configures it.
    pub fn new(env: &Environment) -> Self {
        Self {
            overrides: env
                .resolver
                .iter()
                .map(|(name, ips)| (name.to_ascii_lowercase(), ips.clone()))
                .collect(),
            v4: env.require_v4,
            v6: env.require_v6,
            dns: Mutex::new(HashMap::new()),
        }
    }

    /// Resolves `host:port` (or `[IPv6]:port`) into the JSON object that
    /// components receive (see `model.resolve` in the WIT).
    pub fn resolve(&self, text: &str) -> Result<Value, AddressError> {
        let parsed =
            berth_config::convert(text, AttrType::Address).map_err(AddressError::Invalid)?;
        self.resolve_value(&parsed)
    }

    /// Resolves an address already in the form `{"host": …, "port": …}`
    /// (as `berth_config::convert` makes it) or as a `"host:port"` string
    /// (as a component's default may give it).
    pub fn resolve_value(&self, value: &Value) -> Result<Value, AddressError> {
        if let Value::String(text) = value {
            return self.resolve(text);
        }
        let (Some(host), Some(port)) = (
            value.get("host").and_then(Value::as_str),
            value
                .get("port")
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p > 0),
        ) else {
            return Err(AddressError::Invalid(format!(
                "expected an address (`host:port`, or `[IPv6]:port`), got `{value}`"
            )));
        };
        let ips = self.lookup(host, port);
        let (v4, v6): (Vec<IpAddr>, Vec<IpAddr>) =
            ips.iter().flatten().partition(|ip| ip.is_ipv4());
        let v4 = self.family(host, 4, self.v4, v4, &ips)?;
        let v6 = self.family(host, 6, self.v6, v6, &ips)?;
        let netloc = |ip: &IpAddr| match ip {
            IpAddr::V4(ip) => format!("{ip}:{port}"),
            IpAddr::V6(ip) => format!("[{ip}]:{port}"),
        };
        let connect = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        Ok(json!({
            "host": host,
            "port": port,
            "connect": connect,
            "listen": v4.first().map(netloc),
            "listen_v6": v6.first().map(netloc),
            "ipv4": v4.iter().map(IpAddr::to_string).collect::<Vec<_>>(),
            "ipv6": v6.iter().map(IpAddr::to_string).collect::<Vec<_>>(),
        }))
    }

    /// The addresses of one family, as the requirement allows.
    fn family(
        &self,
        host: &str,
        family: u8,
        requirement: IpRequirement,
        found: Vec<IpAddr>,
        all: &Lookup,
    ) -> Result<Vec<IpAddr>, AddressError> {
        match requirement {
            IpRequirement::Forbidden => Ok(Vec::new()),
            IpRequirement::Optional => Ok(found),
            IpRequirement::Required if !found.is_empty() => Ok(found),
            IpRequirement::Required => {
                let how = if self.overrides.contains_key(&host.to_ascii_lowercase()) {
                    "its [resolver] entry has none".to_string()
                } else if host.parse::<IpAddr>().is_ok() {
                    "it is an address of the other family".to_string()
                } else {
                    match all {
                        Ok(_) => "DNS has none".to_string(),
                        Err(e) => format!("DNS lookup failed: {e}"),
                    }
                };
                Err(AddressError::NotFound {
                    message: format!(
                        "`{host}` has no IPv{family} address, and `require_v{family} = true`: {how}"
                    ),
                    hint: format!(
                        "add `{host} = <IPv{family} address>` to [resolver], or set `require_v{family} = optional` (or `false`) in [environment]"
                    ),
                })
            }
        }
    }

    /// Every address of `host`: `[resolver]`, an IP literal, or DNS. A
    /// failed DNS lookup is not an error yet: families that are not
    /// required can do without.
    fn lookup(&self, host: &str, port: u16) -> Lookup {
        let key = host.to_ascii_lowercase();
        if let Some(ips) = self.overrides.get(&key) {
            return Ok(ips.clone());
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let mut cache = self.dns.lock().unwrap_or_else(|e| e.into_inner());
        let answer = cache
            .entry(key)
            .or_insert_with(|| match (host, port).to_socket_addrs() {
                Ok(addrs) => {
                    let mut ips: Vec<IpAddr> = Vec::new();
                    for a in addrs {
                        if !ips.contains(&a.ip()) {
                            ips.push(a.ip());
                        }
                    }
                    Ok(ips)
                }
                Err(e) => Err(e.to_string()),
            });
        answer.clone()
    }
}

impl berth_runtime::ResolveAddress for Addresses {
    fn resolve(&self, address: &str) -> Result<String, berth_runtime::wit::Error> {
        use berth_runtime::wit::Error;
        match Addresses::resolve(self, address) {
            Ok(value) => Ok(value.to_string()),
            Err(AddressError::Invalid(m)) => {
                Err(Error::Invalid(format!("resolve(`{address}`): {m}")))
            }
            Err(e @ AddressError::NotFound { .. }) => {
                Err(Error::NotFound(format!("resolve(`{address}`): {e}")))
            }
        }
    }
}

/// Answers `model.resolve` as another resolver does, and remembers every
/// answer, so that a target can configure again with the same answers.
#[derive(Debug)]
pub struct Recorded {
    inner: Arc<dyn berth_runtime::ResolveAddress>,
    answers: Mutex<BTreeMap<String, String>>,
}

impl Recorded {
    /// Records what `inner` answers.
    pub fn new(inner: Arc<dyn berth_runtime::ResolveAddress>) -> Self {
        Self {
            inner,
            answers: Mutex::new(BTreeMap::new()),
        }
    }

    /// Every answer given so far, by address.
    pub fn answers(&self) -> BTreeMap<String, String> {
        self.answers.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

impl berth_runtime::ResolveAddress for Recorded {
    fn resolve(&self, address: &str) -> Result<String, berth_runtime::wit::Error> {
        let value = self.inner.resolve(address)?;
        if let Ok(mut answers) = self.answers.lock() {
            answers.insert(address.to_string(), value.clone());
        }
        Ok(value)
    }
}

/// Answers `model.resolve` with what the controller answered: a target
/// configures with the controller's view of the network, not its own.
#[derive(Debug, Clone, Default)]
pub struct Replayed {
    /// The controller's answers, by address.
    pub answers: BTreeMap<String, String>,
}

impl berth_runtime::ResolveAddress for Replayed {
    fn resolve(&self, address: &str) -> Result<String, berth_runtime::wit::Error> {
        self.answers.get(address).cloned().ok_or_else(|| {
            berth_runtime::wit::Error::NotFound(format!(
                "resolve(`{address}`): the controller did not resolve this address when it planned; configure must be deterministic"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses(resolver: &[(&str, &[&str])], v4: IpRequirement, v6: IpRequirement) -> Addresses {
        Addresses {
            overrides: resolver
                .iter()
                .map(|(n, ips)| {
                    (
                        n.to_string(),
                        ips.iter().map(|i| i.parse().unwrap()).collect(),
                    )
                })
                .collect(),
            v4,
            v6,
            dns: Mutex::new(HashMap::new()),
        }
    }

    #[test]
    fn resolver_wins_and_gives_both_forms() {
        let a = addresses(
            &[("db", &["10.0.0.5", "fd00::5", "10.0.0.6"])],
            IpRequirement::Required,
            IpRequirement::Optional,
        );
        let v = a.resolve("DB:5432").unwrap();
        assert_eq!(
            v,
            json!({
                "host": "DB", "port": 5432, "connect": "DB:5432",
                "listen": "10.0.0.5:5432", "listen_v6": "[fd00::5]:5432",
                "ipv4": ["10.0.0.5", "10.0.0.6"], "ipv6": ["fd00::5"],
            })
        );
    }

    #[test]
    fn forbidden_families_are_left_out() {
        let a = addresses(
            &[("db", &["10.0.0.5", "fd00::5"])],
            IpRequirement::Forbidden,
            IpRequirement::Required,
        );
        let v = a.resolve("db:1").unwrap();
        assert_eq!(v["listen"], Value::Null);
        assert_eq!(v["ipv4"], json!([]));
        assert_eq!(v["listen_v6"], json!("[fd00::5]:1"));
    }

    #[test]
    fn a_required_family_without_address_is_an_error_saying_what_to_do() {
        let a = addresses(
            &[("db", &["fd00::5"])],
            IpRequirement::Required,
            IpRequirement::Optional,
        );
        let err = a.resolve("db:80").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`db` has no IPv4 address, and `require_v4 = true`: its [resolver] entry has none \
             (add `db = <IPv4 address>` to [resolver], or set `require_v4 = optional` (or `false`) in [environment])"
        );
        let a = addresses(
            &[("db", &["fd00::5"])],
            IpRequirement::Optional,
            IpRequirement::Optional,
        );
        assert_eq!(a.resolve("db:80").unwrap()["listen"], Value::Null);
    }

    #[test]
    fn literals_and_defaults_as_strings() {
        let a = addresses(&[], IpRequirement::Optional, IpRequirement::Optional);
        let v = a.resolve_value(&json!("[::1]:8080")).unwrap();
        assert_eq!(v["connect"], json!("[::1]:8080"));
        assert_eq!(v["listen_v6"], json!("[::1]:8080"));
        assert_eq!(v["listen"], Value::Null);
        let v = a
            .resolve_value(&json!({"host": "127.0.0.1", "port": 9}))
            .unwrap();
        assert_eq!(v["listen"], json!("127.0.0.1:9"));
        assert!(matches!(
            a.resolve_value(&json!({"host": "x"})),
            Err(AddressError::Invalid(_))
        ));
        assert!(matches!(a.resolve("nohost"), Err(AddressError::Invalid(_))));
    }

    #[test]
    fn dns_through_the_system_resolver() {
        // `localhost` is in /etc/hosts on every machine this runs on.
        let a = addresses(&[], IpRequirement::Required, IpRequirement::Forbidden);
        let v = a.resolve("localhost:22").unwrap();
        assert_eq!(v["listen"], json!("127.0.0.1:22"));
        assert_eq!(v["connect"], json!("localhost:22"));
    }
}
