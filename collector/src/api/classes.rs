//! `/api/v1/classes`: the error classes with their suggested fixes (viewer); an admin edits a
//! class's fix or restores the class table's own, audited.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::{Admin, Auth, Viewer};
use super::error::ApiError;
use super::extract::{Json, Path};
use crate::now_ms;
use crate::store::classes::ClassFix;

/// An error class and what to do about it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClassDto {
    /// Stable id, as events and incidents carry it (`disk_full`).
    pub id: String,
    pub title: String,
    /// The suggested fix in force (edited, or the class table's).
    pub fix: String,
    /// The class table's own fix, which `DELETE /classes/{id}/fix` restores.
    pub default_fix: String,
    /// Whether an admin edited the fix.
    pub edited: bool,
    pub edited_by: Option<String>,
    pub edited_ms: Option<i64>,
}

impl From<ClassFix> for ClassDto {
    fn from(c: ClassFix) -> Self {
        ClassDto {
            edited: c.edited_by.is_some(),
            id: c.id,
            title: c.title,
            fix: c.fix,
            default_fix: c.default_fix,
            edited_by: c.edited_by,
            edited_ms: c.edited_ms,
        }
    }
}

/// Every error class, in the order the class table tries them.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClassList {
    pub classes: Vec<ClassDto>,
}

/// A new suggested fix.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateFix {
    /// What a person should do, 1 to `api.max_fix_chars` (default 4000) characters, not only
    /// whitespace.
    #[schema(
        min_length = 1,
        max_length = 4000,
        example = "Replace the receipt roll; if it persists, power-cycle the printer."
    )]
    pub fix: String,
}

/// Lists the error classes with their suggested fixes.
#[utoipa::path(
    get, path = "/classes", tag = "classes",
    responses((status = 200, description = "Every class, in table order", body = ClassList)),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn list(
    State(state): State<AppState>,
    _auth: Auth<Viewer>,
) -> Result<axum::Json<ClassList>, ApiError> {
    let classes = state.store.class_fixes().await?;
    Ok(axum::Json(ClassList {
        classes: classes.into_iter().map(ClassDto::from).collect(),
    }))
}

/// Checks a fix's text: not blank, no control characters but `\n` and `\t`, at most
/// `max_chars` characters; returns it trimmed or the
/// rejection's metric reason and message.
fn valid_fix(fix: &str, max_chars: usize) -> Result<&str, (&'static str, String)> {
    let fix = fix.trim();
    if fix.is_empty() {
        return Err(("fix_empty", "fix must not be empty".to_owned()));
    }
    // PostgreSQL `TEXT` refuses NUL, and no fix needs a control character but a line break.
    if fix
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err((
            "fix_invalid",
            "fix must not hold control characters other than line breaks and tabs".to_owned(),
        ));
    }
    if fix.chars().count() > max_chars {
        return Err((
            "fix_too_long",
            format!("fix must be at most {max_chars} characters (api.max_fix_chars)"),
        ));
    }
    Ok(fix)
}

/// Sets the suggested fix of a class; incidents and patterns of that class show it at once.
#[utoipa::path(
    put, path = "/classes/{id}/fix", tag = "classes",
    params(("id" = String, Path, description = "Class id, e.g. `disk_full`")),
    request_body = UpdateFix,
    responses(
        (status = 200, description = "The class after the change", body = ClassDto),
        (status = 404, description = "No such class", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn set_fix(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<String>,
    Json(req): Json<UpdateFix>,
) -> Result<axum::Json<ClassDto>, ApiError> {
    let fix = valid_fix(&req.fix, state.api.max_fix_chars).map_err(|(reason, message)| {
        state.metrics.api_reject(reason);
        ApiError::BadRequest(message)
    })?;
    let audit = auth.audit("class.fix.set", format!("class:{id}"));
    let class = state
        .store
        .set_class_fix(&id, Some(fix), audit, now_ms())
        .await?;
    Ok(axum::Json(ClassDto::from(class)))
}

/// Restores the class table's own suggested fix.
#[utoipa::path(
    delete, path = "/classes/{id}/fix", tag = "classes",
    params(("id" = String, Path, description = "Class id, e.g. `disk_full`")),
    responses(
        (status = 200, description = "The class after the change", body = ClassDto),
        (status = 404, description = "No such class", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn reset_fix(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<String>,
) -> Result<axum::Json<ClassDto>, ApiError> {
    let audit = auth.audit("class.fix.reset", format!("class:{id}"));
    let class = state
        .store
        .set_class_fix(&id, None, audit, now_ms())
        .await?;
    Ok(axum::Json(ClassDto::from(class)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fix_text_rules() {
        assert_eq!(
            valid_fix("  Reseat the cable.  ", 40).unwrap(),
            "Reseat the cable."
        );
        assert_eq!(valid_fix("   ", 40).unwrap_err().0, "fix_empty");
        assert_eq!(valid_fix("a\0b", 40).unwrap_err().0, "fix_invalid");
        assert!(valid_fix("step 1\n\tstep 2", 40).is_ok());
        assert!(valid_fix(&"é".repeat(40), 40).is_ok());
        assert_eq!(
            valid_fix(&"é".repeat(41), 40).unwrap_err().0,
            "fix_too_long"
        );
    }
}
