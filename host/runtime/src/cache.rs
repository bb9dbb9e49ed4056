//! The on-disk cache of compiled components.
//!
//! An entry is keyed by the sha256 of the `.wasm` file and the engine's
//! compatibility hash (wasmtime version, target and settings), so a stale
//! entry is never loaded: it simply is not found. Entries are written
//! atomically (temporary file, then rename), so concurrent runs and
//! interrupted runs never leave a half-written entry behind.
//!
//! An entry is native code that berth runs, so it is verified before it is
//! deserialized: beside it, in `macs/`, lies an HMAC-SHA256 of its bytes
//! (and of its name) under a key only this cache knows (`macs/key`, created
//! once from the system's random source, mode 0600). The folders are made
//! mode 0700, and a cache folder or key that someone else can write is not
//! used at all. An entry whose MAC does not match is compiled again and
//! replaced, with a warning. The first load reads and checks the bytes it
//! deserializes; it then records the entry's file identity (size, inode,
//! mtime, ctime) under a second MAC, and later loads of that same file map
//! it without hashing it again. A write to the entry changes its ctime, so
//! tampering at rest is caught either way; the folder is private to this
//! user, who alone could change a mapped entry while berth runs.

use hmac::Mac as _;
use sha2::Digest as _;
use std::hash::{Hash, Hasher};
use std::io::{Read as _, Write};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

#[derive(Debug)]
pub(crate) struct Cache {
    dir: Option<PathBuf>,
    compat: u64,
    /// The MAC key, read or created on first use; `None` when the cache
    /// cannot be trusted (then nothing is read from it nor written to it).
    key: std::sync::OnceLock<Option<[u8; 32]>>,
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// What a load found in the cache, for tracing and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// The compiled code came from the cache.
    Hit,
    /// The component was compiled (and stored when a cache is configured).
    Compiled,
}

