//! The Rust SDK, embedded so that a Rust component can be scaffolded in any
//! deployment repository: `berth-sdk` is not published to a registry, and a
//! deployment repository has no `sdk/rust` of its own. [`VENDOR_DIR`]
//! receives these files the first time a Rust component needs them; in a
//! berth checkout the checkout's own `sdk/rust` is used instead.
//! (`the_embedded_sdk_is_complete` keeps the list in step with the sources.)

/// Where the SDK is written in a deployment repository, relative to its
/// root: `sdk/rust/` and the `wit/` it generates its bindings from (the SDK
/// reads `../../wit/v0.1.0`, so the two stay side by side).
pub(crate) const VENDOR_DIR: &str = "vendor/berth";

/// The crate's path from `components/` once vendored.
pub(crate) const VENDORED_PATH: &str = "../vendor/berth/sdk/rust";

/// The crate's path from `components/` in a berth checkout.
pub(crate) const CHECKOUT_PATH: &str = "../sdk/rust";

/// Every file the SDK is built from, by its path below [`VENDOR_DIR`] (and
/// below a berth checkout's root).
pub(crate) const FILES: &[(&str, &str)] = &[
    (
        "sdk/rust/Cargo.toml",
        include_str!("../../../sdk/rust/Cargo.toml"),
    ),
    (
        "sdk/rust/src/attribute.rs",
        include_str!("../../../sdk/rust/src/attribute.rs"),
    ),
    (
        "sdk/rust/src/configure.rs",
        include_str!("../../../sdk/rust/src/configure.rs"),
    ),
    (
        "sdk/rust/src/error.rs",
        include_str!("../../../sdk/rust/src/error.rs"),
    ),
    (
        "sdk/rust/src/export.rs",
        include_str!("../../../sdk/rust/src/export.rs"),
    ),
    (
        "sdk/rust/src/fs.rs",
        include_str!("../../../sdk/rust/src/fs.rs"),
    ),
    (
        "sdk/rust/src/lib.rs",
        include_str!("../../../sdk/rust/src/lib.rs"),
    ),
    (
        "sdk/rust/src/log.rs",
        include_str!("../../../sdk/rust/src/log.rs"),
    ),
    (
        "sdk/rust/src/needs.rs",
        include_str!("../../../sdk/rust/src/needs.rs"),
    ),
    (
        "sdk/rust/src/process.rs",
        include_str!("../../../sdk/rust/src/process.rs"),
    ),
    (
        "sdk/rust/src/steps.rs",
        include_str!("../../../sdk/rust/src/steps.rs"),
    ),
    (
        "wit/v0.1.0/component.wit",
        include_str!("../../../wit/v0.1.0/component.wit"),
    ),
];

/// The README written beside the vendored SDK.
pub(crate) const README: &str = "\
# berth's Rust SDK, vendored

`berth new component NAME --lang rust` wrote this folder: the Rust SDK
(`sdk/rust`, the crate `berth-sdk`) and the WIT contract it is generated from
(`wit/`), as embedded in the berth that ran. Rust components depend on it
through `berth-sdk` in `[workspace.dependencies]` of `components/Cargo.toml`.
Commit it with the components; it is not published to a registry.

berth leaves an existing copy alone. To take the SDK of a newer berth, remove
this folder and scaffold a component again (then delete that component), or
copy `sdk/rust` and `wit/` from a berth checkout.
";

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    /// Every file below `dir`, relative to `root`, except build output and
    /// the SDK's own lock file (a dependency's lock file is not used).
    fn files(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path: PathBuf = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name == "target" || name == "Cargo.lock" || name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                files(root, &path, out);
            } else {
                out.push(
                    path.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }

    #[test]
    fn the_embedded_sdk_is_complete() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut on_disk = Vec::new();
        files(&root, &root.join("sdk/rust"), &mut on_disk);
        files(&root, &root.join("wit/v0.1.0"), &mut on_disk);
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(p, _)| (*p).to_owned()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk, "update FILES in {}", file!());
        for (path, text) in FILES {
            assert_eq!(
                std::fs::read_to_string(root.join(path)).unwrap(),
                *text,
                "{path}"
            );
        }
    }
}
