//! Per-agent credentials: the fleet enrollment token admits an agent once; from then on the
//! agent presents a credential of its own, which an operator can revoke from the API.
//!
//! A credential is `fla_` and the hex HMAC-SHA256, under the collector's credential key, of
//! the agent id it was issued to. Any replica verifies it without a store query (the key is
//! one row of `collector_secrets`, read at start), and issuing it twice (two replicas, a
//! lost frame) yields the same credential. What the store does keep, one row per agent id
//! in `agent_enrollments`, is whether the agent has presented its credential
//! (`credential_used`:
//! from then on the fleet token no longer admits it) and whether it is revoked;
//! every replica holds those rows in an [`AgentBook`], refreshed from the store every
//! `ingest.credential_refresh_ms` and at once by the API on the replica that revokes.
//!
//! [`authenticate`] is the decision, a pure function of the `Hello`, the fleet token, the
//! key, the book's entry and the enrollment policy. Its rules:
//! - a credential must verify for the `Hello`'s agent id, and the agent must not be revoked;
//! - the fleet token admits an agent id that holds no credential yet, while enrollment is
//!   `open`: a v5 agent is then issued one (`Frame::Credential`), an older agent is admitted
//!   on the fleet token (it cannot hold a credential) and recorded, so it can be revoked;
//! - the fleet token never admits an agent id that has presented its credential, nor a
//!   revoked one: whoever holds the fleet token cannot pass for an enrolled agent. (Until the
//!   agent first presents it, the fleet token still admits it and the credential is sent
//!   again: a credential lost on the way never locks an agent out.)
//!
//! Revoking takes effect on the connection too: each admitted connection watches the book
//! and closes when its agent is revoked.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use fleetlog_protocol::messages::{Hello, Reject, RejectReason};
use fleetlog_protocol::session::collector::constant_time_eq;
use fleetlog_protocol::version::V5;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::{Notify, watch};
use tracing::warn;

use crate::store::Store;

/// Prefix of every agent credential, so a leaked one is recognisable (secret scanners).
pub const CREDENTIAL_PREFIX: &str = "fla_";

/// Name of the credential key's row in `collector_secrets`.
pub const KEY_NAME: &str = "agent-credentials";

/// Whether the fleet token admits agents that hold no credential (`ingest.enrollment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Enrollment {
    /// New agents enroll with the fleet token (the default).
    #[default]
    Open,
    /// Only agents with a credential are admitted; the fleet token admits nobody.
    Closed,
}

impl std::str::FromStr for Enrollment {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "open" => Ok(Enrollment::Open),
            "closed" => Ok(Enrollment::Closed),
            other => Err(format!("`{other}` is not `open` or `closed`")),
        }
    }
}

/// The secret credentials are derived from. Its `Debug` leaves the bytes out.
#[derive(Clone)]
pub struct CredentialKey(Arc<[u8]>);

impl std::fmt::Debug for CredentialKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialKey(<redacted>)")
    }
}

impl CredentialKey {
    pub fn new(bytes: &[u8]) -> CredentialKey {
        CredentialKey(bytes.into())
    }

    fn mac(&self, agent_id: &str) -> Hmac<Sha256> {
        // HMAC accepts keys of any length.
        #[allow(clippy::expect_used)]
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(b"fleetlog agent credential v1\0");
        mac.update(agent_id.as_bytes());
        mac
    }

    /// The credential of `agent_id`.
    pub fn issue(&self, agent_id: &str) -> String {
        let tag = self.mac(agent_id).finalize().into_bytes();
        format!("{CREDENTIAL_PREFIX}{}", hex::encode(tag))
    }

    /// Whether `token` is the credential of `agent_id` (compared in constant time).
    pub fn verify(&self, agent_id: &str, token: &str) -> bool {
        let Some(tag) = token
            .strip_prefix(CREDENTIAL_PREFIX)
            .and_then(|h| hex::decode(h).ok())
        else {
            return false;
        };
        self.mac(agent_id).verify_slice(&tag).is_ok()
    }
}

/// What the store holds of one agent id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentAuth {
    /// The agent presented its credential once: the fleet token no longer admits this id.
    pub credential_used: bool,
    /// Set when an operator revoked the agent: the reason given.
    pub revoked: Option<String>,
}

/// How an admitted `Hello` authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// With the agent's own credential.
    Credential,
    /// With the fleet token, by a v5 agent without a credential: record it, then issue one.
    Enroll,
    /// With the fleet token, by an agent older than v5, which cannot hold a credential:
    /// record it (so it can be revoked) and admit it on the fleet token.
    Legacy,
}

fn unauthorized(message: impl Into<String>) -> Reject {
    Reject {
        reason: RejectReason::Unauthorized,
        message: message.into(),
    }
}

fn revoked(agent_id: &str, reason: &str) -> Reject {
    Reject {
        reason: RejectReason::Revoked,
        message: format!("agent {agent_id} was revoked: {reason}"),
    }
}

