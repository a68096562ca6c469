//! Incidents end to end: a seeded store fleet from `fleetlog_tests::scenario` is replayed
//! through real agents (one per host, lines written at an accelerated but steady pace)
//! into a real collector, and `/api/v1/incidents` and `/api/v1/fleet` are compared with
//! the scenario's ground truth.
//!
//! The agent stamps lines with their read time, so the replay compresses the scenario's
//! clock by `ACCEL`, and the collector's windows are scaled by the same factor through
//! its `[health]` and `[incidents]` keys.
//!
//! Printed: incidents expected / opened / matched, decoy incidents, severity right,
//! regression detected, silent host detected, time from first incident line to open.
//! `FLEETLOG_SCENARIO_SEED` picks another seed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use fleetlog_tests::scenario::{self, Expected, Fleet, Label, Params, Role};
use fleetlog_tests::{Agent, AgentOpts, Collector, TestEnv};
use serde_json::Value;

/// Scenario minutes per wall-clock second × 60: 180 scenario minutes replay in 90 s.
const ACCEL: i64 = 120;

fn scaled(scenario_secs: i64) -> String {
    (scenario_secs / ACCEL).max(1).to_string()
}

struct Replayed {
    /// Wall-clock ms at which each (host, service, line index) was written.
    written_ms: HashMap<(usize, usize, usize), i64>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Writes every line of the fleet into `<dir>/<host>/<service>.log` in time order at
/// `ACCEL` times the scenario's pace; `on_time` is called with the scenario time before
/// each write (to stop and start agents).
fn replay(
    fleet: &Fleet,
    dir: &Path,
    mut on_time: impl FnMut(i64) -> Result<()>,
) -> Result<Replayed> {
    let mut order: Vec<(i64, usize, usize, usize)> = Vec::new();
    for (h, host) in fleet.hosts.iter().enumerate() {
        for (s, svc) in host.services.iter().enumerate() {
            for (n, line) in svc.lines.iter().enumerate() {
                order.push((line.ts_ms, h, s, n));
            }
        }
    }
    order.sort();
    let mut files: HashMap<(usize, usize), File> = HashMap::new();
    let start_scenario = fleet.params.start_ms;
    let start_wall = Instant::now();
    let mut written_ms = HashMap::new();
    for chunk in order.chunk_by(|a, b| a.0 / 500 == b.0 / 500) {
        let ts = chunk[0].0;
        on_time(ts)?;
        let due = Duration::from_millis(u64::try_from((ts - start_scenario) / ACCEL).unwrap_or(0));
        if let Some(wait) = due.checked_sub(start_wall.elapsed()) {
            thread::sleep(wait);
        }
        let wall = now_ms();
        for &(_, h, s, n) in chunk {
            let f = match files.get_mut(&(h, s)) {
                Some(f) => f,
                None => {
                    let host = &fleet.hosts[h];
                    let d = dir.join(&host.name);
                    fs::create_dir_all(&d)?;
                    let f = OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(d.join(format!("{}.log", host.services[s].service)))?;
                    files.entry((h, s)).or_insert(f)
                }
            };
            writeln!(f, "{}", fleet.hosts[h].services[s].lines[n].text)?;
            written_ms.insert((h, s, n), wall);
        }
    }
    Ok(Replayed { written_ms })
}

fn get(collector: &Collector, path: &str) -> Result<Value> {
    let resp = reqwest::blocking::Client::new()
        .get(format!("{}{path}", collector.base_url()))
        .bearer_auth(collector.admin_token())
        .send()?;
    ensure!(resp.status().is_success(), "GET {path}: {}", resp.status());
    Ok(resp.json()?)
}

fn level_rank(s: &str) -> u8 {
    match s {
        "critical" => 3,
        "error" => 2,
        "warn" => 1,
        _ => 0,
    }
}

#[test]
fn incidents_from_a_replayed_fleet_match_the_ground_truth() -> Result<()> {
    let seed: u64 = std::env::var("FLEETLOG_SCENARIO_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261128);
    let fleet = scenario::generate(Params {
        seed,
        hosts: 6,
        minutes: 180,
        lines_per_min: 30,
        start_ms: now_ms(),
    });
    let mut env = TestEnv::new("incidents")?;
    // The defaults, scaled: incidents resolve after 10 quiet minutes.
    let quiet = scaled(10 * 60);
    let collector = Collector::start_with(
        &env,
        &env.subdir("collector")?,
        &[
            ("FLEETLOG_HEALTH_WINDOW_SECS", &scaled(5 * 60)),
            (
                "FLEETLOG_HEALTH_SILENT_AFTER_SECS",
                &(10 * 60 / ACCEL).max(5).to_string(),
            ),
            // Heartbeats are wall-clock (1 s here), so host silence is too.
            ("FLEETLOG_HEALTH_HOST_SILENT_AFTER_SECS", "3"),
            ("FLEETLOG_HEALTH_RECOVER_AFTER_SECS", &scaled(2 * 60)),
            ("FLEETLOG_HEALTH_INTERVAL_SECS", "1"),
            ("FLEETLOG_INCIDENTS_OPEN_WINDOW_SECS", &scaled(10 * 60)),
            ("FLEETLOG_INCIDENTS_QUIET_FOR_SECS", &quiet),
            ("FLEETLOG_INCIDENTS_RELATED_WINDOW_SECS", &scaled(5 * 60)),
            (
                "FLEETLOG_INCIDENTS_BACKGROUND_HISTORY_SECS",
                &scaled(20 * 60),
            ),
            ("FLEETLOG_INCIDENTS_INTERVAL_SECS", "1"),
        ],
    )?;
    let logs = env.subdir("logs")?;
    let mut agents: BTreeMap<String, Agent> = BTreeMap::new();
    for host in &fleet.hosts {
        let dir = logs.join(&host.name);
        fs::create_dir_all(&dir)?;
        let opts = AgentOpts::new(
            &collector,
            &host.name,
            &[format!("{}/*.log", dir.display())],
        );
        agents.insert(
            host.name.clone(),
            Agent::start_with(&env, opts, &[("FLEETLOG_HEARTBEAT_SECS", "1")])?,
        );
    }
    // The host that goes silent loses its agent for the incident's window.
    let silent: Vec<(String, i64, i64)> = fleet
        .incidents
        .iter()
        .filter(|i| i.kind == "host_silent")
        .flat_map(|i| i.hosts.iter().map(|h| (h.clone(), i.window.0, i.window.1)))
        .collect();
    let mut silent_seen: BTreeMap<String, i64> = BTreeMap::new();
    let mut stopped: BTreeMap<String, Instant> = BTreeMap::new();
    let mut last_poll = Instant::now();
    let replayed = replay(&fleet, &logs, |ts| {
        for (host, from, to) in &silent {
            if ts >= *from
                && ts < *to
                && !stopped.contains_key(host)
                && !silent_seen.contains_key(host)
            {
                agents.get_mut(host).context("agent")?.kill9()?;
                eprintln!(
                    "  {host}: agent stopped at scenario minute {} (wall {})",
                    (ts - fleet.params.start_ms) / 60_000,
                    now_ms()
                );
                stopped.insert(host.clone(), Instant::now());
            }
            let Some(since) = stopped.get(host).copied() else {
                continue;
            };
            if ts < *to && last_poll.elapsed() < Duration::from_millis(250) {
                continue;
            }
            last_poll = Instant::now();
            // Poll the fleet view while the host is down; keep it down until it shows
            // silent (or 20 s pass), even past the window: its lines wait in its files.
            loop {
                let fleet_now = get(&collector, "/api/v1/fleet")?;
                let is_silent = fleet_now["hosts"].as_array().is_some_and(|hs| {
                    hs.iter()
                        .any(|h| h["name"] == host.as_str() && h["state"] == "silent")
                });
                if is_silent {
                    silent_seen.insert(host.clone(), since.elapsed().as_millis() as i64);
                }
                if ts < *to && !is_silent {
                    break;
                }
                if is_silent || since.elapsed() > Duration::from_secs(20) {
                    let shown = fleet_now["hosts"]
                        .as_array()
                        .and_then(|hs| hs.iter().find(|h| h["name"] == host.as_str()).cloned());
                    let detail = get(&collector, &format!("/api/v1/hosts/{host}"))?;
                    eprintln!(
                        "  {host}: agent restarted after {:?} (wall {}); fleet shows {shown:?}; agents {}",
                        since.elapsed(),
                        now_ms(),
                        detail["agents"]
                    );
                    agents.get_mut(host).context("agent")?.restart()?;
                    stopped.remove(host);
                    break;
                }
                thread::sleep(Duration::from_millis(250));
            }
        }
        Ok(())
    })?;
    for (host, _, _) in &silent {
        if stopped.remove(host).is_some() {
            agents.get_mut(host).context("agent")?.restart()?;
        }
    }
    for host in &fleet.hosts {
        let expected: u64 = host.services.iter().map(|s| s.lines.len() as u64).sum();
        collector.wait_for_lines(&host.name, expected, Duration::from_secs(120))?;
    }
    // Let the incident worker catch up.
    thread::sleep(Duration::from_secs(4));

    // Ground truth: the texts of each incident's scored lines, and of decoy lines.
    let mut truth_lines: Vec<BTreeSet<&str>> = vec![BTreeSet::new(); fleet.incidents.len()];
    let mut first_written: Vec<Option<i64>> = vec![None; fleet.incidents.len()];
    let mut decoy_lines: BTreeSet<&str> = BTreeSet::new();
    for (h, host) in fleet.hosts.iter().enumerate() {
        for (s, svc) in host.services.iter().enumerate() {
            for (n, line) in svc.lines.iter().enumerate() {
                match line.label {
                    Label::Incident { index, role } if role != Role::Context => {
                        truth_lines[index].insert(line.text.as_str());
                        let w = replayed.written_ms.get(&(h, s, n)).copied();
                        first_written[index] = first_written[index].min(w).or(w);
                    }
                    Label::Decoy { .. } => {
                        decoy_lines.insert(line.text.as_str());
                    }
                    _ => {}
                }
            }
        }
    }

    let mut api: Vec<Value> = Vec::new();
    for status in ["open", "regressed", "resolved"] {
        let page = get(
            &collector,
            &format!("/api/v1/incidents?status={status}&limit=1000"),
        )?;
        api.extend(page["incidents"].as_array().cloned().unwrap_or_default());
    }
    // Each API incident → the truth incidents its samples belong to, or a decoy/noise.
    let mut matched: BTreeMap<usize, Vec<&Value>> = BTreeMap::new();
    let mut false_incidents: Vec<String> = Vec::new();
    for inc in &api {
        // A sample is an entry: a stack trace arrives joined to its log line, so the entry's
        // first line is the line the scenario wrote.
        let samples: Vec<&str> = inc["samples"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s["line"].as_str())
                    .map(|l| l.split('\n').next().unwrap_or(l))
                    .collect()
            })
            .unwrap_or_default();
        let hits: BTreeSet<usize> = (0..fleet.incidents.len())
            .filter(|&i| samples.iter().any(|l| truth_lines[i].contains(l)))
            .collect();
        if hits.is_empty() {
            let what = if samples.iter().any(|l| decoy_lines.contains(l)) {
                "decoy"
            } else {
                "noise"
            };
            false_incidents.push(format!("{what}: {}", inc["title"].as_str().unwrap_or("")));
        }
        for i in hits {
            matched.entry(i).or_default().push(inc);
        }
    }

