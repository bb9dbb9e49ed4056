//! `berth secrets …`: edit, show, recipients, summary, textconv, migrate.
//!
//! Plaintext lives in memory, or for an editor in a private file in
//! `/dev/shm` (else the temp folder) that is overwritten and removed
//! afterwards; encrypted files are replaced atomically.

mod edit;
mod migrate;
mod recipients;
mod show;

use crate::cli::SecretsCommand;
use anyhow::Context;
use berth_secrets::IdentitySources;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use zeroize::Zeroizing;

/// Runs one `berth secrets` subcommand other than `textconv`.
pub fn run(repo: PathBuf, action: SecretsCommand) -> anyhow::Result<ExitCode> {
    match action {
        SecretsCommand::Edit {
            environment,
            file,
            identities,
        } => edit::edit(&repo, &environment, file.as_deref(), identities.identity),
        SecretsCommand::Show {
            environment,
            reveal,
            identities,
        } => show::show(&repo, &environment, reveal, identities.identity),
        SecretsCommand::Add {
            recipient,
            environments,
            identities,
        } => recipients::change(
            &repo,
            &environments,
            recipients::Change::Add(recipient),
            identities.identity,
        ),
        SecretsCommand::Remove {
            recipient,
            environments,
            identities,
        } => recipients::change(
            &repo,
            &environments,
            recipients::Change::Remove(recipient),
            identities.identity,
        ),
        SecretsCommand::Reencrypt {
            environments,
            identities,
        } => recipients::change(
            &repo,
            &environments,
            recipients::Change::None,
            identities.identity,
        ),
        SecretsCommand::Summary { identities } => show::summary(&repo, identities.identity),
        SecretsCommand::Migrate {
            environment,
            identities,
        } => migrate::migrate(&repo, &environment, identities.identity),
        SecretsCommand::Textconv { file, identities } => textconv(&file, identities.identity),
    }
}

/// `berth secrets textconv FILE`: the plaintext on stdout, for `git diff`.
pub fn textconv(file: &Path, identities: Vec<PathBuf>) -> anyhow::Result<ExitCode> {
    let sources = IdentitySources::from_env(identities);
    let Some(plain) = berth_secrets::decrypt_file(file, &sources)? else {
        anyhow::bail!("`{}` does not exist", file.display());
    };
    let mut out = std::io::stdout().lock();
    out.write_all(&plain)
        .and_then(|()| out.flush())
        .context("cannot write to standard output")?;
    Ok(ExitCode::SUCCESS)
}

/// The decrypted text of `file`, `None` when it does not exist.
fn decrypt_text(
    file: &Path,
    identities: &IdentitySources,
) -> anyhow::Result<Option<Zeroizing<String>>> {
    match berth_secrets::decrypt_file(file, identities)? {
        Some(mut bytes) => Ok(Some(berth_secrets::utf8(
            file,
            std::mem::take(&mut *bytes),
        )?)),
        None => Ok(None),
    }
}

/// Encrypts `plaintext` to `recipients` into `file`, atomically.
fn seal(file: &Path, plaintext: &[u8], recipients: &[String]) -> anyhow::Result<()> {
    let keys: Vec<&str> = recipients.iter().map(String::as_str).collect();
    let sealed = berth_secrets::encrypt(plaintext, &keys)
        .map_err(|e| anyhow::anyhow!("cannot encrypt `{}`: {e}", file.display()))?;
    write_atomic(file, &sealed)
}

/// Replaces `file` with `bytes`: a temporary file beside it, synced, renamed.
fn write_atomic(file: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let folder = file.parent().unwrap_or(Path::new("."));
    let mut out = tempfile::NamedTempFile::new_in(folder)
        .with_context(|| format!("cannot create a file in `{}`", folder.display()))?;
    out.write_all(bytes)
        .and_then(|()| out.as_file().sync_all())
        .with_context(|| format!("cannot write `{}`", out.path().display()))?;
    out.persist(file)
        .with_context(|| format!("cannot replace `{}`", file.display()))?;
    Ok(())
}

/// A private folder for plaintext the user edits: `/dev/shm/berth-UID`
/// (memory-backed) when there is one, else in the temp folder; created
/// `0700`, and refused when it exists with another owner or mode.
fn private_dir() -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let uid = rustix::process::getuid().as_raw();
    let dir = base.join(format!("berth-{uid}"));
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("cannot create `{}`", dir.display())),
    }
    let meta = std::fs::symlink_metadata(&dir)
        .with_context(|| format!("cannot read `{}`", dir.display()))?;
    if !meta.is_dir() || meta.uid() != uid || meta.permissions().mode() & 0o077 != 0 {
        anyhow::bail!(
            "`{}` is not a private folder of yours (a folder with mode 0700); remove it and run berth again",
            dir.display()
        );
    }
    Ok(dir)
}

/// Overwrites `path` with zeros and removes it, so that plaintext does not
/// linger in freed blocks.
fn wipe(path: &Path) {
    let len = std::fs::metadata(path).map_or(0, |m| m.len());
    let len = usize::try_from(len).unwrap_or(0);
    let _ = std::fs::write(path, vec![0u8; len]);
    let _ = std::fs::remove_file(path);
}

/// "1 recipient", "2 recipients".
fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}
