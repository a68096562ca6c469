//! Who is asking and what they may do: roles, principals, password and token hashing,
//! and the login lockout decider.
//!
//! Pure except `password` (argon2id is CPU-bound; callers run it on a blocking thread).
//! The HTTP side (`api::auth`) turns a request into a [`Principal`]; the store side
//! (`store::auth`) keeps users, tokens and sessions; every change writes an audit row
//! (`store::audit`) in the same transaction.

pub mod limiter;
pub mod password;
pub mod secret;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A role, ordered by power: every analyst may do what a viewer may, every admin what an
/// analyst may.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything except users, tokens and the audit trail.
    Viewer,
    /// Also acknowledges alerts, resolves incidents, trains models, starts scans.
    Analyst,
    /// Also manages users, tokens, channels, rules, automation and settings.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Analyst, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of admin, analyst, viewer.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown role `{0}` (expected admin, analyst or viewer)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Ok(Role::Viewer),
            "analyst" => Ok(Role::Analyst),
            "admin" => Ok(Role::Admin),
            _ => Err(UnknownRole(s.chars().take(40).collect())),
        }
    }
}

/// How a principal proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A browser session cookie; state-changing requests must also carry its CSRF token.
    Session { session_id: String },
    /// An API token from `/api/v1/tokens`.
    Token { token_id: i64 },
    /// The `admin-token` file written on first start.
    Bootstrap,
    /// A local command (`fleetlog-collector user ...`) run by someone with access to the
    /// store; it has no network credential.
    Cli,
}

/// Who is making a request, and with which role (already capped: a token never exceeds
/// its owner's current role).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user behind the request (`None` for the bootstrap token and the CLI).
    pub user_id: Option<i64>,
    /// A human-readable name for the audit trail: `alice`, `token:ci-export`, `bootstrap`.
    pub name: String,
    pub role: Role,
    pub credential: Credential,
}

impl Principal {
    /// True if this principal's role is at least `needed`.
    pub fn may(&self, needed: Role) -> bool {
        self.role >= needed
    }

    /// The key its request rate is limited under: one bucket per token, per session
    /// user, or for the bootstrap token.
    pub fn rate_key(&self) -> String {
        match &self.credential {
            Credential::Token { token_id } => format!("token:{token_id}"),
            Credential::Session { .. } => format!("user:{}", self.user_id.unwrap_or(0)),
            Credential::Bootstrap => "bootstrap".to_owned(),
            Credential::Cli => "cli".to_owned(),
        }
    }

    /// The principal the local CLI acts as, named after the operating-system user.
    pub fn cli(os_user: &str) -> Principal {
        Principal {
            user_id: None,
            name: format!("cli:{os_user}"),
            role: Role::Admin,
            credential: Credential::Cli,
        }
    }
}

/// A user name: 1 to 64 characters from letters, digits and `._@-`, so it is safe in
/// logs, audit rows and URLs.
pub fn valid_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'))
}

/// Shortest password accepted for a user.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest password accepted (argon2 would take any length; this bounds the work).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Why a password is refused, without repeating it.
pub fn check_password_policy(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(format!(
            "password must have at least {MIN_PASSWORD_LEN} characters"
        ));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(format!(
            "password must have at most {MAX_PASSWORD_LEN} bytes"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_parse() {
        assert!(Role::Admin > Role::Analyst && Role::Analyst > Role::Viewer);
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert_eq!(" ADMIN ".parse::<Role>().unwrap(), Role::Admin);
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn user_names() {
        for ok in ["alice", "a.b-c_d@x", "0"] {
            assert!(valid_user_name(ok), "{ok}");
        }
        for bad in ["", "a b", "a/b", "é", &"x".repeat(65)] {
            assert!(!valid_user_name(bad), "{bad}");
        }
    }

    #[test]
    fn password_policy() {
        assert!(check_password_policy("short").is_err());
        assert!(check_password_policy("long enough").is_ok());
        assert!(check_password_policy(&"x".repeat(2000)).is_err());
    }
}
