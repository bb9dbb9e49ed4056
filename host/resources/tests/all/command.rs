use berth_resources::{CommandStep, Resource, ResourceError, Verdict, label, verify};

use crate::{Env, needs};

fn step(argv: &[&str]) -> CommandStep {
    CommandStep {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        cwd: None,
        unless: None,
        creates: None,
        on_change: false,
    }
}

#[test]
fn creates_guard_converges() {
    let env = Env::with_programs(&["touch"]);
    let r = Resource::Command(CommandStep {
        creates: Some("done".into()),
        ..step(&["touch", "done"])
    });
    assert_eq!(label(&r), "command touch done");
    let check = verify(&r, &env.predict(), false).unwrap();
    assert_eq!(needs(&check).0, "`done` does not exist");
    assert!(!env.path("work/done").exists());
    assert!(env.deploy(&r).unwrap());
    assert!(env.path("work/done").exists());
    assert!(!env.deploy(&r).unwrap());
}

#[test]
fn unless_guard_runs_read_only_in_verify() {
    let env = Env::with_programs(&["touch", "test"]);
    let r = Resource::Command(CommandStep {
        unless: Some(vec!["test".into(), "-e".into(), "flag".into()]),
        ..step(&["touch", "flag"])
    });
    let check = verify(&r, &env.predict(), false).unwrap();
    assert_eq!(needs(&check).0, "`test -e flag` exited with status 1");
    assert!(env.deploy(&r).unwrap());
    assert!(!env.deploy(&r).unwrap());

    // A guard that tries to write cannot: it runs read-only.
    let r = Resource::Command(CommandStep {
        unless: Some(vec!["touch".into(), "sneaky".into()]),
        ..step(&["test", "-e", "x"])
    });
    if berth_sandbox::landlock_available() {
        assert!(verify(&r, &env.cx(), false).unwrap().needs_update());
        assert!(!env.path("work/sneaky").exists());
    }
}

#[test]
fn on_change_runs_only_when_a_child_changed() {
    let env = Env::with_programs(&["touch"]);
    let r = Resource::Command(CommandStep {
        on_change: true,
        ..step(&["touch", "reloaded"])
    });
    assert_eq!(
        verify(&r, &env.cx(), false).unwrap().verdict,
        Verdict::UpToDate
    );
    let check = verify(&r, &env.cx(), true).unwrap();
    assert_eq!(needs(&check).0, "a child step changed");
    env.update(&r, check);
    assert!(env.path("work/reloaded").exists());

    // With a guard that says done, a child change still runs it.
    let r = Resource::Command(CommandStep {
        on_change: true,
        creates: Some("reloaded".into()),
        ..step(&["touch", "again"])
    });
    assert_eq!(
        verify(&r, &env.cx(), false).unwrap().verdict,
        Verdict::UpToDate
    );
    assert!(verify(&r, &env.cx(), true).unwrap().needs_update());
}

#[test]
fn failures_name_the_command_status_and_stderr() {
    let env = Env::with_programs(&["ls"]);
    let r = Resource::Command(step(&["ls", "/no/such/dir"]));
    let err = env.deploy(&r).unwrap_err();
    let ResourceError::Failed(msg) = &err else {
        panic!("{err:?}")
    };
    assert!(
        msg.starts_with("`ls /no/such/dir` exited with status 2: "),
        "{msg}"
    );
    assert!(msg.contains("No such file"), "{msg}");

    let r = Resource::Command(step(&["rm", "-rf", "x"]));
    let err = env.deploy(&r).unwrap_err();
    assert!(err.to_string().contains("`commands = rm`"), "{err}");
}
