//! Writes realistic store/POS/kiosk log lines, for the demo and the benchmark.
//!
//! `fleetlog-sample --dir DIR [--rate N]` appends to a few log files under DIR forever
//! (N lines per second in total, default 20); `fleetlog-sample --file F --bytes N`
//! writes N bytes of lines to F once and exits.

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const USAGE: &str = "usage: fleetlog-sample --dir DIR [--rate LINES_PER_SEC] \
     | --file FILE --bytes N [--mix store]";

/// A store's level mix (`--mix store`): 15 % WARN and 5 % ERROR lines, the rest INFO, in
/// the same four formats; the default mix is today's (mostly INFO).
fn store_mix_line(rng: &mut Rng, kind: u64, ms: u64, seq: u64) -> String {
    let ts = timestamp(ms);
    let store = 1 + rng.below(400);
    let lane = 1 + rng.below(12);
    let roll = rng.below(100);
    let level = if roll < 5 {
        "ERROR"
    } else if roll < 20 {
        "WARN"
    } else {
        "INFO"
    };
    let msg = match (level, rng.below(3)) {
        ("ERROR", 0) => format!("receipt printer error: out of paper (txn={seq})"),
        ("ERROR", 1) => format!(
            "authorization TIMEOUT after 30000ms host=acq-gw-{}.bank.example",
            rng.below(9)
        ),
        ("ERROR", _) => format!(
            "price lookup FAILED sku={} : no price for effective date",
            4_000_000 + rng.below(99_999)
        ),
        ("WARN", 0) => format!(
            "scanner reconnect attempt {}/5 device=/dev/ttyUSB0",
            1 + rng.below(5)
        ),
        ("WARN", 1) => format!("card declined: insufficient funds (txn={seq})"),
        ("WARN", _) => format!(
            "slow response from menu-service latency_ms={}",
            800 + rng.below(4000)
        ),
        (_, 0) => format!("sale completed basket={} items={}", seq, 1 + rng.below(20)),
        (_, 1) => format!(
            "order placed order_id={:08x} latency_ms={}",
            rng.below(u64::from(u32::MAX)),
            rng.below(300)
        ),
        _ => format!(
            "delta applied skus={} batch={seq} duration={}ms",
            rng.below(500),
            rng.below(900)
        ),
    };
    match kind {
        0 | 1 => format!("{ts} {level} register[{lane}] store={store:03} {msg}"),
        2 => format!(
            r#"{{"ts":"{ts}","level":"{}","kiosk":"k-{store:03}-{lane}","msg":"{msg}"}}"#,
            level.to_lowercase()
        ),
        _ => format!(
            "time={ts} level={} component=inventory-sync store={store:03} msg=\"{msg}\"",
            level.to_lowercase()
        ),
    }
}

/// Deterministic xorshift, so benchmark inputs are identical between runs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn timestamp(ms: u64) -> String {
    let secs = ms / 1000;
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    let days = secs / 86_400;
    // Civil date from days since epoch (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}.{:03}Z",
        ms % 1000
    )
}

/// One line for source `kind` (0 register, 1 payment terminal, 2 kiosk JSON, 3 inventory logfmt).
fn line(rng: &mut Rng, kind: u64, ms: u64, seq: u64) -> String {
    let ts = timestamp(ms);
    let store = 1 + rng.below(400);
    let lane = 1 + rng.below(12);
    let roll = rng.below(1000);
    match kind {
        0 => match roll {
            0..=4 => format!(
                "{ts} ERROR register[{lane}] receipt printer error: out of paper (store={store:03} txn={seq})"
            ),
            5..=9 => format!(
                "{ts} WARN register[{lane}] scanner reconnect attempt 2/5 device=/dev/ttyUSB0 store={store:03}"
            ),
            10..=12 => format!(
                "{ts} ERROR register[{lane}] price lookup FAILED sku={} store={store:03}: no price for effective date",
                400_000 + rng.below(90_000)
            ),
            _ => format!(
                "{ts} INFO register[{lane}] txn={seq} store={store:03} items={} total={}.{:02} EUR tender=card approved",
                1 + rng.below(30),
                rng.below(300),
                rng.below(100)
            ),
        },
        1 => match roll {
            0..=6 => format!(
                "{ts} payterm lane={lane} store={store:03} ERROR authorization TIMEOUT after 30000ms host=acq-gw-{}.bank.example",
                rng.below(4)
            ),
            7..=8 => format!(
                "{ts} payterm lane={lane} store={store:03} ERROR connection refused 10.{}.{}.20:443 retry in 5s",
                rng.below(255),
                rng.below(255)
            ),
            _ => format!(
                "{ts} payterm lane={lane} store={store:03} INFO auth ok amount={}.{:02} card=****{:04} rrn={:012} {}ms",
                rng.below(300),
                rng.below(100),
                rng.below(10_000),
                rng.next() % 1_000_000_000_000,
                80 + rng.below(900)
            ),
        },
        2 => match roll {
            0..=4 => format!(
                r#"{{"ts":"{ts}","level":"error","kiosk":"k-{store:03}-{lane}","msg":"upstream 503 from menu-service","path":"/api/menu","latency_ms":{}}}"#,
                1000 + rng.below(4000)
            ),
            _ => format!(
                r#"{{"ts":"{ts}","level":"info","kiosk":"k-{store:03}-{lane}","msg":"order placed","order_id":"{:08x}","items":{},"latency_ms":{}}}"#,
                rng.next() as u32,
                1 + rng.below(8),
                20 + rng.below(300)
            ),
        },
        _ => match roll {
            0..=5 => format!(
                "time={ts} level=error component=inventory-sync store={store:03} msg=\"database error: deadlock detected\" batch={seq}"
            ),
            _ => format!(
                "time={ts} level=info component=inventory-sync store={store:03} msg=\"delta applied\" skus={} batch={seq} duration={}ms",
                rng.below(500),
                rng.below(2000)
            ),
        },
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    if let (Some(file), Some(bytes)) = (get("--file"), get("--bytes")) {
        let target: u64 = bytes.parse().map_err(|_| std::io::Error::other(USAGE))?;
        let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(file)?);
        let (mut written, mut seq, start) = (0u64, 0u64, 1_790_000_000_000u64);
        let store_mix = get("--mix").is_some_and(|m| m == "store");
        while written < target {
            let l = if store_mix {
                store_mix_line(&mut rng, seq % 4, start + seq * 7, seq)
            } else {
                line(&mut rng, seq % 4, start + seq * 7, seq)
            };
            out.write_all(l.as_bytes())?;
            out.write_all(b"\n")?;
            written += l.len() as u64 + 1;
            seq += 1;
        }
        out.flush()?;
        return Ok(());
    }
    let Some(dir) = get("--dir").map(PathBuf::from) else {
        return Err(std::io::Error::other(USAGE));
    };
    let rate: u64 = get("--rate")
        .and_then(|r| r.parse().ok())
        .unwrap_or(20)
        .max(1);
    let names = [
        "pos/register.log",
        "pos/payment-terminal.log",
        "kiosk/app.log",
        "inventory/sync.log",
    ];
    let mut files = Vec::new();
    for n in names {
        let p = dir.join(n);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        files.push(OpenOptions::new().create(true).append(true).open(p)?);
    }
    let mut seq = 0u64;
    loop {
        let kind = rng.below(4);
        let l = line(&mut rng, kind, now_ms(), seq);
        files[kind as usize].write_all(format!("{l}\n").as_bytes())?;
        seq += 1;
        std::thread::sleep(Duration::from_micros(1_000_000 / rate));
    }
}
