//! Integration tests of the sandbox: real files in temp dirs, real programs.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod batch;
mod fs;
mod process;

use std::path::{Path, PathBuf};

use berth_sandbox::{Grant, Sandbox};

/// A temp dir with `work/` (the workdir), `def/` (the defdir) and
/// `outside/secret`, which nothing may touch.
#[derive(Debug)]
pub(crate) struct Fixture {
    pub base: tempfile::TempDir,
}

impl Fixture {
    pub(crate) fn new() -> Fixture {
        let base = tempfile::tempdir().unwrap();
        for d in ["work", "def", "outside"] {
            std::fs::create_dir(base.path().join(d)).unwrap();
        }
        std::fs::write(base.path().join("outside/secret"), "secret\n").unwrap();
        std::fs::write(base.path().join("def/source.txt"), "from the defdir\n").unwrap();
        Fixture { base }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.base.path().join(rel)
    }

    pub fn sandbox(&self) -> Sandbox {
        self.sandbox_with(vec![])
    }

    pub fn sandbox_with(&self, grants: Vec<Grant>) -> Sandbox {
        Sandbox::new("test", self.path("work"), self.path("def"), grants).unwrap()
    }

    /// Everything under `outside/`, with contents, to prove nothing changed.
    pub fn outside_snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        snapshot(&self.path("outside"), &mut out);
        out.sort();
        out
    }
}

fn snapshot(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            out.push((p.clone(), b"<dir>".to_vec()));
            snapshot(&p, out);
        } else {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
}
