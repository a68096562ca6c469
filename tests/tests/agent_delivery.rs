//! Agent delivery and operations (issue 10), end to end with the real binaries:
//! - a collector whose `max_batch_bytes` is below the agent's batches: every batch is split,
//!   every line arrives once, no connection is closed as malformed (no poison batch);
//! - a cloned agent data directory (two hosts, one agent id): the collector refuses the
//!   conflicting batch with a reason, logs it at ERROR, the agent re-keys itself, and both
//!   hosts' lines are stored;
//! - heartbeats carry the host's metrics and the agent's state, shown by
//!   `/api/v1/hosts/{name}`.
//!
//! Run with `-- --nocapture` to see the figures each test prints.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use fleetlog_tests::{Agent, AgentOpts, Collector, LineWriter, TestEnv};
use serde_json::Value;

const DRAIN: Duration = Duration::from_secs(180);

fn count_matching(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

/// Every stored line of `host` is distinct, and there are `expected` of them.
fn exactly_once(collector: &Collector, host: &str, expected: u64) -> Result<()> {
    let lines = collector.fetch_all_lines(host)?;
    let mut texts: Vec<&str> = lines.iter().map(|l| l.line.as_str()).collect();
    texts.sort_unstable();
    texts.dedup();
    ensure!(
        lines.len() as u64 == expected && texts.len() == lines.len(),
        "{host}: {} lines stored, {} distinct, {expected} written",
        lines.len(),
        texts.len()
    );
    Ok(())
}

#[test]
fn poison_batch_collector_limit_below_agent_batch_is_split_not_retried() -> Result<()> {
    let mut env = TestEnv::new("poison-batch")?;
    // 48 KiB: far below the agent's 4 MiB batches (about 400 KiB compressed here).
    let limit = 48 * 1024;
    let collector = Collector::start_with(
        &env,
        &env.subdir("collector")?,
        &[("FLEETLOG_MAX_BATCH_BYTES", &limit.to_string())],
    )?;
    let logs = env.subdir("logs")?;
    let mut writer = LineWriter::new(&logs.join("app.log"))?;
    // A backlog first, so the agent's first batches are full 4 MiB ones.
    let backlog = 120_000;
    writer.write_lines(backlog)?;
    let glob = format!("{}/*.log", logs.display());
    let started = Instant::now();
    let agent = Agent::start(&env, AgentOpts::new(&collector, "poison-host", &[glob]))?;
    // And lines while it runs.
    writer.write_lines(5_000)?;
    let total = backlog + 5_000;
    let got = collector.wait_for_lines("poison-host", total, DRAIN)?;
    let secs = started.elapsed().as_secs_f64();
    ensure!(got == total, "{got} of {total} lines arrived");
    exactly_once(&collector, "poison-host", total)?;
    let agent_log = agent.log_text()?;
    let collector_log = collector.log_text()?;
    let splits = count_matching(&agent_log, "Batch split to fit");
    let refused = count_matching(&collector_log, "Batch refused");
    let closed = count_matching(&collector_log, "closing this connection");
    let reconnects = count_matching(&agent_log, "Connected to collector");
    eprintln!(
        "poison-batch: collector max_batch_bytes {limit}; {total} lines stored once in {secs:.1} s; \
         {splits} batches split by the agent, {refused} refused as too large by the collector, \
         {closed} connections closed, {reconnects} connection(s)"
    );
    ensure!(splits > 0, "the agent never split a batch:\n{agent_log}");
    ensure!(
        closed == 0,
        "a batch closed the connection:\n{collector_log}"
    );
    ensure!(reconnects == 1, "the agent reconnected {reconnects} times");
    agent.ensure_no_panic()?;
    env.finish();
    Ok(())
}

#[test]
fn cloned_data_dir_identity_conflict_rekeys_and_loses_nothing() -> Result<()> {
    let mut env = TestEnv::new("cloned-data-dir")?;
    let collector = Collector::start(&env, &env.subdir("collector")?)?;
    // The "image": an agent that ran once and shipped some lines. Its file stays as it is,
    // so neither clone reads more of it (both find it at its checkpoint, at its end).
    let logs_image = env.subdir("logs-image")?;
    let logs_a = env.subdir("logs-a")?;
    let logs_b = env.subdir("logs-b")?;
    let data_a = env.subdir("data-a")?;
    let data_b = env.path().join("data-b");
    let mut writer_image = LineWriter::new(&logs_image.join("kiosk.log"))?;
    writer_image.write_lines(2_000)?;
    let mut opts_image = AgentOpts::new(
        &collector,
        "kiosk-a",
        &[format!("{}/*.log", logs_image.display())],
    );
    opts_image.data_dir = Some(data_a.clone());
    let mut image = Agent::start(&env, opts_image)?;
    collector.wait_for_lines("kiosk-a", 2_000, DRAIN)?;
    image.kill9()?;
    // Cloned to a second kiosk: same agent id, same next seq.
    copy_dir(&data_a, &data_b)?;

    // Kiosk B starts first with its own lines: its first batch takes seq N under the
    // shared id. Then kiosk A comes back with its lines, also seq N: a conflict.
    let mut writer_a = LineWriter::starting_at(&logs_a.join("kiosk.log"), 1_000_000)?;
    let mut writer_b = LineWriter::starting_at(&logs_b.join("kiosk.log"), 2_000_000)?;
    writer_b.write_lines(3_000)?;
    let mut opts_b = AgentOpts::new(
        &collector,
        "kiosk-b",
        &[format!("{}/*.log", logs_b.display())],
    );
    opts_b.data_dir = Some(data_b);
    let agent_b = Agent::start(&env, opts_b)?;
    collector.wait_for_lines("kiosk-b", 3_000, DRAIN)?;
    writer_a.write_lines(1_500)?;
    let mut opts_a = AgentOpts::new(
        &collector,
        "kiosk-a",
        &[format!("{}/*.log", logs_a.display())],
    );
    opts_a.data_dir = Some(data_a);
    let agent_a = Agent::start(&env, opts_a)?;
    let got_a = collector.wait_for_lines("kiosk-a", 3_500, DRAIN)?;
    writer_b.write_lines(500)?;
    let got_b = collector.wait_for_lines("kiosk-b", 3_500, DRAIN)?;
    ensure!(
        got_a == 3_500 && got_b == 3_500,
        "kiosk-a {got_a}/3500, kiosk-b {got_b}/3500"
    );
    exactly_once(&collector, "kiosk-a", 3_500)?;
    exactly_once(&collector, "kiosk-b", 3_500)?;
    let collector_log = collector.log_text()?;
    let conflicts: Vec<&str> = collector_log
        .lines()
        .filter(|l| l.contains("Identity conflict"))
        .collect();
    let rekeyed_a = count_matching(&agent_a.log_text()?, "took a new id");
    let rekeyed_b = count_matching(&agent_b.log_text()?, "took a new id");
    eprintln!(
        "cloned-data-dir: kiosk-a {got_a} lines, kiosk-b {got_b} lines, each stored once; \
         {} identity conflict(s) logged by the collector, re-keys: kiosk-a {rekeyed_a}, kiosk-b {rekeyed_b}",
        conflicts.len()
    );
    if let Some(first) = conflicts.first() {
        eprintln!("cloned-data-dir: collector said: {first}");
    }
    ensure!(!conflicts.is_empty(), "no identity conflict logged");
    ensure!(
        conflicts.iter().all(|l| l.contains("ERROR")),
        "conflicts not at ERROR"
    );
    ensure!(rekeyed_a + rekeyed_b >= 1, "no agent re-keyed");
    let hosts: Vec<Value> = ["kiosk-a", "kiosk-b"]
        .iter()
        .map(|h| collector.api_json(&format!("/api/v1/hosts/{h}")))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    let ids: Vec<String> = hosts
        .iter()
        .flat_map(|h| h["agents"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["agent_id"].as_str().map(str::to_owned))
        .collect();
    eprintln!("cloned-data-dir: agent ids now reporting: {ids:?}");
    env.finish();
    Ok(())
}

#[test]
fn heartbeat_carries_host_metrics_and_agent_state_to_the_host_endpoint() -> Result<()> {
    let mut env = TestEnv::new("heartbeat-host-metrics")?;
    let collector = Collector::start(&env, &env.subdir("collector")?)?;
    let logs = env.subdir("logs")?;
    let mut writer = LineWriter::new(&logs.join("pos.log"))?;
    writer.write_lines(100)?;
    let agent = Agent::start_with(
        &env,
        AgentOpts::new(
            &collector,
            "hb-host",
            &[format!("{}/*.log", logs.display())],
        ),
        &[("FLEETLOG_HEARTBEAT_SECS", "1")],
    )?;
    collector.wait_for_lines("hb-host", 100, DRAIN)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        let detail = collector.api_json("/api/v1/hosts/hb-host")?;
        let status = detail
            .as_ref()
            .and_then(|d| d["agents"].as_array()?.first().cloned())
            .map(|a| a["status"].clone());
        // The first heartbeat goes out at connect, maybe before the first rescan: wait for
        // one that knows the files.
        if let Some(s) = status.filter(|s| {
            s.get("host").is_some()
                && s["agent"]["file_lag"]
                    .as_array()
                    .is_some_and(|l| !l.is_empty())
        }) {
            break s;
        }
        ensure!(Instant::now() < deadline, "no host metrics: {detail:?}");
        std::thread::sleep(Duration::from_millis(300));
    };
    eprintln!("heartbeat: /api/v1/hosts/hb-host agents[0].status = {status}");
    let host = &status["host"];
    let agent_state = &status["agent"];
    ensure!(host["memory_total_bytes"].as_u64().unwrap_or(0) > 0);
    ensure!(host["uptime_secs"].as_u64().unwrap_or(0) > 0);
    ensure!(host["load"].as_array().is_some_and(|l| l.len() == 3));
    let volumes = host["volumes"].as_array().context("volumes")?;
    for role in ["data", "logs"] {
        ensure!(
            volumes
                .iter()
                .any(|v| v["role"] == role && v["total_bytes"].as_u64().unwrap_or(0) > 0),
            "no {role} volume in {volumes:?}"
        );
    }
    ensure!(
        agent_state["version"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
    );
    ensure!(agent_state["config_hash"].as_u64().is_some());
    ensure!(agent_state["drops"].as_array().is_some());
    let lags = agent_state["file_lag"].as_array().context("file_lag")?;
    ensure!(
        lags.iter()
            .any(|l| l["path"].as_str().is_some_and(|p| p.ends_with("pos.log"))),
        "pos.log not in file_lag: {lags:?}"
    );
    agent.ensure_no_panic()?;
    env.finish();
    Ok(())
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Critical lines written while a backlog drains reach the store quickly: their own buffer
/// slice, in-flight budget, stream priority and store slots. Backlog size and line count:
/// `FLEETLOG_E2E_BACKLOG_MIB` (default 128) and `FLEETLOG_E2E_CRITICAL_LINES` (default 20).
#[test]
fn priority_lane_critical_lines_overtake_a_backlog() -> Result<()> {
    use std::io::Write;
    let mut env = TestEnv::new("priority-lane")?;
    // The test polls the events API every 20 ms: above the default per-token rate limit.
    let collector = Collector::start_with(
        &env,
        &env.subdir("collector")?,
        &[("FLEETLOG_API_RATE_LIMIT_PER_SECOND", "1000")],
    )?;
    let logs = env.subdir("logs")?;
    let mut bulk = LineWriter::new(&logs.join("bulk.log"))?;
    let backlog_mib = env_u64("FLEETLOG_E2E_BACKLOG_MIB", 128);
    let n_critical = env_u64("FLEETLOG_E2E_CRITICAL_LINES", 20);
    // About 100 bytes a line.
    let backlog_lines = backlog_mib * 1024 * 1024 / 100;
    for _ in 0..backlog_lines / 100_000 {
        bulk.write_lines(100_000)?;
    }
    let bulk_written = bulk.written();
    let agent = Agent::start(
        &env,
        AgentOpts::new(
            &collector,
            "prio-host",
            &[format!("{}/*.log", logs.display())],
        ),
    )?;
    // The collector is receiving at full speed before the first critical line.
    let deadline = Instant::now() + DRAIN;
    while collector.lines_received("prio-host")? < 100_000 {
        ensure!(
            Instant::now() < deadline,
            "the backlog never started arriving"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut payment = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(logs.join("payment.log"))?;
    let mut written_at = Vec::new();
    let mut seen_at: Vec<Option<u64>> = vec![None; n_critical as usize];
    let mut next_write = Instant::now();
    let mut backlog_left_at_last = 0;
    let end = Instant::now() + Duration::from_secs(120);
    loop {
        if (written_at.len() as u64) < n_critical && Instant::now() >= next_write {
            let i = written_at.len();
            writeln!(
                payment,
                "FATAL kernel panic: out of memory marker=crit{i:04}"
            )?;
            written_at.push(now_ms());
            next_write += Duration::from_millis(150);
            if written_at.len() as u64 == n_critical {
                backlog_left_at_last =
                    bulk_written.saturating_sub(collector.lines_received("prio-host")?);
            }
        }
        let events = collector
            .api_json("/api/v1/events?host=prio-host&service=payment&limit=1000")?
            .unwrap_or_default();
        let now = now_ms();
        // Lines of one template that share a batch are one row with an `occurrences`
        // count, and the file's lines arrive in order: n lines stored = the first n seen.
        let stored: u64 = events["events"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| e["occurrences"].as_u64().unwrap_or(1))
            .sum();
        for slot in seen_at.iter_mut().take(stored as usize) {
            slot.get_or_insert(now);
        }
        if seen_at.iter().all(Option::is_some) {
            break;
        }
        ensure!(Instant::now() < end, "critical lines missing: {seen_at:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut latencies: Vec<u64> = written_at
        .iter()
        .zip(&seen_at)
        .map(|(w, s)| s.unwrap_or(0).saturating_sub(*w))
        .collect();
    latencies.sort_unstable();
    let p50 = latencies[latencies.len() / 2];
    let max = *latencies.last().unwrap_or(&0);
    eprintln!(
        "priority-lane: backlog {backlog_mib} MiB ({bulk_written} lines), {backlog_left_at_last} \
         lines of it still unsent at the last critical line; {n_critical} critical lines, \
         write-to-store latency p50 {p50} ms, max {max} ms (poll resolution ~20 ms + API)"
    );
    ensure!(
        backlog_left_at_last > 0,
        "the backlog had drained: the test measured nothing"
    );
    // The figures are printed, not asserted: timing belongs to benchmarks (issue 10's
    // target is p50 under 1 s; measured here with debug binaries: p50 586 ms, max 867 ms).
    agent.ensure_no_panic()?;
    env.finish();
    Ok(())
}

/// Sends SIGHUP to `pid`.
fn hangup(pid: u32) -> Result<()> {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()?;
    ensure!(status.success(), "kill -HUP {pid}: {status}");
    Ok(())
}

/// SIGHUP reloads the configuration in the running process (issue 10 item 6): a path
/// added and a label changed take effect, every line is stored once (positions are kept),
/// and a configuration that does not load leaves the running one in force.
#[test]
fn sighup_reloads_paths_and_labels_without_losing_position() -> Result<()> {
    let mut env = TestEnv::new("sighup-reload")?;
    let collector = Collector::start(&env, &env.subdir("collector")?)?;
    let pos = env.subdir("pos")?;
    let kiosk = env.subdir("kiosk")?;
    let mut pos_log = LineWriter::new(&pos.join("pos.log"))?;
    let mut kiosk_log = LineWriter::starting_at(&kiosk.join("kiosk.log"), 1_000_000)?;
    pos_log.write_lines(1_000)?;
    kiosk_log.write_lines(500)?;
    let config = env.path().join("agent.toml");
    let metrics_port = fleetlog_tests::free_tcp_port()?;
    let write_config = |globs: &[&std::path::Path], store: &str| -> Result<()> {
        let paths: Vec<String> = globs
            .iter()
            .map(|d| format!("\"{}/*.log\"", d.display()))
            .collect();
        std::fs::write(
            &config,
            format!(
                "paths = [{}]\nmetrics_listen = \"127.0.0.1:{metrics_port}\"\n\
                 [labels]\nstore = \"{store}\"\n",
                paths.join(", ")
            ),
        )?;
        Ok(())
    };
    write_config(&[&pos], "042")?;
    let mut opts = AgentOpts::new(&collector, "till-3", &[]);
    opts.config = Some(config.clone());
    let agent = Agent::start(&env, opts)?;
    let pid = agent.pid().context("agent pid")?;
    collector.wait_for_lines("till-3", 1_000, DRAIN)?;

    // Reload: the kiosk directory joins, the store label changes.
    write_config(&[&pos, &kiosk], "043")?;
    pos_log.write_lines(300)?;
    let reloaded_at = Instant::now();
    hangup(pid)?;
    agent.wait_for_log_line(Duration::from_secs(30), "reloaded", &|l| {
        l.contains("configuration reloaded")
    })?;
    let got = collector.wait_for_lines("till-3", 1_800, DRAIN)?;
    let took = reloaded_at.elapsed();
    exactly_once(&collector, "till-3", 1_800)?;
    let host = collector
        .api_json("/api/v1/hosts/till-3")?
        .context("host till-3")?;
    let labels = host.to_string();
    ensure!(labels.contains("\"043\""), "labels after reload: {labels}");
    // The metrics port is bound again, and the counters kept counting across the reload.
    let text =
        reqwest::blocking::get(format!("http://127.0.0.1:{metrics_port}/metrics"))?.text()?;
    let read: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("fleetlog_agent_tail_read_lines_total "))
        .and_then(|v| v.trim().parse().ok())
        .context("fleetlog_agent_tail_read_lines_total")?;
    ensure!(
        read >= 1_800,
        "lines_read_total {read} after the reload (1800 read in all)"
    );

    // A broken file: logged, and the running configuration keeps shipping.
    std::fs::write(&config, "paths = [unterminated\n")?;
    hangup(pid)?;
    agent.wait_for_log_line(Duration::from_secs(30), "reload failed", &|l| {
        l.contains("reloading the configuration failed")
    })?;
    kiosk_log.write_lines(100)?;
    collector.wait_for_lines("till-3", 1_900, DRAIN)?;
    exactly_once(&collector, "till-3", 1_900)?;
    ensure!(agent.pid() == Some(pid), "the agent process was replaced");
    eprintln!(
        "sighup-reload: path added and label changed in process {pid}; {got} lines stored \
         once {took:?} after the SIGHUP; lines_read_total {read} across the reload; a broken \
         config was refused and 100 more lines still arrived (1900 stored once)"
    );
    agent.ensure_no_panic()?;
    env.finish();
    Ok(())
}

/// `promtool check metrics` (Debian's `prometheus` package) on what `/metrics` serves, or
/// why it cannot run. Its lint problems are returned, one per line.
fn promtool_problems(text: &str) -> Result<std::result::Result<String, String>> {
    use std::io::Write;
    let mut child = match std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(err) => return Ok(Err(format!("promtool is not runnable ({err})"))),
    };
    child
        .stdin
        .take()
        .context("promtool stdin")?
        .write_all(text.as_bytes())?;
    let out = child.wait_with_output()?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(Ok(if out.status.success() {
        String::new()
    } else {
        said
    }))
}

/// Issue 10 item 6: the agent's `/metrics` (and the collector's) pass `promtool check
/// metrics` after real traffic, and every agent name is `fleetlog_agent_<area>_<name>`.
/// Without promtool the test says SKIP, unless `FLEETLOG_REQUIRE_PROMTOOL=1`.
#[test]
fn metrics_pass_promtool_check() -> Result<()> {
    if let Err(why) = promtool_problems("")? {
        ensure!(
            std::env::var("FLEETLOG_REQUIRE_PROMTOOL").as_deref() != Ok("1"),
            "promtool is required (FLEETLOG_REQUIRE_PROMTOOL=1) but {why}"
        );
        eprintln!("SKIP metrics_pass_promtool_check: {why}");
        return Ok(());
    }
    let mut env = TestEnv::new("promtool")?;
    let collector = Collector::start(&env, &env.subdir("collector")?)?;
    let logs = env.subdir("logs")?;
    let mut writer = LineWriter::new(&logs.join("app.log"))?;
    writer.write_lines(2_000)?;
    writer.write_text("2026-11-29T10:00:00Z ERROR payment declined by acquirer\n")?;
    let metrics_port = fleetlog_tests::free_tcp_port()?;
    let config = env.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "paths = [\"{}/*.log\"]\nmetrics_listen = \"127.0.0.1:{metrics_port}\"\n",
            logs.display()
        ),
    )?;
    let mut opts = AgentOpts::new(&collector, "promtool-host", &[]);
    opts.config = Some(config);
    let agent = Agent::start(&env, opts)?;
    collector.wait_for_lines("promtool-host", 2_001, DRAIN)?;

    let agent_text =
        reqwest::blocking::get(format!("http://127.0.0.1:{metrics_port}/metrics"))?.text()?;
    let collector_text =
        reqwest::blocking::get(format!("{}/metrics", collector.base_url()))?.text()?;
    let mut families = 0;
    for line in agent_text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE fleetlog_agent_") {
            families += 1;
            let area = rest.split('_').next().unwrap_or_default();
            ensure!(
                ["tail", "assemble", "buffer", "ship", "pipeline"].contains(&area),
                "agent metric outside the areas: {line}"
            );
        } else if line.starts_with("# TYPE ") {
            anyhow::bail!("agent metric without the fleetlog_agent_ prefix: {line}");
        }
    }
    let read = agent_text
        .lines()
        .find_map(|l| l.strip_prefix("fleetlog_agent_tail_read_lines_total "))
        .context("fleetlog_agent_tail_read_lines_total")?;
    for (who, text) in [("agent", &agent_text), ("collector", &collector_text)] {
        let problems = promtool_problems(text)?.map_err(anyhow::Error::msg)?;
        ensure!(
            problems.is_empty(),
            "promtool check metrics on the {who}'s /metrics:\n{problems}"
        );
    }
    // A scraper asking for OpenMetrics (as Prometheus does) gets it.
    let openmetrics = reqwest::blocking::Client::new()
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .header("Accept", "application/openmetrics-text;version=1.0.0")
        .send()?
        .text()?;
    ensure!(
        openmetrics.trim_end().ends_with("# EOF")
            && openmetrics.contains("# TYPE fleetlog_agent_tail_read_lines counter"),
        "OpenMetrics asked for, got:\n{openmetrics}"
    );
    let collector_families = collector_text
        .lines()
        .filter(|l| l.starts_with("# TYPE "))
        .count();
    eprintln!(
        "promtool: agent /metrics ({families} families, tail_read_lines_total {read}) and \
         collector /metrics ({collector_families} families) pass `promtool check metrics`"
    );
    agent.ensure_no_panic()?;
    env.finish();
    Ok(())
}
