//! berth's remote layer: what it takes to run a host's share of a plan on
//! that host. The engine sees it only through its
//! [`berth_engine::target::Transport`], [`berth_engine::target::Connect`]
//! and [`berth_engine::target::Target`] seams.
//!
//! - [`protocol`]: the messages between the controller and `berth agent`,
//!   versioned and length-delimited, with a handshake.
//! - [`agent`]: the agent's side: it takes the deploy lock, builds
//!   definition folders from its store, and runs the engine's
//!   [`berth_engine::target::execute`], the code a local deploy runs.
//! - [`ssh`]: the controller's side: one OpenSSH master connection per host
//!   (through the `openssh` crate), the content-addressed [`store`] on the
//!   target filled over SFTP on the same connection, and the agent run over
//!   it.
//! - [`agent_binary`]: which berth binary goes to the hosts.
//!
//! ```
//! use berth_remote::protocol::{self, ToAgent};
//! let mut wire = Vec::new();
//! protocol::write(&mut wire, &ToAgent::Bye).unwrap();
//! let back: Option<ToAgent> = protocol::read(&mut wire.as_slice()).unwrap();
//! assert!(matches!(back, Some(ToAgent::Bye)));
//! ```

pub mod agent;
pub mod agent_binary;
pub mod protocol;
pub mod ssh;
pub mod store;
