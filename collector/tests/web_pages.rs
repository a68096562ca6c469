//! The dashboard's pages against a real store (SQLite and PostgreSQL) through the same
//! router as the API: a page without a session goes to `/login?next=<the page>`; every
//! page renders for every role that may see it, with a strict Content-Security-Policy
//! and no action buttons for a viewer; `/admin` is 403 for a viewer; stored text is
//! escaped; expired sessions and unknown hosts are handled as pages.
//! (`tests/tests/dashboard_e2e.rs` walks the same pages in a real browser.)

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use fleetlog_collector::api::{self, AppState};
use fleetlog_collector::auth::secret::{self, SecretStr};
use fleetlog_collector::auth::{Principal, Role};
use fleetlog_collector::config::{self, set_key};
use fleetlog_collector::ingest::model::ModelSlot;
use fleetlog_collector::metrics::Metrics;
use fleetlog_collector::store::audit::AuditEntry;
use fleetlog_collector::store::auth::NewSession;
use fleetlog_collector::store::models::{ModelSource, NewModel};
use fleetlog_collector::store::s3::NewScan;
use fleetlog_protocol::Level;
use tower::ServiceExt;

use common::{Env, entry, make_batch, on_all_backends};

const BOOTSTRAP: &str = "web-pages-bootstrap-token";
const HOST: &str = "pos-<b>1";
const EVIL: &str = "ERROR payment failed <script>alert(1)</script> terminal timeout";

fn now() -> i64 {
    fleetlog_collector::now_ms()
}

fn audit(action: &'static str) -> AuditEntry {
    AuditEntry::new(&Principal::cli("test"), None, action, "test")
}

async fn state(env: &Env) -> AppState {
    let mut flags = toml::Table::new();
    let dir = env.archive_dir.parent().unwrap().display().to_string();
    set_key(&mut flags, "data_dir", dir.into());
    set_key(&mut flags, "api.rate_limit_per_second", 1_000_000.into());
    set_key(&mut flags, "api.rate_limit_burst", 1_000_000.into());
    AppState::new(
        env.store.clone(),
        Arc::new(Metrics::default()),
        SecretStr::new(BOOTSTRAP),
        Arc::new(config::load(None, |_| None, flags).unwrap()),
        ModelSlot::default(),
    )
}

/// A session cookie for a new user with `role`, ending at `expires_ms`.
async fn session(state: &AppState, name: &str, role: Role, expires_ms: i64) -> String {
    let user = state
        .store
        .create_user(name, role, "unused-hash", audit("user.create"), now())
        .await
        .unwrap();
    let id = secret::random_hex(16);
    let s = secret::new_secret();
    state
        .store
        .create_session(
            NewSession {
                id: &id,
                secret_sha256: &secret::sha256_hex(&s),
                user_id: user.id,
                csrf_token: "csrf",
                expires_ms,
            },
            audit("auth.login"),
            now(),
        )
        .await
        .unwrap();
    secret::format_session(&id, &s)
}

struct Page {
    status: StatusCode,
    location: String,
    csp: String,
    body: String,
}

