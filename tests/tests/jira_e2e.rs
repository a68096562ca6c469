//! Jira automation end to end: real agents tail files into a real collector whose Jira
//! automation talks to the Jira Cloud stand-in (`fleetlog_tests::jira_double`, in this test
//! process, checking every request against Atlassian's contract).
//!
//! - BGL_2k (labels stripped) replayed in three orders (as logged, reversed, shuffled):
//!   every create decision made exactly one issue, every critical incident has exactly
//!   one, no fingerprint has two, and repeats became comments.
//! - The store scenario (`fleetlog_tests::scenario`: POS and kiosk hosts, injected
//!   incidents, business-noise decoys) replayed in three orders (hosts as generated,
//!   reversed, shuffled; each file's lines stay in time order, as a log's do), one agent
//!   per host: the same invariants, and the same set of ticketed incidents in every order.
//! - Faults (429 with Retry-After, 503, search lag) and a `kill -9` of the collector while
//!   Jira holds a create request it has already carried out: after a restart, zero
//!   duplicate tickets and zero lost decisions.
//!
//! Printed: the counts. Skips with a notice when `../shared` is absent.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use fleetlog_tests::jira_double::{DoubleConfig, Fault, JiraDouble, Op, contract_path};
use fleetlog_tests::scenario::{self, Params};
use fleetlog_tests::{Agent, AgentOpts, Collector, TestEnv};
use serde_json::Value;

const TOKEN: &str = "tok-e2e-jira-s3cret";

struct Stand {
    double: JiraDouble,
    token_file: PathBuf,
    _rt: tokio::runtime::Runtime,
}

