//! `berth deploy ENV`.

use crate::cli::Format;
use crate::report;
use berth_engine::DeployOptions;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(
    repo: PathBuf,
    environment: &str,
    predict: bool,
    format: Format,
    debug: bool,
    build: bool,
) -> anyhow::Result<ExitCode> {
    let mut options = DeployOptions::new(repo, environment);
    options.predict = predict;
    options.build = build;
    let reporter = report::reporter(format, debug);
    match berth_engine::deploy(&options, reporter.clone()) {
        Ok(summary) if summary.success() => Ok(ExitCode::SUCCESS),
        Ok(_) => Ok(ExitCode::from(1)),
        Err(error) if format == Format::Json => {
            report::json_error(&anyhow::Error::new(error));
            Ok(ExitCode::from(2))
        }
        Err(error) => Err(error.into()),
    }
}