async fn get(state: &AppState, uri: &str, cookie: Option<&str>) -> Page {
    let mut req = Request::get(uri);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, format!("fleetlog_session={c}"));
    }
    let resp = api::router(state.clone())
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    let h = |n: header::HeaderName| {
        parts
            .headers
            .get(n)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (status, location, csp) = (
        parts.status,
        h(header::LOCATION),
        h(header::CONTENT_SECURITY_POLICY),
    );
    let bytes = axum::body::to_bytes(body, 1 << 22).await.unwrap();
    Page {
        status,
        location,
        csp,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

async fn seed(state: &AppState) -> i64 {
    let t0 = now() - 120_000;
    let entries = (0..30)
        .map(|i| {
            if i % 3 == 0 {
                entry(t0 + i64::from(i) * 1000, 0, EVIL, Level::Error)
            } else {
                entry(
                    t0 + i64::from(i) * 1000,
                    1,
                    &format!("info sale {i}"),
                    Level::Info,
                )
            }
        })
        .collect();
    let (batch, payload) = make_batch("agent-web", 1, entries);
    state
        .store
        .ingest(HOST, &batch, &payload, now())
        .await
        .unwrap();
    let events = state.store.events(&Default::default(), 1).await.unwrap();
    events[0].id
}

/// Two model versions (the first active) and a queued S3 scan with an `<evil>` prefix.
async fn seed_page7(state: &AppState) -> i64 {
    for n in 1..=2u64 {
        let bytes = format!("{{\"v\": {n}}}").into_bytes();
        let m = state
            .store
            .add_model(
                &NewModel {
                    content_hash: n,
                    bytes,
                    source: ModelSource::Upload,
                    source_detail: format!("register-{n}.log <i>"),
                    created_by: "ada".to_owned(),
                    templates: 10 * n,
                    summary: serde_json::json!({}),
                    job_id: None,
                },
                audit("model.create"),
                now(),
            )
            .await
            .unwrap();
        if n == 1 {
            state
                .store
                .activate_model(m.id, audit("model.activate"), now())
                .await
                .unwrap();
        }
    }
    let scan = NewScan {
        bucket: "store-logs".to_owned(),
        prefix: "pos/<evil>/".to_owned(),
        start_after: None,
        modified_after_ms: None,
        modified_before_ms: None,
        source: None,
        analyst: "ann".to_owned(),
    };
    let audit = audit("s3.scan.create");
    state
        .store
        .s3_create_scan(&scan, Some(&audit), now())
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn pages_by_role_with_csp_and_login_redirects() {
    on_all_backends(|env| async move {
        let state = state(&env).await;
        let event_id = seed(&state).await;
        let scan_id = seed_page7(&state).await;
        let host_url = format!("/hosts/{}", HOST.replace('<', "%3C").replace('>', "%3E"));
        let pages: Vec<(&str, String)> = vec![
            ("fleet", "/".to_owned()),
            (
                "fleet filtered",
                "/?state=unknown&label=region:north".to_owned(),
            ),
            ("host", host_url.clone()),
            ("host 24h", format!("{host_url}?range=24h&q=payment")),
            ("stream", "/stream?severity=error".to_owned()),
            ("event", format!("/events/{event_id}")),
            ("incidents", "/incidents?status=open".to_owned()),
            ("alerts", "/alerts".to_owned()),
            ("training", "/training".to_owned()),
            ("s3", "/s3".to_owned()),
            ("s3 scan", format!("/s3/scans/{scan_id}?status=pending")),
            ("admin", "/admin".to_owned()),
        ];

        // No session: every page sends the user to sign in, and back here after.
        for (name, url) in &pages {
            let p = get(&state, url, None).await;
            assert_eq!(p.status, StatusCode::SEE_OTHER, "{name} without a session");
            let next = url
                .replace('/', "%2F")
                .replace('?', "%3F")
                .replace('=', "%3D");
            assert!(
                p.location.starts_with("/login?next="),
                "{name}: {}",
                p.location
            );
            assert!(
                p.location.contains(&next[..next.len().min(12)]),
                "{name}: {}",
                p.location
            );
        }
        let login = get(&state, "/login?next=%2F%2Fevil.example", None).await;
        assert_eq!(login.status, StatusCode::OK);
        assert!(login.body.contains("data-next=\"/\""), "{}", login.body);
        assert!(
            login.csp.contains("default-src 'self'") && login.csp.contains("script-src 'self'")
        );
        assert!(!login.csp.contains("unsafe-inline"));

        let admin = session(&state, "ada", Role::Admin, now() + 3_600_000).await;
        let analyst = session(&state, "ann", Role::Analyst, now() + 3_600_000).await;
        let viewer = session(&state, "vic", Role::Viewer, now() + 3_600_000).await;
        for (role, cookie) in [
            ("admin", &admin),
            ("analyst", &analyst),
            ("viewer", &viewer),
        ] {
            for (name, url) in &pages {
                let p = get(&state, url, Some(cookie)).await;
                let want = if *name == "admin" && role != "admin" {
                    StatusCode::FORBIDDEN
                } else {
                    StatusCode::OK
                };
                assert_eq!(p.status, want, "{role} {name}: {}", p.body);
                assert!(
                    p.csp.contains("default-src 'self'"),
                    "{role} {name}: CSP {}",
                    p.csp
                );
                assert!(
                    p.body.len() < 300 * 1024,
                    "{role} {name}: {} bytes",
                    p.body.len()
                );
                assert!(
                    !p.body.contains("<script>alert(1)"),
                    "{role} {name}: unescaped"
                );
                assert!(!p.body.contains(" style="), "{role} {name}: inline style");
                if role == "viewer" {
                    assert!(
                        !p.body.contains("class=\"act"),
                        "{role} {name}: an action button"
                    );
                }
                if p.status == StatusCode::OK {
                    assert_eq!(
                        p.body.contains("href=\"/admin\""),
                        role == "admin",
                        "{role} {name}: Admin tab"
                    );
                }
            }
        }
        // What the pages show.
        let fleet = get(&state, "/", Some(&viewer)).await.body;
        assert!(fleet.contains("pos-&#60;b&#62;1"), "{fleet}");
        assert!(fleet.contains("<svg class=\"spark\""), "{fleet}");
        let host = get(&state, &host_url, Some(&viewer)).await.body;
        assert_eq!(host.matches("<svg class=\"chart\"").count(), 3);
        assert!(host.contains("&#60;script&#62;alert(1)"), "{host}");
        let event = get(&state, &format!("/events/{event_id}"), Some(&viewer))
            .await
            .body;
        assert!(event.contains("class=\"hit"), "{event}");
        // Page 7: forms for analysts, activation for admins, neither for viewers.
        for (role, cookie, forms, activate, cancel) in [
            ("admin", &admin, true, true, true),
            ("analyst", &analyst, true, false, true),
            ("viewer", &viewer, false, false, false),
        ] {
            let training = get(&state, "/training", Some(cookie)).await.body;
            assert_eq!(
                training.contains("id=\"upload-form\"") && training.contains("id=\"window-form\""),
                forms,
                "{role} training forms"
            );
            assert!(training.contains("src=\"/assets/training.js\""), "{role}");
            // v1 is active: v2 can be activated, v1 is not offered again.
            assert_eq!(
                training.contains(">Activate v2</button>"),
                activate,
                "{role} activate"
            );
            assert!(!training.contains("Activate v1"), "{role}");
            assert!(training.contains("register-2.log &#60;i&#62;"), "{role}");
            let s3 = get(&state, "/s3", Some(cookie)).await.body;
            assert_eq!(s3.contains("id=\"scan-form\""), forms, "{role} scan form");
            assert_eq!(
                s3.contains(&format!("/api/v1/s3/scans/{scan_id}/cancel")),
                cancel,
                "{role} cancel"
            );
            assert!(s3.contains("s3://store-logs/pos/&#60;evil&#62;/"), "{role}");
            // A queued scan refreshes quickly.
            assert!(s3.contains("data-refresh=\"2\""), "{role}");
        }
        let training = get(&state, "/training", Some(&admin)).await.body;
        // No active job: the live region refreshes slowly.
        assert!(training.contains("data-refresh=\"30\""), "{training}");
        let detail = get(&state, &format!("/s3/scans/{scan_id}"), Some(&viewer))
            .await
            .body;
        assert!(detail.contains("No objects yet."), "{detail}");
        assert_eq!(
            get(&state, "/s3/scans/999999", Some(&viewer)).await.status,
            StatusCode::NOT_FOUND
        );

        // The host page's raw-line search runs on the server over the archived lines.
        let found = get(&state, &format!("{host_url}?q=PAYMENT"), Some(&viewer))
            .await
            .body;
        assert!(
            found.contains("10 matching lines (newest first) among the 30 lines read"),
            "{found}"
        );
        assert!(found.contains("reached the oldest stored line"), "{found}");
        assert!(!found.contains("info sale"), "{found}");
        assert!(
            !found.contains("id=\"tail\""),
            "no live tail while searching"
        );
        let none = get(&state, &format!("{host_url}?q=no-such-text"), Some(&viewer))
            .await
            .body;
        assert!(none.contains("0 matching lines"), "{none}");

        let admin_page = get(&state, "/admin", Some(&admin)).await.body;
        assert!(admin_page.contains("token-form") && admin_page.contains("ada"));

        // Errors are pages too; an expired session goes back to login.
        let missing = get(&state, "/hosts/no-such-host", Some(&viewer)).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert!(
            missing.body.contains("<h1>404 Not Found</h1>"),
            "{}",
            missing.body
        );
        let bad = get(&state, "/incidents?status=bogus", Some(&viewer)).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        let expired = session(&state, "old", Role::Admin, now() - 1).await;
        let p = get(&state, "/alerts?state=firing", Some(&expired)).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        assert_eq!(p.location, "/login?next=%2Falerts%3Fstate%3Dfiring");

        // Assets are embedded and typed.
        for (file, ctype) in [
            ("app.js", "text/javascript"),
            ("training.js", "text/javascript"),
            ("app.css", "text/css"),
        ] {
            let resp = api::router(state.clone())
                .oneshot(
                    Request::get(format!("/assets/{file}"))
                        .body(Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            let ct = resp.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .to_owned();
            assert!(ct.starts_with(ctype), "{file}: {ct}");
        }
        assert_eq!(
            get(&state, "/assets/nope.js", None).await.status,
            StatusCode::NOT_FOUND
        );
    })
    .await;
}
