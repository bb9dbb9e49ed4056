//! The `berth` binary, run as a user runs it: files in a temporary
//! repository, arguments, expected output and exit status.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "cli/limits.rs"]
mod limits;

use berth_tests::{CHECKSUMS, HELLO, MOTD, SECRETIVE, SPIN, TestRepo};
use std::process::{Command, Output};

fn berth(repo: &TestRepo, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .current_dir(repo.path())
        .env("BERTH_CACHE_DIR", berth_tests::cache_dir())
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The standard output of a run that must have exited 0; the failure
/// message shows both outputs.
fn succeeded(run: &Output) -> String {
    let out = text(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{out}\n{}", text(&run.stderr));
    out
}

fn examples() -> TestRepo {
    let repo = TestRepo::new();
    repo.example("hello", HELLO)
        .example("motd", MOTD)
        .example("checksums", CHECKSUMS)
        .env(
            "local",
            "[hosts]\nlocalhost = hello, motd, checksums\n\n[grants:checksums]\ncommands = sha256sum\n",
        );
    repo
}

#[test]
fn deploy_then_a_converged_run_reports_zero_changed() {
    let repo = examples();
    let first = berth(&repo, &["deploy", "local"]);
    let out = text(&first.stdout);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{out}\n{}",
        text(&first.stderr)
    );
    assert!(out.starts_with("deploying local (1 host)\n"), "{out}");
    assert!(
        out.contains("  localhost/motd\n    changed message of the day (new file)"),
        "{out}"
    );
    assert!(out.contains("+++ "), "a new file shows its diff: {out}");
    assert!(out.contains("\ndeployed local: "), "{out}");

    let second = berth(&repo, &["deploy", "local"]);
    let out = text(&second.stdout);
    assert_eq!(second.status.code(), Some(0));
    assert!(out.contains("deployed local: 0 changed, "), "{out}");
    assert!(!out.contains("changed message"), "{out}");
}

#[test]
fn predict_prints_would_change_and_changes_nothing() {
    let repo = examples();
    let run = berth(&repo, &["deploy", "local", "--predict"]);
    let out = succeeded(&run);
    assert!(out.starts_with("predicting local"), "{out}");
    assert!(out.contains("would change message of the day"), "{out}");
    assert!(out.contains("would change"), "{out}");
    assert!(!repo.join("work").exists());
}

#[test]
fn json_output_is_one_object_per_line_and_ends_with_the_summary() {
    let repo = examples();
    let run = berth(&repo, &["deploy", "local", "--format", "json"]);
    succeeded(&run);
    let events: Vec<serde_json::Value> = text(&run.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(events[0]["event"], "started");
    let step = events
        .iter()
        .find(|e| e["event"] == "step" && e["label"] == "message of the day")
        .unwrap();
    assert_eq!(step["status"], "changed");
    assert_eq!(step["host"], "localhost");
    assert_eq!(step["component"], "motd");
    assert!(step["diff"].as_str().unwrap().contains("+Welcome"));
    let summary = events.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["failed"], 0);
    assert_eq!(summary["unchanged"], 0);
    let changed = events
        .iter()
        .filter(|e| e["event"] == "step" && e["status"] == "changed")
        .count();
    assert_eq!(summary["changed"], changed);
}

#[test]
fn a_failed_component_makes_the_run_exit_non_zero_and_is_named() {
    let repo = TestRepo::new();
    repo.component("spin", SPIN).example("hello", HELLO).env(
        "local",
        "[environment]\ntimeout = 0.5\n\n[hosts]\nlocalhost = spin, hello\n",
    );
    let run = berth(&repo, &["deploy", "local"]);
    let out = text(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{out}");
    assert!(out.contains("failures:\n  localhost/spin: component `spin` did not finish configure within its deadline"), "{out}");
    assert!(out.contains("FAILED local: "), "{out}");
    assert!(out.contains(" 1 failed"), "{out}");

    let json = berth(&repo, &["deploy", "local", "--format", "json"]);
    assert_eq!(json.status.code(), Some(1));
    let last: serde_json::Value =
        serde_json::from_str(text(&json.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "summary");
    assert_eq!(last["failed"], 1);
}

#[test]
fn a_bad_environment_exits_2_naming_file_and_line() {
    let repo = examples();
    repo.env("local", "[environment]\ntimout = 5\n");
    let run = berth(&repo, &["deploy", "local"]);
    let err = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with("error: environments/local/environment.cfg:2: "),
        "{err}"
    );
    assert!(err.contains("`timout`"), "{err}");
    assert!(err.contains("did you mean `timeout`?"), "{err}");

    let json = berth(&repo, &["deploy", "local", "--format", "json"]);
    assert_eq!(json.status.code(), Some(2));
    let line: serde_json::Value = serde_json::from_str(text(&json.stdout).trim()).unwrap();
    assert_eq!(line["event"], "error");
    assert!(line["message"].as_str().unwrap().contains("timout"));
}

#[test]
fn an_unknown_environment_suggests_the_close_one() {
    let repo = examples();
    let run = berth(&repo, &["deploy", "locl"]);
    let err = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2));
    assert!(err.contains("`locl`"), "{err}");
    assert!(err.contains("`local`"), "{err}");
}

