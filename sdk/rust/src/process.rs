//! Granted programs, run without a shell.
//!
//! ```no_run
//! use berth_sdk::process::Command;
//!
//! # fn f() -> berth_sdk::Result<()> {
//! let out = Command::new("sha256sum").arg("a.txt").run()?;
//! if out.success() {
//!     berth_sdk::log::info(out.stdout_str());
//! }
//! # Ok(())
//! # }
//! ```
//!
//! The program must be declared in [`Component::needs`](crate::Component::needs)
//! and granted. It runs with a cleared environment, in the workdir (or a
//! directory below it), with a timeout. In verify it runs confined to
//! read-only access; in configure it is refused.

use std::borrow::Cow;

use crate::__private::bindings::berth::component::process as wit;
use crate::Result;

/// A program run being prepared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    argv: Vec<String>,
    cwd: Option<String>,
    stdin: Option<Vec<u8>>,
}

impl Command {
    /// Run `program`: a granted name (looked up on the target's system path)
    /// or absolute path.
    pub fn new(program: impl Into<String>) -> Self {
        Command {
            argv: vec![program.into()],
            cwd: None,
            stdin: None,
        }
    }

    /// Add one argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.argv.push(arg.into());
        self
    }

    /// Add arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.argv.extend(args.into_iter().map(Into::into));
        self
    }

    /// Working directory relative to the workdir (default: the workdir).
    pub fn cwd(mut self, cwd: impl Into<String>) -> Self {
        self.cwd = Some(cwd.into());
        self
    }

    /// Bytes written to the program's standard input.
    pub fn stdin(mut self, stdin: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(stdin.into());
        self
    }

    /// Run the program and wait for it.
    ///
    /// A non-zero exit is not an error (see [`Output::success`]); a program
    /// that is not granted fails with [`Error::Denied`](crate::Error::Denied).
    pub fn run(&self) -> Result<Output> {
        let out = wit::run(&wit::Command {
            argv: self.argv.clone(),
            cwd: self.cwd.clone(),
            stdin: self.stdin.clone(),
        })?;
        Ok(Output {
            status: out.status,
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }
}

/// What a finished program left behind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// The exit status; -1 when the program was killed by a signal.
    pub status: i32,
    /// Everything it wrote to standard output.
    pub stdout: Vec<u8>,
    /// Everything it wrote to standard error.
    pub stderr: Vec<u8>,
}

impl Output {
    /// Whether the program exited with status 0.
    pub fn success(&self) -> bool {
        self.status == 0
    }

    /// Standard output as text (invalid UTF-8 replaced).
    pub fn stdout_str(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.stdout)
    }

    /// Standard error as text (invalid UTF-8 replaced).
    pub fn stderr_str(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.stderr)
    }
}
