//! The agent binary a remote deploy ships: berth itself, statically linked
//! (musl) so that it runs on any Linux of the controller's architecture,
//! stripped and built for size.
//!
//! Which file: `$BERTH_AGENT` when set; else this program, when it is
//! statically linked itself; else the static build beside this program's
//! build folder (`target/x86_64-unknown-linux-musl/agent/berth`, which
//! `scripts/setup` builds). Its sha256 names it in the targets' stores; it
//! is computed once per file and remembered beside the compile cache.

use sha2::Digest;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The environment variable that names the agent binary to ship.
pub const AGENT_ENV: &str = "BERTH_AGENT";

/// The architecture of this program, as Rust targets name it.
#[cfg(target_arch = "x86_64")]
macro_rules! arch {
    () => {
        "x86_64"
    };
}
#[cfg(target_arch = "aarch64")]
macro_rules! arch {
    () => {
        "aarch64"
    };
}

/// The Rust target of the static agent.
pub const AGENT_TARGET: &str = concat!(arch!(), "-unknown-linux-musl");

/// The commands that build the static agent.
pub const AGENT_BUILD: &str = concat!(
    "rustup target add ",
    arch!(),
    "-unknown-linux-musl && cargo build --locked --profile agent --target ",
    arch!(),
    "-unknown-linux-musl -p berth"
);

/// The agent binary to ship.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// The file.
    pub path: PathBuf,
    /// Its sha256.
    pub sha256: String,
}

impl Agent {
    /// Finds the agent binary (see the module's documentation) and its
    /// sha256, remembered in `cache_dir`.
    ///
    /// Errors: there is none; the message says the command that builds it.
    pub fn find(cache_dir: Option<&Path>) -> Result<Self, String> {
        let path = match std::env::var_os(AGENT_ENV) {
            Some(path) => {
                let path = PathBuf::from(path);
                if !path.is_file() {
                    return Err(format!(
                        "`{AGENT_ENV}` names `{}`, which is not a file",
                        path.display()
                    ));
                }
                path
            }
            None => default_agent()?,
        };
        let sha256 = remembered_sha256(&path, cache_dir)?;
        Ok(Self { path, sha256 })
    }
}

/// This program when it is static, else the static build beside it.
fn default_agent() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    if is_static(&exe) {
        return Ok(exe);
    }
    // target/<profile>/berth → target/<musl target>/agent/berth
    let beside = exe
        .parent()
        .and_then(Path::parent)
        .map(|target| target.join(AGENT_TARGET).join("agent").join("berth"));
    match beside {
        Some(path) if path.is_file() => Ok(path),
        Some(path) => Err(format!(
            "the static agent `{}` that remote deploys ship to the hosts is not built\n  hint: build it with `scripts/setup`, or with `{AGENT_BUILD}`; or name a berth binary for the hosts in `{AGENT_ENV}`",
            path.display()
        )),
        None => Err(format!(
            "cannot place the static agent beside `{}`\n  hint: name a static berth binary for the hosts in `{AGENT_ENV}`",
            exe.display()
        )),
    }
}

/// Whether the ELF file at `path` is statically linked: it names no
/// program interpreter (`PT_INTERP`).
pub fn is_static(path: &Path) -> bool {
    let mut head = vec![0u8; 4096];
    let Ok(n) = std::fs::File::open(path).and_then(|mut f| f.read(&mut head)) else {
        return false;
    };
    let head = &head[..n];
    // A 64-bit little-endian ELF file.
    if head.len() < 64 || &head[..4] != b"\x7fELF" || head[4] != 2 || head[5] != 1 {
        return false;
    }
    let u16_at = |o: usize| head.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u64_at = |o: usize| {
        head.get(o..o + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    const PT_INTERP: u32 = 3;
    (0..usize::from(phnum)).all(|i| {
        let at = phoff as usize + i * usize::from(phentsize);
        head.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .is_some_and(|p_type| p_type != PT_INTERP)
    })
}

/// The sha256 of the file at `path`; computed once for a file (by device,
/// inode, size and modification time) and remembered in
/// `cache_dir/agents`. A wrong answer cannot reach a target unchecked:
/// every upload is checked against its name there.
fn remembered_sha256(path: &Path, cache_dir: Option<&Path>) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("`{}`: {e}", path.display()))?;
    let key = format!(
        "{} {} {} {}.{:09}",
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec()
    );
    let memo = cache_dir.map(|d| d.join("agents"));
    let known = memo
        .as_ref()
        .and_then(|m| std::fs::read_to_string(m).ok())
        .unwrap_or_default();
    if let Some(sha) = known
        .lines()
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(k, _)| *k == key)
        .map(|(_, sha)| sha.to_string())
    {
        return Ok(sha);
    }
    let mut file = std::fs::File::open(path).map_err(|e| format!("`{}`: {e}", path.display()))?;
    let mut hasher = sha2::Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| format!("`{}`: {e}", path.display()))?;
    let sha = hex::encode(hasher.finalize());
    if let Some(memo) = memo {
        // Best effort: without it the next deploy hashes again. The last
        // few files stay.
        let mut lines: Vec<&str> = known.lines().rev().take(7).collect();
        lines.reverse();
        let text = format!(
            "{}{key} {sha}\n",
            lines.iter().map(|l| format!("{l}\n")).collect::<String>()
        );
        let temp = memo.with_extension(format!("{}.tmp", std::process::id()));
        if let Some(dir) = memo.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if std::fs::write(&temp, text).is_ok() {
            let _ = std::fs::rename(&temp, &memo);
        }
    }
    Ok(sha)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_dynamic_program_is_not_static() {
        // The test binary links the C library dynamically; a text file is
        // no ELF file.
        assert!(!is_static(&std::env::current_exe().unwrap()));
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("x");
        std::fs::write(&text, "#!/bin/sh\n").unwrap();
        assert!(!is_static(&text));
    }

    #[test]
    fn the_sha256_is_remembered_per_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("agent");
        std::fs::write(&file, b"abc").unwrap();
        let cache = dir.path().join("cache");
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(remembered_sha256(&file, Some(&cache)).unwrap(), abc);
        assert!(
            std::fs::read_to_string(cache.join("agents"))
                .unwrap()
                .ends_with(&format!("{abc}\n"))
        );
        assert_eq!(remembered_sha256(&file, Some(&cache)).unwrap(), abc);
        // Another file (another inode) is hashed again.
        let other = dir.path().join("other");
        std::fs::write(&other, b"abcd").unwrap();
        assert_ne!(remembered_sha256(&other, Some(&cache)).unwrap(), abc);
    }

    #[test]
    fn the_build_command_is_exact() {
        assert_eq!(
            AGENT_BUILD,
            format!(
                "rustup target add {a}-unknown-linux-musl && cargo build --locked --profile agent --target {a}-unknown-linux-musl -p berth",
                a = std::env::consts::ARCH
            )
        );
    }
}