#[test]
fn inspect_shows_name_version_attributes_and_needs() {
    let repo = TestRepo::new();
    let run = berth(&repo, &["inspect", CHECKSUMS]);
    let out = succeeded(&run);
    assert!(out.starts_with("checksums 0.1.0\n"), "{out}");
    assert!(out.contains("  api version  0.1.0\n"), "{out}");
    assert!(out.contains("    files: map = {"), "{out}");
    assert!(out.contains("    command sha256sum\n"), "{out}");

    let json = berth(&repo, &["inspect", MOTD, "--format", "json"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["name"], "motd");
    assert_eq!(value["api_version"], "0.1.0");
    let attrs = value["roots"][0]["attributes"].as_array().unwrap();
    let port = attrs.iter().find(|a| a["name"] == "port").unwrap();
    assert_eq!(port["type"], "int");
    assert_eq!(port["default"], 8080);
}

#[test]
fn inspect_refuses_a_file_that_is_not_a_component() {
    let repo = TestRepo::new();
    repo.write("x.wasm", "not wasm");
    let run = berth(&repo, &["inspect", "x.wasm"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(text(&run.stderr).contains("`x.wasm` is not a valid component"));
}

#[test]
fn help_lists_the_commands() {
    let repo = TestRepo::new();
    let run = berth(&repo, &["--help"]);
    let out = text(&run.stdout);
    for command in ["deploy", "build", "inspect", "package", "lock"] {
        assert!(out.contains(command), "{out}");
    }
}

#[test]
fn outside_a_repository_the_error_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["deploy", "local"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(text(&run.stderr).contains("pass `--repo DIR`"));
}

#[test]
fn berth_finds_the_repository_from_a_subfolder() {
    let repo = examples();
    let run = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["deploy", "local"])
        .current_dir(repo.join("environments/local"))
        .env("BERTH_CACHE_DIR", berth_tests::cache_dir())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    succeeded(&run);
    assert!(repo.workdir("motd").join("motd").exists());

    let again = berth(&repo, &["deploy", "local"]);
    let out = text(&again.stdout);
    assert!(out.contains("  localhost/motd up to date\n"), "{out}");
}

/// The examples with an override of `greeting` on line 7 and a feature.
fn examples_with_overrides() -> TestRepo {
    let repo = TestRepo::new();
    repo.example("hello", HELLO)
        .example("motd", MOTD)
        .example("checksums", CHECKSUMS)
        .env(
            "local",
            "[hosts]\nlocalhost = hello, motd:fancy, checksums\n\n[host:localhost]\ndata-role = workstation\n\n[component:motd]\ngreeting = Good morning\n\n[grants:checksums]\ncommands = sha256sum\n",
        );
    repo
}

#[test]
fn check_prints_the_order_and_changes_nothing() {
    let repo = examples();
    let before = berth_tests::snapshot(repo.path());
    let run = berth(&repo, &["check", "local"]);
    let out = succeeded(&run);
    assert!(
        out.starts_with("checking local (1 host, 3 components)\n"),
        "{out}"
    );
    assert!(
        out.contains(
            "deploy order:\n  1. localhost/hello\n  2. localhost/motd\n  3. localhost/checksums\n"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "\nchecked local: 3 components on 1 host configured in 1 round; nothing was changed\n"
        ),
        "{out}"
    );
    assert!(!repo.join("work").exists(), "check created a workdir");
    assert_eq!(berth_tests::snapshot(repo.path()), before);

    let json = berth(&repo, &["check", "local", "--format", "json"]);
    assert_eq!(json.status.code(), Some(0));
    let events: Vec<serde_json::Value> = text(&json.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(events.iter().any(|e| e["event"] == "loaded"));
    assert!(events.iter().any(|e| e["event"] == "planned"));
    let last = events.last().unwrap();
    assert_eq!(last["event"], "checked");
    assert_eq!(last["ok"], true);
    assert_eq!(
        last["order"],
        serde_json::json!(["localhost/hello", "localhost/motd", "localhost/checksums"])
    );
    assert_eq!(last["failures"], serde_json::json!([]));
}

#[test]
fn check_reports_every_problem_with_file_and_line_and_exits_2() {
    let repo = examples();
    repo.env(
        "local",
        "[hosts]\nlocalhost = hello, motd, checksums\n\n[component:motd]\ngreting = Hi\nport = many\n",
    );
    let run = berth(&repo, &["check", "local"]);
    let err = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with("error: the environment has 3 problems; nothing was changed"),
        "{err}"
    );
    assert!(
        err.contains("environments/local/environment.cfg:5: component `motd` has no attribute `greting`\n  did you mean `greeting`?"),
        "{err}"
    );
    assert!(
        err.contains("environments/local/environment.cfg:6: attribute `port` of component `motd` is declared int: expected an integer"),
        "{err}"
    );
    assert!(err.contains("[grants:checksums]"), "{err}");
    assert!(!repo.join("work").exists());

    let json = berth(&repo, &["check", "local", "--format", "json"]);
    assert_eq!(json.status.code(), Some(2));
    let last: serde_json::Value =
        serde_json::from_str(text(&json.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "error");
    assert!(last["message"].as_str().unwrap().contains("`greting`"));
}

#[test]
fn check_fails_when_a_component_fails_in_configure() {
    let repo = TestRepo::new();
    repo.component("probe", berth_tests::PROBE)
        .example("hello", HELLO)
        .env(
            "local",
            "[hosts]\nlocalhost = hello, probe\n\n[component:probe]\nprobes = [{\"op\": \"bogus\"}]\n",
        );
    let run = berth(&repo, &["check", "local"]);
    let out = text(&run.stdout);
    assert_eq!(run.status.code(), Some(2), "{out}\n{}", text(&run.stderr));
    assert!(
        out.contains("  localhost/probe failed in configure\n    "),
        "{out}"
    );
    assert!(out.contains("probe 0 of attribute `probes`"), "{out}");
    assert!(out.contains("bogus"), "{out}");
    assert!(
        out.contains("\nFAILED local does not check: 1 of 2 components failed in configure; nothing was changed\n"),
        "{out}"
    );
    assert!(!repo.join("work").exists());

    let json = berth(&repo, &["check", "local", "--format", "json"]);
    assert_eq!(json.status.code(), Some(2));
    let last: serde_json::Value =
        serde_json::from_str(text(&json.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "checked");
    assert_eq!(last["ok"], false);
    let failures = last["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1);
    assert!(
        failures[0]
            .as_str()
            .unwrap()
            .starts_with("localhost/probe: "),
        "{failures:?}"
    );
}

#[test]
fn show_prints_each_value_with_where_it_came_from() {
    let repo = examples_with_overrides();
    let run = berth(&repo, &["show", "local"]);
    let out = succeeded(&run);
    assert!(
        out.starts_with("environment local (environments/local/environment.cfg)\n"),
        "{out}"
    );
    assert!(
        out.contains("\nhost localhost\n  fqdn          localhost\n"),
        "{out}"
    );
    assert!(out.contains("  data-role = workstation\n"), "{out}");
    let greeting = out
        .lines()
        .find(|l| l.trim_start().starts_with("greeting = \"Good morning\""))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        greeting.ends_with("(environments/local/environment.cfg:8)"),
        "{greeting}"
    );
    let port = out
        .lines()
        .find(|l| l.trim_start().starts_with("port = 8080"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(port.ends_with("(default)"), "{port}");
    assert!(out.contains("    features: fancy\n"), "{out}");
    assert!(
        out.contains("    grants:\n      command sha256sum\n"),
        "{out}"
    );
    assert!(
        out.contains(
            "\ndeploy order\n  1. localhost/hello\n  2. localhost/motd\n  3. localhost/checksums\n"
        ),
        "{out}"
    );
    assert!(out.contains("\nprovide/require\n  (none)\n"), "{out}");
    assert!(!repo.join("work").exists());
}

#[test]
fn show_filters_by_component_and_host() {
    let repo = examples_with_overrides();
    let run = berth(&repo, &["show", "local", "--component", "motd"]);
    let out = succeeded(&run);
    assert!(out.contains("  component motd\n"), "{out}");
    assert!(!out.contains("component hello"), "{out}");
    assert!(!out.contains("component checksums"), "{out}");
    assert!(
        out.contains("\ndeploy order\n  1. localhost/motd\n\n"),
        "{out}"
    );

    let run = berth(
        &repo,
        &[
            "show",
            "local",
            "--host",
            "localhost",
            "--component",
            "hello",
        ],
    );
    let out = succeeded(&run);
    assert!(out.contains("  component hello\n"), "{out}");
    assert!(!out.contains("component motd"), "{out}");
}

#[test]
fn show_json_is_one_object_with_sources() {
    let repo = examples_with_overrides();
    let run = berth(&repo, &["show", "local", "--format", "json"]);
    succeeded(&run);
    let view: serde_json::Value = serde_json::from_slice(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&run.stdout)));
    assert_eq!(view["environment"], "local");
    assert_eq!(view["hosts"][0]["name"], "localhost");
    assert_eq!(view["hosts"][0]["data"]["role"], "workstation");
    assert_eq!(
        view["order"],
        serde_json::json!(["localhost/hello", "localhost/motd", "localhost/checksums"])
    );
    let motd = view["roots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["component"] == "motd")
        .unwrap();
    assert_eq!(motd["host"], "localhost");
    assert_eq!(motd["features"], serde_json::json!(["fancy"]));
    let attr = |name: &str| {
        motd["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(attr("greeting")["value"], "Good morning");
    assert_eq!(
        attr("greeting")["source"],
        "environments/local/environment.cfg:8"
    );
    assert_eq!(attr("port")["value"], 8080);
    assert_eq!(attr("port")["source"], "default");
    assert_eq!(view["edges"], serde_json::json!([]));
}

#[test]
fn show_refuses_an_unknown_host_or_component_with_a_suggestion() {
    let repo = examples();
    let run = berth(&repo, &["show", "local", "--host", "localhots"]);
    let err = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(
        err.contains("environment `local` has no host `localhots`"),
        "{err}"
    );
    assert!(err.contains("did you mean `localhost`?"), "{err}");
    assert!(text(&run.stdout).is_empty());

    let run = berth(&repo, &["show", "local", "--component", "mtod"]);
    let err = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(
        err.contains("environment `local` deploys no component `mtod`"),
        "{err}"
    );
    assert!(err.contains("did you mean `motd`?"), "{err}");

    let json = berth(
        &repo,
        &["show", "local", "--component", "mtod", "--format", "json"],
    );
    assert_eq!(json.status.code(), Some(2));
    let line: serde_json::Value = serde_json::from_str(text(&json.stdout).trim()).unwrap();
    assert_eq!(line["event"], "error");
}

#[test]
fn show_lists_provided_values_and_provide_require_edges() {
    let repo = TestRepo::new();
    repo.component("calls", berth_tests::CALLS)
        .example("hello", HELLO)
        .env("local", "[hosts]\nlocalhost = hello, calls\n");
    let run = berth(&repo, &["show", "local"]);
    let out = succeeded(&run);
    assert!(
        out.contains("    provides calls-value = {\"answer\":42,\"from\":\"localhost\"}\n"),
        "{out}"
    );
    assert!(
        out.contains(
            "\nprovide/require\n  localhost/calls → localhost/calls: calls-value (strict)\n"
        ),
        "{out}"
    );

    let json = berth(&repo, &["show", "local", "--format", "json"]);
    let view: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        view["edges"],
        serde_json::json!([{
            "key": "calls-value",
            "provider": "localhost/calls",
            "requirer": "localhost/calls",
            "strict": true,
            "same_host": false,
            "reverse": false,
            "dirty": false,
        }])
    );
    let check = berth(&repo, &["check", "local"]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));
    assert!(
        text(&check.stdout).contains("configured in 2 rounds"),
        "{}",
        text(&check.stdout)
    );
}

/// The value after `label` on the line of `out` that starts with it.
fn field<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .unwrap_or_else(|| panic!("no `{label}` line in:\n{out}"))
        .trim()
}

fn sha256_of(path: &std::path::Path) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

#[test]
fn package_writes_dist_and_inspect_shows_its_metadata() {
    let repo = TestRepo::new();
    repo.example("hello", HELLO);
    let run = berth(&repo, &["package", "hello"]);
    let out = succeeded(&run);
    let file = repo.join("dist/hello-0.1.0.wasm");
    assert!(
        out.starts_with("packaged hello 0.1.0\n  file    dist/hello-0.1.0.wasm\n"),
        "{out}"
    );
    assert_eq!(
        field(&out, "size"),
        format!("{} bytes", std::fs::metadata(&file).unwrap().len())
    );
    assert_eq!(field(&out, "sha256"), sha256_of(&file));
    assert_eq!(field(&out, "files"), "README.md, banner.txt");

    let run = berth(&repo, &["inspect", "dist/hello-0.1.0.wasm"]);
    let out = succeeded(&run);
    assert!(
        out.contains("  package      hello 0.1.0 (API 0.1.0), packaged by berth 0.1.0\n"),
        "{out}"
    );
    let digest = berth_build::source_digest(&repo.join("components/hello")).unwrap();
    assert!(
        out.contains(&format!(
            "  source       {digest} (sha256 of its folder's files)\n"
        )),
        "{out}"
    );
    assert!(
        out.contains("  files        2\n    README.md (")
            && out.contains("    banner.txt (204 bytes)\n"),
        "{out}"
    );
    assert!(
        out.contains("component hello\n"),
        "describe() still shows: {out}"
    );
    assert!(!out.contains("warning"), "{out}");

    let json = berth(
        &repo,
        &["inspect", "dist/hello-0.1.0.wasm", "--format", "json"],
    );
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let package = &value["package"];
    assert_eq!(package["metadata"]["name"], "hello");
    assert_eq!(package["metadata"]["source_digest"], digest.as_str());
    assert_eq!(package["metadata"]["roots"], value["roots"]);
    assert_eq!(package["files"][1]["path"], "banner.txt");
    assert_eq!(package["matches_describe"], true);

    let plain = berth(&repo, &["inspect", "components/hello/hello.wasm"]);
    let out = text(&plain.stdout);
    assert_eq!(plain.status.code(), Some(0));
    assert!(
        out.contains("  package      not a package (no `berth:package` section)\n"),
        "{out}"
    );
    assert!(out.contains("component hello\n"), "{out}");

    let out_dir = berth(&repo, &["package", "hello", "--out", "elsewhere"]);
    assert_eq!(out_dir.status.code(), Some(0), "{}", text(&out_dir.stderr));
    assert_eq!(
        std::fs::read(repo.join("elsewhere/hello-0.1.0.wasm")).unwrap(),
        std::fs::read(&file).unwrap(),
        "packaging is reproducible"
    );

    let unknown = berth(&repo, &["package", "helo"]);
    assert_eq!(unknown.status.code(), Some(2));
    let err = text(&unknown.stderr);
    assert!(
        err.contains("no package `helo` in `components/`") && err.contains("did you mean `hello`?"),
        "{err}"
    );
}

/// The whole pinned-package flow, as an operator runs it: package in one
/// repository, drop the file into another's package folder, pin, deploy;
/// then a changed byte makes the deploy refuse, naming both hashes, and
/// change nothing.
#[test]
fn a_pinned_package_deploys_and_a_tampered_one_is_refused() {
    let author = TestRepo::new();
    author.example("hello", HELLO);
    let run = berth(&author, &["package", "hello"]);
    succeeded(&run);
    let packaged = author.join("dist/hello-0.1.0.wasm");

    let repo = TestRepo::new();
    repo.write("packages.cfg", "[packages]\nfind-links = packages/\n")
        .env("local", "[hosts]\nlocalhost = hello\n");
    std::fs::create_dir_all(repo.join("packages")).unwrap();
    let file = repo.join("packages/hello-0.1.0.wasm");
    std::fs::copy(&packaged, &file).unwrap();
    let pinned = sha256_of(&file);

    let unpinned = berth(&repo, &["deploy", "local"]);
    assert_eq!(unpinned.status.code(), Some(2));
    assert!(
        text(&unpinned.stderr).contains(
            "error: package `hello` (`packages/hello-0.1.0.wasm`) is not pinned in `packages.lock`"
        ),
        "{}",
        text(&unpinned.stderr)
    );

    let lock = berth(&repo, &["lock"]);
    let out = text(&lock.stdout);
    assert_eq!(lock.status.code(), Some(0), "{}", text(&lock.stderr));
    assert_eq!(
        out,
        format!(
            "added    hello 0.1.0  packages/hello-0.1.0.wasm  sha256 {pinned}\npackages.lock: 1 added, 0 changed, 0 removed, 0 unchanged\n"
        )
    );

    let deploy = berth(&repo, &["deploy", "local"]);
    assert_eq!(
        deploy.status.code(),
        Some(0),
        "{}{}",
        text(&deploy.stdout),
        text(&deploy.stderr)
    );
    let banner = repo.workdir("hello").join("hello/banner.txt");
    assert_eq!(
        std::fs::read(&banner).unwrap(),
        std::fs::read(author.join("components/hello/banner.txt")).unwrap()
    );
    assert!(repo.workdir("hello").join("hello/hello.txt").is_file());

    // Flip one bit of the packaged file, and give the deploy something to
    // do if it ran.
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&file, &bytes).unwrap();
    let actual = sha256_of(&file);
    std::fs::remove_file(&banner).unwrap();
    let before = berth_tests::snapshot(&repo.join("work"));

    let refused = berth(&repo, &["deploy", "local"]);
    let err = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert_eq!(
        err,
        format!(
            "error: `packages/hello-0.1.0.wasm` (package `hello`) does not have the sha256 pinned in `packages.lock`, so it was not loaded\n  pinned  {pinned}\n  actual  {actual}\n  hint: if this change is intended, run `berth lock`\n"
        )
    );
    assert_eq!(berth_tests::snapshot(&repo.join("work")), before);
    assert!(!banner.exists());
}

/// The README's `berth lock` sample is what `berth lock` prints, but for
/// the sha256, which the README shortens.
#[test]
fn the_readme_shows_what_berth_lock_prints() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let section = &readme[readme.find("### Share a component as a package").unwrap()..];
    let sample = section
        .split("```console\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap();
    assert!(section.contains("`berth package hello` writes `dist/hello-0.1.0.wasm`"));

    let author = TestRepo::new();
    author.example("hello", HELLO);
    assert_eq!(berth(&author, &["package", "hello"]).status.code(), Some(0));
    let repo = TestRepo::new();
    repo.write("packages.cfg", "[packages]\nfind-links = packages/\n");
    std::fs::create_dir_all(repo.join("packages")).unwrap();
    std::fs::copy(
        author.join("dist/hello-0.1.0.wasm"),
        repo.join("packages/hello-0.1.0.wasm"),
    )
    .unwrap();
    let out = text(&berth(&repo, &["lock"]).stdout);
    let expected: Vec<&str> = sample.lines().skip(1).collect();
    let actual: Vec<&str> = out.lines().collect();
    assert_eq!(sample.lines().next(), Some("$ berth lock"));
    assert_eq!(expected.len(), actual.len(), "{out}");
    for (e, a) in expected.iter().zip(&actual) {
        match e.split_once("sha256 ") {
            Some((head, _)) => assert!(a.starts_with(&format!("{head}sha256 ")), "{a}"),
            None => assert_eq!(e, a),
        }
    }
}

#[test]
fn secrets_decrypt_with_identity_or_variable_and_show_masks_them() {
    let repo = examples();
    repo.secrets("local", "[component:motd]\ngreeting = Open sesame\n");
    let shown = |run: &Output| {
        let out = succeeded(run);
        assert!(out.contains("greeting = \"********\"  (secrets)"), "{out}");
        assert!(!out.contains("sesame"), "{out}");
    };
    shown(&berth(
        &repo,
        &["show", "local", "--identity", berth_tests::TEST_IDENTITY],
    ));
    let run = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["show", "local", "--component", "motd"])
        .current_dir(repo.path())
        .env("BERTH_CACHE_DIR", berth_tests::cache_dir())
        .env("BERTH_AGE_IDENTITY", berth_tests::TEST_IDENTITY)
        .output()
        .unwrap();
    shown(&run);
    let json = berth(
        &repo,
        &[
            "show",
            "local",
            "--format",
            "json",
            "--identity",
            berth_tests::TEST_IDENTITY,
        ],
    );
    let json = text(&json.stdout);
    assert!(
        json.contains(r#"{"name":"greeting","value":"********","source":"secrets"}"#),
        "{json}"
    );
    let check = berth(
        &repo,
        &["check", "local", "--identity", berth_tests::TEST_IDENTITY],
    );
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
}

#[test]
fn secrets_without_an_identity_exit_2_saying_where_berth_looked() {
    let repo = examples();
    repo.secrets("local", "[component:motd]\ngreeting = Open sesame\n");
    let home = repo.join("home");
    let run = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["deploy", "local"])
        .current_dir(repo.path())
        .env("BERTH_CACHE_DIR", berth_tests::cache_dir())
        .env_remove("BERTH_AGE_IDENTITY")
        .env_remove("XDG_CONFIG_HOME")
        .env("HOME", &home)
        .output()
        .unwrap();
    let err = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(
        err.contains("environments/local/secrets.cfg.age: no age identity to decrypt it"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "`{}` does not exist",
            home.join(".config/berth/age/keys.txt").display()
        )),
        "{err}"
    );
    assert!(err.contains("pass `--identity FILE`"), "{err}");
    assert!(!repo.join("work").exists());
}

/// An `$EDITOR` that runs `script` on the file it is given.
fn editor(repo: &TestRepo, script: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = repo.join("editor.sh");
    std::fs::write(&path, format!("#!/bin/sh\nset -e\n{script}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn edit(repo: &TestRepo, editor: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args([
            "secrets",
            "edit",
            "local",
            "--identity",
            berth_tests::TEST_IDENTITY,
        ])
        .current_dir(repo.path())
        .env_remove("VISUAL")
        .env("EDITOR", editor)
        .output()
        .unwrap()
}

fn decrypted(repo: &TestRepo) -> String {
    let env = berth_secrets::load(
        repo.path(),
        "local",
        &berth_secrets::IdentitySources::only(vec![berth_tests::TEST_IDENTITY.into()]),
    )
    .unwrap();
    let secrets = env.secrets.expect("a secrets file");
    format!(
        "{:?}",
        secrets.components["motd"].attributes["greeting"].value
    )
}

#[test]
fn secrets_edit_reencrypts_to_the_listed_recipients() {
    let repo = examples();
    let recipients =
        berth_secrets::recipients(std::path::Path::new(berth_tests::TEST_IDENTITY)).unwrap();
    repo.write(
        "environments/local/secrets.recipients",
        &format!("# ops\n{}\n", recipients.join("\n")),
    );
    // No secrets yet: the editor starts from a template.
    let add = editor(
        &repo,
        "grep -q 'component:NAME' \"$1\"\nprintf '[component:motd]\\ngreeting = Psst\\n' >> \"$1\"",
    );
    let run = edit(&repo, &add);
    succeeded(&run);
    assert!(
        text(&run.stderr).contains("to 1 recipient"),
        "{}",
        text(&run.stderr)
    );
    assert_eq!(decrypted(&repo), "\"Psst\"");
    let sealed = repo.join("environments/local/secrets.cfg.age");
    assert!(
        !std::fs::read_to_string(&sealed)
            .unwrap_or_default()
            .contains("Psst")
    );

    let change = editor(&repo, "sed -i 's/Psst/Hush/' \"$1\"");
    assert_eq!(edit(&repo, &change).status.code(), Some(0));
    assert_eq!(decrypted(&repo), "\"Hush\"");

    // An unchanged text, a text that does not check and a failing editor
    // leave the file as it was.
    let before = std::fs::read(&sealed).unwrap();
    let run = edit(&repo, &editor(&repo, "true"));
    succeeded(&run);
    assert!(
        text(&run.stderr).contains("is unchanged"),
        "{}",
        text(&run.stderr)
    );
    let run = edit(&repo, &editor(&repo, "printf '[hosts]\\n' >> \"$1\""));
    let err = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(err.contains("`[hosts]` is not allowed in secrets"), "{err}");
    assert!(err.contains("the secrets file is unchanged"), "{err}");
    let run = edit(&repo, &editor(&repo, "exit 3"));
    assert_eq!(run.status.code(), Some(2));
    assert_eq!(std::fs::read(&sealed).unwrap(), before);
}

#[test]
fn secrets_edit_needs_a_recipients_list() {
    let repo = examples();
    let run = edit(&repo, &editor(&repo, "true"));
    let err = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(
        err.contains("environments/local/secrets.recipients: cannot read the recipients"),
        "{err}"
    );
    assert!(err.contains("age-keygen -y"), "{err}");
    assert!(!repo.join("environments/local/secrets.cfg.age").exists());
}

/// A fresh deployment repository: nothing but `environments/x/environment.cfg`.
fn fresh_repository() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("environments/x")).unwrap();
    std::fs::write(
        dir.path().join("environments/x/environment.cfg"),
        "[environment]\nconnect_method = local\ntimeout = 60\n",
    )
    .unwrap();
    dir
}

