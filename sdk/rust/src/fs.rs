//! The filesystem, as far as the environment grants it.
//!
//! Relative paths are relative to the component's workdir; absolute paths
//! must lie inside a granted path (the defdir, or a path declared in
//! [`Component::needs`](crate::Component::needs) and granted). `..` that
//! leaves a granted path, and symlinks that point outside, are refused with
//! [`Error::Denied`](crate::Error::Denied).
//!
//! Reads work in verify and update; writes only in update. Configure may not
//! touch the filesystem at all.

use crate::__private::bindings::berth::component::fs as wit;
use crate::Result;

/// The kind of a filesystem entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link (not followed).
    Symlink,
    /// Anything else (socket, device, fifo).
    Other,
}

/// Metadata of a filesystem entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metadata {
    /// What the entry is.
    pub kind: FileKind,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
}

/// The whole content of a file.
pub fn read(path: impl AsRef<str>) -> Result<Vec<u8>> {
    Ok(wit::read(path.as_ref())?)
}

/// The whole content of a file as UTF-8 text.
///
/// Fails with [`Error::Invalid`](crate::Error::Invalid) naming the path when
/// the content is not UTF-8.
pub fn read_to_string(path: impl AsRef<str>) -> Result<String> {
    let path = path.as_ref();
    String::from_utf8(read(path)?)
        .map_err(|e| crate::Error::Invalid(format!("`{path}` is not UTF-8: {e}")))
}

/// Replace a file's content atomically (temporary file, fsync, rename),
/// keeping an existing file's mode; new files get `0o644`.
pub fn write(path: impl AsRef<str>, content: impl AsRef<[u8]>) -> Result<()> {
    Ok(wit::write(path.as_ref(), content.as_ref(), None)?)
}

/// Like [`write`], and set the permission bits.
pub fn write_with_mode(path: impl AsRef<str>, content: impl AsRef<[u8]>, mode: u32) -> Result<()> {
    Ok(wit::write(path.as_ref(), content.as_ref(), Some(mode))?)
}

/// Metadata of an entry (symlinks not followed), or `None` when it does not
/// exist.
pub fn stat(path: impl AsRef<str>) -> Result<Option<Metadata>> {
    Ok(wit::stat(path.as_ref())?.map(|s| Metadata {
        kind: match s.kind {
            wit::FileKind::File => FileKind::File,
            wit::FileKind::Directory => FileKind::Directory,
            wit::FileKind::Symlink => FileKind::Symlink,
            wit::FileKind::Other => FileKind::Other,
        },
        size: s.size,
        mode: s.mode,
    }))
}

/// The names of a directory's entries, sorted.
pub fn list(path: impl AsRef<str>) -> Result<Vec<String>> {
    Ok(wit::list(path.as_ref())?)
}

/// Create a directory, and its missing parents when `leading` is true.
pub fn mkdir(path: impl AsRef<str>, leading: bool) -> Result<()> {
    Ok(wit::mkdir(path.as_ref(), leading)?)
}

/// Remove a file, a symlink or a whole directory tree.
pub fn remove(path: impl AsRef<str>) -> Result<()> {
    Ok(wit::remove(path.as_ref())?)
}

/// Create a symbolic link at `path` pointing to `target`.
pub fn symlink(path: impl AsRef<str>, target: impl AsRef<str>) -> Result<()> {
    Ok(wit::symlink(path.as_ref(), target.as_ref())?)
}

/// Change an entry's permission bits.
pub fn chmod(path: impl AsRef<str>, mode: u32) -> Result<()> {
    Ok(wit::chmod(path.as_ref(), mode)?)
}
