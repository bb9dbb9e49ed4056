//! The context of [`Component::configure`](crate::Component::configure).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::__private::bindings::berth::component::{model, types as wit};
use crate::{Error, Result, Step};

/// The handle of a step added with [`Configure::add`], used as the parent of
/// later steps in [`Configure::add_under`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StepId(u32);

/// The host a component is being deployed to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    /// Short name, as written in the environment.
    pub name: String,
    /// Fully qualified name (`name.host_domain` when a domain is set).
    pub fqdn: String,
    /// Platform name, or empty.
    pub platform: String,
    /// The user services run as, or empty.
    pub service_user: String,
    /// The host's `data-KEY = value` settings, without the `data-` prefix.
    pub data: BTreeMap<String, String>,
}

impl Host {
    /// The `data-KEY` setting of the host, if any.
    pub fn data(&self, key: &str) -> Option<&str> {
        self.data.get(key).map(String::as_str)
    }
}

/// The environment being deployed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    /// The environment's name (`local`, `production`, ...).
    pub name: String,
    /// How berth reaches the hosts: `local` or `ssh`.
    pub connect_method: String,
    /// Domain appended to host names, or empty.
    pub host_domain: String,
    /// The default platform, or empty.
    pub platform: String,
}

/// How [`Configure::require`] selects and checks provided values (batou's
/// `require` options).
///
/// ```
/// use berth_sdk::Require;
///
/// let options = Require::new().same_host(true).strict(true);
/// # let _ = options;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Require {
    same_host: bool,
    strict: bool,
    reverse: bool,
    dirty: bool,
}

impl Require {
    /// Every provider, not strict, with a deploy-order edge from provider to
    /// requirer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only values provided by roots on this root's own host.
    pub fn same_host(mut self, yes: bool) -> Self {
        self.same_host = yes;
        self
    }

    /// An empty answer is an error of the deployment.
    pub fn strict(mut self, yes: bool) -> Self {
        self.strict = yes;
        self
    }

    /// Invert the deploy-order edge: this root is deployed first.
    pub fn reverse(mut self, yes: bool) -> Self {
        self.reverse = yes;
        self
    }

    /// Add no deploy-order edge (breaks cycles).
    pub fn dirty(mut self, yes: bool) -> Self {
        self.dirty = yes;
        self
    }
}

/// A service address, resolved as batou's `Address`: the form clients
/// connect to and the IP addresses a server listens on.
///
/// Read from an attribute declared with [`Attribute::address`] or from
/// [`Configure::resolve`]. Which families are filled in follows the
/// environment's `require_v4` / `require_v6`; its `[resolver]` overrides DNS.
///
/// [`Attribute::address`]: crate::Attribute::address
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// The host as written (without brackets for IPv6).
    pub host: String,
    /// The port.
    pub port: u16,
    /// `host:port`, for clients.
    pub connect: String,
    /// The first IPv4 address with the port (`10.0.0.5:80`), for servers;
    /// `None` when IPv4 is not used or (with `optional`) not found.
    pub listen: Option<String>,
    /// The first IPv6 address with the port (`[fd00::5]:80`), for servers.
    pub listen_v6: Option<String>,
    /// Every IPv4 address found.
    pub ipv4: Vec<String>,
    /// Every IPv6 address found.
    pub ipv6: Vec<String>,
}

impl std::fmt::Display for Address {
    /// The connect form, `host:port`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.connect)
    }
}

/// A platform variant of a root component, as batou's `@platform`: a
/// configure function that runs only on hosts of that platform, after the
/// component's own [`configure`](crate::Component::configure), adding its
/// steps to the same tree.
///
/// The platform is the CLI's `--platform`, else the host's `platform`, else
/// the environment's. A host whose platform has no variant gets none.
///
/// ```
/// use berth_sdk::{Configure, File, Platform, Result};
///
/// fn debian(cx: &mut Configure) -> Result<()> {
///     cx.add(File::new("apt.conf").text("APT::Install-Recommends \"false\";\n"));
///     Ok(())
/// }
///
/// let variants = vec![Platform::new("debian", debian)];
/// assert_eq!(variants[0].name(), "debian");
/// ```
#[derive(Clone, Copy)]
pub struct Platform {
    name: &'static str,
    pub(crate) configure: fn(&mut Configure) -> Result<()>,
}

impl Platform {
    /// The variant for platform `name`, configured by `configure`.
    pub const fn new(name: &'static str, configure: fn(&mut Configure) -> Result<()>) -> Self {
        Platform { name, configure }
    }

