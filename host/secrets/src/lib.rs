//! berth's secrets: attribute overrides, host data and files kept
//! age-encrypted beside an environment, the keys that read and write them,
//! and the [`Mask`] that keeps them out of everything berth shows.
//!
//! An environment `environments/<env>/environment.cfg` may have beside it
//!
//! - `secrets.cfg.age` (`<env>.secrets.cfg.age` beside `<env>.cfg`): INI
//!   as batou writes it, `[batou]` (`members`, `secret_provider`),
//!   `[host:NAME]` host data and `[component:NAME]` or bare `[NAME]`
//!   attribute overrides (see [`format`]);
//! - `secret-NAME.age` files: secret files, written by components that
//!   are granted them (`[grants:C] secrets = NAME`) into their own files;
//! - `secrets.recipients`: the public keys berth encrypts to when the
//!   secrets have no `[batou] members`.
//!
//! Everything is decrypted in memory with the identities that
//! [`IdentitySources`] finds (age keys and SSH keys); the plaintext never
//! touches the disk and its buffers are zeroed when dropped. A value is
//! either secret or not: the same attribute or host data in the
//! environment and in secrets is an error. Errors point into the decrypted
//! text by line (`secrets.cfg.age:3` is the third line of the plaintext)
//! and never quote a value.
//!
//! ```no_run
//! use berth_secrets::{IdentitySources, Mask};
//! # fn main() -> Result<(), berth_config::ConfigError> {
//! let env = berth_secrets::load(".".as_ref(), "production", &IdentitySources::from_env(vec![]))?;
//! let mask = env.secrets.as_ref().map(Mask::of).unwrap_or_default();
//! println!("{}", mask.text("a line that may hold a password"));
//! # Ok(())
//! # }
//! ```

// Tests fail loudly by design.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod crypt;
pub mod format;
mod keys;
mod mask;
mod scope;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_config::{ComponentSection, ConfigError, Environment, SecretFile, Secrets};
use zeroize::Zeroizing;

pub use format::Plaintext;
pub use keys::{
    DEFAULT_IDENTITY, IDENTITY_VAR, IdentitySources, SSH_KEYS, encrypt, parse_recipient, recipients,
};
pub use mask::{MASK, Mask, diagnostic};
pub use scope::{Uses, scope};

/// The list of recipients beside a secrets file, used when the secrets have
/// no `[batou] members`.
pub const RECIPIENTS: &str = "secrets.recipients";

/// How a File step's `source` names a secret file instead of a file of the
/// component's definition folder: `secret:tls.key` is `secret-tls.key.age`.
pub const SOURCE_PREFIX: &str = "secret:";

/// The secret file a File step's `source` names, if it names one.
pub fn secret_source(source: &str) -> Option<&str> {
    source.strip_prefix(SOURCE_PREFIX)
}

/// The secrets file of the environment whose file is `env_file`:
/// `secrets.cfg.age` beside `environment.cfg`, or `<env>.secrets.cfg.age`
/// beside `<env>.cfg`.
pub fn secrets_file(env_file: &Path) -> PathBuf {
    let name = env_file.file_name().and_then(|n| n.to_str());
    match name {
        Some("environment.cfg") | None => env_file.with_file_name("secrets.cfg.age"),
        Some(name) => {
            let stem = name.strip_suffix(".cfg").unwrap_or(name);
            env_file.with_file_name(format!("{stem}.secrets.cfg.age"))
        }
    }
}

/// The secret files beside an environment folder's `environment.cfg`:
/// `secret-NAME.age`, by name (the older single-file layout has none).
/// With `gpg`, batou's `secret-NAME.gpg` files instead.
pub fn secret_files(env_file: &Path, gpg: bool) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    if env_file.file_name().and_then(|n| n.to_str()) != Some("environment.cfg") {
        return out;
    }
    let suffix = if gpg { ".gpg" } else { ".age" };
    let Some(dir) = env_file.parent() else {
        return out;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(name) = file
            .to_str()
            .and_then(|n| n.strip_prefix("secret-"))
            .and_then(|n| n.strip_suffix(suffix))
        else {
            continue;
        };
        if !name.is_empty() {
            out.insert(name.to_owned(), entry.path());
        }
    }
    out
}

/// The file of the secret file `name` of the environment at `env_file`.
pub fn secret_file(env_file: &Path, name: &str) -> PathBuf {
    env_file.with_file_name(format!("secret-{name}.age"))
}

