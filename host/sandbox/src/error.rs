//! The errors of the sandbox. Every message names the path or the program
//! involved and, for a denial, the grant that would allow the request.

/// A refused or failed filesystem request.
///
/// The `Display` text is the whole message, ready for an operator; it names
/// the path and, for [`FsError::Denied`], the grant line that would allow it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FsError {
    /// The request is outside the granted paths, writes to a read-only path,
    /// or follows a symlink out of its root.
    #[error("{0}")]
    Denied(String),
    /// The path does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request itself is malformed: `..`, an empty path, a directory
    /// where a file is expected.
    #[error("{0}")]
    Invalid(String),
    /// The operating system reported another error.
    #[error("{0}")]
    Io(String),
}

/// A refused or failed program run.
///
/// A program that runs and exits non-zero is not an error: its status is in
/// [`Output::status`](crate::Output::status).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessError {
    /// The program is not granted, or it cannot be confined.
    #[error("{0}")]
    Denied(String),
    /// The request is malformed (empty argv, bad working directory) or the
    /// program does not exist.
    #[error("{0}")]
    Invalid(String),
    /// Starting or talking to the program failed.
    #[error("{0}")]
    Io(String),
    /// The program did not finish in time and was killed.
    #[error("{0}")]
    TimedOut(String),
}

impl From<FsError> for ProcessError {
    fn from(e: FsError) -> Self {
        match e {
            FsError::Denied(m) => ProcessError::Denied(m),
            FsError::NotFound(m) | FsError::Invalid(m) => ProcessError::Invalid(m),
            FsError::Io(m) => ProcessError::Io(m),
        }
    }
}
