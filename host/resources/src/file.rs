//! Files, directories and symlinks.

use std::path::Path;

use berth_sandbox::{Comparison, FsError, Kind};

use crate::templates::TemplateRef;
use crate::{Check, Content, Context, Directory, File, Plan, ResourceError, Symlink, TemplateBody};

/// The bytes a file should contain.
fn render(f: &File, cx: &Context<'_>) -> Result<Vec<u8>, ResourceError> {
    match &f.content {
        Content::Text(t) => Ok(t.as_bytes().to_vec()),
        Content::Bytes(b) => Ok(b.clone()),
        Content::Source(src) => Ok(cx.sandbox.read_source(src)?),
        Content::Template { body, context } => {
            let component = cx.sandbox.component();
            let text = match body {
                TemplateBody::Inline(text) => cx.templates.render(
                    &TemplateRef::inline(component, text, &f.path),
                    || Ok(text.clone()),
                    cx.globals,
                    context,
                    cx.timeout,
                ),
                TemplateBody::Source(src) => cx.templates.render(
                    &TemplateRef::source(component, src),
                    || {
                        let bytes = cx.sandbox.read_source(src)?;
                        String::from_utf8(bytes).map_err(|_| ResourceError::Template {
                            name: format!("`{src}`"),
                            line: None,
                            message: "the template is not UTF-8 text".into(),
                        })
                    },
                    cx.globals,
                    context,
                    cx.timeout,
                ),
            }?;
            Ok(text.into_bytes())
        }
    }
}

pub(crate) fn verify_file(f: &File, cx: &Context<'_>) -> Result<Check, ResourceError> {
    if let Some(mode) = f.mode {
        cx.sandbox.check_mode(&f.path, mode)?;
    }
    let wanted = render(f, cx)?;
    let (mode, current) = match cx.sandbox.compare(&f.path, &wanted, crate::diff::LIMIT)? {
        Comparison::Missing => {
            let host = cx.sandbox.host_path(&f.path)?;
            let diff = crate::diff::diff(&host.display().to_string(), None, &wanted);
            return Ok(Check::needs("new file", Some(diff), Plan::Write(wanted)));
        }
        Comparison::DanglingSymlink => {
            return Err(ResourceError::Failed(format!(
                "`{}` is a dangling symlink",
                cx.sandbox.host_path(&f.path)?.display()
            )));
        }
        Comparison::NotAFile(_) => return Err(in_the_way(cx, &f.path, "a file")?),
        Comparison::Same { mode } => (mode, None),
        Comparison::Differs {
            mode,
            size,
            current,
        } => (mode, Some((size, current))),
    };
    let mode_change = wanted_mode(f, &wanted, cx).filter(|m| *m & 0o7777 != mode);
    let mode_note = mode_change.map(|m| format!("mode {mode:04o} → {:04o}", m & 0o7777));
    let Some((size, current)) = current else {
        return Ok(match mode_change {
            Some(m) => Check::needs(mode_note.unwrap_or_default(), None, Plan::Chmod(m)),
            None => Check::up_to_date(),
        });
    };
    let host = cx.sandbox.host_path(&f.path)?.display().to_string();
    let diff = match current {
        Some(current) => crate::diff::diff(&host, Some(&current), &wanted),
        None => crate::diff::too_large(size, wanted.len()),
    };
    let reason = match mode_note {
        Some(note) => format!("content changed, {note}"),
        None => "content changed".to_owned(),
    };
    Ok(Check::needs(reason, Some(diff), Plan::Write(wanted)))
}

/// The mode to write: the step's, else `0600` when the content holds a
/// secret.
fn wanted_mode(f: &File, content: &[u8], cx: &Context<'_>) -> Option<u32> {
    f.mode.or_else(|| cx.mask.holds(content).then_some(0o600))
}

pub(crate) fn update_file(f: &File, plan: Plan, cx: &Context<'_>) -> Result<(), ResourceError> {
    match plan {
        Plan::Write(bytes) => {
            if f.leading {
                make_parent(&f.path, cx)?;
            }
            cx.sandbox
                .write_batched(&f.path, &bytes, wanted_mode(f, &bytes, cx))?;
        }
        Plan::Chmod(mode) => cx.sandbox.chmod(&f.path, mode)?,
        _ => {}
    }
    Ok(())
}

pub(crate) fn verify_directory(d: &Directory, cx: &Context<'_>) -> Result<Check, ResourceError> {
    if let Some(mode) = d.mode {
        cx.sandbox.check_mode(&d.path, mode)?;
    }
    match cx.sandbox.stat(&d.path)? {
        None => Ok(Check::needs(
            "missing",
            None,
            Plan::Directory { create: true },
        )),
        Some(s) if s.kind == Kind::Directory => match d.mode {
            Some(m) if m & 0o7777 != s.mode => Ok(Check::needs(
                format!("mode {:04o} → {:04o}", s.mode, m & 0o7777),
                None,
                Plan::Directory { create: false },
            )),
            _ => Ok(Check::up_to_date()),
        },
        Some(_) => Err(in_the_way(cx, &d.path, "a directory")?),
    }
}

pub(crate) fn update_directory(
    d: &Directory,
    plan: Plan,
    cx: &Context<'_>,
) -> Result<(), ResourceError> {
    if plan == (Plan::Directory { create: true }) {
        cx.sandbox.mkdir(&d.path, d.leading)?;
    }
    if let Some(mode) = d.mode {
        cx.sandbox.chmod(&d.path, mode)?;
    }
    Ok(())
}

pub(crate) fn verify_symlink(s: &Symlink, cx: &Context<'_>) -> Result<Check, ResourceError> {
    let Some(stat) = cx.sandbox.stat(&s.path)? else {
        return Ok(Check::needs(
            format!("missing, will point to `{}`", s.target),
            None,
            Plan::Symlink,
        ));
    };
    match stat.kind {
        Kind::Symlink => {
            let current = cx.sandbox.read_link(&s.path)?.unwrap_or_default();
            if current == s.target {
                Ok(Check::up_to_date())
            } else {
                Ok(Check::needs(
                    format!("points to `{current}`, not `{}`", s.target),
                    None,
                    Plan::Symlink,
                ))
            }
        }
        Kind::Directory => Err(in_the_way(cx, &s.path, "a symlink")?),
        _ => Ok(Check::needs(
            format!("a file is in the way, will point to `{}`", s.target),
            None,
            Plan::Symlink,
        )),
    }
}

pub(crate) fn update_symlink(s: &Symlink, cx: &Context<'_>) -> Result<(), ResourceError> {
    cx.sandbox.symlink(&s.path, &s.target)?;
    Ok(())
}

fn make_parent(path: &str, cx: &Context<'_>) -> Result<(), FsError> {
    match Path::new(path).parent().and_then(Path::to_str) {
        Some(parent) if !parent.is_empty() && parent != "/" => {
            if cx.sandbox.stat(parent)?.is_none() {
                cx.sandbox.mkdir(parent, true)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn in_the_way(cx: &Context<'_>, path: &str, wanted: &str) -> Result<ResourceError, FsError> {
    Ok(ResourceError::Failed(format!(
        "`{}` should be {wanted}, but something else is in the way",
        cx.sandbox.host_path(path)?.display()
    )))
}
