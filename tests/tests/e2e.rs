//! End-to-end scenarios: real collector and agent processes, real files, real QUIC.
//!
//! Data scenarios (a)-(e) write sequence-numbered lines, disturb the pipeline (rotation,
//! SIGKILL, outage), wait until the collector reports the expected count (or a deadline), then
//! page through `/api/v1/lines` and require: nothing lost, nothing duplicated, nothing mangled.
//! Each prints `scenario X: expected N, received M, lost L, duplicated D`.
//! Bad-input scenarios (f), (g), (i) check that a wrong token, a foreign CA and an unknown config
//! key produce a clear error and store nothing.
//! Rotation scenarios (j)-(m) tail the glob users write, `*.log`, so every rotated file
//! (`app.log.1`, `app.log-YYYYMMDD`, `old/app.log.1`, `app.log.1.gz`) is outside it; the agent
//! is SIGKILLed across one rotation and must find the rotated file again by identity.
//! Scenario (n) writes two files with the same 300-byte banner, truncates one of them and
//! requires both to be read in full.
//! Scenario (h) (malformed and oversized frames) is covered by the collector's own tests.
//!
//! Run: `cargo test -p fleetlog-tests -- --nocapture` (the harness builds the binaries; see
//! `fleetlog_tests` docs). `FLEETLOG_E2E_OUTAGE_SECS=5` shortens scenario (e) for local runs.

use std::fs;
use std::thread;
use std::time::Duration;

use anyhow::{Result, bail, ensure};
use fleetlog_tests::{
    Agent, AgentOpts, Collector, LineWriter, Report, Rotation, TestEnv, WritePlan, foreign_ca_pem,
    is_warn_or_error, outage, run_to_exit, verify,
};

/// Lines written before the steady writer starts, to prove the pipeline works at all.
const WARMUP_LINES: u64 = 10;
/// How long the warm-up lines may take (first QUIC connect, first glob scan).
const WARMUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long delivery may take after the writer finished.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);
/// Time after the count is reached in which late duplicates could still land.
const SETTLE: Duration = Duration::from_secs(2);
/// Steady write rate of scenarios (a)-(d): about 10 s of writing each.
const RATE: u64 = 3_000;
/// Lines per scenario (a)-(d).
const LINES: u64 = 30_000;
/// Lines per rotation scenario (j)-(m): about 7 s of writing each.
const ROTATION_LINES: u64 = 20_000;
/// Rotation period of scenarios (j)-(m): three rotations.
const ROTATE_EVERY: u64 = 5_000;
/// How long an agent or collector has to report a bad-input error.
const ERROR_TIMEOUT: Duration = Duration::from_secs(60);

/// A collector, one agent tailing `logs/*.log*` (or another glob), and the scenario's temp dir.
/// Field order is drop order: processes die before the temp dir goes.
struct Rig {
    agent: Agent,
    collector: Collector,
    host: String,
    env: TestEnv,
}

impl Rig {
    /// Starts both processes and delivers [`WARMUP_LINES`] through them; returns the writer of
    /// `logs/app.log` positioned after the warm-up lines.
    fn start(name: &str) -> Result<(Rig, LineWriter)> {
        Rig::start_glob(name, "*.log*")
    }

    /// As [`Rig::start`], with the agent tailing `logs/<glob>`.
    fn start_glob(name: &str, glob: &str) -> Result<(Rig, LineWriter)> {
        let env = TestEnv::new(name)?;
        let collector = Collector::start(&env, &env.subdir("collector")?)?;
        let log_dir = env.subdir("logs")?;
        let host = format!("host-{name}");
        let glob = format!("{}/{glob}", log_dir.display());
        let mut agent = Agent::start(&env, AgentOpts::new(&collector, &host, &[glob]))?;
        // The file is created after the agent started, so it is new to the agent and read from
        // its first byte whatever the agent's policy for files that exist at startup.
        thread::sleep(Duration::from_millis(500));
        let mut writer = LineWriter::new(&log_dir.join("app.log"))?;
        writer.write_lines(WARMUP_LINES)?;
        let got = collector.wait_for_lines(&host, WARMUP_LINES, WARMUP_TIMEOUT)?;
        agent.ensure_running()?;
        ensure!(
            got >= WARMUP_LINES,
            "warm-up: collector reports {got} of {WARMUP_LINES} lines for {host} after \
             {WARMUP_TIMEOUT:?}; the pipeline does not deliver at all"
        );
        Ok((
            Rig {
                agent,
                collector,
                host,
                env,
            },
            writer,
        ))
    }

