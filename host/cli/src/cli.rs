//! The command line, as clap parses it.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Deploy services made of sandboxed WebAssembly components, locally and
/// over SSH.
#[derive(Debug, Parser)]
#[command(name = "berth", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// The deployment repository (default: the nearest folder upwards with
    /// an `environments/` folder).
    #[arg(long, global = true, value_name = "DIR")]
    pub repo: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Readable output with diffs.
    Human,
    /// One JSON object per line (see docs/events.md).
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Deploy an environment: configure, verify and update every component.
    Deploy {
        /// The environment (a folder or file in `environments/`).
        environment: String,
        /// Verify only: show what would change, with diffs, and change nothing.
        #[arg(short, long)]
        predict: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Show debug output: component debug logs, build output, timings.
        #[arg(short, long)]
        debug: bool,
        /// Do not build source components that are missing or stale.
        #[arg(long)]
        no_build: bool,
        /// Deploy up to N hosts at once (default: `jobs` in [environment], else 4).
        #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        jobs: Option<u16>,
    },
    /// Build every component in `components/` from source into `.berth/build/`.
    Build {
        /// Show the compiler's output.
        #[arg(short, long)]
        debug: bool,
    },
    /// Show what a component file contains: name, API version, attributes,
    /// requested capabilities.
    Inspect {
        /// The `.wasm` file.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn deploy_parses_its_flags() {
        let cli =
            Cli::try_parse_from(["berth", "deploy", "local", "--predict", "--format", "json"])
                .expect("valid arguments");
        match cli.command {
            Command::Deploy {
                environment,
                predict,
                format,
                ..
            } => {
                assert_eq!(environment, "local");
                assert!(predict);
                assert_eq!(format, Format::Json);
            }
            other => panic!("parsed as {other:?}"),
        }
    }
}
