//! S3 analysis end to end against a real S3-compatible server (moto, from PyPI, with SQS)
//! started by the test, and the real collector binary:
//!
//! 1. 1,000 objects under `app/` (plain text, gzip with a `.log` name, one corrupt gzip, one
//!    binary object) are scanned through `POST /api/v1/s3/scans`; the collector is killed
//!    with SIGKILL midway and restarted; the scan resumes and ends. Every object holds exactly
//!    one ERROR line naming it, so the events API shows whether an object's lines were stored
//!    twice: printed as "objects processed twice: N" (must be 0), and none may be missing.
//! 2. A scan of a missing bucket fails with the S3 error's words; the worker goes on.
//! 3. One object is overwritten (new ETag); a second scan analyses only it and skips the 998
//!    unchanged ones.
//! 4. An `ObjectCreated` event for a new object arrives twice through SQS and once more pushed
//!    to `POST /api/v1/s3/events` (signed); it is scanned once. A bad or missing signature
//!    gets 401.
//! 5. `POST /api/v1/training/s3` trains a model from the same prefix: plain and gzip objects
//!    learned, the corrupt gzip and the binary object reported per object, never fatal; a
//!    missing bucket fails the job with the S3 error's words.
//!
//! Needs `moto_server` and boto3 (`pip install "moto[server]"`); without them the test says
//! SKIP, unless `FLEETLOG_REQUIRE_MOTO=1` (set by `.ci/run`), when it fails.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use fleetlog_tests::{Collector, TestEnv, free_tcp_port};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

const BUCKET: &str = "fleet-logs";
const QUEUE: &str = "s3-events";
const OBJECTS: usize = 1_000;
const SECRET: &str = "e2e-s3-events-signing-secret";

/// The fixture maker and event sender, with boto3 (a moto dependency).
const HELPER: &str = r#"
import concurrent.futures, gzip, json, os, sys, datetime
import boto3
ep = os.environ["S3_ENDPOINT"]
kw = dict(endpoint_url=ep, region_name="us-east-1", aws_access_key_id="test",
          aws_secret_access_key="test")
s3 = boto3.client("s3", **kw)
sqs = boto3.client("sqs", **kw)
B, Q = sys.argv[2], sys.argv[3]

def body(i, n, extra=""):
    lines = []
    for j in range(n):
        if j == 7:
            lines.append(f"2026-11-28T10:{j:02d}:00Z ERROR payment terminal timeout obj={i:04d}{extra}")
        else:
            lines.append(f"2026-11-28T10:{j:02d}:00Z INFO request served obj={i:04d} n={j}")
    return ("\n".join(lines) + "\n").encode()

def event(key):
    h = s3.head_object(Bucket=B, Key=key)
    return json.dumps({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": B, "arn": "arn:aws:s3:::" + B},
               "object": {"key": key, "size": h["ContentLength"],
                          "eTag": h["ETag"].strip('"'), "sequencer": "0A1B2C3D4E5F678901"}}}]})

cmd = sys.argv[1]
if cmd == "setup":
    n = int(sys.argv[4])
    s3.create_bucket(Bucket=B)
    url = sqs.create_queue(QueueName=Q)["QueueUrl"]
    total = 0
    puts = []
    for i in range(n):
        lines = 20 + (i % 7)
        if i == n // 2:
            # a gzip header, then a deflate block of the reserved type 11: corrupt at once
            key, data = f"app/obj-{i:04d}.log.gz", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\x07" + os.urandom(200)
        elif i == n // 2 + 1:
            key, data = f"app/obj-{i:04d}.bin", b"\x7fELF\x02\x01\x01" + bytes(512)
        elif i % 3 == 1:
            # gzip under a .log name: detected by content, not by name
            key, data = f"app/obj-{i:04d}.log", gzip.compress(body(i, lines), 1)
            total += lines
        else:
            key, data = f"app/obj-{i:04d}.log", body(i, lines)
            total += lines
        puts.append((key, data))
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda kd: s3.put_object(Bucket=B, Key=kd[0], Body=kd[1]), puts))
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket=B, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}}}]})
    # moto sends a test event on configuration: drain it so the queue starts empty
    sqs.purge_queue(QueueUrl=url)
    print(json.dumps({"queue_url": url, "lines": total}))
elif cmd == "overwrite":
    key = sys.argv[4]
    s3.put_object(Bucket=B, Key=key, Body=body(1, 30, " overwritten"))
