//! What the agent makes of the layouts it meets (issue 17 items 4, 5 and 7), with the real
//! binaries: Java, Python and Go stack traces each arrive as one entry; a fake
//! `/var/log/pods` tree with real CRI records has its `P` partials merged into whole lines and
//! its pod, namespace and container attached (the container as service); every entry carries
//! the line's own time. Nothing is lost: `lines_received` counts every physical line written.
//!
//! Run with `-- --nocapture` to see the counts.

#![allow(clippy::print_stdout)] // A test reports its figures by printing.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use fleetlog_tests::{Agent, AgentOpts, Collector, TestEnv};
use serde_json::Value;

const TRACES_PER_LANGUAGE: usize = 40;
const CRI_RECORDS: usize = 60;

/// One write per event, as loggers do.
fn append(path: &Path, text: &str) -> Result<()> {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

fn java_trace(i: usize) -> String {
    format!(
        "2026-11-28 10:{m:02}:{s:02},{i:03} ERROR [pool-{i}] com.store.Db - Cannot get a connection, trace {i}\n\
         java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available\n\
         \tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)\n\
         \tat com.store.Db.get(Db.java:{i})\n\
         Caused by: java.net.SocketTimeoutException: connect timed out\n\
         \t... 12 more\n\
         2026-11-28 10:{m:02}:{s:02},{i:03} INFO [main] com.store.App - request {i} served\n",
        m = i / 60,
        s = i % 60
    )
}

fn python_trace(i: usize) -> String {
    format!(
        "2026-11-28 11:00:{s:02},000 ERROR payment failed for order {i}\n\
         Traceback (most recent call last):\n\
         \x20 File \"/app/pay.py\", line {i}, in charge\n\
         \x20   raise TimeoutError(\"terminal\")\n\
         TimeoutError: terminal timeout {i}\n\
         2026-11-28 11:00:{s:02},500 INFO order {i} retried\n",
        s = i % 60
    )
}

fn go_trace(i: usize) -> String {
    format!(
        "panic: runtime error: index out of range [{i}] with length 3\n\
         \n\
         goroutine 1 [running]:\n\
         main.(*Register).Total(0x0)\n\
         \t/app/register.go:{i} +0x25\n\
         created by main.main in goroutine 1\n\
         \t/app/main.go:12 +0x1d\n\
         2026-11-28T12:00:{s:02}Z INFO register restarted {i}\n",
        s = i % 60
    )
}

/// CRI records of one container: every third message is written as two `P` fragments and an
/// `F`, with a stderr record between them, the others as one `F`. Returns the lines the
/// container wrote (what `lines_received` counts: merged partials are one line) and the
/// messages.
fn cri_records(path: &Path) -> Result<(usize, Vec<String>)> {
    let mut physical = 0;
    let mut messages = Vec::new();
    for i in 0..CRI_RECORDS {
        let ts = format!("2026-11-28T13:00:{:02}.{:09}Z", i % 60, i);
        let msg = format!(
            "{{\"level\":\"error\",\"msg\":\"pricing: missing price for product {i} in store 042\"}}"
        );
        let mut text = String::new();
        if i % 3 == 0 {
            let (a, rest) = msg.split_at(10);
            let (b, c) = rest.split_at(20);
            for part in [a, b] {
                text.push_str(&format!("{ts} stdout P {part}\n"));
            }
            text.push_str(&format!("{ts} stderr F stderr note {i}\n"));
            text.push_str(&format!("{ts} stdout F {c}\n"));
            // The container wrote two lines (the runtime split one into three records).
            physical += 2;
        } else {
            text.push_str(&format!("{ts} stdout F {msg}\n"));
            physical += 1;
        }
        append(path, &text)?;
        messages.push(msg);
    }
    Ok((physical, messages))
}

#[test]
fn traces_are_one_entry_and_pods_are_known() -> Result<()> {
    let mut env = TestEnv::new("agent_sources")?;
    let collector = Collector::start(&env, &env.subdir("collector")?)?;
    let root = env.subdir("host")?;
    let app = root.join("app");
    let pod_dir = root.join("var/log/pods/shop_pos-7d9f_0c1d2e3f/pos");
    fs::create_dir_all(&app)?;
    fs::create_dir_all(&pod_dir)?;

    let mut physical = 0usize;
    for (name, make) in [
        ("java.log", java_trace as fn(usize) -> String),
        ("python.log", python_trace),
        ("go.log", go_trace),
    ] {
        for i in 0..TRACES_PER_LANGUAGE {
            let text = make(i);
            physical += text.lines().count();
            append(&app.join(name), &text)?;
        }
    }
    let (cri_physical, cri_messages) = cri_records(&pod_dir.join("0.log"))?;
    physical += cri_physical;
    // A Java container: the runtime writes each line of a trace as its own stderr record.
    let pay_dir = root.join("var/log/pods/shop_pay-5c4b_9a8b7c6d/pay");
    fs::create_dir_all(&pay_dir)?;
    for i in 0..TRACES_PER_LANGUAGE {
        let ts = format!("2026-11-28T13:01:{:02}.{:09}Z", i % 60, i);
        let records: String = java_trace(i)
            .lines()
            .map(|l| format!("{ts} stderr F {l}\n"))
            .collect();
        physical += records.lines().count();
        append(&pay_dir.join("0.log"), &records)?;
    }

    let globs = vec![
        format!("{}/*.log", app.display()),
        format!("{}/var/log/pods/*/*/*.log", root.display()),
    ];
    let agent = Agent::start(&env, AgentOpts::new(&collector, "node-1", &globs))?;
    let got = collector.wait_for_lines("node-1", physical as u64, Duration::from_secs(90))?;
    ensure!(
        got == physical as u64,
        "lines_received {got}, physical lines written {physical}"
    );
    let stored = collector.fetch_all_lines("node-1")?;

    // Traces: one entry each, holding every line of the trace.
    for (name, first_words, lines_per_trace) in [
        ("java.log", "Cannot get a connection", 6),
        ("python.log", "payment failed for order", 5),
        ("go.log", "panic: runtime error", 7),
    ] {
        let traces: Vec<&str> = stored
            .iter()
            .filter(|l| l.source.ends_with(name) && l.line.contains(first_words))
            .map(|l| l.line.as_str())
            .collect();
        let whole = traces
            .iter()
            .filter(|t| t.lines().count() == lines_per_trace)
            .count();
        println!(
            "{name}: {} trace entries, {whole} of {TRACES_PER_LANGUAGE} with all {lines_per_trace} lines",
            traces.len()
        );
        ensure!(
            traces.len() == TRACES_PER_LANGUAGE && whole == TRACES_PER_LANGUAGE,
            "{name}: {} entries, {whole} whole; first: {:?}",
            traces.len(),
            traces.first()
        );
    }

    // A trace inside a container log: one entry each, as in a plain file.
    let pay: Vec<&str> = stored
        .iter()
        .filter(|l| l.source.ends_with("pay/0.log") && l.line.contains("Cannot get a connection"))
        .map(|l| l.line.as_str())
        .collect();
    let pay_whole = pay.iter().filter(|t| t.lines().count() == 6).count();
    println!(
        "cri java: {} trace entries, {pay_whole} of {TRACES_PER_LANGUAGE} with all 6 lines",
        pay.len()
    );
    ensure!(
        pay.len() == TRACES_PER_LANGUAGE && pay_whole == TRACES_PER_LANGUAGE,
        "cri java: {} entries, {pay_whole} whole; first: {:?}",
        pay.len(),
        pay.first()
    );

    // CRI: partials merged, every message whole exactly once, nothing of a fragment left over.
    let cri: Vec<&str> = stored
        .iter()
        .filter(|l| l.source.ends_with("pos/0.log"))
        .map(|l| l.line.as_str())
        .collect();
    let partial_left = cri.iter().filter(|l| l.contains(" stdout P ")).count();
    let whole: HashSet<&str> = cri
        .iter()
        .filter_map(|l| l.split_once(" stdout F ").map(|(_, m)| m))
        .collect();
    let missing = cri_messages
        .iter()
        .filter(|m| !whole.contains(m.as_str()))
        .count();
    println!(
        "cri: {} entries for {cri_physical} container lines, {} messages whole, {missing} missing, {partial_left} fragments left unmerged",
        cri.len(),
        whole.len()
    );
    ensure!(
        missing == 0 && partial_left == 0,
        "cri: {missing} missing, {partial_left} unmerged"
    );

    // Events: the pod's container is the service, the line's own time rides along, and a
    // stack trace is one event whose class the trace names.
    let events = collector
        .api_json("/api/v1/events?host=node-1&limit=500")?
        .context("events")?;
    let events = events["events"].as_array().context("events array")?;
    let pod_events: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["source"]
                .as_str()
                .is_some_and(|s| s.ends_with("pos/0.log"))
        })
        .collect();
    ensure!(!pod_events.is_empty(), "no event from the pod: {events:?}");
    for e in &pod_events {
        ensure!(e["service"] == "pos", "pod event service: {e}");
        ensure!(
            e["logged_ms"].as_i64().is_some(),
            "pod event without logged_ms: {e}"
        );
    }
    let java: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["source"]
                .as_str()
                .is_some_and(|s| s.ends_with("java.log"))
        })
        .collect();
    ensure!(!java.is_empty(), "no java event");
    let with_trace = java
        .iter()
        .filter(|e| {
            e["line"]
                .as_str()
                .is_some_and(|l| l.contains("\n\tat com.store.Db.get"))
        })
        .count();
    let logged = events
        .iter()
        .filter(|e| e["logged_ms"].as_i64().is_some())
        .count();
    println!(
        "events: {} in all, {} from the pod (service pos), java events with their trace {with_trace} of {}, with logged_ms {logged}",
        events.len(),
        pod_events.len(),
        java.len()
    );
    ensure!(with_trace == java.len(), "java events without their trace");
    agent.ensure_no_panic()?;
    collector.ensure_no_panic()?;
    env.finish();
    Ok(())
}

