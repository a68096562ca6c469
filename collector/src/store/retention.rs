//! Which segments retention deletes: a pure plan over the oldest segments, no I/O.
//!
//! Retention deletes whole segments, oldest (lowest id) first. A segment goes when it
//! was created before `now - max_age`, or while the archive is over `max_bytes`.
//! The plan stops at the first segment that is young enough and fits the budget, so
//! it never deletes a newer segment while keeping an older one (apart from clock skew
//! between replicas, which can make `created_ms` slightly non-monotonic in id order).
//!
//! Choices recorded here because retention makes them:
//! - Event rows outlive their segment (their `segment_id` becomes NULL): events are
//!   the small, field-queried record and get their own retention.
//! - `batches` rows are never deleted: they are the dedupe record, and a late re-send
//!   of an expired batch must stay a duplicate rather than be stored again.

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
}
