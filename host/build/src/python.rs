//! berth's Python runtime, and Python components as sources.
//!
//! A Python component is a folder with a `component.py` that uses berth's
//! Python SDK (`sdk/python`). It is not compiled: one runtime component per
//! berth version — CPython, the standard library and the SDK, built by
//! componentize-py — serves every Python component, and the host hands each
//! instance the component's sources ([`python_sources`]) as data.
//! [`ensure_python_runtime`] builds the runtime once into a folder (berth
//! puts it beside its compile cache), with
//! `componentize-py -d <wit> -w runtime componentize berth_main`, then
//! appends the `berth:api-version` and `berth:python-runtime` custom
//! sections, which componentize-py cannot emit.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use crate::{API_VERSION_SECTION, BuildError, api_version, append_custom_section};

/// The componentize-py release the SDK is written for.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// The API version the Python SDK implements (`berth.API_VERSION`).
pub const PYTHON_API_VERSION: &str = "0.1.0";

/// The version of berth's Python runtime: what a Python package names as
/// the runtime it needs. It changes when the way the runtime takes its
/// sources or the SDK's behaviour changes incompatibly.
pub const PYTHON_RUNTIME_VERSION: &str = "0.1.0";

/// The custom section in which the runtime carries [`PYTHON_RUNTIME_VERSION`].
pub const PYTHON_RUNTIME_SECTION: &str = "berth:python-runtime";

/// The WIT world the runtime implements (`berth:python-runtime/runtime`).
const WORLD: &str = "runtime";

/// The file that makes a folder a Python package.
pub const PYTHON_ENTRY: &str = "component.py";

/// The SDK and WIT the runtime is built from, embedded so that the runtime
/// is the same for a berth binary wherever it runs, and keyed by their
/// content ([`python_runtime_file`]).
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
        "sdk/python/berth/_sources.py",
        include_str!("../../../sdk/python/berth/_sources.py"),
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
    (
        "wit/python-runtime/v0.1.0/runtime.wit",
        include_str!("../../../wit/python-runtime/v0.1.0/runtime.wit"),
    ),
];

/// Whether `dir` holds a Python package (a `component.py`).
pub fn is_python_package(dir: &Path) -> bool {
    dir.join(PYTHON_ENTRY).is_file()
}

/// The componentize-py program: `$BERTH_COMPONENTIZE_PY`, else the one in
/// berth's virtual environment ([`berth_venv`], where `scripts/setup`
/// installs it), else `componentize-py` on the `PATH`. berth needs it once per
/// berth version, to build its Python runtime.
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

/// The runtime file in `dir` for this berth: its name holds the runtime
/// version and a digest of everything it is built from (componentize-py's
/// version, the SDK, the WIT), so a berth with another SDK never takes it.
pub fn python_runtime_file(dir: &Path) -> PathBuf {
    let mut key = Sha256::new();
    key.update(COMPONENTIZE_PY_VERSION);
    for (rel, text) in EMBEDDED {
        key.update(format!("\0{rel}\0{}\0", text.len()));
        key.update(text);
    }
    let key = hex::encode(key.finalize());
    dir.join(format!(
        "python-runtime-{PYTHON_RUNTIME_VERSION}-{}.wasm",
        &key[..16]
    ))
}