elif cmd == "new":
    key = sys.argv[4]
    s3.put_object(Bucket=B, Key=key, Body=body(4242, 25))
    url = sqs.get_queue_url(QueueName=Q)["QueueUrl"]
    # moto's own notification is one delivery; this is the duplicate
    sqs.send_message(QueueUrl=url, MessageBody=event(key))
    print(event(key))
"#;

fn moto_available() -> bool {
    let server = Command::new("moto_server")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let boto = Command::new("python3")
        .args(["-c", "import boto3, moto"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    server && boto
}

/// moto_server on a free port, killed on drop.
struct Moto {
    child: Child,
    url: String,
}

impl Moto {
    fn start(env: &TestEnv) -> Result<Moto> {
        let port = free_tcp_port()?;
        let log = std::fs::File::create(env.path().join("moto.log"))?;
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting moto_server")?;
        let url = format!("http://127.0.0.1:{port}");
        let moto = Moto { child, url };
        let http = reqwest::blocking::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while http.get(format!("{}/moto-api/", moto.url)).send().is_err() {
            ensure!(Instant::now() < deadline, "moto_server did not come up");
            thread::sleep(Duration::from_millis(100));
        }
        Ok(moto)
    }

    fn helper(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("python3")
            .args(["-c", HELPER])
            .args(args)
            .env("S3_ENDPOINT", &self.url)
            .output()
            .context("running the boto3 helper")?;
        ensure!(
            out.status.success(),
            "helper {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8(out.stdout)?)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Api<'a> {
    c: &'a Collector,
    http: reqwest::blocking::Client,
}

impl Api<'_> {
    fn post(&self, path: &str, body: &Value) -> Result<(u16, Value)> {
        let resp = self
            .http
            .post(format!("{}{path}", self.c.base_url()))
            .bearer_auth(self.c.admin_token())
            .json(body)
            .send()?;
        let status = resp.status().as_u16();
        Ok((status, resp.json().unwrap_or(Value::Null)))
    }

    fn get(&self, path: &str) -> Result<Value> {
        self.c
            .api_json(path)?
            .with_context(|| format!("GET {path}: 404"))
    }

    fn scan(&self, id: i64) -> Result<Value> {
        Ok(self.get(&format!("/api/v1/s3/scans/{id}?limit=1"))?["scan"].clone())
    }

    fn wait_scan(
        &self,
        id: i64,
        timeout: Duration,
        until: &dyn Fn(&Value) -> bool,
    ) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.scan(id)?;
            if until(&s) {
                return Ok(s);
            }
            ensure!(
                Instant::now() < deadline,
                "scan {id} not there in {timeout:?}: {s}"
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for training job `id` to end.
    fn wait_job(&self, id: i64, timeout: Duration) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let j = self.get(&format!("/api/v1/training/jobs/{id}"))?;
            if matches!(
                j["state"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            ) {
                return Ok(j);
            }
            ensure!(
                Instant::now() < deadline,
                "training job {id} not ended in {timeout:?}: {j}"
            );
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// Every event of `host`, counted per source (each object's ERROR line is one event).
    fn events_per_source(&self, host: &str) -> Result<BTreeMap<String, Vec<String>>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/events?host={host}&limit=500");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = self.get(&path)?;
            for e in page["events"].as_array().context("events")? {
                let source = e["source"].as_str().unwrap_or_default().to_owned();
                let line = e["line"].as_str().unwrap_or_default().to_owned();
                out.entry(source).or_default().push(line);
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return Ok(out),
            }
        }
    }

    /// Every object of a scan.
    fn objects(&self, id: i64) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/s3/scans/{id}?limit=500");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = self.get(&path)?;
            out.extend(
                page["objects"]
                    .as_array()
                    .context("objects")?
                    .iter()
                    .cloned(),
            );
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return Ok(out),
            }
        }
    }
}

fn finished(s: &Value) -> bool {
    matches!(s["state"].as_str(), Some("done" | "failed" | "cancelled"))
}

fn n(v: &Value) -> i64 {
    v.as_i64().unwrap_or(-1)
}

