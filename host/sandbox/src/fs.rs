//! The confined filesystem: path resolution against the granted roots and
//! every file operation, done through one `cap_std::fs::Dir` per root.

use std::io::{self, Write as _};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use cap_std::ambient_authority;
use cap_std::fs::{
    Dir, MetadataExt as _, OpenOptions, OpenOptionsExt as _, Permissions, PermissionsExt as _,
};

use crate::batch::Batch;
use crate::error::FsError;

/// How a granted path may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read files, list directories, stat.
    Read,
    /// Read, and also create, replace and remove.
    ReadWrite,
}

/// A path granted to a component beyond its workdir and defdir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// An absolute path of a directory on the target.
    pub path: PathBuf,
    /// What the component may do there.
    pub access: Access,
}

/// The kind of a filesystem entry, as seen by `lstat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link (never followed by [`Sandbox::stat`]).
    Symlink,
    /// A socket, device or fifo.
    Other,
}

/// Metadata of a filesystem entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// What the entry is.
    pub kind: Kind,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits (`0o7777` at most).
    pub mode: u32,
}

/// Which granted root a path falls in; decides the wording of messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RootKind {
    Workdir,
    Defdir,
    Grant,
}

/// One granted directory, opened lazily: a root that does not exist yet
/// (a workdir before the first update) reads as not-found.
#[derive(Debug)]
pub(crate) struct Root {
    pub(crate) host: PathBuf,
    pub(crate) access: Access,
    pub(crate) kind: RootKind,
    dir: OnceLock<Dir>,
}

#[derive(Debug)]
struct Inner {
    component: String,
    /// `roots[0]` is the workdir, `roots[1]` the defdir, then the grants.
    roots: Vec<Root>,
    /// Staged writes and directories to sync, shared by every clone.
    batch: Mutex<Batch>,
    /// Per root: whether another root lies inside it, so that a relative
    /// path needs the longest-match search.
    nested: Vec<bool>,
}

/// A component's view of the filesystem and of programs.
///
/// Relative paths are relative to the workdir. An absolute path must lie
/// inside one granted root; when roots nest, the longest one decides the
/// access. A path with a `..` component is refused before the disk is
/// touched, and every access goes through a `cap_std` directory handle of
/// its root, so a symlink that leads out of the root is refused too.
///
/// Cloning is cheap: the roots are shared.
#[derive(Clone, Debug)]
pub struct Sandbox {
    inner: Arc<Inner>,
    pub(crate) read_only: bool,
    pub(crate) unconfined: bool,
    pub(crate) network: bool,
    /// The setuid, setgid and sticky bits the environment granted.
    special_modes: u32,
}

/// The setuid, setgid and sticky bits, in the order `special-modes` names
/// them.
pub const SPECIAL_MODES: [(u32, &str); 3] =
    [(0o4000, "setuid"), (0o2000, "setgid"), (0o1000, "sticky")];

/// What a request does, for the wording of messages and the write check.
#[derive(Clone, Copy)]
pub(crate) struct Op {
    /// "reading", for "reading `x` is outside the granted paths".
    pub(crate) gerund: &'static str,
    /// "read", for "cannot read `x`: ...".
    pub(crate) verb: &'static str,
    pub(crate) write: bool,
    /// Suggest granting the parent directory rather than the path itself.
    pub(crate) grant_parent: bool,
}

const fn op(gerund: &'static str, verb: &'static str, write: bool, grant_parent: bool) -> Op {
    Op {
        gerund,
        verb,
        write,
        grant_parent,
    }
}

pub(crate) const READ: Op = op("reading", "read", false, true);
const STAT: Op = op("reading the metadata of", "stat", false, true);
const LIST: Op = op("listing", "list", false, false);
const READ_LINK: Op = op("reading the link", "read the link", false, true);
pub(crate) const WRITE: Op = op("writing", "write", true, true);
const MKDIR: Op = op("creating the directory", "create the directory", true, true);
const REMOVE: Op = op("removing", "remove", true, true);
const SYMLINK: Op = op("creating the symlink", "create the symlink", true, true);
const CHMOD: Op = op("changing the mode of", "change the mode of", true, true);
pub(crate) const CWD: Op = op("running a program in", "enter", false, false);

/// A path resolved against its root: `rel` is empty for the root itself.
pub(crate) struct Resolved<'a> {
    pub(crate) root: &'a Root,
    pub(crate) rel: PathBuf,
}

