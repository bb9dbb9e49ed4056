use std::os::unix::fs::symlink;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};

use berth_sandbox::{Access, FsError, Grant, Kind};

use crate::Fixture;

pub(crate) fn mode_of(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn dotdot_is_refused_before_touching_the_disk() {
    let f = Fixture::new();
    let sb = f.sandbox();
    for path in ["../outside/secret", "a/../b", "..", "/tmp/../etc/passwd"] {
        assert!(matches!(sb.read(path), Err(FsError::Invalid(_))), "{path}");
        assert!(
            matches!(sb.write_atomic(path, b"x", None), Err(FsError::Invalid(_))),
            "{path}"
        );
        assert!(matches!(sb.stat(path), Err(FsError::Invalid(_))), "{path}");
    }
    let msg = sb.read("../outside/secret").unwrap_err().to_string();
    assert!(
        msg.contains("`../outside/secret`") && msg.contains("`..`"),
        "{msg}"
    );
}

#[test]
fn absolute_paths_outside_the_roots_are_denied_with_the_grant() {
    let f = Fixture::new();
    let sb = f.sandbox();
    let secret = f.path("outside/secret");
    let secret = secret.to_str().unwrap();
    let err = sb.read(secret).unwrap_err();
    assert!(matches!(err, FsError::Denied(_)));
    let msg = err.to_string();
    let outside = f.path("outside");
    assert!(
        msg.contains(&format!("`[grants:test]` `paths = {}`", outside.display())),
        "{msg}"
    );
    let err = sb.write_atomic(secret, b"pwned", None).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("writing `"), "{msg}");
    assert!(
        msg.ends_with(&format!("`paths = {} rw`", outside.display())),
        "{msg}"
    );
    assert!(matches!(sb.read("/etc/passwd"), Err(FsError::Denied(_))));
    assert!(matches!(sb.list("/"), Err(FsError::Denied(_))));
    assert_eq!(std::fs::read(secret).unwrap(), b"secret\n");
}

/// Every way of reaching `outside/` through a symlink in the workdir.
#[test]
fn symlinks_out_of_the_workdir_are_refused_for_read_and_write() {
    let f = Fixture::new();
    let before = f.outside_snapshot();
    symlink(f.path("outside"), f.path("work/dir_abs")).unwrap();
    symlink("../outside", f.path("work/dir_rel")).unwrap();
    symlink(f.path("outside/secret"), f.path("work/file_abs")).unwrap();
    symlink("../outside/secret", f.path("work/file_rel")).unwrap();
    std::fs::create_dir(f.path("work/deep")).unwrap();
    symlink("../../outside/secret", f.path("work/deep/file_rel2")).unwrap();
    let sb = f.sandbox();

    for file in [
        "dir_abs/secret",
        "dir_rel/secret",
        "file_abs",
        "file_rel",
        "deep/file_rel2",
    ] {
        let err = sb.read(file).unwrap_err();
        assert!(matches!(err, FsError::Denied(_)), "read {file}: {err}");
        assert!(
            err.to_string().contains("outside the granted paths"),
            "{err}"
        );
        let err = sb.write_atomic(file, b"pwned", None).unwrap_err();
        assert!(matches!(err, FsError::Denied(_)), "write {file}: {err}");
        let err = sb.write_atomic(file, b"pwned", Some(0o777)).unwrap_err();
        assert!(matches!(err, FsError::Denied(_)), "write {file}: {err}");
    }
    for dir in ["dir_abs", "dir_rel"] {
        let new = format!("{dir}/new");
        assert!(matches!(
            sb.write_atomic(&new, b"x", None),
            Err(FsError::Denied(_))
        ));
        assert!(matches!(
            sb.mkdir(&format!("{dir}/sub"), true),
            Err(FsError::Denied(_))
        ));
        assert!(matches!(
            sb.mkdir(&format!("{dir}/sub"), false),
            Err(FsError::Denied(_))
        ));
        assert!(matches!(sb.list(dir), Err(FsError::Denied(_))));
        assert!(matches!(
            sb.stat(&format!("{dir}/secret")),
            Err(FsError::Denied(_))
        ));
        assert!(matches!(
            sb.remove(&format!("{dir}/secret")),
            Err(FsError::Denied(_))
        ));
        assert!(matches!(
            sb.chmod(&format!("{dir}/secret"), 0o777),
            Err(FsError::Denied(_))
        ));
        assert!(matches!(
            sb.symlink(&format!("{dir}/link"), "secret"),
            Err(FsError::Denied(_))
        ));
    }
    assert!(matches!(
        sb.chmod("file_abs", 0o777),
        Err(FsError::Denied(_))
    ));
    // The links themselves are entries of the workdir: lstat and read_link work.
    assert_eq!(sb.stat("dir_abs").unwrap().unwrap().kind, Kind::Symlink);
    assert_eq!(
        sb.read_link("file_rel").unwrap().as_deref(),
        Some("../outside/secret")
    );
    assert_eq!(f.outside_snapshot(), before);
    assert_eq!(
        mode_of(&f.path("outside/secret")),
        mode_of(&f.path("outside/secret"))
    );
    // Removing a link removes the link, not what it points to.
    sb.remove("dir_abs").unwrap();
    sb.remove("file_abs").unwrap();
    assert_eq!(f.outside_snapshot(), before);
}

