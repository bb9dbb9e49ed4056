//! `berth init [DIR]`: start a deployment repository.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The files of a new repository, relative to it.
const FILES: [(&str, &str); 3] = [
    (
        "environments/local/environment.cfg",
        "# The default environment: deploys into this repository's `work/`\n\
         # folder on this machine. Assign components to the host below, e.g.\n\
         # `localhost = web` after `berth new component web`.\n\
         [environment]\n\
         connect_method = local\n\
         \n\
         [hosts]\n\
         localhost =\n",
    ),
    (
        "components/README.md",
        "One folder per component package: `berth new component NAME` starts one.\n",
    ),
    (
        ".gitignore",
        "# What berth builds and deploys; never commit it.\n/.berth\n/work\n/dist\n/components/target\n",
    ),
];

pub fn run(dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let dir = dir.unwrap_or_else(|| PathBuf::from("."));
    if dir.join("environments").exists() {
        anyhow::bail!(
            "`{}` already is a deployment repository (it has `environments/`); nothing was changed",
            dir.display()
        );
    }
    // Refuse before writing anything, so nothing is half-made.
    for (file, _) in FILES {
        let path = dir.join(file);
        if path.exists() {
            anyhow::bail!(
                "`{}` exists; move it away or run `berth init` in an empty folder (nothing was changed)",
                path.display()
            );
        }
    }
    for (file, text) in FILES {
        write(&dir.join(file), text)?;
    }
    let shown = if dir == Path::new(".") {
        "the current folder".to_owned()
    } else {
        format!("`{}`", dir.display())
    };
    let mut out = format!("created a deployment repository in {shown}\n");
    for (file, _) in FILES {
        out += &format!("  {file}\n");
    }
    let cd = if dir == Path::new(".") {
        String::new()
    } else {
        format!("cd {} && ", dir.display())
    };
    out += &format!(
        "\nnext steps:\n  1. {cd}berth new component web\n  2. add `web` to `localhost =` in environments/local/environment.cfg\n  3. berth deploy local\n"
    );
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create `{}`", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write `{}`", path.display()))
}