impl Cache {
    pub(crate) fn new(engine: &Engine, dir: Option<PathBuf>) -> Self {
        // `DefaultHasher::new()` uses fixed keys: the value is stable for one
        // build of berth, and a new build changes the engine hash anyway.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Self {
            dir,
            compat: hasher.finish(),
            key: std::sync::OnceLock::new(),
        }
    }

    /// The key, once: read from `macs/key`, or created there.
    fn key(&self) -> Option<&[u8; 32]> {
        self.key
            .get_or_init(|| {
                let dir = self.dir.as_ref()?;
                match load_key(dir) {
                    Ok(key) => Some(key),
                    Err(e) => {
                        tracing::warn!(path = %dir.display(), error = %e,
                            "not using the component cache: it cannot be trusted");
                        None
                    }
                }
            })
            .as_ref()
    }

    /// The MAC of `bytes` stored under `name`, keyed with this cache's key.
    fn mac(&self, name: &str, bytes: &[u8]) -> Option<HmacSha256> {
        let mut mac = HmacSha256::new_from_slice(self.key()?).ok()?;
        mac.update(&(name.len() as u64).to_le_bytes());
        mac.update(name.as_bytes());
        mac.update(bytes);
        Some(mac)
    }

    /// Where the MACs of `entry` are kept; its modification time says when
    /// the entry was last used (see [`crate::evict`]).
    pub(crate) fn mac_path(entry: &Path) -> Option<PathBuf> {
        let name = entry.file_name()?.to_str()?;
        Some(entry.parent()?.join("macs").join(format!("{name}.mac")))
    }

    /// The MAC that records `identity` as the identity of entry `name`
    /// when its content was last checked.
    fn identity_mac(&self, name: &str, identity: &str) -> Option<HmacSha256> {
        self.mac(&format!("{name} identity"), identity.as_bytes())
    }

    /// The entry, when its MAC matches; a mismatch is warned about.
    ///
    /// Hashing a 35 MB compiled Python runtime on every load would cost more
    /// than the rest of a converged deploy, so the `.mac` file also records
    /// the entry's identity (size, inode, mtime and ctime) under a second
    /// MAC once its content was checked. An entry with that identity is
    /// mapped without reading it: any write changes its ctime, and without
    /// the key nobody can record another identity.
    fn verified(&self, entry: &Path) -> Option<Verified> {
        let name = entry.file_name()?.to_str()?;
        let file = std::fs::File::open(entry).ok()?;
        let identity = identity_of(&file.metadata().ok()?);
        let mac_path = Self::mac_path(entry)?;
        let text = std::fs::read_to_string(&mac_path).unwrap_or_default();
        let mut lines = text.lines().map(|l| hex::decode(l.trim()).ok());
        let (stored, seen) = (lines.next().flatten(), lines.next().flatten());
        if let (Some(seen), Some(mac)) = (&seen, self.identity_mac(name, &identity))
            && mac.verify_slice(seen).is_ok()
        {
            return Some(Verified::File(file));
        }
        let mut bytes = Vec::new();
        (&file).read_to_end(&mut bytes).ok()?;
        let ok = match (&stored, self.mac(name, &bytes)) {
            (Some(stored), Some(mac)) => mac.verify_slice(stored).is_ok(),
            _ => false,
        };
        if !ok {
            tracing::warn!(path = %entry.display(),
                "the compiled component in the cache does not match its checksum; compiling it again");
            return None;
        }
        // Checked: the next load of this very file maps it unread. A record
        // that cannot be written only costs a hash next time.
        if let Some(stored) = stored {
            let _ = self.store_mac(&mac_path, name, &stored, &identity);
        }
        Some(Verified::Bytes(bytes))
    }

    /// Writes the `.mac` file of entry `name`: its content MAC, then the
    /// MAC of the identity it had when that was checked.
    fn store_mac(
        &self,
        mac_path: &Path,
        name: &str,
        content_mac: &[u8],
        identity: &str,
    ) -> std::io::Result<()> {
        let Some(seen) = self.identity_mac(name, identity) else {
            return Ok(());
        };
        let text = format!(
            "{}\n{}\n",
            hex::encode(content_mac),
            hex::encode(seen.finalize().into_bytes())
        );
        store(mac_path, text.as_bytes())
    }

    /// Stores an entry and then its MAC.
    fn store_entry(&self, entry: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let (Some(name), Some(mac_path)) = (
            entry.file_name().and_then(|n| n.to_str()),
            Self::mac_path(entry),
        ) else {
            return Ok(());
        };
        let Some(mac) = self.mac(name, bytes) else {
            return Ok(());
        };
        store(entry, bytes)?;
        let identity = identity_of(&std::fs::metadata(entry)?);
        self.store_mac(&mac_path, name, &mac.finalize().into_bytes(), &identity)
    }

    fn entry(&self, sha256: &str) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        Some(dir.join(format!("{sha256}-{:016x}.cwasm", self.compat)))
    }

    /// The compiled component for `sha256`, when the cache holds a usable one.
    pub(crate) fn cached(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let entry = self.entry(sha256)?;
        let component = deserialize(engine, self.verified(&entry)?).ok()?;
        crate::evict::touch(&entry);
        Some(component)
    }

    /// The digest and API version recorded for `path`, if the file is still
    /// the one they were computed from (same size, modification time and
    /// inode). Anything unreadable or different is simply not remembered.
    pub(crate) fn remembered(&self, path: &Path) -> Option<Digest> {
        let memo = self.memo(path)?;
        let text = std::fs::read_to_string(&memo).ok()?;
        let (line, mac) = text.trim_end().rsplit_once(' ')?;
        let name = memo.file_name()?.to_str()?;
        self.mac(name, line.as_bytes())?
            .verify_slice(&hex::decode(mac).ok()?)
            .ok()?;
        let mut fields = line.split_whitespace();
        let (identity, sha256, api_version) = (fields.next()?, fields.next()?, fields.next()?);
        (identity == file_identity(path)?).then(|| Digest {
            sha256: sha256.to_string(),
            api_version: api_version.to_string(),
        })
    }

    /// Records the digest and API version of `path` for [`Cache::remembered`].
    pub(crate) fn remember(&self, path: &Path, sha256: &str, api_version: &str) {
        let (Some(memo), Some(identity)) = (self.memo(path), file_identity(path)) else {
            return;
        };
        let line = format!("{identity} {sha256} {api_version}");
        let Some(mac) = memo
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|name| self.mac(name, line.as_bytes()))
        else {
            return;
        };
        // A memo that cannot be written only costs a hash on the next run.
        let _ = store(
            &memo,
            format!("{line} {}\n", hex::encode(mac.finalize().into_bytes())).as_bytes(),
        );
    }

    fn memo(&self, path: &Path) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        let canonical = std::fs::canonicalize(path).ok()?;
        let key = sha2::Sha256::digest(canonical.as_os_str().as_encoded_bytes());
        Some(dir.join("digests").join(hex::encode(&key[..16])))
    }

    /// Loads the compiled component from the cache, or compiles and stores it.
    pub(crate) fn load(
        &self,
        engine: &Engine,
        sha256: &str,
        bytes: &[u8],
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let entry = self.entry(sha256).filter(|_| self.key().is_some());
        if let Some(entry) = &entry
            && entry.exists()
            && let Some(cached) = self.verified(entry)
            && let Ok(component) = deserialize(engine, cached)
        {
            crate::evict::touch(entry);
            return Ok((component, CacheOutcome::Hit));
        }
        let component = Component::new(engine, bytes)?;
        if let Some(entry) = &entry {
            // A cache that cannot be written only costs time on the next run.
            match self.store_entry(entry, &component.serialize()?) {
                Ok(()) => crate::evict::after_store(entry),
                Err(e) => {
                    tracing::warn!(path = %entry.display(), error = %e, "cannot write the component cache")
                }
            }
        }
        Ok((component, CacheOutcome::Compiled))
    }
}

