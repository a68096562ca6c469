//! Notification channels, each a [`crate::outbox::Deliver`] for its outbox kind:
//! `webhook.rs` (generic JSON, HMAC-SHA256 signed), `slack.rs` (incoming webhook, Block
//! Kit), `email.rs` (SMTP with lettre: STARTTLS, implicit TLS or plain for local relays).
//! A deliverer looks its channel up by the message's target (the channel id) at delivery
//! time, so edits apply to queued messages and secrets never sit in the outbox.
//! `http.rs` maps HTTP answers to delivery outcomes.

pub mod email;
pub mod http;
pub mod slack;
pub mod webhook;

use std::sync::Arc;

use crate::outbox::DeliverError;
use crate::outbox::worker::Registry;
use crate::store::Store;
use crate::store::channels::{ChannelRecord, NewChannel};

/// Channel kinds.
pub const KINDS: &[&str] = &["email", "slack", "webhook"];

fn string(m: &serde_json::Map<String, serde_json::Value>, k: &str) -> Option<String> {
    m.get(k).and_then(|v| v.as_str()).map(str::to_owned)
}

fn http_url(v: &str) -> bool {
    v.starts_with("http://") || v.starts_with("https://")
}

/// Checks a channel's settings; the message names the missing or bad field (never a
/// secret's value).
pub fn validate(c: &NewChannel) -> Result<(), String> {
    if c.name.trim().is_empty() || c.name.len() > 100 {
        return Err("name must be 1 to 100 characters".into());
    }
    match c.kind.as_str() {
        "webhook" => {
            let url = string(&c.config, "url").ok_or("webhook needs config.url")?;
            if !http_url(&url) {
                return Err("config.url must be an http(s) URL".into());
            }
        }
        "slack" => {
            let url = string(&c.secrets, "webhook_url")
                .ok_or("slack needs secrets.webhook_url (the incoming webhook URL)")?;
            if !http_url(&url) {
                return Err("secrets.webhook_url must be an http(s) URL".into());
            }
        }
        "email" => email::settings(&c.config, &c.secrets).map(|_| ())?,
        other => {
            return Err(format!("kind `{other}` is not one of {}", KINDS.join(", ")));
        }
    }
    Ok(())
}

/// The channel a message is for; a missing channel is a permanent failure.
async fn channel_of(store: &Store, target: &str) -> Result<ChannelRecord, DeliverError> {
    let id: i64 = target
        .parse()
        .map_err(|_| DeliverError::permanent(format!("target `{target}` is not a channel id")))?;
    match store.channel(id).await {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(DeliverError::permanent(format!(
            "channel {id} no longer exists"
        ))),
        Err(e) => Err(DeliverError::transient(format!(
            "loading channel {id}: {e}"
        ))),
    }
}

/// The deliverers for every channel kind.
pub fn register(registry: &mut Registry, store: &Store) -> Result<(), reqwest::Error> {
    let client = http::client()?;
    registry.register(
        "webhook",
        Arc::new(webhook::Webhook {
            store: store.clone(),
            client: client.clone(),
        }),
    );
    registry.register(
        "slack",
        Arc::new(slack::Slack {
            store: store.clone(),
            client,
        }),
    );
    registry.register(
        "email",
        Arc::new(email::Email {
            store: store.clone(),
        }),
    );
    Ok(())
}
