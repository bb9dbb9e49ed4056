//! The error type shared by every fallible call of the SDK.

use std::fmt;

use crate::__private::bindings::berth::component::types::Error as WitError;

/// A failure, reported by berth to the component or by the component to
/// berth. Mirrors the WIT `error` variant.
///
/// Each variant carries a message that names the exact request (the path,
/// the program, the attribute); [`Display`](fmt::Display) shows that message
/// as is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The request is outside what the environment granted.
    Denied(String),
    /// The thing asked for does not exist.
    NotFound(String),
    /// The request itself is malformed (bad path, bad JSON, wrong phase).
    Invalid(String),
    /// The operating system reported an error.
    Io(String),
    /// Anything else: the operation ran and did not succeed.
    Failed(String),
}

/// `Result<T, berth_sdk::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A [`Error::Failed`] with the given message.
    pub fn failed(message: impl Into<String>) -> Self {
        Error::Failed(message.into())
    }

    /// A [`Error::Invalid`] with the given message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::Invalid(message.into())
    }

    /// The message, without the kind.
    pub fn message(&self) -> &str {
        match self {
            Error::Denied(m)
            | Error::NotFound(m)
            | Error::Invalid(m)
            | Error::Io(m)
            | Error::Failed(m) => m,
        }
    }

    /// The kind as a lowercase word (`denied`, `not-found`, `invalid`, `io`,
    /// `failed`), as in the WIT.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Denied(_) => "denied",
            Error::NotFound(_) => "not-found",
            Error::Invalid(_) => "invalid",
            Error::Io(_) => "io",
            Error::Failed(_) => "failed",
        }
    }

    /// Prefix the message with some context, keeping the kind.
    pub fn context(self, context: impl fmt::Display) -> Self {
        let wrap = |m: String| format!("{context}: {m}");
        match self {
            Error::Denied(m) => Error::Denied(wrap(m)),
            Error::NotFound(m) => Error::NotFound(wrap(m)),
            Error::Invalid(m) => Error::Invalid(wrap(m)),
            Error::Io(m) => Error::Io(wrap(m)),
            Error::Failed(m) => Error::Failed(wrap(m)),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Error {}

impl From<serde_json::Error> for Error {
    fn from(error: serde_json::Error) -> Self {
        Error::Invalid(format!("invalid JSON: {error}"))
    }
}

impl From<WitError> for Error {
    fn from(error: WitError) -> Self {
        match error {
            WitError::Denied(m) => Error::Denied(m),
            WitError::NotFound(m) => Error::NotFound(m),
            WitError::Invalid(m) => Error::Invalid(m),
            WitError::Io(m) => Error::Io(m),
            WitError::Failed(m) => Error::Failed(m),
        }
    }
}

impl From<Error> for WitError {
    fn from(error: Error) -> Self {
        match error {
            Error::Denied(m) => WitError::Denied(m),
            Error::NotFound(m) => WitError::NotFound(m),
            Error::Invalid(m) => WitError::Invalid(m),
            Error::Io(m) => WitError::Io(m),
            Error::Failed(m) => WitError::Failed(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_the_message_and_context_keeps_the_kind() {
        let e = Error::Denied("read `/etc/passwd`: outside the granted paths".into());
        assert_eq!(
            e.to_string(),
            "read `/etc/passwd`: outside the granted paths"
        );
        let e = e.context("probe `p1`");
        assert_eq!(e.kind(), "denied");
        assert_eq!(
            e.message(),
            "probe `p1`: read `/etc/passwd`: outside the granted paths"
        );
    }

    #[test]
    fn json_errors_are_invalid() {
        let e: Error = serde_json::from_str::<u32>("\"x\"").unwrap_err().into();
        assert_eq!(e.kind(), "invalid");
    }
}