fn berth_in(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .current_dir(dir)
        .env("BERTH_CACHE_DIR", berth_tests::cache_dir())
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// Assigns `component` to `localhost` in environment `x`, with `extra` lines.
fn assign(dir: &std::path::Path, component: &str, extra: &str) {
    std::fs::write(
        dir.join("environments/x/environment.cfg"),
        format!("[environment]\nconnect_method = local\ntimeout = 60\n\n[hosts]\nlocalhost = {component}\n{extra}"),
    )
    .unwrap();
}

/// The attribute rows of a scaffolded README: `(name, type, default)`.
fn readme_attributes(readme: &str) -> Vec<(String, String, serde_json::Value)> {
    readme
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l
                .split(" | ")
                .map(|c| c.trim_matches(['|', ' ', '`']))
                .collect();
            (
                cells[0].to_owned(),
                cells[1].to_owned(),
                serde_json::from_str(cells[2]).unwrap(),
            )
        })
        .collect()
}

/// `berth inspect` of `wasm` agrees with the README in `dir`: the same
/// attributes (name, type, default) and no needs, as the README says.
fn inspect_agrees_with_the_readme(dir: &std::path::Path, wasm: &str, readme: &str) {
    let run = berth_in(dir, &["inspect", wasm, "--format", "json"]);
    succeeded(&run);
    let value: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let root = &value["roots"][0];
    let declared: Vec<(String, String, serde_json::Value)> = root["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_owned(),
                a["type"].as_str().unwrap().to_owned(),
                a["default"].clone(),
            )
        })
        .collect();
    assert_eq!(readme_attributes(readme), declared, "{readme}");
    assert_eq!(root["needs"]["paths"], serde_json::json!([]));
    assert_eq!(root["needs"]["commands"], serde_json::json!([]));
    assert!(readme.contains("it needs no\n`[grants:"), "{readme}");
    assert!(readme.contains(root["doc"].as_str().unwrap()), "{readme}");
}

