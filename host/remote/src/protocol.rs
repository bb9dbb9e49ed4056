//! The agent protocol: JSON messages, each framed by its length as a 4-byte
//! big-endian number, over the agent's stdin and stdout.
//!
//! The controller opens with [`ToAgent::Hello`]; the agent answers
//! [`FromAgent::Ready`] or [`FromAgent::Refused`] (another protocol or
//! berth version, a held lock). Then each [`ToAgent::Deploy`] is answered
//! by the request's [`FromAgent::Event`]s and one [`FromAgent::Done`];
//! [`ToAgent::Bye`] (or the end of stdin) ends the agent, which releases
//! its lock.

use berth_engine::event::Event;
use berth_engine::target::{BatchResult, HostRequest, LockRequest};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::PathBuf;

/// The protocol version; both sides must speak the same.
pub const PROTOCOL: u32 = 1;

/// The berth version of this program; both sides must be the same.
pub const BERTH_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The largest message accepted, so that a corrupt length cannot make a
/// side allocate without bound.
pub const MAX_MESSAGE: u32 = 256 * 1024 * 1024;

/// Messages from the controller to the agent.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
// One request carries a whole host plan: boxing it saves nothing here.
#[allow(clippy::large_enum_variant)]
pub enum ToAgent {
    /// The handshake.
    Hello {
        /// The controller's protocol version.
        protocol: u32,
        /// The controller's berth version.
        berth: String,
        /// `target_directory` on this host.
        target_directory: PathBuf,
        /// The deploy lock to take; `None` in predict mode.
        lock: Option<LockRequest>,
    },
    /// Deploy these roots.
    Deploy(HostRequest),
    /// The run is over.
    Bye,
}

/// Messages from the agent to the controller.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum FromAgent {
    /// The handshake succeeded (and the lock, when asked for, is held).
    Ready {
        /// The agent's protocol version.
        protocol: u32,
        /// The agent's berth version.
        berth: String,
    },
    /// The agent will not work for this controller; it exits.
    Refused {
        /// Why, naming both versions or the lock's holder.
        message: String,
    },
    /// Something happened on the target.
    Event(Event),
    /// The request is done.
    Done(BatchResult),
}

/// Why a message could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The stream failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A frame was too long, or not a message of this protocol.
    #[error("not a berth agent message: {0}")]
    Invalid(String),
}

/// Writes one message as a frame (not flushed).
pub fn write<T: Serialize>(out: &mut impl Write, message: &T) -> Result<(), ProtocolError> {
    let body = serde_json::to_vec(message).map_err(|e| ProtocolError::Invalid(e.to_string()))?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|&n| n <= MAX_MESSAGE)
        .ok_or_else(|| ProtocolError::Invalid(format!("a message of {} bytes", body.len())))?;
    out.write_all(&len.to_be_bytes())?;
    out.write_all(&body)?;
    Ok(())
}

/// Reads one message; `None` at the end of the stream between frames.
pub fn read<T: for<'de> Deserialize<'de>>(
    input: &mut impl Read,
) -> Result<Option<T>, ProtocolError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match input.read(&mut len[got..])? {
            0 if got == 0 => return Ok(None),
            0 => {
                return Err(ProtocolError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
            n => got += n,
        }
    }
    let len = u32::from_be_bytes(len);
    if len > MAX_MESSAGE {
        return Err(ProtocolError::Invalid(format!(
            "a frame of {len} bytes (at most {MAX_MESSAGE})"
        )));
    }
    let mut body = vec![0; len as usize];
    input.read_exact(&mut body)?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| ProtocolError::Invalid(e.to_string()))
}

/// The refusal of a peer that speaks another protocol or is another berth
/// version, naming both; `None` when they match.
pub fn mismatch(protocol: u32, berth: &str) -> Option<String> {
    (protocol != PROTOCOL || berth != BERTH_VERSION).then(|| {
        format!(
            "the controller speaks agent protocol {protocol} (berth {berth}) and the agent protocol {PROTOCOL} (berth {BERTH_VERSION}); deploy with the same berth version on both sides"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_end_cleanly() {
        let mut wire = Vec::new();
        let event = Event::Step {
            host: "web".into(),
            component: "app".into(),
            index: 2,
            label: "file app.conf".into(),
            outcome: berth_engine::event::Outcome::Changed {
                reason: "new file".into(),
                diff: None,
            },
        };
        write(&mut wire, &FromAgent::Event(event)).unwrap();
        write(&mut wire, &FromAgent::Done(BatchResult::default())).unwrap();
        let mut input = wire.as_slice();
        match read::<FromAgent>(&mut input).unwrap() {
            Some(FromAgent::Event(Event::Step { index, outcome, .. })) => {
                assert_eq!(index, 2);
                assert!(matches!(
                    outcome,
                    berth_engine::event::Outcome::Changed { .. }
                ));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            read::<FromAgent>(&mut input).unwrap(),
            Some(FromAgent::Done(_))
        ));
        assert!(read::<FromAgent>(&mut input).unwrap().is_none());
    }

    #[test]
    fn a_cut_frame_and_a_huge_length_are_errors() {
        let mut wire = Vec::new();
        write(&mut wire, &ToAgent::Bye).unwrap();
        wire.truncate(wire.len() - 1);
        assert!(read::<ToAgent>(&mut wire.as_slice()).is_err());
        let huge = u32::MAX.to_be_bytes();
        let err = read::<ToAgent>(&mut huge.as_slice()).unwrap_err();
        assert!(err.to_string().contains("at most"), "{err}");
    }

    #[test]
    fn a_mismatch_names_both_versions() {
        assert_eq!(mismatch(PROTOCOL, BERTH_VERSION), None);
        let m = mismatch(PROTOCOL + 1, "9.9.9").unwrap();
        assert!(m.contains(&format!("protocol {}", PROTOCOL + 1)), "{m}");
        assert!(m.contains("berth 9.9.9"), "{m}");
        assert!(m.contains(&format!("berth {BERTH_VERSION}")), "{m}");
    }
}