#[test]
fn a_symlink_to_etc_passwd_is_refused() {
    let f = Fixture::new();
    symlink("/etc/passwd", f.path("work/passwd")).unwrap();
    let sb = f.sandbox();
    let before = std::fs::metadata("/etc/passwd").unwrap();
    let content = std::fs::read("/etc/passwd").unwrap();
    assert!(matches!(sb.read("passwd"), Err(FsError::Denied(_))));
    // Same bytes, so a bug here could not damage the machine; inode and
    // mtime prove nothing was written.
    assert!(matches!(
        sb.write_atomic("passwd", &content, None),
        Err(FsError::Denied(_))
    ));
    assert!(matches!(sb.chmod("passwd", 0o644), Err(FsError::Denied(_))));
    let after = std::fs::metadata("/etc/passwd").unwrap();
    assert_eq!(
        (before.ino(), before.mtime(), before.mtime_nsec()),
        (after.ino(), after.mtime(), after.mtime_nsec())
    );
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), content);
}

#[test]
fn symlinks_inside_the_workdir_work() {
    let f = Fixture::new();
    let sb = f.sandbox();
    sb.write_atomic("real", b"one", None).unwrap();
    sb.symlink("link", "real").unwrap();
    assert_eq!(sb.read("link").unwrap(), b"one");
    // Writing through a link that stays inside writes the target.
    sb.write_atomic("link", b"two", None).unwrap();
    assert_eq!(sb.read("real").unwrap(), b"two");
    assert_eq!(sb.stat("link").unwrap().unwrap().kind, Kind::Symlink);
    // Replacing a link is atomic and idempotent.
    sb.write_atomic("other", b"x", None).unwrap();
    sb.symlink("link", "other").unwrap();
    assert_eq!(sb.read_link("link").unwrap().as_deref(), Some("other"));
    // A target outside the granted paths is refused; inside another root is fine.
    let err = sb.symlink("bad", "../outside/secret").unwrap_err();
    assert!(matches!(err, FsError::Denied(_)), "{err}");
    assert!(err.to_string().contains("[grants:test]"), "{err}");
    assert!(matches!(
        sb.symlink("bad", "/etc/passwd"),
        Err(FsError::Denied(_))
    ));
    let src = f.path("def/source.txt");
    sb.symlink("src", src.to_str().unwrap()).unwrap();
    assert_eq!(sb.read_link("src").unwrap().as_deref(), src.to_str());
    assert_eq!(sb.read_link("missing").unwrap(), None);
    assert!(matches!(sb.read_link("real"), Err(FsError::Invalid(_))));
}

