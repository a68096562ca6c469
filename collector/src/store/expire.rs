//! The driver of SQL row retention: reads candidate rows in chunks, asks `retention`
//! which of them may go, and deletes them in transactions of at most `batch_rows` rows.
//!
//! Never one giant transaction (a backlog of months is many short ones, so ingest waits
//! at most one batch for the write lock on SQLite) and never one transaction per row.

use std::collections::BTreeMap;

use sqlx::Row;

use super::retention::{self, BatchKey, Candidate, EventGuard, RowPolicy, RowTable};
use super::{Store, StoreError};

/// Ids per `DELETE` statement inside one batch transaction: sqlx-sqlite's bind cost grows
/// with the statement's parameter count (see `sql::EVENTS_PER_INSERT`).
const IDS_PER_STATEMENT: usize = 500;
/// `(agent_id, seq)` pairs per `DELETE` statement of `batches`.
const PAIRS_PER_STATEMENT: usize = 100;

/// What [`Store::apply_row_retention`] deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowRetentionReport {
    /// Rows deleted per table (tables with none are absent).
    pub deleted: BTreeMap<RowTable, u64>,
    /// Delete transactions committed.
    pub transactions: u64,
}

impl RowRetentionReport {
    /// Rows deleted from `table`.
    pub fn deleted(&self, table: RowTable) -> u64 {
        self.deleted.get(&table).copied().unwrap_or(0)
    }

    /// Rows deleted from every table.
    pub fn total(&self) -> u64 {
        self.deleted.values().sum()
    }

    fn add(&mut self, table: RowTable, rows: u64) {
        self.transactions += 1;
        *self.deleted.entry(table).or_default() += rows;
    }
}

/// How an id-keyed table is read and deleted from.
struct IdTable {
    table: RowTable,
    /// `$1` the id to read after, `$2` the cutoff, `$3` the chunk size; yields
    /// `(id, time, pinned)` in id order.
    candidates: &'static str,
    /// Re-checked by the `DELETE`, for rows whose state may change between read and delete.
    delete_guard: &'static str,
}

const EVENTS: IdTable = IdTable {
    table: RowTable::Events,
    candidates: "SELECT id, ts_ms, CAST(0 AS BIGINT) FROM events \
        WHERE id > $1 AND ts_ms < $2 ORDER BY id LIMIT $3",
    delete_guard: "",
};

const HEARTBEATS: IdTable = IdTable {
    table: RowTable::Heartbeats,
    candidates: "SELECT h.id, h.received_ms, CAST(CASE WHEN h.id = \
        (SELECT MAX(m.id) FROM heartbeats m WHERE m.agent_id = h.agent_id) THEN 1 ELSE 0 END \
        AS BIGINT) FROM heartbeats h WHERE h.id > $1 AND h.received_ms < $2 \
        ORDER BY h.id LIMIT $3",
    delete_guard: "",
};

const OUTBOX: IdTable = IdTable {
    table: RowTable::Outbox,
    candidates: "SELECT id, finished_ms, CAST(CASE WHEN state = 'pending' THEN 1 ELSE 0 END \
        AS BIGINT) FROM outbox WHERE id > $1 AND finished_ms < $2 ORDER BY id LIMIT $3",
    delete_guard: " AND state <> 'pending'",
};

const OUTBOX_ATTEMPTS: IdTable = IdTable {
    table: RowTable::OutboxAttempts,
    candidates: "SELECT a.id, a.started_ms, CAST(CASE WHEN EXISTS (SELECT 1 FROM outbox o \
        WHERE o.id = a.message_id AND o.state = 'pending') THEN 1 ELSE 0 END AS BIGINT) \
        FROM outbox_attempts a WHERE a.id > $1 AND a.started_ms < $2 ORDER BY a.id LIMIT $3",
    delete_guard: "",
};

const AUDIT: IdTable = IdTable {
    table: RowTable::Audit,
    candidates: "SELECT id, ts_ms, CAST(0 AS BIGINT) FROM audit \
        WHERE id > $1 AND ts_ms < $2 ORDER BY id LIMIT $3",
    delete_guard: "",
};

