//! Packages a repository takes from outside `components/`: from the
//! find-links folders or a path named in `packages.cfg`, each pinned by the
//! sha256 of its file in `packages.lock`.
//!
//! [`lock`] computes the pins and writes the lock file; [`pinned`] checks
//! that the lock is up to date with `packages.cfg` and the folders;
//! [`read_verified`] reads a pinned file once and refuses it unless its
//! bytes have the pinned sha256, and those very bytes are then compiled.

use crate::repo::Repository;
use berth_build::{Contents, PackagedFile};
use berth_config::{Lock, Origin, PackagesConfig, Pin, Requested};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why the packages of `packages.cfg` cannot be locked or loaded.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    /// A package file's bytes do not have the pinned sha256.
    #[error(
        "`{}` (package `{name}`) does not have the sha256 pinned in `{}`, so it was not loaded\n  pinned  {pinned}\n  actual  {actual}\n  hint: if this change is intended, run `berth lock`",
        file.display(), lock.display()
    )]
    Mismatch {
        /// The package.
        name: String,
        /// Its file.
        file: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// The sha256 in the lock.
        pinned: String,
        /// The sha256 of the file now.
        actual: String,
    },
    /// A package is used but not pinned.
    #[error(
        "package `{name}` (`{}`) is not pinned in `{}`\n  hint: run `berth lock` to pin it, and review the change",
        file.display(), lock.display()
    )]
    NotPinned {
        /// The package.
        name: String,
        /// The file it would come from.
        file: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// The lock no longer matches `packages.cfg` or the folders.
    #[error(
        "{origin}: the pin of package `{name}` is out of date: {reason}\n  hint: run `berth lock`"
    )]
    Stale {
        /// The package.
        name: String,
        /// The pin's line in the lock.
        origin: Origin,
        /// What changed.
        reason: String,
    },
    /// A package asked for is in none of the find-links folders.
    #[error("{origin}: package `{name}` is not in {searched}{}", hint(suggestion))]
    NotFound {
        /// The package.
        name: String,
        /// Where it was asked for.
        origin: Origin,
        /// The folders searched, in words.
        searched: String,
        /// A close name that was found.
        suggestion: Option<String>,
    },
    /// The version asked for is not in the find-links folders.
    #[error(
        "{origin}: package `{name}` has no version {version} in the find-links folders; there are {available}"
    )]
    NoVersion {
        /// The package.
        name: String,
        /// Where the version was asked for.
        origin: Origin,
        /// The version asked for.
        version: String,
        /// The versions there are.
        available: String,
    },
    /// A name is both a folder of `components/` and a package from outside.
    #[error(
        "package `{name}` is defined twice: `{}` and `{}`\n  hint: remove one of them (or rename it)",
        component.display(), file.display()
    )]
    Twice {
        /// The package.
        name: String,
        /// Its folder in `components/`.
        component: PathBuf,
        /// The package file.
        file: PathBuf,
    },
    /// A file is not a package `berth package` wrote, or not the one its
    /// name or pin says.
    #[error("`{}` is not a usable package: {message}", file.display())]
    Invalid {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A Python package needs a Python runtime this berth does not have.
    #[error(
        "`{}` (package `{name}`) needs berth's Python runtime {needs}, but this berth has Python runtime {has}\n  hint: deploy it with a berth whose Python runtime is {needs}, or package `{name}` again with this berth",
        file.display()
    )]
    Runtime {
        /// The package.
        name: String,
        /// Its file.
        file: PathBuf,
        /// The runtime version it names.
        needs: String,
        /// This berth's runtime version.
        has: String,
    },
    /// A file or folder could not be read or written.
    #[error("cannot {action} `{}`: {source}{}", path.display(), hint(hint_text))]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
        /// What to do.
        hint_text: Option<String>,
    },
}

fn hint(text: &Option<String>) -> String {
    text.as_ref()
        .map(|t| format!("\n  hint: {t}"))
        .unwrap_or_default()
}

/// A package file found in a find-links folder.
#[derive(Debug, Clone)]
struct Found {
    version: semver::Version,
    /// The folder as written in `packages.cfg`, joined with the file name.
    file: PathBuf,
}

