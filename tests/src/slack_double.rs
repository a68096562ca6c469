//! A Slack incoming-webhook stand-in for tests: Slack is a SaaS we cannot run, so this
//! follows its published contract for incoming webhooks and Block Kit
//! (api.slack.com/messaging/webhooks, /reference/block-kit/blocks): `POST` of JSON to
//! `/services/T…/B…/<token>`; `text` and/or `blocks` (at most 50); each block one of the
//! known types with its own limits (header: `plain_text` ≤ 150 chars; section: `text` ≤
//! 3000 and at most 10 `fields` of ≤ 2000; actions: at most 25 elements, buttons with
//! `plain_text` ≤ 75 and a `url` ≤ 3000; context: at most 10 elements). Slack's answers:
//! `200 ok`, `400 invalid_payload` / `invalid_blocks`, `404 no_service` for an unknown
//! URL, and `429` with `Retry-After` when rate limited (here: while the test says so,
//! [`SlackDouble::set_rate_limited`]).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use serde_json::Value;

/// One request the stand-in received.
#[derive(Debug, Clone)]
pub struct SlackPost {
    pub status: u16,
    /// Why Slack would refuse it, if it would.
    pub problem: Option<String>,
    pub body: Value,
}

/// A running stand-in.
#[derive(Debug)]
pub struct SlackDouble {
    port: u16,
    got: Arc<Mutex<Vec<SlackPost>>>,
    limited: Arc<AtomicBool>,
}

/// The path the stand-in serves (a real webhook URL's shape).
pub const HOOK_PATH: &str = "/services/T0FLEET01/B0ALERT01/xoxTestTokenNotReal";

impl SlackDouble {
    /// Listens on a free loopback port; while `rate_limited`, every post gets 429
    /// (`Retry-After: 1`).
    pub fn start(rate_limited: bool) -> std::io::Result<SlackDouble> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let limited = Arc::new(AtomicBool::new(rate_limited));
        let (g, l) = (got.clone(), limited.clone());
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (g, l) = (g.clone(), l.clone());
                thread::spawn(move || {
                    let _ = serve(stream, &l, &g);
                });
            }
        });
        Ok(SlackDouble { port, got, limited })
    }

    /// Starts or stops answering 429.
    pub fn set_rate_limited(&self, on: bool) {
        self.limited.store(on, Ordering::SeqCst);
    }

    /// The webhook URL (a secret in a real deployment).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}{HOOK_PATH}", self.port)
    }

    /// Everything received so far.
    pub fn posts(&self) -> Vec<SlackPost> {
        self.got.lock().map(|g| g.clone()).unwrap_or_default()
    }
}

fn serve(
    stream: TcpStream,
    limited: &AtomicBool,
    got: &Mutex<Vec<SlackPost>>,
) -> std::io::Result<()> {
    let mut r = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    r.read_line(&mut request_line)?;
    let mut len = 0usize;
    let mut json = false;
    loop {
        let mut line = String::new();
        r.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => len = v.trim().parse().unwrap_or(0),
                "content-type" => json = v.trim().starts_with("application/json"),
                _ => {}
            }
        }
    }
    let mut body = vec![0; len.min(1 << 20)];
    r.read_exact(&mut body)?;
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let (status, answer, problem) = if method != "POST" || path != HOOK_PATH {
        (404, "no_service", Some(format!("{method} {path}")))
    } else if limited.load(Ordering::SeqCst) {
        (429, "rate_limited", None)
    } else if !json {
        (
            400,
            "invalid_payload",
            Some("content-type is not application/json".into()),
        )
    } else {
        match parsed.as_ref().map(check_message) {
            None => (400, "invalid_payload", Some("body is not JSON".into())),
            Some(Err(p)) => (400, "invalid_blocks", Some(p)),
            Some(Ok(())) => (200, "ok", None),
        }
    };
    if let Ok(mut g) = got.lock() {
        g.push(SlackPost {
            status,
            problem,
            body: parsed.unwrap_or(Value::Null),
        });
    }
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        _ => "Too Many Requests",
    };
    let retry = if status == 429 {
        "retry-after: 1\r\n"
    } else {
        ""
    };
    let mut w = stream;
    write!(
        w,
        "HTTP/1.1 {status} {reason}\r\ncontent-type: text/html\r\n{retry}content-length: {}\r\nconnection: close\r\n\r\n{answer}",
        answer.len()
    )
}