    /// Waits for everything `writer` wrote, verifies, prints the report and fails unless clean.
    fn verify(mut self, writer: &LineWriter, timeout: Duration) -> Result<Report> {
        let expected = writer.written();
        let count = self
            .collector
            .wait_for_lines(&self.host, expected, timeout)?;
        thread::sleep(SETTLE);
        let lines = self.collector.fetch_all_lines(&self.host)?;
        let report = verify(self.env.name(), writer.expected(), &lines);
        report.print();
        let count_after = self.collector.lines_received(&self.host)?;
        eprintln!(
            "scenario {}: /api/v1/hosts lines_received {count} when polling stopped, \
             {count_after} at the end; /api/v1/lines returned {}; {} rotations",
            self.env.name(),
            lines.len(),
            writer.rotations()
        );
        report.ensure_clean()?;
        ensure!(
            count_after == expected,
            "lines_received is {count_after} but the store holds {expected} distinct lines"
        );
        self.agent.ensure_running()?;
        self.agent.ensure_no_panic()?;
        self.collector.ensure_no_panic()?;
        self.env.finish();
        Ok(report)
    }
}

fn steady(rotate_every: Option<(u64, Rotation)>) -> WritePlan {
    WritePlan {
        lines: LINES,
        lines_per_sec: RATE,
        rotate_every,
    }
}

/// (a) Rename rotation (`app.log` → `app.log.1`, new `app.log`) five times while writing.
#[test]
fn a_rename_rotation_while_writing() -> Result<()> {
    let (rig, writer) = Rig::start("a-rename-rotation")?;
    let writer = writer
        .spawn_steady(steady(Some((5_000, Rotation::Rename))))
        .join()?;
    rig.verify(&writer, DRAIN_TIMEOUT)?;
    Ok(())
}

/// (b) logrotate `copytruncate` five times while writing.
#[test]
fn b_copytruncate_rotation_while_writing() -> Result<()> {
    let (rig, writer) = Rig::start("b-copytruncate")?;
    let writer = writer
        .spawn_steady(steady(Some((5_000, Rotation::CopyTruncate))))
        .join()?;
    rig.verify(&writer, DRAIN_TIMEOUT)?;
    Ok(())
}

/// (c) SIGKILL the agent twice mid-stream and restart it with the same data dir.
/// The first outage (2 s) spans a rename rotation at 12 000 lines, so the restarted agent must
/// finish the rotated file from its checkpoint and pick up the new one.
#[test]
fn c_agent_kill9_and_restart() -> Result<()> {
    let (mut rig, writer) = Rig::start("c-agent-kill9")?;
    let handle = writer.spawn_steady(steady(Some((12_000, Rotation::Rename))));
    for (at, down) in [
        (8_000, Duration::from_secs(2)),
        (20_000, Duration::from_millis(300)),
    ] {
        handle.wait_until_written(at);
        rig.agent.kill9()?;
        eprintln!(
            "c-agent-kill9: killed agent at {} lines written",
            handle.written()
        );
        thread::sleep(down);
        rig.agent.restart()?;
        eprintln!(
            "c-agent-kill9: restarted agent at {} lines written",
            handle.written()
        );
    }
    let writer = handle.join()?;
    rig.verify(&writer, DRAIN_TIMEOUT)?;
    Ok(())
}

/// (d) SIGKILL the collector mid-stream and restart it on the same data dir and ports.
#[test]
fn d_collector_kill9_and_restart() -> Result<()> {
    let (mut rig, writer) = Rig::start("d-collector-kill9")?;
    let handle = writer.spawn_steady(steady(None));
    handle.wait_until_written(10_000);
    rig.collector.kill9()?;
    eprintln!(
        "d-collector-kill9: killed collector at {} lines written",
        handle.written()
    );
    thread::sleep(Duration::from_secs(2));
    rig.collector.restart()?;
    eprintln!(
        "d-collector-kill9: collector back at {} lines written",
        handle.written()
    );
    let writer = handle.join()?;
    rig.verify(&writer, DRAIN_TIMEOUT)?;
    Ok(())
}

