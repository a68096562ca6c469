//! The API's one auth layer, tested against the router on SQLite and PostgreSQL:
//! every registered route × every role × every kind of bad credential gets the status
//! its role table says, and the table must name every route of the OpenAPI document, so
//! a route added without a role check (or without documentation) fails here.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use fleetlog_collector::api::{self, AppState, openapi};
use fleetlog_collector::auth::secret::{self, SecretStr};
use fleetlog_collector::auth::{Principal, Role, password};
use fleetlog_collector::config::{self, set_key};
use fleetlog_collector::ingest::model::ModelSlot;
use fleetlog_collector::metrics::Metrics;
use fleetlog_collector::store::Store;
use fleetlog_collector::store::audit::AuditEntry;
use fleetlog_collector::store::auth::{NewSession, UserChange};
use tower::ServiceExt;

use common::{Env, on_all_backends};

const BOOTSTRAP: &str = "bootstrap-admin-token-for-tests";
const PASSWORD: &str = "correct horse battery";

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Access {
    Public,
    Min(Role),
    /// No user credential: a shared-secret signature (S3 events); refused without it.
    Signed,
}

/// Every `/api/v1` route and the least role it needs. A new route must be added here.
const ROUTES: &[(&str, &str, Access)] = &[
    ("POST", "/api/v1/auth/login", Access::Public),
    ("POST", "/api/v1/auth/logout", Access::Min(Role::Viewer)),
    ("GET", "/api/v1/auth/me", Access::Min(Role::Viewer)),
    ("GET", "/api/v1/users", Access::Min(Role::Admin)),
    ("POST", "/api/v1/users", Access::Min(Role::Admin)),
    ("PATCH", "/api/v1/users/{id}", Access::Min(Role::Admin)),
    ("GET", "/api/v1/tokens", Access::Min(Role::Admin)),
    ("POST", "/api/v1/tokens", Access::Min(Role::Admin)),
    ("DELETE", "/api/v1/tokens/{id}", Access::Min(Role::Admin)),
    (
        "GET",
        "/api/v1/agents/enrollments",
        Access::Min(Role::Admin),
    ),
    (
        "PUT",
        "/api/v1/agents/{agent_id}/revocation",
        Access::Min(Role::Admin),
    ),
    (
        "DELETE",
        "/api/v1/agents/{agent_id}/revocation",
        Access::Min(Role::Admin),
    ),
    (
        "DELETE",
        "/api/v1/agents/{agent_id}/enrollment",
        Access::Min(Role::Admin),
    ),
    ("GET", "/api/v1/audit", Access::Min(Role::Admin)),
    ("GET", "/api/v1/classes", Access::Min(Role::Viewer)),
    ("PUT", "/api/v1/classes/{id}/fix", Access::Min(Role::Admin)),
    (
        "DELETE",
        "/api/v1/classes/{id}/fix",
        Access::Min(Role::Admin),
    ),
    ("GET", "/api/v1/events", Access::Min(Role::Viewer)),
    ("GET", "/api/v1/events/{id}", Access::Min(Role::Viewer)),
    ("POST", "/api/v1/commands", Access::Min(Role::Viewer)),
    ("GET", "/api/v1/fleet", Access::Min(Role::Viewer)),
    ("GET", "/api/v1/hosts", Access::Min(Role::Viewer)),
    ("GET", "/api/v1/hosts/{name}", Access::Min(Role::Viewer)),
    (
        "GET",
        "/api/v1/hosts/{name}/health",
        Access::Min(Role::Viewer),
    ),
    (
        "GET",
        "/api/v1/hosts/{name}/services/{service}/health",
        Access::Min(Role::Viewer),
    ),
    ("GET", "/api/v1/incidents", Access::Min(Role::Viewer)),
    ("GET", "/api/v1/incidents/{id}", Access::Min(Role::Viewer)),
    (
        "POST",
        "/api/v1/incidents/{id}/resolve",
        Access::Min(Role::Analyst),
    ),
    ("GET", "/api/v1/patterns", Access::Min(Role::Viewer)),
    ("GET", "/api/v1/lines", Access::Min(Role::Viewer)),
    ("GET", "/api/v1/tickets", Access::Min(Role::Viewer)),
    ("GET", "/api/v1/automation", Access::Min(Role::Admin)),
    ("PUT", "/api/v1/automation", Access::Min(Role::Admin)),
    (
        "GET",
        "/api/v1/automation/decisions",
        Access::Min(Role::Viewer),
    ),
    ("GET", "/api/v1/jira/status", Access::Min(Role::Analyst)),
    ("GET", "/api/v1/models", Access::Min(Role::Viewer)),
    ("GET", "/api/v1/models/{id}", Access::Min(Role::Viewer)),
    (
        "POST",
        "/api/v1/models/{id}/activate",
        Access::Min(Role::Admin),
    ),
    (
        "POST",
        "/api/v1/training/uploads",
        Access::Min(Role::Analyst),
    ),
    (
        "POST",
        "/api/v1/training/windows",
        Access::Min(Role::Analyst),
    ),
    ("POST", "/api/v1/training/s3", Access::Min(Role::Analyst)),
    ("GET", "/api/v1/training/jobs", Access::Min(Role::Viewer)),
    (
        "GET",
        "/api/v1/training/jobs/{id}",
        Access::Min(Role::Viewer),
    ),
    (
        "POST",
        "/api/v1/training/jobs/{id}/cancel",
        Access::Min(Role::Analyst),
    ),
    ("GET", "/api/v1/alerts", Access::Min(Role::Viewer)),
    ("GET", "/api/v1/stream", Access::Min(Role::Viewer)),
    ("GET", "/api/v1/ws", Access::Min(Role::Viewer)),
    ("GET", "/api/v1/alerts/history", Access::Min(Role::Viewer)),
    (
        "POST",
        "/api/v1/alerts/{id}/ack",
        Access::Min(Role::Analyst),
    ),
    ("GET", "/api/v1/rules", Access::Min(Role::Viewer)),
    ("POST", "/api/v1/rules", Access::Min(Role::Admin)),
    ("GET", "/api/v1/rules/{id}", Access::Min(Role::Viewer)),
    ("PATCH", "/api/v1/rules/{id}", Access::Min(Role::Admin)),
    ("DELETE", "/api/v1/rules/{id}", Access::Min(Role::Admin)),
    ("GET", "/api/v1/silences", Access::Min(Role::Viewer)),
    ("POST", "/api/v1/silences", Access::Min(Role::Analyst)),
    (
        "DELETE",
        "/api/v1/silences/{id}",
        Access::Min(Role::Analyst),
    ),
    ("GET", "/api/v1/channels", Access::Min(Role::Admin)),
    ("POST", "/api/v1/channels", Access::Min(Role::Admin)),
    ("GET", "/api/v1/channels/{id}", Access::Min(Role::Admin)),
    ("PATCH", "/api/v1/channels/{id}", Access::Min(Role::Admin)),
    ("DELETE", "/api/v1/channels/{id}", Access::Min(Role::Admin)),
    (
        "POST",
        "/api/v1/channels/{id}/test",
        Access::Min(Role::Admin),
    ),
    (
        "GET",
        "/api/v1/channels/{id}/deliveries",
        Access::Min(Role::Admin),
    ),
    ("GET", "/api/v1/openapi.json", Access::Public),
    ("GET", "/api/v1/s3/scans", Access::Min(Role::Viewer)),
    ("POST", "/api/v1/s3/scans", Access::Min(Role::Analyst)),
    ("GET", "/api/v1/s3/scans/{id}", Access::Min(Role::Viewer)),
    (
        "POST",
        "/api/v1/s3/scans/{id}/cancel",
        Access::Min(Role::Analyst),
    ),
    ("GET", "/api/v1/s3/sources", Access::Min(Role::Admin)),
    ("POST", "/api/v1/s3/events", Access::Signed),
];

