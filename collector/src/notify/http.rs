//! HTTP answers as delivery outcomes: 2xx delivered; 408, 429 and 5xx retried (with
//! `Retry-After` in seconds); other 4xx permanent; transport errors retried. Error
//! texts never carry the URL (a Slack webhook URL is a secret).

use std::time::Duration;

use crate::outbox::{DeliverError, Delivered};

/// The shared client: rustls, no redirects (a receiver answers, it does not send us on).
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("fleetlog-collector/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// `Retry-After` as seconds (the HTTP-date form is treated as absent).
pub fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    h.get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// The outcome of a sent request.
pub async fn outcome(
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<Delivered, DeliverError> {
    let resp = sent.map_err(|e| DeliverError::transient(e.without_url().to_string()))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(Delivered {
            status: Some(status.as_u16()),
        });
    }
    let retry_after = retry_after(resp.headers());
    let code = status.as_u16();
    let permanent = status.is_client_error() && code != 408 && code != 429;
    Err(DeliverError {
        permanent,
        retry_after,
        status: Some(code),
        message: format!("receiver answered {status}"),
    })
}
