//! Guarded program runs.

use berth_sandbox::Command;

use crate::{Check, CommandStep, Context, Plan, ResourceError};

/// How much of a failed command's stderr an error quotes.
const STDERR_TAIL: usize = 2000;

pub(crate) fn verify(
    c: &CommandStep,
    cx: &Context<'_>,
    children_changed: bool,
) -> Result<Check, ResourceError> {
    if c.on_change && children_changed {
        return Ok(Check::needs("a child step changed", None, Plan::Run));
    }
    if let Some(creates) = &c.creates
        && cx.sandbox.stat(creates)?.is_some()
    {
        return Ok(Check::up_to_date());
    }
    if let Some(unless) = &c.unless {
        let cmd = Command {
            argv: unless.clone(),
            cwd: c.cwd.clone(),
            stdin: None,
            timeout: cx.timeout,
        };
        // Guards only look: they run under the read-only confinement.
        let out = cx.sandbox.read_only().run(cx.programs, &cmd)?;
        if out.status == 0 {
            return Ok(Check::up_to_date());
        }
        return Ok(Check::needs(
            format!("`{}` exited with status {}", unless.join(" "), out.status),
            None,
            Plan::Run,
        ));
    }
    if let Some(creates) = &c.creates {
        return Ok(Check::needs(
            format!("`{creates}` does not exist"),
            None,
            Plan::Run,
        ));
    }
    if c.on_change {
        // Only runs when a child changed, which it did not.
        return Ok(Check::up_to_date());
    }
    Ok(Check::needs("no guard, runs every time", None, Plan::Run))
}

pub(crate) fn update(c: &CommandStep, cx: &Context<'_>) -> Result<(), ResourceError> {
    let cmd = Command {
        argv: c.argv.clone(),
        cwd: c.cwd.clone(),
        stdin: None,
        timeout: cx.timeout,
    };
    let out = cx.sandbox.run(cx.programs, &cmd)?;
    if out.status == 0 {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stderr = stderr.trim_end();
    let tail = match stderr.char_indices().rev().nth(STDERR_TAIL) {
        Some((i, _)) => format!("…{}", &stderr[i..]),
        None => stderr.to_owned(),
    };
    let shown = c.argv.join(" ");
    Err(ResourceError::Failed(if tail.is_empty() {
        format!("`{shown}` exited with status {}", out.status)
    } else {
        format!("`{shown}` exited with status {}: {tail}", out.status)
    }))
}
