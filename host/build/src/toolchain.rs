//! Finding a toolchain that builds `wasm32-unknown-unknown` components, and
//! the environment its cargo runs in.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{BuildError, TARGET};

/// A toolchain that can build guest components.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Toolchain {
    /// rustup (or any rustc) with the `wasm32-unknown-unknown` standard
    /// library installed; links with `rust-lld`, so the output is a core
    /// module that [`componentize`](crate::componentize) turns into a
    /// component.
    Rustup {
        /// The cargo to run.
        cargo: PathBuf,
    },
    /// Debian's `rustc-web`: the standard library is compiled from
    /// `rust-web-src` (`-Zbuild-std`, allowed by `RUSTC_BOOTSTRAP=1`) and
    /// `wasm-component-ld` links the output straight into a component.
    Debian {
        /// `/usr/bin/cargo` (package `cargo-web`).
        cargo: PathBuf,
        /// `/usr/bin/rustc` (package `rustc-web`).
        rustc: PathBuf,
        /// `wasm-component-ld` (package `rust-web-llvm`).
        linker: PathBuf,
    },
}

impl Toolchain {
    /// The cargo this toolchain runs.
    pub fn cargo(&self) -> &Path {
        match self {
            Toolchain::Rustup { cargo } | Toolchain::Debian { cargo, .. } => cargo,
        }
    }

    /// The arguments of `cargo build` (without manifest and target dir).
    pub fn build_args(&self) -> Vec<String> {
        let mut args = vec!["build", "--release", "--target", TARGET];
        if matches!(self, Toolchain::Debian { .. }) {
            args.push("-Zbuild-std=std,panic_abort");
        }
        args.into_iter().map(str::to_owned).collect()
    }

    /// The variables this toolchain sets in cargo's environment.
    pub fn env(&self) -> Vec<(&'static str, OsString)> {
        match self {
            Toolchain::Rustup { .. } => Vec::new(),
            Toolchain::Debian { rustc, linker, .. } => vec![
                ("RUSTC", rustc.clone().into_os_string()),
                ("RUSTC_BOOTSTRAP", "1".into()),
                (
                    "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER",
                    linker.clone().into_os_string(),
                ),
            ],
        }
    }

    /// A cargo command for this toolchain, with an environment cleaned of
    /// whatever a parent cargo set (see [`is_inherited`]) and this
    /// toolchain's variables set.
    pub(crate) fn command(&self) -> Command {
        let mut command = Command::new(self.cargo());
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_none_or(is_inherited) {
                command.env_remove(&name);
            }
        }
        for (name, value) in self.env() {
            command.env(name, value);
        }
        command
    }
}

impl fmt::Display for Toolchain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Toolchain::Rustup { cargo } => {
                write!(f, "rustup's `{TARGET}` target (`{}`)", cargo.display())
            }
            Toolchain::Debian { cargo, .. } => {
                write!(
                    f,
                    "Debian's rustc-web with -Zbuild-std (`{}`)",
                    cargo.display()
                )
            }
        }
    }
}

/// Whether a variable in our environment comes from a parent cargo (we may
/// be running in a build script) or would change how the guest is compiled,
/// and so must not reach the guest's cargo.
///
/// Kept: the user's cargo configuration that only says where and how to
/// fetch (`CARGO_HOME`, `CARGO_NET_*`, `CARGO_HTTP_*`, `CARGO_REGISTRIES_*`,
/// `CARGO_REGISTRY_*`, `CARGO_TERM_*`).
pub(crate) fn is_inherited(name: &str) -> bool {
    const KEEP: &[&str] = &[
        "CARGO_HOME",
        "CARGO_NET_",
        "CARGO_HTTP_",
        "CARGO_REGISTRIES_",
        "CARGO_REGISTRY_",
        "CARGO_TERM_",
    ];
    if KEEP.iter().any(|k| name.starts_with(k)) {
        return false;
    }
    name == "CARGO"
        || name.starts_with("CARGO_")
        || name.starts_with("__CARGO")
        || name.starts_with("RUSTC")
        || name.starts_with("RUSTDOC")
        || name == "RUSTFLAGS"
        // The parent's jobserver: the guest build runs on its own.
        || name == "MAKEFLAGS"
        || name == "MFLAGS"
}

/// What [`detect`] looks at, gathered from the machine (or made up in tests).
#[derive(Clone, Debug, Default)]
pub(crate) struct Facts {
    /// The cargo on `PATH` when the rustc on `PATH` has the wasm32 standard
    /// library installed.
    pub rustup_cargo: Option<PathBuf>,
    /// Whether `rustup` is on `PATH`.
    pub has_rustup: bool,
    /// The Debian parts found, by what they are.
    pub debian: DebianParts,
}

