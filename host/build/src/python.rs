//! Building Python guests with componentize-py.
//!
//! A Python package is a folder with a `component.py` that uses berth's
//! Python SDK (`sdk/python`). [`build_python`] runs
//! `componentize-py -d <wit> -w component componentize berth_main` with the
//! package folder and the SDK on the Python path, then appends the
//! `berth:api-version` custom section, which componentize-py cannot emit.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{API_VERSION_SECTION, BuildError, Built, api_version, append_custom_section};

/// The componentize-py release the SDK is written for.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// The API version the Python SDK implements (`berth.API_VERSION`).
pub const PYTHON_API_VERSION: &str = "0.1.0";

/// The WIT world every guest implements.
const WORLD: &str = "component";

/// The file that makes a folder a Python package.
pub const PYTHON_ENTRY: &str = "component.py";

/// The SDK and WIT, embedded so that `berth build` works in any deployment
/// repository; a berth checkout's own `sdk/python` and `wit/` take precedence.
/// (`embedded_copies_match_the_sources` keeps the list complete.)
const EMBEDDED: &[(&str, &str)] = &[
    (
        "sdk/python/berth_main.py",
        include_str!("../../../sdk/python/berth_main.py"),
    ),
    (
        "sdk/python/berth/__init__.py",
        include_str!("../../../sdk/python/berth/__init__.py"),
    ),
    (
        "sdk/python/berth/_errors.py",
        include_str!("../../../sdk/python/berth/_errors.py"),
    ),
    (
        "sdk/python/berth/_lifecycle.py",
        include_str!("../../../sdk/python/berth/_lifecycle.py"),
    ),
    (
        "sdk/python/berth/fs.py",
        include_str!("../../../sdk/python/berth/fs.py"),
    ),
    (
        "sdk/python/berth/log.py",
        include_str!("../../../sdk/python/berth/log.py"),
    ),
    (
        "sdk/python/berth/process.py",
        include_str!("../../../sdk/python/berth/process.py"),
    ),
    (
        "wit/v0.1.0/component.wit",
        include_str!("../../../wit/v0.1.0/component.wit"),
    ),
];

/// Whether `dir` holds a Python package (a `component.py`).
pub fn is_python_package(dir: &Path) -> bool {
    dir.join(PYTHON_ENTRY).is_file()
}

/// The componentize-py program: `$BERTH_COMPONENTIZE_PY`, else the one in
/// berth's virtual environment ([`berth_venv`], where `scripts/setup`
/// installs it), else `componentize-py` on the `PATH`.
///
/// Fails with [`BuildError::NoComponentizePy`], which says what to install.
pub fn detect_componentize_py() -> Result<PathBuf, BuildError> {
    if let Some(program) = std::env::var_os("BERTH_COMPONENTIZE_PY") {
        return Ok(PathBuf::from(program));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    berth_venv()
        .map(|venv| venv.join("bin"))
        .into_iter()
        .chain(std::env::split_paths(&path))
        .map(|dir| dir.join("componentize-py"))
        .find(|p| p.is_file())
        .ok_or_else(|| BuildError::NoComponentizePy {
            hint: python_install_hint(),
        })
}

/// The virtual environment berth owns for its Python tools: `$BERTH_VENV`,
/// else `$XDG_DATA_HOME/berth/venv`, else `~/.local/share/berth/venv`.
/// A stock Debian refuses `pip install` into its system Python, so berth
/// never asks for that.
pub fn berth_venv() -> Option<PathBuf> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(venv) = var("BERTH_VENV") {
        return Some(PathBuf::from(venv));
    }
    var("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|home| PathBuf::from(home).join(".local/share")))
        .map(|data| data.join("berth/venv"))
}

/// What to run to get componentize-py.
pub fn python_install_hint() -> String {
    let venv = berth_venv().map_or_else(
        || "~/.local/share/berth/venv".to_owned(),
        |v| v.display().to_string(),
    );
    format!(
        "run `scripts/setup --toolchain` in a berth checkout, or `python3 -m venv {venv} && \
         {venv}/bin/pip install componentize-py=={COMPONENTIZE_PY_VERSION}`"
    )
}

/// Copy what componentize-py reads into `stage`: the package's `.py` files
/// into `stage/app`, the SDK into `stage/sdk/python` and the WIT into
/// `stage/wit` (from the berth checkout above the package, else the copies
/// embedded in this crate). componentize-py writes `__pycache__` folders
/// next to the modules it imports; staging keeps them out of the sources.
fn stage(package_dir: &Path, stage: &Path) -> Result<(), BuildError> {
    if stage.exists() {
        std::fs::remove_dir_all(stage).map_err(BuildError::io("remove", stage))?;
    }
    copy_py(package_dir, &stage.join("app"))?;
    match checkout(package_dir) {
        Some(root) => {
            copy_py(&root.join("sdk/python"), &stage.join("sdk/python"))?;
            copy_py(&root.join("wit"), &stage.join("wit"))?;
        }
        None => {
            for (rel, text) in EMBEDDED {
                let path = stage.join(rel);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(BuildError::io("create directory", parent))?;
                }
                std::fs::write(&path, text).map_err(BuildError::io("write", &path))?;
            }
        }
    }
    Ok(())
}

