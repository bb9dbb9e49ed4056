//! Remote deploys over SSH, through the real path: the `berth` binary as
//! the controller, real OpenSSH servers on loopback that the harness starts
//! itself, this build's `berth agent` on the targets, real components built
//! from source.
//!
//! The tests need root (for `useradd` and sshd) and `/usr/sbin/sshd`
//! (`scripts/test` installs openssh-server and sudo); without root they say
//! so and pass.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod deploys;
mod faults;
mod harness;
mod lock;
mod sudo;
