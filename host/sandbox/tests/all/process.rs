use std::os::unix::fs::symlink;
use std::time::{Duration, Instant};

use berth_sandbox::{Command, ProcessError, Programs, landlock_available};

use crate::Fixture;

fn programs(names: &[&str]) -> Programs {
    Programs::new(&names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
}

fn cmd(argv: &[&str]) -> Command {
    let mut c = Command::new(argv.iter().copied());
    c.timeout = Duration::from_secs(10);
    c
}

#[test]
fn ungranted_programs_are_refused() {
    let f = Fixture::new();
    let sb = f.sandbox();
    let err = sb.run(&Programs::none(), &cmd(&["cat", "x"])).unwrap_err();
    assert!(matches!(err, ProcessError::Denied(_)));
    assert_eq!(
        err.to_string(),
        "running `cat` is not granted; grant it with `[grants:test]` `commands = cat`"
    );
    let p = programs(&["cat"]);
    for argv in [
        &["sh", "-c", "id"][..],
        &["/bin/sh", "-c", "id"],
        &["bash"],
        &["/usr/bin/env"],
    ] {
        assert!(
            matches!(sb.run(&p, &cmd(argv)), Err(ProcessError::Denied(_))),
            "{argv:?}"
        );
    }
    // The absolute path of a granted program is the same program.
    let cat = p.resolve("cat").unwrap().to_str().unwrap().to_owned();
    let mut c = cmd(&[&cat]);
    c.stdin = Some(b"x".to_vec());
    assert_eq!(sb.run(&p, &c).unwrap().stdout, b"x");
}

#[test]
fn missing_programs_are_named() {
    let err = Programs::new(&["no-such-program-berth".into()]).unwrap_err();
    assert!(err.to_string().contains("`no-such-program-berth`"), "{err}");
    assert!(Programs::new(&["bin/cat".into()]).is_err());
    assert!(Programs::new(&["/no/such/prog".into()]).is_err());
}

#[test]
fn output_status_and_stdin_are_captured() {
    let f = Fixture::new();
    let sb = f.sandbox();
    let p = programs(&["cat", "false", "ls"]);
    // Larger than a pipe buffer both ways: no deadlock.
    let big: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut c = cmd(&["cat"]);
    c.stdin = Some(big.clone());
    let out = sb.run(&p, &c).unwrap();
    assert_eq!(out.status, 0);
    assert!(out.stdout == big);
    assert_eq!(sb.run(&p, &cmd(&["false"])).unwrap().status, 1);
    let out = sb.run(&p, &cmd(&["ls", "/no/such"])).unwrap();
    assert_ne!(out.status, 0);
    assert!(!out.stderr.is_empty());
}

#[test]
fn timeout_kills_the_program() {
    let f = Fixture::new();
    let sb = f.sandbox();
    let mut c = cmd(&["sleep", "5"]);
    c.timeout = Duration::from_millis(200);
    let start = Instant::now();
    let err = sb.run(&programs(&["sleep"]), &c).unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(matches!(err, ProcessError::TimedOut(_)));
    assert_eq!(
        err.to_string(),
        "`sleep 5` did not finish within 200 ms and was killed, with every process it started"
    );
}

/// Whether a process whose command line holds `marker` is alive.
fn alive(marker: &str) -> bool {
    let found: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| c.windows(marker.len()).any(|w| w == marker.as_bytes()))
        })
        .map(|e| std::fs::read_to_string(e.path().join("status")).unwrap_or_default())
        .collect();
    for status in &found {
        eprintln!("alive: {status}");
    }
    !found.is_empty()
}

#[test]
fn a_background_child_does_not_hold_the_run() {
    // bash exits at once; its `sleep` keeps the output pipe open. The run
    // ends with bash, and the sleep is killed.
    let f = Fixture::new();
    let sb = f.sandbox();
    let marker = format!("{}.417", std::process::id());
    let script = format!("sleep {marker} & echo started");
    let start = Instant::now();
    let out = sb
        .run(
            &programs(&["bash", "sleep"]),
            &cmd(&["bash", "-c", &script]),
        )
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(out.stdout, b"started\n");
    assert!(!alive(&marker), "the background sleep outlived the run");
}

#[test]
fn a_daemon_started_with_setsid_is_gone_when_the_run_ends() {
    let f = Fixture::new();
    let sb = f.sandbox();
    let p = programs(&["bash", "setsid", "sleep", "touch"]);
    let marker = format!("{}.418", std::process::id());
    // A session of its own, double-forked, its output closed: a daemon.
    let script = format!(
        "setsid bash -c 'exec >/dev/null 2>&1 </dev/null; (while :; do touch tick; sleep {marker}; done) &' ; echo started"
    );
    let out = sb.run(&p, &cmd(&["bash", "-c", &script])).unwrap();
    assert_eq!(out.stdout, b"started\n");
    assert!(!alive(&marker), "the daemon outlived the run");
    let _ = std::fs::remove_file(f.path("work/tick"));
    std::thread::sleep(Duration::from_millis(300));
    assert!(!f.path("work/tick").exists(), "the daemon still writes");

    // At the deadline, too.
    let mut c = cmd(&[
        "bash",
        "-c",
        &format!("setsid sleep {marker} & sleep {marker}"),
    ]);
    c.timeout = Duration::from_millis(300);
    let err = sb.run(&p, &c).unwrap_err();
    assert!(matches!(err, ProcessError::TimedOut(_)), "{err}");
    assert!(!alive(&marker), "a process outlived the deadline");
}

