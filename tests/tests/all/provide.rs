//! provide/require across roots and hosts: configure iterates until the
//! provided values settle, providers deploy before their requirers, cycles,
//! strict and non-strict requires, `same_host`, `reverse`, `dirty`, and
//! typed JSON values — with the `wiring` test guest, whose roots provide and
//! require what their attributes say — and the two-host example
//! (`database` and `app`, `environments/twohosts/`).

use berth_engine::event::Event;
use berth_tests::{APP, DATABASE, REPO, Run, TestRepo, WIRING};
use serde_json::{Value, json};
use std::path::Path;

/// A repository with the `wiring` package and the environment `local`:
/// `[hosts]` lines, then one `[component:NAME]` section per
/// `(root, attribute, JSON)` (a JSON string is written as its text).
fn wiring(hosts: &str, attributes: &[(&str, &str, Value)]) -> TestRepo {
    let mut env = format!("[environment]\nconnect_method = local\n\n[hosts]\n{hosts}\n");
    let mut roots: Vec<&str> = attributes.iter().map(|(r, _, _)| *r).collect();
    roots.dedup();
    for root in roots {
        env.push_str(&format!("\n[component:{root}]\n"));
        for (_, name, value) in attributes.iter().filter(|(r, _, _)| *r == root) {
            match value {
                Value::String(text) => env.push_str(&format!("{name} = {text}\n")),
                _ => env.push_str(&format!("{name} = {value}\n")),
            }
        }
    }
    let repo = TestRepo::new();
    repo.component("wiring", WIRING).env("local", &env);
    repo
}