/// Copy the `.py` and `.wit` files below `from` to `to`, keeping folders.
fn copy_py(from: &Path, to: &Path) -> Result<(), BuildError> {
    std::fs::create_dir_all(to).map_err(BuildError::io("create directory", to))?;
    for entry in std::fs::read_dir(from).map_err(BuildError::io("list", from))? {
        let path = entry.map_err(BuildError::io("list", from))?.path();
        let Some(name) = path.file_name() else {
            continue;
        };
        if path.is_dir() {
            if name != "__pycache__" && !name.to_string_lossy().starts_with('.') {
                copy_py(&path, &to.join(name))?;
            }
        } else if path.extension().is_some_and(|x| x == "py" || x == "wit") {
            std::fs::copy(&path, to.join(name)).map_err(BuildError::io("copy", &path))?;
        }
    }
    Ok(())
}

/// The berth checkout above `dir`, if any.
fn checkout(dir: &Path) -> Option<&Path> {
    dir.ancestors()
        .find(|d| d.join("sdk/python/berth/__init__.py").is_file() && d.join("wit/v0.1.0").is_dir())
}

/// Whether the component `wasm` of the Python package in `package_dir` is
/// missing or older than its Python sources (every `.py` below the folder)
/// or, in a berth checkout, than `sdk/python` and `wit/`.
pub fn python_stale(package_dir: &Path, wasm: &Path) -> bool {
    let Ok(built) = std::fs::metadata(wasm).and_then(|m| m.modified()) else {
        return true;
    };
    let mut roots = vec![package_dir.to_owned()];
    if let Some(root) = checkout(package_dir) {
        roots.push(root.join("sdk/python"));
        roots.push(root.join("wit"));
    }
    roots.iter().any(|r| newer_py(r, built))
}

fn newer_py(path: &Path, time: std::time::SystemTime) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if meta.is_dir() {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name == "__pycache__" {
            return false;
        }
        return std::fs::read_dir(path)
            .map(|entries| entries.flatten().any(|e| newer_py(&e.path(), time)))
            .unwrap_or(true);
    }
    let code = path.extension().is_some_and(|x| x == "py" || x == "wit");
    code && meta.modified().map_or(true, |m| m > time)
}

