//! The content-addressed store on a target, `~/.berth/store/` of the user
//! the agent runs as: the agent binary, component packages and
//! definition-folder files, each under its sha256. Uploads arrive under a
//! temporary name and are renamed once their hash checks out, so the store
//! never holds a file under a wrong name.
//!
//! The remote command lines are built here as data, and tested as exact
//! strings:
//!
//! ```
//! assert_eq!(
//!     berth_remote::store::start_command("ab12", None),
//!     "A=.berth/store/ab12; if [ -x \"$A\" ]; then exec \"$A\" agent; fi; rm -f \"$A\"; \
//!      echo berth-bootstrap; echo direct; uname -m; mkdir -p .berth/store && ls -1 .berth/store"
//! );
//! ```

use berth_engine::target::DefdirFile;
use sha2::Digest;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The store, relative to the home of the user it belongs to (where SSH
/// commands and SFTP start).
pub const STORE: &str = ".berth/store";

/// The first line of what the start command prints when the store has no
/// agent yet.
pub const BOOTSTRAP: &str = "berth-bootstrap";

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
/// with the user's home as `HOME` and working folder. `command` must not
/// contain a single quote.
pub fn as_user(user: &str, command: &str) -> String {
    format!("sudo -n -H -u {user} sh -c 'cd && {command}'")
}

/// The command that starts the agent `sha256` from the store, as
/// `service_user` when the login user is another one. When the store has
/// no such agent, it prints [`BOOTSTRAP`], `direct` or `sudo`, the
/// target's architecture, then every name in the store (created when
/// missing): one round trip learns what the target has.
pub fn start_command(sha256: &str, service_user: Option<&str>) -> String {
    let script = |via: &str| {
        format!(
            "A={STORE}/{sha256}; if [ -x \"$A\" ]; then exec \"$A\" agent; fi; rm -f \"$A\"; \
             echo {BOOTSTRAP}; echo {via}; uname -m; mkdir -p {STORE} && ls -1 {STORE}"
        )
    };
    match service_user {
        None => script("direct"),
        Some(user) => format!(
            "if [ \"$(id -un)\" = {user} ]; then {}; else exec {}; fi",
            script("direct"),
            as_user(user, &script("sudo"))
        ),
    }
}

/// What a target without the agent answered to [`start_command`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bootstrap {
    /// The store belongs to the service user, reached through `sudo`.
    pub sudo: bool,
    /// `uname -m`.
    pub arch: String,
    /// The names of the complete blobs in the store.
    pub present: BTreeSet<String>,
}

/// Parses what [`start_command`] printed; temporary upload names are not
/// blobs.
///
/// Errors: it is not what the command prints.
pub fn parse_bootstrap(output: &str) -> Result<Bootstrap, String> {
    let mut lines = output.lines().map(str::trim);
    if lines.next() != Some(BOOTSTRAP) {
        return Err(format!(
            "unexpected answer to the start command: {output:?}"
        ));
    }
    let sudo = match lines.next() {
        Some("sudo") => true,
        Some("direct") => false,
        other => return Err(format!("unexpected answer to the start command: {other:?}")),
    };
    let arch = lines
        .next()
        .filter(|a| !a.is_empty())
        .ok_or("the target printed nothing for `uname -m`")?
        .to_string();
    let present = lines.filter(|n| is_sha256(n)).map(str::to_string).collect();
    Ok(Bootstrap {
        sudo,
        arch,
        present,
    })
}

