//! Confinement of the programs a component runs: Landlock for files,
//! programs, devices, TCP, abstract UNIX sockets and signals, and a seccomp
//! filter for the socket families Landlock does not handle (UDP, UNIX
//! pathname sockets, raw and netlink sockets).
//!
//! The ruleset and the filter are built in the parent, where allocating is
//! fine; the child only changes directory, calls `landlock_restrict_self`
//! and installs the filter between `fork` and `exec`, which allocates
//! nothing.

// `CommandExt::pre_exec` is unsafe; this module is the only user.
#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::io::{self, Read as _};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use landlock::{
    ABI, Access as _, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible as _, PathBeneath,
    PathFd, Ruleset, RulesetAttr as _, RulesetCreated, RulesetCreatedAttr as _, RulesetError,
    RulesetStatus, Scope,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule,
};

use crate::fs::{Access, Sandbox};
use crate::process::Programs;

/// The ABI whose filesystem rights are handled; newer kernels keep working,
/// older ones enforce what they know (and [`unenforced`] says what not).
const ABI_FS: ABI = ABI::V5;

/// Directories programs may read (not execute) below: the system's code
/// and data, without configuration or state.
const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

/// What of `/etc` programs may read: what the dynamic loader, the C
/// library, name lookup, time zones, locales and TLS need. Not `/etc` as a
/// whole: it holds `shadow`, SSH host keys and services' secrets.
const SYSTEM_ETC: &[&str] = &[
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/resolv.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/os-release",
    "/etc/debian_version",
    "/etc/locale.alias",
    "/etc/mime.types",
    "/etc/terminfo",
    "/etc/ssl/certs",
    "/etc/ssl/openssl.cnf",
    "/etc/ca-certificates",
];

/// Device files programs may read (and, for the sinks, write).
const DEVICES: &[(&str, bool)] = &[
    ("/dev/null", true),
    ("/dev/zero", false),
    ("/dev/full", true),
    ("/dev/random", false),
    ("/dev/urandom", false),
];

/// Whether this kernel offers Landlock. Probed once.
pub fn available() -> bool {
    supports(|r| r.handle_access(AccessFs::from_all(ABI::V1)))
}

/// The parts of the confinement this kernel cannot enforce for a sandbox
/// with or without network, as phrases for a message. Empty on a kernel
/// with Landlock ABI 6 or later (this one offers 7).
pub fn unenforced(network: bool) -> Vec<&'static str> {
    static PARTS: OnceLock<[bool; 3]> = OnceLock::new();
    let [fs, tcp, scopes] = *PARTS.get_or_init(|| {
        [
            available(),
            supports(|r| r.handle_access(AccessNet::from_all(ABI::V4))),
            supports(|r| r.scope(Scope::from_all(ABI::V6))),
        ]
    });
    let mut missing = Vec::new();
    if !fs {
        missing.push("file, program and device confinement (Landlock)");
    }
    if !network && !tcp {
        missing.push("blocking TCP (Landlock ABI 4)");
    }
    if !scopes {
        missing.push("blocking signals and abstract UNIX sockets (Landlock ABI 6)");
    }
    missing
}

fn supports(handle: impl FnOnce(Ruleset) -> Result<Ruleset, RulesetError>) -> bool {
    handle(Ruleset::default().set_compatibility(CompatLevel::HardRequirement))
        .and_then(Ruleset::create)
        .is_ok()
}

/// Everything a child needs to confine itself before `exec`.
pub(crate) struct Confinement {
    ruleset: Option<RulesetCreated>,
    filter: BpfProgram,
}

impl std::fmt::Debug for Confinement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Confinement")
            .field("landlock", &self.ruleset.is_some())
            .field("filter_len", &self.filter.len())
            .finish()
    }
}

/// The confinement of a run in `sandbox` of one of `programs` (the
/// component's granted programs, the only ones it may execute); without
/// Landlock only the seccomp filter.
///
/// # Errors
///
/// A message when the ruleset or the filter cannot be built.
pub(crate) fn confinement(sandbox: &Sandbox, programs: &Programs) -> Result<Confinement, String> {
    let ruleset = if available() {
        Some(ruleset(sandbox, programs).map_err(|e| format!("Landlock: {e}"))?)
    } else {
        None
    };
    let filter = filter(sandbox.network)?.clone();
    Ok(Confinement { ruleset, filter })
}

