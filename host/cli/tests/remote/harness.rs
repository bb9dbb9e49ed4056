//! Real OpenSSH servers on loopback for the remote tests: host and user
//! keys generated in a temporary folder, an `sshd_config` of their own, one
//! sshd per target host (`web` and `db`, on two loopback addresses of their
//! own), each host with its own login user (and so its own home, store and
//! `~/deployment`), made with `useradd` and removed after the test.
//!
//! The agent the deploys ship is this build's `berth` binary (the machine's
//! own architecture; `BERTH_AGENT`), so the tests need no second build.

use berth_tests::TestRepo;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";

/// The target hosts: name, last byte of the address.
pub const HOSTS: [(&str, u8); 2] = [("web", 2), ("db", 3)];

/// A host name whose address refuses connections.
pub const REFUSED: &str = "gone";

/// A host name whose address accepts connections and never answers.
pub const SILENT: &str = "silent";

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"))
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A test user with its home.
pub struct User {
    pub name: String,
    pub home: PathBuf,
}

/// One sshd serving one address.
struct Server {
    address: String,
    child: Child,
}

/// The servers, users, keys and `ssh_config` of one test.
pub struct Harness {
    dir: tempfile::TempDir,
    /// `127.A.B.`: this harness's loopback addresses, so that tests running
    /// at once never share one.
    net: String,
    port: u16,
    servers: Vec<Server>,
    pub users: Vec<User>,
    sudoers: Vec<PathBuf>,
    /// Accepts on the [`SILENT`] address and never answers.
    silent: Option<std::net::TcpListener>,
    n: usize,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Harness {
    /// Starts one sshd per host and makes a user per host; `None` (the
    /// test passes, saying why) when not root.
    pub fn start() -> Option<Self> {
        if !is_root() {
            // scripts/test runs as root in CI: there a skip would hide them.
            assert!(
                std::env::var_os("BERTH_REMOTE_TESTS").is_none_or(|v| v != "required"),
                "BERTH_REMOTE_TESTS=required, but the remote tests need root (useradd, sshd)"
            );
            eprintln!(
                "skipped: the remote tests need root (useradd, sshd); `scripts/test` runs them"
            );
            return None;
        }
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: run `apt-get install -y openssh-server` (scripts/test does)"
        );
        let dir = tempfile::tempdir().unwrap();
        // Homes live below: every user must be able to reach its own.
        std::fs::set_permissions(dir.path(), PermissionsExt::from_mode(0o755)).unwrap();
        let d = dir.path();
        for key in ["host_key", "user_key", "other_host_key"] {
            run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", "berth-test", "-f"])
                .arg(d.join(key)));
        }
        std::fs::copy(d.join("user_key.pub"), d.join("authorized_keys")).unwrap();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let net = format!("127.{}.{}.", std::process::id() % 200 + 20, n % 250 + 1);
        let users = HOSTS
            .iter()
            .map(|(host, _)| make_user(d, n, host))
            .collect();
        std::fs::create_dir_all("/run/sshd").unwrap();
        let probe = std::net::TcpListener::bind(format!("{net}2:0")).unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let silent = std::net::TcpListener::bind(format!("{net}5:{port}")).unwrap();
        let mut harness = Harness {
            dir,
            net,
            port,
            servers: Vec::new(),
            users,
            sudoers: Vec::new(),
            silent: Some(silent),
            n,
        };
        for (_, last) in HOSTS {
            harness.start_server(&harness.address(last));
        }
        harness.write_known_hosts("host_key.pub");
        Some(harness)
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn address(&self, last: u8) -> String {
        format!("{}{last}", self.net)
    }

    fn start_server(&mut self, address: &str) {
        let d = self.path();
        let config = d.join(format!("sshd_config-{address}"));
        std::fs::write(
            &config,
            format!(
                "ListenAddress {address}:{port}\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
                 PidFile none\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 UsePAM no\nPermitRootLogin no\nPermitUserEnvironment yes\nSubsystem sftp internal-sftp\n\
                 LogLevel ERROR\nMaxStartups 50\n",
                port = self.port,
                d = d.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(d.join(format!("sshd-{address}.log"))).unwrap();
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap();
        let target = format!("{address}:{}", self.port);
        let start = Instant::now();
        while std::net::TcpStream::connect(&target).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "sshd on {target} did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.servers.push(Server {
            address: address.to_string(),
            child,
        });
    }

