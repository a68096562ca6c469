//! Agent half: how to read the collector's answers.

use crate::messages::{Frame, RejectReason};

/// What the agent learns from the collector's answer on a batch stream.
#[derive(Debug, PartialEq, Eq)]
pub enum BatchOutcome {
    /// Durably stored: the batch may be deleted from the buffer.
    Stored { duplicate: bool },
    /// Keep the batch and retry later (collector busy or store failing).
    Retry(String),
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