/// Expired `batches` rows after a key, in `(stored_ms, agent_id, seq)` order. The query
/// leaves out the rows the module doc of `retention` keeps (an agent's newest, a batch
/// whose segment exists) instead of marking them: they are most rows, and reading them
/// again every pass would scan the table.
/// `$1` cutoff, `$2`..`$4` the key to read after, `$5` the chunk size.
const BATCH_CANDIDATES: &str = "SELECT b.agent_id, b.seq, b.stored_ms, CAST(0 AS BIGINT) \
    FROM batches b WHERE b.stored_ms < $1 \
    AND (b.stored_ms > $2 OR (b.stored_ms = $2 AND (b.agent_id > $3 \
        OR (b.agent_id = $3 AND b.seq > $4)))) \
    AND b.seq < (SELECT MAX(m.seq) FROM batches m WHERE m.agent_id = b.agent_id) \
    AND NOT EXISTS (SELECT 1 FROM segments s WHERE s.id = b.segment_id) \
    ORDER BY b.stored_ms, b.agent_id, b.seq LIMIT $5";

/// The oldest expired minutes of `minute_stats` and their row counts.
const EXPIRED_MINUTES: &str = "SELECT minute_ms, CAST(COUNT(*) AS BIGINT) FROM minute_stats \
    WHERE minute_ms < $1 GROUP BY minute_ms ORDER BY minute_ms LIMIT $2";

const DELETE_MINUTES: &str =
    "DELETE FROM minute_stats WHERE minute_ms >= $1 AND minute_ms <= $2 AND minute_ms < $3";

