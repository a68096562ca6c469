//! The built-in alert rules that `alerts_e2e` does not drive, end to end with the real
//! binaries: an agent tails a service's log; one critical line fires `critical-event` and
//! opens a critical incident, which fires `incident`. A webhook receiver in the test (the
//! default route) gets each firing notification. Printed: each rule, its notification and
//! the value it reported.
//!
//! `processing-lag`, `agent-buffer` and `silent` are covered by the evaluator's table
//! tests (`alerts::evaluate`): lag is arrival minus the time the agent read the line, so
//! it needs an agent with a backlog; filling an agent's buffer needs it cut off from the
//! collector that would receive its heartbeat; `silent` needs ten quiet minutes.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::collections::BTreeMap;
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
    let (hook, got) = receiver()?;
    let envs = [
        ("FLEETLOG_ALERTS_INTERVAL_SECS", "1"),
        ("FLEETLOG_ALERTS_GROUP_WAIT_SECS", "0"),
        ("FLEETLOG_ALERTS_GROUP_INTERVAL_SECS", "1"),
        ("FLEETLOG_INCIDENTS_INTERVAL_SECS", "1"),
        ("FLEETLOG_OUTBOX_POLL_INTERVAL_MS", "100"),
    ];
    let collector = Collector::start_with(&env, &env.subdir("collector")?, &envs)?;
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let auth = format!("Bearer {}", collector.admin_token());
    let resp = http
        .post(format!("{}/api/v1/channels", collector.base_url()))
        .header("authorization", &auth)
        .json(
            &json!({"name": "ops", "kind": "webhook", "config": {"url": hook},
                      "secrets": {"secret": "k"}, "route": {"default": true}}),
        )
        .send()?;
    if !resp.status().is_success() {
        bail!("creating the channel: {} {}", resp.status(), resp.text()?);
    }

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
    let deadline = Instant::now() + Duration::from_secs(90);
    let fired = loop {
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
            break fired;
        }
        if Instant::now() > deadline {
            bail!(
                "rules that fired: {:?}; expected {want:?}",
                fired.keys().collect::<Vec<_>>()
            );
        }
        thread::sleep(Duration::from_millis(500));
    };
    for rule in want {
        let a = &fired[rule];
        println!(
            "alert_rules_e2e: {rule} fired and notified: {} (value {}{} {} {}{}, labels {})",
            a["summary"].as_str().unwrap_or(""),
            a["value"],
            a["unit"].as_str().unwrap_or(""),
            a["comparison"].as_str().unwrap_or(""),
            a["threshold"],
            a["unit"].as_str().unwrap_or(""),
            a["labels"]
        );
    }
    if fired["critical-event"]["labels"]["service"] != "checkout" {
        bail!("critical-event: {}", fired["critical-event"]);
    }
    collector.ensure_no_panic().context("collector")?;
    env.finish();
    Ok(())
}
