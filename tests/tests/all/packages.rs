//! Packages: `berth package` writes one file with metadata and data files;
//! another repository takes it from a find-links folder or a path, pins it
//! with `berth lock`, and refuses it when its bytes change.

use berth_build::{Metadata, make_package, read_package};
use berth_config::Pin;
use berth_engine::pins::Change;
use berth_tests::{HELLO, MOTD, TestRepo, snapshot};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

const ENV: &str = "[hosts]\nlocalhost = hello\n";

/// A repository with the example `hello` (its `.wasm`, `banner.txt`,
/// `README.md`), packaged into its `dist/`.
fn packaged_hello() -> (TestRepo, PathBuf) {
    let author = TestRepo::new();
    author.example("hello", HELLO).env("local", ENV);
    let packaged = author.package("hello");
    (author, packaged.file)
}

/// A repository that takes packages from its `packages/` folder.
fn consumer(packages: &[&Path]) -> TestRepo {
    let repo = TestRepo::new();
    repo.write("packages.cfg", "[packages]\nfind-links = packages/\n")
        .env("local", ENV);
    std::fs::create_dir_all(repo.join("packages")).unwrap();
    for file in packages {
        std::fs::copy(file, repo.join("packages").join(file.file_name().unwrap())).unwrap();
    }
    repo
}

/// `file` re-packaged as `version`: the same component and files with other
/// metadata, as a newer release of the package would be.
fn as_version(file: &Path, version: &str, dir: &Path) -> PathBuf {
    let bytes = std::fs::read(file).unwrap();
    let contents = read_package(&bytes).unwrap().unwrap();
    let component = std::fs::read(HELLO).unwrap();
    let metadata = Metadata {
        version: version.into(),
        ..contents.metadata
    };
    let out = dir.join(format!("hello-{version}.wasm"));
    std::fs::write(
        &out,
        make_package(component, &metadata, &contents.files).unwrap(),
    )
    .unwrap();
    out
}

fn pins(changes: &[Change]) -> Vec<String> {
    let line = |p: &Pin| format!("{} {} {}", p.name, p.version, p.file.display());
    changes
        .iter()
        .map(|c| match c {
            Change::Added(p) => format!("added {}", line(p)),
            Change::Changed { old, new } => format!("changed {} -> {}", line(old), line(new)),
            Change::Removed(p) => format!("removed {}", line(p)),
            Change::Unchanged(p) => format!("unchanged {}", line(p)),
        })
        .collect()
}

fn sha256(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// Flips one bit in the middle of `path` in place, then restores its
/// modification time: same size, inode and mtime, other bytes.
pub(crate) fn tamper_keeping_identity(path: &Path) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let modified = std::fs::metadata(path).unwrap().modified().unwrap();
    let mut file = std::fs::File::options()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let middle = file.metadata().unwrap().len() / 2;
    let mut byte = [0u8];
    file.seek(SeekFrom::Start(middle)).unwrap();
    file.read_exact(&mut byte).unwrap();
    file.seek(SeekFrom::Start(middle)).unwrap();
    file.write_all(&[byte[0] ^ 1]).unwrap();
    file.set_modified(modified).unwrap();
}