fn text_object(v: &Value, max: usize, plain_only: bool, at: &str) -> Result<(), String> {
    let kind = v["type"].as_str().unwrap_or("");
    let ok_kind = if plain_only {
        kind == "plain_text"
    } else {
        kind == "plain_text" || kind == "mrkdwn"
    };
    if !ok_kind {
        return Err(format!("{at}: text type `{kind}`"));
    }
    let n = v["text"]
        .as_str()
        .map(|t| t.chars().count())
        .ok_or(format!("{at}: no text"))?;
    if n == 0 || n > max {
        return Err(format!("{at}: text of {n} chars (1..={max})"));
    }
    Ok(())
}

/// Whether Slack would take `msg`; the error says what it would refuse.
pub fn check_message(msg: &Value) -> Result<(), String> {
    let blocks = msg["blocks"].as_array();
    if msg["text"].as_str().is_none_or(str::is_empty) && blocks.is_none() {
        return Err("neither text nor blocks".into());
    }
    let Some(blocks) = blocks else { return Ok(()) };
    if blocks.is_empty() || blocks.len() > 50 {
        return Err(format!("{} blocks (1..=50)", blocks.len()));
    }
    for (i, b) in blocks.iter().enumerate() {
        let at = format!("blocks[{i}]");
        match b["type"].as_str().unwrap_or("") {
            "header" => text_object(&b["text"], 150, true, &at)?,
            "divider" => {}
            "section" => {
                let fields = b["fields"].as_array();
                if b["text"].is_null() && fields.is_none() {
                    return Err(format!("{at}: section without text or fields"));
                }
                if !b["text"].is_null() {
                    text_object(&b["text"], 3000, false, &at)?;
                }
                if let Some(f) = fields {
                    if f.is_empty() || f.len() > 10 {
                        return Err(format!("{at}: {} fields (1..=10)", f.len()));
                    }
                    for (j, field) in f.iter().enumerate() {
                        text_object(field, 2000, false, &format!("{at}.fields[{j}]"))?;
                    }
                }
            }
            "actions" => {
                let elements = b["elements"]
                    .as_array()
                    .ok_or(format!("{at}: no elements"))?;
                if elements.is_empty() || elements.len() > 25 {
                    return Err(format!("{at}: {} elements (1..=25)", elements.len()));
                }
                for (j, e) in elements.iter().enumerate() {
                    let at = format!("{at}.elements[{j}]");
                    if e["type"] != "button" {
                        return Err(format!("{at}: element type {}", e["type"]));
                    }
                    text_object(&e["text"], 75, true, &at)?;
                    let url = e["url"].as_str().unwrap_or("");
                    if !url.is_empty() && (url.len() > 3000 || !url.starts_with("http")) {
                        return Err(format!("{at}: url `{url}`"));
                    }
                }
            }
            "context" => {
                let elements = b["elements"]
                    .as_array()
                    .ok_or(format!("{at}: no elements"))?;
                if elements.is_empty() || elements.len() > 10 {
                    return Err(format!("{at}: {} elements (1..=10)", elements.len()));
                }
            }
            other => return Err(format!("{at}: unknown block type `{other}`")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checks_messages_as_slack_documents_them() {
        let long = "x".repeat(151);
        let cases = [
            (json!({"text": "hi"}), true),
            (json!({}), false),
            (json!({"text": "t", "blocks": []}), false),
            (
                json!({"blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h"}}]}),
                true,
            ),
            (
                json!({"blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}]}),
                false,
            ),
            (
                json!({"blocks": [{"type": "header", "text": {"type": "plain_text", "text": long}}]}),
                false,
            ),
            (json!({"blocks": [{"type": "section"}]}), false),
            (
                json!({"blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "a"}]}]}),
                true,
            ),
            (
                json!({"blocks": [{"type": "actions", "elements": [{"type": "button",
                "text": {"type": "plain_text", "text": "Open"}, "url": "http://x"}]}]}),
                true,
            ),
            (json!({"blocks": [{"type": "carousel"}]}), false),
        ];
        for (msg, ok) in cases {
            assert_eq!(check_message(&msg).is_ok(), ok, "{msg}");
        }
    }
}
