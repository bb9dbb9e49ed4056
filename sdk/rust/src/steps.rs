//! Builders for the steps a component adds during configure, and what custom
//! steps receive in verify and update.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::__private::bindings::berth::component::types as wit;
use crate::{Error, Result};

/// One step of a component, ready for [`Configure::add`](crate::Configure::add).
///
/// Made from the builders [`File`], [`Directory`], [`Symlink`], [`Purge`],
/// [`Command`] and [`Custom`] through `Into<Step>`.
#[derive(Clone, Debug)]
pub struct Step {
    pub(crate) label: String,
    pub(crate) resource: wit::Resource,
    /// A problem found while building the step (for example data that is not
    /// JSON); configure fails with it.
    pub(crate) error: Option<Error>,
}

macro_rules! labelled {
    ($($ty:ident),*) => {$(
        impl $ty {
            /// A short label shown in berth's output instead of the default.
            pub fn label(mut self, label: impl Into<String>) -> Self {
                self.label = label.into();
                self
            }
        }
    )*};
}

fn to_json(what: impl FnOnce() -> String, value: &impl Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Invalid(format!("{}: {e}", what())))
}

/// A file with given content, verified and updated by berth: written
/// atomically and only when its content or mode differ.
///
/// ```
/// use berth_sdk::File;
///
/// let plain = File::new("motd").text("Welcome\n").mode(0o644);
/// let copied = File::new("logo.png").source("logo.png"); // from the defdir
/// let rendered = File::new("nginx.conf")
///     .template("nginx.conf.j2")
///     .context(serde_json::json!({ "workers": 4 }));
/// # let _ = (plain, copied, rendered);
/// ```
#[derive(Clone, Debug)]
pub struct File {
    path: String,
    content: Content,
    context: Result<String>,
    mode: Option<u32>,
    leading: bool,
    label: String,
}

#[derive(Clone, Debug)]
enum Content {
    Text(String),
    Bytes(Vec<u8>),
    Source(String),
    Template(wit::TemplateBody),
}

impl File {
    /// An empty file at `path`: relative to the workdir, or absolute inside a
    /// granted path. Set its content with [`text`](File::text),
    /// [`bytes`](File::bytes), [`source`](File::source),
    /// [`template`](File::template) or [`template_str`](File::template_str).
    pub fn new(path: impl Into<String>) -> Self {
        File {
            path: path.into(),
            content: Content::Text(String::new()),
            context: Ok("{}".to_owned()),
            mode: None,
            leading: false,
            label: String::new(),
        }
    }

    /// The given text, written as is.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.content = Content::Text(text.into());
        self
    }

    /// The given bytes, written as is.
    pub fn bytes(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.content = Content::Bytes(bytes.into());
        self
    }

    /// A copy of a file in the component's definition folder (defdir).
    pub fn source(mut self, defdir_path: impl Into<String>) -> Self {
        self.content = Content::Source(defdir_path.into());
        self
    }

    /// The environment's secret file `name` (`environments/ENV/secret-NAME.age`),
    /// which the environment must grant (`[grants:COMPONENT] secrets =
    /// NAME`). berth puts the decrypted bytes in on the target; they never
    /// pass through the component, and the file is written `0600` unless
    /// [`mode`](File::mode) says otherwise.
    pub fn secret(mut self, name: impl Into<String>) -> Self {
        // The host reads a source `secret:NAME` as the secret file NAME.
        self.content = Content::Source(format!("secret:{}", name.into()));
        self
    }

    /// A minijinja template from the defdir, rendered by berth with `host`,
    /// `environment`, `attributes` and the [`context`](File::context) in
    /// scope. Undefined names are errors.
    pub fn template(mut self, defdir_path: impl Into<String>) -> Self {
        self.content = Content::Template(wit::TemplateBody::Source(defdir_path.into()));
        self
    }

    /// Like [`template`](File::template), with the template text given here.
    pub fn template_str(mut self, template: impl Into<String>) -> Self {
        self.content = Content::Template(wit::TemplateBody::Inline(template.into()));
        self
    }

    /// Extra values visible at the template's top level; must serialize to a
    /// JSON object. Ignored unless the content is a template.
    pub fn context(mut self, context: impl Serialize) -> Self {
        self.context = match serde_json::to_value(&context) {
            Ok(value @ serde_json::Value::Object(_)) => Ok(value.to_string()),
            Ok(other) => Err(Error::Invalid(format!(
                "template context of `{}` must be a JSON object, not `{other}`",
                self.path
            ))),
            Err(e) => Err(Error::Invalid(format!(
                "template context of `{}`: {e}",
                self.path
            ))),
        };
        self
    }

    /// Permission bits, for example `0o644`. Without it berth leaves the mode
    /// of an existing file alone and creates new files with `0o644`.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Create missing parent directories.
    pub fn leading(mut self, leading: bool) -> Self {
        self.leading = leading;
        self
    }
}

