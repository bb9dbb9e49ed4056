//! Directory, symlink and purge.

use std::os::unix::fs::symlink;

use berth_resources::{Directory, Purge, Resource, ResourceError, Symlink, label, update, verify};

use crate::{Env, mode_of, needs, stamp};

#[test]
fn directory_converges() {
    let env = Env::new();
    let r = Resource::Directory(Directory {
        path: "data/cache".into(),
        mode: Some(0o750),
        leading: true,
    });
    assert_eq!(label(&r), "directory data/cache");
    let check = verify(&r, &env.predict(), false).unwrap();
    assert_eq!(needs(&check).0, "missing");
    assert!(update(&r, check, &env.predict()).is_err());
    assert!(!env.path("work/data").exists());
    assert!(env.deploy(&r).unwrap());
    assert_eq!(mode_of(&env.path("work/data/cache")), 0o750);
    let before = stamp(&env.path("work/data/cache"));
    assert!(!env.deploy(&r).unwrap());
    assert_eq!(stamp(&env.path("work/data/cache")), before);

    std::fs::set_permissions(
        env.path("work/data/cache"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let check = verify(&r, &env.cx(), false).unwrap();
    assert_eq!(needs(&check).0, "mode 0700 → 0750");
    env.update(&r, check);
    assert_eq!(mode_of(&env.path("work/data/cache")), 0o750);

    std::fs::write(env.path("work/file"), "x").unwrap();
    let r = Resource::Directory(Directory {
        path: "file".into(),
        mode: None,
        leading: false,
    });
    assert!(matches!(
        verify(&r, &env.cx(), false),
        Err(ResourceError::Failed(_))
    ));
}

#[test]
fn symlink_converges() {
    let env = Env::new();
    std::fs::write(env.path("work/v1"), "1").unwrap();
    std::fs::write(env.path("work/v2"), "2").unwrap();
    let link = |target: &str| {
        Resource::Symlink(Symlink {
            path: "current".into(),
            target: target.into(),
        })
    };
    assert_eq!(label(&link("v1")), "symlink current → v1");
    assert!(env.deploy(&link("v1")).unwrap());
    assert_eq!(
        std::fs::read_link(env.path("work/current"))
            .unwrap()
            .to_str(),
        Some("v1")
    );
    let before = stamp(&env.path("work/current"));
    assert!(!env.deploy(&link("v1")).unwrap());
    assert_eq!(stamp(&env.path("work/current")), before);

    let check = verify(&link("v2"), &env.predict(), false).unwrap();
    assert_eq!(needs(&check).0, "points to `v1`, not `v2`");
    assert!(update(&link("v2"), check, &env.predict()).is_err());
    assert_eq!(
        std::fs::read_link(env.path("work/current"))
            .unwrap()
            .to_str(),
        Some("v1")
    );
    assert!(env.deploy(&link("v2")).unwrap());
    assert_eq!(
        std::fs::read_to_string(env.path("work/current")).unwrap(),
        "2"
    );

    // A target outside the granted paths is refused.
    let err = env.deploy(&link("/etc/passwd")).unwrap_err();
    assert!(
        err.to_string().contains("outside the granted paths"),
        "{err}"
    );
}

#[test]
fn purge_matches_inside_and_never_follows_symlinks() {
    let env = Env::new();
    let outside = env.path("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("x.tmp"), "keep").unwrap();
    for f in [
        "a.tmp",
        "b.tmp",
        "keep.txt",
        ".hidden.tmp",
        "sub/c.tmp",
        "sub/deeper/d.tmp",
    ] {
        let p = env.path("work").join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "x").unwrap();
    }
    symlink(&outside, env.path("work/out")).unwrap();

    let r = Resource::Purge(Purge {
        pattern: "*.tmp".into(),
    });
    assert_eq!(label(&r), "purge *.tmp");
    let check = verify(&r, &env.predict(), false).unwrap();
    assert_eq!(needs(&check).0, "2 to remove: a.tmp, b.tmp");

    let r = Resource::Purge(Purge {
        pattern: "**/*.tmp".into(),
    });
    let check = verify(&r, &env.predict(), false).unwrap();
    assert_eq!(
        needs(&check).0,
        "4 to remove: a.tmp, b.tmp, sub/c.tmp, sub/deeper/d.tmp"
    );
    assert!(update(&r, check, &env.predict()).is_err());
    assert!(env.path("work/a.tmp").exists());
    assert!(env.deploy(&r).unwrap());
    assert!(!env.deploy(&r).unwrap());
    assert!(env.path("work/keep.txt").exists());
    assert!(env.path("work/.hidden.tmp").exists());
    assert!(outside.join("x.tmp").exists());

    // Pointing the pattern through the symlink is refused by the sandbox.
    let r = Resource::Purge(Purge {
        pattern: "out/*.tmp".into(),
    });
    assert!(!env.deploy(&r).unwrap(), "a symlink is not descended into");
    let r = Resource::Purge(Purge {
        pattern: format!("{}/*.tmp", outside.display()),
    });
    assert!(verify(&r, &env.cx(), false).is_err());
    assert!(outside.join("x.tmp").exists());

    // Absolute patterns inside the workdir work, and a literal path too.
    let r = Resource::Purge(Purge {
        pattern: format!("{}/keep.*", env.path("work").display()),
    });
    assert!(env.deploy(&r).unwrap());
    assert!(!env.path("work/keep.txt").exists());
    let r = Resource::Purge(Purge {
        pattern: "sub".into(),
    });
    assert!(env.deploy(&r).unwrap());
    assert!(!env.path("work/sub").exists());
    assert!(matches!(
        verify(
            &Resource::Purge(Purge {
                pattern: "../*".into()
            }),
            &env.cx(),
            false
        ),
        Err(ResourceError::Fs(_))
    ));
}
