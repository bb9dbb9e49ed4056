//! Creating component packages in a berth deployment repository
//! (`berth new component NAME --lang rust|python`).
//!
//! A new package builds and deploys as it is: it renders `NAME.conf` into
//! its workdir from two typed attributes with defaults (`address`, `port`),
//! declares that it needs nothing beyond its default grant, and comes with a
//! README stating its attributes and capabilities. Code and README are
//! rendered from one description, so they agree.
//!
//! ```no_run
//! # fn main() -> Result<(), berth_scaffold::ScaffoldError> {
//! use std::path::Path;
//! use berth_scaffold::Lang;
//!
//! let created = berth_scaffold::new_component(Path::new("."), "web", Lang::Rust)?;
//! for file in &created.files {
//!     println!("created {}", file.display());
//! }
//! # Ok(())
//! # }
//! ```
//!
//! A Rust package is a member of the cargo workspace `components/Cargo.toml`
//! (created when missing, else edited in place) and depends on `berth-sdk`
//! through its `[workspace.dependencies]`. The SDK is not on a registry: in a
//! berth checkout the workspace points at the checkout's `sdk/rust`,
//! elsewhere berth writes the SDK it embeds to `vendor/berth/` (see
//! [`VENDOR_DIR`]) once and points there.
//!
//! Nothing is half-made: the package is written into a hidden folder and
//! renamed into place, the workspace file is replaced atomically, and when a
//! step fails the steps before it are undone.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod error;
mod name;
mod sdk;
mod spec;
mod workspace;

pub use error::ScaffoldError;

use std::path::{Path, PathBuf};

use berth_build::PYTHON_ENTRY;

/// Where the Rust SDK is written in a deployment repository that is not a
/// berth checkout, relative to its root.
pub const VENDOR_DIR: &str = sdk::VENDOR_DIR;

/// The language of a new component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// A crate of the cargo workspace `components/`, using `berth-sdk`.
    Rust,
    /// A folder with a `component.py`, using berth's Python SDK.
    Python,
}

/// What [`new_component`] made, with paths relative to the repository root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The component's name.
    pub name: String,
    /// Its language.
    pub lang: Lang,
    /// Its package folder, `components/NAME`.
    pub dir: PathBuf,
    /// The files of the package folder.
    pub files: Vec<PathBuf>,
    /// The workspace file, when it was created or changed (Rust).
    pub workspace: Option<WorkspaceChange>,
    /// The folder the Rust SDK was written to, when it was.
    pub vendored_sdk: Option<PathBuf>,
    /// The attributes, as `(name, type, default as JSON)`.
    pub attributes: Vec<(String, String, String)>,
}

/// How `components/Cargo.toml` changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkspaceChange {
    /// It did not exist and was written.
    Created(PathBuf),
    /// The member was added (and `berth-sdk`, when `sdk` is true).
    Edited {
        /// The file.
        path: PathBuf,
        /// Whether `berth-sdk` was added to `[workspace.dependencies]`.
        sdk: bool,
    },
}

/// Creates the component package `components/NAME` in the deployment
/// repository at `root`.
///
/// Fails, before anything is written, when `name` is not a valid component
/// name ([`ScaffoldError::BadName`] says why), when `components/NAME`
/// exists, or when `components/Cargo.toml` cannot take another member; and
/// when a file cannot be written, after undoing what was written.
pub fn new_component(root: &Path, name: &str, lang: Lang) -> Result<Created, ScaffoldError> {
    name::validate(name, lang)?;
    let components = root.join("components");
    let dir = components.join(name);
    if std::fs::symlink_metadata(&dir).is_ok() {
        return Err(ScaffoldError::Exists { path: dir });
    }
    let spec = spec::Spec::new(name);
    let files = spec.files(lang)?;
    let attributes = spec
        .attributes
        .iter()
        .map(|a| (a.name.to_owned(), a.ty.to_owned(), a.default.to_string()))
        .collect();

    // Everything is decided before the first write.
    let mut plan = Plan::default();
    let mut workspace_change = None;
    let mut vendored_sdk = None;
    if lang == Lang::Rust {
        let checkout =
            root.join("sdk/rust/Cargo.toml").is_file() && root.join("wit/v0.1.0").is_dir();
        let sdk_path = if checkout {
            sdk::CHECKOUT_PATH
        } else {
            sdk::VENDORED_PATH
        };
        let manifest = components.join("Cargo.toml");
        let (text, change) = match std::fs::read_to_string(&manifest) {
            Ok(old) => {
                let edit = workspace::add_member(&manifest, &old, name, sdk_path)?;
                let change = WorkspaceChange::Edited {
                    path: manifest.clone(),
                    sdk: edit.added_sdk,
                };
                (edit.text, change)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
                workspace::new(name, sdk_path),
                WorkspaceChange::Created(manifest.clone()),
            ),
            Err(source) => {
                return Err(ScaffoldError::Io {
                    action: "read",
                    path: manifest,
                    source,
                });
            }
        };
        let vendor = root.join(sdk::VENDOR_DIR);
        let sdk_wanted = matches!(change, WorkspaceChange::Created(_))
            || matches!(change, WorkspaceChange::Edited { sdk: true, .. });
        if !checkout && sdk_wanted && std::fs::symlink_metadata(&vendor).is_err() {
            let mut sdk_files: Vec<(String, String)> = sdk::FILES
                .iter()
                .map(|(p, t)| ((*p).to_owned(), (*t).to_owned()))
                .collect();
            sdk_files.push(("README.md".to_owned(), sdk::README.to_owned()));
            plan.folders.push((vendor.clone(), sdk_files));
            vendored_sdk = Some(vendor);
        }
        plan.folders.push((dir.clone(), files.clone()));
        plan.replace = Some((manifest, text));
        workspace_change = Some(change);
    } else {
        plan.folders.push((dir.clone(), files.clone()));
    }
    plan.apply()?;

    Ok(Created {
        name: name.to_owned(),
        lang,
        files: files.iter().map(|(f, _)| dir.join(f)).collect(),
        dir,
        workspace: workspace_change,
        vendored_sdk,
        attributes,
    })
}