/// `[[sources]]` tables (issue 17 item 3): one source starts at the end of what its files
/// already hold, the other reads its backlog; a source's configured service names its
/// events. Nothing written after the start is lost.
#[test]
fn sources_have_their_own_start_and_service() -> Result<()> {
    let mut env = TestEnv::new("agent-sources-tables")?;
    let collector = Collector::start(&env, &env.subdir("collector")?)?;
    let pos = env.subdir("pos")?;
    let kiosk = env.subdir("kiosk")?;
    // Backlogs: the register's is read, the kiosk's is skipped (start_at_end).
    let backlog = 200;
    for i in 0..backlog {
        append(
            &pos.join("register.log"),
            &format!("2026-11-29T10:00:00Z INFO register backlog {i}\n"),
        )?;
        append(
            &kiosk.join("kiosk.log"),
            &format!(
                "2026-11-29T10:00:00Z INFO kiosk backlog {i} {}\n",
                "k".repeat(300)
            ),
        )?;
    }
    let config = env.path().join("agent.toml");
    fs::write(
        &config,
        format!(
            "[[sources]]\npaths = [\"{}/*.log\"]\nservice = \"cash-register\"\n\n\
             [[sources]]\npaths = [\"{}/*.log\"]\nstart_at_end = true\n",
            pos.display(),
            kiosk.display()
        ),
    )?;
    let mut opts = AgentOpts::new(&collector, "store-9", &[]);
    opts.config = Some(config);
    let agent = Agent::start(&env, opts)?;
    collector.wait_for_lines("store-9", backlog, Duration::from_secs(90))?;
    // After the start both sources are read.
    let fresh = 50;
    for i in 0..fresh {
        append(
            &pos.join("register.log"),
            &format!("2026-11-29T10:01:00Z ERROR register payment terminal TIMEOUT {i}\n"),
        )?;
        append(
            &kiosk.join("kiosk.log"),
            &format!("2026-11-29T10:01:00Z INFO kiosk fresh {i}\n"),
        )?;
    }
    let want = backlog + 2 * fresh;
    let got = collector.wait_for_lines("store-9", want, Duration::from_secs(90))?;
    std::thread::sleep(Duration::from_secs(2));
    let lines = collector.fetch_all_lines("store-9")?;
    let kiosk_backlog = lines
        .iter()
        .filter(|l| l.line.contains("kiosk backlog"))
        .count();
    ensure!(
        got == want && lines.len() as u64 == want && kiosk_backlog == 0,
        "{got} counted, {} stored, {want} expected, {kiosk_backlog} kiosk backlog lines read",
        lines.len()
    );
    let events = collector
        .api_json("/api/v1/events?host=store-9&limit=500")?
        .context("events")?;
    let services: HashSet<String> = events["events"]
        .as_array()
        .context("events array")?
        .iter()
        .filter_map(|e| e["service"].as_str().map(str::to_owned))
        .collect();
    ensure!(
        services == HashSet::from(["cash-register".to_owned()]),
        "event services: {services:?}"
    );
    println!(
        "sources: register backlog {backlog} read, kiosk backlog {backlog} skipped \
         (start_at_end), {fresh}+{fresh} fresh lines stored; event services {services:?}"
    );
    agent.ensure_no_panic()?;
    env.finish();
    Ok(())
}