    // Incidents linked as related count as one group (one problem, shown together).
    let mut group: HashMap<i64, i64> = HashMap::new();
    fn root(group: &mut HashMap<i64, i64>, id: i64) -> i64 {
        let parent = *group.entry(id).or_insert(id);
        if parent == id {
            id
        } else {
            let r = root(group, parent);
            group.insert(id, r);
            r
        }
    }
    for inc in &api {
        let id = inc["id"].as_i64().unwrap_or(0);
        for other in inc["related"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_i64)
        {
            let (a, b) = (root(&mut group, id), root(&mut group, other));
            if a != b {
                group.insert(a, b);
            }
        }
    }
    let mut once = 0;
    let expected: Vec<usize> = (0..fleet.incidents.len())
        .filter(|&i| fleet.incidents[i].kind != "host_silent")
        .collect();
    let mut severity_right = 0;
    let mut open_lags: Vec<i64> = Vec::new();
    let mut regression_ok = None;
    for &i in &expected {
        let truth = &fleet.incidents[i];
        let Some(found) = matched.get(&i) else {
            eprintln!(
                "  missed: {} ({}) on {:?}",
                truth.id, truth.kind, truth.hosts
            );
            continue;
        };
        let need = match truth.severity {
            Expected::High => 2,
            Expected::Medium => 1,
        };
        if found
            .iter()
            .any(|inc| level_rank(inc["severity"].as_str().unwrap_or("")) >= need)
        {
            severity_right += 1;
        } else {
            eprintln!(
                "  severity: {} ({}) expected {}, got {:?}",
                truth.id,
                truth.kind,
                truth.severity.as_str(),
                found
                    .iter()
                    .map(|f| f["severity"].clone())
                    .collect::<Vec<_>>()
            );
        }
        if let (Some(first), Some(opened)) = (
            first_written[i],
            found.iter().filter_map(|f| f["opened_ms"].as_i64()).min(),
        ) {
            open_lags.push(opened - first);
        }
        let groups: BTreeSet<i64> = found
            .iter()
            .map(|f| root(&mut group, f["id"].as_i64().unwrap_or(0)))
            .collect();
        if groups.len() == 1 {
            once += 1;
        }
        if truth.regression_of.is_some()
            || fleet
                .incidents
                .iter()
                .any(|o| o.regression_of.as_deref() == Some(truth.id.as_str()))
        {
            for f in found.iter() {
                let d = get(&collector, &format!("/api/v1/incidents/{}", f["id"]))?;
                eprintln!("  {} timeline of {}: {}", truth.id, f["id"], d["timeline"]);
            }
        }
        if truth.regression_of.is_some() {
            regression_ok = Some(found.iter().any(|f| f["regressions"].as_u64() >= Some(1)));
        }
        eprintln!(
            "  {} ({}): {} API incident(s) {:?}",
            truth.id,
            truth.kind,
            found.len(),
            found
                .iter()
                .map(|f| (f["id"].clone(), f["status"].clone(), f["severity"].clone()))
                .collect::<Vec<_>>()
        );
    }
    open_lags.sort();
    // Over-linking check: distinct problems must not share a group.
    let all_groups: BTreeSet<i64> = api
        .iter()
        .map(|i| root(&mut group, i["id"].as_i64().unwrap_or(0)))
        .collect();
    let mut group_of_truth: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    for &i in &expected {
        if fleet.incidents[i].regression_of.is_some() {
            continue;
        }
        if let Some(found) = matched.get(&i) {
            let groups: BTreeSet<i64> = found
                .iter()
                .map(|f| root(&mut group, f["id"].as_i64().unwrap_or(0)))
                .collect();
            for g in groups {
                group_of_truth
                    .entry(g)
                    .or_default()
                    .push(fleet.incidents[i].id.as_str());
            }
        }
    }
    let merged: Vec<&Vec<&str>> = group_of_truth.values().filter(|v| v.len() > 1).collect();
    eprintln!(
        "related groups: {} for {} API incidents; distinct injected incidents merged into one group: {merged:?}",
        all_groups.len(),
        api.len()
    );
    let silent_hosts: BTreeSet<String> = silent.iter().map(|s| s.0.clone()).collect();
    eprintln!(
        "incidents (seed {seed}): expected {}, opened {}, matched {}, opened once (one related group) {once}, decoy/noise incidents {}, \
         severity right {}/{}, regression detected {:?}, silent host detected {}/{}, \
         first line → open median {} ms, max {} ms",
        expected.len(),
        api.len(),
        expected.iter().filter(|i| matched.contains_key(i)).count(),
        false_incidents.len(),
        severity_right,
        expected.len(),
        regression_ok,
        silent_seen.len(),
        silent_hosts.len(),
        open_lags.get(open_lags.len() / 2).copied().unwrap_or(-1),
        open_lags.last().copied().unwrap_or(-1),
    );
    for (host, ms) in &silent_seen {
        eprintln!("  {host} shown silent {ms} ms after its agent stopped");
    }
    for inc in &fleet.incidents {
        eprintln!(
            "  truth {} {}: minutes {}-{} on {:?}{}",
            inc.id,
            inc.kind,
            (inc.window.0 - fleet.params.start_ms) / 60_000,
            (inc.window.1 - fleet.params.start_ms) / 60_000,
            inc.hosts,
            inc.regression_of
                .as_deref()
                .map(|r| format!(" (regression of {r})"))
                .unwrap_or_default()
        );
    }
    for f in &false_incidents {
        eprintln!("  not an incident: {f}");
    }
    for line in collector
        .log_text()?
        .lines()
        .filter(|l| {
            l.contains("WARN")
                || l.contains("ERROR")
                || (l.contains("Health changed") && silent.iter().any(|s| l.contains(&s.0)))
        })
        .take(40)
    {
        eprintln!("  collector: {line}");
    }
    let matched_count = expected.iter().filter(|i| matched.contains_key(i)).count();
    ensure!(matched_count == expected.len(), "injected incidents missed");
    ensure!(
        severity_right == expected.len(),
        "incidents below their expected severity"
    );
    ensure!(
        once == expected.len(),
        "an injected incident split into unrelated incidents"
    );
    ensure!(
        regression_ok != Some(false),
        "the regression was not marked regressed"
    );
    ensure!(
        silent_seen.len() == silent_hosts.len(),
        "a silent host was not shown silent"
    );
    // The target: at most one decoy incident.
    ensure!(
        false_incidents.len() <= 1,
        "{} decoy/noise incidents",
        false_incidents.len()
    );
    collector.ensure_no_panic()?;
    drop(agents);
    drop(collector);
    env.finish();
    Ok(())
}
