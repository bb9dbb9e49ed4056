use berth_resources::{
    Content, File, Resource, ResourceError, TemplateBody, Verdict, label, update, verify,
};
use berth_sandbox::{FsError, Sandbox};

use crate::{Env, mode_of, needs, stamp};

fn file(path: &str, content: Content, mode: Option<u32>) -> Resource {
    Resource::File(File {
        path: path.into(),
        content,
        mode,
        leading: false,
    })
}

fn text(s: &str) -> Content {
    Content::Text(s.into())
}

#[test]
fn first_run_writes_second_run_writes_nothing() {
    let env = Env::new();
    let r = file("motd", text("one\ntwo\n"), None);
    assert_eq!(label(&r), "file motd");
    let check = verify(&r, &env.cx(), false).unwrap();
    let (reason, diff) = needs(&check);
    assert_eq!(reason, "new file");
    let host = env.path("work/motd");
    assert_eq!(
        diff.unwrap(),
        format!(
            "--- /dev/null\n+++ {}\n@@ -0,0 +1,2 @@\n+one\n+two\n",
            host.display()
        )
    );
    env.update(&r, check);
    assert_eq!(std::fs::read(&host).unwrap(), b"one\ntwo\n");
    assert_eq!(mode_of(&host), 0o644);

    let before = stamp(&host);
    std::thread::sleep(std::time::Duration::from_millis(10));
    assert!(!env.deploy(&r).unwrap());
    assert_eq!(stamp(&host), before);
    assert_eq!(std::fs::read_dir(env.path("work")).unwrap().count(), 1);
}

#[test]
fn changed_content_shows_a_unified_diff_and_predict_changes_nothing() {
    let env = Env::new();
    let lines: String = (1..=10).map(|i| format!("line {i}\n")).collect();
    std::fs::write(env.path("work/conf"), &lines).unwrap();
    let host = env.path("work/conf");
    let before = stamp(&host);
    let r = file(
        "conf",
        text(&lines.replace("line 5\n", "line five\n")),
        None,
    );

    let check = verify(&r, &env.predict(), false).unwrap();
    let (reason, diff) = needs(&check);
    assert_eq!(reason, "content changed");
    let h = host.display();
    assert_eq!(
        diff.unwrap(),
        format!(
            "--- {h}\n+++ {h}\n@@ -2,7 +2,7 @@\n line 2\n line 3\n line 4\n-line 5\n+line five\n line 6\n line 7\n line 8\n"
        )
    );
    // An update in the read-only view is refused.
    let err = update(&r, check, &env.predict()).unwrap_err();
    assert!(
        matches!(err, ResourceError::Fs(FsError::Denied(_))),
        "{err}"
    );
    assert_eq!(stamp(&host), before);
    assert_eq!(std::fs::read_to_string(&host).unwrap(), lines);

    assert!(env.deploy(&r).unwrap());
    assert!(
        std::fs::read_to_string(&host)
            .unwrap()
            .contains("line five")
    );
}

#[test]
fn predict_before_the_workdir_exists() {
    let env = Env::new();
    let sandbox = Sandbox::new("test", env.path("later/work"), env.path("def"), vec![])
        .unwrap()
        .read_only();
    let mut cx = env.cx();
    cx.sandbox = &sandbox;
    let check = verify(&file("motd", text("hi\n"), None), &cx, false).unwrap();
    assert_eq!(needs(&check).0, "new file");
    assert!(!env.path("later").exists());
}

