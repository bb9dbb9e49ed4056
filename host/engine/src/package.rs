//! `berth package NAME`: one component of `components/` as a single `.wasm`
//! file that carries its metadata and its definition folder's data files,
//! for other repositories to take from a find-links folder and pin.

use crate::EngineError;
use crate::event::Reporter;
use crate::model::{access_word, attr_type};
use crate::pins::{PinError, in_repo, write};
use crate::repo::{Origin, PackageDir, Repository};
use berth_build::{
    AttributeMetadata, EMPTY_COMPONENT, Metadata, NeedsMetadata, PathNeedMetadata, RootMetadata,
    make_package,
};
use berth_runtime::wit::Description;
use berth_runtime::{Runtime, RuntimeOptions};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The folder packages are written to, in the repository, by default.
pub const DIST_DIR: &str = "dist";

/// What [`package`] wrote.
#[derive(Debug, Clone)]
pub struct Packaged {
    /// The package file, as reached from the repository path.
    pub file: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its sha256, lowercase hex: what a lock file pins.
    pub sha256: String,
    /// The metadata in its `berth:package` section.
    pub metadata: Metadata,
    /// The data files it carries, by path.
    pub files: Vec<String>,
}

/// Packages component `name` of `components/`: builds it when it is a
/// stale source package (unless `build` is false), loads it and calls
/// `describe()`, and writes `<out>/<name>-<version>.wasm` (default `dist/`
/// in the repository; `shown` is the repository as the user named it)
/// atomically: the component's bytes, then the `berth:package` and
/// `berth:files` sections.
///
/// Errors: no such package (with "did you mean"); a build or load failure;
/// a version that is not semver; a component that already is a package;
/// an unreadable folder or unwritable output.
pub fn package(
    repo: &Repository,
    shown: &Path,
    name: &str,
    out: Option<&Path>,
    build: bool,
    runtime: &RuntimeOptions,
    reporter: &dyn Reporter,
) -> Result<Packaged, EngineError> {
    let dir = find(repo, name)?;
    if build {
        repo.build_stale(std::slice::from_ref(&dir), reporter)?;
    }
    let engine = Runtime::new(runtime.clone())?;
    // A Python package carries no code of its own: its sources are among
    // its files, and berth's Python runtime runs them.
    let mut deps = Vec::new();
    let (component, loaded, python_runtime) = if dir.origin == Origin::Python {
        let python =
            crate::python::Loader::new(crate::python::runtime_dir(runtime, &repo.root), reporter);
        let loaded = python.load_dir(&engine, repo, &dir)?;
        // Its third-party dependencies travel with it, fetched once.
        deps = python
            .sources(&dir.defdir)?
            .into_iter()
            .filter(|(rel, _)| rel.starts_with(berth_build::SITE_PACKAGES))
            .map(|(path, content)| berth_build::PackagedFile {
                path,
                executable: false,
                content,
            })
            .collect();
        let version = berth_build::PYTHON_RUNTIME_VERSION.to_owned();
        (EMPTY_COMPONENT.to_vec(), loaded, Some(version))
    } else {
        let component = std::fs::read(&dir.wasm).map_err(|e| EngineError::Io {
            path: dir.wasm.clone(),
            message: if e.kind() == std::io::ErrorKind::NotFound {
                "missing; run `berth build`".to_owned()
            } else {
                e.to_string()
            },
        })?;
        let loaded = engine.load_bytes(&dir.wasm, &component)?;
        (component, loaded, None)
    };
    let description = &loaded.description;
    if semver::Version::parse(&description.version).is_err() {
        return Err(EngineError::NotSemver {
            name: name.to_owned(),
            version: description.version.clone(),
        });
    }
    let source_digest = berth_build::source_digest(&dir.defdir).map_err(build_error)?;
    let data: Vec<String> = berth_build::package_files(&dir.defdir)
        .map_err(build_error)?
        .into_iter()
        .filter(|rel| !is_code(&dir, rel))
        .collect();
    let mut files = berth_build::read_files(&dir.defdir, &data).map_err(build_error)?;
    files.extend(deps);
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let metadata = Metadata {
        name: dir.name.clone(),
        version: description.version.clone(),
        api_version: loaded.api_version.clone(),
        source_digest,
        berth_version: env!("CARGO_PKG_VERSION").to_owned(),
        roots: roots_metadata(description),
        python_runtime,
    };
    let bytes =
        make_package(component, &metadata, &files).map_err(|message| PinError::Invalid {
            file: dir.wasm.clone(),
            message,
        })?;
    let out_dir = match out {
        Some(out) => out.to_path_buf(),
        None => in_repo(shown, Path::new(DIST_DIR)),
    };
    std::fs::create_dir_all(&out_dir).map_err(|e| EngineError::Io {
        path: out_dir.clone(),
        message: e.to_string(),
    })?;
    let file = out_dir.join(format!("{}-{}.wasm", metadata.name, metadata.version));
    write(&file, &file, &bytes)?;
    Ok(Packaged {
        file,
        size: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(&bytes)),
        metadata,
        files: files.iter().map(|f| f.path.clone()).collect(),
    })
}

