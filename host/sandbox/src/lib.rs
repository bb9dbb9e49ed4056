//! berth's capability layer: every filesystem and program access of a
//! component goes through a [`Sandbox`].
//!
//! A sandbox has a component's roots: its workdir (read-write), its defdir
//! (read-only) and the paths its environment granted. Relative paths are
//! relative to the workdir; absolute paths must lie inside a root; `..` is
//! refused before the disk is touched; every access goes through a
//! `cap_std` directory handle of the root, so a symlink that leads out is
//! refused as well. [`Sandbox::read_only`] gives the view used by verify and
//! predict, where every write is refused.
//!
//! Programs run only when granted ([`Programs`]), never through a shell, with
//! a cleared environment, a timeout, and confined by Landlock and a seccomp
//! filter: they read a small system set and the component's roots, execute
//! only the granted programs, and have no network, no device nodes and no
//! signals for processes outside their run. Modes with setuid, setgid or
//! sticky bits need [`Sandbox::allow_special_modes`].
//!
//! ```no_run
//! use std::time::Duration;
//! use berth_sandbox::{Command, Programs, Sandbox};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sandbox = Sandbox::new("motd", "/srv/work/motd".into(), "/srv/components/motd".into(), vec![])?;
//! sandbox.ensure_workdir()?;
//! sandbox.write_atomic("motd", b"welcome\n", Some(0o644))?;
//! assert_eq!(sandbox.read("motd")?, b"welcome\n");
//!
//! // Outside the granted paths: refused, with the grant that would allow it.
//! let err = sandbox.read("/etc/passwd").unwrap_err();
//! assert!(err.to_string().contains("[grants:motd]"));
//!
//! let programs = Programs::new(&["cat".to_string()])?;
//! let mut cmd = Command::new(["cat", "motd"]);
//! cmd.timeout = Duration::from_secs(5);
//! let out = sandbox.run(&programs, &cmd)?;
//! assert_eq!(out.stdout, b"welcome\n");
//! # Ok(())
//! # }
//! ```

mod batch;
mod compare;
mod confine;
mod error;
mod fs;
mod isolate;
mod process;

pub use batch::Committed;
pub use compare::Comparison;
pub use confine::available as landlock_available;
pub use error::{FsError, ProcessError};
pub use fs::{Access, FILE_LIMIT, Grant, Kind, LIST_LIMIT, SPECIAL_MODES, Sandbox, Stat};
pub use isolate::{Isolated, IsolatedError};
pub use process::{Command, OUTPUT_LIMIT, Output, Programs, SAFE_PATH, human_bytes};
