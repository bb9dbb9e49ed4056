//! The on-disk cache of compiled components.
//!
//! An entry is keyed by the sha256 of the `.wasm` file and the engine's
//! compatibility hash (wasmtime version, target and settings), so a stale
//! entry is never loaded: it simply is not found. Entries are written
//! atomically (temporary file, then rename), so concurrent runs and
//! interrupted runs never leave a half-written entry behind.

use sha2::Digest as _;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

#[derive(Debug)]
pub(crate) struct Cache {
    dir: Option<PathBuf>,
    compat: u64,
}

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
        }
    }

    fn entry(&self, sha256: &str) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        Some(dir.join(format!("{sha256}-{:016x}.cwasm", self.compat)))
    }

    /// The compiled component for `sha256`, when the cache holds a usable one.
    pub(crate) fn cached(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let entry = self.entry(sha256)?;
        let component = deserialize(engine, &entry).ok()?;
        crate::evict::touch(&entry);
        Some(component)
    }

    /// The digest and API version recorded for `path`, if the file is still
    /// the one they were computed from (same size, modification time and
    /// inode). Anything unreadable or different is simply not remembered.
    pub(crate) fn remembered(&self, path: &Path) -> Option<Digest> {
        let memo = self.memo(path)?;
        let text = std::fs::read_to_string(memo).ok()?;
        let mut fields = text.split_whitespace();
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
        // A memo that cannot be written only costs a hash on the next run.
        let _ = store(
            &memo,
            format!("{identity} {sha256} {api_version}\n").as_bytes(),
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
        let entry = self.entry(sha256);
        if let Some(entry) = &entry
            && entry.exists()
            && let Ok(component) = deserialize(engine, entry)
        {
            crate::evict::touch(entry);
            return Ok((component, CacheOutcome::Hit));
        }
        let component = Component::new(engine, bytes)?;
        if let Some(entry) = &entry {
            // A cache that cannot be written only costs time on the next run.
            match store(entry, &component.serialize()?) {
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

/// Size, modification time (ns) and inode: what changes when a file is
/// rewritten or replaced.
fn file_identity(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some(format!(
        "{}:{}.{}:{}",
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ino()
    ))
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, entry: &Path) -> wasmtime::Result<Component> {
    // SAFETY: wasmtime requires that the file holds code it serialized itself
    // and that nobody changes it while it is mapped. Entries are only written
    // by `store` below, under a name that includes the engine compatibility
    // hash, into the operator's own cache directory; they are replaced by
    // rename, never modified in place, so a mapped file stays intact.
    unsafe { Component::deserialize_file(engine, entry) }
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
