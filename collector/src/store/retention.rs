//! What retention deletes: pure plans over segments and SQL rows, no I/O, no clock.
//!
//! Segments: retention deletes whole segments, oldest (lowest id) first. A segment goes
//! when it was created before `now - max_age`, or while the archive is over `max_bytes`.
//! The plan stops at the first segment that is young enough and fits the budget, so
//! it never deletes a newer segment while keeping an older one (apart from clock skew
//! between replicas, which can make `created_ms` slightly non-monotonic in id order).
//!
//! Rows: every table that grows with time has its own maximum age ([`RowPolicy`]);
//! [`doomed`] picks, from a chunk of candidate rows older than the cutoff, the ones that
//! may go, and [`minute_span`] the minutes of `minute_stats` that fit one batch.
//! The driver (`Store::apply_row_retention`) deletes at most `batch_rows` rows per
//! transaction, so a backlog of months never becomes one giant transaction, and a
//! batch of many rows never becomes one transaction per row.
//!
//! Choices recorded here because retention makes them:
//! - Event rows outlive their segment (their `segment_id` becomes NULL): events are
//!   the small, field-queried record and have their own age, `retention.events_max_age_hours`.
//!   An event is kept, whatever its age, while the incident worker has not read it (its id
//!   is above the `incidents` lease position) or while an incident that is not resolved
//!   names it as a sample. A resolved incident keeps its own copy of its samples (line,
//!   host, time), so its page still shows them; only a sample's link to `/events/{id}`
//!   answers 404 once the event expired.
//! - `batches` rows are the dedupe record (DESIGN.md invariants 1-3). A re-send can only
//!   arrive while the agent still holds the batch unacked, which it re-sends at its next
//!   connection; `retention.batches_max_age_hours` (default 7 days, at least 1 day) is the
//!   longest an agent may be away and still re-send. Beyond the age, a row is still kept
//!   while its segment exists (so two stored segments never share an (agent, seq)) and
//!   when it is its agent's newest (the high-water mark `last_seq` reports in `Welcome`).
//!   A re-send older than the window would be stored again: that is the window's price.
//! - Heartbeat history keeps each agent's newest row, whatever its age.
//! - The outbox keeps every pending message and the attempts of pending messages; only
//!   done or dead messages (by `finished_ms`) and their attempts expire. Idempotency keys
//!   carry the decision's time, so an expired key is never enqueued again.

use std::time::Duration;

/// What the planner needs to know about one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SegmentSize {
    pub(super) id: i64,
    pub(super) created_ms: i64,
    pub(super) bytes: u64,
}

/// Retention limits; `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Policy {
    pub(super) max_age: Option<Duration>,
    pub(super) max_bytes: Option<u64>,
}

/// Plans deletions over `oldest_first` (ascending id), given the archive's current
/// total size. Returns the ids to delete and whether the plan stopped early (so the
/// caller knows whether to fetch the next chunk).
pub(super) fn plan(
    oldest_first: &[SegmentSize],
    total_bytes: u64,
    now_ms: i64,
    policy: Policy,
) -> (Vec<i64>, bool) {
    let cutoff_ms = policy
        .max_age
        .map(|age| now_ms.saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX)));
    let mut remaining = total_bytes;
    let mut ids = Vec::new();
    for seg in oldest_first {
        let too_old = cutoff_ms.is_some_and(|cutoff| seg.created_ms < cutoff);
        let over_budget = policy.max_bytes.is_some_and(|max| remaining > max);
        if !too_old && !over_budget {
            return (ids, true);
        }
        ids.push(seg.id);
        remaining = remaining.saturating_sub(seg.bytes);
    }
    (ids, false)
}

/// A SQL table that retention prunes by age.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RowTable {
    Events,
    MinuteStats,
    Batches,
    Outbox,
    OutboxAttempts,
    Heartbeats,
    Audit,
}

impl RowTable {
    /// Every table, in the order a pass visits them.
    pub const ALL: [RowTable; 7] = [
        RowTable::Events,
        RowTable::MinuteStats,
        RowTable::Batches,
        RowTable::Outbox,
        RowTable::OutboxAttempts,
        RowTable::Heartbeats,
        RowTable::Audit,
    ];

    /// The table's SQL name, also the `table` label of the deleted-rows counter.
    pub fn name(self) -> &'static str {
        match self {
            RowTable::Events => "events",
            RowTable::MinuteStats => "minute_stats",
            RowTable::Batches => "batches",
            RowTable::Outbox => "outbox",
            RowTable::OutboxAttempts => "outbox_attempts",
            RowTable::Heartbeats => "heartbeats",
            RowTable::Audit => "audit",
        }
    }
}

/// Maximum age per table (`None` keeps rows forever) and rows per delete transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowPolicy {
    pub events: Option<Duration>,
    /// `minute_stats`, by the minute the lines belong to.
    pub minute_stats: Option<Duration>,
    /// The dedupe window: see the module doc for what else keeps a `batches` row.
    pub batches: Option<Duration>,
    /// Done or dead outbox messages, by `finished_ms`, and their delivery attempts.
    pub outbox: Option<Duration>,
    pub heartbeats: Option<Duration>,
    pub audit: Option<Duration>,
    /// Most rows deleted in one transaction.
    pub batch_rows: std::num::NonZeroU32,
}

