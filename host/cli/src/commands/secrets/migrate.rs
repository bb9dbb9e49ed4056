//! `berth secrets migrate ENV`: batou's GPG secrets to age.

use super::{plural, seal};
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use zeroize::Zeroizing;

/// Decrypts `secrets.cfg.gpg` and every `secret-NAME.gpg` of `environment`
/// with `gpg -d` (which may ask for a passphrase), and encrypts each to the
/// age recipients of `secrets.recipients` (GPG `[batou] members` are
/// replaced by them, `secret_provider` becomes `age`). The GPG files are
/// left for the user to delete once the result checks.
pub fn migrate(
    repo: &Path,
    environment: &str,
    _identities: Vec<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let env_file = berth_config::environment_file(repo, environment)?;
    let main = berth_secrets::secrets_file(&env_file);
    let gpg_main = main.with_extension("gpg");
    let gpg_files = berth_secrets::secret_files(&env_file, true);
    if !gpg_main.exists() && gpg_files.is_empty() {
        bail!(
            "environment `{environment}` has no GPG secrets (`{}` or `secret-NAME.gpg`) to migrate",
            gpg_main.display()
        );
    }
    let (list, source) = berth_secrets::recipients_of(&main, None)?;
    let mut done = Vec::new();
    let mut members = list.clone();
    if gpg_main.exists() {
        if main.exists() {
            bail!(
                "`{}` exists already; move it away to migrate `{}` again",
                main.display(),
                gpg_main.display()
            );
        }
        let plain = gpg_decrypt(&gpg_main)?;
        let text = berth_secrets::utf8(&gpg_main, plain.to_vec())?;
        let text = Zeroizing::new(provider_age(&text));
        let parsed = berth_secrets::format::parse(&main, &text)?;
        let text = match &parsed.members {
            Some((m, _)) if m.iter().all(|r| berth_secrets::parse_recipient(r).is_ok()) => {
                members.clone_from(m);
                text
            }
            Some(_) => Zeroizing::new(berth_secrets::format::with_members(&text, &list)),
            None => text,
        };
        seal(&main, text.as_bytes(), &members)?;
        done.push(gpg_main.clone());
    }
    for (name, path) in &gpg_files {
        let plain = gpg_decrypt(path)?;
        seal(
            &berth_secrets::secret_file(&env_file, name),
            &plain,
            &members,
        )?;
        done.push(path.clone());
    }
    eprintln!(
        "migrated {} of `{environment}` to age, encrypted to {} ({source})",
        plural(done.len(), "file"),
        plural(members.len(), "recipient")
    );
    eprintln!(
        "check them with `berth secrets show {environment}`, then delete the GPG files: git rm {}",
        done.iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" ")
    );
    Ok(ExitCode::SUCCESS)
}

/// `secret_provider = gpg` lines become `secret_provider = age`.
fn provider_age(text: &str) -> String {
    let mut out: String = text
        .lines()
        .map(|l| match l.split_once('=') {
            Some((k, _)) if k.trim() == "secret_provider" => "secret_provider = age".to_owned(),
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    out.push('\n');
    out
}

/// `gpg --decrypt FILE`, its plaintext in memory; gpg talks to the user on
/// the terminal for a passphrase.
fn gpg_decrypt(file: &Path) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let out = std::process::Command::new("gpg")
        .args(["--quiet", "--decrypt"])
        .arg(file)
        .stdin(Stdio::inherit())
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run `gpg` (is GnuPG installed?)")?;
    let plain = Zeroizing::new(out.stdout);
    if !out.status.success() {
        bail!(
            "`gpg --decrypt {}` failed ({}); nothing was written",
            file.display(),
            out.status
        );
    }
    Ok(plain)
}
