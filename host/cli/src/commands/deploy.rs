//! `berth deploy ENV`.

use crate::cli::Format;
use crate::report;
use berth_engine::DeployOptions;
use berth_secrets::IdentitySources;
use std::path::PathBuf;
use std::process::ExitCode;

/// The deploy flags, as parsed.
pub struct Flags {
    pub predict: bool,
    pub format: Format,
    pub debug: bool,
    pub build: bool,
    pub jobs: Option<usize>,
    pub platform: Option<String>,
    /// `--identity` files.
    pub identities: Vec<PathBuf>,
}

pub fn run(repo: PathBuf, environment: &str, flags: Flags) -> anyhow::Result<ExitCode> {
    let mut options = DeployOptions::new(repo, environment);
    options.predict = flags.predict;
    options.build = flags.build;
    options.jobs = flags.jobs;
    options.platform = flags.platform;
    options.identities = IdentitySources::from_env(flags.identities);
    let reporter = report::reporter(flags.format, flags.debug);
    match berth_engine::deploy(&options, reporter.clone()) {
        Ok(summary) if summary.success() => Ok(ExitCode::SUCCESS),
        Ok(_) => Ok(ExitCode::from(1)),
        Err(error) if flags.format == Format::Json => {
            report::json_error(&anyhow::Error::new(error));
            Ok(ExitCode::from(2))
        }
        Err(error) => Err(error.into()),
    }
}
