//! Integration tests live in `tests/`; this library only holds shared paths.
//!
//! The constants below are the absolute paths of real components that
//! `build.rs` built from source: the test guests of `tests/guests/` (`PROBE`,
//! `SPIN`, `HOG`, `CALLS`) and the example components of `components/`
//! (`HELLO`, `MOTD`, `CHECKSUMS`). Each must be used by some test under
//! `tests/tests/`, or the build fails.

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

/// The repository's root folder.
pub const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The definition folder (defdir) of the example component `name`:
/// `components/<name>`.
pub fn component_dir(name: &str) -> std::path::PathBuf {
    std::path::Path::new(REPO).join("components").join(name)
}