/// What [`Cache::remembered`] knows about a file.
#[derive(Debug)]
pub(crate) struct Digest {
    pub(crate) sha256: String,
    pub(crate) api_version: String,
}

/// What changes when a file is rewritten or replaced: size, modification
/// and change time (ns), inode. The change time cannot be set back, so a
/// write that restores the modification time still shows.
fn file_identity(path: &Path) -> Option<String> {
    Some(identity_of(&std::fs::metadata(path).ok()?))
}

fn identity_of(meta: &std::fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    format!(
        "{}:{}.{}:{}.{}:{}",
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec(),
        meta.ino()
    )
}

/// A cache entry whose MAC matched: its bytes as read and hashed, or the
/// open file whose recorded identity matched.
enum Verified {
    Bytes(Vec<u8>),
    File(std::fs::File),
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, entry: Verified) -> wasmtime::Result<Component> {
    match entry {
        // SAFETY: wasmtime requires that the bytes hold code it serialized
        // itself. They were read once and their MAC checked against the key
        // of this cache, which only berth (as this user) can read and write:
        // they are bytes a `store_entry` of this cache wrote, under a name
        // that includes the engine compatibility hash.
        Verified::Bytes(bytes) => unsafe { Component::deserialize(engine, bytes) },
        // SAFETY: as above, for the file whose identity was recorded under
        // the key when its bytes were checked. The path under /proc names
        // the open file itself, so a file renamed over the entry since is
        // not the one mapped.
        Verified::File(file) => {
            use std::os::fd::AsRawFd as _;
            let path = format!("/proc/self/fd/{}", file.as_raw_fd());
            unsafe { Component::deserialize_file(engine, path) }
        }
    }
}

/// Reads the cache's key, or creates it; refuses a cache folder, a `macs/`
/// folder or a key that another user owns or that group or others can
/// write.
fn load_key(dir: &Path) -> std::io::Result<[u8; 32]> {
    use std::io::Read as _;
    use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
    let macs = dir.join("macs");
    private_dir(dir)?;
    private_dir(&macs)?;
    let path = macs.join("key");
    let mut key = [0u8; 32];
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
    {
        Ok(mut file) => {
            getrandom::fill(&mut key).map_err(std::io::Error::other)?;
            file.write_all(&key)?;
            file.sync_all()?;
            return Ok(key);
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let mut file = std::fs::File::open(&path)?;
    let meta = file.metadata()?;
    if meta.uid() != rustix::process::geteuid().as_raw() || meta.mode() & 0o077 != 0 {
        return Err(std::io::Error::other(format!(
            "`{}` is readable or writable by others",
            path.display()
        )));
    }
    file.read_exact(&mut key)?;
    Ok(key)
}

/// Creates `dir` mode 0700 or checks that nobody else can write it.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::metadata(dir)?;
    if meta.uid() != rustix::process::geteuid().as_raw() || meta.mode() & 0o022 != 0 {
        return Err(std::io::Error::other(format!(
            "`{}` is not owned by this user or can be written by others",
            dir.display()
        )));
    }
    Ok(())
}

fn store(entry: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = entry.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(entry).map_err(|e| e.error)?;
    Ok(())
}

/// The cache directory berth uses when none is configured:
/// `$BERTH_CACHE_DIR`, else `$XDG_CACHE_HOME/berth`, else `~/.cache/berth`.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("BERTH_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(dir).join("berth"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache").join("berth"))
}