/// (e) The collector is down for a minute (`FLEETLOG_E2E_OUTAGE_SECS`) while the agent keeps
/// tailing and buffering; after the restart the agent drains its buffer.
#[test]
fn e_collector_outage_agent_buffers_then_drains() -> Result<()> {
    const OUTAGE_RATE: u64 = 500;
    let down = outage();
    let (mut rig, writer) = Rig::start("e-collector-outage")?;
    let plan = WritePlan {
        lines: OUTAGE_RATE * (down.as_secs() + 20),
        lines_per_sec: OUTAGE_RATE,
        rotate_every: None,
    };
    let handle = writer.spawn_steady(plan);
    handle.wait_until_written(OUTAGE_RATE * 5);
    rig.collector.kill9()?;
    let at_kill = handle.written();
    eprintln!("e-collector-outage: collector down for {down:?} at {at_kill} lines written");
    thread::sleep(down);
    rig.agent.ensure_running()?;
    rig.collector.restart()?;
    eprintln!(
        "e-collector-outage: collector back; {} lines written during the outage",
        handle.written() - at_kill
    );
    let writer = handle.join()?;
    rig.verify(&writer, down + DRAIN_TIMEOUT)?;
    Ok(())
}

/// A rotation every [`ROTATE_EVERY`] lines under the glob `*.log`; the agent is SIGKILLed a
/// thousand lines before the second rotation and restarted a thousand lines after it, so the
/// lines it had not read yet are only in the rotated file, outside the glob.
fn rotation_outside_glob_with_kill9(name: &str, how: Rotation) -> Result<()> {
    let (mut rig, writer) = Rig::start_glob(name, "*.log")?;
    let handle = writer.spawn_steady(WritePlan {
        lines: ROTATION_LINES,
        lines_per_sec: RATE,
        rotate_every: Some((ROTATE_EVERY, how)),
    });
    let rotation = WARMUP_LINES + 2 * ROTATE_EVERY;
    handle.wait_until_written(rotation - 1_000);
    rig.agent.kill9()?;
    eprintln!("{name}: killed agent at {} lines written", handle.written());
    handle.wait_until_written(rotation + 1_000);
    rig.agent.restart()?;
    eprintln!(
        "{name}: restarted agent at {} lines written",
        handle.written()
    );
    let writer = handle.join()?;
    rig.verify(&writer, DRAIN_TIMEOUT)?;
    Ok(())
}

/// (j) Rename rotation to `app.log.1`, outside `*.log`, with a SIGKILL across one rotation.
#[test]
fn j_rename_rotation_outside_glob_kill9() -> Result<()> {
    rotation_outside_glob_with_kill9("j-rename-outside-glob", Rotation::Rename)
}

/// (k) logrotate `dateext` (`app.log-YYYYMMDD`), outside `*.log`, with a SIGKILL.
#[test]
fn k_dateext_rotation_outside_glob_kill9() -> Result<()> {
    rotation_outside_glob_with_kill9("k-dateext-outside-glob", Rotation::DateExt)
}

/// (l) logrotate `olddir old` (`old/app.log.1`), with a SIGKILL.
#[test]
fn l_olddir_rotation_kill9() -> Result<()> {
    rotation_outside_glob_with_kill9("l-olddir", Rotation::OldDir)
}

/// (m) logrotate `compress` (`app.log.1.gz` right after the rename), with a SIGKILL: unread lines
/// come from the decompressed file, and nothing already read is read again.
#[test]
fn m_gzip_rotation_kill9() -> Result<()> {
    rotation_outside_glob_with_kill9("m-gzip", Rotation::Gzip)
}

