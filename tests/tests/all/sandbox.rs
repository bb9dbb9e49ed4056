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

/// An environment for `root` with `probes` (each given a label from its
/// JSON when it has none) and `extra` appended (grants).
fn env_for(root: &str, probes: &mut [serde_json::Value], extra: &str) -> String {
    for p in probes.iter_mut() {
        if p.get("label").is_none() {
            let label = format!("{} {}", p["op"].as_str().unwrap(), p);
            p["label"] = serde_json::Value::String(label);
        }
    }
    let list = serde_json::to_string_pretty(&probes).unwrap();
    let indented: Vec<String> = list.lines().map(|l| format!("    {l}")).collect();
    format!(
        "[environment]\nconnect_method = local\ntimeout = 20\n\n[hosts]\nlocalhost = {root}\n\n[component:{root}]\nprobes =\n{}\n\n{extra}",
        indented.join("\n")
    )
}

/// Asserts that every probe met its `expect`.
fn all_as_expected(run: &berth_tests::Run, probes: usize) {
    let summary = run.summary();
    assert_eq!(
        summary.failed,
        0,
        "a probe got an unexpected outcome:\n{}\n{:#?}",
        summary.failures.join("\n"),
        run.logs()
    );
    assert_eq!(run.steps().len(), probes);
}

fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn mode_probes(special: &str) -> Vec<serde_json::Value> {
    vec![
        serde_json::json!({"op": "write", "path": "suid", "content": "#!/bin/sh\nid\n", "mode": 0o6755, "expect": special, "label": "write 6755"}),
        serde_json::json!({"op": "write", "path": "plain", "content": "x", "mode": 0o755, "expect": "ok", "label": "write 755"}),
        serde_json::json!({"op": "chmod", "path": "plain", "mode": 0o4755, "expect": special, "label": "chmod 4755"}),
        serde_json::json!({"op": "mkdir", "path": "shared", "expect": "ok", "label": "mkdir shared"}),
        serde_json::json!({"op": "chmod", "path": "shared", "mode": 0o1777, "expect": special, "label": "chmod 1777"}),
        // Not modes at all: refused whatever is granted, never masked.
        serde_json::json!({"op": "chmod", "path": "plain", "mode": 0o17777, "expect": "invalid", "contains": "0o7777", "label": "chmod 17777"}),
        serde_json::json!({"op": "write", "path": "huge", "content": "x", "mode": 0xFFFF_FFFFu32, "expect": "invalid", "label": "write ffffffff"}),
    ]
}

#[test]
fn setuid_setgid_and_sticky_modes_are_refused_unless_granted_and_invalid_modes_always() {
    let repo = TestRepo::new();
    repo.component("probe", PROBE);
    let mut probes = mode_probes("denied");
    probes[0]["contains"] = "`[grants:probe]` `special-modes = setuid setgid`".into();
    repo.env("local", &env_for("probe", &mut probes, ""));
    let run = repo.deploy("local");
    all_as_expected(&run, probes.len());
    let work = repo.workdir("probe");
    assert!(!work.join("suid").exists(), "the setuid file was written");
    assert!(!work.join("huge").exists());
    assert_eq!(mode_of(&work.join("plain")), 0o755);
    assert_eq!(mode_of(&work.join("shared")) & 0o7000, 0);

    let mut probes = mode_probes("ok");
    repo.env(
        "local",
        &env_for(
            "probe",
            &mut probes,
            "[grants:probe]\nspecial-modes = setuid setgid sticky\n",
        ),
    );
    let run = repo.deploy("local");
    all_as_expected(&run, probes.len());
    assert_eq!(mode_of(&work.join("suid")), 0o6755);
    assert_eq!(mode_of(&work.join("plain")), 0o4755);
    assert_eq!(mode_of(&work.join("shared")), 0o1777);
}

