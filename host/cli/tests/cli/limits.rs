//! Issue 10, through the `berth` binary: each hostile component or input
//! file ends within its deadline plus a margin, fails with an error that
//! names the component and step (or the file and line), lets the other
//! roots deploy, exits 1 (2 for a bad input file), and keeps berth's peak
//! memory under [`PEAK_RSS`], as `wait4` reports it for the `berth` process
//! and every process it waited for (programs, template renderers).

// `wait4` is the only way to learn the peak memory of one child.
#![allow(unsafe_code)]

use berth_tests::hostile::{self, probes};
use berth_tests::{GREEDY, HELLO, PY_SLEEP, SPIN_DESCRIBE, TestRepo};
use std::io::Read as _;
use std::os::unix::process::ExitStatusExt as _;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The bound on berth's peak RSS in every case below, in KiB: the 256 MiB
/// memory cap of one component plus 160 MiB for berth itself (a debug
/// build) and what it holds for a component (16 MiB of each output stream
/// of a program, a file of at most 256 MiB being compared is streamed).
/// Before issue 10, `cat /dev/zero` alone grew berth past 2 GB in 5 s.
const PEAK_RSS: u64 = (256 + 160) * 1024;

/// What one run of `berth` did.
struct Measured {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    /// Peak resident set of berth and of each process it waited for, KiB.
    peak_rss: u64,
    took: Duration,
}

impl Measured {
    fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Asserts the bounds every case shares: exit `code`, peak RSS, and an
    /// end within `deadline` plus a margin of 30 s for loading, the other
    /// roots and a busy machine.
    fn within(&self, code: i32, deadline: Duration) -> &Self {
        assert_eq!(self.code(), Some(code), "{}\n{}", self.stdout, self.stderr);
        assert!(
            self.peak_rss < PEAK_RSS,
            "peak RSS {} MiB ≥ {} MiB\n{}",
            self.peak_rss / 1024,
            PEAK_RSS / 1024,
            self.stdout
        );
        assert!(
            self.took < deadline + Duration::from_secs(30),
            "took {:?} with a deadline of {deadline:?}",
            self.took
        );
        eprintln!("peak RSS {} MiB, {:?}", self.peak_rss / 1024, self.took);
        self
    }
}

/// Runs `berth` with `args` in `repo` and measures it with `wait4`.
fn measured(repo: &TestRepo, args: &[&str]) -> Measured {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .current_dir(repo.path())
        .env("BERTH_CACHE_DIR", berth_tests::cache_dir())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).unwrap();
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero `rusage` is valid, and `wait4` reaps the child we
    // spawned (std's `Child` is not waited for after this).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid);
    std::mem::forget(child);
    Measured {
        status: ExitStatus::from_raw(status),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
        peak_rss: usage.ru_maxrss as u64,
        took: start.elapsed(),
    }
}