/// berth's Python runtime in `dir` ([`python_runtime_file`]), built first
/// when it is not there yet (once per berth version: about half a minute,
/// with `progress` told what happens).
///
/// Fails when componentize-py cannot be found or run or fails (the error
/// holds the end of its output), and when `dir` cannot be written.
pub fn ensure_python_runtime(
    dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<PathBuf, BuildError> {
    let file = python_runtime_file(dir);
    if file.is_file() {
        return Ok(file);
    }
    let componentize_py = detect_componentize_py()?;
    build_python_runtime(&componentize_py, &file, progress)?;
    Ok(file)
}

/// Builds the runtime into `file` with `componentize_py`, staging the SDK
/// and the WIT in a temporary folder beside it (componentize-py writes
/// `__pycache__` folders next to the modules it imports).
pub fn build_python_runtime(
    componentize_py: &Path,
    file: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<(), BuildError> {
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(BuildError::io("create directory", dir))?;
    let stage = tempfile_dir(dir)?;
    let root = stage.path();
    for (rel, text) in EMBEDDED {
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(BuildError::io("create directory", parent))?;
        }
        std::fs::write(&path, text).map_err(BuildError::io("write", &path))?;
    }
    // The runtime's package finds `berth:component` among its deps.
    let wit = root.join("wit/python-runtime/v0.1.0");
    let dep = wit.join("deps/component");
    std::fs::create_dir_all(&dep).map_err(BuildError::io("create directory", &dep))?;
    let from = root.join("wit/v0.1.0/component.wit");
    std::fs::copy(&from, dep.join("component.wit")).map_err(BuildError::io("copy", &from))?;

    let raw = root.join("runtime.componentize-py.wasm");
    let sdk = root.join("sdk/python");
    let mut command = Command::new(componentize_py);
    command
        .arg("-d")
        .arg(&wit)
        .arg("-w")
        .arg(WORLD)
        .arg("componentize")
        .arg("-p")
        .arg(&sdk)
        .arg("berth_main")
        .arg("-o")
        .arg(&raw)
        .current_dir(root)
        .stdin(Stdio::null());
    let line = format!(
        "{} -d {} -w {WORLD} componentize -p {} berth_main -o {}",
        componentize_py.display(),
        wit.display(),
        sdk.display(),
        raw.display()
    );
    progress(&format!(
        "building berth's Python runtime (once per berth version, about half a minute) into `{}`",
        file.display()
    ));
    let output = command.output().map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            BuildError::NoComponentizePy {
                hint: python_install_hint(),
            }
        } else {
            BuildError::Spawn {
                workspace: sdk.clone(),
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
            workspace: sdk,
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
    let mut runtime = with_api_version(bytes, PYTHON_API_VERSION);
    append_custom_section(
        &mut runtime,
        PYTHON_RUNTIME_SECTION,
        PYTHON_RUNTIME_VERSION.as_bytes(),
    );
    crate::cargo::write_if_changed(file, &runtime)?;
    Ok(())
}

/// A staging folder in `dir`, removed when dropped, under a name of its
/// own (process id and a counter), so that concurrent builds never share
/// one.
fn tempfile_dir(dir: &Path) -> Result<TempDir, BuildError> {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!(".stage-{}-{n}", std::process::id()));
    if path.exists() {
        std::fs::remove_dir_all(&path).map_err(BuildError::io("remove", &path))?;
    }
    std::fs::create_dir_all(&path).map_err(BuildError::io("create directory", &path))?;
    Ok(TempDir(path))
}

/// A staging folder removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether `rel`, a file of a Python package, is one of its sources (what
/// the runtime imports) rather than data (templates, static files).
pub fn is_python_source(rel: &str) -> bool {
    rel.ends_with(".py")
}

/// The sources of the Python package in `dir`: every `.py` file that
/// [`crate::package_files`] lists, by path relative to `dir`, sorted. Files
/// outside the folder never reach the runtime, whatever the build machine
/// has installed.
pub fn python_sources(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, BuildError> {
    crate::package_files(dir)?
        .into_iter()
        .filter(|rel| is_python_source(rel))
        .map(|rel| {
            let path = dir.join(&rel);
            let content = std::fs::read(&path).map_err(BuildError::io("read", &path))?;
            Ok((rel, content))
        })
        .collect()
}

/// The file in which a Python component lists its third-party
/// dependencies, as pip reads it: pinned versions with hashes
/// (`six==1.16.0 --hash=sha256:…`), and pip options such as `--find-links`.
pub const REQUIREMENTS: &str = "requirements.txt";

/// The folder, among a component's sources, of its bundled dependencies.
pub const SITE_PACKAGES: &str = "site-packages/";

/// The Python that runs pip: `$BERTH_PYTHON`, else the one of berth's
/// virtual environment (which has pip; a stock Debian's `python3` may
/// not), else `python3`.
fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("BERTH_PYTHON") {
        return PathBuf::from(python);
    }
    berth_venv()
        .map(|venv| venv.join("bin/python"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// Checks a wheel and extracts its files (`sys.argv[1]`) into a folder
/// (`sys.argv[2]`); exits 3 with the reason when it holds native code.
const EXTRACT: &str = r#"
import sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = z.namelist()
    for name in names:
        if name.endswith(("/WHEEL",)) and ".dist-info/" in name:
            text = z.read(name).decode()
            if "Root-Is-Purelib: true" not in text:
                print("its WHEEL says `Root-Is-Purelib: false`"); sys.exit(3)
        if name.endswith((".so", ".pyd", ".dylib", ".dll")) or ".so." in name:
            print("it holds the shared library `{}`".format(name)); sys.exit(3)
    for name in names:
        if name.startswith("/") or ".." in name.split("/"):
            print("it holds the path `{}`, which leaves its folder".format(name)); sys.exit(4)
    z.extractall(dest)
"#;

/// The third-party dependencies of the Python package in `package_dir`,
/// as sources below [`SITE_PACKAGES`]: none without a [`REQUIREMENTS`]
/// file. The wheels are fetched once per content of that file, by pip's
/// own `pip download --require-hashes --only-binary=:all: --no-deps`
/// (`--isolated`: no user configuration or environment), into `cache`,
/// and extracted there; later calls read the extracted files.
///
/// Fails when pip fails (a version without hashes, a hash mismatch, no
/// such release: the error holds pip's output), and with
/// [`BuildError::NativeWheel`] for a wheel with native code.
pub fn python_deps(
    package_dir: &Path,
    cache: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<(String, Vec<u8>)>, BuildError> {
    let requirements = package_dir.join(REQUIREMENTS);
    let text = match std::fs::read(&requirements) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(BuildError::io("read", &requirements)(e)),
    };
    let mut key = Sha256::new();
    key.update(&text);
    key.update(package_dir.as_os_str().as_encoded_bytes());
    let key = hex::encode(key.finalize());
    let done = cache.join("deps").join(&key[..16]);
    if !done.is_dir() {
        fetch_deps(package_dir, &requirements, &done, progress)?;
    }
    crate::package_files(&done)?
        .into_iter()
        .filter(|rel| is_python_source(rel))
        .map(|rel| {
            let path = done.join(&rel);
            let content = std::fs::read(&path).map_err(BuildError::io("read", &path))?;
            Ok((format!("{SITE_PACKAGES}{rel}"), content))
        })
        .collect()
}

fn fetch_deps(
    package_dir: &Path,
    requirements: &Path,
    done: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<(), BuildError> {
    let parent = done.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(BuildError::io("create directory", parent))?;
    let stage = tempfile_dir(parent)?;
    let wheels = stage.path().join("wheels");
    let site = stage.path().join("site");
    progress(&format!(
        "fetching the Python dependencies of `{}` with pip",
        requirements.display()
    ));
    let mut pip = Command::new(python());
    pip.args([
        "-m",
        "pip",
        "download",
        "--isolated",
        "--disable-pip-version-check",
    ])
    .args(["--no-deps", "--only-binary=:all:", "--require-hashes", "-r"])
    .arg(requirements)
    .arg("-d")
    .arg(&wheels);
    run_checked(&mut pip, package_dir)?;
    let mut found: Vec<PathBuf> = std::fs::read_dir(&wheels)
        .map_err(BuildError::io("list", &wheels))?
        .flatten()
        .map(|e| e.path())
        .collect();
    found.sort();
    for wheel in found {
        let name = wheel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let native = |why: String| BuildError::NativeWheel {
            requirements: requirements.to_owned(),
            wheel: name.clone(),
            why,
        };
        // `name-version(-build)?-python-abi-platform.whl`
        let tags: Vec<&str> = name.trim_end_matches(".whl").rsplitn(4, '-').collect();
        match tags.as_slice() {
            [platform, abi, ..] if *platform == "any" && *abi == "none" => {}
            [platform, abi, ..] => {
                return Err(native(format!(
                    "built for ABI `{abi}`, platform `{platform}`"
                )));
            }
            _ => return Err(native("its file name has no wheel tags".to_owned())),
        }
        let mut extract = Command::new(python());
        extract.args(["-I", "-c", EXTRACT]).arg(&wheel).arg(&site);
        let output = extract.output().map_err(|source| BuildError::Spawn {
            workspace: package_dir.to_owned(),
            command: format!("{} -I -c <extract> {}", python().display(), wheel.display()),
            source,
        })?;
        if output.status.code() == Some(3) {
            return Err(native(
                String::from_utf8_lossy(&output.stdout).trim().to_owned(),
            ));
        }
        if !output.status.success() {
            return Err(BuildError::Invalid {
                path: wheel.clone(),
                message: format!(
                    "cannot extract it: {}{}",
                    String::from_utf8_lossy(&output.stdout).trim(),
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
            });
        }
    }
    if !site.exists() {
        std::fs::create_dir_all(&site).map_err(BuildError::io("create directory", &site))?;
    }
    match std::fs::rename(&site, done) {
        // Another run fetched the same requirements meanwhile.
        Err(_) if done.is_dir() => Ok(()),
        other => other.map_err(BuildError::io("rename", &site)),
    }
}

/// Runs `command` in `dir`, turning a failure into [`BuildError::Cargo`]
/// with the end of its output.
fn run_checked(command: &mut Command, dir: &Path) -> Result<(), BuildError> {
    command.current_dir(dir).stdin(Stdio::null());
    let line = format!("{command:?}");
    let output = command.output().map_err(|source| BuildError::Spawn {
        workspace: dir.to_owned(),
        command: line.clone(),
        source,
    })?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    let lines: Vec<&str> = text.lines().collect();
    Err(BuildError::Cargo {
        workspace: dir.to_owned(),
        command: line,
        status: output.status.to_string(),
        tail: lines[lines.len().saturating_sub(40)..].join("\n"),
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
        let mut on_disk = Vec::new();
        for top in ["sdk/python", "wit"] {
            let mut dirs = vec![root.join(top)];
            while let Some(dir) = dirs.pop() {
                for e in std::fs::read_dir(dir).unwrap() {
                    let p = e.unwrap().path();
                    let name = p.file_name().unwrap().to_string_lossy().into_owned();
                    // `deps/` links to the frozen package, embedded once.
                    if p.is_dir() && name != "__pycache__" && name != "deps" {
                        dirs.push(p);
                    } else if p.extension().is_some_and(|x| x == "py" || x == "wit") {
                        let rel = p.strip_prefix(&root).unwrap();
                        on_disk.push(rel.to_string_lossy().into_owned());
                    }
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = EMBEDDED.iter().map(|(p, _)| (*p).to_owned()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk);
        for (rel, text) in EMBEDDED {
            assert_eq!(
                std::fs::read_to_string(root.join(rel)).unwrap(),
                *text,
                "{rel}"
            );
        }
    }

    #[test]
    fn a_folder_with_component_py_is_a_python_package_and_its_py_files_its_sources() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_python_package(dir.path()));
        std::fs::write(dir.path().join("component.py"), "import helpers\n").unwrap();
        std::fs::create_dir_all(dir.path().join("helpers")).unwrap();
        std::fs::create_dir_all(dir.path().join("__pycache__")).unwrap();
        std::fs::write(dir.path().join("helpers/__init__.py"), "").unwrap();
        std::fs::write(dir.path().join("__pycache__/x.py"), "").unwrap();
        std::fs::write(dir.path().join("motd.j2"), "{{x}}").unwrap();
        assert!(is_python_package(dir.path()));
        let sources = python_sources(dir.path()).unwrap();
        let paths: Vec<&str> = sources.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["component.py", "helpers/__init__.py"]);
        assert_eq!(sources[0].1, b"import helpers\n");
    }

    #[test]
    fn the_runtime_file_is_named_after_its_version_and_contents() {
        let file = python_runtime_file(Path::new("/cache/python"));
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(&format!("python-runtime-{PYTHON_RUNTIME_VERSION}-")),
            "{name}"
        );
        assert_eq!(file, python_runtime_file(Path::new("/cache/python")));
    }

    #[test]
    fn a_missing_componentize_py_says_what_to_install() {
        let dir = tempfile::tempdir().unwrap();
        let e = build_python_runtime(
            Path::new("/nonexistent/componentize-py"),
            &dir.path().join("runtime.wasm"),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("pip install componentize-py==0.25.1"),
            "{e}"
        );
        // The staging folder is gone.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