/// A credential a request can carry.
#[derive(Debug, Clone)]
enum Cred {
    None,
    Header(String),
    /// A session of this user id, made fresh for each request; with or without CSRF.
    Session {
        user_id: i64,
        csrf: bool,
    },
    /// A cookie that names no valid session.
    Cookie(String),
}

struct Fixture {
    state: AppState,
    /// (label, credential, role it should act with; None = must get 401)
    creds: Vec<(String, Cred, Option<Role>)>,
}

async fn app_state(env: &Env) -> AppState {
    let mut flags = toml::Table::new();
    let dir = env.archive_dir.parent().unwrap().display().to_string();
    set_key(&mut flags, "data_dir", dir.into());
    set_key(&mut flags, "api.rate_limit_per_second", 1_000_000.into());
    set_key(&mut flags, "api.rate_limit_burst", 1_000_000.into());
    let cfg = config::load(None, |_| None, flags).unwrap();
    AppState::new(
        env.store.clone(),
        Arc::new(Metrics::default()),
        SecretStr::new(BOOTSTRAP),
        Arc::new(cfg),
        ModelSlot::default(),
    )
}

fn cli() -> Principal {
    Principal::cli("test")
}

fn audit(action: &'static str) -> AuditEntry {
    AuditEntry::new(&cli(), None, action, "test")
}