#[test]
fn package_writes_the_component_with_its_metadata_and_data_files() {
    let (author, file) = packaged_hello();
    assert_eq!(file, author.join("dist/hello-0.1.0.wasm"));
    let bytes = std::fs::read(&file).unwrap();
    let component = std::fs::read(HELLO).unwrap();
    assert!(bytes.starts_with(&component), "the component comes first");
    let contents = read_package(&bytes)
        .unwrap()
        .expect("a berth:package section");
    let m = &contents.metadata;
    assert_eq!((m.name.as_str(), m.version.as_str()), ("hello", "0.1.0"));
    assert_eq!(m.api_version, berth_runtime::API_VERSION);
    assert_eq!(m.berth_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(
        m.source_digest,
        berth_build::source_digest(&author.join("components/hello")).unwrap()
    );
    let root = &m.roots[0];
    assert_eq!(root.name, "hello");
    assert_eq!(root.attributes[0].name, "greeting");
    assert_eq!(root.attributes[0].type_, "string");
    assert_eq!(root.attributes[0].default, Some(serde_json::json!("Hello")));
    assert!(root.needs.paths.is_empty() && root.needs.commands.is_empty());
    // The defdir's data files travel; the component file itself does not.
    let files: Vec<&str> = contents.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(files, ["README.md", "banner.txt"]);
    assert_eq!(
        contents.files[1].content,
        std::fs::read(author.join("components/hello/banner.txt")).unwrap()
    );
    // A package is still a loadable component.
    let runtime = berth_runtime::Runtime::new(author.options("local").runtime).unwrap();
    let loaded = runtime.load_bytes(&file, &bytes).unwrap();
    assert_eq!(loaded.description.name, "hello");
    assert_eq!(loaded.sha256, sha256(&file));
}

#[test]
fn the_metadata_lists_what_a_component_needs() {
    let author = TestRepo::new();
    author.example("motd", MOTD);
    let packaged = author.package("motd");
    let motd = &packaged.metadata.roots[0];
    assert_eq!(motd.name, "motd");
    assert!(
        motd.attributes
            .iter()
            .any(|a| a.name == "admins" && a.type_ == "list"),
        "{motd:#?}"
    );
    assert!(packaged.files.contains(&"motd.j2".to_owned()));
}

#[test]
fn a_pinned_package_deploys_with_its_data_files() {
    let (_author, file) = packaged_hello();
    let repo = consumer(&[file.as_path()]);
    let locked = repo.lock().unwrap();
    assert_eq!(
        pins(&locked.changes),
        ["added hello 0.1.0 packages/hello-0.1.0.wasm"]
    );
    let lock = std::fs::read_to_string(repo.join("packages.lock")).unwrap();
    assert!(
        lock.contains(&format!(
            "[package:hello]\nversion = 0.1.0\nfile = packages/hello-0.1.0.wasm\nsha256 = {}\n",
            sha256(&file)
        )),
        "{lock}"
    );
    let run = repo.deploy("local");
    assert_eq!(run.summary().failed, 0, "{:#?}", run.steps());
    assert_eq!(
        std::fs::read(repo.workdir("hello").join("hello/banner.txt")).unwrap(),
        std::fs::read(berth_tests::component_dir("hello").join("banner.txt")).unwrap()
    );
    // A changed unpacked file is put back from the verified package bytes.
    let unpacked = repo.join(".berth/packages/hello/banner.txt");
    std::fs::write(&unpacked, "forged").unwrap();
    std::fs::write(repo.join(".berth/packages/hello/extra"), "x").unwrap();
    let again = repo.deploy("local");
    assert_eq!(again.summary().changed, 0, "{:#?}", again.steps());
    assert_ne!(std::fs::read(&unpacked).unwrap(), b"forged");
    assert!(!repo.join(".berth/packages/hello/extra").exists());
}

#[test]
fn an_unpinned_package_is_refused_until_locked() {
    let (_author, file) = packaged_hello();
    let repo = consumer(&[file.as_path()]);
    let err = repo.deploy("local").error();
    assert_eq!(
        err,
        format!(
            "package `hello` (`{}`) is not pinned in `{}`\n  hint: run `berth lock` to pin it, and review the change",
            repo.join("packages/hello-0.1.0.wasm").display(),
            repo.join("packages.lock").display()
        )
    );
    assert!(!repo.join("work").exists());
}

#[test]
fn a_changed_file_is_refused_with_both_hashes_even_when_it_looks_unchanged() {
    let (_author, file) = packaged_hello();
    let repo = consumer(&[file.as_path()]);
    repo.lock().unwrap();
    repo.deploy("local").summary();
    let package = repo.join("packages/hello-0.1.0.wasm");
    // Let the runtime remember the file by its identity, as `berth inspect`
    // does; the pin check must not trust that memo.
    let runtime = berth_runtime::Runtime::new(repo.options("local").runtime).unwrap();
    runtime.load(&package).unwrap();
    let pinned = sha256(&package);
    tamper_keeping_identity(&package);
    let actual = sha256(&package);
    std::fs::remove_file(repo.workdir("hello").join("hello/hello.txt")).unwrap();
    let before = snapshot(&repo.join("work"));

    let err = repo.deploy("local").error();
    assert!(
        err.starts_with(&format!(
            "`{}` (package `hello`) does not have the sha256 pinned in `{}`, so it was not loaded\n  pinned  {pinned}\n  actual  {actual}\n",
            package.display(),
            repo.join("packages.lock").display()
        )),
        "{err}"
    );
    assert!(
        err.ends_with("hint: if this change is intended, run `berth lock`"),
        "{err}"
    );
    assert_eq!(snapshot(&repo.join("work")), before, "nothing changed");
}

#[test]
fn lock_picks_the_highest_release_or_the_requested_version() {
    let (_author, file) = packaged_hello();
    let repo = consumer(&[file.as_path()]);
    assert_eq!(
        pins(&repo.lock().unwrap().changes),
        ["added hello 0.1.0 packages/hello-0.1.0.wasm"]
    );
    let lock = std::fs::metadata(repo.join("packages.lock")).unwrap();
    assert_eq!(
        pins(&repo.lock().unwrap().changes),
        ["unchanged hello 0.1.0 packages/hello-0.1.0.wasm"]
    );
    assert_eq!(
        std::fs::metadata(repo.join("packages.lock"))
            .unwrap()
            .modified()
            .unwrap(),
        lock.modified().unwrap(),
        "an unchanged lock is not rewritten"
    );

    let packages = repo.join("packages");
    as_version(&file, "0.10.0", &packages);
    as_version(&file, "0.9.0", &packages);
    as_version(&file, "1.0.0-rc.1", &packages);
    assert_eq!(
        pins(&repo.lock().unwrap().changes),
        [
            "changed hello 0.1.0 packages/hello-0.1.0.wasm -> hello 0.10.0 packages/hello-0.10.0.wasm"
        ],
        "0.10.0 > 0.9.0, and a release wins over a pre-release"
    );
    repo.deploy("local").summary();

    repo.write(
        "packages.cfg",
        "[packages]\nfind-links = packages/\n\n[package:hello]\nversion = 0.9.0\n",
    );
    let err = repo.deploy("local").error();
    assert!(
        err.contains("the pin of package `hello` is out of date")
            && err.contains("packages.cfg:5 asks for version 0.9.0, the lock pins 0.10.0")
            && err.ends_with("hint: run `berth lock`"),
        "{err}"
    );
    assert_eq!(
        pins(&repo.lock().unwrap().changes),
        [
            "changed hello 0.10.0 packages/hello-0.10.0.wasm -> hello 0.9.0 packages/hello-0.9.0.wasm"
        ]
    );
    repo.deploy("local").summary();

    repo.write(
        "packages.cfg",
        "[packages]\nfind-links = packages/\n\n[package:hello]\nversion = 0.3.0\n",
    );
    let err = repo.lock().unwrap_err().to_string();
    assert!(
        err.contains("packages.cfg:5: package `hello` has no version 0.3.0")
            && err.contains("0.1.0 (`packages/hello-0.1.0.wasm`)"),
        "{err}"
    );
}

#[test]
fn a_package_can_come_from_a_path_and_pins_go_when_packages_do() {
    let (_author, file) = packaged_hello();
    let repo = TestRepo::new();
    repo.env("local", ENV).write(
        "packages.cfg",
        "[package:hello]\npath = vendor/hello.wasm\n",
    );
    std::fs::create_dir_all(repo.join("vendor")).unwrap();
    std::fs::copy(&file, repo.join("vendor/hello.wasm")).unwrap();
    assert_eq!(
        pins(&repo.lock().unwrap().changes),
        ["added hello 0.1.0 vendor/hello.wasm"]
    );
    let run = repo.deploy("local");
    assert_eq!(run.summary().failed, 0);
    assert!(repo.workdir("hello").join("hello/banner.txt").is_file());

    std::fs::remove_file(repo.join("packages.cfg")).unwrap();
    let err = repo.deploy("local").error();
    assert!(
        err.contains("packages.lock:5: the pin of package `hello` is out of date"),
        "{err}"
    );
    assert_eq!(
        pins(&repo.lock().unwrap().changes),
        ["removed hello 0.1.0 vendor/hello.wasm"]
    );
}

#[test]
fn a_file_that_is_not_the_package_it_claims_is_refused() {
    let repo = TestRepo::new();
    repo.env("local", ENV)
        .write("packages.cfg", "[packages]\nfind-links = packages/\n");
    std::fs::create_dir_all(repo.join("packages")).unwrap();
    // A plain component named like a package.
    std::fs::copy(HELLO, repo.join("packages/hello-0.1.0.wasm")).unwrap();
    let err = repo.lock().unwrap_err().to_string();
    assert!(
        err.contains("is not a usable package: it has no `berth:package` section; make it with `berth package`"),
        "{err}"
    );
    // A package whose file name says another version than its metadata.
    let (_author, file) = packaged_hello();
    std::fs::copy(&file, repo.join("packages/hello-0.2.0.wasm")).unwrap();
    std::fs::remove_file(repo.join("packages/hello-0.1.0.wasm")).unwrap();
    let err = repo.lock().unwrap_err().to_string();
    assert!(
        err.contains("it is version 0.1.0 of `hello`, not 0.2.0"),
        "{err}"
    );
}

#[test]
fn a_name_in_components_and_in_a_package_folder_is_an_error() {
    let (_author, file) = packaged_hello();
    let repo = consumer(&[file.as_path()]);
    repo.example("hello", HELLO);
    repo.lock().unwrap();
    let err = repo.deploy("local").error();
    assert_eq!(
        err,
        format!(
            "package `hello` is defined twice: `{}` and `{}`\n  hint: remove one of them (or rename it)",
            repo.join("components/hello").display(),
            repo.join("packages/hello-0.1.0.wasm").display()
        )
    );
}

#[test]
fn packages_cfg_errors_name_the_file_and_line() {
    let repo = TestRepo::new();
    repo.env("local", ENV)
        .write("packages.cfg", "[packages]\n\nfind-link = packages/\n");
    let err = repo.deploy("local").error();
    assert_eq!(
        err,
        format!(
            "{}:3: unknown key `find-link` in [packages]\n  hint: did you mean `find-links`?",
            repo.join("packages.cfg").display()
        )
    );
    repo.write("packages.cfg", "[packages]\nfind-links = pakages/\n");
    let err = repo.lock().unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "cannot read the find-links folder `{}`",
            repo.join("pakages/").display()
        )) && err.contains("correct `find-links` at"),
        "{err}"
    );
    repo.write(
        "packages.cfg",
        "[packages]\nfind-links = .\n[package:helo]\n",
    );
    let err = repo.lock().unwrap_err().to_string();
    assert!(
        err.contains("packages.cfg:3: package `helo` is not in the find-links folders `.`"),
        "{err}"
    );
}

