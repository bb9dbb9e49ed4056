//! Work berth does for a component in a process of its own: a fork of berth
//! with a memory limit, asked over a pipe, killed at the deadline.
//!
//! Some host work cannot be bounded from inside berth. A minijinja
//! template can double a string a few dozen times in as many
//! instructions, and an allocation that fails aborts a Rust process; fuel
//! bounds instructions, not memory. Such work runs in an [`Isolated`]
//! child: berth's own memory stays as it was, a child that runs out of
//! memory dies alone (an allocation fails against its `RLIMIT_AS`), and a
//! child that runs past the deadline is killed.
//!
//! The child is forked without `exec`, so it has the data of berth it was
//! forked with (a component's template globals, say) and runs Rust code
//! after `fork` in a process that had other threads. It touches only what
//! the closure owns and the allocator (glibc's and musl's `malloc` are
//! usable in the child of a multi-threaded parent), closes every
//! descriptor but its pipes, and never returns into std.

// `CommandExt::pre_exec` is unsafe; the child's side runs in it.
#![allow(unsafe_code)]

use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsFd as _, BorrowedFd};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};

/// A child process that answers requests, one at a time.
#[derive(Debug)]
pub struct Isolated {
    child: Child,
    to: ChildStdin,
    from: ChildStdout,
    memory: u64,
}

/// Why an [`Isolated`] child gave no answer. The child is gone after any of
/// them.
#[derive(Debug, thiserror::Error)]
pub enum IsolatedError {
    /// It did not answer within the deadline and was killed.
    #[error("did not finish within {0:?} and was stopped")]
    TimedOut(Duration),
    /// It ran out of memory: an allocation failed against its limit.
    #[error("needed more than the memory limit of {} and was stopped", crate::human_bytes(*.0))]
    OutOfMemory(u64),
    /// It died otherwise.
    #[error("its process died ({0})")]
    Died(String),
    /// The pipe to it failed.
    #[error("cannot talk to its process: {0}")]
    Io(#[from] io::Error),
}

/// The exit code of a child that cannot set its memory limit.
const NO_LIMIT: i32 = 4;
/// The exit code of a child whose work panicked.
const PANICKED: i32 = 3;

impl Isolated {
    /// Forks a child that answers each request with `serve`, and may use
    /// `memory` bytes of address space beyond what it was forked with.
    ///
    /// # Errors
    ///
    /// When the pipes or the process cannot be created.
    pub fn spawn<F>(memory: u64, serve: F) -> io::Result<Isolated>
    where
        F: FnMut(&[u8]) -> Vec<u8> + Send + Sync + 'static,
    {
        let mut serve = Some(serve);
        let mut command = std::process::Command::new("/proc/self/exe");
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let hook = move || -> io::Result<()> {
            if let Some(serve) = serve.take() {
                child_main(memory, serve);
            }
            Ok(())
        };
        // SAFETY: the hook runs in the forked child and never returns into
        // std: `child_main` closes every inherited descriptor but its pipes,
        // limits itself with `setrlimit`, serves requests with the closure it
        // owns, and leaves with `_exit`. It allocates, which the C library's
        // allocator allows in the child of a fork (see the module docs); it
        // takes no lock another thread of berth could hold.
        unsafe {
            command.pre_exec(hook);
        }
        let mut child = command.spawn()?;
        let (Some(to), Some(from)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other("the child has no pipes"));
        };
        for fd in [to.as_fd(), from.as_fd()] {
            let flags = rustix::fs::fcntl_getfl(fd)?;
            rustix::fs::fcntl_setfl(fd, flags | rustix::fs::OFlags::NONBLOCK)?;
        }
        Ok(Isolated {
            child,
            to,
            from,
            memory,
        })
    }