fn sign(ts: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{ts}.{body}").as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[test]
fn s3_scan_resumes_after_kill9_dedupes_events_and_rescans_changed_objects() -> Result<()> {
    if !moto_available() {
        if std::env::var("FLEETLOG_REQUIRE_MOTO").as_deref() == Ok("1") {
            bail!("moto is required (FLEETLOG_REQUIRE_MOTO=1) but moto_server or boto3 is missing");
        }
        println!("SKIP s3_e2e: moto_server not installed (pip install \"moto[server]\")");
        return Ok(());
    }
    let mut env = TestEnv::new("s3")?;
    let started = Instant::now();
    let moto = Moto::start(&env)?;
    let setup: Value = serde_json::from_str(
        moto.helper(&["setup", BUCKET, QUEUE, &OBJECTS.to_string()])?
            .trim(),
    )?;
    let queue_url = setup["queue_url"].as_str().context("queue_url")?.to_owned();
    let expected_lines = n(&setup["lines"]);
    println!(
        "fixture: {OBJECTS} objects, {expected_lines} lines, in {:?}",
        started.elapsed()
    );

    let data = env.subdir("collector")?;
    let none = env.path().join("no-aws-files");
    let envs = [
        ("FLEETLOG_S3_ENDPOINT", moto.url.as_str()),
        ("FLEETLOG_S3_REGION", "us-east-1"),
        ("FLEETLOG_S3_EVENTS_SECRET", SECRET),
        ("FLEETLOG_S3_SQS_QUEUE_URL", queue_url.as_str()),
        ("FLEETLOG_S3_POLL_INTERVAL_MS", "200"),
        ("FLEETLOG_S3_LEASE_MS", "5000"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test-secret-never-logged"),
        ("AWS_CONFIG_FILE", none.to_str().unwrap()),
        ("AWS_SHARED_CREDENTIALS_FILE", none.to_str().unwrap()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("RUST_LOG", "info"),
    ];
    let mut collector = Collector::start_with(&env, &data, &envs)?;
    let api = Api {
        c: &collector,
        http: reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
    };

    // 1. The big scan, killed midway.
    let t0 = Instant::now();
    let (status, scan) = api.post(
        "/api/v1/s3/scans",
        &json!({"bucket": BUCKET, "prefix": "app/"}),
    )?;
    ensure!(status == 202, "POST /s3/scans: {status} {scan}");
    let id = n(&scan["id"]);
    let at_kill = api.wait_scan(id, Duration::from_secs(120), &|s| {
        let c = &s["counts"];
        n(&c["done"]) + n(&c["failed"]) >= 150 || finished(s)
    })?;
    ensure!(
        !finished(&at_kill),
        "the scan ended before the kill: make it longer: {at_kill}"
    );
    drop(api);
    collector.kill9()?;
    println!(
        "killed with SIGKILL after {} objects done ({:?})",
        n(&at_kill["counts"]["done"]),
        t0.elapsed()
    );
    collector.restart()?;
    let api = Api {
        c: &collector,
        http: reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
    };
    // Generous for a loaded 2-core machine (each object is one ingest transaction).
    let scan = api.wait_scan(id, Duration::from_secs(400), &finished)?;
    let elapsed = t0.elapsed();
    let c = &scan["counts"];
    ensure!(scan["state"] == "done", "scan: {scan}");
    ensure!(
        (
            n(&c["done"]),
            n(&c["failed"]),
            n(&c["skipped"]),
            n(&c["pending"])
        ) == (OBJECTS as i64 - 2, 1, 1, 0),
        "counts: {c}"
    );
    ensure!(
        n(&c["lines"]) == expected_lines,
        "lines {} != {expected_lines}",
        c["lines"]
    );
    let objects = api.objects(id)?;
    let reasons: BTreeMap<String, String> = objects
        .iter()
        .filter(|o| o["status"] != "done")
        .map(|o| {
            (
                o["key"].as_str().unwrap().to_owned(),
                o["reason"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    println!("objects not done: {reasons:?}");
    ensure!(
        reasons.values().any(|r| r.contains("corrupt gzip")),
        "{reasons:?}"
    );
    ensure!(
        reasons.values().any(|r| r.contains("binary")),
        "{reasons:?}"
    );
    let reread = objects.iter().filter(|o| n(&o["attempts"]) > 1).count();

    let events = api.events_per_source(&format!("s3:{BUCKET}"))?;
    let twice = events.values().filter(|v| v.len() > 1).count();
    let done_keys: Vec<&str> = objects
        .iter()
        .filter(|o| o["status"] == "done")
        .map(|o| o["key"].as_str().unwrap())
        .collect();
    let missing = done_keys
        .iter()
        .filter(|k| !events.contains_key(&format!("s3://{BUCKET}/{k}")))
        .count();
    println!("objects processed twice: {twice}");
    println!("objects re-read after the kill (their stored batches deduplicated): {reread}");
    println!("objects with their event missing: {missing}");
    println!(
        "scan of {OBJECTS} objects ({expected_lines} lines) with a SIGKILL and restart: {elapsed:.1?}, \
         {:.0} objects/s, {:.0} lines/s",
        OBJECTS as f64 / elapsed.as_secs_f64(),
        expected_lines as f64 / elapsed.as_secs_f64()
    );
    ensure!(twice == 0, "objects processed twice: {twice}");
    ensure!(missing == 0, "{missing} done objects have no event");
    let first = events
        .get(&format!("s3://{BUCKET}/app/obj-0001.log"))
        .context("event of obj-0001")?;
    ensure!(first[0].contains("obj=0001"), "{first:?}");

    // 2. A missing bucket: a clear error on the scan, and the worker goes on.
    let (status, bad) = api.post("/api/v1/s3/scans", &json!({"bucket": "no-such-bucket"}))?;
    ensure!(status == 202, "{status} {bad}");
    let bad = api.wait_scan(n(&bad["id"]), Duration::from_secs(30), &finished)?;
    println!(
        "missing bucket: state {}, error {}",
        bad["state"], bad["error"]
    );
    ensure!(bad["state"] == "failed", "{bad}");
    ensure!(
        bad["error"].as_str().unwrap_or("").contains("NoSuchBucket"),
        "{bad}"
    );

    // 3. An overwritten object (new ETag) is analysed again; the rest are unchanged.
    moto.helper(&["overwrite", BUCKET, QUEUE, "app/obj-0001.log"])?;
    let (status, again) = api.post(
        "/api/v1/s3/scans",
        &json!({"bucket": BUCKET, "prefix": "app/"}),
    )?;
    ensure!(status == 202, "{status} {again}");
    let again = api.wait_scan(n(&again["id"]), Duration::from_secs(60), &finished)?;
    let c = &again["counts"];
    println!("rescan after one overwrite: {c}");
    ensure!(n(&c["done"]) == 1 && n(&c["lines"]) == 30, "{again}");
    // 997 unchanged and the binary object; the corrupt gzip is tried again (failed).
    ensure!(
        n(&c["skipped"]) == OBJECTS as i64 - 2 && n(&c["failed"]) == 1,
        "{again}"
    );
    let events = api.events_per_source(&format!("s3:{BUCKET}"))?;
    let obj1 = &events[&format!("s3://{BUCKET}/app/obj-0001.log")];
    ensure!(obj1.iter().any(|l| l.contains("overwritten")), "{obj1:?}");

    // 4. Events: bad signatures refused; one object announced three times is scanned once.
    let url = format!("{}/api/v1/s3/events", collector.base_url());
    let body = moto.helper(&["new", BUCKET, QUEUE, "incoming/new.log"])?;
    let body = body.trim();
    let http = reqwest::blocking::Client::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let unsigned = http
        .post(&url)
        .body(body.to_owned())
        .send()?
        .status()
        .as_u16();
    let wrong = http
        .post(&url)
        .header("X-Fleetlog-Timestamp", now.to_string())
        .header("X-Fleetlog-Signature", sign(now, "another body"))
        .body(body.to_owned())
        .send()?
        .status()
        .as_u16();
    let stale = http
        .post(&url)
        .header("X-Fleetlog-Timestamp", (now - 3600).to_string())
        .header("X-Fleetlog-Signature", sign(now - 3600, body))
        .body(body.to_owned())
        .send()?
        .status()
        .as_u16();
    println!("pushed event: unsigned {unsigned}, wrong signature {wrong}, stale timestamp {stale}");
    ensure!((unsigned, wrong, stale) == (401, 401, 401));
    // Wait for the SQS deliveries to be taken, then push the same event once more.
    let deadline = Instant::now() + Duration::from_secs(30);
    let event_scans = loop {
        let list = api.get("/api/v1/s3/scans?limit=100")?;
        let ev: Vec<Value> = list["scans"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["origin"] == "event" && s["prefix"] == "incoming/new.log")
            .cloned()
            .collect();
        if !ev.is_empty() && ev.iter().all(finished) {
            break ev;
        }
        ensure!(Instant::now() < deadline, "no finished event scan: {list}");
        thread::sleep(Duration::from_millis(200));
    };
    let signed = http
        .post(&url)
        .header("X-Fleetlog-Timestamp", now.to_string())
        .header("X-Fleetlog-Signature", sign(now, body))
        .body(body.to_owned())
        .send()?;
    let signed_status = signed.status().as_u16();
    let signed_body: Value = signed.json()?;
    println!("pushed event (signed, third delivery): {signed_status} {signed_body}");
    ensure!(
        signed_status == 202 && n(&signed_body["duplicates"]) == 1,
        "{signed_body}"
    );
    // A moment for any late SQS copy to be polled, then count.
    thread::sleep(Duration::from_secs(2));
    let metrics = http
        .get(format!("{}/metrics", collector.base_url()))
        .send()?
        .text()?;
    let duplicates = metrics
        .lines()
        .filter(|l| l.starts_with("fleetlog_collector_s3_events_total{outcome=\"duplicate\"}"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>();
    let events = api.events_per_source(&format!("s3:{BUCKET}"))?;
    let new_events = events
        .get(&format!("s3://{BUCKET}/incoming/new.log"))
        .map_or(0, Vec::len);
    println!(
        "event delivered {} times (SQS x{}, pushed x1): scans {}, duplicates dropped {duplicates}, \
         events stored for the object {new_events}",
        duplicates as usize + event_scans.len(),
        duplicates as usize + event_scans.len() - 1,
        event_scans.len()
    );
    ensure!(event_scans.len() == 1, "{event_scans:?}");
    ensure!(event_scans[0]["state"] == "done" && n(&event_scans[0]["counts"]["done"]) == 1);
    ensure!(
        duplicates >= 2.0,
        "expected the SQS copy and the push to be duplicates"
    );
    ensure!(new_events == 1, "{new_events}");

    // 5. Training from the S3 prefix; a missing bucket fails its job with a clear error.
    let t5 = Instant::now();
    let (status, job) = api.post(
        "/api/v1/training/s3",
        &json!({"bucket": BUCKET, "prefix": "app/"}),
    )?;
    ensure!(status == 202, "POST /training/s3: {status} {job}");
    let job = api.wait_job(n(&job["id"]), Duration::from_secs(300))?;
    let files = job["files"].as_array().context("files")?;
    let skipped: Vec<String> = files
        .iter()
        .filter(|f| !f["error"].is_null())
        .map(|f| {
            format!(
                "{}: {}",
                f["name"].as_str().unwrap_or(""),
                f["error"].as_str().unwrap_or("")
            )
        })
        .collect();
    println!(
        "training from s3://{BUCKET}/app/: {} in {:.1?}, {} objects ({} skipped: {skipped:?}), {} lines read, model {}",
        job["state"],
        t5.elapsed(),
        files.len(),
        skipped.len(),
        job["lines_read"],
        job["model_id"]
    );
    ensure!(job["state"] == "succeeded", "{job}");
    ensure!(files.len() == OBJECTS && skipped.len() == 2, "{job}");
    let model = api.get(&format!("/api/v1/models/{}", n(&job["model_id"])))?;
    println!(
        "model from S3: source {} ({}), {} templates, active {}",
        model["source"], model["source_detail"], model["templates"], model["active"]
    );
    ensure!(
        model["source"] == "s3" && n(&model["templates"]) > 0,
        "{model}"
    );
    let (status, bad) = api.post("/api/v1/training/s3", &json!({"bucket": "no-such-bucket"}))?;
    ensure!(status == 202, "{status} {bad}");
    let bad = api.wait_job(n(&bad["id"]), Duration::from_secs(60))?;
    println!(
        "training from a missing bucket: state {}, error {}",
        bad["state"], bad["error"]
    );
    ensure!(
        bad["state"] == "failed" && bad["error"].as_str().unwrap_or("").contains("NoSuchBucket"),
        "{bad}"
    );

    // Nothing leaked, nothing panicked.
    let log = collector.log_text()?;
    ensure!(
        !log.contains("test-secret-never-logged"),
        "a credential was logged"
    );
    ensure!(!log.contains(SECRET), "the events secret was logged");
    collector.ensure_no_panic()?;
    println!("s3_e2e total {:?}", started.elapsed());
    env.finish();
    Ok(())
}
