//! The example components deploy, converge and predict.

use berth_engine::event::Outcome;
use berth_tests::{CHECKSUMS, HELLO, MOTD, TestRepo, snapshot};

const LOCAL: &str = "\
[environment]
connect_method = local

[hosts]
localhost = hello, motd, checksums

[host:localhost]
data-role = workstation

[component:motd]
greeting = Welcome
admins = alice, bob

[grants:checksums]
commands = sha256sum
";

fn examples() -> TestRepo {
    let repo = TestRepo::new();
    repo.example("hello", HELLO)
        .example("motd", MOTD)
        .example("checksums", CHECKSUMS)
        .env("local", LOCAL);
    repo
}

#[test]
fn first_deploy_writes_the_examples_and_the_second_changes_nothing() {
    let repo = examples();
    let first = repo.deploy("local");
    let summary = first.summary();
    assert_eq!(summary.failed, 0, "{summary:#?}\n{:#?}", first.steps());
    assert!(summary.changed >= 5, "{summary:#?}");

    let motd = std::fs::read_to_string(repo.workdir("motd").join("motd")).unwrap();
    assert!(motd.starts_with("Welcome to localhost!\n"), "{motd}");
    assert!(motd.contains("This host's role: workstation"), "{motd}");
    assert!(motd.contains("  - alice\n  - bob\n"), "{motd}");
    let hello = repo.workdir("hello");
    assert!(
        std::fs::read_to_string(hello.join("hello/hello.txt"))
            .unwrap()
            .contains("from localhost")
    );
    assert_eq!(
        std::fs::read(hello.join("hello/banner.txt")).unwrap(),
        std::fs::read(berth_tests::component_dir("hello").join("banner.txt")).unwrap()
    );
    let sums = std::fs::read_to_string(repo.workdir("checksums").join("SHA256SUMS"))
        .or_else(|_| {
            std::fs::read_to_string(repo.workdir("checksums").join("checksums/SHA256SUMS"))
        })
        .unwrap();
    assert!(sums.contains("alpha.txt"), "{sums}");

    let second = repo.deploy_converged("local");
    assert_eq!(
        second.summary().unchanged,
        first.summary().changed + first.summary().unchanged
    );
}

#[test]
fn predict_shows_the_diff_of_an_edited_override_and_changes_nothing() {
    let repo = examples();
    assert_eq!(repo.deploy("local").summary().failed, 0);
    repo.env(
        "local",
        &LOCAL.replace("greeting = Welcome", "greeting = Good morning"),
    );
    let predicted = repo.predict_unchanged("local");
    assert_eq!(predicted.summary().changed, 1, "{:#?}", predicted.steps());
    match predicted.step("message of the day") {
        Outcome::WouldChange { diff, .. } => {
            let diff = diff.as_deref().expect("a diff");
            assert!(diff.contains("-Welcome to localhost!"), "{diff}");
            assert!(diff.contains("+Good morning to localhost!"), "{diff}");
        }
        other => panic!("expected a predicted change, got {other:?}"),
    }

    let applied = repo.deploy("local");
    assert_eq!(applied.summary().changed, 1);
    assert!(
        std::fs::read_to_string(repo.workdir("motd").join("motd"))
            .unwrap()
            .starts_with("Good morning")
    );
}

#[test]
fn predict_on_a_fresh_repository_creates_nothing() {
    let repo = examples();
    let predicted = repo.predict("local");
    assert!(predicted.summary().changed >= 5);
    assert_eq!(predicted.summary().failed, 0, "{:#?}", predicted.steps());
    assert!(
        !repo.join("work").exists(),
        "predict created the work folder"
    );
}

#[test]
fn a_changed_child_makes_the_custom_parent_step_update() {
    let repo = examples();
    assert_eq!(repo.deploy("local").summary().failed, 0);
    let workdir = repo.workdir("checksums");
    let alpha = walk_find(&workdir, "alpha.txt");
    std::fs::write(&alpha, "tampered\n").unwrap();

    let run = repo.deploy("local");
    let changed: Vec<&str> = run
        .steps()
        .into_iter()
        .filter(|(_, _, o)| matches!(o, Outcome::Changed { .. }))
        .map(|(_, label, _)| label)
        .collect();
    assert_eq!(changed.len(), 2, "the file and the manifest: {changed:?}");
    assert!(
        changed.iter().any(|l| l.contains("alpha.txt")),
        "{changed:?}"
    );
    assert_eq!(std::fs::read_to_string(&alpha).unwrap(), "alpha\n");
    assert_eq!(repo.deploy("local").summary().changed, 0);
}

#[test]
fn an_ungranted_command_stops_the_deploy_before_anything_changes() {
    let repo = examples();
    repo.env(
        "local",
        &LOCAL.replace("[grants:checksums]\ncommands = sha256sum\n", ""),
    );
    let error = repo.deploy("local").error();
    assert!(
        error.contains("component `checksums` needs capabilities"),
        "{error}"
    );
    assert!(error.contains("[grants:checksums]"), "{error}");
    assert!(error.contains("commands = sha256sum"), "{error}");
    assert!(error.contains("nothing was changed"), "{error}");
    assert!(!repo.join("work").exists());
}

fn walk_find(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    snapshot(dir)
        .into_iter()
        .map(|(p, _, _)| p)
        .find(|p| p.file_name().is_some_and(|n| n == name))
        .unwrap_or_else(|| panic!("no `{name}` below {}", dir.display()))
}
