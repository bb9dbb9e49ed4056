//! Template rendering, bounded: each component's templates render in a
//! child process of their own (a [`berth_sandbox::Isolated`] fork of berth)
//! with minijinja's fuel, a cap on the rendered text, a memory limit and the
//! step's deadline.
//!
//! Fuel alone does not bound a template: `{% set s = s ~ s %}` written forty
//! times doubles a string forty times in forty instructions, and an
//! allocation that fails aborts the process that makes it. In the child,
//! that process is the renderer, not berth: berth reports that the
//! template needed more than the limit, and goes on.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use berth_sandbox::{Isolated, IsolatedError};
use minijinja::{Environment, UndefinedBehavior, Value};
use sha2::{Digest as _, Sha256};

use crate::error::ResourceError;

/// The minijinja instructions one render may run (`fuel`): a second or so
/// of work, a hundred times what a templated configuration file of ten
/// thousand lines needs, and a clear error for a loop like `range(100000)`
/// inside `range(100000)`.
pub const TEMPLATE_FUEL: u64 = 10_000_000;

/// The most text one template may render, in bytes.
pub const TEMPLATE_OUTPUT_LIMIT: usize = 64 << 20;

/// The memory a component's template renderer may use beyond what it
/// starts with: the default memory cap of a component.
pub const TEMPLATE_MEMORY: u64 = 256 << 20;

/// The rendered templates of a run: one renderer process per component,
/// started at its first template and stopped when this is dropped, which
/// keeps every template it parsed, so that 200 files rendered from one
/// template parse it once.
///
/// Undefined variables are errors (`UndefinedBehavior::Strict`) and a
/// trailing newline is kept. Each component gets its own renderer, so a
/// template can only `include` templates of its own component, and every
/// template of a component renders with the [`Globals`] its first template
/// rendered with. Safe to share between threads.
#[derive(Default)]
pub struct Templates {
    by_component: Mutex<HashMap<String, Renderer>>,
}

/// One component's renderer, and the templates it holds.
struct Renderer {
    process: Isolated,
    known: HashSet<String>,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let components = self
            .by_component
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("Templates")
            .field("components", &components)
            .finish()
    }
}

/// The template top level of one component (`host`, `environment`,
/// `attributes`...), converted for minijinja once rather than for every
/// file it renders.
#[derive(Debug, Clone)]
pub struct Globals {
    value: Value,
}

impl Globals {
    /// Converts the JSON object once.
    pub fn new(json: &serde_json::Value) -> Globals {
        Globals {
            value: Value::from_serialize(json),
        }
    }
}

impl From<serde_json::Value> for Globals {
    fn from(json: serde_json::Value) -> Globals {
        Globals::new(&json)
    }
}

/// Which template to render, for the cache and for messages.
pub(crate) struct TemplateRef<'a> {
    pub(crate) component: &'a str,
    /// The cache key within the component.
    pub(crate) key: String,
    /// What to call it in errors, formatted only for one.
    name: TemplateName<'a>,
}

enum TemplateName<'a> {
    Source(&'a str),
    Inline { file: &'a str },
}

impl TemplateRef<'_> {
    /// The name shown in errors.
    fn display(&self) -> String {
        match self.name {
            TemplateName::Source(path) => format!("`{path}`"),
            TemplateName::Inline { file } => format!("inline of file `{file}`"),
        }
    }
}

impl<'a> TemplateRef<'a> {
    pub(crate) fn source(component: &'a str, path: &'a str) -> TemplateRef<'a> {
        let mut key = String::with_capacity(7 + path.len());
        key.push_str("source:");
        key.push_str(path);
        TemplateRef {
            component,
            key,
            name: TemplateName::Source(path),
        }
    }

    pub(crate) fn inline(component: &'a str, body: &str, file: &'a str) -> TemplateRef<'a> {
        let digest = Sha256::digest(body.as_bytes());
        let mut key = String::with_capacity(7 + 64);
        key.push_str("inline:");
        for b in digest {
            key.push_str(&format!("{b:02x}"));
        }
        TemplateRef {
            component,
            key,
            name: TemplateName::Inline { file },
        }
    }
}

impl Templates {
    /// No renderer started yet.
    pub fn new() -> Templates {
        Templates::default()
    }

