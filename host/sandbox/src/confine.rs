//! Landlock confinement of the programs a component runs.
//!
//! The ruleset is built in the parent, where allocating is fine; the child
//! only changes directory and calls `landlock_restrict_self` between `fork`
//! and `exec`, which allocates nothing.

// `CommandExt::pre_exec` is unsafe; this module is the only user.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt as _;
use std::sync::OnceLock;

use landlock::{
    ABI, Access as _, AccessFs, AccessNet, CompatLevel, Compatible as _, PathBeneath, PathFd,
    Ruleset, RulesetAttr as _, RulesetCreated, RulesetCreatedAttr as _, RulesetError,
    RulesetStatus,
};

use crate::fs::{Access, Sandbox};

/// The ABI whose filesystem rights are handled; newer kernels keep working,
/// older ones enforce what they know (best effort above Landlock's first ABI).
const ABI_FS: ABI = ABI::V5;

/// System directories programs may read and execute from.
const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/proc",
    "/sys", "/run",
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
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        Ruleset::default()
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(AccessFs::from_all(ABI::V1))
            .and_then(Ruleset::create)
            .is_ok()
    })
}

/// The ruleset for a program run in `sandbox`: read and execute on the
/// system paths, the roots with their access (read-only when the sandbox
/// is), and no TCP unless the sandbox allows network.
pub(crate) fn ruleset(sandbox: &Sandbox) -> Result<RulesetCreated, RulesetError> {
    let read = AccessFs::from_read(ABI_FS);
    let all = AccessFs::from_all(ABI_FS);
    let mut ruleset = Ruleset::default().handle_access(all)?;
    if !sandbox.network {
        ruleset = ruleset.handle_access(AccessNet::from_all(ABI::V4))?;
    }
    let mut created = ruleset.create()?;
    for dir in SYSTEM_DIRS {
        if let Ok(fd) = PathFd::new(dir) {
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
            all
        } else {
            read
        };
        created = created.add_rule(PathBeneath::new(fd, access))?;
    }
    Ok(created)
}

/// Makes the child enter `cwd` and restrict itself with `ruleset` before
/// `exec`. With `require`, a ruleset the kernel does not enforce fails the
/// spawn.
pub(crate) fn install(
    command: &mut std::process::Command,
    cwd: Option<OwnedFd>,
    ruleset: Option<RulesetCreated>,
    require: bool,
) {
    let mut ruleset = ruleset;
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
        Ok(())
    };
    // SAFETY: the hook runs in the forked child before `exec`. It only calls
    // `fchdir`, `prctl(PR_SET_NO_NEW_PRIVS)` and `landlock_restrict_self`
    // (async-signal-safe system calls), drops the ruleset's descriptor, and
    // builds errors from raw OS codes: it neither allocates nor takes locks.
    unsafe {
        command.pre_exec(hook);
    }
}
