//! Python components: their sources, served by berth's shared Python
//! runtime (built once per berth version beside the compile cache).

use crate::EngineError;
use crate::event::{Event, Reporter};
use crate::repo::{PackageDir, Repository};
use berth_build::{PackagedFile, is_python_source};
use berth_runtime::{Package, Runtime, RuntimeOptions, Sources};
use std::cell::OnceCell;
use std::path::{Path, PathBuf};

/// Where berth keeps its Python runtime: `python/` in the compile cache,
/// else (no cache) `.berth/python/` in the repository at `repo_root`.
pub fn runtime_dir(options: &RuntimeOptions, repo_root: &Path) -> PathBuf {
    match &options.cache_dir {
        Some(dir) => dir.join("python"),
        None => repo_root.join(".berth").join("python"),
    }
}

/// berth's Python runtime in `dir`, built first (with progress reported)
/// when this berth has not built it yet.
///
/// Fails when it must be built and componentize-py is missing or fails.
pub fn ensure_runtime(dir: &Path, reporter: &dyn Reporter) -> Result<PathBuf, EngineError> {
    let file = berth_build::python_runtime_file(dir);
    if file.is_file() {
        return Ok(file);
    }
    // Shown as a live line with the phase and the elapsed time on a
    // terminal, and as `built berth's Python runtime … in 48s` once done.
    let start = std::time::Instant::now();
    let components = vec![RUNTIME_NAME.to_owned()];
    reporter.report(&Event::Building {
        workspace: dir.display().to_string(),
        components: components.clone(),
        tool: "componentize-py".to_owned(),
    });
    let file = berth_build::ensure_python_runtime(dir, &mut |line| {
        reporter.report(&Event::BuildOutput {
            line: line.to_string(),
        })
    })
    .map_err(|e| EngineError::Build(e.to_string()))?;
    reporter.report(&Event::Built {
        components,
        millis: start.elapsed().as_secs_f64() * 1000.0,
    });
    Ok(file)
}

/// How progress names the runtime while it is built.
const RUNTIME_NAME: &str = "berth's Python runtime";

/// Loads Python components for one run: finds (or builds) the runtime on
/// first use only, so a repository without Python never needs it.
pub struct Loader<'a> {
    dir: PathBuf,
    reporter: &'a dyn Reporter,
    runtime: OnceCell<PathBuf>,
}

impl std::fmt::Debug for Loader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("dir", &self.dir)
            .field("runtime", &self.runtime)
            .finish_non_exhaustive()
    }
}

impl<'a> Loader<'a> {
    /// A loader whose runtime lives in `dir` ([`runtime_dir`]).
    pub fn new(dir: PathBuf, reporter: &'a dyn Reporter) -> Self {
        Self {
            dir,
            reporter,
            runtime: OnceCell::new(),
        }
    }

    fn runtime(&self) -> Result<&Path, EngineError> {
        if let Some(file) = self.runtime.get() {
            return Ok(file);
        }
        let file = ensure_runtime(&self.dir, self.reporter)?;
        Ok(self.runtime.get_or_init(|| file))
    }

    /// The sources of the Python component in the folder `dir`: its own
    /// `.py` files, and its third-party dependencies (fetched once, see
    /// [`berth_build::python_deps`]) below `site-packages/`.
    pub fn sources(&self, dir: &Path) -> Result<Vec<(String, Vec<u8>)>, EngineError> {
        let build = |e: berth_build::BuildError| EngineError::Build(e.to_string());
        let mut files = berth_build::python_sources(dir).map_err(build)?;
        let deps = berth_build::python_deps(dir, &self.dir, &mut |line| {
            self.reporter.report(&Event::BuildOutput {
                line: line.to_string(),
            })
        })
        .map_err(build)?;
        files.extend(deps);
        files.sort();
        Ok(files)
    }

    /// The Python component in the folder `dir` of `repo`: its sources
    /// are read now, so an edit is picked up by the next run without any
    /// build step.
    pub fn load_dir(
        &self,
        runtime: &Runtime,
        repo: &Repository,
        dir: &PackageDir,
    ) -> Result<Package, EngineError> {
        let files = self.sources(&dir.defdir)?;
        let sources = Sources {
            origin: shown(repo, &dir.defdir),
            files,
            path: dir.wasm.clone(),
        };
        Ok(runtime.load_python(self.runtime()?, sources)?)
    }

    /// The Python component of a package file (`path`) whose verified
    /// files are `files`; tracebacks show them below `origin` (where they
    /// are unpacked, so that a reader can open them).
    pub fn load_packaged(
        &self,
        runtime: &Runtime,
        origin: String,
        path: &Path,
        files: &[PackagedFile],
    ) -> Result<Package, EngineError> {
        let sources = Sources {
            origin,
            files: files
                .iter()
                .filter(|f| is_python_source(&f.path))
                .map(|f| (f.path.clone(), f.content.clone()))
                .collect(),
            path: path.to_path_buf(),
        };
        Ok(runtime.load_python(self.runtime()?, sources)?)
    }
}

/// `dir` as the author knows it: relative to the repository's root.
pub(crate) fn shown(repo: &Repository, dir: &Path) -> String {
    dir.strip_prefix(&repo.root)
        .unwrap_or(dir)
        .to_string_lossy()
        .into_owned()
}
