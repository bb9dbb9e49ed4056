//! berth's side of a program run: feeding its input and collecting its
//! output in bounded buffers, until its whole tree is gone or the deadline
//! passes.
//!
//! One thread polls the program's pipes and its supervisor's pidfd: no
//! reader threads, so that a pipe some process keeps open cannot keep
//! berth waiting past the deadline.

use std::io::{self, Write as _};
use std::os::fd::AsFd as _;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};

use crate::process::supervisor::Control;

/// How much of each of a program's output streams berth keeps; the rest is
/// read, counted and dropped.
pub const OUTPUT_LIMIT: usize = 16 << 20;

/// How long berth waits, once it told the supervisor to stop the program's
/// tree, before it kills the supervisor itself.
const GRACE: Duration = Duration::from_secs(2);

/// How much one wake-up reads from one pipe, so that a fast writer cannot
/// keep berth from looking at the clock.
const READS_PER_WAKE: usize = 16;

/// A program's output stream, as kept.
#[derive(Debug, Default)]
pub(crate) struct Stream {
    pub(crate) kept: Vec<u8>,
    pub(crate) dropped: u64,
}

impl Stream {
    fn take(&mut self, bytes: &[u8]) {
        let room = OUTPUT_LIMIT.saturating_sub(self.kept.len());
        let (keep, drop) = bytes.split_at(room.min(bytes.len()));
        self.kept.extend_from_slice(keep);
        self.dropped += drop.len() as u64;
    }
}

/// What a run left behind.
#[derive(Debug)]
pub(crate) struct Captured {
    pub(crate) stdout: Stream,
    pub(crate) stderr: Stream,
    /// The supervisor's status: the program's, or `None` when it was killed
    /// at the deadline.
    pub(crate) status: Option<ExitStatus>,
}

/// Feeds `input` to the program's stdin, collects its stdout and stderr,
/// and waits for its supervisor, at most `timeout`; at the deadline the
/// supervisor is told to kill the program's tree.
pub(crate) fn collect(
    child: &mut Child,
    control: &mut Control,
    input: Option<Vec<u8>>,
    timeout: Duration,
) -> io::Result<Captured> {
    let deadline = Instant::now() + timeout;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let mut stdin = child.stdin.take();
    for fd in [
        stdout.as_ref().map(|p| p.as_fd()),
        stderr.as_ref().map(|p| p.as_fd()),
        stdin.as_ref().map(|p| p.as_fd()),
    ]
    .into_iter()
    .flatten()
    {
        let flags = rustix::fs::fcntl_getfl(fd)?;
        rustix::fs::fcntl_setfl(fd, flags | rustix::fs::OFlags::NONBLOCK)?;
    }
    let input = input.unwrap_or_default();
    let mut written = 0;
    if input.is_empty() {
        stdin = None;
    }
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_child(child),
        rustix::process::PidfdFlags::empty(),
    )
    .ok();

    let mut out = Captured {
        stdout: Stream::default(),
        stderr: Stream::default(),
        status: None,
    };
    let mut exited: Option<ExitStatus> = None;
    let mut stopped = false;
    let mut give_up = deadline;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if exited.is_none() {
            exited = child.try_wait()?;
        }
        if exited.is_some() && stdout.is_none() && stderr.is_none() {
            break;
        }
        let now = Instant::now();
        if now >= give_up {
            if !stopped {
                // The deadline: the supervisor kills the tree and exits.
                control.stop();
                stopped = true;
                give_up = now + GRACE;
                continue;
            }
            if exited.is_none() {
                // The supervisor did not finish in time: kill it too.
                let _ = child.kill();
                exited = Some(child.wait()?);
            }
            // Whoever still holds the pipes escaped the supervisor; their
            // output is not waited for.
            break;
        }
        if exited.is_some() && !stopped {
            // The tree is gone, so the pipes are at their end; give what is
            // left in them a moment.
            give_up = give_up.min(now + GRACE);
        }
        let mut wait = give_up - now;
        if pidfd.is_none() && exited.is_none() {
            wait = wait.min(Duration::from_millis(10));
        }
        {
            let mut fds = Vec::with_capacity(4);
            if let Some(p) = &stdout {
                fds.push(PollFd::new(p, PollFlags::IN));
            }
            if let Some(p) = &stderr {
                fds.push(PollFd::new(p, PollFlags::IN));
            }
            if let Some(p) = &stdin {
                fds.push(PollFd::new(p, PollFlags::OUT));
            }
            if let (Some(fd), None) = (&pidfd, exited) {
                fds.push(PollFd::new(fd, PollFlags::IN));
            }
            let ts = Timespec {
                tv_sec: i64::try_from(wait.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(wait.subsec_nanos()),
            };
            match rustix::event::poll(&mut fds, Some(&ts)) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        drain(&mut stdout, &mut out.stdout, &mut buf)?;
        drain(&mut stderr, &mut out.stderr, &mut buf)?;
        if let Some(pipe) = &mut stdin {
            match pipe.write(&input[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A program that exits without reading its input is fine.
                Err(_) => written = input.len(),
            }
            if written >= input.len() {
                stdin = None;
            }
        }
    }
    out.status = if stopped { None } else { exited };
    if stopped && exited.is_none() {
        let _ = child.wait();
    }
    Ok(out)
}

/// Reads what `pipe` has, into `stream`; closes it at its end.
fn drain<R: io::Read>(pipe: &mut Option<R>, stream: &mut Stream, buf: &mut [u8]) -> io::Result<()> {
    let Some(p) = pipe else { return Ok(()) };
    for _ in 0..READS_PER_WAKE {
        match p.read(buf) {
            Ok(0) => {
                *pipe = None;
                return Ok(());
            }
            Ok(n) => stream.take(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