impl Resolved<'_> {
    pub(crate) fn host(&self) -> PathBuf {
        if self.rel.as_os_str().is_empty() {
            self.root.host.clone()
        } else {
            self.root.host.join(&self.rel)
        }
    }

    /// The relative path for `cap_std`, which wants `.` for the root itself.
    pub(crate) fn cap(&self) -> &Path {
        if self.rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &self.rel
        }
    }
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The largest file berth reads whole for a component (`fs.read`, a File
/// step's `source`, a template file): 256 MiB, what a component may hold in
/// its own memory by default.
pub const FILE_LIMIT: u64 = 256 << 20;

/// The most entries [`Sandbox::list`] returns.
pub const LIST_LIMIT: usize = 1_000_000;

/// Reads the regular file `r` whole, refusing anything else and anything
/// larger than [`FILE_LIMIT`] before reading it.
fn read_regular(dir: &Dir, r: &Resolved<'_>) -> Result<Vec<u8>, FsError> {
    use std::io::Read as _;
    let host = r.host();
    let fail = |e: io::Error| map_io(e, READ, &host);
    // Non-blocking: opening a FIFO then returns at once, and the type check
    // below refuses it.
    let flags = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY;
    let mut file = match dir.open_with(
        r.cap(),
        OpenOptions::new()
            .read(true)
            .custom_flags(flags.bits() as i32),
    ) {
        Ok(f) => f,
        // A socket cannot be opened.
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NXIO.raw_os_error()) => {
            return Err(not_regular(&host, "a socket"));
        }
        Err(e) => return Err(fail(e)),
    };
    let meta = file.metadata().map_err(fail)?;
    let ft = meta.file_type();
    if !ft.is_file() {
        use cap_std::fs::FileTypeExt as _;
        let what = if ft.is_dir() {
            return Err(is_a_directory(READ, &host));
        } else if ft.is_fifo() {
            "a FIFO (named pipe)"
        } else if ft.is_char_device() || ft.is_block_device() {
            "a device"
        } else {
            "not a regular file"
        };
        return Err(not_regular(&host, what));
    }
    if meta.len() > FILE_LIMIT {
        return Err(too_large(&host, meta.len()));
    }
    // Back to blocking reads for a regular file, which never block for long.
    let _ = rustix::fs::fcntl_setfl(&file, rustix::fs::OFlags::empty());
    let mut content = Vec::with_capacity(meta.len() as usize);
    (&mut file)
        .take(FILE_LIMIT + 1)
        .read_to_end(&mut content)
        .map_err(fail)?;
    if content.len() as u64 > FILE_LIMIT {
        // It grew while being read.
        return Err(too_large(&host, content.len() as u64));
    }
    Ok(content)
}

fn not_regular(host: &Path, what: &str) -> FsError {
    FsError::Invalid(format!(
        "cannot read `{}`: it is {what}; berth reads regular files only",
        host.display()
    ))
}

fn too_large(host: &Path, size: u64) -> FsError {
    FsError::Invalid(format!(
        "cannot read `{}`: it is {}, larger than the {} berth reads of one file",
        host.display(),
        crate::human_bytes(size),
        crate::human_bytes(FILE_LIMIT)
    ))
}

/// `path` itself when it is relative and needs no normalization: no empty,
/// `.` or `..` segment. The common case; it skips parsing the components.
fn plain_relative(path: &str) -> Option<PathBuf> {
    let plain = !path.starts_with('/')
        && path
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..");
    plain.then(|| PathBuf::from(path))
}

/// Normalizes an absolute host path given to [`Sandbox::new`].
fn root_path(what: &str, path: PathBuf) -> Result<PathBuf, FsError> {
    if !path.is_absolute() {
        return Err(FsError::Invalid(format!(
            "the {what} `{}` is not an absolute path",
            path.display()
        )));
    }
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                return Err(FsError::Invalid(format!(
                    "the {what} `{}` contains `..`",
                    path.display()
                )));
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Ok(out)
}

impl Sandbox {
    /// A sandbox for `component` with its workdir (read-write), its defdir
    /// (read-only) and extra `grants`.
    ///
    /// Creates nothing: a root that does not exist yet reads as not-found
    /// (the first predict run, before any workdir exists). `component` is
    /// only used in messages, to name the `[grants:NAME]` section.
    ///
    /// # Errors
    ///
    /// [`FsError::Invalid`] when a root is not absolute or contains `..`.
    pub fn new(
        component: &str,
        workdir: PathBuf,
        defdir: PathBuf,
        grants: Vec<Grant>,
    ) -> Result<Sandbox, FsError> {
        let mut roots = vec![
            Root::new(
                root_path("workdir", workdir)?,
                Access::ReadWrite,
                RootKind::Workdir,
            ),
            Root::new(root_path("defdir", defdir)?, Access::Read, RootKind::Defdir),
        ];
        for g in grants {
            roots.push(Root::new(
                root_path("granted path", g.path)?,
                g.access,
                RootKind::Grant,
            ));
        }
        let nested = roots
            .iter()
            .enumerate()
            .map(|(i, r)| {
                roots
                    .iter()
                    .enumerate()
                    .any(|(j, other)| j != i && other.host.starts_with(&r.host))
            })
            .collect();
        Ok(Sandbox {
            inner: Arc::new(Inner {
                component: component.to_owned(),
                roots,
                batch: Mutex::new(Batch::default()),
                nested,
            }),
            read_only: false,
            unconfined: false,
            network: false,
            special_modes: 0,
        })
    }

    /// The same roots with every write refused, for verify and predict.
    /// Programs run under it are confined to read-only access everywhere.
    pub fn read_only(&self) -> Sandbox {
        Sandbox {
            read_only: true,
            ..self.clone()
        }
    }

    /// Whether every write is refused.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Allow [`Sandbox::run`] to run programs without Landlock confinement
    /// when the kernel does not offer Landlock. Off by default: then such a
    /// kernel makes every run fail with an error that says so. Where
    /// Landlock is available programs are always confined.
    pub fn allow_unconfined(mut self, allow: bool) -> Sandbox {
        self.unconfined = allow;
        self
    }