/// (n) Two live files whose first 300 bytes are identical (a banner) are two streams; one of
/// them is truncated (and starts again with the banner) once the agent has caught up, and both
/// are still read in full, banners included.
#[test]
fn n_identical_heads_and_truncation_of_one() -> Result<()> {
    const ROUNDS: u64 = 10;
    const PER_ROUND: u64 = 500;
    let name = "n-identical-heads";
    let (mut rig, app) = Rig::start_glob(name, "*.log")?;
    let banner = format!("# fleetlog e2e banner {}\n", "=".repeat(277));
    let logs = rig.env.path().join("logs");
    let mut a = LineWriter::starting_at(&logs.join("a.log"), 1_000_001)?;
    let mut b = LineWriter::starting_at(&logs.join("b.log"), 2_000_001)?;
    a.write_text(&banner)?;
    b.write_text(&banner)?;
    let mut banners = 2;
    for phase in 0..2 {
        if phase == 1 {
            a.truncate()?;
            a.write_text(&banner)?;
            banners += 1;
        }
        for _ in 0..ROUNDS {
            a.write_lines(PER_ROUND)?;
            b.write_lines(PER_ROUND)?;
            thread::sleep(Duration::from_millis(100));
        }
        // Truncating discards what the agent has not read: wait until it has read everything.
        let want = app.written() + a.written() + b.written() + banners;
        let got = rig
            .collector
            .wait_for_lines(&rig.host, want, DRAIN_TIMEOUT)?;
        eprintln!("{name}: phase {phase}: {got} of {want} lines received");
    }
    thread::sleep(SETTLE);
    let lines = rig.collector.fetch_all_lines(&rig.host)?;
    let stored_banners = lines.iter().filter(|l| l.line == banner.trim_end()).count() as u64;
    let numbered: Vec<_> = lines
        .into_iter()
        .filter(|l| l.line != banner.trim_end())
        .collect();
    let expected = app.expected().chain(a.expected()).chain(b.expected());
    let report = verify(name, expected, &numbered);
    report.print();
    eprintln!("scenario {name}: banners expected {banners}, stored {stored_banners}");
    report.ensure_clean()?;
    ensure!(
        stored_banners == banners,
        "banners: stored {stored_banners}, want {banners}"
    );
    rig.agent.ensure_running()?;
    rig.agent.ensure_no_panic()?;
    rig.collector.ensure_no_panic()?;
    rig.env.finish();
    Ok(())
}

/// Lowercase words with which a collector log line can state that it refused an agent.
const REJECTION_WORDS: &[&str] = &[
    "unauthorized",
    "unauthenticated",
    "reject",
    "denied",
    "forbidden",
    "invalid token",
    "unknown token",
    "wrong token",
    "bad token",
    "authentication",
];

/// A collector, a log file with 100 lines, and an agent started with `adjust`ed options.
fn bad_agent_rig(
    name: &str,
    adjust: impl FnOnce(&TestEnv, &mut AgentOpts) -> Result<()>,
) -> Result<(TestEnv, Collector, Agent, String)> {
    let env = TestEnv::new(name)?;
    let collector = Collector::start(&env, &env.subdir("collector")?)?;
    let log_dir = env.subdir("logs")?;
    let mut writer = LineWriter::new(&log_dir.join("app.log"))?;
    writer.write_lines(100)?;
    let host = format!("host-{name}");
    let mut opts = AgentOpts::new(
        &collector,
        &host,
        &[format!("{}/*.log*", log_dir.display())],
    );
    adjust(&env, &mut opts)?;
    let agent = Agent::start(&env, opts)?;
    Ok((env, collector, agent, host))
}

fn ensure_nothing_stored(collector: &Collector, host: &str) -> Result<()> {
    // Give a collector that wrongly accepted the agent time to store something.
    thread::sleep(Duration::from_secs(3));
    let received = collector.lines_received(host)?;
    let lines = collector.fetch_all_lines(host)?;
    eprintln!(
        "{host}: lines_received {received}, stored lines {}",
        lines.len()
    );
    ensure!(
        received == 0 && lines.is_empty(),
        "collector stored lines from a rejected agent"
    );
    ensure!(
        collector.get_status("/healthz", None)? == 200,
        "collector unhealthy afterwards"
    );
    collector.ensure_no_panic()
}

/// (f) An agent with a wrong token gets a clear error, the collector logs the rejection, and
/// nothing is stored.
#[test]
fn f_wrong_token_is_rejected() -> Result<()> {
    let (mut env, mut collector, agent, host) = bad_agent_rig("f-wrong-token", |env, opts| {
        let file = env.path().join("wrong-token");
        fs::write(&file, "not-the-agent-token\n")?;
        opts.token_file = file;
        Ok(())
    })?;
    let line = agent.wait_for_log_line(
        ERROR_TIMEOUT,
        "a WARN/ERROR line with 'unauthorized' or 'token'",
        &|l| is_warn_or_error(l) && (l.contains("unauthorized") || l.contains("token")),
    )?;
    eprintln!("f-wrong-token: agent says: {line}");
    let line = collector.wait_for_log_line(
        ERROR_TIMEOUT,
        &format!("a rejection ({REJECTION_WORDS:?})"),
        &|l| REJECTION_WORDS.iter().any(|w| l.contains(w)),
    )?;
    eprintln!("f-wrong-token: collector says: {line}");
    ensure_nothing_stored(&collector, &host)?;
    if let Some(status) = collector.exit_status()? {
        bail!("collector exited: {status}");
    }
    drop(agent);
    env.finish();
    Ok(())
}