/// Issue 17 item 3, fairness: one file written at full speed does not delay lines from
/// 1,000 quiet files. Each quiet line carries the time it was written; the agent stamps
/// each entry with the time it read it (`ts_ms`), so the difference is the agent's delay,
/// printed as the worst and the median over 60 lines written while the busy file grows.
/// The bound checked is starvation (10 s), not speed; the figure is the measurement.
#[test]
fn a_busy_file_does_not_starve_a_thousand_quiet_ones() -> Result<()> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Instant, SystemTime, UNIX_EPOCH};

    const QUIET: usize = 1_000;
    const QUIET_LINES: usize = 60;
    const BUSY_MAX_BYTES: u64 = 256 << 20;
    let now_ms = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    };
    let mut env = TestEnv::new("fairness")?;
    let collector = Collector::start(&env, &env.subdir("collector")?)?;
    let logs = env.subdir("logs")?;
    for i in 0..QUIET {
        fs::write(
            logs.join(format!("quiet-{i:04}.log")),
            format!("quiet file {i} opened\n"),
        )?;
    }
    let glob = format!("{}/*.log", logs.display());
    let agent = Agent::start(&env, AgentOpts::new(&collector, "fair-host", &[glob]))?;
    collector.wait_for_lines("fair-host", QUIET as u64, Duration::from_secs(120))?;

    // The busy file: written as fast as this thread can, for the whole quiet phase.
    let stop = Arc::new(AtomicBool::new(false));
    let busy = {
        let (stop, path) = (stop.clone(), logs.join("busy.log"));
        std::thread::spawn(move || -> Result<(u64, u64)> {
            let mut f = std::io::BufWriter::with_capacity(1 << 20, fs::File::create(path)?);
            let pad = "x".repeat(160);
            let (mut lines, mut bytes) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) && bytes < BUSY_MAX_BYTES {
                let line = format!("busy line {lines} {pad}\n");
                f.write_all(line.as_bytes())?;
                bytes += line.len() as u64;
                lines += 1;
            }
            f.flush()?;
            Ok((lines, bytes))
        })
    };
    let started = Instant::now();
    for k in 0..QUIET_LINES {
        std::thread::sleep(Duration::from_millis(100));
        // Spread over the files (617 is prime to 1000: 60 distinct files).
        let i = (k * 617) % QUIET;
        append(
            &logs.join(format!("quiet-{i:04}.log")),
            &format!("fairness-quiet {k} written_ms={}\n", now_ms()),
        )?;
    }
    stop.store(true, Ordering::Relaxed);
    let (busy_lines, busy_bytes) = busy.join().map_err(|_| anyhow::anyhow!("busy writer"))??;
    let writing = started.elapsed();
    let total = (QUIET + QUIET_LINES) as u64 + busy_lines;
    collector.wait_for_lines("fair-host", total, Duration::from_secs(600))?;

    let found = collector.search_lines("fair-host", "fairness-quiet")?;
    let mut lags: Vec<i64> = found
        .iter()
        .map(|l| -> Result<i64> {
            let text = l["line"].as_str().context("line")?;
            let written: i64 = text
                .rsplit("written_ms=")
                .next()
                .and_then(|v| v.trim().parse().ok())
                .with_context(|| format!("no written_ms in {text}"))?;
            Ok(l["ts_ms"].as_i64().context("ts_ms")? - written)
        })
        .collect::<Result<_>>()?;
    ensure!(
        lags.len() == QUIET_LINES,
        "{} of {QUIET_LINES} quiet lines found",
        lags.len()
    );
    lags.sort_unstable();
    let (median, worst) = (lags[lags.len() / 2], lags[lags.len() - 1]);
    println!(
        "fairness: {QUIET} quiet files + busy.log written at full speed ({} MiB, {busy_lines} \
         lines in {writing:.1?}, {:.0} MiB/s); {QUIET_LINES} quiet lines, read by the agent \
         {median} ms (median) and {worst} ms (worst) after they were written; {total} lines \
         stored",
        busy_bytes >> 20,
        busy_bytes as f64 / (1 << 20) as f64 / writing.as_secs_f64()
    );
    ensure!(
        worst < 10_000,
        "a quiet line waited {worst} ms behind the busy file (lags {lags:?})"
    );
    agent.ensure_no_panic()?;
    env.finish();
    Ok(())
}

