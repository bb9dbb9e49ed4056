//! Batched durable writes, as package managers make them: every new content
//! goes to a temporary file first, all of them are made durable together,
//! then they are renamed into place and each touched directory is synced.
//!
//! One fsync per file waits for one journal commit per file (5–7 ms each
//! on a busy disk). [`Sandbox::write_batched`] only writes the temporary
//! file; [`Sandbox::commit`] then issues one `syncfs` per filesystem, the
//! renames and one fsync per directory. A crash at any point leaves every
//! file complete, old or new: a file is renamed into place only after its
//! bytes are on disk, and a rename replaces the old file atomically.
//! Temporary files that a crash leaves behind are removed by the next run
//! that writes into their directory.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cap_std::fs::{Dir, OpenOptions};

use crate::error::FsError;
use crate::fs::{Resolved, Sandbox, WRITE, map_io, write_temp};

/// What [`Sandbox::commit`] made durable.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Committed {
    /// Files renamed into place.
    pub files: usize,
    /// Filesystems synced with `syncfs` before the renames.
    pub filesystems: usize,
    /// Directories fsynced after the renames, as absolute host paths, in
    /// the order they were first touched.
    pub directories: Vec<PathBuf>,
}

/// A file written to its temporary name, waiting for the commit.
#[derive(Debug)]
struct Staged {
    dir: Arc<Dir>,
    temp: String,
    name: OsString,
    host: PathBuf,
}

/// The writes of a sandbox that are not durable yet.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    staged: Vec<Staged>,
    /// The final host paths of `staged`.
    paths: HashSet<PathBuf>,
    /// Directories to fsync at the commit, in the order first touched;
    /// also the handles staged writes use.
    dirs: Vec<(PathBuf, Arc<Dir>)>,
    index: HashMap<PathBuf, usize>,
    /// Directories outside the roots to fsync (the parents of a new workdir).
    ambient: Vec<PathBuf>,
    /// Directories already cleared of leftover temporary files.
    swept: HashSet<PathBuf>,
}

impl Batch {
    pub(crate) fn is_empty(&self) -> bool {
        self.staged.is_empty() && self.dirs.is_empty() && self.ambient.is_empty()
    }

    /// Whether a write of the final host path `host` waits for the commit.
    pub(crate) fn is_staged(&self, host: &Path) -> bool {
        self.paths.contains(host)
    }

    /// Fsyncs `dir` (at host path `host`) at the next commit.
    pub(crate) fn sync_later(&mut self, host: PathBuf, dir: Arc<Dir>) {
        if !self.index.contains_key(&host) {
            self.index.insert(host.clone(), self.dirs.len());
            self.dirs.push((host, dir));
        }
    }

    /// Fsyncs the directory at `host`, outside every root, at the next commit.
    pub(crate) fn sync_ambient_later(&mut self, host: &Path) {
        if !self.ambient.iter().any(|p| p == host) {
            self.ambient.push(host.to_path_buf());
        }
    }

    fn dir(&self, host: &Path) -> Option<Arc<Dir>> {
        self.index.get(host).map(|&i| Arc::clone(&self.dirs[i].1))
    }
}

impl Drop for Batch {
    /// A batch dropped without a commit leaves no temporary file behind.
    fn drop(&mut self) {
        for s in &self.staged {
            let _ = s.dir.remove_file(&s.temp);
        }
    }
}

