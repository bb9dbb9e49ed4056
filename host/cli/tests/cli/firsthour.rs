//! The first hour with berth: building only what an environment uses,
//! staleness by content, the live build line, the run's layout (phases,
//! per-component times, the recap), `--color`, `--quiet`, the compile
//! cache's cap, `berth init`, completions and the man page.

use super::{berth, examples, succeeded, text};
use berth_tests::TestRepo;
use std::path::Path;
use std::process::{Command, Output};

fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    command
        .args(args)
        .current_dir(dir)
        .env("BERTH_CACHE_DIR", berth_tests::cache_dir())
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("BERTH_LOG");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

/// A repository with two Rust components from `berth new component`, of
/// which environment `x` uses only `used`. Its guest builds share the
/// tests' cargo target folder, where the SDK's dependencies are compiled.
fn two_rust_components() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("environments/x")).unwrap();
    for name in ["used", "unused"] {
        succeeded(&run_in(root, &["new", "component", name], &[]));
    }
    std::fs::write(
        root.join("environments/x/environment.cfg"),
        "[environment]\nconnect_method = local\ntimeout = 60\n\n[hosts]\nlocalhost = used\n",
    )
    .unwrap();
    std::fs::create_dir_all(root.join(".berth")).unwrap();
    std::os::unix::fs::symlink(berth_tests::guest_target_dir(), root.join(".berth/target"))
        .unwrap();
    dir
}

fn set_mtime_ahead(path: &Path) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(120))
        .unwrap();
}

#[test]
fn only_used_components_build_and_a_touch_does_not_rebuild() {
    let dir = two_rust_components();
    let root = dir.path();
    let first = succeeded(&run_in(root, &["deploy", "x"], &[]));
    assert!(first.contains("\n  built used with cargo in "), "{first}");
    assert!(root.join(".berth/build/used.wasm").is_file());
    assert!(
        !root.join(".berth/build/unused.wasm").exists(),
        "a component no host uses is not built: {first}"
    );
    assert!(!first.contains("unused"), "{first}");

    // What a `git checkout` does to files it leaves as they were.
    set_mtime_ahead(&root.join("components/Cargo.toml"));
    set_mtime_ahead(&root.join("components/used/src/lib.rs"));
    for _ in 0..2 {
        let again = succeeded(&run_in(root, &["deploy", "x"], &[]));
        assert!(!again.contains("built"), "touched, not changed: {again}");
        assert!(again.contains("deployed x: 0 changed"), "{again}");
    }

    let lib = root.join("components/used/src/lib.rs");
    let mut source = std::fs::read_to_string(&lib).unwrap();
    source.push_str("\n// edited\n");
    std::fs::write(&lib, source).unwrap();
    let edited = succeeded(&run_in(root, &["deploy", "x"], &[]));
    assert!(edited.contains("  built used with cargo in "), "{edited}");
    let settled = succeeded(&run_in(root, &["deploy", "x"], &[]));
    assert!(!settled.contains("built"), "{settled}");
}

/// Runs `shell` under a pseudo-terminal (util-linux `script`), as a user's
/// terminal would; what the terminal received.
fn on_a_terminal(dir: &Path, shell: &str) -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_berth")).parent().unwrap();
    let run = Command::new("script")
        .args(["-qec", shell, "/dev/null"])
        .current_dir(dir)
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("BERTH_CACHE_DIR", berth_tests::cache_dir())
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run.stdout));
    text(&run.stdout)
}

#[test]
fn a_first_deploy_on_a_pipe_leaves_no_progress_line_behind() {
    let dir = two_rust_components();
    // The terminal is there (for stderr too), but stdout is a pipe.
    let out = on_a_terminal(dir.path(), "berth deploy x | cat");
    assert!(out.contains("built used with cargo"), "{out}");
    assert!(
        !out.chars().any(|c| ('\u{2800}'..='\u{28ff}').contains(&c)),
        "a spinner frame was left: {out:?}"
    );
    assert!(!out.contains('\x1b'), "escape sequences on a pipe: {out:?}");
    assert!(!out.contains("starting"), "{out:?}");
}

#[test]
fn a_run_shows_phases_component_times_a_recap_and_relative_diff_paths() {
    let repo = examples();
    let out = succeeded(&berth(&repo, &["deploy", "local"]));
    let lines: Vec<&str> = out.lines().collect();
    let at = |name: &str| {
        lines
            .iter()
            .position(|l| *l == name)
            .unwrap_or_else(|| panic!("no phase `{name}`: {out}"))
    };
    assert!(at("loading") < at("configuring") && at("configuring") < at("deploying"));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("  localhost/hello 3 changed (") && l.ends_with(" ms)")),
        "{out}"
    );
    let root = repo.path().canonicalize().unwrap();
    assert!(!out.contains(&root.display().to_string()), "{out}");
    assert!(
        out.contains("      +++ work/hello/hello/hello.txt\n"),
        "diff headers are relative: {out}"
    );
    let recap = &out[out.find("\nrecap\n").expect("a recap") + 7..];
    let mut rows = recap.lines();
    assert_eq!(
        rows.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["host", "changed", "unchanged", "failed", "skipped", "time"]
    );
    let row: Vec<&str> = rows.next().unwrap().split_whitespace().collect();
    assert_eq!(row[..5], ["localhost", "9", "0", "0", "0"], "{recap}");
    assert!(out.ends_with(" ms\n") || out.ends_with(" s\n"), "{out}");
}