    /// The platform it is for.
    pub fn name(&self) -> &str {
        self.name
    }
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A value another root published with [`Configure::provide`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provided<T> {
    /// The host of the providing root.
    pub host: String,
    /// The name of the providing root component.
    pub component: String,
    /// The value.
    pub value: T,
}

/// What [`Component::configure`](crate::Component::configure) works with:
/// the deployment model (host, environment, attributes, provide/require) and
/// the step tree being built.
#[derive(Debug)]
pub struct Configure {
    component: String,
    steps: Vec<wit::Step>,
    error: Option<Error>,
}

impl Configure {
    pub(crate) fn new(component: &str) -> Self {
        Configure {
            component: component.to_owned(),
            steps: Vec::new(),
            error: None,
        }
    }

    /// The steps added, or the first problem found in one of them.
    pub(crate) fn finish(self) -> Result<Vec<wit::Step>> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.steps),
        }
    }

    /// The name of the root component being configured.
    pub fn component(&self) -> &str {
        &self.component
    }

    /// The value of an attribute: the environment's override, else the
    /// declared default.
    ///
    /// Fails with [`Error::NotFound`] for an undeclared attribute and with
    /// [`Error::Invalid`] when the value does not fit `T`.
    pub fn attribute<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        let json = model::attribute(name)?;
        serde_json::from_str(&json).map_err(|e| {
            Error::Invalid(format!(
                "attribute `{name}` of component `{}`: {e}",
                self.component
            ))
        })
    }

    /// The host being deployed to.
    pub fn host(&self) -> Host {
        let h = model::host();
        Host {
            name: h.name,
            fqdn: h.fqdn,
            platform: h.platform,
            service_user: h.service_user,
            data: h.data.into_iter().collect(),
        }
    }

    /// The environment being deployed.
    pub fn environment(&self) -> Environment {
        let e = model::environment();
        Environment {
            name: e.name,
            connect_method: e.connect_method,
            host_domain: e.host_domain,
            platform: e.platform,
        }
    }

    /// The features switched on for this root.
    pub fn features(&self) -> Vec<String> {
        model::features()
    }

    /// Publish a value under `key` for other roots.
    pub fn provide(&mut self, key: &str, value: &impl Serialize) -> Result<()> {
        let json = serde_json::to_string(value)
            .map_err(|e| Error::Invalid(format!("value provided under `{key}`: {e}")))?;
        model::provide(key, &json)?;
        Ok(())
    }

    /// The values other roots (and this one) provided under `key`.
    ///
    /// Fails with [`Error::Invalid`] naming the provider when a value does
    /// not fit `T`.
    pub fn require<T: DeserializeOwned>(
        &mut self,
        key: &str,
        options: Require,
    ) -> Result<Vec<Provided<T>>> {
        let provided = model::require(
            key,
            wit::RequireOptions {
                same_host: options.same_host,
                strict: options.strict,
                reverse: options.reverse,
                dirty: options.dirty,
            },
        )?;
        provided
            .into_iter()
            .map(|p| {
                let value = serde_json::from_str(&p.value).map_err(|e| {
                    Error::Invalid(format!(
                        "value of `{key}` provided by `{}` on `{}`: {e}",
                        p.component, p.host
                    ))
                })?;
                Ok(Provided {
                    host: p.host,
                    component: p.component,
                    value,
                })
            })
            .collect()
    }

    /// Resolve a service address, `host:port` or `[IPv6]:port`, as an
    /// attribute of type address would be: the environment's `[resolver]`
    /// first, then DNS, as `require_v4` / `require_v6` ask.
    ///
    /// Fails with [`Error::Invalid`] for a malformed address and with
    /// [`Error::NotFound`] when a required family has no address.
    pub fn resolve(&self, address: &str) -> Result<Address> {
        let json = model::resolve(address)?;
        serde_json::from_str(&json)
            .map_err(|e| Error::Invalid(format!("resolve(`{address}`): {e}")))
    }

    /// Add a top-level step.
    pub fn add(&mut self, step: impl Into<Step>) -> StepId {
        self.push(None, step.into())
    }

    /// Add a step as a child of `parent`: berth deploys it before the
    /// parent's own verify and update, and tells the parent whether it
    /// changed.
    pub fn add_under(&mut self, parent: StepId, step: impl Into<Step>) -> StepId {
        self.push(Some(parent.0), step.into())
    }

    fn push(&mut self, parent: Option<u32>, step: Step) -> StepId {
        if let (None, Some(e)) = (&self.error, step.error) {
            self.error = Some(e);
        }
        let id = u32::try_from(self.steps.len()).unwrap_or(u32::MAX);
        self.steps.push(wit::Step {
            parent,
            label: step.label,
            resource: step.resource,
        });
        StepId(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Custom, File};

    #[test]
    fn steps_keep_their_parents_and_the_first_error() {
        let mut cx = Configure::new("c");
        let a = cx.add(File::new("a").text("x"));
        let b = cx.add_under(a, File::new("b").template_str("").context(1));
        cx.add_under(b, Custom::new("k"));
        let e = cx.finish().unwrap_err();
        assert!(e.message().contains("`b`"), "{e}");

        let mut cx = Configure::new("c");
        let a = cx.add(File::new("a"));
        cx.add_under(a, File::new("b"));
        let steps = cx.finish().unwrap();
        assert_eq!(steps[0].parent, None);
        assert_eq!(steps[1].parent, Some(0));
    }
}
