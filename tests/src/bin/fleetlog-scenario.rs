//! Writes a generated store fleet (see `fleetlog_tests::scenario`) to a directory: one
//! subdirectory per host, one `<service>.log` per service, and `truth.json` with the incidents
//! and decoys.
//!
//! `fleetlog-scenario --dir DIR [--seed N] [--hosts N] [--minutes N] [--rate LINES_PER_MIN]
//! [--start 2026-11-27T08:00:00Z | --start-ms MS]`

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use fleetlog_tests::scenario::{Params, generate, parse_iso};

const USAGE: &str = "usage: fleetlog-scenario --dir DIR [--seed N] [--hosts N] [--minutes N] \
                     [--rate LINES_PER_MIN_PER_HOST] [--start YYYY-MM-DDTHH:MM:SSZ | --start-ms MS]";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let num = |flag: &str, default: u64| -> Result<u64> {
        match get(flag) {
            None => Ok(default),
            Some(v) => v.parse().with_context(|| format!("{flag} {v:?}: {USAGE}")),
        }
    };
    let Some(dir) = get("--dir").map(PathBuf::from) else {
        bail!(USAGE);
    };
    let d = Params::default();
    let start_ms = match (get("--start"), get("--start-ms")) {
        (Some(s), _) => parse_iso(&s).with_context(|| format!("--start {s:?}: {USAGE}"))?,
        (None, Some(ms)) => ms.parse().with_context(|| format!("--start-ms {ms:?}"))?,
        (None, None) => d.start_ms,
    };
    let params = Params {
        seed: num("--seed", d.seed)?,
        hosts: usize::try_from(num("--hosts", d.hosts as u64)?)?,
        minutes: u32::try_from(num("--minutes", u64::from(d.minutes))?)?,
        lines_per_min: u32::try_from(num("--rate", u64::from(d.lines_per_min))?)?,
        start_ms,
    };
    let fleet = generate(params);
    let mut total = 0usize;
    for host in &fleet.hosts {
        let hdir = dir.join(&host.name);
        std::fs::create_dir_all(&hdir).with_context(|| format!("creating {}", hdir.display()))?;
        for svc in &host.services {
            let path = hdir.join(format!("{}.log", svc.service));
            let file = std::fs::File::create(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            let mut out = BufWriter::new(file);
            for line in &svc.lines {
                writeln!(out, "{}", line.text)?;
            }
            out.flush()
                .with_context(|| format!("writing {}", path.display()))?;
            total += svc.lines.len();
        }
    }
    let truth = dir.join("truth.json");
    std::fs::write(&truth, serde_json::to_vec_pretty(&fleet.truth_json())?)
        .with_context(|| format!("writing {}", truth.display()))?;
    eprintln!(
        "wrote {} hosts, {total} lines, {} incidents, {} decoy kinds to {}",
        fleet.hosts.len(),
        fleet.incidents.len(),
        fleet.decoys.len(),
        dir.display()
    );
    Ok(())
}
