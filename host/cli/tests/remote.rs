//! Remote deploys over SSH against real OpenSSH servers on loopback that
//! the harness starts itself: generated host and user keys in a temporary
//! folder, its own `sshd_config`, one sshd per target host (`web` on
//! 127.0.0.2, `db` on 127.0.0.3), each host with its own login user (and so
//! its own home, store and `~/deployment`), created with `useradd` for the
//! test and removed after it. The agent is this build's `berth` binary
//! (`BERTH_AGENT`), shipped through the store like the static build.
//!
//! The tests need root (for `useradd` and sshd) and `/usr/sbin/sshd`
//! (`scripts/test` installs openssh-server); without root they say so and
//! return.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use berth_tests::{APP, DATABASE, HELLO, PROBE, TestRepo};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"))
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A test user with its home.
struct User {
    name: String,
    home: PathBuf,
}

/// One sshd serving one address, in its own process group.
struct Server {
    address: String,
    child: Child,
}

/// The servers, users, keys and `ssh_config` of one test.
struct Harness {
    dir: tempfile::TempDir,
    port: u16,
    servers: Vec<Server>,
    users: Vec<User>,
    /// A sudoers file the test wrote, removed with the harness.
    sudoers: Option<PathBuf>,
    n: usize,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The hosts of the harness: name, address.
const HOSTS: [(&str, &str); 2] = [("web", "127.0.0.2"), ("db", "127.0.0.3")];

impl Harness {
    /// Starts one sshd per host and makes a user per host; `None` when not
    /// root.
    fn start() -> Option<Self> {
        if !is_root() {
            eprintln!("skipped: remote tests need root (useradd, sshd)");
            return None;
        }
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: run `apt-get install -y openssh-server` (scripts/test does)"
        );
        let dir = tempfile::tempdir().unwrap();
        // Homes live below: every user must be able to reach its own.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let d = dir.path();
        for key in ["host_key", "user_key", "other_host_key"] {
            run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", "berth-test", "-f"])
                .arg(d.join(key)));
        }
        std::fs::copy(d.join("user_key.pub"), d.join("authorized_keys")).unwrap();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let mut users = Vec::new();
        for (host, _) in HOSTS {
            users.push(make_user(d, n, host));
        }
        std::fs::create_dir_all("/run/sshd").unwrap();
        let port = free_port();
        let mut harness = Harness {
            dir,
            port,
            servers: Vec::new(),
            users,
            sudoers: None,
            n,
        };
        for (_, address) in HOSTS {
            harness.start_server(address);
        }
        harness.write_known_hosts("host_key.pub");
        Some(harness)
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn start_server(&mut self, address: &str) {
        let d = self.path();
        let config = d.join(format!("sshd_config-{address}"));
        std::fs::write(
            &config,
            format!(
                "ListenAddress {address}:{port}\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
                 PidFile none\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 UsePAM no\nPermitRootLogin no\nSubsystem sftp internal-sftp\nLogLevel ERROR\n",
                port = self.port,
                d = d.display()
            ),
        )
        .unwrap();
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let server = Server {
            address: address.to_string(),
            child,
        };
        let target = format!("{address}:{}", self.port);
        let start = Instant::now();
        while std::net::TcpStream::connect(&target).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "sshd on {target} did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.servers.push(server);
    }

    /// Kills the sshd of `address` and every connection it serves.
    fn kill_server(&mut self, address: &str) {
        let i = self
            .servers
            .iter()
            .position(|s| s.address == address)
            .unwrap();
        let mut server = self.servers.remove(i);
        // Its process group: the listener and its per-connection children.
        run(Command::new("kill")
            .arg("-KILL")
            .arg(format!("-{}", server.child.id())));
        let _ = server.child.wait();
    }

    fn write_known_hosts(&self, key: &str) {
        let key = std::fs::read_to_string(self.path().join(key)).unwrap();
        let key: Vec<&str> = key.split_whitespace().take(2).collect();
        std::fs::write(
            self.path().join("known_hosts"),
            format!("berth-test-host {}\n", key.join(" ")),
        )
        .unwrap();
    }

