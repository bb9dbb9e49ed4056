//! Integration tests of the built-in resources: real files in temp dirs.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod command;
mod file;
mod others;
mod perf;
mod templates;

use std::path::PathBuf;
use std::time::Duration;

use berth_resources::{
    Check, Context, Globals, Resource, ResourceError, Templates, Verdict, update, verify,
};
use berth_sandbox::{Programs, Sandbox};

/// A temp dir with `work/` (the workdir) and `def/` (the defdir), and
/// everything a [`Context`] borrows.
#[derive(Debug)]
pub(crate) struct Env {
    pub base: tempfile::TempDir,
    pub sandbox: Sandbox,
    pub read_only: Sandbox,
    pub programs: Programs,
    pub templates: Templates,
    pub globals: Globals,
    /// Hides `hunter2-secret`, as an environment's secrets would.
    pub mask: berth_secrets::Mask,
}

impl Env {
    pub(crate) fn new() -> Env {
        Env::with_programs(&[])
    }

    pub(crate) fn with_programs(programs: &[&str]) -> Env {
        let base = tempfile::tempdir().unwrap();
        std::fs::create_dir(base.path().join("work")).unwrap();
        std::fs::create_dir(base.path().join("def")).unwrap();
        let sandbox = Sandbox::new(
            "test",
            base.path().join("work"),
            base.path().join("def"),
            vec![],
        )
        .unwrap();
        let programs =
            Programs::new(&programs.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        Env {
            read_only: sandbox.read_only(),
            sandbox,
            programs,
            templates: Templates::new(),
            globals: Globals::from(serde_json::json!({
                "host": {"name": "web1", "fqdn": "web1.example.com"},
                "environment": {"name": "test"},
                "attributes": {"greeting": "hello", "port": 8080},
            })),
            mask: berth_secrets::Mask::new(["hunter2-secret"]),
            base,
        }
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.base.path().join(rel)
    }

    pub(crate) fn cx(&self) -> Context<'_> {
        self.context(&self.sandbox)
    }

    /// The predict view: the same roots, read-only.
    pub(crate) fn predict(&self) -> Context<'_> {
        self.context(&self.read_only)
    }

    fn context<'a>(&'a self, sandbox: &'a Sandbox) -> Context<'a> {
        Context {
            sandbox,
            programs: &self.programs,
            globals: &self.globals,
            templates: &self.templates,
            timeout: Duration::from_secs(10),
            mask: &self.mask,
        }
    }

    /// Verify, then update when needed; whether something changed.
    pub(crate) fn deploy(&self, r: &Resource) -> Result<bool, ResourceError> {
        let check = verify(r, &self.cx(), false)?;
        let changed = check.needs_update();
        update(r, check, &self.cx())?;
        self.sandbox.commit()?;
        Ok(changed)
    }

    /// Update, then commit the staged writes, as the engine ends a root.
    pub(crate) fn update(&self, r: &Resource, check: Check) {
        update(r, check, &self.cx()).unwrap();
        self.sandbox.commit().unwrap();
    }
}

/// The reason and diff of a check that needs an update.
pub(crate) fn needs(check: &Check) -> (String, Option<String>) {
    match &check.verdict {
        Verdict::NeedsUpdate { reason, diff } => (reason.clone(), diff.clone()),
        Verdict::UpToDate => panic!("expected needs-update, got up-to-date"),
    }
}

/// Modification time and inode, to prove a file was not rewritten.
pub(crate) fn stamp(p: &std::path::Path) -> (u64, i64, i64) {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::symlink_metadata(p).unwrap();
    (m.ino(), m.mtime(), m.mtime_nsec())
}

pub(crate) fn mode_of(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}
