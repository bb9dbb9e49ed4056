//! The Python example `greeter` and the Python test guests `py-probe` and
//! `py-steps`, run as sources by berth's shared Python runtime, go through
//! the checks of the Rust examples: first deploy, converged redeploy,
//! predict, sandbox escapes refused; `print` goes to the log; the compile
//! cache makes loading fast; provide/require, needs and grants, `Command`,
//! `Symlink` and `Purge` work from Python. A changed line is picked up by
//! the next deploy with no build step, and a traceback names the author's
//! file and line.

use berth_engine::event::Outcome;
use berth_runtime::{CacheOutcome, Runtime, RuntimeOptions, Sources};
use berth_tests::{GREETER, PY_PROBE, PY_STEPS, TestRepo, WIRING, python_runtime, snapshot};
use std::path::Path;
use std::time::{Duration, Instant};

const LOCAL: &str = "\
[environment]
connect_method = local
timeout = 60

[hosts]
localhost = greeter

[host:localhost]
data-role = workstation

[component:greeter]
visitors = alice, bob
";

/// A repository with the example `greeter`: its sources and template.
fn greeter() -> TestRepo {
    let repo = TestRepo::new();
    repo.python("greeter", GREETER).env("local", LOCAL);
    repo
}

/// The sources of the Python component in `dir`, shown as `origin`.
fn sources(dir: &Path, origin: &str) -> Sources {
    Sources {
        origin: origin.to_owned(),
        files: berth_build::python_sources(dir).unwrap(),
        path: dir.join("component.py"),
    }
}

#[test]
fn the_python_runtime_carries_the_api_version_and_the_component_describes_itself() {
    let bytes = std::fs::read(python_runtime()).unwrap();
    assert_eq!(
        berth_runtime::api_version(&bytes).unwrap().as_deref(),
        Some(berth_runtime::API_VERSION)
    );
    let runtime = Runtime::new(RuntimeOptions {
        cache_dir: Some(berth_tests::cache_dir()),
        ..RuntimeOptions::default()
    })
    .unwrap();
    let package = runtime
        .load_python(
            &python_runtime(),
            sources(Path::new(GREETER), "components/greeter"),
        )
        .unwrap();
    let d = &package.description;
    assert_eq!((d.name.as_str(), d.version.as_str()), ("greeter", "0.1.0"));
    assert_eq!(d.roots.len(), 1);
    let root = &d.roots[0];
    assert_eq!(root.name, "greeter");
    assert!(root.doc.contains("greeting.j2"), "{}", root.doc);
    let attributes: Vec<(&str, Option<&str>)> = root
        .attributes
        .iter()
        .map(|a| (a.name.as_str(), a.default.as_deref()))
        .collect();
    assert_eq!(
        attributes,
        [
            ("greeting", Some("\"Hello\"")),
            ("visitors", Some("[\"world\"]")),
            ("excited", Some("false")),
        ]
    );
    assert!(root.needs.paths.is_empty() && root.needs.commands.is_empty());
}

#[test]
fn first_deploy_writes_the_greeting_and_the_second_changes_nothing() {
    let repo = greeter();
    let first = repo.deploy("local");
    let summary = first.summary();
    assert_eq!(summary.failed, 0, "{summary:#?}\n{:#?}", first.logs());
    // The folder, the custom step, the templated file.
    assert_eq!(summary.changed, 3, "{:#?}", first.steps());

    let work = repo.workdir("greeter");
    let greeting = std::fs::read_to_string(work.join("greeter/greeting.txt")).unwrap();
    assert_eq!(
        greeting,
        "Hello, alice.\nHello, bob.\n-- localhost (workstation), environment local\n"
    );
    let visitors: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.join("greeter/visitors.json")).unwrap())
            .unwrap();
    assert_eq!(
        visitors,
        serde_json::json!({"greeting": "Hello", "visitors": ["alice", "bob"]})
    );
    // `print` in update went to the log, attributed to the component.
    assert!(
        first
            .logs()
            .contains(&"greeter: greeter: greeted 2 visitor(s)".to_owned()),
        "{:#?}",
        first.logs()
    );

    let second = repo.deploy_converged("local");
    assert_eq!(second.summary().unchanged, 3);
}

