//! `packages.cfg` (where a repository takes packages from) and
//! `packages.lock` (the sha256 each one is pinned to), both at the root of
//! a deployment repository and both read with the same INI lexer as
//! environments, so every error names the file and line.
//!
//! ```ini
//! # packages.cfg
//! [packages]
//! find-links = packages/ /srv/shared/berth
//!
//! [package:motd]
//! version = 1.2.0
//!
//! [package:nginx]
//! path = vendor/nginx.wasm
//! ```
//!
//! ```ini
//! # packages.lock
//! [package:motd]
//! version = 1.2.0
//! file = packages/motd-1.2.0.wasm
//! sha256 = 0f3a…
//! ```

use std::path::{Path, PathBuf};

use crate::build::{check_name, list_items, single_line, unknown_key};
use crate::error::{ConfigError, Origin, did_you_mean_hint};
use crate::ini::{self, Section};
use crate::suggest::did_you_mean;

/// The file that says where packages come from.
pub const PACKAGES_FILE: &str = "packages.cfg";

/// The file that pins every package to a sha256.
pub const LOCK_FILE: &str = "packages.lock";

const PACKAGES_KEYS: [&str; 1] = ["find-links"];
const PACKAGE_KEYS: [&str; 2] = ["version", "path"];
const PIN_KEYS: [&str; 3] = ["version", "file", "sha256"];

/// `packages.cfg`: package folders and per-package requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackagesConfig {
    /// The file, as reached from the repository path.
    pub file: PathBuf,
    /// The folders searched for `<name>-<version>.wasm`, in order, as
    /// written (relative to the repository root unless absolute).
    pub find_links: Vec<(PathBuf, Origin)>,
    /// `[package:NAME]` sections, in file order.
    pub packages: Vec<PackageRequest>,
}

/// A `[package:NAME]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRequest {
    /// The package's name.
    pub name: String,
    /// The section header's line.
    pub origin: Origin,
    /// What the section asks for.
    pub source: Requested,
}

/// Which file a `[package:NAME]` section asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    /// The highest version in the find-links folders (no key given).
    Highest,
    /// `version = X`: exactly this version from the find-links folders.
    Version(semver::Version, Origin),
    /// `path = FILE`: this file (relative to the repository root unless
    /// absolute).
    Path(PathBuf, Origin),
}

/// `packages.lock`: one pin per package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    /// The file, as reached from the repository path.
    pub file: PathBuf,
    /// The pins, in file order.
    pub pins: Vec<Pin>,
}

/// One package pinned to the sha256 of its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The package's name.
    pub name: String,
    /// Its version.
    pub version: semver::Version,
    /// The package file, relative to the repository root unless absolute.
    pub file: PathBuf,
    /// The sha256 of the file, lowercase hex.
    pub sha256: String,
    /// The `[package:NAME]` line in the lock, or none for a pin not read
    /// from a file.
    pub origin: Option<Origin>,
}

/// Reads `packages.cfg` of `repo`; `None` when there is none.
///
/// Errors: an unreadable file; a syntax error; an unknown section or key
/// (with "did you mean"); an invalid package name or version; `version` and
/// `path` both given; a value that takes one line given several.
pub fn load_packages_config(repo: &Path) -> Result<Option<PackagesConfig>, ConfigError> {
    let Some((file, doc)) = read(repo, PACKAGES_FILE)? else {
        return Ok(None);
    };
    let mut config = PackagesConfig {
        file,
        find_links: Vec::new(),
        packages: Vec::new(),
    };
    for section in &doc.sections {
        if section.name == "packages" {
            for entry in &section.entries {
                if entry.key != "find-links" {
                    return Err(unknown_key(entry, "packages", &PACKAGES_KEYS));
                }
                for (item, origin) in list_items(entry) {
                    for folder in item.split_whitespace() {
                        config
                            .find_links
                            .push((PathBuf::from(folder), origin.clone()));
                    }
                }
            }
            continue;
        }
        let name = package_section(section, "[packages] or [package:NAME]")?;
        let mut source = Requested::Highest;
        for entry in &section.entries {
            let value = single_line(entry, &section.name)?;
            let given = match entry.key.as_str() {
                "version" => {
                    Requested::Version(parse_version(&value, &entry.origin)?, entry.origin.clone())
                }
                "path" if !value.is_empty() => {
                    Requested::Path(PathBuf::from(value), entry.origin.clone())
                }
                "path" => {
                    return Err(ConfigError::at(
                        &entry.origin,
                        format!("empty `path` in [{}]", section.name),
                    ));
                }
                _ => return Err(unknown_key(entry, &section.name, &PACKAGE_KEYS)),
            };
            if source != Requested::Highest {
                return Err(ConfigError::at(
                    &entry.origin,
                    format!(
                        "[{}] gives both `version` and `path`; a package comes from one place",
                        section.name
                    ),
                )
                .with_hint(
                    "keep `version` to pick a file of the find-links folders, or `path` to name the file",
                ));
            }
            source = given;
        }
        config.packages.push(PackageRequest {
            name: name.to_owned(),
            origin: section.origin.clone(),
            source,
        });
    }
    Ok(Some(config))
}