/// The other root deployed.
fn hello_deployed(repo: &TestRepo) {
    assert!(hostile::hello_deployed(repo));
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn a_program_writing_forever_is_killed_at_the_deadline_in_bounded_memory() {
    let repo = probes(
        "probe-granted",
        hostile::zeros(),
        3,
    );
    let run = measured(&repo, &["deploy", "local"]);
    run.within(1, secs(3));
    assert!(
        run.stdout.contains("localhost/probe-granted: zeros: component `probe-granted` did not finish update within its deadline of 3s"),
        "{}",
        run.stdout
    );
    hello_deployed(&repo);
}

#[test]
fn three_gigabytes_of_output_are_counted_not_kept() {
    let repo = probes(
        "probe-daemon",
        hostile::flood(),
        120,
    );
    let run = measured(&repo, &["deploy", "local"]);
    run.within(0, secs(120));
    assert!(
        run.stdout.contains("warning: `head -c 3000000000 /dev/zero` wrote more than berth keeps: berth kept the first 16 MiB of stdout (2.8 GiB dropped)"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_setsid_daemon_is_gone_after_the_deploy() {
    let marker = format!("{}.1011", std::process::id());
    let repo = probes("probe-daemon", hostile::daemon_probes(&marker), 5);
    let run = measured(&repo, &["deploy", "local"]);
    run.within(0, secs(5));
    assert!(
        !hostile::running(&marker),
        "a process of the deploy outlived it"
    );
    assert!(
        !hostile::still_ticking(&repo.workdir("probe-daemon")),
        "the daemon still writes into the workdir"
    );
}

#[test]
fn a_fifo_read_is_refused_and_a_64_gib_file_verifies_in_bounded_memory() {
    let repo = probes(
        "probe",
        serde_json::json!([
            {"op": "file", "path": "big", "content": "small\n", "label": "replace big"},
            {"op": "read", "path": "fifo", "label": "read fifo"},
        ]),
        30,
    );
    let work = repo.workdir("probe");
    std::fs::create_dir_all(&work).unwrap();
    hostile::sparse_64_gib(&work.join("big"));
    hostile::mkfifo(&work.join("fifo"));
    let run = measured(&repo, &["deploy", "local"]);
    run.within(1, secs(30));
    assert!(
        run.stdout
            .contains("content differs (64 GiB → 6 bytes, too large to show a diff)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("localhost/probe: read fifo: component `probe` failed during verify: invalid: cannot read `"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("it is a FIFO (named pipe); berth reads regular files only")
    );
    assert_eq!(std::fs::read(work.join("big")).unwrap(), b"small\n");
    hello_deployed(&repo);
}

#[test]
fn hostile_templates_fail_their_step_in_bounded_memory() {
    for (templates, expected) in hostile::templates() {
        let repo = probes(
            "probe",
            templates,
            120,
        );
        let run = measured(&repo, &["deploy", "local"]);
        run.within(1, secs(120));
        assert!(
            run.stdout
                .contains("localhost/probe: hostile: template inline of file `out`"),
            "{}",
            run.stdout
        );
        assert!(run.stdout.contains(expected), "{}", run.stdout);
        hello_deployed(&repo);
    }
}

#[test]
fn a_python_sleep_ends_at_the_deadline() {
    let repo = TestRepo::new();
    repo.python("py-sleep", PY_SLEEP)
        .example("hello", HELLO)
        .env(
            "local",
            "[environment]\ntimeout = 3\n\n[hosts]\nlocalhost = py-sleep, hello\n",
        );
    let run = measured(&repo, &["deploy", "local"]);
    run.within(1, secs(3));
    assert!(
        run.stdout.contains("localhost/py-sleep: nap: component `py-sleep` did not finish verify within its deadline of 3s"),
        "{}",
        run.stdout
    );
    hello_deployed(&repo);
}

#[test]
fn memories_and_tables_share_one_cap() {
    let repo = TestRepo::new();
    repo.component("greedy", GREEDY)
        .example("hello", HELLO)
        .env(
            "local",
            "[hosts]\nlocalhost = greedy-memories, greedy-table, hello\n",
        );
    let run = measured(&repo, &["deploy", "local"]);
    run.within(1, secs(60));
    for root in ["greedy-memories", "greedy-table"] {
        assert!(
            run.stdout.contains(&format!(
                "localhost/{root}: component `{root}` exceeded its memory limit of 256 MiB (all its memories and tables together) during configure"
            )),
            "{}",
            run.stdout
        );
    }
    hello_deployed(&repo);
}

#[test]
fn deep_step_trees_are_refused_clearly_also_by_check_and_predict() {
    for depth in [7_000, 100_000] {
        let repo = probes(
            "probe",
            hostile::tree(depth),
            30,
        );
        let expected = "component `probe` failed during configure: invalid: step 64 `level 65` is nested 65 levels deep; berth walks step trees at most 64 levels deep";
        for (args, code) in [
            (&["deploy", "local"][..], 1),
            (&["deploy", "local", "--predict"][..], 1),
            (&["check", "local"][..], 2),
        ] {
            let run = measured(&repo, args);
            run.within(code, secs(30));
            assert!(run.stdout.contains(expected), "{args:?}\n{}", run.stdout);
        }
        hello_deployed(&repo);
    }
}

#[test]
fn substitution_chains_and_doubling_are_refused_at_their_line() {
    let repo = TestRepo::new();
    repo.example("hello", HELLO);
    // 10,000 references deep.
    let mut chain = String::from("[hosts]\nlocalhost = hello\n\n[component:hello]\n");
    for i in 0..10_000 {
        chain.push_str(&format!("k{i} = ${{component:hello:k{}}}\n", i + 1));
    }
    chain.push_str("k10000 = end\n");
    repo.env("chain", &chain);
    // 30 levels of doubling from a file of 2.6 KB.
    let mut doubling =
        String::from("[hosts]\nlocalhost = hello\n\n[component:hello]\nk0 = 0123456789abcdef\n");
    for i in 1..=30 {
        doubling.push_str(&format!(
            "k{i} = ${{component:hello:k{}}}${{component:hello:k{}}}\n",
            i - 1,
            i - 1
        ));
    }
    assert!(doubling.len() < 3000, "{}", doubling.len());
    repo.env("doubling", &doubling);
    for (env, line) in [
        (
            "chain",
            "environments/chain/environment.cfg:68: `${component:hello:k64}` nests references more than 64 levels deep",
        ),
        (
            "doubling",
            "environments/doubling/environment.cfg:22: substituting `${component:hello:k16}` makes this value larger than 1 MiB",
        ),
    ] {
        for command in ["check", "deploy"] {
            let run = measured(&repo, &[command, env]);
            run.within(2, secs(10));
            assert!(run.stderr.contains(line), "{}", run.stderr);
        }
    }
}

#[test]
fn a_50_mb_diff_prints_at_most_the_cap() {
    let text: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
    let repo = probes(
        "probe",
        serde_json::json!([
            {"op": "template", "path": "huge.txt", "content": "{{ \"0123456789\\n\" * 5000000 }}", "label": "huge"},
            {"op": "file", "path": "long.txt", "content": text, "label": "long"},
        ]),
        60,
    );
    for format in ["human", "json"] {
        let run = measured(&repo, &["deploy", "local", "--predict", "--format", format]);
        run.within(0, secs(60));
        // Two capped diffs and the rest of the run's output.
        assert!(
            run.stdout.len() < 4 * berth_resources::DIFF_BYTES,
            "{} bytes:\n{}",
            run.stdout.len(),
            run.stdout
        );
        assert!(
            run.stdout
                .contains("new file (52.5 MiB, too large to show)")
        );
        assert!(run.stdout.contains(" more lines ("), "{}", run.stdout);
    }
}

#[test]
fn a_leftover_temporary_file_is_gone_after_the_next_deploy() {
    let repo = probes(
        "probe",
        serde_json::json!([{"op": "file", "path": "motd", "content": "hi\n", "label": "motd"}]),
        30,
    );
    measured(&repo, &["deploy", "local"]).within(0, secs(30));
    // A deploy killed while it wrote `motd` leaves this, hidden from Purge.
    let leftover = repo.workdir("probe").join(".motd.berth-999999999-4");
    std::fs::write(&leftover, vec![b'x'; 4 << 20]).unwrap();
    let run = measured(&repo, &["deploy", "local"]);
    run.within(0, secs(30));
    assert!(run.stdout.contains("0 changed"), "{}", run.stdout);
    assert!(!leftover.exists());
}

#[test]
fn a_looping_describe_fails_its_roots_at_the_environments_timeout() {
    let repo = hostile::looping_describe(SPIN_DESCRIBE);
    repo.env(
        "other",
        "[environment]\ntimeout = 2\n\n[hosts]\nlocalhost = hello\n",
    );
    let run = measured(&repo, &["deploy", "local"]);
    run.within(1, secs(2));
    assert!(
        run.stdout.contains("component `spin-describe` did not finish describe within its deadline of 2s (`timeout` in [environment] of `environments/local/environment.cfg` sets it)"),
        "{}",
        run.stdout
    );
    hello_deployed(&repo);
    // Another environment of the repository is not stopped by it.
    let run = measured(&repo, &["deploy", "other"]);
    assert_eq!(run.code(), Some(0), "{}", run.stdout);
}

#[test]
fn component_warnings_and_errors_show_without_debug() {
    let repo = probes(
        "probe",
        serde_json::json!([
            {"op": "log", "label": "warns", "content": "disk almost full", "level": "warn"},
            {"op": "log", "label": "errs", "content": "certificate expired", "level": "error"},
            {"op": "log", "label": "chats", "content": "a thousand and one", "depth": 1001},
        ]),
        30,
    );
    let run = measured(&repo, &["deploy", "local"]);
    run.within(0, secs(30));
    assert!(
        run.stdout.contains("    warning: disk almost full\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("    error: certificate expired\n"),
        "{}",
        run.stdout
    );
    assert_eq!(run.stdout.matches("    a thousand and one\n").count(), 1000);
    assert!(
        run.stdout.contains("warning: 2 more log lines of this verify call were dropped (at most 1000 are shown per call)"),
        "{}",
        run.stdout
    );
    let run = measured(&repo, &["deploy", "local", "--format", "json"]);
    let levels: Vec<String> = run
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "log")
        .map(|e| e["level"].as_str().unwrap().to_owned())
        .collect();
    assert!(levels.iter().any(|l| l == "warn"), "{levels:?}");
    assert!(levels.iter().any(|l| l == "error"), "{levels:?}");
    assert!(
        levels
            .iter()
            .all(|l| ["trace", "debug", "info", "warn", "error"].contains(&l.as_str())),
        "{levels:?}"
    );
}
