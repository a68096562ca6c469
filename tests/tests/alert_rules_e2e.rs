//! The built-in alert rules that `alerts_e2e` does not drive, end to end with the real
//! binaries: an agent tails a service's log; one critical line fires `critical-event` and
//! opens a critical incident, which fires `incident`. A webhook receiver in the test (the
//! default route) gets each firing notification. Printed: each rule, its notification and
//! the value it reported.
//!
//! A second test drives `silent`, `processing-lag` and `agent-buffer`, their thresholds
//! edited through `PATCH /api/v1/rules/{id}` (seconds instead of ten minutes): one
//! service writes once and goes quiet (`silent`); then the collector is killed while the
//! agent keeps reading, so its small buffer fills (`agent-buffer`, from the heartbeat it
//! sends on reconnecting) and its backlog arrives late (`processing-lag`).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use fleetlog_tests::{Agent, AgentOpts, Collector, TestEnv};
use serde_json::{Value, json};

/// Every JSON body POSTed to it, answered 200.
fn receiver() -> Result<(String, Arc<Mutex<Vec<Value>>>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let g = g.clone();
            thread::spawn(move || -> std::io::Result<()> {
                let mut r = BufReader::new(stream.try_clone()?);
                let mut len = 0;
                loop {
                    let mut line = String::new();
                    r.read_line(&mut line)?;
                    let l = line.trim_end().to_ascii_lowercase();
                    if l.is_empty() {
                        break;
                    }
                    if let Some(v) = l.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; len];
                r.read_exact(&mut body)?;
                if let Ok(v) = serde_json::from_slice(&body) {
                    g.lock().unwrap().push(v);
                }
                let mut w = stream;
                w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            });
        }
    });
    Ok((url, got))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn append(path: &Path, lines: &[Value]) -> Result<()> {
    let mut f = OpenOptions::new().create(true).append(true).open(path)?;
    for l in lines {
        writeln!(f, "{l}")?;
    }
    f.sync_all()?;
    Ok(())
}

#[test]
fn critical_event_and_incident_rules_fire_end_to_end() -> Result<()> {
    let mut env = TestEnv::new("alert-rules")?;
    let (collector, _http, got) = start_with_hook(&env)?;

    let logs = env.subdir("logs")?;
    let _agent = Agent::start(
        &env,
        AgentOpts::new(&collector, "pos-3", &[format!("{}/*.log", logs.display())]),
    )?;
    let now = now_ms();
    // Ordinary traffic, then one critical line.
    let sales: Vec<Value> = (0..20)
        .map(|i| json!({"time": now, "level": "info", "msg": format!("sale {i} completed")}))
        .collect();
    append(&logs.join("checkout.log"), &sales)?;
    append(
        &logs.join("checkout.log"),
        &[json!({"time": now_ms(), "level": "fatal",
                 "msg": "payment service crashed: out of memory, process killed"})],
    )?;

    let want = ["critical-event", "incident"];
    let fired = wait_fired(&got, &want, Duration::from_secs(90))?;
    for rule in want {
        println!("{}", describe(rule, &fired[rule]));
    }
    if fired["critical-event"]["labels"]["service"] != "checkout" {
        bail!("critical-event: {}", fired["critical-event"]);
    }
    collector.ensure_no_panic().context("collector")?;
    env.finish();
    Ok(())
}

/// What the webhook receiver got: every JSON body POSTed to it.
type Got = Arc<Mutex<Vec<Value>>>;

/// Starts a collector that evaluates every second and notifies at once, with a webhook
/// channel on the default route to a receiver in the test; returns the collector, an HTTP
/// client and what the receiver got.
fn start_with_hook(env: &TestEnv) -> Result<(Collector, reqwest::blocking::Client, Got)> {
    let (hook, got) = receiver()?;
    let envs = [
        ("FLEETLOG_ALERTS_INTERVAL_SECS", "1"),
        ("FLEETLOG_ALERTS_GROUP_WAIT_SECS", "0"),
        ("FLEETLOG_ALERTS_GROUP_INTERVAL_SECS", "1"),
        ("FLEETLOG_INCIDENTS_INTERVAL_SECS", "1"),
        ("FLEETLOG_OUTBOX_POLL_INTERVAL_MS", "100"),
    ];
    let collector = Collector::start_with(env, &env.subdir("collector")?, &envs)?;
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let resp = http
        .post(format!("{}/api/v1/channels", collector.base_url()))
        .bearer_auth(collector.admin_token())
        .json(
            &json!({"name": "ops", "kind": "webhook", "config": {"url": hook},
                      "secrets": {"secret": "k"}, "route": {"default": true}}),
        )
        .send()?;
    if !resp.status().is_success() {
        bail!("creating the channel: {} {}", resp.status(), resp.text()?);
    }
    Ok((collector, http, got))
}

