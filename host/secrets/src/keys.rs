//! Identities (who can decrypt) and recipients (to whom berth encrypts).
//!
//! Identities are age X25519 keys (`AGE-SECRET-KEY-1…` lines, as
//! `age-keygen` writes them) and OpenSSH private keys (ed25519, rsa), the
//! way batou's age secrets and `age -i` take them. A passphrase-protected
//! SSH key is decrypted only when a file is encrypted to it, after asking
//! for the passphrase on the terminal once per run.
//!
//! Recipients are `age1…` public keys and SSH public keys (`ssh-ed25519
//! AAAA… comment`, `ssh-rsa AAAA… comment`).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;

use age::secrecy::SecretString;
use age::{ssh, x25519};
use base64::Engine as _;
use berth_config::{ConfigError, Origin};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The environment variable that names an identity file.
pub const IDENTITY_VAR: &str = "BERTH_AGE_IDENTITY";

/// The default identity file, below the user's configuration folder.
pub const DEFAULT_IDENTITY: &str = "berth/age/keys.txt";

/// The SSH keys tried after the default identity file, below `~/.ssh`.
pub const SSH_KEYS: [&str; 2] = ["id_ed25519", "id_rsa"];

/// Where to look for identities, in this order:
///
/// 1. [`files`](Self::files): `--identity FILE`, repeatable; only these;
/// 2. [`variable`](Self::variable): the file named by `BERTH_AGE_IDENTITY`;
///    only it;
/// 3. otherwise every one of [`default`](Self::default)
///    (`$XDG_CONFIG_HOME/berth/age/keys.txt`, else
///    `~/.config/berth/age/keys.txt`) and [`ssh`](Self::ssh)
///    (`~/.ssh/id_ed25519`, `~/.ssh/id_rsa`) that exists.
///
/// Each file may hold age identities or one OpenSSH private key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentitySources {
    /// Identity files given on the command line.
    pub files: Vec<PathBuf>,
    /// The value of `BERTH_AGE_IDENTITY`, when set and not empty.
    pub variable: Option<PathBuf>,
    /// The default identity file, when a home or configuration folder is known.
    pub default: Option<PathBuf>,
    /// The user's SSH keys to try after the default file.
    pub ssh: Vec<PathBuf>,
}

