//! Modes and symlink targets, checked by the sandbox itself.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt as _;

use berth_sandbox::{FsError, Sandbox};

fn sandbox(dir: &tempfile::TempDir) -> Sandbox {
    let work = dir.path().join("work");
    let def = dir.path().join("def");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&def).unwrap();
    Sandbox::new("probe", work, def, vec![]).unwrap()
}

fn mode(dir: &tempfile::TempDir, name: &str) -> u32 {
    std::fs::metadata(dir.path().join("work").join(name))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn special_modes_need_their_grant_and_modes_above_7777_are_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let sb = sandbox(&dir);
    let err = sb.write_atomic("tool", b"x", Some(0o6755)).unwrap_err();
    assert!(
        matches!(&err, FsError::Denied(m) if m.contains("setuid and setgid bits") && m.contains("`special-modes = setuid setgid`")),
        "{err}"
    );
    assert!(!dir.path().join("work/tool").exists());
    sb.write_atomic("tool", b"x", Some(0o755)).unwrap();
    assert!(matches!(sb.chmod("tool", 0o4755), Err(FsError::Denied(_))));
    assert!(matches!(
        sb.chmod("tool", 0o17777),
        Err(FsError::Invalid(_))
    ));
    assert!(matches!(
        sb.write_atomic("tool", b"x", Some(0xFFFF_FFFF)),
        Err(FsError::Invalid(_))
    ));
    assert_eq!(mode(&dir, "tool"), 0o755);

    let granted = sb.allow_special_modes(0o4000);
    granted.chmod("tool", 0o4755).unwrap();
    assert_eq!(mode(&dir, "tool"), 0o4755);
    // A rewrite that keeps a setuid mode is a new setuid program: checked.
    assert!(matches!(
        sandbox(&dir).write_atomic("tool", b"new", None),
        Err(FsError::Denied(_))
    ));
    assert!(matches!(
        granted.chmod("tool", 0o2755),
        Err(FsError::Denied(_))
    ));
}

#[test]
fn symlink_targets_are_resolved_through_existing_links() {
    let dir = tempfile::tempdir().unwrap();
    let sb = sandbox(&dir);
    let work = dir.path().join("work");
    let depth = work.components().count();
    sb.write_atomic("file", b"inside", None).unwrap();
    sb.symlink("loop", ".").unwrap();
    let climb = format!("{}{}etc/shadow", "loop/".repeat(depth), "../".repeat(depth));
    let absolute = format!("{}/loop/{}etc/shadow", work.display(), "../".repeat(depth));
    for (name, target) in [
        ("shadow", climb.as_str()),
        ("shadow-abs", absolute.as_str()),
        ("later", "missing/../../../etc/shadow"),
        ("up", ".."),
        ("etc", "/etc"),
    ] {
        let err = sb.symlink(name, target).unwrap_err();
        assert!(matches!(err, FsError::Denied(_)), "{name}: {err}");
        assert!(
            std::fs::symlink_metadata(work.join(name)).is_err(),
            "{name}"
        );
    }
    sb.symlink("inside", "loop/loop/file").unwrap();
    sb.symlink("dangling", "not-yet/file").unwrap();
    assert_eq!(std::fs::read(work.join("inside")).unwrap(), b"inside");
}
