//! A guest that loops forever or allocates without bound fails with an error
//! that names it; the rest of the deployment goes on and the run fails.

use berth_tests::{HELLO, HOG, PROBE, SPIN, TestRepo};

/// An environment with a `timeout` of `seconds` deploying `components`.
fn env_with_timeout(seconds: u32, components: &str) -> String {
    format!(
        "[environment]\nconnect_method = local\ntimeout = {seconds}\n\n[hosts]\nlocalhost = {components}\n"
    )
}

fn env(components: &str) -> String {
    env_with_timeout(1, components)
}

#[test]
fn an_endless_loop_in_configure_hits_the_deadline() {
    let repo = TestRepo::new();
    repo.component("spin", SPIN)
        .example("hello", HELLO)
        .env("local", &env("spin, hello"));
    let start = std::time::Instant::now();
    let run = repo.deploy("local");
    let summary = run.summary();
    assert!(start.elapsed() < std::time::Duration::from_secs(30));
    assert_eq!(summary.failed, 1, "{summary:#?}");
    assert!(!summary.success());
    let failure = &summary.failures[0];
    assert!(failure.starts_with("localhost/spin: "), "{failure}");
    assert!(
        failure.contains("component `spin` did not finish configure within its deadline of 1s"),
        "{failure}"
    );
    // The other root is independent and deployed.
    assert!(repo.workdir("hello").join("hello/hello.txt").exists());
}

#[test]
fn unbounded_allocation_hits_the_memory_cap() {
    let repo = TestRepo::new();
    // A deadline far above what filling 256 MiB takes, so that a loaded
    // machine cannot turn the memory error into a deadline error.
    repo.component("hog", HOG)
        .example("hello", HELLO)
        .env("local", &env_with_timeout(30, "hog, hello"));
    let run = repo.deploy("local");
    let summary = run.summary();
    assert_eq!(summary.failed, 1, "{summary:#?}");
    let failure = &summary.failures[0];
    assert!(
        failure.contains("component `hog` exceeded its memory limit of 256 MiB during configure"),
        "{failure}"
    );
    assert!(repo.workdir("hello").join("hello/hello.txt").exists());
}

#[test]
fn limits_apply_in_verify_and_update_too() {
    let repo = TestRepo::new();
    repo.component("probe", PROBE);
    repo.env(
        "local",
        "[environment]\nconnect_method = local\ntimeout = 1\n\n[hosts]\nlocalhost = probe\n\n[component:probe]\nprobes = [{\"op\": \"spin\", \"phase\": \"update\"}]\n",
    );
    let run = repo.deploy("local");
    let summary = run.summary();
    assert_eq!(summary.failed, 1);
    assert!(
        summary.failures[0].contains("did not finish update within its deadline"),
        "{summary:#?}"
    );

    repo.env(
        "local",
        "[environment]\nconnect_method = local\n\n[hosts]\nlocalhost = probe\n\n[component:probe]\nprobes = [{\"op\": \"hog\"}]\n",
    );
    let run = repo.deploy("local");
    assert!(
        run.summary().failures[0].contains("exceeded its memory limit of 256 MiB during verify"),
        "{:#?}",
        run.summary()
    );
}

#[test]
fn a_panic_is_reported_with_its_message() {
    let repo = TestRepo::new();
    repo.component("probe", PROBE);
    repo.env(
        "local",
        "[environment]\nconnect_method = local\n\n[hosts]\nlocalhost = probe\n\n[component:probe]\nprobes = [{\"op\": \"panic\", \"label\": \"boom\"}]\n",
    );
    let run = repo.deploy("local");
    assert_eq!(run.summary().failed, 1);
    assert!(
        run.summary().failures[0].contains("component `probe` crashed during verify"),
        "{:#?}",
        run.summary()
    );
    assert!(
        run.logs().iter().any(|l| l.contains("panics on purpose")),
        "{:#?}",
        run.logs()
    );
}
