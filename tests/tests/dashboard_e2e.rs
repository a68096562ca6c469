//! Dashboard end to end in a real browser: a real collector with three real agents (two
//! stores, one host sick with payment timeouts), then `tests/browser/walk.mjs` drives
//! headless Debian `chromium` through every page as an admin and as a viewer — sign in,
//! the fleet, the sick host, a new error arriving on the live stream, an incident
//! resolved, an alert acknowledged, a token created and revoked, a healthy log dropped on
//! the training page and trained into a model that is then activated, a window marked
//! healthy, an S3 scan of a moto bucket started and its objects shown; a viewer sees no
//! action buttons and gets 403 when it posts — checking each page with axe-core, its
//! weight on first load and its Content-Security-Policy.
//!
//! Printed: one `PAGE` line per page (status, bytes, axe results, screenshot path), the
//! live stream's delay, the viewer's 403s. Screenshots go to
//! `$CARGO_TARGET_DIR/dashboard-shots/` (outside git).
//!
//! Needs `/usr/bin/chromium` (or `FLEETLOG_CHROMIUM`), `node` and `npm ci` in
//! `tests/browser/`; without them the test says SKIP, unless `FLEETLOG_REQUIRE_BROWSER=1`
//! (set by `.ci/run`) makes that a failure. The S3 part needs `moto_server` and boto3
//! (`pip install "moto[server]"`); without them the walk's S3 scan says SKIP, unless
//! `FLEETLOG_REQUIRE_MOTO=1` makes that a failure.

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
const BUCKET: &str = "store-archive";
const PREFIX: &str = "pos/";

/// Puts the scan's objects in a fresh bucket with boto3: plain and gzip logs (done), a
/// corrupt gzip (failed), a binary file (skipped), and one object outside the prefix;
/// prints how many objects are under the prefix.
const S3_FIXTURE: &str = r#"
import gzip, os, sys
import boto3
s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"], region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
bucket, prefix = sys.argv[1], sys.argv[2]
s3.create_bucket(Bucket=bucket)
def log(i, n):
    return "".join(f"2026-11-28T10:{j:02d}:00Z {'ERROR payment timeout' if j == 3 else 'INFO sale done'} obj={i} n={j}\n" for j in range(n)).encode()
objects = {
    prefix + "register-1.log": log(1, 20),
    prefix + "register-2.log": log(2, 25),
    prefix + "register-3.log.gz": gzip.compress(log(3, 30)),
    prefix + "broken.log.gz": b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\x07" + os.urandom(100),
    prefix + "core.bin": b"\x7fELF\x02\x01\x01" + bytes(256),
    "elsewhere/other.log": log(9, 5),
}
for key, body in objects.items():
    s3.put_object(Bucket=bucket, Key=key, Body=body)
print(sum(1 for k in objects if k.startswith(prefix)))
"#;

fn moto_available() -> bool {
    let ok = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    ok("moto_server", &["--help"]) && ok("python3", &["-c", "import boto3, moto"])
}

/// `moto_server` on a free port with the fixture bucket, killed on drop.
struct Moto {
    child: Child,
    url: String,
    objects: usize,
}

impl Moto {
    fn start(env: &TestEnv) -> Result<Moto> {
        let port = fleetlog_tests::free_tcp_port()?;
        let log = fs::File::create(env.path().join("moto.log"))?;
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting moto_server")?;
        let mut moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
            objects: 0,
        };
        let http = reqwest::blocking::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while http.get(format!("{}/moto-api/", moto.url)).send().is_err() {
            ensure!(Instant::now() < deadline, "moto_server did not come up");
            thread::sleep(Duration::from_millis(100));
        }
        let out = Command::new("python3")
            .args(["-c", S3_FIXTURE, BUCKET, PREFIX])
            .env("S3_ENDPOINT", &moto.url)
            .output()
            .context("running the boto3 fixture")?;
        ensure!(
            out.status.success(),
            "boto3 fixture failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        moto.objects = String::from_utf8(out.stdout)?.trim().parse()?;
        Ok(moto)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A healthy register log to upload for training: a few hundred ordinary lines.
fn healthy_log(path: &Path) -> Result<()> {
    let lines: Vec<String> = (0..400)
        .map(|i| match i % 4 {
            0 => format!(
                "2026-11-28T09:{:02}:{:02}Z INFO register opened till={} cashier=c{}",
                i / 60 % 60,
                i % 60,
                i % 7,
                i % 13
            ),
            1 => format!(
                "2026-11-28T09:{:02}:{:02}Z INFO sale completed basket={} items={} total={}.{:02}",
                i / 60 % 60,
                i % 60,
                1000 + i,
                i % 9 + 1,
                i % 50,
                i % 100
            ),
            2 => format!(
                "2026-11-28T09:{:02}:{:02}Z INFO card payment approved terminal=t{} ms={}",
                i / 60 % 60,
                i % 60,
                i % 4,
                100 + i % 300
            ),
            _ => format!(
                "2026-11-28T09:{:02}:{:02}Z DEBUG receipt printed receipt={}",
                i / 60 % 60,
                i % 60,
                5000 + i
            ),
        })
        .collect();
    append(path, &lines)
}

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
    let moto = if moto_available() {
        Some(Moto::start(&env)?)
    } else if std::env::var("FLEETLOG_REQUIRE_MOTO").as_deref() == Ok("1") {
        bail!("moto is required (FLEETLOG_REQUIRE_MOTO=1) but moto_server or boto3 is missing");
    } else {
        eprintln!(
            "SKIP dashboard_e2e S3 scan: moto_server not installed (pip install \"moto[server]\")"
        );
        None
    };
    let no_aws = env.path().join("no-aws-files");
    let no_aws = no_aws.to_str().context("temp path")?.to_owned();
    let mut envs = vec![
        ("FLEETLOG_HEALTH_INTERVAL_SECS", "1"),
        ("FLEETLOG_HEALTH_WINDOW_SECS", "120"),
        ("FLEETLOG_INCIDENTS_INTERVAL_SECS", "1"),
        ("FLEETLOG_ALERTS_INTERVAL_SECS", "1"),
        ("FLEETLOG_ALERTS_GROUP_WAIT_SECS", "0"),
        ("FLEETLOG_ALERTS_STREAM_POLL_MS", "200"),
    ];
    if let Some(m) = &moto {
        envs.extend([
            ("FLEETLOG_S3_ENDPOINT", m.url.as_str()),
            ("FLEETLOG_S3_REGION", "us-east-1"),
            ("FLEETLOG_S3_POLL_INTERVAL_MS", "200"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_CONFIG_FILE", no_aws.as_str()),
            ("AWS_SHARED_CREDENTIALS_FILE", no_aws.as_str()),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]);
    }
    let collector = Collector::start_with(&env, &env.subdir("collector")?, &envs)?;
    let training_log = env.path().join("healthy-register.log");
    healthy_log(&training_log)?;
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
        .env("FLEETLOG_TRAINING_LOG", &training_log)
        .env(
            "FLEETLOG_S3_BUCKET",
            if moto.is_some() { BUCKET } else { "" },
        )
        .env("FLEETLOG_S3_PREFIX", PREFIX)
        .env(
            "FLEETLOG_S3_OBJECTS",
            moto.as_ref().map_or(0, |m| m.objects).to_string(),
        )
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
    drop(moto);
    env.finish();
    Ok(())
}