/// `greeter` as its author keeps it (sources and template), packaged.
fn packaged_greeter() -> (TestRepo, berth_engine::package::Packaged) {
    let author = TestRepo::new();
    author.python("greeter", berth_tests::GREETER);
    let packaged = author.package("greeter");
    (author, packaged)
}

#[test]
fn a_python_component_packages_its_sources_pins_and_deploys_like_a_rust_one() {
    let (author, packaged) = packaged_greeter();
    let bytes = std::fs::read(&packaged.file).unwrap();
    // Sources and metadata only: kilobytes, not the runtime's megabytes.
    assert!(bytes.len() < 32 * 1024, "{} bytes", bytes.len());
    assert!(bytes.starts_with(berth_build::EMPTY_COMPONENT));
    let contents = read_package(&bytes).unwrap().unwrap();
    let m = &contents.metadata;
    assert_eq!((m.name.as_str(), m.version.as_str()), ("greeter", "0.1.0"));
    assert_eq!(
        m.python_runtime.as_deref(),
        Some(berth_build::PYTHON_RUNTIME_VERSION)
    );
    assert_eq!(m.roots[0].attributes[0].name, "greeting");
    let files: Vec<&str> = contents.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(files, ["README.md", "component.py", "greeting.j2"]);
    assert_eq!(
        contents.files[1].content,
        std::fs::read(author.join("components/greeter/component.py")).unwrap()
    );

    // Reproducible byte for byte: again, and from a copy elsewhere.
    let again = author.package("greeter");
    assert_eq!(std::fs::read(&again.file).unwrap(), bytes);
    let (_, elsewhere) = packaged_greeter();
    assert_eq!(elsewhere.sha256, packaged.sha256);

    let repo = consumer(&[&packaged.file]);
    repo.env("local", "[hosts]\nlocalhost = greeter\n");
    repo.lock().unwrap();
    let run = repo.deploy("local");
    assert_eq!(run.summary().failed, 0, "{:#?}", run.steps());
    let greeting =
        std::fs::read_to_string(repo.workdir("greeter").join("greeter/greeting.txt")).unwrap();
    assert!(greeting.starts_with("Hello"), "{greeting}");
    assert_eq!(repo.deploy("local").summary().changed, 0);
    // The sources that ran are the pinned ones, unpacked where a reader
    // finds them.
    assert_eq!(
        std::fs::read(repo.join(".berth/packages/greeter/component.py")).unwrap(),
        contents.files[1].content
    );

    // A changed source is a changed package: the pin refuses it.
    let tampered = repo
        .join("packages")
        .join(packaged.file.file_name().unwrap());
    let mut changed = contents.files.clone();
    changed[1].content.extend_from_slice(b"\n# changed\n");
    std::fs::write(
        &tampered,
        make_package(berth_build::EMPTY_COMPONENT.to_vec(), m, &changed).unwrap(),
    )
    .unwrap();
    let error = repo.deploy("local").error();
    assert!(error.contains("does not have the sha256 pinned"), "{error}");
}

#[test]
fn a_python_package_for_another_runtime_is_refused_naming_both_versions() {
    let (_author, packaged) = packaged_greeter();
    let contents = read_package(&std::fs::read(&packaged.file).unwrap())
        .unwrap()
        .unwrap();
    let metadata = Metadata {
        python_runtime: Some("9.1.0".into()),
        ..contents.metadata
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("greeter-0.1.0.wasm");
    std::fs::write(
        &file,
        make_package(
            berth_build::EMPTY_COMPONENT.to_vec(),
            &metadata,
            &contents.files,
        )
        .unwrap(),
    )
    .unwrap();
    let repo = consumer(&[&file]);
    let error = repo.lock().unwrap_err().to_string();
    assert!(
        error.contains(&format!(
            "(package `greeter`) needs berth's Python runtime 9.1.0, but this berth has Python runtime {}",
            berth_build::PYTHON_RUNTIME_VERSION
        )),
        "{error}"
    );
}
