//! S3 event notifications: the S3 event JSON (`{"Records": [...]}`, also inside an SNS
//! envelope), from an SQS queue the collector polls or pushed to `POST /api/v1/s3/events`
//! with a shared-secret signature. Each `ObjectCreated:*` record becomes a one-object scan
//! the first time its (bucket, key, ETag) is seen; a repeat delivery changes nothing.
//!
//! The signature is the webhook scheme (`notify::webhook`): `X-Fleetlog-Timestamp: <unix
//! seconds>` and `X-Fleetlog-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." +
//! body)>`, within [`SIGNATURE_WINDOW_SECS`] of the collector's clock.

use std::sync::Arc;

use serde::Deserialize;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::config::S3Config;
use super::scan;
use crate::metrics::{Metrics, OutcomeLabel};
use crate::now_ms;
use crate::store::s3::ObjectEvent;
use crate::store::{Store, StoreError};

/// A pushed event's timestamp may be this far from the collector's clock (replay window).
pub const SIGNATURE_WINDOW_SECS: i64 = 300;

/// Why an event body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("not an S3 event notification: {0}")]
    Invalid(String),
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "Records")]
    records: Option<Vec<Record>>,
    /// SNS → SQS delivery wraps the S3 event as a string.
    #[serde(rename = "Message")]
    message: Option<String>,
    /// `s3:TestEvent` when a notification is configured.
    #[serde(rename = "Event")]
    event: Option<String>,
}

#[derive(Deserialize)]
struct Record {
    #[serde(rename = "eventName")]
    event_name: Option<String>,
    #[serde(rename = "eventTime")]
    event_time: Option<String>,
    s3: Option<S3Part>,
}

#[derive(Deserialize)]
struct S3Part {
    bucket: BucketPart,
    object: ObjectPart,
}

#[derive(Deserialize)]
struct BucketPart {
    name: String,
}

#[derive(Deserialize)]
struct ObjectPart {
    key: String,
    size: Option<u64>,
    #[serde(rename = "eTag")]
    e_tag: Option<String>,
}

/// What one event body holds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The `ObjectCreated` records.
    pub created: Vec<ObjectEvent>,
    /// Records of other kinds (deletes, test events), ignored.
    pub ignored: usize,
}

/// Parses an S3 event notification body (pure).
pub fn parse(body: &[u8]) -> Result<Parsed, EventError> {
    let env: Envelope =
        serde_json::from_slice(body).map_err(|e| EventError::Invalid(e.to_string()))?;
    if let Some(inner) = env.message {
        return parse(inner.as_bytes());
    }
    let Some(records) = env.records else {
        return match env.event.as_deref() {
            Some("s3:TestEvent") => Ok(Parsed {
                created: Vec::new(),
                ignored: 1,
            }),
            _ => Err(EventError::Invalid("no Records".to_owned())),
        };
    };
    let mut out = Parsed::default();
    for r in records {
        let created = r
            .event_name
            .as_deref()
            .is_some_and(|n| n.starts_with("ObjectCreated:"));
        let (true, Some(s3)) = (created, r.s3) else {
            out.ignored += 1;
            continue;
        };
        let Some(etag) = s3
            .object
            .e_tag
            .map(|e| scan::bare_etag(&e))
            .filter(|e| !e.is_empty())
        else {
            return Err(EventError::Invalid(format!(
                "ObjectCreated record for {} without an eTag",
                s3.object.key
            )));
        };
        if s3.bucket.name.is_empty() || s3.object.key.is_empty() {
            return Err(EventError::Invalid("empty bucket name or key".to_owned()));
        }
        out.created.push(ObjectEvent {
            bucket: s3.bucket.name,
            key: decode_key(&s3.object.key),
            etag,
            size: s3.object.size.unwrap_or(0),
            time_ms: r.event_time.as_deref().and_then(rfc3339_ms),
        });
    }
    Ok(out)
}