    /// Renders a template with `globals` and the step's `context` (a JSON
    /// object, merged over the globals) within `timeout`; `load` gives the
    /// template's source the first time it is used.
    pub(crate) fn render(
        &self,
        template: &TemplateRef<'_>,
        load: impl FnOnce() -> Result<String, ResourceError>,
        globals: &Globals,
        context: &serde_json::Value,
        timeout: Duration,
    ) -> Result<String, ResourceError> {
        let fail = |message: String| ResourceError::Template {
            name: template.display(),
            line: None,
            message,
        };
        let mut renderers = self
            .by_component
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !renderers.contains_key(template.component) {
            let globals = globals.value.clone();
            let process = Isolated::spawn(TEMPLATE_MEMORY, serve(globals))
                .map_err(|e| fail(format!("cannot start the template renderer: {e}")))?;
            renderers.insert(
                template.component.to_owned(),
                Renderer {
                    process,
                    known: HashSet::new(),
                },
            );
        }
        let Some(renderer) = renderers.get_mut(template.component) else {
            return Err(fail("the template renderer is gone (a berth bug)".into()));
        };
        let source = if renderer.known.contains(&template.key) {
            None
        } else {
            Some(load()?)
        };
        let context = match context.as_object() {
            Some(map) if !map.is_empty() => context.to_string(),
            _ => String::new(),
        };
        let request = Request {
            key: &template.key,
            source: source.as_deref(),
            context: &context,
        }
        .encode();
        let answer = match renderer.process.call(&request, timeout) {
            Ok(answer) => answer,
            Err(e) => {
                // The renderer is gone; the next template starts another.
                renderers.remove(template.component);
                return Err(fail(match e {
                    IsolatedError::TimedOut(_) => format!(
                        "rendering did not finish within the step's deadline of {timeout:?} and was stopped"
                    ),
                    other => format!("rendering {other}"),
                }));
            }
        };
        renderer.known.insert(template.key.clone());
        match Answer::decode(&answer) {
            Some(Answer::Text(text)) => Ok(text),
            Some(Answer::Error { line, message }) => Err(ResourceError::Template {
                name: template.display(),
                line,
                message,
            }),
            None => Err(fail(
                "the template renderer answered garbage (a berth bug)".into(),
            )),
        }
    }
}

/// What the renderer is asked: render template `key`, parsing `source`
/// first when given, with `context` (JSON, or empty) over the globals.
struct Request<'a> {
    key: &'a str,
    source: Option<&'a str>,
    context: &'a str,
}

impl<'a> Request<'a> {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            16 + self.key.len() + self.source.map_or(0, str::len) + self.context.len(),
        );
        put(&mut out, self.key.as_bytes());
        match self.source {
            Some(source) => {
                out.push(1);
                put(&mut out, source.as_bytes());
            }
            None => out.push(0),
        }
        put(&mut out, self.context.as_bytes());
        out
    }

    fn decode(mut bytes: &'a [u8]) -> Option<Request<'a>> {
        let key = std::str::from_utf8(take(&mut bytes)?).ok()?;
        let (&flag, rest) = bytes.split_first()?;
        bytes = rest;
        let source = match flag {
            1 => Some(std::str::from_utf8(take(&mut bytes)?).ok()?),
            _ => None,
        };
        let context = std::str::from_utf8(take(&mut bytes)?).ok()?;
        Some(Request {
            key,
            source,
            context,
        })
    }
}

/// What the renderer answers.
enum Answer {
    Text(String),
    Error {
        line: Option<usize>,
        message: String,
    },
}

impl Answer {
    fn encode(&self) -> Vec<u8> {
        match self {
            Answer::Text(text) => {
                let mut out = Vec::with_capacity(1 + text.len());
                out.push(0);
                out.extend_from_slice(text.as_bytes());
                out
            }
            Answer::Error { line, message } => {
                let mut out = vec![1];
                let line = line.map_or(0, |l| u32::try_from(l).unwrap_or(u32::MAX));
                out.extend_from_slice(&line.to_le_bytes());
                out.extend_from_slice(message.as_bytes());
                out
            }
        }
    }

