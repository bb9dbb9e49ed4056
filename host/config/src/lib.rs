//! berth environment files: parsing, `${section:key}` substitution and
//! validation, with the file and line of every value.
//!
//! An environment is `environments/<env>/environment.cfg` (or the older
//! `environments/<env>.cfg`) in a deployment repository. [`load`] turns it
//! into an [`Environment`]; [`environment_names`] lists the environments
//! there are.
//!
//! ```ini
//! # environments/production/environment.cfg
//! [environment]
//! connect_method = ssh
//! host_domain = example.com
//! service_user = deploy
//! timeout = 30
//! jobs = 4
//! target_directory = /srv/deployment
//!
//! [hosts]
//! web = nginx:ssl, app
//! !old = app
//! db =
//!     postgres
//!     !backup
//!
//! [host:web]
//! platform = debian
//! data-port = 8080
//!
//! [component:app]
//! upstream = http://db.${environment:host_domain}:${host:web:data-port}
//! workers = 4
//! options =
//!     debug = false
//!     level = info
//!
//! [grants:nginx]
//! paths = /etc/nginx rw
//!     /var/log/nginx ro
//! commands = nginx, /usr/bin/systemctl
//! ```
//!
//! # Syntax
//!
//! - `[name]` starts a section; a section may appear only once.
//! - `key = value`; only `=` separates key and value, a key appears only
//!   once per section, keys are case-sensitive and contain no whitespace.
//! - A line indented with spaces or tabs continues the value above
//!   (multi-line values, as in Python's configparser). Each line is trimmed;
//!   blank lines inside a value are kept, trailing ones dropped; an empty
//!   first line (`key =` followed by indented lines) is dropped.
//! - A line whose first character is `#` or `;` is a comment, also inside a
//!   multi-line value. There are no end-of-line comments: `a = b # c` sets
//!   `a` to `b # c`, and an indented `# x` is a line of a value.
//! - `${section:key}` in any value is replaced by that value; the section
//!   name is everything before the last colon (`${host:web:data-port}`).
//!   `$${` is a literal `${`.
//!
//! # Sections
//!
//! - `[environment]`: `connect_method` (`local` or `ssh`, default `local`),
//!   `host_domain`, `service_user`, `platform`, `timeout` (positive seconds,
//!   fractions allowed, default 60: the deadline of one guest call), `jobs`
//!   (positive integer), `target_directory` (default and base of a relative
//!   path: the repository root, for `local`; required and absolute for `ssh`),
//!   `require_v4` and `require_v6` (`true`, `false` or `optional`, see
//!   [`IpRequirement`]; by default IPv4 is required and IPv6 optional) and
//!   `extends` (below).
//! - `[hosts]`: `host = comp1, comp2` (comma and/or newline separated).
//!   `!host` ignores the host, `!comp` ignores the component on that host,
//!   `comp:feature` turns on a feature (repeat the component for more).
//! - `[host:NAME]`: `components` (added after those from `[hosts]`),
//!   `platform`, `service_user`, `ignore` (boolean), `data-KEY = value`.
//! - `[component:NAME]`: attribute overrides, kept as [`RawValue`]s until
//!   the engine knows their types and calls [`convert`].
//! - `[grants:NAME]`: `paths` (`ABSOLUTE_PATH ro|rw`, one per line or comma
//!   separated) and `commands` (program names or absolute paths, separated by
//!   whitespace or commas) for root component `NAME`.
//! - `[resolver]`: `hostname = address, …` (comma and/or newline separated
//!   IPv4 and IPv6 addresses) that override DNS for address values
//!   ([`Environment::resolver`]).
//!
//! # `extends`
//!
//! `extends = base, other` in `[environment]` (comma and/or newline
//! separated environment names, in either layout) builds on other
//! environments, buildout style: `base` is read first (with whatever it
//! extends, recursively), then `other` over it, then this file. For each
//! section, later values win key by key (a later value replaces the whole
//! earlier value); `!web` and `web` in `[hosts]` count as the same key.
//! Every value keeps the file and line that set it last. `${section:key}`
//! substitution runs after merging, on the merged values. A cycle is an
//! error listing each step with its file and line. An environment reached
//! twice (a diamond) is read once, the first time. [`Environment::files`]
//! lists every file read, in merging order.
//!
//! Unknown sections and keys are errors, with a "did you mean" when a close
//! name exists. Every error carries the file and line ([`ConfigError`]).
//!
//! # Secrets
//!
//! [`Environment::secrets`] is where decrypted secrets go; the
//! `berth-secrets` crate decrypts `secrets.cfg.age` and the secret files
//! beside the environment file and fills it. This crate never decrypts.
//!
//! # Why a lexer of our own
//!
//! Errors must point at `file:line`, for every key and every line of a
//! multi-line value, and provenance (`berth show`) needs the same. The INI
//! crates on crates.io (`rust-ini`, `configparser`, `ini_core`, …) return
//! values without their line numbers and differ from configparser on
//! continuation lines, so the small lexer in `ini.rs` does it instead.