/// Where one used package comes from, before it is pinned.
#[derive(Debug, Clone)]
struct Wanted {
    name: String,
    /// The file, relative to the repository root unless absolute.
    file: PathBuf,
    /// The version its file name or `packages.cfg` says, when one does.
    version: Option<semver::Version>,
    /// Where `packages.cfg` asks for it, when it does.
    request: Option<Requested>,
}

/// One change `berth lock` made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A new pin.
    Added(Pin),
    /// A pin that moved to another file, version or sha256.
    Changed {
        /// The pin before.
        old: Pin,
        /// The pin now.
        new: Pin,
    },
    /// A pin of a package no longer used.
    Removed(Pin),
    /// A pin that stayed as it was.
    Unchanged(Pin),
}

/// What [`lock`] did.
#[derive(Debug, Clone)]
pub struct Locked {
    /// The lock file.
    pub file: PathBuf,
    /// One change per package, sorted by name.
    pub changes: Vec<Change>,
}

/// A package of the repository pinned in the lock, ready to be read.
#[derive(Debug, Clone)]
pub struct Pinned {
    /// The pin.
    pub pin: Pin,
    /// The file, as reached from the repository path (for messages).
    pub shown: PathBuf,
    /// The file's absolute path.
    pub path: PathBuf,
}

/// Computes the pin of every package of `packages.cfg` — its `path`, its
/// `version` in the find-links folders, or else the highest version there
/// (releases before pre-releases) — reading and hashing each file once,
/// and writes `packages.lock` (only when it changes). `shown` is the
/// repository as the user named it, for messages.
///
/// Errors: a bad `packages.cfg`, a missing find-links folder, a package
/// asked for that is not there, a file that is not a package of that name
/// and version, an unwritable lock.
pub fn lock(repo: &Repository, shown: &Path) -> Result<Locked, crate::EngineError> {
    let config = berth_config::load_packages_config(shown)?;
    let old = berth_config::load_lock(shown)?;
    let lock_file = in_repo(shown, Path::new(berth_config::LOCK_FILE));
    let mut pins = Vec::new();
    for wanted in wanted(repo, shown, config.as_ref())? {
        let path = repo.root.join(&wanted.file);
        let bytes = read(&path, &in_repo(shown, &wanted.file), None)?;
        let contents = check_contents(&in_repo(shown, &wanted.file), &wanted, &bytes)?;
        pins.push(Pin {
            name: wanted.name,
            version: parse_version(&in_repo(shown, &wanted.file), &contents.metadata.version)?,
            file: wanted.file,
            sha256: hex::encode(Sha256::digest(&bytes)),
            origin: None,
        });
    }
    let mut old: BTreeMap<String, Pin> = old
        .map(|l| l.pins.into_iter().map(|p| (p.name.clone(), p)).collect())
        .unwrap_or_default();
    let mut changes = Vec::new();
    for pin in &pins {
        changes.push(match old.remove(&pin.name) {
            None => Change::Added(pin.clone()),
            Some(before) if same_pin(&before, pin) => Change::Unchanged(pin.clone()),
            Some(before) => Change::Changed {
                old: before,
                new: pin.clone(),
            },
        });
    }
    changes.extend(old.into_values().map(Change::Removed));
    changes.sort_by(|a, b| change_name(a).cmp(change_name(b)));
    let text = berth_config::render_lock(&pins);
    write(
        &repo.root.join(berth_config::LOCK_FILE),
        &lock_file,
        text.as_bytes(),
    )?;
    Ok(Locked {
        file: lock_file,
        changes,
    })
}

fn same_pin(a: &Pin, b: &Pin) -> bool {
    (&a.name, &a.version, &a.file, &a.sha256) == (&b.name, &b.version, &b.file, &b.sha256)
}

fn change_name(change: &Change) -> &str {
    match change {
        Change::Added(p) | Change::Removed(p) | Change::Unchanged(p) => &p.name,
        Change::Changed { new, .. } => &new.name,
    }
}

