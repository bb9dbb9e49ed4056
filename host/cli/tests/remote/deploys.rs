//! Deploys that succeed: first, converged, predict, provide/require across
//! hosts; and what needs no connection.

use crate::harness::{Harness, berth, deploy, half_written, snapshot};
use std::os::unix::fs::MetadataExt;

pub const HELLO_ENV: &str = "[environment]\nconnect_method = ssh\nhost_domain = test\ntimeout = 30\n\n[hosts]\nweb = hello\n";

#[test]
fn first_deploy_then_a_converged_one_that_uploads_and_changes_nothing() {
    let Some(h) = Harness::start() else { return };
    let repo = h.repo(HELLO_ENV);
    let first = deploy(&repo, &[]);
    assert_eq!(first.code, Some(0), "{}", first.output);
    assert!(first.steps("web", "changed") > 0, "{}", first.output);
    let work = h.work("web", "hello");
    let hello = std::fs::read_to_string(work.join("hello/hello.txt")).unwrap();
    assert_eq!(hello, "Hello from web!\n");
    // `banner.txt` comes from the definition folder, shipped by the store.
    let banner = std::fs::read(work.join("hello/banner.txt")).unwrap();
    assert_eq!(
        banner,
        std::fs::read(berth_tests::component_dir("hello").join("banner.txt")).unwrap()
    );
    // The files belong to the login user, not to the controller's.
    let uid = std::fs::metadata(h.home("web")).unwrap().uid();
    assert_eq!(
        std::fs::metadata(work.join("hello/hello.txt"))
            .unwrap()
            .uid(),
        uid
    );
    let store = h.home("web").join(".berth/store");
    let blobs = snapshot(&store);
    // The agent, the package, and the definition folder's files.
    assert!(blobs.len() >= 3, "{blobs:?}");
    assert!(
        blobs
            .iter()
            .any(|(_, bytes, _)| *bytes == std::fs::read(crate::harness::agent()).unwrap()),
        "the agent is in the store"
    );
    assert!(half_written(h.home("web")).is_empty(), "{blobs:?}");
    // Nothing of this deploy stays on the target but its files: the lock
    // is released.
    assert!(!h.home("web").join("deployment/.berth-deploy.lock").exists());

    let before = snapshot(&h.home("web").join("deployment"));
    let again = deploy(&repo, &[]);
    assert_eq!(again.code, Some(0), "{}", again.output);
    assert_eq!(again.summary()["changed"], 0, "{}", again.output);
    assert!(again.steps("web", "unchanged") > 0, "{}", again.output);
    assert_eq!(
        snapshot(&store),
        blobs,
        "a converged deploy uploaded something"
    );
    assert_eq!(
        snapshot(&h.home("web").join("deployment")),
        before,
        "a converged deploy touched files"
    );
    // The human output is a local deploy's.
    let human = berth(&repo, &["deploy", "ssh"]).output().unwrap();
    let text = String::from_utf8_lossy(&human.stdout);
    assert_eq!(human.status.code(), Some(0), "{text}");
    assert!(text.starts_with("deploying ssh (1 host)\n"), "{text}");
    assert!(text.contains("web/hello"), "{text}");
}

#[test]
fn predict_shows_the_change_and_writes_nothing_but_the_store() {
    let Some(h) = Harness::start() else { return };
    let repo = h.repo(HELLO_ENV);
    assert_eq!(deploy(&repo, &[]).code, Some(0));
    let before = snapshot(&h.home("web").join("deployment"));
    repo.env(
        "ssh",
        &HELLO_ENV.replace(
            "web = hello",
            "web = hello\n\n[component:hello]\ngreeting = Hi",
        ),
    );
    let predicted = deploy(&repo, &["--predict"]);
    assert_eq!(predicted.code, Some(0), "{}", predicted.output);
    assert_eq!(predicted.summary()["predict"], true);
    assert_eq!(
        predicted.steps("web", "would-change"),
        1,
        "{}",
        predicted.output
    );
    assert_eq!(
        snapshot(&h.home("web").join("deployment")),
        before,
        "predict changed the target"
    );
    // A fresh target: predict says everything would change, and creates no
    // deployment folder (the store is the only write).
    std::fs::remove_dir_all(h.home("web").join("deployment")).unwrap();
    let fresh = deploy(&repo, &["--predict"]);
    assert_eq!(fresh.code, Some(0), "{}", fresh.output);
    assert!(fresh.steps("web", "would-change") > 1, "{}", fresh.output);
    assert!(!h.home("web").join("deployment").exists());
}

pub const TWO_HOSTS: &str = "[environment]\nconnect_method = ssh\nhost_domain = test\ntimeout = 30\n\n\
    [hosts]\ndb = database\nweb = app, hello\n\n[component:database]\nport = 5433\n\n\
    [resolver]\ndb.test = 192.0.2.7\n";

