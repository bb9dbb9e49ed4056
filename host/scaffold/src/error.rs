//! What can go wrong when scaffolding.

use std::path::PathBuf;

/// A scaffold that was refused or failed. Refusals change nothing; a failed
/// write undoes what was written before it.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name cannot name a component.
    #[error("`{name}` cannot name a component: {reason}")]
    BadName {
        /// The name given.
        name: String,
        /// Why not.
        reason: String,
    },
    /// The package folder exists.
    #[error(
        "`{}` already exists: choose another name, or remove the folder first",
        path.display()
    )]
    Exists {
        /// The folder.
        path: PathBuf,
    },
    /// The workspace file cannot take a new member.
    #[error("cannot add a member to `{}`: {message}", path.display())]
    Workspace {
        /// `components/Cargo.toml`.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A template of berth's own did not render (a bug in berth).
    #[error("the scaffold template `{template}` did not render: {message}")]
    Template {
        /// The template.
        template: String,
        /// minijinja's message.
        message: String,
    },
    /// A file could not be read or written.
    #[error("cannot {action} `{}`", path.display())]
    Io {
        /// What was tried.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}
