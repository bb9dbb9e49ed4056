//! `berth agent`: the target's side of a remote deploy. The controller
//! starts it over SSH; it serves one controller on stdin and stdout.

use std::process::ExitCode;

pub fn run() -> anyhow::Result<ExitCode> {
    berth_remote::agent::serve(std::io::stdin(), std::io::stdout())?;
    Ok(ExitCode::SUCCESS)
}