    /// The `ssh_config` for a repository: `web.test` and `db.test`, and
    /// `gone.test` where nothing listens.
    fn ssh_config(&self) -> String {
        let d = self.path().display();
        let mut out = String::new();
        for (i, (host, address)) in HOSTS.iter().enumerate() {
            out.push_str(&format!(
                "Host {host}.test\n  HostName {address}\n  User {}\n",
                self.users[i].name
            ));
        }
        out.push_str("Host gone.test\n  HostName 127.0.0.4\n");
        out.push_str(&format!(
            "Host *\n  Port {}\n  IdentityFile {d}/user_key\n  IdentitiesOnly yes\n  UserKnownHostsFile {d}/known_hosts\n  \
             HostKeyAlias berth-test-host\n  BatchMode yes\n  ConnectTimeout 5\n",
            self.port
        ));
        out
    }

    /// The home of the user that host `host` logs in as.
    fn home(&self, host: &str) -> &Path {
        let i = HOSTS.iter().position(|(h, _)| *h == host).unwrap();
        &self.users[i].home
    }

    /// A repository with `env` as environment `ssh` and the harness's
    /// `ssh_config`.
    fn repo(&self, env: &str) -> TestRepo {
        let repo = TestRepo::new();
        repo.example("hello", HELLO)
            .example("database", DATABASE)
            .example("app", APP)
            .component("probe", PROBE)
            .env("ssh", env)
            .write("ssh_config", &self.ssh_config());
        repo
    }
}

impl Harness {
    /// Adds a service user that the login user of `web` may run commands
    /// as without a password (the login user of `db` may not); returns its
    /// name and home.
    fn service_user(&mut self) -> (String, PathBuf) {
        assert!(
            Path::new("/usr/bin/sudo").exists(),
            "sudo is missing: run `apt-get install -y sudo` (scripts/test does)"
        );
        let user = make_user(self.dir.path(), self.n, "svc");
        let file = PathBuf::from(format!(
            "/etc/sudoers.d/berth-test-{}-{}",
            std::process::id(),
            self.n
        ));
        std::fs::write(
            &file,
            format!("{} ALL=({}) NOPASSWD: ALL\n", self.users[0].name, user.name),
        )
        .unwrap();
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o440))
            .unwrap();
        self.sudoers = Some(file);
        let out = (user.name.clone(), user.home.clone());
        self.users.push(user);
        out
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(file) = &self.sudoers {
            let _ = std::fs::remove_file(file);
        }
        for mut server in std::mem::take(&mut self.servers) {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(format!("-{}", server.child.id()))
                .status();
            let _ = server.child.wait();
        }
        for user in &self.users {
            // `-f`: an agent whose connection was cut may still be ending.
            let _ = Command::new("userdel").arg("-f").arg(&user.name).status();
        }
    }
}

/// A login user `bt<pid><n><what>` with its home below `dir`.
fn make_user(dir: &Path, n: usize, what: &str) -> User {
    let name = format!("bt{}{n}{what}", std::process::id() % 100_000);
    let home = dir.join(format!("home-{what}"));
    std::fs::create_dir_all(&home).unwrap();
    run(Command::new("useradd")
        .args(["-M", "-s", "/bin/sh", "-p", "*", "-d"])
        .arg(&home)
        .arg(&name));
    run(Command::new("chown").arg(&name).arg(&home));
    User { name, home }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
    l.local_addr().unwrap().port()
}

fn berth_cmd(repo: &TestRepo, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.args(args)
        .current_dir(repo.path())
        .env("BERTH_CACHE_DIR", berth_tests::cache_dir())
        .env("BERTH_AGENT", env!("CARGO_BIN_EXE_berth"))
        .env("NO_COLOR", "1");
    cmd
}

/// A deploy with JSON events: the exit code, the events, and stderr.
struct Deployed {
    code: Option<i32>,
    events: Vec<Value>,
    stdout: String,
}

impl Deployed {
    fn summary(&self) -> &Value {
        let last = self.events.last().expect("no events");
        assert_eq!(last["event"], "summary", "{}", self.stdout);
        last
    }

    fn steps(&self, host: &str, status: &str) -> usize {
        self.events
            .iter()
            .filter(|e| e["event"] == "step" && e["host"] == host && e["status"] == status)
            .count()
    }
}

fn deploy(repo: &TestRepo, extra: &[&str]) -> Deployed {
    let mut args = vec!["deploy", "ssh", "--format", "json"];
    args.extend_from_slice(extra);
    let out = berth_cmd(repo, &args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let events = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    Deployed {
        code: out.status.code(),
        events,
        stdout: format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr)),
    }
}

