//! Shared pieces of berth's integration tests.
//!
//! The constants are the absolute paths of real components that `build.rs`
//! built from source, one per package, named after it in upper case: the
//! test guests of `tests/guests/` (`PROBE`, `SPIN`, `HOG`, `CALLS`,
//! `WASI_ENV`, `WIRING`, and the Python `PY_PROBE` and `PY_STEPS`) and the example
//! components of `components/` (`HELLO`, `MOTD`, `CHECKSUMS`, `DATABASE`,
//! `APP`, and the Python `GREETER`). A Python constant is the component's
//! folder: its sources are the component ([`TestRepo::python`]). Each must
//! be used by some test under `tests/tests/`, or the build fails.
//!
//! [`TestRepo`] makes a throw-away deployment repository in a temporary
//! folder, with prebuilt components and environment files, and deploys it
//! through the real engine.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod hostile;

use berth_engine::event::{Collect, Event, Outcome, Summary};
use berth_engine::{DeployOptions, EngineError};
use berth_runtime::RuntimeOptions;
use std::path::{Path, PathBuf};
use std::sync::Arc;

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

/// The repository's root folder.
pub const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// An age identity for tests only (its key is public, so it protects
/// nothing): [`TestRepo::secrets`] encrypts to it and
/// [`TestRepo::options`] decrypts with it.
pub const TEST_IDENTITY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../host/secrets/tests/age/test-identity.txt"
);

/// Encrypts `plaintext` to [`TEST_IDENTITY`], as `age -r` would.
pub fn seal(plaintext: &[u8]) -> Vec<u8> {
    let recipients = berth_secrets::recipients(Path::new(TEST_IDENTITY)).unwrap();
    let recipients: Vec<&str> = recipients.iter().map(String::as_str).collect();
    berth_secrets::encrypt(plaintext, &recipients).unwrap()
}

/// The definition folder (defdir) of the example component `name`:
/// `components/<name>`.
pub fn component_dir(name: &str) -> PathBuf {
    Path::new(REPO).join("components").join(name)
}

/// One compiled-component cache for every test, so each component compiles
/// once per test run rather than once per test.
pub fn cache_dir() -> PathBuf {
    Path::new(REPO).join("target").join("berth-test-cache")
}

/// berth's Python runtime, which `build.rs` built into [`cache_dir`].
pub fn python_runtime() -> PathBuf {
    berth_build::python_runtime_file(&cache_dir().join("python"))
}

/// The cargo target folder `build.rs` builds the Rust guests in: the
/// standard library for wasm32 and the SDK's dependencies are compiled there
/// already, so a test that builds a Rust component does it in seconds.
pub fn guest_target_dir() -> PathBuf {
    Path::new(REPO).join("target").join("wasm-guests")
}

/// A deployment repository in a temporary folder.
#[derive(Debug)]
pub struct TestRepo {
    dir: tempfile::TempDir,
}

impl Default for TestRepo {
    fn default() -> Self {
        Self::new()
    }
}

