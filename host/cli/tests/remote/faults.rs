//! What goes wrong: a failing component, a host that drops off mid-deploy,
//! hosts that cannot be reached, a changed host key, another architecture,
//! another protocol version, Ctrl-C.

use crate::harness::{Harness, REFUSED, Running, SILENT, agent, berth, deploy, half_written};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `web` deploys hello; `db` deploys `probe-granted` with `probes`.
fn probe_env(probes: &str) -> String {
    format!(
        "[environment]\nconnect_method = ssh\nhost_domain = test\ntimeout = 30\n\n\
         [hosts]\nweb = hello\ndb = probe-granted\n\n[component:probe-granted]\nprobes = {probes}\n\n\
         [grants:probe-granted]\npaths = /tmp rw\ncommands = cat true false sleep\n"
    )
}

fn hello_deployed(h: &Harness) -> bool {
    h.work("web", "hello").join("hello/hello.txt").is_file()
}

#[test]
fn a_component_failure_on_one_host_leaves_the_other_deployed() {
    let Some(h) = Harness::start() else { return };
    let repo = h.repo(&probe_env(r#"[{"op": "run", "argv": ["false"]}]"#));
    let run = deploy(&repo, &[]);
    assert_eq!(run.code, Some(1), "{}", run.output);
    assert_eq!(run.summary()["failed"], 1, "{}", run.output);
    let failures = run.failures();
    assert!(
        failures.contains("db/probe-granted: run false"),
        "{failures}"
    );
    assert!(hello_deployed(&h), "{}", run.output);
    assert!(!h.home("db").join("deployment/.berth-deploy.lock").exists());
}

#[test]
fn sshd_killed_mid_deploy_fails_that_host_and_the_other_finishes() {
    let Some(mut h) = Harness::start() else {
        return;
    };
    // db writes a file, then runs a step long enough to cut its connection.
    let probes = r#"{"op": "file", "path": "first.txt", "content": "one\n"},
        {"op": "run", "argv": ["sleep", "4"]},
        {"op": "file", "path": "after.txt", "content": "never\n"}"#;
    let repo = h.repo(&probe_env(&format!("[{probes}]")));
    let mut running = Running::start(&repo, &[]);
    running.until(|e| e["event"] == "component-started" && e["host"] == "db");
    std::thread::sleep(Duration::from_millis(500));
    let cut = Instant::now();
    h.kill_server("db");
    let run = running.finish();
    assert!(
        cut.elapsed() < Duration::from_secs(15),
        "berth waited for the dead host"
    );
    assert_eq!(run.code, Some(1), "{}", run.output);
    let failures = run.failures();
    assert!(
        failures.contains("db/probe-granted: host `db`: the connection was lost while deploying `db/probe-granted`"),
        "{failures}"
    );
    assert!(hello_deployed(&h), "{}", run.output);
    // The agent on db notices, finishes its step, starts no other, and
    // releases its lock: nothing is half-written there.
    let user = h.user("db").name.clone();
    let left = h.wait_for_no_processes(&user, Duration::from_secs(15));
    assert!(left.is_empty(), "the agent did not end: {left:?}");
    let work = h.work("db", "probe-granted");
    assert!(!work.join("after.txt").exists());
    assert!(half_written(h.home("db")).is_empty());
    assert!(!h.home("db").join("deployment/.berth-deploy.lock").exists());
}

#[test]
fn unreachable_hosts_fail_with_their_names_and_the_others_deploy() {
    let Some(h) = Harness::start() else { return };
    let repo = h.repo(&format!(
        "[environment]\nconnect_method = ssh\nhost_domain = test\nconnect_timeout = 2\n\n\
         [hosts]\nweb = hello\n{REFUSED} = hello\n{SILENT} = hello\n"
    ));
    let start = Instant::now();
    let run = deploy(&repo, &[]);
    assert!(start.elapsed() < Duration::from_secs(20), "{}", run.output);
    assert_eq!(run.code, Some(1), "{}", run.output);
    assert_eq!(run.summary()["failed"], 2, "{}", run.output);
    let failure = |host: &str| cannot_connect(&run, host);
    assert!(
        failure(REFUSED).contains("Connection refused"),
        "{}",
        run.output
    );
    assert!(failure(SILENT).contains("timed out"), "{}", run.output);
    assert!(hello_deployed(&h));
}

#[test]
fn a_host_whose_name_does_not_resolve_fails_with_its_name() {
    let Some(h) = Harness::start() else { return };
    let repo = h.repo(
        "[environment]\nconnect_method = ssh\nhost_domain = test\n\n[hosts]\nnowhere = hello\n",
    );
    // In a network namespace of its own, with nothing but a loopback
    // interface that is down, no name resolves and no query leaves.
    let mut cmd = Command::new("unshare");
    cmd.arg("--net")
        .arg(agent())
        .args(["deploy", "ssh", "--format", "json"])
        .current_dir(repo.path())
        .env("BERTH_CACHE_DIR", berth_tests::cache_dir())
        .env("BERTH_AGENT", agent());
    let run = crate::harness::finish_with(&mut cmd);
    assert_eq!(run.code, Some(1), "{}", run.output);
    assert!(
        cannot_connect(&run, "nowhere").contains("Could not resolve hostname nowhere.test"),
        "{}",
        run.output
    );
}

/// The failure of `host`'s root `hello`, which could not connect.
fn cannot_connect(run: &crate::harness::Deployed, host: &str) -> String {
    let prefix = format!("{host}/hello: host `{host}` (`{host}.test`): cannot connect: ");
    run.summary()["failures"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f.as_str())
        .find(|f| f.starts_with(&prefix))
        .unwrap_or_else(|| panic!("{host}: {}", run.output))
        .to_string()
}

#[test]
fn a_changed_host_key_is_refused_and_nothing_is_sent() {
    let Some(h) = Harness::start() else { return };
    let repo = h.repo(crate::deploys::HELLO_ENV);
    h.write_known_hosts("other_host_key.pub");
    let run = deploy(&repo, &[]);
    assert_eq!(run.code, Some(1), "{}", run.output);
    let failures = run.failures();
    assert!(
        failures
            .contains("web/hello: host `web` (`web.test`): cannot connect: its host key changed"),
        "{failures}"
    );
    assert!(failures.contains("ssh-keygen -R"), "{failures}");
    assert!(!h.home("web").join(".berth").exists(), "nothing was sent");
}

#[test]
fn a_host_of_another_architecture_is_refused_in_the_first_round_trip() {
    let Some(h) = Harness::start() else { return };
    h.fake_program("web", "uname", "#!/bin/sh\necho riscv64\n");
    let repo = h.repo(crate::deploys::HELLO_ENV);
    let run = deploy(&repo, &[]);
    assert_eq!(run.code, Some(1), "{}", run.output);
    let failures = run.failures();
    assert!(
        failures.contains(&format!(
            "host `web` (`web.test`): the host's architecture is `riscv64`, and this berth ships an agent for `{}` only",
            std::env::consts::ARCH
        )),
        "{failures}"
    );
    // Nothing but the empty store was made.
    let store = h.home("web").join(".berth/store");
    assert_eq!(std::fs::read_dir(store).unwrap().count(), 0);
}

#[test]
fn the_agent_refuses_another_protocol_naming_both_versions() {
    use std::io::{Read, Write};
    let mut agent = Command::new(agent())
        .arg("agent")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // A handshake of a later version, with fields this one does not know.
    let hello = serde_json::json!({
        "type": "hello", "protocol": 999, "berth": "9.0.0", "capabilities": ["x"]
    })
    .to_string();
    let mut stdin = agent.stdin.take().unwrap();
    stdin
        .write_all(&(hello.len() as u32).to_be_bytes())
        .unwrap();
    stdin.write_all(hello.as_bytes()).unwrap();
    drop(stdin);
    let mut out = Vec::new();
    agent.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    assert!(agent.wait().unwrap().success());
    let len = u32::from_be_bytes(out[..4].try_into().unwrap()) as usize;
    let answer: Value = serde_json::from_slice(&out[4..4 + len]).unwrap();
    assert_eq!(answer["type"], "refused", "{answer}");
    assert_eq!(
        answer["message"],
        format!(
            "the controller speaks agent protocol 999 (berth 9.0.0) and this berth speaks agent protocol 1 (berth {}); deploy with the same berth version on both sides",
            env!("CARGO_PKG_VERSION")
        )
    );
}

#[test]
fn the_controller_refuses_an_agent_of_another_version() {
    let Some(h) = Harness::start() else { return };
    // An "agent" that answers every handshake as a later berth would.
    let ready = r#"{"type":"ready","protocol":2,"berth":"9.0.0","user":"x","home":"/","sudo_from":null,"missing":[]}"#;
    let fake = h.path().join("fake-agent");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nprintf '\\000\\000\\000\\{:03o}%s' '{ready}'\n",
            ready.len()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let repo = h.repo(crate::deploys::HELLO_ENV);
    let run = crate::harness::finish_with(
        berth(&repo, &["deploy", "ssh", "--format", "json"]).env("BERTH_AGENT", &fake),
    );
    assert_eq!(run.code, Some(1), "{}", run.output);
    let failures = run.failures();
    assert!(
        failures.contains(&format!(
            "web/hello: host `web` (`web.test`): the agent speaks agent protocol 2 (berth 9.0.0) and this berth speaks agent protocol 1 (berth {})",
            env!("CARGO_PKG_VERSION")
        )),
        "{failures}"
    );
    assert!(!hello_deployed(&h));
}

#[test]
fn ctrl_c_stops_every_agent_and_releases_the_locks() {
    let Some(h) = Harness::start() else { return };
    let slow = r#"[{"op": "run", "argv": ["sleep", "2"]},
        {"op": "file", "path": "after.txt", "content": "never\n"}]"#;
    let env = format!(
        "[environment]\nconnect_method = ssh\nhost_domain = test\ntimeout = 30\n\n\
         [hosts]\nweb = probe-granted\ndb = probe-granted\n\n[component:probe-granted]\nprobes = {slow}\n\n\
         [grants:probe-granted]\npaths = /tmp rw\ncommands = cat true false sleep\n"
    );
    let repo = h.repo(&env);
    let mut running = Running::start(&repo, &[]);
    let mut started = 0;
    running.until(|e| {
        started += usize::from(e["event"] == "component-started");
        started == 2
    });
    std::thread::sleep(Duration::from_millis(300));
    crate::harness::kill(running.child.id(), rustix::process::Signal::INT);
    let run = running.finish();
    assert_eq!(run.code, Some(1), "{}", run.output);
    let failures = run.failures();
    assert!(
        failures.contains("the deploy was interrupted"),
        "{failures}"
    );
    for host in ["web", "db"] {
        let user = h.user(host).name.clone();
        let left = h.wait_for_no_processes(&user, Duration::from_secs(10));
        assert!(left.is_empty(), "{host}: {left:?}");
        assert!(
            !h.home(host).join("deployment/.berth-deploy.lock").exists(),
            "{host} is still locked"
        );
        assert!(!h.work(host, "probe-granted").join("after.txt").exists());
        assert!(half_written(h.home(host)).is_empty());
    }
}
