//! The deploy lock on a target: a second deploy is refused while one runs,
//! a lock whose holder is gone is stale, and `--break-lock` takes it over.

use crate::harness::{Harness, Running, deploy};

#[test]
fn a_second_deploy_is_refused_while_one_runs_and_a_stale_lock_needs_break_lock() {
    let Some(h) = Harness::start() else { return };
    let env = "[environment]\nconnect_method = ssh\nhost_domain = test\ntimeout = 30\n\n\
        [hosts]\ndb = probe-granted\n\n[component:probe-granted]\n\
        probes = [{\"op\": \"run\", \"argv\": [\"sleep\", \"2\"]}]\n\n\
        [grants:probe-granted]\npaths = /tmp rw\ncommands = cat true false sleep\n";
    let repo = h.repo(env);
    let mut first = Running::start(&repo, &[]);
    first.until(|e| e["event"] == "component-started");
    let second = deploy(&repo, &[]);
    assert_eq!(second.code, Some(1), "{}", second.output);
    let failures = second.failures();
    let lock = h.home("db").join("deployment/.berth-deploy.lock");
    assert!(
        failures.contains(&format!(
            "db/probe-granted: host `db` (`db.test`): `{}` is locked by another deploy: ",
            lock.display()
        )),
        "{failures}"
    );
    // The holder: who, which process, since when, doing what.
    // The tests run as root.
    assert!(failures.contains("another deploy: root@"), "{failures}");
    assert!(
        failures.contains("berth deploy ssh --format json"),
        "{failures}"
    );
    assert!(failures.contains("--break-lock"), "{failures}");
    let first = first.finish();
    assert_eq!(first.code, Some(0), "{}", first.output);
    assert!(!lock.exists(), "the lock is released after the deploy");

    // A lock whose holder ended without releasing it: nobody holds its
    // flock any more.
    std::fs::write(
        &lock,
        serde_json::json!({
            "owner": "ghost@elsewhere", "machine": "db", "pid": 4242,
            "started": 0, "command": "berth deploy production"
        })
        .to_string(),
    )
    .unwrap();
    let stale = deploy(&repo, &[]);
    assert_eq!(stale.code, Some(1), "{}", stale.output);
    let failures = stale.failures();
    assert!(failures.contains("is a stale lock: ghost@elsewhere (pid 4242 on db, since 1970-01-01 00:00:00 UTC, `berth deploy production`) ended without releasing it"), "{failures}");
    assert!(
        failures.contains("then run again with `--break-lock`"),
        "{failures}"
    );
    let broken = deploy(&repo, &["--break-lock"]);
    assert_eq!(broken.code, Some(0), "{}", broken.output);
    assert!(!lock.exists(), "the lock is released after the deploy");
}

#[test]
fn a_local_deploy_takes_the_lock_of_its_target_directory() {
    let repo = berth_tests::TestRepo::new();
    repo.example("hello", berth_tests::HELLO)
        .env("local", "[hosts]\nlocalhost = hello\n");
    let lock = repo.join(".berth-deploy.lock");
    std::fs::write(
        &lock,
        r#"{"owner":"ghost@x","machine":"x","pid":1,"started":0,"command":"c"}"#,
    )
    .unwrap();
    let out = crate::harness::berth(&repo, &["deploy", "local"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is a stale lock: ghost@x"), "{stderr}");
    assert!(!repo.workdir("hello").exists(), "nothing changed");
    let out = crate::harness::berth(&repo, &["deploy", "local", "--break-lock"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!lock.exists());
}