fn stand(env: &TestEnv, lag: Duration) -> Result<Option<Stand>> {
    let contract = contract_path();
    if !contract.is_file() {
        eprintln!("SKIP: {} is absent", contract.display());
        return Ok(None);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let double = rt.block_on(JiraDouble::start(
        DoubleConfig {
            contract,
            email: "bot@example.test".into(),
            token: TOKEN.into(),
            project: "OPS".into(),
            search_lag: lag,
        },
        "127.0.0.1:0".parse()?,
    ))?;
    let token_file = env.path().join("jira-token");
    fs::write(&token_file, format!("{TOKEN}\n"))?;
    Ok(Some(Stand {
        double,
        token_file,
        _rt: rt,
    }))
}

fn start_collector(env: &TestEnv, s: &Stand, settle_secs: &str) -> Result<Collector> {
    let url = s.double.url();
    let token_file = s.token_file.display().to_string();
    Collector::start_with(
        env,
        &env.subdir("collector")?,
        &[
            ("FLEETLOG_JIRA_URL", url.as_str()),
            ("FLEETLOG_JIRA_EMAIL", "bot@example.test"),
            ("FLEETLOG_JIRA_API_TOKEN_FILE", token_file.as_str()),
            ("FLEETLOG_JIRA_PROJECT", "OPS"),
            ("FLEETLOG_JIRA_CREATE_SETTLE_SECS", settle_secs),
            ("FLEETLOG_JIRA_REQUEST_TIMEOUT_MS", "10000"),
            ("FLEETLOG_AUTOMATION_INTERVAL_MS", "200"),
            ("FLEETLOG_AUTOMATION_COMMENT_INTERVAL_SECS", "2"),
            ("FLEETLOG_OUTBOX_POLL_INTERVAL_MS", "50"),
            ("FLEETLOG_OUTBOX_BASE_BACKOFF_MS", "200"),
            ("FLEETLOG_OUTBOX_MAX_BACKOFF_MS", "2000"),
            ("FLEETLOG_OUTBOX_MAX_ATTEMPTS", "50"),
            ("FLEETLOG_OUTBOX_DELIVERY_TIMEOUT_MS", "12000"),
            ("FLEETLOG_OUTBOX_LEASE_MS", "15000"),
            ("FLEETLOG_INCIDENTS_INTERVAL_SECS", "1"),
        ],
    )
}

fn get(c: &Collector, path: &str) -> Result<Value> {
    let resp = reqwest::blocking::Client::new()
        .get(format!("{}{path}", c.base_url()))
        .bearer_auth(c.admin_token())
        .send()?;
    ensure!(resp.status().is_success(), "GET {path}: {}", resp.status());
    Ok(resp.json()?)
}

fn list(c: &Collector, path: &str, field: &str) -> Result<Vec<Value>> {
    let v = get(c, path)?;
    Ok(v[field].as_array().cloned().unwrap_or_default())
}

/// What the run ended with.
#[derive(Debug, Default, PartialEq)]
struct Counts {
    issues: usize,
    duplicates: usize,
    creates: usize,
    comments_decided: usize,
    comments_in_jira: usize,
    not_done: usize,
    tickets: usize,
    critical_incidents: usize,
    critical_without_one_issue: usize,
}

fn counts(c: &Collector, s: &Stand) -> Result<Counts> {
    let decisions = list(c, "/api/v1/automation/decisions?limit=1000", "decisions")?;
    let tickets = list(c, "/api/v1/tickets?limit=1000", "tickets")?;
    let incidents = list(
        c,
        "/api/v1/incidents?limit=1000&severity=critical",
        "incidents",
    )?;
    let (by_label, issues, comments): (BTreeMap<String, usize>, usize, usize) =
        s.double.with(|d| {
            let mut m = BTreeMap::new();
            for i in &d.issues {
                for l in i.labels.iter().filter(|l| l.starts_with("fleetlog-fp-")) {
                    *m.entry(l.clone()).or_default() += 1;
                }
            }
            let comments = d.issues.iter().map(|i| i.comments.len()).sum();
            (m, d.issues.len(), comments)
        });
    let kind = |k: &str| decisions.iter().filter(|d| d["decision"] == k).count();
    let critical_without_one_issue = incidents
        .iter()
        .filter(|i| {
            let fp = i["fingerprint"].as_str().unwrap_or_default();
            by_label.get(&format!("fleetlog-fp-{fp}")).copied() != Some(1)
        })
        .count();
    Ok(Counts {
        issues,
        duplicates: by_label.values().map(|n| n.saturating_sub(1)).sum(),
        creates: kind("create"),
        comments_decided: kind("comment"),
        comments_in_jira: comments,
        not_done: decisions
            .iter()
            .filter(|d| d["outcome"] != "done" && d["outcome"] != "skipped")
            .count(),
        tickets: tickets.len(),
        critical_incidents: incidents.len(),
        critical_without_one_issue,
    })
}

/// Waits until every decided Jira job is done and nothing changed for `quiet`.
fn wait_settled(c: &Collector, s: &Stand, quiet: Duration, limit: Duration) -> Result<Counts> {
    let t0 = Instant::now();
    let mut last = counts(c, s)?;
    let mut since = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = counts(c, s)?;
        if now != last {
            last = now;
            since = Instant::now();
        } else if last.not_done == 0 && since.elapsed() >= quiet {
            return Ok(last);
        }
        ensure!(
            t0.elapsed() < limit,
            "not settled after {limit:?}: {last:?}"
        );
    }
}

fn bgl_lines() -> Option<Vec<String>> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/loghub/BGL/BGL_2k.log");
    let Ok(text) = fs::read_to_string(&path) else {
        eprintln!("SKIP: {} is absent", path.display());
        return None;
    };
    // Labels stripped: the first field is the alert label ("-" for normal lines).
    Some(
        text.lines()
            .map(|l| l.split_once(' ').map_or(l, |(_, rest)| rest).to_owned())
            .collect(),
    )
}

fn shuffled(mut v: Vec<String>, seed: u64) -> Vec<String> {
    let mut x = seed;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
    v
}