impl IdentitySources {
    /// `files` from the command line, then this process's
    /// `BERTH_AGE_IDENTITY`, `XDG_CONFIG_HOME` and `HOME`.
    pub fn from_env(files: Vec<PathBuf>) -> Self {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let home = var("HOME").map(PathBuf::from);
        let config = var("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| home.as_ref().map(|home| home.join(".config")));
        IdentitySources {
            files,
            variable: var(IDENTITY_VAR).map(PathBuf::from),
            default: config.map(|dir| dir.join(DEFAULT_IDENTITY)),
            ssh: home
                .map(|home| SSH_KEYS.iter().map(|k| home.join(".ssh").join(k)).collect())
                .unwrap_or_default(),
        }
    }

    /// Exactly these files, nothing from the process environment.
    pub fn only(files: Vec<PathBuf>) -> Self {
        IdentitySources {
            files,
            ..IdentitySources::default()
        }
    }

    /// The identity files to read, each with whether it must read (the
    /// user's SSH keys, found by name, are skipped when berth cannot use
    /// them), or why there are none; `for_file` is the encrypted file they
    /// are wanted for.
    pub(crate) fn choose(&self, for_file: &Path) -> Result<Vec<(PathBuf, bool)>, ConfigError> {
        if !self.files.is_empty() {
            return Ok(self.files.iter().map(|f| (f.clone(), true)).collect());
        }
        if let Some(file) = &self.variable {
            return Ok(vec![(file.clone(), true)]);
        }
        let found: Vec<(PathBuf, bool)> = self
            .default
            .iter()
            .map(|p| (p, true))
            .chain(self.ssh.iter().map(|p| (p, false)))
            .filter(|(p, _)| p.is_file())
            .map(|(p, must)| (p.clone(), must))
            .collect();
        if !found.is_empty() {
            return Ok(found);
        }
        let looked = match &self.default {
            Some(file) => format!("`{}` does not exist", file.display()),
            None => "no default file (neither `HOME` nor `XDG_CONFIG_HOME` is set)".to_owned(),
        };
        let ssh = if self.ssh.is_empty() {
            String::new()
        } else {
            format!(
                ", nor does {}",
                self.ssh
                    .iter()
                    .map(|p| format!("`{}`", p.display()))
                    .collect::<Vec<_>>()
                    .join(" or ")
            )
        };
        Err(ConfigError::in_file(
            for_file,
            format!(
                "no age identity to decrypt it: no `--identity` given, `{IDENTITY_VAR}` is not set, and {looked}{ssh}"
            ),
        )
        .with_hint(format!(
            "pass `--identity FILE` or set `{IDENTITY_VAR}=FILE` to your age key or SSH key; or put an age key in the default place (`age-keygen -o {}`)",
            self.default.as_deref().map_or_else(
                || format!("~/.config/{DEFAULT_IDENTITY}"),
                |p| p.display().to_string()
            )
        )))
    }
}

/// One identity file: its keys and their public halves.
pub(crate) struct IdentityFile {
    pub(crate) path: PathBuf,
    pub(crate) kind: IdentityKind,
    /// The public keys, as recipients are written.
    pub(crate) publics: Vec<String>,
}

pub(crate) enum IdentityKind {
    Age(Vec<x25519::Identity>),
    /// An SSH key; `wire` is its public key in SSH wire format, from which
    /// the tag of the stanzas encrypted to it is computed.
    Ssh {
        identity: Box<ssh::Identity>,
        wire: Vec<u8>,
        /// The key once its passphrase was given (or at once, when it has
        /// none).
        unlocked: Mutex<Option<ssh::Identity>>,
    },
}

/// The identities of the run, read once.
pub(crate) struct Keys {
    pub(crate) files: Vec<IdentityFile>,
}

impl Keys {
    /// Reads every identity file `sources` names.
    pub(crate) fn read(sources: &IdentitySources, for_file: &Path) -> Result<Keys, ConfigError> {
        let mut files = Vec::new();
        for (path, must) in sources.choose(for_file)? {
            match read_identity_file(&path) {
                Ok(file) => files.push(file),
                Err(e) if must => return Err(e),
                Err(_) => {}
            }
        }
        if files.is_empty() {
            return Err(ConfigError::in_file(
                for_file,
                "no age identity to decrypt it: the SSH keys found are of a kind berth cannot use",
            )
            .with_hint(format!("pass `--identity FILE` or set `{IDENTITY_VAR}=FILE` to your age key or an ed25519 or rsa SSH key")));
        }
        Ok(Keys { files })
    }

    /// The identities that can decrypt a file whose stanzas are `stanzas`;
    /// an SSH key with a passphrase is unlocked (asking on the terminal)
    /// only when a stanza is meant for it.
    pub(crate) fn identities(
        &self,
        stanzas: &[Stanza],
    ) -> Result<Vec<Box<dyn age::Identity + '_>>, ConfigError> {
        let mut out: Vec<Box<dyn age::Identity + '_>> = Vec::new();
        for file in &self.files {
            match &file.kind {
                IdentityKind::Age(ids) => out.extend(
                    ids.iter()
                        .map(|i| Box::new(i.clone()) as Box<dyn age::Identity>),
                ),
                IdentityKind::Ssh {
                    identity,
                    wire,
                    unlocked,
                } => {
                    let tag = ssh_tag(wire);
                    if !stanzas
                        .iter()
                        .any(|s| s.kind.starts_with("ssh-") && s.args.first() == Some(&tag))
                    {
                        continue;
                    }
                    let mut guard = unlocked.lock().unwrap_or_else(|e| e.into_inner());
                    if guard.is_none() {
                        *guard = Some(unlock(&file.path, identity)?);
                    }
                    if let Some(key) = guard.clone() {
                        out.push(Box::new(key));
                    }
                }
            }
        }
        Ok(out)
    }
}