/// Reads `packages.lock` of `repo`; `None` when there is none.
///
/// Errors: an unreadable file; a syntax error; an unknown section or key;
/// a missing key; an invalid version or sha256.
pub fn load_lock(repo: &Path) -> Result<Option<Lock>, ConfigError> {
    let Some((file, doc)) = read(repo, LOCK_FILE)? else {
        return Ok(None);
    };
    let mut pins = Vec::new();
    for section in &doc.sections {
        let name = package_section(section, "[package:NAME]")?;
        for entry in &section.entries {
            if !PIN_KEYS.contains(&entry.key.as_str()) {
                return Err(unknown_key(entry, &section.name, &PIN_KEYS));
            }
        }
        let value = |key: &str| -> Result<(String, Origin), ConfigError> {
            match section.get(key) {
                Some(entry) => Ok((single_line(entry, &section.name)?, entry.origin.clone())),
                None => Err(ConfigError::at(
                    &section.origin,
                    format!("[{}] has no `{key}`", section.name),
                )
                .with_hint("run `berth lock` to write the lock file again")),
            }
        };
        let (version, version_at) = value("version")?;
        let (file_value, _) = value("file")?;
        let (sha256, sha_at) = value("sha256")?;
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ConfigError::at(
                &sha_at,
                format!("invalid sha256 `{sha256}`: expected 64 hexadecimal digits"),
            )
            .with_hint("run `berth lock` to write the lock file again"));
        }
        pins.push(Pin {
            name: name.to_owned(),
            version: parse_version(&version, &version_at)?,
            file: PathBuf::from(file_value),
            sha256: sha256.to_ascii_lowercase(),
            origin: Some(section.origin.clone()),
        });
    }
    Ok(Some(Lock { file, pins }))
}

/// The text of a lock file pinning `pins`, sorted by name: a header
/// comment, then one `[package:NAME]` section per pin with `version`,
/// `file` and `sha256`, separated by blank lines.
pub fn render_lock(pins: &[Pin]) -> String {
    let mut sorted: Vec<&Pin> = pins.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = String::from(
        "# Written by `berth lock`: the sha256 every package must have.\n\
         # A package whose file no longer has it is refused; run `berth lock`\n\
         # again when a change is intended, and review the diff.\n",
    );
    for pin in sorted {
        out.push_str(&format!(
            "\n[package:{}]\nversion = {}\nfile = {}\nsha256 = {}\n",
            pin.name,
            pin.version,
            pin.file.display(),
            pin.sha256
        ));
    }
    out
}

/// Whether `name` can name a package: letters, digits, `-`, `_` and `.`,
/// not starting with `.` (a package name becomes a folder name, and `..`
/// must not).
pub fn valid_package_name(name: &str) -> bool {
    crate::build::valid_name(name) && !name.starts_with('.')
}

fn read(repo: &Path, name: &str) -> Result<Option<(PathBuf, ini::Document)>, ConfigError> {
    let file = crate::in_repo(repo, Path::new(name));
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ConfigError::new(format!(
                "cannot read `{}`: {e}",
                file.display()
            )));
        }
    };
    let doc = ini::parse(&file, &text)?;
    Ok(Some((file, doc)))
}

/// The `NAME` of a `[package:NAME]` section, or an error naming what the
/// file's sections may be.
fn package_section<'a>(section: &'a Section, known: &str) -> Result<&'a str, ConfigError> {
    if let Some(name) = section.name.strip_prefix("package:") {
        check_name("package", name, &section.origin)?;
        if !valid_package_name(name) {
            return Err(
                ConfigError::at(&section.origin, format!("invalid package name `{name}`"))
                    .with_hint("a package name does not start with `.`"),
            );
        }
        return Ok(name);
    }
    let suggestion = match section.name.split_once(':') {
        Some((prefix, rest)) => {
            did_you_mean(prefix, ["package"]).map(|_| format!("[package:{rest}]"))
        }
        None if known.starts_with("[packages]") => {
            did_you_mean(&section.name, ["packages"]).map(|_| "[packages]".to_owned())
        }
        None => None,
    };
    Err(ConfigError::at(
        &section.origin,
        format!("unknown section `[{}]`", section.name),
    )
    .with_hint(
        did_you_mean_hint(suggestion.as_deref())
            .unwrap_or_else(|| format!("the sections of this file are {known}")),
    ))
}