// Tests fail loudly by design.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod build;
mod convert;
mod error;
mod extends;
pub mod ini;
mod model;
mod packages;
mod subst;
mod suggest;

use std::path::{Path, PathBuf};

pub use build::{NAME_RULE, check_name, component_section, valid_name};
pub use convert::{AttrType, convert, parse_bool};
pub use error::{ConfigError, Origin, snippet};
pub use model::{
    Access, CommandGrant, ComponentSection, ConnectMethod, Environment, Grants, Host,
    HostComponent, IpRequirement, PathGrant, RawValue, SecretFile, SecretGrant, Secrets,
};
pub use packages::{
    LOCK_FILE, Lock, PACKAGES_FILE, PackageRequest, PackagesConfig, Pin, Requested, load_lock,
    load_packages_config, render_lock, valid_package_name,
};
pub use suggest::did_you_mean;

/// The folder of a repository that holds the environments.
pub const ENVIRONMENTS_DIR: &str = "environments";

/// Loads the environment `env` of the deployment repository `repo`.
///
/// Paths in origins and errors are `repo` joined with
/// `environments/<env>/environment.cfg` (without a leading `./` when `repo`
/// is `.`), so they read well in a terminal.
///
/// Errors: an invalid or unknown environment name (listing the ones there
/// are, with "did you mean"); both layouts present; an unreadable file; any
/// syntax, substitution or validation error of the file, at its line.
pub fn load(repo: &Path, env: &str) -> Result<Environment, ConfigError> {
    let file = environment_file(repo, env)?;
    let (mut doc, files) = extends::read(repo, env, &file)?;
    subst::substitute(&mut doc)?;
    build::build(repo, env, file, files, &doc)
}

/// The names of the environments of `repo`, sorted: every
/// `environments/<env>/environment.cfg` and `environments/<env>.cfg`.
/// An unreadable or missing `environments/` gives an empty list.
pub fn environment_names(repo: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(repo.join(ENVIRONMENTS_DIR)) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let path = entry.path();
            let name = entry.file_name().into_string().ok()?;
            if name.starts_with('.') {
                return None;
            }
            if path.join("environment.cfg").is_file() {
                Some(name)
            } else if path.is_file() {
                name.strip_suffix(".cfg")
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned)
            } else {
                None
            }
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// `repo/rel`, or just `rel` when `repo` is `.` or empty.
fn in_repo(repo: &Path, rel: &Path) -> PathBuf {
    if repo.as_os_str().is_empty() || repo == Path::new(".") {
        rel.to_path_buf()
    } else {
        repo.join(rel)
    }
}