/// An SSH key ready to decrypt: as it is, or after its passphrase.
fn unlock(path: &Path, identity: &ssh::Identity) -> Result<ssh::Identity, ConfigError> {
    let ssh::Identity::Encrypted(key) = identity else {
        return Ok(identity.clone());
    };
    let prompt = format!("passphrase for the SSH key `{}`: ", path.display());
    let passphrase = rpassword::prompt_password(prompt).map_err(|e| {
        ConfigError::in_file(
            path,
            format!("is protected by a passphrase, and it cannot be asked for: {e}"),
        )
        .with_hint("run berth on a terminal, or pass an age identity with `--identity FILE`")
    })?;
    key.decrypt(SecretString::from(passphrase))
        .map(ssh::Identity::Unencrypted)
        .map_err(|_| {
            ConfigError::in_file(path, "the passphrase does not unlock this SSH key")
                .with_hint("run berth again and type the key's passphrase")
        })
}

/// The tag age writes into a stanza for an SSH key: the first four bytes of
/// the SHA-256 of its public key, base64 without padding.
pub(crate) fn ssh_tag(wire: &[u8]) -> String {
    let digest = Sha256::digest(wire);
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(&digest[..4])
}

/// Reads `path`: an OpenSSH private key, or `AGE-SECRET-KEY-1…` lines with
/// blank lines and `#` comments.
pub(crate) fn read_identity_file(path: &Path) -> Result<IdentityFile, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|e| {
            ConfigError::in_file(path, format!("cannot read the age identity file: {e}"))
        })?;
    if text.trim_start().starts_with("-----BEGIN") {
        return read_ssh_identity(path, &text);
    }
    let mut identities = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // The error names the line, never its content: it may be a key.
        let identity = x25519::Identity::from_str(line).map_err(|_| {
            ConfigError::at(&Origin::new(path, i + 1), "not an age identity")
                .with_hint("berth reads X25519 identities (`AGE-SECRET-KEY-1…` lines, as `age-keygen` writes them) and OpenSSH private keys (ed25519, rsa); plugins are not supported")
        })?;
        identities.push(identity);
    }
    if identities.is_empty() {
        return Err(ConfigError::in_file(path, "holds no age identity")
            .with_hint("create one with `age-keygen -o FILE`"));
    }
    let publics = identities
        .iter()
        .map(|i| i.to_public().to_string())
        .collect();
    Ok(IdentityFile {
        path: path.to_path_buf(),
        kind: IdentityKind::Age(identities),
        publics,
    })
}

fn read_ssh_identity(path: &Path, text: &str) -> Result<IdentityFile, ConfigError> {
    let unsupported = |why: String| {
        ConfigError::in_file(path, format!("is not an SSH key berth can use: {why}"))
            .with_hint("use an ed25519 or rsa key (`ssh-keygen -t ed25519`), or an age identity")
    };
    let identity = ssh::Identity::from_buffer(text.as_bytes(), Some(path.display().to_string()))
        .map_err(|e| unsupported(e.to_string()))?;
    if let ssh::Identity::Unsupported(_) = identity {
        return Err(unsupported(
            "its type or format is not supported".to_owned(),
        ));
    }
    let public = ssh::Recipient::try_from(identity.clone())
        .map_err(|e| unsupported(format!("{e:?}")))?
        .to_string();
    let wire = ssh_wire(&public).unwrap_or_default();
    Ok(IdentityFile {
        path: path.to_path_buf(),
        kind: IdentityKind::Ssh {
            identity: Box::new(identity),
            wire,
            unlocked: Mutex::new(None),
        },
        publics: vec![public],
    })
}

