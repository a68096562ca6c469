//! The one auth layer: [`Auth<R>`] is the first extractor of every `/api/v1` handler.
//! It authenticates the request (bearer API token, the bootstrap `admin-token`, or the
//! session cookie), checks the CSRF token of cookie requests that change state, applies
//! the per-principal rate limit, and checks the route's minimum role `R` — in that order,
//! in this one place. Also the login, logout and "who am I" endpoints.

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiError;
use super::extract::{ClientAddr, Json};
use super::users::UserDto;
use crate::auth::limiter::{Limits, LoginLimiter};
use crate::auth::{Credential, Principal, Role, password, secret};
use crate::config::ApiConfig;
use crate::now_ms;
use crate::store::audit::AuditEntry;
use crate::store::auth::NewSession;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "fleetlog_session";
/// Header carrying the CSRF token on cookie requests that change state.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// `last_used_ms` of a token is written at most this often.
const TOKEN_TOUCH_INTERVAL_MS: i64 = 60_000;

/// A route's minimum role, as a type: `Auth<Viewer>`, `Auth<Analyst>`, `Auth<Admin>`.
pub trait MinRole: Send + Sync + 'static {
    const ROLE: Role;
}

/// Any signed-in principal.
#[derive(Debug)]
pub struct Viewer;
/// Analysts and admins.
#[derive(Debug)]
pub struct Analyst;
/// Admins only.
#[derive(Debug)]
pub struct Admin;

impl MinRole for Viewer {
    const ROLE: Role = Role::Viewer;
}
impl MinRole for Analyst {
    const ROLE: Role = Role::Analyst;
}
impl MinRole for Admin {
    const ROLE: Role = Role::Admin;
}

/// An authenticated, authorised request: who, from where.
#[derive(Debug)]
pub struct Auth<R> {
    pub principal: Principal,
    /// The client's IP address, for the audit trail.
    pub client: Option<String>,
    /// The session's CSRF token, when authenticated by cookie.
    pub csrf_token: Option<String>,
    _role: PhantomData<R>,
}

impl<R> Auth<R> {
    /// An audit entry for this principal doing `action` on `target`.
    pub fn audit(&self, action: &'static str, target: impl Into<String>) -> AuditEntry {
        AuditEntry::new(&self.principal, self.client.clone(), action, target)
    }

    /// The same checked credentials for a route needing role `R2` (the dashboard's pages
    /// call the REST handlers with it); 403 if the principal's role is below `R2`.
    pub(crate) fn with_role<R2: MinRole>(&self) -> Result<Auth<R2>, ApiError> {
        if !self.principal.may(R2::ROLE) {
            return Err(ApiError::Forbidden(format!(
                "this needs the {} role",
                R2::ROLE
            )));
        }
        Ok(Auth {
            principal: self.principal.clone(),
            client: self.client.clone(),
            csrf_token: self.csrf_token.clone(),
            _role: PhantomData,
        })
    }
}

/// Login lockout and request rate limits, one per process.
#[derive(Debug)]
pub struct AuthGuard {
    login: Mutex<LoginLimiter>,
    rate: DefaultKeyedRateLimiter<String>,
}

impl AuthGuard {
    pub fn new(cfg: &ApiConfig) -> AuthGuard {
        let per_second = NonZeroU32::new(cfg.rate_limit_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(cfg.rate_limit_burst).unwrap_or(NonZeroU32::MIN);
        AuthGuard {
            login: Mutex::new(LoginLimiter::default()),
            rate: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
        }
    }

    /// `Err` with the wait if `key` is over its request rate.
    fn check_rate(&self, key: &str) -> Result<(), Duration> {
        if self.rate.len() > 100_000 {
            self.rate.retain_recent();
        }
        self.rate
            .check_key(&key.to_owned())
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    fn login(&self) -> std::sync::MutexGuard<'_, LoginLimiter> {
        // The limiter's state is valid after any panic (plain counters).
        self.login.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<R: MinRole> FromRequestParts<AppState> for Auth<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let client = client_addr(parts);
        let (principal, csrf_token) = match authenticate(&parts.headers, state).await {
            Ok(found) => found,
            Err(err) => {
                state.metrics.api_reject("unauthorized");
                return Err(err);
            }
        };
        if let Credential::Session { .. } = principal.credential
            && !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS)
        {
            let presented = parts.headers.get(CSRF_HEADER).map(HeaderValue::as_bytes);
            let expected = csrf_token.as_deref().unwrap_or_default().as_bytes();
            if !presented.is_some_and(|p| secret::ct_eq(p, expected)) {
                state.metrics.api_reject("csrf");
                return Err(ApiError::Forbidden(
                    "a cookie-authenticated request that changes state must carry the \
                     X-CSRF-Token header from login"
                        .to_owned(),
                ));
            }
        }
        if let Err(wait) = state.guard.check_rate(&principal.rate_key()) {
            state.metrics.api_reject("rate_limited");
            return Err(ApiError::TooManyRequests {
                message: "request rate limit exceeded for this token".to_owned(),
                retry_after: wait,
            });
        }
        if !principal.may(R::ROLE) {
            state.metrics.api_reject("forbidden");
            return Err(ApiError::Forbidden(format!(
                "this needs the {} role; {} has {}",
                R::ROLE,
                principal.name,
                principal.role
            )));
        }
        Ok(Auth {
            principal,
            client,
            csrf_token,
            _role: PhantomData,
        })
    }
}

