//! A guest whose configure provides and requires what its attributes say,
//! so that one environment can wire several roots together.
//!
//! Four roots with the same behaviour: `wiring-a`, `wiring-b`, `wiring-c`
//! and `wiring-d` (two hosts deploying locally share `work/<root>`, so give
//! each host its own root). Attributes (JSON in the environment):
//!
//! - `provides` (map): key → JSON value, provided as it is;
//! - `requires` (list): `{"key", "strict"?, "same_host"?, "reverse"?,
//!   "dirty"?, "type"?}` (or a string holding one), required in order; `type`
//!   (`any`, the default, `int`, `string`, `bool`, `list`, `map`) is the Rust
//!   type the values are read as, so a value of another type fails configure
//!   with the SDK's error naming the provider;
//! - `provides_from` (map): key → another key; provides under the first key
//!   the list of values received under the second (required with default
//!   options unless `requires` names it), and only once at least one value
//!   was received — so a chain of these settles one round per link;
//! - `fail_unless` (string): configure fails unless at least one value was
//!   received under this key (what a component that needs a value does);
//! - `listen` (address, default `localhost:8080`): recorded as resolved;
//! - `resolve` (list): addresses passed to `Configure::resolve`; the answers
//!   are recorded, and an error fails configure.
//!
//! Platform variants `debian` and `alpine` each add a file
//! `variant-<platform>.txt`.
//!
//! Configure writes what it saw, in its final round, to `seen.json` in the
//! workdir:
//!
//! ```json
//! {"root": "wiring-a", "host": "localhost", "platform": "", "features": [],
//!  "configure_calls": 2, "listen": {...}, "resolved": {"db:80": {...}},
//!  "required": {"key": [{"host": "...", "component": "...", "value": ...}]},
//!  "provided": {"key": ...}}
//! ```
//!
//! `configure_calls` counts the configure calls this root's instance got, so
//! it is the number of rounds the engine needed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use berth_sdk::{
    Address, Attribute, Component, Configure, Error, File, Platform, Provided, Require, Result,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    key: String,
    #[serde(default)]
    strict: bool,
    #[serde(default)]
    same_host: bool,
    #[serde(default)]
    reverse: bool,
    #[serde(default)]
    dirty: bool,
    #[serde(default, rename = "type")]
    ty: Option<String>,
}

impl Spec {
    fn options(&self) -> Require {
        Require::new()
            .strict(self.strict)
            .same_host(self.same_host)
            .reverse(self.reverse)
            .dirty(self.dirty)
    }
}

fn attributes() -> Vec<Attribute> {
    vec![
        Attribute::map("provides")
            .default(json!({}))
            .doc("Key → JSON value, provided as it is."),
        Attribute::list("requires")
            .default(json!([]))
            .doc("Requires: {key, strict, same_host, reverse, dirty, type}."),
        Attribute::map("provides_from")
            .default(json!({}))
            .doc("Key → required key: provide the values received under the latter."),
        Attribute::string("fail_unless")
            .default("")
            .doc("Fail configure unless a value was received under this key."),
        Attribute::address("listen")
            .default("localhost:8080")
            .doc("An address, recorded as resolved."),
        Attribute::list("resolve")
            .default(json!([]))
            .doc("Addresses to resolve in configure."),
    ]
}

/// Requires `spec.key`, reading the values as the type `spec` names, and
/// returns them as JSON again.
fn require(cx: &mut Configure, spec: &Spec) -> Result<Vec<Provided<Value>>> {
    fn typed<T: serde::de::DeserializeOwned + serde::Serialize>(
        cx: &mut Configure,
        spec: &Spec,
    ) -> Result<Vec<Provided<Value>>> {
        Ok(cx
            .require::<T>(&spec.key, spec.options())?
            .into_iter()
            .map(|p| Provided {
                host: p.host,
                component: p.component,
                value: serde_json::to_value(p.value).unwrap_or(Value::Null),
            })
            .collect())
    }
    match spec.ty.as_deref().unwrap_or("any") {
        "any" => cx.require::<Value>(&spec.key, spec.options()),
        "int" => typed::<i64>(cx, spec),
        "string" => typed::<String>(cx, spec),
        "bool" => typed::<bool>(cx, spec),
        "list" => typed::<Vec<Value>>(cx, spec),
        "map" => typed::<Map<String, Value>>(cx, spec),
        other => Err(Error::invalid(format!("unknown require type `{other}`"))),
    }
}

