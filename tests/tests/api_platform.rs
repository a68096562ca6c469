//! The API platform against the real binaries:
//! - `schemathesis` (PyPI), a client nobody here wrote, fuzzes every operation of
//!   `/api/v1/openapi.json` on a collector holding real agent data and must find no 5xx
//!   and no response that violates the document;
//! - no secret used in a run (agent and admin tokens, a user's password, an API token, a
//!   session cookie, a CSRF token, a database password) appears in any process's log.
//!
//! `schemathesis` must be on PATH (`.ci/run` installs it); without it the first test says
//! SKIP, unless `FLEETLOG_REQUIRE_SCHEMATHESIS=1`.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use fleetlog_tests::{Agent, AgentOpts, Collector, TestEnv, collector_bin};

const PASSWORD: &str = "Tr1cky-pass phrase";
const DB_PASSWORD: &str = "DbPassw0rd-xyzzy";
/// Debug logging for our crates, so a secret printed at any level would be caught.
const VERBOSE: (&str, &str) = (
    "RUST_LOG",
    "info,fleetlog_collector=trace,fleetlog_agent=trace,fleetlog_protocol=trace",
);

/// Writes a log with errors and warnings, starts an agent on it, and waits for its lines.
fn agent_with_data(env: &TestEnv, collector: &Collector, envs: &[(&str, &str)]) -> Result<Agent> {
    let logs = env.subdir("logs")?;
    let mut text = String::new();
    for i in 0..300 {
        let line = match i % 10 {
            3 => format!(
                "2026-11-28T10:00:{:02}Z ERROR payment declined: gateway timeout after 30s (order {i})\n",
                i % 60
            ),
            6 => format!(
                "2026-11-28T10:00:{:02}Z WARN disk usage 91% on /var (check {i})\n",
                i % 60
            ),
            9 => format!(
                "2026-11-28T10:00:{:02}Z ERROR write failed: No space left on device ({i})\n",
                i % 60
            ),
            _ => format!(
                "2026-11-28T10:00:{:02}Z INFO sale completed basket={i}\n",
                i % 60
            ),
        };
        text.push_str(&line);
    }
    fs::write(logs.join("pos.log"), text)?;
    let opts = AgentOpts::new(collector, "pos-001", &[format!("{}/*.log", logs.display())]);
    let agent = Agent::start_with(env, opts, envs)?;
    collector.wait_for_lines("pos-001", 300, Duration::from_secs(60))?;
    Ok(agent)
}

/// Runs `fleetlog-collector user add` on the collector's store while it runs.
fn add_user(data_dir: &Path, name: &str, role: &str) -> Result<String> {
    let mut child = Command::new(collector_bin()?)
        .args([
            "user",
            "add",
            name,
            "--role",
            role,
            "--password-stdin",
            "--data-dir",
        ])
        .arg(data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(format!("{PASSWORD}\n").as_bytes())?;
    let out = child.wait_with_output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(out.status.success(), "user add failed: {text}");
    Ok(text)
}

fn schemathesis() -> Option<&'static str> {
    let found = Command::new("schemathesis")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    found.then_some("schemathesis")
}

