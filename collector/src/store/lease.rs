//! Leases for workers that must act once across replicas (health evaluation, incident
//! grouping): a row per worker with its owner, expiry and position. SQLite and
//! PostgreSQL run the same upsert; a replica that fails to take the lease skips its turn.

use super::{Store, StoreError};

/// A held lease: the worker's stored position (e.g. the last event id it processed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub position: i64,
}

impl Store {
    /// Takes or renews the lease `name` for `owner` until `now_ms + ttl_ms`; `None` if
    /// another owner holds an unexpired lease.
    pub async fn take_lease(
        &self,
        name: &str,
        owner: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<Option<Lease>, StoreError> {
        let position: Option<i64> = sqlx::query_scalar(
            "INSERT INTO worker_leases (name, owner, lease_until_ms, position) \
             VALUES ($1, $2, $3, 0) \
             ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, \
             lease_until_ms = excluded.lease_until_ms \
             WHERE worker_leases.owner = excluded.owner OR worker_leases.lease_until_ms < $4 \
             RETURNING position",
        )
        .bind(name)
        .bind(owner)
        .bind(now_ms.saturating_add(ttl_ms))
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        Ok(position.map(|position| Lease { position }))
    }
}

/// Moves a held lease's position inside the worker's transaction; `false` if the lease
/// was lost meanwhile (the caller must roll back).
pub(crate) async fn advance(
    conn: &mut sqlx::AnyConnection,
    name: &str,
    owner: &str,
    position: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE worker_leases SET position = $3 WHERE name = $1 AND owner = $2")
        .bind(name)
        .bind(owner)
        .bind(position)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
