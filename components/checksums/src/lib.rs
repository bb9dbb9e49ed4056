//! `checksums`: files plus a custom step that keeps their `SHA256SUMS` up to
//! date by running `sha256sum`.

use std::collections::BTreeMap;

use berth_sdk::process::Command;
use berth_sdk::{
    Attribute, Component, Configure, Custom, CustomStep, Directory, Error, File, Needs, Result,
    StepContext, Verdict, fs,
};
use serde::{Deserialize, Serialize};

/// Writes a few files into `checksums/` and their `checksums/SHA256SUMS`.
struct Checksums;

/// The data of the `manifest` custom step.
#[derive(Serialize, Deserialize)]
struct Manifest {
    /// The directory, relative to the workdir.
    dir: String,
    /// The files in it, sorted.
    files: Vec<String>,
}

const DIR: &str = "checksums";
const SUMS: &str = "SHA256SUMS";

impl Component for Checksums {
    const NAME: &'static str = "checksums";
    const DOC: &'static str = "Writes the files of attribute `files` into `checksums/` and keeps \
         `checksums/SHA256SUMS` (made by `sha256sum`) in step with them.";

    fn attributes() -> Vec<Attribute> {
        let files: BTreeMap<&str, &str> = [
            ("alpha.txt", "alpha\n"),
            ("beta.txt", "beta\n"),
            ("gamma.txt", "gamma\n"),
        ]
        .into();
        vec![
            Attribute::map("files")
                .default(files)
                .doc("File name to content of the files to write and checksum."),
        ]
    }

    fn needs() -> Needs {
        Needs::new().command("sha256sum")
    }

    fn configure(cx: &mut Configure) -> Result<()> {
        let files: BTreeMap<String, String> = cx.attribute("files")?;
        if let Some(bad) = files.keys().find(|n| n.contains('/') || n.starts_with('.')) {
            return Err(Error::invalid(format!(
                "attribute `files`: `{bad}` is not a plain file name"
            )));
        }
        cx.add(Directory::new(DIR));
        let manifest = cx.add(
            Custom::new("manifest")
                .data(Manifest {
                    dir: DIR.to_owned(),
                    files: files.keys().cloned().collect(),
                })
                .label(format!("{DIR}/{SUMS}")),
        );
        for (name, content) in files {
            cx.add_under(manifest, File::new(format!("{DIR}/{name}")).text(content));
        }
        Ok(())
    }

    fn verify(step: &CustomStep, cx: &StepContext) -> Result<Verdict> {
        let manifest: Manifest = step.data()?;
        let path = format!("{}/{SUMS}", manifest.dir);
        if fs::stat(&path)?.is_none() {
            return Ok(Verdict::needs_update(format!("`{path}` is missing")));
        }
        if cx.children_changed {
            return Ok(Verdict::needs_update("the files changed"));
        }
        if fs::read_to_string(&path)? != sums(&manifest)? {
            return Ok(Verdict::needs_update(format!("`{path}` is out of date")));
        }
        Ok(Verdict::UpToDate)
    }

    fn update(step: &CustomStep, _cx: &StepContext) -> Result<()> {
        let manifest: Manifest = step.data()?;
        fs::write(format!("{}/{SUMS}", manifest.dir), sums(&manifest)?)
    }
}

/// What `sha256sum` says about the files now.
fn sums(manifest: &Manifest) -> Result<String> {
    let out = Command::new("sha256sum")
        .arg("--")
        .args(&manifest.files)
        .cwd(&manifest.dir)
        .run()?;
    if !out.success() {
        return Err(Error::failed(format!(
            "`sha256sum` in `{}` exited with status {}: {}",
            manifest.dir,
            out.status,
            out.stderr_str().trim()
        )));
    }
    Ok(out.stdout_str().into_owned())
}

berth_sdk::export!(Checksums);