/// The Landlock ruleset: read (not execute) on the system paths, execute
/// only on the granted programs and the interpreters they need, the roots with their
/// access (read-only when the sandbox is) but never device nodes nor
/// execute, no TCP unless the sandbox allows network, and no signals nor
/// abstract UNIX sockets out of the program's own process tree.
fn ruleset(sandbox: &Sandbox, programs: &Programs) -> Result<RulesetCreated, RulesetError> {
    let read = AccessFs::ReadFile | AccessFs::ReadDir;
    let devices = AccessFs::MakeChar | AccessFs::MakeBlock;
    let write = AccessFs::from_all(ABI_FS) & !devices & !AccessFs::Execute;
    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(ABI_FS))?
        .scope(Scope::from_all(ABI::V6))?;
    if !sandbox.network {
        ruleset = ruleset.handle_access(AccessNet::from_all(ABI::V4))?;
    }
    let mut created = ruleset.create()?;
    for path in SYSTEM_DIRS.iter().chain(SYSTEM_ETC) {
        if let Ok(fd) = PathFd::new(path) {
            created = created.add_rule(PathBeneath::new(fd, read))?;
        }
    }
    for (dev, write) in DEVICES {
        if let Ok(fd) = PathFd::new(dev) {
            let access = if *write {
                AccessFs::ReadFile | AccessFs::WriteFile
            } else {
                AccessFs::ReadFile.into()
            };
            created = created.add_rule(PathBeneath::new(fd, access))?;
        }
    }
    for root in sandbox.roots() {
        // A root that does not exist yet has nothing to grant.
        let Ok(fd) = PathFd::new(&root.host) else {
            continue;
        };
        let access = if root.access == Access::ReadWrite && !sandbox.read_only {
            write | read
        } else {
            read
        };
        created = created.add_rule(PathBeneath::new(fd, access))?;
    }
    for exe in executables(programs.paths()) {
        if let Ok(fd) = PathFd::new(&exe) {
            let access: BitFlags<AccessFs> = AccessFs::Execute | AccessFs::ReadFile;
            created = created.add_rule(PathBeneath::new(fd, access))?;
        }
    }
    Ok(created)
}

/// The programs and what the kernel opens to start them: the interpreter
/// of a `#!` script and the ELF interpreter (`ld.so`) of a dynamic
/// executable, followed a few levels deep.
fn executables<'a>(programs: impl Iterator<Item = &'a Path>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = programs.map(Path::to_path_buf).collect();
    let limit = out.len() * 4;
    let mut i = 0;
    while i < out.len() && out.len() <= limit {
        if let Some(next) = interpreter(&out[i])
            && !out.contains(&next)
        {
            out.push(next);
        }
        i += 1;
    }
    out
}

/// The interpreter the kernel starts for `path`, from its first 64 KiB.
fn interpreter(path: &Path) -> Option<PathBuf> {
    use object::read::elf::{FileHeader as _, ProgramHeader as _};
    let mut head = Vec::with_capacity(1 << 16);
    std::fs::File::open(path)
        .ok()?
        .take(1 << 16)
        .read_to_end(&mut head)
        .ok()?;
    if let Some(script) = head.strip_prefix(b"#!") {
        let line = script.split(|&b| b == b'\n').next()?;
        let word = line
            .split(|b| b.is_ascii_whitespace())
            .find(|w| !w.is_empty())?;
        return Some(PathBuf::from(std::str::from_utf8(word).ok()?));
    }
    let header = object::elf::FileHeader64::<object::Endianness>::parse(&*head).ok()?;
    let endian = header.endian().ok()?;
    header
        .program_headers(endian, &*head)
        .ok()?
        .iter()
        .find_map(|ph| ph.interpreter(endian, &*head).ok().flatten())
        .and_then(|interp| std::str::from_utf8(interp).ok())
        .map(PathBuf::from)
}

