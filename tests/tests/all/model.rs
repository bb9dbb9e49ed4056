//! The environment is checked against what components declare, and the
//! model imports behave as the contract says.

use berth_tests::{CALLS, HELLO, MOTD, TestRepo};

fn repo(env: &str) -> TestRepo {
    let repo = TestRepo::new();
    repo.example("hello", HELLO)
        .example("motd", MOTD)
        .env("local", env);
    repo
}

#[test]
fn an_unknown_component_gets_a_did_you_mean_with_file_and_line() {
    let error = repo("[hosts]\nlocalhost = hello, mtod\n")
        .deploy("local")
        .error();
    assert!(
        error.contains("environment.cfg:2: component `mtod` is not a component of this repository"),
        "{error}"
    );
    assert!(error.contains("did you mean `motd`?"), "{error}");
}

#[test]
fn an_unknown_attribute_is_an_error_not_ignored() {
    let error = repo("[hosts]\nlocalhost = motd\n\n[component:motd]\ngreting = Hi\n")
        .deploy("local")
        .error();
    assert!(
        error.contains("environment.cfg:5: component `motd` has no attribute `greting`"),
        "{error}"
    );
    assert!(error.contains("did you mean `greeting`?"), "{error}");
}

#[test]
fn an_override_of_the_wrong_type_names_file_line_attribute_and_type() {
    let error = repo("[hosts]\nlocalhost = motd\n\n[component:motd]\nport = eighty\n")
        .deploy("local")
        .error();
    assert!(
        error
            .contains("environment.cfg:5: attribute `port` of component `motd` is declared int: expected an integer"),
        "{error}"
    );
    assert!(error.contains("eighty"), "{error}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let error = repo("[hosts]\nlocalhost = motd, nope\n\n[component:motd]\nport = x\nextra = 1\n")
        .deploy("local")
        .error();
    assert!(error.contains("the environment has 3 problems"), "{error}");
}

#[test]
fn configure_is_pure_and_require_sees_what_was_provided_in_an_earlier_round() {
    let repo = TestRepo::new();
    repo.component("calls", CALLS)
        .env("local", "[hosts]\nlocalhost = calls\n");
    let run = repo.deploy("local");
    assert_eq!(run.summary().failed, 0, "{:#?}", run.summary());
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo.workdir("calls").join("calls.json")).unwrap(),
    )
    .unwrap();
    let read = report["read"].as_str().unwrap();
    assert!(read.starts_with("invalid: "), "{read}");
    assert!(read.contains("not available during configure"), "{read}");
    assert!(
        report["run"]
            .as_str()
            .unwrap()
            .contains("not available during configure")
    );
    // The value is provided in round one and required back in round two.
    assert_eq!(
        report["required"],
        serde_json::json!([{"host": "localhost", "component": "calls", "value": {"from": "localhost", "answer": 42}}])
    );
}

#[test]
fn an_ssh_environment_is_refused_rather_than_deployed_here() {
    let error = repo(
        "[environment]\nconnect_method = ssh\ntarget_directory = /srv/x\n\n[hosts]\nweb = hello\n",
    )
    .deploy("local")
    .error();
    assert!(
        error.contains("`connect_method = ssh` is not supported"),
        "{error}"
    );
}

