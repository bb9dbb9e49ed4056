//! Secrets: attribute overrides kept age-encrypted beside the environment.
//!
//! `environments/<env>/secrets.cfg.age` (for the older single-file layout,
//! `environments/<env>.secrets.cfg.age`) is an [age](https://age-encryption.org)
//! file whose plaintext is INI with `[component:NAME]` sections only, written
//! like the environment's: `key = value`, multi-line values, comments. Values
//! are taken literally (no `${…}` substitution, so a password may contain
//! `${`). A secret wins over the component's default; setting the same
//! attribute in the environment (or a file it `extends`) and in secrets is an
//! error, so a value is either secret or not.
//!
//! The file is decrypted in memory with X25519 identities (`age-keygen`
//! keys) found as [`IdentitySources`] says; the plaintext never touches the
//! disk and its buffers are zeroed when dropped. No secrets file, no
//! identity needed.
//!
//! Errors point into the decrypted text by line (`secrets.cfg.age:3` is the
//! third line of the plaintext) and never quote a value.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::x25519;
use zeroize::Zeroizing;

use crate::build::{SectionKind, classify, component_section};
use crate::error::{ConfigError, Origin};
use crate::model::{ComponentSection, Environment};

/// What `berth show` prints instead of a secret value.
pub const MASK: &str = "********";

/// The environment variable that names an identity file.
pub const IDENTITY_VAR: &str = "BERTH_AGE_IDENTITY";

/// The default identity file, below the user's configuration folder.
pub const DEFAULT_IDENTITY: &str = "berth/age/keys.txt";

/// The name of the recipients list beside a secrets file, read only for
/// hints (and by `age -R` when you encrypt).
const RECIPIENTS: &str = "secrets.recipients";

/// The decrypted `[component:NAME]` sections of an environment's secrets.
///
/// Its `Debug` output lists files, components and attribute names, never
/// values, so a secret cannot reach a log through `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secrets {
    /// The encrypted file the values were decrypted from.
    pub file: PathBuf,
    /// The sections by component name; origins are lines of the plaintext.
    pub components: BTreeMap<String, ComponentSection>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: BTreeMap<&str, Vec<&str>> = self
            .components
            .iter()
            .map(|(c, s)| {
                (
                    c.as_str(),
                    s.attributes.keys().map(String::as_str).collect(),
                )
            })
            .collect();
        f.debug_struct("Secrets")
            .field("file", &self.file)
            .field("components", &names)
            .finish_non_exhaustive()
    }
}

/// Where to look for age identities, in this order; the first source that
/// is given is the only one read:
///
/// 1. [`files`](Self::files): `--identity FILE`, repeatable;
/// 2. [`variable`](Self::variable): the file named by `BERTH_AGE_IDENTITY`;
/// 3. [`default`](Self::default): `$XDG_CONFIG_HOME/berth/age/keys.txt`, else
///    `~/.config/berth/age/keys.txt`, when that file exists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentitySources {
    /// Identity files given on the command line.
    pub files: Vec<PathBuf>,
    /// The value of `BERTH_AGE_IDENTITY`, when set and not empty.
    pub variable: Option<PathBuf>,
    /// The default identity file, when a home or configuration folder is known.
    pub default: Option<PathBuf>,
}

