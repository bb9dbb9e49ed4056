//! berth's built-in resources: the steps the host itself verifies and
//! updates for every component, whatever language it is written in.
//!
//! A [`Resource`] is a file, directory, symlink, purge or guarded command.
//! [`verify`] checks it and never writes (it works with a read-only
//! sandbox, which is how predict runs); when it answers
//! [`Verdict::NeedsUpdate`], [`update`] makes the change using what verify
//! already computed (a template is rendered once). Every access goes through
//! the component's [`Sandbox`].
//!
//! A file's update only stages its new content
//! ([`Sandbox::write_batched`]); the caller ends a component's walk with
//! [`Sandbox::commit`], which makes all of them durable at once. Verify of
//! any other resource commits first, so it sees the new files.
//!
//! ```no_run
//! use std::time::Duration;
//! use berth_resources::{update, verify, Content, Context, File, Globals, Resource, Templates, Verdict};
//! use berth_sandbox::{Programs, Sandbox};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sandbox = Sandbox::new("motd", "/srv/work/motd".into(), "/srv/components/motd".into(), vec![])?;
//! let programs = Programs::none();
//! let templates = Templates::new();
//! let globals = Globals::from(serde_json::json!({"host": {"name": "web1"}, "environment": {}, "attributes": {}}));
//! let cx = Context {
//!     sandbox: &sandbox,
//!     programs: &programs,
//!     globals: &globals,
//!     templates: &templates,
//!     timeout: Duration::from_secs(60),
//!     mask: &berth_secrets::Mask::none(),
//! };
//! let motd = Resource::File(File {
//!     path: "motd".into(),
//!     content: Content::Template {
//!         body: berth_resources::TemplateBody::Inline("Welcome to {{ host.name }}\n".into()),
//!         context: serde_json::json!({}),
//!     },
//!     mode: Some(0o644),
//!     leading: false,
//! });
//! let check = verify(&motd, &cx, false)?;
//! if let Verdict::NeedsUpdate { reason, diff } = &check.verdict {
//!     println!("{reason}\n{}", diff.as_deref().unwrap_or(""));
//!     sandbox.ensure_workdir()?;
//!     update(&motd, check, &cx)?;
//!     sandbox.commit()?; // on disk from here on
//! }
//! # Ok(())
//! # }
//! ```

mod command;
mod diff;
mod error;
mod file;
mod purge;
mod templates;

use std::time::Duration;

use berth_sandbox::{Programs, Sandbox};

pub use diff::{DIFF_BYTES, DIFF_LINES};
pub use error::ResourceError;
pub use templates::{Globals, TEMPLATE_FUEL, TEMPLATE_MEMORY, TEMPLATE_OUTPUT_LIMIT, Templates};

/// The most JSON a File step's template context may hold, in bytes: it is
/// parsed on the host, where a large document takes many times its size.
pub const CONTEXT_LIMIT: usize = 1 << 20;

/// A built-in step.
#[derive(Debug, Clone, PartialEq)]
pub enum Resource {
    /// A file with given content.
    File(File),
    /// A directory.
    Directory(Directory),
    /// A symbolic link.
    Symlink(Symlink),
    /// Removal of everything a glob matches.
    Purge(Purge),
    /// A guarded program run.
    Command(CommandStep),
}

/// A file with given content. Paths are relative to the workdir or absolute
/// inside a granted path.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    /// Where the file is.
    pub path: String,
    /// What it contains.
    pub content: Content,
    /// Permission bits, or `None` to leave them alone (new files get
    /// `0o644`, or `0o600` when their content holds a secret: then an
    /// existing file gets `0o600` too).
    pub mode: Option<u32>,
    /// Create missing parent directories.
    pub leading: bool,
}

/// Where a file's bytes come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// The given text.
    Text(String),
    /// The given bytes.
    Bytes(Vec<u8>),
    /// A file of the defdir (a path relative to it), copied.
    Source(String),
    /// A minijinja template, rendered with the run's globals (`host`,
    /// `environment`, `attributes`) and `context` merged over them.
    Template {
        /// The template text or its defdir path.
        body: TemplateBody,
        /// Extra top-level values, a JSON object.
        context: serde_json::Value,
    },
}

/// The text of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateBody {
    /// The template text itself.
    Inline(String),
    /// A path in the defdir.
    Source(String),
}

/// A directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directory {
    /// Where the directory is.
    pub path: String,
    /// Permission bits, or `None` to leave them alone.
    pub mode: Option<u32>,
    /// Create missing parent directories.
    pub leading: bool,
}

/// A symbolic link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symlink {
    /// Where the link is.
    pub path: String,
    /// What it points to, written as given; must lie inside a granted path.
    pub target: String,
}

/// Removal of everything that matches a glob pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purge {
    /// `*`, `?`, `[...]` and `**`, relative to the workdir or absolute
    /// inside a granted path. `*` does not match a leading dot, and
    /// symlinks are never followed.
    pub pattern: String,
}