    /// Sends `request` and waits for the answer, at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`IsolatedError`]; the child is killed and must not be asked again.
    pub fn call(&mut self, request: &[u8], timeout: Duration) -> Result<Vec<u8>, IsolatedError> {
        let deadline = Instant::now() + timeout;
        let mut framed = Vec::with_capacity(8 + request.len());
        framed.extend_from_slice(&(request.len() as u64).to_le_bytes());
        framed.extend_from_slice(request);
        let result = self.exchange(&framed, deadline);
        match result {
            Ok(Some(answer)) => Ok(answer),
            Ok(None) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                Err(IsolatedError::TimedOut(timeout))
            }
            Err(e) => {
                // The child is gone or going: why?
                let _ = self.child.kill();
                let status = self.child.wait()?;
                use std::os::unix::process::ExitStatusExt as _;
                Err(match (status.signal(), status.code()) {
                    // A failed allocation aborts (the Rust runtime's
                    // handler), and a limit hit while growing the stack
                    // faults.
                    (Some(libc::SIGABRT | libc::SIGSEGV | libc::SIGBUS), _) => {
                        IsolatedError::OutOfMemory(self.memory)
                    }
                    (_, Some(NO_LIMIT)) => IsolatedError::Died(
                        "it could not limit its memory: `/proc/self/statm` is unreadable".into(),
                    ),
                    (_, Some(PANICKED)) => IsolatedError::Died("it panicked".into()),
                    (Some(libc::SIGKILL), _) | (None, None) => IsolatedError::Io(e),
                    _ => IsolatedError::Died(status.to_string()),
                })
            }
        }
    }

    /// Writes the framed request and reads the framed answer; `None` at the
    /// deadline.
    fn exchange(&mut self, framed: &[u8], deadline: Instant) -> io::Result<Option<Vec<u8>>> {
        let mut written = 0;
        while written < framed.len() {
            match self.to.write(&framed[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !wait_for(self.to.as_fd(), PollFlags::OUT, deadline)? {
                        return Ok(None);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let mut header = [0u8; 8];
        if !self.read_exact(&mut header, deadline)? {
            return Ok(None);
        }
        let len = usize::try_from(u64::from_le_bytes(header))
            .map_err(|_| io::Error::other("an answer too large"))?;
        let mut answer = vec![0u8; len];
        if !self.read_exact(&mut answer, deadline)? {
            return Ok(None);
        }
        Ok(Some(answer))
    }

    /// Fills `buf`; false at the deadline, an error at the end of the pipe.
    fn read_exact(&mut self, buf: &mut [u8], deadline: Instant) -> io::Result<bool> {
        let mut at = 0;
        while at < buf.len() {
            match self.from.read(&mut buf[at..]) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => at += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !wait_for(self.from.as_fd(), PollFlags::IN, deadline)? {
                        return Ok(false);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

impl Drop for Isolated {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `fd` is ready for `what`; false at the deadline.
fn wait_for(fd: BorrowedFd<'_>, what: PollFlags, deadline: Instant) -> io::Result<bool> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        let ts = Timespec {
            tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let mut fds = [PollFd::new(&fd, what)];
        match rustix::event::poll(&mut fds, Some(&ts)) {
            Ok(0) | Err(rustix::io::Errno::INTR) => {}
            Ok(_) => return Ok(true),
            Err(e) => return Err(e.into()),
        }
    }
}

/// The child's life: limit itself, then answer requests on fd 0 on fd 1
/// until the pipe closes.
fn child_main<F: FnMut(&[u8]) -> Vec<u8>>(memory: u64, mut serve: F) -> ! {
    // SAFETY: system calls on this process's own descriptors and limits.
    unsafe {
        libc::syscall(libc::SYS_close_range, 3, libc::c_uint::MAX, 0);
        let none = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &none);
    }
    let Some(size) = address_space() else {
        // SAFETY: leaves the process.
        unsafe { libc::_exit(NO_LIMIT) }
    };
    let limit = libc::rlimit {
        rlim_cur: size.saturating_add(memory),
        rlim_max: size.saturating_add(memory),
    };
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) } != 0 {
        unsafe { libc::_exit(NO_LIMIT) }
    }
    // No message from a panic: stderr is /dev/null anyway, and the hook
    // would take the lock of a stderr another thread may have held.
    std::panic::set_hook(Box::new(|_| {}));
    // SAFETY: fds 0 and 1 are the pipes std set up, open until `_exit`.
    let (input, output) = unsafe { (BorrowedFd::borrow_raw(0), BorrowedFd::borrow_raw(1)) };
    loop {
        let mut header = [0u8; 8];
        if !read_all(input, &mut header) {
            break;
        }
        let Ok(len) = usize::try_from(u64::from_le_bytes(header)) else {
            break;
        };
        let mut request = vec![0u8; len];
        if !read_all(input, &mut request) {
            break;
        }
        let answer =
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| serve(&request))) {
                Ok(answer) => answer,
                Err(_) => unsafe { libc::_exit(PANICKED) },
            };
        if !write_all(output, &(answer.len() as u64).to_le_bytes()) || !write_all(output, &answer) {
            break;
        }
    }
    // SAFETY: leaves the process without running berth's exit handlers.
    unsafe { libc::_exit(0) }
}

/// The process's address space in bytes, from `/proc/self/statm`.
fn address_space() -> Option<u64> {
    let fd = rustix::fs::open(
        c"/proc/self/statm",
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .ok()?;
    let mut buf = [0u8; 64];
    let n = rustix::io::read(&fd, &mut buf).ok()?;
    let pages: u64 = std::str::from_utf8(&buf[..n])
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    // SAFETY: `sysconf` only reads a constant of the system.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

fn read_all(fd: BorrowedFd<'_>, buf: &mut [u8]) -> bool {
    let mut at = 0;
    while at < buf.len() {
        match rustix::io::read(fd, &mut buf[at..]) {
            Ok(0) => return false,
            Ok(n) => at += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return false,
        }
    }
    true
}

fn write_all(fd: BorrowedFd<'_>, buf: &[u8]) -> bool {
    let mut at = 0;
    while at < buf.len() {
        match rustix::io::write(fd, &buf[at..]) {
            Ok(n) => at += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return false,
        }
    }
    true
}
