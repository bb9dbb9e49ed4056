//! The content-addressed store on a target, `~/.berth/store/`: the agent
//! binary, component packages and definition-folder files, each under its
//! sha256. The controller learns what is there in one round trip, uploads
//! what is missing under a temporary name, and renames it once its hash
//! checks out, so the store never holds a file under a wrong name.
//!
//! The remote command lines are built here as data:
//!
//! ```
//! assert_eq!(
//!     berth_remote::store::probe_command(None),
//!     "uname -m && echo direct && echo \"$HOME\" && mkdir -p .berth/store && ls -1 .berth/store"
//! );
//! ```

use berth_engine::target::DefdirFile;
use sha2::Digest;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The store, relative to the login user's home (where SSH commands and
/// SFTP start).
pub const STORE: &str = ".berth/store";

/// Whether a user name is safe to put into a command line unquoted (and
/// is a name `useradd` accepts).
pub fn is_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        && !name.starts_with('-')
}

/// `command` run as `user` through `sudo -n` (never a password prompt),
/// with the user's home as `HOME` and working folder.
pub fn as_user(user: &str, command: &str) -> String {
    format!("sudo -n -H -u {user} sh -c 'cd && {command}'")
}

/// The first round trip: the target's architecture, whether the store's
/// user is reached directly or through `sudo` (when a `service_user` other
/// than the login user is asked for), the login user's home, then every
/// name in the store (created when missing).
pub fn probe_command(service_user: Option<&str>) -> String {
    let list = format!("mkdir -p {STORE} && ls -1 {STORE}");
    match service_user {
        None => format!("uname -m && echo direct && echo \"$HOME\" && {list}"),
        Some(user) => format!(
            "uname -m && if [ \"$(id -un)\" = {user} ]; then echo direct && echo \"$HOME\" && {list}; else echo sudo && echo \"$HOME\" && {}; fi",
            as_user(user, &list)
        ),
    }
}

/// What the probe answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// `uname -m`.
    pub arch: String,
    /// The store belongs to the service user, reached through `sudo`.
    pub sudo: bool,
    /// The login user's home.
    pub home: String,
    /// The names of the complete blobs in the store.
    pub present: BTreeSet<String>,
}

/// Parses the probe's output; temporary upload names are not blobs.
pub fn parse_probe(output: &str) -> Result<Probe, String> {
    let mut lines = output.lines();
    let arch = lines
        .next()
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .ok_or("the target printed nothing for `uname -m`")?
        .to_string();
    let sudo = match lines.next().map(str::trim) {
        Some("sudo") => true,
        Some("direct") => false,
        other => return Err(format!("unexpected answer to the probe: {other:?}")),
    };
    let home = lines.next().unwrap_or_default().trim().to_string();
    let present = lines
        .map(str::trim)
        .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string)
        .collect();
    Ok(Probe {
        arch,
        sudo,
        home,
        present,
    })
}

/// The temporary name of a blob while it is uploaded.
pub fn part_name(sha256: &str, nonce: &str) -> String {
    format!("{sha256}.{nonce}.part")
}

/// The name of the checklist uploaded with the blobs of one nonce.
pub fn checklist_name(nonce: &str) -> String {
    format!("{nonce}.sha256")
}

/// The checklist that `sha256sum -c` reads: one `HASH  FILE` line per
/// uploaded blob.
pub fn checklist(blobs: &[String], nonce: &str) -> String {
    blobs
        .iter()
        .map(|sha| format!("{sha}  {}\n", part_name(sha, nonce)))
        .collect()
}

/// Where blobs are uploaded for a service user's store: a folder of the
/// login user's, which the service user copies from.
pub fn staging_dir(nonce: &str) -> String {
    format!(".berth/upload-{nonce}")
}

/// Checks the uploaded blobs of `nonce` against their names, then renames
/// them into place; a blob that fails the check is removed, and the
/// command fails. `executable` blobs (the agent) get their mode. With
/// `staged`, the blobs were uploaded to that folder (absolute) and are
/// copied into the store first.
pub fn commit_command(nonce: &str, executable: &[String], staged: Option<&str>) -> String {
    let list = checklist_name(nonce);
    let copy = match staged {
        Some(dir) => format!(" && cp {dir}/* ."),
        None => String::new(),
    };
    let mut cmd = format!(
        "mkdir -p {STORE} && cd {STORE}{copy} && if sha256sum -c --quiet --strict {list}; then for f in *.{nonce}.part; do mv -f \"$f\" \"${{f%.{nonce}.part}}\"; done"
    );
    for sha in executable {
        cmd.push_str(&format!("; chmod 755 {sha}"));
    }
    cmd.push_str(&format!(
        "; rm -f {list}; else rm -f *.{nonce}.part {list}; exit 1; fi"
    ));
    cmd
}

