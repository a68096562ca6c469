//! Temporary throughput probe (deleted after use).
#![allow(clippy::unwrap_used, clippy::print_stdout)]
use std::io::Write as _;
use fleetlog_agent::tail::{TailConfig, Tailer};
#[test]
fn throughput() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.log");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut total = 0u64;
    let mut i = 0u64;
    while total < 512 << 20 {
        let line = format!("2026-01-01T00:00:00.000Z INFO [worker-{}] request id={i} path=/api/v1/items status=200 took=12ms\n", i % 16);
        f.write_all(line.as_bytes()).unwrap();
        total += line.len() as u64;
        i += 1;
    }
    f.flush().unwrap();
    drop(f);
    let config = TailConfig { include: vec![format!("{}/*.log", dir.path().display())], ..TailConfig::default() };
    let mut tailer = Tailer::new(config, Vec::new()).unwrap();
    let start = std::time::Instant::now();
    let mut lines = 0u64;
    loop {
        let c = tailer.poll(4 << 20).unwrap();
        if c.lines.is_empty() { break; }
        lines += c.lines.len() as u64;
    }
    let s = start.elapsed().as_secs_f64();
    println!("lines={lines} expected={i} MiB/s={:.0}", total as f64 / s / (1 << 20) as f64);
    assert_eq!(lines, i);
}