#[test]
fn color_follows_the_flag_and_the_variables() {
    let repo = examples();
    let colored = |run: Output| text(&run.stdout).contains("\x1b[");
    let args = ["deploy", "local", "--predict"];
    assert!(!colored(run_in(repo.path(), &args, &[])), "not a terminal");
    assert!(colored(run_in(
        repo.path(),
        &[&args[..], &["--color", "always"][..]].concat(),
        &[]
    )));
    assert!(colored(run_in(
        repo.path(),
        &args,
        &[("CLICOLOR_FORCE", "1")]
    )));
    assert!(!colored(run_in(
        repo.path(),
        &[&args[..], &["--color", "never"][..]].concat(),
        &[("CLICOLOR_FORCE", "1")]
    )));
    assert!(!colored(run_in(
        repo.path(),
        &args,
        &[("CLICOLOR_FORCE", "0")]
    )));
    let on_tty = on_a_terminal(repo.path(), "NO_COLOR=1 berth deploy local --predict");
    assert!(!on_tty.contains("\x1b[3"), "{on_tty:?}");
}

#[test]
fn quiet_prints_nothing_when_all_is_well() {
    let repo = examples();
    let first = run_in(repo.path(), &["deploy", "local", "--quiet"], &[]);
    assert_eq!(text(&first.stdout), "");
    assert_eq!(first.status.code(), Some(0));
    assert!(repo.join("work/motd/motd").is_file());
    let again = run_in(repo.path(), &["-q", "deploy", "local"], &[]);
    assert_eq!(
        (text(&again.stdout), text(&again.stderr)),
        (String::new(), String::new())
    );
}

#[test]
fn the_compile_cache_keeps_to_its_cap_and_can_be_pruned() {
    let repo = examples();
    let cache = tempfile::tempdir().unwrap();
    let env = [
        ("BERTH_CACHE_DIR", cache.path().to_str().unwrap()),
        ("BERTH_CACHE_MAX_SIZE", "1"),
    ];
    succeeded(&run_in(repo.path(), &["deploy", "local"], &env));
    let cwasm = || {
        std::fs::read_dir(cache.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "cwasm")
            })
            .count()
    };
    assert_eq!(cwasm(), 1, "three components compiled, the newest kept");
    let info = succeeded(&run_in(repo.path(), &["cache", "info"], &env));
    assert!(info.contains("entries  1 compiled component\n"), "{info}");
    assert!(
        info.contains("cap      1 B (`BERTH_CACHE_MAX_SIZE`"),
        "{info}"
    );

    let roomy = [env[0], ("BERTH_CACHE_MAX_SIZE", "1G")];
    succeeded(&run_in(repo.path(), &["deploy", "local"], &roomy));
    assert_eq!(cwasm(), 3);
    let pruned = succeeded(&run_in(
        repo.path(),
        &["cache", "prune", "--max-size", "0"],
        &roomy,
    ));
    assert!(pruned.starts_with("removed 3 entries ("), "{pruned}");
    assert_eq!(cwasm(), 0);
    let bad = run_in(
        repo.path(),
        &["cache", "prune", "--max-size", "lots"],
        &roomy,
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("`lots` is not a size"));
}

#[test]
fn init_then_new_component_then_deploy_local_in_an_empty_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = succeeded(&run_in(dir.path(), &["init", "site"], &[]));
    assert!(
        out.starts_with("created a deployment repository in `site`\n"),
        "{out}"
    );
    let site = dir.path().join("site");
    let empty = succeeded(&run_in(&site, &["deploy", "local"], &[]));
    assert!(empty.contains("deployed local: 0 changed"), "{empty}");

    succeeded(&run_in(&site, &["new", "component", "web"], &[]));
    let env = site.join("environments/local/environment.cfg");
    let text = std::fs::read_to_string(&env).unwrap();
    std::fs::write(&env, text.replace("localhost =\n", "localhost = web\n")).unwrap();
    std::fs::create_dir_all(site.join(".berth")).unwrap();
    std::os::unix::fs::symlink(berth_tests::guest_target_dir(), site.join(".berth/target"))
        .unwrap();
    let deployed = succeeded(&run_in(&site, &["deploy", "local"], &[]));
    assert!(deployed.contains("localhost/web 1 changed"), "{deployed}");
    assert!(site.join("work/web/web.conf").is_file());
    let ignored = std::fs::read_to_string(site.join(".gitignore")).unwrap();
    assert!(ignored.contains("/.berth\n") && ignored.contains("/work\n"));

    let again = run_in(dir.path(), &["init", "site"], &[]);
    assert_eq!(again.status.code(), Some(2));
    assert!(super::text(&again.stderr).contains("already is a deployment repository"));
}

#[test]
fn completions_and_the_man_page_are_generated_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let bash = succeeded(&run_in(dir.path(), &["completions", "bash"], &[]));
    assert!(bash.contains("_berth()"), "{bash}");
    for word in ["deploy", "--predict", "--color", "completions", "prune"] {
        assert!(bash.contains(word), "{word} missing");
    }
    let zsh = succeeded(&run_in(dir.path(), &["completions", "zsh"], &[]));
    assert!(zsh.starts_with("#compdef berth"), "{zsh}");
    let man = succeeded(&run_in(dir.path(), &["man"], &[]));
    assert!(man.contains(".TH berth 1"), "{man}");
    assert!(man.contains("deploy"), "{man}");
    let help = succeeded(&run_in(dir.path(), &["--help"], &[]));
    assert!(!help.contains("SSH"), "{help}");
}

#[test]
fn lock_without_packages_cfg_says_so_and_writes_nothing() {
    let repo = TestRepo::new();
    let run = berth(&repo, &["lock"]);
    assert_eq!(run.status.code(), Some(2));
    assert_eq!(
        text(&run.stderr),
        "error: there is no `packages.cfg`, so there is nothing to lock; create it with a \
         `[packages]` section (`find-links = packages/`, see docs/packages.md) and run \
         `berth lock` again\n"
    );
    assert!(!repo.join("packages.lock").exists());
}
