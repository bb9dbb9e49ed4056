//! Whether a built component is out of date with its sources.
//!
//! Decided by content, not by modification times: a `git checkout` or a
//! `touch` changes mtimes without changing what a build would produce, and
//! outputs that are written only when their bytes change never get newer
//! than such a touched file. After a build, [`record`] writes a digest of
//! the sources beside the component; [`stale`] compares it with a fresh
//! digest. The workspace's `Cargo.lock` is digested apart, when the build
//! is recorded: cargo writes it while it builds (creates it, the first
//! time), and what it wrote is what was built.

use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};

/// Whether `wasm` is missing, or was not built from the sources as they are
/// now.
///
/// The sources are the member's `Cargo.toml`, `build.rs` and `src/**`, the
/// workspace's `Cargo.toml` and `Cargo.lock` (in the parent folder), and,
/// when an ancestor folder holds berth's `sdk/rust` and `wit/` (a berth
/// checkout) or `vendor/berth/` with both (as `berth new` writes them), the
/// SDK's `Cargo.toml` and `src/**` and all of `wit/`. A source that cannot be
/// read makes the component stale, so a doubtful build is redone.
pub fn stale(workspace_member_dir: &Path, wasm: &Path) -> bool {
    if !wasm.is_file() {
        return true;
    }
    let Ok(recorded) = fs::read_to_string(stamp(wasm)) else {
        return true;
    };
    let mut lines = recorded.lines();
    let (Some(sources), Some(lock)) = (lines.next(), lines.next()) else {
        return true;
    };
    sources_digest(workspace_member_dir).is_none_or(|now| now != sources)
        || lock_digest(workspace_member_dir).is_none_or(|now| now != lock)
}

/// The digest of the member's sources as they are now (see [`stale`]; the
/// `Cargo.lock` aside), or `None` when one cannot be read. Take it before building and [`record`]
/// it after, so an edit made during the build is not taken as built.
pub fn sources_digest(workspace_member_dir: &Path) -> Option<String> {
    let mut hasher = Sha256::new();
    for (i, root) in sources(workspace_member_dir).iter().enumerate() {
        hasher.update(format!("root {i}\n"));
        hash_tree(root, Path::new(""), &mut hasher)?;
    }
    Some(hex::encode(hasher.finalize()))
}

/// Records that `wasm` was built by the member in `workspace_member_dir`
/// from sources with `digest`, and with the workspace's `Cargo.lock` as it
/// is now, after the build.
pub fn record(workspace_member_dir: &Path, wasm: &Path, digest: &str) -> std::io::Result<()> {
    let lock = lock_digest(workspace_member_dir)
        .ok_or_else(|| std::io::Error::other("cannot read the workspace's Cargo.lock"))?;
    fs::write(stamp(wasm), format!("{digest}\n{lock}\n"))
}

/// The digest of the workspace's `Cargo.lock` (or of its absence).
fn lock_digest(workspace_member_dir: &Path) -> Option<String> {
    let mut hasher = Sha256::new();
    if let Some(workspace) = workspace_member_dir.parent() {
        hash_tree(
            &workspace.join("Cargo.lock"),
            Path::new("Cargo.lock"),
            &mut hasher,
        )?;
    }
    Some(hex::encode(hasher.finalize()))
}

