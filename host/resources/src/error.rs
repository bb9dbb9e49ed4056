//! The error of a built-in resource.

use berth_sandbox::{FsError, ProcessError};

/// Why verifying or updating a built-in resource failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceError {
    /// A filesystem request was refused or failed; the message names the path.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// A program run was refused or failed; the message names the program.
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// A template failed to parse or render.
    #[error("template {name}{}: {message}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Template {
        /// The template: its defdir path in backticks, or which file's inline
        /// template it is.
        name: String,
        /// The line of the template the error is on, when known.
        line: Option<usize>,
        /// What went wrong, naming the offending expression when known.
        message: String,
    },
    /// Anything else: a command exited non-zero, something is in the way.
    #[error("{0}")]
    Failed(String),
}
