//! Packages: one `.wasm` file that carries a component, its metadata and the
//! files of its definition folder, so that another repository can pin it by
//! the sha256 of that one file.
//!
//! A package is the component's bytes followed by two custom sections at
//! its top level (a custom section is valid at the end of a component, and
//! wasmtime ignores it):
//!
//! - [`PACKAGE_SECTION`] (`berth:package`): [`Metadata`] as JSON;
//! - [`FILES_SECTION`] (`berth:files`): the definition folder's data files
//!   (templates, static files), encoded by [`encode_files`].
//!
//! Both are covered by the file's sha256, so a pin covers the code, the
//! metadata and the files alike.
//!
//! A Python component's package has no code: it is an empty component
//! ([`EMPTY_COMPONENT`]) with the two sections, whose files are the
//! component's sources and data, and whose metadata names the Python
//! runtime it needs. It weighs what its sources weigh.

use crate::BuildError;
use crate::wasm::{append_custom_section, top_level_custom_sections};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Component, Path, PathBuf};
use wasm_encoder::Encode as _;
use wasmparser::BinaryReader;

/// The custom section holding a package's [`Metadata`] as JSON.
pub const PACKAGE_SECTION: &str = "berth:package";

/// The custom section holding a package's data files.
pub const FILES_SECTION: &str = "berth:files";

/// A component with nothing in it (the preamble of the component binary
/// format): what a Python component's package appends its sections to.
pub const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

/// What `berth package` records about a component, as JSON in the
/// [`PACKAGE_SECTION`]. Readers ignore fields they do not know, so later
/// berth versions may add some.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// The package's name: its folder in `components/` where it was packaged.
    pub name: String,
    /// The package's version (semver), from the component's `describe()`.
    pub version: String,
    /// The WIT API version the component implements (`berth:api-version`).
    pub api_version: String,
    /// The sha256 of the package's folder ([`source_digest`]).
    pub source_digest: String,
    /// The berth version that wrote the package.
    pub berth_version: String,
    /// The root components, as `describe()` tells them.
    pub roots: Vec<RootMetadata>,
    /// For a Python component: the version of berth's Python runtime it
    /// needs ([`crate::PYTHON_RUNTIME_VERSION`]). Its package carries no
    /// code of its own, only its sources among the files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_runtime: Option<String>,
}

/// One root component of a package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootMetadata {
    /// The component's name.
    pub name: String,
    /// What it deploys.
    pub doc: String,
    /// Its attributes.
    pub attributes: Vec<AttributeMetadata>,
    /// The capabilities it requests beyond its workdir and defdir.
    pub needs: NeedsMetadata,
}

/// One attribute of a root component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributeMetadata {
    /// Its name.
    pub name: String,
    /// `string`, `int`, `bool`, `list` or `map`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The default value, or `null` when the environment must set it.
    pub default: Option<serde_json::Value>,
    /// Its documentation.
    pub doc: String,
}

/// The capabilities a root component requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NeedsMetadata {
    /// Paths with their access.
    pub paths: Vec<PathNeedMetadata>,
    /// Programs.
    pub commands: Vec<String>,
}

/// A path a root component requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathNeedMetadata {
    /// The absolute path.
    pub path: String,
    /// `ro` or `rw`.
    pub access: String,
}

/// A data file of a package's definition folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackagedFile {
    /// The path relative to the definition folder, `/`-separated.
    pub path: String,
    /// Whether the file is executable (mode 0755 rather than 0644).
    pub executable: bool,
    /// The content.
    pub content: Vec<u8>,
}

/// What a package file holds besides the component.
#[derive(Debug, Clone, PartialEq)]
pub struct Contents {
    /// The metadata.
    pub metadata: Metadata,
    /// The data files, sorted by path.
    pub files: Vec<PackagedFile>,
}

