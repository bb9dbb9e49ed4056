//! `berth secrets edit ENV [FILE]`: decrypt, edit, check, encrypt again.

use super::{decrypt_text, plural, private_dir, seal, wipe};
use anyhow::{Context, bail};
use berth_config::Environment;
use berth_secrets::IdentitySources;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use zeroize::Zeroizing;

/// Opens the decrypted secrets of `environment` (or its secret file
/// `name`; an empty template when there is none yet) in
/// `$VISUAL`/`$EDITOR` (else `vi`), checks the result as a deployment
/// would, and encrypts it to the recipients, replacing the file
/// atomically. An unchanged text changes nothing. When encryption fails,
/// the edited text is kept in the private folder and the next `edit`
/// continues from it.
pub fn edit(
    repo: &Path,
    environment: &str,
    name: Option<&str>,
    identities: Vec<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let env = berth_config::load(repo, environment)?;
    let main = berth_secrets::secrets_file(&env.file);
    if let Some(name) = name
        && !berth_config::valid_name(name)
    {
        bail!(
            "`{name}` is not a secret file name: use letters, digits, `-`, `_` and `.` (`berth secrets edit {environment} tls.key` edits `secret-tls.key.age`)"
        );
    }
    let target = match name {
        Some(name) => berth_secrets::secret_file(&env.file, name),
        None => main.clone(),
    };
    let identities = IdentitySources::from_env(identities);
    let main_text = decrypt_text(&main, &identities)?;
    let main_plain = main_text
        .as_deref()
        .and_then(|t| berth_secrets::format::parse(&main, t).ok());
    // Fail before editing when nobody could read the result.
    berth_secrets::recipients_of(&main, main_plain.as_ref())?;
    let before: Zeroizing<String> = match name {
        None => main_text.unwrap_or_else(|| template(environment).into()),
        Some(_) => decrypt_text(&target, &identities)?.unwrap_or_default(),
    };
    let kept = private_dir()?.join(kept_name(environment, &target));
    let start = match std::fs::read_to_string(&kept) {
        Ok(text) => {
            eprintln!(
                "continuing from the edit kept in `{}` after a failed encryption",
                kept.display()
            );
            Zeroizing::new(text)
        }
        Err(_) => before.clone(),
    };
    let mut temp = tempfile::Builder::new()
        .prefix("berth-secrets-")
        .suffix(".cfg")
        .tempfile_in(private_dir()?)
        .context("cannot create a private file to edit in")?;
    temp.write_all(start.as_bytes())
        .and_then(|()| temp.flush())
        .with_context(|| format!("cannot write `{}`", temp.path().display()))?;
    let result = edit_and_seal(
        &env,
        name.is_none(),
        temp.path(),
        &before,
        &target,
        main_plain.as_ref(),
        &kept,
    );
    // By path: an editor may have replaced the file rather than written it.
    wipe(temp.path());
    drop(temp);
    match result? {
        None => eprintln!("`{}` is unchanged", target.display()),
        Some(recipients) => {
            wipe(&kept);
            eprintln!(
                "encrypted `{}` to {}",
                target.display(),
                plural(recipients, "recipient")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The file an edit is kept in after a failed encryption: one per
/// encrypted file (its absolute path hashed in), so that two repositories
/// with an environment of the same name do not share it.
fn kept_name(environment: &str, target: &Path) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    std::path::absolute(target)
        .unwrap_or_else(|_| target.to_path_buf())
        .hash(&mut hasher);
    format!(
        "{environment}-{}-{:016x}.unsaved",
        target
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("secrets"),
        hasher.finish()
    )
}

fn template(environment: &str) -> String {
    format!(
        "# Secrets of environment `{environment}`: attribute overrides in\n# [component:NAME] (or [NAME]) sections, host data in [host:NAME]\n# (data-KEY = value), recipients in [batou] members, e.g.\n#\n# [component:app]\n# password = ...\n"
    )
}

/// Edits until the text checks, then encrypts it; the number of
/// recipients, or `None` when the text is unchanged. When encryption
/// fails, the text goes to `kept` (on a terminal the user may edit again
/// first).
fn edit_and_seal(
    env: &Environment,
    is_main: bool,
    path: &Path,
    before: &str,
    target: &Path,
    main_plain: Option<&berth_secrets::Plaintext>,
    kept: &Path,
) -> anyhow::Result<Option<usize>> {
    let main = berth_secrets::secrets_file(&env.file);
    loop {
        let Some(text) = edit_until_valid(env, is_main, path, before, kept.exists())? else {
            return Ok(None);
        };
        let recipients = if is_main {
            let plain = berth_secrets::check(env, &text)?;
            berth_secrets::recipients_of(&main, Some(&plain))
        } else {
            berth_secrets::recipients_of(&main, main_plain)
        };
        let sealed = recipients
            .map_err(anyhow::Error::from)
            .and_then(|(list, _)| seal(target, text.as_bytes(), &list).map(|()| list.len()));
        match sealed {
            Ok(n) => return Ok(Some(n)),
            Err(e) if std::io::stdin().is_terminal() => {
                eprintln!("error: {e:#}\npress Enter to edit again, Ctrl-C to give up");
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
            }
            Err(e) => {
                keep(kept, &text)?;
                bail!(
                    "{e:#}\n`{}` is unchanged; your edit is kept in `{}`: fix the recipients and run `berth secrets edit` again, it continues from there",
                    target.display(),
                    kept.display()
                );
            }
        }
    }
}

/// Saves the edited text, readable by its owner only.
fn keep(kept: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(kept)
        .with_context(|| format!("cannot keep the edit in `{}`", kept.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot keep the edit in `{}`", kept.display()))
}

/// Runs the editor on `path` until its text checks, when a person can fix
/// it; `None` when the text is unchanged (and no kept edit is pending).
fn edit_until_valid(
    env: &Environment,
    is_main: bool,
    path: &Path,
    before: &str,
    pending: bool,
) -> anyhow::Result<Option<Zeroizing<String>>> {
    loop {
        run_editor(path)?;
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read `{}`", path.display()))?,
        );
        if *text == before && !pending {
            return Ok(None);
        }
        if !is_main {
            return Ok(Some(text));
        }
        match berth_secrets::check(env, &text) {
            Ok(_) => return Ok(Some(text)),
            Err(e) if std::io::stdin().is_terminal() => {
                eprintln!("error: {e}\npress Enter to edit again, Ctrl-C to give up");
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
            }
            Err(e) => bail!("{e}\nthe secrets file is unchanged"),
        }
    }
}

/// `$VISUAL`, else `$EDITOR`, else `vi`, split on whitespace (no shell).
fn run_editor(path: &Path) -> anyhow::Result<()> {
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|e| !e.trim().is_empty()))
        .unwrap_or_else(|| "vi".to_owned());
    let mut words = editor.split_whitespace();
    let program = words.next().unwrap_or("vi");
    let status = std::process::Command::new(program)
        .args(words)
        .arg(path)
        .status()
        .with_context(|| format!("cannot run the editor `{editor}`"))?;
    if !status.success() {
        bail!("the editor `{editor}` failed ({status}); the secrets file is unchanged");
    }
    Ok(())
}
