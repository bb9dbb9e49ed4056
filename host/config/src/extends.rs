//! `extends` in `[environment]`: reading an environment file together with
//! the files it builds on, buildout style.
//!
//! `extends = base, other` (comma and/or newline separated environment
//! names, found like [`crate::load`] finds them, in both layouts) reads
//! `base` (with everything it extends, recursively), then `other` over it,
//! then this file over both. Sections merge key by key: a later file's key
//! replaces the whole value of an earlier one (keeping the earlier key's
//! place in the section), new keys and sections are added at the end.
//! In `[hosts]`, `!web` and `web` are the same key, so an environment can
//! ignore a host it inherits. Every entry keeps the [`Origin`] of the file
//! and line that set it last. `extends` itself is read before substitution,
//! so it cannot contain `${…}`, and it is not part of the merged document.
//!
//! An environment reached again while it is being read is a cycle, an error
//! at the `extends` line that closes it, listing each step with file:line.
//! The same environment extended twice on different branches (a diamond)
//! is fine: it is read once, the first time it is reached, so that files
//! are merged in a depth-first order where each file comes after all the
//! files it builds on, and a base reached again cannot undo what a file
//! read after it set (`extends = left, right`, both extending `base`:
//! `base`, `left`, `right`, then this file).

use std::path::{Path, PathBuf};

use crate::error::{ConfigError, Origin};
use crate::ini::{self, Document, Entry};

/// How many environments may extend one another in a chain.
pub const MAX_EXTENDS: usize = 32;

/// The largest environment file berth reads.
pub const MAX_FILE: u64 = 16 << 20;

/// One environment being read: its name, file, and (while one of its
/// `extends` items is followed) the origin of that item.
struct Link {
    env: String,
    file: PathBuf,
    via: Option<Origin>,
}

/// Reads `file`, the file of environment `env`, with everything it extends,
/// merged. Returns the document and every file read, in reading order
/// (`file` last).
pub(crate) fn read(
    repo: &Path,
    env: &str,
    file: &Path,
) -> Result<(Document, Vec<PathBuf>), ConfigError> {
    let mut chain = Vec::new();
    let mut files = Vec::new();
    let doc = read_one(repo, env, file, &mut chain, &mut files)?;
    Ok((doc, files))
}

fn read_one(
    repo: &Path,
    env: &str,
    file: &Path,
    chain: &mut Vec<Link>,
    files: &mut Vec<PathBuf>,
) -> Result<Document, ConfigError> {
    let size = std::fs::metadata(file)
        .map_err(|e| ConfigError::new(format!("cannot read `{}`: {e}", file.display())))?
        .len();
    if size > MAX_FILE {
        return Err(ConfigError::new(format!(
            "`{}` is {size} bytes, larger than the {} MiB berth reads of an environment file",
            file.display(),
            MAX_FILE >> 20
        )));
    }
    let text = std::fs::read_to_string(file)
        .map_err(|e| ConfigError::new(format!("cannot read `{}`: {e}", file.display())))?;
    let mut doc = ini::parse(file, &text)?;
    crate::build::check_sections(&doc)?;
    let extends = take_extends(&mut doc)?;

    chain.push(Link {
        env: env.to_owned(),
        file: file.to_path_buf(),
        via: None,
    });
    let mut merged = Document {
        sections: Vec::new(),
    };
    for (name, origin) in extends {
        let base_file = crate::environment_file(repo, &name).map_err(|mut e| {
            if e.file.is_none() {
                e.file = Some(origin.file.clone());
                e.line = Some(origin.line);
            }
            e
        })?;
        if let Some(last) = chain.last_mut() {
            last.via = Some(origin.clone());
        }
        if let Some(start) = chain.iter().position(|l| l.file == base_file) {
            return Err(cycle(&chain[start..], &name, &origin));
        }
        if files.contains(&base_file) {
            continue;
        }
        if chain.len() >= MAX_EXTENDS {
            return Err(ConfigError::at(
                &origin,
                format!(
                    "`extends = {name}` makes a chain of more than {MAX_EXTENDS} environments, the most berth follows"
                ),
            ));
        }
        let base = read_one(repo, &name, &base_file, chain, files)?;
        merge(&mut merged, base);
    }
    chain.pop();
    files.push(file.to_path_buf());
    merge(&mut merged, doc);
    Ok(merged)
}

