//! The native floor of berth's benchmark: what writing or checking the
//! bench's N files costs when nothing else is done, by the same rules.
//!
//! ```text
//! berth-floor each    DIR COUNT   per file: temporary, write, fsync, rename; then fsync DIR
//! berth-floor batched DIR COUNT   every temporary written, one syncfs, the renames, fsync DIR
//! berth-floor check   DIR COUNT   per file: open, fstat, read, compare, close
//! ```
//!
//! `DIR` is created when missing (and its parent fsynced). The content is
//! what `bench/components/many-files` renders from `file.j2` on host
//! `localhost`, byte for byte; the benchmark checks that. `check` exits 1
//! when a file is missing or differs.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::process::ExitCode;

unsafe extern "C" {
    fn syncfs(fd: i32) -> i32;
}

fn content(index: usize, count: usize) -> Vec<u8> {
    format!(
        "# file {index} of {count} on localhost\n\
         name = \"many-files-{index}\"\n\
         listen = \"127.0.0.1:{}\"\n\
         tag = \"bench\"\n\
         tag = \"berth\"\n",
        8000 + index
    )
    .into_bytes()
}

fn name(index: usize) -> String {
    format!("file-{index:04}.conf")
}

fn temp(index: usize) -> String {
    format!(".{}.tmp-{}", name(index), std::process::id())
}

fn create_temp(dir: &Path, index: usize, bytes: &[u8]) -> std::io::Result<File> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(dir.join(temp(index)))?;
    file.write_all(bytes)?;
    Ok(file)
}

fn ensure_dir(dir: &Path) -> std::io::Result<()> {
    if !dir.is_dir() {
        fs::create_dir_all(dir)?;
        if let Some(parent) = dir.parent() {
            File::open(parent)?.sync_all()?;
        }
    }
    Ok(())
}

fn each(dir: &Path, count: usize) -> std::io::Result<()> {
    ensure_dir(dir)?;
    for i in 0..count {
        let file = create_temp(dir, i, &content(i, count))?;
        file.sync_all()?;
        drop(file);
        fs::rename(dir.join(temp(i)), dir.join(name(i)))?;
    }
    File::open(dir)?.sync_all()
}

fn batched(dir: &Path, count: usize) -> std::io::Result<()> {
    ensure_dir(dir)?;
    for i in 0..count {
        create_temp(dir, i, &content(i, count))?;
    }
    let handle = File::open(dir)?;
    if count > 0 {
        // SAFETY: syncfs takes any open descriptor and touches no memory.
        if unsafe { syncfs(handle.as_raw_fd()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    for i in 0..count {
        fs::rename(dir.join(temp(i)), dir.join(name(i)))?;
    }
    handle.sync_all()
}

fn check(dir: &Path, count: usize) -> std::io::Result<bool> {
    let mut same = true;
    let mut buf = [0u8; 16 * 1024];
    for i in 0..count {
        let wanted = content(i, count);
        let Ok(mut file) = File::open(dir.join(name(i))) else {
            same = false;
            continue;
        };
        let size = file.metadata()?.len();
        if size != wanted.len() as u64 || size as usize > buf.len() {
            same = false;
            continue;
        }
        file.read_exact(&mut buf[..wanted.len()])?;
        same &= buf[..wanted.len()] == wanted[..];
    }
    Ok(same)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(dir), Some(count)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: berth-floor each|batched|check DIR COUNT");
        return ExitCode::from(2);
    };
    let Ok(count) = count.parse() else {
        eprintln!("berth-floor: COUNT must be a number, not `{count}`");
        return ExitCode::from(2);
    };
    let dir = Path::new(dir);
    let result = match mode.as_str() {
        "each" => each(dir, count).map(|()| true),
        "batched" => batched(dir, count).map(|()| true),
        "check" => check(dir, count),
        other => {
            eprintln!("berth-floor: unknown mode `{other}` (each, batched or check)");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("berth-floor: {mode} `{}`: {e}", dir.display());
            ExitCode::from(1)
        }
    }
}
