//! The converged path of a file: open once, compare by streaming.

use std::io::{self, Read as _};

use cap_std::fs::{MetadataExt as _, OpenOptions, OpenOptionsExt as _};

use crate::error::FsError;
use crate::fs::{Kind, READ, Sandbox, map_io};

/// What [`Sandbox::compare`] found at a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Comparison {
    /// Nothing is there.
    Missing,
    /// A symlink whose target does not exist.
    DanglingSymlink,
    /// Something that is not a regular file (a link is followed).
    NotAFile(Kind),
    /// A regular file with exactly the wanted bytes.
    Same {
        /// Its permission bits.
        mode: u32,
    },
    /// A regular file with other bytes.
    Differs {
        /// Its permission bits.
        mode: u32,
        /// Its size in bytes.
        size: u64,
        /// Its whole content, when it is at most the `keep` bytes passed
        /// to [`Sandbox::compare`] (for a diff); `None` when larger.
        current: Option<Vec<u8>>,
    },
}

/// The size of the buffer the comparison reads into.
const CHUNK: usize = 16 * 1024;

impl Sandbox {
    /// Compares the file at `path` (a symlink is followed inside its root)
    /// with `wanted`, opening it once and reading it at most once.
    ///
    /// When the sizes already differ, a file larger than `keep` bytes is
    /// not read at all; otherwise reading stops at the first difference,
    /// and the current content is returned only when it is at most `keep`
    /// bytes. A staged write of `path` is committed first.
    ///
    /// # Errors
    ///
    /// As [`Sandbox::read`], except that a missing file or a missing root is
    /// [`Comparison::Missing`].
    pub fn compare(&self, path: &str, wanted: &[u8], keep: usize) -> Result<Comparison, FsError> {
        let r = self.resolve(path, READ)?;
        let dir = match self.dir(&r, path, READ) {
            Ok(d) => d,
            Err(FsError::NotFound(_)) => return Ok(Comparison::Missing),
            Err(e) => return Err(e),
        };
        self.commit_if_staged(&r)?;
        let fail = |e: io::Error| map_io(e, READ, &r.host());
        // Non-blocking, so that a fifo in the way cannot hang the run.
        let flags = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY;
        let opened = dir.open_with(
            r.cap(),
            OpenOptions::new()
                .read(true)
                .custom_flags(flags.bits() as i32),
        );
        let mut file = match opened {
            Ok(f) => f,
            Err(e) if is_missing(&e) => {
                return Ok(match dir.symlink_metadata(r.cap()) {
                    Ok(m) if m.is_symlink() => Comparison::DanglingSymlink,
                    _ => Comparison::Missing,
                });
            }
            // A socket cannot be opened.
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NXIO.raw_os_error()) => {
                return Ok(Comparison::NotAFile(Kind::Other));
            }
            Err(e) => return Err(fail(e)),
        };
        let meta = file.metadata().map_err(fail)?;
        let ft = meta.file_type();
        if !ft.is_file() {
            let kind = if ft.is_dir() {
                Kind::Directory
            } else {
                Kind::Other
            };
            return Ok(Comparison::NotAFile(kind));
        }
        let mode = meta.mode() & 0o7777;
        let size = meta.len();
        let keep_current = size <= keep as u64;
        if size != wanted.len() as u64 {
            return differs(&mut file, mode, size, keep_current, &[]).map_err(fail);
        }
        // Same size: read up to the size fstat gave, chunk by chunk, and
        // stop at the first difference. No read past the end.
        // Sized to the file, at most a chunk: zeroing costs as much as reading.
        let mut buf = vec![0u8; wanted.len().min(CHUNK)];
        let mut at = 0;
        while at < wanted.len() {
            let want = (wanted.len() - at).min(buf.len());
            let n = match file.read(&mut buf[..want]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(fail(e)),
            };
            if n == 0 || buf[..n] != wanted[at..at + n] {
                // Shrunk meanwhile, or a difference: keep what was read.
                let read = [&wanted[..at], &buf[..n]];
                return differs(&mut file, mode, size, keep_current, &read).map_err(fail);
            }
            at += n;
        }
        Ok(Comparison::Same { mode })
    }
}

/// Reads on into `all` up to `size` bytes in total (the size fstat gave),
/// or to the end when the file shrank: no size query, no read past it.
/// A file that differs from what is wanted. With `keep`, its whole content
/// comes along for a diff: `read` is what was already read of it, in order,
/// and the rest is read up to `size`.
fn differs(
    file: &mut cap_std::fs::File,
    mode: u32,
    size: u64,
    keep: bool,
    read: &[&[u8]],
) -> io::Result<Comparison> {
    let current = if keep {
        let mut all = Vec::with_capacity(size as usize);
        for part in read {
            all.extend_from_slice(part);
        }
        read_rest(file, &mut all, size)?;
        Some(all)
    } else {
        None
    };
    Ok(Comparison::Differs {
        mode,
        size,
        current,
    })
}

fn read_rest(file: &mut cap_std::fs::File, all: &mut Vec<u8>, size: u64) -> io::Result<()> {
    let mut at = all.len();
    all.resize(size as usize, 0);
    while at < all.len() {
        match file.read(&mut all[at..]) {
            Ok(0) => break,
            Ok(n) => at += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    all.truncate(at);
    Ok(())
}

fn is_missing(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
        || e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error())
}