impl Sandbox {
    /// Writes a file's new content to a temporary file beside it; the next
    /// [`Sandbox::commit`] makes it durable and renames it into place. Until
    /// then the old file (or none) stays where it is. Mode, owner and
    /// symlinks are handled as by [`Sandbox::write_atomic`].
    ///
    /// A read of a staged path through this sandbox or any clone of it
    /// commits the batch first, so it sees the new content. Dropping the
    /// last clone without a commit removes the temporary files.
    ///
    /// # Errors
    ///
    /// As [`Sandbox::write_atomic`].
    pub fn write_batched(
        &self,
        path: &str,
        content: &[u8],
        mode: Option<u32>,
    ) -> Result<(), FsError> {
        let target = self.prepare_write(path, mode)?;
        let known = self.batch().dir(&target.parent_host);
        let parent = match known {
            Some(dir) => dir,
            None => {
                let dir = Arc::new(target.open_parent()?);
                self.sweep_once(&target.parent_host, &dir);
                self.batch()
                    .sync_later(target.parent_host.clone(), Arc::clone(&dir));
                dir
            }
        };
        let temp = write_temp(&parent, content, &target, |_, _| Ok(()))?;
        let mut batch = self.batch();
        batch.paths.insert(target.host.clone());
        batch.staged.push(Staged {
            dir: parent,
            temp,
            name: target.name,
            host: target.host,
        });
        Ok(())
    }

    /// Removes the temporary files that a killed run of berth left beside
    /// `path` (in its directory): `.NAME.berth-PID-N` of a process that no
    /// longer runs. Done once per directory and run, as the first write into
    /// a directory does it; does nothing in a read-only sandbox, and for a
    /// path whose directory does not exist or is outside the writable
    /// roots. A deploy calls it for every file it manages, so that a
    /// converged run cleans up too.
    pub fn remove_leftovers(&self, path: &str) {
        if self.read_only {
            return;
        }
        let Ok(target) = self.write_target(path, None) else {
            return;
        };
        if self.batch().swept.contains(&target.parent_host) {
            return;
        }
        if let Ok(dir) = target.open_parent() {
            self.sweep_once(&target.parent_host, &dir);
        }
    }

    /// Sweeps `dir` (at host path `host`) unless this run did already.
    pub(crate) fn sweep_once(&self, host: &Path, dir: &Dir) {
        if self.batch().swept.insert(host.to_path_buf()) {
            sweep(dir);
        }
    }

    /// Makes every staged write durable and puts it in place: one `syncfs`
    /// per filesystem for the contents, the renames, then one fsync per
    /// touched directory (new files, new directories, renames of
    /// [`Sandbox::write_atomic`]). When it returns `Ok`, the changes are on
    /// disk. Committing an empty batch does nothing.
    ///
    /// # Errors
    ///
    /// [`FsError::Io`] when a sync or a rename fails; the files not yet
    /// renamed keep their old content and their temporary files are removed.
    pub fn commit(&self) -> Result<Committed, FsError> {
        let (staged, dirs, ambient) = {
            let mut batch = self.batch();
            if batch.is_empty() {
                return Ok(Committed::default());
            }
            batch.paths.clear();
            batch.index.clear();
            (
                std::mem::take(&mut batch.staged),
                std::mem::take(&mut batch.dirs),
                std::mem::take(&mut batch.ambient),
            )
        };
        let mut out = Committed::default();
        if !staged.is_empty() {
            match sync_filesystems(&dirs) {
                Ok(n) => out.filesystems = n,
                Err(e) => {
                    remove_temps(&staged);
                    return Err(e);
                }
            }
        }
        for (i, s) in staged.iter().enumerate() {
            if let Err(e) = s.dir.rename(&s.temp, &s.dir, &s.name) {
                remove_temps(&staged[i..]);
                // What was renamed is still made durable, as far as we can.
                let _ = sync_dirs(&dirs, &ambient, &mut out);
                return Err(map_io(e, WRITE, &s.host));
            }
            out.files += 1;
        }
        sync_dirs(&dirs, &ambient, &mut out)?;
        Ok(out)
    }

