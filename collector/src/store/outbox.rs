//! The outbox: one persistent queue for every side effect (notifications, Jira calls).
//!
//! A message is written by [`enqueue`] inside the transaction of the decision that caused
//! it, with an idempotency key (a second enqueue of the same key does nothing). Delivery
//! workers [`Store::claim_due`] messages under a lease (PostgreSQL: `FOR UPDATE SKIP
//! LOCKED`, so replicas never claim the same row; SQLite: one writer, same statement),
//! deliver them, and [`Store::record_attempt`] the outcome: done, retry at a time, or
//! dead. A claim whose lease expired (the worker crashed) is claimable again, so a
//! message is delivered at least once; receivers deduplicate by the idempotency key.
//! A claim counts as an attempt, so a message that crashes its worker dead-letters too.

use sqlx::{AnyConnection, Row};

use super::{Dialect, Store, StoreError};

/// A message to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    /// Which `Deliver` impl handles it: "email", "slack", "webhook", "jira", ...
    pub kind: String,
    /// The channel id, or e.g. "jira".
    pub target: String,
    /// Unique per side effect: enqueueing the same key twice sends once.
    pub idempotency_key: String,
    /// JSON; never a secret (deliverers look secrets up by target).
    pub payload: String,
    /// Not before this time (`None`: now).
    pub due_ms: Option<i64>,
}

/// A claimed message.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    pub id: i64,
    pub kind: String,
    pub target: String,
    pub idempotency_key: String,
    pub payload: String,
    pub created_ms: i64,
    /// The attempt this claim is (1 for the first).
    pub attempt: u32,
}

/// What happens to a message after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Delivered; never sent again.
    Done,
    /// Failed; due again at this time.
    RetryAt(i64),
    /// Failed for good (permanent error or too many attempts): dead-lettered.
    Dead,
}

impl Next {
    fn outcome(self) -> &'static str {
        match self {
            Next::Done => "delivered",
            Next::RetryAt(_) => "retry",
            Next::Dead => "dead",
        }
    }
}

/// One delivery attempt as recorded in the history. `error` must hold no secret.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub attempt: u32,
    pub started_ms: i64,
    pub latency_ms: i64,
    pub http_status: Option<u16>,
    pub error: Option<String>,
}

/// A message's state in the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRecord {
    pub id: i64,
    pub kind: String,
    pub target: String,
    pub idempotency_key: String,
    pub payload: String,
    pub created_ms: i64,
    pub due_ms: i64,
    pub attempts: i64,
    /// "pending" | "done" | "dead"
    pub state: String,
    pub last_error: Option<String>,
    pub finished_ms: Option<i64>,
}

/// One row of a channel's delivery history.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    pub id: i64,
    pub message_id: i64,
    pub idempotency_key: String,
    pub attempt: i64,
    pub started_ms: i64,
    pub latency_ms: i64,
    /// "delivered" | "retry" | "dead"
    pub outcome: String,
    pub http_status: Option<i64>,
    pub error: Option<String>,
}

/// Queue depth by state, for `/metrics` and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub pending: i64,
    pub done: i64,
    pub dead: i64,
}

/// Enqueues `msg` on `conn` (the deciding transaction); `None` if its idempotency key
/// was already enqueued (then nothing is written).
pub async fn enqueue(
    conn: &mut AnyConnection,
    msg: &NewMessage,
    now_ms: i64,
) -> Result<Option<i64>, StoreError> {
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO outbox (kind, target, idempotency_key, payload, created_ms, due_ms, \
         attempts, state) VALUES ($1, $2, $3, $4, $5, $6, 0, 'pending') \
         ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
    )
    .bind(&msg.kind)
    .bind(&msg.target)
    .bind(&msg.idempotency_key)
    .bind(&msg.payload)
    .bind(now_ms)
    .bind(msg.due_ms.unwrap_or(now_ms))
    .fetch_optional(conn)
    .await?;
    Ok(id)
}