    /// Kills the sshd of `host` and every sshd process of its connections,
    /// as a machine that drops off the network; the programs they started
    /// (the agent) are left to notice.
    pub fn kill_server(&mut self, host: &str) {
        let last = HOSTS.iter().find(|(h, _)| *h == host).unwrap().1;
        let address = self.address(last);
        let i = self
            .servers
            .iter()
            .position(|s| s.address == address)
            .unwrap();
        let mut server = self.servers.remove(i);
        // Connection processes call setsid: find them by parent.
        let mut doomed = vec![server.child.id()];
        let mut i = 0;
        while i < doomed.len() {
            doomed.extend(children(doomed[i]));
            i += 1;
        }
        for pid in doomed {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "sshd" {
                kill(pid, rustix::process::Signal::KILL);
            }
        }
        let _ = server.child.wait();
    }

    /// Makes `key` (`host_key.pub` or `other_host_key.pub`) the known host
    /// key of every server.
    pub fn write_known_hosts(&self, key: &str) {
        let key = std::fs::read_to_string(self.path().join(key)).unwrap();
        let key: Vec<&str> = key.split_whitespace().take(2).collect();
        std::fs::write(
            self.path().join("known_hosts"),
            format!("berth-test-host {}\n", key.join(" ")),
        )
        .unwrap();
    }

    /// The `ssh_config` for a repository: `web.test` and `db.test`, and
    /// hosts that refuse (`gone.test`) or never answer (`silent.test`).
    pub fn ssh_config(&self) -> String {
        let d = self.path().display();
        let mut out = String::new();
        for (i, (host, last)) in HOSTS.iter().enumerate() {
            out.push_str(&format!(
                "Host {host}.test\n  HostName {}\n  User {}\n",
                self.address(*last),
                self.users[i].name
            ));
        }
        out.push_str(&format!(
            "Host {REFUSED}.test\n  HostName {}\n",
            self.address(4)
        ));
        out.push_str(&format!(
            "Host {SILENT}.test\n  HostName {}\n",
            self.address(5)
        ));
        out.push_str(&format!(
            "Host *\n  Port {}\n  IdentityFile {d}/user_key\n  IdentitiesOnly yes\n  UserKnownHostsFile {d}/known_hosts\n  \
             HostKeyAlias berth-test-host\n  BatchMode yes\n",
            self.port
        ));
        out
    }

    /// The login user of `host`.
    pub fn user(&self, host: &str) -> &User {
        let i = HOSTS.iter().position(|(h, _)| *h == host).unwrap();
        &self.users[i]
    }

    /// The home of the user that `host` logs in as.
    pub fn home(&self, host: &str) -> &Path {
        &self.user(host).home
    }

    /// `~/deployment/work/<component>` of `host`'s login user.
    pub fn work(&self, host: &str, component: &str) -> PathBuf {
        self.home(host).join("deployment/work").join(component)
    }

    /// A repository with `env` as environment `ssh` and the harness's
    /// `ssh_config`.
    pub fn repo(&self, env: &str) -> TestRepo {
        let repo = TestRepo::new();
        repo.example("hello", berth_tests::HELLO)
            .example("database", berth_tests::DATABASE)
            .example("app", berth_tests::APP)
            .component("probe", berth_tests::PROBE)
            .env("ssh", env)
            .write("ssh_config", &self.ssh_config());
        repo
    }

