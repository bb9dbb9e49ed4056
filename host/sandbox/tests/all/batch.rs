//! Batched durable writes: staging, commit, what a crash leaves, and the
//! streaming comparison of the converged path.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use berth_sandbox::{Committed, Comparison, FsError, Kind, Sandbox};

use crate::Fixture;

fn temporaries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".berth-"))
        .collect();
    names.sort();
    names
}

#[test]
fn staged_writes_land_at_the_commit_and_sync_every_touched_directory() {
    let f = Fixture::new();
    let sb = Sandbox::new("test", f.path("new/work"), f.path("def"), vec![]).unwrap();
    sb.ensure_workdir().unwrap();
    sb.mkdir("conf/sub", true).unwrap();
    std::fs::write(f.path("new/work/old"), "old\n").unwrap();
    sb.write_batched("old", b"new\n", None).unwrap();
    sb.write_batched("conf/sub/a", b"a\n", Some(0o600)).unwrap();
    sb.write_batched("conf/b", b"b\n", None).unwrap();

    // Nothing is in place before the commit; the old file is untouched.
    assert_eq!(std::fs::read(f.path("new/work/old")).unwrap(), b"old\n");
    assert!(!f.path("new/work/conf/sub/a").exists());
    assert_eq!(temporaries(&f.path("new/work/conf")).len(), 1);

    let committed = sb.commit().unwrap();
    let work = f.path("new/work");
    assert_eq!(
        committed,
        Committed {
            files: 3,
            filesystems: 1,
            // Each directory once, in the order first touched: the parents
            // of the new directories (from mkdir), the directories of the
            // renames, then the parents of the new workdir.
            directories: vec![
                work.join("conf"),
                work.clone(),
                work.join("conf/sub"),
                f.path("new"),
                f.path(""),
            ],
        }
    );
    assert_eq!(std::fs::read(work.join("old")).unwrap(), b"new\n");
    assert_eq!(std::fs::read(work.join("conf/sub/a")).unwrap(), b"a\n");
    assert_eq!(crate::fs::mode_of(&work.join("conf/sub/a")), 0o600);
    assert_eq!(crate::fs::mode_of(&work.join("conf/b")), 0o644);
    for dir in ["", "conf", "conf/sub"] {
        assert!(temporaries(&work.join(dir)).is_empty(), "{dir}");
    }
    // An empty batch commits nothing.
    assert_eq!(sb.commit().unwrap(), Committed::default());

    // An atomic write syncs its directory at the next commit too.
    sb.write_atomic("conf/c", b"c\n", None).unwrap();
    assert_eq!(sb.commit().unwrap().directories, vec![work.join("conf")]);
}

#[test]
fn a_read_of_a_staged_path_commits_first_and_a_dropped_batch_leaves_nothing() {
    let f = Fixture::new();
    let sb = f.sandbox();
    sb.write_batched("a", b"one", None).unwrap();
    sb.write_batched("b", b"two", None).unwrap();
    // A clone (the read-only view of verify) shares the batch.
    assert_eq!(sb.read_only().read("a").unwrap(), b"one");
    assert_eq!(std::fs::read(f.path("work/b")).unwrap(), b"two");
    assert!(temporaries(&f.path("work")).is_empty());
    // Staging the same path twice: the first lands, then the second.
    sb.write_batched("a", b"1", None).unwrap();
    sb.write_batched("a", b"2", None).unwrap();
    assert_eq!(sb.commit().unwrap().files, 1);
    assert_eq!(std::fs::read(f.path("work/a")).unwrap(), b"2");

    sb.write_batched("c", b"never", None).unwrap();
    assert_eq!(temporaries(&f.path("work")).len(), 1);
    drop(sb);
    assert!(!f.path("work/c").exists());
    assert!(temporaries(&f.path("work")).is_empty());

    // Read-only: refused like any write.
    let ro = f.sandbox().read_only();
    assert!(matches!(
        ro.write_batched("d", b"x", None),
        Err(FsError::Denied(_))
    ));
}