/// The packages of `packages.cfg` with their pins, after checking that
/// `packages.lock` pins every one of them as `packages.cfg` asks and pins
/// nothing else. Reads no package file.
pub fn pinned(repo: &Repository, shown: &Path) -> Result<Vec<Pinned>, crate::EngineError> {
    let config = berth_config::load_packages_config(shown)?;
    let lock = berth_config::load_lock(shown)?;
    let lock_file = in_repo(shown, Path::new(berth_config::LOCK_FILE));
    let mut pins: BTreeMap<String, Pin> = lock
        .map(|Lock { pins, .. }| pins.into_iter().map(|p| (p.name.clone(), p)).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    for wanted in wanted(repo, shown, config.as_ref())? {
        let Some(pin) = pins.remove(&wanted.name) else {
            return Err(PinError::NotPinned {
                name: wanted.name,
                file: in_repo(shown, &wanted.file),
                lock: lock_file,
            }
            .into());
        };
        let origin = pin
            .origin
            .clone()
            .unwrap_or_else(|| Origin::new(&lock_file, 1));
        let stale = |reason: String| PinError::Stale {
            name: pin.name.clone(),
            origin: origin.clone(),
            reason,
        };
        match &wanted.request {
            Some(Requested::Path(path, at)) if *path != pin.file => {
                return Err(stale(format!(
                    "{at} takes it from `{}`, the lock pins `{}`",
                    path.display(),
                    pin.file.display()
                ))
                .into());
            }
            Some(Requested::Version(version, at)) if *version != pin.version => {
                return Err(stale(format!(
                    "{at} asks for version {version}, the lock pins {}",
                    pin.version
                ))
                .into());
            }
            _ => {}
        }
        out.push(Pinned {
            shown: in_repo(shown, &pin.file),
            path: repo.root.join(&pin.file),
            pin,
        });
    }
    if let Some(pin) = pins.into_values().next() {
        let origin = pin.origin.unwrap_or_else(|| Origin::new(&lock_file, 1));
        return Err(PinError::Stale {
            name: pin.name,
            origin,
            reason: "`packages.cfg` and its find-links folders no longer have it".into(),
        }
        .into());
    }
    Ok(out)
}

/// Reads a pinned package file once, and returns its bytes only when their
/// sha256 is the pinned one, with the package's contents read from the
/// same bytes. Compile exactly these bytes: reading the file again could
/// see another file.
pub fn read_verified(
    pinned: &Pinned,
    lock: &Path,
) -> Result<(Vec<u8>, Contents), crate::EngineError> {
    let bytes = read(
        &pinned.path,
        &pinned.shown,
        Some("if the package moved or was removed, run `berth lock`"),
    )?;
    let actual = hex::encode(Sha256::digest(&bytes));
    if actual != pinned.pin.sha256 {
        return Err(PinError::Mismatch {
            name: pinned.pin.name.clone(),
            file: pinned.shown.clone(),
            lock: lock.to_path_buf(),
            pinned: pinned.pin.sha256.clone(),
            actual,
        }
        .into());
    }
    let wanted = Wanted {
        name: pinned.pin.name.clone(),
        file: pinned.pin.file.clone(),
        version: Some(pinned.pin.version.clone()),
        request: None,
    };
    let contents = check_contents(&pinned.shown, &wanted, &bytes)?;
    Ok((bytes, contents))
}

/// Writes a package's data files into `dir` (its defdir), unless `dir`
/// holds exactly them already; anything else in `dir` is removed.
pub fn unpack(dir: &Path, files: &[PackagedFile]) -> Result<(), crate::EngineError> {
    if holds_exactly(dir, files) {
        return Ok(());
    }
    let io = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| PinError::Io {
            action,
            path,
            source,
            hint_text: None,
        }
    };
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(io("clear", dir)(e).into());
        }
        _ => {}
    }
    std::fs::create_dir_all(dir).map_err(io("create", dir))?;
    for file in files {
        use std::os::unix::fs::PermissionsExt;
        // `decode_files` refused any path that leaves the folder.
        let path = dir.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io("create", parent))?;
        }
        std::fs::write(&path, &file.content).map_err(io("write", &path))?;
        let mode = if file.executable { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(io("chmod", &path))?;
    }
    Ok(())
}

