//! Golden files: each folder in `tests/golden/` is a deployment repository
//! with `environments/…`, an optional `case.txt` naming the environment to
//! load (`test` without it), and `expected.txt`: the loaded model as
//! rendered below, or the error. Paths are relative to the case folder; the
//! case folder itself, where it shows (target directories), is `<repo>`.
//!
//! `BLESS=1 cargo test -p berth-config --test golden` rewrites the
//! `expected.txt` files that differ and prints which ones changed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use berth_config::{Environment, Origin, load};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let bless = std::env::var_os("BLESS").is_some_and(|v| !v.is_empty() && v != "0");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", root.display()))
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", root.display()));
    cases.retain(|p| p.is_dir());
    cases.sort();

    let mut failed = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap_or_default().to_string_lossy();
        let actual = run(case);
        let expected_file = case.join("expected.txt");
        let expected = std::fs::read_to_string(&expected_file).ok();
        if expected.as_deref() == Some(actual.as_str()) {
            println!("golden {name} ... ok");
            continue;
        }
        if bless {
            if let Err(e) = std::fs::write(&expected_file, &actual) {
                panic!("cannot write {}: {e}", expected_file.display());
            }
            println!("golden {name} ... blessed (expected.txt changed)");
        } else {
            println!("golden {name} ... FAILED");
            println!(
                "--- expected ({})\n{}--- actual\n{actual}---",
                expected_file.display(),
                expected.as_deref().unwrap_or("<missing>\n")
            );
            failed.push(name.into_owned());
        }
    }
    assert!(!cases.is_empty(), "no golden cases in {}", root.display());
    assert!(
        failed.is_empty(),
        "{} golden case(s) failed: {}; rerun with BLESS=1 to accept the new output",
        failed.len(),
        failed.join(", ")
    );
    println!("{} golden cases passed", cases.len());
}

/// Loads the case's environment and renders the model or the error.
fn run(case: &Path) -> String {
    let env = std::fs::read_to_string(case.join("case.txt"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "test".to_owned());
    let prefix = format!("{}/", case.display());
    match load(case, &env) {
        Ok(env) => render(case, &env).replace(&prefix, ""),
        Err(err) => format!("error: {}\n", err.to_string().replace(&prefix, "")),
    }
}

fn opt(value: Option<&str>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:?}"))
}

fn at(origin: &Origin) -> String {
    format!("@ {origin}")
}

/// A path shown relative to the repository as `<repo>/…`.
fn repo_path(repo: &Path, path: &Path) -> String {
    let canonical = std::fs::canonicalize(repo).unwrap_or_else(|_| repo.to_path_buf());
    for base in [&canonical, &repo.to_path_buf()] {
        if let Ok(rest) = path.strip_prefix(base) {
            return if rest.as_os_str().is_empty() {
                "<repo>".to_owned()
            } else {
                format!("<repo>/{}", rest.display())
            };
        }
    }
    path.display().to_string()
}

fn render(repo: &Path, env: &Environment) -> String {
    let mut out = String::new();
    let o = &mut out;
    let _ = writeln!(o, "environment {}", env.name);
    let _ = writeln!(o, "  file: {}", env.file.display());
    let files: Vec<String> = env.files.iter().map(|f| f.display().to_string()).collect();
    let _ = writeln!(o, "  files: {}", files.join(", "));
    let _ = writeln!(o, "  connect_method: {}", env.connect_method);
    let _ = writeln!(o, "  host_domain: {}", opt(env.host_domain.as_deref()));
    let _ = writeln!(o, "  service_user: {}", opt(env.service_user.as_deref()));
    let _ = writeln!(o, "  platform: {}", opt(env.platform.as_deref()));
    let _ = writeln!(o, "  timeout: {:?}", env.timeout);
    let _ = writeln!(
        o,
        "  jobs: {}",
        env.jobs.map_or_else(|| "-".to_owned(), |j| j.to_string())
    );
    let _ = writeln!(
        o,
        "  target_directory: {}",
        repo_path(repo, &env.target_directory)
    );
    let _ = writeln!(o, "  require_v4: {}", env.require_v4);
    let _ = writeln!(o, "  require_v6: {}", env.require_v6);

    let _ = writeln!(o, "hosts:");
    for host in &env.hosts {
        let ignored = if host.ignore { " (ignored)" } else { "" };
        let _ = writeln!(
            o,
            "  {}{ignored} fqdn {} {}",
            host.name,
            host.fqdn,
            at(&host.origin)
        );
        let _ = writeln!(o, "    platform: {}", opt(host.platform.as_deref()));
        let _ = writeln!(o, "    service_user: {}", opt(host.service_user.as_deref()));
        for component in &host.components {
            let bang = if component.ignore { "!" } else { "" };
            let features = if component.features.is_empty() {
                String::new()
            } else {
                format!(" features {}", component.features.join(", "))
            };
            let _ = writeln!(
                o,
                "    component {bang}{}{features} {}",
                component.name,
                at(&component.origin)
            );
        }
        for (key, value) in &host.data {
            let _ = writeln!(o, "    data {key} = {value:?}");
        }
    }

    let _ = writeln!(o, "components:");
    for (name, section) in &env.components {
        let _ = writeln!(o, "  {name} {}", at(&section.origin));
        for (key, raw) in &section.attributes {
            let _ = writeln!(o, "    {key} = {:?} {}", raw.value, at(&raw.origin));
        }
    }

    let _ = writeln!(o, "grants:");
    for (name, grants) in &env.grants {
        let _ = writeln!(o, "  {name} {}", at(&grants.origin));
        for path in &grants.paths {
            let _ = writeln!(o, "    path {} {}", path.to_line(), at(&path.origin));
        }
        for command in &grants.commands {
            let _ = writeln!(o, "    command {} {}", command.program, at(&command.origin));
        }
    }

    let _ = writeln!(o, "resolver:");
    for (name, addresses) in &env.resolver {
        let list: Vec<String> = addresses.iter().map(ToString::to_string).collect();
        let _ = writeln!(o, "  {name} = {}", list.join(", "));
    }
    out
}