#[test]
fn read_only_sandbox_refuses_every_write() {
    let f = Fixture::new();
    std::fs::write(f.path("work/file"), "content").unwrap();
    let sb = f.sandbox().read_only();
    assert!(sb.is_read_only());
    assert_eq!(sb.read("file").unwrap(), b"content");
    let denied = |r: Result<(), FsError>| {
        let err = r.unwrap_err();
        assert!(matches!(err, FsError::Denied(_)), "{err}");
        assert!(err.to_string().contains("read-only"), "{err}");
    };
    denied(sb.write_atomic("file", b"new", None));
    denied(sb.write_atomic("new", b"new", None));
    denied(sb.mkdir("dir", true));
    denied(sb.remove("file"));
    denied(sb.chmod("file", 0o600));
    denied(sb.symlink("link", "file"));
    denied(sb.ensure_workdir());
    assert_eq!(sb.list(".").unwrap(), vec!["file"]);
    assert_eq!(std::fs::read(f.path("work/file")).unwrap(), b"content");
}

#[test]
fn defdir_and_read_grants_are_read_only() {
    let f = Fixture::new();
    std::fs::create_dir(f.path("ro")).unwrap();
    std::fs::write(f.path("ro/data"), "ro").unwrap();
    std::fs::create_dir(f.path("rw")).unwrap();
    let sb = f.sandbox_with(vec![
        Grant {
            path: f.path("ro"),
            access: Access::Read,
        },
        Grant {
            path: f.path("rw"),
            access: Access::ReadWrite,
        },
    ]);
    assert_eq!(sb.read_source("source.txt").unwrap(), b"from the defdir\n");
    let def = f.path("def/source.txt");
    assert_eq!(
        sb.read(def.to_str().unwrap()).unwrap(),
        b"from the defdir\n"
    );
    let err = sb
        .write_atomic(def.to_str().unwrap(), b"x", None)
        .unwrap_err();
    assert!(err.to_string().contains("definition folder"), "{err}");

    let ro = f.path("ro/data");
    assert_eq!(sb.read(ro.to_str().unwrap()).unwrap(), b"ro");
    let err = sb
        .write_atomic(ro.to_str().unwrap(), b"x", None)
        .unwrap_err();
    assert!(matches!(err, FsError::Denied(_)));
    assert!(
        err.to_string()
            .contains(&format!("`paths = {} rw`", f.path("ro").display())),
        "{err}"
    );

    let rw = f.path("rw/new");
    sb.write_atomic(rw.to_str().unwrap(), b"ok", None).unwrap();
    assert_eq!(std::fs::read(&rw).unwrap(), b"ok");
    assert_eq!(sb.host_path("motd").unwrap(), f.path("work/motd"));
}