#[test]
fn predict_shows_the_diff_and_changes_nothing() {
    let repo = greeter();
    assert_eq!(repo.deploy("local").summary().failed, 0);
    repo.env(
        "local",
        &format!("{LOCAL}greeting = Good morning\nexcited = true\n"),
    );
    let predicted = repo.predict_unchanged("local");
    let summary = predicted.summary();
    assert_eq!(summary.failed, 0, "{:#?}", predicted.steps());
    assert_eq!(summary.changed, 2, "{:#?}", predicted.steps());
    match predicted.step("greeting") {
        Outcome::WouldChange { diff, .. } => {
            let diff = diff.as_deref().expect("a diff");
            assert!(diff.contains("-Hello, alice."), "{diff}");
            assert!(diff.contains("+Good morning, alice!"), "{diff}");
        }
        other => panic!("expected a predicted change, got {other:?}"),
    }
    match predicted.step("visitors") {
        Outcome::WouldChange { reason, .. } => {
            assert!(reason.contains("lists other visitors"), "{reason}")
        }
        other => panic!("expected a predicted change, got {other:?}"),
    }

    let applied = repo.deploy("local");
    assert_eq!(applied.summary().changed, 2, "{:#?}", applied.steps());
    let greeting =
        std::fs::read_to_string(repo.workdir("greeter").join("greeter/greeting.txt")).unwrap();
    assert!(greeting.starts_with("Good morning, alice!\n"), "{greeting}");
}

#[test]
fn a_wrongly_typed_override_fails_in_configure_naming_the_attribute() {
    let repo = greeter();
    repo.env("local", &format!("{LOCAL}excited = maybe\n"));
    let run = repo.deploy("local");
    let text = match &run.result {
        Ok(summary) => format!("{summary:#?}"),
        Err(e) => e.to_string(),
    };
    assert!(text.contains("excited"), "{text}");
    assert!(!repo.join("work/greeter/greeter").exists());
}

#[test]
fn sandbox_escapes_from_python_are_refused() {
    let escape = Path::new("/tmp/berth-py-probe-escape");
    let _ = std::fs::remove_file(escape);
    let repo = TestRepo::new();
    repo.python("py-probe", PY_PROBE).env(
        "local",
        "[environment]\nconnect_method = local\ntimeout = 60\n\n[hosts]\nlocalhost = py-probe\n",
    );
    let outside = repo.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("x"), "secret\n").unwrap();
    let outside_before = snapshot(&outside);

    let run = repo.deploy("local");
    let summary = run.summary();
    assert_eq!(summary.failed, 0, "{summary:#?}\n{:#?}", run.logs());
    let report: Vec<serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(repo.workdir("py-probe").join("report.json")).unwrap(),
    )
    .unwrap();
    let outcome = |what: &str| {
        report
            .iter()
            .find(|r| r["what"] == what)
            .unwrap_or_else(|| panic!("no `{what}` in {report:#?}"))
            .clone()
    };
    // Python's own file access sees nothing: WASI has no preopens.
    for what in ["open /etc/passwd", "open for writing", "listdir /"] {
        let r = outcome(what);
        assert!(r.get("ok").is_none(), "{what}: {r}");
        assert!(
            r["error"] == "FileNotFoundError"
                || r["error"] == "PermissionError"
                || r["error"] == "OSError",
            "{what}: {r}"
        );
    }
    assert_eq!(outcome("environ")["ok"], serde_json::json!({}));
    // berth's fs import refuses paths outside the grants, with typed errors.
    let r = outcome("fs.read ../x");
    assert_eq!(r["error"], "Invalid", "{r}");
    assert!(r["message"].as_str().unwrap().contains("../x"), "{r}");
    let r = outcome("fs.read /etc/passwd");
    assert_eq!(r["error"], "Denied", "{r}");
    assert!(
        r["message"].as_str().unwrap().contains("/etc/passwd"),
        "{r}"
    );
    assert_eq!(outcome("fs.write ../escape.txt")["error"], "Invalid");
    let r = outcome("process.run");
    assert_eq!(r["error"], "Denied", "{r}");
    assert!(
        r["message"].as_str().unwrap().contains("commands = cat"),
        "{r}"
    );
    // A string where the SDK wants a list is refused, not split into
    // characters.
    for (what, message) in [
        ("process.run with a string", "write ['cat /etc/passwd']"),
        (
            "Command with a string",
            "`argv` of Command must be a list of strings, not the string 'touch x'",
        ),
        ("Command without argv", "`argv` of Command is empty"),
        (
            "Needs with a string",
            "`commands` of Needs must be a list of strings",
        ),
    ] {
        let r = outcome(what);
        assert_eq!(r["error"], "Invalid", "{what}: {r}");
        assert!(
            r["message"].as_str().unwrap().contains(message),
            "{what}: {r}"
        );
    }
    // Reading the filesystem in configure is refused as well.
    let r = outcome("fs.read in configure");
    assert_eq!(r["error"], "Invalid", "{r}");
    assert!(
        r["message"].as_str().unwrap().contains("during configure"),
        "{r}"
    );
    let log = run.logs().join("\n");
    assert!(log.contains("py-probe: printed to stdout"), "{log}");
    assert!(log.contains("py-probe: written with berth.log"), "{log}");

    assert!(!escape.exists(), "a file was written outside the sandbox");
    assert!(!repo.join("work/escape.txt").exists());
    assert_eq!(snapshot(&outside), outside_before);
}

