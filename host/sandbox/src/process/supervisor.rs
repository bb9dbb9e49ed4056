//! The supervisor: a small process between berth and a program that makes
//! the program's whole process tree end with the step.
//!
//! `std::process::Command` forks the supervisor; before anything else, the
//! supervisor makes itself a child subreaper (`PR_SET_CHILD_SUBREAPER`) and
//! forks again: that grandchild confines itself and `exec`s the program.
//! Every process the program starts, including one that calls `setsid` or
//! double-forks to become a daemon, is then a descendant of the supervisor,
//! and an orphan is reparented to it rather than to init. When the program
//! exits, or berth closes the control pipe (at the deadline, or because
//! berth itself died), the supervisor kills the program and every
//! descendant left, reaps them, and exits with the program's status.
//!
//! The supervisor runs between `fork` and `exec` of a multi-threaded
//! process, so it only makes system calls: no allocation, no locks.

// `CommandExt::pre_exec` and `fork` are unsafe; this module is their only user
// besides the confinement hook.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd as _, AsRawFd as _, OwnedFd, RawFd};
use std::os::unix::process::CommandExt as _;

use rustix::event::{PollFd, PollFlags};
use rustix::process::{Pid, PidfdFlags, Signal, WaitOptions, WaitStatus};

/// berth's end of the control pipe: dropping it tells the supervisor to kill
/// the program's tree.
#[derive(Debug)]
pub(crate) struct Control {
    write: Option<OwnedFd>,
}

impl Control {
    /// Tells the supervisor to stop the program and everything it started.
    pub(crate) fn stop(&mut self) {
        self.write = None;
    }
}

/// Makes `command` start under a supervisor (see the module docs). Must be
/// installed before the confinement hook, so that only the program is
/// confined, not the supervisor.
///
/// # Errors
///
/// When the control pipe cannot be created.
pub(crate) fn install(command: &mut std::process::Command) -> io::Result<Control> {
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let hook = move || -> io::Result<()> {
        rustix::process::set_child_subreaper(Some(rustix::process::getpid()))?;
        // SAFETY: this process is the single-threaded child of a `fork`; the
        // new child goes on to `exec` (or fails and exits), and this one
        // never returns from `supervise`, which only makes system calls.
        let program = unsafe { libc::fork() };
        if program < 0 {
            return Err(io::Error::last_os_error());
        }
        if program == 0 {
            // The program, in a process group of its own so that the
            // supervisor can signal it without signalling itself; it
            // confines itself in the next hook and `exec`s (the control
            // pipe is close-on-exec).
            rustix::process::setpgid(None, None)?;
            return Ok(());
        }
        let program = Pid::from_raw(program).ok_or_else(|| io::Error::other("bad pid"))?;
        supervise(program, read.as_raw_fd())
    };
    // SAFETY: the hook runs in the forked child before `exec` and only makes
    // system calls (`prctl`, `fork`, `close_range`, `pidfd_open`, `poll`,
    // `waitpid`, `kill`, `open`/`read` of a `/proc` file into a stack buffer,
    // `_exit`), with data moved in from the parent; it neither allocates nor
    // takes locks.
    unsafe {
        command.pre_exec(hook);
    }
    Ok(Control { write: Some(write) })
}

/// The supervisor's life: wait for the program or the word to stop, then
/// kill what is left of the tree and exit with the program's status.
fn supervise(program: Pid, control: RawFd) -> ! {
    close_all_but(control);
    let status = wait_or_stop(program, control);
    kill_tree(program);
    relay(status)
}

/// Closes every descriptor but `keep`: the program's pipes then reach end of
/// file when the program's tree is gone, not when the supervisor is, and
/// the pipe through which `spawn` learns of a failed `exec` closes, so that
/// `spawn` returns.
fn close_all_but(keep: RawFd) {
    let keep = keep as libc::c_uint;
    // SAFETY: `close_range` only closes descriptors of this process.
    unsafe {
        if keep > 0 {
            libc::syscall(libc::SYS_close_range, 0, keep - 1, 0);
        }
        libc::syscall(libc::SYS_close_range, keep + 1, libc::c_uint::MAX, 0);
    }
}

