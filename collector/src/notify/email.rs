//! Email over SMTP with lettre: `config.tls` is `starttls` (default, port 587), `tls`
//! (implicit TLS, port 465) or `none` (a local relay or test server, port 25);
//! `config.username` with `secrets.password` authenticates; `config.ca_file` names a PEM
//! file of extra root certificates (a relay with a private CA). The subject is the
//! notification's title; the body lists each alert with its value, scope and times.

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls as SmtpTls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{channel_of, string};
use crate::alerts::payload::Notification;
use crate::outbox::{BoxFuture, Deliver, DeliverError, Delivered, OutboxMessage};
use crate::store::Store;

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    StartTls,
    Implicit,
    None,
}

/// An email channel's settings. `Debug` leaves the password out.
#[derive(Clone, PartialEq)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    pub username: Option<String>,
    /// Extra root certificates (PEM) to trust, read at each delivery.
    pub ca_file: Option<std::path::PathBuf>,
    password: Option<String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

type Map = serde_json::Map<String, serde_json::Value>;

/// Reads and checks an email channel's settings.
pub fn settings(config: &Map, secrets: &Map) -> Result<Settings, String> {
    let host = string(config, "host").ok_or("email needs config.host")?;
    let tls = match string(config, "tls").as_deref() {
        None | Some("starttls") => Tls::StartTls,
        Some("tls") => Tls::Implicit,
        Some("none") => Tls::None,
        Some(other) => {
            return Err(format!(
                "config.tls `{other}` is not one of starttls, tls, none"
            ));
        }
    };
    let port = match config.get("port") {
        None => match tls {
            Tls::StartTls => 587,
            Tls::Implicit => 465,
            Tls::None => 25,
        },
        Some(v) => v
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p > 0)
            .ok_or("config.port must be 1 to 65535")?,
    };
    let from: Mailbox = string(config, "from")
        .ok_or("email needs config.from")?
        .parse()
        .map_err(|e| format!("config.from: {e}"))?;
    let to_raw: Vec<String> = match config.get("to") {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    if to_raw.is_empty() {
        return Err("email needs config.to (an address or a list)".into());
    }
    let to = to_raw
        .iter()
        .map(|t| {
            t.parse::<Mailbox>()
                .map_err(|e| format!("config.to `{t}`: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let username = string(config, "username");
    let password = string(secrets, "password");
    if username.is_some() != password.is_some() {
        return Err("config.username and secrets.password go together".into());
    }
    let ca_file = string(config, "ca_file").map(std::path::PathBuf::from);
    if ca_file.is_some() && tls == Tls::None {
        return Err("config.ca_file needs config.tls starttls or tls".into());
    }
    Ok(Settings {
        host,
        port,
        tls,
        from,
        to,
        username,
        ca_file,
        password,
    })
}

fn ts(ms: Option<i64>) -> String {
    ms.and_then(|ms| time::OffsetDateTime::from_unix_timestamp(ms / 1_000).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "–".into())
}

/// The plain-text body.
pub fn body(n: &Notification) -> String {
    let mut b = format!(
        "{}\n\nRule: {} (severity {})\n\n",
        n.title(),
        n.rule,
        n.severity
    );
    for a in &n.alerts {
        let scope = a
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ");
        b.push_str(&format!(
            "* {} — {}\n  value {}{} {} {}{} | {}\n  first seen {} {}\n  fingerprint {}\n\n",
            a.status.to_uppercase(),
            a.summary,
            a.value,
            a.unit,
            a.comparison,
            a.threshold,
            a.unit,
            scope,
            ts(a.starts_ms),
            a.ends_ms
                .map(|e| format!("| resolved {}", ts(Some(e))))
                .unwrap_or_default(),
            a.fingerprint,
        ));
    }
    b.push_str(&format!("Open in fleetlog: {}\n", n.dashboard_url));
    b
}

/// TLS for `s.host`, trusting the platform's roots plus `s.ca_file`'s.
fn tls_parameters(s: &Settings) -> Result<TlsParameters, DeliverError> {
    let mut params = TlsParameters::builder(s.host.clone());
    if let Some(path) = &s.ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            DeliverError::permanent(format!("config.ca_file {}: {e}", path.display()))
        })?;
        let cert = Certificate::from_pem(&pem).map_err(|e| {
            DeliverError::permanent(format!("config.ca_file {}: {e}", path.display()))
        })?;
        params = params.add_root_certificate(cert);
    }
    params
        .build_rustls()
        .map_err(|e| DeliverError::permanent(format!("SMTP TLS settings: {e}")))
}

/// Sends `n` with `s`.
pub async fn send(
    s: &Settings,
    n: &Notification,
    idempotency_key: &str,
) -> Result<(), DeliverError> {
    let mut m = Message::builder()
        .from(s.from.clone())
        .subject(n.title())
        .message_id(Some(format!(
            "<{}@fleetlog>",
            idempotency_key.replace([':', '|', '=', ' '], ".")
        )));
    for to in &s.to {
        m = m.to(to.clone());
    }
    let msg = m
        .body(body(n))
        .map_err(|e| DeliverError::permanent(format!("building the email: {e}")))?;
    let tls = match (s.tls, tls_parameters(s)?) {
        (Tls::None, _) => SmtpTls::None,
        (Tls::StartTls, params) => SmtpTls::Required(params),
        (Tls::Implicit, params) => SmtpTls::Wrapper(params),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)
        .port(s.port)
        .tls(tls);
    if let (Some(u), Some(p)) = (&s.username, &s.password) {
        builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
    }
    let transport = builder.build();
    match transport.send(msg).await {
        Ok(_) => Ok(()),
        Err(e) => Err(DeliverError {
            permanent: e.is_permanent(),
            retry_after: None,
            status: e.status().and_then(|c| c.to_string().parse().ok()),
            message: format!("SMTP: {e}"),
        }),
    }
}

/// Delivers `email` messages.
pub struct Email {
    pub store: Store,
}

impl Deliver for Email {
    fn deliver<'a>(
        &'a self,
        msg: &'a OutboxMessage,
    ) -> BoxFuture<'a, Result<Delivered, DeliverError>> {
        Box::pin(async move {
            let ch = channel_of(&self.store, &msg.target).await?;
            let s = settings(&ch.config, &ch.secrets).map_err(DeliverError::permanent)?;
            let n: Notification = serde_json::from_str(&msg.payload)
                .map_err(|e| DeliverError::permanent(format!("bad notification: {e}")))?;
            send(&s, &n, &msg.idempotency_key).await?;
            Ok(Delivered::default())
        })
    }
}
