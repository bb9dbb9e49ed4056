//! `berth deploy ENV`.

use crate::cli::Format;
use crate::report;
use berth_config::IdentitySources;
use berth_engine::DeployOptions;
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
    pub break_lock: bool,
}

pub fn run(repo: PathBuf, environment: &str, flags: Flags) -> anyhow::Result<ExitCode> {
    let mut options = DeployOptions::new(repo, environment);
    options.predict = flags.predict;
    options.build = flags.build;
    options.jobs = flags.jobs;
    options.platform = flags.platform;
    options.identities = IdentitySources::from_env(flags.identities);
    options.break_lock = flags.break_lock;
    options.command = std::env::args().collect::<Vec<_>>().join(" ");
    // The first Ctrl-C stops the deploy cleanly (no further step starts,
    // agents release their locks); a second one exits at once.
    let interrupt = options.interrupt.clone();
    let _ = ctrlc::set_handler(move || {
        if interrupt.swap(true, std::sync::atomic::Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    let reporter = report::reporter(flags.format, flags.debug);
    // Connecting needs the agent binary only for an ssh environment; the
    // engine says so when one needs it and it is missing.
    let remote = berth_remote::ssh::SshOptions::for_environment(&options.repo, environment)
        .and_then(berth_remote::ssh::SshConnect::new);
    let result = match &remote {
        Ok(remote) => berth_engine::deploy_with(&options, reporter.clone(), Ok(remote)),
        Err(why) => berth_engine::deploy_with(&options, reporter.clone(), Err(why)),
    };
    match result {
        Ok(summary) if summary.success() => Ok(ExitCode::SUCCESS),
        Ok(_) => Ok(ExitCode::from(1)),
        Err(error) if flags.format == Format::Json => {
            report::json_error(&anyhow::Error::new(error));
            Ok(ExitCode::from(2))
        }
        Err(error) => Err(error.into()),
    }
}