/// Waits until the program exits, or until berth closes the control pipe
/// (then the program is killed first). Returns its wait status.
fn wait_or_stop(program: Pid, control: RawFd) -> WaitStatus {
    // SAFETY: `control` is open in this process until it exits.
    let control = unsafe { std::os::fd::BorrowedFd::borrow_raw(control) };
    let pidfd = rustix::process::pidfd_open(program, PidfdFlags::empty()).ok();
    let mut killed = false;
    loop {
        if let Ok(Some((_, status))) = rustix::process::waitpid(Some(program), WaitOptions::NOHANG)
        {
            return status;
        }
        if killed {
            // Killed: it is gone as soon as the kernel is done with it.
            if let Ok(Some((_, status))) =
                rustix::process::waitpid(Some(program), WaitOptions::empty())
            {
                return status;
            }
            continue;
        }
        // Without a pidfd (before Linux 5.3), look again every 10 ms.
        let tick = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 10_000_000,
        };
        let stop = match &pidfd {
            Some(pidfd) => {
                let mut fds = [
                    PollFd::new(&control, PollFlags::IN),
                    PollFd::new(pidfd, PollFlags::IN),
                ];
                let _ = rustix::event::poll(&mut fds, None);
                !fds[0].revents().is_empty()
            }
            None => {
                let mut fds = [PollFd::new(&control, PollFlags::IN)];
                let _ = rustix::event::poll(&mut fds, Some(&tick));
                !fds[0].revents().is_empty()
            }
        };
        if stop {
            let _ = rustix::process::kill_process(program, Signal::KILL);
            killed = true;
        }
    }
}

/// Kills every process left below the supervisor and reaps it, until none
/// is left. A process whose parent is killed is reparented to the
/// supervisor (a subreaper) and found in the next round.
fn kill_tree(program: Pid) {
    loop {
        if !kill_children() {
            // No list of children (no `/proc`): the program's process group
            // is what can still be reached.
            let _ = rustix::process::kill_process_group(program, Signal::KILL);
        }
        // Reap what died; while children are still dying, look again after a
        // millisecond: a process reparented since the list was read is
        // killed in the next round.
        loop {
            match rustix::process::wait(WaitOptions::NOHANG) {
                Ok(Some(_)) | Err(rustix::io::Errno::INTR) => {}
                Ok(None) => break,
                Err(_) => return, // ECHILD: nothing is left
            }
        }
        let nap = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 1_000_000,
        };
        let _ = rustix::event::poll(&mut [], Some(&nap));
    }
}

/// Sends `SIGKILL` to every child of the supervisor, as
/// `/proc/thread-self/children` lists them. False when the list cannot be
/// read.
fn kill_children() -> bool {
    let Ok(file) = rustix::fs::open(
        c"/proc/thread-self/children",
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    ) else {
        return false;
    };
    let mut buf = [0u8; 512];
    // A pid split between two reads carries over.
    let mut pid: i32 = 0;
    let mut digits = false;
    loop {
        let n = match rustix::io::read(file.as_fd(), &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            if b.is_ascii_digit() {
                pid = pid.saturating_mul(10).saturating_add(i32::from(b - b'0'));
                digits = true;
            } else {
                if digits && let Some(p) = Pid::from_raw(pid) {
                    let _ = rustix::process::kill_process(p, Signal::KILL);
                }
                pid = 0;
                digits = false;
            }
        }
    }
    if digits && let Some(p) = Pid::from_raw(pid) {
        let _ = rustix::process::kill_process(p, Signal::KILL);
    }
    true
}

/// Exits the way the program did: with its exit code, or killed by its
/// signal (without a core dump).
fn relay(status: WaitStatus) -> ! {
    // SAFETY: `setrlimit`, `signal`, `kill`, `getpid` and `_exit` are
    // async-signal-safe and affect only this process.
    unsafe {
        if let Some(signal) = status.terminating_signal() {
            let none = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &none);
            libc::signal(signal, libc::SIG_DFL);
            libc::kill(libc::getpid(), signal);
            libc::_exit(128 + signal);
        }
        libc::_exit(status.exit_status().unwrap_or(1))
    }
}
