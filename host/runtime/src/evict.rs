//! Keeping the compile cache under its size cap.
//!
//! Every entry (`*.cwasm`) counts; the modification time of its MAC file
//! (`macs/<entry>.mac`) says when it was last used (a cache hit sets it to
//! now; the entry itself is never touched, so that its recorded identity
//! stays valid and a hit needs no hash), so when the cache grows past its
//! cap the least recently used entries go first, with their MACs. The cap is
//! `$BERTH_CACHE_MAX_SIZE` (`500M`, `2G`, `1.5 GiB`, a number of bytes),
//! else [`DEFAULT_MAX_SIZE`]; `berth cache prune` trims to any size.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The cap when `$BERTH_CACHE_MAX_SIZE` is not set: 1 GiB.
pub const DEFAULT_MAX_SIZE: u64 = 1 << 30;

/// The variable that sets the cap.
pub const MAX_SIZE_VAR: &str = "BERTH_CACHE_MAX_SIZE";

/// Parses a size: bytes, or a number with a unit (`K`, `M`, `G`, `KiB`, …;
/// `K`, `M`, `G` are powers of 1024, as `du -h` shows them).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let bad = || format!("`{text}` is not a size; write it like `500M`, `2G` or `1048576`");
    let number: f64 = number.parse().map_err(|_| bad())?;
    let unit = unit.trim().to_ascii_lowercase();
    let factor: u64 = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err(bad()),
    };
    // Sizes are far below 2^53: the float is exact enough.
    Ok((number * factor as f64) as u64)
}

/// A size the way `du -h` says it: `512 B`, `3.4 MiB`, `1.0 GiB`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The cap in force: `$BERTH_CACHE_MAX_SIZE`, else [`DEFAULT_MAX_SIZE`].
///
/// Fails when the variable is set but is not a size.
pub fn max_size() -> Result<u64, String> {
    match std::env::var(MAX_SIZE_VAR) {
        Ok(text) if !text.trim().is_empty() => {
            parse_size(&text).map_err(|e| format!("{MAX_SIZE_VAR}: {e}"))
        }
        _ => Ok(DEFAULT_MAX_SIZE),
    }
}

/// What the cache holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheInfo {
    /// Its folder.
    pub dir: PathBuf,
    /// Compiled components in it.
    pub entries: usize,
    /// Their total size in bytes.
    pub bytes: u64,
}

/// What [`prune`] removed and kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pruned {
    /// Entries removed.
    pub removed: usize,
    /// Bytes freed.
    pub freed: u64,
    /// What is left.
    pub left: CacheInfo,
}

struct Entry {
    path: PathBuf,
    bytes: u64,
    used: SystemTime,
}

fn entries(dir: &Path) -> std::io::Result<Vec<Entry>> {
    let read = match std::fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in read {
        let entry = entry?;
        let path = entry.path();
        if path.extension().is_none_or(|x| x != "cwasm") {
            continue;
        }
        // An entry another run removed meanwhile is simply gone.
        let Ok(meta) = entry.metadata() else { continue };
        let used = crate::cache::Cache::mac_path(&path)
            .and_then(|mac| std::fs::metadata(mac).ok())
            .unwrap_or_else(|| meta.clone())
            .modified()
            .unwrap_or(SystemTime::UNIX_EPOCH);
        out.push(Entry {
            bytes: meta.len(),
            used,
            path,
        });
    }
    Ok(out)
}

/// What the cache in `dir` holds (nothing, when it does not exist).
pub fn info(dir: &Path) -> std::io::Result<CacheInfo> {
    let entries = entries(dir)?;
    Ok(CacheInfo {
        dir: dir.to_owned(),
        entries: entries.len(),
        bytes: entries.iter().map(|e| e.bytes).sum(),
    })
}

