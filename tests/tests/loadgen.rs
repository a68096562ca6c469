//! `fleetlog-loadgen` against a real collector (SQLite): simulated agents on several source
//! addresses connect, send bulk and priority batches, and every line the load generator
//! counts as acknowledged is in the collector's per-host counts, once.
//!
//! Run with `-- --nocapture` to see the report.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use fleetlog_tests::{Collector, TestEnv};
use serde_json::Value;

const AGENTS: u64 = 12;

#[test]
fn every_acknowledged_line_is_stored_once() -> Result<()> {
    let mut env = TestEnv::new("loadgen")?;
    let data = env.subdir("collector")?;
    let collector = Collector::start(&env, &data)?;
    let out = Command::new(env!("CARGO_BIN_EXE_fleetlog-loadgen"))
        .args([
            "--collector",
            &collector.quic_addr(),
            "--server-name",
            "localhost",
        ])
        .arg("--data-dir")
        .arg(&data)
        .args(["--agents", &AGENTS.to_string(), "--agents-per-socket", "5"])
        .args([
            "--rate",
            "3000",
            "--batch-lines",
            "100",
            "--critical-share",
            "0.01",
        ])
        .args([
            "--duration-secs",
            "3",
            "--drain-secs",
            "20",
            "--host-prefix",
            "lg",
            "--json",
        ])
        .output()
        .context("running fleetlog-loadgen")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.success(), "fleetlog-loadgen failed: {stderr}");
    let report: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("report: {}", String::from_utf8_lossy(&out.stdout)))?;
    eprintln!("{report:#}");
    let num = |k: &str| report[k].as_f64().unwrap_or(f64::NAN);
    ensure!(
        num("connected") == AGENTS as f64,
        "not every agent connected"
    );
    ensure!(
        num("error_count") == 0.0,
        "agents failed: {}",
        report["errors"]
    );
    let sent = num("lines_sent") as u64;
    let acked = num("lines_acked") as u64;
    // 3 s at 3000 lines/s: about 9000 lines (fewer when the machine is too busy to keep pace).
    ensure!((3000..=10_000).contains(&sent), "sent {sent} lines");
    ensure!(acked == sent, "acked {acked} of {sent} lines");
    ensure!(
        report["priority"]["n"].as_u64() > Some(0),
        "no priority batch"
    );
    ensure!(report["bulk"]["n"].as_u64() > Some(0), "no bulk batch");
    ensure!(
        num("lines_per_sec") > 1000.0,
        "lines/s {}",
        num("lines_per_sec")
    );
    ensure!(
        report["bulk"]["p99_ms"].as_f64().is_some(),
        "no latency figure"
    );

    // The collector's counts agree with what the load generator saw acknowledged.
    let deadline = Instant::now() + Duration::from_secs(15);
    let (hosts, stored) = loop {
        let hosts: Vec<_> = collector
            .hosts()?
            .into_iter()
            .filter(|h| h.name.starts_with("lg-"))
            .collect();
        let stored: u64 = hosts.iter().map(|h| h.lines_received).sum();
        if stored >= acked || Instant::now() >= deadline {
            break (hosts.len() as u64, stored);
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    ensure!(hosts == AGENTS, "{hosts} hosts listed, want {AGENTS}");
    ensure!(
        stored == acked,
        "collector counts {stored} lines, loadgen {acked}"
    );
    collector.ensure_no_panic()?;
    env.finish();
    Ok(())
}
