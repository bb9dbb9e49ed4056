//! Running cargo on a guest workspace.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::{
    API_VERSION_SECTION, BuildError, Toolchain, componentize, custom_section, is_component,
};

/// How many lines of cargo's output a failure keeps.
const TAIL_LINES: usize = 60;

/// A component built from a guest package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Built {
    /// The package's name (`[package] name`).
    pub package: String,
    /// The component: `<out_dir>/<package>.wasm`.
    pub wasm: PathBuf,
}

/// Build every `cdylib` member of the cargo workspace at `workspace`; see
/// [`build_members`].
pub fn build_workspace(
    workspace: &Path,
    target_dir: &Path,
    out_dir: &Path,
    tc: &Toolchain,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<Built>, BuildError> {
    build_members(workspace, None, target_dir, out_dir, tc, progress)
}

/// Build the `cdylib` members of the cargo workspace at `workspace` named in
/// `only` (every one when `None`) for `wasm32-unknown-unknown` in release
/// mode, with cargo's target folder at `target_dir`, and leave each as a
/// component at `<out_dir>/<package>.wasm`, with the digest of its sources
/// beside it (see [`crate::stale`]).
///
/// A core module (rustup's linker) is turned into a component with
/// [`componentize`]. Each output is written atomically and only when its
/// bytes changed. Cargo's progress lines are handed to `progress` as they
/// come.
///
/// Fails when cargo cannot be run or fails (the error holds the command and
/// the end of cargo's output), when a package yields no `.wasm`, or when a
/// component carries no `berth:api-version` section (it does not use
/// `berth_sdk::export!`). Names in `only` that are not members are ignored.
pub fn build_members(
    workspace: &Path,
    only: Option<&[String]>,
    target_dir: &Path,
    out_dir: &Path,
    tc: &Toolchain,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<Built>, BuildError> {
    let workspace = std::path::absolute(workspace).map_err(BuildError::io("resolve", workspace))?;
    let manifest = workspace.join("Cargo.toml");
    let mut packages = cdylib_packages(&workspace, &manifest, tc)?;
    if let Some(only) = only {
        packages.retain(|(name, _)| only.contains(name));
    }
    // Taken before cargo runs: an edit made during the build is not built.
    let digests: Vec<Option<String>> = packages
        .iter()
        .map(|(_, manifest_path)| manifest_path.parent().and_then(crate::sources_digest))
        .collect();

    let mut command = tc.command();
    command.args(tc.build_args());
    if only.is_some() {
        for (name, _) in &packages {
            command.arg("--package").arg(name);
        }
    } else {
        command.arg("--workspace");
    }
    command
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .arg("--message-format=json-render-diagnostics")
        .current_dir(&workspace);
    let line = command_line(&command);
    progress(&format!("building `{}` with {tc}", workspace.display()));
    let messages = run(&workspace, &line, command, progress)?;

    // The `.wasm` of every cdylib, by manifest path.
    let mut artifacts: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    for message in messages
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
    {
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let is_cdylib = message["target"]["crate_types"]
            .as_array()
            .is_some_and(|types| types.iter().any(|t| t == "cdylib"));
        let (Some(manifest_path), Some(files)) = (
            message["manifest_path"].as_str(),
            message["filenames"].as_array(),
        ) else {
            continue;
        };
        if is_cdylib
            && let Some(wasm) = files
                .iter()
                .filter_map(Value::as_str)
                .find(|f| f.ends_with(".wasm"))
        {
            artifacts.insert(PathBuf::from(manifest_path), PathBuf::from(wasm));
        }
    }

    std::fs::create_dir_all(out_dir).map_err(BuildError::io("create directory", out_dir))?;
    let mut built = Vec::new();
    for ((package, manifest_path), before) in packages.into_iter().zip(digests) {
        let Some(artifact) = artifacts.get(&manifest_path) else {
            return Err(BuildError::NoArtifact { workspace, package });
        };
        let bytes = std::fs::read(artifact).map_err(BuildError::io("read", artifact))?;
        let component = if is_component(&bytes) {
            bytes
        } else {
            componentize(&bytes).map_err(|e| match e {
                BuildError::Componentize { message, .. } => BuildError::Componentize {
                    what: format!("`{}` (package `{package}`)", artifact.display()),
                    message,
                },
                other => other,
            })?
        };
        match custom_section(&component, API_VERSION_SECTION) {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(BuildError::NoApiVersion {
                    package,
                    path: artifact.clone(),
                });
            }
            Err(message) => {
                return Err(BuildError::Invalid {
                    path: artifact.clone(),
                    message,
                });
            }
        }
        let wasm = out_dir.join(format!("{package}.wasm"));
        write_if_changed(&wasm, &component)?;
        // Recorded only when the sources did not change while cargo ran:
        // else the next run builds again. The `Cargo.lock` cargo wrote is
        // recorded as it is now.
        let member = manifest_path.parent();
        let after = member.and_then(crate::sources_digest);
        if let (Some(member), Some(digest)) = (member, before.filter(|b| after.as_ref() == Some(b)))
        {
            crate::record_sources(member, &wasm, &digest)
                .map_err(BuildError::io("record the source digest of", &wasm))?;
        }
        built.push(Built { package, wasm });
    }
    Ok(built)
}

/// The workspace's packages that build a `cdylib`: name and manifest path.
fn cdylib_packages(
    workspace: &Path,
    manifest: &Path,
    tc: &Toolchain,
) -> Result<Vec<(String, PathBuf)>, BuildError> {
    let mut command = tc.command();
    command
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(manifest)
        .current_dir(workspace);
    let line = command_line(&command);
    let stdout = run(workspace, &line, command, &mut |_| {})?;
    let bad = |message: &str| BuildError::Metadata {
        workspace: workspace.to_owned(),
        command: line.clone(),
        message: message.to_owned(),
    };
    let metadata: Value = serde_json::from_str(&stdout).map_err(|e| bad(&e.to_string()))?;
    let packages = metadata["packages"]
        .as_array()
        .ok_or_else(|| bad("no `packages`"))?;
    let mut found = Vec::new();
    for package in packages {
        let (Some(name), Some(manifest_path), Some(targets)) = (
            package["name"].as_str(),
            package["manifest_path"].as_str(),
            package["targets"].as_array(),
        ) else {
            return Err(bad("a package without name, manifest_path or targets"));
        };
        let cdylib = targets.iter().any(|t| {
            t["crate_types"]
                .as_array()
                .is_some_and(|types| types.iter().any(|c| c == "cdylib"))
        });
        if cdylib {
            found.push((name.to_owned(), PathBuf::from(manifest_path)));
        }
    }
    found.sort();
    Ok(found)
}

/// Run `command`, handing its stderr lines to `progress` and returning its
/// stdout; on failure the error holds the last lines of both.
fn run(
    workspace: &Path,
    line: &str,
    mut command: Command,
    progress: &mut dyn FnMut(&str),
) -> Result<String, BuildError> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| BuildError::Spawn {
            workspace: workspace.to_owned(),
            command: line.to_owned(),
            source,
        })?;
    // stdout goes to a thread so that neither pipe can fill up and block
    // cargo while we read the other; `progress` stays on this thread.
    let stdout = child.stdout.take().map(|mut out| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = out.read_to_end(&mut buf);
            buf
        })
    });
    let mut tail = VecDeque::with_capacity(TAIL_LINES);
    if let Some(stderr) = child.stderr.take() {
        for l in BufReader::new(stderr).lines() {
            let Ok(l) = l else { break };
            progress(&l);
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(l);
        }
    }
    let status = child.wait().map_err(|source| BuildError::Spawn {
        workspace: workspace.to_owned(),
        command: line.to_owned(),
        source,
    })?;
    let stdout = stdout
        .and_then(|t| t.join().ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    if status.success() {
        return Ok(stdout);
    }
    // With JSON messages, errors are rendered on stderr; plain commands
    // (metadata) may say something useful on stdout too.
    let mut lines: Vec<String> = tail.into_iter().collect();
    lines.extend(
        stdout
            .lines()
            .filter(|l| !l.starts_with('{'))
            .map(str::to_owned),
    );
    let start = lines.len().saturating_sub(TAIL_LINES);
    Err(BuildError::Cargo {
        workspace: workspace.to_owned(),
        command: line.to_owned(),
        status: status.to_string(),
        tail: lines[start..].join("\n"),
    })
}