#[test]
fn a_file_step_with_a_setuid_mode_fails_its_step_unless_granted() {
    let repo = TestRepo::new();
    repo.component("probe", PROBE);
    let file = || {
        vec![
            serde_json::json!({"op": "file", "path": "tool", "content": "#!/bin/sh\n", "mode": 0o4755, "label": "setuid tool"}),
        ]
    };
    repo.env("local", &env_for("probe", &mut file(), ""));
    let run = repo.deploy("local");
    assert_eq!(run.summary().failed, 1);
    match run.step("setuid tool") {
        Outcome::Failed { error } => {
            assert!(
                error.contains("the mode 4755 for `tool` is refused"),
                "{error}"
            );
            assert!(error.contains("special-modes = setuid"), "{error}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert!(!repo.workdir("probe").join("tool").exists());

    repo.env(
        "local",
        &env_for(
            "probe",
            &mut file(),
            "[grants:probe]\nspecial-modes = setuid\n",
        ),
    );
    assert_eq!(repo.deploy("local").summary().failed, 0);
    assert_eq!(mode_of(&repo.workdir("probe").join("tool")), 0o4755);
}

#[test]
fn a_special_modes_grant_with_an_unknown_bit_is_an_error_at_its_line() {
    let repo = TestRepo::new();
    repo.component("probe", PROBE);
    repo.env(
        "local",
        "[hosts]\nlocalhost = probe\n\n[grants:probe]\nspecial-modes = setuid, suid\n",
    );
    let error = repo.deploy("local").error();
    assert!(error.contains(":5: unknown special mode `suid`"), "{error}");
}

fn run(argv: &[&str], expect: &str, contains: &str) -> serde_json::Value {
    serde_json::json!({"op": "run", "argv": argv, "expect": expect, "contains": contains})
}

#[test]
fn granted_programs_reach_no_socket_no_other_process_no_device_and_no_other_program() {
    use std::os::linux::net::SocketAddrExt as _;
    use std::os::unix::net::{SocketAddr, UnixListener};

    let repo = TestRepo::new();
    repo.component("probe", PROBE);
    // Listeners on loopback and on UNIX sockets, and a process berth did
    // not start: none may be reached.
    let sockets = tempfile::tempdir().unwrap();
    let path = sockets.path().join("api.sock");
    let unix = UnixListener::bind(&path).unwrap();
    let name = format!("berth-test-{}", std::process::id());
    let abstract_ =
        UnixListener::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    for l in [&unix, &abstract_] {
        l.set_nonblocking(true).unwrap();
    }
    udp.set_nonblocking(true).unwrap();
    tcp.set_nonblocking(true).unwrap();
    let udp_port = udp.local_addr().unwrap().port();
    let tcp_port = tcp.local_addr().unwrap().port();
    let mut sleep = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let pid = sleep.id().to_string();
    let sock = path.to_str().unwrap();

    let curl = |how: &str, to: &str| {
        run(
            &[
                "curl",
                "-sS",
                "--max-time",
                "5",
                how,
                to,
                "http://localhost/",
            ],
            "failed",
            "",
        )
    };
    let udp_send = format!("echo datagram > /dev/udp/127.0.0.1/{udp_port}");
    let tcp_send = format!("echo stream > /dev/tcp/127.0.0.1/{tcp_port}");
    let kill_in_bash = format!("kill -KILL {pid}");
    let mut probes = vec![
        // Network of every kind.
        curl("--unix-socket", sock),
        curl("--abstract-unix-socket", &name),
        run(&["bash", "-c", &udp_send], "failed", "Permission denied"),
        run(&["bash", "-c", &tcp_send], "failed", "Permission denied"),
        run(
            &[
                "curl",
                "-sS",
                "--max-time",
                "5",
                &format!("http://127.0.0.1:{tcp_port}/"),
            ],
            "failed",
            "",
        ),
        // Signals to a process berth did not start.
        run(&["kill", "-TERM", &pid], "failed", "not permitted"),
        run(&["bash", "-c", &kill_in_bash], "failed", "not permitted"),
        // Device nodes.
        run(
            &["mknod", "node", "c", "1", "3"],
            "failed",
            "Permission denied",
        ),
        run(
            &["mknod", "block", "b", "7", "0"],
            "failed",
            "Permission denied",
        ),
        run(
            &["cp", "-a", "/dev/null", "null-copy"],
            "failed",
            "Permission denied",
        ),
        // Secrets of the system.
        run(&["cat", "/etc/shadow"], "failed", "Permission denied"),
        run(&["cat", "/etc/ssh/ssh_host_ed25519_key"], "failed", ""),
        run(&["cat", "/root/.profile"], "failed", "Permission denied"),
        run(&["cat", "/proc/1/environ"], "failed", "Permission denied"),
        // Programs that were not granted, through granted ones.
        run(&["env", "id"], "failed", "Permission denied"),
        run(&["bash", "-c", "id"], "failed", "Permission denied"),
        run(
            &["bash", "-c", "exec /usr/bin/sh -c id"],
            "failed",
            "Permission denied",
        ),
        // The controls: granted programs start (curl included), run each
        // other, and work in the workdir.
        run(&["curl", "--version"], "ok", "curl"),
        run(&["env", "cat", "/etc/passwd"], "ok", "root:"),
        run(
            &["bash", "-c", "echo kept > kept && cat kept && kill -0 $$"],
            "ok",
            "kept",
        ),
    ];
    let before = std::fs::metadata(&path).unwrap().modified().unwrap();
    repo.env(
        "local",
        &env_for(
            "probe-tools",
            &mut probes,
            "[grants:probe-tools]\ncommands = bash env curl cp mknod kill cat\n",
        ),
    );
    let run = repo.deploy("local");
    all_as_expected(&run, probes.len());

    let nothing = |r: std::io::Result<()>| {
        assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
    };
    nothing(unix.accept().map(drop));
    nothing(abstract_.accept().map(drop));
    nothing(tcp.accept().map(drop));
    nothing(udp.recv_from(&mut [0u8; 64]).map(drop));
    assert!(sleep.try_wait().unwrap().is_none(), "`sleep` was killed");
    sleep.kill().unwrap();
    sleep.wait().unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        before
    );
    let work = repo.workdir("probe-tools");
    for name in ["node", "block", "null-copy"] {
        assert!(!work.join(name).exists(), "`{name}` was made");
    }
    assert_eq!(
        std::fs::read_to_string(work.join("kept")).unwrap(),
        "kept\n"
    );
}

#[test]
fn symlink_targets_are_resolved_through_the_links_already_there() {
    let repo = TestRepo::new();
    repo.component("probe", PROBE);
    let work = repo.workdir("probe");
    let depth = work.components().count();
    // Textually `loop/loop/…/../../…` stays in the workdir; through the
    // link `loop -> .` it climbs to `/`.
    let climb = format!("{}{}etc/shadow", "loop/".repeat(depth), "../".repeat(depth));
    let absolute = format!("{}/loop/{}etc/shadow", work.display(), "../".repeat(depth));
    let symlink = |path: &str, target: &str, expect: &str| serde_json::json!({"op": "symlink", "path": path, "target": target, "expect": expect, "label": format!("symlink {path}")});
    let mut probes = vec![
        serde_json::json!({"op": "write", "path": "file", "content": "inside", "expect": "ok"}),
        symlink("loop", ".", "ok"),
        symlink("shadow", &climb, "denied"),
        symlink("shadow-abs", &absolute, "denied"),
        // `..` below a folder that does not exist yet: a folder made later
        // could let it leave.
        symlink("later", "missing/../../../etc/shadow", "denied"),
        // The controls: links that stay inside.
        symlink("inside", "loop/loop/file", "ok"),
        symlink("dangling", "not-yet/file", "ok"),
    ];
    repo.env("local", &env_for("probe", &mut probes, ""));
    let run = repo.deploy("local");
    all_as_expected(&run, probes.len());
    for name in ["shadow", "shadow-abs", "later"] {
        assert!(
            std::fs::symlink_metadata(work.join(name)).is_err(),
            "`{name}` was made"
        );
    }
    assert_eq!(
        std::fs::read_to_string(work.join("inside")).unwrap(),
        "inside"
    );
}

#[test]
fn roots_named_dot_or_dot_dot_are_refused_wherever_they_appear() {
    let repo = TestRepo::new();
    repo.component("probe", PROBE);
    for (env, line) in [
        ("[hosts]\nlocalhost = probe, .\n", 2),
        ("[hosts]\nlocalhost = ..\n", 2),
        ("[hosts]\nlocalhost = probe\n\n[component:.]\nx = 1\n", 4),
        (
            "[hosts]\nlocalhost = probe\n\n[grants:..]\ncommands = cat\n",
            4,
        ),
        ("[hosts]\nlocalhost = .hidden\n", 2),
    ] {
        repo.env("local", env);
        let error = repo.deploy("local").error();
        assert!(
            error.contains(&format!(":{line}: invalid component name")),
            "{env}: {error}"
        );
        assert!(error.contains("start with a letter or a digit"), "{error}");
    }
    assert!(!repo.join("work").exists());

    // A package that describes a root named `.` is refused as well when it
    // is loaded, before anything runs; the other roots are not deployed.
    // (A package the environment does not use is not loaded at all.)
    repo.component("dot", berth_tests::DOTNAME);
    repo.env("local", "[hosts]\nlocalhost = probe, dot\n");
    let error = repo.deploy("local").error();
    assert!(
        error.contains("describes a root component named `.`, which is not a valid name"),
        "{error}"
    );
    assert!(!repo.join("work").exists());
}

#[test]
fn a_tampered_or_swapped_cache_entry_is_compiled_again_never_run() {
    use berth_runtime::{CacheOutcome, Runtime, RuntimeOptions};
    let cache = tempfile::tempdir().unwrap();
    let options = RuntimeOptions {
        cache_dir: Some(cache.path().to_path_buf()),
        ..RuntimeOptions::default()
    };
    let load = |wasm: &str| {
        Runtime::new(options.clone())
            .unwrap()
            .load(wasm.as_ref())
            .unwrap()
    };
    let probe = load(PROBE);
    let hello = load(berth_tests::HELLO);
    assert_eq!(load(PROBE).cache, CacheOutcome::Hit);
    let entry = |sha: &str| {
        std::fs::read_dir(cache.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with(sha))
            .unwrap()
    };
    // Only this user may write the cache.
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(cache.path().join("macs"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "{mode:o}");

    // Bytes changed in place, in the middle of the code.
    let probe_entry = entry(&probe.sha256);
    let mut bytes = std::fs::read(&probe_entry).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&probe_entry, &bytes).unwrap();
    let again = load(PROBE);
    assert_eq!(again.cache, CacheOutcome::Compiled);
    assert_eq!(again.description.roots[0].name, "probe");
    assert_eq!(load(PROBE).cache, CacheOutcome::Hit);

    // A checked entry is mapped unread while its identity holds: a write
    // that keeps its size, inode and mtime still changes its ctime.
    assert_eq!(load(PROBE).cache, CacheOutcome::Hit);
    super::packages::tamper_keeping_identity(&probe_entry);
    let kept = load(PROBE);
    assert_eq!(kept.cache, CacheOutcome::Compiled);
    assert_eq!(kept.description.roots[0].name, "probe");
    assert_eq!(load(PROBE).cache, CacheOutcome::Hit);

    // A valid entry of another component put in its place: its MAC names
    // the other entry, so it is not taken either.
    let mac = |entry: &Path| {
        let name = entry.file_name().unwrap().to_str().unwrap();
        cache.path().join("macs").join(format!("{name}.mac"))
    };
    let hello_entry = entry(&hello.sha256);
    std::fs::copy(&hello_entry, &probe_entry).unwrap();
    std::fs::copy(mac(&hello_entry), mac(&probe_entry)).unwrap();
    let swapped = load(PROBE);
    assert_eq!(swapped.cache, CacheOutcome::Compiled);
    assert_eq!(swapped.description.roots[0].name, "probe");
}
