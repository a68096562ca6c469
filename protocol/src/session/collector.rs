//! Collector half: what to answer to a `Hello` and to each frame after it.
//!
//! After `Welcome` the collector may push its trained model once per connection
//! (`Frame::Model` on the control stream); the agent never sends one, so a `Model` from an
//! agent is a protocol violation like any other unexpected control frame.

use crate::messages::{Frame, Hello, Reject, RejectReason, Welcome};
use crate::version::{PROTOCOL_VERSION, V5, is_supported};

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Largest agent id or host name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 253;

/// Decides whether a `Hello` is admitted. `expected_token` is the enrollment token.
pub fn admit(
    hello: &Hello,
    expected_token: &str,
    last_stored_seq: Option<u64>,
    max_batch_bytes: u32,
    collector_version: &str,
) -> Result<Welcome, Reject> {
    check_hello(hello, expected_token)?;
    Ok(welcome(last_stored_seq, max_batch_bytes, collector_version))
}

/// Checks a `Hello` without anything from the store: the token first, then the version and
/// the names. The collector calls this before it runs any query for the agent, so an
/// unauthenticated peer never costs a store round trip.
pub fn check_hello(hello: &Hello, expected_token: &str) -> Result<(), Reject> {
    if !constant_time_eq(hello.token.as_bytes(), expected_token.as_bytes()) {
        return Err(Reject {
            reason: RejectReason::Unauthorized,
            message: "enrollment token not accepted".into(),
        });
    }
    check_hello_fields(hello)
}

/// Checks what a `Hello` says besides its token: the version, then the names. A collector
/// that authenticates agents its own way (per-agent credentials) calls this after its own
/// token check.
pub fn check_hello_fields(hello: &Hello) -> Result<(), Reject> {
    if !is_supported(hello.protocol_version) {
        return Err(Reject {
            reason: RejectReason::UnsupportedVersion,
            message: format!(
                "protocol version {} is not supported (collector speaks {PROTOCOL_VERSION})",
                hello.protocol_version
            ),
        });
    }
    for (what, value) in [("agent_id", &hello.agent_id), ("host", &hello.host)] {
        if value.is_empty() || value.len() > MAX_NAME_LEN || value.chars().any(char::is_control) {
            return Err(Reject {
                reason: RejectReason::Malformed,
                message: format!("{what} must be 1-{MAX_NAME_LEN} printable bytes"),
            });
        }
    }
    Ok(())
}

/// The reject a peer speaking `peer_version` understands: `Revoked` (v5) becomes
/// `Unauthorized` with the same message for an older peer; every other reason is unchanged.
pub fn reject_for_peer(reject: Reject, peer_version: u16) -> Reject {
    match reject.reason {
        RejectReason::Revoked if peer_version < V5 => Reject {
            reason: RejectReason::Unauthorized,
            message: reject.message,
        },
        _ => reject,
    }
}

/// The `Welcome` for a `Hello` that passed `check_hello`.
pub fn welcome(
    last_stored_seq: Option<u64>,
    max_batch_bytes: u32,
    collector_version: &str,
) -> Welcome {
    Welcome {
        protocol_version: PROTOCOL_VERSION,
        collector_version: collector_version.to_owned(),
        last_stored_seq,
        max_batch_bytes,
    }
}

/// What the collector does with a frame received on a batch stream.
#[derive(Debug, PartialEq)]
pub enum BatchStreamAction {
    /// Store the batch, then ack it.
    Store(crate::messages::Batch),
    /// Answer with this rejection and close the connection.
    Refuse(Reject),
    /// Answer with this rejection on this stream only; the connection stays open
    /// (a v2 agent splits a batch refused as too large).
    Answer(Reject),
}

/// Checks a frame that arrived on a batch stream of the admitted agent `agent_id`, which
/// said `Hello::protocol_version` = `peer_version`.
pub fn on_batch_frame(
    frame: Frame,
    agent_id: &str,
    max_batch_bytes: u32,
    peer_version: u16,
) -> BatchStreamAction {
    match frame {
        Frame::Batch(batch) if batch.agent_id != agent_id => BatchStreamAction::Refuse(Reject {
            reason: RejectReason::ProtocolViolation,
            message: "batch names another agent".into(),
        }),
        Frame::Batch(batch) if batch.payload.len() > max_batch_bytes as usize => {
            let message = format!(
                "batch {} payload of {} bytes exceeds max_batch_bytes ({max_batch_bytes})",
                batch.seq,
                batch.payload.len()
            );
            if peer_version >= crate::version::V2 {
                BatchStreamAction::Answer(Reject {
                    reason: RejectReason::TooLarge,
                    message,
                })
            } else {
                // A v1 agent cannot split: it is told why and disconnected, as before.
                BatchStreamAction::Refuse(Reject {
                    reason: RejectReason::Malformed,
                    message,
                })
            }
        }
        Frame::Batch(batch) => BatchStreamAction::Store(batch),
        other => BatchStreamAction::Refuse(Reject {
            reason: RejectReason::ProtocolViolation,
            message: format!("expected a batch, got {}", frame_name(&other)),
        }),
    }
}

