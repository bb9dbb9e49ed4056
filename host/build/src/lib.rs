//! Building berth guest components from source.
//!
//! Guests are Rust crates that use `berth-sdk` and build as `cdylib`s for
//! `wasm32-unknown-unknown`. This crate finds a toolchain that can do that,
//! runs cargo on a guest workspace and leaves one WebAssembly *component* per
//! package in an output folder:
//!
//! ```no_run
//! # fn main() -> Result<(), berth_build::BuildError> {
//! use std::path::Path;
//!
//! let toolchain = berth_build::detect()?;
//! let built = berth_build::build_workspace(
//!     Path::new("components"),
//!     Path::new("target/wasm-guests"),
//!     Path::new("target/components"),
//!     &toolchain,
//!     &mut |line| eprintln!("{line}"),
//! )?;
//! for b in &built {
//!     println!("{} -> {}", b.package, b.wasm.display());
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Two toolchains are supported (see `DESIGN.md` §8): rustup with the
//! `wasm32-unknown-unknown` target installed, whose `rust-lld` emits a core
//! module that [`componentize`] turns into a component; and Debian's
//! `rustc-web`, which compiles the standard library from `rust-web-src`
//! (`-Zbuild-std`) and links with `wasm-component-ld`, which emits a component
//! directly.
//!
//! Python packages (a folder with a `component.py` using `sdk/python`) are
//! not compiled: their sources ([`python_sources`]) run in berth's shared
//! Python runtime, which [`ensure_python_runtime`] builds once per berth
//! version with componentize-py.
//!
//! This crate has no wasm runtime: it only builds and inspects bytes.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod cargo;
mod error;
mod package;
mod python;
mod stale;
mod toolchain;
mod wasm;

pub use cargo::{Built, build_members, build_workspace, write_if_changed};
pub use error::BuildError;
pub use package::{
    AttributeMetadata, Contents, EMPTY_COMPONENT, FILES_SECTION, Metadata, NeedsMetadata,
    PACKAGE_SECTION, PackagedFile, PathNeedMetadata, RootMetadata, decode_files, encode_files,
    make_package, package_files, read_files, read_package, source_digest,
};
pub use python::{
    COMPONENTIZE_PY_VERSION, PYTHON_API_VERSION, PYTHON_ENTRY, PYTHON_RUNTIME_SECTION,
    PYTHON_RUNTIME_VERSION, REQUIREMENTS, SITE_PACKAGES, berth_venv, build_python_runtime,
    detect_componentize_py, ensure_python_runtime, is_python_package, is_python_source,
    python_deps, python_install_hint, python_runtime_file, python_sources, with_api_version,
};
pub use stale::{record as record_sources, sources_digest, stale};
pub use toolchain::{Toolchain, detect, install_hint};
pub use wasm::{
    api_version, append_custom_section, componentize, custom_section, is_component,
    top_level_custom_sections,
};

/// The target guests are built for.
pub const TARGET: &str = "wasm32-unknown-unknown";

/// The custom section in which `berth_sdk::export!` stamps the API version.
pub const API_VERSION_SECTION: &str = "berth:api-version";