/// Debian's pieces of the rustc-web toolchain.
#[derive(Clone, Debug, Default)]
pub(crate) struct DebianParts {
    pub rustc: Option<PathBuf>,
    pub cargo: Option<PathBuf>,
    pub linker: Option<PathBuf>,
    pub std_src: Option<PathBuf>,
    pub wasm_ld: Option<PathBuf>,
}

impl DebianParts {
    /// Look for the parts below `root` (`/` on a real machine).
    pub fn find(root: &Path) -> Self {
        let file = |p: &str| Some(root.join(p)).filter(|p| p.is_file());
        let rustlib = root.join("usr/lib/rustlib");
        let linker = std::fs::read_dir(&rustlib).ok().and_then(|entries| {
            let mut linkers: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path().join("bin/wasm-component-ld"))
                .filter(|p| p.is_file())
                .collect();
            linkers.sort();
            linkers.into_iter().next()
        });
        DebianParts {
            rustc: file("usr/bin/rustc"),
            cargo: file("usr/bin/cargo"),
            linker,
            std_src: Some(rustlib.join("src/rust/library/std"))
                .filter(|p| p.join("Cargo.toml").is_file()),
            wasm_ld: file("usr/bin/wasm-ld").or_else(|| file("usr/bin/rust-lld")),
        }
    }

    /// The packages still to install, with what each provides.
    fn missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        let parts = [
            (self.rustc.is_none(), "rustc-web (/usr/bin/rustc)"),
            (self.cargo.is_none(), "cargo-web (/usr/bin/cargo)"),
            (
                self.std_src.is_none(),
                "rust-web-src (the standard library's source)",
            ),
            (self.linker.is_none(), "rust-web-llvm (wasm-component-ld)"),
            (self.wasm_ld.is_none(), "lld (wasm-ld)"),
        ];
        for (gone, what) in parts {
            if gone {
                missing.push(what);
            }
        }
        missing
    }
}

impl Facts {
    fn gather() -> Self {
        Facts {
            rustup_cargo: rustup_cargo(),
            has_rustup: which("rustup").is_some(),
            debian: DebianParts::find(Path::new("/")),
        }
    }
}

/// The cargo on `PATH`, if the rustc on `PATH` has the wasm32 standard
/// library (`rustc --print target-libdir --target wasm32-unknown-unknown`
/// holds a `libstd-*.rlib`).
fn rustup_cargo() -> Option<PathBuf> {
    let rustc = which("rustc")?;
    let mut command = Command::new(rustc);
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_none_or(is_inherited) {
            command.env_remove(&name);
        }
    }
    let out = command
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let libdir = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    let has_std = std::fs::read_dir(&libdir)
        .ok()?
        .filter_map(Result::ok)
        .any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("libstd-") && name.ends_with(".rlib")
        });
    if !has_std {
        return None;
    }
    which("cargo")
}

/// The first executable file called `program` on `PATH`.
fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Find a toolchain: rustup's `wasm32-unknown-unknown` target first, else
/// Debian's rustc-web recipe.
///
/// Fails with [`BuildError::NoToolchain`], whose hint says what to install,
/// when neither is complete.
pub fn detect() -> Result<Toolchain, BuildError> {
    choose(&Facts::gather())
}

pub(crate) fn choose(facts: &Facts) -> Result<Toolchain, BuildError> {
    if let Some(cargo) = &facts.rustup_cargo {
        return Ok(Toolchain::Rustup {
            cargo: cargo.clone(),
        });
    }
    let d = &facts.debian;
    if let (Some(cargo), Some(rustc), Some(linker), Some(_), Some(_)) =
        (&d.cargo, &d.rustc, &d.linker, &d.std_src, &d.wasm_ld)
    {
        return Ok(Toolchain::Debian {
            cargo: cargo.clone(),
            rustc: rustc.clone(),
            linker: linker.clone(),
        });
    }
    Err(BuildError::NoToolchain { hint: hint(facts) })
}

/// What to run to get a toolchain that builds guest components, naming the
/// pieces that are missing on this machine.
pub fn install_hint() -> String {
    hint(&Facts::gather())
}