#[test]
fn jira_e2e_bgl_three_orders_one_ticket_per_incident() -> Result<()> {
    let Some(lines) = bgl_lines() else {
        return Ok(());
    };
    let orders = [
        ("as logged", lines.clone()),
        ("reversed", lines.iter().rev().cloned().collect()),
        ("shuffled", shuffled(lines.clone(), 20261128)),
    ];
    let mut total_comments = 0;
    for (name, order) in orders {
        let mut env = TestEnv::new("jira-bgl")?;
        let Some(s) = stand(&env, Duration::from_millis(500))? else {
            return Ok(());
        };
        let collector = start_collector(&env, &s, "3")?;
        let logs = env.subdir("logs")?;
        let _agent = Agent::start(
            &env,
            AgentOpts::new(
                &collector,
                "bgl-node",
                &[format!("{}/*.log", logs.display())],
            ),
        )?;
        // Two halves, the second after the first settled and the comment interval (2 s)
        // passed: repeats of ticketed incidents become comments.
        let mut f = fs::File::create(logs.join("bgl.log"))?;
        let half = order.len() / 2;
        for l in &order[..half] {
            writeln!(f, "{l}")?;
        }
        f.sync_all()?;
        collector.wait_for_lines("bgl-node", half as u64, Duration::from_secs(120))?;
        let first = wait_settled(
            &collector,
            &s,
            Duration::from_secs(3),
            Duration::from_secs(120),
        )?;
        for l in &order[half..] {
            writeln!(f, "{l}")?;
        }
        f.sync_all()?;
        collector.wait_for_lines("bgl-node", order.len() as u64, Duration::from_secs(120))?;
        let c = wait_settled(
            &collector,
            &s,
            Duration::from_secs(4),
            Duration::from_secs(120),
        )?;
        eprintln!("jira_e2e BGL_2k {name}: after the first half {first:?}");
        total_comments += c.comments_decided;
        eprintln!("jira_e2e BGL_2k {name}: {c:?}");
        ensure!(c.duplicates == 0, "{name}: duplicate tickets: {c:?}");
        ensure!(c.not_done == 0, "{name}: lost decisions: {c:?}");
        ensure!(
            c.issues == c.creates && c.tickets == c.creates,
            "{name}: {c:?}"
        );
        ensure!(c.critical_without_one_issue == 0, "{name}: {c:?}");
        ensure!(c.comments_in_jira == c.comments_decided, "{name}: {c:?}");
        ensure!(
            s.double.with(|d| d.violations.is_empty()),
            "{:?}",
            s.double.with(|d| d.violations.clone())
        );
        env.finish();
    }
    ensure!(total_comments > 0, "no repeat became a comment");
    Ok(())
}

