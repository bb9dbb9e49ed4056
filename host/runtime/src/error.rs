//! What can go wrong when loading a component or calling into it.

use std::path::PathBuf;

/// Loading a `.wasm` file failed; nothing was run.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not WebAssembly, or is malformed.
    #[error("`{}` is not a valid component: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A core module where a component was expected.
    #[error(
        "`{}` is a core WebAssembly module, not a component; build it with `berth build`",
        path.display()
    )]
    NotComponent {
        /// The file.
        path: PathBuf,
    },
    /// The component was built for an API version this host cannot load.
    #[error(
        "`{}` was built for berth API {found}, but this berth supports API {}; rebuild the component with a matching berth SDK or upgrade berth",
        path.display(),
        crate::SUPPORTED_API_VERSIONS.join(", ")
    )]
    UnsupportedApi {
        /// The file.
        path: PathBuf,
        /// The version stamped in the component.
        found: String,
    },
    /// The component carries no API version stamp.
    #[error(
        "`{}` has no `berth:api-version` section, so it was not built with a berth SDK (this berth supports API {})",
        path.display(),
        crate::SUPPORTED_API_VERSIONS.join(", ")
    )]
    NoApiVersion {
        /// The file.
        path: PathBuf,
    },
    /// wasmtime could not compile or link the component.
    #[error("cannot load `{}`: {message}", path.display())]
    Compile {
        /// The file.
        path: PathBuf,
        /// wasmtime's explanation.
        message: String,
    },
    /// `describe` failed.
    #[error("cannot describe `{}`", path.display())]
    Describe {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: CallError,
    },
    /// The engine itself could not be set up.
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
}

/// A call into a component failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The call ran past its wall-clock deadline and was interrupted.
    #[error(
        "component `{component}` did not finish {phase} within its deadline of {timeout:?} ({setting})"
    )]
    Deadline {
        /// The root component.
        component: String,
        /// The phase.
        phase: crate::Phase,
        /// The deadline.
        timeout: std::time::Duration,
        /// Which setting gives the deadline.
        setting: String,
    },
    /// The guest tried to grow its memories and tables past the cap.
    #[error(
        "component `{component}` exceeded its memory limit of {} MiB (all its memories and tables together) during {phase}",
        limit / (1024 * 1024)
    )]
    Memory {
        /// The root component.
        component: String,
        /// The phase.
        phase: crate::Phase,
        /// The cap in bytes.
        limit: usize,
    },
    /// The guest trapped (a panic, an out-of-bounds access, a bug).
    #[error("component `{component}` crashed during {phase}: {message}")]
    Trap {
        /// The root component.
        component: String,
        /// The phase.
        phase: crate::Phase,
        /// The trap and its backtrace.
        message: String,
    },
    /// The package could not be described, so none of its roots runs.
    #[error("{0}")]
    Broken(String),
    /// The guest returned an error.
    #[error(
        "component `{component}` failed during {phase}: {}",
        describe_guest_error(error)
    )]
    Guest {
        /// The root component.
        component: String,
        /// The phase.
        phase: crate::Phase,
        /// The error it returned.
        error: crate::wit::Error,
    },
}

/// A one-line rendering of a WIT error variant.
pub fn describe_guest_error(error: &crate::wit::Error) -> String {
    use crate::wit::Error as E;
    match error {
        E::Denied(m) => format!("denied: {m}"),
        E::NotFound(m) => format!("not found: {m}"),
        E::Invalid(m) => format!("invalid: {m}"),
        E::Io(m) => format!("io: {m}"),
        E::Failed(m) => m.clone(),
    }
}
