//! `berth inspect FILE.wasm`.

use crate::cli::Format;
use berth_engine::model::{access_word, attr_type};
use berth_runtime::{Runtime, RuntimeOptions};
use std::path::Path;
use std::process::ExitCode;

pub fn run(file: &Path, format: Format) -> anyhow::Result<ExitCode> {
    let runtime = Runtime::new(RuntimeOptions::default())?;
    let package = runtime.load(file)?;
    let d = &package.description;
    if format == Format::Json {
        let roots: Vec<serde_json::Value> = d
            .roots
            .iter()
            .map(|r| {
                serde_json::json!({
                    "name": r.name,
                    "doc": r.doc,
                    "attributes": r.attributes.iter().map(|a| serde_json::json!({
                        "name": a.name,
                        "type": attr_type(a.type_).as_str(),
                        "default": a.default.as_deref().and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok()),
                        "doc": a.doc,
                    })).collect::<Vec<_>>(),
                    "needs": {
                        "paths": r.needs.paths.iter().map(|p| serde_json::json!({
                            "path": p.path, "access": access_word(p.access),
                        })).collect::<Vec<_>>(),
                        "commands": r.needs.commands,
                    },
                })
            })
            .collect();
        let out = serde_json::json!({
            "file": file.display().to_string(),
            "name": d.name,
            "version": d.version,
            "api_version": package.api_version,
            "sha256": package.sha256,
            "roots": roots,
        });
        println!("{out}");
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} {}", d.name, d.version);
    println!("  file         {}", file.display());
    println!("  api version  {}", package.api_version);
    println!("  sha256       {}", package.sha256);
    for r in &d.roots {
        println!();
        println!("component {}", r.name);
        if !r.doc.is_empty() {
            println!("  {}", r.doc);
        }
        if r.attributes.is_empty() {
            println!("  attributes: none");
        } else {
            println!("  attributes:");
            for a in &r.attributes {
                let default = a
                    .default
                    .as_deref()
                    .map(|d| format!(" = {d}"))
                    .unwrap_or_else(|| " (required)".to_string());
                println!("    {}: {}{default}", a.name, attr_type(a.type_).as_str());
                if !a.doc.is_empty() {
                    println!("        {}", a.doc);
                }
            }
        }
        if r.needs.paths.is_empty() && r.needs.commands.is_empty() {
            println!("  needs: nothing beyond its workdir and defdir");
        } else {
            println!("  needs:");
            for p in &r.needs.paths {
                println!("    path {} {}", p.path, access_word(p.access));
            }
            for c in &r.needs.commands {
                println!("    command {c}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