/// Issue 17 item 6: a host's lines are served by `/api/v1/lines` in the order the source
/// wrote them, although the agent keeps 8 batches in flight and the collector stores them
/// concurrently. A backlog in many small batches; every served line's sequence number
/// must be above the one before it. Prints how many batches came back out of order.
#[test]
fn lines_are_served_in_the_order_they_were_written() -> Result<()> {
    use fleetlog_tests::LineWriter;

    const LINES: u64 = 200_000;
    let mut env = TestEnv::new("write-order")?;
    let collector = Collector::start(&env, &env.subdir("collector")?)?;
    let logs = env.subdir("logs")?;
    let mut writer = LineWriter::new(&logs.join("app.log"))?.padded(120);
    writer.write_lines(LINES)?;
    let config = env.path().join("agent.toml");
    fs::write(
        &config,
        format!(
            "paths = [\"{}/*.log\"]\n[batch]\nmax_bytes = 262144\nmax_in_flight = 8\n",
            logs.display()
        ),
    )?;
    let mut opts = AgentOpts::new(&collector, "order-host", &[]);
    opts.config = Some(config);
    let agent = Agent::start(&env, opts)?;
    collector.wait_for_lines("order-host", LINES, Duration::from_secs(600))?;

    let lines = collector.fetch_all_lines("order-host")?;
    ensure!(
        lines.len() as u64 == LINES,
        "{} lines served, {LINES} written",
        lines.len()
    );
    let (mut inversions, mut batches, mut late_batches) = (0u64, HashSet::new(), HashSet::new());
    let mut served: Vec<u64> = Vec::new();
    let mut last_line = None;
    let mut high_batch = None;
    for l in &lines {
        let n = fleetlog_tests::parse_seq(&l.line)
            .with_context(|| format!("not a written line: {}", l.line))?;
        if last_line.is_some_and(|p| n < p) {
            inversions += 1;
        }
        last_line = Some(n);
        let batch = l.raw["seq"].as_u64().context("seq")?;
        if served.last() != Some(&batch) {
            served.push(batch);
        }
        if batches.insert(batch) && high_batch.is_some_and(|h| batch < h) {
            late_batches.insert(batch);
        }
        high_batch = high_batch.max(Some(batch));
    }
    let metrics = reqwest::blocking::get(format!("{}/metrics", collector.base_url()))?.text()?;
    let expired = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("fleetlog_collector_ingest_limited_total{limit=\"order_wait_ms\"} ")
        })
        .unwrap_or("0")
        .trim()
        .to_owned();
    println!(
        "write order: {LINES} lines in {} batches served; {} batches after a later one, \
         {inversions} lines below the line before them; {expired} waits for a predecessor \
         expired",
        batches.len(),
        late_batches.len()
    );
    ensure!(
        inversions == 0 && late_batches.is_empty(),
        "{} of {} batches served out of order ({inversions} line inversions); served: {served:?}",
        late_batches.len(),
        batches.len()
    );
    agent.ensure_no_panic()?;
    env.finish();
    Ok(())
}