/// Loads `greeter` on berth's Python runtime with a fresh runtime on
/// `cache`: the time and whether the compiled code came from the cache.
fn load(cache: &Path) -> (Duration, CacheOutcome) {
    let runtime = Runtime::new(RuntimeOptions {
        cache_dir: Some(cache.to_owned()),
        ..RuntimeOptions::default()
    })
    .unwrap();
    let start = Instant::now();
    let package = runtime
        .load_python(
            &python_runtime(),
            sources(Path::new(GREETER), "components/greeter"),
        )
        .unwrap();
    (start.elapsed(), package.cache)
}

#[test]
fn the_compile_cache_makes_the_second_load_fast() {
    let cache = tempfile::tempdir().unwrap();
    let (cold, outcome) = load(cache.path());
    assert_eq!(outcome, CacheOutcome::Compiled);
    let (cached, outcome) = load(cache.path());
    assert_eq!(outcome, CacheOutcome::Hit);
    eprintln!("greeter (Python runtime): cold load {cold:?}, cached load {cached:?}");
    assert!(cached * 10 < cold, "cold {cold:?}, cached {cached:?}");
    assert!(cached < Duration::from_secs(2), "cached {cached:?}");
}

/// A Python component whose `configure` fails on line 16 of its
/// `component.py`, in a function of its own module `helpers.py`.
const BROKEN: &str = r#""""A component that fails in configure."""

import berth
from berth import Attribute, Component, File

import helpers


class Broken(Component):
    name = "broken"

    port = Attribute(int, default=80, doc="A port.")

    def configure(self):
        self += File("ok.txt", text="fine\n")
        helpers.check(self.port)


berth.export(Broken)
"#;

const HELPERS: &str = r#"def check(port):
    if port > 65535:
        raise ValueError("port {} is out of range".format(port))
"#;

