//! Where a value came from, and the error type of this crate.

use std::fmt;
use std::path::{Path, PathBuf};

/// A place in an environment file: the file and a 1-based line number.
///
/// Displays as `file:line`, the form editors and terminals turn into links.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    /// The file, as reached from the repository path given to [`load`](crate::load).
    pub file: PathBuf,
    /// The 1-based line number.
    pub line: usize,
}

impl Origin {
    /// An origin at `line` of `file`.
    pub fn new(file: impl Into<PathBuf>, line: usize) -> Self {
        Origin {
            file: file.into(),
            line,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// An error in an environment: where it is (file and line when known), what
/// is wrong, and optionally how to fix it.
///
/// Displays as
///
/// ```text
/// environments/local/environment.cfg:12: unknown key `timout` in [environment]
///   hint: did you mean `timeout`?
/// ```
///
/// The engine builds errors of the same shape for problems it finds later
/// (unknown components or attributes, failed conversions), with
/// [`ConfigError::at`] and the [`Origin`]s this crate hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigError {
    /// The file the problem is in, if it is in one.
    pub file: Option<PathBuf>,
    /// The 1-based line, if the problem is on one.
    pub line: Option<usize>,
    /// What is wrong: lowercase, no trailing period, names in backticks.
    pub message: String,
    /// How to fix it, if there is something useful to say.
    pub hint: Option<String>,
}

impl ConfigError {
    /// An error that belongs to no file (say, an unknown environment name).
    pub fn new(message: impl Into<String>) -> Self {
        ConfigError {
            file: None,
            line: None,
            message: message.into(),
            hint: None,
        }
    }

    /// An error at a line of a file.
    pub fn at(origin: &Origin, message: impl Into<String>) -> Self {
        ConfigError {
            file: Some(origin.file.clone()),
            line: Some(origin.line),
            message: message.into(),
            hint: None,
        }
    }

    /// An error about a whole file.
    pub fn in_file(file: &Path, message: impl Into<String>) -> Self {
        ConfigError {
            file: Some(file.to_path_buf()),
            line: None,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint, shown on its own line below the message.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a hint when there is one.
    #[must_use]
    pub fn with_hint_opt(mut self, hint: Option<String>) -> Self {
        if hint.is_some() {
            self.hint = hint;
        }
        self
    }

    /// The origin of the error, when it has both a file and a line.
    pub fn origin(&self) -> Option<Origin> {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => Some(Origin::new(file.clone(), line)),
            _ => None,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{}:{line}: ", file.display())?,
            (Some(file), None) => write!(f, "{}: ", file.display())?,
            _ => {}
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// The offending line of `file`, read when the error is shown, with carets
/// under what the message is about (see `underline`). `None` for a
/// file that cannot be read, is encrypted (`.age`: its plaintext is never
/// on disk, and its ciphertext says nothing) or has no such line.
pub fn snippet(file: &Path, line: usize, message: &str) -> Option<String> {
    if file.extension().is_some_and(|x| x == "age") {
        return None;
    }
    let text = std::fs::read_to_string(file).ok()?;
    let source = text.lines().nth(line.checked_sub(1)?)?.trim_end();
    if source.trim().is_empty() {
        return None;
    }
    let (start, len) = underline(source, message);
    let number = line.to_string();
    let pad = " ".repeat(number.len());
    let width = |s: &str| s.chars().count();
    Some(format!(
        "  {pad} |\n  {number} | {source}\n  {pad} | {}{}",
        " ".repeat(width(&source[..start])),
        "^".repeat(width(&source[start..start + len]).max(1))
    ))
}

/// The byte range of `source` to underline for `message`: a name the
/// message quotes that stands in the value; the key when the message is
/// about the key (unknown, misspelt); else the value after `=`; else the
/// whole line.
fn underline(source: &str, message: &str) -> (usize, usize) {
    let found: Vec<(usize, usize)> = message
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|name| !name.trim().is_empty())
        .filter_map(|name| Some((source.find(name)?, name.len())))
        .collect();
    let eq = source.find('=');
    if let Some(in_value) = found
        .iter()
        .filter(|(at, len)| eq.is_some_and(|eq| at + len > eq))
        .max()
    {
        return *in_value;
    }
    let about_the_key = ["unknown", "has no", "is not a", "did you mean"]
        .iter()
        .any(|w| message.contains(w));
    if about_the_key && let Some(key) = found.iter().max() {
        return *key;
    }
    if let Some(eq) = eq {
        let value = source[eq + 1..].trim();
        if !value.is_empty()
            && let Some(at) = source[eq + 1..].find(value)
        {
            return (eq + 1 + at, value.len());
        }
    }
    if let Some(name) = found.iter().max() {
        return *name;
    }
    let at = source.len() - source.trim_start().len();
    (at, source.len() - at)
}

/// "did you mean `x`?" for a suggestion, if there is one.
pub(crate) fn did_you_mean_hint(suggestion: Option<&str>) -> Option<String> {
    suggestion.map(|s| format!("did you mean `{s}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offending_line_is_shown_with_a_caret_under_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("environment.cfg");
        std::fs::write(&file, "[environment]\ntimout = 30\njobs = many\n").unwrap();
        assert_eq!(
            snippet(&file, 2, "unknown key `timout` in [environment]").unwrap(),
            "    |\n  2 | timout = 30\n    | ^^^^^^"
        );
        let value = snippet(&file, 3, "`jobs` must be a number").unwrap();
        assert!(
            value.ends_with("  3 | jobs = many\n    |        ^^^^"),
            "{value}"
        );
        let key = snippet(&file, 3, "unknown key `jobs`").unwrap();
        assert!(key.ends_with("  3 | jobs = many\n    | ^^^^"), "{key}");
        assert_eq!(snippet(&dir.path().join("gone.cfg"), 3, "x"), None);
        assert_eq!(snippet(&file, 9, "x"), None);
    }

    #[test]
    fn displays_file_line_message_and_hint() {
        let err = ConfigError::at(
            &Origin::new("environments/local/environment.cfg", 12),
            "unknown key `timout` in [environment]",
        )
        .with_hint("did you mean `timeout`?");
        assert_eq!(
            err.to_string(),
            "environments/local/environment.cfg:12: unknown key `timout` in [environment]\n  hint: did you mean `timeout`?"
        );
    }

    #[test]
    fn displays_without_line_or_file() {
        assert_eq!(
            ConfigError::in_file(Path::new("a.cfg"), "cannot read").to_string(),
            "a.cfg: cannot read"
        );
        assert_eq!(
            ConfigError::new("no such thing").to_string(),
            "no such thing"
        );
    }

    #[test]
    fn origin_displays_file_colon_line() {
        assert_eq!(Origin::new("x/y.cfg", 3).to_string(), "x/y.cfg:3");
    }
}
