//! What a new component is — its doc, attributes and needs — and the files
//! rendered from it. The code and the README come from the same [`Spec`],
//! so the README cannot describe attributes or capabilities the code does
//! not declare.

use minijinja::Environment;
use serde_json::{Value, json};

use crate::{Lang, ScaffoldError, name};

/// An attribute of the new component.
#[derive(Debug, Clone)]
pub(crate) struct AttributeSpec {
    pub name: &'static str,
    /// `string` or `int`: the SDK's constructor and the README's type.
    pub ty: &'static str,
    pub default: Value,
    pub doc: &'static str,
}

/// Access to a path beyond the default grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    ReadWrite,
}

/// The new component.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub name: String,
    pub attributes: Vec<AttributeSpec>,
    pub paths: Vec<(String, Access)>,
    pub commands: Vec<String>,
}

impl Spec {
    /// What `berth new component NAME` makes: a component that renders
    /// `NAME.conf` into its workdir from two typed attributes with defaults,
    /// and needs nothing beyond the default grant.
    pub fn new(name: &str) -> Self {
        Spec {
            name: name.to_owned(),
            attributes: vec![
                AttributeSpec {
                    name: "address",
                    ty: "string",
                    default: json!("127.0.0.1"),
                    doc: "The address the service listens on.",
                },
                AttributeSpec {
                    name: "port",
                    ty: "int",
                    default: json!(8080),
                    doc: "The port the service listens on (1-65535).",
                },
            ],
            paths: Vec::new(),
            commands: Vec::new(),
        }
    }

    /// The file it writes into its workdir.
    pub fn config(&self) -> String {
        format!("{}.conf", self.name)
    }

    /// The template of that file, in its definition folder.
    pub fn template(&self) -> String {
        format!("{}.conf.j2", self.name)
    }

    /// Its doc line (`DOC`, `doc`, the README's first paragraph).
    pub fn doc(&self) -> String {
        format!(
            "Writes `{}` into its workdir from its attributes.",
            self.config()
        )
    }

    /// The files of the package folder, relative to it, with their content.
    pub fn files(&self, lang: Lang) -> Result<Vec<(String, String)>, ScaffoldError> {
        let context = self.context(lang);
        let mut files = match lang {
            Lang::Rust => vec![
                ("Cargo.toml".to_owned(), render("Cargo.toml", &context)?),
                ("src/lib.rs".to_owned(), render("lib.rs", &context)?),
            ],
            Lang::Python => vec![(
                crate::PYTHON_ENTRY.to_owned(),
                render("component.py", &context)?,
            )],
        };
        files.push((self.template(), render("config", &context)?));
        files.push(("README.md".to_owned(), render("README.md", &context)?));
        Ok(files)
    }

    fn context(&self, lang: Lang) -> Value {
        let access = |a: Access| match a {
            Access::Read => ("read-only", "Read", "ro"),
            Access::ReadWrite => ("read-write", "ReadWrite", "rw"),
        };
        let attributes: Vec<Value> = self
            .attributes
            .iter()
            .map(|a| {
                json!({
                    "name": a.name,
                    "name_rs": rust_str(a.name),
                    "ty": a.ty,
                    "ty_py": if a.ty == "int" { "int" } else { "str" },
                    "default_rs": match &a.default {
                        Value::String(s) => rust_str(s),
                        other => other.to_string(),
                    },
                    "default_py": a.default.to_string(),
                    "default_json": a.default.to_string(),
                    "doc": a.doc,
                    "doc_rs": rust_str(a.doc),
                    "doc_py": py_str(a.doc),
                })
            })
            .collect();
        let paths: Vec<Value> = self
            .paths
            .iter()
            .map(|(p, a)| {
                let (text, rs, _) = access(*a);
                json!({"path": p, "path_rs": rust_str(p), "access": text, "access_rs": rs})
            })
            .collect();
        let commands: Vec<Value> = self
            .commands
            .iter()
            .map(|c| json!({"name": c, "rs": rust_str(c)}))
            .collect();
        let py_list = |items: Vec<&String>| {
            let quoted: Vec<String> = items.into_iter().map(|s| py_str(s)).collect();
            format!("[{}]", quoted.join(", "))
        };
        let with = |wanted: Access| {
            py_list(
                self.paths
                    .iter()
                    .filter(|(_, a)| *a == wanted)
                    .map(|(p, _)| p)
                    .collect(),
            )
        };
        let grant_paths: Vec<String> = self
            .paths
            .iter()
            .map(|(p, a)| format!("{p} {}", access(*a).2))
            .collect();
        json!({
            "lang": match lang { Lang::Rust => "rust", Lang::Python => "python" },
            "name": self.name,
            "name_rs": rust_str(&self.name),
            "name_py": py_str(&self.name),
            "type_name": name::type_name(&self.name),
            "doc": self.doc(),
            "doc_rs": rust_str(&self.doc()),
            "doc_py": py_str(&self.doc()),
            "config": self.config(),
            "config_rs": rust_str(&self.config()),
            "config_py": py_str(&self.config()),
            "template": self.template(),
            "template_rs": rust_str(&self.template()),
            "template_py": py_str(&self.template()),
            "attributes": attributes,
            "paths": paths,
            "commands": commands,
            "commands_py": py_list(self.commands.iter().collect()),
            "read_py": with(Access::Read),
            "read_write_py": with(Access::ReadWrite),
            "grant_paths": grant_paths.join(", "),
            "grant_commands": self.commands.join(" "),
        })
    }
}

/// A Rust string literal holding `s`.
fn rust_str(s: &str) -> String {
    format!("{s:?}")
}

