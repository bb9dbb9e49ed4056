//! `berth package NAME`.

use crate::cli::Format;
use crate::report;
use berth_engine::repo::Repository;
use berth_runtime::RuntimeOptions;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn run(repo: PathBuf, name: &str, out: Option<&Path>, build: bool) -> anyhow::Result<ExitCode> {
    let opened = Repository::open(&repo)?;
    let reporter = report::reporter(Format::Human, false);
    let packaged = berth_engine::package::package(
        &opened,
        &repo,
        name,
        out,
        build,
        &RuntimeOptions::default(),
        reporter.as_ref(),
    )?;
    let meta = &packaged.metadata;
    println!("packaged {} {}", meta.name, meta.version);
    println!("  file    {}", packaged.file.display());
    println!("  size    {} bytes", packaged.size);
    println!("  sha256  {}", packaged.sha256);
    if packaged.files.is_empty() {
        println!("  files   none");
    } else {
        println!("  files   {}", packaged.files.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}