/// Every file below `dir` with content, inode and mtime.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>, String)> {
    berth_tests::snapshot(dir)
}

const HELLO_ENV: &str = "[environment]\nconnect_method = ssh\nhost_domain = test\ntimeout = 30\n\n[hosts]\nweb = hello\n";

#[test]
fn first_deploy_then_a_converged_one_that_uploads_and_changes_nothing() {
    let Some(h) = Harness::start() else { return };
    let repo = h.repo(HELLO_ENV);
    let first = deploy(&repo, &[]);
    assert_eq!(first.code, Some(0), "{}", first.stdout);
    assert!(first.summary()["changed"].as_u64().unwrap() > 0);
    assert!(first.steps("web", "changed") > 0, "{}", first.stdout);
    let work = h.home("web").join("deployment/work/hello");
    let hello = std::fs::read_to_string(work.join("hello/hello.txt")).unwrap();
    assert_eq!(hello, "Hello from web!\n");
    // The files belong to the login user, not to the controller's.
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(work.join("hello/hello.txt"))
        .unwrap()
        .uid();
    assert_ne!(owner, 0);
    let store = h.home("web").join(".berth/store");
    let blobs = snapshot(&store);
    assert!(
        blobs.len() >= 3,
        "agent, package and defdir files: {blobs:?}"
    );
    assert!(
        !blobs
            .iter()
            .any(|(p, _, _)| p.to_string_lossy().contains(".part")),
        "{blobs:?}"
    );
    // Nothing of this deploy stays on the target but its files: the lock
    // is released.
    assert!(!h.home("web").join("deployment/.berth-deploy.lock").exists());

    let work_before = snapshot(&h.home("web").join("deployment"));
    let again = deploy(&repo, &[]);
    assert_eq!(again.code, Some(0), "{}", again.stdout);
    assert_eq!(again.summary()["changed"], 0, "{}", again.stdout);
    assert_eq!(again.steps("web", "changed"), 0);
    assert_eq!(
        snapshot(&store),
        blobs,
        "a converged deploy uploaded something"
    );
    assert_eq!(
        snapshot(&h.home("web").join("deployment")),
        work_before,
        "a converged deploy touched files"
    );
}

#[test]
fn predict_shows_the_change_and_writes_nothing_but_the_store() {
    let Some(h) = Harness::start() else { return };
    let repo = h.repo(HELLO_ENV);
    assert_eq!(deploy(&repo, &[]).code, Some(0));
    let before = snapshot(&h.home("web").join("deployment"));
    // A new host name changes the greeting file.
    repo.env(
        "ssh",
        &HELLO_ENV.replace("web = hello", "web = hello\n\n[host:web]\ndata-role = x"),
    );
    let predicted = deploy(&repo, &["--predict"]);
    assert_eq!(predicted.code, Some(0), "{}", predicted.stdout);
    assert!(predicted.summary()["predict"].as_bool().unwrap());
    assert_eq!(
        snapshot(&h.home("web").join("deployment")),
        before,
        "predict changed the target"
    );
    // A fresh target: predict says everything would change, and creates no
    // deployment folder (the store is the only write).
    std::fs::remove_dir_all(h.home("web").join("deployment")).unwrap();
    let fresh = deploy(&repo, &["--predict"]);
    assert_eq!(fresh.code, Some(0), "{}", fresh.stdout);
    assert!(fresh.steps("web", "would-change") > 0, "{}", fresh.stdout);
    assert!(!h.home("web").join("deployment").exists());
}

const TWO_HOSTS: &str = "[environment]\nconnect_method = ssh\nhost_domain = test\ntimeout = 30\n\n\
    [hosts]\ndb = database\nweb = app, hello\n\n[component:database]\nport = 5433\n\n\
    [resolver]\ndb.test = 127.0.0.3\n";

