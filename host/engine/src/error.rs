//! Errors that stop a deployment before anything changes.

use std::path::PathBuf;

/// A problem found while checking an environment against its components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where it is, as `file:line`, when a line is to blame.
    pub origin: Option<String>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl Problem {
    pub(crate) fn new(origin: Option<String>, message: impl Into<String>) -> Self {
        Self {
            origin,
            message: message.into(),
            hint: None,
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(origin) = &self.origin {
            write!(f, "{origin}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some((file, line)) = self.origin.as_deref().and_then(split_origin)
            && let Some(snippet) =
                berth_config::snippet(std::path::Path::new(file), line, &self.message)
        {
            write!(f, "\n{snippet}")?;
        }
        if let Some(hint) = &self.hint {
            for line in hint.lines() {
                write!(f, "\n  {line}")?;
            }
        }
        Ok(())
    }
}

/// Why a deployment could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The folder is not a deployment repository.
    #[error(
        "`{}` is not a deployment repository: it has no `environments/` folder (run berth from the repository's root, or pass `--repo`)",
        path.display()
    )]
    NotARepository {
        /// The folder.
        path: PathBuf,
    },
    /// A file or folder could not be read or written.
    #[error("`{}`: {message}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        message: String,
    },
    /// The environment file is malformed.
    #[error(transparent)]
    Config(#[from] berth_config::ConfigError),
    /// The remote targets cannot be reached at all (no agent binary).
    #[error("{0}")]
    Remote(String),
    /// The deploy lock of the target directory is held, or stale.
    #[error(transparent)]
    Lock(Box<crate::lock::LockError>),
    /// Building components from source failed.
    #[error("building components failed: {0}")]
    Build(String),
    /// `berth package NAME` names no package of `components/`.
    #[error("no package `{name}` in `components/`\n  hint: {hint}")]
    NoSuchPackage {
        /// The name given.
        name: String,
        /// A close name, or the names there are.
        hint: String,
    },
    /// A package to be packaged has a version that is not semver.
    #[error(
        "package `{name}` has version `{version}`, which is not a semantic version (`MAJOR.MINOR.PATCH`)\n  hint: packages are found and pinned by version; set the crate's (or `berth.export`'s) version"
    )]
    NotSemver {
        /// The package.
        name: String,
        /// Its version.
        version: String,
    },
    /// A package from outside `components/` cannot be pinned or loaded.
    #[error(transparent)]
    Pin(#[from] crate::pins::PinError),
    /// A component could not be loaded.
    #[error(transparent)]
    Load(#[from] berth_runtime::LoadError),
    /// The environment and its components do not fit together.
    #[error("{}", render_problems(.0))]
    Model(Vec<Problem>),
    /// An error whose text held a secret, with the secret masked.
    #[error("{0}")]
    Masked(String),
}

fn render_problems(problems: &[Problem]) -> String {
    // In the order of the file, so that the list reads top to bottom; what
    // has no line comes after, in the order it was found.
    let mut sorted: Vec<&Problem> = problems.iter().collect();
    sorted.sort_by_key(|p| match p.origin.as_deref().and_then(split_origin) {
        Some((file, line)) => (0, file.to_string(), line),
        None => (1, String::new(), 0),
    });
    let mut out = format!(
        "the environment has {} problem{}; nothing was changed",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in sorted {
        out.push_str("\n\n");
        out.push_str(&p.to_string());
    }
    out
}

/// `file:line` into its parts.
fn split_origin(origin: &str) -> Option<(&str, usize)> {
    let (file, line) = origin.rsplit_once(':')?;
    Some((file, line.parse().ok()?))
}

impl From<crate::lock::LockError> for EngineError {
    fn from(e: crate::lock::LockError) -> Self {
        Self::Lock(Box::new(e))
    }
}
