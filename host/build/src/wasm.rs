//! Looking into WebAssembly bytes, and turning core modules into components.

use wasmparser::{Parser, Payload};

use crate::{API_VERSION_SECTION, BuildError};

/// Whether `bytes` is a WebAssembly component (not a core module).
pub fn is_component(bytes: &[u8]) -> bool {
    Parser::is_component(bytes)
}

/// Turn a core module linked by `rust-lld` into a component.
///
/// The module must carry the `component-type` custom section that
/// wit-bindgen embeds (every guest built with `berth-sdk` does); a module
/// without one becomes a component with no imports and exports. Fails with
/// [`BuildError::Componentize`] when wit-component rejects the module.
pub fn componentize(core_module: &[u8]) -> Result<Vec<u8>, BuildError> {
    let fail = |e: &dyn std::fmt::Display| BuildError::Componentize {
        what: "a core module".to_owned(),
        message: format!("{e:#}"),
    };
    wit_component::ComponentEncoder::default()
        .module(core_module)
        .map_err(|e| fail(&e))?
        .validate(true)
        .encode()
        .map_err(|e| fail(&e))
}

/// The content of the first custom section called `name`, looking into
/// nested modules and components too (the API version section lives in the
/// component's core module).
///
/// Fails with the parser's message when `bytes` is not valid WebAssembly.
pub fn custom_section(bytes: &[u8], name: &str) -> Result<Option<Vec<u8>>, String> {
    for payload in Parser::new(0).parse_all(bytes) {
        if let Payload::CustomSection(section) = payload.map_err(|e| e.to_string())?
            && section.name() == name
        {
            return Ok(Some(section.data().to_vec()));
        }
    }
    Ok(None)
}

/// Appends a custom section `name` holding `data` to the end of `bytes`
/// (a component or a module; a custom section is valid at the end of
/// either).
pub fn append_custom_section(bytes: &mut Vec<u8>, name: &str, data: &[u8]) {
    use wasm_encoder::Section as _;
    wasm_encoder::CustomSection {
        name: name.into(),
        data: data.into(),
    }
    .append_to(bytes);
}

/// The content of every custom section called `name` at the top level of
/// `bytes` (not inside nested modules or components), in file order.
///
/// Fails with the parser's message when `bytes` is not valid WebAssembly.
pub fn top_level_custom_sections(bytes: &[u8], name: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut found = Vec::new();
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| e.to_string())? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::CustomSection(section) if depth == 0 && section.name() == name => {
                found.push(section.data().to_vec());
            }
            _ => {}
        }
    }
    Ok(found)
}

/// The API version `berth_sdk::export!` stamped into a component, if any.
///
/// `None` when there is no such section or it is not UTF-8.
pub fn api_version(bytes: &[u8]) -> Option<String> {
    custom_section(bytes, API_VERSION_SECTION)
        .ok()
        .flatten()
        .and_then(|data| String::from_utf8(data).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty core module: magic and version 1.
    const EMPTY_MODULE: &[u8] = b"\0asm\x01\0\0\0";

    /// A core module with one custom section `name` holding `data`.
    fn module_with_section(name: &str, data: &[u8]) -> Vec<u8> {
        let mut body = vec![u8::try_from(name.len()).unwrap()];
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(data);
        let mut module = EMPTY_MODULE.to_vec();
        module.push(0); // custom section id
        module.push(u8::try_from(body.len()).unwrap());
        module.extend(body);
        module
    }

    #[test]
    fn a_core_module_is_not_a_component_until_componentized() {
        assert!(!is_component(EMPTY_MODULE));
        let component = componentize(EMPTY_MODULE).unwrap();
        assert!(is_component(&component));
        assert!(!is_component(b"not wasm"));
    }

    #[test]
    fn componentize_keeps_custom_sections_of_the_module() {
        let module = module_with_section(API_VERSION_SECTION, b"0.1.0");
        assert_eq!(api_version(&module).as_deref(), Some("0.1.0"));
        let component = componentize(&module).unwrap();
        assert_eq!(api_version(&component).as_deref(), Some("0.1.0"));
        assert_eq!(api_version(EMPTY_MODULE), None);
    }

    #[test]
    fn long_sections_use_multi_byte_sizes() {
        let data = vec![7u8; 300];
        let mut module = EMPTY_MODULE.to_vec();
        append_custom_section(&mut module, "berth:long", &data);
        // id, then the size 300 + 1 + 10 = 311 as two LEB128 bytes.
        assert_eq!(module[8..11], [0, 0xb7, 0x02]);
        assert_eq!(custom_section(&module, "berth:long").unwrap(), Some(data));
    }

    #[test]
    fn top_level_sections_skip_nested_modules() {
        // The module's own section is nested in the component: not top level.
        let module = module_with_section("berth:x", b"inner");
        let mut component = componentize(&module).unwrap();
        assert!(
            top_level_custom_sections(&component, "berth:x")
                .unwrap()
                .is_empty()
        );
        append_custom_section(&mut component, "berth:x", &[7u8; 200]);
        append_custom_section(&mut component, "berth:x", b"two");
        assert!(is_component(&component));
        assert_eq!(
            top_level_custom_sections(&component, "berth:x").unwrap(),
            vec![vec![7u8; 200], b"two".to_vec()]
        );
        assert!(top_level_custom_sections(b"garbage", "berth:x").is_err());
    }

    #[test]
    fn componentize_rejects_garbage() {
        let e = componentize(b"\0asm\x01\0\0\0\x7f").unwrap_err();
        assert!(matches!(e, BuildError::Componentize { .. }), "{e}");
    }
}