/// Whether `name` is a lowercase hex sha256.
pub fn is_sha256(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
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

/// Where blobs for a service user's store are uploaded (by the login
/// user, whose home the service user may not read), to be copied from.
pub fn staging_dir(nonce: &str) -> String {
    format!("/tmp/berth-upload-{nonce}")
}

/// Checks the uploaded blobs of `nonce` against their names, then renames
/// them into place; when one fails the check, all are removed, and the
/// command fails. `executable` blobs (the agent) get their mode. With
/// `staged`, the blobs were uploaded to that folder and are copied into
/// the store first.
pub fn commit_command(nonce: &str, executable: &[String], staged: Option<&str>) -> String {
    let list = checklist_name(nonce);
    let copy = match staged {
        Some(dir) => format!(" && cp {dir}/* ."),
        None => String::new(),
    };
    // The mode is set before the rename, so a blob is never in place
    // without it (an agent without its x bit would be taken for present).
    let chmod: String = executable
        .iter()
        .map(|sha| format!("chmod 755 {} && ", part_name(sha, nonce)))
        .collect();
    format!(
        "mkdir -p {STORE} && cd {STORE}{copy} && if sha256sum -c --quiet --strict {list}; \
         then {chmod}for f in *.{nonce}.part; do mv -f \"$f\" \"${{f%.{nonce}.part}}\"; done; \
         rm -f {list}; else rm -f *.{nonce}.part {list}; exit 1; fi"
    )
}

/// The whole command that commits an upload: [`commit_command`], as the
/// service user from the staging folder when `sudo` (which is then
/// removed whatever happened).
pub fn commit(nonce: &str, executable: &[String], sudo: Option<&str>) -> String {
    match sudo {
        None => commit_command(nonce, executable, None),
        Some(user) => {
            let staged = staging_dir(nonce);
            format!(
                "{}; status=$?; rm -rf {staged}; exit $status",
                as_user(user, &commit_command(nonce, executable, Some(&staged)))
            )
        }
    }
}

/// Where the agent keeps the definition folders it builds from the store.
pub fn defdirs_dir(home: &Path) -> PathBuf {
    home.join(".berth").join("defdirs")
}

/// Builds (once) the folder that `files` describe from the store, and
/// returns its path: `~/.berth/defdirs/<sha256 of the list>/`. It is built
/// under a temporary name and renamed, so a folder that exists is
/// complete.
///
/// Errors: a path of the list is not a plain relative path, or a file
/// cannot be read from the store or written.
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
    let built = (|| {
        std::fs::create_dir_all(&temp).map_err(|e| io(&temp, e))?;
        for f in files {
            let rel = Path::new(&f.path);
            if rel
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
            // A hard link costs no copy; an executable file gets a copy of
            // its own, so that its mode is not the blob's.
            if f.executable || std::fs::hard_link(&from, &to).is_err() {
                std::fs::copy(&from, &to).map_err(|e| io(&from, e))?;
                let mode = if f.executable { 0o755 } else { 0o644 };
                std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode))
                    .map_err(|e| io(&to, e))?;
            }
        }
        Ok(())
    })();
    if let Err(e) = built {
        let _ = std::fs::remove_dir_all(&temp);
        return Err(e);
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
    #![allow(clippy::unwrap_used)]
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn the_bootstrap_answer_skips_what_is_not_a_blob() {
        let out = format!("{BOOTSTRAP}\nsudo\nx86_64\n{A}\n{B}.n1.part\nn1.sha256\n");
        let got = parse_bootstrap(&out).unwrap();
        assert_eq!(
            got,
            Bootstrap {
                sudo: true,
                arch: "x86_64".into(),
                present: BTreeSet::from([A.to_string()]),
            }
        );
        assert!(parse_bootstrap("").is_err());
        assert!(parse_bootstrap(&format!("{BOOTSTRAP}\nmaybe\n")).is_err());
    }

    /// Runs `cmd` with `sh` in `home`, as the agent's login shell would.
    fn sh(home: &std::path::Path, cmd: &str) -> std::process::Output {
        std::process::Command::new("sh")
            .args(["-c", cmd])
            .current_dir(home)
            .output()
            .unwrap()
    }

    fn sha(data: &[u8]) -> String {
        format!("{:x}", sha2::Sha256::digest(data))
    }

    #[test]
    fn a_commit_renames_blobs_that_check_out_with_their_mode_set() {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().unwrap();
        let store = home.path().join(STORE);
        std::fs::create_dir_all(&store).unwrap();
        let (agent, package) = (sha(b"agent"), sha(b"package"));
        std::fs::write(store.join(part_name(&agent, "n1")), b"agent").unwrap();
        std::fs::write(store.join(part_name(&package, "n1")), b"package").unwrap();
        let list = checklist(&[agent.clone(), package.clone()], "n1");
        std::fs::write(store.join(checklist_name("n1")), list).unwrap();
        let out = sh(home.path(), &commit("n1", &[agent.clone()], None));
        assert!(out.status.success(), "{out:?}");
        let mut names: Vec<_> = std::fs::read_dir(&store)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        let mut want = vec![agent.clone(), package.clone()];
        want.sort();
        assert_eq!(names, want);
        let mode = |n: &str| std::fs::metadata(store.join(n)).unwrap().permissions().mode();
        assert_eq!(mode(&agent) & 0o777, 0o755);
        assert_eq!(mode(&package) & 0o111, 0);
    }

    #[test]
    fn a_commit_with_one_bad_blob_keeps_none_and_fails() {
        let home = tempfile::tempdir().unwrap();
        let store = home.path().join(STORE);
        std::fs::create_dir_all(&store).unwrap();
        let (good, bad) = (sha(b"good"), sha(b"meant"));
        std::fs::write(store.join(part_name(&good, "n2")), b"good").unwrap();
        std::fs::write(store.join(part_name(&bad, "n2")), b"tampered").unwrap();
        let list = checklist(&[good.clone(), bad.clone()], "n2");
        std::fs::write(store.join(checklist_name("n2")), list).unwrap();
        let out = sh(home.path(), &commit("n2", &[], None));
        assert!(!out.status.success());
        assert_eq!(std::fs::read_dir(&store).unwrap().count(), 0);
    }

    #[test]
    fn an_agent_without_its_mode_is_reported_missing_and_removed() {
        let home = tempfile::tempdir().unwrap();
        let store = home.path().join(STORE);
        std::fs::create_dir_all(&store).unwrap();
        std::fs::write(store.join(A), b"not executable").unwrap();
        std::fs::write(store.join(B), b"a package").unwrap();
        let out = sh(home.path(), &start_command(A, None));
        assert!(out.status.success(), "{out:?}");
        let got = parse_bootstrap(&String::from_utf8(out.stdout).unwrap()).unwrap();
        assert_eq!(got.present, BTreeSet::from([B.to_string()]));
        assert!(!store.join(A).exists());
    }

    #[test]
    fn a_service_user_is_reached_through_sudo_without_a_password() {
        assert_eq!(
            start_command("ab12", Some("svc")),
            "if [ \"$(id -un)\" = svc ]; then A=.berth/store/ab12; if [ -x \"$A\" ]; then exec \"$A\" agent; fi; rm -f \"$A\"; \
             echo berth-bootstrap; echo direct; uname -m; mkdir -p .berth/store && ls -1 .berth/store; \
             else exec sudo -n -H -u svc sh -c 'cd && A=.berth/store/ab12; if [ -x \"$A\" ]; then exec \"$A\" agent; fi; rm -f \"$A\"; \
             echo berth-bootstrap; echo sudo; uname -m; mkdir -p .berth/store && ls -1 .berth/store'; fi"
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
        for bad in ["../x", "/etc/passwd", "a/../../x"] {
            let escape = vec![DefdirFile {
                path: bad.into(),
                sha256: sha.clone(),
                executable: false,
            }];
            assert!(materialize(home.path(), &escape).is_err(), "{bad}");
        }
        // Nothing half-built stays.
        assert_eq!(
            std::fs::read_dir(defdirs_dir(home.path())).unwrap().count(),
            1
        );
    }
}