/// Build the Python package in `package_dir` into `<out_dir>/<name>.wasm`
/// with `componentize_py`; `work_dir/<name>/` is where the sources are staged
/// for componentize-py (see `stage`).
///
/// Fails when componentize-py cannot be run or fails (the error holds the
/// end of its output) and when its output is no component.
pub fn build_python(
    package_dir: &Path,
    name: &str,
    out_dir: &Path,
    work_dir: &Path,
    componentize_py: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<Built, BuildError> {
    let package_dir =
        std::path::absolute(package_dir).map_err(BuildError::io("resolve", package_dir))?;
    let root = work_dir.join(name);
    stage(&package_dir, &root)?;
    std::fs::create_dir_all(out_dir).map_err(BuildError::io("create directory", out_dir))?;
    let raw = root.join(format!("{name}.componentize-py.wasm"));
    let app = root.join("app");

    let mut command = Command::new(componentize_py);
    command
        .arg("-d")
        .arg(root.join("wit/v0.1.0"))
        .arg("-w")
        .arg(WORLD)
        .arg("componentize")
        .arg("-p")
        .arg(&app)
        .arg("-p")
        .arg(root.join("sdk/python"))
        .arg("berth_main")
        .arg("-o")
        .arg(&raw)
        .current_dir(&root)
        .stdin(Stdio::null());
    let line = format!(
        "{} -d {} -w {WORLD} componentize -p {} -p {} berth_main -o {}",
        componentize_py.display(),
        root.join("wit/v0.1.0").display(),
        app.display(),
        root.join("sdk/python").display(),
        raw.display()
    );
    progress(&format!(
        "building Python package `{}` with componentize-py",
        package_dir.display()
    ));
    let output = command.output().map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            BuildError::NoComponentizePy {
                hint: python_install_hint(),
            }
        } else {
            BuildError::Spawn {
                workspace: package_dir.clone(),
                command: line.clone(),
                source,
            }
        }
    })?;
    if !output.status.success() {
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(60)..].join("\n");
        return Err(BuildError::Cargo {
            workspace: package_dir,
            command: line,
            status: output.status.to_string(),
            tail,
        });
    }
    let bytes = std::fs::read(&raw).map_err(BuildError::io("read", &raw))?;
    if !crate::is_component(&bytes) {
        return Err(BuildError::Invalid {
            path: raw,
            message: "componentize-py did not produce a component".to_owned(),
        });
    }
    let component = with_api_version(bytes, PYTHON_API_VERSION);
    let _ = std::fs::remove_dir_all(&root);
    let wasm = out_dir.join(format!("{name}.wasm"));
    crate::cargo::write_if_changed(&wasm, &component)?;
    Ok(Built {
        package: name.to_owned(),
        wasm,
    })
}

/// `bytes` with a `berth:api-version` custom section holding `version`
/// appended, unless it already carries one. A custom section is valid at
/// the end of a component as well as of a module.
pub fn with_api_version(mut bytes: Vec<u8>, version: &str) -> Vec<u8> {
    if api_version(&bytes).is_some() {
        return bytes;
    }
    append_custom_section(&mut bytes, API_VERSION_SECTION, version.as_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_version_section_is_appended_once() {
        let component = crate::componentize(b"\0asm\x01\0\0\0").unwrap();
        assert_eq!(api_version(&component), None);
        let stamped = with_api_version(component, "0.1.0");
        assert!(crate::is_component(&stamped));
        assert_eq!(api_version(&stamped).as_deref(), Some("0.1.0"));
        assert_eq!(with_api_version(stamped.clone(), "9.9.9"), stamped);
    }

    #[test]
    fn embedded_copies_match_the_sources() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let stage = tempfile::tempdir().unwrap();
        copy_py(&root.join("sdk/python"), &stage.path().join("sdk/python")).unwrap();
        copy_py(&root.join("wit/v0.1.0"), &stage.path().join("wit/v0.1.0")).unwrap();
        let mut on_disk = Vec::new();
        let mut dirs = vec![stage.path().to_owned()];
        while let Some(dir) = dirs.pop() {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else {
                    let rel = p.strip_prefix(stage.path()).unwrap();
                    on_disk.push(rel.to_string_lossy().into_owned());
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = EMBEDDED.iter().map(|(p, _)| (*p).to_owned()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk);
    }

    #[test]
    fn a_folder_with_component_py_is_a_python_package() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_python_package(dir.path()));
        std::fs::write(dir.path().join("component.py"), "").unwrap();
        assert!(is_python_package(dir.path()));
        assert!(python_stale(dir.path(), &dir.path().join("x.wasm")));
    }

    #[test]
    fn a_missing_componentize_py_says_what_to_install() {
        let e = build_python(
            Path::new("."),
            "x",
            &std::env::temp_dir(),
            &std::env::temp_dir().join("berth-build-test-py"),
            Path::new("/nonexistent/componentize-py"),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("pip install componentize-py==0.25.1"),
            "{e}"
        );
    }
}
