//! `/login`: the sign-in form. `login.js` posts it to `POST /api/v1/auth/login` (which
//! sets the session cookie) and then goes to `next`, a local path only.

use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::response::Response;
use serde::Deserialize;

use super::layout::{render, safe_next};

/// `?next=` — where to return after signing in.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    pub next: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "login.html")]
struct LoginPage {
    next: String,
}

/// The sign-in page (public).
pub async fn page(q: Result<Query<LoginQuery>, QueryRejection>) -> Response {
    let next = q.ok().and_then(|Query(q)| q.next);
    render(&LoginPage {
        next: safe_next(next.as_deref()),
    })
}