/// The wire bytes of an SSH public key line `TYPE BASE64 [comment]`.
pub(crate) fn ssh_wire(public: &str) -> Option<Vec<u8>> {
    let b64 = public.split_whitespace().nth(1)?;
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// The public keys of the identities in the identity file `path` (an age
/// key file or an SSH private key), as recipients are written.
///
/// Errors: the file cannot be read or holds no usable identity.
pub fn recipients(path: &Path) -> Result<Vec<String>, ConfigError> {
    Ok(read_identity_file(path)?.publics)
}

/// One recipient, parsed.
pub(crate) enum Recipient {
    Age(x25519::Recipient),
    Ssh(ssh::Recipient),
}

/// Parses `text`, an `age1…` key or an SSH public key line.
///
/// Errors: anything else, with why.
pub fn parse_recipient(text: &str) -> Result<(), String> {
    parse(text).map(drop)
}

pub(crate) fn parse(text: &str) -> Result<Recipient, String> {
    let text = text.trim();
    if text.starts_with("ssh-") {
        // age reads `TYPE BASE64` without the comment.
        let key: Vec<&str> = text.split_whitespace().take(2).collect();
        return ssh::Recipient::from_str(&key.join(" "))
            .map(Recipient::Ssh)
            .map_err(|e| format!("`{text}` is not an SSH key age can encrypt to: {e:?}"));
    }
    x25519::Recipient::from_str(text)
        .map(Recipient::Age)
        .map_err(|e| {
            format!("`{text}` is not an age recipient (`age1…` or an SSH public key): {e}")
        })
}

/// Encrypts `plaintext` to `recipients` (`age1…` keys and SSH public keys),
/// as `age -r RECIPIENT…` would.
///
/// Errors: no recipient, or one that is neither.
pub fn encrypt(plaintext: &[u8], recipients: &[&str]) -> Result<Vec<u8>, String> {
    use std::io::Write as _;
    let parsed = recipients
        .iter()
        .map(|r| parse(r))
        .collect::<Result<Vec<_>, _>>()?;
    let encryptor = age::Encryptor::with_recipients(parsed.iter().map(|r| match r {
        Recipient::Age(r) => r as &dyn age::Recipient,
        Recipient::Ssh(r) => r as &dyn age::Recipient,
    }))
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

/// One recipient stanza of an age header: `-> KIND ARGS…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stanza {
    pub(crate) kind: String,
    pub(crate) args: Vec<String>,
}

/// The stanzas of the header of `raw` (binary age, already de-armored).
pub(crate) fn stanzas(raw: &[u8]) -> Vec<Stanza> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\n---")
        .unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end])
        .lines()
        .filter_map(|l| l.strip_prefix("-> "))
        // age adds a random stanza to every header so that parsers stay
        // tolerant; it is no recipient.
        .filter(|l| !l.split(' ').next().unwrap_or_default().ends_with("-grease"))
        .map(|l| {
            let mut words = l.split(' ').map(str::to_owned);
            Stanza {
                kind: words.next().unwrap_or_default(),
                args: words.collect(),
            }
        })
        .collect()
}

/// A stanza as a person reads it, naming the listed recipient it is for
/// when that can be told (SSH keys carry a tag; X25519 stanzas do not).
pub(crate) fn describe(stanza: &Stanza, listed: &[String]) -> String {
    if stanza.kind.starts_with("ssh-") {
        let tag = stanza.args.first().cloned().unwrap_or_default();
        let known = listed
            .iter()
            .find(|r| ssh_wire(r).is_some_and(|w| ssh_tag(&w) == tag));
        return match known {
            Some(key) => format!("`{}`", short(key)),
            None => format!("an {} key with tag {tag}", stanza.kind),
        };
    }
    match stanza.kind.as_str() {
        "X25519" => "an age key (`age1…`)".to_owned(),
        "scrypt" => "a passphrase".to_owned(),
        other => format!("a `{other}` recipient"),
    }
}

/// An SSH key without its base64 tail past 16 characters: enough to tell
/// keys apart.
fn short(key: &str) -> String {
    let mut words = key.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some(kind), Some(b64), comment) if kind.starts_with("ssh-") => {
            // Base64 is ASCII: any byte offset is a character boundary.
            let cut = b64.get(b64.len().saturating_sub(16)..).unwrap_or(b64);
            match comment {
                Some(c) => format!("{kind} …{cut} {c}"),
                None => format!("{kind} …{cut}"),
            }
        }
        _ => key.to_owned(),
    }
}
