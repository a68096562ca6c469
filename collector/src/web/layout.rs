//! What every page shares: the signed-in [`Page`] extractor (the API's own
//! [`Auth`] — session cookie or bearer token — with an expired or missing session sent
//! to `/login?next=<this page>`), the navigation, HTML rendering with errors as pages,
//! the security headers, and small display helpers.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::api::AppState;
use crate::api::auth::{Auth, Viewer};
use crate::api::error::ApiError;
use crate::auth::Role;

/// The Content-Security-Policy of every dashboard response: only our own embedded files,
/// no inline script or style, no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The navigation bar and who is signed in; every page template has one as `nav`.
#[derive(Debug, Clone)]
pub struct Nav {
    pub user: String,
    pub role: Role,
    /// The session's CSRF token (empty for bearer requests), for the action scripts.
    pub csrf: String,
    /// Which tab is current (`fleet`, `stream`, `incidents`, `alerts`, `training`, `s3`,
    /// `admin`).
    pub active: &'static str,
}

impl Nav {
    /// Analysts and admins see action buttons (ack, resolve, silence).
    pub fn can_act(&self) -> bool {
        self.role >= Role::Analyst
    }

    pub fn is_admin(&self) -> bool {
        self.role >= Role::Admin
    }

    /// `aria-current` for the tab named `tab`.
    pub fn current(&self, tab: &str) -> &'static str {
        if self.active == tab { "page" } else { "false" }
    }
}

/// A signed-in request for a page.
#[derive(Debug)]
pub struct Page {
    pub auth: Auth<Viewer>,
    pub nav: Nav,
}

impl Page {
    /// The credentials as the REST handler for role `R` wants them.
    pub fn as_role<R: crate::api::auth::MinRole>(&self) -> Result<Auth<R>, ApiError> {
        self.auth.with_role::<R>()
    }

    /// This page's navigation with `tab` current.
    pub fn nav(&self, tab: &'static str) -> Nav {
        Nav {
            active: tab,
            ..self.nav.clone()
        }
    }
}

impl FromRequestParts<AppState> for Page {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match Auth::<Viewer>::from_request_parts(parts, state).await {
            Ok(auth) => {
                let nav = Nav {
                    user: auth.principal.name.clone(),
                    role: auth.principal.role,
                    csrf: auth.csrf_token.clone().unwrap_or_default(),
                    active: "",
                };
                Ok(Page { auth, nav })
            }
            Err(ApiError::Unauthorized) => {
                let here = parts
                    .uri
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_owned();
                Err(
                    Redirect::to(&format!("/login?next={}", encode_component(&here)))
                        .into_response(),
                )
            }
            Err(other) => Err(PageError(other).into_response()),
        }
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where to go after login: a local path only (`/...` but not `//host`), else `/`.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.chars().any(char::is_control) =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// A handler's error shown as a page with the API's status and message.
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

#[derive(askama::Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    title: String,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let message = self.0.to_string();
        // The API's response logs an internal error's cause; we keep only its status.
        let status = self.0.into_response().status();
        let page = ErrorPage {
            status: status.as_u16(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            message,
        };
        let mut resp = render(&page);
        *resp.status_mut() = status;
        resp
    }
}

/// A page's result.
pub type PageResult = Result<Response, PageError>;

/// Renders a template as an HTML response (500 if the template fails).
pub fn render<T: askama::Template>(t: &T) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "Dashboard template failed.");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}

/// Adds the security headers to every dashboard response.
pub async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// `2026-11-28 10:00:01` (UTC) for epoch milliseconds.
pub fn fmt_ms(ms: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return ms.to_string();
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `fmt_ms` of an optional time, `—` when absent.
pub fn fmt_opt(ms: Option<i64>) -> String {
    ms.map_or_else(|| "—".to_owned(), fmt_ms)
}

/// `42 s`, `5 min`, `3 h`, `2 d` between `then` and `now`.
pub fn ago(now_ms: i64, then_ms: i64) -> String {
    let s = (now_ms - then_ms).max(0) / 1000;
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_local_only() {
        let cases = [
            (None, "/"),
            (Some("/hosts/pos-1?range=6h"), "/hosts/pos-1?range=6h"),
            (Some("//evil.example/x"), "/"),
            (Some("/\\evil.example"), "/"),
            (Some("https://evil.example/"), "/"),
            (Some("/a\nb"), "/"),
            (Some(""), "/"),
        ];
        for (input, want) in cases {
            assert_eq!(safe_next(input), want, "{input:?}");
        }
    }

    #[test]
    fn encodes_next_for_a_query() {
        assert_eq!(
            encode_component("/hosts/a b?x=1&y"),
            "%2Fhosts%2Fa%20b%3Fx%3D1%26y"
        );
    }

    #[test]
    fn times_and_ages() {
        assert_eq!(fmt_ms(1_764_324_001_000), "2025-11-28 10:00:01");
        assert_eq!(fmt_opt(None), "—");
        let cases = [
            (0, "0 s"),
            (119_000, "119 s"),
            (300_000, "5 min"),
            (7_200_000, "2 h"),
            (172_800_000, "2 d"),
        ];
        for (d, want) in cases {
            assert_eq!(ago(1_000_000_000_000 + d, 1_000_000_000_000), want);
        }
    }
}