/// `component` with the package sections appended.
///
/// Fails when `component` already is a package (packaging a package would
/// leave two metadata sections, and readers refuse that).
pub fn make_package(
    mut component: Vec<u8>,
    metadata: &Metadata,
    files: &[PackagedFile],
) -> Result<Vec<u8>, String> {
    if !top_level_custom_sections(&component, PACKAGE_SECTION)?.is_empty() {
        return Err(format!(
            "it already is a package (it has a `{PACKAGE_SECTION}` section)"
        ));
    }
    let json = serde_json::to_vec(metadata).map_err(|e| e.to_string())?;
    append_custom_section(&mut component, PACKAGE_SECTION, &json);
    append_custom_section(&mut component, FILES_SECTION, &encode_files(files));
    Ok(component)
}

/// The metadata and files of a package; `None` for a plain component (no
/// [`PACKAGE_SECTION`]).
///
/// Fails when `bytes` is not WebAssembly, when a section appears twice,
/// when the metadata is not the JSON described by [`Metadata`], or when the
/// files section is malformed or names a path outside the folder.
pub fn read_package(bytes: &[u8]) -> Result<Option<Contents>, String> {
    let metadata = match single_section(bytes, PACKAGE_SECTION)? {
        None => return Ok(None),
        Some(data) => serde_json::from_slice::<Metadata>(&data)
            .map_err(|e| format!("its `{PACKAGE_SECTION}` section is not valid: {e}"))?,
    };
    let files = match single_section(bytes, FILES_SECTION)? {
        None => Vec::new(),
        Some(data) => decode_files(&data)
            .map_err(|e| format!("its `{FILES_SECTION}` section is not valid: {e}"))?,
    };
    Ok(Some(Contents { metadata, files }))
}

fn single_section(bytes: &[u8], name: &str) -> Result<Option<Vec<u8>>, String> {
    let mut sections = top_level_custom_sections(bytes, name)?;
    match sections.len() {
        0 | 1 => Ok(sections.pop()),
        n => Err(format!("it has {n} `{name}` sections; a package has one")),
    }
}

/// The [`FILES_SECTION`] encoding: for each file, in path order, the path's
/// length (unsigned LEB128) and the path (UTF-8, relative, `/`-separated),
/// one flags byte (bit 0: executable), the content's length (unsigned
/// LEB128) and the content.
pub fn encode_files(files: &[PackagedFile]) -> Vec<u8> {
    let mut out = Vec::new();
    for file in files {
        file.path.as_str().encode(&mut out);
        out.push(u8::from(file.executable));
        file.content.as_slice().encode(&mut out);
    }
    out
}

/// Decodes [`encode_files`]. A path must be relative and stay inside the
/// folder (no `..`, no empty or `.` parts) and appear once: the bytes come
/// from a package nobody has to trust.
pub fn decode_files(data: &[u8]) -> Result<Vec<PackagedFile>, String> {
    let damaged = |e: wasmparser::BinaryReaderError| {
        format!(
            "it ends in the middle of a file or is damaged: {}",
            e.message()
        )
    };
    let mut reader = BinaryReader::new(data, 0);
    let mut files: Vec<PackagedFile> = Vec::new();
    while !reader.eof() {
        let path = reader.read_unlimited_string().map_err(damaged)?.to_owned();
        if !is_safe_relative(&path) {
            return Err(format!("the path `{path}` leaves the definition folder"));
        }
        if files.last().is_some_and(|last| last.path >= path) {
            return Err(format!("the path `{path}` is out of order or repeated"));
        }
        let flags = reader.read_u8().map_err(damaged)?;
        if flags > 1 {
            return Err(format!("unknown flags {flags:#x} for `{path}`"));
        }
        let len = reader.read_var_u32().map_err(damaged)? as usize;
        let content = reader.read_bytes(len).map_err(damaged)?.to_vec();
        files.push(PackagedFile {
            path,
            executable: flags == 1,
            content,
        });
    }
    Ok(files)
}

