//! Bulk batches of one connection are stored in sequence order.
//!
//! An agent keeps several batches in flight, each on its own stream, and the collector
//! reads them concurrently; stored as they finish, a host's lines would come back out of
//! the order its files were written in (segment ids follow the order batches are indexed,
//! and `/api/v1/lines` serves by segment id). So a bulk batch waits for its turn before it
//! takes a store slot: until no lower sequence number of its connection is still being
//! stored, and until its predecessor (`seq - 1`) is known to be stored — by this
//! connection, or earlier (one store query) — or has at least arrived here. A predecessor
//! that never arrives (dropped by the agent's `drop_oldest` policy, split into other
//! sequence numbers) holds a batch back for `ingest.order_wait_ms` at most; such an expiry
//! is counted (`ingest_limited_total{limit="order_wait_ms"}`) and the batch is stored
//! anyway. Priority-lane batches never wait (critical lines overtake by design), and
//! waiting before the slot means a waiting batch never holds a slot its predecessor needs.
//!
//! The rule is [`turn`], a pure function of what the connection knows.

use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

/// Sequence numbers remembered as stored per connection (the recent ones are what a
/// successor asks about).
const DONE_REMEMBERED: usize = 4096;

/// An agent's first batch: it has no predecessor to wait for.
pub(crate) const FIRST_SEQ: u64 = 1;

/// Longest a batch waits for lower batches of its connection that are being stored (they
/// always finish, stored or failed; this only bounds a store that hangs).
const LOWER_WAIT_CAP: Duration = Duration::from_secs(30);

/// What a bulk batch does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Turn {
    /// Store it now.
    Go,
    /// A lower sequence number of this connection is still being stored.
    WaitLower,
    /// Its predecessor is neither stored nor in flight here: it may still arrive.
    WaitPredecessor,
}

/// The turn of bulk batch `seq`, given the sequence numbers in flight on its connection
/// (its own included or not) and whether `seq - 1` is known to be stored.
pub(crate) fn turn(seq: u64, in_flight: &BTreeSet<u64>, predecessor_stored: bool) -> Turn {
    if in_flight.range(..seq).next().is_some() {
        Turn::WaitLower
    } else if seq <= FIRST_SEQ || predecessor_stored {
        Turn::Go
    } else {
        Turn::WaitPredecessor
    }
}

#[derive(Debug, Default)]
struct State {
    in_flight: BTreeSet<u64>,
    done: BTreeSet<u64>,
}

/// One connection's batches in flight and recently stored.
#[derive(Debug, Default)]
pub(crate) struct Sequencer {
    state: Mutex<State>,
    changed: Notify,
}

/// A batch in flight; leaving (stored or not) lets its successors go.
#[derive(Debug)]
pub(crate) struct Ticket<'a> {
    sequencer: &'a Sequencer,
    seq: u64,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut state = self.sequencer.lock();
        state.in_flight.remove(&self.seq);
        state.done.insert(self.seq);
        while state.done.len() > DONE_REMEMBERED {
            state.done.pop_first();
        }
        drop(state);
        self.sequencer.changed.notify_waiters();
    }
}