#[test]
fn output_is_kept_up_to_the_limit_and_the_rest_counted() {
    let f = Fixture::new();
    let sb = f.sandbox();
    let p = programs(&["head"]);
    let total = berth_sandbox::OUTPUT_LIMIT as u64 + 5_000_000;
    let out = sb
        .run(&p, &cmd(&["head", "-c", &total.to_string(), "/dev/zero"]))
        .unwrap();
    assert_eq!(out.status, 0);
    assert_eq!(out.stdout.len(), berth_sandbox::OUTPUT_LIMIT);
    assert_eq!(out.stdout_dropped, 5_000_000);
    assert_eq!(out.stderr_dropped, 0);
    assert_eq!(
        out.dropped_note().unwrap(),
        "berth kept the first 16 MiB of stdout (4.8 MiB dropped)"
    );

    // A program that never stops writing is killed at the deadline.
    let mut c = cmd(&["cat", "/dev/zero"]);
    c.timeout = Duration::from_millis(500);
    let err = sb.run(&programs(&["cat"]), &c).unwrap_err();
    assert!(matches!(err, ProcessError::TimedOut(_)), "{err}");
}

#[test]
fn environment_is_cleared() {
    let f = Fixture::new();
    let sb = f.sandbox();
    let out = sb.run(&programs(&["env"]), &cmd(&["env"])).unwrap();
    let mut lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        vec![
            format!("HOME={}", f.path("work").display()),
            "LANG=C.UTF-8".to_owned(),
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
        ]
    );
}

#[test]
fn cwd_stays_inside_the_workdir() {
    let f = Fixture::new();
    std::fs::create_dir(f.path("work/sub")).unwrap();
    symlink(f.path("outside"), f.path("work/out")).unwrap();
    let sb = f.sandbox();
    let p = programs(&["pwd"]);
    let out = sb.run(&p, &cmd(&["pwd"])).unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        f.path("work").to_str().unwrap()
    );
    let mut c = cmd(&["pwd"]);
    c.cwd = Some("sub".into());
    let out = sb.run(&p, &c).unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        f.path("work/sub").to_str().unwrap()
    );
    for bad in ["../outside", "out"] {
        c.cwd = Some(bad.into());
        assert!(sb.run(&p, &c).is_err(), "{bad}");
    }
    c.cwd = Some(f.path("def").to_str().unwrap().into());
    assert!(matches!(sb.run(&p, &c), Err(ProcessError::Invalid(_))));
}

#[test]
fn landlock_confines_writes_to_the_workdir() {
    if !landlock_available() {
        eprintln!("skipped: this kernel has no Landlock");
        return;
    }
    let f = Fixture::new();
    let sb = f.sandbox();
    let p = programs(&["touch", "cat"]);
    let before = f.outside_snapshot();
    let outside = f.path("outside/pwned");
    let tmp = std::env::temp_dir().join(format!("berth-landlock-{}", std::process::id()));
    for target in [&outside, &tmp] {
        let out = sb
            .run(&p, &cmd(&["touch", target.to_str().unwrap()]))
            .unwrap();
        assert_ne!(out.status, 0, "touch {} succeeded", target.display());
        assert!(!target.exists());
    }
    // Reading outside the roots is refused too, system paths are readable.
    let secret = f.path("outside/secret");
    assert_ne!(
        sb.run(&p, &cmd(&["cat", secret.to_str().unwrap()]))
            .unwrap()
            .status,
        0
    );
    assert_eq!(
        sb.run(&p, &cmd(&["cat", "/etc/os-release"]))
            .map(|o| o.status)
            .unwrap_or(0),
        0
    );
    assert_eq!(f.outside_snapshot(), before);

    // Inside the workdir a write works, unless the sandbox is read-only.
    assert_eq!(sb.run(&p, &cmd(&["touch", "inside"])).unwrap().status, 0);
    assert!(f.path("work/inside").exists());
    let ro = sb.read_only();
    let out = ro.run(&p, &cmd(&["touch", "inside-ro"])).unwrap();
    assert_ne!(out.status, 0);
    assert!(!f.path("work/inside-ro").exists());
    // Reading still works read-only.
    let out = ro.run(&p, &cmd(&["cat", "inside"])).unwrap();
    assert_eq!(out.status, 0);
}

#[test]
fn programs_run_before_the_workdir_exists() {
    let f = Fixture::new();
    let sb = berth_sandbox::Sandbox::new("test", f.path("later"), f.path("def"), vec![])
        .unwrap()
        .read_only();
    let out = sb.run(&programs(&["true"]), &cmd(&["true"])).unwrap();
    assert_eq!(out.status, 0);
}
