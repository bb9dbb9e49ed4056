//! `service_user`: the agent runs as that user through `sudo -n` when the
//! login user is another one; a sudo that wants a password fails the host.

use crate::harness::{Harness, deploy};
use std::os::unix::fs::MetadataExt;

#[test]
fn a_service_user_is_reached_through_sudo_and_a_password_prompt_fails_the_host() {
    let Some(mut h) = Harness::start() else {
        return;
    };
    let (svc, svc_home) = h.service_user();
    let repo = h.repo(&format!(
        "[environment]\nconnect_method = ssh\nhost_domain = test\nservice_user = {svc}\n\n\
         [hosts]\nweb = hello\ndb = hello\n"
    ));
    let run = deploy(&repo, &[]);
    assert_eq!(run.code, Some(1), "{}", run.output);
    // web: the agent ran as the service user, in its home.
    let file = svc_home.join("deployment/work/hello/hello/hello.txt");
    assert!(file.is_file(), "{}", run.output);
    let svc_uid = std::fs::metadata(&svc_home).unwrap().uid();
    assert_eq!(std::fs::metadata(&file).unwrap().uid(), svc_uid);
    assert!(svc_home.join(".berth/store").is_dir());
    assert!(!h.home("web").join("deployment").exists());
    assert!(!h.home("web").join(".berth/store").exists());
    // No staging folder is left behind.
    let staged: Vec<_> = std::fs::read_dir("/tmp")
        .unwrap()
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("berth-upload-")
                && std::fs::metadata(e.path())
                    .is_ok_and(|m| m.uid() == std::fs::metadata(h.home("web")).unwrap().uid())
        })
        .collect();
    assert!(staged.is_empty(), "{staged:?}");
    // db: sudo wants a password.
    let failures = run.failures();
    assert_eq!(run.summary()["failed"], 1, "{failures}");
    assert!(
        failures.contains(&format!(
            "db/hello: host `db` (`db.test`): cannot run the agent as `{svc}`: sudo wants a password, and berth never types one"
        )),
        "{failures}"
    );
    assert!(failures.contains("NOPASSWD"), "{failures}");

    // Converged through sudo: nothing changes, nothing is uploaded.
    let store = berth_tests::snapshot(&svc_home.join(".berth/store"));
    let again = deploy(&repo, &["--jobs", "1"]);
    assert_eq!(again.steps("web", "changed"), 0, "{}", again.output);
    assert_eq!(berth_tests::snapshot(&svc_home.join(".berth/store")), store);
}