#[test]
fn a_changed_line_is_deployed_with_no_build_step_and_a_traceback_names_the_file_and_line() {
    let repo = TestRepo::new();
    repo.write("components/broken/component.py", BROKEN)
        .write("components/broken/helpers.py", HELPERS)
        .env(
            "local",
            "[hosts]\nlocalhost = broken\n\n[component:broken]\nport = 70000\n",
        );
    // No build step at all: the sources are read when they are loaded.
    let mut options = repo.options("local");
    options.build = false;
    let run = repo.run(options.clone());
    let text = match &run.result {
        Ok(summary) => format!("{summary:#?}"),
        Err(e) => e.to_string(),
    };
    assert!(
        text.contains("ValueError: port 70000 is out of range (at components/broken/helpers.py:3)"),
        "{text}"
    );
    let log = run.logs().join("\n");
    for line in [
        "File \"components/broken/component.py\", line 16, in configure",
        "helpers.check(self.port)",
        "File \"components/broken/helpers.py\", line 3, in check",
    ] {
        assert!(log.contains(line), "no `{line}` in the log:\n{log}");
    }
    assert!(!repo.join("work/broken/ok.txt").exists());

    // Fix one line; the next run deploys it, still without building.
    repo.write(
        "components/broken/helpers.py",
        &HELPERS.replace("port > 65535", "port > 99999"),
    );
    let run = repo.run(options.clone());
    assert_eq!(run.summary().failed, 0, "{:#?}", run.logs());
    assert_eq!(
        std::fs::read_to_string(repo.join("work/broken/ok.txt")).unwrap(),
        "fine\n"
    );
    // And another: the content of the file.
    repo.write(
        "components/broken/component.py",
        &BROKEN.replace("text=\"fine\\n\"", "text=\"changed\\n\""),
    );
    let run = repo.run(options);
    assert_eq!(run.summary().changed, 1, "{:#?}", run.steps());
    assert_eq!(
        std::fs::read_to_string(repo.join("work/broken/ok.txt")).unwrap(),
        "changed\n"
    );
    assert!(!repo.join(".berth/build").exists(), "something was built");
}

#[test]
fn a_syntax_error_names_the_file_and_line() {
    let repo = TestRepo::new();
    repo.write(
        "components/broken/component.py",
        "import berth\n\ndef oops(:\n    pass\n",
    )
    .env("local", "[hosts]\nlocalhost = broken\n");
    let run = repo.deploy("local");
    // A package that cannot describe itself fails its roots, not the run.
    let summary = run.summary();
    assert_eq!(summary.failed, 1, "{summary:#?}");
    let text = &summary.failures[0];
    assert!(text.starts_with("localhost/broken: "), "{text}");
    assert!(
        text.contains("cannot describe `") && text.contains("components/broken/component.py`"),
        "{text}"
    );
    assert!(
        text.contains("SyntaxError")
            && text.contains("File \"components/broken/component.py\", line 3"),
        "{text}"
    );
}

const STEPS: &str = "\
[environment]
connect_method = local
timeout = 60

[hosts]
localhost = py-source, py-steps, wiring-a

