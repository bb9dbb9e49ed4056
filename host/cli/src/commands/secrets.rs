//! `berth secrets edit ENV`: decrypt, edit, check, encrypt again.

use anyhow::{Context, bail};
use berth_config::IdentitySources;
use berth_config::secrets;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Opens the decrypted secrets of `environment` (an empty template when it
/// has none yet) in `$VISUAL`/`$EDITOR` (else `vi`), checks the result as a
/// deployment would, and encrypts it to the recipients of
/// `secrets.recipients`, replacing the file atomically. The plaintext lives
/// only in a private temporary file (in `/dev/shm` when there is one),
/// overwritten and removed afterwards. An unchanged text changes nothing.
pub fn edit(
    repo: PathBuf,
    environment: &str,
    identities: Vec<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let env = berth_config::load(&repo, environment)?;
    let file = secrets::secrets_file(&env.file);
    let recipients = secrets::listed_recipients(&file)?;
    let identities = IdentitySources::from_env(identities);
    let before = match secrets::decrypt_file(&file, &identities)? {
        Some(text) => text,
        None => format!(
            "# Secrets of environment `{environment}`: [component:NAME] sections\n# of attribute overrides, e.g.\n#\n# [component:app]\n# password = ...\n"
        )
        .into(),
    };
    let dir = Path::new("/dev/shm");
    let dir = if dir.is_dir() {
        dir.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    // tempfile creates it readable by its owner only, and removes it.
    let mut temp = tempfile::Builder::new()
        .prefix("berth-secrets-")
        .suffix(".cfg")
        .tempfile_in(&dir)
        .with_context(|| format!("cannot create a private file in `{}`", dir.display()))?;
    temp.write_all(before.as_bytes())
        .and_then(|()| temp.flush())
        .with_context(|| format!("cannot write `{}`", temp.path().display()))?;
    let result = edit_until_valid(&env, temp.path(), &before);
    // Overwrite before removing, so the plaintext does not linger in the
    // freed blocks of a disk-backed temp folder.
    // (By path: an editor may have replaced the file rather than written it.)
    let len = std::fs::metadata(temp.path()).map_or(0, |m| m.len());
    let len = usize::try_from(len).unwrap_or(0);
    let _ = std::fs::write(temp.path(), vec![0u8; len]);
    drop(temp);
    let Some(after) = result? else {
        eprintln!("`{}` is unchanged", file.display());
        return Ok(ExitCode::SUCCESS);
    };
    let keys: Vec<&str> = recipients.iter().map(String::as_str).collect();
    let sealed = secrets::encrypt(after.as_bytes(), &keys).map_err(anyhow::Error::msg)?;
    let folder = file.parent().unwrap_or(Path::new("."));
    let mut out = tempfile::NamedTempFile::new_in(folder)
        .with_context(|| format!("cannot create a file in `{}`", folder.display()))?;
    out.write_all(&sealed)
        .and_then(|()| out.as_file().sync_all())
        .with_context(|| format!("cannot write `{}`", out.path().display()))?;
    out.persist(&file)
        .with_context(|| format!("cannot replace `{}`", file.display()))?;
    eprintln!(
        "encrypted `{}` to {} recipient{}",
        file.display(),
        keys.len(),
        if keys.len() == 1 { "" } else { "s" }
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs the editor on `path` until its text checks, when a person can fix
/// it; `None` when the text is unchanged.
fn edit_until_valid(
    env: &berth_config::Environment,
    path: &Path,
    before: &str,
) -> anyhow::Result<Option<zeroize::Zeroizing<String>>> {
    loop {
        run_editor(path)?;
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read `{}`", path.display()))?,
        );
        if *text == before {
            return Ok(None);
        }
        match secrets::check(env, &text) {
            Ok(()) => return Ok(Some(text)),
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