/// The file of environment `env` in `repo` (either layout), checked to
/// exist.
///
/// Errors: as for the name in [`load`].
pub fn environment_file(repo: &Path, env: &str) -> Result<PathBuf, ConfigError> {
    let valid = !env.is_empty()
        && !env.starts_with('.')
        && !env.contains(['/', '\\'])
        && !env.chars().any(char::is_control);
    if !valid {
        return Err(
            ConfigError::new(format!("invalid environment name `{env}`"))
                .with_hint("an environment name is the name of a folder in `environments/`"),
        );
    }
    let dir = Path::new(ENVIRONMENTS_DIR);
    let current = in_repo(repo, &dir.join(env).join("environment.cfg"));
    let older = in_repo(repo, &dir.join(format!("{env}.cfg")));
    match (current.is_file(), older.is_file()) {
        (true, true) => Err(ConfigError::new(format!(
            "environment `{env}` is defined twice: `{}` and `{}`",
            current.display(),
            older.display()
        ))
        .with_hint(format!(
            "remove one of them; `{}` is the current layout",
            current.display()
        ))),
        (true, false) => Ok(current),
        (false, true) => Ok(older),
        (false, false) => {
            let names = environment_names(repo);
            if names.is_empty() {
                return Err(ConfigError::new(format!(
                    "environment `{env}` not found: `{}` holds no environments",
                    in_repo(repo, dir).display()
                ))
                .with_hint(format!("create `{}`", current.display())));
            }
            let list = names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ");
            Err(
                ConfigError::new(format!("environment `{env}` not found; there are {list}"))
                    .with_hint_opt(error::did_you_mean_hint(did_you_mean(
                        env,
                        names.iter().map(String::as_str),
                    ))),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn repo() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn loads_both_layouts() {
        let dir = repo();
        write(
            dir.path(),
            "environments/local/environment.cfg",
            "[environment]\n",
        );
        write(
            dir.path(),
            "environments/old.cfg",
            "[environment]\njobs = 2\n",
        );
        let local = load(dir.path(), "local").unwrap();
        assert_eq!(local.name, "local");
        assert_eq!(
            local.file,
            dir.path().join("environments/local/environment.cfg")
        );
        let old = load(dir.path(), "old").unwrap();
        assert_eq!(old.file, dir.path().join("environments/old.cfg"));
        assert_eq!(old.jobs, Some(2));
    }

    #[test]
    fn names_cover_both_layouts_sorted() {
        let dir = repo();
        write(dir.path(), "environments/prod/environment.cfg", "");
        write(dir.path(), "environments/a.cfg", "");
        write(dir.path(), "environments/prod.cfg", "");
        write(dir.path(), "environments/notes.txt", "");
        write(dir.path(), "environments/empty/README", "");
        write(dir.path(), "environments/.hidden.cfg", "");
        assert_eq!(environment_names(dir.path()), vec!["a", "prod"]);
        assert!(environment_names(&dir.path().join("nowhere")).is_empty());
    }

    #[test]
    fn both_layouts_is_an_error_naming_both() {
        let dir = repo();
        write(dir.path(), "environments/prod/environment.cfg", "");
        write(dir.path(), "environments/prod.cfg", "");
        let err = load(dir.path(), "prod").unwrap_err().to_string();
        let current = dir.path().join("environments/prod/environment.cfg");
        let older = dir.path().join("environments/prod.cfg");
        assert_eq!(
            err,
            format!(
                "environment `prod` is defined twice: `{}` and `{}`\n  hint: remove one of them; `{}` is the current layout",
                current.display(),
                older.display(),
                current.display()
            )
        );
    }

    #[test]
    fn unknown_environment_lists_the_others() {
        let dir = repo();
        write(dir.path(), "environments/staging/environment.cfg", "");
        write(dir.path(), "environments/local.cfg", "");
        let err = load(dir.path(), "stagin").unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment `stagin` not found; there are `local`, `staging`\n  hint: did you mean `staging`?"
        );
        assert_eq!(err.file, None);
        let err = load(dir.path(), "zzz").unwrap_err();
        assert_eq!(err.hint, None);
    }

    #[test]
    fn no_environments_at_all() {
        let dir = repo();
        let err = load(dir.path(), "local").unwrap_err().to_string();
        assert!(err.contains("environment `local` not found"), "{err}");
        assert!(err.contains("holds no environments"), "{err}");
        assert!(err.contains("hint: create"), "{err}");
    }

    #[test]
    fn invalid_environment_names() {
        let dir = repo();
        for name in ["", "../x", "a/b", ".hidden"] {
            let err = load(dir.path(), name).unwrap_err().to_string();
            assert!(err.starts_with("invalid environment name"), "{name}: {err}");
        }
    }

    #[test]
    fn unreadable_file_names_the_path() {
        let dir = repo();
        let path = dir.path().join("environments/bad/environment.cfg");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, [0xff, 0xfe, 0x00]).unwrap();
        let err = load(dir.path(), "bad").unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("cannot read `{}`", path.display())),
            "{err}"
        );
    }

    #[test]
    fn extends_merges_in_order_and_keeps_origins() {
        let dir = repo();
        let root = dir.path();
        write(
            root,
            "environments/base.cfg",
            "[environment]\njobs = 1\ntimeout = 5\n\n[component:app]\nport = 80\nname = ${environment:jobs}\n",
        );
        write(
            root,
            "environments/mid/environment.cfg",
            "[environment]\nextends = base\njobs = 2\n\n[hosts]\nweb = app\n",
        );
        write(
            root,
            "environments/other.cfg",
            "[environment]\njobs = 3\nplatform = debian\n",
        );
        write(
            root,
            "environments/top.cfg",
            "[environment]\nextends =\n    mid\n    other\njobs = 4\n[component:app]\nport = 8080\n",
        );
        let env = load(root, "top").unwrap();
        assert_eq!(env.jobs, Some(4));
        assert_eq!(env.timeout, std::time::Duration::from_secs(5));
        assert_eq!(env.platform.as_deref(), Some("debian"));
        assert_eq!(env.hosts[0].name, "web");
        let app = &env.components["app"];
        assert_eq!(app.attributes["port"].value, "8080");
        assert_eq!(
            app.attributes["port"].origin,
            Origin::new(root.join("environments/top.cfg"), 7)
        );
        // Substitution runs after merging: the final `jobs` wins.
        assert_eq!(app.attributes["name"].value, "4");
        assert_eq!(
            app.attributes["name"].origin,
            Origin::new(root.join("environments/base.cfg"), 7)
        );
        assert_eq!(
            env.files,
            vec![
                root.join("environments/base.cfg"),
                root.join("environments/mid/environment.cfg"),
                root.join("environments/other.cfg"),
                root.join("environments/top.cfg"),
            ]
        );
    }

    #[test]
    fn extends_cycle_lists_the_chain() {
        let dir = repo();
        let root = dir.path();
        write(root, "environments/a.cfg", "[environment]\nextends = b\n");
        write(root, "environments/b.cfg", "[environment]\n\nextends = a\n");
        let err = load(root, "a").unwrap_err().to_string();
        let a = root.join("environments/a.cfg").display().to_string();
        let b = root.join("environments/b.cfg").display().to_string();
        assert_eq!(
            err,
            format!(
                "{b}:3: extends cycle: `a` -> `b` -> `a`\n  hint: break the cycle: `a` extends `b` at {a}:2, `b` extends `a` at {b}:3"
            )
        );
        write(root, "environments/c.cfg", "[environment]\nextends = c\n");
        let err = load(root, "c").unwrap_err().to_string();
        assert!(err.contains("extends cycle: `c` -> `c`"), "{err}");
    }

    #[test]
    fn extends_errors() {
        let dir = repo();
        let root = dir.path();
        write(root, "environments/base.cfg", "[environment]\n");
        write(
            root,
            "environments/a.cfg",
            "[environment]\nextends = bsae\n",
        );
        let err = load(root, "a").unwrap_err().to_string();
        let a = root.join("environments/a.cfg").display().to_string();
        assert!(
            err.starts_with(&format!("{a}:2: environment `bsae` not found")),
            "{err}"
        );
        assert!(err.contains("did you mean `base`?"), "{err}");
        write(
            root,
            "environments/s.cfg",
            "[environment]\nextends = ${x:y}\n",
        );
        let err = load(root, "s").unwrap_err().to_string();
        assert!(err.contains("`extends` cannot use `${…}`"), "{err}");
        // A diamond is no cycle, and its base is read once.
        write(
            root,
            "environments/l.cfg",
            "[environment]\nextends = base\n",
        );
        write(
            root,
            "environments/r.cfg",
            "[environment]\nextends = base\n",
        );
        write(
            root,
            "environments/d.cfg",
            "[environment]\nextends = l, r\n",
        );
        assert_eq!(load(root, "d").unwrap().files.len(), 4);
    }

    #[test]
    fn relative_repo_gives_relative_origins() {
        let rel = in_repo(
            Path::new("."),
            Path::new("environments/local/environment.cfg"),
        );
        assert_eq!(rel, Path::new("environments/local/environment.cfg"));
        assert_eq!(
            in_repo(Path::new("repo"), Path::new("x.cfg")),
            Path::new("repo/x.cfg")
        );
    }
}