/// The writes of one scaffold, applied all or nothing.
#[derive(Debug, Default)]
struct Plan {
    /// New folders with their files (relative paths and content).
    folders: Vec<(PathBuf, Vec<(String, String)>)>,
    /// A file written (or replaced) last, with its new content.
    replace: Option<(PathBuf, String)>,
}

/// Something [`Plan::apply`] did and undoes when a later step fails.
#[derive(Debug)]
enum Undo {
    RemoveDir(PathBuf),
    RemoveFile(PathBuf),
    Restore(PathBuf, Vec<u8>),
}

impl Plan {
    fn apply(self) -> Result<(), ScaffoldError> {
        let mut done = Vec::new();
        let result = self.apply_logged(&mut done);
        if result.is_err() {
            for undo in done.into_iter().rev() {
                // Best effort: the error that made us undo is the one to report.
                let _ = match undo {
                    Undo::RemoveDir(p) => std::fs::remove_dir_all(p),
                    Undo::RemoveFile(p) => std::fs::remove_file(p),
                    Undo::Restore(p, bytes) => std::fs::write(p, bytes),
                };
            }
        }
        result
    }

    fn apply_logged(self, done: &mut Vec<Undo>) -> Result<(), ScaffoldError> {
        for (folder, files) in &self.folders {
            create_parents(folder, done)?;
            let stage = hidden_sibling(folder);
            done.push(Undo::RemoveDir(stage.clone()));
            for (rel, text) in files {
                let path = stage.join(rel);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(io("create directory", parent))?;
                }
                std::fs::write(&path, text).map_err(io("write", &path))?;
            }
            // `rename` refuses to replace a non-empty folder, so a folder
            // made meanwhile by someone else is not overwritten.
            std::fs::rename(&stage, folder).map_err(io("create", folder))?;
            done.pop();
            done.push(Undo::RemoveDir(folder.clone()));
        }
        if let Some((path, text)) = &self.replace {
            create_parents(path, done)?;
            let old = match std::fs::read(path) {
                Ok(bytes) => Some(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(io("read", path)(e)),
            };
            let tmp = hidden_sibling(path);
            done.push(Undo::RemoveFile(tmp.clone()));
            std::fs::write(&tmp, text).map_err(io("write", &tmp))?;
            std::fs::rename(&tmp, path).map_err(io("replace", path))?;
            done.pop();
            done.push(match old {
                Some(bytes) => Undo::Restore(path.clone(), bytes),
                None => Undo::RemoveFile(path.clone()),
            });
        }
        Ok(())
    }
}

/// Creates the missing folders above `path`, remembering them for undo.
fn create_parents(path: &Path, done: &mut Vec<Undo>) -> Result<(), ScaffoldError> {
    let mut missing = Vec::new();
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d.as_os_str().is_empty() || d.exists() {
            break;
        }
        missing.push(d.to_owned());
        dir = d.parent();
    }
    for d in missing.into_iter().rev() {
        std::fs::create_dir(&d).map_err(io("create directory", &d))?;
        done.push(Undo::RemoveDir(d));
    }
    Ok(())
}

