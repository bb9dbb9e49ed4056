//! `berth secrets show ENV` and `berth secrets summary`.

use super::{decrypt_text, plural};
use berth_secrets::{IdentitySources, MASK};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Prints the decrypted secrets of `environment` with every value masked
/// (`[batou] members` are public keys and stay), unless `reveal`; then the
/// secret files with their sizes.
pub fn show(
    repo: &Path,
    environment: &str,
    reveal: bool,
    identities: Vec<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let env = berth_config::load(repo, environment)?;
    let main = berth_secrets::secrets_file(&env.file);
    let identities = IdentitySources::from_env(identities);
    let mut out = String::new();
    match decrypt_text(&main, &identities)? {
        Some(text) => {
            // Checked as a deploy would, so that what is shown is what loads.
            berth_secrets::format::parse(&main, &text)?;
            out.push_str(&format!("# {}\n", main.display()));
            if reveal {
                out.push_str(&text);
            } else {
                out.push_str(&masked(&text));
            }
        }
        None => out.push_str(&format!("# {} does not exist\n", main.display())),
    }
    let files = berth_secrets::secret_files(&env.file, false);
    if !files.is_empty() {
        out.push_str("\n# secret files\n");
    }
    for (name, path) in files {
        let plain = berth_secrets::decrypt_file(&path, &identities)?.unwrap_or_default();
        out.push_str(&format!(
            "#   {name} ({}, {})\n",
            path.display(),
            plural(plain.len(), "byte")
        ));
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// The plaintext with each value (and continuation line) as `********`,
/// outside `[batou]`.
fn masked(text: &str) -> String {
    let mut out = String::new();
    let mut in_batou = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let shown = if trimmed.is_empty() || trimmed.starts_with(['#', ';']) {
            line.to_owned()
        } else if trimmed.starts_with('[') {
            in_batou = trimmed.trim_end() == "[batou]";
            line.to_owned()
        } else if in_batou {
            line.to_owned()
        } else if line.starts_with([' ', '\t']) {
            format!("    {MASK}")
        } else {
            match line.split_once(['=', ':']) {
                Some((key, value)) if value.trim().is_empty() => format!("{} =", key.trim_end()),
                Some((key, _)) => format!("{} = {MASK}", key.trim_end()),
                None => MASK.to_owned(),
            }
        };
        out.push_str(&shown);
        out.push('\n');
    }
    out
}

/// Prints, per environment: where its recipients are kept and who they
/// are, its secret files, and whether the identities at hand decrypt
/// them. An environment that cannot be decrypted is reported, not fatal.
pub fn summary(repo: &Path, identities: Vec<PathBuf>) -> anyhow::Result<ExitCode> {
    let identities = IdentitySources::from_env(identities);
    let mut out = String::new();
    let mut any = false;
    for name in berth_config::environment_names(repo) {
        let Ok(file) = berth_config::environment_file(repo, &name) else {
            continue;
        };
        let main = berth_secrets::secrets_file(&file);
        let files = berth_secrets::secret_files(&file, false);
        let list = main.with_file_name(berth_secrets::RECIPIENTS);
        if !main.exists() && files.is_empty() && !list.exists() {
            continue;
        }
        any = true;
        out.push_str(&format!("environment {name}\n"));
        let decrypted = decrypt_text(&main, &identities);
        let plain = match &decrypted {
            Ok(Some(text)) => berth_secrets::format::parse(&main, text).ok(),
            _ => None,
        };
        match berth_secrets::recipients_of(&main, plain.as_ref()) {
            Ok((recipients, source)) => {
                out.push_str(&format!("  recipients ({source}):\n"));
                for r in recipients {
                    out.push_str(&format!("    {r}\n"));
                }
            }
            Err(e) => out.push_str(&format!("  recipients: unknown ({e})\n")),
        }
        out.push_str(&format!(
            "  secrets file: {}\n",
            if main.exists() {
                main.display().to_string()
            } else {
                "none".to_owned()
            }
        ));
        if files.is_empty() {
            out.push_str("  secret files: none\n");
        } else {
            out.push_str(&format!(
                "  secret files: {}\n",
                files.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        let mut problem = decrypted.err().map(|e| first_line(&e.to_string()));
        for path in files.values() {
            if problem.is_some() {
                break;
            }
            if let Err(e) = berth_secrets::decrypt_file(path, &identities) {
                problem = Some(first_line(&e.to_string()));
            }
        }
        match problem {
            None => out.push_str("  you can decrypt: yes\n"),
            Some(why) => out.push_str(&format!("  you can decrypt: no: {why}\n")),
        }
    }
    if !any {
        out.push_str("no environment has secrets\n");
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_are_masked_keys_and_members_stay() {
        let text =
            "# db\n[batou]\nmembers = age1x\n[app]\npassword = hunter2\nkeys =\n    a\n    b\n";
        assert_eq!(
            super::masked(text),
            "# db\n[batou]\nmembers = age1x\n[app]\npassword = ********\nkeys =\n    ********\n    ********\n"
        );
    }
}