/// Whether `path` is `a/b/c` with only normal parts.
fn is_safe_relative(path: &str) -> bool {
    !path.is_empty()
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// The files of a package folder, as `/`-separated paths relative to `dir`,
/// sorted bytewise: every regular file below `dir`, except hidden entries
/// (names starting with `.`) and the folders `target/` and `__pycache__/`.
/// Symbolic links are not followed and not listed.
pub fn package_files(dir: &Path) -> Result<Vec<String>, BuildError> {
    let mut files = Vec::new();
    let mut pending = vec![(dir.to_path_buf(), String::new())];
    while let Some((folder, prefix)) = pending.pop() {
        let entries = std::fs::read_dir(&folder).map_err(BuildError::io("read", &folder))?;
        for entry in entries {
            let entry = entry.map_err(BuildError::io("read", &folder))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let kind = entry.file_type().map_err(BuildError::io("stat", &path))?;
            let rel = format!("{prefix}{name}");
            if kind.is_dir() {
                if name != "target" && name != "__pycache__" {
                    pending.push((path, format!("{rel}/")));
                }
            } else if kind.is_file() {
                files.push(rel);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// The source digest of a package folder: the sha256 of the text that
/// `sha256sum` prints for [`package_files`] in that order, that is, one
/// line `<sha256 of the file, lowercase hex>  <relative path>\n` per file.
/// It can be recomputed with standard tools:
///
/// ```text
/// cd components/NAME && find . -type f ! -path '*/.*' ! -path '*/target/*' \
///   ! -path '*/__pycache__/*' | sed 's|^\./||' | LC_ALL=C sort | xargs sha256sum | sha256sum
/// ```
pub fn source_digest(dir: &Path) -> Result<String, BuildError> {
    let mut listing = Sha256::new();
    for rel in package_files(dir)? {
        let path = dir.join(&rel);
        let content = std::fs::read(&path).map_err(BuildError::io("read", &path))?;
        listing.update(format!(
            "{}  {rel}\n",
            hex::encode(Sha256::digest(&content))
        ));
    }
    Ok(hex::encode(listing.finalize()))
}

/// Reads the files `paths` (relative to `dir`, from [`package_files`]) for
/// the [`FILES_SECTION`].
pub fn read_files(dir: &Path, paths: &[String]) -> Result<Vec<PackagedFile>, BuildError> {
    use std::os::unix::fs::PermissionsExt;
    paths
        .iter()
        .map(|rel| {
            let path: PathBuf = dir.join(rel);
            let meta = std::fs::metadata(&path).map_err(BuildError::io("stat", &path))?;
            Ok(PackagedFile {
                path: rel.clone(),
                executable: meta.permissions().mode() & 0o111 != 0,
                content: std::fs::read(&path).map_err(BuildError::io("read", &path))?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata() -> Metadata {
        Metadata {
            name: "hello".into(),
            version: "1.2.0".into(),
            api_version: "0.1.0".into(),
            source_digest: "ab".repeat(32),
            berth_version: "0.1.0".into(),
            roots: vec![RootMetadata {
                name: "hello".into(),
                doc: "Says hello.".into(),
                attributes: vec![AttributeMetadata {
                    name: "greeting".into(),
                    type_: "string".into(),
                    default: Some(serde_json::json!("Hi")),
                    doc: "The greeting.".into(),
                }],
                needs: NeedsMetadata {
                    paths: vec![PathNeedMetadata {
                        path: "/etc".into(),
                        access: "ro".into(),
                    }],
                    commands: vec!["sha256sum".into()],
                },
            }],
            python_runtime: None,
        }
    }

    fn file(path: &str, content: &[u8]) -> PackagedFile {
        PackagedFile {
            path: path.into(),
            executable: path.ends_with(".sh"),
            content: content.to_vec(),
        }
    }

    #[test]
    fn a_package_reads_back_what_was_written() {
        let component = crate::componentize(b"\0asm\x01\0\0\0").unwrap();
        assert_eq!(read_package(&component).unwrap(), None);
        let files = vec![
            file("a/run.sh", b"#!/bin/sh\n"),
            file("banner.txt", &[0u8; 300]),
        ];
        let package = make_package(component.clone(), &metadata(), &files).unwrap();
        assert!(crate::is_component(&package));
        assert!(package.starts_with(&component));
        let contents = read_package(&package).unwrap().unwrap();
        assert_eq!(contents.metadata, metadata());
        assert_eq!(contents.files, files);
        let again = make_package(package, &metadata(), &files).unwrap_err();
        assert!(again.contains("already is a package"), "{again}");
    }

    #[test]
    fn metadata_is_plain_json_with_the_documented_fields() {
        let json = serde_json::to_value(metadata()).unwrap();
        assert_eq!(json["roots"][0]["attributes"][0]["type"], "string");
        assert_eq!(json["roots"][0]["needs"]["paths"][0]["access"], "ro");
        assert!(json.get("python_runtime").is_none(), "{json}");
        for key in [
            "name",
            "version",
            "api_version",
            "source_digest",
            "berth_version",
        ] {
            assert!(json[key].is_string(), "{key}");
        }
    }

    #[test]
    fn hostile_files_sections_are_refused() {
        for path in ["../x", "/etc/passwd", "a//b", "./a", "a/..", ""] {
            let data = encode_files(&[file(path, b"x")]);
            let err = decode_files(&data).unwrap_err();
            assert!(
                err.contains("leaves the definition folder"),
                "{path}: {err}"
            );
        }
        let twice = encode_files(&[file("a", b"1"), file("a", b"2")]);
        assert!(decode_files(&twice).unwrap_err().contains("repeated"));
        let mut cut = encode_files(&[file("a", b"12345")]);
        cut.pop();
        assert!(
            decode_files(&cut)
                .unwrap_err()
                .contains("ends in the middle")
        );
    }

    #[test]
    fn the_source_digest_is_what_sha256sum_prints_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src/deep")).unwrap();
        std::fs::create_dir_all(root.join("target")).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join("Cargo.toml"), "[package]\n").unwrap();
        std::fs::write(root.join("src/lib.rs"), "fn x() {}\n").unwrap();
        std::fs::write(root.join("src/deep/m.rs"), "").unwrap();
        std::fs::write(root.join("target/junk"), "ignored").unwrap();
        std::fs::write(root.join(".git/HEAD"), "ignored").unwrap();
        std::fs::write(root.join(".hidden"), "ignored").unwrap();
        assert_eq!(
            package_files(root).unwrap(),
            ["Cargo.toml", "src/deep/m.rs", "src/lib.rs"]
        );
        let listing = [
            ("Cargo.toml", "[package]\n"),
            ("src/deep/m.rs", ""),
            ("src/lib.rs", "fn x() {}\n"),
        ]
        .iter()
        .map(|(p, c)| format!("{}  {p}\n", hex::encode(Sha256::digest(c.as_bytes()))))
        .collect::<String>();
        let expected = hex::encode(Sha256::digest(listing.as_bytes()));
        assert_eq!(source_digest(root).unwrap(), expected);
        // The same as the documented shell pipeline (coreutils).
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg("find . -type f ! -path '*/.*' ! -path '*/target/*' ! -path '*/__pycache__/*' | sed 's|^\\./||' | LC_ALL=C sort | xargs sha256sum | sha256sum")
            .current_dir(root)
            .output()
            .unwrap();
        assert!(out.status.success());
        let printed = String::from_utf8_lossy(&out.stdout);
        assert_eq!(printed.split_whitespace().next(), Some(expected.as_str()));
        std::fs::write(root.join("src/lib.rs"), "fn y() {}\n").unwrap();
        assert_ne!(source_digest(root).unwrap(), expected);
    }
}
