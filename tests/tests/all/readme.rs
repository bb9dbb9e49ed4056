//! The README's commands and examples stay true.

use berth_tests::{CHECKSUMS, HELLO, MOTD, REPO, TestRepo};
use std::path::Path;

fn readme() -> String {
    std::fs::read_to_string(Path::new(REPO).join("README.md")).unwrap()
}

/// The fenced blocks of `lang` in the README.
fn blocks(lang: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in readme().lines() {
        match &mut current {
            None if line.trim() == format!("```{lang}") => current = Some(String::new()),
            Some(block) if line.trim() == "```" => {
                out.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    out
}

#[test]
fn the_quick_start_commands_exist_and_ci_runs_the_test_command() {
    let quick = &blocks("sh")[0];
    assert!(
        quick.contains("scripts/setup && target/release/berth deploy local"),
        "{quick}"
    );
    assert!(quick.contains("\nscripts/test\n"), "{quick}");
    for script in ["scripts/setup", "scripts/test", ".ci/run"] {
        let path = Path::new(REPO).join(script);
        let mode = std::os::unix::fs::PermissionsExt::mode(&path.metadata().unwrap().permissions());
        assert!(mode & 0o111 != 0, "{script} is not executable");
    }
    let ci = std::fs::read_to_string(Path::new(REPO).join(".ci/run")).unwrap();
    assert!(ci.contains("exec scripts/test"), "{ci}");
}

#[test]
fn the_example_environment_in_the_readme_deploys_the_examples() {
    let env = &blocks("ini")[0];
    let repo = TestRepo::new();
    repo.example("hello", HELLO)
        .example("motd", MOTD)
        .example("checksums", CHECKSUMS)
        .env("local", env);
    let run = repo.deploy("local");
    assert_eq!(run.summary().failed, 0, "{:#?}", run.summary());
    assert!(run.summary().changed >= 5);
    // And it is the one this repository ships, but for comments.
    let shipped =
        std::fs::read_to_string(Path::new(REPO).join("environments/local/environment.cfg"))
            .unwrap();
    let strip = |s: &str| {
        s.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let shipped = strip(&shipped);
    for line in strip(env) {
        assert!(
            shipped.contains(&line),
            "`{line}` is not in the shipped environment"
        );
    }
}
