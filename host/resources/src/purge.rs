//! Removal by glob, matched inside the sandbox without following symlinks.

use std::path::{Component, Path};

use berth_sandbox::{FsError, Kind};
use glob::{MatchOptions, Pattern};

use crate::{Check, Context, Plan, Purge, ResourceError};

const OPTIONS: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: true,
};

pub(crate) fn verify(p: &Purge, cx: &Context<'_>) -> Result<Check, ResourceError> {
    let found = matches(&p.pattern, cx)?;
    if found.is_empty() {
        return Ok(Check::up_to_date());
    }
    let reason = format!("{} to remove: {}", found.len(), found.join(", "));
    Ok(Check::needs(reason, None, Plan::Remove(found)))
}

pub(crate) fn update(plan: Plan, cx: &Context<'_>) -> Result<(), ResourceError> {
    if let Plan::Remove(paths) = plan {
        for path in paths {
            cx.sandbox.remove(&path)?;
        }
    }
    Ok(())
}

/// Every existing path that matches `pattern`, sorted; a directory's
/// contents come after it.
fn matches(pattern: &str, cx: &Context<'_>) -> Result<Vec<String>, ResourceError> {
    let invalid = |why: &str| {
        ResourceError::Fs(FsError::Invalid(format!(
            "the purge pattern `{pattern}` {why}"
        )))
    };
    if pattern.is_empty() {
        return Err(invalid("is empty"));
    }
    let absolute = pattern.starts_with('/');
    let mut parts = Vec::new();
    for c in Path::new(pattern).components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str().ok_or_else(|| invalid("is not UTF-8"))?),
            Component::ParentDir => return Err(invalid("contains `..`")),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    // The literal prefix is walked to directly; the rest is matched.
    let literal = parts
        .iter()
        .take_while(|p| !p.contains(['*', '?', '[']))
        .count();
    if literal == parts.len() {
        // No wildcard: the path itself.
        let path = pattern.to_owned();
        return Ok(if cx.sandbox.stat(&path)?.is_some() {
            vec![path]
        } else {
            vec![]
        });
    }
    let mut base = if absolute {
        String::from("/")
    } else {
        String::new()
    };
    for p in &parts[..literal] {
        base = join(&base, p);
    }
    let mut rest = Vec::new();
    for p in &parts[literal..] {
        if *p == "**" {
            rest.push(None);
        } else {
            rest.push(Some(
                Pattern::new(p).map_err(|e| invalid(&format!("is not a valid glob: {e}")))?,
            ));
        }
    }
    let mut out = Vec::new();
    walk(cx, &base, &rest, &mut out)?;
    out.sort();
    out.dedup();
    Ok(out)
}

fn join(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_owned()
    } else if base.ends_with('/') {
        format!("{base}{name}")
    } else {
        format!("{base}/{name}")
    }
}

/// Whether `dir` is a real directory (a symlink is never descended into).
fn is_dir(cx: &Context<'_>, dir: &str) -> Result<bool, ResourceError> {
    let path = if dir.is_empty() { "." } else { dir };
    Ok(cx
        .sandbox
        .stat(path)?
        .is_some_and(|s| s.kind == Kind::Directory))
}

fn list(cx: &Context<'_>, dir: &str) -> Result<Vec<String>, ResourceError> {
    let path = if dir.is_empty() { "." } else { dir };
    Ok(cx.sandbox.list(path)?)
}

fn walk(
    cx: &Context<'_>,
    dir: &str,
    rest: &[Option<Pattern>],
    out: &mut Vec<String>,
) -> Result<(), ResourceError> {
    let Some((first, tail)) = rest.split_first() else {
        return Ok(());
    };
    if !is_dir(cx, dir)? {
        return Ok(());
    }
    match first {
        // `**`: zero or more directories.
        None => {
            if tail.is_empty() {
                // A trailing `**` matches everything below.
                for name in list(cx, dir)? {
                    if name.starts_with('.') {
                        continue;
                    }
                    let path = join(dir, &name);
                    out.push(path.clone());
                    walk(cx, &path, rest, out)?;
                }
                return Ok(());
            }
            walk(cx, dir, tail, out)?;
            for name in list(cx, dir)? {
                if name.starts_with('.') {
                    continue;
                }
                let path = join(dir, &name);
                if is_dir(cx, &path)? {
                    walk(cx, &path, rest, out)?;
                }
            }
        }
        Some(pattern) => {
            for name in list(cx, dir)? {
                if !pattern.matches_with(&name, OPTIONS) {
                    continue;
                }
                let path = join(dir, &name);
                if tail.is_empty() {
                    out.push(path);
                } else {
                    walk(cx, &path, tail, out)?;
                }
            }
        }
    }
    Ok(())
}
