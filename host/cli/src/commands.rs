//! One module per subcommand, each with a thin `run`.

mod agent;
mod build;
mod cache;
mod check;
mod completions;
mod deploy;
mod init;
mod inspect;
mod lock;
mod new;
mod package;
mod secrets;
mod show;

use crate::cli::{Cli, Command, SecretsCommand};
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Deploy {
            load,
            predict,
            format,
            debug,
            jobs,
            platform,
            break_lock,
        } => deploy::run(
            repository(cli.repo)?,
            &load.environment,
            deploy::Flags {
                predict,
                format,
                debug,
                build: !load.no_build,
                jobs: jobs.map(usize::from),
                platform,
                identities: load.identities.identity,
                break_lock,
            },
        ),
        Command::Agent => agent::run(),
        Command::Check {
            load,
            format,
            debug,
        } => check::run(
            repository(cli.repo)?,
            &load.environment,
            format,
            debug,
            !load.no_build,
            load.identities.identity,
        ),
        Command::Show {
            load,
            host,
            component,
            format,
        } => show::run(
            repository(cli.repo)?,
            &load.environment,
            show::Filter {
                host: host.as_deref(),
                component: component.as_deref(),
            },
            format,
            !load.no_build,
            load.identities.identity,
        ),
        Command::Secrets {
            action: SecretsCommand::Textconv { file, identities },
        } => secrets::textconv(&file, identities.identity),
        Command::Secrets { action } => secrets::run(repository(cli.repo)?, action),
        Command::Build { debug } => build::run(repository(cli.repo)?, debug),
        Command::Inspect { file, format } => inspect::run(&file, format),
        Command::Package {
            name,
            out,
            no_build,
        } => package::run(repository(cli.repo)?, &name, out.as_deref(), !no_build),
        Command::Lock => lock::run(repository(cli.repo)?),
        Command::New { what } => new::run(repository(cli.repo)?, what),
        Command::Init { dir } => init::run(dir),
        Command::Cache { action } => cache::run(action),
        Command::Completions { shell } => completions::completions(shell),
        Command::Man => completions::man(),
    }
}

/// The repository to work on: `--repo`, else the nearest folder upwards
/// with an `environments/` folder.
fn repository(explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(repo) = explicit {
        return Ok(repo);
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let found = berth_engine::find_repository(&cwd).ok_or_else(|| {
        anyhow::anyhow!(
            "`{}` is not inside a deployment repository: no folder upwards has an `environments/` folder (pass `--repo DIR`)",
            cwd.display()
        )
    })?;
    // Relative to where the user stands, so that messages name files as
    // `environments/local/environment.cfg:3` rather than by absolute path.
    let depth = cwd
        .strip_prefix(&found)
        .map(|rest| rest.components().count());
    Ok(match depth {
        Ok(0) => PathBuf::from("."),
        Ok(n) => std::iter::repeat_n("..", n).collect(),
        Err(_) => found,
    })
}