impl IdentitySources {
    /// `files` from the command line, then this process's
    /// `BERTH_AGE_IDENTITY`, `XDG_CONFIG_HOME` and `HOME`.
    pub fn from_env(files: Vec<PathBuf>) -> Self {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let config = var("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| var("HOME").map(|home| Path::new(&home).join(".config")));
        IdentitySources {
            files,
            variable: var(IDENTITY_VAR).map(PathBuf::from),
            default: config.map(|dir| dir.join(DEFAULT_IDENTITY)),
        }
    }

    /// Exactly these files, nothing from the process environment.
    pub fn only(files: Vec<PathBuf>) -> Self {
        IdentitySources {
            files,
            variable: None,
            default: None,
        }
    }

    /// The identity files to read, or why there are none.
    fn choose(&self, secrets: &Path) -> Result<Vec<PathBuf>, ConfigError> {
        if !self.files.is_empty() {
            return Ok(self.files.clone());
        }
        if let Some(file) = &self.variable {
            return Ok(vec![file.clone()]);
        }
        match &self.default {
            Some(file) if file.is_file() => Ok(vec![file.clone()]),
            default => {
                let looked = match default {
                    Some(file) => format!("`{}` does not exist", file.display()),
                    None => {
                        "no default file (neither `HOME` nor `XDG_CONFIG_HOME` is set)".to_owned()
                    }
                };
                Err(ConfigError::in_file(
                    secrets,
                    format!(
                        "no age identity to decrypt it: no `--identity` given, `{IDENTITY_VAR}` is not set, and {looked}"
                    ),
                )
                .with_hint(format!(
                    "pass `--identity FILE` or set `{IDENTITY_VAR}=FILE` to your age key; or put it in the default place (`age-keygen -o {}`)",
                    default.as_deref().map_or_else(
                        || format!("~/.config/{DEFAULT_IDENTITY}"),
                        |p| p.display().to_string()
                    )
                )))
            }
        }
    }
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

/// Reads and decrypts the secrets of `env`, when it has a secrets file.
///
/// Errors: a plaintext secrets file lying beside it (it would be committed
/// by mistake); no identity found (naming where berth looked); an identity
/// file that cannot be read or holds no age identity; a file that is not an
/// age file, is passphrase-encrypted, or is damaged; no identity that
/// decrypts it (with the recipients it is meant for, when
/// `secrets.recipients` lists them); plaintext that is not UTF-8; any INI
/// syntax error; a section other than `[component:NAME]`; an attribute also
/// set in the environment (naming both places).
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
            "encrypt it to `{}` (`age -R {} -o {} {}`) and delete it",
            file.display(),
            file.with_file_name(RECIPIENTS).display(),
            file.display(),
            plain.display()
        )));
    }
    let Some(text) = decrypt_file(&file, identities)? else {
        return Ok(None);
    };
    let components = parse(&file, &text)?;
    check_overlap(env, &components)?;
    Ok(Some(Secrets { file, components }))
}

/// Checks `text`, the would-be plaintext of `env`'s secrets file, as
/// [`read`] would check it once encrypted.
///
/// Errors: as for the content of the file in [`read`].
pub fn check(env: &Environment, text: &str) -> Result<(), ConfigError> {
    let components = parse(&secrets_file(&env.file), text)?;
    check_overlap(env, &components)
}

/// The plaintext of the age file `file`, decrypted in memory with the
/// identities `identities` names; `None` when there is no such file.
/// The text is zeroed when dropped.
///
/// Errors: as for decryption in [`read`].
pub fn decrypt_file(
    file: &Path,
    identities: &IdentitySources,
) -> Result<Option<Zeroizing<String>>, ConfigError> {
    let bytes = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ConfigError::in_file(file, format!("cannot read: {e}"))),
    };
    let keys = identities
        .choose(file)?
        .iter()
        .map(|path| read_identities(path))
        .collect::<Result<Vec<_>, _>>()?;
    decrypt(file, &bytes, &keys).map(Some)
}

