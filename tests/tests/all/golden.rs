//! Golden files for the model: one folder per case under `tests/golden/`
//! holding environment files; `expected.txt` beside them holds the resolved
//! model (`berth show --format json`, warnings after it) or the error that
//! stops the deployment. The components are the examples plus the `wiring`
//! and `probe` test guests. `BLESS=1 cargo test -p berth-tests golden`
//! rewrites the expected files; review the diff.
//!
//! A plaintext `secrets.cfg` in a case's environment folder is copied in
//! encrypted, as `secrets.cfg.age`, to the test identity
//! (`berth_tests::TEST_IDENTITY`) that the model is then loaded with, so a
//! case keeps its secrets readable and goes through real decryption.

use berth_engine::event::Collect;
use berth_tests::{CHECKSUMS, HELLO, MOTD, PROBE, REPO, TestRepo, WIRING};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let dest = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &dest);
        } else if dest.ends_with("secrets.cfg") {
            let sealed = berth_tests::seal(&std::fs::read(&path).unwrap());
            std::fs::write(dest.with_extension("cfg.age"), sealed).unwrap();
        } else {
            std::fs::copy(&path, &dest).unwrap();
        }
    }
}

/// What berth makes of one case.
fn render(case: &Path) -> String {
    let repo = TestRepo::new();
    repo.example("hello", HELLO)
        .example("motd", MOTD)
        .example("checksums", CHECKSUMS)
        .component("wiring", WIRING)
        .component("probe", PROBE);
    copy_tree(&case.join("environments"), &repo.join("environments"));
    let env = std::fs::read_to_string(case.join("case.txt"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "test".to_string());
    let out = match berth_engine::show::resolve(&repo.options(&env), Arc::new(Collect::default())) {
        Ok((loaded, plan)) => {
            let view = berth_engine::show::view(&loaded, &plan);
            let mut out = serde_json::to_string_pretty(&view).unwrap();
            out.push('\n');
            for w in &plan.warnings {
                out.push_str(&format!("warning: {w}\n"));
            }
            out
        }
        Err(e) => format!("error: {e}\n"),
    };
    let root = repo.path().to_string_lossy().into_owned();
    out.replace(&root, "<repo>")
}

#[test]
fn golden() {
    let bless = std::env::var_os("BLESS").is_some();
    let dir = Path::new(REPO).join("tests").join("golden");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 15,
        "the golden cases are missing from {}",
        dir.display()
    );
    let mut failed = Vec::new();
    for case in &cases {
        let actual = render(case);
        let file = case.join("expected.txt");
        let expected = std::fs::read_to_string(&file).unwrap_or_default();
        if actual != expected {
            if bless {
                std::fs::write(&file, &actual).unwrap();
                eprintln!("blessed {}", file.display());
            } else {
                failed.push(format!(
                    "{}:\n--- expected\n{expected}\n--- actual\n{actual}",
                    case.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} golden case(s) differ (BLESS=1 to accept):\n\n{}",
        failed.len(),
        failed.join("\n\n")
    );
}
