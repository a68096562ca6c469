//! End-to-end benchmark of the real binaries (build them in release first).
//!
//! ```text
//! cargo build --release --workspace --bins
//! /var/tmp/fleetlog-target/release/fleetlog-bench [--mib 512] [--runs 3] [--mix store]
//!     [--only read,append,e2e,idle]
//! ```
//!
//! Both binaries run with their default configuration (the agent's `batch.max_wait_ms` is
//! its default 500 ms), except that the `append` scenario, which has no collector to drain
//! the buffer, raises `buffer.max_bytes` to 8 GiB so the whole input fits.
//!
//! Scenarios, each run `--runs` times and reported as medians:
//! - `read`: reading the input file with 256 KiB reads (the baseline, same run);
//! - `append`: the agent alone (no collector reachable): tail + classify + durable append;
//! - `e2e`: agent → collector on loopback until the collector has stored every line;
//! - `priority`: agent → collector on the same backlog; 200 critical lines written to
//!   another file meanwhile, their write-to-store latency p50/p99/max;
//! - `idle`: agent RSS and open descriptors with 100 small watched files, 15 s after it
//!   has shipped them;
//! - `rsyslog`: Debian's `rsyslogd` on the same input, side by side with `append`:
//!   `imfile` tails the file and `omfile` writes each line to a file (no classification,
//!   no fsync per batch: less work than the agent does), until every line is written.
//!   Skipped with a notice when `rsyslogd` is not installed.
//!
//! CPU seconds come from /proc/PID/stat, peak RSS from VmHWM, idle RSS from VmRSS.

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

const MIB: f64 = 1024.0 * 1024.0;

struct Args {
    mib: u64,
    runs: usize,
    bin_dir: PathBuf,
    /// `store`: 15 % WARN, 5 % ERROR (see fleetlog-sample); default: today's mostly-INFO mix.
    mix: Option<String>,
    /// Scenarios to run (all when absent).
    only: Option<Vec<String>>,
}

const HELP: &str = "\
fleetlog-bench: the agent and collector pipeline benchmark (release binaries).

USAGE:
    fleetlog-bench [--mib N] [--runs N] [--mix store] [--only LIST] [--bin-dir DIR]

OPTIONS:
    --mib N         input size in MiB (default 512)
    --runs N        runs per scenario; medians are reported (default 3)
    --mix store     a store's level mix: 15 % WARN, 5 % ERROR (default: mostly INFO)
    --only LIST     comma-separated scenarios among read,append,e2e,priority,idle,rsyslog
                    (default: all)
    --bin-dir DIR   where fleetlog-agent, fleetlog-collector and fleetlog-sample are
                    (default: next to this binary)
    -h, --help      print this help and exit

Both binaries run with their default configuration; `append` (no collector) raises the
agent's buffer.max_bytes to 8 GiB so the whole input fits.
";

fn args() -> anyhow::Result<Args> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.iter().any(|x| x == "-h" || x == "--help") {
        std::io::stdout().lock().write_all(HELP.as_bytes())?;
        std::process::exit(0);
    }
    let get = |f: &str| {
        a.iter()
            .position(|x| x == f)
            .and_then(|i| a.get(i + 1))
            .cloned()
    };
    let bin_dir = match get("--bin-dir") {
        Some(d) => PathBuf::from(d),
        None => std::env::current_exe()?
            .parent()
            .context("exe dir")?
            .to_owned(),
    };
    Ok(Args {
        mib: get("--mib").map(|s| s.parse()).transpose()?.unwrap_or(512),
        runs: get("--runs").map(|s| s.parse()).transpose()?.unwrap_or(3),
        mix: get("--mix"),
        only: get("--only").map(|l| l.split(',').map(str::to_owned).collect()),
        bin_dir,
    })
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn free_udp_port() -> anyhow::Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')').context("stat format")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f[11].parse()?;
    let stime: f64 = f[12].parse()?;
    // USER_HZ is 100 on Linux.
    Ok((utime + stime) / 100.0)
}

fn status_kib(pid: u32, key: &str) -> anyhow::Result<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = s
        .lines()
        .find(|l| l.starts_with(key))
        .context("status key")?;
    Ok(line.split_whitespace().nth(1).context("value")?.parse()?)
}