    fn decode(bytes: &[u8]) -> Option<Answer> {
        let (&status, rest) = bytes.split_first()?;
        match status {
            0 => Some(Answer::Text(String::from_utf8(rest.to_vec()).ok()?)),
            1 => {
                let (line, message) = rest.split_at_checked(4)?;
                let line = u32::from_le_bytes(line.try_into().ok()?);
                Some(Answer::Error {
                    line: (line != 0).then_some(line as usize),
                    message: String::from_utf8_lossy(message).into_owned(),
                })
            }
            _ => None,
        }
    }
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn take<'a>(bytes: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (len, rest) = bytes.split_at_checked(8)?;
    let len = usize::try_from(u64::from_le_bytes(len.try_into().ok()?)).ok()?;
    let (value, rest) = rest.split_at_checked(len)?;
    *bytes = rest;
    Some(value)
}

/// The renderer's side: a minijinja environment of one component, with
/// `globals` as the top level of every render.
fn serve(globals: Value) -> impl FnMut(&[u8]) -> Vec<u8> + Send + Sync + 'static {
    let mut env = environment();
    move |request: &[u8]| {
        let answer = match Request::decode(request) {
            Some(request) => render_in(&mut env, &globals, &request),
            None => Answer::Error {
                line: None,
                message: "a garbled request (a berth bug)".into(),
            },
        };
        answer.encode()
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    // Block tags (`{% if %}` on a line of their own) leave no blank line
    // behind, as in Ansible; `{%+` keeps the newline.
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_fuel(Some(TEMPLATE_FUEL));
    env
}

fn render_in(env: &mut Environment<'static>, globals: &Value, request: &Request<'_>) -> Answer {
    if let Some(source) = request.source
        && env.get_template(request.key).is_err()
        && let Err(e) = env.add_template_owned(request.key.to_owned(), source.to_owned())
    {
        return error_answer(&e, false);
    }
    let template = match env.get_template(request.key) {
        Ok(t) => t,
        Err(e) => return error_answer(&e, false),
    };
    let values = if request.context.is_empty() {
        globals.clone()
    } else {
        match serde_json::from_str::<serde_json::Value>(request.context) {
            // The last map wins: the step's context over the globals.
            Ok(context) => {
                minijinja::value::merge_maps([globals.clone(), Value::from_serialize(&context)])
            }
            Err(e) => {
                return Answer::Error {
                    line: None,
                    message: format!("the template context is not JSON: {e}"),
                };
            }
        }
    };
    let mut out = Capped::default();
    match template.render_captured_to(values, &mut out) {
        Ok(_) => match String::from_utf8(out.bytes) {
            Ok(text) => Answer::Text(text),
            Err(_) => Answer::Error {
                line: None,
                message: "the rendered text is not UTF-8".into(),
            },
        },
        Err(e) => error_answer(&e, out.full),
    }
}

/// Rendered text, up to [`TEMPLATE_OUTPUT_LIMIT`] bytes: writing more fails
/// the render.
#[derive(Default)]
struct Capped {
    bytes: Vec<u8>,
    full: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > TEMPLATE_OUTPUT_LIMIT {
            self.full = true;
            return Err(std::io::Error::other("the output limit"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Names the line and, when minijinja knows it, the exact expression (for an
/// undefined variable: its name).
fn error_answer(e: &minijinja::Error, full: bool) -> Answer {
    let mut message = if full {
        format!(
            "the rendered text exceeds {} MiB, the most a template may render",
            TEMPLATE_OUTPUT_LIMIT >> 20
        )
    } else if e.kind() == minijinja::ErrorKind::OutOfFuel {
        format!("the template ran out of fuel: it took more than {TEMPLATE_FUEL} steps of work")
    } else {
        match e.detail() {
            Some(detail) => format!("{}: {detail}", e.kind()),
            None => e.kind().to_string(),
        }
    };
    if let (Some(range), Some(source)) = (e.range(), e.template_source())
        && let Some(snippet) = source.get(range)
    {
        let cut: String = snippet.chars().take(200).collect();
        let more = if cut.len() < snippet.len() { "…" } else { "" };
        message.push_str(&format!(" (at `{cut}{more}`)"));
    }
    Answer::Error {
        line: e.line(),
        message,
    }
}