fn client_addr(parts: &Parts) -> Option<String> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
}

/// Who the request's credentials name, and the session's CSRF token if by cookie.
async fn authenticate(
    headers: &HeaderMap,
    state: &AppState,
) -> Result<(Principal, Option<String>), ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let presented = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(ApiError::Unauthorized)?;
        return bearer(presented, state).await.map(|p| (p, None));
    }
    let jar = CookieJar::from_headers(headers);
    if let Some(cookie) = jar.get(SESSION_COOKIE) {
        return session(cookie.value(), state).await;
    }
    Err(ApiError::Unauthorized)
}

async fn bearer(presented: &str, state: &AppState) -> Result<Principal, ApiError> {
    if secret::ct_eq(presented.as_bytes(), state.admin_token.expose().as_bytes()) {
        return Ok(Principal {
            user_id: None,
            name: "bootstrap".to_owned(),
            role: Role::Admin,
            credential: Credential::Bootstrap,
        });
    }
    let (id, secret_part) = secret::parse_token(presented).ok_or(ApiError::Unauthorized)?;
    let found = state
        .store
        .token_auth(id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if !secret::matches(secret_part, &found.secret_sha256) || found.token.revoked_ms.is_some() {
        return Err(ApiError::Unauthorized);
    }
    let role = match found.owner {
        Some((_, true)) => return Err(ApiError::Unauthorized),
        Some((owner_role, false)) => found.token.role.min(owner_role),
        None => found.token.role,
    };
    let now = now_ms();
    if found
        .token
        .last_used_ms
        .is_none_or(|t| now - t > TOKEN_TOUCH_INTERVAL_MS)
    {
        state.store.touch_token(id, now).await?;
    }
    Ok(Principal {
        user_id: found.token.owner_user_id,
        name: format!("token:{}", found.token.name),
        role,
        credential: Credential::Token { token_id: id },
    })
}

async fn session(value: &str, state: &AppState) -> Result<(Principal, Option<String>), ApiError> {
    let (id, secret_part) = secret::parse_session(value).ok_or(ApiError::Unauthorized)?;
    let found = state
        .store
        .session_auth(id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if !secret::matches(secret_part, &found.secret_sha256)
        || found.expires_ms <= now_ms()
        || found.user.disabled
    {
        return Err(ApiError::Unauthorized);
    }
    Ok((
        Principal {
            user_id: Some(found.user.id),
            name: found.user.name.clone(),
            role: found.user.role,
            credential: Credential::Session {
                session_id: found.session_id.clone(),
            },
        },
        Some(found.csrf_token),
    ))
}

/// Credentials for `POST /api/v1/auth/login`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    #[schema(format = Password)]
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A successful login: the session cookie is set; state-changing requests made with it
/// must send `csrf_token` in `X-CSRF-Token`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    pub csrf_token: String,
    pub user: UserDto,
    /// When the session ends (epoch ms).
    pub expires_ms: i64,
}

/// Who the credentials of this request name.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    /// User name, `token:<name>` or `bootstrap`.
    pub name: String,
    pub role: Role,
    /// `session`, `token` or `bootstrap`.
    pub credential: String,
    /// The user behind the request, if any.
    pub user: Option<UserDto>,
    /// The session's CSRF token (cookie requests only), so a reloaded page can act.
    pub csrf_token: Option<String>,
}

