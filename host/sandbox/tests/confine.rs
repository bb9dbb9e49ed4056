//! The confinement of granted programs, without any WebAssembly: a granted
//! shell cannot leave through sockets, signals, device nodes, other
//! programs or unreadable system files.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use berth_sandbox::{Command, Output, Programs, Sandbox};

fn sandbox(dir: &tempfile::TempDir) -> Sandbox {
    let work = dir.path().join("work");
    let def = dir.path().join("def");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&def).unwrap();
    Sandbox::new("probe", work, def, vec![]).unwrap()
}

fn bash(sandbox: &Sandbox, script: &str) -> Output {
    let programs = Programs::new(&["bash", "cat", "mknod", "sleep"].map(String::from)).unwrap();
    let mut cmd = Command::new(["bash", "-c", script]);
    cmd.timeout = Duration::from_secs(10);
    sandbox.run(&programs, &cmd).unwrap()
}

#[test]
fn a_granted_shell_runs_granted_programs_in_its_workdir_and_signals_its_own_children() {
    let dir = tempfile::tempdir().unwrap();
    let sb = sandbox(&dir);
    let out = bash(
        &sb,
        "echo hi > f && cat f && mknod fifo p; sleep 5 & kill -TERM $!; wait; test -p fifo",
    );
    assert_eq!(out.status, 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, b"hi\n");
}

#[test]
fn a_granted_shell_cannot_leave_its_confinement() {
    let dir = tempfile::tempdir().unwrap();
    let sb = sandbox(&dir);
    let mut outside = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let kill = format!("kill -TERM {}", outside.id());
    for (script, says) in [
        ("/usr/bin/id", "/usr/bin/id: Permission denied"),
        ("exec env", "/usr/bin/env: Permission denied"),
        ("mknod node c 1 3", "Permission denied"),
        ("mknod node b 7 0", "Permission denied"),
        ("cat /etc/shadow", "Permission denied"),
        ("cat /proc/1/environ", "Permission denied"),
        ("cat /proc/self/environ", "Permission denied"),
        ("echo x > /dev/udp/127.0.0.1/9", "socket: Permission denied"),
        ("echo x > /dev/tcp/127.0.0.1/9", "socket: Permission denied"),
        (kill.as_str(), "Operation not permitted"),
    ] {
        let out = bash(&sb, script);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status, 0, "`{script}` succeeded");
        assert!(stderr.contains(says), "`{script}`: {stderr}");
    }
    assert!(!dir.path().join("work/node").exists());
    assert!(
        outside.try_wait().unwrap().is_none(),
        "the outside process was killed"
    );
    outside.kill().unwrap();
    outside.wait().unwrap();
}

#[test]
fn with_network_allowed_sockets_can_be_made() {
    let dir = tempfile::tempdir().unwrap();
    let sb = sandbox(&dir).allow_network(true);
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = udp.local_addr().unwrap().port();
    let out = bash(&sb, &format!("echo ping > /dev/udp/127.0.0.1/{port}"));
    assert_eq!(out.status, 0, "{}", String::from_utf8_lossy(&out.stderr));
    let mut buf = [0u8; 16];
    udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let (n, _) = udp.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping\n");
}
