//! `GET /api/v1/ws`: the live stream over a WebSocket. The client subscribes and
//! unsubscribes with JSON text messages carrying the same filters as `GET /api/v1/stream`;
//! one connection may hold several subscriptions (`alerts.ws_max_subscriptions`).
//!
//! Client → server:
//! - `{"op": "subscribe", "sub": "s1", "types": "event,alert", "host": "pos-1",
//!   "service": "payment", "min_severity": "error", "since": "<id>"}` — every field but
//!   `op` and `sub` optional; `since` resumes after an item's `id` (as `Last-Event-ID`);
//! - `{"op": "unsubscribe", "sub": "s1"}`.
//!
//! Server → client: `{"msg": "subscribed", "sub", "from"}`, `{"msg": "item", "sub", "id",
//! "item": {…}}` (the item as the SSE stream's `data`), `{"msg": "unsubscribed", "sub"}`,
//! `{"msg": "error", "sub"?, "message"}` for a message it cannot act on (the connection
//! stays open). Each connection's queue is bounded (`alerts.stream_client_buffer`): a
//! client that falls that far behind is closed with code 1008 and the reason, counted in
//! `fleetlog_collector_api_rejects_total{reason="ws_slow_client"}`; it may resubscribe with
//! `since`. The server pings every `alerts.stream_heartbeat_secs`.
//!
//! Browsers cannot set `Authorization` on a WebSocket, so the session cookie is accepted;
//! then the `Origin` must be this server's (no cross-site WebSocket hijacking).

use std::collections::HashMap;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::AppState;
use super::auth::{Auth, Viewer};
use super::error::ApiError;
use crate::stream::pump::{End, pump};
use crate::stream::{Filter, Item, Position, feed};

/// WebSocket close code for a policy violation (RFC 6455 §7.4.1): here, a slow client.
const CLOSE_POLICY: u16 = 1008;

/// A message from the client.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
enum ClientMsg {
    Subscribe {
        sub: String,
        types: Option<String>,
        host: Option<String>,
        service: Option<String>,
        min_severity: Option<String>,
        since: Option<String>,
    },
    Unsubscribe {
        sub: String,
    },
}

/// A message to the client.
#[derive(Debug, Serialize)]
#[serde(tag = "msg", rename_all = "lowercase")]
enum ServerMsg<'a> {
    Subscribed {
        sub: &'a str,
        from: String,
    },
    Unsubscribed {
        sub: &'a str,
    },
    Item {
        sub: &'a str,
        id: String,
        item: &'a Item,
    },
    Error {
        #[serde(skip_serializing_if = "Option::is_none")]
        sub: Option<&'a str>,
        message: String,
    },
}

impl ServerMsg<'_> {
    fn text(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"msg":"error"}"#.to_owned())
    }
}

/// What to do with one client message, decided from the subscriptions held now.
#[derive(Debug, PartialEq)]
enum Action {
    /// Start `sub` with `filter`, after `since` (or from now when `None`).
    Subscribe {
        sub: String,
        filter: Filter,
        since: Option<Position>,
    },
    Unsubscribe(String),
    /// Answer with an error about `sub` (if known) and carry on.
    Reject {
        sub: Option<String>,
        message: String,
    },
}

/// Decides what a text message asks for. Pure: `held` names the open subscriptions.
fn decide(text: &str, held: &[&str], max_subscriptions: usize) -> Action {
    let msg: ClientMsg = match serde_json::from_str(text) {
        Ok(m) => m,
        Err(e) => {
            return Action::Reject {
                sub: None,
                message: format!(
                    "not a subscribe or unsubscribe message ({e}); send {{\"op\": \"subscribe\", \"sub\": \"<name>\", ...}}"
                ),
            };
        }
    };
    match msg {
        ClientMsg::Subscribe {
            sub,
            types,
            host,
            service,
            min_severity,
            since,
        } => {
            let reject = |message: String| Action::Reject {
                sub: Some(sub.clone()),
                message,
            };
            if sub.is_empty() || sub.len() > 64 {
                return reject("`sub` must be 1 to 64 characters".into());
            }
            if held.contains(&sub.as_str()) {
                return reject(format!("subscription `{sub}` exists; unsubscribe it first"));
            }
            if held.len() >= max_subscriptions {
                return reject(format!(
                    "at most {max_subscriptions} subscriptions per connection (alerts.ws_max_subscriptions)"
                ));
            }
            let filter =
                match Filter::parse(types.as_deref(), host, service, min_severity.as_deref()) {
                    Ok(f) => f,
                    Err(e) => return reject(e),
                };
            let since = match since.as_deref().map(|s| (s, Position::decode(s))) {
                None => None,
                Some((_, Some(p))) => Some(p),
                Some((s, None)) => {
                    return reject(format!("`since` `{s}` is not a stream position"));
                }
            };
            Action::Subscribe { sub, filter, since }
        }
        ClientMsg::Unsubscribe { sub } if held.contains(&sub.as_str()) => Action::Unsubscribe(sub),
        ClientMsg::Unsubscribe { sub } => Action::Reject {
            message: format!("no subscription `{sub}`"),
            sub: Some(sub),
        },
    }
}

