//! The plaintext of `secrets.cfg.age`, as batou writes it.
//!
//! INI with line numbers (the environment's lexer), and these sections:
//!
//! - `[batou]`: `members` (the recipients, comma or newline separated:
//!   `age1…` keys and SSH public keys) and `secret_provider` (`age`);
//! - `[host:NAME]`: host data, `data-KEY = value` (the `data-` prefix is
//!   stripped, as batou does);
//! - `[component:NAME]` or bare `[NAME]`: attribute overrides.
//!
//! Values are taken literally: no `${…}` substitution, so a password may
//! contain `${`.

use std::collections::BTreeMap;
use std::path::Path;

use berth_config::ini::{self, Section};
use berth_config::{
    ComponentSection, ConfigError, Origin, RawValue, check_name, component_section,
};

/// A decrypted `secrets.cfg.age`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Plaintext {
    /// `[batou] members`, with the line of the key.
    pub members: Option<(Vec<String>, Origin)>,
    /// Overrides by component name.
    pub components: BTreeMap<String, ComponentSection>,
    /// Host data (`data-` stripped) by host name.
    pub hosts: BTreeMap<String, BTreeMap<String, RawValue>>,
}

impl std::fmt::Debug for Plaintext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plaintext")
            .field("members", &self.members)
            .field("components", &self.components.keys().collect::<Vec<_>>())
            .field("hosts", &self.hosts.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Sections of the environment file that have no place in secrets.
const ENVIRONMENT_SECTIONS: [&str; 3] = ["environment", "hosts", "resolver"];

/// Parses `text`, the plaintext of `file`.
///
/// Errors: INI syntax (the offending line is not quoted), an environment
/// section, an unknown `[batou]` key, a `secret_provider` other than
/// `age`, a host key without `data-`, a component given twice (as
/// `[NAME]` and `[component:NAME]`), an invalid name.
pub fn parse(file: &Path, text: &str) -> Result<Plaintext, ConfigError> {
    let doc = ini::parse(file, text).map_err(|err| hide_line(err, text))?;
    let mut out = Plaintext::default();
    for section in &doc.sections {
        let name = section.name.as_str();
        if name == "batou" {
            batou(section, &mut out)?;
            continue;
        }
        if let Some(host) = name.strip_prefix("host:") {
            check_name("host", host, &section.origin)?;
            out.hosts.insert(host.to_owned(), host_data(section, host)?);
            continue;
        }
        let component = match name.split_once(':') {
            Some(("component", rest)) => rest,
            None if !ENVIRONMENT_SECTIONS.contains(&name) => name,
            _ => {
                return Err(ConfigError::at(
                    &section.origin,
                    format!("`[{name}]` is not allowed in secrets"),
                )
                .with_hint(
                    "secrets hold `[batou]`, `[host:NAME]` (host data) and `[component:NAME]` or `[NAME]` sections of attribute overrides; everything else belongs in the environment file",
                ));
            }
        };
        check_name("component", component, &section.origin)?;
        if let Some(first) = out.components.get(component) {
            return Err(ConfigError::at(
                &section.origin,
                format!(
                    "component `{component}` has two sections in secrets; the first at {}",
                    first.origin
                ),
            )
            .with_hint("`[NAME]` and `[component:NAME]` are the same section; merge them"));
        }
        out.components
            .insert(component.to_owned(), component_section(section));
    }
    Ok(out)
}

fn batou(section: &Section, out: &mut Plaintext) -> Result<(), ConfigError> {
    for entry in &section.entries {
        match entry.key.as_str() {
            "members" => {
                let members = entry
                    .value()
                    .split([',', '\n'])
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned)
                    .collect();
                out.members = Some((members, entry.origin.clone()));
            }
            "secret_provider" => {
                let provider = entry.value();
                if provider.trim() != "age" {
                    return Err(ConfigError::at(
                        &entry.origin,
                        format!("`secret_provider = {}` is not supported: berth reads age-encrypted secrets", provider.trim()),
                    )
                    .with_hint("this file is age-encrypted: set `secret_provider = age` (`berth secrets migrate ENV` converts GPG secrets and does it)"));
                }
            }
            other => {
                return Err(ConfigError::at(
                    &entry.origin,
                    format!("unknown key `{other}` in [batou]"),
                )
                .with_hint("[batou] in secrets takes `members` and `secret_provider`"));
            }
        }
    }
    Ok(())
}

fn host_data(section: &Section, host: &str) -> Result<BTreeMap<String, RawValue>, ConfigError> {
    let mut data = BTreeMap::new();
    for entry in &section.entries {
        let Some(key) = entry.key.strip_prefix("data-") else {
            return Err(ConfigError::at(
                &entry.origin,
                format!("`{}` in [host:{host}] of secrets is not host data", entry.key),
            )
            .with_hint("secrets hold a host's data only: `data-KEY = value`; everything else about a host belongs in the environment file"));
        };
        data.insert(
            key.to_owned(),
            RawValue {
                value: entry.value(),
                origin: entry.origin.clone(),
            },
        );
    }
    Ok(data)
}