/// The package `name` of `components/`.
fn find(repo: &Repository, name: &str) -> Result<PackageDir, EngineError> {
    let packages = repo.packages()?;
    if let Some(dir) = packages.iter().find(|p| p.name == name) {
        return Ok(dir.clone());
    }
    let names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
    let hint = match berth_config::did_you_mean(name, names.iter().copied()) {
        Some(s) => format!("did you mean `{s}`?"),
        None if names.is_empty() => "`components/` holds no packages".to_owned(),
        None => format!(
            "there are {}",
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Err(EngineError::NoSuchPackage {
        name: name.to_owned(),
        hint,
    })
}

/// Whether `rel` (a file of the package folder) went into the component's
/// code, so the package need not carry it: a Rust crate's manifest,
/// `build.rs` and `src/`, a prebuilt package's `.wasm`. Everything else is
/// data (templates, static files); a Python package's `.py` files are its
/// code and its data at once: the package carries them.
fn is_code(dir: &PackageDir, rel: &str) -> bool {
    match dir.origin {
        Origin::Source => {
            matches!(rel, "Cargo.toml" | "Cargo.lock" | "build.rs") || rel.starts_with("src/")
        }
        Origin::Python => false,
        Origin::Prebuilt => dir
            .wasm
            .strip_prefix(&dir.defdir)
            .is_ok_and(|w| w == Path::new(rel)),
        // A pinned package is not in `components/` and is never packaged.
        Origin::Pinned => false,
    }
}

/// What `describe()` says about the roots, as package metadata (and as
/// `berth inspect --format json` prints it).
pub fn roots_metadata(description: &Description) -> Vec<RootMetadata> {
    description
        .roots
        .iter()
        .map(|r| RootMetadata {
            name: r.name.clone(),
            doc: r.doc.clone(),
            attributes: r
                .attributes
                .iter()
                .map(|a| AttributeMetadata {
                    name: a.name.clone(),
                    type_: attr_type(a.type_).as_str().to_owned(),
                    default: a
                        .default
                        .as_deref()
                        .and_then(|d| serde_json::from_str(d).ok()),
                    doc: a.doc.clone(),
                })
                .collect(),
            needs: NeedsMetadata {
                paths: r
                    .needs
                    .paths
                    .iter()
                    .map(|p| PathNeedMetadata {
                        path: p.path.clone(),
                        access: access_word(p.access).to_owned(),
                    })
                    .collect(),
                commands: r.needs.commands.clone(),
            },
        })
        .collect()
}

fn build_error(e: berth_build::BuildError) -> EngineError {
    match e {
        berth_build::BuildError::Io {
            action,
            path,
            source,
        } => EngineError::Io {
            path,
            message: format!("cannot {action}: {source}"),
        },
        other => EngineError::Build(other.to_string()),
    }
}