#[test]
fn compare_opens_once_and_tells_every_case_apart() {
    let f = Fixture::new();
    let sb = f.sandbox();
    assert_eq!(sb.compare("none", b"x", 10).unwrap(), Comparison::Missing);
    std::fs::write(f.path("work/same"), "hello\n").unwrap();
    let mode = crate::fs::mode_of(&f.path("work/same"));
    assert_eq!(
        sb.compare("same", b"hello\n", 10).unwrap(),
        Comparison::Same { mode }
    );
    // Same size, other bytes: the whole current content for the diff.
    assert_eq!(
        sb.compare("same", b"hellO\n", 10).unwrap(),
        Comparison::Differs {
            mode,
            size: 6,
            current: Some(b"hello\n".to_vec())
        }
    );
    // Larger than `keep`: not returned (and, with another size, not read).
    assert_eq!(
        sb.compare("same", b"hi\n", 4).unwrap(),
        Comparison::Differs {
            mode,
            size: 6,
            current: None
        }
    );
    // A big file that differs only in its last byte, across chunks.
    let mut big = vec![b'x'; 100_000];
    std::fs::write(f.path("work/big"), &big).unwrap();
    assert!(matches!(
        sb.compare("big", &big, 0).unwrap(),
        Comparison::Same { .. }
    ));
    *big.last_mut().unwrap() = b'y';
    let Comparison::Differs { current, .. } = sb.compare("big", &big, 1 << 20).unwrap() else {
        panic!("expected a difference");
    };
    let current = current.unwrap();
    assert_eq!((current.len(), current[99_999]), (100_000, b'x'));

    std::os::unix::fs::symlink("same", f.path("work/link")).unwrap();
    assert_eq!(
        sb.compare("link", b"hello\n", 10).unwrap(),
        Comparison::Same { mode }
    );
    std::os::unix::fs::symlink("gone", f.path("work/dangling")).unwrap();
    assert_eq!(
        sb.compare("dangling", b"", 10).unwrap(),
        Comparison::DanglingSymlink
    );
    std::fs::create_dir(f.path("work/dir")).unwrap();
    assert_eq!(
        sb.compare("dir", b"", 10).unwrap(),
        Comparison::NotAFile(Kind::Directory)
    );
    // A fifo must not block the run.
    let made = Command::new("mkfifo")
        .arg(f.path("work/fifo"))
        .status()
        .unwrap();
    assert!(made.success());
    assert_eq!(
        sb.compare("fifo", b"", 10).unwrap(),
        Comparison::NotAFile(Kind::Other)
    );
    // Outside the root, through a link: refused.
    std::os::unix::fs::symlink(f.path("outside/secret"), f.path("work/out")).unwrap();
    assert!(matches!(
        sb.compare("out", b"secret\n", 10),
        Err(FsError::Denied(_))
    ));
    let outside = sb.compare(f.path("nowhere/x").to_str().unwrap(), b"", 1);
    assert!(
        outside
            .unwrap_err()
            .to_string()
            .contains("outside the granted paths")
    );
}

/// The content of generation `g` of file `i`: its size varies with both,
/// and it ends with a marker, so a partial file is told apart.
fn content(g: u64, i: usize) -> Vec<u8> {
    let mut text = format!("generation {g} file {i}\n");
    for line in 0..(g as usize + i) % 7 * 40 {
        text.push_str(&format!("line {line} of generation {g}\n"));
    }
    text.push_str("end\n");
    text.into_bytes()
}

fn generation_of(bytes: &[u8], i: usize) -> Option<u64> {
    let text = std::str::from_utf8(bytes).ok()?;
    let g: u64 = text
        .strip_prefix("generation ")?
        .split(' ')
        .next()?
        .parse()
        .ok()?;
    (content(g, i) == bytes).then_some(g)
}

const FILES: usize = 150;
const CHILD: &str = "BERTH_TEST_BATCH_WRITER";

/// In the child: rewrite every file, one generation per batch, forever
/// (until the parent kills it).
fn write_generations(work: &Path, def: &Path) -> ! {
    let sb = Sandbox::new("test", work.to_owned(), def.to_owned(), vec![]).unwrap();
    let mut g = std::fs::read(work.join("file-0"))
        .ok()
        .and_then(|b| generation_of(&b, 0))
        .unwrap_or(0);
    loop {
        g += 1;
        for i in 0..FILES {
            sb.write_batched(&format!("file-{i}"), &content(g, i), None)
                .unwrap();
        }
        sb.commit().unwrap();
    }
}