#[test]
fn features_and_the_platform_reach_the_component() {
    use berth_tests::WIRING;
    let repo = TestRepo::new();
    repo.component("wiring", WIRING).env(
        "local",
        "[environment]\nplatform = debian\n\n\
         [hosts]\nh1 = wiring-a:ssl, wiring-a:http2\nh2 = wiring-b\n\n\
         [host:h2]\nplatform = alpine\n",
    );
    let seen = |root: &str| -> serde_json::Value {
        serde_json::from_str(
            &std::fs::read_to_string(repo.workdir(root).join("seen.json")).unwrap(),
        )
        .unwrap()
    };
    assert_eq!(repo.deploy("local").summary().failed, 0);
    assert_eq!(
        seen("wiring-a")["features"],
        serde_json::json!(["ssl", "http2"])
    );
    assert_eq!(seen("wiring-b")["features"], serde_json::json!([]));
    // The host's platform wins over the environment's.
    assert_eq!(seen("wiring-a")["platform"], "debian");
    assert_eq!(seen("wiring-b")["platform"], "alpine");

    // The command line's wins over both.
    let mut options = repo.options("local");
    options.platform = Some("nixos".into());
    assert_eq!(repo.run(options).summary().failed, 0);
    assert_eq!(seen("wiring-a")["platform"], "nixos");
    assert_eq!(seen("wiring-b")["platform"], "nixos");
}

#[test]
fn the_platform_picks_which_variant_is_added() {
    use berth_tests::WIRING;
    let repo = TestRepo::new();
    repo.component("wiring", WIRING).env(
        "local",
        "[hosts]\nh1 = wiring-a\nh2 = wiring-b\nh3 = wiring-c\n\n\
         [host:h1]\nplatform = debian\n\n\
         [host:h2]\nplatform = alpine\n\n\
         [host:h3]\nplatform = nixos\n",
    );
    let run = repo.deploy("local");
    assert_eq!(run.summary().failed, 0, "{:#?}", run.summary());
    let variants = |root: &str| -> Vec<String> {
        let mut found: Vec<String> = std::fs::read_dir(repo.workdir(root))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("variant-"))
            .collect();
        found.sort();
        found
    };
    assert_eq!(variants("wiring-a"), ["variant-debian.txt"]);
    assert_eq!(variants("wiring-b"), ["variant-alpine.txt"]);
    // No variant for nixos: only the component's own steps.
    assert!(variants("wiring-c").is_empty());
    assert!(repo.workdir("wiring-c").join("seen.json").exists());
    // The variant's step is part of the tree: reported, and converged after.
    assert!(
        run.steps()
            .iter()
            .any(|(root, label, _)| *root == "wiring-a" && label.contains("variant-debian.txt")),
        "{:#?}",
        run.steps()
    );
    assert_eq!(repo.deploy("local").summary().changed, 0);

    // `--platform` switches every host to that variant.
    let mut options = repo.options("local");
    options.platform = Some("alpine".into());
    assert_eq!(repo.run(options).summary().failed, 0);
    assert_eq!(variants("wiring-c"), ["variant-alpine.txt"]);
}

#[test]
fn addresses_resolve_through_the_resolver_in_attributes_and_in_configure() {
    use berth_tests::WIRING;
    let repo = TestRepo::new();
    repo.component("wiring", WIRING).env(
        "local",
        "[environment]\nrequire_v6 = optional\n\n\
         [hosts]\nlocalhost = wiring-a\n\n\
         [resolver]\ndb.internal = 192.0.2.7, 2001:db8::7\ncache = 192.0.2.9\n\n\
         [component:wiring-a]\nlisten = db.internal:5432\n\
         resolve = cache:11211, localhost:22\n",
    );
    let run = repo.deploy("local");
    assert_eq!(run.summary().failed, 0, "{:#?}", run.summary());
    let seen: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo.workdir("wiring-a").join("seen.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(seen["listen"]["connect"], "db.internal:5432");
    assert_eq!(seen["listen"]["listen"], "192.0.2.7:5432");
    assert_eq!(seen["listen"]["listen_v6"], "[2001:db8::7]:5432");
    let cache = &seen["resolved"]["cache:11211"];
    assert_eq!(cache["listen"], "192.0.2.9:11211");
    assert_eq!(cache["listen_v6"], serde_json::Value::Null);
    // Not in [resolver]: the system resolver answers (/etc/hosts).
    assert_eq!(seen["resolved"]["localhost:22"]["listen"], "127.0.0.1:22");
}