/// Whether a cookie-authenticated upgrade may proceed: browsers always send `Origin` on a
/// WebSocket handshake, so one that names another host is a cross-site page riding the
/// session; no `Origin` at all is not a browser.
fn origin_allowed(headers: &HeaderMap) -> bool {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    match (header("origin"), header("host")) {
        (None, _) => true,
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host)),
        (Some(_), None) => false,
    }
}

/// The live stream over a WebSocket (see the module doc for the messages).
#[utoipa::path(
    get, path = "/ws", tag = "alerts",
    responses(
        (status = 101, description = "Switching to the WebSocket protocol; JSON text messages: subscribe/unsubscribe in, subscribed/item/unsubscribed/error out"),
        (status = 400, description = "Not a WebSocket upgrade request", body = super::error::ErrorBody),
        (status = 403, description = "Cookie session from another origin", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn ws(
    State(state): State<AppState>,
    auth: Auth<Viewer>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    if auth.csrf_token.is_some() && !origin_allowed(&headers) {
        return Err(ApiError::Forbidden(
            "a cookie session may open the WebSocket only from this server's own pages".into(),
        ));
    }
    let upgrade = upgrade.map_err(|e| {
        ApiError::BadRequest(format!("`/api/v1/ws` needs a WebSocket upgrade: {e}"))
    })?;
    Ok(upgrade
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| serve(socket, state)))
}

/// One connection: client messages, queued items and heartbeats until either side stops.
async fn serve(socket: WebSocket, state: AppState) {
    let cfg = &state.config.alerts;
    let buffer = cfg.stream_client_buffer.max(1);
    let limit = i64::try_from(buffer).unwrap_or(i64::MAX);
    let (out_tx, mut out_rx) = mpsc::channel::<String>(buffer);
    let (slow_tx, mut slow_rx) = watch::channel(false);
    let mut subs: HashMap<String, JoinHandle<()>> = HashMap::new();
    let (mut sink, mut stream) = socket.split();
    let mut heartbeat = tokio::time::interval(cfg.stream_heartbeat);
    heartbeat.tick().await;
    loop {
        tokio::select! {
            msg = stream.next() => {
                let text = match msg {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Binary(_))) => {
                        let m = ServerMsg::Error { sub: None, message: "binary messages are not understood; send JSON text".into() };
                        if sink.send(Message::Text(m.text().into())).await.is_err() { break; }
                        continue;
                    }
                    Some(Ok(_)) => continue,
                };
                let held: Vec<&str> = subs.keys().map(String::as_str).collect();
                let reply = match decide(text.as_str(), &held, cfg.ws_max_subscriptions) {
                    Action::Subscribe { sub, filter, since } => {
                        let start = match since {
                            Some(p) => p,
                            None => match feed::head(&state.store).await {
                                Ok(p) => p,
                                Err(e) => {
                                    let m = ServerMsg::Error { sub: Some(&sub), message: format!("reading the stream position failed: {e}") };
                                    if sink.send(Message::Text(m.text().into())).await.is_err() { break; }
                                    continue;
                                }
                            },
                        };
                        let reply = ServerMsg::Subscribed { sub: &sub, from: start.encode() }.text();
                        let (tx, slow, name) = (out_tx.clone(), slow_tx.clone(), sub.clone());
                        let store = state.store.clone();
                        let poll = cfg.stream_poll;
                        subs.insert(sub.clone(), tokio::spawn(async move {
                            let end = pump(store, start, filter, poll, limit, tx, |pos, item| {
                                ServerMsg::Item { sub: &name, id: pos.encode(), item: &item }.text()
                            }).await;
                            if end == End::SlowClient {
                                let _ = slow.send(true);
                            }
                        }));
                        reply
                    }
                    Action::Unsubscribe(sub) => {
                        if let Some(task) = subs.remove(&sub) {
                            task.abort();
                        }
                        ServerMsg::Unsubscribed { sub: &sub }.text()
                    }
                    Action::Reject { sub, message } => {
                        state.metrics.api_reject("ws_bad_message");
                        ServerMsg::Error { sub: sub.as_deref(), message }.text()
                    }
                };
                if sink.send(Message::Text(reply.into())).await.is_err() { break; }
            }
            Some(text) = out_rx.recv() => {
                if sink.send(Message::Text(text.into())).await.is_err() { break; }
            }
            Ok(()) = slow_rx.changed() => {
                state.metrics.api_reject("ws_slow_client");
                let reason = format!("slow client: {buffer} items waiting; resubscribe with since");
                let _ = sink.send(Message::Close(Some(CloseFrame { code: CLOSE_POLICY, reason: reason.into() }))).await;
                break;
            }
            _ = heartbeat.tick() => {
                if sink.send(Message::Ping(Vec::new().into())).await.is_err() { break; }
            }
        }
    }
    for task in subs.into_values() {
        task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Case<'a> = (&'a str, &'a [&'a str], Action);

    fn reject(sub: Option<&str>, needle: &str) -> Action {
        Action::Reject {
            sub: sub.map(str::to_owned),
            message: needle.to_owned(),
        }
    }

    #[test]
    fn decides_each_client_message() {
        let errors = Filter {
            types: vec!["event".into()],
            min_severity: 2,
            ..Filter::default()
        };
        let cases: Vec<Case> = vec![
            (
                r#"{"op":"subscribe","sub":"a","types":"event","min_severity":"error"}"#,
                &[],
                Action::Subscribe {
                    sub: "a".into(),
                    filter: errors,
                    since: None,
                },
            ),
            (
                r#"{"op":"subscribe","sub":"b","since":"e1.h2.i3.a4"}"#,
                &["a"],
                Action::Subscribe {
                    sub: "b".into(),
                    filter: Filter::default(),
                    since: Position::decode("e1.h2.i3.a4"),
                },
            ),
            (
                r#"{"op":"unsubscribe","sub":"a"}"#,
                &["a"],
                Action::Unsubscribe("a".into()),
            ),
            (
                r#"{"op":"unsubscribe","sub":"zz"}"#,
                &["a"],
                reject(Some("zz"), "no subscription"),
            ),
            (
                r#"{"op":"subscribe","sub":"a"}"#,
                &["a"],
                reject(Some("a"), "exists"),
            ),
            (
                r#"{"op":"subscribe","sub":"c"}"#,
                &["a", "b"],
                reject(Some("c"), "at most 2"),
            ),
            (
                r#"{"op":"subscribe","sub":""}"#,
                &[],
                reject(Some(""), "1 to 64"),
            ),
            (
                r#"{"op":"subscribe","sub":"a","types":"bogus"}"#,
                &[],
                reject(Some("a"), "bogus"),
            ),
            (
                r#"{"op":"subscribe","sub":"a","min_severity":"loud"}"#,
                &[],
                reject(Some("a"), "loud"),
            ),
            (
                r#"{"op":"subscribe","sub":"a","since":"nope"}"#,
                &[],
                reject(Some("a"), "not a stream position"),
            ),
            (
                r#"{"op":"subscribe","sub":"a","colour":"red"}"#,
                &[],
                reject(None, "colour"),
            ),
            (r#"{"op":"dance"}"#, &[], reject(None, "not a subscribe")),
            ("not json", &[], reject(None, "not a subscribe")),
        ];
        for (text, held, want) in cases {
            let got = decide(text, held, 2);
            match (&got, &want) {
                (
                    Action::Reject { sub, message },
                    Action::Reject {
                        sub: want_sub,
                        message: needle,
                    },
                ) => {
                    assert_eq!(sub, want_sub, "{text}");
                    assert!(message.contains(needle.as_str()), "{text}: {message}");
                }
                _ => assert_eq!(got, want, "{text}"),
            }
        }
    }

    #[test]
    fn a_browser_origin_must_match_the_host() {
        let h = |origin: Option<&str>, host: &str| {
            let mut m = HeaderMap::new();
            m.insert("host", host.parse().unwrap());
            if let Some(o) = origin {
                m.insert("origin", o.parse().unwrap());
            }
            m
        };
        assert!(origin_allowed(&h(
            Some("http://127.0.0.1:8080"),
            "127.0.0.1:8080"
        )));
        assert!(origin_allowed(&h(
            Some("https://Fleet.example"),
            "fleet.example"
        )));
        assert!(!origin_allowed(&h(
            Some("https://evil.example"),
            "fleet.example"
        )));
        assert!(!origin_allowed(&h(Some("null"), "fleet.example")));
        assert!(origin_allowed(&h(None, "fleet.example")));
    }
}