impl From<File> for Step {
    fn from(file: File) -> Step {
        let (context, error) = match file.context {
            Ok(c) => (c, None),
            Err(e) => ("{}".to_owned(), Some(e)),
        };
        let content = match file.content {
            Content::Text(t) => wit::FileContent::Text(t),
            Content::Bytes(b) => wit::FileContent::Bytes(b),
            Content::Source(s) => wit::FileContent::Source(s),
            Content::Template(body) => {
                wit::FileContent::Template(wit::TemplateSpec { body, context })
            }
        };
        Step {
            label: file.label,
            resource: wit::Resource::File(wit::FileSpec {
                path: file.path,
                content,
                mode: file.mode,
                leading: file.leading,
            }),
            error,
        }
    }
}

/// A directory, created by berth when missing.
#[derive(Clone, Debug)]
pub struct Directory {
    path: String,
    mode: Option<u32>,
    leading: bool,
    label: String,
}

impl Directory {
    /// A directory at `path`: relative to the workdir, or absolute inside a
    /// granted path.
    pub fn new(path: impl Into<String>) -> Self {
        Directory {
            path: path.into(),
            mode: None,
            leading: false,
            label: String::new(),
        }
    }

    /// Permission bits; without it berth leaves them alone.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Create missing parent directories.
    pub fn leading(mut self, leading: bool) -> Self {
        self.leading = leading;
        self
    }
}

impl From<Directory> for Step {
    fn from(d: Directory) -> Step {
        Step {
            label: d.label,
            resource: wit::Resource::Directory(wit::DirectorySpec {
                path: d.path,
                mode: d.mode,
                leading: d.leading,
            }),
            error: None,
        }
    }
}

/// A symbolic link at `path` pointing to `target` (which must lie inside a
/// granted path).
#[derive(Clone, Debug)]
pub struct Symlink {
    path: String,
    target: String,
    label: String,
}

impl Symlink {
    /// A link at `path` pointing to `target`.
    pub fn new(path: impl Into<String>, target: impl Into<String>) -> Self {
        Symlink {
            path: path.into(),
            target: target.into(),
            label: String::new(),
        }
    }
}

impl From<Symlink> for Step {
    fn from(s: Symlink) -> Step {
        Step {
            label: s.label,
            resource: wit::Resource::Symlink(wit::SymlinkSpec {
                path: s.path,
                target: s.target,
            }),
            error: None,
        }
    }
}

/// Removal of everything that matches a glob pattern (`*`, `?`, `[...]`,
/// `**`), relative to the workdir or absolute inside a granted path.
#[derive(Clone, Debug)]
pub struct Purge {
    pattern: String,
    label: String,
}

impl Purge {
    /// Remove what matches `pattern`.
    pub fn new(pattern: impl Into<String>) -> Self {
        Purge {
            pattern: pattern.into(),
            label: String::new(),
        }
    }
}

impl From<Purge> for Step {
    fn from(p: Purge) -> Step {
        Step {
            label: p.label,
            resource: wit::Resource::Purge(wit::PurgeSpec { pattern: p.pattern }),
            error: None,
        }
    }
}

/// A granted program run by berth (never through a shell), made idempotent
/// by a guard.
///
/// ```
/// use berth_sdk::Command;
///
/// let reload = Command::new(["systemctl", "reload", "nginx"]).on_change();
/// let init = Command::new(["initdb", "data"]).creates("data/PG_VERSION");
/// let user = Command::new(["useradd", "app"]).unless(["id", "app"]);
/// # let _ = (reload, init, user);
/// ```
#[derive(Clone, Debug)]
pub struct Command {
    argv: Vec<String>,
    cwd: Option<String>,
    unless: Option<Vec<String>>,
    creates: Option<String>,
    on_change: bool,
    label: String,
}

impl Command {
    /// Run `argv` (program, then arguments).
    pub fn new<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Command {
            argv: argv.into_iter().map(Into::into).collect(),
            cwd: None,
            unless: None,
            creates: None,
            on_change: false,
            label: String::new(),
        }
    }

    /// Working directory relative to the workdir (default: the workdir).
    pub fn cwd(mut self, cwd: impl Into<String>) -> Self {
        self.cwd = Some(cwd.into());
        self
    }

    /// Skip the run when this command exits with status 0.
    pub fn unless<I, S>(mut self, argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.unless = Some(argv.into_iter().map(Into::into).collect());
        self
    }

    /// Skip the run when this path exists.
    pub fn creates(mut self, path: impl Into<String>) -> Self {
        self.creates = Some(path.into());
        self
    }

    /// Run whenever a child step of this step changed, even when the guards
    /// say the work is done.
    pub fn on_change(mut self) -> Self {
        self.on_change = true;
        self
    }
}

impl From<Command> for Step {
    fn from(c: Command) -> Step {
        Step {
            label: c.label,
            resource: wit::Resource::Command(wit::CommandSpec {
                argv: c.argv,
                cwd: c.cwd,
                unless: c.unless,
                creates: c.creates,
                on_change: c.on_change,
            }),
            error: None,
        }
    }
}

