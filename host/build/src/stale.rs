//! Whether a built component is older than its sources.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Whether `wasm` is missing or older than any source it is built from.
///
/// The sources are the member's `Cargo.toml`, `build.rs` and `src/**`, the
/// workspace's `Cargo.toml` and `Cargo.lock` (in the parent folder), and,
/// when an ancestor folder holds berth's `sdk/rust` and `wit/` (a berth
/// checkout) or `vendor/berth/` with both (as `berth new` writes them), the
/// SDK's `Cargo.toml` and `src/**` and all of `wit/`. Unreadable sources count as
/// newer, so a doubtful build is redone.
pub fn stale(workspace_member_dir: &Path, wasm: &Path) -> bool {
    let Ok(built) = fs::metadata(wasm).and_then(|m| m.modified()) else {
        return true;
    };
    sources(workspace_member_dir)
        .iter()
        .any(|source| newer_than(source, built))
}

/// The files and folders whose content goes into the member's component.
fn sources(member: &Path) -> Vec<PathBuf> {
    let mut sources = vec![
        member.join("Cargo.toml"),
        member.join("build.rs"),
        member.join("src"),
    ];
    if let Some(workspace) = member.parent() {
        sources.push(workspace.join("Cargo.toml"));
        sources.push(workspace.join("Cargo.lock"));
    }
    // The SDK of a berth checkout, or the copy `berth new` vendors into a
    // deployment repository.
    let has_sdk =
        |dir: &Path| dir.join("sdk/rust/Cargo.toml").is_file() && dir.join("wit").is_dir();
    if let Some(sdk) = member.ancestors().find_map(|dir| {
        [dir.to_owned(), dir.join("vendor/berth")]
            .into_iter()
            .find(|d| has_sdk(d))
    }) {
        sources.push(sdk.join("sdk/rust/Cargo.toml"));
        sources.push(sdk.join("sdk/rust/src"));
        sources.push(sdk.join("wit"));
    }
    sources
}

/// Whether `path` (a file, or anything below a folder) changed after `time`.
/// A path that does not exist is not newer.
fn newer_than(path: &Path, time: SystemTime) -> bool {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return false,
        Err(_) => return true,
    };
    if meta.modified().map_or(true, |m| m > time) {
        return true;
    }
    if !meta.is_dir() {
        return false;
    }
    match fs::read_dir(path) {
        Ok(mut entries) => entries.any(|entry| entry.map_or(true, |e| newer_than(&e.path(), time))),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn touch(path: &Path, time: SystemTime) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, "x").unwrap();
        fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(time)
            .unwrap();
    }

    #[test]
    fn missing_or_older_wasm_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let t0 = SystemTime::now() - Duration::from_secs(100);
        let member = root.join("components/hello");
        touch(&member.join("Cargo.toml"), t0);
        touch(&member.join("src/lib.rs"), t0);
        touch(&root.join("sdk/rust/Cargo.toml"), t0);
        touch(&root.join("sdk/rust/src/lib.rs"), t0);
        touch(&root.join("wit/v0.1.0/component.wit"), t0);
        for d in [
            "components/hello/src",
            "components/hello",
            "components",
            "sdk/rust/src",
            "sdk/rust",
            "sdk",
            "wit/v0.1.0",
            "wit",
        ] {
            fs::File::open(root.join(d))
                .unwrap()
                .set_modified(t0)
                .unwrap();
        }
        let wasm = root.join("out/hello.wasm");
        assert!(stale(&member, &wasm), "missing");

        touch(&wasm, t0 + Duration::from_secs(10));
        assert!(!stale(&member, &wasm), "up to date");

        touch(
            &root.join("wit/v0.1.0/component.wit"),
            t0 + Duration::from_secs(20),
        );
        assert!(stale(&member, &wasm), "wit changed");
        touch(&wasm, t0 + Duration::from_secs(30));
        assert!(!stale(&member, &wasm));

        touch(
            &member.join("src/deep/mod.rs"),
            t0 + Duration::from_secs(40),
        );
        assert!(stale(&member, &wasm), "new source file");
    }

    #[test]
    fn a_vendored_sdk_counts_as_a_source() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let t0 = SystemTime::now() - Duration::from_secs(100);
        let member = root.join("components/web");
        touch(&member.join("Cargo.toml"), t0);
        touch(&member.join("src/lib.rs"), t0);
        touch(&root.join("vendor/berth/sdk/rust/Cargo.toml"), t0);
        touch(&root.join("vendor/berth/sdk/rust/src/lib.rs"), t0);
        touch(&root.join("vendor/berth/wit/v0.1.0/component.wit"), t0);
        let wasm = root.join("out/web.wasm");
        touch(&wasm, t0 + Duration::from_secs(10));
        for d in ["components/web/src", "components/web", "components"] {
            fs::File::open(root.join(d))
                .unwrap()
                .set_modified(t0)
                .unwrap();
        }
        for d in ["sdk/rust/src", "sdk/rust", "sdk", "wit/v0.1.0", "wit"] {
            fs::File::open(root.join("vendor/berth").join(d))
                .unwrap()
                .set_modified(t0)
                .unwrap();
        }
        assert!(!stale(&member, &wasm), "up to date");
        touch(
            &root.join("vendor/berth/sdk/rust/src/lib.rs"),
            t0 + Duration::from_secs(20),
        );
        assert!(stale(&member, &wasm), "the vendored SDK changed");
    }
}
