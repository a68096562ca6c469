//! The collector's disk fills (issue 16 item 4), with the real binaries and a real small
//! filesystem (a tmpfs mounted for the test; it says SKIP when it cannot mount one, e.g.
//! without root):
//! - below `store.min_free_bytes` the collector stops acknowledging before writing anything,
//!   `/readyz` answers 503 with the reason, the agent keeps the lines, and when space returns
//!   everything arrives by itself, once;
//! - with the check off (`store.min_free_bytes = 0`) the disk fills for real (`ENOSPC` in the
//!   segment write and in SQLite): the same outcome, and nothing half-written is indexed.

#![allow(clippy::print_stdout)] // A test reports its figures by printing.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use fleetlog_tests::{Agent, AgentOpts, Collector, LineWriter, TestEnv, verify};

/// A tmpfs of `mib` MiB at `dir`, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, mib: u64) -> Option<Tmpfs> {
        fs::create_dir_all(dir).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the volume of `dir` with `filler` until at most `leave` bytes are free (0: until
/// `ENOSPC`).
fn fill(filler: &Path, leave: u64) -> Result<()> {
    let mut f = fs::File::create(filler)?;
    let chunk = vec![0x5a_u8; 256 * 1024];
    loop {
        let free = fs2_free(filler.parent().context("filler dir")?)?;
        if free <= leave {
            break;
        }
        let n = usize::try_from((free - leave).min(chunk.len() as u64)).unwrap_or(chunk.len());
        match f.write_all(&chunk[..n]) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => return Err(e.into()),
        }
        f.flush()?;
    }
    Ok(())
}

/// Free bytes on the volume of `dir`, from `df`.
fn fs2_free(dir: &Path) -> Result<u64> {
    let out = Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(dir)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .context("df output")
}

fn ready_status(collector: &Collector) -> Result<(u16, String)> {
    let resp = reqwest::blocking::get(format!("{}/readyz", collector.base_url()))?;
    Ok((resp.status().as_u16(), resp.text()?))
}

/// One run: `min_free` for the collector, filled to `leave` bytes free.
fn run(name: &str, min_free: u64, leave: u64) -> Result<()> {
    let mut env = TestEnv::new(name)?;
    let Some(vol) = Tmpfs::mount(&env.path().join("vol"), 48) else {
        println!("SKIP {name}: cannot mount a tmpfs here (needs root)");
        env.finish();
        return Ok(());
    };
    let min = min_free.to_string();
    let collector = Collector::start_with(
        &env,
        &vol.0.join("collector"),
        &[("FLEETLOG_STORE_MIN_FREE_BYTES", &min)],
    )?;
    let logs = env.subdir("logs")?;
    let host = format!("host-{name}");
    let mut agent = Agent::start(
        &env,
        AgentOpts::new(&collector, &host, &[format!("{}/*.log", logs.display())]),
    )?;
    thread::sleep(Duration::from_millis(300));
    let mut writer = LineWriter::new(&logs.join("app.log"))?;
    writer.write_lines(1_000)?;
    collector.wait_for_lines(&host, 1_000, Duration::from_secs(60))?;

    let filler = vol.0.join("filler");
    fill(&filler, leave)?;
    let free = fs2_free(&vol.0)?;
    writer.write_lines(5_000)?;
    thread::sleep(Duration::from_secs(5));
    let during = collector.lines_received(&host)?;
    let (status, body) = ready_status(&collector)?;
    println!(
        "{name}: {free} bytes free; lines stored while full {during} of 6000; /readyz {status} {body:?}"
    );
    ensure!(
        during < 6_000,
        "{name}: lines were acknowledged with the disk full"
    );
    if min_free > 0 {
        ensure!(status == 503, "{name}: /readyz {status} while full");
        ensure!(
            body.contains("min_free_bytes"),
            "{name}: /readyz says {body:?}"
        );
    }
    agent.ensure_running()?;

    fs::remove_file(&filler)?;
    let got = collector.wait_for_lines(&host, 6_000, Duration::from_secs(120))?;
    let report = verify(name, writer.expected(), &collector.fetch_all_lines(&host)?);
    let (status, _) = ready_status(&collector)?;
    println!("{report}; stored count {got}; /readyz {status} after space returned");
    report.ensure_clean()?;
    ensure!(
        status == 200,
        "{name}: /readyz {status} after space returned"
    );
    // Nothing half-written: no temporary segment file is left in the archive.
    let leftovers = walk(&vol.0.join("collector/archive"))?
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .count();
    println!("{name}: temporary segment files left: {leftovers}");
    ensure!(
        leftovers == 0,
        "{name}: {leftovers} temporary segment files left"
    );
    agent.ensure_no_panic()?;
    collector.ensure_no_panic()?;
    drop(agent);
    drop(collector);
    drop(vol);
    env.finish();
    Ok(())
}

fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    for e in fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            out.extend(walk(&p)?);
        } else {
            out.push(p);
        }
    }
    Ok(out)
}

#[test]
fn below_min_free_the_collector_stops_acking_and_resumes() -> Result<()> {
    run("disk-low", 16 * 1024 * 1024, 8 * 1024 * 1024)
}

#[test]
fn a_really_full_disk_loses_and_indexes_nothing() -> Result<()> {
    run("disk-enospc", 0, 0)
}