#[test]
fn a_file_that_holds_a_secret_is_written_0600_unless_its_step_sets_a_mode() {
    let env = Env::new();
    let host = env.path("work/app.conf");
    let secret = text("user = app\npassword = hunter2-secret\n");
    assert!(env.deploy(&file("app.conf", secret.clone(), None)).unwrap());
    assert_eq!(mode_of(&host), 0o600);
    assert!(!env.deploy(&file("app.conf", secret.clone(), None)).unwrap());
    // An existing world-readable file that gets a secret is closed.
    std::fs::set_permissions(&host, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let check = verify(&file("app.conf", secret.clone(), None), &env.cx(), false).unwrap();
    assert_eq!(needs(&check).0, "mode 0644 → 0600");
    // The step's own mode wins.
    assert!(env.deploy(&file("app.conf", secret, Some(0o640))).unwrap());
    assert_eq!(mode_of(&host), 0o640);
    assert!(
        env.deploy(&file("plain", text("nothing secret\n"), None))
            .unwrap()
    );
    assert_eq!(mode_of(&env.path("work/plain")), 0o644);
}

#[test]
fn modes_are_set_kept_and_reported() {
    let env = Env::new();
    let host = env.path("work/secret");
    assert!(env.deploy(&file("secret", text("s"), Some(0o600))).unwrap());
    assert_eq!(mode_of(&host), 0o600);
    // No mode: leave it alone, even when the content changes.
    assert!(env.deploy(&file("secret", text("t"), None)).unwrap());
    assert_eq!(mode_of(&host), 0o600);
    let r = file("secret", text("t"), Some(0o640));
    let check = verify(&r, &env.cx(), false).unwrap();
    assert_eq!(needs(&check), ("mode 0600 → 0640".to_owned(), None));
    let before = stamp(&host);
    env.update(&r, check);
    assert_eq!(mode_of(&host), 0o640);
    assert_eq!(stamp(&host).0, before.0, "a mode change does not rewrite");
    assert!(!env.deploy(&r).unwrap());
    let check = verify(&file("secret", text("u"), Some(0o600)), &env.cx(), false).unwrap();
    assert_eq!(needs(&check).0, "content changed, mode 0640 → 0600");
}

#[test]
fn binary_content_and_sources() {
    let env = Env::new();
    std::fs::write(env.path("work/blob"), [0u8, 159, 146, 150]).unwrap();
    let r = file("blob", Content::Bytes(vec![0xff, 0, 1]), None);
    let check = verify(&r, &env.cx(), false).unwrap();
    assert_eq!(needs(&check).1.unwrap(), "binary file, 4 bytes → 3 bytes\n");
    env.update(&r, check);
    assert_eq!(std::fs::read(env.path("work/blob")).unwrap(), [0xff, 0, 1]);

    std::fs::create_dir(env.path("def/files")).unwrap();
    std::fs::write(env.path("def/files/index.html"), "<h1>hi</h1>\n").unwrap();
    let r = file(
        "index.html",
        Content::Source("files/index.html".into()),
        None,
    );
    assert!(env.deploy(&r).unwrap());
    assert_eq!(
        std::fs::read(env.path("work/index.html")).unwrap(),
        b"<h1>hi</h1>\n"
    );
    assert!(!env.deploy(&r).unwrap());
    let err = env
        .deploy(&file("x", Content::Source("missing".into()), None))
        .unwrap_err();
    assert!(
        matches!(err, ResourceError::Fs(FsError::NotFound(_))),
        "{err}"
    );
}

#[test]
fn leading_directories_are_created() {
    let env = Env::new();
    let mut f = File {
        path: "a/b/c.txt".into(),
        content: text("deep"),
        mode: None,
        leading: false,
    };
    let err = env.deploy(&Resource::File(f.clone())).unwrap_err();
    assert!(
        matches!(err, ResourceError::Fs(FsError::NotFound(_))),
        "{err}"
    );
    f.leading = true;
    assert!(env.deploy(&Resource::File(f.clone())).unwrap());
    assert_eq!(std::fs::read(env.path("work/a/b/c.txt")).unwrap(), b"deep");
    assert!(!env.deploy(&Resource::File(f)).unwrap());
    // A directory in the way is an error, not a silent replacement.
    let err = env.deploy(&file("a", text("x"), None)).unwrap_err();
    assert!(matches!(err, ResourceError::Failed(_)), "{err}");
}

#[test]
fn templates_see_globals_and_their_context() {
    let env = Env::new();
    let r = file(
        "site.conf",
        Content::Template {
            body: TemplateBody::Inline(
                "server {{ host.fqdn }}:{{ attributes.port }}\n{{ greeting }} {{ attributes.greeting }}\n"
                    .into(),
            ),
            context: serde_json::json!({"greeting": "hi"}),
        },
        None,
    );
    assert!(env.deploy(&r).unwrap());
    assert_eq!(
        std::fs::read_to_string(env.path("work/site.conf")).unwrap(),
        "server web1.example.com:8080\nhi hello\n"
    );
    assert!(!env.deploy(&r).unwrap());

    // The step's context wins over the globals.
    std::fs::write(env.path("def/t.j2"), "{{ host }}\n").unwrap();
    let r = file(
        "t",
        Content::Template {
            body: TemplateBody::Source("t.j2".into()),
            context: serde_json::json!({"host": "override"}),
        },
        None,
    );
    assert!(env.deploy(&r).unwrap());
    assert_eq!(
        std::fs::read_to_string(env.path("work/t")).unwrap(),
        "override\n"
    );
}

#[test]
fn template_errors_name_the_template_line_and_variable() {
    let env = Env::new();
    std::fs::write(env.path("def/motd.j2"), "Welcome\nto {{ host.nmae }}\n").unwrap();
    let r = file(
        "motd",
        Content::Template {
            body: TemplateBody::Source("motd.j2".into()),
            context: serde_json::json!({}),
        },
        None,
    );
    let err = verify(&r, &env.cx(), false).unwrap_err();
    let ResourceError::Template {
        name,
        line,
        message,
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(name, "`motd.j2`");
    assert_eq!(*line, Some(2));
    assert!(message.contains("host.nmae"), "{message}");
    assert!(
        err.to_string().starts_with("template `motd.j2`, line 2: "),
        "{err}"
    );

    let r = file(
        "x",
        Content::Template {
            body: TemplateBody::Inline("a\nb\n{{ missing }}".into()),
            context: serde_json::json!({}),
        },
        None,
    );
    let err = verify(&r, &env.cx(), false).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("template inline of file `x`, line 3: "),
        "{msg}"
    );
    assert!(msg.contains("`missing`"), "{msg}");

    let r = file(
        "y",
        Content::Template {
            body: TemplateBody::Inline("ok\n{% if %}\n".into()),
            context: serde_json::json!({}),
        },
        None,
    );
    let err = verify(&r, &env.cx(), false).unwrap_err();
    assert!(
        matches!(err, ResourceError::Template { line: Some(2), .. }),
        "{err}"
    );
    assert!(!env.path("work/motd").exists());
}

#[test]
fn files_outside_the_grants_are_refused() {
    let env = Env::new();
    let err = verify(&file("/etc/motd", text("x"), None), &env.cx(), false).unwrap_err();
    assert!(
        matches!(err, ResourceError::Fs(FsError::Denied(_))),
        "{err}"
    );
    assert!(err.to_string().contains("[grants:test]"), "{err}");
    assert!(matches!(
        verify(&file("../x", text("x"), None), &env.cx(), false),
        Err(ResourceError::Fs(FsError::Invalid(_)))
    ));
    assert!(matches!(
        verify(&file("up_to_date", text(""), None), &env.cx(), false)
            .unwrap()
            .verdict,
        Verdict::NeedsUpdate { .. }
    ));
}