/// The seccomp filter, built once per network setting: creating sockets
/// (any family) fails with `EACCES` unless network is allowed, and so does
/// `io_uring_setup` (io_uring can create sockets without the `socket`
/// call); creating a character or block device node fails with `EACCES`
/// always. Everything else is allowed: Landlock does the rest.
fn filter(network: bool) -> Result<&'static BpfProgram, String> {
    static FILTERS: [OnceLock<Result<BpfProgram, String>>; 2] = [OnceLock::new(), OnceLock::new()];
    FILTERS[usize::from(network)]
        .get_or_init(|| build_filter(network))
        .as_ref()
        .map_err(Clone::clone)
}

fn build_filter(network: bool) -> Result<BpfProgram, String> {
    let error = |e: seccompiler::BackendError| format!("seccomp: {e}");
    let arch = std::env::consts::ARCH
        .try_into()
        .map_err(|e: seccompiler::BackendError| format!("seccomp: {e}"))?;
    let device = |arg: u8, kind: u32| {
        SeccompCondition::new(
            arg,
            SeccompCmpArgLen::Dword,
            SeccompCmpOp::MaskedEq(u64::from(libc::S_IFMT)),
            u64::from(kind),
        )
        .and_then(|c| SeccompRule::new(vec![c]))
    };
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let mut deny = |nr: i64, rule: Vec<SeccompRule>| {
        rules.insert(nr, rule.clone());
        // x32 system calls carry the same numbers with bit 30 set and are
        // checked against the same architecture.
        if cfg!(target_arch = "x86_64") {
            rules.insert(nr | 0x4000_0000, rule);
        }
    };
    #[cfg(target_arch = "x86_64")]
    deny(
        libc::SYS_mknod,
        vec![
            device(1, libc::S_IFCHR).map_err(error)?,
            device(1, libc::S_IFBLK).map_err(error)?,
        ],
    );
    deny(
        libc::SYS_mknodat,
        vec![
            device(2, libc::S_IFCHR).map_err(error)?,
            device(2, libc::S_IFBLK).map_err(error)?,
        ],
    );
    if !network {
        deny(libc::SYS_socket, vec![]);
        deny(libc::SYS_io_uring_setup, vec![]);
    }
    // One match action for all rules: `EACCES` reads as "permission
    // denied" in every program's message, for sockets and devices alike.
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EACCES as u32),
        arch,
    )
    .map_err(error)?;
    BpfProgram::try_from(filter).map_err(error)
}

/// Makes the child enter `cwd`, restrict itself with Landlock and install
/// the seccomp filter before `exec`. With `require`, a ruleset the kernel
/// does not enforce fails the spawn.
pub(crate) fn install(
    command: &mut std::process::Command,
    cwd: Option<OwnedFd>,
    confinement: Confinement,
    require: bool,
) {
    let Confinement {
        mut ruleset,
        filter,
    } = confinement;
    let hook = move || -> io::Result<()> {
        if let Some(fd) = &cwd {
            rustix::process::fchdir(fd)?;
        }
        if let Some(rs) = ruleset.take() {
            match rs.restrict_self() {
                Ok(status) if require && status.ruleset == RulesetStatus::NotEnforced => {
                    return Err(io::Error::from_raw_os_error(
                        rustix::io::Errno::NOSYS.raw_os_error(),
                    ));
                }
                Ok(_) => {}
                Err(_) => {
                    return Err(io::Error::from_raw_os_error(
                        rustix::io::Errno::PERM.raw_os_error(),
                    ));
                }
            }
        }
        seccompiler::apply_filter(&filter)
            .map_err(|_| io::Error::from_raw_os_error(rustix::io::Errno::PERM.raw_os_error()))?;
        Ok(())
    };
    // SAFETY: the hook runs in the forked child before `exec`. It only calls
    // `fchdir`, `prctl(PR_SET_NO_NEW_PRIVS)`, `landlock_restrict_self` and
    // `seccomp(SECCOMP_SET_MODE_FILTER)` (async-signal-safe system calls)
    // with data built in the parent, drops the ruleset's descriptor, and
    // builds errors from raw OS codes: it neither allocates nor takes locks.
    unsafe {
        command.pre_exec(hook);
    }
}