/// Decides how (or whether) `hello` is admitted. Runs before anything about the agent is
/// looked up in the store; `known` is the book's entry for `hello.agent_id`.
pub fn authenticate(
    hello: &Hello,
    fleet_token: &str,
    key: &CredentialKey,
    known: Option<&AgentAuth>,
    enrollment: Enrollment,
) -> Result<Admission, Reject> {
    let agent_id = hello.agent_id.as_str();
    if hello.token.starts_with(CREDENTIAL_PREFIX) {
        if !key.verify(agent_id, &hello.token) {
            return Err(unauthorized(
                "agent credential not accepted (issued for another agent id, or by a collector \
                 with another database)",
            ));
        }
        if let Some(reason) = known.and_then(|k| k.revoked.as_deref()) {
            return Err(revoked(agent_id, reason));
        }
        return Ok(Admission::Credential);
    }
    if !constant_time_eq(hello.token.as_bytes(), fleet_token.as_bytes()) {
        return Err(unauthorized("enrollment token not accepted"));
    }
    match known {
        Some(AgentAuth {
            revoked: Some(reason),
            ..
        }) => Err(revoked(agent_id, reason)),
        Some(AgentAuth {
            credential_used: true,
            ..
        }) => Err(unauthorized(format!(
            "agent {agent_id} holds a credential of its own and must present it, not the fleet \
             token (an operator can let it enroll again: DELETE \
             /api/v1/agents/{agent_id}/enrollment)"
        ))),
        _ if enrollment == Enrollment::Closed => Err(unauthorized(
            "enrollment is closed (ingest.enrollment = \"closed\"): the fleet token admits no \
             agent without a credential",
        )),
        _ if hello.protocol_version >= V5 => Ok(Admission::Enroll),
        _ => Ok(Admission::Legacy),
    }
}

/// Every agent id the store has an enrollment row for, shared by ingest (admission, and
/// closing a revoked agent's connection) and the API (which refreshes it after a change).
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct AgentBook(Arc<BookInner>);

#[derive(Debug)]
struct BookInner {
    entries: watch::Sender<Arc<HashMap<String, AgentAuth>>>,
    refresh: Notify,
}

impl Default for AgentBook {
    fn default() -> Self {
        AgentBook(Arc::new(BookInner {
            entries: watch::channel(Arc::new(HashMap::new())).0,
            refresh: Notify::new(),
        }))
    }
}

impl AgentBook {
    /// The entry of `agent_id`, if the book has one.
    pub fn get(&self, agent_id: &str) -> Option<AgentAuth> {
        self.0.entries.borrow().get(agent_id).cloned()
    }

    /// A receiver that sees every change of the book.
    pub fn subscribe(&self) -> watch::Receiver<Arc<HashMap<String, AgentAuth>>> {
        self.0.entries.subscribe()
    }

    /// Replaces the book with what the store holds; wakes subscribers only on a change.
    pub fn replace(&self, entries: HashMap<String, AgentAuth>) {
        self.0.entries.send_if_modified(|current| {
            if **current == entries {
                return false;
            }
            *current = Arc::new(entries);
            true
        });
    }

    /// Notes one agent's entry at once (after this replica recorded it).
    pub fn note(&self, agent_id: &str, auth: AgentAuth) {
        self.0.entries.send_if_modified(|current| {
            if current.get(agent_id) == Some(&auth) {
                return false;
            }
            Arc::make_mut(current).insert(agent_id.to_owned(), auth);
            true
        });
    }

    /// Asks the follower to reload from the store now (after a revocation through the API).
    pub fn refresh_now(&self) {
        self.0.refresh.notify_one();
    }

