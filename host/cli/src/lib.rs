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
use std::io::Write as _;
use std::process::ExitCode;

/// Runs the command line and returns the process exit status.
pub fn run() -> ExitCode {
    let args = cli::Cli::parse();
    report::configure(report::Output {
        color: args.color,
        quiet: args.quiet,
    });
    // berth's own diagnostics (not deployment output) go to stderr:
    // `BERTH_LOG` takes any tracing filter; `-d` shows berth's debug spans
    // (every phase, guest call and host call, with its duration when it
    // closes); else warnings only. docs/cli.md lists the span names.
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(if debug_requested(&args.command) {
            DEBUG_FILTER
        } else {
            "warn"
        })
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(|| MaskedStderr(Vec::new()))
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

/// One diagnostic event on its way to stderr: held whole, then written
/// with every secret of the loaded environments masked
/// ([`berth_secrets::diagnostic`]). The traces show host calls with their
/// arguments and results, which can hold secrets.
struct MaskedStderr(Vec<u8>);

impl std::io::Write for MaskedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for MaskedStderr {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let _ = std::io::stderr().write_all(berth_secrets::diagnostic(&text).as_bytes());
    }
}

/// What `-d` traces: berth's own crates at debug level, nothing of
/// wasmtime's or cranelift's.
const DEBUG_FILTER: &str = "warn,berth=debug,berth_engine=debug,berth_runtime=debug,\
    berth_build=debug,berth_sandbox=debug,berth_resources=debug,berth_config=debug";

fn debug_requested(command: &cli::Command) -> bool {
    use cli::Command;
    matches!(
        command,
        Command::Deploy { debug: true, .. }
            | Command::Check { debug: true, .. }
            | Command::Build { debug: true }
    )
}