/// Whether `dir` holds exactly `files` (content and executable bit), and
/// nothing else: no other file, no symbolic link.
fn holds_exactly(dir: &Path, files: &[PackagedFile]) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let mut count = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            return false;
        };
        for entry in entries {
            let Ok(entry) = entry else { return false };
            let Ok(kind) = entry.file_type() else {
                return false;
            };
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                count += 1;
            } else {
                return false;
            }
        }
    }
    count == files.len()
        && files.iter().all(|file| {
            let path = dir.join(&file.path);
            std::fs::symlink_metadata(&path).is_ok_and(|m| {
                m.is_file() && (m.permissions().mode() & 0o111 != 0) == file.executable
            }) && std::fs::read(&path).is_ok_and(|c| c == file.content)
        })
}

/// Every package `packages.cfg` uses: each `[package:NAME]`, and each name
/// with a file in a find-links folder.
fn wanted(
    repo: &Repository,
    shown: &Path,
    config: Option<&PackagesConfig>,
) -> Result<Vec<Wanted>, crate::EngineError> {
    let Some(config) = config else {
        return Ok(Vec::new());
    };
    let found = scan(repo, shown, config)?;
    let mut wanted: BTreeMap<String, Wanted> = BTreeMap::new();
    for request in &config.packages {
        let versions = found.get(&request.name).map(Vec::as_slice).unwrap_or(&[]);
        let w = match &request.source {
            Requested::Path(path, _) => Wanted {
                name: request.name.clone(),
                file: path.clone(),
                version: None,
                request: Some(request.source.clone()),
            },
            Requested::Version(version, at) => {
                let Some(f) = versions.iter().find(|f| f.version == *version) else {
                    if versions.is_empty() {
                        return Err(not_found(config, &request.name, at, &found).into());
                    }
                    return Err(PinError::NoVersion {
                        name: request.name.clone(),
                        origin: at.clone(),
                        version: version.to_string(),
                        available: versions
                            .iter()
                            .map(|f| format!("{} (`{}`)", f.version, f.file.display()))
                            .collect::<Vec<_>>()
                            .join(", "),
                    }
                    .into());
                };
                Wanted {
                    name: request.name.clone(),
                    file: f.file.clone(),
                    version: Some(f.version.clone()),
                    request: Some(request.source.clone()),
                }
            }
            Requested::Highest => {
                let Some(f) = highest(versions) else {
                    return Err(not_found(config, &request.name, &request.origin, &found).into());
                };
                Wanted {
                    name: request.name.clone(),
                    file: f.file.clone(),
                    version: Some(f.version.clone()),
                    request: None,
                }
            }
        };
        wanted.insert(request.name.clone(), w);
    }
    for (name, versions) in &found {
        if wanted.contains_key(name) {
            continue;
        }
        if let Some(f) = highest(versions) {
            wanted.insert(
                name.clone(),
                Wanted {
                    name: name.clone(),
                    file: f.file.clone(),
                    version: Some(f.version.clone()),
                    request: None,
                },
            );
        }
    }
    Ok(wanted.into_values().collect())
}

/// The highest release, or the highest pre-release when there is no
/// release (as pip does).
fn highest(versions: &[Found]) -> Option<&Found> {
    versions
        .iter()
        .filter(|f| f.version.pre.is_empty())
        .max_by(|a, b| a.version.cmp(&b.version))
        .or_else(|| versions.iter().max_by(|a, b| a.version.cmp(&b.version)))
}

