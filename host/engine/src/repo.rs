//! The deployment repository: where its component packages are, and
//! building the ones that are kept as source (Rust crates of the cargo
//! workspace `components/`, and Python packages: folders with a
//! `component.py`, which are not built but read as sources).

use crate::EngineError;
use crate::event::{Event, Reporter};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Where a package's code comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A Rust crate in `components/<name>/`, built into `.berth/build/`.
    Source,
    /// A `.wasm` file kept in `components/<name>/`.
    Prebuilt,
    /// A Python package (`components/<name>/component.py`): its sources,
    /// run by berth's shared Python runtime; nothing is built.
    Python,
    /// A package file from a find-links folder or a path of `packages.cfg`,
    /// pinned in `packages.lock`; its data files are unpacked into
    /// `.berth/packages/<name>/`, its defdir.
    Pinned,
}

/// One component package of the repository.
#[derive(Debug, Clone)]
pub struct PackageDir {
    /// The folder name; also the package name.
    pub name: String,
    /// The definition folder (defdir): templates and source files.
    pub defdir: PathBuf,
    /// The component file; for a Python package, its `component.py`.
    pub wasm: PathBuf,
    /// Where the code comes from.
    pub origin: Origin,
}

/// A deployment repository.
#[derive(Debug, Clone)]
pub struct Repository {
    /// Its root folder.
    pub root: PathBuf,
}

impl Repository {
    /// Opens the repository at `root`; it must have an `environments/` folder.
    pub fn open(root: &Path) -> Result<Self, EngineError> {
        let root = std::fs::canonicalize(root).map_err(|e| EngineError::Io {
            path: root.to_path_buf(),
            message: e.to_string(),
        })?;
        if !root.join("environments").is_dir() {
            return Err(EngineError::NotARepository { path: root });
        }
        Ok(Self { root })
    }