#[test]
fn a_run_killed_at_any_point_leaves_every_file_old_or_new() {
    let work = std::env::var_os(CHILD);
    if let Some(work) = work {
        let work = Path::new(&work);
        write_generations(work, &work.with_file_name("def"));
    }
    let f = Fixture::new();
    let work = f.path("work");
    let sb = f.sandbox();
    for i in 0..FILES {
        sb.write_batched(&format!("file-{i}"), &content(0, i), None)
            .unwrap();
    }
    sb.commit().unwrap();

    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut seen_mixed, mut left_temporaries) = (false, false);
    let mut before: Vec<u64> = vec![0; FILES];
    for round in 0..12 {
        assert!(Instant::now() < deadline, "the kill rounds took too long");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "batch::a_run_killed_at_any_point_leaves_every_file_old_or_new",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, &work)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // A different point in the write, sync and rename sequence each time.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        std::thread::sleep(Duration::from_millis(20 + u64::from(nanos % 200)));
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(
            !status.success(),
            "round {round}: the writer ended by itself"
        );
        left_temporaries |= !temporaries(&work).is_empty();

        let generations: Vec<u64> = (0..FILES)
            .map(|i| {
                let bytes = std::fs::read(work.join(format!("file-{i}"))).unwrap();
                generation_of(&bytes, i).unwrap_or_else(|| {
                    panic!("round {round}: file-{i} is neither old nor new: {bytes:?}")
                })
            })
            .collect();
        // A file never goes back, and the files this round changed are of
        // the last batch it committed or of the one it was renaming: one
        // batch at a time. (An earlier round's kill may have left a mix,
        // which files this round did not reach still show.)
        for (i, (now, was)) in generations.iter().zip(&before).enumerate() {
            assert!(
                now >= was,
                "round {round}: file-{i} went from {was} back to {now}"
            );
        }
        let changed: Vec<u64> = generations
            .iter()
            .zip(&before)
            .filter(|(now, was)| now != was)
            .map(|(now, _)| *now)
            .collect();
        if let (Some(low), Some(high)) = (changed.iter().min(), changed.iter().max()) {
            assert!(
                high - low <= 1,
                "round {round}: changed files span {low}..{high}"
            );
        }
        let (low, high) = (
            *generations.iter().min().unwrap(),
            *generations.iter().max().unwrap(),
        );
        seen_mixed |= high != low;
        before = generations;
    }
    eprintln!(
        "kills between renames: {seen_mixed}; kills that left temporaries: {left_temporaries}"
    );

    // The next run removes what the killed ones left, and leaves nothing.
    let sb = f.sandbox();
    for i in 0..FILES {
        sb.write_batched(&format!("file-{i}"), &content(1000, i), None)
            .unwrap();
    }
    sb.commit().unwrap();
    assert!(temporaries(&work).is_empty(), "{:?}", temporaries(&work));
    for i in 0..FILES {
        let bytes = std::fs::read(work.join(format!("file-{i}"))).unwrap();
        assert_eq!(generation_of(&bytes, i), Some(1000));
    }
}

#[test]
fn leftovers_beside_a_managed_file_are_removed_without_a_write() {
    let f = Fixture::new();
    let work = f.path("work");
    // What a killed run leaves: a full-size temporary file of a process
    // that no longer runs, and one of a process that does (this one).
    let dead = work.join(".motd.berth-999999999-3");
    let alive = work.join(format!(".motd.berth-{}-999", std::process::id()));
    std::fs::write(&dead, vec![0u8; 1 << 20]).unwrap();
    std::fs::write(&alive, b"in flight").unwrap();
    std::fs::write(work.join("motd"), b"old").unwrap();

    // Predict does not touch it.
    f.sandbox().read_only().remove_leftovers("motd");
    assert!(dead.exists());

    let sb = f.sandbox();
    sb.remove_leftovers("motd");
    assert!(!dead.exists(), "{:?}", temporaries(&work));
    assert!(alive.exists(), "a running process's file is kept");
    assert_eq!(std::fs::read(work.join("motd")).unwrap(), b"old");
}
