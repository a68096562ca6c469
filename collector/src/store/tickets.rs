//! Tickets: one row per incident fingerprint that has (or is getting) a Jira issue, and the
//! Jira decision worker's write: decisions, their outbox messages and ticket rows in one
//! transaction, under the `jira` lease.

use sqlx::Row;

use super::outbox::{NewMessage, enqueue};
use super::{Store, StoreError};
use crate::jira::decide::TicketView;

/// A stored ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketRecord {
    pub id: i64,
    pub incident_id: i64,
    pub fingerprint: String,
    pub issue_key: Option<String>,
    pub issue_id: Option<String>,
    /// `creating` or `open`.
    pub state: String,
    pub severity: String,
    pub confidence: f64,
    pub regressions_seen: u32,
    pub told_events: u64,
    pub told_hosts: u64,
    pub last_told_ms: i64,
    pub comments: u64,
    pub reopens: u64,
    pub create_started_ms: Option<i64>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl TicketRecord {
    /// What the decider needs.
    pub fn view(&self) -> TicketView {
        TicketView {
            key: self.issue_key.clone(),
            regressions_seen: self.regressions_seen,
            told_events: self.told_events,
            told_hosts: self.told_hosts,
            last_told_ms: self.last_told_ms,
        }
    }
}

const COLUMNS: &str = "id, incident_id, fingerprint, issue_key, issue_id, state, severity, \
    confidence, regressions_seen, told_events, told_hosts, last_told_ms, comments, reopens, \
    create_started_ms, created_ms, updated_ms";

fn u64_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn ticket_from(r: &sqlx::any::AnyRow) -> Result<TicketRecord, StoreError> {
    Ok(TicketRecord {
        id: r.try_get(0)?,
        incident_id: r.try_get(1)?,
        fingerprint: r.try_get(2)?,
        issue_key: r.try_get(3)?,
        issue_id: r.try_get(4)?,
        state: r.try_get(5)?,
        severity: r.try_get(6)?,
        confidence: r.try_get(7)?,
        regressions_seen: u32::try_from(r.try_get::<i64, _>(8)?).unwrap_or(0),
        told_events: u64_of(r.try_get(9)?),
        told_hosts: u64_of(r.try_get(10)?),
        last_told_ms: r.try_get(11)?,
        comments: u64_of(r.try_get(12)?),
        reopens: u64_of(r.try_get(13)?),
        create_started_ms: r.try_get(14)?,
        created_ms: r.try_get(15)?,
        updated_ms: r.try_get(16)?,
    })
}

/// What a decision changes in its incident's ticket row.
#[derive(Debug, Clone, PartialEq)]
pub enum TicketChange {
    /// A create: insert the row in state `creating` (the decision is dropped if a row for
    /// the fingerprint already exists).
    Create {
        severity: String,
        confidence: f64,
        regressions: u32,
        events: u64,
        hosts: u64,
    },
    /// A comment about repeats: these counts are now told.
    Told { events: u64, hosts: u64 },
    /// A reopen for this regression (its comment tells the counts too).
    Reopened {
        regressions: u32,
        events: u64,
        hosts: u64,
    },
    /// A skip: nothing.
    None,
}

/// One decision as the worker wants it written.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionWrite {
    pub incident_id: i64,
    pub fingerprint: String,
    pub decision: &'static str,
    pub reason_code: &'static str,
    pub reason: String,
    pub severity: String,
    pub confidence: f64,
    pub ticket_key: Option<String>,
    /// The Jira job (outbox message) it causes; `None` for a skip.
    pub job: Option<NewMessage>,
    pub change: TicketChange,
}

/// Filters of [`Store::tickets`].
#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub state: Option<String>,
    pub before_id: Option<i64>,
}

impl Store {
    /// The tickets of these fingerprints.
    pub async fn tickets_by_fingerprint(
        &self,
        fingerprints: &[String],
    ) -> Result<std::collections::HashMap<String, TicketRecord>, StoreError> {
        let mut out = std::collections::HashMap::new();
        for chunk in fingerprints.chunks(100) {
            let ph: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT {COLUMNS} FROM tickets WHERE fingerprint IN ({})",
                ph.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for f in chunk {
                q = q.bind(f);
            }
            for row in q.fetch_all(&self.pool).await? {
                let t = ticket_from(&row)?;
                out.insert(t.fingerprint.clone(), t);
            }
        }
        Ok(out)
    }

