//! Agent half: how to read the collector's answers.
//!
//! Batch streams carry one answer each (`on_batch_answer`). The control stream carries, after
//! `Welcome`, the collector's model push and (v5) the agent's credential
//! (`on_control_frame`); anything else there is logged and ignored, so that a newer collector
//! never costs an older agent its batches.

use crate::messages::{AgentCredential, Frame, ModelPush, RejectReason};

/// What the agent does with a frame read from the control stream after `Welcome`.
#[derive(Debug, PartialEq)]
pub enum ControlAction {
    /// Decode, check and adopt this model; a bad one is logged and the old model kept.
    ApplyModel(ModelPush),
    /// Keep this credential (protocol v5) and present it in place of the fleet token.
    SaveCredential(AgentCredential),
    /// The collector is closing the connection for this reason.
    Closing(RejectReason, String),
    /// Not meant for the agent on this stream: log it and keep reading.
    Ignore(&'static str),
}

/// Interprets a frame the collector sent on the control stream.
pub fn on_control_frame(frame: Frame) -> ControlAction {
    match frame {
        Frame::Model(push) => ControlAction::ApplyModel(push),
        Frame::Credential(credential) => ControlAction::SaveCredential(credential),
        Frame::Reject(r) => ControlAction::Closing(r.reason, r.message),
        other => ControlAction::Ignore(super::collector::frame_name(&other)),
    }
}

/// What the agent learns from the collector's answer on a batch stream.
#[derive(Debug, PartialEq, Eq)]
pub enum BatchOutcome {
    /// Durably stored: the batch may be deleted from the buffer.
    Stored { duplicate: bool },
    /// Keep the batch and retry later (collector busy or store failing), after a backoff.
    Retry(String),
    /// The batch is over the collector's `max_batch_bytes`: split it and send the halves;
    /// the connection stays open (protocol v2).
    TooLarge(String),
    /// Another installation uses this agent id: take a new one and reconnect (protocol v2).
    IdentityConflict(String),
    /// The connection is unusable (auth, version, protocol); reconnect after backoff.
    Fatal(RejectReason, String),
}

/// Interprets the frame answering the batch numbered `seq`.
pub fn on_batch_answer(seq: u64, frame: Frame) -> BatchOutcome {
    match frame {
        Frame::Ack(ack) if ack.seq == seq => BatchOutcome::Stored {
            duplicate: ack.duplicate,
        },
        Frame::Ack(ack) => BatchOutcome::Fatal(
            RejectReason::ProtocolViolation,
            format!("ack for batch {} while waiting for {seq}", ack.seq),
        ),
        Frame::Reject(r) if r.reason == RejectReason::Unavailable => BatchOutcome::Retry(r.message),
        Frame::Reject(r) if r.reason == RejectReason::TooLarge => BatchOutcome::TooLarge(r.message),
        Frame::Reject(r) if r.reason == RejectReason::IdentityConflict => {
            BatchOutcome::IdentityConflict(r.message)
        }
        Frame::Reject(r) => BatchOutcome::Fatal(r.reason, r.message),
        other => BatchOutcome::Fatal(
            RejectReason::ProtocolViolation,
            format!("unexpected {} frame", super::collector::frame_name(&other)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{Ack, Reject};

    #[test]
    fn only_matching_ack_releases_the_batch() {
        assert_eq!(
            on_batch_answer(
                3,
                Frame::Ack(Ack {
                    seq: 3,
                    duplicate: true
                })
            ),
            BatchOutcome::Stored { duplicate: true }
        );
        assert!(matches!(
            on_batch_answer(
                3,
                Frame::Ack(Ack {
                    seq: 4,
                    duplicate: false
                })
            ),
            BatchOutcome::Fatal(..)
        ));
    }

    #[test]
    fn control_stream_applies_models_and_ignores_the_rest() {
        let push = ModelPush {
            version: 1,
            model: vec![1, 2],
            raw_len: 2,
        };
        assert_eq!(
            on_control_frame(Frame::Model(push.clone())),
            ControlAction::ApplyModel(push)
        );
        let credential = AgentCredential {
            agent_id: "agent-1".into(),
            token: "fla_0123".into(),
        };
        assert_eq!(
            on_control_frame(Frame::Credential(credential.clone())),
            ControlAction::SaveCredential(credential)
        );
        assert_eq!(
            on_control_frame(Frame::Ack(Ack {
                seq: 1,
                duplicate: false
            })),
            ControlAction::Ignore("ack")
        );
    }

    #[test]
    fn v2_refusals_split_or_rekey_and_keep_the_connection() {
        let too_large = Reject {
            reason: RejectReason::TooLarge,
            message: "9 > 8".into(),
        };
        assert_eq!(
            on_batch_answer(1, Frame::Reject(too_large)),
            BatchOutcome::TooLarge("9 > 8".into())
        );
        let clone = Reject {
            reason: RejectReason::IdentityConflict,
            message: "seq 1 differs".into(),
        };
        assert!(matches!(
            on_batch_answer(1, Frame::Reject(clone)),
            BatchOutcome::IdentityConflict(_)
        ));
        let malformed = Reject {
            reason: RejectReason::Malformed,
            message: "bad".into(),
        };
        assert!(matches!(
            on_batch_answer(1, Frame::Reject(malformed)),
            BatchOutcome::Fatal(RejectReason::Malformed, _)
        ));
    }

    #[test]
    fn unavailable_means_retry() {
        let r = Reject {
            reason: RejectReason::Unavailable,
            message: "db".into(),
        };
        assert!(matches!(
            on_batch_answer(1, Frame::Reject(r)),
            BatchOutcome::Retry(_)
        ));
    }
}