/// Deploys `x` twice: the first writes `work/NAME/NAME.conf`, the second
/// changes nothing; then an override changes the file.
fn deploys_and_converges(dir: &std::path::Path, name: &str) {
    let first = berth_in(dir, &["deploy", "x"]);
    let out = text(&first.stdout);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{out}\n{}",
        text(&first.stderr)
    );
    let conf = std::fs::read_to_string(dir.join(format!("work/{name}/{name}.conf"))).unwrap();
    assert_eq!(
        conf,
        format!(
            "# {name} on localhost, environment x.\n# Written by berth from {name}.conf.j2: edits here are overwritten.\naddress = 127.0.0.1\nport = 8080\n"
        )
    );
    let before = berth_tests::snapshot(&dir.join("work"));
    let second = berth_in(dir, &["deploy", "x"]);
    let out = text(&second.stdout);
    assert_eq!(second.status.code(), Some(0), "{out}");
    assert!(
        out.contains("deployed x: 0 changed, 1 unchanged, 0 failed"),
        "{out}"
    );
    assert_eq!(berth_tests::snapshot(&dir.join("work")), before);

    assign(dir, name, &format!("\n[component:{name}]\nport = 0\n"));
    let refused = berth_in(dir, &["deploy", "x"]);
    let out = text(&refused.stdout);
    assert_eq!(refused.status.code(), Some(1), "{out}");
    assert!(out.contains("must be between 1 and 65535, not 0"), "{out}");

    assign(dir, name, &format!("\n[component:{name}]\nport = 9000\n"));
    let changed = berth_in(dir, &["deploy", "x"]);
    assert_eq!(changed.status.code(), Some(0), "{}", text(&changed.stdout));
    let conf = std::fs::read_to_string(dir.join(format!("work/{name}/{name}.conf"))).unwrap();
    assert!(conf.ends_with("port = 9000\n"), "{conf}");
}

