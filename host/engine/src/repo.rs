//! The deployment repository: where its component packages are, and
//! building the ones that are kept as source (Rust crates of the cargo
//! workspace `components/`, and Python packages: folders with a
//! `component.py`, which are not built but read as sources).

use crate::EngineError;
use crate::event::{Event, Reporter};
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

    /// Builds the Rust packages whose component is missing or older than
    /// their sources; does nothing when all are fresh. Python packages are
    /// never built: their sources are read when they are loaded.
    pub fn build_stale(&self, reporter: &dyn Reporter) -> Result<(), EngineError> {
        let packages = self.packages()?;
        let stale = packages
            .iter()
            .any(|p| p.origin == Origin::Source && berth_build::stale(&p.defdir, &p.wasm));
        if stale {
            self.build_rust(reporter)?;
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
            built = self.build_rust(reporter)?;
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

    /// Builds the cargo workspace `components/`.
    fn build_rust(&self, reporter: &dyn Reporter) -> Result<Vec<PathBuf>, EngineError> {
        let workspace = self.components_dir();
        reporter.report(&Event::Building {
            workspace: workspace.display().to_string(),
        });
        let toolchain = berth_build::detect().map_err(|e| EngineError::Build(e.to_string()))?;
        let built = berth_build::build_workspace(
            &workspace,
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
        Ok(built.into_iter().map(|b| b.wasm).collect())
    }
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
