//! Dashboard end to end in a real browser: a real collector with three real agents (two
//! stores, one host sick with payment timeouts), then `tests/browser/walk.mjs` drives
//! headless Debian `chromium` through every page as an admin and as a viewer — sign in,
//! the fleet, the sick host, a new error arriving on the live stream, an incident
//! resolved, an alert acknowledged, a token created and revoked; a viewer sees no action
//! buttons and gets 403 when it posts — checking each page with axe-core, its weight
//! on first load and its Content-Security-Policy.
//!
//! Printed: one `PAGE` line per page (status, bytes, axe results, screenshot path), the
//! live stream's delay, the viewer's 403s. Screenshots go to
//! `$CARGO_TARGET_DIR/dashboard-shots/` (outside git).
//!
//! Needs `/usr/bin/chromium` (or `FLEETLOG_CHROMIUM`), `node` and `npm ci` in
//! `tests/browser/`; without them the test says SKIP, unless `FLEETLOG_REQUIRE_BROWSER=1`
//! (set by `.ci/run`) makes that a failure.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use fleetlog_tests::{Collector, TestEnv, bin_dir};
use serde_json::{Value, json};

const ADMIN: (&str, &str) = ("alice", "alice-walks-the-dashboard");
const VIEWER: (&str, &str) = ("victor", "victor-only-looks-around");
const SICK: &str = "pos-0001-01";

/// An agent started with its own config file (for labels); killed on drop.
struct LabelledAgent(Child);

impl Drop for LabelledAgent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_agent(
    collector: &Collector,
    dir: &Path,
    host: &str,
    store: &str,
    logs: &Path,
) -> Result<LabelledAgent> {
    let config = dir.join(format!("{host}.toml"));
    fs::write(
        &config,
        format!(
            "collector = \"{}\"\ntoken_file = \"{}\"\nca = \"{}\"\ndata_dir = \"{}\"\n\
             host_name = \"{host}\"\npaths = [\"{}/*.log\"]\nheartbeat_secs = 1\n\
             [labels]\nstore = \"{store}\"\nregion = \"north\"\n",
            collector.quic_addr(),
            collector.agent_token_file().display(),
            collector.ca_pem().display(),
            dir.join(format!("data-{host}")).display(),
            logs.display(),
        ),
    )?;
    let log = fs::File::create(dir.join(format!("{host}.agent.log")))?;
    let mut cmd = Command::new(bin_dir()?.join("fleetlog-agent"));
    cmd.arg("run").arg("--config").arg(&config);
    for (k, _) in std::env::vars() {
        if k.starts_with("FLEETLOG_") {
            cmd.env_remove(k);
        }
    }
    let child = cmd
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("starting fleetlog-agent")?;
    Ok(LabelledAgent(child))
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
            if i % 3 == 0 && i / 3 < errors {
                json!({"level": "error", "msg": format!("payment failed: terminal timeout after 30s ({tag} {i})")}).to_string()
            } else {
                json!({"level": "info", "msg": format!("sale {tag}-{i} completed")}).to_string()
            }
        })
        .collect()
}

struct Api {
    base: String,
    token: String,
    http: reqwest::blocking::Client,
}

impl Api {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let mut req = self
            .http
            .request(method.parse()?, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send()?;
        let status = resp.status();
        let text = resp.text()?;
        ensure!(status.is_success(), "{method} {path}: {status} {text}");
        Ok(if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        })
    }
}

fn wait_until<T>(
    what: &str,
    limit: Duration,
    mut f: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f()? {
            eprintln!("  {what}: after {:?}", start.elapsed());
            return Ok(v);
        }
        if start.elapsed() > limit {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        thread::sleep(Duration::from_millis(300));
    }
}

/// `(node, walk.mjs dir, chromium)` when the browser suite can run.
fn browser() -> Result<Option<(PathBuf, PathBuf, PathBuf)>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    let chromium = PathBuf::from(
        std::env::var("FLEETLOG_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned()),
    );
    let node = Command::new("node").arg("--version").output().ok();
    let missing = if !chromium.is_file() {
        Some(format!(
            "{} is missing (apt-get install chromium)",
            chromium.display()
        ))
    } else if !node.is_some_and(|o| o.status.success()) {
        Some("node is missing".to_owned())
    } else if !dir.join("node_modules/playwright-core").is_dir()
        || !dir.join("node_modules/axe-core").is_dir()
    {
        Some(format!("run `npm ci` in {}", dir.display()))
    } else {
        None
    };
    match missing {
        None => Ok(Some((PathBuf::from("node"), dir, chromium))),
        Some(why) if std::env::var("FLEETLOG_REQUIRE_BROWSER").as_deref() == Ok("1") => {
            bail!("the browser suite is required (FLEETLOG_REQUIRE_BROWSER=1) but {why}")
        }
        Some(why) => {
            eprintln!("SKIP dashboard_e2e: {why}");
            Ok(None)
        }
    }
}

fn shots_dir() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("dashboard-shots")
}

