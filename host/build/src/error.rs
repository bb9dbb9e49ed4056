//! What can go wrong while building guests.

use std::io;
use std::path::PathBuf;

/// A failure to find a toolchain, to build a guest workspace or to turn its
/// output into a component. Each variant names the workspace, command or
/// file involved.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Neither rustup's `wasm32-unknown-unknown` target nor Debian's
    /// `rustc-web` toolchain is installed; `hint` says what to install.
    #[error("no toolchain here can build `wasm32-unknown-unknown` components\n{hint}")]
    NoToolchain {
        /// What to run to get one (see [`install_hint`](crate::install_hint)).
        hint: String,
    },

    /// berth's Python runtime is to be built and componentize-py is not
    /// installed.
    #[error("componentize-py is needed once, to build berth's Python runtime: {hint}")]
    NoComponentizePy {
        /// What to run to get it.
        hint: String,
    },

    /// A program (cargo) could not be started.
    #[error("cannot run `{command}` for workspace `{workspace}`")]
    Spawn {
        /// The guest workspace.
        workspace: PathBuf,
        /// The command line.
        command: String,
        /// Why it could not be started.
        #[source]
        source: io::Error,
    },

    /// Cargo (or componentize-py) ran and failed; `tail` holds the end of
    /// its output.
    #[error("`{command}` failed for workspace `{workspace}` ({status}):\n{tail}")]
    Cargo {
        /// The guest workspace.
        workspace: PathBuf,
        /// The command line.
        command: String,
        /// How it ended.
        status: String,
        /// The last lines cargo printed.
        tail: String,
    },

    /// A Python dependency's wheel holds native code, which berth's Python
    /// runtime (CPython compiled to WebAssembly) cannot load.
    #[error(
        "`{}` lists `{wheel}`, a wheel with native code ({why}): berth's Python runtime is CPython compiled to WebAssembly and loads pure-Python code only\n  hint: pin a release of it that has a pure-Python wheel (`py3-none-any`), or drop the dependency",
        requirements.display()
    )]
    NativeWheel {
        /// The requirements file.
        requirements: PathBuf,
        /// The wheel's file name.
        wheel: String,
        /// What shows that it is native.
        why: String,
    },

    /// `cargo metadata` or cargo's JSON messages made no sense.
    #[error("cannot understand the output of `{command}` for workspace `{workspace}`: {message}")]
    Metadata {
        /// The guest workspace.
        workspace: PathBuf,
        /// The command line.
        command: String,
        /// What was wrong.
        message: String,
    },

    /// Cargo succeeded but produced no `.wasm` for a `cdylib` package.
    #[error("workspace `{workspace}`: cargo built no `.wasm` for package `{package}`")]
    NoArtifact {
        /// The guest workspace.
        workspace: PathBuf,
        /// The package.
        package: String,
    },

    /// A core module could not be turned into a component (for example
    /// because it lacks the `component-type` section wit-bindgen adds).
    #[error("cannot turn {what} into a component: {message}")]
    Componentize {
        /// The module, for example "`target/…/hello.wasm`".
        what: String,
        /// wit-component's explanation.
        message: String,
    },

    /// The bytes are not valid WebAssembly.
    #[error("`{path}` is not valid WebAssembly: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The parser's explanation.
        message: String,
    },

    /// A built component carries no API version.
    #[error(
        "component `{path}` has no `berth:api-version` section: does package `{package}` call `berth_sdk::export!`?"
    )]
    NoApiVersion {
        /// The package.
        package: String,
        /// The component file.
        path: PathBuf,
    },

    /// A file could not be read or written.
    #[error("cannot {action} `{path}`")]
    Io {
        /// What was being done ("read", "write", "create directory").
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

impl BuildError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| BuildError::Io {
            action,
            path,
            source,
        }
    }
}
