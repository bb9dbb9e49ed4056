//! The deploy lock of a target: a file in its `target_directory` that says
//! who deploys there now. It is taken by whoever does a host's file work
//! (this process for a local deploy, `berth agent` on a remote host), so a
//! second deploy to the same target is refused while the first runs.
//!
//! ```
//! use berth_engine::lock::{DeployLock, Holder};
//! let dir = tempfile::tempdir().unwrap();
//! let me = Holder::here("alice@laptop", "berth deploy prod");
//! let lock = DeployLock::acquire(dir.path(), me.clone(), false).unwrap();
//! let again = DeployLock::acquire(dir.path(), me, false).unwrap_err();
//! assert!(again.to_string().contains("alice@laptop"));
//! lock.release().unwrap();
//! ```

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The lock file's name in the target directory.
pub const LOCK_FILE: &str = ".berth-deploy.lock";

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// `user@controller` of the deploy.
    pub owner: String,
    /// The machine the locking process runs on (the target).
    pub machine: String,
    /// The locking process.
    pub pid: u32,
    /// When it started, in seconds since the Unix epoch.
    pub started: u64,
    /// The command that deploys.
    pub command: String,
}

impl Holder {
    /// This process, on this machine, for `owner` running `command`.
    pub fn here(owner: &str, command: &str) -> Self {
        Self {
            owner: owner.to_string(),
            machine: machine_name(),
            pid: std::process::id(),
            started: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or(Duration::ZERO)
                .as_secs(),
            command: command.to_string(),
        }
    }

    /// Whether the holding process is gone: it ran on this machine and no
    /// process has its pid any more.
    pub fn is_gone(&self) -> bool {
        self.machine == machine_name() && !Path::new(&format!("/proc/{}", self.pid)).exists()
    }

    fn describe(&self) -> String {
        let started = SystemTime::UNIX_EPOCH + Duration::from_secs(self.started);
        format!(
            "{} (pid {} on {}, since {}, `{}`)",
            self.owner,
            self.pid,
            self.machine,
            humantime::format_rfc3339_seconds(started),
            self.command
        )
    }
}

/// `user@machine` of this process, for the lock's owner.
pub fn owner_here() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("{user}@{}", machine_name())
}

fn machine_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another deploy holds it.
    #[error(
        "`{}` is locked by another deploy: {}\n  hint: wait for it to finish; if it is stuck, stop it, or take the lock over with `--break-lock`",
        path.display(), holder.describe()
    )]
    Held {
        /// The lock file.
        path: PathBuf,
        /// Its holder.
        holder: Holder,
    },
    /// Its holder is gone without releasing it.
    #[error(
        "`{}` holds a stale lock: {} is gone without releasing it\n  hint: make sure no deploy runs there, then run again with `--break-lock`",
        path.display(), holder.describe()
    )]
    Stale {
        /// The lock file.
        path: PathBuf,
        /// Its holder.
        holder: Holder,
    },
    /// The file could not be read or written.
    #[error("deploy lock `{}`: {message}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The OS error.
        message: String,
    },
}

/// A held deploy lock; [`DeployLock::release`] (or dropping it) removes it.
#[derive(Debug)]
pub struct DeployLock {
    path: PathBuf,
    holder: Holder,
    released: bool,
}

impl DeployLock {
    /// Takes the lock of `dir` (created when missing) for `holder`. A lock
    /// held by someone else is refused, a stale one too unless
    /// `break_lock`; `break_lock` takes over any lock.
    pub fn acquire(dir: &Path, holder: Holder, break_lock: bool) -> Result<Self, LockError> {
        let path = dir.join(LOCK_FILE);
        let io = |e: std::io::Error| LockError::Io {
            path: path.clone(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let body = serde_json::to_vec_pretty(&holder).map_err(|e| LockError::Io {
            path: path.clone(),
            message: e.to_string(),
        })?;
        // Bounded: each round either creates the file or finds a holder.
        for _ in 0..3 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    file.write_all(&body)
                        .and_then(|_| file.sync_all())
                        .map_err(io)?;
                    return Ok(Self {
                        path,
                        holder,
                        released: false,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io(e)),
            }
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                // Released between our create and our read: try again.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(e)),
            };
            let other: Holder = serde_json::from_str(&text).map_err(|e| LockError::Io {
                path: path.clone(),
                message: format!("not a berth lock file ({e}); remove it if no deploy runs"),
            })?;
            if !break_lock {
                return Err(match other.is_gone() {
                    true => LockError::Stale {
                        path: path.clone(),
                        holder: other,
                    },
                    false => LockError::Held {
                        path: path.clone(),
                        holder: other,
                    },
                });
            }
            // Taking over: replace the file atomically with ours.
            let temp = dir.join(format!("{LOCK_FILE}.{}", std::process::id()));
            std::fs::write(&temp, &body).map_err(io)?;
            std::fs::rename(&temp, &path).map_err(io)?;
            return Ok(Self {
                path,
                holder,
                released: false,
            });
        }
        Err(LockError::Io {
            path: path.clone(),
            message: "the lock kept changing hands; try again".into(),
        })
    }

    /// Removes the lock file, if it is still ours.
    pub fn release(mut self) -> Result<(), LockError> {
        self.released = true;
        remove_if_ours(&self.path, &self.holder)
    }
}

impl Drop for DeployLock {
    fn drop(&mut self) {
        if !self.released {
            let _ = remove_if_ours(&self.path, &self.holder);
        }
    }
}

fn remove_if_ours(path: &Path, holder: &Holder) -> Result<(), LockError> {
    let ours = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<Holder>(&t).ok())
        .is_some_and(|h| h == *holder);
    if ours {
        std::fs::remove_file(path).map_err(|e| LockError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_lock_is_reported_and_broken() {
        let dir = tempfile::tempdir().unwrap();
        let mut gone = Holder::here("bob@ci", "berth deploy x");
        // Pids are below 2^22 on Linux: this one runs nowhere.
        gone.pid = u32::MAX;
        std::fs::write(
            dir.path().join(LOCK_FILE),
            serde_json::to_string(&gone).unwrap(),
        )
        .unwrap();
        let me = Holder::here("alice@laptop", "berth deploy x");
        let err = DeployLock::acquire(dir.path(), me.clone(), false).unwrap_err();
        assert!(matches!(err, LockError::Stale { .. }), "{err}");
        assert!(err.to_string().contains("bob@ci"), "{err}");
        let lock = DeployLock::acquire(dir.path(), me, true).unwrap();
        lock.release().unwrap();
        assert!(!dir.path().join(LOCK_FILE).exists());
    }
}
