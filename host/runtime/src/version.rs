//! The API version a component was built for, read from its custom section.

use crate::LoadError;
use std::path::Path;

/// The custom section in which the SDK stamps the API version.
pub const API_VERSION_SECTION: &str = "berth:api-version";

/// The API version this host implements natively.
pub const API_VERSION: &str = "0.1.0";

/// Every API version this host can load.
pub const SUPPORTED_API_VERSIONS: &[&str] = &[API_VERSION];

/// Reads the API version stamped into a component (in the component itself
/// or in one of its nested core modules), or `None` when there is none.
///
/// Fails when the bytes are not WebAssembly or hold two different versions.
pub fn api_version(bytes: &[u8]) -> Result<Option<String>, String> {
    let mut found: Option<String> = None;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| format!("not a valid WebAssembly file: {e}"))?;
        if let wasmparser::Payload::CustomSection(section) = payload
            && section.name() == API_VERSION_SECTION
        {
            let version = std::str::from_utf8(section.data())
                .map_err(|_| format!("the `{API_VERSION_SECTION}` section is not UTF-8"))?
                .trim_end_matches('\0')
                .to_string();
            match &found {
                Some(other) if *other != version => {
                    return Err(format!(
                        "the component claims two API versions, {other} and {version}"
                    ));
                }
                _ => found = Some(version),
            }
        }
    }
    Ok(found)
}

/// Refuses anything that is not a component of a supported API version.
pub(crate) fn check(path: &Path, bytes: &[u8]) -> Result<String, LoadError> {
    if !wasmparser::Parser::is_component(bytes) {
        return Err(if wasmparser::Parser::is_core_wasm(bytes) {
            LoadError::NotComponent {
                path: path.to_path_buf(),
            }
        } else {
            LoadError::Invalid {
                path: path.to_path_buf(),
                message: "not a WebAssembly file".into(),
            }
        });
    }
    let found = api_version(bytes).map_err(|message| LoadError::Invalid {
        path: path.to_path_buf(),
        message,
    })?;
    match found {
        Some(v) if SUPPORTED_API_VERSIONS.contains(&v.as_str()) => Ok(v),
        Some(v) => Err(LoadError::UnsupportedApi {
            path: path.to_path_buf(),
            found: v,
        }),
        None => Err(LoadError::NoApiVersion {
            path: path.to_path_buf(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module_with_section(name: &str, data: &[u8]) -> Vec<u8> {
        // A core module header followed by one custom section.
        let mut out = b"\0asm\x01\0\0\0".to_vec();
        let mut body = vec![name.len() as u8];
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(data);
        out.push(0);
        out.push(body.len() as u8);
        out.extend(body);
        out
    }

    #[test]
    fn reads_the_stamped_version() {
        let bytes = module_with_section(API_VERSION_SECTION, b"0.1.0");
        assert_eq!(api_version(&bytes).unwrap().as_deref(), Some("0.1.0"));
    }

    #[test]
    fn no_section_is_none() {
        let bytes = module_with_section("other", b"x");
        assert_eq!(api_version(&bytes).unwrap(), None);
    }

    #[test]
    fn core_modules_are_refused_with_a_hint() {
        let bytes = module_with_section(API_VERSION_SECTION, b"0.1.0");
        let err = check(Path::new("x.wasm"), &bytes).unwrap_err();
        assert!(err.to_string().contains("core WebAssembly module"), "{err}");
    }

    #[test]
    fn garbage_is_refused() {
        let err = check(Path::new("x.wasm"), b"hello").unwrap_err();
        assert!(err.to_string().contains("not a WebAssembly file"), "{err}");
    }
}
