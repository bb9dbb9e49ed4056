//! A component reaches only what its environment granted: `..`, absolute
//! paths, symlinks that point outside and ungranted programs are refused for
//! reads and writes, and nothing outside is touched.

use berth_engine::event::Outcome;
use berth_tests::{PROBE, TestRepo, snapshot};
use std::path::{Path, PathBuf};

/// A folder outside every grant, with a file in it. Not under `/tmp`
/// (`probe-granted` is granted `/tmp`) nor under the repository, which may
/// itself live in `/tmp`.
fn outside() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("berth-outside-")
        .tempdir_in("/var/tmp")
        .unwrap();
    assert!(!dir.path().starts_with("/tmp"));
    std::fs::write(dir.path().join("secret.txt"), "secret\n").unwrap();
    dir
}

/// A repository with the probe guest and a workdir holding symlinks that
/// point outside in every way.
fn repo_with_links(outside: &Path) -> TestRepo {
    let repo = TestRepo::new();
    repo.component("probe", PROBE);
    let work = repo.workdir("probe");
    std::fs::create_dir_all(&work).unwrap();
    let link = |target: &Path, name: &str| std::os::unix::fs::symlink(target, work.join(name));
    link(outside, "link-dir").unwrap();
    link(&outside.join("secret.txt"), "link-file").unwrap();
    link(Path::new("/etc/passwd"), "passwd").unwrap();
    link(Path::new("../../.."), "rel-up").unwrap();
    repo
}

fn env_with_probes(probes: &[serde_json::Value]) -> String {
    let list = serde_json::to_string_pretty(&probes).unwrap();
    let indented: Vec<String> = list.lines().map(|l| format!("    {l}")).collect();
    format!(
        "[environment]\nconnect_method = local\ntimeout = 20\n\n[hosts]\nlocalhost = probe\n\n[component:probe]\nprobes =\n{}\n",
        indented.join("\n")
    )
}

fn probe(op: &str, path: &str, expect: &str) -> serde_json::Value {
    serde_json::json!({ "op": op, "path": path, "expect": expect })
}

fn passwd_stamp() -> (Vec<u8>, std::time::SystemTime) {
    let meta = std::fs::metadata("/etc/passwd").unwrap();
    (
        std::fs::read("/etc/passwd").unwrap(),
        meta.modified().unwrap(),
    )
}

#[test]
fn escapes_are_refused_for_reads_and_writes_and_nothing_outside_changes() {
    let outside = outside();
    let repo = repo_with_links(outside.path());
    let escape = PathBuf::from("/tmp/berth-sandbox-escape.txt");
    let _ = std::fs::remove_file(&escape);
    let secret = outside.path().join("secret.txt");
    let mut probes = vec![
        // Reads, in verify.
        probe("read", "../escape.txt", "invalid"),
        probe("read", "/etc/passwd", "denied"),
        probe("read", &secret.display().to_string(), "denied"),
        probe("read", "link-dir/secret.txt", "denied"),
        probe("read", "link-file", "denied"),
        probe("read", "passwd", "denied"),
        probe("read", "rel-up/etc/passwd", "denied"),
        probe("list", "link-dir", "denied"),
        probe("list", "/", "denied"),
        probe("stat", "link-dir/secret.txt", "denied"),
        // Writes, in update.
        probe("write", "../escape.txt", "invalid"),
        probe("write", escape.to_str().unwrap(), "denied"),
        probe("write", "link-dir/new.txt", "denied"),
        probe("write", "link-file", "denied"),
        probe("write", "passwd", "denied"),
        probe("write", "rel-up/escape.txt", "denied"),
        probe("mkdir", "link-dir/sub", "denied"),
        probe("remove", "link-dir/secret.txt", "denied"),
        serde_json::json!({"op": "chmod", "path": "link-file", "mode": 0o600, "expect": "denied"}),
        serde_json::json!({"op": "chmod", "path": "passwd", "mode": 0o666, "expect": "denied"}),
        serde_json::json!({"op": "symlink", "path": "evil", "target": "/etc", "expect": "denied"}),
        // A write during verify is refused even inside the workdir.
        serde_json::json!({"op": "write", "path": "inside.txt", "phase": "verify", "expect": "denied"}),
        // Programs that were not granted, with or without a path.
        serde_json::json!({"op": "run", "argv": ["cat", "/etc/passwd"], "expect": "denied", "contains": "commands = cat"}),
        serde_json::json!({"op": "run", "argv": ["/bin/sh", "-c", "touch /tmp/berth-sandbox-escape.txt"], "expect": "denied"}),
        // The control: a write inside the workdir works.
        serde_json::json!({"op": "write", "path": "inside.txt", "content": "ok", "expect": "ok"}),
    ];
    for p in &mut probes {
        let label = format!("{} {}", p["op"].as_str().unwrap(), p);
        p["label"] = serde_json::Value::String(label);
    }
    repo.env("local", &env_with_probes(&probes));

    let outside_before = snapshot(outside.path());
    let passwd_before = passwd_stamp();
    let run = repo.deploy("local");
    let summary = run.summary();
    assert_eq!(
        summary.failed,
        0,
        "a probe got an unexpected outcome:\n{}\n{:#?}",
        summary.failures.join("\n"),
        run.logs()
    );
    assert_eq!(run.steps().len(), probes.len());

    assert_eq!(snapshot(outside.path()), outside_before, "outside changed");
    assert_eq!(passwd_stamp(), passwd_before, "/etc/passwd changed");
    assert!(!escape.exists(), "a file was written outside the sandbox");
    assert_eq!(
        std::fs::read_to_string(repo.workdir("probe").join("inside.txt")).unwrap(),
        "ok"
    );
}