/// What `root` saw in its final configure round.
fn seen(repo: &TestRepo, root: &str) -> Value {
    let path = repo.workdir(root).join("seen.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read `{}`: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The deploy order of the `planned` event.
fn planned(run: &Run) -> Vec<String> {
    run.events
        .iter()
        .find_map(|e| match e {
            Event::Planned { order } => Some(order.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no `planned` event in {:#?}", run.events))
}

/// Position of the `component-finished` event of `host/component`, and of
/// the `component-started` event of another: a provider must finish before
/// its requirer starts, whatever the scheduling.
fn finished_before_started(run: &Run, first: (&str, &str), then: (&str, &str)) -> bool {
    let finished = run.events.iter().position(|e| {
        matches!(e, Event::ComponentFinished { host, component, failed: false, .. }
            if (host.as_str(), component.as_str()) == first)
    });
    let started = run.events.iter().position(|e| {
        matches!(e, Event::ComponentStarted { host, component }
            if (host.as_str(), component.as_str()) == then)
    });
    match (finished, started) {
        (Some(f), Some(s)) => f < s,
        _ => panic!(
            "no finish of {first:?} or start of {then:?}: {:#?}",
            run.events
        ),
    }
}

fn ok(run: &Run) {
    let summary = run.summary();
    assert_eq!(summary.failed, 0, "{summary:#?}\n{:#?}", run.events);
    assert_eq!(summary.skipped, 0, "{summary:#?}");
}

#[test]
fn a_require_satisfied_only_in_a_later_round_settles_to_the_final_value() {
    // base (round 1) → mid (round 2) → top (round 3); round 4 changes
    // nothing. The environment lists the roots backwards.
    let repo = wiring(
        "localhost = wiring-d, wiring-c, wiring-b, wiring-a",
        &[
            ("wiring-a", "provides", json!({"base": 1})),
            ("wiring-b", "provides_from", json!({"mid": "base"})),
            ("wiring-c", "provides_from", json!({"top": "mid"})),
            (
                "wiring-d",
                "requires",
                json!([{"key": "top", "strict": true}]),
            ),
        ],
    );
    let run = repo.deploy("local");
    ok(&run);
    let d = seen(&repo, "wiring-d");
    assert_eq!(
        d["required"]["top"],
        json!([{"host": "localhost", "component": "wiring-c", "value": [[1]]}]),
        "{d:#}"
    );
    assert_eq!(
        d["configure_calls"], 4,
        "one round per link, plus one: {d:#}"
    );
    assert_eq!(seen(&repo, "wiring-c")["provided"], json!({"top": [[1]]}));
    assert_eq!(
        planned(&run),
        [
            "localhost/wiring-a",
            "localhost/wiring-b",
            "localhost/wiring-c",
            "localhost/wiring-d"
        ]
    );
    for pair in [
        ["wiring-a", "wiring-b"],
        ["wiring-b", "wiring-c"],
        ["wiring-c", "wiring-d"],
    ] {
        assert!(
            finished_before_started(&run, ("localhost", pair[0]), ("localhost", pair[1])),
            "{pair:?}: {:#?}",
            run.events
        );
    }

    // The settled model is the same the next time: nothing changes.
    let again = repo.deploy("local");
    ok(&again);
    assert_eq!(again.summary().changed, 0, "{:#?}", again.steps());
}

#[test]
fn a_configure_that_fails_until_a_value_arrives_is_retried_in_later_rounds() {
    // `wiring-b` fails while nothing is provided under `mid`, which exists
    // only from round 2 on: only its final round counts.
    let repo = wiring(
        "localhost = wiring-a, wiring-b, wiring-c",
        &[
            ("wiring-a", "provides", json!({"base": "x"})),
            (
                "wiring-b",
                "requires",
                json!([{"key": "mid", "strict": true}]),
            ),
            ("wiring-b", "fail_unless", json!("mid")),
            ("wiring-c", "provides_from", json!({"mid": "base"})),
        ],
    );
    let run = repo.deploy("local");
    ok(&run);
    assert_eq!(
        seen(&repo, "wiring-b")["required"]["mid"],
        json!([{"host": "localhost", "component": "wiring-c", "value": ["x"]}])
    );
    assert_eq!(
        planned(&run),
        [
            "localhost/wiring-a",
            "localhost/wiring-c",
            "localhost/wiring-b"
        ]
    );

    // Still failing in the final round: the root fails, and is counted.
    let repo = wiring(
        "localhost = wiring-a",
        &[("wiring-a", "fail_unless", json!("never"))],
    );
    let run = repo.deploy("local");
    let summary = run.summary();
    assert_eq!(summary.failed, 1, "{summary:#?}");
    assert!(
        summary.failures[0].contains("localhost/wiring-a")
            && summary.failures[0].contains("needs a value under `never`"),
        "{summary:#?}"
    );
}

#[test]
fn a_cycle_is_an_error_listing_its_edges_and_nothing_is_changed() {
    let repo = wiring(
        "localhost = wiring-a, wiring-b, wiring-c",
        &[
            ("wiring-a", "provides", json!({"x": 1})),
            ("wiring-a", "requires", json!([{"key": "y"}])),
            ("wiring-b", "provides", json!({"y": 2})),
            ("wiring-b", "requires", json!([{"key": "x"}])),
            ("wiring-c", "provides", json!({"z": 3})),
        ],
    );
    let error = repo.deploy("local").error();
    assert!(error.contains("cycle"), "{error}");
    assert!(
        error.contains("`localhost/wiring-a` before `localhost/wiring-b` (provides `x`)"),
        "{error}"
    );
    assert!(
        error.contains("`localhost/wiring-b` before `localhost/wiring-a` (provides `y`)"),
        "{error}"
    );
    assert!(
        !error.contains("wiring-c"),
        "not part of the cycle: {error}"
    );
    assert!(
        error.contains("dirty"),
        "the hint names the way out: {error}"
    );
    assert!(!repo.join("work").exists(), "a cycle changed files");
}

#[test]
fn a_dirty_require_breaks_the_cycle() {
    let repo = wiring(
        "localhost = wiring-b, wiring-a",
        &[
            ("wiring-a", "provides", json!({"x": 1})),
            ("wiring-a", "requires", json!([{"key": "y", "dirty": true}])),
            ("wiring-b", "provides", json!({"y": 2})),
            ("wiring-b", "requires", json!([{"key": "x"}])),
        ],
    );
    let run = repo.deploy("local");
    ok(&run);
    // Only the edge a → b (x) is left.
    assert_eq!(planned(&run), ["localhost/wiring-a", "localhost/wiring-b"]);
    assert!(finished_before_started(
        &run,
        ("localhost", "wiring-a"),
        ("localhost", "wiring-b")
    ));
    // A dirty require still gets its value.
    assert_eq!(
        seen(&repo, "wiring-a")["required"]["y"],
        json!([{"host": "localhost", "component": "wiring-b", "value": 2}])
    );
    assert_eq!(
        seen(&repo, "wiring-b")["required"]["x"],
        json!([{"host": "localhost", "component": "wiring-a", "value": 1}])
    );
}

#[test]
fn reverse_deploys_the_requirer_first() {
    let attributes = |reverse: bool| {
        [
            ("wiring-a", "provides", json!({"k": "v"})),
            (
                "wiring-b",
                "requires",
                json!([{"key": "k", "reverse": reverse}]),
            ),
        ]
    };
    let hosts = "localhost = wiring-a, wiring-b";
    let forward = wiring(hosts, &attributes(false));
    let run = forward.deploy("local");
    ok(&run);
    assert_eq!(planned(&run), ["localhost/wiring-a", "localhost/wiring-b"]);

    let reversed = wiring(hosts, &attributes(true));
    let run = reversed.deploy("local");
    ok(&run);
    assert_eq!(planned(&run), ["localhost/wiring-b", "localhost/wiring-a"]);
    assert!(finished_before_started(
        &run,
        ("localhost", "wiring-b"),
        ("localhost", "wiring-a")
    ));
    assert_eq!(
        seen(&reversed, "wiring-b")["required"]["k"],
        json!([{"host": "localhost", "component": "wiring-a", "value": "v"}])
    );
}

#[test]
fn an_unsatisfied_strict_require_is_an_error_naming_the_requirer_and_the_key() {
    let repo = wiring(
        "localhost = wiring-a, wiring-b",
        &[
            ("wiring-a", "provides", json!({"something": 1})),
            (
                "wiring-b",
                "requires",
                json!([{"key": "nothing", "strict": true}]),
            ),
        ],
    );
    let error = repo.deploy("local").error();
    assert!(
        error.contains(
            "component `wiring-b` on host `localhost` requires `nothing`, but no component provides it"
        ),
        "{error}"
    );
    assert!(!repo.join("work").exists(), "nothing may change");
}

#[test]
fn an_unsatisfied_require_that_is_not_strict_gets_an_empty_list() {
    let repo = wiring(
        "localhost = wiring-a",
        &[("wiring-a", "requires", json!([{"key": "nothing"}]))],
    );
    let run = repo.deploy("local");
    ok(&run);
    let a = seen(&repo, "wiring-a");
    assert_eq!(a["required"]["nothing"], json!([]), "{a:#}");
    assert_eq!(a["configure_calls"], 1, "nothing to wait for: {a:#}");
}

#[test]
fn same_host_sees_only_the_values_of_its_own_host() {
    // Two hosts deploying locally share `work/<root>`: one root per host.
    let repo = wiring(
        "host1 = wiring-a, wiring-c\nhost2 = wiring-b, wiring-d",
        &[
            ("wiring-a", "provides", json!({"k": "from host1"})),
            ("wiring-b", "provides", json!({"k": "from host2"})),
            (
                "wiring-c",
                "requires",
                json!([{"key": "k", "same_host": true}]),
            ),
            ("wiring-d", "requires", json!([{"key": "k"}])),
        ],
    );
    let run = repo.deploy("local");
    ok(&run);
    assert_eq!(
        seen(&repo, "wiring-c")["required"]["k"],
        json!([{"host": "host1", "component": "wiring-a", "value": "from host1"}])
    );
    assert_eq!(
        seen(&repo, "wiring-d")["required"]["k"],
        json!([
            {"host": "host1", "component": "wiring-a", "value": "from host1"},
            {"host": "host2", "component": "wiring-b", "value": "from host2"}
        ])
    );
    assert_eq!(seen(&repo, "wiring-d")["host"], "host2");
    // The edges follow the filter: c waits for a only, d for both.
    let order = planned(&run);
    let at = |id: &str| order.iter().position(|o| o == id).unwrap();
    assert!(at("host1/wiring-a") < at("host1/wiring-c"), "{order:?}");
    assert!(at("host1/wiring-a") < at("host2/wiring-d"), "{order:?}");
    assert!(at("host2/wiring-b") < at("host2/wiring-d"), "{order:?}");
    assert!(finished_before_started(
        &run,
        ("host2", "wiring-b"),
        ("host2", "wiring-d")
    ));

    // A strict same-host require whose only provider is elsewhere fails.
    let repo = wiring(
        "host1 = wiring-a\nhost2 = wiring-b",
        &[
            ("wiring-a", "provides", json!({"k": 1})),
            (
                "wiring-b",
                "requires",
                json!([{"key": "k", "strict": true, "same_host": true}]),
            ),
        ],
    );
    let error = repo.deploy("local").error();
    assert!(
        error.contains("component `wiring-b` on host `host2` requires `k`, but no component provides it on the same host"),
        "{error}"
    );
}

#[test]
fn values_are_typed_json_on_both_sides() {
    let values = json!({
        "int": 5432,
        "string": "5432",
        "bool": false,
        "list": [1, "two", null, {"three": 3.5}],
        "map": {"host": "db.example.test", "port": 5432, "tls": true}
    });
    let requires: Vec<Value> = ["int", "string", "bool", "list", "map"]
        .iter()
        .map(|k| json!({"key": k, "type": k, "strict": true}))
        .collect();
    let repo = wiring(
        "localhost = wiring-a, wiring-b",
        &[
            ("wiring-a", "provides", values.clone()),
            ("wiring-b", "requires", Value::Array(requires)),
        ],
    );
    let run = repo.deploy("local");
    ok(&run);
    let b = seen(&repo, "wiring-b");
    for (key, value) in values.as_object().unwrap() {
        assert_eq!(
            b["required"][key],
            json!([{"host": "localhost", "component": "wiring-a", "value": value}]),
            "{key}: {b:#}"
        );
    }

    // A value of another type than the requirer reads fails the requirer,
    // naming the key and the provider; the provider deploys.
    let repo = wiring(
        "localhost = wiring-a, wiring-b",
        &[
            ("wiring-a", "provides", json!({"port": "5432"})),
            (
                "wiring-b",
                "requires",
                json!([{"key": "port", "type": "int"}]),
            ),
        ],
    );
    let run = repo.deploy("local");
    let summary = run.summary();
    assert_eq!(summary.failed, 1, "{summary:#?}");
    let failure = &summary.failures[0];
    assert!(failure.starts_with("localhost/wiring-b"), "{failure}");
    assert!(
        failure.contains("value of `port` provided by `wiring-a` on `localhost`"),
        "{failure}"
    );
    assert_eq!(seen(&repo, "wiring-a")["provided"], json!({"port": "5432"}));
}

/// `environments/twohosts/environment.cfg` of this repository.
fn twohosts() -> String {
    std::fs::read_to_string(Path::new(REPO).join("environments/twohosts/environment.cfg")).unwrap()
}

#[test]
fn the_twohosts_example_deploys_the_database_first_and_the_app_uses_its_address() {
    let repo = TestRepo::new();
    repo.example("database", DATABASE)
        .example("app", APP)
        .env("twohosts", &twohosts());
    let run = repo.deploy("twohosts");
    ok(&run);
    assert_eq!(planned(&run), ["db/database", "web/app"]);
    assert!(finished_before_started(
        &run,
        ("db", "database"),
        ("web", "app")
    ));

    let database = std::fs::read_to_string(repo.workdir("database").join("database.conf")).unwrap();
    assert!(
        database.contains("listen_addresses = '127.0.0.1'"),
        "{database}"
    );
    assert!(database.contains("port = 5433"), "{database}");
    let app = std::fs::read_to_string(repo.workdir("app").join("app.conf")).unwrap();
    assert!(app.contains("on web."), "{app}");
    assert!(app.contains("listen = web.example.test:8000"), "{app}");
    assert!(
        app.contains("Provided by `database` on the host `db`"),
        "{app}"
    );
    assert!(
        app.contains("host = db.example.test\nport = 5433\n"),
        "{app}"
    );
    assert!(
        app.contains("url = postgresql://db.example.test:5433/app"),
        "{app}"
    );

    ok(&repo.deploy_converged("twohosts"));

    // Without a database, the app's strict require stops the deployment.
    let error = {
        let env = twohosts().replace("db = database\n", "");
        let repo = TestRepo::new();
        repo.example("database", DATABASE)
            .example("app", APP)
            .env("twohosts", &env);
        repo.deploy("twohosts").error()
    };
    assert!(
        error.contains(
            "component `app` on host `web` requires `database`, but no component provides it"
        ),
        "{error}"
    );
}

#[test]
fn a_value_nobody_requires_is_reported_as_a_warning_with_a_suggestion() {
    let repo = wiring(
        "host1 = wiring-a, wiring-b",
        &[
            ("wiring-a", "provides", json!({"databse": 1, "port": 2})),
            (
                "wiring-b",
                "requires",
                json!([{"key": "port"}, {"key": "database"}]),
            ),
        ],
    );
    let run = repo.deploy("local");
    assert!(run.summary().success(), "{:#?}", run.summary());
    let warnings: Vec<(&str, Option<&str>)> = run
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Warning { message, hint } => Some((message.as_str(), hint.as_deref())),
            _ => None,
        })
        .collect();
    assert_eq!(
        warnings,
        [(
            "component `wiring-a` on host `host1` provides `databse`, but no component requires it",
            Some("a component requires `database`: is one of the keys misspelt?")
        )],
        "`port` is required and must not be reported"
    );
}