fn not_found(
    config: &PackagesConfig,
    name: &str,
    origin: &Origin,
    found: &BTreeMap<String, Vec<Found>>,
) -> PinError {
    let searched = if config.find_links.is_empty() {
        "any find-links folder: `packages.cfg` has no `find-links` in [packages]".to_owned()
    } else {
        format!(
            "the find-links folders {}",
            config
                .find_links
                .iter()
                .map(|(p, _)| format!("`{}`", p.display()))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    PinError::NotFound {
        name: name.to_owned(),
        origin: origin.clone(),
        searched,
        suggestion: berth_config::did_you_mean(name, found.keys().map(String::as_str))
            .map(|s| format!("did you mean `{s}`?")),
    }
}

/// The `<name>-<version>.wasm` files of the find-links folders, by name.
/// When two folders hold the same name and version, the earlier folder wins.
fn scan(
    repo: &Repository,
    shown: &Path,
    config: &PackagesConfig,
) -> Result<BTreeMap<String, Vec<Found>>, crate::EngineError> {
    let mut found: BTreeMap<String, Vec<Found>> = BTreeMap::new();
    for (folder, origin) in &config.find_links {
        let dir = repo.root.join(folder);
        let entries = std::fs::read_dir(&dir).map_err(|source| PinError::Io {
            action: "read the find-links folder",
            path: in_repo(shown, folder),
            source,
            hint_text: Some(format!("create it, or correct `find-links` at {origin}")),
        })?;
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        for file_name in names {
            let Some((name, version)) = split_file_name(&file_name) else {
                continue;
            };
            let versions = found.entry(name.to_owned()).or_default();
            if versions.iter().all(|f| f.version != version) {
                versions.push(Found {
                    version,
                    file: folder.join(&file_name),
                });
            }
        }
    }
    Ok(found)
}

/// `motd-1.2.0.wasm` → (`motd`, 1.2.0). A name may contain `-`, and so may
/// a pre-release (`app-2.0.0-rc.1.wasm`): the first `-` after which a valid
/// version follows ends the name.
pub fn split_file_name(file_name: &str) -> Option<(&str, semver::Version)> {
    let stem = file_name.strip_suffix(".wasm")?;
    stem.match_indices('-').find_map(|(i, _)| {
        let (name, version) = (&stem[..i], &stem[i + 1..]);
        let version = semver::Version::parse(version).ok()?;
        berth_config::valid_package_name(name).then_some((name, version))
    })
}

/// The contents of the package file `shown`, checked against what the
/// repository expects of it: a package (made by `berth package`) of that
/// name, of that version when one is known.
fn check_contents(shown: &Path, wanted: &Wanted, bytes: &[u8]) -> Result<Contents, PinError> {
    let invalid = |message: String| PinError::Invalid {
        file: shown.to_path_buf(),
        message,
    };
    let contents = berth_build::read_package(bytes)
        .map_err(invalid)?
        .ok_or_else(|| {
            invalid(format!(
                "it has no `{}` section; make it with `berth package`",
                berth_build::PACKAGE_SECTION
            ))
        })?;
    let meta = &contents.metadata;
    if meta.name != wanted.name {
        return Err(invalid(format!(
            "it is package `{}`, not `{}`",
            meta.name, wanted.name
        )));
    }
    if let Some(version) = &wanted.version
        && semver::Version::parse(&meta.version).ok().as_ref() != Some(version)
    {
        return Err(invalid(format!(
            "it is version {} of `{}`, not {version}",
            meta.version, meta.name
        )));
    }
    if let Some(needs) = &meta.python_runtime
        && !python_runtime_fits(needs)
    {
        return Err(PinError::Runtime {
            name: meta.name.clone(),
            file: shown.to_path_buf(),
            needs: needs.clone(),
            has: berth_build::PYTHON_RUNTIME_VERSION.to_owned(),
        });
    }
    Ok(contents)
}

/// Whether this berth's Python runtime can run a package made for
/// runtime `needs`: a semver-compatible version (`^needs`).
fn python_runtime_fits(needs: &str) -> bool {
    let has = semver::Version::parse(berth_build::PYTHON_RUNTIME_VERSION);
    let wanted = semver::VersionReq::parse(&format!("^{needs}"));
    matches!((has, wanted), (Ok(has), Ok(wanted)) if wanted.matches(&has))
}

fn parse_version(shown: &Path, version: &str) -> Result<semver::Version, PinError> {
    semver::Version::parse(version).map_err(|e| PinError::Invalid {
        file: shown.to_path_buf(),
        message: format!("its version `{version}` is not a semantic version: {e}"),
    })
}

fn read(path: &Path, shown: &Path, hint_text: Option<&str>) -> Result<Vec<u8>, PinError> {
    std::fs::read(path).map_err(|source| PinError::Io {
        action: "read",
        path: shown.to_path_buf(),
        source,
        hint_text: hint_text.map(str::to_owned),
    })
}

/// Writes `bytes` to `path` atomically, unless it holds them already.
pub(crate) fn write(path: &Path, shown: &Path, bytes: &[u8]) -> Result<(), PinError> {
    berth_build::write_if_changed(path, bytes).map_err(|e| {
        let source = match e {
            berth_build::BuildError::Io { source, .. } => source,
            other => std::io::Error::other(other.to_string()),
        };
        PinError::Io {
            action: "write",
            path: shown.to_path_buf(),
            source,
            hint_text: None,
        }
    })
}

/// `repo/rel`, or `rel` when `repo` is `.`, so messages name files as the
/// user would type them; an absolute `rel` stays as it is.
pub(crate) fn in_repo(repo: &Path, rel: &Path) -> PathBuf {
    if repo.as_os_str().is_empty() || repo == Path::new(".") {
        rel.to_path_buf()
    } else {
        repo.join(rel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_python_runtime_fits_when_semver_compatible() {
        assert!(python_runtime_fits(berth_build::PYTHON_RUNTIME_VERSION));
        assert!(!python_runtime_fits("0.2.0"));
        assert!(!python_runtime_fits("1.0.0"));
        assert!(!python_runtime_fits("not a version"));
    }

    #[test]
    fn file_names_split_into_name_and_version() {
        let split = |f| split_file_name(f).map(|(n, v)| (n.to_owned(), v.to_string()));
        assert_eq!(
            split("motd-1.2.0.wasm"),
            Some(("motd".into(), "1.2.0".into()))
        );
        assert_eq!(
            split("my-app-2.0.0-rc.1.wasm"),
            Some(("my-app".into(), "2.0.0-rc.1".into()))
        );
        assert_eq!(split("motd.wasm"), None);
        assert_eq!(split("motd-1.2.wasm"), None);
        assert_eq!(split("motd-1.2.0.txt"), None);
        assert_eq!(split("-1.2.0.wasm"), None);
        assert_eq!(split("..-1.2.0.wasm"), None, "a name never leaves a folder");
    }

    #[test]
    fn the_highest_release_wins_over_pre_releases() {
        let found = |v: &str| Found {
            version: semver::Version::parse(v).unwrap(),
            file: PathBuf::from(v),
        };
        let versions = [found("1.10.0"), found("1.9.0"), found("2.0.0-rc.1")];
        assert_eq!(highest(&versions).unwrap().version.to_string(), "1.10.0");
        let pre = [found("2.0.0-rc.1"), found("2.0.0-rc.2")];
        assert_eq!(highest(&pre).unwrap().version.to_string(), "2.0.0-rc.2");
        assert!(highest(&[]).is_none());
    }

    #[test]
    fn unpack_writes_exactly_the_files_and_repairs_changes() {
        let dir = tempfile::tempdir().unwrap();
        let defdir = dir.path().join("defdir");
        let files = vec![
            PackagedFile {
                path: "a/run.sh".into(),
                executable: true,
                content: b"#!/bin/sh\n".to_vec(),
            },
            PackagedFile {
                path: "banner.txt".into(),
                executable: false,
                content: b"hi\n".to_vec(),
            },
        ];
        unpack(&defdir, &files).unwrap();
        assert!(holds_exactly(&defdir, &files));
        std::fs::write(defdir.join("banner.txt"), "changed").unwrap();
        std::fs::write(defdir.join("extra"), "x").unwrap();
        assert!(!holds_exactly(&defdir, &files));
        unpack(&defdir, &files).unwrap();
        assert_eq!(std::fs::read(defdir.join("banner.txt")).unwrap(), b"hi\n");
        assert!(!defdir.join("extra").exists());
        std::os::unix::fs::symlink("/etc/passwd", defdir.join("link")).unwrap();
        assert!(!holds_exactly(&defdir, &files));
    }
}