/// Where the agent keeps the definition folders it builds from the store.
pub fn defdirs_dir(home: &Path) -> PathBuf {
    home.join(".berth").join("defdirs")
}

/// Builds (once) the definition folder that `files` describe from the
/// store, and returns its path: `~/.berth/defdirs/<sha256 of the list>/`.
/// It is built under a temporary name and renamed, so a folder that exists
/// is complete.
pub fn materialize(home: &Path, files: &[DefdirFile]) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let manifest = serde_json::to_vec(files).map_err(|e| e.to_string())?;
    let key = hex::encode(sha2::Sha256::digest(&manifest));
    let base = defdirs_dir(home);
    let dir = base.join(&key);
    if dir.is_dir() {
        return Ok(dir);
    }
    let store = home.join(STORE);
    let temp = base.join(format!("{key}.{}.tmp", std::process::id()));
    let io = |path: &Path, e: std::io::Error| format!("`{}`: {e}", path.display());
    std::fs::create_dir_all(&temp).map_err(|e| io(&temp, e))?;
    for f in files {
        let rel = Path::new(&f.path);
        if rel.is_absolute()
            || rel
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(format!(
                "definition folder file `{}` is not a plain relative path",
                f.path
            ));
        }
        let to = temp.join(rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        let from = store.join(&f.sha256);
        std::fs::copy(&from, &to).map_err(|e| io(&from, e))?;
        let mode = if f.executable { 0o755 } else { 0o644 };
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode))
            .map_err(|e| io(&to, e))?;
    }
    match std::fs::rename(&temp, &dir) {
        Ok(()) => Ok(dir),
        // Another agent built it meanwhile: it is the same content.
        Err(_) if dir.is_dir() => {
            let _ = std::fs::remove_dir_all(&temp);
            Ok(dir)
        }
        Err(e) => Err(io(&dir, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn the_probe_skips_what_is_not_a_blob() {
        let out = format!("x86_64\nsudo\n/home/a\n{A}\n{B}.n1.part\nn1.sha256\n");
        let probe = parse_probe(&out).unwrap();
        assert_eq!(probe.arch, "x86_64");
        assert!(probe.sudo);
        assert_eq!(probe.home, "/home/a");
        assert_eq!(probe.present, BTreeSet::from([A.to_string()]));
        assert!(parse_probe("").is_err());
    }

    #[test]
    fn the_commit_command_checks_then_renames() {
        assert_eq!(checklist(&[A.into()], "n1"), format!("{A}  {A}.n1.part\n"));
        assert_eq!(
            commit_command("n1", &[A.into()], None),
            format!(
                "mkdir -p .berth/store && cd .berth/store && if sha256sum -c --quiet --strict n1.sha256; then for f in *.n1.part; do mv -f \"$f\" \"${{f%.n1.part}}\"; done; chmod 755 {A}; rm -f n1.sha256; else rm -f *.n1.part n1.sha256; exit 1; fi"
            )
        );
    }

    #[test]
    fn a_service_user_is_reached_through_sudo_without_a_password() {
        assert_eq!(
            probe_command(Some("svc")),
            "uname -m && if [ \"$(id -un)\" = svc ]; then echo direct && echo \"$HOME\" && mkdir -p .berth/store && ls -1 .berth/store; else echo sudo && echo \"$HOME\" && sudo -n -H -u svc sh -c 'cd && mkdir -p .berth/store && ls -1 .berth/store'; fi"
        );
        assert!(
            commit_command("n1", &[], Some("/home/a/.berth/upload-n1")).starts_with(
                "mkdir -p .berth/store && cd .berth/store && cp /home/a/.berth/upload-n1/* . && "
            )
        );
        assert!(is_user_name("svc-1"));
        assert!(!is_user_name("a b") && !is_user_name("x'y") && !is_user_name("-n"));
    }

    #[test]
    fn a_defdir_is_built_once_from_the_store() {
        let home = tempfile::tempdir().unwrap();
        let store = home.path().join(STORE);
        std::fs::create_dir_all(&store).unwrap();
        let body = b"hello\n";
        let sha = hex::encode(sha2::Sha256::digest(body));
        std::fs::write(store.join(&sha), body).unwrap();
        let files = vec![DefdirFile {
            path: "templates/a.txt".into(),
            sha256: sha.clone(),
            executable: false,
        }];
        let dir = materialize(home.path(), &files).unwrap();
        assert_eq!(std::fs::read(dir.join("templates/a.txt")).unwrap(), body);
        assert_eq!(materialize(home.path(), &files).unwrap(), dir);
        let escape = vec![DefdirFile {
            path: "../x".into(),
            sha256: sha,
            executable: false,
        }];
        assert!(materialize(home.path(), &escape).is_err());
    }
}
