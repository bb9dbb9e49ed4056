//! Component names: which are valid, and the Rust and Python identifiers
//! derived from them.

use crate::{Lang, ScaffoldError};

/// The longest name accepted.
const MAX_LEN: usize = 64;

/// Names that would be refused by cargo as a package (library) name, or that
/// would clash with the crates a component is built with.
const RUST_RESERVED: &[&str] = &[
    "abstract",
    "alloc",
    "as",
    "async",
    "await",
    "become",
    "berth_sdk",
    "box",
    "break",
    "const",
    "continue",
    "core",
    "crate",
    "do",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "final",
    "fn",
    "for",
    "gen",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "macro",
    "match",
    "mod",
    "move",
    "mut",
    "override",
    "priv",
    "proc_macro",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "std",
    "struct",
    "super",
    "test",
    "trait",
    "true",
    "try",
    "type",
    "typeof",
    "unsafe",
    "unsized",
    "use",
    "virtual",
    "where",
    "while",
    "yield",
];

/// Type names the generated code imports or relies on (the SDK's, Rust's
/// prelude, Python's constants): a component's own type must not shadow them.
const TAKEN_TYPE_NAMES: &[&str] = &[
    "Access",
    "Attribute",
    "Box",
    "Clone",
    "Component",
    "Configure",
    "Copy",
    "Default",
    "Err",
    "Error",
    "Exception",
    "False",
    "File",
    "Invalid",
    "Needs",
    "None",
    "Ok",
    "Option",
    "Result",
    "Self",
    "Some",
    "String",
    "True",
    "Vec",
];

/// Checks that `name` can name a component package in `lang`: 1 to 64
/// lowercase ASCII letters, digits, `-` and `_`, starting with a letter and
/// not ending with `-` or `_`; for Rust, no keyword or reserved crate name.
pub(crate) fn validate(name: &str, lang: Lang) -> Result<(), ScaffoldError> {
    let bad = |reason: String| ScaffoldError::BadName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(bad("it is empty".to_owned()));
    }
    if name.len() > MAX_LEN {
        return Err(bad(format!("it is longer than {MAX_LEN} characters")));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
    {
        return Err(bad(format!(
            "`{c}` is not allowed: use lowercase letters, digits, `-` and `_`"
        )));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(bad("it must start with a lowercase letter".to_owned()));
    }
    if name.ends_with(['-', '_']) {
        return Err(bad("it must not end with `-` or `_`".to_owned()));
    }
    if lang == Lang::Rust && RUST_RESERVED.contains(&name.replace('-', "_").as_str()) {
        return Err(bad(
            "it is a Rust keyword or the name of a crate a component is built with".to_owned(),
        ));
    }
    Ok(())
}

/// The type (Rust struct, Python class) of the component `name`, in
/// CamelCase: `web-app` → `WebApp`; a name that would shadow what the
/// generated code uses gets a `Component` suffix (`file` → `FileComponent`).
pub(crate) fn type_name(name: &str) -> String {
    let camel: String = name
        .split(['-', '_'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    if TAKEN_TYPE_NAMES.contains(&camel.as_str()) {
        camel + "Component"
    } else {
        camel
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names_pass() {
        for name in ["web", "web-app", "web_app2", "a1", "x-y-z"] {
            validate(name, Lang::Rust).unwrap();
            validate(name, Lang::Python).unwrap();
        }
    }

    #[test]
    fn invalid_names_say_why() {
        for (name, reason) in [
            ("", "it is empty"),
            ("Web", "`W` is not allowed"),
            ("web app", "` ` is not allowed"),
            ("../x", "`.` is not allowed"),
            ("2web", "must start with a lowercase letter"),
            ("-web", "must start with a lowercase letter"),
            ("web-", "must not end with `-` or `_`"),
            ("café", "`é` is not allowed"),
        ] {
            let e = validate(name, Lang::Python).unwrap_err().to_string();
            assert!(e.contains(reason), "{name}: {e}");
            assert!(e.contains(&format!("`{name}`")), "{e}");
        }
        assert!(validate(&"a".repeat(65), Lang::Rust).is_err());
        validate(&"a".repeat(64), Lang::Rust).unwrap();
    }

    #[test]
    fn rust_keywords_are_refused_for_rust_only() {
        for name in ["fn", "self", "std", "berth-sdk", "proc-macro"] {
            let e = validate(name, Lang::Rust).unwrap_err().to_string();
            assert!(e.contains("Rust keyword"), "{e}");
        }
        validate("fn", Lang::Python).unwrap();
    }

    #[test]
    fn type_names_are_camel_case_and_never_shadow_imports() {
        assert_eq!(type_name("web"), "Web");
        assert_eq!(type_name("web-app"), "WebApp");
        assert_eq!(type_name("web_app-2"), "WebApp2");
        assert_eq!(type_name("file"), "FileComponent");
        assert_eq!(type_name("none"), "NoneComponent");
        assert_eq!(type_name("ok"), "OkComponent");
    }
}