/// The recipients listed in `secrets.recipients` beside the secrets file
/// `file`: one `age1…` public key per line, `#` comments.
///
/// Errors: the list is missing, unreadable or empty.
pub fn listed_recipients(file: &Path) -> Result<Vec<String>, ConfigError> {
    let list = file.with_file_name(RECIPIENTS);
    let hint = format!(
        "list the public keys (`age-keygen -y KEYFILE`) of everyone who may read `{}` in `{}`, one per line",
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
    Ok(recipients)
}

/// The non-blank, non-comment lines of a recipients list, trimmed.
fn recipient_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// The identities of one identity file, with the file's path.
struct IdentityFile {
    path: PathBuf,
    identities: Vec<x25519::Identity>,
}

/// Reads `path`: `AGE-SECRET-KEY-1…` lines, blank lines and `#` comments,
/// as `age-keygen` writes them.
fn read_identities(path: &Path) -> Result<IdentityFile, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|e| {
            ConfigError::in_file(path, format!("cannot read the age identity file: {e}"))
        })?;
    let mut identities = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // The error names the line, never its content: it may be a key.
        let identity = x25519::Identity::from_str(line).map_err(|_| {
            ConfigError::at(&Origin::new(path, i + 1), "not an age identity")
                .with_hint("berth reads X25519 identities (`AGE-SECRET-KEY-1…` lines, as `age-keygen` writes them); SSH keys and plugins are not supported")
        })?;
        identities.push(identity);
    }
    if identities.is_empty() {
        return Err(ConfigError::in_file(path, "holds no age identity")
            .with_hint("create one with `age-keygen -o FILE`"));
    }
    Ok(IdentityFile {
        path: path.to_path_buf(),
        identities,
    })
}

/// Decrypts `bytes`, the content of `file` (binary or ASCII-armored age).
fn decrypt(
    file: &Path,
    bytes: &[u8],
    keys: &[IdentityFile],
) -> Result<Zeroizing<String>, ConfigError> {
    let damaged = |what: String| {
        ConfigError::in_file(file, what)
            .with_hint("restore it from version control, or encrypt it anew with `age`")
    };
    // Reading from memory, any error here is the header's; age's own
    // messages for it span lines and suggest upgrading age.
    let decryptor = age::Decryptor::new(age::armor::ArmoredReader::new(bytes)).map_err(|_| {
        damaged("not an age file, or a damaged one (its header does not read)".to_owned())
    })?;
    if decryptor.is_scrypt() {
        return Err(ConfigError::in_file(
            file,
            "is encrypted with a passphrase; berth decrypts files encrypted to recipients",
        )
        .with_hint(format!(
            "encrypt it to your public key instead: `age -r age1… -o {} PLAINTEXT`",
            file.display()
        )));
    }
    let identities = keys
        .iter()
        .flat_map(|k| &k.identities)
        .map(|i| i as &dyn age::Identity);
    let mut reader = match decryptor.decrypt(identities) {
        Ok(reader) => reader,
        Err(age::DecryptError::NoMatchingKeys) => return Err(no_match(file, keys)),
        Err(e) => return Err(damaged(format!("cannot decrypt: {e}"))),
    };
    let mut plain = Zeroizing::new(Vec::new());
    reader
        .read_to_end(&mut plain)
        .map_err(|e| damaged(format!("cannot decrypt: {e}")))?;
    match String::from_utf8(std::mem::take(&mut *plain)) {
        Ok(text) => Ok(Zeroizing::new(text)),
        Err(e) => {
            // Zero the bytes that did not make a string, too.
            drop(Zeroizing::new(e.into_bytes()));
            Err(ConfigError::in_file(
                file,
                "the decrypted text is not UTF-8",
            ))
        }
    }
}