#[test]
fn jira_e2e_store_scenario_three_orders_one_ticket_per_incident() -> Result<()> {
    let fleet = scenario::generate(Params {
        seed: 20261129,
        hosts: 6,
        minutes: 180,
        lines_per_min: 20,
        start_ms: 1_795_766_400_000,
    });
    let n = fleet.hosts.len();
    let mut shuffled_hosts: Vec<usize> = (0..n).collect();
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        shuffled_hosts.swap(i, (x % (i as u64 + 1)) as usize);
    }
    let orders: [(&str, Vec<usize>); 3] = [
        ("as generated", (0..n).collect()),
        ("reversed", (0..n).rev().collect()),
        ("shuffled", shuffled_hosts),
    ];
    let mut ticketed: Vec<(String, Vec<String>)> = Vec::new();
    for (name, order) in orders {
        let mut env = TestEnv::new("jira-store")?;
        let Some(s) = stand(&env, Duration::from_millis(500))? else {
            return Ok(());
        };
        let collector = start_collector(&env, &s, "3")?;
        let logs = env.subdir("logs")?;
        let mut agents = Vec::new();
        for &h in &order {
            let host = &fleet.hosts[h];
            let dir = logs.join(&host.name);
            fs::create_dir_all(&dir)?;
            for svc in &host.services {
                let mut f = fs::File::create(dir.join(format!("{}.log", svc.service)))?;
                for l in &svc.lines {
                    writeln!(f, "{}", l.text)?;
                }
                f.sync_all()?;
            }
            agents.push(Agent::start(
                &env,
                AgentOpts::new(
                    &collector,
                    &host.name,
                    &[format!("{}/*.log", dir.display())],
                ),
            )?);
        }
        for host in &fleet.hosts {
            let lines: u64 = host.services.iter().map(|s| s.lines.len() as u64).sum();
            collector.wait_for_lines(&host.name, lines, Duration::from_secs(180))?;
        }
        let c = wait_settled(
            &collector,
            &s,
            Duration::from_secs(4),
            Duration::from_secs(180),
        )?;
        let mut fps: Vec<String> = s.double.with(|d| {
            d.issues
                .iter()
                .flat_map(|i| {
                    i.labels
                        .iter()
                        .filter(|l| l.starts_with("fleetlog-fp-"))
                        .cloned()
                })
                .collect()
        });
        fps.sort();
        eprintln!(
            "jira_e2e store scenario ({} hosts, {} injected incidents) {name}: {c:?}",
            fleet.hosts.len(),
            fleet.incidents.len()
        );
        ensure!(c.duplicates == 0, "{name}: duplicate tickets: {c:?}");
        ensure!(c.not_done == 0, "{name}: lost decisions: {c:?}");
        ensure!(c.creates > 0, "{name}: no ticket at all: {c:?}");
        ensure!(
            c.issues == c.creates && c.tickets == c.creates,
            "{name}: {c:?}"
        );
        ensure!(c.critical_without_one_issue == 0, "{name}: {c:?}");
        ensure!(
            s.double.with(|d| d.violations.is_empty()),
            "{:?}",
            s.double.with(|d| d.violations.clone())
        );
        ticketed.push((name.to_owned(), fps));
        drop(agents);
        env.finish();
    }
    let (first_name, first) = &ticketed[0];
    for (name, fps) in &ticketed[1..] {
        ensure!(
            fps == first,
            "ticketed incidents differ between {first_name} and {name}: {first:?} vs {fps:?}"
        );
    }
    eprintln!(
        "jira_e2e store scenario: the same {} ticketed incidents in all three orders",
        first.len()
    );
    Ok(())
}

#[test]
fn jira_e2e_faults_and_kill9_mid_create_lose_nothing_and_duplicate_nothing() -> Result<()> {
    let mut env = TestEnv::new("jira-kill9")?;
    let Some(s) = stand(&env, Duration::from_secs(1))? else {
        return Ok(());
    };
    // The first create is carried out by Jira, which then holds the answer for 4 s; the
    // collector is killed meanwhile. Later creates meet a 429 and a 503.
    s.double
        .inject(Op::Create, Fault::DelayAfter(Duration::from_secs(4)));
    s.double.inject(
        Op::Create,
        Fault::Status {
            status: 429,
            retry_after_secs: Some(1),
        },
    );
    s.double.inject(
        Op::Create,
        Fault::Status {
            status: 503,
            retry_after_secs: None,
        },
    );
    s.double.inject(
        Op::Search,
        Fault::Status {
            status: 503,
            retry_after_secs: Some(1),
        },
    );
    let mut collector = start_collector(&env, &s, "3")?;
    let logs = env.subdir("logs")?;
    let _agent = Agent::start(
        &env,
        AgentOpts::new(&collector, "pos-1", &[format!("{}/*.log", logs.display())]),
    )?;
    for svc in ["payments", "printer", "inventory"] {
        let mut f = fs::File::create(logs.join(format!("{svc}.log")))?;
        for n in 0..6 {
            writeln!(
                f,
                "2026-11-28 10:00:0{n},000 ERROR {svc}: FATAL connection to backend timed out, request failed"
            )?;
        }
    }
    // Kill the collector while Jira holds the first create.
    let t0 = Instant::now();
    while s
        .double
        .with(|d| d.requests.get("create").copied().unwrap_or(0))
        == 0
    {
        ensure!(
            t0.elapsed() < Duration::from_secs(60),
            "no create request arrived"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    collector.kill9()?;
    let created_before_restart = s.double.with(|d| d.issues.len());
    collector.restart()?;
    let c = wait_settled(
        &collector,
        &s,
        Duration::from_secs(5),
        Duration::from_secs(120),
    )?;
    eprintln!(
        "jira_e2e kill -9 mid-create: issues created before the kill {created_before_restart}, faults served {}, {c:?}",
        s.double.with(|d| d.faults_served)
    );
    ensure!(
        created_before_restart >= 1,
        "the create was not carried out before the kill"
    );
    ensure!(c.creates >= 3, "three incidents should be ticketed: {c:?}");
    ensure!(c.duplicates == 0, "duplicate tickets: {c:?}");
    ensure!(c.not_done == 0, "lost decisions: {c:?}");
    ensure!(c.issues == c.creates && c.tickets == c.creates, "{c:?}");
    ensure!(
        s.double.with(|d| d.violations.is_empty()),
        "{:?}",
        s.double.with(|d| d.violations.clone())
    );
    // The token is in no log.
    let log = collector.log_text().context("collector log")?;
    ensure!(
        !log.contains(TOKEN),
        "the Jira token is in the collector's log"
    );
    env.finish();
    Ok(())
}

/// Percentile `p` (0..=100) of sorted values.
fn percentile(sorted: &[i64], p: usize) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) * p).div_ceil(100).min(sorted.len() - 1)]
}

