//! Alerts end to end with the real binaries and real receivers started by the test:
//! an agent tails a log with error lines → the built-in error-rate rule (window edited
//! to 60 s through the API) fires → the webhook receiver (in this test) answers 503
//! first, and the SMTP server (aiosmtpd from PyPI) is not up yet, so the notification
//! waits in the outbox → the collector is killed with SIGKILL → the receivers come up and
//! the collector restarts → the webhook receiver gets the firing notification once and
//! verifies its HMAC signature, the email arrives at aiosmtpd → healthy lines clear the
//! condition → one resolved notification follows on both channels.
//!
//! Then a channel that hangs for a minute (each attempt cut at the 10 s delivery timeout, then retried): ingest throughput (lines/s from write to
//! stored) is measured while a delivery to it hangs and without it, same run.
//!
//! A Slack channel (to a stand-in following Slack's published webhook and Block Kit
//! contract, `fleetlog_tests::slack_double`) gets the same firing and resolved messages.
//!
//! Printed: deliveries and duplicates per channel, ingest with and without the hang.
//! Needs `python3 -m aiosmtpd`; without it the test says SKIP, unless
//! `FLEETLOG_REQUIRE_AIOSMTPD=1` (set by `.ci/run`), when it fails.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use fleetlog_tests::slack_double::{self as slack, SlackDouble};
use fleetlog_tests::{Agent, AgentOpts, Collector, TestEnv, free_tcp_port};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

const SECRET: &str = "e2e-webhook-signing-secret";
/// Receivers reject timestamps further than this from their clock.
const REPLAY_WINDOW_SECS: i64 = 300;

/// What the webhook receiver answers.
const DOWN: u8 = 0;
const UP: u8 = 1;
const HANG: u8 = 2;

#[derive(Debug, Clone)]
struct Received {
    key: String,
    accepted: bool,
    signature_ok: bool,
    body: Value,
}

/// A webhook receiver on a real socket: verifies `X-Fleetlog-Signature` as the README
/// tells receivers to, and records every request.
struct Receiver {
    port: u16,
    mode: Arc<AtomicU8>,
    got: Arc<Mutex<Vec<Received>>>,
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn verify(secret: &[u8], ts: &str, body: &[u8], header: &str) -> bool {
    let Ok(t) = ts.parse::<i64>() else {
        return false;
    };
    if (now_secs() - t).abs() > REPLAY_WINDOW_SECS {
        return false;
    }
    let Some(sig) = header
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

impl Receiver {
    fn start(mode: u8) -> Result<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let mode = Arc::new(AtomicU8::new(mode));
        let got = Arc::new(Mutex::new(Vec::new()));
        let (m, g) = (mode.clone(), got.clone());
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (m, g) = (m.clone(), g.clone());
                thread::spawn(move || {
                    let _ = serve(stream, &m, &g);
                });
            }
        });
        Ok(Receiver { port, mode, got })
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, mode: &AtomicU8, got: &Mutex<Vec<Received>>) -> Result<()> {
    let mut r = BufReader::new(stream.try_clone()?);
    let mut headers = BTreeMap::new();
    let mut line = String::new();
    r.read_line(&mut line)?;
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.insert(k.trim().to_lowercase(), v.trim().to_owned());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    let h = |k: &str| headers.get(k).cloned().unwrap_or_default();
    let signature_ok = verify(
        SECRET.as_bytes(),
        &h("x-fleetlog-timestamp"),
        &body,
        &h("x-fleetlog-signature"),
    );
    let m = mode.load(Ordering::SeqCst);
    got.lock().unwrap().push(Received {
        key: h("x-fleetlog-idempotency-key"),
        accepted: m == UP && signature_ok,
        signature_ok,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    let mut w = stream;
    match m {
        UP if signature_ok => {
            w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")?
        }
        UP => w.write_all(
            b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        )?,
        HANG => thread::sleep(Duration::from_secs(60)),
        _ => w.write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        )?,
    }
    Ok(())
}

/// aiosmtpd writing every mail into a Maildir.
struct Smtp {
    child: Child,
    maildir: PathBuf,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn aiosmtpd_available() -> bool {
    Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Smtp {
    fn start(port: u16, maildir: &Path) -> Result<Smtp> {
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting aiosmtpd")?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            ensure!(
                Instant::now() < deadline,
                "aiosmtpd did not listen on {port}"
            );
            thread::sleep(Duration::from_millis(100));
        }
        Ok(Smtp {
            child,
            maildir: maildir.to_owned(),
        })
    }

    /// Subjects of the mails received so far.
    fn subjects(&self) -> Vec<String> {
        let mut out = Vec::new();
        let Ok(dir) = fs::read_dir(self.maildir.join("new")) else {
            return out;
        };
        for e in dir.flatten() {
            let text = fs::read_to_string(e.path()).unwrap_or_default();
            if let Some(s) = text.lines().find_map(|l| l.strip_prefix("Subject: ")) {
                out.push(s.to_owned());
            }
        }
        out.sort();
        out
    }
}

struct Api {
    base: String,
    token: String,
    http: reqwest::blocking::Client,
}

impl Api {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<(u16, String)> {
        let url = format!("{}{path}", self.base);
        let mut req = self
            .http
            .request(method.parse()?, &url)
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().with_context(|| format!("{method} {url}"))?;
        Ok((resp.status().as_u16(), resp.text()?))
    }

    fn json(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let (status, text) = self.call(method, path, body)?;
        ensure!(
            (200..300).contains(&status),
            "{method} {path}: {status} {text}"
        );
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut f: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        match f() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => {}
        }
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        thread::sleep(Duration::from_millis(200));
    }
}