fn configure(cx: &mut Configure, calls: &AtomicU32) -> Result<()> {
    let calls = calls.fetch_add(1, Ordering::SeqCst) + 1;
    let provides: BTreeMap<String, Value> = cx.attribute("provides")?;
    let requires: Vec<Value> = cx.attribute("requires")?;
    let provides_from: BTreeMap<String, String> = cx.attribute("provides_from")?;
    let fail_unless: String = cx.attribute("fail_unless")?;
    let listen: Address = cx.attribute("listen")?;
    let mut resolved = Map::new();
    for address in cx.attribute::<Vec<String>>("resolve")? {
        let answer = cx.resolve(&address)?;
        resolved.insert(address, json!(answer));
    }

    let mut specs = Vec::new();
    for r in requires {
        let r = match r {
            Value::String(s) => serde_json::from_str(&s),
            other => serde_json::from_value(other),
        };
        specs.push(r.map_err(|e| Error::invalid(format!("attribute `requires`: {e}")))?);
    }
    for from in provides_from.values() {
        if !specs.iter().any(|s: &Spec| s.key == *from) {
            specs.push(Spec {
                key: from.clone(),
                strict: false,
                same_host: false,
                reverse: false,
                dirty: false,
                ty: None,
            });
        }
    }

    let mut provided = Map::new();
    for (key, value) in &provides {
        cx.provide(key, value)?;
        provided.insert(key.clone(), value.clone());
    }
    let mut required: BTreeMap<String, Vec<Provided<Value>>> = BTreeMap::new();
    for spec in &specs {
        let found = require(cx, spec)?;
        required.insert(spec.key.clone(), found);
    }
    for (key, from) in &provides_from {
        let values: Vec<&Value> = required
            .get(from)
            .map(|found| found.iter().map(|p| &p.value).collect())
            .unwrap_or_default();
        if !values.is_empty() {
            cx.provide(key, &values)?;
            provided.insert(key.clone(), json!(values));
        }
    }
    if !fail_unless.is_empty() && required.get(&fail_unless).is_none_or(Vec::is_empty) {
        return Err(Error::failed(format!(
            "`{}` needs a value under `{fail_unless}`",
            cx.component()
        )));
    }

    let host = cx.host();
    let seen = json!({
        "root": cx.component(),
        "host": host.name,
        "platform": host.platform,
        "features": cx.features(),
        "configure_calls": calls,
        "listen": listen,
        "resolved": resolved,
        "required": required,
        "provided": provided,
    });
    cx.add(
        File::new("seen.json")
            .text(format!("{seen:#}\n"))
            .label(format!("seen by {} on {}", cx.component(), host.name)),
    );
    Ok(())
}

/// Both platform variants: a file naming the platform it was added for.
fn variant(cx: &mut Configure) -> Result<()> {
    let platform = cx.host().platform;
    cx.add(File::new(format!("variant-{platform}.txt")).text(format!("{platform}\n")));
    Ok(())
}

macro_rules! roots {
    ($($ty:ident $name:literal $calls:ident),+) => {$(
        static $calls: AtomicU32 = AtomicU32::new(0);

        #[doc = concat!("The root `", $name, "`.")]
        struct $ty;

        impl Component for $ty {
            const NAME: &'static str = $name;
            const DOC: &'static str = "Test guest: provides and requires what its attributes say.";

            fn attributes() -> Vec<Attribute> {
                attributes()
            }

            fn configure(cx: &mut Configure) -> Result<()> {
                configure(cx, &$calls)
            }

            fn platforms() -> Vec<Platform> {
                vec![Platform::new("debian", variant), Platform::new("alpine", variant)]
            }
        }
    )+};
}

roots!(
    A "wiring-a" CALLS_A,
    B "wiring-b" CALLS_B,
    C "wiring-c" CALLS_C,
    D "wiring-d" CALLS_D
);

berth_sdk::export!(A, B, C, D);