/// Signs in with a user name and password; sets the session cookie.
#[utoipa::path(
    post, path = "/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in; `Set-Cookie` carries the session", body = LoginResponse),
        (status = 401, description = "Wrong user name or password, or the user is disabled", body = super::error::ErrorBody),
        (status = 429, description = "Too many failed attempts for this user or address; see Retry-After", body = super::error::ErrorBody),
    ),
    security(())
)]
pub(super) async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Json(req): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let now = now_ms();
    let cfg = &state.api;
    let user_key = format!(
        "user:{}",
        req.username.chars().take(128).collect::<String>()
    );
    let addr_key = format!("addr:{}", addr.as_deref().unwrap_or("unknown"));
    {
        let limiter = state.guard.login();
        let locked = [&user_key, &addr_key]
            .into_iter()
            .filter_map(|k| limiter.check(k, now).err())
            .max();
        if let Some(retry_after) = locked {
            state.metrics.api_reject("login_locked");
            return Err(ApiError::TooManyRequests {
                message: "too many failed sign-in attempts; try again later".to_owned(),
                retry_after,
            });
        }
    }
    let found = state.store.login_user(&req.username).await?;
    let hash = found
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| password::dummy_hash().to_owned());
    let pw = req.password.clone();
    let verified = tokio::task::spawn_blocking(move || password::verify(&pw, &hash))
        .await
        .map_err(ApiError::internal)?;
    let user = match found {
        Some(u) if verified && !u.user.disabled => u.user,
        _ => {
            {
                let mut limiter = state.guard.login();
                let per_user = Limits {
                    max_failures: cfg.login_max_failures_per_user,
                    window: cfg.login_window,
                    lockout: cfg.login_lockout,
                };
                let per_addr = Limits {
                    max_failures: cfg.login_max_failures_per_address,
                    ..per_user
                };
                limiter.failure(&user_key, per_user, now);
                limiter.failure(&addr_key, per_addr, now);
            }
            state.metrics.api_reject("login_failed");
            let entry = AuditEntry {
                actor: req.username.chars().take(64).collect(),
                actor_role: "none".to_owned(),
                action: "auth.login_failed",
                target: format!("user:{}", req.username.chars().take(64).collect::<String>()),
                before: None,
                after: None,
                client_addr: addr.clone(),
            };
            state.store.audit_only(&entry, now).await?;
            return Err(ApiError::Unauthorized);
        }
    };
    {
        let mut limiter = state.guard.login();
        limiter.success(&user_key, now);
        limiter.success(&addr_key, now);
    }
    let session_id = secret::random_hex(16);
    let session_secret = secret::new_secret();
    let csrf = secret::random_hex(32);
    let ttl_ms = i64::try_from(cfg.session_ttl.as_millis()).unwrap_or(i64::MAX);
    let expires_ms = now.saturating_add(ttl_ms);
    let principal = Principal {
        user_id: Some(user.id),
        name: user.name.clone(),
        role: user.role,
        credential: Credential::Session {
            session_id: session_id.clone(),
        },
    };
    state
        .store
        .create_session(
            NewSession {
                id: &session_id,
                secret_sha256: &secret::sha256_hex(&session_secret),
                user_id: user.id,
                csrf_token: &csrf,
                expires_ms,
            },
            AuditEntry::new(
                &principal,
                addr,
                "auth.login",
                format!("user:{}", user.name),
            ),
            now,
        )
        .await?;
    let cookie = Cookie::build((
        SESSION_COOKIE,
        secret::format_session(&session_id, &session_secret),
    ))
    .http_only(true)
    .same_site(SameSite::Strict)
    .path("/")
    .secure(secure(cfg, &headers))
    .max_age(time::Duration::seconds(
        i64::try_from(cfg.session_ttl.as_secs()).unwrap_or(i64::MAX),
    ))
    .build();
    let body = LoginResponse {
        csrf_token: csrf,
        user: UserDto::from(user),
        expires_ms,
    };
    let mut response = axum::Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(response)
}

fn secure(cfg: &ApiConfig, headers: &HeaderMap) -> bool {
    cfg.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

/// Ends the session of this request (a no-op for API tokens) and clears the cookie.
#[utoipa::path(
    post, path = "/auth/logout", tag = "auth",
    responses((status = 204, description = "Signed out")),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn logout(
    State(state): State<AppState>,
    auth: Auth<Viewer>,
) -> Result<Response, ApiError> {
    if let Credential::Session { session_id } = &auth.principal.credential {
        let target = format!("user:{}", auth.principal.name);
        state
            .store
            .delete_session(session_id, auth.audit("auth.logout", target), now_ms())
            .await?;
    }
    let clear = Cookie::build((SESSION_COOKIE, ""))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .max_age(time::Duration::ZERO)
        .build();
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&clear.to_string()) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(response)
}

/// Who the credentials of this request name, with which role.
#[utoipa::path(
    get, path = "/auth/me", tag = "auth",
    responses((status = 200, description = "The caller", body = MeResponse)),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn me(
    State(state): State<AppState>,
    auth: Auth<Viewer>,
) -> Result<axum::Json<MeResponse>, ApiError> {
    let user = match auth.principal.user_id {
        Some(id) => state.store.user(id).await?.map(UserDto::from),
        None => None,
    };
    let credential = match auth.principal.credential {
        Credential::Session { .. } => "session",
        Credential::Token { .. } => "token",
        Credential::Bootstrap => "bootstrap",
        Credential::Cli => "cli",
    };
    Ok(axum::Json(MeResponse {
        name: auth.principal.name.clone(),
        role: auth.principal.role,
        credential: credential.to_owned(),
        user,
        csrf_token: auth.csrf_token.clone(),
    }))
}