/// Loads the environment `env` of `repo` ([`berth_config::load`]), then
/// decrypts its secrets ([`read`]) into [`Environment::secrets`]; the
/// engine adds their host data to the hosts'. Without secrets no identity
/// is read.
///
/// Errors: those of [`berth_config::load`] and [`read`]; host data in
/// secrets for a host the environment does not have, or also set in the
/// environment.
pub fn load(
    repo: &Path,
    env: &str,
    identities: &IdentitySources,
) -> Result<Environment, ConfigError> {
    let mut environment = berth_config::load(repo, env)?;
    environment.secrets = read(&environment, identities)?;
    if let Some(secrets) = &environment.secrets {
        mask::hide_in_diagnostics(Mask::of(secrets));
    }
    Ok(environment)
}

/// Reads and decrypts the secrets of `env`: its secrets file and secret
/// files, when it has any.
///
/// Errors: a plaintext secrets file lying beside it (it would be committed
/// by mistake); GPG-encrypted secrets (with how to convert them); no
/// identity found (naming where berth looked); an identity file that
/// cannot be read or holds no identity; a file that is not an age file, is
/// passphrase-encrypted, or is damaged; no identity that decrypts it
/// (naming whom it is encrypted to); plaintext that is not UTF-8; any
/// error of [`format::parse`]; an attribute also set in the environment
/// (naming both places).
pub fn read(
    env: &Environment,
    identities: &IdentitySources,
) -> Result<Option<Secrets>, ConfigError> {
    let file = secrets_file(&env.file);
    let plain = file.with_extension("");
    if plain.is_file() {
        return Err(ConfigError::in_file(
            &plain,
            "a plaintext secrets file is not read: secrets must be encrypted",
        )
        .with_hint(format!(
            "encrypt it with `berth secrets edit {}` (paste it in) or `age -R {} -o {} {}`, and delete it",
            env.name,
            file.with_file_name(RECIPIENTS).display(),
            file.display(),
            plain.display()
        )));
    }
    let gpg = file.with_extension("gpg");
    if gpg.is_file() {
        return Err(crypt::gpg_refused(&gpg));
    }
    if let Some(path) = secret_files(&env.file, true).into_values().next() {
        return Err(crypt::gpg_refused(&path));
    }
    let paths = secret_files(&env.file, false);
    if !file.exists() && paths.is_empty() {
        return Ok(None);
    }
    let first = if file.exists() {
        file.clone()
    } else {
        paths
            .values()
            .next()
            .cloned()
            .unwrap_or_else(|| file.clone())
    };
    let keys = keys::Keys::read(identities, &first)?;
    let mut listed = listed_quietly(&file);
    let mut secrets = Secrets {
        file: file.clone(),
        ..Secrets::default()
    };
    if file.exists() {
        let text = decrypt_text(&file, &keys, &listed)?;
        let parsed = format::parse(&file, &text)?;
        check_overlap(env, &parsed)?;
        if let Some((members, _)) = &parsed.members {
            listed.clone_from(members);
        }
        secrets.components = parsed.components;
        secrets.hosts = parsed.hosts;
    }
    for (name, path) in paths {
        let bytes = read_bytes(&path)?;
        let content = crypt::decrypt(&path, &bytes, &keys, &listed)?;
        secrets.files.insert(name, SecretFile { path, content });
    }
    Ok(Some(secrets))
}

/// Checks `text`, the would-be plaintext of `env`'s secrets file, as
/// [`read`] would check it once encrypted.
///
/// Errors: as for the content of the file in [`read`].
pub fn check(env: &Environment, text: &str) -> Result<Plaintext, ConfigError> {
    let file = secrets_file(&env.file);
    let parsed = format::parse(&file, text)?;
    check_overlap(env, &parsed)?;
    Ok(parsed)
}

/// The plaintext of the age file `file`, decrypted in memory with the
/// identities `identities` names; `None` when there is no such file.
/// The bytes are zeroed when dropped.
///
/// Errors: as for decryption in [`read`].
pub fn decrypt_file(
    file: &Path,
    identities: &IdentitySources,
) -> Result<Option<Zeroizing<Vec<u8>>>, ConfigError> {
    if !file.exists() {
        return Ok(None);
    }
    let keys = keys::Keys::read(identities, file)?;
    let bytes = read_bytes(file)?;
    let secrets = file.with_file_name("secrets.cfg.age");
    let listed = listed_quietly(&secrets);
    crypt::decrypt(file, &bytes, &keys, &listed).map(Some)
}