/// Collects the first firing notification of each rule until every rule in `want` fired.
fn wait_fired(
    got: &Mutex<Vec<Value>>,
    want: &[&str],
    within: Duration,
) -> Result<BTreeMap<String, Value>> {
    let deadline = Instant::now() + within;
    loop {
        let mut fired: BTreeMap<String, Value> = BTreeMap::new();
        for body in got.lock().unwrap().iter() {
            if body["status"] == "firing" {
                let rule = body["rule"].as_str().unwrap_or("").to_owned();
                fired
                    .entry(rule)
                    .or_insert_with(|| body["alerts"][0].clone());
            }
        }
        if want.iter().all(|r| fired.contains_key(*r)) {
            return Ok(fired);
        }
        if Instant::now() > deadline {
            bail!(
                "rules that fired: {:?}; expected {want:?}",
                fired.keys().collect::<Vec<_>>()
            );
        }
        thread::sleep(Duration::from_millis(500));
    }
}

fn describe(rule: &str, a: &Value) -> String {
    format!(
        "alert_rules_e2e: {rule} fired and notified: {} (value {}{} {} {}{}, labels {})",
        a["summary"].as_str().unwrap_or(""),
        a["value"],
        a["unit"].as_str().unwrap_or(""),
        a["comparison"].as_str().unwrap_or(""),
        a["threshold"],
        a["unit"].as_str().unwrap_or(""),
        a["labels"]
    )
}

/// Sets a built-in rule's threshold (and comparison) through the API.
fn set_threshold(
    http: &reqwest::blocking::Client,
    collector: &Collector,
    name: &str,
    threshold: f64,
) -> Result<()> {
    let auth = format!("Bearer {}", collector.admin_token());
    let rules: Value = http
        .get(format!("{}/api/v1/rules", collector.base_url()))
        .header("authorization", &auth)
        .send()?
        .error_for_status()?
        .json()?;
    let rule = rules["rules"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == name))
        .with_context(|| format!("no built-in rule {name}: {rules}"))?;
    let mut spec = rule["spec"].clone();
    spec["threshold"] = json!(threshold);
    let resp = http
        .patch(format!(
            "{}/api/v1/rules/{}",
            collector.base_url(),
            rule["id"]
        ))
        .header("authorization", &auth)
        .json(&json!({ "spec": spec }))
        .send()?;
    if !resp.status().is_success() {
        bail!("PATCH rule {name}: {} {}", resp.status(), resp.text()?);
    }
    Ok(())
}

#[test]
fn silent_lag_and_buffer_rules_fire_end_to_end() -> Result<()> {
    let mut env = TestEnv::new("alert-rules-agent")?;
    let (mut collector, http, got) = start_with_hook(&env)?;
    // Seconds instead of the defaults' ten minutes and one minute; the buffer rule at
    // 40 % so that a batch or two acknowledged before the heartbeat does not hide it.
    set_threshold(&http, &collector, "silent", 5.0)?;
    set_threshold(&http, &collector, "processing-lag", 3.0)?;
    set_threshold(&http, &collector, "agent-buffer", 40.0)?;

    let logs = env.subdir("logs")?;
    // A small buffer (64 KiB, 16 KiB batches) that blocks the reader when full, and a
    // heartbeat slow enough that the one sent on reconnecting is the one evaluated.
    let agent_env = [
        ("FLEETLOG_BUFFER_MAX_BYTES", "65536"),
        ("FLEETLOG_BATCH_MAX_BYTES", "16384"),
        ("FLEETLOG_HEARTBEAT_SECS", "120"),
    ];
    let _agent = Agent::start_with(
        &env,
        AgentOpts::new(
            &collector,
            "kiosk-7",
            &[format!("{}/*.log", logs.display())],
        ),
        &agent_env,
    )?;
    append(
        &logs.join("scanner.log"),
        &[json!({"time": now_ms(), "level": "info", "msg": "scanner ready"})],
    )?;
    let fired = wait_fired(&got, &["silent"], Duration::from_secs(60))?;
    println!("{}", describe("silent", &fired["silent"]));
    if fired["silent"]["labels"]["host"] != "kiosk-7" {
        bail!("silent: {}", fired["silent"]);
    }

    // The collector goes away; the agent keeps reading until its buffer is full.
    collector.kill9()?;
    let down = Instant::now();
    let mut lines = Vec::new();
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    for i in 0..6_000 {
        // Incompressible text, so the compressed batches fill the buffer.
        let mut noise = String::new();
        for _ in 0..4 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            write!(noise, "{rng:016x}").unwrap();
        }
        lines.push(json!({"time": now_ms(), "level": "info",
                          "msg": format!("basket {i} priced, token {noise}")}));
    }
    append(&logs.join("checkout.log"), &lines)?;
    thread::sleep(Duration::from_secs(8));
    collector.restart()?;
    println!(
        "alert_rules_e2e: collector down for {:.1} s while the agent buffered",
        down.elapsed().as_secs_f64()
    );

    let want = ["agent-buffer", "processing-lag"];
    let fired = wait_fired(&got, &want, Duration::from_secs(90))?;
    for rule in want {
        println!("{}", describe(rule, &fired[rule]));
    }
    if fired["agent-buffer"]["labels"]["host"] != "kiosk-7" {
        bail!("agent-buffer: {}", fired["agent-buffer"]);
    }
    if fired["processing-lag"]["labels"]["service"] != "checkout" {
        bail!("processing-lag: {}", fired["processing-lag"]);
    }
    collector.ensure_no_panic().context("collector")?;
    env.finish();
    Ok(())
}
