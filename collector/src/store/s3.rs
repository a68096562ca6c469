//! S3 scans, their per-object status, the objects analysed to the end (`s3_done`, by
//! bucket, key and ETag) and the accepted S3 events (`s3_events`).
//!
//! An object's lines are stored by `Store::ingest` as batches whose identity is
//! (`s3:<bucket>/<key>#<etag>`, batch index): a batch stored before a crash is a
//! `Duplicate` when the object is read again, so a resumed scan never stores a line twice.
//! [`Store::s3_finish_object`] then marks the object done and records it in `s3_done` in
//! one transaction.

use std::collections::HashSet;

use sqlx::Row;

use super::audit::{self, AuditEntry};
use super::{Store, StoreError};
use crate::s3::scan::{Listed, ObjectStatus, Plan, ScanState};

/// A scan to create.
#[derive(Debug, Clone, Default)]
pub struct NewScan {
    pub bucket: String,
    pub prefix: String,
    pub start_after: Option<String>,
    pub modified_after_ms: Option<i64>,
    pub modified_before_ms: Option<i64>,
    /// AWS profile name (a reference, never a secret).
    pub source: Option<String>,
    pub analyst: String,
}

/// Objects of a scan by status, and what the done ones held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanCounts {
    pub pending: i64,
    pub done: i64,
    pub failed: i64,
    pub skipped: i64,
    pub lines: i64,
    pub events: i64,
}

/// A stored scan.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanRecord {
    pub id: i64,
    pub bucket: String,
    pub prefix: String,
    pub start_after: Option<String>,
    pub modified_after_ms: Option<i64>,
    pub modified_before_ms: Option<i64>,
    pub source: Option<String>,
    pub analyst: String,
    pub origin: String,
    pub state: ScanState,
    pub error: Option<String>,
    pub list_after: Option<String>,
    pub listed: bool,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub finished_ms: Option<i64>,
    pub counts: ScanCounts,
}

/// One object of a scan.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectRecord {
    pub key: String,
    pub etag: String,
    pub size: i64,
    pub last_modified_ms: Option<i64>,
    pub status: ObjectStatus,
    pub reason: Option<String>,
    pub lines: i64,
    pub events: i64,
    pub attempts: i64,
    pub updated_ms: i64,
}

/// How processing an object ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectOutcome {
    Done { lines: i64, events: i64 },
    Failed(String),
    Skipped(String),
}

/// An `ObjectCreated` event, from SQS or pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEvent {
    pub bucket: String,
    pub key: String,
    pub etag: String,
    pub size: u64,
    pub time_ms: Option<i64>,
}

const SCAN_COLUMNS: &str = "id, bucket, prefix, start_after, modified_after_ms, modified_before_ms, source, \
     analyst, origin, state, error, list_after, listed, created_ms, updated_ms, finished_ms";
const OBJECT_COLUMNS: &str =
    "object_key, etag, size, last_modified_ms, status, reason, lines, events, attempts, updated_ms";

fn scan_from(r: &sqlx::any::AnyRow) -> Result<ScanRecord, StoreError> {
    let state: String = r.try_get(9)?;
    Ok(ScanRecord {
        id: r.try_get(0)?,
        bucket: r.try_get(1)?,
        prefix: r.try_get(2)?,
        start_after: r.try_get(3)?,
        modified_after_ms: r.try_get(4)?,
        modified_before_ms: r.try_get(5)?,
        source: r.try_get(6)?,
        analyst: r.try_get(7)?,
        origin: r.try_get(8)?,
        state: ScanState::parse(&state).unwrap_or(ScanState::Failed),
        error: r.try_get(10)?,
        list_after: r.try_get(11)?,
        listed: r.try_get::<i64, _>(12)? != 0,
        created_ms: r.try_get(13)?,
        updated_ms: r.try_get(14)?,
        finished_ms: r.try_get(15)?,
        counts: ScanCounts::default(),
    })
}

