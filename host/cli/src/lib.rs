//! The `berth` command line: argument parsing, the subcommands, and the
//! reporters that turn engine events into human output or JSON lines.
//!
//! Only this crate writes to the terminal. Exit status: 0 when everything
//! succeeded, 1 when a deployment ran and something failed, 2 when the
//! deployment could not start (bad arguments, environment or component).

mod cli;
mod commands;
mod report;

use clap::Parser;
use std::process::ExitCode;

/// Runs the command line and returns the process exit status.
pub fn run() -> ExitCode {
    let args = cli::Cli::parse();
    match commands::dispatch(args) {
        Ok(code) => code,
        Err(error) => {
            report::error(&error);
            ExitCode::from(2)
        }
    }
}