/// A hidden name beside `path` for staging it: `.NAME.berth-new-PID`.
fn hidden_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.berth-new-{}", std::process::id()))
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ScaffoldError {
    let path = path.to_owned();
    move |source| ScaffoldError::Io {
        action,
        path,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("environments")).unwrap();
        dir
    }

    fn listing(root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_owned()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                out.push(p.strip_prefix(root).unwrap().display().to_string());
                if p.is_dir() {
                    stack.push(p);
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn a_rust_component_outside_a_checkout_vendors_the_sdk() {
        let dir = repo();
        let created = new_component(dir.path(), "web", Lang::Rust).unwrap();
        assert_eq!(created.dir, dir.path().join("components/web"));
        assert_eq!(
            created.vendored_sdk.as_deref(),
            Some(dir.path().join("vendor/berth").as_path())
        );
        let manifest = std::fs::read_to_string(dir.path().join("components/Cargo.toml")).unwrap();
        assert!(manifest.contains("members = [\"web\"]"), "{manifest}");
        assert!(
            manifest.contains("berth-sdk = { path = \"../vendor/berth/sdk/rust\" }"),
            "{manifest}"
        );
        for (path, text) in sdk::FILES {
            let got = std::fs::read_to_string(dir.path().join("vendor/berth").join(path)).unwrap();
            assert_eq!(&got, text, "{path}");
        }
        let files = listing(&dir.path().join("components"));
        assert_eq!(
            files,
            [
                "Cargo.toml",
                "web",
                "web/Cargo.toml",
                "web/README.md",
                "web/src",
                "web/src/lib.rs",
                "web/web.conf.j2"
            ]
        );

        // A second component reuses the SDK and adds itself to the members.
        let before = listing(&dir.path().join("vendor"));
        let second = new_component(dir.path(), "db", Lang::Rust).unwrap();
        assert_eq!(second.vendored_sdk, None);
        assert_eq!(
            second.workspace,
            Some(WorkspaceChange::Edited {
                path: dir.path().join("components/Cargo.toml"),
                sdk: false
            })
        );
        assert_eq!(listing(&dir.path().join("vendor")), before);
        let manifest = std::fs::read_to_string(dir.path().join("components/Cargo.toml")).unwrap();
        assert!(
            manifest.contains("members = [\"web\", \"db\"]"),
            "{manifest}"
        );
    }

    #[test]
    fn a_rust_component_in_a_checkout_uses_its_sdk() {
        let dir = repo();
        std::fs::create_dir_all(dir.path().join("sdk/rust")).unwrap();
        std::fs::write(dir.path().join("sdk/rust/Cargo.toml"), "").unwrap();
        std::fs::create_dir_all(dir.path().join("wit/v0.1.0")).unwrap();
        let created = new_component(dir.path(), "web", Lang::Rust).unwrap();
        assert_eq!(created.vendored_sdk, None);
        assert!(!dir.path().join("vendor").exists());
        let manifest = std::fs::read_to_string(dir.path().join("components/Cargo.toml")).unwrap();
        assert!(
            manifest.contains("berth-sdk = { path = \"../sdk/rust\" }"),
            "{manifest}"
        );
    }

    #[test]
    fn a_python_component_touches_no_cargo_file() {
        let dir = repo();
        let created = new_component(dir.path(), "my-site", Lang::Python).unwrap();
        assert_eq!(created.workspace, None);
        assert_eq!(
            listing(dir.path()),
            [
                "components",
                "components/my-site",
                "components/my-site/README.md",
                "components/my-site/component.py",
                "components/my-site/my-site.conf.j2",
                "environments"
            ]
        );
    }

    #[test]
    fn an_existing_folder_is_refused_and_nothing_changes() {
        let dir = repo();
        std::fs::create_dir_all(dir.path().join("components/web")).unwrap();
        std::fs::write(dir.path().join("components/web/keep"), "mine").unwrap();
        let before = listing(dir.path());
        for lang in [Lang::Rust, Lang::Python] {
            let e = new_component(dir.path(), "web", lang)
                .unwrap_err()
                .to_string();
            assert!(e.contains("components/web"), "{e}");
            assert!(e.contains("already exists"), "{e}");
            assert_eq!(listing(dir.path()), before);
        }
    }

    #[test]
    fn a_bad_workspace_file_is_refused_before_anything_is_written() {
        let dir = repo();
        std::fs::create_dir_all(dir.path().join("components")).unwrap();
        std::fs::write(dir.path().join("components/Cargo.toml"), "[package]\n").unwrap();
        let before = listing(dir.path());
        let e = new_component(dir.path(), "web", Lang::Rust)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no `[workspace]` table"), "{e}");
        assert_eq!(listing(dir.path()), before);
    }

    #[test]
    fn a_failed_write_undoes_what_was_written() {
        let dir = repo();
        let components = dir.path().join("components");
        std::fs::create_dir_all(&components).unwrap();
        std::fs::write(components.join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
        // The package folder can be made, but the workspace file cannot be
        // replaced: a folder stands where its temporary file goes.
        std::fs::create_dir(
            components.join(format!(".Cargo.toml.berth-new-{}", std::process::id())),
        )
        .unwrap();
        std::fs::write(
            components.join(format!(".Cargo.toml.berth-new-{}/x", std::process::id())),
            "",
        )
        .unwrap();
        let before = listing(dir.path());
        let e = new_component(dir.path(), "web", Lang::Rust).unwrap_err();
        assert!(matches!(e, ScaffoldError::Io { .. }), "{e}");
        assert_eq!(listing(dir.path()), before, "{e}");
        assert_eq!(
            std::fs::read_to_string(components.join("Cargo.toml")).unwrap(),
            "[workspace]\nmembers = []\n"
        );
    }
}
