//! `berth build`.

use crate::cli::Format;
use crate::report;
use berth_engine::repo::Repository;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(repo: PathBuf, debug: bool) -> anyhow::Result<ExitCode> {
    let repo = Repository::open(&repo)?;
    let reporter = report::reporter(Format::Human, debug);
    let python =
        berth_engine::python::runtime_dir(&berth_runtime::RuntimeOptions::default(), &repo.root);
    let built = repo.build(&python, reporter.as_ref())?;
    for wasm in &built {
        println!("built {}", report::relative(&repo.root, wasm));
    }
    Ok(ExitCode::SUCCESS)
}
