//! `berth inspect FILE.wasm`.

use crate::cli::Format;
use berth_build::Contents;
use berth_engine::model::{access_word, attr_type};
use berth_engine::package::roots_metadata;
use berth_runtime::{Runtime, RuntimeOptions};
use std::path::Path;
use std::process::ExitCode;

/// One line of what a component supplied, escaped for the terminal.
fn l(text: &str) -> std::borrow::Cow<'_, str> {
    crate::escape::line(text)
}

pub fn run(file: &Path, format: Format) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file)
        .map_err(|e| anyhow::anyhow!("cannot read `{}`: {e}", file.display()))?;
    let options = RuntimeOptions::default();
    let runtime = Runtime::new(options.clone())?;
    let contents = berth_build::read_package(&bytes)
        .map_err(|e| anyhow::anyhow!("`{}` is not a valid component: {e}", file.display()))?;
    let package = match &contents {
        // A Python package: its sources, run by berth's Python runtime.
        Some(c) if c.metadata.python_runtime.is_some() => {
            let root = berth_engine::find_repository(Path::new(".")).unwrap_or_default();
            let reporter = crate::report::reporter(Format::Human, false);
            let python = berth_engine::python::Loader::new(
                berth_engine::python::runtime_dir(&options, &root),
                reporter.as_ref(),
            );
            python.load_packaged(&runtime, file.display().to_string(), file, &c.files)?
        }
        _ => runtime.load_bytes(file, &bytes)?,
    };
    let d = &package.description;
    // A package's metadata is written by whoever made the file; say so
    // when it disagrees with what the component itself describes.
    let disagrees = contents.as_ref().is_some_and(|c| {
        c.metadata.version != d.version
            || c.metadata.api_version != package.api_version
            || c.metadata.roots != roots_metadata(d)
    });
    if format == Format::Json {
        let out = serde_json::json!({
            "file": file.display().to_string(),
            "name": d.name,
            "version": d.version,
            "api_version": package.api_version,
            "sha256": package.sha256,
            "roots": roots_metadata(d),
            "package": contents.as_ref().map(|c| serde_json::json!({
                "metadata": c.metadata,
                "files": c.files.iter().map(|f| serde_json::json!({
                    "path": f.path,
                    "size": f.content.len(),
                    "executable": f.executable,
                })).collect::<Vec<_>>(),
                "matches_describe": !disagrees,
            })),
        });
        println!("{out}");
        return Ok(ExitCode::SUCCESS);
    }
    // Everything below but the file name and the digest comes from the
    // component or its package: control characters are shown escaped.
    println!("{} {}", l(&d.name), l(&d.version));
    println!("  file         {}", l(&file.display().to_string()));
    println!("  api version  {}", l(&package.api_version));
    println!("  sha256       {}", package.sha256);
    print_package(contents.as_ref(), disagrees);
    for r in &d.roots {
        println!();
        println!("component {}", l(&r.name));
        if !r.doc.is_empty() {
            println!("  {}", l(&r.doc));
        }
        if r.attributes.is_empty() {
            println!("  attributes: none");
        } else {
            println!("  attributes:");
            for a in &r.attributes {
                let default = a
                    .default
                    .as_deref()
                    .map(|d| format!(" = {}", l(d)))
                    .unwrap_or_else(|| " (required)".to_string());
                println!(
                    "    {}: {}{default}",
                    l(&a.name),
                    attr_type(a.type_).as_str()
                );
                if !a.doc.is_empty() {
                    println!("        {}", l(&a.doc));
                }
            }
        }
        if r.needs.paths.is_empty() && r.needs.commands.is_empty() {
            println!("  needs: nothing beyond its workdir and defdir");
        } else {
            println!("  needs:");
            for p in &r.needs.paths {
                println!("    path {} {}", l(&p.path), access_word(p.access));
            }
            for c in &r.needs.commands {
                println!("    command {}", l(c));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_package(contents: Option<&Contents>, disagrees: bool) {
    let Some(Contents { metadata: m, files }) = contents else {
        println!(
            "  package      not a package (no `{}` section)",
            berth_build::PACKAGE_SECTION
        );
        return;
    };
    println!(
        "  package      {} {} (API {}), packaged by berth {}",
        l(&m.name),
        l(&m.version),
        l(&m.api_version),
        l(&m.berth_version)
    );
    println!(
        "  source       {} (sha256 of its folder's files)",
        l(&m.source_digest)
    );
    if files.is_empty() {
        println!("  files        none");
    } else {
        println!("  files        {}", files.len());
        for f in files {
            let exec = if f.executable { ", executable" } else { "" };
            println!("    {} ({} bytes{exec})", l(&f.path), f.content.len());
        }
    }
    if disagrees {
        println!("  warning: the package metadata does not match what the component describes");
    }
}
