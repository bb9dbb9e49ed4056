//! `berth new component NAME --lang rust|python`.

use crate::cli::{Lang, New};
use crate::report::relative;
use berth_engine::repo::Repository;
use berth_scaffold::{Created, WorkspaceChange};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn run(repo: PathBuf, what: New) -> anyhow::Result<ExitCode> {
    Repository::open(&repo)?;
    // Paths in messages relative to where the user stands, as `repository`
    // made them: `components/web`, not `./components/web`.
    let root = if repo == Path::new(".") {
        PathBuf::new()
    } else {
        repo
    };
    let New::Component { name, lang } = what;
    let lang = match lang {
        Lang::Rust => berth_scaffold::Lang::Rust,
        Lang::Python => berth_scaffold::Lang::Python,
    };
    let created = berth_scaffold::new_component(&root, &name, lang)?;
    print!("{}", summary(&root, &created));
    Ok(ExitCode::SUCCESS)
}

/// What was made and what to do next.
fn summary(root: &Path, c: &Created) -> String {
    let language = match c.lang {
        berth_scaffold::Lang::Rust => "Rust",
        berth_scaffold::Lang::Python => "Python",
    };
    let mut out = format!(
        "created the {language} component `{}` in {}/\n",
        c.name,
        relative(root, &c.dir)
    );
    for file in &c.files {
        out += &format!("  {}\n", relative(root, file));
    }
    match &c.workspace {
        Some(WorkspaceChange::Created(path)) => {
            out += &format!(
                "  {} (the cargo workspace of the Rust components)\n",
                relative(root, path)
            );
        }
        Some(WorkspaceChange::Edited { path, sdk }) => {
            out += &format!("  {}: added the member `{}`", relative(root, path), c.name);
            if *sdk {
                out += " and `berth-sdk`";
            }
            out += "\n";
        }
        None => {}
    }
    if let Some(sdk) = &c.vendored_sdk {
        out += &format!(
            "  {}/: berth's Rust SDK, which `berth-sdk` points at (commit it with the component)\n",
            relative(root, sdk)
        );
    }
    let environments = berth_config::environment_names(root);
    let env = environments
        .iter()
        .find(|e| *e == "local")
        .or(environments.first())
        .map_or("ENV", String::as_str);
    let file = if root.join(format!("environments/{env}.cfg")).is_file() {
        format!("environments/{env}.cfg")
    } else {
        format!("environments/{env}/environment.cfg")
    };
    out += &format!(
        "\nnext steps:\n  1. assign it to a host in `{file}`:\n       [hosts]\n       localhost = {}\n     (or append `, {}` to a host's line)\n",
        c.name, c.name
    );
    let attributes: Vec<String> = c
        .attributes
        .iter()
        .map(|(name, ty, default)| format!("{name} ({ty}, default {default})"))
        .collect();
    out += &format!(
        "  2. optionally set its attributes in `[component:{}]`: {}\n  3. berth deploy {env}\n",
        c.name,
        attributes.join(", ")
    );
    out
}