#[test]
fn provide_and_require_cross_two_hosts_in_order() {
    let Some(h) = Harness::start() else { return };
    let repo = h.repo(TWO_HOSTS);
    let run = deploy(&repo, &[]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    let order: Vec<String> = run
        .events
        .iter()
        .filter(|e| e["event"] == "component-finished")
        .map(|e| {
            format!(
                "{}/{}",
                e["host"].as_str().unwrap(),
                e["component"].as_str().unwrap()
            )
        })
        .collect();
    let db = order.iter().position(|r| r == "db/database").unwrap();
    let app = order.iter().position(|r| r == "web/app").unwrap();
    assert!(db < app, "{order:?}");
    let conf = std::fs::read_to_string(h.home("web").join("deployment/work/app/app.conf")).unwrap();
    assert!(conf.contains("127.0.0.3"), "{conf}");
    assert!(conf.contains("5433"), "{conf}");
    // Each host has its own target directory.
    assert!(h.home("db").join("deployment/work/database").is_dir());
    assert!(!h.home("db").join("deployment/work/app").exists());
}

fn probe_env(probes: &str) -> String {
    format!(
        "[environment]\nconnect_method = ssh\nhost_domain = test\ntimeout = 30\n\n[hosts]\nweb = hello\ndb = probe\n\n\
         [component:probe]\nprobes = {probes}\n"
    )
}

#[test]
fn a_component_failure_on_one_host_leaves_the_other_deployed() {
    let Some(h) = Harness::start() else { return };
    let probes = r#"{"op": "read", "path": "/etc/passwd"}"#;
    let repo = h.repo(&probe_env(probes));
    let run = deploy(&repo, &[]);
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    let summary = run.summary();
    assert_eq!(summary["failed"], 1, "{}", run.stdout);
    let failures = summary["failures"].to_string();
    assert!(failures.contains("db/probe"), "{failures}");
    assert!(
        h.home("web")
            .join("deployment/work/hello/hello/hello.txt")
            .is_file(),
        "{}",
        run.stdout
    );
}

#[test]
fn sshd_killed_mid_deploy_fails_that_host_and_the_other_finishes() {
    let Some(mut h) = Harness::start() else {
        return;
    };
    let probes = r#"{"op": "run", "argv": ["sleep", "8"]}"#;
    let env = probe_env(probes)
        .replace("db = probe", "db = probe-granted")
        .replace("[component:probe]", "[component:probe-granted]")
        + "\n[grants:probe-granted]\npaths = /tmp rw\ncommands = cat true false sleep\n";
    let repo = h.repo(&env);
    let mut child = berth_cmd(&repo, &["deploy", "ssh", "--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let start = Instant::now();
    let mut events = Vec::new();
    // Wait until db's component runs its sleep.
    loop {
        assert!(start.elapsed() < Duration::from_secs(60), "{events:?}");
        let line = lines.next().expect("berth ended early").unwrap();
        let event: Value = serde_json::from_str(&line).unwrap();
        let started = event["event"] == "component-started" && event["host"] == "db";
        events.push(event);
        if started {
            break;
        }
    }
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    h.kill_server("127.0.0.3");
    for line in lines {
        events.push(serde_json::from_str(&line.unwrap()).unwrap());
    }
    let status = child.wait().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "berth waited for the dead host"
    );
    assert_eq!(status.code(), Some(1), "{events:#?}");
    let summary = events.last().unwrap();
    assert_eq!(summary["event"], "summary");
    let failures = summary["failures"].to_string();
    assert!(failures.contains("db/probe-granted"), "{failures}");
    assert!(failures.contains("host `db`"), "{failures}");
    assert!(
        h.home("web")
            .join("deployment/work/hello/hello/hello.txt")
            .is_file(),
        "{events:#?}"
    );
}

#[test]
fn an_unreachable_host_fails_with_its_name_and_the_others_deploy() {
    let Some(h) = Harness::start() else { return };
    let repo = h.repo(
        "[environment]\nconnect_method = ssh\nhost_domain = test\n\n[hosts]\nweb = hello\ngone = probe\n",
    );
    let run = deploy(&repo, &[]);
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    let failures = run.summary()["failures"].to_string();
    assert!(
        failures.contains("gone/probe: host `gone` (`gone.test`): cannot connect"),
        "{failures}"
    );
    assert!(
        h.home("web")
            .join("deployment/work/hello/hello/hello.txt")
            .is_file()
    );
}

#[test]
fn a_changed_host_key_is_refused() {
    let Some(h) = Harness::start() else { return };
    let repo = h.repo(HELLO_ENV);
    h.write_known_hosts("other_host_key.pub");
    let run = deploy(&repo, &[]);
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    let failures = run.summary()["failures"].to_string();
    assert!(
        failures.contains("host `web` (`web.test`): cannot connect"),
        "{failures}"
    );
    assert!(
        failures.to_lowercase().contains("host key"),
        "the error says why: {failures}"
    );
    assert!(!h.home("web").join(".berth").exists(), "nothing was sent");
}

#[test]
fn a_second_deploy_is_refused_while_one_runs_and_a_stale_lock_needs_break_lock() {
    let Some(h) = Harness::start() else { return };
    let probes = r#"{"op": "run", "argv": ["sleep", "3"]}"#;
    let env =
        "[environment]\nconnect_method = ssh\nhost_domain = test\n\n[hosts]\ndb = probe-granted\n\n\
        [component:probe-granted]\nprobes = "
            .to_string()
            + probes
            + "\n\n[grants:probe-granted]\npaths = /tmp rw\ncommands = cat true false sleep\n";
    let repo = h.repo(&env);
    let mut first = berth_cmd(&repo, &["deploy", "ssh", "--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(first.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("berth ended early").unwrap();
        if line.contains("\"component-started\"") {
            break;
        }
    }
    let second = deploy(&repo, &[]);
    assert_eq!(second.code, Some(1), "{}", second.stdout);
    let failures = second.summary()["failures"].to_string();
    assert!(
        failures.contains("is locked by another deploy"),
        "{failures}"
    );
    assert!(failures.contains("@"), "names the holder: {failures}");
    for line in lines {
        line.unwrap();
    }
    assert!(first.wait().unwrap().success());

    // A lock whose holder is gone.
    let lock = h.home("db").join("deployment/.berth-deploy.lock");
    let machine = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    std::fs::write(
        &lock,
        serde_json::json!({
            "owner": "ghost@elsewhere", "machine": machine.trim(), "pid": u32::MAX,
            "started": 0, "command": "berth deploy ssh"
        })
        .to_string(),
    )
    .unwrap();
    let stale = deploy(&repo, &[]);
    assert_eq!(stale.code, Some(1), "{}", stale.stdout);
    let failures = stale.summary()["failures"].to_string();
    assert!(failures.contains("stale lock"), "{failures}");
    assert!(failures.contains("ghost@elsewhere"), "{failures}");
    assert!(failures.contains("--break-lock"), "{failures}");
    let broken = deploy(&repo, &["--break-lock"]);
    assert_eq!(broken.code, Some(0), "{}", broken.stdout);
    assert!(!lock.exists(), "the lock is released after the deploy");
}

#[test]
fn the_agent_refuses_another_protocol_naming_both_versions() {
    use std::io::{Read, Write};
    let mut agent = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("agent")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let hello = serde_json::json!({
        "type": "hello", "protocol": 999, "berth": "0.0.9",
        "target_directory": "/nonexistent", "lock": null
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
    let message = answer["message"].as_str().unwrap();
    assert!(message.contains("protocol 999 (berth 0.0.9)"), "{message}");
    assert!(
        message.contains(&format!("(berth {})", env!("CARGO_PKG_VERSION"))),
        "{message}"
    );
}

#[test]
fn a_service_user_is_reached_through_sudo_and_a_password_prompt_fails_the_host() {
    let Some(mut h) = Harness::start() else {
        return;
    };
    let (svc, svc_home) = h.service_user();
    let repo = h.repo(&format!(
        "[environment]\nconnect_method = ssh\nhost_domain = test\n\n[hosts]\nweb = hello\ndb = hello\n\n\
         [host:web]\nservice_user = {svc}\n\n[host:db]\nservice_user = {svc}\n"
    ));
    let run = deploy(&repo, &[]);
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    let file = svc_home.join("deployment/work/hello/hello/hello.txt");
    assert!(file.is_file(), "{}", run.stdout);
    use std::os::unix::fs::MetadataExt;
    let svc_uid = std::fs::metadata(&svc_home).unwrap().uid();
    assert_eq!(std::fs::metadata(&file).unwrap().uid(), svc_uid);
    assert!(svc_home.join(".berth/store").is_dir());
    assert!(!h.home("web").join("deployment").exists());
    let failures = run.summary()["failures"].to_string();
    assert!(failures.contains("db/hello: host `db`"), "{failures}");
    assert!(failures.contains("password"), "{failures}");
    assert!(failures.contains("NOPASSWD"), "{failures}");
    assert_eq!(run.summary()["failed"], 1);
}
