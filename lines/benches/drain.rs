//! Throughput of `Drain::add` over the Content column of the ten Loghub 2k sets
//! (falls back to a synthetic corpus when `../shared/datasets` is absent).
//! Each iteration learns the whole corpus into a fresh miner, so it measures the
//! realistic mix of template creation and matching; lines/s = corpus lines / time.

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fleetlog_lines::drain::{Drain, DrainConfig};

fn corpus() -> (Vec<String>, &'static str) {
    let mut lines = Vec::new();
    if let Some(dir) = support::loghub() {
        for s in support::SYSTEMS {
            let path = dir
                .join(s)
                .join(format!("{s}_2k.log_structured_corrected.csv"));
            if let Ok(text) = std::fs::read_to_string(path) {
                lines.extend(support::column(&support::csv(&text), "Content"));
            }
        }
    }
    if !lines.is_empty() {
        return (lines, "loghub10");
    }
    eprintln!("SKIP: ../shared/datasets not found, using a synthetic corpus");
    let synthetic = (0..20_000u32)
        .map(|i| match i % 5 {
            0 => format!(
                "Accepted password for user{} from 10.0.{}.{} port {} ssh2",
                i % 7,
                i % 250,
                i % 199,
                40000 + i
            ),
            1 => format!(
                "PacketResponder {} for block blk_{} terminating",
                i % 3,
                1_000_000 + i * 7919
            ),
            2 => format!(
                "session opened for user {} by (uid={})",
                ["root", "news", "cyrus"][i as usize % 3],
                i % 5
            ),
            3 => format!(
                "Took {}.{:02} seconds to spawn the instance on the hypervisor.",
                i % 40,
                i % 100
            ),
            _ => format!(
                "Received connection request /10.10.34.{}:{}",
                i % 250,
                30000 + i
            ),
        })
        .collect();
    (synthetic, "synthetic")
}

fn bench(c: &mut Criterion) {
    let (lines, name) = corpus();
    let mut group = c.benchmark_group("drain");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.bench_function(format!("add/{name}"), |b| {
        b.iter(|| {
            let mut drain = Drain::new(DrainConfig::default());
            for line in &lines {
                black_box(drain.add(black_box(line)));
            }
            drain.len()
        })
    });
    let mut learned = Drain::new(DrainConfig::default());
    for line in &lines {
        learned.add(line);
    }
    group.bench_function(format!("match_only/{name}"), |b| {
        b.iter(|| {
            lines
                .iter()
                .filter(|l| learned.match_only(black_box(l)).is_some())
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
