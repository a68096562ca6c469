//! The audit trail: one row per state change, written by the caller inside the change's
//! own transaction ([`write()`]), so a change without its audit row can never commit.
//! Rows never hold a secret: callers pass summaries (names, roles, ids), not hashes.

use sqlx::{AnyConnection, Row};

use super::{Store, StoreError};
use crate::auth::Principal;

/// Who did what to which target, and from where.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub actor: String,
    pub actor_role: String,
    /// Dotted verb, e.g. `user.create`, `token.revoke`, `auth.login`.
    pub action: &'static str,
    /// What it acted on, e.g. `user:alice`, `token:7`.
    pub target: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub client_addr: Option<String>,
}

impl AuditEntry {
    /// An entry for `principal` doing `action` on `target` from `client_addr`.
    pub fn new(
        principal: &Principal,
        client_addr: Option<String>,
        action: &'static str,
        target: impl Into<String>,
    ) -> AuditEntry {
        AuditEntry {
            actor: principal.name.clone(),
            actor_role: principal.role.as_str().to_owned(),
            action,
            target: target.into(),
            before: None,
            after: None,
            client_addr,
        }
    }

    pub fn before(mut self, v: serde_json::Value) -> Self {
        self.before = Some(v);
        self
    }

    pub fn after(mut self, v: serde_json::Value) -> Self {
        self.after = Some(v);
        self
    }
}

/// A stored audit row.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: i64,
    pub ts_ms: i64,
    pub actor: String,
    pub actor_role: String,
    pub action: String,
    pub target: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub client_addr: Option<String>,
}

/// Filters for [`Store::audit_page`]; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    /// Exact action, or a prefix ending in `.` (`user.` for every user action).
    pub action: Option<String>,
    pub target: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Only rows with an id below this (the cursor of newest-first paging).
    pub before_id: Option<i64>,
}

const INSERT: &str = "INSERT INTO audit \
    (ts_ms, actor, actor_role, action, target, before_json, after_json, client_addr) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// Writes `entry` on `conn`, which should be the change's transaction.
pub async fn write(
    conn: &mut AnyConnection,
    entry: &AuditEntry,
    now_ms: i64,
) -> Result<(), StoreError> {
    let json = |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string());
    sqlx::query(INSERT)
        .bind(now_ms)
        .bind(&entry.actor)
        .bind(&entry.actor_role)
        .bind(entry.action)
        .bind(&entry.target)
        .bind(json(&entry.before))
        .bind(json(&entry.after))
        .bind(entry.client_addr.as_deref())
        .execute(conn)
        .await?;
    Ok(())
}

impl Store {
    /// Writes one audit row in a transaction of its own (for events that change nothing
    /// else, like a failed login).
    pub async fn audit_only(&self, entry: &AuditEntry, now_ms: i64) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        write(&mut conn, entry, now_ms).await
    }

    /// Audit rows matching `filter`, newest first, at most `limit`.
    pub async fn audit_page(
        &self,
        filter: &AuditFilter,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let mut sql = String::from(
            "SELECT id, ts_ms, actor, actor_role, action, target, before_json, after_json, \
             client_addr FROM audit WHERE 1 = 1",
        );
        let mut binds: Vec<Bind> = Vec::new();
        let mut push = |sql: &mut String, clause: &str, b: Bind| {
            binds.push(b);
            sql.push_str(&clause.replace('?', &format!("${}", binds.len())));
        };
        if let Some(a) = &filter.actor {
            push(&mut sql, " AND actor = ?", Bind::Text(a.clone()));
        }
        match filter.action.as_deref() {
            Some(a) if a.ends_with('.') => {
                push(
                    &mut sql,
                    " AND action LIKE ? ESCAPE '\\'",
                    Bind::Text(format!("{}%", escape_like(a))),
                );
            }
            Some(a) => push(&mut sql, " AND action = ?", Bind::Text(a.to_owned())),
            None => {}
        }
        if let Some(t) = &filter.target {
            push(&mut sql, " AND target = ?", Bind::Text(t.clone()));
        }
        if let Some(v) = filter.from_ms {
            push(&mut sql, " AND ts_ms >= ?", Bind::Int(v));
        }
        if let Some(v) = filter.to_ms {
            push(&mut sql, " AND ts_ms < ?", Bind::Int(v));
        }
        if let Some(v) = filter.before_id {
            push(&mut sql, " AND id < ?", Bind::Int(v));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", limit.max(1)));
        let mut query = sqlx::query(&sql);
        for b in binds {
            query = match b {
                Bind::Text(s) => query.bind(s),
                Bind::Int(i) => query.bind(i),
            };
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|row| {
                let json = |i: usize| -> Result<Option<serde_json::Value>, StoreError> {
                    let text: Option<String> = row.try_get(i)?;
                    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
                };
                Ok(AuditRecord {
                    id: row.try_get(0)?,
                    ts_ms: row.try_get(1)?,
                    actor: row.try_get(2)?,
                    actor_role: row.try_get(3)?,
                    action: row.try_get(4)?,
                    target: row.try_get(5)?,
                    before: json(6)?,
                    after: json(7)?,
                    client_addr: row.try_get(8)?,
                })
            })
            .collect()
    }
}

/// A value bound to a dynamically built query.
#[derive(Debug, Clone)]
pub(super) enum Bind {
    Text(String),
    Int(i64),
}

/// Escapes `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern.
pub(super) fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