    /// Fsyncs, at the next commit, the parent of the directory `r` that
    /// was just created, and with `all` every directory above it up to the
    /// root (`leading` creates them).
    pub(crate) fn sync_parents_later(
        &self,
        dir: &Dir,
        r: &Resolved<'_>,
        all: bool,
    ) -> Result<(), FsError> {
        let mut parent = r.rel.parent();
        while let Some(rel) = parent {
            let host = r.root.host_of(rel);
            let known = self.batch().dir(&host).is_some();
            if !known {
                let opened = if rel.as_os_str().is_empty() {
                    dir.try_clone()
                } else {
                    dir.open_dir(rel)
                };
                let opened = opened.map_err(|e| {
                    FsError::Io(format!(
                        "cannot open the directory `{}` to sync it: {e}",
                        host.display()
                    ))
                })?;
                self.batch().sync_later(host, Arc::new(opened));
            }
            if !all {
                break;
            }
            parent = rel.parent();
        }
        Ok(())
    }
}

/// A descriptor of `dir` that syncs: cap-std's own handles are `O_PATH`,
/// which `fsync` and `syncfs` refuse.
fn syncable(host: &Path, dir: &Dir) -> Result<cap_std::fs::File, FsError> {
    dir.open_with(".", OpenOptions::new().read(true))
        .map_err(|e| {
            FsError::Io(format!(
                "cannot open the directory `{}` to sync it: {e}",
                host.display()
            ))
        })
}

/// One `syncfs` per filesystem the directories are on; how many.
fn sync_filesystems(dirs: &[(PathBuf, Arc<Dir>)]) -> Result<usize, FsError> {
    let mut devices = Vec::new();
    for (host, dir) in dirs {
        let fail = |e: rustix::io::Errno| {
            FsError::Io(format!(
                "cannot make the new files in `{}` durable: {e}",
                host.display()
            ))
        };
        let device = rustix::fs::fstat(&**dir).map_err(fail)?.st_dev;
        if !devices.contains(&device) {
            rustix::fs::syncfs(syncable(host, dir)?).map_err(fail)?;
            devices.push(device);
        }
    }
    Ok(devices.len())
}

fn sync_dirs(
    dirs: &[(PathBuf, Arc<Dir>)],
    ambient: &[PathBuf],
    out: &mut Committed,
) -> Result<(), FsError> {
    let fail = |host: &Path, e: std::io::Error| {
        FsError::Io(format!(
            "cannot sync the directory `{}`: {e}",
            host.display()
        ))
    };
    for (host, dir) in dirs {
        syncable(host, dir)?.sync_all().map_err(|e| fail(host, e))?;
        out.directories.push(host.clone());
    }
    for host in ambient {
        std::fs::File::open(host)
            .and_then(|f| f.sync_all())
            .map_err(|e| fail(host, e))?;
        out.directories.push(host.clone());
    }
    Ok(())
}

fn remove_temps(staged: &[Staged]) {
    for s in staged {
        let _ = s.dir.remove_file(&s.temp);
    }
}

/// Removes the temporary files that a crashed run left in `dir`: names
/// `.NAME.berth-PID-N` of a process that no longer runs.
fn sweep(dir: &Dir) {
    let Ok(entries) = dir.entries() else {
        return;
    };
    let me = std::process::id();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        if let Some(pid) = leftover_pid(name)
            && pid != me
            && !running(pid)
        {
            let _ = dir.remove_file(name);
        }
    }
}

/// The process id in a temporary file's name, `.NAME.berth-PID-N`.
fn leftover_pid(name: &str) -> Option<u32> {
    let (_, tail) = name.strip_prefix('.')?.rsplit_once(".berth-")?;
    let (pid, n) = tail.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(pid) || !digits(n) {
        return None;
    }
    pid.parse().ok()
}

fn running(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(rustix::io::Errno::SRCH)
    )
}

#[cfg(test)]
mod tests {
    use super::leftover_pid;

    #[test]
    fn leftover_names() {
        assert_eq!(leftover_pid(".file-0001.conf.berth-4242-17"), Some(4242));
        assert_eq!(leftover_pid("..berth-1-2"), Some(1));
        assert_eq!(leftover_pid("file.berth-4242-17"), None);
        assert_eq!(leftover_pid(".file.berth-42x-1"), None);
        assert_eq!(leftover_pid(".file.berth-42-"), None);
        assert_eq!(leftover_pid(".file.conf"), None);
    }
}