#[test]
fn a_refused_call_fails_its_step_with_a_message_that_names_the_request_and_the_grant() {
    let repo = TestRepo::new();
    repo.component("probe", PROBE);
    repo.env(
        "local",
        &env_with_probes(&[serde_json::json!({"op": "read", "path": "/etc/passwd"})]),
    );
    let run = repo.deploy("local");
    let summary = run.summary();
    assert_eq!(summary.failed, 1);
    assert!(!summary.success());
    match run.step("read /etc/passwd") {
        Outcome::Failed { error } => {
            assert!(error.contains("`/etc/passwd`"), "{error}");
            assert!(error.contains("[grants:probe]"), "{error}");
            assert!(error.contains("paths = /etc"), "{error}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert!(
        summary.failures[0].starts_with("localhost/probe: "),
        "{summary:?}"
    );
}

#[test]
fn granted_programs_run_confined_to_the_grants() {
    let outside = outside();
    let repo = TestRepo::new();
    repo.component("probe", PROBE);
    let secret = outside.path().join("secret.txt");
    let probes = serde_json::json!([
        {"op": "run", "argv": ["cat"], "stdin": "through cat", "expect": "ok", "contains": "through cat", "label": "cat stdin"},
        {"op": "run", "argv": ["true"], "expect": "ok", "label": "true"},
        {"op": "run", "argv": ["false"], "expect": "failed", "label": "false"},
        // The program is granted, the file is not: Landlock stops `cat`.
        {"op": "run", "argv": ["cat", secret.to_str().unwrap()], "expect": "failed", "contains": "Permission denied", "label": "cat outside"},
        // A granted path is readable and writable through the fs import.
        {"op": "write", "path": "/tmp/berth-probe-granted.txt", "content": "granted", "expect": "ok", "label": "write granted"},
    ]);
    let list = serde_json::to_string_pretty(&probes).unwrap();
    let indented: Vec<String> = list.lines().map(|l| format!("    {l}")).collect();
    repo.env(
        "local",
        &format!(
            "[environment]\nconnect_method = local\n\n[hosts]\nlocalhost = probe-granted\n\n[component:probe-granted]\nprobes =\n{}\n\n[grants:probe-granted]\npaths = /tmp rw\ncommands = cat true false sleep\n",
            indented.join("\n")
        ),
    );
    let before = snapshot(outside.path());
    let run = repo.deploy("local");
    assert_eq!(
        run.summary().failed,
        0,
        "{}\n{:#?}",
        run.summary().failures.join("\n"),
        run.logs()
    );
    assert_eq!(snapshot(outside.path()), before);
    assert_eq!(
        std::fs::read_to_string("/tmp/berth-probe-granted.txt").unwrap(),
        "granted"
    );
    let _ = std::fs::remove_file("/tmp/berth-probe-granted.txt");
}
