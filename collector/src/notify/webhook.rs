//! The generic webhook: POSTs the notification JSON (status, alerts with their stable
//! fingerprint, labels, values, start/end) with
//! `X-Fleetlog-Timestamp: <unix seconds>` and
//! `X-Fleetlog-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`
//! (when the channel has `secrets.secret`), and `X-Fleetlog-Idempotency-Key`.
//! Receivers recompute the signature over the raw body and reject timestamps outside
//! their replay window (README, "Verifying webhook signatures").

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{channel_of, http, string};
use crate::outbox::{BoxFuture, Deliver, DeliverError, Delivered, OutboxMessage};
use crate::store::Store;

/// `sha256=<hex>` over `timestamp + "." + body`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a signature as a receiver would: right MAC (constant time) and a timestamp
/// within `window_secs` of `now_secs`.
pub fn verify(
    secret: &[u8],
    timestamp: i64,
    body: &[u8],
    header: &str,
    now_secs: i64,
    window_secs: i64,
) -> bool {
    if (now_secs - timestamp).abs() > window_secs {
        return false;
    }
    let Some(hexsig) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hexsig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// Delivers `webhook` messages.
pub struct Webhook {
    pub store: Store,
    pub client: reqwest::Client,
}

impl Deliver for Webhook {
    fn deliver<'a>(
        &'a self,
        msg: &'a OutboxMessage,
    ) -> BoxFuture<'a, Result<Delivered, DeliverError>> {
        Box::pin(async move {
            let ch = channel_of(&self.store, &msg.target).await?;
            let url = string(&ch.config, "url")
                .ok_or_else(|| DeliverError::permanent("webhook channel has no config.url"))?;
            let body = msg.payload.clone().into_bytes();
            let ts = crate::now_ms() / 1_000;
            let mut req = self
                .client
                .post(url)
                .header("content-type", "application/json")
                .header("x-fleetlog-timestamp", ts.to_string())
                .header("x-fleetlog-idempotency-key", &msg.idempotency_key);
            if let Some(secret) = string(&ch.secrets, "secret") {
                req = req.header(
                    "x-fleetlog-signature",
                    signature(secret.as_bytes(), ts, &body),
                );
            }
            http::outcome(req.body(body).send().await).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_vector_and_verifies() {
        // python3 -c 'import hmac,hashlib;print(hmac.new(b"s3cret",b"1700000000.{}",hashlib.sha256).hexdigest())'
        let sig = signature(b"s3cret", 1_700_000_000, b"{}");
        assert_eq!(
            sig,
            "sha256=97926816e98fbb41ccb1673225ff29a2f35369099990e1b1561651e7bd097ebf"
        );
        assert!(verify(
            b"s3cret",
            1_700_000_000,
            b"{}",
            &sig,
            1_700_000_100,
            300
        ));
        // replay window
        assert!(!verify(
            b"s3cret",
            1_700_000_000,
            b"{}",
            &sig,
            1_700_000_301,
            300
        ));
        // tampered body, wrong secret, malformed header
        assert!(!verify(
            b"s3cret",
            1_700_000_000,
            b"{ }",
            &sig,
            1_700_000_000,
            300
        ));
        assert!(!verify(
            b"other",
            1_700_000_000,
            b"{}",
            &sig,
            1_700_000_000,
            300
        ));
        assert!(!verify(
            b"s3cret",
            1_700_000_000,
            b"{}",
            "md5=00",
            1_700_000_000,
            300
        ));
    }
}