async fn user(store: &Store, name: &str, role: Role, hash: &str) -> i64 {
    store
        .create_user(name, role, hash, audit("user.create"), now())
        .await
        .unwrap()
        .id
}

async fn token(store: &Store, role: Role, owner: Option<i64>) -> String {
    let s = secret::new_secret();
    let t = store
        .create_token(
            "t",
            role,
            owner,
            "test",
            &secret::sha256_hex(&s),
            audit("token.create"),
            now(),
        )
        .await
        .unwrap();
    secret::format_token(t.id, &s)
}

fn now() -> i64 {
    fleetlog_collector::now_ms()
}

async fn fixture(env: &Env) -> Fixture {
    let state = app_state(env).await;
    let store = &state.store;
    let hash = password::hash(PASSWORD).unwrap();
    let admin = user(store, "admin1", Role::Admin, &hash).await;
    let analyst = user(store, "analyst1", Role::Analyst, &hash).await;
    let viewer = user(store, "viewer1", Role::Viewer, &hash).await;
    let gone = user(store, "disabled1", Role::Admin, &hash).await;

    let revoked = token(store, Role::Admin, Some(admin)).await;
    let revoked_id = secret::parse_token(&revoked).unwrap().0;
    store
        .revoke_token(revoked_id, audit("token.revoke"), now())
        .await
        .unwrap();
    let gone_token = token(store, Role::Admin, Some(gone)).await;
    let gone_session = session(store, gone, now() + 3_600_000).await;
    store
        .update_user(
            gone,
            UserChange {
                disabled: Some(true),
                ..Default::default()
            },
            audit("user.update"),
            now(),
        )
        .await
        .unwrap();
    let expired = session(store, admin, now() - 1).await;
    let valid_token = token(store, Role::Admin, Some(admin)).await;
    let (vid, _) = secret::parse_token(&valid_token).unwrap();

    let bearer = |t: &str| Cred::Header(format!("Bearer {t}"));
    let creds = vec![
        ("no credentials".into(), Cred::None, None),
        (
            "not bearer".into(),
            Cred::Header("Basic YWRtaW46eA==".into()),
            None,
        ),
        ("garbage token".into(), bearer("garbage"), None),
        (
            "wrong secret".into(),
            bearer(&secret::format_token(vid, "00ff")),
            None,
        ),
        (
            "unknown token id".into(),
            bearer(&secret::format_token(9_999_999, "00ff")),
            None,
        ),
        ("revoked token".into(), bearer(&revoked), None),
        ("token of a disabled user".into(), bearer(&gone_token), None),
        (
            "session of a disabled user".into(),
            Cred::Cookie(gone_session),
            None,
        ),
        ("expired session".into(), Cred::Cookie(expired), None),
        (
            "forged cookie".into(),
            Cred::Cookie("abcd.ef01".into()),
            None,
        ),
        (
            "viewer token".into(),
            bearer(&token(store, Role::Viewer, Some(viewer)).await),
            Some(Role::Viewer),
        ),
        (
            "analyst token".into(),
            bearer(&token(store, Role::Analyst, Some(analyst)).await),
            Some(Role::Analyst),
        ),
        (
            "admin token".into(),
            bearer(&valid_token),
            Some(Role::Admin),
        ),
        (
            "bootstrap token".into(),
            bearer(BOOTSTRAP),
            Some(Role::Admin),
        ),
        (
            "viewer session".into(),
            Cred::Session {
                user_id: viewer,
                csrf: true,
            },
            Some(Role::Viewer),
        ),
        (
            "analyst session".into(),
            Cred::Session {
                user_id: analyst,
                csrf: true,
            },
            Some(Role::Analyst),
        ),
        (
            "admin session".into(),
            Cred::Session {
                user_id: admin,
                csrf: true,
            },
            Some(Role::Admin),
        ),
    ];
    Fixture { state, creds }
}

/// Stores a session for `user_id` and returns its cookie value; its CSRF token is
/// `csrf-<cookie>` so a request can find it.
async fn session(store: &Store, user_id: i64, expires_ms: i64) -> String {
    let id = secret::random_hex(16);
    let s = secret::new_secret();
    let cookie = secret::format_session(&id, &s);
    store
        .create_session(
            NewSession {
                id: &id,
                secret_sha256: &secret::sha256_hex(&s),
                user_id,
                csrf_token: &format!("csrf-{cookie}"),
                expires_ms,
            },
            audit("auth.login"),
            now(),
        )
        .await
        .unwrap();
    cookie
}