/// Short name of a frame's kind, for errors.
pub fn frame_name(frame: &Frame) -> &'static str {
    match frame {
        Frame::Hello(_) => "hello",
        Frame::Welcome(_) => "welcome",
        Frame::Batch(_) => "batch",
        Frame::Ack(_) => "ack",
        Frame::Heartbeat(_) => "heartbeat",
        Frame::Reject(_) => "reject",
        Frame::Model(_) => "model",
        Frame::Status(_) => "status",
        Frame::StatusV3(_) => "status_v3",
        Frame::Credential(_) => "credential",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(token: &str, version: u16) -> Hello {
        Hello {
            protocol_version: version,
            agent_id: "agent-1".into(),
            host: "store-042-pos-1".into(),
            token: token.into(),
            labels: vec![],
            agent_version: "0.1.0".into(),
        }
    }

    #[test]
    fn wrong_token_is_unauthorized() {
        let err = admit(&hello("nope", 1), "secret", None, 1, "t").unwrap_err();
        assert_eq!(err.reason, RejectReason::Unauthorized);
    }

    #[test]
    fn the_token_is_checked_before_anything_else() {
        // A wrong token with a bad version and an empty agent id is refused as unauthorized:
        // nothing about the agent is looked at (or looked up) before the token passes.
        let mut h = hello("nope", 99);
        h.agent_id.clear();
        let err = check_hello(&h, "secret").unwrap_err();
        assert_eq!(err.reason, RejectReason::Unauthorized);
        assert!(check_hello(&hello("secret", 1), "secret").is_ok());
        let w = welcome(Some(3), 10, "t");
        assert_eq!(
            w,
            admit(&hello("secret", 1), "secret", Some(3), 10, "t").unwrap()
        );
    }

    #[test]
    fn an_oversized_batch_is_answered_too_large_to_v2_and_refused_to_v1() {
        let batch = |len: usize| {
            Frame::Batch(crate::messages::Batch {
                agent_id: "agent-1".into(),
                seq: 7,
                priority: false,
                entry_count: 1,
                raw_len: 1,
                payload: vec![0; len],
            })
        };
        let cases = [
            (10, 2, "store"),
            (11, 2, "answer:TooLarge"),
            (11, 1, "refuse:Malformed"),
        ];
        for (len, version, want) in cases {
            let got = match on_batch_frame(batch(len), "agent-1", 10, version) {
                BatchStreamAction::Store(_) => "store".to_string(),
                BatchStreamAction::Answer(r) => format!("answer:{:?}", r.reason),
                BatchStreamAction::Refuse(r) => format!("refuse:{:?}", r.reason),
            };
            assert_eq!(got, want, "len {len} version {version}");
        }
    }

    #[test]
    fn revoked_is_said_as_unauthorized_below_v5() {
        let revoked = || Reject {
            reason: RejectReason::Revoked,
            message: "stolen laptop".into(),
        };
        for (version, want) in [
            (1, RejectReason::Unauthorized),
            (4, RejectReason::Unauthorized),
            (5, RejectReason::Revoked),
        ] {
            let got = reject_for_peer(revoked(), version);
            assert_eq!(got.reason, want, "version {version}");
            assert_eq!(got.message, "stolen laptop");
        }
        let other = Reject {
            reason: RejectReason::TooLarge,
            message: String::new(),
        };
        assert_eq!(reject_for_peer(other.clone(), 1), other);
    }

    #[test]
    fn future_version_is_refused_with_reason() {
        let err = admit(&hello("secret", 99), "secret", None, 1, "t").unwrap_err();
        assert_eq!(err.reason, RejectReason::UnsupportedVersion);
    }

    #[test]
    fn good_hello_is_welcomed() {
        let w = admit(&hello("secret", 1), "secret", Some(4), 10, "t").unwrap();
        assert_eq!(w.last_stored_seq, Some(4));
    }

    #[test]
    fn hello_on_batch_stream_is_a_violation() {
        let action = on_batch_frame(Frame::Hello(hello("secret", 1)), "agent-1", 10, 2);
        assert!(
            matches!(action, BatchStreamAction::Refuse(r) if r.reason == RejectReason::ProtocolViolation)
        );
    }
}
