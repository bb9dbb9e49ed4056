//! The deploy lock of a target: a file in its `target_directory` that says
//! who deploys there now. Whoever does a host's file work takes it (this
//! process for a local deploy, `berth agent` on a remote host), so a second
//! deploy to the same target is refused while the first runs.
//!
//! The file records the holder (owner `user@controller`, pid, start time,
//! command) for the messages; whether the holder is alive is the kernel's
//! answer: the holder keeps an exclusive `flock` on the file for as long as
//! it runs, and a process that dies, however it dies, drops it. A lock file
//! that nobody holds is *stale*: it is reported, and `--break-lock` takes it
//! over.
//!
//! ```
//! use berth_engine::lock::{DeployLock, Holder, LockError};
//! let dir = tempfile::tempdir().unwrap();
//! let me = Holder::here("alice@laptop", "berth deploy prod");
//! let lock = DeployLock::acquire(dir.path(), me.clone(), false).unwrap();
//! let again = DeployLock::acquire(dir.path(), me, false).unwrap_err();
//! assert!(matches!(again, LockError::Held { .. }));
//! assert!(again.to_string().contains("alice@laptop"));
//! lock.release().unwrap();
//! ```

use rustix::fs::FlockOperation;
use serde::{Deserialize, Serialize};
use std::fs::File;
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
    /// When it took the lock, in seconds since the Unix epoch.
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

    fn describe(&self) -> String {
        format!(
            "{} (pid {} on {}, since {}, `{}`)",
            self.owner,
            self.pid,
            self.machine,
            utc(self.started),
            self.command
        )
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` of seconds since the Unix epoch.
fn utc(secs: u64) -> String {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's days-to-civil, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// `user@machine` of this process, for the lock's owner.
pub fn owner_here() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(user_of_uid);
    format!("{user}@{}", machine_name())
}

/// This process's user by its uid, from `/etc/passwd`.
fn user_of_uid() -> String {
    let uid = rustix::process::getuid().as_raw();
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|l| {
                let mut fields = l.split(':');
                let name = fields.next()?;
                (fields.nth(1)? == uid.to_string()).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| format!("uid {uid}"))
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
        "`{}` is a stale lock: {} ended without releasing it\n  hint: make sure no deploy runs there, then run again with `--break-lock`",
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
        /// What failed.
        message: String,
    },
}

/// A held deploy lock; [`DeployLock::release`] (or dropping it) removes it.
#[derive(Debug)]
pub struct DeployLock {
    path: PathBuf,
    holder: Holder,
    /// Open for as long as the lock is held: its `flock` says we live.
    file: Option<File>,
}

impl DeployLock {
    /// Takes the lock of `dir` (created when missing) for `holder`. A lock
    /// that another process holds is refused, and so is a stale one unless
    /// `break_lock`; `break_lock` takes over any lock.
    ///
    /// Errors: [`LockError::Held`] and [`LockError::Stale`] name the lock's
    /// holder; [`LockError::Io`] names the file that could not be read or
    /// written.
    pub fn acquire(dir: &Path, holder: Holder, break_lock: bool) -> Result<Self, LockError> {
        let path = dir.join(LOCK_FILE);
        let io = |what: &str, e: std::io::Error| LockError::Io {
            path: path.clone(),
            message: format!("{what}: {e}"),
        };
        std::fs::create_dir_all(dir).map_err(|e| io("cannot create its folder", e))?;
        // Our lock file is complete and flocked before it gets its name, so
        // whoever finds a lock file finds a holder's record, and a flock
        // when the holder lives.
        let temp = dir.join(format!("{LOCK_FILE}.{}.new", std::process::id()));
        let mut file = File::create(&temp).map_err(|e| io("cannot create it", e))?;
        let written = rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive)
            .map_err(std::io::Error::from)
            .and_then(|()| file.write_all(&serde_json::to_vec_pretty(&holder).unwrap_or_default()))
            .and_then(|()| file.sync_all());
        let result = written
            .map_err(|e| io("cannot write it", e))
            .and_then(|()| Self::claim(&temp, &path, &holder, break_lock));
        // The temporary name goes in every case; a claimed lock keeps its
        // other name.
        let _ = std::fs::remove_file(&temp);
        result?;
        Ok(Self {
            path,
            holder,
            file: Some(file),
        })
    }

    /// Gives the complete lock file `temp` the name `path`.
    fn claim(temp: &Path, path: &Path, holder: &Holder, break_lock: bool) -> Result<(), LockError> {
        let io = |what: &str, e: std::io::Error| LockError::Io {
            path: path.to_path_buf(),
            message: format!("{what}: {e}"),
        };
        // Bounded: a round ends in a claim, a refusal, or a lock that was
        // released meanwhile (then the next round claims it).
        for _ in 0..3 {
            match std::fs::hard_link(temp, path) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io("cannot create it", e)),
            }
            let other = match File::open(path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io("cannot open it", e)),
            };
            let alive = rustix::fs::flock(&other, FlockOperation::NonBlockingLockShared).is_err();
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let found: Option<Holder> = serde_json::from_str(&text).ok();
            drop(other);
            if !break_lock {
                let found = found.unwrap_or_else(|| Holder {
                    owner: "an unknown deploy".into(),
                    machine: machine_name(),
                    pid: 0,
                    started: 0,
                    command: format!("the file holds no berth lock record: {text:?}"),
                });
                return Err(match alive {
                    true => LockError::Held {
                        path: path.to_path_buf(),
                        holder: found,
                    },
                    false => LockError::Stale {
                        path: path.to_path_buf(),
                        holder: found,
                    },
                });
            }
            // Taking over: ours replaces theirs in one rename.
            if found.as_ref() == Some(holder) {
                return Ok(());
            }
            return std::fs::rename(temp, path).map_err(|e| io("cannot take it over", e));
        }
        Err(io(
            "cannot take it",
            std::io::Error::other("it kept changing hands; try again"),
        ))
    }

    /// Removes the lock file, if it is still ours (`--break-lock` may have
    /// taken it over).
    ///
    /// Errors: the file could not be removed.
    pub fn release(mut self) -> Result<(), LockError> {
        let file = self.file.take();
        let removed = remove_if_ours(&self.path, &self.holder);
        drop(file);
        removed
    }
}

impl Drop for DeployLock {
    fn drop(&mut self) {
        if self.file.is_some() {
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
            message: format!("cannot remove it: {e}"),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_stale_lock_is_reported_and_broken() {
        let dir = tempfile::tempdir().unwrap();
        let gone = Holder::here("bob@ci", "berth deploy x");
        // A lock file that nobody holds a flock on: its holder ended.
        std::fs::write(
            dir.path().join(LOCK_FILE),
            serde_json::to_string(&gone).unwrap(),
        )
        .unwrap();
        let me = Holder::here("alice@laptop", "berth deploy x");
        let err = DeployLock::acquire(dir.path(), me.clone(), false).unwrap_err();
        assert!(matches!(err, LockError::Stale { .. }), "{err}");
        assert!(err.to_string().contains("bob@ci"), "{err}");
        assert!(err.to_string().contains("--break-lock"), "{err}");
        let lock = DeployLock::acquire(dir.path(), me, true).unwrap();
        let held = std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert!(held.contains("alice@laptop"), "{held}");
        lock.release().unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_held_lock_is_refused_and_taken_over_only_with_break_lock() {
        let dir = tempfile::tempdir().unwrap();
        let first = DeployLock::acquire(dir.path(), Holder::here("a@x", "one"), false).unwrap();
        let err = DeployLock::acquire(dir.path(), Holder::here("b@y", "two"), false).unwrap_err();
        assert!(matches!(err, LockError::Held { .. }), "{err}");
        assert!(err.to_string().contains("a@x"), "{err}");
        let second = DeployLock::acquire(dir.path(), Holder::here("b@y", "two"), true).unwrap();
        // The first holder's release leaves the second's lock alone.
        first.release().unwrap();
        assert!(dir.path().join(LOCK_FILE).exists());
        second.release().unwrap();
        assert!(!dir.path().join(LOCK_FILE).exists());
    }

    #[test]
    fn a_foreign_file_is_named_and_not_removed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LOCK_FILE), "hello").unwrap();
        let err = DeployLock::acquire(dir.path(), Holder::here("a@x", "c"), false).unwrap_err();
        assert!(err.to_string().contains("no berth lock record"), "{err}");
        assert!(dir.path().join(LOCK_FILE).exists());
    }

    #[test]
    fn times_are_shown_in_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_800_000_000), "2027-01-15 08:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
    }
}