    /// One ticket by fingerprint.
    pub async fn ticket(&self, fingerprint: &str) -> Result<Option<TicketRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM tickets WHERE fingerprint = $1"
        ))
        .bind(fingerprint)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| ticket_from(&r)).transpose()
    }

    /// Tickets newest first.
    pub async fn tickets(
        &self,
        filter: &TicketFilter,
        limit: u32,
    ) -> Result<Vec<TicketRecord>, StoreError> {
        let mut sql = format!("SELECT {COLUMNS} FROM tickets WHERE 1 = 1");
        let mut n = 0;
        if filter.state.is_some() {
            n += 1;
            sql.push_str(&format!(" AND state = ${n}"));
        }
        if filter.before_id.is_some() {
            n += 1;
            sql.push_str(&format!(" AND id < ${n}"));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", limit.max(1)));
        let mut q = sqlx::query(&sql);
        if let Some(s) = &filter.state {
            q = q.bind(s.clone());
        }
        if let Some(b) = filter.before_id {
            q = q.bind(b);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(ticket_from).collect()
    }

    /// Numeric Jira ids of tickets created since `since_ms`, newest first, at most `limit`
    /// (for `reconcileIssues`).
    pub async fn recent_issue_ids(
        &self,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<i64>, StoreError> {
        let ids: Vec<Option<String>> = sqlx::query_scalar(&format!(
            "SELECT issue_id FROM tickets WHERE created_ms >= $1 AND issue_id IS NOT NULL \
             ORDER BY created_ms DESC LIMIT {}",
            limit.max(1)
        ))
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids
            .into_iter()
            .flatten()
            .filter_map(|s| s.parse().ok())
            .collect())
    }

    /// Notes that a create request is about to be sent for `fingerprint`.
    pub async fn ticket_create_started(
        &self,
        fingerprint: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE tickets SET create_started_ms = $2, updated_ms = $2 WHERE fingerprint = $1",
        )
        .bind(fingerprint)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets a create request that Jira refused (nothing was created).
    pub async fn ticket_create_cleared(&self, fingerprint: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE tickets SET create_started_ms = NULL WHERE fingerprint = $1")
            .bind(fingerprint)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records the issue of `fingerprint` (created, or found by a duplicate check) and
    /// marks its create decision done. Returns the key now stored (an earlier one wins).
    pub async fn ticket_created(
        &self,
        fingerprint: &str,
        key: &str,
        issue_id: &str,
        job_key: &str,
        now_ms: i64,
    ) -> Result<String, StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        sqlx::query(
            "UPDATE tickets SET issue_key = $2, issue_id = $3, state = 'open', updated_ms = $4 \
             WHERE fingerprint = $1 AND issue_key IS NULL",
        )
        .bind(fingerprint)
        .bind(key)
        .bind(issue_id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        let stored: Option<String> =
            sqlx::query_scalar("SELECT issue_key FROM tickets WHERE fingerprint = $1")
                .bind(fingerprint)
                .fetch_optional(&mut *tx)
                .await?
                .flatten();
        let stored = stored.unwrap_or_else(|| key.to_owned());
        sqlx::query(
            "UPDATE automation_decisions SET outcome = 'done', done_ms = $2, ticket_key = $3 \
             WHERE job_key = $1",
        )
        .bind(job_key)
        .bind(now_ms)
        .bind(&stored)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// Marks the decision of `job_key` done (a comment or reopen carried out).
    pub async fn decision_done(
        &self,
        job_key: &str,
        attempts: u32,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE automation_decisions SET outcome = 'done', done_ms = $2, attempts = $3, \
             error = NULL WHERE job_key = $1",
        )
        .bind(job_key)
        .bind(now_ms)
        .bind(i64::from(attempts))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Notes a failed attempt of the decision of `job_key` (`error` holds no secret).
    pub async fn decision_failed(
        &self,
        job_key: &str,
        attempts: u32,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE automation_decisions SET attempts = $2, error = $3 WHERE job_key = $1")
            .bind(job_key)
            .bind(i64::from(attempts))
            .bind(error.chars().take(500).collect::<String>())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Counts bumped after a comment or reopen was carried out.
    pub async fn ticket_bump(
        &self,
        fingerprint: &str,
        reopen: bool,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let col = if reopen { "reopens" } else { "comments" };
        sqlx::query(&format!(
            "UPDATE tickets SET {col} = {col} + 1, updated_ms = $2 WHERE fingerprint = $1"
        ))
        .bind(fingerprint)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Writes a decision worker step in one transaction, if the `lease` is still ours:
    /// every decision's audit row, its outbox message and its ticket change, and the lease's
    /// new `position` (the last `incident_changes` id read). A create for a
    /// fingerprint that already has a ticket row is dropped whole (another replica decided
    /// first). Returns how many decisions were written.
    pub async fn write_ticket_decisions(
        &self,
        decisions: &[DecisionWrite],
        lease: (&str, &str),
        position: i64,
        now_ms: i64,
    ) -> Result<Option<usize>, StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        if !super::lease::advance(&mut tx, lease.0, lease.1, position).await? {
            tx.rollback().await?;
            return Ok(None);
        }
        let mut written = 0;
        for d in decisions {
            match &d.change {
                TicketChange::Create {
                    severity,
                    confidence,
                    regressions,
                    events,
                    hosts,
                } => {
                    let inserted = sqlx::query(
                        "INSERT INTO tickets (incident_id, fingerprint, state, severity, \
                         confidence, regressions_seen, told_events, told_hosts, last_told_ms, \
                         comments, reopens, created_ms, updated_ms) \
                         VALUES ($1, $2, 'creating', $3, $4, $5, $6, $7, $8, 0, 0, $8, $8) \
                         ON CONFLICT (fingerprint) DO NOTHING",
                    )
                    .bind(d.incident_id)
                    .bind(&d.fingerprint)
                    .bind(severity)
                    .bind(*confidence)
                    .bind(i64::from(*regressions))
                    .bind(i64_of(*events))
                    .bind(i64_of(*hosts))
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                    if inserted.rows_affected() == 0 {
                        continue;
                    }
                }
                TicketChange::Told { events, hosts } => {
                    sqlx::query(
                        "UPDATE tickets SET told_events = $2, told_hosts = $3, last_told_ms = $4, \
                         updated_ms = $4 WHERE fingerprint = $1",
                    )
                    .bind(&d.fingerprint)
                    .bind(i64_of(*events))
                    .bind(i64_of(*hosts))
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                }
                TicketChange::Reopened {
                    regressions,
                    events,
                    hosts,
                } => {
                    sqlx::query(
                        "UPDATE tickets SET regressions_seen = $2, told_events = $3, \
                         told_hosts = $4, last_told_ms = $5, updated_ms = $5 WHERE fingerprint = $1",
                    )
                    .bind(&d.fingerprint)
                    .bind(i64::from(*regressions))
                    .bind(i64_of(*events))
                    .bind(i64_of(*hosts))
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                }
                TicketChange::None => {}
            }
            let job_key = d.job.as_ref().map(|j| j.idempotency_key.clone());
            if let Some(job) = &d.job
                && enqueue(&mut tx, job, now_ms).await?.is_none()
            {
                // Already enqueued by an earlier step: the decision was written then.
                continue;
            }
            sqlx::query(
                "INSERT INTO automation_decisions (incident_id, fingerprint, decision, \
                 reason_code, reason, severity, confidence, ticket_key, outcome, job_key, \
                 decided_ms, attempts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0)",
            )
            .bind(d.incident_id)
            .bind(&d.fingerprint)
            .bind(d.decision)
            .bind(d.reason_code)
            .bind(&d.reason)
            .bind(&d.severity)
            .bind(d.confidence)
            .bind(d.ticket_key.as_deref())
            .bind(if d.job.is_some() { "queued" } else { "skipped" })
            .bind(job_key)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            written += 1;
        }
        tx.commit().await?;
        Ok(Some(written))
    }
}