#[test]
fn atomic_write_sets_and_keeps_modes_and_leaves_no_temp_file() {
    let f = Fixture::new();
    let sb = f.sandbox();
    sb.write_atomic("f", b"one", None).unwrap();
    assert_eq!(mode_of(&f.path("work/f")), 0o644);
    sb.write_atomic("f", b"two", Some(0o600)).unwrap();
    assert_eq!(mode_of(&f.path("work/f")), 0o600);
    sb.write_atomic("f", b"three", None).unwrap();
    assert_eq!(mode_of(&f.path("work/f")), 0o600);
    assert_eq!(std::fs::read(f.path("work/f")).unwrap(), b"three");
    sb.write_atomic("exec", b"#!", Some(0o755)).unwrap();
    assert_eq!(mode_of(&f.path("work/exec")), 0o755);
    assert_eq!(
        sb.list("").unwrap_or_else(|_| sb.list(".").unwrap()),
        vec!["exec", "f"]
    );
    let st = sb.stat("f").unwrap().unwrap();
    assert_eq!((st.kind, st.size, st.mode), (Kind::File, 5, 0o600));

    // Missing parent: not found; a directory in the way: invalid.
    assert!(matches!(
        sb.write_atomic("no/such/f", b"x", None),
        Err(FsError::NotFound(_))
    ));
    sb.mkdir("d/e", true).unwrap();
    sb.mkdir("d/e", false).unwrap();
    assert!(matches!(sb.mkdir("x/y", false), Err(FsError::NotFound(_))));
    assert!(matches!(
        sb.write_atomic("d", b"x", None),
        Err(FsError::Invalid(_))
    ));
    sb.write_atomic("d/e/g", b"x", None).unwrap();
    sb.chmod("d/e/g", 0o640).unwrap();
    assert_eq!(sb.stat("d/e/g").unwrap().unwrap().mode, 0o640);
    sb.remove("d").unwrap();
    assert_eq!(sb.stat("d").unwrap(), None);
    sb.remove("d").unwrap();
    assert_eq!(sb.list(".").unwrap(), vec!["exec", "f"]);
}

#[test]
fn a_missing_workdir_reads_as_not_found_until_created() {
    let f = Fixture::new();
    let sb =
        berth_sandbox::Sandbox::new("test", f.path("later/work"), f.path("def"), vec![]).unwrap();
    assert_eq!(sb.stat("motd").unwrap(), None);
    assert_eq!(sb.stat(".").unwrap(), None);
    assert!(matches!(sb.read("motd"), Err(FsError::NotFound(_))));
    assert!(matches!(sb.list("."), Err(FsError::NotFound(_))));
    assert_eq!(sb.read_link("motd").unwrap(), None);
    assert!(!f.path("later").exists());
    sb.ensure_workdir().unwrap();
    sb.write_atomic("motd", b"hi", None).unwrap();
    assert_eq!(std::fs::read(f.path("later/work/motd")).unwrap(), b"hi");
}

#[test]
fn roots_must_be_absolute() {
    let f = Fixture::new();
    assert!(matches!(
        berth_sandbox::Sandbox::new("t", "rel".into(), f.path("def"), vec![]),
        Err(FsError::Invalid(_))
    ));
}

#[test]
fn reads_take_regular_files_only_and_never_block() {
    let f = Fixture::new();
    let sb = f.sandbox();
    let fifo = f.path("work/fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // Nobody writes to it: a blocking read would hang here.
    let err = sb.read("fifo").unwrap_err();
    assert!(matches!(err, FsError::Invalid(_)), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "cannot read `{}`: it is a FIFO (named pipe); berth reads regular files only",
            fifo.display()
        )
    );
    let dev = Grant {
        path: "/dev".into(),
        access: Access::Read,
    };
    let err = f.sandbox_with(vec![dev]).read("/dev/zero").unwrap_err();
    assert!(err.to_string().contains("it is a device"), "{err}");
    assert!(
        sb.read(".")
            .unwrap_err()
            .to_string()
            .contains("it is a directory")
    );
}

#[test]
fn a_file_larger_than_the_limit_is_refused_before_it_is_read() {
    let f = Fixture::new();
    let sb = f.sandbox();
    // 64 GiB, sparse: reading it whole would need 64 GiB of memory.
    let sparse = std::fs::File::create(f.path("work/sparse")).unwrap();
    sparse.set_len(64 << 30).unwrap();
    let start = std::time::Instant::now();
    let err = sb.read("sparse").unwrap_err();
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(
        err.to_string(),
        format!(
            "cannot read `{}`: it is 64 GiB, larger than the 256 MiB berth reads of one file",
            f.path("work/sparse").display()
        )
    );
    // At the limit it reads.
    sparse.set_len(berth_sandbox::FILE_LIMIT).unwrap();
    assert_eq!(
        sb.read("sparse").unwrap().len() as u64,
        berth_sandbox::FILE_LIMIT
    );
}