impl RowPolicy {
    /// A policy that keeps everything (`batch_rows` as given).
    pub fn keep_all(batch_rows: std::num::NonZeroU32) -> RowPolicy {
        RowPolicy {
            events: None,
            minute_stats: None,
            batches: None,
            outbox: None,
            heartbeats: None,
            audit: None,
            batch_rows,
        }
    }

    /// The maximum age of `table`'s rows.
    pub fn max_age(&self, table: RowTable) -> Option<Duration> {
        match table {
            RowTable::Events => self.events,
            RowTable::MinuteStats => self.minute_stats,
            RowTable::Batches => self.batches,
            RowTable::Outbox | RowTable::OutboxAttempts => self.outbox,
            RowTable::Heartbeats => self.heartbeats,
            RowTable::Audit => self.audit,
        }
    }

    /// Rows of `table` older than the returned time (ms) may go; `None` keeps them all.
    pub(super) fn cutoff(&self, table: RowTable, now_ms: i64) -> Option<i64> {
        self.max_age(table)
            .map(|age| now_ms.saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX)))
    }
}

/// One row the driver read as a deletion candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Candidate<K> {
    pub(super) key: K,
    /// The time the table's age is measured by.
    pub(super) ts_ms: i64,
    /// Kept whatever its age, as the query found it: an agent's newest batch or heartbeat,
    /// a batch whose segment still exists, a pending outbox message or its attempts.
    pub(super) pinned: bool,
}

/// What keeps an event row alive beyond its age.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct EventGuard {
    /// Ids that incidents which are not resolved show as samples.
    pub(super) samples: std::collections::BTreeSet<i64>,
    /// The incident worker's position: it has not read ids above it yet.
    /// `None` when the worker never ran (nothing is held back for it).
    pub(super) unread_after: Option<i64>,
}

impl EventGuard {
    pub(super) fn keeps(&self, id: i64) -> bool {
        self.samples.contains(&id) || self.unread_after.is_some_and(|pos| id > pos)
    }
}

/// The keys of `rows` that may be deleted: older than `cutoff_ms`, not pinned, and not
/// kept by `keep` (for events, [`EventGuard::keeps`]).
pub(super) fn doomed<K: Clone>(
    rows: &[Candidate<K>],
    cutoff_ms: i64,
    keep: impl Fn(&K) -> bool,
) -> Vec<K> {
    rows.iter()
        .filter(|row| row.ts_ms < cutoff_ms && !row.pinned && !keep(&row.key))
        .map(|row| row.key.clone())
        .collect()
}

/// The span of minutes `[first, last]` to delete from `minute_stats` in one transaction,
/// given `(minute_ms, rows)` of the oldest expired minutes in ascending order: whole
/// minutes while their rows fit `batch_rows`, and always at least the first minute, so
/// a minute with more rows than a batch still goes (in one transaction of its own).
pub(super) fn minute_span(minutes: &[(i64, i64)], batch_rows: u32) -> Option<(i64, i64)> {
    let (first, first_rows) = *minutes.first()?;
    let mut last = first;
    let mut rows = first_rows;
    for &(minute, n) in &minutes[1..] {
        if rows.saturating_add(n) > i64::from(batch_rows) {
            break;
        }
        rows += n;
        last = minute;
    }
    Some((first, last))
}