    /// Adds a service user that the login user of `web` may run commands
    /// as without a password, and the login user of `db` only with one;
    /// returns its name and home.
    pub fn service_user(&mut self) -> (String, PathBuf) {
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
            format!(
                "{web} ALL=({svc}) NOPASSWD: ALL\n{db} ALL=({svc}) ALL\n",
                web = self.users[0].name,
                db = self.users[1].name,
                svc = user.name
            ),
        )
        .unwrap();
        std::fs::set_permissions(&file, PermissionsExt::from_mode(0o440)).unwrap();
        self.sudoers.push(file);
        let out = (user.name.clone(), user.home.clone());
        self.users.push(user);
        out
    }

    /// Gives `host`'s login user a `PATH` (through `~/.ssh/environment`)
    /// whose first folder holds `program` with `script`.
    pub fn fake_program(&self, host: &str, program: &str, script: &str) {
        let user = self.user(host);
        let bin = user.home.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let file = bin.join(program);
        std::fs::write(&file, script).unwrap();
        std::fs::set_permissions(&file, PermissionsExt::from_mode(0o755)).unwrap();
        let ssh = user.home.join(".ssh");
        std::fs::create_dir_all(&ssh).unwrap();
        std::fs::write(
            ssh.join("environment"),
            format!("PATH={}:/usr/bin:/bin\n", bin.display()),
        )
        .unwrap();
        run(Command::new("chown")
            .arg("-R")
            .arg(&user.name)
            .arg(&user.home));
    }

    /// Every process of `user` (an agent that did not end), as `pid
    /// command`.
    pub fn processes_of(&self, user: &str) -> Vec<String> {
        let uid = uid_of(user);
        let mut out = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let owner = status
                .lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|u| u.parse::<u32>().ok());
            if owner == Some(uid) {
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
                out.push(format!("{pid} {}", cmd.trim()));
            }
        }
        out
    }

    /// Waits until `user` has no process left (bounded), and returns what
    /// is left then.
    pub fn wait_for_no_processes(&self, user: &str, limit: Duration) -> Vec<String> {
        let start = Instant::now();
        loop {
            let left = self.processes_of(user);
            if left.is_empty() || start.elapsed() > limit {
                return left;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        for file in &self.sudoers {
            let _ = std::fs::remove_file(file);
        }
        drop(self.silent.take());
        for mut server in std::mem::take(&mut self.servers) {
            // The listener's process group (its connections are in
            // sessions of their own; they end with the users' processes).
            if let Some(group) = rustix::process::Pid::from_raw(server.child.id() as i32) {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            }
            let _ = server.child.wait();
        }
        for user in &self.users {
            // Whatever of the user's processes is left, then the user.
            for line in self.processes_of(&user.name) {
                if let Some(pid) = line.split_whitespace().next().and_then(|p| p.parse().ok()) {
                    kill(pid, rustix::process::Signal::KILL);
                }
            }
            let _ = Command::new("userdel").arg("-f").arg(&user.name).status();
        }
    }
}

/// Sends `signal` to process `pid`, which this test started (directly or
/// through the sshd it started).
pub fn kill(pid: u32, signal: rustix::process::Signal) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

/// The uid of `user`.
fn uid_of(user: &str) -> u32 {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&user))
        .and_then(|f| f.get(2).and_then(|u| u.parse().ok()))
        .unwrap_or(u32::MAX)
}

/// The children of process `pid`.
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
        // `pid (comm) state ppid …`; comm may hold spaces.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(child);
        }
    }
    out
}

/// A login user `bt<pid><n><what>` with its home below `dir`.
fn make_user(dir: &Path, n: usize, what: &str) -> User {
    let name = format!("bt{}x{n}{what}", std::process::id() % 100_000);
    let home = dir.join(format!("home-{what}"));
    std::fs::create_dir_all(&home).unwrap();
    run(Command::new("useradd")
        .args(["-M", "-s", "/bin/sh", "-p", "*", "-d"])
        .arg(&home)
        .arg(&name));
    run(Command::new("chown").arg(&name).arg(&home));
    std::fs::set_permissions(&home, PermissionsExt::from_mode(0o700)).unwrap();
    User { name, home }
}

/// The agent the tests ship: this build's berth, stripped (a debug build
/// carries most of its size in debug info, and every test's users start
/// with an empty store). It runs the tests' controllers too.
pub fn agent() -> &'static Path {
    static AGENT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    AGENT.get_or_init(|| {
        use std::os::unix::fs::MetadataExt;
        let built = Path::new(env!("CARGO_BIN_EXE_berth"));
        let meta = std::fs::metadata(built).unwrap();
        let dir = built.parent().unwrap().join("berth-test-agent");
        let name = format!(
            "berth-{}-{}",
            meta.mtime_nsec() + meta.mtime() * 1_000_000_000,
            meta.size()
        );
        let out = dir.join(&name);
        if out.is_file() {
            return out;
        }
        std::fs::create_dir_all(&dir).unwrap();
        // Older builds' copies go; a copy is made under a name of its own
        // and renamed, so that test processes running at once agree.
        for old in std::fs::read_dir(&dir).unwrap().flatten() {
            let _ = std::fs::remove_file(old.path());
        }
        let temp = dir.join(format!("{name}.{}", std::process::id()));
        let stripped = Command::new("strip")
            .args(["--strip-all", "-o"])
            .arg(&temp)
            .arg(built)
            .status()
            .is_ok_and(|s| s.success());
        if stripped && std::fs::rename(&temp, &out).is_ok() {
            out
        } else {
            built.to_path_buf()
        }
    })
}