fn hint(facts: &Facts) -> String {
    let rustup = format!("rustup target add {TARGET}");
    let apt = "apt-get install rustc-web cargo-web rust-web-src rust-web-llvm lld";
    let missing = facts.debian.missing();
    let debian = if missing.is_empty() {
        format!("or, on Debian, `{apt}`")
    } else {
        format!("or, on Debian, `{apt}` (missing: {})", missing.join(", "))
    };
    if facts.has_rustup {
        format!("run `{rustup}`, {debian}")
    } else {
        format!("with rustup, run `{rustup}`; {debian}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn debian_complete() -> DebianParts {
        DebianParts {
            rustc: Some("/usr/bin/rustc".into()),
            cargo: Some("/usr/bin/cargo".into()),
            linker: Some("/usr/lib/rustlib/x/bin/wasm-component-ld".into()),
            std_src: Some("/usr/lib/rustlib/src/rust/library/std".into()),
            wasm_ld: Some("/usr/bin/wasm-ld".into()),
        }
    }

    #[test]
    fn rustup_wins_over_debian() {
        let facts = Facts {
            rustup_cargo: Some("/home/u/.cargo/bin/cargo".into()),
            has_rustup: true,
            debian: debian_complete(),
        };
        let tc = choose(&facts).unwrap();
        assert_eq!(
            tc,
            Toolchain::Rustup {
                cargo: "/home/u/.cargo/bin/cargo".into()
            }
        );
        assert_eq!(tc.build_args(), ["build", "--release", "--target", TARGET]);
        assert!(tc.env().is_empty());
    }

    #[test]
    fn debian_when_rustup_lacks_the_target() {
        let facts = Facts {
            rustup_cargo: None,
            has_rustup: true,
            debian: debian_complete(),
        };
        let tc = choose(&facts).unwrap();
        assert!(matches!(tc, Toolchain::Debian { .. }));
        assert_eq!(
            tc.build_args().last().map(String::as_str),
            Some("-Zbuild-std=std,panic_abort")
        );
        let env: Vec<_> = tc
            .env()
            .into_iter()
            .map(|(k, v)| format!("{k}={}", v.to_string_lossy()))
            .collect();
        assert_eq!(
            env,
            [
                "RUSTC=/usr/bin/rustc",
                "RUSTC_BOOTSTRAP=1",
                "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=/usr/lib/rustlib/x/bin/wasm-component-ld",
            ]
        );
    }

    #[test]
    fn neither_says_what_to_install() {
        let mut debian = debian_complete();
        debian.std_src = None;
        debian.wasm_ld = None;
        let facts = Facts {
            rustup_cargo: None,
            has_rustup: true,
            debian,
        };
        let e = choose(&facts).unwrap_err().to_string();
        assert!(
            e.contains("`rustup target add wasm32-unknown-unknown`"),
            "{e}"
        );
        assert!(
            e.contains("`apt-get install rustc-web cargo-web rust-web-src rust-web-llvm lld`"),
            "{e}"
        );
        assert!(
            e.contains("missing: rust-web-src (the standard library's source), lld (wasm-ld)"),
            "{e}"
        );
    }

    #[test]
    fn parent_cargo_variables_are_dropped() {
        for name in [
            "CARGO",
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_NAME",
            "CARGO_TARGET_DIR",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_MAKEFLAGS",
            "CARGO_CFG_TARGET_OS",
            "CARGO_PROFILE_RELEASE_LTO",
            "__CARGO_DEFAULT_LIB_METADATA",
            "RUSTC",
            "RUSTC_WRAPPER",
            "RUSTC_WORKSPACE_WRAPPER",
            "RUSTC_BOOTSTRAP",
            "RUSTDOC",
            "RUSTDOCFLAGS",
            "RUSTFLAGS",
            "MAKEFLAGS",
        ] {
            assert!(is_inherited(name), "{name}");
        }
        for name in [
            "CARGO_HOME",
            "CARGO_NET_OFFLINE",
            "CARGO_HTTP_TIMEOUT",
            "CARGO_REGISTRIES_CRATES_IO_PROTOCOL",
            "PATH",
            "HOME",
            "RUSTUP_TOOLCHAIN",
            "RUSTUP_HOME",
        ] {
            assert!(!is_inherited(name), "{name}");
        }
    }

    #[test]
    fn debian_parts_are_found_below_a_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mk = |p: &str| {
            let p = root.join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        };
        mk("usr/bin/rustc");
        mk("usr/bin/cargo");
        mk("usr/lib/rustlib/x86_64-unknown-linux-gnu/bin/wasm-component-ld");
        let parts = DebianParts::find(root);
        assert_eq!(
            parts.missing(),
            [
                "rust-web-src (the standard library's source)",
                "lld (wasm-ld)"
            ]
        );
        mk("usr/lib/rustlib/src/rust/library/std/Cargo.toml");
        mk("usr/bin/wasm-ld");
        let parts = DebianParts::find(root);
        assert!(parts.missing().is_empty());
        let tc = choose(&Facts {
            debian: parts,
            ..Facts::default()
        })
        .unwrap();
        assert_eq!(
            tc,
            Toolchain::Debian {
                cargo: root.join("usr/bin/cargo"),
                rustc: root.join("usr/bin/rustc"),
                linker: root.join("usr/lib/rustlib/x86_64-unknown-linux-gnu/bin/wasm-component-ld"),
            }
        );
    }
}
