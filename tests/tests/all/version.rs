//! The host refuses a component of an unsupported API version before it
//! runs any of its code, naming both versions.

use berth_runtime::{Runtime, RuntimeOptions, SUPPORTED_API_VERSIONS};
use berth_tests::{HELLO, TestRepo};

/// `HELLO` with its API-version stamp rewritten to `version` (same length,
/// so the custom section stays well-formed).
fn restamped(version: &str) -> Vec<u8> {
    let mut bytes = std::fs::read(HELLO).unwrap();
    let needle = b"berth:api-version0.1.0";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("HELLO carries the API version section");
    assert_eq!(version.len(), 5);
    let start = at + needle.len() - 5;
    bytes[start..start + 5].copy_from_slice(version.as_bytes());
    bytes
}

fn runtime() -> Runtime {
    Runtime::new(RuntimeOptions {
        cache_dir: None,
        ..RuntimeOptions::default()
    })
    .unwrap()
}

#[test]
fn the_examples_carry_the_supported_version() {
    let package = runtime().load(HELLO.as_ref()).unwrap();
    assert_eq!(package.api_version, "0.1.0");
    assert!(SUPPORTED_API_VERSIONS.contains(&package.api_version.as_str()));
    assert_eq!(package.description.name, "hello");
}

#[test]
fn an_unsupported_version_is_refused_naming_both_versions() {
    let bytes = restamped("9.9.9");
    let error = runtime()
        .load_bytes("hello-9.wasm".as_ref(), &bytes)
        .unwrap_err()
        .to_string();
    assert!(error.contains("built for berth API 9.9.9"), "{error}");
    assert!(error.contains("supports API 0.1.0"), "{error}");
}

#[test]
fn a_deploy_with_an_unsupported_component_stops_before_anything_changes() {
    let repo = TestRepo::new();
    let dir = repo.join("components/hello");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hello.wasm"), restamped("0.0.1")).unwrap();
    repo.env("local", "[hosts]\nlocalhost = hello\n");
    let error = repo.deploy("local").error();
    assert!(error.contains("built for berth API 0.0.1"), "{error}");
    assert!(!repo.join("work").exists());
}

#[test]
fn a_core_module_is_not_a_component() {
    let error = runtime()
        .load_bytes("core.wasm".as_ref(), b"\0asm\x01\0\0\0")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("core WebAssembly module, not a component"),
        "{error}"
    );
}