/// `berth ARGS` in the repository, shipping this build as the agent.
pub fn berth(repo: &TestRepo, args: &[&str]) -> Command {
    let mut cmd = Command::new(agent());
    cmd.args(args)
        .current_dir(repo.path())
        .env("BERTH_CACHE_DIR", berth_tests::cache_dir())
        .env("BERTH_AGENT", agent())
        .env("NO_COLOR", "1");
    cmd
}

/// A finished deploy with JSON events.
pub struct Deployed {
    pub code: Option<i32>,
    pub events: Vec<Value>,
    /// Both outputs, for failure messages.
    pub output: String,
}

impl Deployed {
    pub fn summary(&self) -> &Value {
        let last = self.events.last().expect("no events");
        assert_eq!(last["event"], "summary", "{}", self.output);
        last
    }

    /// The summary's failures as one text.
    pub fn failures(&self) -> String {
        self.summary()["failures"].to_string()
    }

    /// How many steps of `host` ended with `status`.
    pub fn steps(&self, host: &str, status: &str) -> usize {
        self.events
            .iter()
            .filter(|e| e["event"] == "step" && e["host"] == host && e["status"] == status)
            .count()
    }

    /// `host/component` of every root that finished, in order.
    pub fn finished(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e["event"] == "component-finished")
            .map(|e| {
                format!(
                    "{}/{}",
                    e["host"].as_str().unwrap(),
                    e["component"].as_str().unwrap()
                )
            })
            .collect()
    }
}

fn parse_events(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// `berth deploy ssh --format json EXTRA`, to its end.
pub fn deploy(repo: &TestRepo, extra: &[&str]) -> Deployed {
    let mut args = vec!["deploy", "ssh", "--format", "json"];
    args.extend_from_slice(extra);
    finish(berth(repo, &args).output().unwrap())
}

/// Runs a deploy command with JSON events to its end.
pub fn finish_with(cmd: &mut Command) -> Deployed {
    finish(cmd.output().unwrap())
}

fn finish(out: Output) -> Deployed {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    Deployed {
        code: out.status.code(),
        events: parse_events(&stdout),
        output: format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr)),
    }
}

/// A deploy running in the background, read event by event.
pub struct Running {
    pub child: Child,
    lines: std::io::Lines<BufReader<ChildStdout>>,
    pub events: Vec<Value>,
}

impl Running {
    /// Starts `berth deploy ssh --format json EXTRA`.
    pub fn start(repo: &TestRepo, extra: &[&str]) -> Self {
        let mut args = vec!["deploy", "ssh", "--format", "json"];
        args.extend_from_slice(extra);
        let mut child = berth(repo, &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Self {
            child,
            lines,
            events: Vec::new(),
        }
    }

    /// Reads events until one matches (bounded by the deploy's end).
    pub fn until(&mut self, mut what: impl FnMut(&Value) -> bool) {
        loop {
            let line = self
                .lines
                .next()
                .unwrap_or_else(|| panic!("berth ended early: {:#?}", self.events))
                .unwrap();
            let event: Value = serde_json::from_str(&line).unwrap();
            let found = what(&event);
            self.events.push(event);
            if found {
                return;
            }
        }
    }

    /// Reads the rest and waits for the end.
    pub fn finish(mut self) -> Deployed {
        for line in self.lines.by_ref() {
            self.events
                .push(serde_json::from_str(&line.unwrap()).unwrap());
        }
        let status = self.child.wait().unwrap();
        let output = format!("{:#?}", self.events);
        Deployed {
            code: status.code(),
            events: self.events,
            output,
        }
    }
}

/// Every file below `dir` with content, inode and mtime.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>, String)> {
    berth_tests::snapshot(dir)
}

/// Files below `dir` whose names say they were being written: berth's
/// temporary files and the store's uploads.
pub fn half_written(dir: &Path) -> Vec<PathBuf> {
    snapshot(dir)
        .into_iter()
        .map(|(p, _, _)| p)
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.contains(".berth-") || name.ends_with(".part") || name.ends_with(".tmp")
        })
        .collect()
}