/// Runs `berth new component NAME --lang LANG` in `dir`; its output.
fn scaffold(dir: &std::path::Path, name: &str, lang: &str) -> String {
    succeeded(&berth_in(dir, &["new", "component", name, "--lang", lang]))
}

#[test]
fn new_rust_component_builds_deploys_and_converges() {
    let dir = fresh_repository();
    let out = scaffold(dir.path(), "web-app", "rust");
    assert_eq!(
        out,
        "created the Rust component `web-app` in components/web-app/\n  \
         components/web-app/Cargo.toml\n  components/web-app/src/lib.rs\n  \
         components/web-app/web-app.conf.j2\n  components/web-app/README.md\n  \
         components/Cargo.toml (the cargo workspace of the Rust components)\n  \
         vendor/berth/: berth's Rust SDK, which `berth-sdk` points at (commit it with the component)\n\
         \nnext steps:\n  1. assign it to a host in `environments/x/environment.cfg`:\n       \
         [hosts]\n       localhost = web-app\n     (or append `, web-app` to a host's line)\n  \
         2. optionally set its attributes in `[component:web-app]`: address (string, default \"127.0.0.1\"), port (int, default 8080)\n  \
         3. berth deploy x\n"
    );
    assert!(
        dir.path()
            .join("vendor/berth/sdk/rust/src/lib.rs")
            .is_file()
    );

    // Build as `berth build` does, but in the target folder the test guests
    // are built in: a fresh one compiles the standard library for wasm32
    // (minutes on two cores); the SDK and the component still compile here.
    let toolchain = berth_build::detect().unwrap();
    let start = std::time::Instant::now();
    let built = berth_build::build_workspace(
        &dir.path().join("components"),
        &berth_tests::guest_target_dir(),
        &dir.path().join(".berth/build"),
        &toolchain,
        &mut |_| {},
    )
    .unwrap();
    eprintln!(
        "the scaffolded Rust component built in {:?}",
        start.elapsed()
    );
    assert_eq!(built.len(), 1);
    assert_eq!(built[0].package, "web-app");

    let readme = std::fs::read_to_string(dir.path().join("components/web-app/README.md")).unwrap();
    inspect_agrees_with_the_readme(dir.path(), ".berth/build/web-app.wasm", &readme);
    assign(dir.path(), "web-app", "");
    deploys_and_converges(dir.path(), "web-app");
}