/// Keys in S3 events are URL-encoded, with `+` for a space.
pub fn decode_key(key: &str) -> String {
    let spaced = key.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

fn rfc3339_ms(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// What accepting a body's records did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Scans queued (first deliveries).
    pub scans: Vec<i64>,
    /// Records seen before.
    pub duplicates: usize,
    /// Records that were not `ObjectCreated`, or for a bucket outside `s3.buckets`.
    pub ignored: usize,
}

/// Queues a one-object scan per first-seen `ObjectCreated` record.
pub async fn accept(
    store: &Store,
    cfg: &S3Config,
    metrics: &Metrics,
    parsed: Parsed,
) -> Result<Accepted, StoreError> {
    let mut out = Accepted {
        ignored: parsed.ignored,
        ..Accepted::default()
    };
    for ev in parsed.created {
        if !cfg.allows(&ev.bucket) {
            out.ignored += 1;
            metrics.s3_events.get_or_create(&label("ignored")).inc();
            continue;
        }
        let max = cfg.max_object_bytes;
        let filter = scan::Filter::default();
        match store
            .s3_accept_event(&ev, |o, done| scan::plan(o, &filter, done, max), now_ms())
            .await?
        {
            Some(id) => {
                info!(bucket = %ev.bucket, key = %ev.key, scan = id, "S3 event accepted.");
                metrics.s3_events.get_or_create(&label("accepted")).inc();
                out.scans.push(id);
            }
            None => {
                debug!(bucket = %ev.bucket, key = %ev.key, "S3 event seen before.");
                metrics.s3_events.get_or_create(&label("duplicate")).inc();
                out.duplicates += 1;
            }
        }
    }
    for _ in 0..parsed.ignored {
        metrics.s3_events.get_or_create(&label("ignored")).inc();
    }
    Ok(out)
}

fn label(outcome: &'static str) -> OutcomeLabel {
    OutcomeLabel { outcome }
}

/// Polls `s3.sqs_queue_url` until shutdown: each message's records are accepted, then the
/// message is deleted (a malformed one too, after a warning). A message whose records
/// could not be stored stays and comes back after its visibility timeout.
pub async fn poll_sqs(
    store: Store,
    cfg: Arc<S3Config>,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Some(queue) = cfg.sqs_queue_url.clone() else {
        return;
    };
    let target = super::client::Target::from_config(&cfg, None);
    let sdk = super::client::sdk_config(&target).await;
    let sqs = super::client::sqs_from(&sdk);
    info!(queue = %queue, "Polling SQS for S3 events.");
    loop {
        if *shutdown.borrow() {
            return;
        }
        let got = tokio::select! {
            r = sqs.receive_message().queue_url(&queue).max_number_of_messages(10)
                .wait_time_seconds(1).send() => r,
            _ = shutdown.changed() => return,
        };
        let messages = match got {
            Ok(r) => r.messages.unwrap_or_default(),
            Err(e) => {
                warn!(queue = %queue, error = %super::client::describe(&e), "SQS receive failed; will retry.");
                tokio::select! {
                    _ = tokio::time::sleep(cfg.poll_interval) => {}
                    _ = shutdown.changed() => return,
                }
                continue;
            }
        };
        for m in messages {
            let body = m.body().unwrap_or_default();
            let keep = match parse(body.as_bytes()) {
                Ok(parsed) => match accept(&store, &cfg, &metrics, parsed).await {
                    Ok(_) => false,
                    Err(e) => {
                        warn!(error = %e, "Storing S3 events failed; the message will come back.");
                        true
                    }
                },
                Err(e) => {
                    metrics.s3_events.get_or_create(&label("invalid")).inc();
                    warn!(error = %e, "Malformed SQS message dropped.");
                    false
                }
            };
            // Redelivery is harmless: the event is deduplicated.
            if !keep
                && let Some(handle) = m.receipt_handle()
                && let Err(e) = sqs
                    .delete_message()
                    .queue_url(&queue)
                    .receipt_handle(handle)
                    .send()
                    .await
            {
                warn!(error = %super::client::describe(&e), "Deleting an SQS message failed.");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUT: &str = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3",
      "eventTime":"2026-11-28T10:00:00.000Z","eventName":"ObjectCreated:Put",
      "s3":{"bucket":{"name":"logs"},"object":{"key":"app/a+b%3D1.log","size":12,
      "eTag":"0123abc","sequencer":"00"}}},
      {"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"logs"},
      "object":{"key":"x","eTag":"1"}}}]}"#;

    #[test]
    fn object_created_records_are_taken_others_ignored() {
        let p = parse(PUT.as_bytes()).unwrap();
        assert_eq!(p.ignored, 1);
        assert_eq!(
            p.created,
            [ObjectEvent {
                bucket: "logs".into(),
                key: "app/a b=1.log".into(),
                etag: "0123abc".into(),
                size: 12,
                time_ms: Some(1_795_860_000_000),
            }]
        );
    }

    #[test]
    fn sns_envelopes_and_test_events() {
        let sns = serde_json::json!({"Type": "Notification", "Message": PUT}).to_string();
        assert_eq!(parse(sns.as_bytes()).unwrap().created.len(), 1);
        let test = br#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"logs"}"#;
        assert_eq!(parse(test).unwrap().ignored, 1);
    }

    #[test]
    fn malformed_bodies_are_refused() {
        for body in [
            &b"not json"[..],
            br#"{"foo": 1}"#,
            br#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}"#,
        ] {
            assert!(parse(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
    }
}
