//! Training jobs (migration `0011_models.sql`): their state, progress and per-file report.
//!
//! State changes follow `training::job::next`; each is one conditional `UPDATE` (on the state
//! read in the same transaction), so the runner and a cancel request on another replica never
//! both win. A finished job's model row and its `succeeded` state commit together: a job
//! that failed or was cancelled never leaves a model behind.

use sqlx::Row;

use super::audit::{AuditEntry, write as write_audit};
use super::models::{NewModel, insert as insert_model};
use super::{Store, StoreError};
use crate::training::job::{JobEvent, JobState, Transition, next};

/// What a job trains from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    Upload,
    Window,
    S3,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Upload => "upload",
            JobKind::Window => "window",
            JobKind::S3 => "s3",
        }
    }
}

/// A stored job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobInfo {
    pub id: i64,
    pub kind: String,
    pub state: JobState,
    pub spec: serde_json::Value,
    pub created_by: String,
    pub created_ms: i64,
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
    pub updated_ms: i64,
    pub bytes_total: u64,
    pub bytes_done: u64,
    pub lines_read: u64,
    /// Per input file: name, lines, error.
    pub files: serde_json::Value,
    pub cancel_requested: bool,
    pub error: Option<String>,
    pub model_id: Option<i64>,
}

const COLUMNS: &str = "id, kind, state, spec_json, created_by, created_ms, started_ms, \
     finished_ms, updated_ms, bytes_total, bytes_done, lines_read, files_json, \
     cancel_requested, error, model_id";

fn json_of(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or(serde_json::Value::Null)
}

fn info_of(row: &sqlx::any::AnyRow) -> Result<JobInfo, StoreError> {
    let unsigned =
        |name: &str| -> Result<u64, StoreError> { Ok(row.try_get::<i64, _>(name)?.max(0) as u64) };
    Ok(JobInfo {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        state: JobState::parse(&row.try_get::<String, _>("state")?),
        spec: json_of(&row.try_get::<String, _>("spec_json")?),
        created_by: row.try_get("created_by")?,
        created_ms: row.try_get("created_ms")?,
        started_ms: row.try_get("started_ms")?,
        finished_ms: row.try_get("finished_ms")?,
        updated_ms: row.try_get("updated_ms")?,
        bytes_total: unsigned("bytes_total")?,
        bytes_done: unsigned("bytes_done")?,
        lines_read: unsigned("lines_read")?,
        files: json_of(&row.try_get::<String, _>("files_json")?),
        cancel_requested: row.try_get::<i64, _>("cancel_requested")? != 0,
        error: row.try_get("error")?,
        model_id: row.try_get("model_id")?,
    })
}

fn to_json(what: &'static str, v: &serde_json::Value) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|source| StoreError::Json { what, source })
}

async fn job_in(conn: &mut sqlx::AnyConnection, id: i64) -> Result<JobInfo, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM training_jobs WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("training job {id}")))?;
    info_of(&row)
}

