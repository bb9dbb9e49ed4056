//! Secrets through the real engine: a decrypted value reaches a real
//! component, and berth itself never shows it.

use berth_engine::event::{Collect, Event, Outcome};
use berth_tests::{MOTD, TestRepo};
use std::sync::Arc;

const SECRET: &str = "Open sesame 7f3a";

fn repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.example("motd", MOTD)
        .env(
            "local",
            "[hosts]\nlocalhost = motd\n\n[component:motd]\nadmins = alice\n",
        )
        .secrets("local", &format!("[component:motd]\ngreeting = {SECRET}\n"));
    repo
}

#[test]
fn a_secret_reaches_the_component_and_lands_in_its_file() {
    let repo = repo();
    let run = repo.deploy("local");
    assert!(run.summary().success(), "{:#?}", run.events);
    let motd = std::fs::read_to_string(repo.workdir("motd").join("motd")).unwrap();
    assert!(
        motd.starts_with(&format!("{SECRET} to localhost!\n")),
        "{motd}"
    );
    // The only place berth's own events carry it is the diff of the file
    // the component wrote it into (diffs are left as they are).
    for event in &run.events {
        let text = serde_json::to_string(event).unwrap();
        if !text.contains(SECRET) {
            continue;
        }
        match event {
            Event::Step {
                label,
                outcome:
                    Outcome::Changed {
                        diff: Some(diff), ..
                    },
                ..
            } if label == "message of the day" => assert!(diff.contains(SECRET)),
            other => panic!("a secret in an event: {other:?}"),
        }
    }
    assert!(repo.deploy("local").summary().success());
}

#[test]
fn the_model_masks_a_secret_in_its_view_and_debug_output() {
    let repo = repo();
    let (loaded, plan) =
        berth_engine::show::resolve(&repo.options("local"), Arc::new(Collect::default())).unwrap();
    // The component got the real value...
    let root = &loaded.roots[0];
    assert_eq!(
        root.attributes["greeting"].json,
        serde_json::to_string(SECRET).unwrap()
    );
    // ...and nothing meant for people or logs shows it.
    let view = serde_json::to_string(&berth_engine::show::view(&loaded, &plan)).unwrap();
    assert!(!view.contains(SECRET), "{view}");
    assert!(
        view.contains(r#"{"name":"greeting","value":"********","source":"secrets"}"#),
        "{view}"
    );
    let debug = format!("{loaded:?}");
    assert!(!debug.contains("sesame"), "{debug}");
    assert!(debug.contains("secrets.cfg.age"), "{debug}");
}

#[test]
fn without_the_identity_nothing_runs() {
    let repo = repo();
    let mut options = repo.options("local");
    options.identities = berth_config::IdentitySources::only(vec![repo.join("missing.txt")]);
    let run = repo.run(options);
    let err = run.error();
    assert!(err.contains("cannot read the age identity file"), "{err}");
    assert!(err.contains("missing.txt"), "{err}");
    assert!(!repo.workdir("motd").exists());
}