fn append(path: &Path, lines: &[String]) -> Result<()> {
    let mut f = OpenOptions::new().create(true).append(true).open(path)?;
    for l in lines {
        writeln!(f, "{l}")?;
    }
    f.sync_all()?;
    Ok(())
}

fn lines(n: usize, errors: usize, tag: &str) -> Vec<String> {
    (0..n)
        .map(|i| {
            if i < errors {
                json!({"level": "error", "msg": format!("payment failed: upstream processor timeout after 30s ({tag} {i})")}).to_string()
            } else {
                json!({"level": "info", "msg": format!("sale {tag}-{i} completed")}).to_string()
            }
        })
        .collect()
}

fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `tests/stream/ws_client.py` against `/api/v1/ws` and compares its items with the
/// SSE stream's `sse` items (type, row id), in order.
fn ws_matches_sse(base: &str, token: &str, sse: &[(String, String, Value)]) -> Result<()> {
    if !python_has("websockets") {
        if std::env::var("FLEETLOG_REQUIRE_WEBSOCKETS").as_deref() == Ok("1") {
            bail!(
                "websockets is required (FLEETLOG_REQUIRE_WEBSOCKETS=1) but python3 cannot import it"
            );
        }
        println!("SKIP alerts_e2e WebSocket part: python3 -m pip install websockets");
        return Ok(());
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("stream/ws_client.py");
    let out = Command::new("python3")
        .arg(&script)
        .args([base, token, "pos-17"])
        .output()
        .context("running ws_client.py")?;
    ensure!(
        out.status.success(),
        "ws_client.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).context("ws_client.py output")?;
    let pairs = |v: &Value| -> Vec<(String, Option<i64>)> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|i| {
                        (
                            i["type"].as_str().unwrap_or("").to_owned(),
                            i["item_id"].as_i64(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let want: Vec<(String, Option<i64>)> = sse
        .iter()
        .map(|e| (e.1.clone(), e.2["id"].as_i64()))
        .collect();
    let all = pairs(&got["all"]);
    ensure!(
        all == want,
        "WebSocket items {all:?} differ from SSE's {want:?}"
    );
    let cut = usize::try_from(got["cut"].as_u64().unwrap_or(0)).unwrap_or(0);
    let resumed = pairs(&got["resumed"]);
    ensure!(
        resumed == all[cut..],
        "WebSocket resume after item {cut} lost or repeated: {resumed:?}"
    );
    ensure!(
        got["critical"].as_array().is_some_and(Vec::is_empty),
        "min_severity=critical let through {}",
        got["critical"]
    );
    ensure!(
        got["bad_message"]["msg"] == "error",
        "{}",
        got["bad_message"]
    );
    ensure!(
        got["bad_filter"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("nonsense")),
        "{}",
        got["bad_filter"]
    );
    ensure!(
        got["subscribed"]["msg"] == "subscribed",
        "{}",
        got["subscribed"]
    );
    ensure!(
        got["unsubscribed"]["msg"] == "unsubscribed",
        "{}",
        got["unsubscribed"]
    );
    ensure!(
        got["no_token_status"] == 401,
        "no token: {}",
        got["no_token_status"]
    );
    println!(
        "alerts_e2e: WebSocket read {} items (same as SSE); resumed after item {cut}: {} items, lost 0, repeated 0; bad message and bad filter answered with errors; no token: 401",
        all.len(),
        resumed.len()
    );
    Ok(())
}

#[test]
fn alert_fires_survives_kill9_notifies_once_and_resolves() -> Result<()> {
    if !aiosmtpd_available() {
        if std::env::var("FLEETLOG_REQUIRE_AIOSMTPD").as_deref() == Ok("1") {
            bail!(
                "aiosmtpd is required (FLEETLOG_REQUIRE_AIOSMTPD=1) but `python3 -m aiosmtpd` is missing"
            );
        }
        println!("SKIP alerts_e2e: python3 -m aiosmtpd not installed (pip install aiosmtpd)");
        return Ok(());
    }
    let mut env = TestEnv::new("alerts")?;
    let hook = Receiver::start(DOWN)?;
    let hung = Receiver::start(HANG)?;
    let smtp_port = free_tcp_port()?;
    // aiosmtpd's Mailbox creates the Maildir (with new/, cur/, tmp/) only if it is absent.
    let maildir = env.subdir("mail")?.join("maildir");
    let envs = [
        ("FLEETLOG_ALERTS_INTERVAL_SECS", "1"),
        ("FLEETLOG_ALERTS_GROUP_WAIT_SECS", "0"),
        ("FLEETLOG_ALERTS_GROUP_INTERVAL_SECS", "1"),
        ("FLEETLOG_OUTBOX_POLL_INTERVAL_MS", "100"),
        ("FLEETLOG_OUTBOX_BASE_BACKOFF_MS", "300"),
        ("FLEETLOG_OUTBOX_MAX_BACKOFF_MS", "1500"),
        ("FLEETLOG_OUTBOX_MAX_ATTEMPTS", "1000"),
        ("FLEETLOG_OUTBOX_LEASE_MS", "15000"),
        ("FLEETLOG_OUTBOX_DELIVERY_TIMEOUT_MS", "10000"),
        ("RUST_LOG", "info,fleetlog_collector::outbox=debug"),
    ];
    let data = env.subdir("collector")?;
    let mut collector = Collector::start_with(&env, &data, &envs)?;
    let api = Api {
        base: collector.base_url(),
        token: collector.admin_token().to_owned(),
        http: reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
    };
    let only_error_rate = json!({"rules": ["error-rate"]});
    let webhook = api.json(
        "POST",
        "/api/v1/channels",
        Some(
            json!({"name": "ops-webhook", "kind": "webhook", "config": {"url": hook.url()},
                    "secrets": {"secret": SECRET}, "route": only_error_rate}),
        ),
    )?;
    let email = api.json(
        "POST",
        "/api/v1/channels",
        Some(json!({"name": "ops-email", "kind": "email",
                    "config": {"host": "127.0.0.1", "port": smtp_port, "tls": "none",
                               "from": "fleetlog@example.test", "to": ["oncall@example.test"]},
                    "route": only_error_rate})),
    )?;
    // Slack's stand-in checks each message against Block Kit's documented limits, and
    // rate-limits (429, Retry-After: 1) until the restart below, so the firing message
    // waits in the outbox like the others and is retried.
    let slack = SlackDouble::start(true)?;
    api.json(
        "POST",
        "/api/v1/channels",
        Some(json!({"name": "ops-slack", "kind": "slack",
                    "secrets": {"webhook_url": slack.url()}, "route": only_error_rate})),
    )?;
    // Secrets are write-only.
    let (_, listed) = api.call("GET", "/api/v1/channels", None)?;
    ensure!(
        !listed.contains(SECRET),
        "a channel listing shows the secret: {listed}"
    );
    ensure!(listed.contains("\"secrets_set\":[\"secret\"]"), "{listed}");
    // The built-in error-rate rule over 60 s instead of 5 min, so the test clears in a minute.
    let rules = wait_until("built-in rules", Duration::from_secs(10), || {
        let v = api.json("GET", "/api/v1/rules", None)?;
        Ok((v["rules"].as_array().map_or(0, Vec::len) >= 6).then_some(v))
    })?;
    let rule = rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "error-rate")
        .cloned()
        .context("no error-rate rule")?;
    let mut spec = rule["spec"].clone();
    spec["window_secs"] = json!(60);
    api.json(
        "PATCH",
        &format!("/api/v1/rules/{}", rule["id"]),
        Some(json!({"spec": spec})),
    )?;

    let logs = env.subdir("logs")?;
    let log = logs.join("payments.log");
    let agent = Agent::start(
        &env,
        AgentOpts::new(&collector, "pos-17", &[format!("{}/*.log", logs.display())]),
    )?;
    append(&log, &lines(50, 20, "bad"))?;
    ensure!(collector.wait_for_lines("pos-17", 50, Duration::from_secs(60))? >= 50);
    let fired_at = Instant::now();
    let alert = wait_until(
        "the error-rate alert to fire",
        Duration::from_secs(30),
        || {
            let v = api.json("GET", "/api/v1/alerts?state=firing", None)?;
            Ok(v["alerts"]
                .as_array()
                .and_then(|a| a.iter().find(|x| x["rule_id"] == rule["id"]).cloned()))
        },
    )?;
    ensure!(
        alert["labels"]["host"] == "pos-17" && alert["labels"]["service"] == "payments",
        "{alert}"
    );
    // The webhook refused (503) at least once: the notification is queued, not delivered.
    wait_until("a refused webhook attempt", Duration::from_secs(20), || {
        Ok((!hook.got().is_empty()).then_some(()))
    })?;
    ensure!(hook.got().iter().all(|r| !r.accepted));

    // SIGKILL between firing and delivery; then the receivers come up and it restarts.
    collector.kill9()?;
    hook.mode.store(UP, Ordering::SeqCst);
    slack.set_rate_limited(false);
    let smtp = Smtp::start(smtp_port, &maildir)?;
    collector.restart()?;
    let firing = wait_until("the firing webhook", Duration::from_secs(60), || {
        Ok(hook
            .got()
            .into_iter()
            .find(|r| r.accepted && r.body["status"] == "firing"))
    })?;
    let delivered_after = fired_at.elapsed();
    ensure!(firing.signature_ok);
    ensure!(
        firing.body["alerts"][0]["fingerprint"] == alert["fingerprint"],
        "{}",
        firing.body
    );
    ensure!(firing.body["alerts"][0]["labels"]["host"] == "pos-17");
    wait_until("the firing email", Duration::from_secs(60), || {
        Ok(smtp
            .subjects()
            .iter()
            .any(|s| s.starts_with("[FIRING:1] error-rate"))
            .then_some(()))
    })?;

    // Clear: healthy lines in the next wall-clock minute push the 60 s window past the errors.
    let into_minute = now_secs() % 60;
    thread::sleep(Duration::from_secs(
        u64::try_from(62 - into_minute).unwrap_or(0),
    ));
    append(&log, &lines(60, 0, "good"))?;
    let resolved = wait_until("the resolved webhook", Duration::from_secs(90), || {
        Ok(hook
            .got()
            .into_iter()
            .find(|r| r.accepted && r.body["status"] == "resolved"))
    })?;
    ensure!(resolved.signature_ok);
    ensure!(
        resolved.body["alerts"][0]["ends_ms"].is_i64(),
        "{}",
        resolved.body
    );
    wait_until("the resolved email", Duration::from_secs(60), || {
        Ok(smtp
            .subjects()
            .iter()
            .any(|s| s.starts_with("[RESOLVED] error-rate"))
            .then_some(()))
    })?;

    // The live stream, read by curl: resuming with Last-Event-ID loses and repeats nothing.
    let sse = |extra: &[&str]| -> Result<Vec<(String, String, Value)>> {
        let out = Command::new("curl")
            .args(["-sN", "--max-time", "3", "-H"])
            .arg(format!("Authorization: Bearer {}", api.token))
            .args(extra)
            .output()
            .context("running curl")?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut events = Vec::new();
        for block in text.split("\n\n") {
            let (mut id, mut kind, mut data) = (String::new(), String::new(), Value::Null);
            for l in block.lines() {
                if let Some(v) = l.strip_prefix("id: ") {
                    id = v.to_owned();
                } else if let Some(v) = l.strip_prefix("event: ") {
                    kind = v.to_owned();
                } else if let Some(v) = l.strip_prefix("data: ") {
                    data = serde_json::from_str(v).unwrap_or(Value::Null);
                }
            }
            if !kind.is_empty() {
                events.push((id, kind, data));
            }
        }
        Ok(events)
    };
    let url = |q: &str| format!("{}/api/v1/stream?{q}", api.base);
    let all = sse(&[&url("types=event,alert&host=pos-17&since=e0.h0.i0.a0")])?;
    let n_events = all.iter().filter(|e| e.1 == "event").count();
    // An event stands for `occurrences` like lines of one batch and minute.
    let n_lines: i64 = all
        .iter()
        .filter(|e| e.1 == "event")
        .map(|e| e.2["data"]["occurrences"].as_i64().unwrap_or(1))
        .sum();
    let n_alerts = all.iter().filter(|e| e.1 == "alert").count();
    ensure!(
        n_lines >= 20,
        "stream: {n_events} unhealthy events for {n_lines} lines, expected the 20 error lines"
    );
    ensure!(
        n_alerts >= 2,
        "stream: {n_alerts} alert changes, expected firing and resolved"
    );
    let cut = all.len() / 3;
    let resumed = sse(&[
        "-H",
        &format!("Last-Event-ID: {}", all[cut - 1].0),
        &url("types=event,alert&host=pos-17"),
    ])?;
    let ids = |v: &[(String, String, Value)]| {
        v.iter()
            .map(|e| (e.1.clone(), e.2["id"].as_i64()))
            .collect::<Vec<_>>()
    };
    ensure!(
        ids(&resumed) == ids(&all[cut..]),
        "resume lost or repeated items"
    );
    let critical_only = sse(&[&url("types=event&min_severity=critical&since=e0.h0.i0.a0")])?;
    ensure!(
        critical_only.is_empty(),
        "min_severity=critical let through {critical_only:?}"
    );
    println!(
        "alerts_e2e: stream read {} items ({n_events} events, {n_alerts} alert changes); resumed after item {cut}: {} items, lost 0, repeated 0",
        all.len(),
        resumed.len()
    );

    // The same stream over the WebSocket, read by `websockets` (PyPI): the same items as
    // SSE, resume loses and repeats nothing, bad messages get an error and keep the line up.
    ws_matches_sse(&api.base, &api.token, &all)?;

    // A channel that hangs for a minute: ingest with and without a hung delivery.
    let rate = |tag: &str, expected_total: u64| -> Result<f64> {
        let t0 = Instant::now();
        append(&log, &lines(2_000, 0, tag))?;
        let got = collector.wait_for_lines("pos-17", expected_total, Duration::from_secs(60))?;
        ensure!(
            got >= expected_total,
            "ingest stalled: {got} of {expected_total}"
        );
        Ok(2_000.0 / t0.elapsed().as_secs_f64())
    };
    let before = collector.lines_received("pos-17")?;
    let without = rate("base", before + 2_000)?;
    let hung_channel = api.json(
        "POST",
        "/api/v1/channels",
        Some(
            json!({"name": "hung", "kind": "webhook", "config": {"url": hung.url()},
                    "secrets": {"secret": SECRET}, "route": {"rules": ["none"]}}),
        ),
    )?;
    api.json(
        "POST",
        &format!("/api/v1/channels/{}/test", hung_channel["id"]),
        None,
    )?;
    wait_until(
        "the hung delivery to start",
        Duration::from_secs(20),
        || Ok((!hung.got().is_empty()).then_some(())),
    )?;
    let during = rate("hang", before + 4_000)?;
    ensure!(
        during > without / 3.0,
        "ingest slowed by a hung channel: {during:.0} vs {without:.0} lines/s"
    );
    // The other channels still deliver while it hangs: a test notification arrives.
    let n_before = hook.got().len();
    api.json(
        "POST",
        &format!("/api/v1/channels/{}/test", webhook["id"]),
        None,
    )?;
    wait_until(
        "a test notification during the hang",
        Duration::from_secs(20),
        || {
            Ok((hook.got().len() > n_before
                && hook
                    .got()
                    .iter()
                    .any(|r| r.accepted && r.body["status"] == "test"))
            .then_some(()))
        },
    )?;

    // Settle, then count.
    thread::sleep(Duration::from_secs(3));
    let got = hook.got();
    let accepted: Vec<&Received> = got
        .iter()
        .filter(|r| r.accepted && r.body["status"] != "test")
        .collect();
    let mut keys: Vec<&str> = accepted.iter().map(|r| r.key.as_str()).collect();
    keys.sort_unstable();
    let distinct = {
        let mut k = keys.clone();
        k.dedup();
        k.len()
    };
    let refused = got.iter().filter(|r| !r.accepted).count();
    let subjects = smtp.subjects();
    let alert_mails: Vec<&String> = subjects
        .iter()
        .filter(|s| !s.starts_with("[TEST]"))
        .collect();
    let deliveries = api.json(
        "GET",
        &format!("/api/v1/channels/{}/deliveries", email["id"]),
        None,
    )?;
    let email_attempts = deliveries["deliveries"].as_array().map_or(0, Vec::len);
    println!(
        "alerts_e2e: webhook notifications delivered {} (firing 1 + resolved 1 expected), duplicates {}, refused attempts before the restart {}, all signatures valid {}",
        accepted.len(),
        accepted.len() - distinct,
        refused,
        accepted.iter().all(|r| r.signature_ok)
    );
    println!(
        "alerts_e2e: emails delivered {} {:?}, duplicates {}, email delivery attempts {}",
        alert_mails.len(),
        alert_mails,
        alert_mails.len() - {
            let mut s = alert_mails.clone();
            s.dedup();
            s.len()
        },
        email_attempts
    );
    println!(
        "alerts_e2e: firing notification delivered {delivered_after:.1?} after the alert fired (including the kill -9 and restart)"
    );
    println!(
        "alerts_e2e: ingest without a hung channel {without:.0} lines/s, during a 60 s hang {during:.0} lines/s"
    );
    ensure!(
        accepted.len() == 2 && distinct == 2,
        "webhook: {accepted:?}"
    );
    ensure!(alert_mails.len() == 2, "emails: {subjects:?}");
    let posts = slack.posts();
    let slack_ok: Vec<String> = posts
        .iter()
        .filter(|p| p.status == 200)
        .map(|p| p.body["text"].as_str().unwrap_or("").to_owned())
        .filter(|t| !t.starts_with("[TEST]"))
        .collect();
    let slack_refused: Vec<&Option<String>> = posts
        .iter()
        .filter(|p| p.status == 400 || p.status == 404)
        .map(|p| &p.problem)
        .collect();
    println!(
        "alerts_e2e: Slack messages accepted {} {:?}, rate-limited then retried {}, refused as invalid Block Kit {}",
        slack_ok.len(),
        slack_ok,
        posts.iter().filter(|p| p.status == 429).count(),
        slack_refused.len()
    );
    ensure!(slack_refused.is_empty(), "Slack refused: {slack_refused:?}");
    ensure!(
        slack_ok.len() == 2
            && slack_ok[0].starts_with("[FIRING")
            && slack_ok[1].starts_with("[RESOLVED]"),
        "Slack: {slack_ok:?}"
    );
    ensure!(
        !collector.log_text()?.contains(slack::HOOK_PATH),
        "the collector log shows the Slack webhook URL"
    );
    drop(agent);
    collector.ensure_no_panic()?;
    let log_text = collector.log_text()?;
    ensure!(
        !log_text.contains(SECRET),
        "the collector log shows the webhook secret"
    );
    env.finish();
    Ok(())
}
