//! The model registry end to end (issue 11), with the real collector and real agents:
//! an upload becomes a training job and a model; activating it reaches both connected agents
//! within seconds (they report the version in their heartbeats); rollback (activating the
//! older one) reaches both too; an agent that connects later gets the active model; a corrupt
//! upload (bad gzip) fails its job and never becomes a model.
//!
//! Run with `-- --nocapture` to see the activation timings.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use fleetlog_tests::{Agent, AgentOpts, Collector, LineWriter, TestEnv};
use serde_json::Value;

/// Longest an activation may take to reach every agent.
const REACH: Duration = Duration::from_secs(15);

struct Api<'a> {
    collector: &'a Collector,
    http: reqwest::blocking::Client,
}

impl Api<'_> {
    fn post(&self, path: &str, content_type: &str, body: Vec<u8>) -> Result<(u16, Value)> {
        let url = format!("{}{path}", self.collector.base_url());
        let resp = self
            .http
            .post(&url)
            .bearer_auth(self.collector.admin_token())
            .header("content-type", content_type)
            .body(body)
            .send()
            .with_context(|| format!("POST {url}"))?;
        let status = resp.status().as_u16();
        let text = resp.text()?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    fn get(&self, path: &str) -> Result<Value> {
        self.collector
            .api_json(path)?
            .with_context(|| format!("GET {path}: not found"))
    }

    /// Uploads one file and waits for its job to end; returns the job.
    fn train(&self, name: &str, body: Vec<u8>) -> Result<Value> {
        let (status, job) = self.post(
            &format!("/api/v1/training/uploads?name={name}"),
            "application/octet-stream",
            body,
        )?;
        ensure!(status == 202, "upload {name}: {status} {job}");
        let id = job["id"].as_i64().context("job id")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let job = self.get(&format!("/api/v1/training/jobs/{id}"))?;
            if !matches!(job["state"].as_str(), Some("queued" | "running")) {
                return Ok(job);
            }
            ensure!(Instant::now() < deadline, "job {id} still {}", job["state"]);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Activates `model` and waits until `want` agents report it; returns the time taken.
    fn activate_and_wait(&self, model: i64, want: u64) -> Result<Duration> {
        let started = Instant::now();
        let (status, body) = self.post(
            &format!("/api/v1/models/{model}/activate"),
            "application/json",
            Vec::new(),
        )?;
        ensure!(status == 200, "activate {model}: {status} {body}");
        self.wait_agents(model, want, started)
    }

    fn wait_agents(&self, model: i64, want: u64, started: Instant) -> Result<Duration> {
        loop {
            let m = self.get(&format!("/api/v1/models/{model}"))?;
            if m["agents"].as_u64() == Some(want) {
                return Ok(started.elapsed());
            }
            if started.elapsed() > REACH {
                bail!(
                    "model {model}: {} of {want} agents report it after {REACH:?}",
                    m["agents"]
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn healthy(prefix: &str, n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "2026-11-28 10:{:02}:{:02} INFO {prefix}: sale {i} completed in {} ms\n",
                (i / 60) % 60,
                i % 60,
                i % 97
            )
        })
        .collect()
}

fn gzip(text: &str) -> Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(text.as_bytes())?;
    Ok(enc.finish()?)
}

#[test]
fn activation_reaches_every_agent_rollback_too_and_a_corrupt_upload_makes_no_model() -> Result<()> {
    let mut env = TestEnv::new("models")?;
    let collector = Collector::start(&env, &env.subdir("collector")?)?;
    let api = Api {
        collector: &collector,
        http: reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()?,
    };
    let logs = env.subdir("logs")?;
    let mut agents = Vec::new();
    for host in ["pos-1", "pos-2"] {
        let mut w = LineWriter::new(&logs.join(format!("{host}.log")))?;
        w.write_lines(20)?;
        let glob = format!("{}/{host}.log", logs.display());
        agents.push(Agent::start(
            &env,
            AgentOpts::new(&collector, host, &[glob]),
        )?);
    }
    for host in ["pos-1", "pos-2"] {
        collector.wait_for_lines(host, 20, Duration::from_secs(60))?;
    }

    // Two uploads, two inactive versions.
    let job1 = api.train("register.log.gz", gzip(&healthy("register", 400))?)?;
    ensure!(job1["state"] == "succeeded", "{job1}");
    let job2 = api.train("kiosk.log", healthy("kiosk", 300).into_bytes())?;
    ensure!(job2["state"] == "succeeded", "{job2}");
    let m1 = job1["model_id"].as_i64().context("model of job 1")?;
    let m2 = job2["model_id"].as_i64().context("model of job 2")?;
    let list = api.get("/api/v1/models")?;
    ensure!(list["active_id"].is_null(), "nothing is active yet: {list}");

    let t = api.activate_and_wait(m1, 2)?;
    eprintln!("activation → 2/2 agents in {} ms", t.as_millis());
    let t = api.activate_and_wait(m2, 2)?;
    eprintln!(
        "activation of a newer version → 2/2 agents in {} ms",
        t.as_millis()
    );
    ensure!(api.get(&format!("/api/v1/models/{m1}"))?["agents"] == 0);
    // Rollback: activate the older version.
    let t = api.activate_and_wait(m1, 2)?;
    eprintln!("rollback → 2/2 agents in {} ms", t.as_millis());
    ensure!(api.get(&format!("/api/v1/models/{m2}"))?["agents"] == 0);

    // An agent that connects later gets the active model.
    let mut w = LineWriter::new(&logs.join("pos-3.log"))?;
    w.write_lines(5)?;
    let started = Instant::now();
    let glob = format!("{}/pos-3.log", logs.display());
    agents.push(Agent::start(
        &env,
        AgentOpts::new(&collector, "pos-3", &[glob]),
    )?);
    let t = api.wait_agents(m1, 3, started)?;
    eprintln!(
        "late agent started → runs the active model in {} ms",
        t.as_millis()
    );

    // A corrupt upload: the job fails, no model is made.
    let before = api.get("/api/v1/models")?["models"]
        .as_array()
        .map_or(0, Vec::len);
    let mut bad = gzip(&healthy("broken", 3000))?;
    let half = bad.len() / 2;
    bad.truncate(half);
    let job = api.train("broken.log.gz", bad)?;
    ensure!(job["state"] == "failed", "{job}");
    let reason = job["files"][0]["error"].as_str().unwrap_or_default();
    ensure!(reason.contains("corrupt gzip"), "{job}");
    let after = api.get("/api/v1/models")?["models"]
        .as_array()
        .map_or(0, Vec::len);
    ensure!(after == before, "a corrupt upload made a model");
    eprintln!(
        "corrupt upload → job failed ({}), models {before} → {after}",
        job["error"]
    );

    // Every activation is audited.
    let audit = api.get("/api/v1/audit?action=model.activate")?;
    let n = audit["entries"].as_array().map_or(0, Vec::len);
    ensure!(n == 3, "{n} activation audit rows: {audit}");
    for a in &mut agents {
        a.ensure_no_panic()?;
    }
    collector.ensure_no_panic()?;
    env.finish();
    Ok(())
}