/// A syntax error quotes the offending line; in secrets that line may hold
/// a value, so it is replaced by `…` (section headers are left alone).
fn hide_line(mut err: ConfigError, text: &str) -> ConfigError {
    let line = err
        .line
        .and_then(|n| text.lines().nth(n.wrapping_sub(1)))
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('['));
    if let Some(line) = line {
        err.message = err.message.replace(line, "…");
    }
    err
}

/// `text` with `[batou] members` set to `members`: the line (and its
/// continuation lines) replaced, or a `[batou]` section added at the top
/// when there is none. The rest of the text is kept as it is.
pub fn with_members(text: &str, members: &[String]) -> String {
    let value = members.join(",\n    ");
    let new_entry = format!("members = {value}");
    let mut out = Vec::new();
    let mut in_batou = false;
    let mut skipping = false;
    let mut replaced = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if skipping {
            if !trimmed.is_empty() && line.starts_with([' ', '\t']) {
                continue;
            }
            skipping = false;
        }
        if trimmed.starts_with('[') {
            if in_batou && !replaced {
                out.push(new_entry.clone());
                replaced = true;
            }
            in_batou = trimmed == "[batou]";
        } else if in_batou
            && !line.starts_with([' ', '\t'])
            && trimmed
                .split_once(['=', ':'])
                .is_some_and(|(k, _)| k.trim() == "members")
        {
            out.push(new_entry.clone());
            replaced = true;
            skipping = true;
            continue;
        }
        out.push(line.to_owned());
    }
    if in_batou && !replaced {
        out.push(new_entry.clone());
        replaced = true;
    }
    let mut text = out.join("\n");
    text.push('\n');
    if !replaced {
        text = format!("[batou]\n{new_entry}\n\n{text}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batou_sections_read_as_batou_reads_them() {
        let text = "[batou]\nmembers = age1abc,\n    ssh-ed25519 AAAA me@host\nsecret_provider = age\n\n[host:web]\ndata-alias = w1\n\n[app]\npassword = s3cr${et}\n\n[component:db]\nkey = k\n";
        let p = parse(Path::new("s.cfg.age"), text).unwrap();
        let (members, origin) = p.members.clone().unwrap();
        assert_eq!(members, ["age1abc", "ssh-ed25519 AAAA me@host"]);
        assert_eq!(origin.line, 2);
        assert_eq!(p.hosts["web"]["alias"].value, "w1");
        assert_eq!(
            p.components["app"].attributes["password"].value,
            "s3cr${et}"
        );
        assert_eq!(p.components["app"].attributes["password"].origin.line, 10);
        assert_eq!(p.components["db"].attributes["key"].value, "k");
        let debug = format!("{p:?}");
        assert!(!debug.contains("s3cr"), "{debug}");
    }

    #[test]
    fn what_is_refused() {
        let err = |t: &str| parse(Path::new("s"), t).unwrap_err().to_string();
        assert!(err("[hosts]\nweb = a\n").contains("`[hosts]` is not allowed in secrets"));
        assert!(err("[grants:a]\n").contains("`[grants:a]` is not allowed"));
        assert!(
            err("[batou]\nsecret_provider = gpg\n")
                .contains("`secret_provider = gpg` is not supported")
        );
        assert!(err("[batou]\nfoo = 1\n").contains("unknown key `foo` in [batou]"));
        assert!(err("[host:web]\nplatform = x\n").contains("is not host data"));
        assert!(
            err("[a]\nx = 1\n[component:a]\ny = 2\n").contains("component `a` has two sections")
        );
        assert!(err("[component:a b]\n").contains(":1: invalid component name `a b`"));
        let hidden = err("[a]\npassword: hunter2\n");
        assert!(!hidden.contains("hunter2"), "{hidden}");
    }

    #[test]
    fn members_are_replaced_or_added() {
        let t = "# top\n[batou]\nmembers = a,\n    b\nsecret_provider = age\n[app]\nx = 1\n";
        assert_eq!(
            with_members(t, &["c".into(), "d".into()]),
            "# top\n[batou]\nmembers = c,\n    d\nsecret_provider = age\n[app]\nx = 1\n"
        );
        assert_eq!(
            with_members("[app]\nx = 1\n", &["c".into()]),
            "[batou]\nmembers = c\n\n[app]\nx = 1\n"
        );
        assert_eq!(
            with_members("[batou]\nsecret_provider = age\n[app]\n", &["c".into()]),
            "[batou]\nsecret_provider = age\nmembers = c\n[app]\n"
        );
        let p = parse(Path::new("s"), &with_members(t, &["c".into(), "d".into()])).unwrap();
        assert_eq!(p.members.unwrap().0, ["c", "d"]);
    }
}