/// The recipients of an environment's secrets: `[batou] members` of the
/// decrypted secrets when it has them (`plaintext`), else the lines of
/// `secrets.recipients` beside `file`; and where they came from.
///
/// Errors: neither lists a recipient; a recipient that is not an `age1…`
/// key or an SSH public key (naming where it is listed).
pub fn recipients_of(
    file: &Path,
    plaintext: Option<&Plaintext>,
) -> Result<(Vec<String>, String), ConfigError> {
    if let Some((members, origin)) = plaintext.and_then(|p| p.members.as_ref())
        && !members.is_empty()
    {
        for m in members {
            parse_recipient(m)
                .map_err(|e| ConfigError::at(origin, format!("in [batou] members: {e}")))?;
        }
        return Ok((members.clone(), format!("[batou] members ({origin})")));
    }
    let list = file.with_file_name(RECIPIENTS);
    let hint = format!(
        "list the public keys (`age-keygen -y KEYFILE`, or an SSH public key) of everyone who may read `{}` in `{}`, one per line, or add them with `berth secrets add KEY`",
        file.display(),
        list.display()
    );
    let text = std::fs::read_to_string(&list).map_err(|e| {
        ConfigError::in_file(&list, format!("cannot read the recipients: {e}"))
            .with_hint(hint.clone())
    })?;
    let recipients = recipient_lines(&text);
    if recipients.is_empty() {
        return Err(ConfigError::in_file(&list, "lists no recipient").with_hint(hint));
    }
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        parse_recipient(line)
            .map_err(|e| ConfigError::at(&berth_config::Origin::new(&list, i + 1), e))?;
    }
    Ok((recipients, format!("`{}`", list.display())))
}

/// The non-blank, non-comment lines of a recipients list, trimmed.
pub fn recipient_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// `secrets.recipients` beside `file`, or nothing: for error messages.
fn listed_quietly(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file.with_file_name(RECIPIENTS))
        .map(|t| recipient_lines(&t))
        .unwrap_or_default()
}

fn read_bytes(file: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(file).map_err(|e| ConfigError::in_file(file, format!("cannot read: {e}")))
}

fn decrypt_text(
    file: &Path,
    keys: &keys::Keys,
    listed: &[String],
) -> Result<Zeroizing<String>, ConfigError> {
    let bytes = read_bytes(file)?;
    let mut plain = crypt::decrypt(file, &bytes, keys, listed)?;
    utf8(file, std::mem::take(&mut *plain))
}

/// The plaintext as text; the bytes are zeroed whatever happens.
pub fn utf8(file: &Path, bytes: Vec<u8>) -> Result<Zeroizing<String>, ConfigError> {
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Zeroizing::new(text)),
        Err(e) => {
            drop(Zeroizing::new(e.into_bytes()));
            Err(ConfigError::in_file(
                file,
                "the decrypted text is not UTF-8",
            ))
        }
    }
}

/// The same attribute set in the environment and in secrets is an error;
/// so is host data in both.
fn check_overlap(env: &Environment, secrets: &Plaintext) -> Result<(), ConfigError> {
    check_components(env, &secrets.components)?;
    for (host, data) in &secrets.hosts {
        let Some(h) = env.hosts.iter().find(|h| h.name == *host) else {
            let names = env.hosts.iter().map(|h| h.name.as_str());
            let first = data.values().next();
            let err = match first {
                Some(raw) => ConfigError::at(
                    &raw.origin,
                    format!("`[host:{host}]` in secrets: the environment has no host `{host}`"),
                ),
                None => ConfigError::in_file(
                    &env.file,
                    format!("`[host:{host}]` in secrets: the environment has no host `{host}`"),
                ),
            };
            return Err(err.with_hint_opt(
                berth_config::did_you_mean(host, names).map(|n| format!("did you mean `{n}`?")),
            ));
        };
        for (key, raw) in data {
            if h.data.contains_key(key) {
                return Err(ConfigError::at(
                    &raw.origin,
                    format!("host data `data-{key}` of host `{host}` is set both in secrets and in the environment ({})", env.file.display()),
                )
                .with_hint(format!("remove one of them: `data-{key}` is either a secret or not")));
            }
        }
    }
    Ok(())
}

fn check_components(
    env: &Environment,
    secrets: &BTreeMap<String, ComponentSection>,
) -> Result<(), ConfigError> {
    for (component, section) in secrets {
        let Some(plain) = env.components.get(component) else {
            continue;
        };
        for (key, secret) in &section.attributes {
            if let Some(value) = plain.attributes.get(key) {
                return Err(ConfigError::at(
                    &secret.origin,
                    format!(
                        "attribute `{key}` of component `{component}` is set both in secrets and in the environment, at {}",
                        value.origin
                    ),
                )
                .with_hint(format!(
                    "remove one of them: `{key}` is either a secret or not"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