impl Sequencer {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Batch `seq` arrived on this connection.
    pub(crate) fn enter(&self, seq: u64) -> Ticket<'_> {
        self.lock().in_flight.insert(seq);
        self.changed.notify_waiters();
        Ticket {
            sequencer: self,
            seq,
        }
    }

    /// Waits for bulk batch `seq`'s turn: as long as lower batches of this connection are
    /// being stored, and at most `max_wait` for a predecessor that has not arrived.
    /// `stored_before` says whether the store already holds `seq - 1` (asked at most once,
    /// only when this connection has not seen it). False when a wait expired.
    pub(crate) async fn wait_turn<F>(&self, seq: u64, max_wait: Duration, stored_before: F) -> bool
    where
        F: Future<Output = bool>,
    {
        let cap = tokio::time::Instant::now() + LOWER_WAIT_CAP;
        // Set while the predecessor is missing; lower batches in flight reset it.
        let mut missing_since: Option<tokio::time::Instant> = None;
        let mut stored_before = std::pin::pin!(Some(stored_before));
        let mut predecessor_stored = false;
        loop {
            let notified = self.changed.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check, so a change between the two is not missed.
            notified.as_mut().enable();
            let now = {
                let state = self.lock();
                let known = predecessor_stored
                    || seq.checked_sub(1).is_some_and(|p| state.done.contains(&p));
                turn(seq, &state.in_flight, known)
            };
            let deadline = match now {
                Turn::Go => return true,
                Turn::WaitLower => {
                    missing_since = None;
                    cap
                }
                Turn::WaitPredecessor => {
                    *missing_since.get_or_insert_with(tokio::time::Instant::now) + max_wait
                }
            };
            if now == Turn::WaitPredecessor
                && let Some(query) = stored_before.as_mut().as_pin_mut()
            {
                predecessor_stored = query.await;
                stored_before.set(None);
                if predecessor_stored {
                    continue;
                }
            }
            if tokio::time::timeout_at(deadline.min(cap), notified)
                .await
                .is_err()
            {
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_table() {
        let set = |s: &[u64]| s.iter().copied().collect::<BTreeSet<u64>>();
        // (seq, in flight, predecessor stored, turn)
        let rows = [
            (5, set(&[]), true, Turn::Go),
            (5, set(&[5]), true, Turn::Go),
            (5, set(&[4, 5]), false, Turn::WaitLower),
            (5, set(&[2, 5, 6]), true, Turn::WaitLower),
            (5, set(&[5, 6, 7]), false, Turn::WaitPredecessor),
            (5, set(&[6]), false, Turn::WaitPredecessor),
            (0, set(&[0, 1]), false, Turn::Go),
            (1, set(&[1, 2]), false, Turn::Go),
            (2, set(&[2]), false, Turn::WaitPredecessor),
            (7, set(&[7, 9]), true, Turn::Go),
        ];
        for (seq, in_flight, stored, want) in rows {
            assert_eq!(
                turn(seq, &in_flight, stored),
                want,
                "{seq} {in_flight:?} {stored}"
            );
        }
    }

    #[tokio::test]
    async fn successors_wait_for_lower_batches_and_an_absent_predecessor_expires() {
        let seq = Sequencer::default();
        let four = seq.enter(4);
        let five = seq.enter(5);
        // 5 waits while 4 is in flight; 4 leaves, 5 goes.
        let waiting = async {
            seq.wait_turn(5, Duration::from_secs(5), async { false })
                .await
        };
        let leave = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(four);
        };
        let (went, ()) = tokio::join!(waiting, leave);
        assert!(went, "5 went after 4 left");
        drop(five);
        // 6 follows a stored 5 at once.
        assert!(
            seq.wait_turn(6, Duration::from_millis(10), async { false })
                .await
        );
        // 9's predecessor is unknown here but stored earlier: it goes.
        assert!(
            seq.wait_turn(9, Duration::from_millis(10), async { true })
                .await
        );
        // 12's predecessor never comes: the wait expires.
        let start = std::time::Instant::now();
        assert!(
            !seq.wait_turn(12, Duration::from_millis(60), async { false })
                .await
        );
        assert!(start.elapsed() >= Duration::from_millis(60));
        // 15's predecessor arrives while it waits, then is stored.
        let waiting = async {
            seq.wait_turn(15, Duration::from_secs(5), async { false })
                .await
        };
        let arrive = async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            let t = seq.enter(14);
            tokio::time::sleep(Duration::from_millis(30)).await;
            drop(t);
        };
        let (went, ()) = tokio::join!(waiting, arrive);
        assert!(went, "15 went after 14 arrived and was stored");
    }
}