fn parse_version(value: &str, origin: &Origin) -> Result<semver::Version, ConfigError> {
    semver::Version::parse(value).map_err(|e| {
        ConfigError::at(origin, format!("invalid version `{value}`: {e}"))
            .with_hint("a version is `MAJOR.MINOR.PATCH`, such as `1.2.0`")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_with(file: &str, text: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(file), text).unwrap();
        dir
    }

    fn config_err(text: &str) -> String {
        let dir = repo_with(PACKAGES_FILE, text);
        let err = load_packages_config(dir.path()).unwrap_err().to_string();
        // Errors name the file relative to the repository given.
        err.replace(&format!("{}/", dir.path().display()), "")
    }

    #[test]
    fn reads_find_links_and_requests() {
        let dir = repo_with(
            PACKAGES_FILE,
            "[packages]\nfind-links = packages/ /srv/shared\n    more, other\n\n[package:motd]\nversion = 1.2.0\n\n[package:nginx]\npath = vendor/nginx.wasm\n\n[package:hello]\n",
        );
        let config = load_packages_config(dir.path()).unwrap().unwrap();
        let links: Vec<(&str, usize)> = config
            .find_links
            .iter()
            .map(|(p, o)| (p.to_str().unwrap(), o.line))
            .collect();
        assert_eq!(
            links,
            [
                ("packages/", 2),
                ("/srv/shared", 2),
                ("more", 3),
                ("other", 3)
            ]
        );
        assert_eq!(config.packages.len(), 3);
        assert_eq!(config.packages[0].name, "motd");
        assert!(matches!(
            &config.packages[0].source,
            Requested::Version(v, o) if v.to_string() == "1.2.0" && o.line == 6
        ));
        assert!(matches!(
            &config.packages[1].source,
            Requested::Path(p, o) if p == Path::new("vendor/nginx.wasm") && o.line == 9
        ));
        assert_eq!(config.packages[2].source, Requested::Highest);
        assert!(
            load_packages_config(&dir.path().join("nowhere"))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn unknown_sections_and_keys_name_the_line_and_suggest() {
        assert_eq!(
            config_err("[packages]\nfind-link = x\n"),
            "packages.cfg:2: unknown key `find-link` in [packages]\n  hint: did you mean `find-links`?"
        );
        assert_eq!(
            config_err("[package:motd]\nversoin = 1.0.0\n"),
            "packages.cfg:2: unknown key `versoin` in [package:motd]\n  hint: did you mean `version`?"
        );
        assert_eq!(
            config_err("[packges:motd]\n"),
            "packages.cfg:1: unknown section `[packges:motd]`\n  hint: did you mean `[package:motd]`?"
        );
        assert_eq!(
            config_err("[pakages]\n"),
            "packages.cfg:1: unknown section `[pakages]`\n  hint: did you mean `[packages]`?"
        );
        assert!(config_err("[environment]\n").contains("the sections of this file are"));
    }

    #[test]
    fn bad_values_name_the_line() {
        let err = config_err("[package:a]\n\nversion = 1.2\n");
        assert!(
            err.starts_with("packages.cfg:3: invalid version `1.2`"),
            "{err}"
        );
        let err = config_err("[package:a]\nversion = 1.2.0\npath = a.wasm\n");
        assert!(
            err.starts_with("packages.cfg:3: [package:a] gives both `version` and `path`"),
            "{err}"
        );
        let err = config_err("[package:a b]\n");
        assert!(
            err.starts_with("packages.cfg:1: invalid package name"),
            "{err}"
        );
    }

    #[test]
    fn a_rendered_lock_reads_back() {
        let pins = vec![
            Pin {
                name: "motd".into(),
                version: semver::Version::new(1, 2, 0),
                file: "packages/motd-1.2.0.wasm".into(),
                sha256: "a".repeat(64),
                origin: None,
            },
            Pin {
                name: "app".into(),
                version: semver::Version::parse("0.1.0-rc.1").unwrap(),
                file: "/srv/app-0.1.0-rc.1.wasm".into(),
                sha256: "b".repeat(64),
                origin: None,
            },
        ];
        let text = render_lock(&pins);
        assert!(text.starts_with("# Written by `berth lock`"), "{text}");
        let dir = repo_with(LOCK_FILE, &text);
        let lock = load_lock(dir.path()).unwrap().unwrap();
        let names: Vec<&str> = lock.pins.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["app", "motd"], "sorted by name");
        assert_eq!(lock.pins[1].file, Path::new("packages/motd-1.2.0.wasm"));
        assert_eq!(lock.pins[1].version, pins[0].version);
        assert_eq!(lock.pins[0].sha256, "b".repeat(64));
        assert_eq!(lock.pins[1].origin.as_ref().map(|o| o.line), Some(10));
    }

    #[test]
    fn a_broken_lock_names_the_line() {
        let dir = repo_with(
            LOCK_FILE,
            "[package:a]\nversion = 1.0.0\nfile = a.wasm\nsha256 = xyz\n",
        );
        let err = load_lock(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("packages.lock:4: invalid sha256 `xyz`"),
            "{err}"
        );
        let dir = repo_with(LOCK_FILE, "[package:a]\nversion = 1.0.0\n");
        let err = load_lock(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("packages.lock:1: [package:a] has no `file`"),
            "{err}"
        );
    }
}