fn metric(port: u16, name: &str) -> Option<f64> {
    let body = reqwest::blocking::get(format!("http://127.0.0.1:{port}/metrics"))
        .ok()?
        .text()
        .ok()?;
    body.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

struct Agent {
    child: Child,
    metrics_port: u16,
}

fn start_agent(
    bin: &Path,
    dir: &Path,
    glob: &str,
    collector: &str,
    ca: &Path,
    token: &Path,
    env: &[(&str, String)],
) -> anyhow::Result<Agent> {
    let metrics_port = free_port()?;
    let child = Command::new(bin.join("fleetlog-agent"))
        .args([
            "run",
            "--collector",
            collector,
            "--path",
            glob,
            "--host-name",
            "bench-host",
        ])
        .arg("--ca")
        .arg(ca)
        .arg("--token-file")
        .arg(token)
        .arg("--data-dir")
        .arg(dir.join("agent"))
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("agent.log"))?)
        .spawn()
        .context("starting fleetlog-agent")?;
    Ok(Agent {
        child,
        metrics_port,
    })
}

fn wait_for(deadline: Duration, mut f: impl FnMut() -> bool) -> anyhow::Result<()> {
    let end = Instant::now() + deadline;
    while Instant::now() < end {
        if f() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("timed out")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

struct Collector {
    child: Child,
    http: u16,
    quic: u16,
    dir: PathBuf,
}

fn start_collector(bin: &Path, dir: &Path) -> anyhow::Result<Collector> {
    let (http, quic) = (free_port()?, free_udp_port()?);
    let data = dir.join("collector");
    let child = Command::new(bin.join("fleetlog-collector"))
        .args(["serve", "--http-listen", &format!("127.0.0.1:{http}")])
        .args(["--quic-listen", &format!("127.0.0.1:{quic}")])
        .arg("--data-dir")
        .arg(&data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("collector.log"))?)
        .spawn()
        .context("starting fleetlog-collector")?;
    wait_for(Duration::from_secs(30), || {
        reqwest::blocking::get(format!("http://127.0.0.1:{http}/healthz"))
            .is_ok_and(|r| r.status().is_success())
    })?;
    Ok(Collector {
        child,
        http,
        quic,
        dir: data,
    })
}

/// Lines the collector has stored in all, or `None` when `/api/v1/hosts` did not answer.
fn lines_received(c: &Collector, token: &str) -> Option<u64> {
    let r = reqwest::blocking::Client::new()
        .get(format!("http://127.0.0.1:{}/api/v1/hosts", c.http))
        .bearer_auth(token)
        .send()
        .and_then(|r| r.json::<serde_json::Value>());
    r.ok().and_then(|v| {
        v["hosts"]
            .as_array()
            .map(|h| h.iter().filter_map(|x| x["lines_received"].as_u64()).sum())
    })
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The `priority` scenario: agent and collector with their defaults on the input backlog;
/// once the collector receives at full speed, 200 critical lines are written (20 a second)
/// to another file; returns their write-to-store latency p50, p99 and max in ms (seen in
/// `/api/v1/events`, polled every 20 ms) and the backlog lines still unsent at the last.
fn priority_latency(
    a: &Args,
    dir: &Path,
    glob: &str,
    input_dir: &Path,
    lines: u64,
) -> anyhow::Result<(u64, u64, u64, u64)> {
    const N: usize = 200;
    let mut c = start_collector(&a.bin_dir, dir)?;
    let admin = std::fs::read_to_string(c.dir.join("admin-token"))?
        .trim()
        .to_owned();
    let mut agent = start_agent(
        &a.bin_dir,
        dir,
        glob,
        &format!("127.0.0.1:{}", c.quic),
        &c.dir.join("ca.pem"),
        &c.dir.join("agent-token"),
        &[],
    )?;
    wait_for(Duration::from_secs(300), || {
        lines_received(&c, &admin).unwrap_or(0) >= lines / 20
    })?;
    let mut payment = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(input_dir.join("payment.log"))?;
    let client = reqwest::blocking::Client::new();
    let url = format!(
        "http://127.0.0.1:{}/api/v1/events?host=bench-host&service=payment&limit=1000",
        c.http
    );
    let mut written = Vec::with_capacity(N);
    let mut seen: Vec<Option<u64>> = vec![None; N];
    let mut next = Instant::now();
    let mut left = 0;
    let end = Instant::now() + Duration::from_secs(300);
    while seen.iter().any(Option::is_none) && Instant::now() < end {
        if written.len() < N && Instant::now() >= next {
            writeln!(
                payment,
                "FATAL kernel panic: out of memory marker=crit{:04}",
                written.len()
            )?;
            written.push(now_ms());
            next += Duration::from_millis(50);
            if written.len() == N {
                // A busy collector may not answer at once; ask again rather than count 0.
                let stored = (0..20).find_map(|_| {
                    lines_received(&c, &admin).or_else(|| {
                        std::thread::sleep(Duration::from_millis(50));
                        None
                    })
                });
                left = stored.map_or(u64::MAX, |s| lines.saturating_sub(s));
            }
        }
        let body: serde_json::Value = client
            .get(&url)
            .bearer_auth(&admin)
            .send()
            .and_then(|r| r.json())
            .unwrap_or_default();
        let now = now_ms();
        // Identical critical lines are grouped into one event that shows one of them: a
        // line is stored when its marker is shown, or when the group counts as many
        // occurrences as lines up to it (the lines are written, and stored, in order).
        let mut stored = 0usize;
        for e in body["events"].as_array().into_iter().flatten() {
            let Some(line) = e["line"].as_str().filter(|l| l.contains("marker=crit")) else {
                continue;
            };
            stored += e["occurrences"].as_u64().unwrap_or(1) as usize;
            let i = line
                .split("marker=crit")
                .nth(1)
                .and_then(|s| s.get(..4))
                .and_then(|s| s.parse::<usize>().ok());
            if let Some(i) = i.filter(|&i| i < written.len()) {
                seen[i].get_or_insert(now);
            }
        }
        for s in seen.iter_mut().take(stored.min(written.len())) {
            s.get_or_insert(now);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(&mut agent.child);
    kill(&mut c.child);
    std::fs::remove_file(input_dir.join("payment.log"))?;
    let mut lat: Vec<u64> = written
        .iter()
        .zip(&seen)
        .map(|(w, s)| s.map_or(u64::MAX, |s| s.saturating_sub(*w)))
        .collect();
    lat.sort_unstable();
    let pick = |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize];
    Ok((pick(0.5), pick(0.99), pick(1.0), left))
}

/// The `rsyslog` scenario: `rsyslogd -n` with only `imfile` (the input, from its start) and
/// `omfile`; timed until the output holds every input line. Returns (seconds, CPU seconds,
/// peak RSS MiB), or `None` when `rsyslogd` is missing.
fn rsyslog_run(dir: &Path, input: &Path, lines: u64) -> anyhow::Result<Option<(f64, f64, f64)>> {
    let bin = Path::new("/usr/sbin/rsyslogd");
    if !bin.exists() {
        return Ok(None);
    }
    let out = dir.join("out.log");
    let conf = dir.join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            "global(workDirectory=\"{work}\")\n\
             module(load=\"imfile\" mode=\"inotify\")\n\
             input(type=\"imfile\" file=\"{input}\" tag=\"bench\" freshStartTail=\"off\")\n\
             action(type=\"omfile\" file=\"{out}\" template=\"RSYSLOG_FileFormat\")\n",
            work = dir.display(),
            input = input.display(),
            out = out.display()
        ),
    )?;
    let t = Instant::now();
    let mut child = Command::new(bin)
        .args(["-n", "-f"])
        .arg(&conf)
        .arg("-i")
        .arg(dir.join("rsyslogd.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting rsyslogd")?;
    // Done when the output stops growing and holds every line (counted once it stopped).
    let (mut last_size, mut last_growth, mut secs) = (0u64, Instant::now(), None);
    while t.elapsed() < Duration::from_secs(900) {
        std::thread::sleep(Duration::from_millis(100));
        let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
        if size != last_size {
            (last_size, last_growth) = (size, Instant::now());
            continue;
        }
        if size > 0 && last_growth.elapsed() > Duration::from_secs(2) {
            let mut n = 0u64;
            let mut f = std::fs::File::open(&out)?;
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let k = f.read(&mut buf)?;
                if k == 0 {
                    break;
                }
                n += buf[..k].iter().filter(|&&b| b == b'\n').count() as u64;
            }
            if n >= lines {
                secs = Some((last_growth - t).as_secs_f64());
                break;
            }
            last_growth = Instant::now();
        }
    }
    let cpu = cpu_seconds(child.id())?;
    let rss = status_kib(child.id(), "VmHWM")? as f64 / 1024.0;
    kill(&mut child);
    let secs = secs.context("rsyslogd did not write every line within 900 s")?;
    Ok(Some((secs, cpu, rss)))
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    let want = |s: &str| a.only.as_ref().is_none_or(|o| o.iter().any(|x| x == s));
    let mut out = std::io::stdout().lock();
    let work = tempfile::tempdir()?;
    let input_dir = work.path().join("input");
    std::fs::create_dir_all(&input_dir)?;
    let input = input_dir.join("pos.log");
    let bytes = a.mib * 1024 * 1024;
    let st = Command::new(a.bin_dir.join("fleetlog-sample"))
        .arg("--file")
        .arg(&input)
        .args(["--bytes", &bytes.to_string()])
        .args(a.mix.iter().flat_map(|m| ["--mix", m.as_str()]))
        .status()
        .context("running fleetlog-sample")?;
    anyhow::ensure!(st.success(), "fleetlog-sample failed");
    let size = std::fs::metadata(&input)?.len();
    let mut lines = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    let mut f = std::fs::File::open(&input)?;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    }
    let glob = format!("{}/*.log", input_dir.display());
    writeln!(
        out,
        "input: {:.0} MiB, {lines} lines, {:.0} B/line, {} runs",
        size as f64 / MIB,
        size as f64 / lines as f64,
        a.runs
    )?;

    // Baseline: read the (cached) file with 256 KiB reads.
    let mut read_rates = Vec::new();
    for _ in 0..a.runs {
        let t = Instant::now();
        let mut f = std::fs::File::open(&input)?;
        while f.read(&mut buf)? > 0 {}
        read_rates.push(size as f64 / MIB / t.elapsed().as_secs_f64());
    }
    let read = median(read_rates);
    writeln!(out, "read      baseline  {read:>8.0} MiB/s")?;

    if want("append") {
        // The agent alone: tail + classify + durable append (nothing listens on the collector port).
        let dummy_ca = work.path().join("dummy");
        std::fs::create_dir_all(&dummy_ca)?;
        let c0 = start_collector(&a.bin_dir, &dummy_ca)?;
        let ca = c0.dir.join("ca.pem");
        let token = c0.dir.join("agent-token");
        let mut c0 = c0;
        kill(&mut c0.child);
        let (mut rates, mut lps, mut cpu_per_gib, mut rss) = (vec![], vec![], vec![], vec![]);
        for run in 0..a.runs {
            let dir = work.path().join(format!("append-{run}"));
            std::fs::create_dir_all(&dir)?;
            let t = Instant::now();
            let big_buffer = [("FLEETLOG_BUFFER_MAX_BYTES", (8u64 << 30).to_string())];
            let mut agent = start_agent(
                &a.bin_dir,
                &dir,
                &glob,
                "127.0.0.1:9",
                &ca,
                &token,
                &big_buffer,
            )?;
            let port = agent.metrics_port;
            wait_for(Duration::from_secs(600), || {
                metric(port, "fleetlog_agent_buffer_committed_lines_total") == Some(lines as f64)
            })?;
            let secs = t.elapsed().as_secs_f64();
            let cpu = cpu_seconds(agent.child.id())?;
            rss.push(status_kib(agent.child.id(), "VmHWM")? as f64 / 1024.0);
            kill(&mut agent.child);
            rates.push(size as f64 / MIB / secs);
            lps.push(lines as f64 / secs);
            cpu_per_gib.push(cpu / (size as f64 / (1024.0 * MIB)));
        }
        let append = median(rates.clone());
        writeln!(
            out,
            "append    agent     {append:>8.0} MiB/s  {:>10.0} lines/s  {:.2} CPU-s/GiB  ({:.0} MiB per CPU-s)  peak RSS {:.0} MiB  [{:.3}x read]",
            median(lps),
            median(cpu_per_gib.clone()),
            1024.0 / median(cpu_per_gib),
            median(rss),
            append / read
        )?;
    }
    if want("e2e") {
        // End to end: agent -> collector on loopback.
        let (mut rates, mut lps, mut agent_cpu, mut a_rss, mut c_rss, mut c_cpu) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for run in 0..a.runs {
            let dir = work.path().join(format!("e2e-{run}"));
            std::fs::create_dir_all(&dir)?;
            let mut c = start_collector(&a.bin_dir, &dir)?;
            let admin = std::fs::read_to_string(c.dir.join("admin-token"))?
                .trim()
                .to_owned();
            let t = Instant::now();
            let mut agent = start_agent(
                &a.bin_dir,
                &dir,
                &glob,
                &format!("127.0.0.1:{}", c.quic),
                &c.dir.join("ca.pem"),
                &c.dir.join("agent-token"),
                &[],
            )?;
            wait_for(Duration::from_secs(900), || {
                lines_received(&c, &admin).unwrap_or(0) >= lines
            })?;
            let secs = t.elapsed().as_secs_f64();
            agent_cpu.push(cpu_seconds(agent.child.id())? / (size as f64 / (1024.0 * MIB)));
            c_cpu.push(cpu_seconds(c.child.id())? / (size as f64 / (1024.0 * MIB)));
            a_rss.push(status_kib(agent.child.id(), "VmHWM")? as f64 / 1024.0);
            c_rss.push(status_kib(c.child.id(), "VmHWM")? as f64 / 1024.0);
            kill(&mut agent.child);
            kill(&mut c.child);
            rates.push(size as f64 / MIB / secs);
            lps.push(lines as f64 / secs);
        }
        let e2e = median(rates);
        writeln!(
            out,
            "e2e       loopback  {e2e:>8.0} MiB/s  {:>10.0} lines/s  agent {:.2} CPU-s/GiB, collector {:.2} CPU-s/GiB  peak RSS agent {:.0} MiB, collector {:.0} MiB  [{:.3}x read]",
            median(lps),
            median(agent_cpu),
            median(c_cpu),
            median(a_rss),
            median(c_rss),
            e2e / read
        )?;
    }
    if want("priority") {
        let dir = work.path().join("priority");
        std::fs::create_dir_all(&dir)?;
        let (p50, p99, max, left) = priority_latency(&a, &dir, &glob, &input_dir, lines)?;
        let left = match left {
            u64::MAX => "unknown".to_owned(),
            n => n.to_string(),
        };
        writeln!(
            out,
            "priority  200 critical lines during the backlog: write-to-store p50 {p50} ms, p99 {p99} ms, max {max} ms ({left} backlog lines unsent at the last one)"
        )?;
    }
    if want("rsyslog") {
        let (mut rates, mut cpu_per_gib, mut rss, mut missing) = (vec![], vec![], vec![], false);
        for run in 0..a.runs {
            let dir = work.path().join(format!("rsyslog-{run}"));
            std::fs::create_dir_all(&dir)?;
            match rsyslog_run(&dir, &input, lines)? {
                Some((secs, cpu, peak)) => {
                    rates.push(size as f64 / MIB / secs);
                    cpu_per_gib.push(cpu / (size as f64 / (1024.0 * MIB)));
                    rss.push(peak);
                }
                None => missing = true,
            }
            std::fs::remove_dir_all(&dir)?;
        }
        if missing {
            writeln!(
                out,
                "rsyslog   SKIP: /usr/sbin/rsyslogd not installed (Debian package rsyslog)"
            )?;
        } else {
            let rate = median(rates);
            writeln!(
                out,
                "rsyslog   imfile→omfile {rate:>4.0} MiB/s  {:.2} CPU-s/GiB  ({:.0} MiB per CPU-s)  peak RSS {:.0} MiB  [{:.3}x read]",
                median(cpu_per_gib.clone()),
                1024.0 / median(cpu_per_gib),
                median(rss),
                rate / read
            )?;
        }
    }
    if want("idle") {
        // Idle: 100 watched files.
        let idle_dir = work.path().join("idle");
        let files_dir = idle_dir.join("files");
        std::fs::create_dir_all(&files_dir)?;
        for i in 0..100 {
            std::fs::write(
                files_dir.join(format!("app-{i:03}.log")),
                format!("2026-11-22T10:00:00Z INFO kiosk {i} started\n"),
            )?;
        }
        let mut c = start_collector(&a.bin_dir, &idle_dir)?;
        let mut agent = start_agent(
            &a.bin_dir,
            &idle_dir,
            &format!("{}/*.log", files_dir.display()),
            &format!("127.0.0.1:{}", c.quic),
            &c.dir.join("ca.pem"),
            &c.dir.join("agent-token"),
            &[],
        )?;
        let port = agent.metrics_port;
        wait_for(Duration::from_secs(60), || {
            metric(port, "fleetlog_agent_ship_acked_batches_total").unwrap_or(0.0) >= 1.0
        })?;
        // Long enough for the tailer to close the descriptors of idle, fully read files.
        std::thread::sleep(Duration::from_secs(15));
        let idle_rss = status_kib(agent.child.id(), "VmRSS")? as f64 / 1024.0;
        let watched = metric(port, "fleetlog_agent_tail_watched_files").unwrap_or(0.0);
        let fds = std::fs::read_dir(format!("/proc/{}/fd", agent.child.id()))?.count();
        kill(&mut agent.child);
        kill(&mut c.child);
        writeln!(
            out,
            "idle      agent     RSS {idle_rss:.1} MiB with {watched:.0} watched files, {fds} open fds"
        )?;
    }
    Ok(())
}