    /// Allow programs to open TCP connections and listen. Off by default:
    /// programs run without TCP network access where Landlock can enforce it.
    pub fn allow_network(mut self, allow: bool) -> Sandbox {
        self.network = allow;
        self
    }

    /// Allow the setuid, setgid and sticky bits in `bits` (of `0o7000`) in
    /// the modes the component sets. None by default: a mode with one of
    /// them is refused, since berth runs as root and a setuid copy of a
    /// program would give any local user root.
    pub fn allow_special_modes(mut self, bits: u32) -> Sandbox {
        self.special_modes = bits & 0o7000;
        self
    }

    /// Checks a mode a component asks for at `path`: at most `0o7777`, and
    /// setuid, setgid or sticky only when granted.
    ///
    /// # Errors
    ///
    /// [`FsError::Invalid`] for a mode above `0o7777`, [`FsError::Denied`]
    /// for a special bit that is not granted, naming the grant that would
    /// allow it.
    pub fn check_mode(&self, path: &str, mode: u32) -> Result<(), FsError> {
        if mode > 0o7777 {
            return Err(FsError::Invalid(format!(
                "the mode {mode:#o} for `{path}` is not a file mode: modes go up to 0o7777"
            )));
        }
        let refused: Vec<&str> = SPECIAL_MODES
            .iter()
            .filter(|(bit, _)| mode & bit != 0 && self.special_modes & bit == 0)
            .map(|(_, name)| *name)
            .collect();
        if refused.is_empty() {
            return Ok(());
        }
        let c = &self.inner.component;
        Err(FsError::Denied(format!(
            "the mode {mode:04o} for `{path}` is refused: it sets the {} bit{}; \
             grant it with `[grants:{c}]` `special-modes = {}`",
            refused.join(" and "),
            if refused.len() > 1 { "s" } else { "" },
            refused.join(" ")
        )))
    }

    /// The component's name, as used in `[grants:NAME]`.
    pub fn component(&self) -> &str {
        &self.inner.component
    }

    /// The workdir's absolute host path.
    pub fn workdir(&self) -> &Path {
        &self.inner.roots[0].host
    }

    /// The defdir's absolute host path.
    pub fn defdir(&self) -> &Path {
        &self.inner.roots[1].host
    }

    pub(crate) fn roots(&self) -> &[Root] {
        &self.inner.roots
    }

    /// Creates the workdir and its parents, before an update.
    ///
    /// # Errors
    ///
    /// [`FsError::Denied`] in a read-only sandbox, [`FsError::Io`] when the
    /// directory cannot be created.
    pub fn ensure_workdir(&self) -> Result<(), FsError> {
        let workdir = self.workdir();
        if self.read_only {
            return Err(self.read_only_denied(WRITE, &workdir.display().to_string()));
        }
        // The missing directories, the workdir first; each new entry is
        // made durable by the next commit, which fsyncs its parent.
        let missing: Vec<&Path> = workdir.ancestors().take_while(|p| !p.is_dir()).collect();
        if missing.is_empty() {
            return Ok(());
        }
        // The workdir itself is the granted root: creating it needs ambient
        // authority, and nothing below it is touched here.
        std::fs::create_dir_all(workdir).map_err(|e| {
            FsError::Io(format!(
                "cannot create the workdir `{}`: {e}",
                workdir.display()
            ))
        })?;
        let mut batch = self.batch();
        for parent in missing.iter().filter_map(|d| d.parent()) {
            batch.sync_ambient_later(parent);
        }
        Ok(())
    }

    /// The whole content of a regular file of at most [`FILE_LIMIT`] bytes.
    ///
    /// # Errors
    ///
    /// [`FsError::NotFound`] when it is missing, [`FsError::Denied`] when it
    /// is outside the granted paths or reached through a symlink that leads
    /// out, [`FsError::Invalid`] for `..`, for something that is not a
    /// regular file (a FIFO, a device, a socket, a directory: reading one
    /// could block or never end) and for a file larger than [`FILE_LIMIT`].
    pub fn read(&self, path: &str) -> Result<Vec<u8>, FsError> {
        let r = self.resolve(path, READ)?;
        let dir = self.dir(&r, path, READ)?;
        self.commit_if_staged(&r)?;
        read_regular(dir, &r)
    }

    /// The whole content of a file of the definition folder: a relative path
    /// is relative to the defdir (templates, source files); an absolute one
    /// must lie inside a granted root.
    ///
    /// # Errors
    ///
    /// As [`Sandbox::read`].
    pub fn read_source(&self, path: &str) -> Result<Vec<u8>, FsError> {
        let r = self.resolve_in(path, READ, 1)?;
        let dir = self.dir(&r, path, READ)?;
        self.commit_if_staged(&r)?;
        read_regular(dir, &r)
    }

