//! Scheduling: roots start when their dependencies are done, hosts deploy in
//! parallel up to `jobs`, and every failure is counted.

use berth_engine::event::Event;
use berth_tests::{PROBE, TestRepo};

/// One host runs a slow root (`sleep 1` in update), the other a root that
/// fails at once.
fn slow_and_failing(jobs: usize) -> TestRepo {
    let repo = TestRepo::new();
    repo.component("probe", PROBE);
    repo.env(
        "local",
        &format!(
            "[environment]\nconnect_method = local\njobs = {jobs}\n\n\
             [hosts]\nslow = probe-granted\nfast = probe\n\n\
             [component:probe-granted]\nprobes = [{{\"op\": \"run\", \"argv\": [\"sleep\", \"1\"], \"label\": \"nap\"}}]\n\n\
             [component:probe]\nprobes = [{{\"op\": \"read\", \"path\": \"/etc/passwd\", \"label\": \"peek\"}}]\n\n\
             [grants:probe-granted]\npaths = /tmp rw\ncommands = cat true false sleep\n"
        ),
    );
    repo
}

/// The index of the first event matching `f`.
fn position(events: &[Event], f: impl Fn(&Event) -> bool) -> usize {
    events
        .iter()
        .position(f)
        .unwrap_or_else(|| panic!("no such event in {events:#?}"))
}

#[test]
fn a_failure_on_one_host_while_a_slow_root_runs_on_another_is_counted() {
    let repo = slow_and_failing(2);
    let run = repo.deploy("local");
    let summary = run.summary();
    assert!(!summary.success());
    assert_eq!(summary.failed, 1, "{summary:#?}");
    assert_eq!(
        summary.changed, 1,
        "the slow root still deployed: {summary:#?}"
    );
    assert_eq!(summary.failures.len(), 1);
    assert!(
        summary.failures[0].starts_with("fast/probe: peek: "),
        "{summary:#?}"
    );

    // The failing root finished while the slow one was still running: with
    // one job it could not even start before the slow one finished (plan
    // order puts `slow` first). Which thread reports its start first is up
    // to the scheduler, so only the finish order is checked.
    let e = &run.events;
    let slow_finished = position(
        e,
        |e| matches!(e, Event::ComponentFinished { host, .. } if host == "slow"),
    );
    let fast_failed = position(
        e,
        |e| matches!(e, Event::ComponentFinished { host, failed: true, .. } if host == "fast"),
    );
    assert!(
        fast_failed < slow_finished,
        "the hosts did not overlap: {e:#?}"
    );
}

#[test]
fn with_one_job_hosts_deploy_one_after_another() {
    let repo = slow_and_failing(1);
    let mut options = repo.options("local");
    options.jobs = Some(1);
    let run = repo.run(options);
    assert_eq!(run.summary().failed, 1);
    let e = &run.events;
    let slow_finished = position(
        e,
        |e| matches!(e, Event::ComponentFinished { host, .. } if host == "slow"),
    );
    let fast_started = position(
        e,
        |e| matches!(e, Event::ComponentStarted { host, .. } if host == "fast"),
    );
    assert!(slow_finished < fast_started, "{e:#?}");
}
