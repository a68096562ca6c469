//! `AgentSession`: the shipper's rules for one connection, without I/O and without a clock.
//!
//! The driver (`ship::driver`) feeds it what happened — the `Welcome`, a batch sent, the
//! frame answering a batch, the time — and does what it says: send a batch, delete it,
//! split it, wait, re-key, reconnect. So every rule is tested here without sockets:
//! - two lanes with their own in-flight budgets: bulk batches never hold back a critical
//!   one (`batch.max_in_flight` bulk, `batch.max_in_flight_priority` priority);
//! - `Welcome::max_batch_bytes` is honoured: a batch over it is split before it is sent,
//!   and a batch the collector refuses as too large is split, never re-sent unchanged;
//! - `Unavailable` pauses sending with exponential backoff (like a failed connection),
//!   reset by the next ack;
//! - an identity conflict asks for a new agent id.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use fleetlog_protocol::RejectReason;
use fleetlog_protocol::messages::{Frame, Welcome};
use fleetlog_protocol::session::agent::{BatchOutcome, on_batch_answer};

use super::backoff::Backoff;

/// The two lanes of the buffer and the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Critical lines: their own buffer slice, in-flight budget and stream priority.
    Priority,
    /// Everything else.
    Bulk,
}

impl Lane {
    pub fn of(priority: bool) -> Lane {
        if priority { Lane::Priority } else { Lane::Bulk }
    }

    pub fn is_priority(self) -> bool {
        self == Lane::Priority
    }
}

/// Budgets of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Bulk batches sent and not answered yet.
    pub bulk_in_flight: usize,
    /// Priority batches sent and not answered yet; never shared with bulk.
    pub priority_in_flight: usize,
}

/// What the driver does with a batch's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Stored (or already stored): delete it from the buffer.
    Delete {
        seq: u64,
        lane: Lane,
        duplicate: bool,
    },
    /// Over the collector's limit: replace it in the buffer by smaller batches.
    Split { seq: u64, lane: Lane },
    /// The collector could not store it: keep it; nothing is sent before `until`.
    Retry { seq: u64, until: Instant },
    /// Another installation has this agent id: take a new id and reconnect.
    Rekey { seq: u64, message: String },
    /// The connection is unusable; reconnect after backoff.
    Fatal(RejectReason, String),
}

/// What the driver must do before sending a buffered batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Send it as it is.
    Send,
    /// Its payload is over `Welcome::max_batch_bytes`: split it first.
    Split,
}

/// The shipper's state for one connection.
#[derive(Debug)]
pub struct AgentSession {
    limits: SessionLimits,
    /// From `Welcome`: the largest compressed payload the collector takes.
    max_batch_bytes: Option<u32>,
    /// The protocol version both ends speak (the lower of the two).
    version: u16,
    in_flight: HashMap<u64, Lane>,
    /// No batch is sent before this instant (after `Unavailable`).
    paused_until: Option<Instant>,
    /// Backoff for `Unavailable` answers; survives reconnects through `take_backoff`.
    retry: Backoff,
}

impl AgentSession {
    pub fn new(limits: SessionLimits, retry: Backoff) -> AgentSession {
        AgentSession {
            limits,
            max_batch_bytes: None,
            version: 1,
            in_flight: HashMap::new(),
            paused_until: None,
            retry,
        }
    }

    /// Applies the collector's `Welcome`.
    pub fn on_welcome(&mut self, welcome: &Welcome) {
        self.max_batch_bytes = Some(welcome.max_batch_bytes);
        self.version = welcome
            .protocol_version
            .min(fleetlog_protocol::PROTOCOL_VERSION);
    }

    /// The protocol version in use on this connection.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// The collector's batch size limit, once welcomed.
    pub fn max_batch_bytes(&self) -> Option<u32> {
        self.max_batch_bytes
    }

    /// How many more batches of `lane` may be sent at `now`.
    pub fn room(&self, lane: Lane, now: Instant) -> usize {
        if self.paused_until.is_some_and(|t| now < t) {
            return 0;
        }
        let budget = match lane {
            Lane::Priority => self.limits.priority_in_flight,
            Lane::Bulk => self.limits.bulk_in_flight,
        };
        let used = self.in_flight.values().filter(|&&l| l == lane).count();
        budget.saturating_sub(used)
    }

