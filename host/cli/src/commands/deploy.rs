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
    // As the lock records it: `berth` and the arguments, wherever berth is.
    options.command = std::iter::once("berth".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    // The first Ctrl-C stops the deploy cleanly (no further step starts,
    // agents release their locks); a second one exits at once.
    let interrupt = options.interrupt.clone();
    let _ = ctrlc::set_handler(move || {
        if interrupt.swap(true, std::sync::atomic::Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    let reporter = report::reporter(flags.format, flags.debug);
    let transport = berth_remote::ssh::SshTransport {
        cache_dir: options.runtime.cache_dir.clone(),
    };
    let result = berth_engine::deploy_with(&options, reporter.clone(), Some(&transport));
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
