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
        failure.contains("component `hog` exceeded its memory limit of 256 MiB (all its memories and tables together) during configure"),
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
        run.summary().failures[0].contains("exceeded its memory limit of 256 MiB (all its memories and tables together) during verify"),
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

// Issue 10: nothing a component or an input file does can hang, exhaust or
// crash berth. Each case fails its own step or root, names the component,
// and lets the other roots deploy. (`host/cli/tests/cli/limits.rs` runs the
// same cases through the `berth` binary and measures its peak memory.)

use berth_engine::event::{Event, Outcome};
use berth_tests::hostile::{self, probes};
use berth_tests::{GREEDY, PY_SLEEP, SPIN_DESCRIBE};

/// The one failure of the run, which must name `root` and `step`.
fn failure<'a>(run: &'a berth_tests::Run, root: &str, step: &str) -> &'a str {
    let summary = run.summary();
    assert_eq!(summary.failed, 1, "{summary:#?}");
    let failure = &summary.failures[0];
    assert!(
        failure.starts_with(&format!("localhost/{root}: {step}: ")),
        "{failure}"
    );
    // Nothing of the failed root stops the other one.
    assert!(run.events.iter().any(|e| matches!(e,
        Event::ComponentFinished { component, failed: false, .. } if component == "hello")));
    failure
}

#[test]
fn a_program_that_never_stops_writing_ends_at_the_deadline() {
    let repo = probes(
        "probe-granted",
        hostile::zeros(),
        2,
    );
    let start = std::time::Instant::now();
    let run = repo.deploy("local");
    // Generous: the deadline is 2 s.
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
    let failure = failure(&run, "probe-granted", "zeros");
    assert!(
        failure
            .contains("component `probe-granted` did not finish update within its deadline of 2s"),
        "{failure}"
    );
}

#[test]
fn a_program_and_everything_it_started_end_with_its_step() {
    let marker = format!("{}.1010", std::process::id());
    let repo = probes("probe-daemon", hostile::daemon_probes(&marker), 5);
    let start = std::time::Instant::now();
    let run = repo.deploy("local");
    let summary = run.summary();
    assert_eq!(summary.failed, 0, "{summary:#?}");
    // The background `sleep` held stdout, yet the step did not wait for it.
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
    assert!(
        !hostile::running(&marker),
        "a process the steps started outlived them"
    );
    assert!(
        !hostile::still_ticking(&repo.workdir("probe-daemon")),
        "the daemon still writes into the workdir"
    );
}

#[test]
fn output_past_the_limit_is_counted_dropped_and_noted() {
    let repo = probes(
        "probe-daemon",
        hostile::flood(),
        60,
    );
    let run = repo.deploy("local");
    assert_eq!(run.summary().failed, 0, "{:#?}", run.summary());
    let logs = run.logs();
    assert!(
        logs.iter().any(|l| l.contains(
            "`head -c 3000000000 /dev/zero` wrote more than berth keeps: berth kept the first 16 MiB of stdout (2.8 GiB dropped)"
        )),
        "{logs:#?}"
    );
    // The log line of the probe (its stdout) is cut too.
    assert!(
        logs.iter().all(|l| l.len() < 5000),
        "a log line was not cut"
    );
}

#[test]
fn a_fifo_is_not_read() {
    let repo = probes(
        "probe",
        serde_json::json!([{"op": "read", "path": "fifo", "label": "fifo"}]),
        5,
    );
    std::fs::create_dir_all(repo.workdir("probe")).unwrap();
    hostile::mkfifo(&repo.workdir("probe").join("fifo"));
    let run = repo.deploy("local");
    let failure = failure(&run, "probe", "fifo");
    assert!(
        failure.contains("it is a FIFO (named pipe); berth reads regular files only"),
        "{failure}"
    );
}

#[test]
fn a_64_gib_sparse_file_verifies_without_being_read() {
    let repo = probes(
        "probe",
        serde_json::json!([
            {"op": "file", "path": "big", "content": "small\n", "label": "replace big"},
        ]),
        30,
    );
    std::fs::create_dir_all(repo.workdir("probe")).unwrap();
    hostile::sparse_64_gib(&repo.workdir("probe").join("big"));
    let run = repo.predict("local");
    match run.step("replace big") {
        Outcome::WouldChange { diff, .. } => assert_eq!(
            diff.as_deref(),
            Some("content differs (64 GiB → 6 bytes, too large to show a diff)\n")
        ),
        other => panic!("{other:?}"),
    }
    let run = repo.deploy("local");
    assert_eq!(run.summary().failed, 0, "{:#?}", run.summary());
    assert_eq!(
        std::fs::read(repo.workdir("probe").join("big")).unwrap(),
        b"small\n"
    );

    // A component that reads it itself is refused before anything is read.
    hostile::sparse_64_gib(&repo.workdir("probe").join("big"));
    let repo2 = probes(
        "probe",
        serde_json::json!([{"op": "read", "path": "big", "label": "read big"}]),
        30,
    );
    std::fs::create_dir_all(repo2.workdir("probe")).unwrap();
    std::fs::rename(
        repo.workdir("probe").join("big"),
        repo2.workdir("probe").join("big"),
    )
    .unwrap();
    let run = repo2.deploy("local");
    let failure = failure(&run, "probe", "read big");
    assert!(
        failure.contains("it is 64 GiB, larger than the 256 MiB berth reads of one file"),
        "{failure}"
    );
}

