//! Golden files: each folder in `tests/golden/` is a deployment repository
//! with `environments/…`, an optional `case.txt` naming the environment to
//! load (`test` without it), and `expected.txt`: the loaded model as
//! rendered below, or the error. Paths are relative to the case folder; the
//! case folder itself, where it shows (target directories), is `<repo>`.
//!
//! `BLESS=1 cargo test -p berth-config --test golden` rewrites the
//! `expected.txt` files that differ and prints which ones changed.
//!
//! Secrets: each case is loaded from a temporary copy, with
//! [`berth_secrets::load`]. A plaintext `secrets.cfg` (or
//! `<env>.secrets.cfg`) in the case is encrypted in that copy to the test
//! identity `host/secrets/tests/age/test-identity.txt` as `secrets.cfg.age` and removed,
//! so a case keeps its secrets readable; an `.age` file in the case is
//! copied as it is (a damaged file). An optional `identity.txt` says which
//! identity decrypts: `test` (the default), `other` (the key of
//! `host/secrets/tests/age/other-identity.txt`, to which nothing is encrypted) or `none`
//! (no `--identity`, no `BERTH_AGE_IDENTITY`, and a default file that does
//! not exist). The decrypted sections are rendered under `secrets:`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use berth_config::{ComponentSection, Environment, Origin};
use berth_secrets::{IdentitySources, load as load_with_secrets};

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
    let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
    let repo = temp.path();
    copy_tree(case, repo);
    let age = Path::new(env!("CARGO_MANIFEST_DIR")).join("../secrets/tests/age");
    let test_key = age.join("test-identity.txt");
    let recipients =
        berth_secrets::recipients(&test_key).unwrap_or_else(|e| panic!("the test identity: {e}"));
    seal(&repo.join("environments"), &recipients);
    let which = std::fs::read_to_string(case.join("identity.txt"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "test".to_owned());
    let identities = match which.as_str() {
        "test" => IdentitySources::only(vec![test_key]),
        "other" => IdentitySources::only(vec![age.join("other-identity.txt")]),
        "none" => IdentitySources {
            default: Some(repo.join("home/.config/berth/age/keys.txt")),
            ..IdentitySources::default()
        },
        other => panic!("{}: unknown identity `{other}`", case.display()),
    };
    let prefixes = [
        (format!("{}/", repo.display()), String::new()),
        (format!("{}/", age.display()), "<age>/".to_owned()),
    ];
    let out = match load_with_secrets(repo, &env, &identities) {
        Ok(env) => render(repo, &env),
        Err(err) => format!("error: {err}\n"),
    };
    prefixes
        .iter()
        .fold(out, |out, (from, to)| out.replace(from, to))
}

/// Copies the case, leaving out what the harness reads itself.
fn copy_tree(from: &Path, to: &Path) {
    let entries = std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("{}: {e}", from.display()))
            .path();
        let dest = to.join(path.file_name().unwrap_or_default());
        if path.is_dir() {
            std::fs::create_dir_all(&dest).unwrap_or_else(|e| panic!("{}: {e}", dest.display()));
            copy_tree(&path, &dest);
        } else if !path.ends_with("expected.txt") {
            std::fs::copy(&path, &dest).unwrap_or_else(|e| panic!("{}: {e}", dest.display()));
        }
    }
}

/// Encrypts every plaintext `*secrets.cfg` below `dir` to `recipients`,
/// beside it as `*.age`, and removes the plaintext.
fn seal(dir: &Path, recipients: &[String]) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if path.is_dir() {
            seal(&path, recipients);
        } else if name.ends_with("secrets.cfg") {
            let plain = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let keys: Vec<&str> = recipients.iter().map(String::as_str).collect();
            let sealed = berth_secrets::encrypt(&plain, &keys)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let age = path.with_file_name(format!("{name}.age"));
            std::fs::write(&age, sealed).unwrap_or_else(|e| panic!("{}: {e}", age.display()));
            std::fs::remove_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
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
    components(o, &env.components);
    if let Some(secrets) = &env.secrets {
        let _ = writeln!(o, "secrets: {}", secrets.file.display());
        components(o, &secrets.components);
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

fn components(o: &mut String, sections: &std::collections::BTreeMap<String, ComponentSection>) {
    for (name, section) in sections {
        let _ = writeln!(o, "  {name} {}", at(&section.origin));
        for (key, raw) in &section.attributes {
            let _ = writeln!(o, "    {key} = {:?} {}", raw.value, at(&raw.origin));
        }
    }
}
