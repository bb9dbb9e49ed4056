//! The cargo workspace `components/Cargo.toml`: a new one, or an existing one
//! with a member added, edited with `toml_edit` so that its comments and
//! layout stay as they were.

use std::path::Path;

use toml_edit::{Array, DocumentMut, InlineTable, Item, Table, value};

use crate::ScaffoldError;

/// A new workspace file with `member` and the SDK at `sdk_path`.
pub(crate) fn new(member: &str, sdk_path: &str) -> String {
    format!(
        "\
# The Rust components: a cargo workspace of their own, built for
# `wasm32-unknown-unknown` by `berth build` (never for the host). Each member
# folder is one component package and also its definition folder (defdir).
[workspace]
resolver = \"3\"
members = [{member:?}]

[workspace.dependencies]
berth-sdk = {{ path = {sdk_path:?} }}

# Small components: no unwinding, optimised for size.
[profile.release]
panic = \"abort\"
opt-level = \"s\"
lto = true
codegen-units = 1
"
    )
}

/// What adding a member to an existing workspace file did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Edit {
    /// The new text of the file.
    pub text: String,
    /// Whether `berth-sdk` was added to `[workspace.dependencies]`.
    pub added_sdk: bool,
}

/// `text` (the workspace file at `path`) with `member` in
/// `[workspace] members` — unless a member or glob already covers it — and
/// `berth-sdk` in `[workspace.dependencies]` at `sdk_path` unless it is
/// there already.
///
/// Fails when the file is no TOML, has no `[workspace]` table, or has a
/// `members` that is not an array of strings.
pub(crate) fn add_member(
    path: &Path,
    text: &str,
    member: &str,
    sdk_path: &str,
) -> Result<Edit, ScaffoldError> {
    let bad = |message: String| ScaffoldError::Workspace {
        path: path.to_owned(),
        message,
    };
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| bad(format!("not valid TOML: {e}")))?;
    let workspace = doc
        .get_mut("workspace")
        .and_then(Item::as_table_mut)
        .ok_or_else(|| bad("it has no `[workspace]` table".to_owned()))?;

    let members = workspace
        .entry("members")
        .or_insert_with(|| value(Array::new()))
        .as_array_mut()
        .ok_or_else(|| bad("`members` in `[workspace]` is not an array".to_owned()))?;
    let mut listed = false;
    for m in members.iter() {
        let pattern = m
            .as_str()
            .ok_or_else(|| bad(format!("`members` holds {m}, not a folder name")))?;
        listed |= pattern == member || glob::Pattern::new(pattern).is_ok_and(|p| p.matches(member));
    }
    if !listed {
        members.push(member);
    }

    let dependencies = workspace
        .entry("dependencies")
        .or_insert_with(|| Item::Table(Table::new()))
        .as_table_like_mut()
        .ok_or_else(|| bad("`[workspace.dependencies]` is not a table".to_owned()))?;
    let added_sdk = !dependencies.contains_key("berth-sdk");
    if added_sdk {
        let mut sdk = InlineTable::new();
        sdk.insert("path", sdk_path.into());
        dependencies.insert("berth-sdk", value(sdk));
    }
    Ok(Edit {
        text: doc.to_string(),
        added_sdk,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXISTING: &str = "\
# Our components.
[workspace]
resolver = \"3\"
# Keep these sorted.
members = [\"app\", \"db\"] # two so far

[workspace.dependencies]
berth-sdk = { path = \"../sdk/rust\" }
serde = \"1\"
";

    #[test]
    fn a_member_is_added_and_comments_stay() {
        let edit = add_member(Path::new("c/Cargo.toml"), EXISTING, "web", "../x").unwrap();
        assert!(!edit.added_sdk);
        assert_eq!(
            edit.text,
            EXISTING.replace("[\"app\", \"db\"]", "[\"app\", \"db\", \"web\"]")
        );
    }

    #[test]
    fn a_member_already_listed_or_matched_is_not_added_twice() {
        let edit = add_member(Path::new("c/Cargo.toml"), EXISTING, "db", "../x").unwrap();
        assert_eq!(edit.text, EXISTING);
        let globbed = "[workspace]\nmembers = [\"*\"]\n[workspace.dependencies]\nberth-sdk = { path = \"y\" }\n";
        let edit = add_member(Path::new("c/Cargo.toml"), globbed, "web", "../x").unwrap();
        assert_eq!(edit.text, globbed);
    }

    #[test]
    fn the_sdk_is_added_when_missing() {
        let edit = add_member(
            Path::new("c/Cargo.toml"),
            "[workspace]\nresolver = \"3\"\n",
            "web",
            "../vendor/berth/sdk/rust",
        )
        .unwrap();
        assert!(edit.added_sdk);
        assert_eq!(
            edit.text,
            "[workspace]\nresolver = \"3\"\nmembers = [\"web\"]\n\n[workspace.dependencies]\nberth-sdk = { path = \"../vendor/berth/sdk/rust\" }\n"
        );
    }

    #[test]
    fn a_file_that_is_no_workspace_is_refused_with_its_path() {
        for (text, message) in [
            ("[package]\nname = \"x\"\n", "it has no `[workspace]` table"),
            ("[workspace\n", "not valid TOML"),
            (
                "[workspace]\nmembers = \"x\"\n",
                "`members` in `[workspace]` is not an array",
            ),
            ("[workspace]\nmembers = [1]\n", "`members` holds 1"),
        ] {
            let e = add_member(Path::new("c/Cargo.toml"), text, "web", "../x")
                .unwrap_err()
                .to_string();
            assert!(e.contains("`c/Cargo.toml`"), "{e}");
            assert!(e.contains(message), "{e}");
        }
    }

    #[test]
    fn a_new_workspace_parses_and_can_take_more_members() {
        let text = new("web", "../sdk/rust");
        let edit = add_member(Path::new("c/Cargo.toml"), &text, "db", "../x").unwrap();
        assert!(!edit.added_sdk);
        assert!(
            edit.text.contains("members = [\"web\", \"db\"]\n"),
            "{}",
            edit.text
        );
        assert!(
            edit.text.starts_with("# The Rust components"),
            "{}",
            edit.text
        );
    }
}