/// A step the component verifies and updates itself, in
/// [`Component::verify`](crate::Component::verify) and
/// [`Component::update`](crate::Component::update).
///
/// ```
/// use berth_sdk::Custom;
///
/// let manifest = Custom::new("manifest").data(&["a.txt", "b.txt"]).label("SHA256SUMS");
/// # let _ = manifest;
/// ```
#[derive(Clone, Debug)]
pub struct Custom {
    kind: String,
    data: Result<String>,
    label: String,
}

impl Custom {
    /// A custom step of the given kind (the component's own name for it),
    /// with `null` data.
    pub fn new(kind: impl Into<String>) -> Self {
        Custom {
            kind: kind.into(),
            data: Ok("null".to_owned()),
            label: String::new(),
        }
    }

    /// The data handed back to verify and update, serialized as JSON; read it
    /// there with [`CustomStep::data`].
    pub fn data(mut self, data: impl Serialize) -> Self {
        let kind = &self.kind;
        self.data = to_json(|| format!("data of custom step `{kind}`"), &data);
        self
    }
}

impl From<Custom> for Step {
    fn from(c: Custom) -> Step {
        let (data, error) = match c.data {
            Ok(d) => (d, None),
            Err(e) => ("null".to_owned(), Some(e)),
        };
        Step {
            label: c.label,
            resource: wit::Resource::Custom(wit::CustomSpec { kind: c.kind, data }),
            error,
        }
    }
}

labelled!(File, Directory, Symlink, Purge, Command, Custom);

/// A [`Custom`] step as verify and update receive it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomStep {
    /// The kind given to [`Custom::new`].
    pub kind: String,
    /// The data given to [`Custom::data`], as JSON.
    pub data: String,
}

impl CustomStep {
    /// The data, deserialized.
    ///
    /// Fails with [`Error::Invalid`] naming the step's kind when the data
    /// does not fit `T`.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_str(&self.data)
            .map_err(|e| Error::Invalid(format!("data of custom step `{}`: {e}", self.kind)))
    }
}

/// What verify and update are told about a custom step's place in the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepContext {
    /// The root component the step belongs to.
    pub component: String,
    /// Whether any child step of this step changed in this run.
    pub children_changed: bool,
}

/// The answer of [`Component::verify`](crate::Component::verify).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to do.
    UpToDate,
    /// [`Component::update`](crate::Component::update) must run; the string
    /// says why.
    NeedsUpdate(String),
}

impl Verdict {
    /// [`Verdict::NeedsUpdate`] with the given reason.
    pub fn needs_update(reason: impl Into<String>) -> Self {
        Verdict::NeedsUpdate(reason.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_builder_fills_the_spec() {
        let step: Step = File::new("motd")
            .template("motd.j2")
            .context(serde_json::json!({"a": 1}))
            .mode(0o644)
            .leading(true)
            .label("the motd")
            .into();
        assert_eq!(step.label, "the motd");
        assert!(step.error.is_none());
        let wit::Resource::File(spec) = step.resource else {
            panic!("not a file")
        };
        assert_eq!(spec.mode, Some(0o644));
        assert!(spec.leading);
        let wit::FileContent::Template(t) = spec.content else {
            panic!("not a template")
        };
        assert_eq!(t.context, r#"{"a":1}"#);
        assert!(matches!(t.body, wit::TemplateBody::Source(ref s) if s == "motd.j2"));
    }

    #[test]
    fn a_context_that_is_not_an_object_is_an_error() {
        let step: Step = File::new("x")
            .template_str("{{ a }}")
            .context([1, 2])
            .into();
        let e = step.error.unwrap();
        assert_eq!(e.kind(), "invalid");
        assert!(e.message().contains("`x`"), "{e}");
    }

    #[test]
    fn custom_data_round_trips() {
        let step: Step = Custom::new("manifest").data(["a", "b"]).into();
        let wit::Resource::Custom(spec) = step.resource else {
            panic!("not custom")
        };
        let custom = CustomStep {
            kind: spec.kind,
            data: spec.data,
        };
        assert_eq!(custom.data::<Vec<String>>().unwrap(), ["a", "b"]);
        let e = custom.data::<u32>().unwrap_err();
        assert!(
            e.message().starts_with("data of custom step `manifest`"),
            "{e}"
        );
    }

    #[test]
    fn command_builder_fills_the_spec() {
        let step: Step = Command::new(["systemctl", "reload", "nginx"])
            .unless(["true"])
            .creates("x")
            .on_change()
            .into();
        let wit::Resource::Command(spec) = step.resource else {
            panic!("not a command")
        };
        assert_eq!(spec.argv, ["systemctl", "reload", "nginx"]);
        assert_eq!(spec.unless.as_deref(), Some(&["true".to_owned()][..]));
        assert_eq!(spec.creates.as_deref(), Some("x"));
        assert!(spec.on_change);
    }
}