/// Removes the least recently used entries of the cache in `dir` until its
/// entries take at most `max_bytes`, but never `keep` (the entry a run has
/// just written and is about to use).
pub fn prune_keeping(dir: &Path, max_bytes: u64, keep: Option<&Path>) -> std::io::Result<Pruned> {
    let mut entries = entries(dir)?;
    // Most recently used first; the tail goes.
    entries.sort_by(|a, b| b.used.cmp(&a.used).then_with(|| a.path.cmp(&b.path)));
    let mut total: u64 = entries.iter().map(|e| e.bytes).sum();
    let (mut removed, mut freed) = (0, 0);
    while total > max_bytes {
        let Some(i) = entries.iter().rposition(|e| Some(e.path.as_path()) != keep) else {
            break;
        };
        let entry = entries.remove(i);
        match std::fs::remove_file(&entry.path) {
            Ok(()) => {
                removed += 1;
                freed += entry.bytes;
                if let Some(mac) = crate::cache::Cache::mac_path(&entry.path) {
                    let _ = std::fs::remove_file(mac);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        total -= entry.bytes;
    }
    Ok(Pruned {
        removed,
        freed,
        left: CacheInfo {
            dir: dir.to_owned(),
            entries: entries.len(),
            bytes: total,
        },
    })
}

/// Removes the least recently used entries until the cache fits
/// `max_bytes`; `0` empties it.
pub fn prune(dir: &Path, max_bytes: u64) -> std::io::Result<Pruned> {
    prune_keeping(dir, max_bytes, None)
}

/// Marks `entry` as used now, so that eviction keeps it longer.
pub(crate) fn touch(entry: &Path) {
    // A time that cannot be set only makes the entry look older.
    if let Some(mac) = crate::cache::Cache::mac_path(entry)
        && let Ok(file) = std::fs::File::open(mac)
    {
        let _ = file.set_modified(SystemTime::now());
    }
}

/// After a new entry was stored: trims the cache to its cap, keeping the
/// new entry. Failures only cost disk space, so they are traced, not
/// returned.
pub(crate) fn after_store(entry: &Path) {
    let Some(dir) = entry.parent() else { return };
    let max = match max_size() {
        Ok(max) => max,
        Err(e) => {
            tracing::warn!(error = %e, "the compile cache is not trimmed");
            return;
        }
    };
    match prune_keeping(dir, max, Some(entry)) {
        Ok(p) if p.removed > 0 => tracing::debug!(
            removed = p.removed,
            freed = p.freed,
            left = p.left.bytes,
            "compile cache trimmed to its cap"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "cannot trim the compile cache"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// An entry and its MAC file, last used `age_secs` ago.
    fn entry(dir: &Path, name: &str, bytes: usize, age_secs: u64) -> PathBuf {
        let path = dir.join(format!("{name}.cwasm"));
        std::fs::write(&path, vec![0u8; bytes]).unwrap();
        let mac = crate::cache::Cache::mac_path(&path).unwrap();
        std::fs::create_dir_all(mac.parent().unwrap()).unwrap();
        std::fs::write(&mac, "mac\n").unwrap();
        std::fs::File::open(&mac)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(age_secs))
            .unwrap();
        path
    }

    fn mac(entry: &Path) -> PathBuf {
        crate::cache::Cache::mac_path(entry).unwrap()
    }

    #[test]
    fn sizes_parse_and_print() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("500M"), Ok(500 << 20));
        assert_eq!(parse_size("1.5 GiB"), Ok(3 << 29));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert!(
            parse_size("lots")
                .unwrap_err()
                .contains("`lots` is not a size")
        );
        assert_eq!(format_size(512), "512 B");
        assert_eq!(format_size(3 << 20), "3.0 MiB");
    }

    #[test]
    fn the_least_recently_used_go_first_and_the_kept_one_stays() {
        let dir = tempfile::tempdir().unwrap();
        let old = entry(dir.path(), "old", 100, 300);
        let mid = entry(dir.path(), "mid", 100, 200);
        let new = entry(dir.path(), "new", 100, 100);
        std::fs::create_dir(dir.path().join("digests")).unwrap();
        assert_eq!(info(dir.path()).unwrap().bytes, 300);

        // A use marks the MAC file, never the entry: its identity stays.
        let before = std::fs::metadata(&old).unwrap().modified().unwrap();
        touch(&old);
        assert_eq!(std::fs::metadata(&old).unwrap().modified().unwrap(), before);
        let p = prune(dir.path(), 200).unwrap();
        assert_eq!((p.removed, p.freed, p.left.entries), (1, 100, 2));
        assert!(!mid.exists() && old.exists() && new.exists());
        assert!(!mac(&mid).exists() && mac(&old).exists());

        let p = prune_keeping(dir.path(), 0, Some(&new)).unwrap();
        assert_eq!((p.removed, p.left.entries), (1, 1));
        assert!(new.exists() && !old.exists());
        assert_eq!(prune(dir.path(), 0).unwrap().left.entries, 0);
        assert!(dir.path().join("digests").is_dir());
    }
}