/// The command as a shell-like line, with the variables it sets, for errors.
fn command_line(command: &Command) -> String {
    let mut parts: Vec<String> = command
        .get_envs()
        .filter_map(|(k, v)| Some(format!("{}={}", k.to_str()?, v?.to_string_lossy())))
        .collect();
    parts.push(command.get_program().to_string_lossy().into_owned());
    parts.extend(command.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

/// Write `bytes` to `path` unless it already holds them: into a temporary
/// file beside it, then renamed over it.
pub fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(BuildError::io("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        BuildError::Io {
            action: "replace",
            path: path.to_owned(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_if_changed_keeps_an_identical_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wasm");
        write_if_changed(&path, b"one").unwrap();
        let t = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        write_if_changed(&path, b"one").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), t);
        write_if_changed(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn command_line_shows_the_variables_set() {
        let tc = Toolchain::Debian {
            cargo: "/usr/bin/cargo".into(),
            rustc: "/usr/bin/rustc".into(),
            linker: "/l/wasm-component-ld".into(),
        };
        let mut c = Command::new(tc.cargo());
        for (k, v) in tc.env() {
            c.env(k, v);
        }
        c.args(tc.build_args());
        assert_eq!(
            command_line(&c),
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=/l/wasm-component-ld RUSTC=/usr/bin/rustc \
             RUSTC_BOOTSTRAP=1 /usr/bin/cargo build --release --target wasm32-unknown-unknown \
             -Zbuild-std=std,panic_abort"
        );
    }

    #[test]
    fn a_missing_cargo_is_named_in_the_error() {
        let tc = Toolchain::Rustup {
            cargo: "/nonexistent/cargo".into(),
        };
        let dir = tempfile::tempdir().unwrap();
        let e = build_workspace(dir.path(), dir.path(), dir.path(), &tc, &mut |_| {}).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("/nonexistent/cargo metadata"), "{msg}");
        assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    }

    #[test]
    fn a_failing_cargo_shows_the_tail() {
        let Ok(tc) = crate::detect() else { return };
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[workspace]\nmembers = [\"nope\"]\n",
        )
        .unwrap();
        let mut lines = Vec::new();
        let e = build_workspace(
            dir.path(),
            &dir.path().join("t"),
            dir.path(),
            &tc,
            &mut |l| lines.push(l.to_owned()),
        )
        .unwrap_err();
        let BuildError::Cargo { tail, command, .. } = &e else {
            panic!("{e}")
        };
        assert!(command.contains("metadata"), "{command}");
        assert!(tail.contains("nope"), "{tail}");
    }
}