/// A `batches` row's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BatchKey {
    pub(super) agent_id: String,
    pub(super) seq: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs() -> Vec<SegmentSize> {
        (1..=5)
            .map(|i| SegmentSize {
                id: i,
                created_ms: i * 1000,
                bytes: 100,
            })
            .collect()
    }

    #[test]
    fn unlimited_deletes_nothing() {
        assert_eq!(
            plan(&segs(), 500, 10_000, Policy::default()),
            (vec![], true)
        );
    }

    #[test]
    fn by_age_deletes_older_than_cutoff() {
        let policy = Policy {
            max_age: Some(Duration::from_secs(7)),
            max_bytes: None,
        };
        // cutoff = 3000: ids 1 and 2 were created before it.
        assert_eq!(plan(&segs(), 500, 10_000, policy), (vec![1, 2], true));
    }

    #[test]
    fn by_size_deletes_oldest_until_under_budget() {
        let policy = Policy {
            max_age: None,
            max_bytes: Some(250),
        };
        assert_eq!(plan(&segs(), 500, 10_000, policy), (vec![1, 2, 3], true));
        let policy = Policy {
            max_age: None,
            max_bytes: Some(0),
        };
        assert_eq!(
            plan(&segs(), 500, 10_000, policy),
            (vec![1, 2, 3, 4, 5], false)
        );
    }

    #[test]
    fn either_limit_triggers() {
        let policy = Policy {
            max_age: Some(Duration::from_secs(8)),
            max_bytes: Some(400),
        };
        // cutoff = 2000: id 1 is too old; after it 400 bytes remain, which fits,
        // and id 2 (created at 2000) is not older than the cutoff.
        assert_eq!(plan(&segs(), 500, 10_000, policy), (vec![1], true));
    }

    #[test]
    fn huge_age_does_not_overflow() {
        let policy = Policy {
            max_age: Some(Duration::MAX),
            max_bytes: None,
        };
        assert_eq!(plan(&segs(), 500, 10_000, policy), (vec![], true));
    }

    /// One row of a candidate table: `(id, ts_ms, pinned)`.
    type Row = (i64, i64, bool);

    /// Runs [`doomed`] over `rows` with the cutoff `now - max_age` and an event guard,
    /// and renders what goes and what stays.
    fn check(
        rows: &[Row],
        now_ms: i64,
        max_age_ms: Option<u64>,
        guard: EventGuard,
        expect: expect_test::Expect,
    ) {
        let mut policy = RowPolicy::keep_all(std::num::NonZeroU32::MIN);
        policy.events = max_age_ms.map(Duration::from_millis);
        let candidates: Vec<Candidate<i64>> = rows
            .iter()
            .map(|&(id, ts_ms, pinned)| Candidate {
                key: id,
                ts_ms,
                pinned,
            })
            .collect();
        let actual = match policy.cutoff(RowTable::Events, now_ms) {
            None => "keep all".to_owned(),
            Some(cutoff) => {
                let gone = doomed(&candidates, cutoff, |id| guard.keeps(*id));
                format!("cutoff {cutoff}: delete {gone:?}")
            }
        };
        expect.assert_eq(&actual);
    }

    #[test]
    fn row_plans() {
        use expect_test::expect;
        let rows: &[Row] = &[
            (1, 100, false),
            (2, 200, false),
            (3, 300, false),
            (4, 900, false),
        ];
        let none = EventGuard::default;
        // 0 hours: nothing goes, whatever the age.
        check(rows, 1_000, None, none(), expect!["keep all"]);
        // Strictly older than the cutoff goes; a row at the cutoff stays.
        check(
            rows,
            1_000,
            Some(800),
            none(),
            expect!["cutoff 200: delete [1]"],
        );
        check(
            rows,
            1_000,
            Some(500),
            none(),
            expect!["cutoff 500: delete [1, 2, 3]"],
        );
        // Pinned rows (an agent's newest batch or heartbeat, a pending message) stay.
        let pinned: &[Row] = &[(1, 100, true), (2, 100, false), (3, 100, true)];
        check(
            pinned,
            1_000,
            Some(500),
            none(),
            expect!["cutoff 500: delete [2]"],
        );
        // A sample of an incident that is not resolved stays.
        let samples = EventGuard {
            samples: [2].into_iter().collect(),
            unread_after: None,
        };
        check(
            rows,
            1_000,
            Some(500),
            samples,
            expect!["cutoff 500: delete [1, 3]"],
        );
        // Events the incident worker has not read yet (above its position) stay.
        let unread = EventGuard {
            samples: Default::default(),
            unread_after: Some(1),
        };
        check(
            rows,
            1_000,
            Some(500),
            unread,
            expect!["cutoff 500: delete [1]"],
        );
        // Clock far behind: no overflow, nothing goes.
        check(
            rows,
            i64::MIN + 5,
            Some(10),
            none(),
            expect!["cutoff -9223372036854775808: delete []"],
        );
        // A huge age saturates instead of overflowing.
        check(
            rows,
            1_000,
            Some(u64::MAX),
            none(),
            expect!["cutoff -9223372036854774807: delete []"],
        );
    }

    #[test]
    fn minute_spans_fill_a_batch_with_whole_minutes() {
        let minutes = [(60_000, 3), (120_000, 4), (180_000, 5)];
        assert_eq!(minute_span(&[], 10), None);
        assert_eq!(minute_span(&minutes, 10), Some((60_000, 120_000)));
        assert_eq!(minute_span(&minutes, 12), Some((60_000, 180_000)));
        // A minute larger than a batch still goes, alone.
        assert_eq!(
            minute_span(&[(60_000, 50), (120_000, 1)], 10),
            Some((60_000, 60_000))
        );
    }

    #[test]
    fn cutoffs_per_table() {
        let mut policy = RowPolicy::keep_all(std::num::NonZeroU32::MIN);
        policy.batches = Some(Duration::from_secs(7 * 24 * 3600));
        policy.outbox = Some(Duration::from_secs(10));
        let now = 1_000_000_000_000;
        assert_eq!(policy.cutoff(RowTable::Events, now), None);
        assert_eq!(
            policy.cutoff(RowTable::Batches, now),
            Some(now - 7 * 24 * 3_600_000)
        );
        // One key covers the outbox and its attempts.
        assert_eq!(policy.cutoff(RowTable::Outbox, now), Some(now - 10_000));
        assert_eq!(
            policy.cutoff(RowTable::OutboxAttempts, now),
            Some(now - 10_000)
        );
        let names: Vec<&str> = RowTable::ALL.iter().map(|t| t.name()).collect();
        assert_eq!(
            names,
            [
                "events",
                "minute_stats",
                "batches",
                "outbox",
                "outbox_attempts",
                "heartbeats",
                "audit"
            ]
        );
    }
}