    /// Whether `seq` was sent and not answered yet.
    pub fn is_in_flight(&self, seq: u64) -> bool {
        self.in_flight.contains_key(&seq)
    }

    /// Batches sent and not answered, per lane.
    pub fn in_flight(&self, lane: Lane) -> usize {
        self.in_flight.values().filter(|&&l| l == lane).count()
    }

    /// Decides whether a buffered batch whose compressed payload is `payload_len` bytes
    /// may be sent as it is.
    pub fn admit(&self, payload_len: usize) -> Admit {
        match self.max_batch_bytes {
            Some(max) if payload_len > max as usize => Admit::Split,
            _ => Admit::Send,
        }
    }

    /// Notes that batch `seq` of `lane` was sent.
    pub fn on_sent(&mut self, seq: u64, lane: Lane) {
        self.in_flight.insert(seq, lane);
    }

    /// When the driver should look again even without an answer (end of a retry pause).
    pub fn wake_at(&self) -> Option<Instant> {
        self.paused_until
    }

    /// Interprets the frame answering batch `seq`; `rand01` is the backoff's jitter.
    pub fn on_answer(&mut self, seq: u64, frame: Frame, now: Instant, rand01: f64) -> Decision {
        let lane = self.in_flight.remove(&seq).unwrap_or(Lane::Bulk);
        match on_batch_answer(seq, frame) {
            BatchOutcome::Stored { duplicate } => {
                self.retry.reset();
                self.paused_until = None;
                Decision::Delete {
                    seq,
                    lane,
                    duplicate,
                }
            }
            BatchOutcome::Retry(_) => {
                let until = now + self.retry.next_delay(rand01);
                self.paused_until = Some(self.paused_until.map_or(until, |t| t.max(until)));
                Decision::Retry { seq, until }
            }
            BatchOutcome::TooLarge(_) => Decision::Split { seq, lane },
            BatchOutcome::IdentityConflict(message) => Decision::Rekey { seq, message },
            BatchOutcome::Fatal(reason, message) => Decision::Fatal(reason, message),
        }
    }

    /// The retry backoff, to carry over to the next connection (a collector that keeps
    /// answering `Unavailable` is not retried faster because the connection was renewed).
    pub fn take_backoff(&mut self) -> Backoff {
        std::mem::take(&mut self.retry)
    }

    /// Seqs sent and not answered yet.
    pub fn in_flight_seqs(&self) -> std::collections::HashSet<u64> {
        self.in_flight.keys().copied().collect()
    }

