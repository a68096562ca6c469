//! Suggested fixes per error class: the class table's own fix (built in, or extended from
//! configuration through `ClassTable::with_extra`) unless an admin edited it through the API.
//! Edits live in `class_fixes` (migration `0009_class_fixes.sql`), one row per class id; an
//! edit and its audit row commit in one transaction, and removing the row restores the table's
//! fix. The class table itself stays the default: a class is never created or deleted here.

use std::collections::HashMap;

use super::audit::{AuditEntry, write as write_audit};
use super::{Store, StoreError};

/// One error class with the fix in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassFix {
    pub id: String,
    pub title: String,
    /// The fix in force: the edited one if any, else the class table's.
    pub fix: String,
    /// The class table's fix.
    pub default_fix: String,
    /// Who edited the fix, if it is edited.
    pub edited_by: Option<String>,
    pub edited_ms: Option<i64>,
}

impl ClassFix {
    fn summary(&self) -> serde_json::Value {
        serde_json::json!({ "fix": self.fix, "edited": self.edited_by.is_some() })
    }
}

/// An edited fix: the text, who and when.
type Edit = (String, String, i64);

impl Store {
    /// Edited fixes by class id.
    async fn class_edits(&self) -> Result<HashMap<String, Edit>, StoreError> {
        let rows: Vec<(String, String, String, i64)> =
            sqlx::query_as("SELECT class_id, fix, updated_by, updated_ms FROM class_fixes")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(id, fix, by, ms)| (id, (fix, by, ms)))
            .collect())
    }

    fn class_fix_of(&self, id: &str, edit: Option<Edit>) -> Option<ClassFix> {
        let class = self.class_info(id)?;
        let (fix, edited_by, edited_ms) = match edit {
            Some((fix, by, ms)) => (fix, Some(by), Some(ms)),
            None => (class.fix.clone(), None, None),
        };
        Some(ClassFix {
            id: class.id,
            title: class.title,
            fix,
            default_fix: class.fix,
            edited_by,
            edited_ms,
        })
    }

    /// Every class of the table, in table order, with the fix in force.
    /// Edits of a class the table no longer has are ignored.
    pub async fn class_fixes(&self) -> Result<Vec<ClassFix>, StoreError> {
        let mut edits = self.class_edits().await?;
        let ids: Vec<String> = self
            .judge
            .classes()
            .classes()
            .iter()
            .map(|c| c.id.clone())
            .collect();
        Ok(ids
            .iter()
            .filter_map(|id| self.class_fix_of(id, edits.remove(id)))
            .collect())
    }

    /// The fix in force for each class id that has one (for incidents and patterns).
    pub async fn suggested_fixes(&self) -> Result<HashMap<String, String>, StoreError> {
        Ok(self
            .class_fixes()
            .await?
            .into_iter()
            .map(|c| (c.id, c.fix))
            .collect())
    }

    /// Sets (`Some`) or restores to the table's (`None`) the fix of class `id`, with its
    /// audit row in the same transaction. `NotFound` for a class the table does not have.
    pub async fn set_class_fix(
        &self,
        id: &str,
        fix: Option<&str>,
        audit: AuditEntry,
        now_ms: i64,
    ) -> Result<ClassFix, StoreError> {
        if self.class_info(id).is_none() {
            return Err(StoreError::NotFound(format!("class {id}")));
        }
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        let before: Option<(String, String, i64)> = sqlx::query_as(
            "SELECT fix, updated_by, updated_ms FROM class_fixes WHERE class_id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let before = self
            .class_fix_of(id, before)
            .ok_or_else(|| StoreError::NotFound(format!("class {id}")))?;
        match fix {
            Some(fix) => {
                sqlx::query(
                    "INSERT INTO class_fixes (class_id, fix, updated_by, updated_ms) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (class_id) DO UPDATE SET \
                     fix = excluded.fix, updated_by = excluded.updated_by, \
                     updated_ms = excluded.updated_ms",
                )
                .bind(id)
                .bind(fix)
                .bind(&audit.actor)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM class_fixes WHERE class_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let edit = fix.map(|f| (f.to_owned(), audit.actor.clone(), now_ms));
        let after = self
            .class_fix_of(id, edit)
            .ok_or_else(|| StoreError::NotFound(format!("class {id}")))?;
        write_audit(
            &mut tx,
            &audit.before(before.summary()).after(after.summary()),
            now_ms,
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }
}