/// The file beside `wasm` that holds the digest of its sources.
fn stamp(wasm: &Path) -> PathBuf {
    let mut name = wasm.file_name().unwrap_or_default().to_owned();
    name.push(".sources");
    wasm.with_file_name(name)
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

/// Feeds `path` (a file, or every file below a folder, in name order; a
/// symlink as where it points) to `hasher`, each under its name relative
/// to the root; a missing path counts as such. `None` when something cannot be read.
fn hash_tree(path: &Path, name: &Path, hasher: &mut Sha256) -> Option<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            hasher.update(format!("missing {}\n", name.display()));
            return Some(());
        }
        Err(_) => return None,
    };
    if meta.is_symlink() {
        // A link is its target, not followed: `wit/` links folders.
        let target = fs::read_link(path).ok()?;
        hasher.update(format!("link {} {}\n", name.display(), target.display()));
    } else if meta.is_dir() {
        let mut entries: Vec<_> = fs::read_dir(path)
            .ok()?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .ok()?;
        entries.sort();
        hasher.update(format!("dir {}\n", name.display()));
        for entry in entries {
            hash_tree(&path.join(&entry), &name.join(&entry), hasher)?;
        }
    } else {
        let bytes = fs::read(path).ok()?;
        hasher.update(format!("file {} {}\n", name.display(), bytes.len()));
        hasher.update(&bytes);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    /// Builds `wasm` as a build would: output, then the digest taken before.
    fn built(member: &Path, wasm: &Path) {
        let digest = sources_digest(member).unwrap();
        write(wasm, "component");
        record(member, wasm, &digest).unwrap();
    }

    #[test]
    fn missing_or_changed_sources_are_stale_touched_ones_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let member = root.join("components/hello");
        write(&member.join("Cargo.toml"), "[package]");
        write(&member.join("src/lib.rs"), "fn a() {}");
        write(&root.join("components/Cargo.toml"), "[workspace]");
        write(&root.join("sdk/rust/Cargo.toml"), "[package]");
        write(&root.join("sdk/rust/src/lib.rs"), "");
        write(&root.join("wit/v0.1.0/component.wit"), "package x;");
        let wasm = root.join("out/hello.wasm");
        assert!(stale(&member, &wasm), "missing");

        built(&member, &wasm);
        assert!(!stale(&member, &wasm), "up to date");

        // What `touch` or a `git checkout` does: new mtimes, same bytes.
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
        for f in ["components/Cargo.toml", "components/hello/src/lib.rs"] {
            fs::File::options()
                .write(true)
                .open(root.join(f))
                .unwrap()
                .set_modified(later)
                .unwrap();
        }
        assert!(!stale(&member, &wasm), "touched, not changed");

        // Cargo writes the lock file while it builds: what it wrote counts.
        let digest = sources_digest(&member).unwrap();
        write(&root.join("components/Cargo.lock"), "# written by cargo");
        write(&wasm, "component");
        record(&member, &wasm, &digest).unwrap();
        assert!(!stale(&member, &wasm), "the lock cargo wrote was built");
        write(&root.join("components/Cargo.lock"), "# updated");
        assert!(stale(&member, &wasm), "lock changed");
        built(&member, &wasm);

        write(&root.join("wit/v0.1.0/component.wit"), "package y;");
        assert!(stale(&member, &wasm), "wit changed");
        built(&member, &wasm);
        assert!(!stale(&member, &wasm));

        // A linked folder counts by where it points (wit/ has such links).
        std::os::unix::fs::symlink("../v0.1.0", root.join("wit/v0.1.0/link")).unwrap();
        assert!(stale(&member, &wasm), "new link");
        built(&member, &wasm);
        assert!(!stale(&member, &wasm), "a link is read, not followed");

        write(&member.join("src/deep/mod.rs"), "");
        assert!(stale(&member, &wasm), "new source file");
        built(&member, &wasm);
        fs::remove_file(member.join("src/deep/mod.rs")).unwrap();
        assert!(stale(&member, &wasm), "removed source file");
    }

    #[test]
    fn a_vendored_sdk_counts_as_a_source() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let member = root.join("components/web");
        write(&member.join("Cargo.toml"), "[package]");
        write(&member.join("src/lib.rs"), "");
        write(&root.join("vendor/berth/sdk/rust/Cargo.toml"), "[package]");
        write(&root.join("vendor/berth/sdk/rust/src/lib.rs"), "");
        write(&root.join("vendor/berth/wit/v0.1.0/component.wit"), "");
        let wasm = root.join("out/web.wasm");
        built(&member, &wasm);
        assert!(!stale(&member, &wasm), "up to date");
        write(&root.join("vendor/berth/sdk/rust/src/lib.rs"), "// edited");
        assert!(stale(&member, &wasm), "the vendored SDK changed");
    }
}