[component:wiring-a]
requires = [{\"key\": \"settings\", \"strict\": true, \"type\": \"map\"}]
";

const GRANT: &str = "\n[grants:py-steps]\ncommands = touch\n";

/// A repository with `py-steps` (roots `py-source` and `py-steps`) and the
/// Rust guest `wiring`, whose root `wiring-a` requires `settings` too; its
/// workdir holds two `.tmp` files for the purge and one file to keep.
fn steps(grant: bool) -> TestRepo {
    let repo = TestRepo::new();
    let env = if grant {
        format!("{STEPS}{GRANT}")
    } else {
        STEPS.to_owned()
    };
    repo.python("py-steps", PY_STEPS)
        .component("wiring", WIRING)
        .env("local", &env)
        .write("work/py-steps/a.tmp", "a")
        .write("work/py-steps/b.tmp", "b")
        .write("work/py-steps/keep.txt", "keep");
    repo
}

#[test]
fn a_python_provider_reaches_python_and_rust_requirers_typed() {
    let repo = steps(true);
    let run = repo.deploy("local");
    let summary = run.summary();
    assert_eq!(summary.failed, 0, "{:#?}\n{:#?}", run.steps(), run.logs());
    let order = run
        .events
        .iter()
        .find_map(|e| match e {
            berth_engine::event::Event::Planned { order, .. } => Some(order.clone()),
            _ => None,
        })
        .expect("a plan");
    let position = |root: &str| {
        order
            .iter()
            .position(|o| o.ends_with(&format!("/{root}")))
            .unwrap_or_else(|| panic!("{root} not in {order:?}"))
    };
    assert!(position("py-source") < position("py-steps"), "{order:?}");
    assert!(position("py-source") < position("wiring-a"), "{order:?}");

    let expected = serde_json::json!({
        "port": 5432, "tls": true, "hosts": ["a", "b"], "name": "db", "ratio": 0.5
    });
    let received: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo.workdir("py-steps").join("received.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        received,
        serde_json::json!([{
            "host": "localhost",
            "component": "py-source",
            "value": expected,
            "types": {"hosts": "list", "name": "str", "port": "int", "ratio": "float", "tls": "bool"},
            "provided_type": "Provided",
        }])
    );
    // The Rust guest read the Python value as a typed map.
    let seen: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo.workdir("wiring-a").join("seen.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        seen["required"]["settings"],
        serde_json::json!([{"host": "localhost", "component": "py-source", "value": expected}])
    );
}

#[test]
fn command_symlink_and_purge_from_python_deploy_predict_and_converge() {
    let repo = steps(true);
    let work = repo.workdir("py-steps");

    // Predict on a fresh target: every step would change, nothing does.
    let predicted = repo.predict_unchanged("local");
    let summary = predicted.summary();
    assert_eq!(summary.failed, 0, "{:#?}", predicted.steps());
    for label in ["received", "touch", "release", "current", "purge"] {
        assert!(
            matches!(predicted.step(label), Outcome::WouldChange { .. }),
            "{label}: {:?}",
            predicted.step(label)
        );
    }
    match predicted.step("purge") {
        Outcome::WouldChange { reason, .. } => {
            assert!(reason.contains("2 to remove: a.tmp, b.tmp"), "{reason}")
        }
        other => panic!("{other:?}"),
    }

    let first = repo.deploy("local");
    let summary = first.summary();
    assert_eq!(
        summary.failed,
        0,
        "{:#?}\n{:#?}",
        first.steps(),
        first.logs()
    );
    for label in ["received", "touch", "release", "current", "purge"] {
        assert!(
            matches!(first.step(label), Outcome::Changed { .. }),
            "{label}: {:?}",
            first.step(label)
        );
    }
    assert!(work.join("touched").is_file(), "the granted command ran");
    assert!(work.join("releases/v1").is_dir());
    assert_eq!(
        std::fs::read_link(work.join("current")).unwrap(),
        Path::new("releases/v1")
    );
    assert!(!work.join("a.tmp").exists() && !work.join("b.tmp").exists());
    assert_eq!(
        std::fs::read_to_string(work.join("keep.txt")).unwrap(),
        "keep"
    );

    repo.deploy_converged("local");

    // A new match of the purge is found by predict and removed by deploy.
    repo.write("work/py-steps/c.tmp", "c");
    match repo.predict("local").step("purge") {
        Outcome::WouldChange { reason, .. } => assert!(reason.contains("c.tmp"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(work.join("c.tmp").exists());
    assert_eq!(repo.deploy("local").summary().changed, 1);
    assert!(!work.join("c.tmp").exists());
}

#[test]
fn an_ungranted_command_of_a_python_component_stops_the_deploy_with_the_grant_lines() {
    let repo = steps(false);
    let before = snapshot(repo.path());
    let error = repo.deploy("local").error();
    assert!(error.contains("component `py-steps` needs"), "{error}");
    assert!(error.contains("[grants:py-steps]"), "{error}");
    assert!(error.contains("commands = touch"), "{error}");
    assert_eq!(
        snapshot(repo.path()),
        before,
        "a refused deploy changed files"
    );
}

#[test]
fn python_addresses_resolve_and_the_platform_picks_the_variant() {
    let repo = TestRepo::new();
    repo.python("py-steps", PY_STEPS).env(
        "local",
        "[environment]\nrequire_v6 = optional\n\n\
         [hosts]\nh1 = py-places\n\n\
         [host:h1]\nplatform = debian\n\n\
         [resolver]\ndb.internal = 192.0.2.7, 2001:db8::7\napp.internal = 192.0.2.8\n\n\
         [component:py-places]\nlisten = app.internal:8000\n",
    );
    let run = repo.deploy("local");
    assert_eq!(
        run.summary().failed,
        0,
        "{:#?}\n{:#?}",
        run.summary(),
        run.logs()
    );
    let places: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo.workdir("py-places").join("places.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        places,
        serde_json::json!({
            "listen": {"str": "app.internal:8000", "type": "Address",
                       "listen": "192.0.2.8:8000", "listen_v6": null},
            "db": {"connect": "db.internal:5432", "listen": "192.0.2.7:5432",
                   "ipv4": ["192.0.2.7"], "ipv6": ["2001:db8::7"]},
        })
    );
    let variant = repo.workdir("py-places").join("variant.txt");
    assert_eq!(
        std::fs::read_to_string(&variant).unwrap(),
        "debian variant of py-places\n"
    );
    assert_eq!(repo.deploy("local").summary().changed, 0);

    // `--platform` picks the other variant; a platform without one adds
    // nothing (the file stays as the last deploy left it).
    let mut options = repo.options("local");
    options.platform = Some("alpine".into());
    assert_eq!(repo.run(options).summary().failed, 0);
    assert_eq!(
        std::fs::read_to_string(&variant).unwrap(),
        "alpine variant of py-places\n"
    );
    let mut options = repo.options("local");
    options.platform = Some("nixos".into());
    let run = repo.run(options);
    assert_eq!(run.summary().failed, 0);
    assert!(
        !run.steps()
            .iter()
            .any(|(_, label, _)| label.contains("variant.txt")),
        "{:#?}",
        run.steps()
    );
}

#[test]
fn a_python_component_writes_a_granted_secret_file_0600_and_masked() {
    use std::os::unix::fs::PermissionsExt;
    const KEY: &str = "py-secret-key-0b7e5d21\n";
    let repo = TestRepo::new();
    repo.python("py-steps", PY_STEPS)
        .env(
            "local",
            "[hosts]\nlocalhost = py-secret\n\n[grants:py-secret]\nsecrets = tls.key\n",
        )
        .secret_file("local", "tls.key", KEY.as_bytes());
    let run = repo.deploy("local");
    assert_eq!(run.summary().failed, 0, "{:#?}", run.steps());
    let file = repo.workdir("py-secret").join("tls.key");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), KEY);
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o7777,
        0o600
    );
    for event in &run.events {
        let json = serde_json::to_string(event).unwrap();
        assert!(!json.contains("py-secret-key"), "{json}");
    }
}

/// Writes the wheel `dir/file` (a zip, by Python's `zipfile`) holding
/// `files`, and returns its sha256.
fn wheel(dir: &Path, file: &str, files: &[(&str, &str)]) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(file);
    let listing = serde_json::to_string(files).unwrap();
    let status = std::process::Command::new("python3")
        .args([
            "-I",
            "-c",
            "import json, sys, zipfile\n\
             with zipfile.ZipFile(sys.argv[1], 'w') as z:\n    \
                 for name, text in json.loads(sys.argv[2]):\n        \
                     z.writestr(name, text)\n",
        ])
        .arg(&path)
        .arg(listing)
        .status()
        .unwrap();
    assert!(status.success());
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(std::fs::read(&path).unwrap()))
}

