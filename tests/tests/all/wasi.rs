//! A component that imports WASI links against an empty WASI context: no
//! environment variables, no arguments, no cwd, no preopened directories.
//!
//! The guest imports `wasi:cli/environment@0.2.0` and
//! `wasi:filesystem/preopens@0.2.0`; wasmtime's linker serves them from its
//! newer 0.2.x implementation (semver-compatible matching), so the deploy
//! also proves that such imports link at all.

use berth_tests::{TestRepo, WASI_ENV};

#[test]
fn a_wasi_component_sees_no_environment_arguments_cwd_or_preopens() {
    // The test process itself has an environment; none of it may leak in.
    assert!(
        std::env::vars_os().next().is_some(),
        "the test needs a non-empty environment to prove that none leaks"
    );
    let repo = TestRepo::new();
    repo.component("wasi-env", WASI_ENV)
        .env("local", "[hosts]\nlocalhost = wasi-env\n");
    let run = repo.deploy("local");
    let summary = run.summary();
    assert_eq!(summary.failed, 0, "{summary:#?}\n{:#?}", run.logs());
    assert_eq!(summary.changed, 1, "{summary:#?}");

    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo.workdir("wasi-env").join("wasi.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        report,
        serde_json::json!({"env": [], "args": [], "cwd": null, "preopens": []}),
    );
    assert!(
        run.logs().contains(
            &"wasi-env: wasi: 0 environment variables, 0 arguments, cwd None, 0 preopens"
                .to_owned()
        ),
        "{:#?}",
        run.logs()
    );
}
