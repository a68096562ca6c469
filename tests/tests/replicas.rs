//! Two collector binaries on one PostgreSQL: agents connect to either, and both serve the
//! same fleet health and incident numbers (the workers run once, under leases, and every
//! figure comes from the store).
//!
//! PostgreSQL comes from `FLEETLOG_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); a fresh database is created with `psql`
//! and dropped afterwards. Without a server the test says SKIP, unless
//! `FLEETLOG_REQUIRE_POSTGRES=1`.

use std::fs;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use fleetlog_tests::{Agent, AgentOpts, Collector, TestEnv};
use serde_json::Value;

fn psql(url: &str, sql: &str) -> Result<()> {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .context("running psql")?;
    ensure!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// `url` with its database replaced.
fn with_db(url: &str, db: &str) -> String {
    let (head, query) = url.split_once('?').map_or((url, ""), |(h, q)| (h, q));
    let scheme_end = head.find("://").map_or(0, |i| i + 3);
    let base = match head[scheme_end..].find('/') {
        Some(i) => &head[..scheme_end + i],
        None => head,
    };
    if query.is_empty() {
        format!("{base}/{db}")
    } else {
        format!("{base}/{db}?{query}")
    }
}

fn get(c: &Collector, path: &str) -> Result<Value> {
    let resp = reqwest::blocking::Client::new()
        .get(format!("{}{path}", c.base_url()))
        .bearer_auth(c.admin_token())
        .send()?;
    ensure!(resp.status().is_success(), "GET {path}: {}", resp.status());
    Ok(resp.json()?)
}

/// The parts of `/fleet` and `/incidents` that must agree between replicas.
fn view(c: &Collector) -> Result<(Value, Value)> {
    let mut fleet = get(c, "/api/v1/fleet")?;
    // Each replica reads the same rows; nothing per-replica is in these documents.
    fleet.as_object_mut().map(|o| o.remove("generated_ms"));
    let incidents = get(c, "/api/v1/incidents?limit=1000")?;
    Ok((fleet, incidents))
}

#[test]
fn two_collectors_on_one_postgres_show_the_same_numbers() -> Result<()> {
    let base = std::env::var("FLEETLOG_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let admin = with_db(&base, "postgres");
    if let Err(err) = psql(&admin, "SELECT 1") {
        if std::env::var("FLEETLOG_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
            bail!("PostgreSQL required but unreachable: {err}");
        }
        eprintln!("SKIP replicas: PostgreSQL unreachable ({err})");
        return Ok(());
    }
    let name = format!("fleetlog_replicas_{}", std::process::id());
    psql(&admin, &format!("DROP DATABASE IF EXISTS {name}"))?;
    psql(&admin, &format!("CREATE DATABASE {name}"))?;
    let url = with_db(&base, &name);
    let result = run(&url);
    let _ = psql(
        &admin,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    );
    result
}

fn run(url: &str) -> Result<()> {
    let mut env = TestEnv::new("replicas")?;
    let envs = [
        ("FLEETLOG_STORE_URL", url),
        ("FLEETLOG_HEALTH_INTERVAL_SECS", "1"),
        ("FLEETLOG_INCIDENTS_INTERVAL_SECS", "1"),
    ];
    let a = Collector::start_with(&env, &env.subdir("collector-a")?, &envs)?;
    let b = Collector::start_with(&env, &env.subdir("collector-b")?, &envs)?;
    // Each host's agent ships to one replica; errors on both hosts make one incident.
    let mut agents = Vec::new();
    for (i, (host, collector)) in [("pos-1", &a), ("pos-2", &b)].into_iter().enumerate() {
        let dir = env.subdir(&format!("logs-{i}"))?;
        let mut text = String::new();
        for n in 0..200 {
            if n % 10 == 3 {
                text.push_str(&format!(
                    "2026-11-28T10:00:{:02}Z ERROR upstream TLS handshake failed: certificate has expired (conn {n})\n",
                    n % 60
                ));
            } else {
                text.push_str(&format!(
                    "2026-11-28T10:00:{:02}Z INFO sale {n} completed\n",
                    n % 60
                ));
            }
        }
        fs::write(dir.join("payment.log"), text)?;
        let opts = AgentOpts::new(collector, host, &[format!("{}/*.log", dir.display())]);
        agents.push(Agent::start(&env, opts)?);
    }
    a.wait_for_lines("pos-1", 200, Duration::from_secs(60))?;
    a.wait_for_lines("pos-2", 200, Duration::from_secs(60))?;
    // Until the workers have seen everything, then both replicas must agree.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (fa, ia) = view(&a)?;
        let (fb, ib) = view(&b)?;
        let one = ia["incidents"].as_array().map_or(0, Vec::len) == 1
            && ia["incidents"][0]["event_count"] == 40;
        if one && fa == fb && ia == ib {
            eprintln!(
                "replicas agree: fleet {} ; incident {} on {} hosts, {} events",
                fa["counts"],
                ia["incidents"][0]["id"],
                ia["incidents"][0]["host_count"],
                ia["incidents"][0]["event_count"]
            );
            break;
        }
        if Instant::now() > deadline {
            bail!("replicas disagree or incidents incomplete:\nA {fa}\n{ia}\nB {fb}\n{ib}");
        }
        thread::sleep(Duration::from_millis(500));
    }
    a.ensure_no_panic()?;
    b.ensure_no_panic()?;
    drop(agents);
    drop(a);
    drop(b);
    env.finish();
    Ok(())
}
