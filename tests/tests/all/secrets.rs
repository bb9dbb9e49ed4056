//! Secrets through the real engine: decrypted values and secret files
//! reach real components, and nothing berth reports shows them.

use berth_engine::event::{Collect, Event, Outcome};
use berth_tests::{MOTD, SECRETIVE, TestRepo};
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

const SECRET: &str = "Open sesame 7f3a";
const PASSWORD: &str = "pw-9d41c2e8";
const KEY_LINE: &str = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC";
const TLS_KEY: &str =
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n";

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

/// Panics when an event's JSON holds one of `secrets`.
fn assert_masked(events: &[Event], secrets: &[&str]) {
    for event in events {
        let text = serde_json::to_string(event).unwrap();
        for s in secrets {
            assert!(!text.contains(s), "a secret in an event: {text}");
        }
    }
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn a_secret_reaches_the_component_and_its_diff_is_masked() {
    let repo = repo();
    let run = repo.deploy("local");
    assert!(run.summary().success(), "{:#?}", run.events);
    let motd = std::fs::read_to_string(repo.workdir("motd").join("motd")).unwrap();
    assert!(
        motd.starts_with(&format!("{SECRET} to localhost!\n")),
        "{motd}"
    );
    // The component set a mode itself: it stays.
    assert_eq!(mode(&repo.workdir("motd").join("motd")), 0o644);
    assert_masked(&run.events, &[SECRET]);
    let Outcome::Changed {
        diff: Some(diff), ..
    } = run.step("message of the day")
    else {
        panic!("{:#?}", run.steps());
    };
    assert!(diff.contains("\n+********\n"), "{diff}");
    assert!(
        diff.contains("(berth masked 1 line that holds secrets)"),
        "{diff}"
    );
    assert!(repo.deploy("local").summary().success());
}

/// `secretive` on host `web`, its password in a bare `[secretive]`
/// section, host data in `[host:web]`, `[batou] members`: a batou project.
fn secretive(environment: &str) -> TestRepo {
    let repo = TestRepo::new();
    let public = berth_secrets::recipients(std::path::Path::new(berth_tests::TEST_IDENTITY))
        .unwrap()
        .remove(0);
    repo.component("secretive", SECRETIVE)
        .env("local", environment)
        .secrets(
            "local",
            &format!(
                "[batou]\nmembers = {public}\nsecret_provider = age\n\n[host:web]\ndata-token = tok-51ab\n\n[secretive]\npassword = {PASSWORD}\n"
            ),
        )
        .secret_file("local", "tls.key", TLS_KEY.as_bytes());
    repo
}

const GRANTED: &str = "[hosts]\nweb = secretive\n\n[grants:secretive]\nsecrets = tls.key\n";

#[test]
fn templates_and_secret_files_get_the_real_values_0600_and_masked_output() {
    let repo = secretive(GRANTED);
    let predicted = repo.predict("local");
    assert!(predicted.summary().success(), "{:#?}", predicted.events);
    assert_masked(&predicted.events, &[PASSWORD, KEY_LINE, "tok-51ab"]);
    let Outcome::WouldChange {
        diff: Some(diff), ..
    } = predicted.step("file app.conf")
    else {
        panic!("{:#?}", predicted.steps());
    };
    assert!(diff.contains("+user = app\n+********\n"), "{diff}");
    assert!(diff.contains("masked 1 line"), "{diff}");

    let run = repo.deploy("local");
    assert!(run.summary().success(), "{:#?}", run.events);
    assert_masked(&run.events, &[PASSWORD, KEY_LINE, "tok-51ab"]);
    let work = repo.workdir("secretive");
    assert_eq!(
        std::fs::read_to_string(work.join("app.conf")).unwrap(),
        format!("user = app\npassword = {PASSWORD}\n")
    );
    assert_eq!(
        std::fs::read_to_string(work.join("tls.key")).unwrap(),
        TLS_KEY
    );
    assert_eq!(mode(&work.join("app.conf")), 0o600);
    assert_eq!(mode(&work.join("tls.key")), 0o600);
    let Outcome::Changed {
        diff: Some(diff), ..
    } = run.step("file tls.key")
    else {
        panic!("{:#?}", run.steps());
    };
    assert!(diff.contains("+********\n"), "{diff}");
    // The component logged the real value; berth shows it masked.
    let logs = run.logs();
    assert!(
        logs.contains(&"secretive: logging in with password ********".to_owned()),
        "{logs:#?}"
    );
    assert!(
        logs.contains(&"secretive: debug: the password is ********".to_owned()),
        "{logs:#?}"
    );
    repo.deploy_converged("local");
}

#[test]
fn an_error_that_quotes_a_secret_is_masked() {
    let repo = secretive(&format!("{GRANTED}\n[component:secretive]\nfail = true\n"));
    let run = repo.deploy("local");
    assert_eq!(run.summary().failed, 1);
    assert_masked(&run.events, &[PASSWORD]);
    let Outcome::Failed { error } = run.step("login") else {
        panic!("{:#?}", run.steps());
    };
    assert!(
        error.contains("login refused for password ********"),
        "{error}"
    );
    assert!(
        run.summary().failures[0].contains("login refused for password ********"),
        "{:?}",
        run.summary().failures
    );
}

#[test]
fn a_secret_file_must_be_granted_and_exist() {
    let repo = secretive("[hosts]\nweb = secretive\n");
    let run = repo.deploy("local");
    let err = run.error();
    assert!(
        err.contains("component `secretive` needs the secret file `tls.key` (for `tls.key`), which environment `local` does not grant"),
        "{err}"
    );
    assert!(
        err.contains("[grants:secretive]\n    secrets = tls.key"),
        "{err}"
    );
    assert!(!repo.workdir("secretive").exists());
    std::fs::remove_file(repo.join("environments/local/secret-tls.key.age")).unwrap();
    let err = secretive_without_file(&repo).error();
    assert!(
        err.contains(
            "writes the secret file `tls.key` into `tls.key`, but environment `local` has no"
        ),
        "{err}"
    );
    assert!(err.contains("berth secrets edit local tls.key"), "{err}");
}

fn secretive_without_file(repo: &TestRepo) -> berth_tests::Run {
    repo.env("local", GRANTED);
    repo.deploy("local")
}

#[test]
fn a_host_gets_only_the_secrets_its_components_use() {
    let repo = secretive(
        "[hosts]\nweb = secretive\ndb = motd\n\n[grants:secretive]\nsecrets = tls.key\n\n[component:motd]\nadmins = a\n",
    );
    repo.example("motd", MOTD);
    repo.secrets(
        "local",
        &format!("[host:web]\ndata-token = tok-51ab\n[host:db]\ndata-dbtoken = db-77\n[secretive]\npassword = {PASSWORD}\n[motd]\ngreeting = {SECRET}\n"),
    )
    .secret_file("local", "other", b"not for web");
    let (loaded, plan) =
        berth_engine::show::resolve(&repo.options("local"), Arc::new(Collect::default())).unwrap();
    let secrets = loaded.environment.secrets.as_ref().unwrap();
    let web = berth_secrets::scope(secrets, &berth_engine::secrets::uses(&plan, "web"));
    assert_eq!(web.components.keys().collect::<Vec<_>>(), ["secretive"]);
    assert_eq!(web.hosts.keys().collect::<Vec<_>>(), ["web"]);
    assert_eq!(web.files.keys().collect::<Vec<_>>(), ["tls.key"]);
    let db = berth_secrets::scope(secrets, &berth_engine::secrets::uses(&plan, "db"));
    assert_eq!(db.components.keys().collect::<Vec<_>>(), ["motd"]);
    assert_eq!(db.hosts.keys().collect::<Vec<_>>(), ["db"]);
    assert!(db.files.is_empty());
    let mask = berth_secrets::Mask::of(&db);
    assert!(mask.holds(SECRET.as_bytes()) && !mask.holds(PASSWORD.as_bytes()));
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
fn host_data_from_secrets_is_masked_in_the_model() {
    let repo = secretive(GRANTED);
    let (loaded, plan) =
        berth_engine::show::resolve(&repo.options("local"), Arc::new(Collect::default())).unwrap();
    assert!(
        loaded.roots[0]
            .host
            .data
            .contains(&("token".to_owned(), "tok-51ab".to_owned()))
    );
    let view = serde_json::to_string(&berth_engine::show::view(&loaded, &plan)).unwrap();
    assert!(!view.contains("tok-51ab"), "{view}");
    assert!(view.contains(r#""token":"********""#), "{view}");
}

#[test]
fn without_the_identity_nothing_runs() {
    let repo = repo();
    let mut options = repo.options("local");
    options.identities = berth_secrets::IdentitySources::only(vec![repo.join("missing.txt")]);
    let run = repo.run(options);
    let err = run.error();
    assert!(err.contains("cannot read the age identity file"), "{err}");
    assert!(err.contains("missing.txt"), "{err}");
    assert!(!repo.workdir("motd").exists());
}