/// A Python string literal holding `s` (a JSON string is one).
fn py_str(s: &str) -> String {
    Value::from(s).to_string()
}

/// The templates, by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../templates/Cargo.toml.j2")),
    ("lib.rs", include_str!("../templates/lib.rs.j2")),
    ("component.py", include_str!("../templates/component.py.j2")),
    ("config", include_str!("../templates/config.j2")),
    ("README.md", include_str!("../templates/README.md.j2")),
];

fn render(template: &str, context: &Value) -> Result<String, ScaffoldError> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .map_err(|e| ScaffoldError::Template {
                template: (*name).to_owned(),
                message: e.to_string(),
            })?;
    }
    env.get_template(template)
        .and_then(|t| t.render(context))
        .map_err(|e| ScaffoldError::Template {
            template: template.to_owned(),
            message: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(files: &[(String, String)], name: &str) -> String {
        files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.clone())
            .unwrap_or_else(|| panic!("no {name} in {files:?}"))
    }

    #[test]
    fn rust_code_and_readme_declare_the_same_attributes() {
        let files = Spec::new("web-app").files(Lang::Rust).unwrap();
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["Cargo.toml", "src/lib.rs", "web-app.conf.j2", "README.md"]
        );
        let lib = file(&files, "src/lib.rs");
        assert!(lib.contains("struct WebApp;"), "{lib}");
        assert!(
            lib.contains("const NAME: &'static str = \"web-app\";"),
            "{lib}"
        );
        assert!(
            lib.contains(
                "Attribute::int(\"port\")\n                .default(8080)\n                .doc(\"The port the service listens on (1-65535).\"),"
            ),
            "{lib}"
        );
        assert!(lib.contains(".default(\"127.0.0.1\")"), "{lib}");
        assert!(lib.contains("        Needs::new()\n    }"), "{lib}");
        assert!(lib.contains("berth_sdk::export!(WebApp);"), "{lib}");
        let readme = file(&files, "README.md");
        assert!(
            readme.starts_with(
                "# web-app\n\nWrites `web-app.conf` into its workdir from its attributes.\n"
            ),
            "{readme}"
        );
        assert!(
            readme.contains(
                "| `port` | int | `8080` | The port the service listens on (1-65535). |\n"
            ),
            "{readme}"
        );
        assert!(
            readme.contains(
                "| `address` | string | `\"127.0.0.1\"` | The address the service listens on. |\n"
            ),
            "{readme}"
        );
        assert!(
            readme.contains("it needs no\n`[grants:web-app]` section"),
            "{readme}"
        );
        assert!(!readme.contains("\n\n\n"), "{readme}");
        let template = file(&files, "web-app.conf.j2");
        assert_eq!(
            template,
            "# {{ component }} on {{ host.fqdn }}, environment {{ environment.name }}.\n\
             # Written by berth from web-app.conf.j2: edits here are overwritten.\n\
             address = {{ attributes.address }}\n\
             port = {{ attributes.port }}\n"
        );
        let cargo = file(&files, "Cargo.toml");
        assert!(cargo.contains("name = \"web-app\"\n"), "{cargo}");
    }

    #[test]
    fn python_code_and_readme_declare_the_same_attributes() {
        let files = Spec::new("web_app").files(Lang::Python).unwrap();
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["component.py", "web_app.conf.j2", "README.md"]);
        let code = file(&files, "component.py");
        assert!(
            code.contains("class WebApp(Component):\n    name = \"web_app\"\n"),
            "{code}"
        );
        assert!(
            code.contains(
                "    port = Attribute(int, default=8080, doc=\"The port the service listens on (1-65535).\")\n"
            ),
            "{code}"
        );
        assert!(
            code.contains("    address = Attribute(str, default=\"127.0.0.1\", "),
            "{code}"
        );
        assert!(
            code.contains("    needs = Needs(commands=[], read=[], read_write=[])\n"),
            "{code}"
        );
        assert!(code.ends_with("berth.export(WebApp)\n"), "{code}");
        let readme = file(&files, "README.md");
        assert!(readme.contains("componentize-py"), "{readme}");
        assert!(readme.contains("| `port` | int | `8080` |"), "{readme}");
    }

    #[test]
    fn declared_needs_show_in_the_code_and_the_readme() {
        let mut spec = Spec::new("site");
        spec.paths = vec![
            ("/etc/site".to_owned(), Access::ReadWrite),
            ("/etc/ssl".to_owned(), Access::Read),
        ];
        spec.commands = vec!["systemctl".to_owned()];
        let rust = spec.files(Lang::Rust).unwrap();
        let lib = file(&rust, "src/lib.rs");
        assert!(lib.contains("use berth_sdk::{Access, Attribute,"), "{lib}");
        assert!(
            lib.contains(
                "        Needs::new()\n            .path(\"/etc/site\", Access::ReadWrite)\n            .path(\"/etc/ssl\", Access::Read)\n            .command(\"systemctl\")\n    }"
            ),
            "{lib}"
        );
        let python = spec.files(Lang::Python).unwrap();
        let code = file(&python, "component.py");
        assert!(
            code.contains(
                "needs = Needs(commands=[\"systemctl\"], read=[\"/etc/ssl\"], read_write=[\"/etc/site\"])"
            ),
            "{code}"
        );
        let readme = file(&rust, "README.md");
        assert!(readme.contains("- `/etc/site`: read-write\n- `/etc/ssl`: read-only\n- runs the program `systemctl`\n"), "{readme}");
        assert!(
            readme.contains("```ini\n[grants:site]\npaths = /etc/site rw, /etc/ssl ro\ncommands = systemctl\n```"),
            "{readme}"
        );
    }
}