/// The dist-info files of wheel `name` 1.0 with the `tag`.
fn dist_info(name: &str, purelib: bool, tag: &str) -> Vec<(String, String)> {
    let info = format!("{name}-1.0.dist-info");
    vec![
        (
            format!("{info}/METADATA"),
            format!("Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"),
        ),
        (
            format!("{info}/WHEEL"),
            format!(
                "Wheel-Version: 1.0\nGenerator: berth-tests\nRoot-Is-Purelib: {purelib}\nTag: {tag}\n"
            ),
        ),
        (format!("{info}/RECORD"), String::new()),
    ]
}

const USES_DEP: &str = r#"import berth
from berth import Component, File

import tinydep


class UsesDep(Component):
    name = "uses-dep"

    def configure(self):
        # pip is on the build machine, not in the component.
        try:
            import pip  # noqa: F401
            leaked = "pip leaked"
        except ImportError:
            leaked = "nothing leaked"
        self += File("dep.txt", text="{}, {}\n".format(tinydep.greet("berth"), leaked))


berth.export(UsesDep)
"#;

#[test]
fn a_pure_python_dependency_is_fetched_once_bundled_and_imported() {
    let repo = TestRepo::new();
    let mut files = dist_info("tinydep", true, "py3-none-any");
    files.push((
        "tinydep.py".into(),
        "def greet(name):\n    return 'hello ' + name\n".into(),
    ));
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let sha = wheel(&repo.join("wheels"), "tinydep-1.0-py3-none-any.whl", &files);
    repo.write("components/uses-dep/component.py", USES_DEP)
        .write(
            "components/uses-dep/requirements.txt",
            &format!("--no-index\n--find-links ../../wheels\ntinydep==1.0 --hash=sha256:{sha}\n"),
        )
        .env("local", "[hosts]\nlocalhost = uses-dep\n");
    let run = repo.deploy("local");
    assert_eq!(run.summary().failed, 0, "{:#?}", run.logs());
    assert_eq!(
        std::fs::read_to_string(repo.workdir("uses-dep").join("dep.txt")).unwrap(),
        "hello berth, nothing leaked\n"
    );

    // Packaged, it carries the dependency: a repository without the wheel
    // deploys it.
    let packaged = repo.package("uses-dep");
    let contents = berth_build::read_package(&std::fs::read(&packaged.file).unwrap())
        .unwrap()
        .unwrap();
    let paths: Vec<&str> = contents.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "component.py",
            "requirements.txt",
            "site-packages/tinydep.py"
        ]
    );
    let consumer = TestRepo::new();
    consumer
        .write("packages.cfg", "[packages]\nfind-links = packages/\n")
        .env("local", "[hosts]\nlocalhost = uses-dep\n");
    std::fs::create_dir_all(consumer.join("packages")).unwrap();
    std::fs::copy(
        &packaged.file,
        consumer
            .join("packages")
            .join(packaged.file.file_name().unwrap()),
    )
    .unwrap();
    consumer.lock().unwrap();
    let run = consumer.deploy("local");
    assert_eq!(run.summary().failed, 0, "{:#?}", run.logs());
    assert_eq!(
        std::fs::read_to_string(consumer.workdir("uses-dep").join("dep.txt")).unwrap(),
        "hello berth, nothing leaked\n"
    );

    // A wrong hash is pip's refusal, shown with pip's words.
    repo.write(
        "components/uses-dep/requirements.txt",
        &format!(
            "--no-index\n--find-links ../../wheels\ntinydep==1.0 --hash=sha256:{}\n",
            "0".repeat(64)
        ),
    );
    let error = repo.deploy("local").error();
    assert!(
        error.contains("THESE PACKAGES DO NOT MATCH THE HASHES"),
        "{error}"
    );
}

#[test]
fn a_wheel_with_native_code_is_refused_saying_why() {
    let repo = TestRepo::new();
    let mut files = dist_info("nativedep", false, "py3-none-linux_x86_64");
    files.push(("nativedep/__init__.py".into(), String::new()));
    files.push(("nativedep/_speed.so".into(), "\x7fELF".into()));
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let sha = wheel(
        &repo.join("wheels"),
        "nativedep-1.0-py3-none-linux_x86_64.whl",
        &files,
    );
    repo.write(
        "components/native/component.py",
        &USES_DEP.replace("tinydep", "nativedep"),
    )
    .write(
        "components/native/requirements.txt",
        &format!("--no-index\n--find-links ../../wheels\nnativedep==1.0 --hash=sha256:{sha}\n"),
    )
    .env("local", "[hosts]\nlocalhost = uses-dep\n");
    let error = repo.deploy("local").error();
    for part in [
        "requirements.txt` lists `nativedep-1.0-py3-none-linux_x86_64.whl`, a wheel with native code (built for ABI `none`, platform `linux_x86_64`)",
        "loads pure-Python code only",
        "`py3-none-any`",
    ] {
        assert!(error.contains(part), "no `{part}` in: {error}");
    }
}