    /// `path` relative to the repository root when inside it, for messages.
    pub fn shown(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .ok()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// The folder of the component packages.
    pub fn components_dir(&self) -> PathBuf {
        self.root.join("components")
    }

    /// Where source packages are built to.
    pub fn build_dir(&self) -> PathBuf {
        self.root.join(".berth").join("build")
    }

    /// Where the data files of pinned package `name` are unpacked: its
    /// defdir.
    pub fn unpacked_dir(&self, name: &str) -> PathBuf {
        self.root.join(".berth").join("packages").join(name)
    }

    /// The cargo target folder for guest builds.
    pub fn target_dir(&self) -> PathBuf {
        self.root.join(".berth").join("target")
    }

    /// Every package in `components/`, sorted by name.
    pub fn packages(&self) -> Result<Vec<PackageDir>, EngineError> {
        let dir = self.components_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(EngineError::Io {
                    path: dir,
                    message: e.to_string(),
                });
            }
        };
        let mut packages = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if !path.is_dir() || name.starts_with('.') || name == "target" {
                continue;
            }
            let name = name.to_string();
            if path.join("Cargo.toml").is_file() {
                packages.push(PackageDir {
                    wasm: self.build_dir().join(format!("{name}.wasm")),
                    defdir: path,
                    name,
                    origin: Origin::Source,
                });
            } else if berth_build::is_python_package(&path) {
                packages.push(PackageDir {
                    wasm: path.join(berth_build::PYTHON_ENTRY),
                    defdir: path,
                    name,
                    origin: Origin::Python,
                });
            } else if let Some(wasm) = single_wasm(&path) {
                packages.push(PackageDir {
                    wasm,
                    defdir: path,
                    name,
                    origin: Origin::Prebuilt,
                });
            }
        }
        packages.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(packages)
    }

    /// Builds those of `packages` that are Rust sources and whose component
    /// is missing or was built from other sources (a digest of their
    /// content decides, not modification times); does nothing when all are
    /// fresh. Python packages are never built: their sources are read when
    /// they are loaded.
    pub fn build_stale(
        &self,
        packages: &[PackageDir],
        reporter: &dyn Reporter,
    ) -> Result<(), EngineError> {
        let rust: Vec<String> = packages
            .iter()
            .filter(|p| p.origin == Origin::Source && berth_build::stale(&p.defdir, &p.wasm))
            .map(|p| p.name.clone())
            .collect();
        if !rust.is_empty() {
            self.build_rust(Some(&rust), reporter)?;
        }
        Ok(())
    }

    /// Builds every Rust package in `components/` (the cargo workspace),
    /// and makes sure berth's Python runtime is there (in `python_runtime`,
    /// see [`crate::python::runtime_dir`]) when there are Python packages.
    /// Returns the files built: the Rust components, and the Python runtime
    /// when it had to be built.
    pub fn build(
        &self,
        python_runtime: &Path,
        reporter: &dyn Reporter,
    ) -> Result<Vec<PathBuf>, EngineError> {
        let packages = self.packages()?;
        let mut built = Vec::new();
        if packages.iter().any(|p| p.origin == Origin::Source) {
            built = self.build_rust(None, reporter)?;
        }
        if packages.iter().any(|p| p.origin == Origin::Python) {
            let existed = berth_build::python_runtime_file(python_runtime).is_file();
            let file = crate::python::ensure_runtime(python_runtime, reporter)?;
            if !existed {
                built.push(file);
            }
        }
        Ok(built)
    }

    /// Builds the crates `only` names of the cargo workspace `components/`,
    /// or every one.
    fn build_rust(
        &self,
        only: Option<&[String]>,
        reporter: &dyn Reporter,
    ) -> Result<Vec<PathBuf>, EngineError> {
        let workspace = self.components_dir();
        let components = match only {
            Some(names) => names.to_vec(),
            None => self
                .packages()?
                .into_iter()
                .filter(|p| p.origin == Origin::Source)
                .map(|p| p.name)
                .collect(),
        };
        let start = std::time::Instant::now();
        reporter.report(&Event::Building {
            workspace: self.shown(&workspace),
            components: components.clone(),
            tool: "cargo".to_owned(),
        });
        let toolchain = berth_build::detect().map_err(|e| EngineError::Build(e.to_string()))?;
        let built = berth_build::build_members(
            &workspace,
            only,
            &self.target_dir(),
            &self.build_dir(),
            &toolchain,
            &mut |line| {
                reporter.report(&Event::BuildOutput {
                    line: line.to_string(),
                })
            },
        )
        .map_err(|e| EngineError::Build(e.to_string()))?;
        let folders: Vec<String> = self
            .packages()?
            .into_iter()
            .filter(|p| p.origin == Origin::Source)
            .map(|p| p.name)
            .collect();
        for b in &built {
            if !folders.contains(&b.package) {
                return Err(EngineError::Build(format!(
                    "the crate `{}` in `{}` must live in a folder of the same name, `components/{}/`",
                    b.package,
                    workspace.display(),
                    b.package
                )));
            }
        }
        reporter.report(&Event::Built {
            components,
            millis: start.elapsed().as_secs_f64() * 1000.0,
        });
        Ok(built.into_iter().map(|b| b.wasm).collect())
    }
}

/// The names of the packages `environment` uses, given the names of the
/// packages there are: the components one of its hosts lists (ignored ones
/// included) or one of its sections configures. `None` (use them all) when
/// it names a component that no package is named after — a package whose
/// roots have other names, or a typo — so that the model can find it or
/// say which names exist.
pub fn used_names(
    environment: &berth_config::Environment,
    available: &[&str],
) -> Option<BTreeSet<String>> {
    let mut named: BTreeSet<String> = environment
        .hosts
        .iter()
        .flat_map(|h| h.components.iter().map(|c| c.name.clone()))
        .collect();
    named.extend(environment.components.keys().cloned());
    named.extend(environment.grants.keys().cloned());
    if let Some(secrets) = &environment.secrets {
        named.extend(secrets.components.keys().cloned());
    }
    named
        .iter()
        .all(|n| available.contains(&n.as_str()))
        .then_some(named)
}

fn single_wasm(dir: &Path) -> Option<PathBuf> {
    let mut found = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"));
    let first = found.next()?;
    found.next().is_none().then_some(first)
}