    /// Reloads the book from the store every `interval`, or at once when asked, until
    /// `shutdown`; a failed load keeps the book as it was and is logged.
    pub async fn follow(
        self,
        store: Store,
        interval: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            match store.agent_enrollments().await {
                Ok(rows) => self.replace(
                    rows.into_iter()
                        .map(|r| {
                            let auth = r.auth();
                            (r.agent_id, auth)
                        })
                        .collect(),
                ),
                Err(err) => warn!(error = %err, "Reading agent enrollments failed."),
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = self.0.refresh.notified() => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// Whether the book says `agent_id` is revoked, and why.
pub fn revoked_reason(book: &HashMap<String, AgentAuth>, agent_id: &str) -> Option<String> {
    book.get(agent_id).and_then(|a| a.revoked.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLEET: &str = "fleet-secret";

    fn hello(agent_id: &str, token: &str, version: u16) -> Hello {
        Hello {
            protocol_version: version,
            agent_id: agent_id.into(),
            host: "store-042-pos-1".into(),
            token: token.into(),
            labels: vec![],
            agent_version: "0.1.0".into(),
        }
    }

    #[test]
    fn credentials_verify_only_for_their_agent_and_key() {
        let key = CredentialKey::new(b"k1");
        let token = key.issue("agent-a");
        assert!(token.starts_with(CREDENTIAL_PREFIX));
        assert_eq!(token.len(), CREDENTIAL_PREFIX.len() + 64);
        assert_eq!(
            token,
            key.issue("agent-a"),
            "issuing twice gives one credential"
        );
        assert!(key.verify("agent-a", &token));
        assert!(!key.verify("agent-b", &token));
        assert!(!CredentialKey::new(b"k2").verify("agent-a", &token));
        for bad in ["", "fla_", "fla_zz", &token[..token.len() - 2], FLEET] {
            assert!(!key.verify("agent-a", bad), "{bad}");
        }
        assert_eq!(format!("{key:?}"), "CredentialKey(<redacted>)");
    }

    /// (name, token, protocol version, book entry, enrollment, expected).
    type Case<'a> = (
        &'a str,
        &'a str,
        u16,
        Option<&'a AgentAuth>,
        Enrollment,
        Result<Admission, RejectReason>,
    );

    #[test]
    fn admission_table() {
        use Admission::*;
        use Enrollment::*;
        let key = CredentialKey::new(b"k1");
        let cred = key.issue("a");
        let other_cred = key.issue("b");
        let issued = AgentAuth {
            credential_used: true,
            revoked: None,
        };
        let legacy = AgentAuth {
            credential_used: false,
            revoked: None,
        };
        let gone = AgentAuth {
            credential_used: true,
            revoked: Some("stolen".into()),
        };
        let ok = |a: Admission| Ok::<_, RejectReason>(a);
        let no = Err::<Admission, _>;
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            // The agent's own credential.
            ("own credential", &cred, 5, Some(&issued), Open, ok(Credential)),
            ("own credential, book not caught up", &cred, 5, None, Open, ok(Credential)),
            ("own credential, enrollment closed", &cred, 5, Some(&issued), Closed, ok(Credential)),
            ("own credential, revoked", &cred, 5, Some(&gone), Open, no(RejectReason::Revoked)),
            ("another agent's credential", &other_cred, 5, Some(&issued), Open, no(RejectReason::Unauthorized)),
            ("forged credential", "fla_00", 5, None, Open, no(RejectReason::Unauthorized)),
            // The fleet token.
            ("new v5 agent enrolls", FLEET, 5, None, Open, ok(Enroll)),
            ("v4 agent admitted on the fleet token", FLEET, 4, None, Open, ok(Legacy)),
            ("recorded v4 agent again", FLEET, 4, Some(&legacy), Open, ok(Legacy)),
            ("recorded v4 agent upgraded to v5", FLEET, 5, Some(&legacy), Open, ok(Enroll)),
            ("fleet token for an enrolled agent", FLEET, 5, Some(&issued), Open, no(RejectReason::Unauthorized)),
            ("fleet token for a revoked agent", FLEET, 5, Some(&gone), Open, no(RejectReason::Revoked)),
            ("fleet token for a revoked v1 agent", FLEET, 1, Some(&gone), Open, no(RejectReason::Revoked)),
            ("enrollment closed", FLEET, 5, None, Closed, no(RejectReason::Unauthorized)),
            ("enrollment closed, v4", FLEET, 4, Some(&legacy), Closed, no(RejectReason::Unauthorized)),
            // Neither.
            ("wrong token", "guess", 5, None, Open, no(RejectReason::Unauthorized)),
            ("wrong token for a revoked agent", "guess", 5, Some(&gone), Open, no(RejectReason::Unauthorized)),
        ];
        for (name, token, version, known, enrollment, want) in cases {
            let got = authenticate(&hello("a", token, version), FLEET, &key, known, enrollment)
                .map_err(|r| r.reason);
            assert_eq!(got, want, "{name}");
        }
        let err = authenticate(&hello("a", FLEET, 5), FLEET, &key, Some(&gone), Open).unwrap_err();
        assert_eq!(err.message, "agent a was revoked: stolen");
    }

    #[tokio::test]
    async fn the_book_wakes_subscribers_only_on_change() {
        let book = AgentBook::default();
        let mut rx = book.subscribe();
        rx.borrow_and_update();
        let auth = AgentAuth {
            credential_used: true,
            revoked: None,
        };
        book.note("a", auth.clone());
        assert!(rx.has_changed().unwrap());
        rx.borrow_and_update();
        book.note("a", auth.clone());
        book.replace(HashMap::from([("a".to_owned(), auth)]));
        assert!(!rx.has_changed().unwrap());
        book.replace(HashMap::from([(
            "a".to_owned(),
            AgentAuth {
                credential_used: true,
                revoked: Some("r".into()),
            },
        )]));
        assert!(rx.has_changed().unwrap());
        assert_eq!(revoked_reason(&rx.borrow(), "a").as_deref(), Some("r"));
        assert_eq!(book.get("b"), None);
    }
}