fn cycle(links: &[Link], back_to: &str, origin: &Origin) -> ConfigError {
    let mut names: Vec<&str> = links.iter().map(|l| l.env.as_str()).collect();
    names.push(back_to);
    let steps: Vec<String> = links
        .iter()
        .zip(names.iter().skip(1))
        .map(|(link, next)| {
            let at = link
                .via
                .as_ref()
                .map(|o| format!(" at {o}"))
                .unwrap_or_default();
            format!("`{}` extends `{next}`{at}", link.env)
        })
        .collect();
    ConfigError::at(origin, format!("extends cycle: `{}`", names.join("` -> `")))
        .with_hint(format!("break the cycle: {}", steps.join(", ")))
}

/// Removes `extends` from `[environment]` and returns its items.
fn take_extends(doc: &mut Document) -> Result<Vec<(String, Origin)>, ConfigError> {
    let Some(section) = doc.sections.iter_mut().find(|s| s.name == "environment") else {
        return Ok(Vec::new());
    };
    let Some(index) = section.entries.iter().position(|e| e.key == "extends") else {
        return Ok(Vec::new());
    };
    let entry = section.entries.remove(index);
    let mut items = Vec::new();
    for line in &entry.lines {
        let origin = Origin::new(&entry.origin.file, line.line);
        if line.text.contains("${") {
            return Err(
                ConfigError::at(&origin, "`extends` cannot use `${…}` substitution").with_hint(
                    "`extends` is read before substitution; name the environments directly",
                ),
            );
        }
        for name in crate::convert::split_list(&line.text) {
            items.push((name.to_owned(), origin.clone()));
        }
    }
    Ok(items)
}

/// The key under which entries of `section` replace each other.
fn merge_key(hosts: bool, entry: &Entry) -> &str {
    if hosts {
        entry.key.strip_prefix('!').unwrap_or(&entry.key)
    } else {
        &entry.key
    }
}

/// Lays `over` on `base`: key by key, later values win.
fn merge(base: &mut Document, over: Document) {
    for section in over.sections {
        let Some(target) = base.sections.iter_mut().find(|s| s.name == section.name) else {
            base.sections.push(section);
            continue;
        };
        target.origin = section.origin;
        let hosts = target.name == "hosts";
        for entry in section.entries {
            let key = merge_key(hosts, &entry).to_owned();
            match target
                .entries
                .iter_mut()
                .find(|e| merge_key(hosts, e) == key)
            {
                Some(old) => *old = entry,
                None => target.entries.push(entry),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_of_extends_stops_at_the_limit_at_its_line() {
        let repo = tempfile::tempdir().unwrap();
        let envs = repo.path().join("environments");
        std::fs::create_dir(&envs).unwrap();
        for i in 0..40 {
            std::fs::write(
                envs.join(format!("e{i}.cfg")),
                format!("[environment]\nextends = e{}\n", i + 1),
            )
            .unwrap();
        }
        std::fs::write(envs.join("e40.cfg"), "[environment]\n").unwrap();
        let e = crate::load(repo.path(), "e0").unwrap_err().to_string();
        assert!(
            e.ends_with(
                "e31.cfg:2: `extends = e32` makes a chain of more than 32 environments, the most berth follows"
            ),
            "{e}"
        );
        assert!(crate::load(repo.path(), "e9").is_ok());
    }

    fn doc(file: &str, text: &str) -> Document {
        ini::parse(Path::new(file), text).unwrap()
    }

    #[test]
    fn later_values_win_key_by_key_and_keep_their_origin() {
        let mut base = doc("a.cfg", "[x]\nk = 1\nj = 2\n[hosts]\nweb = a\n");
        merge(
            &mut base,
            doc("b.cfg", "[x]\nj = 3\nn = 4\n[hosts]\n!web = b\n[y]\n"),
        );
        let x = &base.sections[0];
        let keys: Vec<(&str, String, String)> = x
            .entries
            .iter()
            .map(|e| (e.key.as_str(), e.value(), e.origin.to_string()))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("k", "1".to_owned(), "a.cfg:2".to_owned()),
                ("j", "3".to_owned(), "b.cfg:2".to_owned()),
                ("n", "4".to_owned(), "b.cfg:3".to_owned()),
            ]
        );
        assert_eq!(x.origin.to_string(), "b.cfg:1");
        assert_eq!(base.sections[1].entries.len(), 1);
        assert_eq!(base.sections[1].entries[0].key, "!web");
        assert_eq!(base.sections[2].name, "y");
    }
}
