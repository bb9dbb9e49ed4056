//! Scope: a host receives only the secrets its own components use.

use std::collections::BTreeSet;

use berth_config::Secrets;

/// What the roots of one host use: the host, its root components, and the
/// secret files their steps write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Uses {
    /// The host's name.
    pub host: String,
    /// The root components deployed to it.
    pub components: BTreeSet<String>,
    /// The secret files (`secret-NAME.age`) their File steps name.
    pub files: BTreeSet<String>,
}

/// Only the part of `secrets` that `uses` needs: the overrides of its
/// components, its host's data, the secret files its steps name. This is
/// what goes into a host's plan; batou sends every secret to every host.
pub fn scope(secrets: &Secrets, uses: &Uses) -> Secrets {
    Secrets {
        file: secrets.file.clone(),
        components: secrets
            .components
            .iter()
            .filter(|(name, _)| uses.components.contains(*name))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        hosts: secrets
            .hosts
            .iter()
            .filter(|(name, _)| **name == uses.host)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        files: secrets
            .files
            .iter()
            .filter(|(name, _)| uses.files.contains(*name))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}
