//! A per-run cache of parsed templates.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use minijinja::{Environment, UndefinedBehavior, Value};
use sha2::{Digest as _, Sha256};

use crate::error::ResourceError;

/// A per-run cache of parsed minijinja templates, so that 200 files rendered
/// from one template parse it once.
///
/// Undefined variables are errors (`UndefinedBehavior::Strict`) and a
/// trailing newline is kept. Each component gets its own environment, so a
/// template can only `include` templates of its own component. Safe to share
/// between threads.
#[derive(Default)]
pub struct Templates {
    by_component: RwLock<HashMap<String, Arc<RwLock<Environment<'static>>>>>,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let components = self
            .by_component
            .read()
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

    /// The converted value; cloning it is cheap (shared).
    pub(crate) fn value(&self) -> &Value {
        &self.value
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
    /// An empty cache.
    pub fn new() -> Templates {
        Templates::default()
    }

    fn environment(&self, component: &str) -> Arc<RwLock<Environment<'static>>> {
        if let Some(env) = self
            .by_component
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(component)
        {
            return Arc::clone(env);
        }
        let mut map = self
            .by_component
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(map.entry(component.to_owned()).or_insert_with(|| {
            let mut env = Environment::new();
            env.set_undefined_behavior(UndefinedBehavior::Strict);
            env.set_keep_trailing_newline(true);
            // Block tags (`{% if %}` on a line of their own) leave no blank
            // line behind, as in Ansible; `{%+` keeps the newline.
            env.set_trim_blocks(true);
            env.set_lstrip_blocks(true);
            Arc::new(RwLock::new(env))
        }))
    }

    /// Renders a template with `context`; `load` gives its source on a miss.
    pub(crate) fn render(
        &self,
        template: &TemplateRef<'_>,
        load: impl FnOnce() -> Result<String, ResourceError>,
        context: &Value,
    ) -> Result<String, ResourceError> {
        let env = self.environment(template.component);
        {
            let env = env.read().unwrap_or_else(PoisonError::into_inner);
            if let Ok(t) = env.get_template(&template.key) {
                return t
                    .render(context)
                    .map_err(|e| template_error(&template.display(), &e));
            }
        }
        let source = load()?;
        let mut env = env.write().unwrap_or_else(PoisonError::into_inner);
        if env.get_template(&template.key).is_err() {
            env.add_template_owned(template.key.clone(), source)
                .map_err(|e| template_error(&template.display(), &e))?;
        }
        let t = env
            .get_template(&template.key)
            .map_err(|e| template_error(&template.display(), &e))?;
        t.render(context)
            .map_err(|e| template_error(&template.display(), &e))
    }
}

/// Names the template, the line and, when minijinja knows it, the exact
/// expression (for an undefined variable: its name).
fn template_error(name: &str, e: &minijinja::Error) -> ResourceError {
    let mut message = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    };
    if let (Some(range), Some(source)) = (e.range(), e.template_source())
        && let Some(snippet) = source.get(range)
    {
        message.push_str(&format!(" (at `{snippet}`)"));
    }
    ResourceError::Template {
        name: name.to_owned(),
        line: e.line(),
        message,
    }
}