#[test]
fn dashboard_walk_in_a_real_browser() -> Result<()> {
    let Some((node, walk_dir, chromium)) = browser()? else {
        return Ok(());
    };
    let mut env = TestEnv::new("dashboard")?;
    let collector = Collector::start_with(
        &env,
        &env.subdir("collector")?,
        &[
            ("FLEETLOG_HEALTH_INTERVAL_SECS", "1"),
            ("FLEETLOG_HEALTH_WINDOW_SECS", "120"),
            ("FLEETLOG_INCIDENTS_INTERVAL_SECS", "1"),
            ("FLEETLOG_ALERTS_INTERVAL_SECS", "1"),
            ("FLEETLOG_ALERTS_GROUP_WAIT_SECS", "0"),
            ("FLEETLOG_ALERTS_STREAM_POLL_MS", "200"),
        ],
    )?;
    let api = Api {
        base: collector.base_url(),
        token: collector.admin_token().to_owned(),
        http: reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
    };
    for (name, pass, role) in [(ADMIN.0, ADMIN.1, "admin"), (VIEWER.0, VIEWER.1, "viewer")] {
        api.call(
            "POST",
            "/api/v1/users",
            Some(json!({"name": name, "role": role, "password": pass})),
        )?;
    }
    // The error-rate rule over 60 s, so it fires within the test.
    let rules = wait_until("built-in rules", Duration::from_secs(10), || {
        let v = api.call("GET", "/api/v1/rules", None)?;
        Ok(v["rules"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
            .then_some(v))
    })?;
    let rule = rules["rules"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == "error-rate").cloned())
        .context("no error-rate rule")?;
    let mut spec = rule["spec"].clone();
    spec["window_secs"] = json!(60);
    api.call(
        "PATCH",
        &format!("/api/v1/rules/{}", rule["id"]),
        Some(json!({"spec": spec})),
    )?;
    // A webhook nobody answers: the alerts page shows its failed deliveries and "send test".
    let dead_port = fleetlog_tests::free_tcp_port()?;
    api.call(
        "POST",
        "/api/v1/channels",
        Some(json!({"name": "ops-webhook", "kind": "webhook",
                    "config": {"url": format!("http://127.0.0.1:{dead_port}/hook")}})),
    )?;

    let agents_dir = env.subdir("agents")?;
    let mut agents = Vec::new();
    let mut sick_log = PathBuf::new();
    for (host, store, errors) in [
        (SICK, "0001", 20),
        ("pos-0001-02", "0001", 0),
        ("kiosk-0002-01", "0002", 0),
    ] {
        let logs = env.subdir(&format!("logs-{host}"))?;
        let log = logs.join("payments.log");
        append(&log, &lines(60, errors, host))?;
        if host == SICK {
            sick_log = log;
        }
        agents.push(start_agent(&collector, &agents_dir, host, store, &logs)?);
    }
    for host in [SICK, "pos-0001-02", "kiosk-0002-01"] {
        ensure!(collector.wait_for_lines(host, 60, Duration::from_secs(60))? >= 60);
    }
    wait_until(
        "the sick host to be degraded or down",
        Duration::from_secs(60),
        || {
            let f = api.call("GET", &format!("/api/v1/hosts/{SICK}"), None)?;
            let s = f["host"]["state"].as_str().unwrap_or("");
            Ok(matches!(s, "degraded" | "down").then_some(()))
        },
    )?;
    wait_until("an open incident", Duration::from_secs(60), || {
        let v = api.call("GET", "/api/v1/incidents?status=open", None)?;
        Ok(v["incidents"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
            .then_some(()))
    })?;
    wait_until("a firing alert", Duration::from_secs(60), || {
        let v = api.call("GET", "/api/v1/alerts?state=firing", None)?;
        Ok(v["alerts"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
            .then_some(()))
    })?;

    // The sick host stays sick while the browser walks: a few lines a second, a third of
    // them errors, so its alert keeps firing and its health stays bad.
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = {
        let (stop, log) = (stop.clone(), sick_log.clone());
        thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let _ = append(&log, &lines(3, 1, &format!("feed-{n}")));
                n += 1;
                thread::sleep(Duration::from_millis(700));
            }
        })
    };
    let shots = shots_dir();
    fs::create_dir_all(&shots)?;
    let started = Instant::now();
    let out = Command::new(node)
        .arg(walk_dir.join("walk.mjs"))
        .current_dir(&walk_dir)
        .env("FLEETLOG_URL", collector.base_url())
        .env("FLEETLOG_ADMIN_USER", ADMIN.0)
        .env("FLEETLOG_ADMIN_PASS", ADMIN.1)
        .env("FLEETLOG_VIEWER_USER", VIEWER.0)
        .env("FLEETLOG_VIEWER_PASS", VIEWER.1)
        .env("FLEETLOG_SICK_HOST", SICK)
        .env("FLEETLOG_SICK_LOG", &sick_log)
        .env("FLEETLOG_SHOTS", &shots)
        .env("FLEETLOG_CHROMIUM", &chromium)
        .output()
        .context("running node walk.mjs")?;
    stop.store(true, Ordering::Relaxed);
    let _ = feeder.join();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    eprintln!(
        "walk took {:?}; screenshots in {}",
        started.elapsed(),
        shots.display()
    );
    ensure!(
        out.status.success() && stdout.contains("WALK OK"),
        "the browser walk failed ({})",
        out.status
    );
    collector.ensure_no_panic()?;
    drop(agents);
    env.finish();
    Ok(())
}
