//! Decrypting age files in memory, with errors that say who may read them.

use std::io::Read;
use std::path::Path;

use berth_config::ConfigError;
use zeroize::Zeroizing;

use crate::keys::{self, Keys, Stanza};

/// The first bytes of a GPG file: binary packets (public-key or symmetric
/// session key) or ASCII armor.
fn is_gpg(bytes: &[u8]) -> bool {
    bytes.starts_with(b"-----BEGIN PGP MESSAGE-----")
        || matches!(bytes.first(), Some(0x84 | 0x85 | 0x8c | 0xc1 | 0xc3))
}

/// The plaintext of the age file `file` (its content `bytes`), decrypted
/// with `keys`. `listed` are the recipients the repository lists for it,
/// named in the error when no key fits.
pub(crate) fn decrypt(
    file: &Path,
    bytes: &[u8],
    keys: &Keys,
    listed: &[String],
) -> Result<Zeroizing<Vec<u8>>, ConfigError> {
    let damaged = |what: String| {
        ConfigError::in_file(file, what)
            .with_hint("restore it from version control, or encrypt it anew with `age`")
    };
    if is_gpg(bytes) {
        return Err(gpg_refused(file));
    }
    let mut raw = Vec::new();
    age::armor::ArmoredReader::new(bytes)
        .read_to_end(&mut raw)
        .map_err(|_| {
            damaged("not an age file, or a damaged one (its armor does not read)".into())
        })?;
    let stanzas = keys::stanzas(&raw);
    // Reading from memory, any error here is the header's; age's own
    // messages for it span lines and suggest upgrading age.
    let decryptor = age::Decryptor::new(&raw[..]).map_err(|_| {
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
    let identities = keys.identities(&stanzas)?;
    let mut reader = match decryptor.decrypt(identities.iter().map(|i| i.as_ref())) {
        Ok(reader) => reader,
        Err(age::DecryptError::NoMatchingKeys) => {
            return Err(no_match(file, keys, &stanzas, listed));
        }
        Err(e) => return Err(damaged(format!("cannot decrypt: {e}"))),
    };
    let mut plain = Zeroizing::new(Vec::new());
    reader
        .read_to_end(&mut plain)
        .map_err(|e| damaged(format!("cannot decrypt: {e}")))?;
    Ok(plain)
}

/// batou's GPG secrets are refused with the way to convert them.
pub(crate) fn gpg_refused(file: &Path) -> ConfigError {
    let target = file.with_extension("age");
    let recipients = file.with_file_name(crate::RECIPIENTS);
    ConfigError::in_file(
        file,
        "is encrypted with GPG; berth reads age-encrypted secrets",
    )
    .with_hint(format!(
        "convert it once: `berth secrets migrate ENV`, or by hand `gpg -d {} | age -R {} -o {}` (list your age or SSH public keys in `{}` first), then delete the GPG file",
        file.display(),
        recipients.display(),
        target.display(),
        recipients.display(),
    ))
}

/// None of the identities decrypts `file`: say which were tried, and whom
/// the file is encrypted to.
fn no_match(file: &Path, keys: &Keys, stanzas: &[Stanza], listed: &[String]) -> ConfigError {
    let tried = keys
        .files
        .iter()
        .map(|k| format!("`{}` ({})", k.path.display(), k.publics.join(", ")))
        .collect::<Vec<_>>()
        .join(", ");
    let to = stanzas
        .iter()
        .map(|s| keys::describe(s, listed))
        .collect::<Vec<_>>()
        .join(", ");
    let count = stanzas.len();
    let mut hint = if listed.is_empty() {
        "ask someone who can decrypt it to add your public key (`berth secrets add KEY`) and encrypt it again".to_owned()
    } else {
        format!(
            "its listed recipients are {}; use the identity of one of them, or have your public key added (`berth secrets add KEY`)",
            listed.join(", ")
        )
    };
    if keys
        .files
        .iter()
        .all(|k| !k.publics.iter().any(|p| listed.contains(p)))
        && !listed.is_empty()
    {
        hint.push_str("; none of your keys is among them");
    }
    ConfigError::in_file(
        file,
        format!(
            "none of the age identities can decrypt it; it is encrypted to {count} recipient{} ({to}); tried {tried}",
            if count == 1 { "" } else { "s" }
        ),
    )
    .with_hint(hint)
}