#[test]
fn provide_and_require_cross_two_hosts_in_order() {
    let Some(h) = Harness::start() else { return };
    let repo = h.repo(TWO_HOSTS);
    let run = deploy(&repo, &[]);
    assert_eq!(run.code, Some(0), "{}", run.output);
    let order = run.finished();
    let db = order.iter().position(|r| r == "db/database").unwrap();
    let app = order.iter().position(|r| r == "web/app").unwrap();
    assert!(db < app, "{order:?}");
    // The value db provided reaches web's configure on the target.
    let conf = std::fs::read_to_string(h.work("web", "app").join("app.conf")).unwrap();
    assert!(conf.contains("db.test"), "{conf}");
    assert!(conf.contains("5433"), "{conf}");
    // What `resolve` answered on the controller is what the target used.
    let db_conf = std::fs::read_to_string(h.work("db", "database").join("database.conf")).unwrap();
    assert!(db_conf.contains("192.0.2.7"), "{db_conf}");
    // Each host has its own target directory.
    assert!(!h.home("db").join("deployment/work/app").exists());
    assert!(!h.home("web").join("deployment/work/database").exists());
    let again = deploy(&repo, &[]);
    assert_eq!(again.code, Some(0), "{}", again.output);
    assert_eq!(again.summary()["changed"], 0, "{}", again.output);
}

#[test]
fn check_needs_no_connection() {
    // No servers at all: the hosts cannot be reached, and check does not
    // try.
    let repo = berth_tests::TestRepo::new();
    repo.example("hello", berth_tests::HELLO).env(
        "ssh",
        "[environment]\nconnect_method = ssh\nhost_domain = invalid\n\n[hosts]\nweb = hello\n",
    );
    let out = berth(&repo, &["check", "ssh"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_deploy_without_the_static_agent_says_how_to_build_it() {
    // This build as it would be installed elsewhere: nothing is beside it.
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("target/debug");
    std::fs::create_dir_all(&bin).unwrap();
    let exe = bin.join("berth");
    if std::fs::hard_link(crate::harness::agent(), &exe).is_err() {
        std::fs::copy(crate::harness::agent(), &exe).unwrap();
    }
    let repo = berth_tests::TestRepo::new();
    repo.example("hello", berth_tests::HELLO)
        .env("ssh", HELLO_ENV);
    let out = std::process::Command::new(&exe)
        .args(["deploy", "ssh"])
        .current_dir(repo.path())
        .env("BERTH_CACHE_DIR", berth_tests::cache_dir())
        .env_remove("BERTH_AGENT")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let arch = std::env::consts::ARCH;
    let missing = dir
        .path()
        .join(format!("target/{arch}-unknown-linux-musl/agent/berth"));
    assert!(
        stderr.contains(&format!(
            "the static agent `{}` that remote deploys ship to the hosts is not built",
            missing.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "rustup target add {arch}-unknown-linux-musl && cargo build --locked --profile agent --target {arch}-unknown-linux-musl -p berth"
        )),
        "{stderr}"
    );
}

#[test]
fn secrets_reach_only_their_host_and_show_nowhere() {
    let Some(h) = Harness::start() else { return };
    let repo = h.repo(
        "[environment]\nconnect_method = ssh\nhost_domain = test\n\n[hosts]\nweb = secretive\ndb = hello\n\n\
         [grants:secretive]\nsecrets = tls.key\n",
    );
    let (password, key) = ("pw-9d41c2e8", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC");
    let tls = format!("-----BEGIN PRIVATE KEY-----\n{key}\n-----END PRIVATE KEY-----\n");
    repo.component("secretive", berth_tests::SECRETIVE)
        .secrets(
            "ssh",
            &format!("[host:web]\ndata-token = tok-51ab\n\n[secretive]\npassword = {password}\n"),
        )
        .secret_file("ssh", "tls.key", tls.as_bytes());
    let run = deploy(&repo, &["--identity", berth_tests::TEST_IDENTITY]);
    assert_eq!(run.code, Some(0), "{}", run.output);
    let work = h.work("web", "secretive");
    let conf = work.join("app.conf");
    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        format!("user = app\npassword = {password}\n")
    );
    assert_eq!(std::fs::read_to_string(work.join("tls.key")).unwrap(), tls);
    // Content that holds a secret is private on the target, as locally.
    for file in [&conf, &work.join("tls.key")] {
        assert_eq!(
            std::fs::metadata(file).unwrap().mode() & 0o777,
            0o600,
            "{file:?}"
        );
    }
    let secrets: [&[u8]; 3] = [password.as_bytes(), key.as_bytes(), b"tok-51ab"];
    for s in secrets {
        assert!(
            !run.output.contains(std::str::from_utf8(s).unwrap()),
            "{}",
            run.output
        );
    }
    // The agent wrote them nowhere else, and db never had them.
    let allowed = [conf.clone(), work.join("tls.key")];
    assert!(berth_tests::files_holding(h.home("web"), &secrets, &allowed).is_empty());
    assert!(berth_tests::files_holding(h.home("db"), &secrets, &[]).is_empty());
}