    /// Replaces a file's content atomically: a temporary file in the same
    /// directory, fsync, rename. `mode` sets the permission bits; with `None`
    /// an existing file keeps its mode and a new file gets `0o644`. A symlink
    /// at `path` is written through when it stays inside its root.
    ///
    /// The rename is made durable by the next [`Sandbox::commit`], which
    /// fsyncs the directory; a staged write of the same path is committed
    /// first, so it cannot land over this one.
    ///
    /// # Errors
    ///
    /// [`FsError::Denied`] in a read-only sandbox or root, outside the granted
    /// paths, or through a symlink that leads out; [`FsError::NotFound`] when
    /// the parent directory is missing; [`FsError::Invalid`] when `path` is a
    /// directory.
    pub fn write_atomic(
        &self,
        path: &str,
        content: &[u8],
        mode: Option<u32>,
    ) -> Result<(), FsError> {
        let target = self.prepare_write(path, mode)?;
        let parent = target.open_parent()?;
        self.sweep_once(&target.parent_host, &parent);
        write_temp(&parent, content, &target, |file, temp| {
            file.sync_all()?;
            parent.rename(temp, &parent, &target.name)
        })?;
        self.batch()
            .sync_later(target.parent_host, Arc::new(parent));
        Ok(())
    }

    /// [`Sandbox::write_target`], after committing a staged write of the
    /// same file, so that the older content cannot land over the newer.
    pub(crate) fn prepare_write(
        &self,
        path: &str,
        mode: Option<u32>,
    ) -> Result<WriteTarget<'_>, FsError> {
        let target = self.write_target(path, mode)?;
        if self.batch().is_staged(&target.host) {
            self.commit()?;
        }
        Ok(target)
    }

    /// Resolves where a write of `path` goes: the directory, the name (a
    /// symlink's target when `path` is a link inside its root) and the mode
    /// the new file gets.
    pub(crate) fn write_target(
        &self,
        path: &str,
        mode: Option<u32>,
    ) -> Result<WriteTarget<'_>, FsError> {
        let r = self.resolve(path, WRITE)?;
        let dir = self.dir(&r, path, WRITE)?;
        let host = r.host();
        let mut rel = r.rel;
        if rel.as_os_str().is_empty() {
            return Err(is_a_directory(WRITE, &host));
        }
        let existing = match dir.symlink_metadata(&rel) {
            Ok(m) if m.is_symlink() => {
                // Write through the link, but only inside the root.
                rel = dir
                    .canonicalize(&rel)
                    .map_err(|e| map_io(e, WRITE, &host))?;
                Some(dir.metadata(&rel).map_err(|e| map_io(e, WRITE, &host))?)
            }
            Ok(m) => Some(m),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(map_io(e, WRITE, &host)),
        };
        if existing.as_ref().is_some_and(|m| m.is_dir()) {
            return Err(is_a_directory(WRITE, &host));
        }
        let mode = mode
            .or(existing.as_ref().map(|m| m.mode() & 0o7777))
            .unwrap_or(0o644);
        // A kept mode too: new content under an old setuid bit is a new
        // setuid program.
        self.check_mode(path, mode)?;
        let name = rel
            .file_name()
            .ok_or_else(|| is_a_directory(WRITE, &host))?
            .to_owned();
        let parent_rel = rel.parent().unwrap_or(Path::new("")).to_path_buf();
        let parent_host = r.root.host_of(&parent_rel);
        Ok(WriteTarget {
            dir,
            host: r.root.host.join(&rel),
            parent_rel,
            parent_host,
            name,
            mode,
            existing,
        })
    }

    /// The staged writes and directories to sync, shared by every clone.
    pub(crate) fn batch(&self) -> MutexGuard<'_, Batch> {
        self.inner
            .batch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Commits the staged writes first when `r` is one of them, so that a
    /// read sees what the run wrote.
    pub(crate) fn commit_if_staged(&self, r: &Resolved<'_>) -> Result<(), FsError> {
        let staged = {
            let batch = self.batch();
            !batch.is_empty() && batch.is_staged(&r.host())
        };
        if staged {
            self.commit()?;
        }
        Ok(())
    }

    /// Metadata of an entry without following a final symlink, or `None`
    /// when it does not exist (also when its root does not exist yet).
    ///
    /// # Errors
    ///
    /// [`FsError::Denied`] outside the granted paths or through a symlink
    /// that leads out; [`FsError::Invalid`] for `..`.
    pub fn stat(&self, path: &str) -> Result<Option<Stat>, FsError> {
        let r = self.resolve(path, STAT)?;
        let dir = match self.dir(&r, path, STAT) {
            Ok(d) => d,
            Err(FsError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let meta = if r.rel.as_os_str().is_empty() {
            dir.dir_metadata()
        } else {
            dir.symlink_metadata(&r.rel)
        };
        match meta {
            Ok(m) => Ok(Some(to_stat(&m))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) => {
                Ok(None)
            }
            Err(e) => Err(map_io(e, STAT, &r.host())),
        }
    }

    /// Metadata of an entry, following symlinks as long as they stay inside
    /// the root, or `None` when it (or a link's target) does not exist.
    ///
    /// # Errors
    ///
    /// As [`Sandbox::stat`]; a symlink that leads out is [`FsError::Denied`].
    pub fn stat_follow(&self, path: &str) -> Result<Option<Stat>, FsError> {
        let r = self.resolve(path, STAT)?;
        let dir = match self.dir(&r, path, STAT) {
            Ok(d) => d,
            Err(FsError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        match dir.metadata(r.cap()) {
            Ok(m) => Ok(Some(to_stat(&m))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) => {
                Ok(None)
            }
            Err(e) => Err(map_io(e, STAT, &r.host())),
        }
    }

    /// The names of a directory's entries, sorted.
    ///
    /// # Errors
    ///
    /// [`FsError::NotFound`] when it is missing; [`FsError::Invalid`] when it
    /// has more than [`LIST_LIMIT`] entries; otherwise as [`Sandbox::read`].
    pub fn list(&self, path: &str) -> Result<Vec<String>, FsError> {
        let r = self.resolve(path, LIST)?;
        let dir = self.dir(&r, path, LIST)?;
        let host = r.host();
        let entries = if r.rel.as_os_str().is_empty() {
            dir.entries()
        } else {
            dir.read_dir(&r.rel)
        }
        .map_err(|e| map_io(e, LIST, &host))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| map_io(e, LIST, &host))?;
            if names.len() == LIST_LIMIT {
                return Err(FsError::Invalid(format!(
                    "cannot list `{}`: it has more than {LIST_LIMIT} entries, more than berth lists",
                    host.display()
                )));
            }
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    /// Creates a directory, and its missing parents when `leading` is true.
    /// An existing directory is fine.
    ///
    /// # Errors
    ///
    /// [`FsError::NotFound`] when the parent is missing and `leading` is
    /// false; [`FsError::Invalid`] when a non-directory is in the way;
    /// otherwise as [`Sandbox::write_atomic`].
    pub fn mkdir(&self, path: &str, leading: bool) -> Result<(), FsError> {
        let r = self.resolve(path, MKDIR)?;
        if r.rel.as_os_str().is_empty() && r.root.kind == RootKind::Workdir {
            return self.ensure_workdir();
        }
        let dir = self.dir(&r, path, MKDIR)?;
        let host = r.host();
        let made = if leading {
            dir.create_dir_all(r.cap())
        } else {
            dir.create_dir(r.cap())
        };
        match made {
            Ok(()) => self.sync_parents_later(dir, &r, leading),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match dir.metadata(r.cap()) {
                Ok(m) if m.is_dir() => Ok(()),
                Ok(_) => Err(FsError::Invalid(format!(
                    "cannot create the directory `{}`: something else exists there",
                    host.display()
                ))),
                Err(e) => Err(map_io(e, MKDIR, &host)),
            },
            Err(e) => Err(map_io(e, MKDIR, &host)),
        }
    }

    /// Removes a file, a symlink (not what it points to) or a whole
    /// directory tree. A missing entry is fine.
    ///
    /// # Errors
    ///
    /// [`FsError::Invalid`] for a granted root itself; otherwise as
    /// [`Sandbox::write_atomic`].
    pub fn remove(&self, path: &str) -> Result<(), FsError> {
        let r = self.resolve(path, REMOVE)?;
        let host = r.host();
        if r.rel.as_os_str().is_empty() {
            return Err(FsError::Invalid(format!(
                "refusing to remove `{}`: it is a granted root",
                host.display()
            )));
        }
        let dir = match self.dir(&r, path, REMOVE) {
            Ok(d) => d,
            Err(FsError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let removed = match dir.symlink_metadata(&r.rel) {
            Ok(m) if m.is_dir() => dir.remove_dir_all(&r.rel),
            Ok(_) => dir.remove_file(&r.rel),
            Err(e) => Err(e),
        };
        match removed {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(map_io(e, REMOVE, &host)),
        }
    }

    /// Creates (or atomically replaces) a symlink at `path` pointing to
    /// `target`, written as given. A relative `target` is taken relative to
    /// the link's directory; either way it must lie inside a granted root.
    ///
    /// # Errors
    ///
    /// [`FsError::Denied`] when the target is outside the granted paths;
    /// [`FsError::Invalid`] when a directory is in the way; otherwise as
    /// [`Sandbox::write_atomic`].
    pub fn symlink(&self, path: &str, target: &str) -> Result<(), FsError> {
        let r = self.resolve(path, SYMLINK)?;
        let host = r.host();
        if r.rel.as_os_str().is_empty() {
            return Err(is_a_directory(SYMLINK, &host));
        }
        let dir = self.dir(&r, path, SYMLINK)?;
        self.check_target(&r, target)?;
        match dir.symlink_metadata(&r.rel) {
            Ok(m) if m.is_dir() => return Err(is_a_directory(SYMLINK, &host)),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(map_io(e, SYMLINK, &host)),
        }
        let name = r
            .rel
            .file_name()
            .ok_or_else(|| is_a_directory(SYMLINK, &host))?;
        let temp = r.rel.with_file_name(temp_name(name));
        dir.symlink_contents(target, &temp)
            .and_then(|()| dir.rename(&temp, dir, &r.rel))
            .map_err(|e| {
                let _ = dir.remove_file(&temp);
                map_io(e, SYMLINK, &host)
            })
    }

    /// What a symlink points to, as written, or `None` when nothing exists
    /// at `path`.
    ///
    /// # Errors
    ///
    /// [`FsError::Invalid`] when `path` exists and is not a symlink;
    /// otherwise as [`Sandbox::read`].
    pub fn read_link(&self, path: &str) -> Result<Option<String>, FsError> {
        let r = self.resolve(path, READ_LINK)?;
        let host = r.host();
        let dir = match self.dir(&r, path, READ_LINK) {
            Ok(d) => d,
            Err(FsError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        match dir.symlink_metadata(r.cap()) {
            Ok(m) if m.is_symlink() => {}
            Ok(_) => {
                return Err(FsError::Invalid(format!(
                    "cannot read the link `{}`: it is not a symlink",
                    host.display()
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(map_io(e, READ_LINK, &host)),
        }
        dir.read_link_contents(&r.rel)
            .map(|t| Some(t.to_string_lossy().into_owned()))
            .map_err(|e| map_io(e, READ_LINK, &host))
    }

    /// Sets an entry's permission bits.
    ///
    /// # Errors
    ///
    /// As [`Sandbox::write_atomic`].
    pub fn chmod(&self, path: &str, mode: u32) -> Result<(), FsError> {
        let r = self.resolve(path, CHMOD)?;
        self.check_mode(path, mode)?;
        let dir = self.dir(&r, path, CHMOD)?;
        dir.set_permissions(r.cap(), Permissions::from_mode(mode))
            .map_err(|e| map_io(e, CHMOD, &r.host()))
    }

    /// The absolute host path of `path`, for messages and diffs. Checks the
    /// path like a read but touches nothing.
    ///
    /// # Errors
    ///
    /// [`FsError::Invalid`] for `..`, [`FsError::Denied`] outside the
    /// granted paths.
    pub fn host_path(&self, path: &str) -> Result<PathBuf, FsError> {
        Ok(self.resolve(path, READ)?.host())
    }

    /// Resolves `path` against the roots, relative paths against the workdir.
    pub(crate) fn resolve(&self, path: &str, op: Op) -> Result<Resolved<'_>, FsError> {
        self.resolve_in(path, op, 0)
    }

    /// Resolves `path`; a relative path is relative to `roots[base]`.
    fn resolve_in(&self, path: &str, op: Op, base: usize) -> Result<Resolved<'_>, FsError> {
        if path.is_empty() {
            return Err(FsError::Invalid(format!(
                "{} an empty path is not possible",
                op.gerund
            )));
        }
        if path.contains('\0') {
            return Err(FsError::Invalid(format!(
                "{} `{}` is not possible: the path contains a NUL byte",
                op.gerund,
                path.escape_debug()
            )));
        }
        let given = Path::new(path);
        let clean = match plain_relative(path) {
            Some(clean) => clean,
            None => {
                let mut clean = PathBuf::new();
                for c in given.components() {
                    match c {
                        Component::ParentDir => {
                            return Err(FsError::Invalid(format!(
                                "{} `{path}` is refused: `..` is not allowed in paths",
                                op.gerund
                            )));
                        }
                        Component::CurDir => {}
                        other => clean.push(other),
                    }
                }
                clean
            }
        };
        let resolved = if given.is_absolute() {
            let root = self
                .inner
                .roots
                .iter()
                .filter(|r| clean.starts_with(&r.host))
                .max_by_key(|r| r.host.components().count())
                .ok_or_else(|| self.outside(op, &clean))?;
            let rel = clean
                .strip_prefix(&root.host)
                .map(Path::to_path_buf)
                .unwrap_or_default();
            Resolved { root, rel }
        } else {
            let root = &self.inner.roots[base];
            if !self.inner.nested[base] {
                return self.check_write(Resolved { root, rel: clean }, op);
            }
            // A relative path still falls under a nested grant when there is one.
            let host = root.host.join(&clean);
            match self
                .inner
                .roots
                .iter()
                .filter(|r| r.host.starts_with(&root.host) && host.starts_with(&r.host))
                .max_by_key(|r| r.host.components().count())
            {
                Some(inner) => Resolved {
                    root: inner,
                    rel: host
                        .strip_prefix(&inner.host)
                        .map(Path::to_path_buf)
                        .unwrap_or_default(),
                },
                None => Resolved { root, rel: clean },
            }
        };
        self.check_write(resolved, op)
    }

    /// Refuses a write in a read-only sandbox or root.
    fn check_write<'a>(&self, resolved: Resolved<'a>, op: Op) -> Result<Resolved<'a>, FsError> {
        if op.write {
            if self.read_only {
                return Err(self.read_only_denied(op, &resolved.host().display().to_string()));
            }
            if resolved.root.access == Access::Read {
                return Err(self.read_only_root(op, &resolved));
            }
        }
        Ok(resolved)
    }

    /// The root's directory handle, opened on first use.
    pub(crate) fn dir<'r>(&self, r: &Resolved<'r>, path: &str, op: Op) -> Result<&'r Dir, FsError> {
        r.root.dir().map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                FsError::NotFound(format!(
                    "cannot {} `{path}`: `{}` does not exist",
                    op.verb,
                    r.root.host.display()
                ))
            } else {
                map_io(e, op, &r.root.host)
            }
        })
    }

    /// A symlink target must resolve inside a granted root, as the kernel
    /// will resolve it: from the real directory of the link, following the
    /// links already there, through the root's `cap_std` handle (so
    /// `loop -> .` followed by `loop/loop/../../..` is refused). A relative
    /// target resolves in the link's own root; an absolute one in the root
    /// it names. The part of the target that does not exist yet must not
    /// go up (`..`): a directory created there later could make it leave.
    fn check_target(&self, link: &Resolved<'_>, target: &str) -> Result<(), FsError> {
        let host = link.host();
        if target.is_empty() || target.contains('\0') {
            return Err(FsError::Invalid(format!(
                "cannot create the symlink `{}`: the target `{}` is empty or contains a NUL byte",
                host.display(),
                target.escape_debug()
            )));
        }
        let given = Path::new(target);
        let (root, rel) = if given.is_absolute() {
            match self
                .inner
                .roots
                .iter()
                .filter(|r| given.starts_with(&r.host))
                .max_by_key(|r| r.host.components().count())
            {
                Some(root) => (
                    root,
                    given
                        .strip_prefix(&root.host)
                        .map(Path::to_path_buf)
                        .unwrap_or_default(),
                ),
                None => return Err(self.target_outside(&host, target, None)),
            }
        } else {
            (
                link.root,
                link.rel.parent().unwrap_or(Path::new("")).join(given),
            )
        };
        let parts: Vec<Component<'_>> = rel.components().collect();
        let dir = match root.dir() {
            Ok(d) => Some(d),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(map_io(e, SYMLINK, &root.host)),
        };
        // The longest prefix that exists, resolved through the root.
        let mut exists = 0;
        if let Some(dir) = dir {
            for k in (1..=parts.len()).rev() {
                let prefix: PathBuf = parts[..k].iter().collect();
                match dir.canonicalize(&prefix) {
                    Ok(_) => {
                        exists = k;
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e)
                        if e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) => {}
                    Err(e) => {
                        return Err(match map_io(e, SYMLINK, &host) {
                            FsError::Denied(_) => {
                                self.target_outside(&host, target, Some(&root.host))
                            }
                            other => other,
                        });
                    }
                }
            }
        }
        if parts[exists..].contains(&Component::ParentDir) {
            return Err(FsError::Denied(format!(
                "creating the symlink `{}` to `{target}` is refused: it goes up (`..`) below a \
                 path that does not exist yet; point it at a path without `..`",
                host.display()
            )));
        }
        Ok(())
    }

    /// `root`: the root a relative target had to stay in.
    fn target_outside(&self, link: &Path, target: &str, root: Option<&Path>) -> FsError {
        let c = &self.inner.component;
        let within = match root {
            Some(root) => format!(
                " (it resolves from the link's real folder and must stay in `{}`)",
                root.display()
            ),
            None => String::new(),
        };
        FsError::Denied(format!(
            "creating the symlink `{}` to `{target}` is refused: the target is outside the granted paths{within}; \
             grant its folder with `[grants:{c}]` `paths = ...`",
            link.display(),
        ))
    }

    fn outside(&self, op: Op, path: &Path) -> FsError {
        let c = &self.inner.component;
        let suggest = if op.grant_parent {
            path.parent().unwrap_or(path)
        } else {
            path
        };
        let rw = if op.write { " rw" } else { "" };
        FsError::Denied(format!(
            "{} `{}` is outside the granted paths; grant it with `[grants:{c}]` `paths = {}{rw}`",
            op.gerund,
            path.display(),
            suggest.display()
        ))
    }

    fn read_only_denied(&self, op: Op, path: &str) -> FsError {
        FsError::Denied(format!(
            "{} `{path}` is refused: the sandbox is read-only during verify and predict",
            op.gerund
        ))
    }

    fn read_only_root(&self, op: Op, r: &Resolved<'_>) -> FsError {
        let host = r.host();
        match r.root.kind {
            RootKind::Defdir => FsError::Denied(format!(
                "{} `{}` is refused: the definition folder `{}` is read-only",
                op.gerund,
                host.display(),
                r.root.host.display()
            )),
            _ => {
                let c = &self.inner.component;
                FsError::Denied(format!(
                    "{} `{}` is refused: `{}` is granted read-only; grant it with `[grants:{c}]` `paths = {} rw`",
                    op.gerund,
                    host.display(),
                    r.root.host.display(),
                    r.root.host.display()
                ))
            }
        }
    }
}

impl Root {
    fn new(host: PathBuf, access: Access, kind: RootKind) -> Root {
        Root {
            host,
            access,
            kind,
            dir: OnceLock::new(),
        }
    }

    /// The absolute host path of `rel`, the root itself for an empty one
    /// (no trailing slash, so that it compares equal either way).
    pub(crate) fn host_of(&self, rel: &Path) -> PathBuf {
        if rel.as_os_str().is_empty() {
            self.host.clone()
        } else {
            self.host.join(rel)
        }
    }

    /// Opens the root with ambient authority, once; a missing root is tried
    /// again on the next call, so it works once the workdir is created.
    pub(crate) fn dir(&self) -> io::Result<&Dir> {
        if let Some(d) = self.dir.get() {
            return Ok(d);
        }
        let d = Dir::open_ambient_dir(&self.host, ambient_authority())?;
        Ok(self.dir.get_or_init(|| d))
    }
}

/// Where a write goes, from [`Sandbox::write_target`].
pub(crate) struct WriteTarget<'a> {
    /// The root's directory handle.
    dir: &'a Dir,
    /// The file's absolute host path, for messages.
    pub(crate) host: PathBuf,
    /// The directory the file is in, relative to the root.
    parent_rel: PathBuf,
    /// The same directory's absolute host path.
    pub(crate) parent_host: PathBuf,
    /// The file's name in that directory.
    pub(crate) name: std::ffi::OsString,
    /// The permission bits the new file gets.
    mode: u32,
    /// What is there now (a link's target), if anything.
    existing: Option<cap_std::fs::Metadata>,
}