fn object_from(r: &sqlx::any::AnyRow) -> Result<ObjectRecord, StoreError> {
    let status: String = r.try_get(4)?;
    Ok(ObjectRecord {
        key: r.try_get(0)?,
        etag: r.try_get(1)?,
        size: r.try_get(2)?,
        last_modified_ms: r.try_get(3)?,
        status: ObjectStatus::parse(&status).unwrap_or(ObjectStatus::Failed),
        reason: r.try_get(5)?,
        lines: r.try_get(6)?,
        events: r.try_get(7)?,
        attempts: r.try_get(8)?,
        updated_ms: r.try_get(9)?,
    })
}

fn size_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store {
    /// Queues a scan, audited in the same transaction.
    pub async fn s3_create_scan(
        &self,
        scan: &NewScan,
        audit: Option<&AuditEntry>,
        now_ms: i64,
    ) -> Result<ScanRecord, StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO s3_scans (bucket, prefix, start_after, modified_after_ms, \
             modified_before_ms, source, analyst, origin, state, listed, created_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'api', 'queued', 0, $8, $8) RETURNING id",
        )
        .bind(&scan.bucket)
        .bind(&scan.prefix)
        .bind(scan.start_after.as_deref())
        .bind(scan.modified_after_ms)
        .bind(scan.modified_before_ms)
        .bind(scan.source.as_deref())
        .bind(&scan.analyst)
        .bind(now_ms)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(entry) = audit {
            audit::write(&mut tx, entry, now_ms).await?;
        }
        tx.commit().await?;
        self.s3_scan(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("scan {id}")))
    }

    /// Accepts an `ObjectCreated` event: the first delivery of (bucket, key, ETag) queues a
    /// one-object scan and returns its id; a repeat returns `None` and changes nothing.
    /// `plan` decides the object's status (it is told whether the version was analysed).
    pub async fn s3_accept_event(
        &self,
        ev: &ObjectEvent,
        plan: impl FnOnce(&Listed, bool) -> Plan,
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        let first: Option<String> = sqlx::query_scalar(
            "INSERT INTO s3_events (bucket, object_key, etag, scan_id, received_ms) \
             VALUES ($1, $2, $3, 0, $4) ON CONFLICT (bucket, object_key, etag) DO NOTHING \
             RETURNING bucket",
        )
        .bind(&ev.bucket)
        .bind(&ev.key)
        .bind(&ev.etag)
        .bind(now_ms)
        .fetch_optional(&mut *tx)
        .await?;
        if first.is_none() {
            tx.rollback().await?;
            return Ok(None);
        }
        let listed = Listed {
            key: ev.key.clone(),
            etag: ev.etag.clone(),
            size: ev.size,
            last_modified_ms: ev.time_ms,
        };
        let done = done_in(&mut tx, &ev.bucket, &ev.key, &ev.etag).await?;
        let plan = plan(&listed, done);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO s3_scans (bucket, prefix, source, analyst, origin, state, list_after, \
             listed, created_ms, updated_ms) \
             VALUES ($1, $2, NULL, 's3-events', 'event', 'queued', $2, 1, $3, $3) RETURNING id",
        )
        .bind(&ev.bucket)
        .bind(&ev.key)
        .bind(now_ms)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE s3_events SET scan_id = $4 WHERE bucket = $1 AND object_key = $2 AND etag = $3",
        )
        .bind(&ev.bucket)
        .bind(&ev.key)
        .bind(&ev.etag)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        insert_objects(&mut tx, id, &[(listed, plan)], now_ms).await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// Scans newest first, below `before_id`, at most `limit`, with their counts.
    pub async fn s3_scans(
        &self,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ScanRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SCAN_COLUMNS} FROM s3_scans WHERE id < $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(before_id.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut s = scan_from(r)?;
            s.counts = self.s3_counts(s.id).await?;
            out.push(s);
        }
        Ok(out)
    }

    /// One scan with its counts.
    pub async fn s3_scan(&self, id: i64) -> Result<Option<ScanRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {SCAN_COLUMNS} FROM s3_scans WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut s = scan_from(&row)?;
        s.counts = self.s3_counts(id).await?;
        Ok(Some(s))
    }

    async fn s3_counts(&self, id: i64) -> Result<ScanCounts, StoreError> {
        let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
            "SELECT status, COUNT(*), CAST(COALESCE(SUM(lines), 0) AS BIGINT), \
             CAST(COALESCE(SUM(events), 0) AS BIGINT) FROM s3_objects WHERE scan_id = $1 \
             GROUP BY status",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        let mut c = ScanCounts::default();
        for (status, n, lines, events) in rows {
            match ObjectStatus::parse(&status) {
                Some(ObjectStatus::Pending) => c.pending += n,
                Some(ObjectStatus::Done) => c.done += n,
                Some(ObjectStatus::Failed) | None => c.failed += n,
                Some(ObjectStatus::Skipped) => c.skipped += n,
            }
            c.lines += lines;
            c.events += events;
        }
        Ok(c)
    }

    /// A scan's objects by key, after `after_key`, optionally of one status.
    pub async fn s3_objects(
        &self,
        scan_id: i64,
        after_key: Option<&str>,
        status: Option<ObjectStatus>,
        limit: u32,
    ) -> Result<Vec<ObjectRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {OBJECT_COLUMNS} FROM s3_objects WHERE scan_id = $1 AND object_key > $2 \
             AND ($3 = '' OR status = $3) ORDER BY object_key LIMIT $4"
        ))
        .bind(scan_id)
        .bind(after_key.unwrap_or(""))
        .bind(status.map_or("", ObjectStatus::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(object_from).collect()
    }

    /// Cancels an open scan (audited); `Conflict` if it already ended.
    pub async fn s3_cancel_scan(
        &self,
        id: i64,
        audit: &AuditEntry,
        now_ms: i64,
    ) -> Result<ScanRecord, StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM s3_scans WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(state) = state else {
            return Err(StoreError::NotFound(format!("scan {id}")));
        };
        if !ScanState::parse(&state).is_some_and(ScanState::is_open) {
            return Err(StoreError::Conflict(format!(
                "scan {id} is {state}; only queued or running scans can be cancelled"
            )));
        }
        sqlx::query(
            "UPDATE s3_scans SET state = 'cancelled', updated_ms = $2, finished_ms = $2 WHERE id = $1",
        )
        .bind(id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        audit::write(&mut tx, audit, now_ms).await?;
        tx.commit().await?;
        self.s3_scan(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("scan {id}")))
    }

    /// The oldest scan the worker still has to work on.
    pub async fn s3_next_open_scan(&self) -> Result<Option<ScanRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {SCAN_COLUMNS} FROM s3_scans WHERE state IN ('queued', 'running') \
             ORDER BY id LIMIT 1"
        ))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(scan_from).transpose()
    }

    /// Whether the scan is still open (not cancelled meanwhile).
    pub async fn s3_scan_open(&self, id: i64) -> Result<bool, StoreError> {
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM s3_scans WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(state
            .and_then(|s| ScanState::parse(&s))
            .is_some_and(ScanState::is_open))
    }

    /// Moves an open scan to `state` (with an error for `failed`); a cancelled scan stays so.
    pub async fn s3_set_scan_state(
        &self,
        id: i64,
        state: ScanState,
        error: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let finished = (!state.is_open()).then_some(now_ms);
        sqlx::query(
            "UPDATE s3_scans SET state = $2, error = $3, updated_ms = $4, finished_ms = $5 \
             WHERE id = $1 AND state IN ('queued', 'running')",
        )
        .bind(id)
        .bind(state.as_str())
        .bind(error)
        .bind(now_ms)
        .bind(finished)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Which of `keys` (with their ETags) in `bucket` were analysed to the end before.
    pub async fn s3_done_versions(
        &self,
        bucket: &str,
        objs: &[Listed],
    ) -> Result<HashSet<(String, String)>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut out = HashSet::new();
        for o in objs {
            if done_in(&mut conn, bucket, &o.key, &o.etag).await? {
                out.insert((o.key.clone(), o.etag.clone()));
            }
        }
        Ok(out)
    }

    /// Records one listed page with its plans, and where listing resumes, in one transaction.
    pub async fn s3_record_page(
        &self,
        scan_id: i64,
        page: &[(Listed, Plan)],
        list_after: Option<&str>,
        listed_all: bool,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        insert_objects(&mut tx, scan_id, page, now_ms).await?;
        sqlx::query(
            "UPDATE s3_scans SET list_after = COALESCE($2, list_after), listed = $3, \
             state = CASE WHEN state = 'queued' THEN 'running' ELSE state END, updated_ms = $4 \
             WHERE id = $1",
        )
        .bind(scan_id)
        .bind(list_after)
        .bind(i64::from(listed_all))
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Up to `limit` pending objects of a scan, by key.
    pub async fn s3_pending(
        &self,
        scan_id: i64,
        limit: u32,
    ) -> Result<Vec<ObjectRecord>, StoreError> {
        self.s3_objects(scan_id, None, Some(ObjectStatus::Pending), limit)
            .await
    }

    /// Counts one more attempt at an object (before it is read).
    pub async fn s3_start_object(
        &self,
        scan_id: i64,
        key: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE s3_objects SET attempts = attempts + 1, updated_ms = $3 \
             WHERE scan_id = $1 AND object_key = $2",
        )
        .bind(scan_id)
        .bind(key)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Ends an object: its status, and for `Done` the `s3_done` row, in one transaction.
    pub async fn s3_finish_object(
        &self,
        scan_id: i64,
        bucket: &str,
        obj: &ObjectRecord,
        outcome: &ObjectOutcome,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let (status, reason, lines, events) = match outcome {
            ObjectOutcome::Done { lines, events } => (ObjectStatus::Done, None, *lines, *events),
            ObjectOutcome::Failed(r) => (ObjectStatus::Failed, Some(r.as_str()), 0, 0),
            ObjectOutcome::Skipped(r) => (ObjectStatus::Skipped, Some(r.as_str()), 0, 0),
        };
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        sqlx::query(
            "UPDATE s3_objects SET status = $3, reason = $4, lines = $5, events = $6, \
             updated_ms = $7 WHERE scan_id = $1 AND object_key = $2",
        )
        .bind(scan_id)
        .bind(&obj.key)
        .bind(status.as_str())
        .bind(reason)
        .bind(lines)
        .bind(events)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        if status == ObjectStatus::Done {
            sqlx::query(
                "INSERT INTO s3_done (bucket, object_key, etag, scan_id, lines, done_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (bucket, object_key, etag) DO NOTHING",
            )
            .bind(bucket)
            .bind(&obj.key)
            .bind(&obj.etag)
            .bind(scan_id)
            .bind(lines)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

async fn done_in(
    conn: &mut sqlx::AnyConnection,
    bucket: &str,
    key: &str,
    etag: &str,
) -> Result<bool, StoreError> {
    let hit: Option<i64> = sqlx::query_scalar(
        "SELECT scan_id FROM s3_done WHERE bucket = $1 AND object_key = $2 AND etag = $3",
    )
    .bind(bucket)
    .bind(key)
    .bind(etag)
    .fetch_optional(conn)
    .await?;
    Ok(hit.is_some())
}

async fn insert_objects(
    conn: &mut sqlx::AnyConnection,
    scan_id: i64,
    page: &[(Listed, Plan)],
    now_ms: i64,
) -> Result<(), StoreError> {
    for (o, plan) in page {
        let (status, reason) = match plan {
            Plan::Ignore => continue,
            Plan::Process => (ObjectStatus::Pending, None),
            Plan::Skip(r) => (ObjectStatus::Skipped, Some(r.as_str())),
        };
        // A re-listed page after a crash finds its rows: they stay as they are.
        sqlx::query(
            "INSERT INTO s3_objects (scan_id, object_key, etag, size, last_modified_ms, status, \
             reason, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (scan_id, object_key) DO NOTHING",
        )
        .bind(scan_id)
        .bind(&o.key)
        .bind(&o.etag)
        .bind(size_i64(o.size))
        .bind(o.last_modified_ms)
        .bind(status.as_str())
        .bind(reason)
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