/// A program run, made idempotent by a guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandStep {
    /// Program and arguments; the program must be granted.
    pub argv: Vec<String>,
    /// Working directory relative to the workdir.
    pub cwd: Option<String>,
    /// Up to date when this command exits 0 (run read-only, in verify).
    pub unless: Option<Vec<String>>,
    /// Up to date when this path exists.
    pub creates: Option<String>,
    /// Run when a child step changed. Without `unless` and `creates`, the
    /// command runs only then; with them, it runs then or when they say so.
    pub on_change: bool,
}

/// What verify and update see of the run.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The component's sandbox; read-only in predict runs.
    pub sandbox: &'a Sandbox,
    /// The programs the component may run.
    pub programs: &'a Programs,
    /// The template top level: `{host, environment, attributes}`.
    pub globals: &'a Globals,
    /// The run's template cache.
    pub templates: &'a Templates,
    /// How long a step's host work (a command, a template) may take.
    pub timeout: Duration,
    /// The secrets of the run: a file whose content holds one is written
    /// `0600` unless its step sets a mode.
    pub mask: &'a berth_secrets::Mask,
}

/// The answer of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to do.
    UpToDate,
    /// [`update`] must run.
    NeedsUpdate {
        /// Why, in a few words: "new file", "content changed", "mode 0644 → 0600".
        reason: String,
        /// A unified diff (or a one-line summary for binary content).
        diff: Option<String>,
    },
}

/// The result of [`verify`]: the verdict, and what [`update`] needs so that
/// nothing is computed twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The verdict.
    pub verdict: Verdict,
    plan: Plan,
}

/// What update does, as decided by verify.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Plan {
    Nothing,
    /// Write these bytes (and the spec's mode).
    Write(Vec<u8>),
    /// Only the mode differs.
    Chmod(u32),
    /// Create the directory (when `create`) and set the spec's mode.
    Directory {
        create: bool,
    },
    /// (Re)create the link.
    Symlink,
    /// Remove these paths.
    Remove(Vec<String>),
    /// Run the command.
    Run,
}

impl Check {
    fn up_to_date() -> Check {
        Check {
            verdict: Verdict::UpToDate,
            plan: Plan::Nothing,
        }
    }

    fn needs(reason: impl Into<String>, diff: Option<String>, plan: Plan) -> Check {
        Check {
            verdict: Verdict::NeedsUpdate {
                reason: reason.into(),
                diff,
            },
            plan,
        }
    }

    /// Whether [`update`] has something to do.
    pub fn needs_update(&self) -> bool {
        matches!(self.verdict, Verdict::NeedsUpdate { .. })
    }
}

/// Checks a resource against the target. Never writes; works with a
/// read-only sandbox. `children_changed` tells a command with `on_change`
/// that a child step of it changed in this run.
///
/// # Errors
///
/// [`ResourceError::Fs`] when a path is refused or cannot be read,
/// [`ResourceError::Template`] when a template does not parse or render
/// (undefined variables included), [`ResourceError::Process`] when an
/// `unless` guard cannot run, [`ResourceError::Failed`] when something of
/// another kind is in the way (a file where a directory should be).
pub fn verify(
    r: &Resource,
    cx: &Context<'_>,
    children_changed: bool,
) -> Result<Check, ResourceError> {
    if !matches!(r, Resource::File(_)) {
        // Everything but a file may look at what the staged writes change
        // (a command, a glob, a link to a file): they land first.
        cx.sandbox.commit()?;
    }
    match r {
        Resource::File(f) => file::verify_file(f, cx),
        Resource::Directory(d) => file::verify_directory(d, cx),
        Resource::Symlink(s) => file::verify_symlink(s, cx),
        Resource::Purge(p) => purge::verify(p, cx),
        Resource::Command(c) => command::verify(c, cx, children_changed),
    }
}

/// Makes the change that `check` (from [`verify`] on the same resource)
/// asked for. Does nothing when the check said up to date. Creates the
/// workdir first when it is missing. A file's new content is staged: it is
/// in place and durable after the next [`Sandbox::commit`].
///
/// # Errors
///
/// [`ResourceError::Fs`] when a write is refused or fails (always in a
/// read-only sandbox), [`ResourceError::Failed`] when a command exits
/// non-zero (with its status and the end of its stderr),
/// [`ResourceError::Process`] when it cannot run or times out.
pub fn update(r: &Resource, check: Check, cx: &Context<'_>) -> Result<(), ResourceError> {
    if check.plan == Plan::Nothing {
        return Ok(());
    }
    if cx.sandbox.stat(".")?.is_none() {
        cx.sandbox.ensure_workdir()?;
    }
    match r {
        Resource::File(f) => file::update_file(f, check.plan, cx),
        Resource::Directory(d) => file::update_directory(d, check.plan, cx),
        Resource::Symlink(s) => file::update_symlink(s, cx),
        Resource::Purge(_) => purge::update(check.plan, cx),
        Resource::Command(c) => command::update(c, cx),
    }
}

/// A short label for output: `file motd`, `command systemctl reload nginx`.
pub fn label(r: &Resource) -> String {
    match r {
        Resource::File(f) => format!("file {}", f.path),
        Resource::Directory(d) => format!("directory {}", d.path),
        Resource::Symlink(s) => format!("symlink {} → {}", s.path, s.target),
        Resource::Purge(p) => format!("purge {}", p.pattern),
        Resource::Command(c) => format!("command {}", c.argv.join(" ")),
    }
}