/// None of the identities decrypts `file`: say which were tried, and whom
/// the file should be encrypted to.
fn no_match(file: &Path, keys: &[IdentityFile]) -> ConfigError {
    let tried = keys
        .iter()
        .map(|k| {
            let publics = k
                .identities
                .iter()
                .map(|i| i.to_public().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            format!("`{}` ({publics})", k.path.display())
        })
        .collect::<Vec<_>>()
        .join(", ");
    let recipients_file = file.with_file_name(RECIPIENTS);
    let listed = std::fs::read_to_string(&recipients_file)
        .map(|text| recipient_lines(&text))
        .unwrap_or_default();
    let hint = if listed.is_empty() {
        "ask someone who can decrypt it to add your public key (`age-keygen -y KEYFILE`) to its recipients and encrypt it again".to_owned()
    } else {
        format!(
            "`{}` lists its recipients: {}; use the identity of one of them, or have your public key added and the file encrypted again",
            recipients_file.display(),
            listed.join(", ")
        )
    };
    ConfigError::in_file(
        file,
        format!("none of the age identities can decrypt it; tried {tried}"),
    )
    .with_hint(hint)
}

/// The `[component:NAME]` sections of the decrypted `text`.
fn parse(file: &Path, text: &str) -> Result<BTreeMap<String, ComponentSection>, ConfigError> {
    let doc = crate::ini::parse(file, text).map_err(|err| hide_line(err, text))?;
    let mut components = BTreeMap::new();
    for section in &doc.sections {
        // Other section names are refused whatever they are, so that a
        // misspelt `[component:…]` is not taken for an environment section.
        let kind = if section.name.starts_with("component:") {
            Some(classify(section)?)
        } else {
            None
        };
        let Some(SectionKind::Component(name)) = kind else {
            return Err(ConfigError::at(
                &section.origin,
                format!("`[{}]` is not allowed in secrets", section.name),
            )
            .with_hint(
                "secrets hold only `[component:NAME]` sections of attribute overrides; everything else belongs in the environment file",
            ));
        };
        components.insert(name.to_owned(), component_section(section));
    }
    Ok(components)
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

/// The same attribute set in the environment and in secrets is an error.
fn check_overlap(
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

/// The public keys (`age1…` recipients) of the identities in the identity
/// file `path`, as `age-keygen -y` prints them.
///
/// Errors: as for an identity file in [`read`].
pub fn recipients(path: &Path) -> Result<Vec<String>, ConfigError> {
    Ok(read_identities(path)?
        .identities
        .iter()
        .map(|i| i.to_public().to_string())
        .collect())
}

/// Encrypts `plaintext` to `recipients` (`age1…` public keys), as
/// `age -r RECIPIENT…` would.
///
/// Errors: no recipient, or one that is not an X25519 `age1…` key.
pub fn encrypt(plaintext: &[u8], recipients: &[&str]) -> Result<Vec<u8>, String> {
    let parsed = recipients
        .iter()
        .map(|r| {
            x25519::Recipient::from_str(r.trim())
                .map_err(|e| format!("`{r}` is not an age recipient: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let encryptor =
        age::Encryptor::with_recipients(parsed.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| format!("cannot encrypt: {e}"))?;
    let mut out = Vec::new();
    let mut writer = encryptor
        .wrap_output(&mut out)
        .map_err(|e| format!("cannot encrypt: {e}"))?;
    writer
        .write_all(plaintext)
        .and_then(|()| writer.finish().map(drop))
        .map_err(|e| format!("cannot encrypt: {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AGE-SECRET-KEY-1X5GTT3VHGJUXL2P0H3NHN9JXDXHAJYFVND6QJAML0KYDW3VDCVJQ6J8QQD";
    const PUBLIC: &str = "age1rfck70qf4e5jfnh9m5t3vnkw9e7wne8ejcllraxrpqft882f64vs8l0j8d";

    struct Repo {
        dir: tempfile::TempDir,
    }

    impl Repo {
        fn new(env: &str) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let repo = Repo { dir };
            repo.write("environments/test/environment.cfg", env.as_bytes());
            repo.write("keys.txt", format!("# test\n{KEY}\n").as_bytes());
            repo
        }

        fn path(&self, rel: &str) -> PathBuf {
            self.dir.path().join(rel)
        }

        fn write(&self, rel: &str, bytes: &[u8]) {
            let path = self.path(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }

        fn secrets(&self, plaintext: &str) {
            let bytes = encrypt(plaintext.as_bytes(), &[PUBLIC]).unwrap();
            self.write("environments/test/secrets.cfg.age", &bytes);
        }

        fn read(&self) -> Result<Option<Secrets>, ConfigError> {
            let env = crate::load(self.dir.path(), "test").unwrap();
            read(&env, &IdentitySources::only(vec![self.path("keys.txt")]))
        }

        fn err(&self) -> String {
            let prefix = format!("{}/", self.dir.path().display());
            self.read().unwrap_err().to_string().replace(&prefix, "")
        }
    }

    #[test]
    fn file_names_for_both_layouts() {
        assert_eq!(
            secrets_file(Path::new("environments/prod/environment.cfg")),
            Path::new("environments/prod/secrets.cfg.age")
        );
        assert_eq!(
            secrets_file(Path::new("environments/prod.cfg")),
            Path::new("environments/prod.secrets.cfg.age")
        );
    }

    #[test]
    fn no_file_needs_no_identity() {
        let repo = Repo::new("[environment]\n");
        let env = crate::load(repo.dir.path(), "test").unwrap();
        let none = IdentitySources::default();
        assert_eq!(read(&env, &none).unwrap(), None);
    }

    #[test]
    fn decrypts_component_sections_with_plaintext_lines() {
        let repo = Repo::new("[component:app]\nport = 1\n");
        repo.secrets(
            "# db\n[component:app]\npassword = s3cr${et}\n\n[component:db]\nkeys =\n    a\n    b\n",
        );
        let secrets = repo.read().unwrap().unwrap();
        let app = &secrets.components["app"];
        assert_eq!(app.attributes["password"].value, "s3cr${et}");
        assert_eq!(app.attributes["password"].origin.line, 3);
        assert_eq!(secrets.components["db"].attributes["keys"].value, "a\nb");
        let debug = format!("{secrets:?}");
        assert!(!debug.contains("s3cr"), "{debug}");
        assert!(debug.contains("password"), "{debug}");
    }

    #[test]
    fn armored_files_decrypt_too() {
        let repo = Repo::new("");
        let bytes = encrypt(b"[component:a]\nx = 1\n", &[PUBLIC]).unwrap();
        let mut armored = Vec::new();
        let mut w =
            age::armor::ArmoredWriter::wrap_output(&mut armored, age::armor::Format::AsciiArmor)
                .unwrap();
        w.write_all(&bytes).unwrap();
        w.finish().unwrap();
        repo.write("environments/test/secrets.cfg.age", &armored);
        assert_eq!(
            repo.read().unwrap().unwrap().components["a"].attributes["x"].value,
            "1"
        );
    }

    #[test]
    fn only_component_sections() {
        let repo = Repo::new("");
        repo.secrets("[component:a]\nx = 1\n[hosts]\nweb = a\n");
        assert_eq!(
            repo.err(),
            "environments/test/secrets.cfg.age:3: `[hosts]` is not allowed in secrets\n  hint: secrets hold only `[component:NAME]` sections of attribute overrides; everything else belongs in the environment file"
        );
        repo.secrets("[component:a b]\n");
        assert!(repo.err().contains(":1: invalid component name `a b`"));
    }

    #[test]
    fn syntax_errors_hide_the_line() {
        let repo = Repo::new("");
        repo.secrets("[component:a]\npassword: hunter2\n");
        let err = repo.err();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(
            err.starts_with("environments/test/secrets.cfg.age:2: expected `key = value`"),
            "{err}"
        );
    }

    #[test]
    fn same_key_in_environment_is_an_error_naming_both() {
        let repo = Repo::new("[component:a]\nx = 1\ny = 2\n");
        repo.secrets("[component:a]\ny = 3\n");
        assert_eq!(
            repo.err(),
            "environments/test/secrets.cfg.age:2: attribute `y` of component `a` is set both in secrets and in the environment, at environments/test/environment.cfg:3\n  hint: remove one of them: `y` is either a secret or not"
        );
    }

    #[test]
    fn plaintext_beside_is_refused() {
        let repo = Repo::new("");
        repo.write("environments/test/secrets.cfg", b"[component:a]\n");
        let err = repo.err();
        assert!(
            err.starts_with("environments/test/secrets.cfg: a plaintext secrets file is not read"),
            "{err}"
        );
    }

    #[test]
    fn identity_lookup_order_and_errors() {
        let repo = Repo::new("");
        repo.secrets("[component:a]\nx = 1\n");
        let env = crate::load(repo.dir.path(), "test").unwrap();
        let keys = repo.path("keys.txt");
        let missing = repo.path("nowhere/keys.txt");
        // The variable wins over the default, the command line over both.
        let sources = IdentitySources {
            files: vec![],
            variable: Some(keys.clone()),
            default: Some(missing.clone()),
        };
        assert!(read(&env, &sources).unwrap().is_some());
        let sources = IdentitySources {
            files: vec![keys.clone()],
            variable: Some(missing.clone()),
            default: None,
        };
        assert!(read(&env, &sources).unwrap().is_some());
        let sources = IdentitySources {
            files: vec![],
            variable: None,
            default: Some(keys.clone()),
        };
        assert!(read(&env, &sources).unwrap().is_some());
        let err = read(&env, &IdentitySources::only(vec![]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no age identity to decrypt it"), "{err}");
        assert!(err.contains("neither `HOME` nor"), "{err}");
        let err = read(
            &env,
            &IdentitySources {
                default: Some(missing.clone()),
                ..IdentitySources::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(&format!("`{}` does not exist", missing.display())),
            "{err}"
        );
        assert!(err.contains("hint: pass `--identity FILE`"), "{err}");
        let err = read(&env, &IdentitySources::only(vec![missing.clone()]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot read the age identity file"), "{err}");
    }

    #[test]
    fn bad_identity_files_name_the_line_not_the_content() {
        let repo = Repo::new("");
        repo.secrets("[component:a]\n");
        repo.write("keys.txt", b"# mine\n-----BEGIN OPENSSH PRIVATE KEY-----\n");
        let err = repo.err();
        assert!(err.starts_with("keys.txt:2: not an age identity"), "{err}");
        assert!(!err.contains("BEGIN"), "{err}");
        repo.write("keys.txt", b"# nothing\n\n");
        assert!(repo.err().starts_with("keys.txt: holds no age identity"));
    }

    #[test]
    fn wrong_identity_names_what_was_tried_and_the_recipients() {
        let repo = Repo::new("");
        let other = x25519::Identity::generate();
        repo.write(
            "environments/test/secrets.cfg.age",
            &encrypt(b"[component:a]\n", &[&other.to_public().to_string()]).unwrap(),
        );
        let err = repo.err();
        assert!(
            err.starts_with(&format!(
                "environments/test/secrets.cfg.age: none of the age identities can decrypt it; tried `keys.txt` ({PUBLIC})"
            )),
            "{err}"
        );
        assert!(err.contains("age-keygen -y"), "{err}");
        repo.write(
            "environments/test/secrets.recipients",
            format!("# ops\n{}\n", other.to_public()).as_bytes(),
        );
        let err = repo.err();
        assert!(
            err.contains(&format!(
                "`environments/test/secrets.recipients` lists its recipients: {}",
                other.to_public()
            )),
            "{err}"
        );
    }

    #[test]
    fn damaged_and_passphrase_files() {
        let repo = Repo::new("");
        repo.write("environments/test/secrets.cfg.age", b"[component:a]\n");
        let err = repo.err();
        assert!(
            err.contains("secrets.cfg.age: not an age file, or a damaged one"),
            "{err}"
        );
        let mut bytes = encrypt(b"[component:a]\nx = 1\n", &[PUBLIC]).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        repo.write("environments/test/secrets.cfg.age", &bytes);
        let err = repo.err();
        assert!(err.contains("secrets.cfg.age: cannot decrypt"), "{err}");
        assert!(err.contains("hint: restore it"), "{err}");
        let encryptor = age::Encryptor::with_user_passphrase("pw".to_owned().into());
        let mut out = Vec::new();
        let mut w = encryptor.wrap_output(&mut out).unwrap();
        w.write_all(b"[component:a]\n").unwrap();
        w.finish().unwrap();
        repo.write("environments/test/secrets.cfg.age", &out);
        assert!(repo.err().contains("is encrypted with a passphrase"));
    }

    #[test]
    fn encrypt_refuses_bad_recipients() {
        assert!(encrypt(b"x", &[]).unwrap_err().contains("cannot encrypt"));
        assert!(
            encrypt(b"x", &["ssh-ed25519 AAAA"])
                .unwrap_err()
                .contains("is not an age recipient")
        );
    }
}
