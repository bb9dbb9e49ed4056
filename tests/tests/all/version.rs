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

#[test]
fn a_second_load_takes_the_compiled_code_from_the_cache() {
    use berth_runtime::CacheOutcome;
    let cache = tempfile::tempdir().unwrap();
    let options = RuntimeOptions {
        cache_dir: Some(cache.path().to_path_buf()),
        ..RuntimeOptions::default()
    };
    let first = Runtime::new(options.clone())
        .unwrap()
        .load(HELLO.as_ref())
        .unwrap();
    assert_eq!(first.cache, CacheOutcome::Compiled);

    let entries: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let name = entries[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(name.starts_with(&first.sha256), "{name}");
    assert!(name.ends_with(".cwasm"), "{name}");

    // A new runtime (a new berth process) compiles nothing.
    let second = Runtime::new(options.clone())
        .unwrap()
        .load(HELLO.as_ref())
        .unwrap();
    assert_eq!(second.cache, CacheOutcome::Hit);
    assert_eq!(second.description.name, "hello");

    // A damaged entry is not trusted: it is compiled again and replaced.
    // (Replaced by rename: `first` and `second` still map the old file.)
    let damaged = cache.path().join("damaged");
    std::fs::write(&damaged, b"not compiled code").unwrap();
    std::fs::rename(&damaged, &entries[0]).unwrap();
    let third = Runtime::new(options.clone())
        .unwrap()
        .load(HELLO.as_ref())
        .unwrap();
    assert_eq!(third.cache, CacheOutcome::Compiled);
    let fourth = Runtime::new(options).unwrap().load(HELLO.as_ref()).unwrap();
    assert_eq!(fourth.cache, CacheOutcome::Hit);
}

#[test]
fn a_replaced_file_is_checked_again_not_trusted_from_memory() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hello.wasm");
    std::fs::copy(HELLO, &file).unwrap();
    let options = RuntimeOptions {
        cache_dir: Some(cache.path().to_path_buf()),
        ..RuntimeOptions::default()
    };
    let first = Runtime::new(options.clone()).unwrap().load(&file).unwrap();
    // Unchanged: taken from the cache (and not even read).
    let again = Runtime::new(options.clone()).unwrap().load(&file).unwrap();
    assert_eq!(again.cache, berth_runtime::CacheOutcome::Hit);
    assert_eq!(again.sha256, first.sha256);

    // Replaced by a file of another API version: refused, not remembered.
    let replacement = dir.path().join("new.wasm");
    std::fs::write(&replacement, restamped("9.9.9")).unwrap();
    std::fs::rename(&replacement, &file).unwrap();
    let error = Runtime::new(options)
        .unwrap()
        .load(&file)
        .unwrap_err()
        .to_string();
    assert!(error.contains("built for berth API 9.9.9"), "{error}");
}