/// Sets a job's final (or running) state if it is still `from`; false if it moved meanwhile.
async fn set_state(
    conn: &mut sqlx::AnyConnection,
    id: i64,
    from: JobState,
    to: JobState,
    error: Option<&str>,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let finished = to.is_final().then_some(now_ms);
    let started = (to == JobState::Running).then_some(now_ms);
    let done = sqlx::query(
        "UPDATE training_jobs SET state = $1, error = COALESCE($2, error), \
         finished_ms = COALESCE($3, finished_ms), started_ms = COALESCE($4, started_ms), \
         updated_ms = $5 WHERE id = $6 AND state = $7",
    )
    .bind(to.as_str())
    .bind(error)
    .bind(finished)
    .bind(started)
    .bind(now_ms)
    .bind(id)
    .bind(from.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

impl Store {
    /// Records a queued job with its audit row; returns it.
    pub async fn create_training_job(
        &self,
        kind: JobKind,
        spec: &serde_json::Value,
        bytes_total: u64,
        audit: AuditEntry,
        now_ms: i64,
    ) -> Result<JobInfo, StoreError> {
        let spec_json = to_json("training job spec", spec)?;
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        let row = sqlx::query(
            "INSERT INTO training_jobs (kind, state, spec_json, created_by, created_ms, \
             updated_ms, bytes_total) VALUES ($1, $2, $3, $4, $5, $5, $6) RETURNING id",
        )
        .bind(kind.as_str())
        .bind(JobState::Queued.as_str())
        .bind(&spec_json)
        .bind(super::clean(&audit.actor).as_ref())
        .bind(now_ms)
        .bind(i64::try_from(bytes_total).unwrap_or(i64::MAX))
        .fetch_one(&mut *tx)
        .await?;
        let id: i64 = row.try_get("id")?;
        let entry = AuditEntry {
            target: format!("training_job:{id}"),
            ..audit
        }
        .after(serde_json::json!({ "kind": kind.as_str(), "spec": spec }));
        write_audit(&mut tx, &entry, now_ms).await?;
        let job = job_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(job)
    }

    /// One job; `NotFound` if there is none.
    pub async fn training_job(&self, id: i64) -> Result<JobInfo, StoreError> {
        let mut conn = self.pool.acquire().await?;
        job_in(&mut conn, id).await
    }

    /// Jobs newest first, at most `limit`, below `before_id` if given.
    pub async fn training_jobs(
        &self,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<JobInfo>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM training_jobs WHERE id < $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(before_id.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(info_of).collect()
    }

    /// The runner takes a queued job: `Some(Running)` to go on, `Some(Cancelled)` if it was
    /// cancelled while queued, `None` if another runner has it or it ended.
    pub async fn start_training_job(
        &self,
        id: i64,
        now_ms: i64,
    ) -> Result<Option<JobState>, StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        let job = job_in(&mut tx, id).await?;
        let Transition::To(to) = next(job.state, JobEvent::Start, job.cancel_requested) else {
            return Ok(None);
        };
        let moved = set_state(&mut tx, id, job.state, to, None, now_ms).await?;
        tx.commit().await?;
        Ok(moved.then_some(to))
    }

    /// Records progress; returns whether a cancel was requested (the runner then stops).
    pub async fn training_job_progress(
        &self,
        id: i64,
        bytes_done: u64,
        lines_read: u64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        sqlx::query(
            "UPDATE training_jobs SET bytes_done = $1, lines_read = $2, updated_ms = $3 \
             WHERE id = $4 AND state = 'running'",
        )
        .bind(i64::try_from(bytes_done).unwrap_or(i64::MAX))
        .bind(i64::try_from(lines_read).unwrap_or(i64::MAX))
        .bind(now_ms)
        .bind(id)
        .execute(&self.pool)
        .await?;
        let (flag,): (i64,) =
            sqlx::query_as("SELECT cancel_requested FROM training_jobs WHERE id = $1")
                .bind(id)
                .fetch_one(&self.pool)
                .await?;
        Ok(flag != 0)
    }

    /// A user's cancel: a queued job is cancelled at once, a running one is flagged (its
    /// runner stops at its next progress report). `Conflict` if the job has ended.
    pub async fn cancel_training_job(
        &self,
        id: i64,
        audit: AuditEntry,
        now_ms: i64,
    ) -> Result<JobInfo, StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        let job = job_in(&mut tx, id).await?;
        match next(job.state, JobEvent::Cancel, job.cancel_requested) {
            Transition::To(to) => {
                set_state(&mut tx, id, job.state, to, None, now_ms).await?;
            }
            Transition::RequestCancel => {
                sqlx::query(
                    "UPDATE training_jobs SET cancel_requested = 1, updated_ms = $1 WHERE id = $2",
                )
                .bind(now_ms)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            Transition::Refused if job.cancel_requested && !job.state.is_final() => {
                // Asked twice: the first request stands.
                return Ok(job);
            }
            Transition::Refused => {
                return Err(StoreError::Conflict(format!(
                    "training job {id} has ended ({})",
                    job.state.as_str()
                )));
            }
        }
        sqlx::query("UPDATE training_jobs SET cancel_requested = 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let after = job_in(&mut tx, id).await?;
        let entry = audit
            .before(serde_json::json!({ "state": job.state.as_str() }))
            .after(serde_json::json!({
                "state": after.state.as_str(),
                "cancel_requested": after.cancel_requested,
            }));
        write_audit(&mut tx, &entry, now_ms).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Ends a running job without a model: `Fail` with `error`, or `Stopped` (cancelled).
    pub async fn end_training_job(
        &self,
        id: i64,
        event: JobEvent,
        error: Option<&str>,
        files: &serde_json::Value,
        now_ms: i64,
    ) -> Result<JobState, StoreError> {
        let files_json = to_json("training job files", files)?;
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        let job = job_in(&mut tx, id).await?;
        let Transition::To(to) = next(job.state, event, job.cancel_requested) else {
            return Ok(job.state);
        };
        sqlx::query("UPDATE training_jobs SET files_json = $1 WHERE id = $2")
            .bind(&files_json)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        set_state(&mut tx, id, job.state, to, error, now_ms).await?;
        tx.commit().await?;
        Ok(to)
    }

    /// Ends a running job with its model: the model row (inactive), its audit row (as the
    /// job's creator) and the job's `succeeded` state in one transaction. A cancel request
    /// that arrived meanwhile wins: the job is cancelled and no model is written.
    pub async fn finish_training_job(
        &self,
        id: i64,
        model: &NewModel,
        files: &serde_json::Value,
        now_ms: i64,
    ) -> Result<(JobState, Option<i64>), StoreError> {
        let files_json = to_json("training job files", files)?;
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        let job = job_in(&mut tx, id).await?;
        let Transition::To(to) = next(job.state, JobEvent::Finish, job.cancel_requested) else {
            return Ok((job.state, None));
        };
        let model_id = if to == JobState::Succeeded {
            let model_id = insert_model(&mut tx, model, now_ms).await?;
            let entry = AuditEntry {
                actor: job.created_by.clone(),
                actor_role: "training".to_owned(),
                action: "model.create",
                target: format!("model:{model_id}"),
                before: None,
                after: Some(serde_json::json!({
                    "job": id,
                    "content_hash": format!("{:016x}", model.content_hash),
                    "templates": model.templates,
                })),
                client_addr: None,
            };
            write_audit(&mut tx, &entry, now_ms).await?;
            Some(model_id)
        } else {
            None
        };
        sqlx::query("UPDATE training_jobs SET files_json = $1, model_id = $2 WHERE id = $3")
            .bind(&files_json)
            .bind(model_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        set_state(&mut tx, id, job.state, to, None, now_ms).await?;
        tx.commit().await?;
        Ok((to, model_id))
    }

    /// Fails queued or running jobs not refreshed since `stale_before_ms` (their replica
    /// stopped; uploads are held in memory and cannot be resumed). Returns how many.
    pub async fn fail_abandoned_training_jobs(
        &self,
        stale_before_ms: i64,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE training_jobs SET state = 'failed', finished_ms = $1, updated_ms = $1, \
             error = 'abandoned: the collector that ran it stopped; submit it again' \
             WHERE state IN ('queued', 'running') AND updated_ms < $2",
        )
        .bind(now_ms)
        .bind(stale_before_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
