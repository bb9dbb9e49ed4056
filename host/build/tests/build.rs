//! Builds the repository's example components for real, with whichever
//! toolchain is here, and checks what comes out.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn the_example_components_build_into_versioned_components() {
    let tc = match berth_build::detect() {
        Ok(tc) => tc,
        // The test command installs the toolchain; a bare `cargo test` on a
        // machine without one still checks the hint.
        Err(e) => {
            assert!(e.to_string().contains("rustup target add"), "{e}");
            eprintln!("skipped: {e}");
            return;
        }
    };
    let out = tempfile::tempdir().unwrap();
    let target = repo().join("target/wasm-guests");
    let mut lines = Vec::new();
    let built = berth_build::build_workspace(
        &repo().join("components"),
        &target,
        out.path(),
        &tc,
        &mut |l| lines.push(l.to_owned()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let packages: Vec<&str> = built.iter().map(|b| b.package.as_str()).collect();
    assert_eq!(packages, ["app", "checksums", "database", "hello", "motd"]);
    for b in &built {
        assert_eq!(b.wasm, out.path().join(format!("{}.wasm", b.package)));
        let bytes = std::fs::read(&b.wasm).unwrap();
        assert!(berth_build::is_component(&bytes), "{}", b.package);
        assert_eq!(
            berth_build::api_version(&bytes).as_deref(),
            Some("0.1.0"),
            "{}",
            b.package
        );
        let member = repo().join("components").join(&b.package);
        assert!(!berth_build::stale(&member, &b.wasm), "{}", b.package);
    }

    // A second build changes nothing.
    let before: Vec<_> = built
        .iter()
        .map(|b| std::fs::metadata(&b.wasm).unwrap().modified().unwrap())
        .collect();
    let again = berth_build::build_workspace(
        &repo().join("components"),
        &target,
        out.path(),
        &tc,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(again, built);
    let after: Vec<_> = again
        .iter()
        .map(|b| std::fs::metadata(&b.wasm).unwrap().modified().unwrap())
        .collect();
    assert_eq!(before, after);
}