impl WriteTarget<'_> {
    /// Opens the directory the file is in.
    pub(crate) fn open_parent(&self) -> Result<Dir, FsError> {
        if self.parent_rel.as_os_str().is_empty() {
            self.dir.try_clone()
        } else {
            self.dir.open_dir(&self.parent_rel)
        }
        .map_err(|e| map_io(e, WRITE, &self.host))
    }
}

/// The name of a temporary file for `name`: hidden, and naming the process
/// that wrote it, so that a later run can tell a leftover from a crash.
pub(crate) fn temp_name(name: &std::ffi::OsStr) -> String {
    format!(
        ".{}.berth-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates a temporary file for the target in `parent` with `content` and
/// the target's mode and owner, and hands it with its name to `finish` (to
/// sync and rename it, or to stage it). On any error the temporary file is
/// removed. Returns its name.
pub(crate) fn write_temp(
    parent: &Dir,
    content: &[u8],
    target: &WriteTarget<'_>,
    finish: impl FnOnce(cap_std::fs::File, &str) -> io::Result<()>,
) -> Result<String, FsError> {
    let temp = temp_name(&target.name);
    let result = create_temp(parent, &temp, content, target).and_then(|file| finish(file, &temp));
    match result {
        Ok(()) => Ok(temp),
        Err(e) => {
            let _ = parent.remove_file(&temp);
            Err(map_io(e, WRITE, &target.host))
        }
    }
}

fn create_temp(
    parent: &Dir,
    temp: &str,
    content: &[u8],
    target: &WriteTarget<'_>,
) -> io::Result<cap_std::fs::File> {
    let mut file = parent.open_with(
        temp,
        OpenOptions::new().write(true).create_new(true).mode(0o600),
    )?;
    file.write_all(content)?;
    // Set the mode on the descriptor: exact, not subject to the umask.
    file.set_permissions(Permissions::from_mode(target.mode))?;
    if let Some(m) = &target.existing {
        keep_owner(&file, m);
    }
    Ok(file)
}

fn to_stat(m: &cap_std::fs::Metadata) -> Stat {
    let ft = m.file_type();
    let kind = if ft.is_symlink() {
        Kind::Symlink
    } else if ft.is_dir() {
        Kind::Directory
    } else if ft.is_file() {
        Kind::File
    } else {
        Kind::Other
    };
    Stat {
        kind,
        size: m.len(),
        mode: m.mode() & 0o7777,
    }
}

/// Gives a replacement file the owner of the file it replaces, when we may
/// (as root); otherwise the new file keeps ours, as any rewrite would.
fn keep_owner(file: &cap_std::fs::File, old: &cap_std::fs::Metadata) {
    let new = match file.metadata() {
        Ok(m) => m,
        Err(_) => return,
    };
    if new.uid() != old.uid() || new.gid() != old.gid() {
        let _ = rustix::fs::fchown(
            file,
            Some(rustix::fs::Uid::from_raw_unchecked(old.uid())),
            Some(rustix::fs::Gid::from_raw_unchecked(old.gid())),
        );
    }
}

fn is_a_directory(op: Op, host: &Path) -> FsError {
    FsError::Invalid(format!(
        "cannot {} `{}`: it is a directory",
        op.verb,
        host.display()
    ))
}

/// Maps an I/O error to the sandbox's error, naming the path.
pub(crate) fn map_io(e: io::Error, op: Op, host: &Path) -> FsError {
    let exdev = rustix::io::Errno::XDEV.raw_os_error();
    match e.kind() {
        io::ErrorKind::NotFound => FsError::NotFound(format!(
            "cannot {} `{}`: no such file or directory",
            op.verb,
            host.display()
        )),
        // cap-std reports an escape as PermissionDenied without an OS code.
        io::ErrorKind::PermissionDenied if e.raw_os_error().is_none() => FsError::Denied(format!(
            "{} `{}` is refused: it leads outside the granted paths through a symlink",
            op.gerund,
            host.display()
        )),
        _ if e.raw_os_error() == Some(exdev) => FsError::Denied(format!(
            "{} `{}` is refused: it leads outside the granted paths through a symlink",
            op.gerund,
            host.display()
        )),
        io::ErrorKind::PermissionDenied => FsError::Denied(format!(
            "cannot {} `{}`: permission denied by the operating system",
            op.verb,
            host.display()
        )),
        _ => FsError::Io(format!("cannot {} `{}`: {e}", op.verb, host.display())),
    }
}