async fn call(
    state: &AppState,
    method: &str,
    path: &str,
    cred: &Cred,
    body: Option<&str>,
) -> (StatusCode, String) {
    let mut req = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(path);
    match cred {
        Cred::None => {}
        Cred::Header(v) => req = req.header(header::AUTHORIZATION, v),
        Cred::Cookie(c) => req = req.header(header::COOKIE, format!("fleetlog_session={c}")),
        Cred::Session { user_id, csrf } => {
            let c = session(&state.store, *user_id, now() + 3_600_000).await;
            req = req.header(header::COOKIE, format!("fleetlog_session={c}"));
            if *csrf {
                req = req.header("x-csrf-token", format!("csrf-{c}"));
            }
        }
    }
    let req = match body {
        Some(b) => req
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(b.to_owned())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let resp = api::router(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    // A live stream never ends: its status and headers are the answer.
    if resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
    {
        return (status, String::new());
    }
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn concrete(path: &str) -> String {
    path.replace("{id}", "987654")
        .replace("{name}", "no-such-host")
        .replace("{service}", "no-such-service")
        .replace("{agent_id}", "no-such-agent")
}

#[tokio::test]
async fn every_route_checks_its_role_for_every_credential() {
    // The table covers exactly the documented routes.
    let doc = serde_json::to_value(openapi()).unwrap();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let table: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(
        documented, table,
        "ROUTES must list every documented route, and every route must be documented"
    );

    on_all_backends(|env: Env| async move {
        let fx = fixture(&env).await;
        let mut checked = 0;
        for &(method, path, access) in ROUTES {
            let body = matches!(method, "POST" | "PATCH" | "PUT").then_some("{}");
            for (label, cred, acts_as) in &fx.creds {
                let (status, text) = call(&fx.state, method, &concrete(path), cred, body).await;
                let ctx = format!(
                    "{} {method} {path} with {label}: {status} {text}",
                    env.backend
                );
                assert!(!text.contains("route not found"), "not routed: {ctx}");
                assert!(status != StatusCode::INTERNAL_SERVER_ERROR, "{ctx}");
                match (access, acts_as) {
                    (Access::Public, _) => assert!(
                        status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                        "{ctx}"
                    ),
                    (Access::Min(_), None) => assert_eq!(status, StatusCode::UNAUTHORIZED, "{ctx}"),
                    // Unsigned: 401, or 403 when no secret is configured; never served.
                    (Access::Signed, _) => assert!(
                        status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN,
                        "{ctx}"
                    ),
                    (Access::Min(min), Some(role)) if *role < min => {
                        assert_eq!(status, StatusCode::FORBIDDEN, "{ctx}")
                    }
                    (Access::Min(_), Some(_)) => assert!(
                        status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                        "{ctx}"
                    ),
                }
                checked += 1;
            }
        }
        eprintln!(
            "{}: {checked} route × credential checks passed",
            env.backend
        );
    })
    .await;
}

#[tokio::test]
async fn cookie_requests_that_change_state_need_the_csrf_token() {
    on_all_backends(|env: Env| async move {
        let state = app_state(&env).await;
        let hash = password::hash(PASSWORD).unwrap();
        let admin = user(&state.store, "admin1", Role::Admin, &hash).await;
        let without = Cred::Session {
            user_id: admin,
            csrf: false,
        };
        let with = Cred::Session {
            user_id: admin,
            csrf: true,
        };
        let body = Some(r#"{"name":"ci","role":"viewer"}"#);
        let (s, t) = call(&state, "POST", "/api/v1/tokens", &without, body).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{t}");
        assert!(t.contains("X-CSRF-Token"), "{t}");
        let (s, _) = call(&state, "POST", "/api/v1/tokens", &with, body).await;
        assert_eq!(s, StatusCode::CREATED);
        // Reads need no CSRF token.
        let (s, _) = call(&state, "GET", "/api/v1/tokens", &without, None).await;
        assert_eq!(s, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn login_sets_a_strict_cookie_and_locks_out_after_repeated_failures() {
    on_all_backends(|env: Env| async move {
        let state = app_state(&env).await;
        let hash = password::hash(PASSWORD).unwrap();
        user(&state.store, "alice", Role::Analyst, &hash).await;

        let good = format!(r#"{{"username":"alice","password":"{PASSWORD}"}}"#);
        let req = Request::post("/api/v1/auth/login")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(good.clone()))
            .unwrap();
        let resp = api::router(state.clone()).oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let cookie = resp.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(cookie.starts_with("fleetlog_session="), "{cookie}");
        for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(cookie.contains(attr), "{cookie}");
        }
        assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
        let body: serde_json::Value = serde_json::from_slice(
            &axum::body::to_bytes(resp.into_body(), 1 << 20)
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(body["user"]["role"], "analyst");
        let csrf = body["csrf_token"].as_str().unwrap().to_owned();
        let value = cookie
            .split(';')
            .next()
            .unwrap()
            .trim_start_matches("fleetlog_session=");
        let (s, t) = call(
            &state,
            "GET",
            "/api/v1/auth/me",
            &Cred::Cookie(value.to_owned()),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{t}");
        assert!(t.contains(&csrf) && t.contains("\"session\""), "{t}");

        // Wrong passwords: 401 until the per-user limit (5), then 429 with Retry-After,
        // even for the right password.
        let bad = r#"{"username":"alice","password":"wrong password"}"#;
        let mut statuses = Vec::new();
        for _ in 0..7 {
            statuses.push(
                call(&state, "POST", "/api/v1/auth/login", &Cred::None, Some(bad))
                    .await
                    .0
                    .as_u16(),
            );
        }
        eprintln!(
            "{}: wrong-password attempts answered {statuses:?}",
            env.backend
        );
        assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429]);
        let req = Request::post("/api/v1/auth/login")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(good))
            .unwrap();
        let resp = api::router(state.clone()).oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = resp.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=900).contains(&retry), "{retry}");

        // Unknown users are refused like wrong passwords, and audited without the password.
        let (s, _) = call(
            &state,
            "POST",
            "/api/v1/auth/login",
            &Cred::None,
            Some(r#"{"username":"mallory","password":"p4ssw0rd-guess"}"#),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (_, audit) = call(
            &state,
            "GET",
            "/api/v1/audit?action=auth.",
            &Cred::Header(format!("Bearer {BOOTSTRAP}")),
            None,
        )
        .await;
        assert!(
            audit.contains("auth.login_failed") && audit.contains("user:mallory"),
            "{audit}"
        );
        assert!(
            !audit.contains("p4ssw0rd-guess") && !audit.contains("wrong password"),
            "{audit}"
        );
    })
    .await;
}

#[tokio::test]
async fn tokens_are_capped_by_their_owner_and_changes_are_audited() {
    on_all_backends(|env: Env| async move {
        let state = app_state(&env).await;
        let hash = password::hash(PASSWORD).unwrap();
        let boot = Cred::Header(format!("Bearer {BOOTSTRAP}"));
        // The bootstrap token creates the first admin through the API.
        let (s, t) = call(
            &state,
            "POST",
            "/api/v1/users",
            &boot,
            Some(&format!(
                r#"{{"name":"root1","role":"admin","password":"{PASSWORD}"}}"#
            )),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
        let root: serde_json::Value = serde_json::from_str(&t).unwrap();
        let root_id = root["id"].as_i64().unwrap();
        let bob = user(&state.store, "bob", Role::Admin, &hash).await;

        // Bob (admin, by session) creates an admin token; the secret is shown once.
        let bob_session = Cred::Session {
            user_id: bob,
            csrf: true,
        };
        let (s, t) = call(
            &state,
            "POST",
            "/api/v1/tokens",
            &bob_session,
            Some(r#"{"name":"ci export","role":"admin"}"#),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
        let created: serde_json::Value = serde_json::from_str(&t).unwrap();
        let secret_token = created["token"].as_str().unwrap().to_owned();
        let bob_token = Cred::Header(format!("Bearer {secret_token}"));
        let (s, _) = call(&state, "GET", "/api/v1/users", &bob_token, None).await;
        assert_eq!(s, StatusCode::OK);
        let (_, list) = call(&state, "GET", "/api/v1/tokens", &boot, None).await;
        assert!(
            list.contains("ci export") && !list.contains(&secret_token),
            "{list}"
        );

        // Demoting Bob caps his token at viewer at once.
        let (s, t) = call(
            &state,
            "PATCH",
            &format!("/api/v1/users/{bob}"),
            &boot,
            Some(r#"{"role":"viewer"}"#),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{t}");
        let (s, _) = call(&state, "GET", "/api/v1/users", &bob_token, None).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = call(&state, "GET", "/api/v1/hosts", &bob_token, None).await;
        assert_eq!(s, StatusCode::OK);

        // An admin may not demote or disable themselves.
        let root_session = Cred::Session {
            user_id: root_id,
            csrf: true,
        };
        let (s, _) = call(
            &state,
            "PATCH",
            &format!("/api/v1/users/{root_id}"),
            &root_session,
            Some(r#"{"disabled":true}"#),
        )
        .await;
        assert_eq!(s, StatusCode::CONFLICT);

        // Revoking works at once; audit rows name actor, action, target, never a secret.
        let id = created["id"].as_i64().unwrap();
        let (s, _) = call(
            &state,
            "DELETE",
            &format!("/api/v1/tokens/{id}"),
            &boot,
            None,
        )
        .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, _) = call(&state, "GET", "/api/v1/hosts", &bob_token, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (_, audit) = call(&state, "GET", "/api/v1/audit?limit=50", &boot, None).await;
        let audit_v: serde_json::Value = serde_json::from_str(&audit).unwrap();
        let actions: Vec<(String, String, String)> = audit_v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["actor"].as_str().unwrap().to_owned(),
                    e["action"].as_str().unwrap().to_owned(),
                    e["target"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        for expected in [
            ("bootstrap", "user.create", "user:root1"),
            ("bob", "token.create", &*format!("token:{id}")),
            ("bootstrap", "user.update", &*format!("user:{bob}")),
            ("bootstrap", "token.revoke", &*format!("token:{id}")),
        ] {
            assert!(
                actions
                    .iter()
                    .any(|(a, b, c)| a == expected.0 && b == expected.1 && c == expected.2),
                "{expected:?} missing from {actions:?}"
            );
        }
        assert!(
            audit.contains(r#""role":"viewer""#) && audit.contains(r#""role":"admin""#),
            "before/after: {audit}"
        );
        for secret_text in [PASSWORD, secret_token.as_str(), BOOTSTRAP, "argon2"] {
            assert!(
                !audit.contains(secret_text),
                "audit holds a secret: {secret_text}"
            );
        }

        // Paging: limit 1 walks the trail newest first without repeats.
        let mut seen = BTreeSet::new();
        let mut cursor = String::new();
        loop {
            let (s, t) = call(
                &state,
                "GET",
                &format!("/api/v1/audit?limit=1{cursor}"),
                &boot,
                None,
            )
            .await;
            assert_eq!(s, StatusCode::OK);
            let v: serde_json::Value = serde_json::from_str(&t).unwrap();
            for e in v["entries"].as_array().unwrap() {
                assert!(seen.insert(e["id"].as_i64().unwrap()));
            }
            match v["next_cursor"].as_str() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen.len(), audit_v["entries"].as_array().unwrap().len());
    })
    .await;
}

#[tokio::test]
async fn commands_answer_and_reload_needs_admin() {
    on_all_backends(|env: Env| async move {
        let state = app_state(&env).await;
        let viewer = token(&state.store, Role::Viewer, None).await;
        let analyst = token(&state.store, Role::Analyst, None).await;
        let v = Cred::Header(format!("Bearer {viewer}"));
        let a = Cred::Header(format!("Bearer {analyst}"));
        let boot = Cred::Header(format!("Bearer {BOOTSTRAP}"));
        let (s, t) = call(
            &state,
            "POST",
            "/api/v1/commands",
            &v,
            Some(r#"{"command":"/help"}"#),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{t}");
        assert!(
            t.contains("/stat [host]") && t.contains(r#""kind":"help""#),
            "{t}"
        );
        let (s, t) = call(
            &state,
            "POST",
            "/api/v1/commands",
            &v,
            Some(r#"{"command":"/stat"}"#),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{t}");
        assert!(t.contains(r#""scope":"fleet""#), "{t}");
        let (s, _) = call(
            &state,
            "POST",
            "/api/v1/commands",
            &v,
            Some(r#"{"command":"/stat nosuchhost"}"#),
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = call(
            &state,
            "POST",
            "/api/v1/commands",
            &v,
            Some(r#"{"command":"/rm -rf"}"#),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let (s, _) = call(
            &state,
            "POST",
            "/api/v1/commands",
            &a,
            Some(r#"{"command":"/reload"}"#),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, t) = call(
            &state,
            "POST",
            "/api/v1/commands",
            &boot,
            Some(r#"{"command":"/reload"}"#),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{t}");
        assert!(t.contains(r#""kind":"reload""#), "{t}");
    })
    .await;
}