    /// The pause still to wait at `now`, if any.
    pub fn paused_for(&self, now: Instant) -> Option<Duration> {
        self.paused_until
            .and_then(|t| t.checked_duration_since(now))
            .filter(|d| !d.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetlog_protocol::messages::{Ack, Reject};

    fn session(bulk: usize, priority: usize) -> AgentSession {
        let mut s = AgentSession::new(
            SessionLimits {
                bulk_in_flight: bulk,
                priority_in_flight: priority,
            },
            Backoff::new(Duration::from_millis(200), Duration::from_secs(30)),
        );
        s.on_welcome(&Welcome {
            protocol_version: 2,
            collector_version: "t".into(),
            last_stored_seq: None,
            max_batch_bytes: 1000,
        });
        s
    }

    fn ack(seq: u64) -> Frame {
        Frame::Ack(Ack {
            seq,
            duplicate: false,
        })
    }

    fn reject(reason: RejectReason) -> Frame {
        Frame::Reject(Reject {
            reason,
            message: "m".into(),
        })
    }

    #[test]
    fn a_full_bulk_lane_never_holds_back_a_critical_batch() {
        let now = Instant::now();
        let mut s = session(8, 2);
        for seq in 1..=8 {
            s.on_sent(seq, Lane::Bulk);
        }
        assert_eq!(s.room(Lane::Bulk, now), 0);
        assert_eq!(s.room(Lane::Priority, now), 2);
        s.on_sent(100, Lane::Priority);
        s.on_sent(101, Lane::Priority);
        assert_eq!(s.room(Lane::Priority, now), 0);
        assert_eq!(
            s.on_answer(100, ack(100), now, 0.5),
            Decision::Delete {
                seq: 100,
                lane: Lane::Priority,
                duplicate: false
            }
        );
        assert_eq!(s.room(Lane::Priority, now), 1);
        assert_eq!(s.room(Lane::Bulk, now), 0);
        assert_eq!(s.in_flight(Lane::Bulk), 8);
    }

    #[test]
    fn batches_over_the_welcome_limit_are_split_before_and_after_sending() {
        let now = Instant::now();
        let mut s = session(8, 2);
        // Table: payload length → what to do before sending (limit 1000).
        for (len, want) in [(1, Admit::Send), (1000, Admit::Send), (1001, Admit::Split)] {
            assert_eq!(s.admit(len), want, "payload {len}");
        }
        // Refused as too large anyway (the limit changed): split, never re-sent as is.
        s.on_sent(5, Lane::Bulk);
        assert_eq!(
            s.on_answer(5, reject(RejectReason::TooLarge), now, 0.5),
            Decision::Split {
                seq: 5,
                lane: Lane::Bulk
            }
        );
        assert!(!s.is_in_flight(5));
        assert_eq!(
            s.room(Lane::Bulk, now),
            8,
            "a split does not pause the lane"
        );
        // Before a Welcome there is no limit to honour.
        let fresh = AgentSession::new(
            SessionLimits {
                bulk_in_flight: 1,
                priority_in_flight: 1,
            },
            Backoff::default(),
        );
        assert_eq!(fresh.admit(usize::MAX), Admit::Send);
    }

    #[test]
    fn unavailable_backs_off_exponentially_and_an_ack_resets_it() {
        let t0 = Instant::now();
        let mut s = session(8, 2);
        let mut pauses = Vec::new();
        let mut now = t0;
        for seq in 1..=5 {
            s.on_sent(seq, Lane::Bulk);
            let Decision::Retry { until, .. } =
                s.on_answer(seq, reject(RejectReason::Unavailable), now, 1.0)
            else {
                panic!("not a retry");
            };
            pauses.push(until - now);
            // Nothing may be sent, on either lane, until the pause is over.
            assert_eq!(s.room(Lane::Bulk, now), 0);
            assert_eq!(s.room(Lane::Priority, now), 0);
            assert_eq!(s.wake_at(), Some(until));
            now = until;
            assert_eq!(s.room(Lane::Bulk, now), 8);
        }
        let ms: Vec<u128> = pauses.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [200, 400, 800, 1600, 3200]);
        s.on_sent(9, Lane::Bulk);
        assert!(matches!(
            s.on_answer(9, ack(9), now, 1.0),
            Decision::Delete { .. }
        ));
        s.on_sent(10, Lane::Bulk);
        let Decision::Retry { until, .. } =
            s.on_answer(10, reject(RejectReason::Unavailable), now, 1.0)
        else {
            panic!("not a retry");
        };
        assert_eq!((until - now).as_millis(), 200, "reset by the ack");
        // The backoff survives a reconnect.
        let carried = s.take_backoff();
        assert_eq!(carried.attempts(), 1);
    }

    #[test]
    fn identity_conflicts_rekey_and_other_refusals_are_fatal() {
        let now = Instant::now();
        let mut s = session(8, 2);
        s.on_sent(3, Lane::Bulk);
        assert!(matches!(
            s.on_answer(3, reject(RejectReason::IdentityConflict), now, 0.0),
            Decision::Rekey { seq: 3, .. }
        ));
        s.on_sent(4, Lane::Bulk);
        assert!(matches!(
            s.on_answer(4, reject(RejectReason::Unauthorized), now, 0.0),
            Decision::Fatal(RejectReason::Unauthorized, _)
        ));
        s.on_sent(6, Lane::Bulk);
        assert!(matches!(
            s.on_answer(6, ack(7), now, 0.0),
            Decision::Fatal(RejectReason::ProtocolViolation, _)
        ));
    }

    #[test]
    fn the_version_in_use_is_the_lower_of_the_two() {
        let mut s = session(1, 1);
        assert_eq!(s.version(), 2);
        s.on_welcome(&Welcome {
            protocol_version: 1,
            collector_version: "old".into(),
            last_stored_seq: None,
            max_batch_bytes: 10,
        });
        assert_eq!(s.version(), 1);
        assert_eq!(s.max_batch_bytes(), Some(10));
    }
}
