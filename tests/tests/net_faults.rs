//! The pipeline across a bad network (issue 16): the agent talks to the collector through a
//! UDP relay (`fleetlog_tests::relay`) that loses 5 % of the datagrams, limits the link to
//! 10 Mbit/s, delays and reorders, or partitions the two for a while. Each scenario writes
//! sequence-numbered lines while the fault is on and requires every line stored once, none
//! mangled; it prints lost, duplicated and the time to drain (from the end of writing, or of
//! the partition, to the last line stored).
//!
//! `FLEETLOG_E2E_PARTITION_SECS` sets the partition (default 10 s here; the closing figures
//! use 60).

#![allow(clippy::print_stdout)] // A test reports its figures by printing.

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use fleetlog_tests::relay::{Faults, UdpRelay};
use fleetlog_tests::{Agent, AgentOpts, Collector, LineWriter, TestEnv, WritePlan, verify};

/// Lines per scenario, written at `RATE` per second (about 10 s of writing, 10 MiB).
const LINES: u64 = 100_000;
const RATE: u64 = 10_000;
/// How long the last line may take to be stored.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(180);

fn partition() -> Duration {
    Duration::from_secs(
        std::env::var("FLEETLOG_E2E_PARTITION_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(10),
    )
}

/// Runs one scenario: `during` is called once the writer has started, with the relay, and
/// returns when the fault is over (the time the drain is measured from, if later than the
/// end of writing).
fn scenario(
    name: &str,
    (lines, rate, padding): (u64, u64, usize),
    faults: Faults,
    during: impl FnOnce(&UdpRelay) -> Result<()>,
) -> Result<()> {
    let mut env = TestEnv::new(name)?;
    let collector = Collector::start(&env, &env.subdir("collector")?)?;
    let server: SocketAddr = collector
        .quic_addr()
        .parse()
        .context("collector QUIC address")?;
    let relay = UdpRelay::start(server, 0x5eed ^ name.len() as u64)?;
    let logs = env.subdir("logs")?;
    let host = format!("host-{name}");
    let mut opts = AgentOpts::new(&collector, &host, &[format!("{}/*.log", logs.display())]);
    opts.collector = relay.addr().to_string();
    let mut agent = Agent::start(&env, opts)?;
    thread::sleep(Duration::from_millis(500));
    relay.set(faults);
    let started = Instant::now();
    let writer = LineWriter::new(&logs.join("app.log"))?
        .padded(padding)
        .spawn_steady(WritePlan {
            lines,
            lines_per_sec: rate,
            rotate_every: None,
        });
    during(&relay)?;
    let writer = writer.join()?;
    let from = Instant::now();
    let got = collector.wait_for_lines(&host, lines, DRAIN_TIMEOUT)?;
    let drain = from.elapsed();
    let total = started.elapsed();
    let stats = relay.stats();
    relay.set(Faults::default());
    agent.ensure_running()?;
    let report = verify(
        name,
        1..=writer.written(),
        &collector.fetch_all_lines(&host)?,
    );
    println!(
        "{report}; stored count {got}; time to drain {:.1} s (first line written to last stored {:.1} s, {:.2} Mbit/s through the relay); relay {stats:?}",
        drain.as_secs_f64(),
        total.as_secs_f64(),
        stats.forwarded_bytes as f64 * 8.0 / total.as_secs_f64() / 1e6
    );
    report.ensure_clean()?;
    agent.ensure_no_panic()?;
    collector.ensure_no_panic()?;
    env.finish();
    Ok(())
}

#[test]
fn five_percent_loss() -> Result<()> {
    scenario(
        "loss-5pct",
        (LINES, RATE, 0),
        Faults {
            loss: 0.05,
            ..Faults::default()
        },
        |_| Ok(()),
    )
}

#[test]
fn ten_megabit_link() -> Result<()> {
    scenario(
        "link-10mbit",
        // 100,000 lines with 300 random hex characters each, about 38 MiB that compress to
        // about 17 MiB: more than the link carries in the 10 s of writing.
        (LINES, RATE, 300),
        Faults {
            rate_bits_per_sec: Some(10_000_000),
            queue: Duration::from_millis(50),
            delay: Duration::from_millis(5),
            ..Faults::default()
        },
        |_| Ok(()),
    )
}

#[test]
fn delay_and_reordering() -> Result<()> {
    scenario(
        "delay-reorder",
        (LINES, RATE, 0),
        Faults {
            delay: Duration::from_millis(20),
            jitter: Duration::from_millis(30),
            loss: 0.01,
            ..Faults::default()
        },
        |_| Ok(()),
    )
}

#[test]
fn partition_then_heal() -> Result<()> {
    scenario("partition", (LINES, RATE, 0), Faults::default(), |relay| {
        // A third of the lines go through, then the hosts are cut off while the writer goes
        // on, then the network heals.
        thread::sleep(Duration::from_secs(LINES / RATE / 3));
        relay.set(Faults {
            partitioned: true,
            ..Faults::default()
        });
        let cut = partition();
        println!("partition: cut for {} s", cut.as_secs());
        thread::sleep(cut);
        relay.set(Faults::default());
        Ok(())
    })
}