#[test]
fn new_python_component_builds_deploys_and_converges() {
    let dir = fresh_repository();
    let out = scaffold(dir.path(), "my_site", "python");
    assert!(
        out.starts_with(
            "created the Python component `my_site` in components/my_site/\n  \
             components/my_site/component.py\n  components/my_site/my_site.conf.j2\n  \
             components/my_site/README.md\n\nnext steps:\n"
        ),
        "{out}"
    );
    assert!(!dir.path().join("components/Cargo.toml").exists());
    assert!(!dir.path().join("vendor").exists());
    let code = std::fs::read_to_string(dir.path().join("components/my_site/component.py")).unwrap();
    assert!(code.contains("class MySite(Component):"), "{code}");

    // `berth deploy` runs its sources on berth's Python runtime: nothing
    // is built for it.
    assign(dir.path(), "my_site", "");
    deploys_and_converges(dir.path(), "my_site");
    assert!(!dir.path().join(".berth/build").exists());
    succeeded(&berth_in(dir.path(), &["package", "my_site"]));
    let readme = std::fs::read_to_string(dir.path().join("components/my_site/README.md")).unwrap();
    inspect_agrees_with_the_readme(dir.path(), "dist/my_site-0.1.0.wasm", &readme);
}

#[test]
fn new_component_refuses_bad_names_and_existing_folders_and_changes_nothing() {
    let dir = fresh_repository();
    for (name, lang, message) in [
        (
            "Web",
            "rust",
            "error: `Web` cannot name a component: `W` is not allowed",
        ),
        ("2web", "python", "must start with a lowercase letter"),
        ("fn", "rust", "Rust keyword"),
        ("../x", "python", "`.` is not allowed"),
    ] {
        let before = berth_tests::snapshot(dir.path());
        let run = berth_in(dir.path(), &["new", "component", name, "--lang", lang]);
        let err = text(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{err}");
        assert!(err.contains(message), "{name}: {err}");
        assert_eq!(berth_tests::snapshot(dir.path()), before, "{name}");
    }

    std::fs::create_dir_all(dir.path().join("components/web")).unwrap();
    std::fs::write(dir.path().join("components/web/notes.txt"), "mine").unwrap();
    let before = berth_tests::snapshot(dir.path());
    for lang in ["rust", "python"] {
        let run = berth_in(dir.path(), &["new", "component", "web", "--lang", lang]);
        let err = text(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{err}");
        assert!(
            err.contains("error: `components/web` already exists: choose another name"),
            "{err}"
        );
        assert_eq!(berth_tests::snapshot(dir.path()), before);
    }

    let outside = tempfile::tempdir().unwrap();
    let run = berth_in(outside.path(), &["new", "component", "web"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(
        text(&run.stderr).contains("pass `--repo DIR`"),
        "{}",
        text(&run.stderr)
    );
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
}

/// A repository with the probe guest's `root` and `probes` (JSON objects)
/// as its only step list, plus `extra` environment lines.
fn probe_repo(root: &str, probes: &serde_json::Value, extra: &str) -> TestRepo {
    let repo = TestRepo::new();
    repo.component("probe", berth_tests::PROBE);
    let list = serde_json::to_string_pretty(probes).unwrap();
    let indented: Vec<String> = list.lines().map(|l| format!("    {l}")).collect();
    repo.env(
        "local",
        &format!(
            "[hosts]\nlocalhost = {root}\n\n[component:{root}]\nprobes =\n{}\n\n{extra}",
            indented.join("\n")
        ),
    );
    repo
}

#[test]
fn component_text_is_printed_with_control_characters_escaped_and_exact_in_json() {
    let label = "x\n  localhost/forged up to date\u{1b}]0;owned\u{7}\u{1b}[2J\r";
    let repo = probe_repo(
        "probe",
        &serde_json::json!([{"op": "read", "path": "missing.txt", "label": label}]),
        "",
    );
    let run = berth(&repo, &["deploy", "local"]);
    let out = text(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{out}\n{}", text(&run.stderr));
    let escaped = "x\\n  localhost/forged up to date\\u{1b}]0;owned\\u{7}\\u{1b}[2J\\r";
    assert!(out.contains(&format!("failed {escaped}\n")), "{out}");
    assert!(!out.contains(['\u{1b}', '\u{7}', '\r']), "{out:?}");
    assert!(
        !out.lines()
            .any(|l| l.trim_start().starts_with("localhost/forged")),
        "{out}"
    );

    let json = berth(&repo, &["deploy", "local", "--format", "json"]);
    let step = text(&json.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["event"] == "step")
        .unwrap();
    assert_eq!(step["label"], label);
}

#[test]
fn a_granted_program_cannot_read_the_environment_of_berth() {
    let marker = format!("marker-{}-{}", std::process::id(), line!());
    let repo = probe_repo(
        "probe-tools",
        &serde_json::json!([
            {"op": "run", "argv": ["bash", "-c", "cat /proc/$PPID/environ"], "expect": "failed",
             "contains": "Permission denied", "label": "berth's environ"},
            {"op": "run", "argv": ["bash", "-c", "cat /proc/$PPID/cmdline"], "expect": "failed",
             "contains": "Permission denied", "label": "berth's cmdline"},
        ]),
        "[grants:probe-tools]\ncommands = bash env curl cp mknod kill cat\n",
    );
    let run = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["deploy", "local", "-d"])
        .current_dir(repo.path())
        .env("BERTH_CACHE_DIR", berth_tests::cache_dir())
        .env("NO_COLOR", "1")
        .env("BERTH_TEST_MARKER", &marker)
        .output()
        .unwrap();
    let out = succeeded(&run);
    assert!(!out.contains(&marker), "{out}");
    assert!(!text(&run.stderr).contains(&marker));
}

/// `berth secrets ARGS… --identity IDENTITY` with `$EDITOR` = `editor`.
fn secrets_cmd(
    repo: &TestRepo,
    args: &[&str],
    identity: &str,
    editor: Option<&std::path::Path>,
) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.arg("secrets")
        .args(args)
        .args(["--identity", identity])
        .current_dir(repo.path())
        .env_remove("VISUAL")
        .env("NO_COLOR", "1");
    if let Some(editor) = editor {
        cmd.env("EDITOR", editor);
    }
    cmd.output().unwrap()
}

fn test_public() -> String {
    berth_secrets::recipients(std::path::Path::new(berth_tests::TEST_IDENTITY))
        .unwrap()
        .remove(0)
}

#[test]
fn secrets_edit_keeps_the_text_when_encryption_fails_and_continues_from_it() {
    let repo = examples();
    repo.write(
        "environments/local/secrets.recipients",
        &format!("{}\n", test_public()),
    );
    let bad = editor(
        &repo,
        "printf '[batou]\\nmembers = not-a-key\\n\\n[component:motd]\\ngreeting = Psst\\n' > \"$1\"",
    );
    let run = edit(&repo, &bad);
    let err = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(err.contains("`not-a-key` is not an age recipient"), "{err}");
    assert!(err.contains("your edit is kept in `"), "{err}");
    assert!(!repo.join("environments/local/secrets.cfg.age").exists());
    let kept = err
        .split("your edit is kept in `")
        .nth(1)
        .and_then(|r| r.split('`').next())
        .unwrap()
        .to_owned();
    assert!(
        std::fs::read_to_string(&kept)
            .unwrap()
            .contains("greeting = Psst")
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // The next edit starts from the kept text: nothing typed is lost.
    let fix = editor(
        &repo,
        &format!(
            "grep -q Psst \"$1\"\nsed -i 's/not-a-key/{}/' \"$1\"",
            test_public()
        ),
    );
    let run = edit(&repo, &fix);
    let err = text(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{err}");
    assert!(err.contains("continuing from the edit kept in"), "{err}");
    assert_eq!(decrypted(&repo), "\"Psst\"");
    assert!(!std::path::Path::new(&kept).exists());
}

#[test]
fn secrets_show_masks_values_and_reveal_shows_them() {
    let repo = examples();
    repo.secrets(
        "local",
        "[batou]\nmembers = age1x\n\n[motd]\ngreeting = Open sesame\n",
    )
    .secret_file("local", "tls.key", b"key bytes\n");
    let run = secrets_cmd(&repo, &["show", "local"], berth_tests::TEST_IDENTITY, None);
    let out = succeeded(&run);
    assert!(out.contains("[motd]\ngreeting = ********\n"), "{out}");
    assert!(out.contains("members = age1x"), "{out}");
    assert!(
        out.contains("tls.key (environments/local/secret-tls.key.age, 10 bytes)"),
        "{out}"
    );
    assert!(!out.contains("sesame"), "{out}");
    let run = secrets_cmd(
        &repo,
        &["show", "local", "--reveal"],
        berth_tests::TEST_IDENTITY,
        None,
    );
    assert!(succeeded(&run).contains("greeting = Open sesame"));
}

/// A fresh SSH key pair from `ssh-keygen`: (private key, public key line).
fn ssh_keypair(repo: &TestRepo) -> (std::path::PathBuf, String) {
    let key = repo.join("id_ed25519");
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "ops@example", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    (key, public.trim().to_owned())
}

#[test]
fn secrets_add_and_remove_an_ssh_key_reencrypt_every_file() {
    let repo = examples();
    repo.write(
        "environments/local/secrets.recipients",
        &format!("# ops\n{}\n", test_public()),
    )
    .secrets("local", "[component:motd]\ngreeting = Open sesame\n")
    .secret_file("local", "tls.key", b"key bytes\n");
    let (key, public) = ssh_keypair(&repo);
    let key = key.display().to_string();
    // Not a recipient yet: the SSH key cannot read it.
    let run = secrets_cmd(&repo, &["show", "local"], &key, None);
    assert_eq!(run.status.code(), Some(2));
    let run = secrets_cmd(&repo, &["add", &public], berth_tests::TEST_IDENTITY, None);
    let err = text(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{err}");
    assert!(
        err.contains("local: encrypted 2 files to 2 recipients"),
        "{err}"
    );
    let list = std::fs::read_to_string(repo.join("environments/local/secrets.recipients")).unwrap();
    assert!(
        list.starts_with("# ops\n") && list.contains(&public),
        "{list}"
    );
    // Now the SSH key decrypts both files.
    let out = succeeded(&secrets_cmd(
        &repo,
        &["show", "local", "--reveal"],
        &key,
        None,
    ));
    assert!(
        out.contains("Open sesame") && out.contains("10 bytes"),
        "{out}"
    );
    let conv = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args([
            "secrets",
            "textconv",
            "environments/local/secret-tls.key.age",
            "--identity",
            &key,
        ])
        .current_dir(repo.path())
        .output()
        .unwrap();
    assert_eq!(text(&conv.stdout), "key bytes\n");
    // Removed again, it cannot.
    let run = secrets_cmd(
        &repo,
        &["remove", &public, "--env", "local"],
        berth_tests::TEST_IDENTITY,
        None,
    );
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    let run = secrets_cmd(&repo, &["show", "local"], &key, None);
    let err = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(
        err.contains("none of the age identities can decrypt it"),
        "{err}"
    );
    assert!(err.contains("environments/local/secrets.cfg.age"), "{err}");
    let run = secrets_cmd(
        &repo,
        &["remove", &test_public()],
        berth_tests::TEST_IDENTITY,
        None,
    );
    assert!(
        text(&run.stderr).contains("is its last recipient"),
        "{}",
        text(&run.stderr)
    );
}

#[test]
fn secrets_add_to_batou_members_rewrites_them_inside() {
    let repo = examples();
    repo.secrets(
        "local",
        &format!(
            "[batou]\nmembers = {}\nsecret_provider = age\n\n[motd]\ngreeting = Hi\n",
            test_public()
        ),
    );
    let (key, public) = ssh_keypair(&repo);
    let run = secrets_cmd(
        &repo,
        &["add", &public, "--env", "local"],
        berth_tests::TEST_IDENTITY,
        None,
    );
    let err = text(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{err}");
    assert!(err.contains("([batou] members)"), "{err}");
    assert!(!repo.join("environments/local/secrets.recipients").exists());
    let out = succeeded(&secrets_cmd(
        &repo,
        &["show", "local"],
        &key.display().to_string(),
        None,
    ));
    assert!(
        out.contains(&format!("members = {},\n    {public}", test_public())),
        "{out}"
    );
    let run = secrets_cmd(&repo, &["reencrypt"], &key.display().to_string(), None);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
}

#[test]
fn secrets_summary_reports_an_environment_it_cannot_decrypt() {
    let repo = examples();
    repo.write(
        "environments/local/secrets.recipients",
        &format!("{}\n", test_public()),
    )
    .secrets("local", "[motd]\ngreeting = Hi\n")
    .secret_file("local", "tls.key", b"k");
    repo.env("prod", "[hosts]\nlocalhost = hello\n");
    let other = age_x25519_public_other();
    std::fs::write(
        repo.join("environments/prod/secrets.cfg.age"),
        berth_secrets::encrypt(b"[hello]\n", &[&other]).unwrap(),
    )
    .unwrap();
    let run = secrets_cmd(&repo, &["summary"], berth_tests::TEST_IDENTITY, None);
    let out = succeeded(&run);
    assert!(
        out.contains(&format!(
            "environment local\n  recipients (`environments/local/secrets.recipients`):\n    {}\n  secrets file: environments/local/secrets.cfg.age\n  secret files: tls.key\n  you can decrypt: yes\n",
            test_public()
        )),
        "{out}"
    );
    assert!(out.contains("environment prod\n"), "{out}");
    assert!(out.contains("you can decrypt: no: environments/prod/secrets.cfg.age: none of the age identities can decrypt it"), "{out}");
}

/// The public key of the suite's second identity, to which the test
/// identity cannot decrypt.
fn age_x25519_public_other() -> String {
    let other =
        std::path::Path::new(berth_tests::TEST_IDENTITY).with_file_name("other-identity.txt");
    berth_secrets::recipients(&other).unwrap().remove(0)
}

#[test]
fn a_deploy_leaves_and_prints_no_plaintext_secret() {
    const PASSWORD: &str = "pw-3c9e71f0aa";
    const KEY_LINE: &str = "MIIBVgIBADANBgkqhkiG9w0BAQEFAASCAUAw";
    let repo = TestRepo::new();
    repo.component("secretive", SECRETIVE)
        .env(
            "local",
            "[hosts]\nweb = secretive\n\n[grants:secretive]\nsecrets = tls.key\n",
        )
        .secrets(
            "local",
            &format!("[component:secretive]\npassword = {PASSWORD}\n"),
        )
        .secret_file(
            "local",
            "tls.key",
            format!("-----BEGIN PRIVATE KEY-----\n{KEY_LINE}\n-----END PRIVATE KEY-----\n")
                .as_bytes(),
        );
    let cache = repo.join("cache");
    let tmp = repo.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(args)
            .args(["--identity", berth_tests::TEST_IDENTITY])
            .current_dir(repo.path())
            .env("BERTH_CACHE_DIR", &cache)
            .env("TMPDIR", &tmp)
            .env("NO_COLOR", "1")
            .env("BERTH_LOG", "debug")
            .output()
            .unwrap()
    };
    let mut printed = String::new();
    for args in [
        &["deploy", "local", "--predict"][..],
        &["deploy", "local", "--predict", "-d"],
        &["deploy", "local", "-d"],
        &["deploy", "local", "--format", "json"],
        &["deploy", "local", "--predict", "--format", "json"],
        &["check", "local"],
        &["show", "local"],
        &["show", "local", "--format", "json"],
        &["secrets", "show", "local"],
    ] {
        let out = run(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        printed.push_str(&text(&out.stdout));
        printed.push_str(&text(&out.stderr));
    }
    assert!(printed.contains("********"), "{printed}");
    for secret in [PASSWORD, KEY_LINE] {
        assert!(!printed.contains(secret), "printed: {printed}");
    }
    // The component's files hold them, 0600; nothing else does.
    let work = repo.workdir("secretive");
    assert!(
        std::fs::read_to_string(work.join("app.conf"))
            .unwrap()
            .contains(PASSWORD)
    );
    let needles: &[&[u8]] = &[PASSWORD.as_bytes(), KEY_LINE.as_bytes()];
    let intended = [work.join("app.conf"), work.join("tls.key")];
    let leaks = berth_tests::files_holding(repo.path(), needles, &intended);
    assert!(leaks.is_empty(), "plaintext secrets in {leaks:?}");
    assert!(cache.is_dir() && repo.join("work").is_dir());
    let uid = std::fs::metadata(repo.path())
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap();
    for private in [
        format!("/dev/shm/berth-{uid}"),
        std::env::temp_dir()
            .join(format!("berth-{uid}"))
            .display()
            .to_string(),
    ] {
        let leaks = berth_tests::files_holding(std::path::Path::new(&private), needles, &[]);
        assert!(leaks.is_empty(), "plaintext secrets in {leaks:?}");
    }
}