fn numbered(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Enqueues one message in a transaction of its own (for side effects that change
    /// nothing else, like a channel's test notification).
    pub async fn enqueue_one(
        &self,
        msg: &NewMessage,
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        enqueue(&mut conn, msg, now_ms).await
    }

    /// Claims up to `limit` due messages of `kinds` for `owner` until `now_ms + lease_ms`.
    pub async fn claim_due(
        &self,
        kinds: &[&str],
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        self.claim_due_except(kinds, &[], owner, now_ms, lease_ms, limit)
            .await
    }

    /// [`Store::claim_due`], skipping messages for `busy` targets (those the caller is
    /// already delivering to, so one hanging channel holds at most its own messages).
    /// Oldest due first.
    pub async fn claim_due_except(
        &self,
        kinds: &[&str],
        busy: &[String],
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        if kinds.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let kinds_at = 5;
        let busy_at = kinds_at + kinds.len();
        let busy_sql = if busy.is_empty() {
            String::new()
        } else {
            format!(" AND target NOT IN ({})", numbered(busy_at, busy.len()))
        };
        let lock = match self.dialect {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let sql = format!(
            "UPDATE outbox SET lease_owner = $1, lease_until_ms = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM outbox WHERE state = 'pending' AND due_ms <= $3 \
             AND (lease_until_ms IS NULL OR lease_until_ms < $3) AND kind IN ({}){} \
             ORDER BY due_ms, id LIMIT $4{}) \
             RETURNING id, kind, target, idempotency_key, payload, created_ms, attempts",
            numbered(kinds_at, kinds.len()),
            busy_sql,
            lock
        );
        let mut q = sqlx::query(&sql)
            .bind(owner)
            .bind(now_ms.saturating_add(lease_ms))
            .bind(now_ms)
            .bind(i64::from(limit));
        for k in kinds {
            q = q.bind(*k);
        }
        for b in busy {
            q = q.bind(b.as_str());
        }
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        let rows = q.fetch_all(&mut *tx).await?;
        tx.commit().await?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok(OutboxMessage {
                    id: r.try_get(0)?,
                    kind: r.try_get(1)?,
                    target: r.try_get(2)?,
                    idempotency_key: r.try_get(3)?,
                    payload: r.try_get(4)?,
                    created_ms: r.try_get(5)?,
                    attempt: u32::try_from(r.try_get::<i64, _>(6)?).unwrap_or(u32::MAX),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        out.sort_by_key(|m| m.id);
        Ok(out)
    }

    /// Records an attempt of message `id` by `owner` and moves the message to `next`, in
    /// one transaction; `false` (nothing written) if `owner` no longer holds its claim.
    pub async fn record_attempt(
        &self,
        id: i64,
        owner: &str,
        attempt: &Attempt,
        next: Next,
    ) -> Result<bool, StoreError> {
        let finished = attempt.started_ms.saturating_add(attempt.latency_ms);
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        let updated = match next {
            Next::Done | Next::Dead => {
                sqlx::query(
                    "UPDATE outbox SET state = $3, lease_owner = NULL, lease_until_ms = NULL, \
                     last_error = $4, finished_ms = $5 \
                     WHERE id = $1 AND lease_owner = $2 AND state = 'pending'",
                )
                .bind(id)
                .bind(owner)
                .bind(if next == Next::Done { "done" } else { "dead" })
                .bind(attempt.error.as_deref())
                .bind(finished)
                .execute(&mut *tx)
                .await?
            }
            Next::RetryAt(due) => {
                sqlx::query(
                    "UPDATE outbox SET due_ms = $3, lease_owner = NULL, lease_until_ms = NULL, \
                     last_error = $4 WHERE id = $1 AND lease_owner = $2 AND state = 'pending'",
                )
                .bind(id)
                .bind(owner)
                .bind(due)
                .bind(attempt.error.as_deref())
                .execute(&mut *tx)
                .await?
            }
        };
        if updated.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO outbox_attempts (message_id, target, attempt, started_ms, latency_ms, \
             outcome, http_status, error) \
             SELECT id, target, $2, $3, $4, $5, $6, $7 FROM outbox WHERE id = $1",
        )
        .bind(id)
        .bind(i64::from(attempt.attempt))
        .bind(attempt.started_ms)
        .bind(attempt.latency_ms)
        .bind(next.outcome())
        .bind(attempt.http_status.map(i64::from))
        .bind(attempt.error.as_deref())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Hands a claimed message back undelivered (not counted as an attempt).
    pub async fn release_claim(&self, id: i64, owner: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET lease_owner = NULL, lease_until_ms = NULL, \
             attempts = attempts - 1 WHERE id = $1 AND lease_owner = $2 AND state = 'pending'",
        )
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// One message by id.
    pub async fn outbox_message(&self, id: i64) -> Result<Option<MessageRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, kind, target, idempotency_key, payload, created_ms, due_ms, attempts, \
             state, last_error, finished_ms FROM outbox WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(MessageRecord {
                id: r.try_get(0)?,
                kind: r.try_get(1)?,
                target: r.try_get(2)?,
                idempotency_key: r.try_get(3)?,
                payload: r.try_get(4)?,
                created_ms: r.try_get(5)?,
                due_ms: r.try_get(6)?,
                attempts: r.try_get(7)?,
                state: r.try_get(8)?,
                last_error: r.try_get(9)?,
                finished_ms: r.try_get(10)?,
            })
        })
        .transpose()
    }

    /// Messages by state.
    pub async fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, CAST(COUNT(*) AS BIGINT) FROM outbox GROUP BY state")
                .fetch_all(&self.pool)
                .await?;
        let mut c = OutboxCounts::default();
        for (state, n) in rows {
            match state.as_str() {
                "pending" => c.pending = n,
                "done" => c.done = n,
                "dead" => c.dead = n,
                _ => {}
            }
        }
        Ok(c)
    }

    /// `target`'s delivery attempts, newest first, with ids below `before_id`.
    pub async fn deliveries(
        &self,
        target: &str,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.id, a.message_id, o.idempotency_key, a.attempt, a.started_ms, \
             a.latency_ms, a.outcome, a.http_status, a.error \
             FROM outbox_attempts a JOIN outbox o ON o.id = a.message_id \
             WHERE a.target = $1 AND a.id < $2 ORDER BY a.id DESC LIMIT $3",
        )
        .bind(target)
        .bind(before_id.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DeliveryRecord {
                    id: r.try_get(0)?,
                    message_id: r.try_get(1)?,
                    idempotency_key: r.try_get(2)?,
                    attempt: r.try_get(3)?,
                    started_ms: r.try_get(4)?,
                    latency_ms: r.try_get(5)?,
                    outcome: r.try_get(6)?,
                    http_status: r.try_get(7)?,
                    error: r.try_get(8)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_from_the_start() {
        assert_eq!(numbered(5, 3), "$5, $6, $7");
        assert_eq!(numbered(2, 1), "$2");
    }
}
