//! The agent protocol: JSON messages, each framed by its length as a 4-byte
//! big-endian number, over the agent's stdin and stdout.
//!
//! The controller opens with [`ToAgent::Hello`]; the agent answers
//! [`FromAgent::Ready`] or [`FromAgent::Refused`] (another protocol or
//! berth version, a held lock). Then each [`ToAgent::Deploy`] is answered
//! by the request's [`FromAgent::Event`]s and one [`FromAgent::Done`];
//! [`ToAgent::Bye`] is answered by [`FromAgent::Bye`] once the agent has
//! released its lock, and the agent exits. The end of its stdin also ends
//! the agent (no further step starts, the lock is released).
//!
//! Both sides read the versions of a handshake before anything else of it,
//! so that a peer of another version is refused with both versions named
//! even when the rest of its message has another shape.

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
        /// `target_directory` on this host (`~/` is the agent user's home).
        target_directory: PathBuf,
        /// The deploy lock to take; `None` in predict mode.
        lock: Option<LockRequest>,
        /// The sha256 of every blob the requests will refer to: the agent
        /// answers which of them its store lacks.
        blobs: Vec<String>,
        /// Write every event as it comes, instead of in batches (to
        /// measure what batching saves).
        #[serde(default)]
        flush_each: bool,
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
        /// The user the agent runs as.
        user: String,
        /// Its home: where its store is.
        home: PathBuf,
        /// Who ran it through `sudo`, when someone did.
        sudo_from: Option<String>,
        /// The blobs of the handshake that the store lacks.
        missing: Vec<String>,
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
    /// The agent released its lock and ends.
    Bye,
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

/// One message as a frame.
///
/// Errors: it does not serialize, or is longer than [`MAX_MESSAGE`].
pub fn frame<T: Serialize>(message: &T) -> Result<Vec<u8>, ProtocolError> {
    let mut out = vec![0; 4];
    serde_json::to_writer(&mut out, message).map_err(|e| ProtocolError::Invalid(e.to_string()))?;
    let len = u32::try_from(out.len() - 4)
        .ok()
        .filter(|&n| n <= MAX_MESSAGE)
        .ok_or_else(|| ProtocolError::Invalid(format!("a message of {} bytes", out.len() - 4)))?;
    out[..4].copy_from_slice(&len.to_be_bytes());
    Ok(out)
}

/// Writes one message as a frame (not flushed).
///
/// Errors: as [`frame`], or the stream failed.
pub fn write<T: Serialize>(out: &mut impl Write, message: &T) -> Result<(), ProtocolError> {
    out.write_all(&frame(message)?)?;
    Ok(())
}

/// The length of a frame from its first 4 bytes.
///
/// Errors: it is longer than [`MAX_MESSAGE`].
pub fn frame_len(head: [u8; 4]) -> Result<usize, ProtocolError> {
    let len = u32::from_be_bytes(head);
    if len > MAX_MESSAGE {
        return Err(ProtocolError::Invalid(format!(
            "a frame of {len} bytes (at most {MAX_MESSAGE})"
        )));
    }
    Ok(len as usize)
}

/// Reads one frame's body; `None` at the end of the stream between frames.
///
/// Errors: the stream failed or ended inside a frame, or the length is
/// too large.
pub fn read_frame(input: &mut impl Read) -> Result<Option<Vec<u8>>, ProtocolError> {
    let mut head = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match input.read(&mut head[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(ProtocolError::Io(std::io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut body = vec![0; frame_len(head)?];
    input.read_exact(&mut body)?;
    Ok(Some(body))
}

/// Parses one frame's body.
///
/// Errors: it is not a message of this protocol.
pub fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ProtocolError> {
    serde_json::from_slice(body).map_err(|e| ProtocolError::Invalid(e.to_string()))
}

/// Reads one message; `None` at the end of the stream between frames.
///
/// Errors: as [`read_frame`] and [`parse`].
pub fn read<T: for<'de> Deserialize<'de>>(
    input: &mut impl Read,
) -> Result<Option<T>, ProtocolError> {
    read_frame(input)?.map(|body| parse(&body)).transpose()
}

/// The protocol and berth versions a handshake message (of any version)
/// names, read before the rest of it.
pub fn versions(body: &[u8]) -> (Option<u32>, Option<String>) {
    #[derive(Deserialize)]
    struct Versions {
        protocol: Option<u32>,
        berth: Option<String>,
    }
    match serde_json::from_slice::<Versions>(body) {
        Ok(v) => (v.protocol, v.berth),
        Err(_) => (None, None),
    }
}

/// The refusal of a peer that speaks another protocol or is another berth
/// version, naming both; `None` when they match. `peer` is what the other
/// side is (`the controller`, `the agent`).
pub fn mismatch(peer: &str, protocol: Option<u32>, berth: Option<&str>) -> Option<String> {
    if protocol == Some(PROTOCOL) && berth == Some(BERTH_VERSION) {
        return None;
    }
    let protocol = protocol.map_or("an unknown protocol".to_string(), |p| {
        format!("agent protocol {p}")
    });
    let berth = berth.unwrap_or("unknown");
    Some(format!(
        "{peer} speaks {protocol} (berth {berth}) and this berth speaks agent protocol {PROTOCOL} (berth {BERTH_VERSION}); deploy with the same berth version on both sides"
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
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
        assert_eq!(&wire[..4], &[0, 0, 0, 14], "{{\"type\":\"bye\"}}");
        wire.truncate(wire.len() - 1);
        assert!(read::<ToAgent>(&mut wire.as_slice()).is_err());
        let huge = u32::MAX.to_be_bytes();
        let err = read::<ToAgent>(&mut huge.as_slice()).unwrap_err();
        assert!(err.to_string().contains("at most"), "{err}");
    }

    #[test]
    fn a_mismatch_names_both_versions() {
        assert_eq!(
            mismatch("the agent", Some(PROTOCOL), Some(BERTH_VERSION)),
            None
        );
        let m = mismatch("the controller", Some(PROTOCOL + 1), Some("9.9.9")).unwrap();
        assert_eq!(
            m,
            format!(
                "the controller speaks agent protocol {} (berth 9.9.9) and this berth speaks agent protocol {PROTOCOL} (berth {BERTH_VERSION}); deploy with the same berth version on both sides",
                PROTOCOL + 1
            )
        );
        // A handshake of another shape still shows its versions.
        let body = br#"{"type":"hello","protocol":7,"berth":"2.0.0","what":["new"]}"#;
        assert_eq!(versions(body), (Some(7), Some("2.0.0".into())));
        assert!(
            mismatch("the agent", None, None)
                .unwrap()
                .contains("an unknown protocol (berth unknown)")
        );
    }
}