#[test]
fn a_hostile_template_fails_its_step() {
    for (templates, expected) in hostile::templates() {
        let repo = probes(
            "probe",
            templates,
            // Far above what the fuel takes, even on a busy machine.
            120,
        );
        let run = repo.deploy("local");
        let failure = failure(&run, "probe", "hostile");
        assert!(failure.contains(expected), "{failure}");
    }
}

#[test]
fn a_python_sleep_ends_at_the_deadline() {
    let repo = TestRepo::new();
    repo.python("py-sleep", PY_SLEEP).example("hello", HELLO).env(
        "local",
        "[environment]\nconnect_method = local\ntimeout = 3\n\n[hosts]\nlocalhost = py-sleep, hello\n",
    );
    let start = std::time::Instant::now();
    let run = repo.deploy("local");
    // The sleep asks for 120 s; generous against a 3 s deadline.
    assert!(
        start.elapsed() < std::time::Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
    let failure = failure(&run, "py-sleep", "nap");
    assert!(
        failure.contains("component `py-sleep` did not finish verify within its deadline of 3s"),
        "{failure}"
    );
}

#[test]
fn every_memory_and_table_counts_against_one_cap() {
    for root in ["greedy-memories", "greedy-table"] {
        let repo = TestRepo::new();
        repo.component("greedy", GREEDY).example("hello", HELLO).env(
            "local",
            &format!("[environment]\nconnect_method = local\ntimeout = 60\n\n[hosts]\nlocalhost = {root}, hello\n"),
        );
        let run = repo.deploy("local");
        let summary = run.summary();
        assert_eq!(summary.failed, 1, "{summary:#?}");
        assert!(
            summary.failures[0].starts_with(&format!(
                "localhost/{root}: component `{root}` exceeded its memory limit of 256 MiB (all its memories and tables together) during configure"
            )),
            "{summary:#?}"
        );
        assert!(repo.workdir("hello").join("hello/hello.txt").exists());
    }
}

#[test]
fn step_trees_deeper_than_the_limit_are_refused_at_configure() {
    for depth in [7_000, 100_000] {
        let repo = probes(
            "probe",
            hostile::tree(depth),
            30,
        );
        for run in [repo.predict("local"), repo.deploy("local")] {
            let summary = run.summary();
            assert_eq!(summary.failed, 1, "{summary:#?}");
            assert_eq!(
                summary.failures[0],
                "localhost/probe: component `probe` failed during configure: invalid: step 64 `level 65` is nested 65 levels deep; berth walks step trees at most 64 levels deep"
            );
            assert!(
                run.events.iter().any(|e| matches!(e,
                Event::ComponentFinished { component, failed: false, .. } if component == "hello"))
            );
        }
    }
    // Within the limit, a tree deploys.
    let repo = probes(
        "probe",
        hostile::tree(64),
        30,
    );
    assert_eq!(repo.deploy("local").summary().failed, 0);
}

#[test]
fn diffs_are_capped_and_binary_content_summarized() {
    let text: String = (0..10_000).map(|i| format!("line {i}\n")).collect();
    let repo = probes(
        "probe",
        serde_json::json!([
            {"op": "file", "path": "long.txt", "content": text, "label": "long"},
            {"op": "template", "path": "huge.txt", "content": "{{ \"0123456789\\n\" * 5000000 }}", "label": "huge"},
        ]),
        60,
    );
    let run = repo.predict("local");
    let diff = |label: &str| match run.step(label) {
        Outcome::WouldChange { diff, .. } => diff.clone().unwrap(),
        other => panic!("{other:?}"),
    };
    let long = diff("long");
    assert!(long.lines().count() <= 100 + 1, "{long}");
    assert!(long.ends_with(" not shown\n"), "{long}");
    assert_eq!(diff("huge"), "new file (52.5 MiB, too large to show)\n");
}

#[test]
fn a_leftover_temporary_file_is_gone_after_the_next_deploy() {
    let repo = probes(
        "probe",
        serde_json::json!([{"op": "file", "path": "motd", "content": "hi\n", "label": "motd"}]),
        30,
    );
    assert_eq!(repo.deploy("local").summary().failed, 0);
    // What a deploy killed during the write of `motd` leaves.
    let leftover = repo.workdir("probe").join(".motd.berth-999999999-7");
    std::fs::write(&leftover, vec![b'x'; 1 << 20]).unwrap();
    repo.predict("local");
    assert!(leftover.exists(), "predict changes nothing");
    let run = repo.deploy("local");
    assert_eq!(run.summary().changed, 0, "the deploy is converged");
    assert!(!leftover.exists());
}

#[test]
fn a_looping_describe_fails_only_its_roots_at_the_environments_deadline() {
    let repo = hostile::looping_describe(SPIN_DESCRIBE);
    let start = std::time::Instant::now();
    let run = repo.deploy("local");
    assert!(start.elapsed() < std::time::Duration::from_secs(30));
    let summary = run.summary();
    assert_eq!(summary.failed, 1, "{summary:#?}");
    let failure = &summary.failures[0];
    assert!(
        failure.starts_with("localhost/spin-describe: cannot describe `"),
        "{failure}"
    );
    assert!(
        failure.contains(&format!(
            "component `spin-describe` did not finish describe within its deadline of 2s (`timeout` in [environment] of `{}` sets it)",
            repo.join("environments/local/environment.cfg").display()
        )),
        "{failure}"
    );
    assert!(repo.workdir("hello").join("hello/hello.txt").exists());
}
