//! `berth secrets add|remove RECIPIENT`, `berth secrets reencrypt`.

use super::{decrypt_text, plural, seal, write_atomic};
use anyhow::{Context, bail};
use berth_secrets::IdentitySources;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What happens to the recipients before everything is encrypted again.
#[derive(Debug)]
pub enum Change {
    Add(String),
    Remove(String),
    None,
}

/// Two recipients are the same key whatever their SSH comments say.
fn same_key(a: &str, b: &str) -> bool {
    let key = |s: &str| s.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    key(a) == key(b)
}

/// Applies `change` to the recipients of each environment (`environments`,
/// or every one with secrets) and encrypts its secrets file and secret
/// files again to them. The recipients stay where they are kept: in
/// `[batou] members` when the secrets have them, else in
/// `secrets.recipients`.
pub fn change(
    repo: &Path,
    environments: &[String],
    change: Change,
    identities: Vec<PathBuf>,
) -> anyhow::Result<ExitCode> {
    if let Change::Add(r) | Change::Remove(r) = &change {
        berth_secrets::parse_recipient(r).map_err(anyhow::Error::msg)?;
    }
    let names: Vec<String> = if environments.is_empty() {
        berth_config::environment_names(repo)
            .into_iter()
            .filter(|name| has_secrets(repo, name))
            .collect()
    } else {
        environments.to_vec()
    };
    if names.is_empty() {
        bail!(
            "no environment has secrets yet; start with `berth secrets edit ENV`, or name one with `--env ENV`"
        );
    }
    let identities = IdentitySources::from_env(identities);
    for name in names {
        one(repo, &name, &change, &identities)
            .with_context(|| format!("environment `{name}`: nothing of it was changed"))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn has_secrets(repo: &Path, name: &str) -> bool {
    berth_config::environment_file(repo, name).is_ok_and(|file| {
        let main = berth_secrets::secrets_file(&file);
        main.exists()
            || main.with_file_name(berth_secrets::RECIPIENTS).exists()
            || !berth_secrets::secret_files(&file, false).is_empty()
    })
}

fn one(
    repo: &Path,
    name: &str,
    change: &Change,
    identities: &IdentitySources,
) -> anyhow::Result<()> {
    let env = berth_config::load(repo, name)?;
    let main = berth_secrets::secrets_file(&env.file);
    // Decrypt everything first: nothing is written unless all of it reads.
    let text = decrypt_text(&main, identities)?;
    let plain = match &text {
        Some(t) => Some(berth_secrets::format::parse(&main, t)?),
        None => None,
    };
    let mut files = Vec::new();
    for path in berth_secrets::secret_files(&env.file, false).into_values() {
        let content = berth_secrets::decrypt_file(&path, identities)?.unwrap_or_default();
        files.push((path, content));
    }
    let in_members = plain.as_ref().is_some_and(|p| p.members.is_some());
    let mut list = match berth_secrets::recipients_of(&main, plain.as_ref()) {
        Ok((list, _)) => list,
        Err(_) if matches!(change, Change::Add(_)) && !in_members => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    match change {
        Change::Add(r) if list.iter().any(|l| same_key(l, r)) => {
            eprintln!("{name}: `{r}` is a recipient already");
        }
        Change::Add(r) => list.push(r.trim().to_owned()),
        Change::Remove(r) => {
            let before = list.len();
            list.retain(|l| !same_key(l, r));
            if list.len() == before {
                bail!("`{r}` is not a recipient of its secrets");
            }
            if list.is_empty() {
                bail!(
                    "`{r}` is its last recipient; add another one first, or nobody could decrypt its secrets"
                );
            }
        }
        Change::None => {}
    }
    let list_file = main.with_file_name(berth_secrets::RECIPIENTS);
    let mut written = 0;
    if let Some(text) = &text {
        let new_text = if in_members {
            zeroize::Zeroizing::new(berth_secrets::format::with_members(text, &list))
        } else {
            text.clone()
        };
        seal(&main, new_text.as_bytes(), &list)?;
        written += 1;
    }
    if !in_members {
        let old = std::fs::read_to_string(&list_file).unwrap_or_default();
        let new = recipients_text(&old, &list);
        if new != old {
            write_atomic(&list_file, new.as_bytes())?;
        }
    }
    for (path, content) in &files {
        seal(path, content, &list)?;
        written += 1;
    }
    let source = if in_members {
        "[batou] members".to_owned()
    } else {
        format!("`{}`", list_file.display())
    };
    eprintln!(
        "{name}: encrypted {} to {} ({source})",
        plural(written, "file"),
        plural(list.len(), "recipient")
    );
    Ok(())
}

/// `old` (a recipients list) with exactly `list`: comments and the lines
/// that stay are kept in place, new keys are added at the end.
fn recipients_text(old: &str, list: &[String]) -> String {
    let mut out = String::new();
    let mut seen = Vec::new();
    for line in old.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            out.push_str(line);
            out.push('\n');
        } else if list.iter().any(|l| same_key(l, t)) {
            out.push_str(line);
            out.push('\n');
            seen.push(t.to_owned());
        }
    }
    for l in list {
        if !seen.iter().any(|s| same_key(s, l)) {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipient_lists_keep_comments_and_order() {
        let old = "# ops\nage1a\nssh-ed25519 AAAA old@comment\n";
        assert_eq!(
            recipients_text(old, &["ssh-ed25519 AAAA new".into(), "age1b".into()]),
            "# ops\nssh-ed25519 AAAA old@comment\nage1b\n"
        );
        assert!(same_key("ssh-rsa AB x", "ssh-rsa AB y"));
        assert!(!same_key("age1a", "age1b"));
    }
}