/// `$1, $2, ..., $n` from `$first`.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Deletes SQL rows older than `policy`'s per-table ages, as of `now_ms`, at most
    /// `policy.batch_rows` rows per transaction. Safe while ingesting and on several
    /// replicas at once (a row deleted twice is counted once).
    pub async fn apply_row_retention(
        &self,
        now_ms: i64,
        policy: &RowPolicy,
    ) -> Result<RowRetentionReport, StoreError> {
        let mut report = RowRetentionReport::default();
        let batch = policy.batch_rows.get();
        for table in RowTable::ALL {
            let Some(cutoff) = policy.cutoff(table, now_ms) else {
                continue;
            };
            match table {
                RowTable::Events => {
                    let guard = self.event_guard().await?;
                    self.expire_ids(&EVENTS, cutoff, batch, |id| guard.keeps(*id), &mut report)
                        .await?;
                }
                RowTable::Heartbeats => {
                    self.expire_ids(&HEARTBEATS, cutoff, batch, |_| false, &mut report)
                        .await?;
                }
                RowTable::Outbox => {
                    self.expire_ids(&OUTBOX, cutoff, batch, |_| false, &mut report)
                        .await?;
                }
                RowTable::OutboxAttempts => {
                    self.expire_ids(&OUTBOX_ATTEMPTS, cutoff, batch, |_| false, &mut report)
                        .await?;
                }
                RowTable::Audit => {
                    self.expire_ids(&AUDIT, cutoff, batch, |_| false, &mut report)
                        .await?;
                }
                RowTable::Batches => self.expire_batches(cutoff, batch, &mut report).await?,
                RowTable::MinuteStats => self.expire_minutes(cutoff, batch, &mut report).await?,
            }
        }
        Ok(report)
    }

    /// What keeps old events: samples of incidents that are not resolved, and events the
    /// incident worker has not read yet.
    async fn event_guard(&self) -> Result<EventGuard, StoreError> {
        let mut guard = EventGuard::default();
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT samples_json FROM incidents WHERE status <> 'resolved'")
                .fetch_all(&self.pool)
                .await?;
        for json in rows {
            let samples: Vec<crate::incidents::decide::Sample> =
                serde_json::from_str(&json).unwrap_or_default();
            guard.samples.extend(samples.iter().map(|s| s.event_id));
        }
        guard.unread_after =
            sqlx::query_scalar("SELECT position FROM worker_leases WHERE name = $1")
                .bind(crate::incidents::worker::LEASE)
                .fetch_optional(&self.pool)
                .await?;
        Ok(guard)
    }

    async fn expire_ids(
        &self,
        spec: &IdTable,
        cutoff: i64,
        batch: u32,
        keep: impl Fn(&i64) -> bool,
        report: &mut RowRetentionReport,
    ) -> Result<(), StoreError> {
        let mut after = 0i64;
        loop {
            let rows: Vec<(i64, i64, i64)> = sqlx::query_as(spec.candidates)
                .bind(after)
                .bind(cutoff)
                .bind(i64::from(batch))
                .fetch_all(&self.pool)
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.0;
            let candidates: Vec<Candidate<i64>> = rows
                .iter()
                .map(|&(id, ts_ms, pinned)| Candidate {
                    key: id,
                    ts_ms,
                    pinned: pinned != 0,
                })
                .collect();
            let ids = retention::doomed(&candidates, cutoff, &keep);
            if !ids.is_empty() {
                let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
                let mut deleted = 0;
                for chunk in ids.chunks(IDS_PER_STATEMENT) {
                    let statement = format!(
                        "DELETE FROM {} WHERE id IN ({}){}",
                        spec.table.name(),
                        placeholders(1, chunk.len()),
                        spec.delete_guard
                    );
                    let mut query = sqlx::query(&statement);
                    for id in chunk {
                        query = query.bind(*id);
                    }
                    deleted += query.execute(&mut *tx).await?.rows_affected();
                }
                tx.commit().await?;
                report.add(spec.table, deleted);
            }
            if rows.len() < batch as usize {
                break;
            }
        }
        Ok(())
    }

    async fn expire_batches(
        &self,
        cutoff: i64,
        batch: u32,
        report: &mut RowRetentionReport,
    ) -> Result<(), StoreError> {
        // Before every key: no stored_ms is below i64::MIN.
        let mut after = (i64::MIN, String::new(), i64::MIN);
        loop {
            let rows = sqlx::query(BATCH_CANDIDATES)
                .bind(cutoff)
                .bind(after.0)
                .bind(after.1.as_str())
                .bind(after.2)
                .bind(i64::from(batch))
                .fetch_all(&self.pool)
                .await?;
            let mut candidates = Vec::with_capacity(rows.len());
            for row in &rows {
                candidates.push(Candidate {
                    key: BatchKey {
                        agent_id: row.try_get(0)?,
                        seq: row.try_get(1)?,
                    },
                    ts_ms: row.try_get(2)?,
                    pinned: row.try_get::<i64, _>(3)? != 0,
                });
            }
            let Some(last) = candidates.last() else { break };
            after = (last.ts_ms, last.key.agent_id.clone(), last.key.seq);
            let keys = retention::doomed(&candidates, cutoff, |_| false);
            if !keys.is_empty() {
                let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
                let mut deleted = 0;
                for chunk in keys.chunks(PAIRS_PER_STATEMENT) {
                    let pairs: Vec<String> = (0..chunk.len())
                        .map(|i| format!("(agent_id = ${} AND seq = ${})", 2 * i + 1, 2 * i + 2))
                        .collect();
                    // The newest row of an agent never goes, even if a racing ingest
                    // were to make the read above stale (it can only add newer seqs).
                    let statement = format!(
                        "DELETE FROM batches WHERE ({}) AND seq < \
                         (SELECT MAX(m.seq) FROM batches m WHERE m.agent_id = batches.agent_id)",
                        pairs.join(" OR ")
                    );
                    let mut query = sqlx::query(&statement);
                    for key in chunk {
                        query = query.bind(key.agent_id.as_str()).bind(key.seq);
                    }
                    deleted += query.execute(&mut *tx).await?.rows_affected();
                }
                tx.commit().await?;
                report.add(RowTable::Batches, deleted);
            }
            if rows.len() < batch as usize {
                break;
            }
        }
        Ok(())
    }

    async fn expire_minutes(
        &self,
        cutoff: i64,
        batch: u32,
        report: &mut RowRetentionReport,
    ) -> Result<(), StoreError> {
        loop {
            let minutes: Vec<(i64, i64)> = sqlx::query_as(EXPIRED_MINUTES)
                .bind(cutoff)
                .bind(i64::from(batch))
                .fetch_all(&self.pool)
                .await?;
            let Some((first, last)) = retention::minute_span(&minutes, batch) else {
                break;
            };
            let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
            let deleted = sqlx::query(DELETE_MINUTES)
                .bind(first)
                .bind(last)
                .bind(cutoff)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            report.add(RowTable::MinuteStats, deleted);
            if deleted == 0 {
                // Another replica took these minutes; the next pass goes on.
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_from_first() {
        assert_eq!(placeholders(1, 3), "$1, $2, $3");
        assert_eq!(placeholders(4, 1), "$4");
    }
}
