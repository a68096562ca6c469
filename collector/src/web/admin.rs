//! `/admin` (admins only) — users and roles, API tokens (create: the secret is shown
//! once, by `app.js`, from the API's response; revoke), agents (revoke with a reason,
//! reinstate), and the audit log with paging.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;

use super::host::Row;
use super::layout::{Nav, Page, PageResult, encode_component, fmt_ms, fmt_opt, render};
use crate::api::AppState;
use crate::api::audit::AuditQuery;
use crate::api::auth::Admin;
use crate::api::extract::Query as ApiQuery;

/// `?cursor=` of the audit log.
#[derive(Debug, Default, Deserialize)]
pub struct AdminQuery {
    pub cursor: Option<String>,
}

/// A token row with its revoke button.
#[derive(Debug)]
pub struct TokenRow {
    pub id: i64,
    pub revoked: bool,
    pub cells: Vec<String>,
}

/// An enrolled agent's row with its revoke form or reinstate button.
#[derive(Debug)]
pub struct AgentRow {
    /// The agent id, percent-encoded for the action's URL.
    pub id_url: String,
    pub revoked: bool,
    pub cells: Vec<String>,
}

#[derive(askama::Template)]
#[template(path = "admin.html")]
struct AdminPage {
    nav: Nav,
    users: Vec<Row>,
    tokens: Vec<TokenRow>,
    agents: Vec<AgentRow>,
    audit: Vec<Row>,
    next: String,
}

/// `GET /admin`.
pub async fn page(
    State(state): State<AppState>,
    page: Page,
    q: Result<Query<AdminQuery>, QueryRejection>,
) -> PageResult {
    let Query(q) = q.map_err(crate::api::error::ApiError::from)?;
    let st = || State(state.clone());
    let axum::Json(users) = crate::api::users::list(st(), page.as_role::<Admin>()?).await?;
    let axum::Json(tokens) = crate::api::tokens::list(st(), page.as_role::<Admin>()?).await?;
    let axum::Json(agents) = crate::api::agents::list(st(), page.as_role::<Admin>()?).await?;
    let axum::Json(audit) = crate::api::audit::list(
        st(),
        page.as_role::<Admin>()?,
        ApiQuery(AuditQuery {
            actor: None,
            action: None,
            target: None,
            from: None,
            to: None,
            limit: Some(50),
            cursor: q.cursor.filter(|c| !c.is_empty()),
        }),
    )
    .await?;
    Ok(render(&AdminPage {
        nav: page.nav("admin"),
        users: users
            .users
            .into_iter()
            .map(|u| Row {
                class: String::new(),
                link: String::new(),
                cells: vec![
                    u.name,
                    u.role.as_str().to_owned(),
                    if u.disabled { "disabled" } else { "active" }.to_owned(),
                    fmt_ms(u.created_ms),
                ],
            })
            .collect(),
        tokens: tokens
            .tokens
            .into_iter()
            .map(|t| TokenRow {
                id: t.id,
                revoked: t.revoked_ms.is_some(),
                cells: vec![
                    t.name,
                    t.role.as_str().to_owned(),
                    t.created_by,
                    fmt_ms(t.created_ms),
                    fmt_opt(t.last_used_ms),
                    fmt_opt(t.revoked_ms),
                ],
            })
            .collect(),
        agents: agents
            .enrollments
            .into_iter()
            .map(|a| AgentRow {
                id_url: encode_component(&a.agent_id),
                revoked: a.revoked_ms.is_some(),
                cells: vec![
                    a.agent_id,
                    a.host,
                    if a.credential_used { "yes" } else { "not yet" }.to_owned(),
                    fmt_ms(a.enrolled_ms),
                    fmt_opt(a.revoked_ms),
                    a.revoked_reason.unwrap_or_default(),
                ],
            })
            .collect(),
        audit: audit
            .entries
            .into_iter()
            .map(|e| Row {
                class: String::new(),
                link: String::new(),
                cells: vec![
                    fmt_ms(e.ts_ms),
                    format!("{} ({})", e.actor, e.actor_role),
                    e.action,
                    e.target,
                    e.client_addr.unwrap_or_default(),
                ],
            })
            .collect(),
        next: audit
            .next_cursor
            .map_or_else(String::new, |c| format!("?cursor={}", encode_component(&c))),
    }))
}
