//! The `berth` command line: argument parsing, the subcommands, and the
//! reporters that turn engine events into human output or JSON lines.
//!
//! Only this crate writes to the terminal. Exit status: 0 when everything
//! succeeded, 1 when a deployment ran and something failed, 2 when the
//! deployment could not start (bad arguments, environment or component).

mod cli;
mod commands;
mod escape;
mod report;

use clap::Parser;
use std::process::ExitCode;

/// Runs the command line and returns the process exit status.
pub fn run() -> ExitCode {
    let args = cli::Cli::parse();
    // berth's own diagnostics (not deployment output) go to stderr; set
    // `BERTH_LOG=debug` (any tracing filter) to see more.
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .init();
    match commands::dispatch(args) {
        Ok(code) => code,
        Err(error) => {
            report::error(&error);
            ExitCode::from(2)
        }
    }
}