#[test]
fn jira_e2e_latency_from_critical_line_to_create_request() -> Result<()> {
    // 200 critical lines, each in its own service's file (so each is its own incident and
    // its own ticket), appended 100 ms apart; latency = the create request's arrival at the
    // stand-in minus the append. No backlog in the agent's buffer.
    const N: usize = 200;
    let mut env = TestEnv::new("jira-latency")?;
    let Some(s) = stand(&env, Duration::ZERO)? else {
        return Ok(());
    };
    let collector = start_collector(&env, &s, "3")?;
    let logs = env.subdir("logs")?;
    let mut files = Vec::new();
    for i in 0..N {
        let p = logs.join(format!("svc{i:03}.log"));
        let mut f = fs::File::create(&p)?;
        writeln!(f, "2026-11-28 10:00:00,000 INFO svc{i:03}: started")?;
        files.push(f);
    }
    let _agent = Agent::start(
        &env,
        AgentOpts::new(&collector, "lat-1", &[format!("{}/*.log", logs.display())]),
    )?;
    collector.wait_for_lines("lat-1", N as u64, Duration::from_secs(60))?;
    let mut written: BTreeMap<String, i64> = BTreeMap::new();
    for (i, f) in files.iter_mut().enumerate() {
        // One critical line: it opens an incident on its own, and the agent ships it at once
        // through its priority lane (error lines wait up to `batch.max_wait_ms`).
        let line = format!(
            "2026-11-28 10:00:01,000 FATAL svc{i:03}: connection to backend timed out, process exiting\n"
        );
        f.write_all(line.as_bytes())?;
        f.flush()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis() as i64;
        written.insert(format!("svc{i:03}"), now);
        std::thread::sleep(Duration::from_millis(100));
    }
    let t0 = Instant::now();
    while s.double.with(|d| d.issues.len()) < N && t0.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut lat: Vec<i64> = s.double.with(|d| {
        d.issues
            .iter()
            .filter_map(|i| {
                let svc = i.summary.strip_prefix("[fleetlog] ")?.split(':').next()?;
                Some(i.arrived_ms - written.get(svc)?)
            })
            .collect()
    });
    lat.sort_unstable();
    eprintln!(
        "jira_e2e latency (line appended → create request at the stand-in), {} of {N} lines: p50 {} ms, p99 {} ms, max {} ms (no backlog)",
        lat.len(),
        percentile(&lat, 50),
        percentile(&lat, 99),
        lat.last().copied().unwrap_or(0)
    );
    ensure!(
        lat.len() == N,
        "only {} of {N} lines made a ticket",
        lat.len()
    );
    env.finish();
    Ok(())
}