#[test]
fn schemathesis_finds_no_server_error_and_no_schema_violation() -> Result<()> {
    let Some(st) = schemathesis() else {
        if std::env::var("FLEETLOG_REQUIRE_SCHEMATHESIS").is_ok_and(|v| v == "1") {
            bail!("schemathesis is required (FLEETLOG_REQUIRE_SCHEMATHESIS=1) but not on PATH");
        }
        eprintln!("SKIP schemathesis: not on PATH (pip install schemathesis)");
        return Ok(());
    };
    let mut env = TestEnv::new("schemathesis")?;
    let data_dir = env.subdir("collector")?;
    // The fuzzer sends thousands of requests with one token: lift the per-token rate.
    let collector = Collector::start_with(
        &env,
        &data_dir,
        &[
            ("FLEETLOG_API_RATE_LIMIT_PER_SECOND", "100000"),
            ("FLEETLOG_API_RATE_LIMIT_BURST", "100000"),
        ],
    )?;
    let _agent = agent_with_data(&env, &collector, &[])?;
    add_user(&data_dir, "ops", "analyst")?;

    let report = env.path().join("schemathesis.txt");
    let out = Command::new(st)
        .arg("run")
        .arg(format!("{}/api/v1/openapi.json", collector.base_url()))
        .args([
            "-H",
            &format!("Authorization: Bearer {}", collector.admin_token()),
        ])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_headers_conformance,response_schema_conformance",
            "--max-examples",
            "25",
            "--seed",
            "20261128",
            "--workers",
            "2",
            "--request-timeout",
            "30",
            // The live stream never ends a response; it is read by curl in alerts_e2e.rs.
            "--exclude-path-regex",
            "/stream$",
        ])
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_TELEMETRY", "false")
        // Its example database goes to the test's temp dir, not the source tree.
        .current_dir(env.path())
        .output()
        .context("running schemathesis")?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    fs::write(&report, &text)?;
    for line in text.lines().filter(|l| {
        let l = l.trim();
        l.starts_with("Selected:")
            || l.starts_with("Tested:")
            || l.contains("generated,")
            || l.starts_with("Seed:")
    }) {
        eprintln!("schemathesis: {}", line.trim());
    }
    if !out.status.success() {
        bail!(
            "schemathesis found problems (exit {:?}); its report is {}:\n{}",
            out.status.code(),
            report.display(),
            text.lines()
                .rev()
                .take(80)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    collector.ensure_no_panic()?;
    drop(collector);
    env.finish();
    Ok(())
}

#[test]
fn no_secret_appears_in_any_log() -> Result<()> {
    let mut env = TestEnv::new("secrets")?;
    let data_dir = env.subdir("collector")?;
    let collector = Collector::start_with(&env, &data_dir, &[VERBOSE])?;
    let agent = agent_with_data(&env, &collector, &[VERBOSE])?;
    let mut outputs = add_user(&data_dir, "alice", "admin")?;

    let http = reqwest::blocking::Client::new();
    let base = collector.base_url();
    // A failed login, then a good one: a session cookie and a CSRF token.
    let bad = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "alice", "password": "Wr0ng-guess-pw"}))
        .send()?;
    ensure!(bad.status().as_u16() == 401, "{}", bad.status());
    let login = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "alice", "password": PASSWORD}))
        .send()?;
    ensure!(login.status().is_success(), "login: {}", login.status());
    let cookie = login
        .headers()
        .get("set-cookie")
        .context("no cookie")?
        .to_str()?
        .split(';')
        .next()
        .context("cookie")?
        .to_owned();
    let body: serde_json::Value = login.json()?;
    let csrf = body["csrf_token"].as_str().context("csrf")?.to_owned();
    // An API token made by cookie + CSRF, then used.
    let created: serde_json::Value = http
        .post(format!("{base}/api/v1/tokens"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({"name": "export", "role": "viewer"}))
        .send()?
        .error_for_status()?
        .json()?;
    let api_token = created["token"].as_str().context("token")?.to_owned();
    let hosts = http
        .get(format!("{base}/api/v1/hosts"))
        .bearer_auth(&api_token)
        .send()?;
    ensure!(hosts.status().is_success());
    let wrong = http
        .get(format!("{base}/api/v1/hosts"))
        .bearer_auth(format!("{api_token}x"))
        .send()?;
    ensure!(wrong.status().as_u16() == 401);

    // A store URL with a password, refused (bad scheme) and unreachable (PostgreSQL).
    for url in [
        format!("mysql://fleet:{DB_PASSWORD}@127.0.0.1/db"),
        format!("postgres://fleet:{DB_PASSWORD}@127.0.0.1:1/db"),
    ] {
        let out = Command::new(collector_bin()?)
            .args(["serve", "--data-dir"])
            .arg(env.subdir("bad-store")?)
            .args([
                "--store-url",
                &url,
                "--http-listen",
                "127.0.0.1:0",
                "--quic-listen",
                "127.0.0.1:0",
            ])
            .env("RUST_LOG", VERBOSE.1)
            .output()?;
        ensure!(!out.status.success(), "a bad store URL must stop start-up");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ensure!(
            text.contains("store"),
            "the error should name the store: {text}"
        );
        outputs.push_str(&text);
    }

    let agent_token = fs::read_to_string(collector.agent_token_file())?
        .trim()
        .to_owned();
    let admin_token = collector.admin_token().to_owned();
    drop(agent);
    drop(collector);
    let mut logs = outputs;
    for entry in fs::read_dir(env.path())? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "log") {
            logs.push_str(&fs::read_to_string(&path)?);
        }
    }
    let session_value = cookie.trim_start_matches("fleetlog_session=").to_owned();
    let session_secret = session_value
        .split('.')
        .nth(1)
        .context("session secret")?
        .to_owned();
    let api_secret = api_token
        .rsplit('_')
        .next()
        .context("token secret")?
        .to_owned();
    let secrets = [
        ("agent enrollment token", agent_token.as_str()),
        ("admin token", admin_token.as_str()),
        ("user password", PASSWORD),
        ("wrong password", "Wr0ng-guess-pw"),
        ("API token", api_token.as_str()),
        ("API token secret", api_secret.as_str()),
        ("session cookie", session_value.as_str()),
        ("session secret", session_secret.as_str()),
        ("CSRF token", csrf.as_str()),
        ("database password", DB_PASSWORD),
    ];
    let found: Vec<&str> = secrets
        .iter()
        .filter(|(_, s)| logs.contains(s))
        .map(|(what, _)| *what)
        .collect();
    eprintln!(
        "secrets: {} checked in {} bytes of logs and command output; found: {:?}",
        secrets.len(),
        logs.len(),
        found
    );
    ensure!(found.is_empty(), "secrets in logs: {found:?}");
    ensure!(
        logs.len() > 10_000,
        "the logs are suspiciously short: {} bytes",
        logs.len()
    );
    env.finish();
    Ok(())
}