impl TestRepo {
    /// An empty repository with an `environments/` folder.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("environments")).unwrap();
        std::fs::create_dir_all(dir.path().join("components")).unwrap();
        Self { dir }
    }

    /// The repository's root.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the repository.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The workdir of a component of the local environments used here.
    pub fn workdir(&self, component: &str) -> PathBuf {
        self.join("work").join(component)
    }

    /// Adds a prebuilt component package `components/<name>/<name>.wasm`.
    pub fn component(&self, name: &str, wasm: &str) -> &Self {
        let dir = self.join("components").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(wasm, dir.join(format!("{name}.wasm"))).unwrap();
        self
    }

    /// Adds the Python component `name` as sources: every file of the
    /// folder `dir` (a constant such as `GREETER`), `__pycache__` aside.
    pub fn python(&self, name: &str, dir: &str) -> &Self {
        let dest = self.join("components").join(name);
        copy_tree(Path::new(dir), &dest);
        self
    }

    /// Adds an example component: its built `.wasm` and the files of its
    /// definition folder (templates, sources), without its Rust sources.
    pub fn example(&self, name: &str, wasm: &str) -> &Self {
        self.component(name, wasm);
        let dest = self.join("components").join(name);
        for entry in std::fs::read_dir(component_dir(name)).unwrap() {
            let path = entry.unwrap().path();
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_file() && file != "Cargo.toml" {
                std::fs::copy(&path, dest.join(&file)).unwrap();
            }
        }
        self
    }

    /// Writes a file (creating its folders).
    pub fn write(&self, rel: &str, content: &str) -> &Self {
        let path = self.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
        self
    }

    /// Writes `environments/<name>/environment.cfg`.
    pub fn env(&self, name: &str, content: &str) -> &Self {
        self.write(&format!("environments/{name}/environment.cfg"), content)
    }

    /// Writes `environments/<name>/secrets.cfg.age`: `plaintext` encrypted
    /// to [`TEST_IDENTITY`].
    pub fn secrets(&self, name: &str, plaintext: &str) -> &Self {
        let path = self.join(&format!("environments/{name}/secrets.cfg.age"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, seal(plaintext.as_bytes())).unwrap();
        self
    }

    /// Writes `environments/<name>/secret-<file>.age`: `content` encrypted
    /// to [`TEST_IDENTITY`].
    pub fn secret_file(&self, name: &str, file: &str, content: &[u8]) -> &Self {
        let path = self.join(&format!("environments/{name}/secret-{file}.age"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, seal(content)).unwrap();
        self
    }

    /// Options for deploying `env` with the shared test cache and no build,
    /// decrypting secrets with [`TEST_IDENTITY`] only (never the identities
    /// of whoever runs the tests).
    pub fn options(&self, env: &str) -> DeployOptions {
        let mut options = DeployOptions::new(self.path(), env);
        options.identities = berth_secrets::IdentitySources::only(vec![TEST_IDENTITY.into()]);
        options.build = false;
        options.runtime = RuntimeOptions {
            cache_dir: Some(cache_dir()),
            ..RuntimeOptions::default()
        };
        options
    }

    /// Deploys `env`.
    pub fn deploy(&self, env: &str) -> Run {
        self.run(self.options(env))
    }

    /// Predicts `env`.
    pub fn predict(&self, env: &str) -> Run {
        let mut options = self.options(env);
        options.predict = true;
        self.run(options)
    }

    /// Deploys `env` again and asserts that it converged: nothing failed or
    /// changed, and no file under `work/` was touched (content, inode,
    /// mtime).
    pub fn deploy_converged(&self, env: &str) -> Run {
        let before = snapshot(&self.join("work"));
        let run = self.deploy(env);
        let summary = run.summary();
        assert_eq!(summary.failed, 0, "{:#?}\n{:#?}", run.steps(), run.logs());
        assert_eq!(summary.changed, 0, "{:#?}", run.steps());
        assert_eq!(
            snapshot(&self.join("work")),
            before,
            "a converged run touched files"
        );
        run
    }

    /// Predicts `env` and asserts that no file under `work/` changed.
    pub fn predict_unchanged(&self, env: &str) -> Run {
        let before = snapshot(&self.join("work"));
        let run = self.predict(env);
        assert!(run.summary().predict);
        assert_eq!(
            snapshot(&self.join("work")),
            before,
            "predict changed files"
        );
        run
    }

    /// Packages component `name` of this repository into its `dist/`, as
    /// `berth package NAME` does, with the shared test cache.
    pub fn package(&self, name: &str) -> berth_engine::package::Packaged {
        let repo = berth_engine::repo::Repository::open(self.path()).unwrap();
        berth_engine::package::package(
            &repo,
            self.path(),
            name,
            None,
            false,
            &self.options("none").runtime,
            &Collect::default(),
        )
        .unwrap_or_else(|e| panic!("cannot package `{name}`: {e}"))
    }

    /// Pins the packages of `packages.cfg`, as `berth lock` does.
    pub fn lock(&self) -> Result<berth_engine::pins::Locked, EngineError> {
        let repo = berth_engine::repo::Repository::open(self.path())?;
        berth_engine::pins::lock(&repo, self.path())
    }

    /// Deploys with the given options, collecting every event.
    pub fn run(&self, options: DeployOptions) -> Run {
        let collect = Arc::new(Collect::default());
        let result = berth_engine::deploy(&options, collect.clone());
        let events = collect.0.lock().unwrap().clone();
        Run { result, events }
    }
}

/// The result of one deployment and every event it reported.
#[derive(Debug)]
pub struct Run {
    /// The summary, or why the deployment could not start.
    pub result: Result<Summary, EngineError>,
    /// Every event, in order.
    pub events: Vec<Event>,
}

impl Run {
    /// The summary; panics with the error when the deployment did not start.
    pub fn summary(&self) -> &Summary {
        match &self.result {
            Ok(summary) => summary,
            Err(e) => panic!("the deployment did not start: {e}"),
        }
    }

    /// The error that stopped the deployment; panics when it ran.
    pub fn error(&self) -> String {
        match &self.result {
            Ok(summary) => panic!("the deployment ran: {summary:?}"),
            Err(e) => e.to_string(),
        }
    }

    /// Every step outcome as `(component, label, outcome)`.
    pub fn steps(&self) -> Vec<(&str, &str, &Outcome)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Step {
                    component,
                    label,
                    outcome,
                    ..
                } => Some((component.as_str(), label.as_str(), outcome)),
                _ => None,
            })
            .collect()
    }

    /// The outcome of the step labelled `label`; panics when there is none.
    pub fn step(&self, label: &str) -> &Outcome {
        self.steps()
            .into_iter()
            .find(|(_, l, _)| *l == label)
            .map(|(_, _, o)| o)
            .unwrap_or_else(|| panic!("no step `{label}` in {:#?}", self.steps()))
    }

    /// Every log line as `component: message`.
    pub fn logs(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Log {
                    component, message, ..
                } => Some(format!("{component}: {message}")),
                _ => None,
            })
            .collect()
    }
}

/// Every file below `dir` (not following symlinks) whose bytes contain one
/// of `needles`, except those in `allowed`.
pub fn files_holding(dir: &Path, needles: &[&[u8]], allowed: &[PathBuf]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() && !allowed.contains(&path) {
                let bytes = std::fs::read(&path).unwrap_or_default();
                if needles
                    .iter()
                    .any(|n| bytes.windows(n.len()).any(|w| w == *n))
                {
                    found.push(path);
                }
            }
        }
    }
    found
}

/// Every file below `dir` with its content, mode, inode and modification
/// time, to prove that a run changed nothing.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>, String)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let stamp = format!(
                "mode={:o} ino={} mtime={}.{}",
                meta.mode(),
                meta.ino(),
                meta.mtime(),
                meta.mtime_nsec()
            );
            if meta.is_dir() {
                stack.push(path.clone());
                out.push((path, Vec::new(), stamp));
            } else if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.push((path, target.to_string_lossy().as_bytes().to_vec(), stamp));
            } else {
                let content = std::fs::read(&path).unwrap();
                out.push((path, content, stamp));
            }
        }
    }
    out.sort();
    out
}

/// Copies the files below `from` to `to`, leaving out `__pycache__`.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap();
        if path.is_dir() {
            if name != "__pycache__" {
                copy_tree(&path, &to.join(name));
            }
        } else {
            std::fs::copy(&path, to.join(name)).unwrap();
        }
    }
}