/// (g) An agent that trusts a different CA refuses the collector's certificate with a clear error.
#[test]
fn g_unknown_ca_is_refused() -> Result<()> {
    let (mut env, collector, agent, host) = bad_agent_rig("g-unknown-ca", |env, opts| {
        let file = env.path().join("foreign-ca.pem");
        fs::write(&file, foreign_ca_pem()?)?;
        opts.ca = file;
        Ok(())
    })?;
    let line = agent.wait_for_log_line(
        ERROR_TIMEOUT,
        "a WARN/ERROR line about the certificate",
        &|l| {
            is_warn_or_error(l)
                && [
                    "certificate",
                    "unknownissuer",
                    "unknown issuer",
                    "unknown ca",
                ]
                .iter()
                .any(|w| l.contains(w))
        },
    )?;
    eprintln!("g-unknown-ca: agent says: {line}");
    ensure_nothing_stored(&collector, &host)?;
    drop(agent);
    env.finish();
    Ok(())
}

/// The collector rejects API calls without the admin bearer token.
#[test]
fn api_requires_admin_bearer() -> Result<()> {
    let mut env = TestEnv::new("api-auth")?;
    let collector = Collector::start(&env, &env.subdir("collector")?)?;
    let token = collector.admin_token().to_owned();
    for path in ["/api/v1/hosts", "/api/v1/lines?host=nobody&limit=10"] {
        for (what, bearer) in [("no", None), ("a wrong", Some("wrong-token"))] {
            let status = collector.get_status(path, bearer)?;
            ensure!(
                status == 401,
                "GET {path} with {what} bearer: {status}, want 401"
            );
        }
    }
    let status = collector.get_status("/api/v1/hosts", Some(&token))?;
    ensure!(
        status == 200,
        "GET /api/v1/hosts with the admin token: {status}, want 200"
    );
    drop(collector);
    env.finish();
    Ok(())
}

/// Runs a binary on config files with one misspelled key each (`(toml, key)`); every run must
/// exit non-zero and name the key on stderr.
fn unknown_keys_rejected(
    name: &str,
    collector: bool,
    args: &[&str],
    cases: &[(&str, &str)],
) -> Result<()> {
    let mut env = TestEnv::new(name)?;
    for (i, (toml, key)) in cases.iter().enumerate() {
        let config = env.path().join(format!("config-{i}.toml"));
        fs::write(&config, toml)?;
        let config_arg = config.display().to_string();
        let mut full: Vec<&str> = args.to_vec();
        full.extend(["--config", &config_arg]);
        let label = format!("{name}-{i}");
        let out = run_to_exit(&env, collector, &label, &full, Duration::from_secs(30))?;
        // Up to a `RUST_BACKTRACE` trace, which only repeats `main`'s frames.
        let message = out
            .stderr
            .split("Stack backtrace:")
            .next()
            .unwrap_or_default();
        eprintln!("{label}: {}; stderr:\n{}", out.status, message.trim_end());
        ensure!(
            !out.status.success(),
            "{label}: exited successfully despite unknown key `{key}`"
        );
        ensure!(
            out.stderr.contains(key),
            "{label}: stderr does not name the unknown key `{key}`:\n{}",
            out.stderr
        );
    }
    env.finish();
    Ok(())
}

/// (i) `fleetlog-collector serve --config F` with a misspelled key fails and names it.
#[test]
fn i_collector_unknown_config_key() -> Result<()> {
    unknown_keys_rejected(
        "i-collector-config",
        true,
        &["serve"],
        &[
            ("http_lisen = \"127.0.0.1:1\"\n", "http_lisen"),
            ("[retention]\nmax_bites = 10\n", "max_bites"),
        ],
    )
}

/// (i) `fleetlog-agent run --config F` with a misspelled key fails and names it.
#[test]
fn i_agent_unknown_config_key() -> Result<()> {
    unknown_keys_rejected(
        "i-agent-config",
        false,
        &["run"],
        &[
            ("colector = \"127.0.0.1:1\"\n", "colector"),
            ("[batch]\nmax_wait_msec = 100\n", "max_wait_msec"),
        ],
    )
}
