//! Harness for the end-to-end tests in `tests/e2e.rs`.
//!
//! It starts the real `fleetlog-collector` and `fleetlog-agent` binaries as child processes,
//! writes log files the way applications and logrotate do, and checks what the collector stored
//! through its REST API.
//!
//! Binaries are found in `FLEETLOG_BIN_DIR` if that is set (and then used as they are).
//! Otherwise the harness runs `cargo build -p fleetlog-agent -p fleetlog-collector --bins` once per
//! test process, for the profile of the running test executable, and takes the binaries from that
//! executable's target directory (`current_exe()` is `<target>/<profile>/deps/e2e-<hash>`).
//! A test crate cannot name another package's binaries through `CARGO_BIN_EXE_*`, and building
//! every time (a no-op when nothing changed) means a test never runs against a stale binary.
//!
//! Every child's stdout and stderr go to one log file per process in the scenario's temp dir.
//! When a scenario fails, [`TestEnv`]'s `Drop` prints the last [`LOG_TAIL_LINES`] lines of each
//! log and keeps the temp dir for inspection (`FLEETLOG_E2E_KEEP=1` keeps it for passing ones too).
//! Every child is killed (SIGKILL) when its handle drops, so a failing test leaks no process.
//!
//! Output goes to stderr (`eprintln!`); run with `-- --nocapture` to see it for passing tests.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub mod jira_double;
pub mod loadgen;
pub mod relay;
pub mod scenario;
pub mod slack_double;

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde_json::Value;
use tempfile::TempDir;

/// Directory holding prebuilt `fleetlog-collector` and `fleetlog-agent`; skips the build.
pub const ENV_BIN_DIR: &str = "FLEETLOG_BIN_DIR";
/// Seconds the collector stays down in the outage scenario (default [`DEFAULT_OUTAGE_SECS`]).
pub const ENV_OUTAGE_SECS: &str = "FLEETLOG_E2E_OUTAGE_SECS";
/// When set, passing scenarios keep their temp dir (with the child logs) too.
pub const ENV_KEEP: &str = "FLEETLOG_E2E_KEEP";
/// The outage the issue asks for: "a minute".
pub const DEFAULT_OUTAGE_SECS: u64 = 60;
/// `RUST_LOG` given to children when the test process has none.
pub const DEFAULT_RUST_LOG: &str = "info";
/// Lines of each child log printed when a scenario fails.
pub const LOG_TAIL_LINES: usize = 50;
/// How long a collector may take to answer `/healthz` after it is spawned.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Page size used by [`Collector::fetch_all_lines`] (the API allows up to 10000).
pub const FETCH_PAGE_LIMIT: usize = 5000;

const COLLECTOR_BIN: &str = "fleetlog-collector";
const AGENT_BIN: &str = "fleetlog-agent";
const HTTP_TIMEOUT: Duration = Duration::from_secs(15);
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Bytes read from the end of a log file when printing its tail.
const LOG_TAIL_BYTES: u64 = 256 * 1024;

// ---------------------------------------------------------------------------------------------
// Binaries, ports, environment
// ---------------------------------------------------------------------------------------------

/// Directory holding both binaries; builds them once per process unless [`ENV_BIN_DIR`] is set.
pub fn bin_dir() -> Result<PathBuf> {
    static BIN_DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN_DIR
        .get_or_init(|| locate_binaries().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!(e))
}

fn locate_binaries() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(ENV_BIN_DIR) {
        let dir = PathBuf::from(dir);
        check_binaries(&dir).with_context(|| format!("{ENV_BIN_DIR}={}", dir.display()))?;
        return Ok(dir);
    }
    let exe = std::env::current_exe().context("current_exe")?;
    // <target>/<profile>/deps/e2e-<hash>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .with_context(|| format!("unexpected test executable path {}", exe.display()))?
        .to_path_buf();
    let target_dir = profile_dir
        .parent()
        .with_context(|| format!("no target dir above {}", profile_dir.display()))?;
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("profile dir {}", profile_dir.display()))?;
    let cargo_profile = if profile == "debug" { "dev" } else { profile };
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("workspace root above tests/")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(workspace)
        .args(["build", "--profile", cargo_profile])
        .args(["-p", AGENT_BIN, "-p", COLLECTOR_BIN, "--bins"])
        .env("CARGO_TARGET_DIR", target_dir)
        .stdin(Stdio::null());
    // Cargo sets these for the test process; they describe this package, not the build we ask for.
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_MANIFEST_")
            || key.starts_with("CARGO_BIN_EXE_")
            || matches!(
                key,
                "CARGO_CRATE_NAME" | "CARGO_PRIMARY_PACKAGE" | "CARGO_TARGET_TMPDIR"
            )
        {
            cmd.env_remove(key);
        }
    }
    let out = cmd
        .output()
        .context("running cargo build for the binaries")?;
    if !out.status.success() {
        bail!(
            "cargo build -p {AGENT_BIN} -p {COLLECTOR_BIN} --bins failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    check_binaries(&profile_dir)
        .context("binaries missing after cargo build; set FLEETLOG_BIN_DIR")?;
    Ok(profile_dir)
}

fn check_binaries(dir: &Path) -> Result<()> {
    for name in [COLLECTOR_BIN, AGENT_BIN] {
        let path = dir.join(name);
        ensure!(path.is_file(), "{} does not exist", path.display());
    }
    Ok(())
}

/// The built `fleetlog-collector` binary, for tests that run its other subcommands.
pub fn collector_bin() -> Result<PathBuf> {
    bin(COLLECTOR_BIN)
}

fn bin(name: &str) -> Result<PathBuf> {
    Ok(bin_dir()?.join(name))
}

/// Ports already handed out by this process, so two scenarios never get the same one.
fn taken_ports() -> &'static Mutex<HashSet<u16>> {
    static TAKEN: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    TAKEN.get_or_init(Default::default)
}

fn fresh_port(bind: impl Fn() -> Result<u16>) -> Result<u16> {
    for _ in 0..100 {
        let port = bind()?;
        // A poisoned lock only means another test panicked; the set is still usable.
        let mut taken = taken_ports().lock().unwrap_or_else(|e| e.into_inner());
        if taken.insert(port) {
            return Ok(port);
        }
    }
    bail!("no fresh port after 100 attempts")
}

/// A UDP port on 127.0.0.1 that was free a moment ago (bind port 0, read it, drop the socket).
pub fn free_udp_port() -> Result<u16> {
    fresh_port(|| Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port()))
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_tcp_port() -> Result<u16> {
    fresh_port(|| Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port()))
}

/// The collector outage for scenario (e): [`ENV_OUTAGE_SECS`] or [`DEFAULT_OUTAGE_SECS`].
pub fn outage() -> Duration {
    let secs = std::env::var(ENV_OUTAGE_SECS)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(DEFAULT_OUTAGE_SECS);
    Duration::from_secs(secs)
}

fn rust_log() -> String {
    std::env::var("RUST_LOG").unwrap_or_else(|_| DEFAULT_RUST_LOG.to_owned())
}

/// Removes the harness's own `FLEETLOG_*` variables (and any other) from a child's environment:
/// the binaries map `FLEETLOG_...` variables onto config keys and must only see what a test sets.
fn scrub_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(|k| k.starts_with("FLEETLOG_")) {
            cmd.env_remove(key);
        }
    }
    cmd.env("RUST_LOG", rust_log());
    // Plain text in the log files (tracing-subscriber honours NO_COLOR).
    cmd.env("NO_COLOR", "1");
}

// ---------------------------------------------------------------------------------------------
// Test environment
// ---------------------------------------------------------------------------------------------

type LogRegistry = Arc<Mutex<Vec<(String, PathBuf)>>>;

/// One scenario's temp dir and the logs of every process it started.
///
/// Declare it *before* the processes so it drops after them: on failure (a panic, or `finish`
/// never called because a `?` returned early) its `Drop` prints each log's tail and keeps the dir.
pub struct TestEnv {
    name: String,
    dir: Option<TempDir>,
    logs: LogRegistry,
    finished: bool,
}

impl TestEnv {
    /// Creates the temp dir for scenario `name`.
    pub fn new(name: &str) -> Result<TestEnv> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("fleetlog-e2e-{name}-"))
            .tempdir()
            .context("creating temp dir")?;
        Ok(TestEnv {
            name: name.to_owned(),
            dir: Some(dir),
            logs: Arc::default(),
            finished: false,
        })
    }

    /// The scenario name used in reports.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The temp dir.
    pub fn path(&self) -> &Path {
        // Invariant: `dir` is only taken in `Drop`.
        self.dir
            .as_ref()
            .map(TempDir::path)
            .expect("temp dir present until drop")
    }

    /// `path()/name`, created.
    pub fn subdir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.path().join(name);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }

    /// Marks the scenario as passed: logs are not printed and the temp dir is removed.
    pub fn finish(&mut self) {
        self.finished = true;
    }

    fn register_log(&self, label: &str, path: &Path) {
        let mut logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
        logs.push((label.to_owned(), path.to_path_buf()));
    }

    /// Prints the last [`LOG_TAIL_LINES`] lines of every child log.
    pub fn dump_logs(&self) {
        let logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
        for (label, path) in logs.iter() {
            eprintln!(
                "----- {} / {label}: last {LOG_TAIL_LINES} lines of {} -----",
                self.name,
                path.display()
            );
            match tail_lines(path, LOG_TAIL_LINES) {
                Ok(lines) => lines.iter().for_each(|l| eprintln!("{l}")),
                Err(e) => eprintln!("(cannot read: {e:#})"),
            }
        }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if self.finished && !thread::panicking() {
            if std::env::var_os(ENV_KEEP).is_some()
                && let Some(dir) = self.dir.take()
            {
                eprintln!(
                    "scenario {}: temp dir kept at {}",
                    self.name,
                    dir.keep().display()
                );
            }
            return;
        }
        eprintln!(
            "===== scenario {} failed; child logs follow =====",
            self.name
        );
        self.dump_logs();
        let started_processes = !self
            .logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty();
        if let Some(dir) = self.dir.take()
            && started_processes
        {
            eprintln!(
                "===== scenario {}: temp dir kept at {} =====",
                self.name,
                dir.keep().display()
            );
        }
    }
}

/// The last `n` lines of a file (reads at most its last 256 KiB).
pub fn tail_lines(path: &Path, n: usize) -> Result<Vec<String>> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)))?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    Ok(lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| (*l).to_owned())
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------------------------

/// A restartable child process whose output is appended to one log file.
struct ChildProc {
    label: String,
    program: PathBuf,
    args: Vec<OsString>,
    cwd: PathBuf,
    log_path: PathBuf,
    child: Option<Child>,
    starts: u32,
    /// Variables set on every start, after the harness's own are scrubbed.
    envs: Vec<(String, String)>,
}

impl ChildProc {
    fn new(env: &TestEnv, label: &str, program: PathBuf, args: Vec<OsString>) -> ChildProc {
        let log_path = env.path().join(format!("{label}.log"));
        env.register_log(label, &log_path);
        ChildProc {
            label: label.to_owned(),
            program,
            args,
            cwd: env.path().to_path_buf(),
            log_path,
            child: None,
            starts: 0,
            envs: Vec::new(),
        }
    }

    fn spawn(&mut self) -> Result<()> {
        ensure!(self.child.is_none(), "{} is already running", self.label);
        self.starts += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .with_context(|| format!("opening {}", self.log_path.display()))?;
        writeln!(
            log,
            "===== fleetlog-tests: start #{} of {}: {} {} =====",
            self.starts,
            self.label,
            self.program.display(),
            self.args
                .iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        )?;
        let stderr = log.try_clone()?;
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr);
        scrub_env(&mut cmd);
        cmd.envs(self.envs.iter().map(|(k, v)| (k, v)));
        let child = cmd
            .spawn()
            .with_context(|| format!("spawning {}", self.program.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL (what `Child::kill` sends on unix) and reap. No-op when not running.
    fn kill9(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            // Fails only if the child already exited; `wait` below reaps it either way.
            let _ = child.kill();
            child
                .wait()
                .with_context(|| format!("reaping {}", self.label))?;
            let mut log = OpenOptions::new().append(true).open(&self.log_path)?;
            writeln!(
                log,
                "===== fleetlog-tests: killed {} with SIGKILL =====",
                self.label
            )?;
        }
        Ok(())
    }

    /// `Some(status)` if the child has exited on its own.
    fn exit_status(&mut self) -> Result<Option<ExitStatus>> {
        match self.child.as_mut() {
            Some(child) => Ok(child.try_wait()?),
            None => Ok(None),
        }
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn log_text(&self) -> Result<String> {
        let bytes = fs::read(&self.log_path)
            .with_context(|| format!("reading {}", self.log_path.display()))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn tail(&self) -> String {
        match tail_lines(&self.log_path, LOG_TAIL_LINES) {
            Ok(lines) => lines.join("\n"),
            Err(e) => format!("(cannot read log: {e:#})"),
        }
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The first log line that satisfies `pred`, checked case-insensitively against lowercase text.
fn find_log_line(text: &str, pred: &dyn Fn(&str) -> bool) -> Option<String> {
    text.lines()
        .find(|l| pred(&l.to_lowercase()))
        .map(str::to_owned)
}

fn wait_for_log_line(
    proc: &ChildProc,
    timeout: Duration,
    what: &str,
    pred: &dyn Fn(&str) -> bool,
) -> Result<String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(line) = find_log_line(&proc.log_text()?, pred) {
            return Ok(line);
        }
        if Instant::now() >= deadline {
            bail!(
                "{} logged no line matching {what} within {timeout:?}",
                proc.label
            );
        }
        thread::sleep(POLL_INTERVAL);
    }
}

fn ensure_no_panic(proc: &ChildProc) -> Result<()> {
    if let Some(line) = find_log_line(&proc.log_text()?, &|l| l.contains("panicked at")) {
        bail!("{} panicked: {line}", proc.label);
    }
    Ok(())
}

/// True if a lowercased log line has a WARN or ERROR level (text or JSON tracing output).
pub fn is_warn_or_error(lower: &str) -> bool {
    lower.contains("warn") || lower.contains("error")
}

// ---------------------------------------------------------------------------------------------
// Collector
// ---------------------------------------------------------------------------------------------

/// A running `fleetlog-collector serve` on fresh ports, and a client for its API.
pub struct Collector {
    proc: ChildProc,
    data_dir: PathBuf,
    quic_port: u16,
    http_port: u16,
    admin_token: String,
    http: reqwest::blocking::Client,
}

/// One entry of `GET /api/v1/hosts`.
#[derive(Debug, Clone)]
pub struct HostInfo {
    /// `name`.
    pub name: String,
    /// `lines_received`.
    pub lines_received: u64,
    /// `last_seen_ms`, if present.
    pub last_seen_ms: Option<u64>,
}

/// One entry of `GET /api/v1/lines`, kept as raw JSON plus the fields the tests read.
#[derive(Debug, Clone)]
pub struct StoredLine {
    /// `line`: the log line text.
    pub line: String,
    /// `source`: the file path the agent read.
    pub source: String,
    /// `level`, if present.
    pub level: Option<String>,
    /// The whole JSON object.
    pub raw: Value,
}

impl Collector {
    /// Starts a collector with `data_dir` on fresh ports and waits for `/healthz`.
    pub fn start(env: &TestEnv, data_dir: &Path) -> Result<Collector> {
        Collector::start_with(env, data_dir, &[])
    }

    /// Like [`Collector::start`], with environment variables (`FLEETLOG_*` config keys,
    /// `RUST_LOG`) set for the process.
    pub fn start_with(env: &TestEnv, data_dir: &Path, envs: &[(&str, &str)]) -> Result<Collector> {
        fs::create_dir_all(data_dir)?;
        let quic_port = free_udp_port()?;
        let http_port = free_tcp_port()?;
        let args = vec![
            OsString::from("serve"),
            "--data-dir".into(),
            data_dir.as_os_str().to_owned(),
            "--quic-listen".into(),
            format!("127.0.0.1:{quic_port}").into(),
            "--http-listen".into(),
            format!("127.0.0.1:{http_port}").into(),
        ];
        let mut proc = ChildProc::new(env, "collector", bin(COLLECTOR_BIN)?, args);
        proc.envs = envs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let http = reqwest::blocking::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .build()?;
        let mut collector = Collector {
            proc,
            data_dir: data_dir.to_path_buf(),
            quic_port,
            http_port,
            admin_token: String::new(),
            http,
        };
        collector.spawn_and_wait_ready()?;
        Ok(collector)
    }

    fn spawn_and_wait_ready(&mut self) -> Result<()> {
        self.proc.spawn()?;
        let deadline = Instant::now() + READY_TIMEOUT;
        let url = format!("{}/healthz", self.base_url());
        loop {
            if let Some(status) = self.proc.exit_status()? {
                bail!(
                    "collector exited before ready ({status}); log tail:\n{}",
                    self.proc.tail()
                );
            }
            if let Ok(resp) = self.http.get(&url).send()
                && resp.status().as_u16() == 200
            {
                break;
            }
            if Instant::now() >= deadline {
                bail!(
                    "collector not ready (GET {url} != 200) within {READY_TIMEOUT:?}; log tail:\n{}",
                    self.proc.tail()
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
        self.admin_token = read_token(&self.data_dir.join("admin-token"))?;
        ensure!(
            self.agent_token_file().is_file(),
            "collector wrote no agent-token"
        );
        ensure!(self.ca_pem().is_file(), "collector wrote no ca.pem");
        Ok(())
    }

    /// SIGKILL the collector.
    pub fn kill9(&mut self) -> Result<()> {
        self.proc.kill9()
    }

    /// Kills the collector if it runs, starts it again with the same data dir and ports, and
    /// waits for `/healthz`.
    pub fn restart(&mut self) -> Result<()> {
        self.proc.kill9()?;
        self.spawn_and_wait_ready()
    }

    /// Fails if the collector log shows a panic (a panicking task need not end the process).
    pub fn ensure_no_panic(&self) -> Result<()> {
        ensure_no_panic(&self.proc)
    }

    /// `Some(status)` if the collector exited on its own.
    pub fn exit_status(&mut self) -> Result<Option<ExitStatus>> {
        self.proc.exit_status()
    }

    /// The collector's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.proc.pid()
    }

    /// `127.0.0.1:<quic port>`, the agent's `--collector`.
    pub fn quic_addr(&self) -> String {
        format!("127.0.0.1:{}", self.quic_port)
    }

    /// `http://127.0.0.1:<http port>`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// The data dir.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// `<data dir>/agent-token`.
    pub fn agent_token_file(&self) -> PathBuf {
        self.data_dir.join("agent-token")
    }

    /// `<data dir>/ca.pem`.
    pub fn ca_pem(&self) -> PathBuf {
        self.data_dir.join("ca.pem")
    }

    /// The admin API token (trimmed).
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// The whole collector log so far.
    pub fn log_text(&self) -> Result<String> {
        self.proc.log_text()
    }

    /// Waits until a collector log line satisfies `pred` (given the lowercased line).
    pub fn wait_for_log_line(
        &self,
        timeout: Duration,
        what: &str,
        pred: &dyn Fn(&str) -> bool,
    ) -> Result<String> {
        wait_for_log_line(&self.proc, timeout, what, pred)
    }

    /// Status of `GET <path>` with the given bearer token (or none).
    pub fn get_status(&self, path: &str, bearer: Option<&str>) -> Result<u16> {
        let mut req = self.http.get(format!("{}{path}", self.base_url()));
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        Ok(req.send()?.status().as_u16())
    }

    fn get_json(&self, path: &str, query: &[(&str, String)]) -> Result<Option<Value>> {
        let url = format!("{}{path}", self.base_url());
        let resp = self
            .http
            .get(&url)
            .query(query)
            .bearer_auth(&self.admin_token)
            .send()
            .with_context(|| format!("GET {url}"))?;
        let status = resp.status().as_u16();
        if status == 404 {
            return Ok(None);
        }
        let body = resp.text()?;
        ensure!(
            status == 200,
            "GET {url} {query:?}: status {status}: {body}"
        );
        let value = serde_json::from_str(&body)
            .with_context(|| format!("GET {url}: body is not JSON: {body}"))?;
        Ok(Some(value))
    }

    /// `method path` with the admin token and an optional JSON body: (status, body text).
    pub fn api_send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, String)> {
        let url = format!("{}{path}", self.base_url());
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut req = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(&self.admin_token);
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().with_context(|| format!("{method} {url}"))?;
        let status = resp.status().as_u16();
        Ok((status, resp.text()?))
    }

    /// `GET {path}` with the admin token; `None` on 404.
    pub fn api_json(&self, path: &str) -> Result<Option<Value>> {
        self.get_json(path, &[])
    }

    /// `GET /api/v1/hosts`.
    pub fn hosts(&self) -> Result<Vec<HostInfo>> {
        let Some(body) = self.get_json("/api/v1/hosts", &[])? else {
            bail!("GET /api/v1/hosts: 404");
        };
        let hosts = body
            .get("hosts")
            .and_then(Value::as_array)
            .with_context(|| format!("/api/v1/hosts: no `hosts` array in {body}"))?;
        hosts
            .iter()
            .map(|h| {
                Ok(HostInfo {
                    name: h
                        .get("name")
                        .and_then(Value::as_str)
                        .with_context(|| format!("host without `name`: {h}"))?
                        .to_owned(),
                    lines_received: h
                        .get("lines_received")
                        .and_then(Value::as_u64)
                        .with_context(|| format!("host without numeric `lines_received`: {h}"))?,
                    last_seen_ms: h.get("last_seen_ms").and_then(Value::as_u64),
                })
            })
            .collect()
    }

    /// `lines_received` of `host`, 0 if the host is not listed.
    pub fn lines_received(&self, host: &str) -> Result<u64> {
        Ok(self
            .hosts()?
            .into_iter()
            .find(|h| h.name == host)
            .map_or(0, |h| h.lines_received))
    }

    /// Polls `/api/v1/hosts` until `host` has at least `expected` lines or `timeout` passes;
    /// returns the last count either way (the caller verifies). Prints progress every 10 s.
    pub fn wait_for_lines(&self, host: &str, expected: u64, timeout: Duration) -> Result<u64> {
        let start = Instant::now();
        let mut last_print = start;
        let mut last_err: Option<anyhow::Error>;
        let mut count = 0;
        loop {
            match self.lines_received(host) {
                Ok(n) => {
                    count = n;
                    last_err = None;
                    if n >= expected {
                        return Ok(n);
                    }
                }
                // The collector may be restarting; keep polling until the deadline.
                Err(e) => last_err = Some(e),
            }
            if start.elapsed() >= timeout {
                if let Some(e) = last_err {
                    eprintln!("{host}: last poll failed: {e:#}");
                }
                eprintln!(
                    "{host}: gave up waiting after {timeout:?}: lines_received {count} of {expected}"
                );
                return Ok(count);
            }
            if last_print.elapsed() >= Duration::from_secs(10) {
                last_print = Instant::now();
                eprintln!(
                    "{host}: lines_received {count} of {expected} after {:.0?}",
                    start.elapsed()
                );
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Every stored line of `host`, paging through `/api/v1/lines` with the cursor.
    /// A 404 (unknown host) is an empty result.
    pub fn fetch_all_lines(&self, host: &str) -> Result<Vec<StoredLine>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _page in 0..100_000 {
            let mut query = vec![
                ("host", host.to_owned()),
                ("limit", FETCH_PAGE_LIMIT.to_string()),
            ];
            if let Some(c) = &cursor {
                query.push(("cursor", c.clone()));
            }
            let Some(body) = self.get_json("/api/v1/lines", &query)? else {
                return Ok(out);
            };
            let lines = body
                .get("lines")
                .and_then(Value::as_array)
                .with_context(|| format!("/api/v1/lines: no `lines` array (cursor {cursor:?})"))?;
            ensure!(
                lines.len() <= FETCH_PAGE_LIMIT,
                "/api/v1/lines returned {} lines for limit {FETCH_PAGE_LIMIT}",
                lines.len()
            );
            for l in lines {
                out.push(StoredLine {
                    line: l
                        .get("line")
                        .and_then(Value::as_str)
                        .with_context(|| format!("stored line without `line`: {l}"))?
                        .to_owned(),
                    source: l
                        .get("source")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    level: l.get("level").and_then(Value::as_str).map(str::to_owned),
                    raw: l.clone(),
                });
            }
            let next = match body.get("next_cursor") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => Some(other.to_string()),
            };
            match next {
                None => return Ok(out),
                Some(n) if Some(&n) == cursor.as_ref() => {
                    bail!("/api/v1/lines returned the same cursor {n:?} twice")
                }
                Some(n) if lines.is_empty() && cursor.is_some() => {
                    // An empty page with a new cursor can only loop; treat it as the end.
                    eprintln!("{host}: empty page with next_cursor {n:?}; stopping");
                    return Ok(out);
                }
                next => cursor = next,
            }
        }
        bail!("/api/v1/lines: more than 100000 pages")
    }

    /// Every stored line of `host` containing `text` (`/api/v1/lines?q=`, newest first),
    /// following `next_cursor` through pages that scanned without a match.
    pub fn search_lines(&self, host: &str, text: &str) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _page in 0..10_000 {
            let mut query = vec![
                ("host", host.to_owned()),
                ("q", text.to_owned()),
                ("limit", FETCH_PAGE_LIMIT.to_string()),
            ];
            if let Some(c) = &cursor {
                query.push(("cursor", c.clone()));
            }
            let Some(body) = self.get_json("/api/v1/lines", &query)? else {
                return Ok(out);
            };
            if let Some(lines) = body.get("lines").and_then(Value::as_array) {
                out.extend(lines.iter().cloned());
            }
            match body.get("next_cursor").and_then(Value::as_str) {
                None => return Ok(out),
                Some(n) if Some(n) == cursor.as_deref() => {
                    bail!("/api/v1/lines?q= returned the same cursor {n:?} twice")
                }
                Some(n) => cursor = Some(n.to_owned()),
            }
        }
        bail!("/api/v1/lines?q=: more than 10000 pages")
    }
}

fn read_token(path: &Path) -> Result<String> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let token = text.trim().to_owned();
    ensure!(!token.is_empty(), "{} is empty", path.display());
    Ok(token)
}

// ---------------------------------------------------------------------------------------------
// Agent
// ---------------------------------------------------------------------------------------------

/// Arguments of `fleetlog-agent run`.
#[derive(Debug, Clone)]
pub struct AgentOpts {
    /// `--collector`.
    pub collector: String,
    /// `--token-file`.
    pub token_file: PathBuf,
    /// `--ca`.
    pub ca: PathBuf,
    /// `--path`, one per glob.
    pub paths: Vec<String>,
    /// `--host-name`.
    pub host_name: String,
    /// `--data-dir`; `None` means `<temp dir>/agent-<host name>`.
    pub data_dir: Option<PathBuf>,
    /// `--config`: a TOML file for what flags cannot say (`[[sources]]` tables).
    pub config: Option<PathBuf>,
}

impl AgentOpts {
    /// Options for an agent of `collector` with its token and CA.
    pub fn new(collector: &Collector, host_name: &str, paths: &[String]) -> AgentOpts {
        AgentOpts {
            collector: collector.quic_addr(),
            token_file: collector.agent_token_file(),
            ca: collector.ca_pem(),
            paths: paths.to_vec(),
            host_name: host_name.to_owned(),
            data_dir: None,
            config: None,
        }
    }
}

/// A running `fleetlog-agent run`.
pub struct Agent {
    proc: ChildProc,
    opts: AgentOpts,
}

impl Agent {
    /// Spawns the agent. There is nothing to wait for: the agent exposes no endpoint, so tests
    /// wait for its lines at the collector.
    pub fn start(env: &TestEnv, opts: AgentOpts) -> Result<Agent> {
        Agent::start_with(env, opts, &[])
    }

    /// Like [`Agent::start`], with environment variables set for the process.
    pub fn start_with(env: &TestEnv, opts: AgentOpts, envs: &[(&str, &str)]) -> Result<Agent> {
        let data_dir = match &opts.data_dir {
            Some(d) => d.clone(),
            None => env.path().join(format!("agent-{}", opts.host_name)),
        };
        fs::create_dir_all(&data_dir)?;
        let mut args = vec![
            OsString::from("run"),
            "--collector".into(),
            opts.collector.clone().into(),
            "--token-file".into(),
            opts.token_file.clone().into(),
            "--ca".into(),
            opts.ca.clone().into(),
        ];
        for p in &opts.paths {
            args.push("--path".into());
            args.push(p.into());
        }
        if let Some(config) = &opts.config {
            args.push("--config".into());
            args.push(config.into());
        }
        args.extend([
            "--data-dir".into(),
            data_dir.clone().into(),
            "--host-name".into(),
            opts.host_name.clone().into(),
        ]);
        let label = format!("agent-{}", opts.host_name);
        let mut proc = ChildProc::new(env, &label, bin(AGENT_BIN)?, args);
        proc.envs = envs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        proc.spawn()?;
        Ok(Agent {
            proc,
            opts: AgentOpts {
                data_dir: Some(data_dir),
                ..opts
            },
        })
    }

    /// The agent's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.proc.pid()
    }

    /// SIGKILL the agent.
    pub fn kill9(&mut self) -> Result<()> {
        self.proc.kill9()
    }

    /// Kills the agent if it runs and starts it again with the same arguments and data dir.
    pub fn restart(&mut self) -> Result<()> {
        self.proc.kill9()?;
        self.proc.spawn()
    }

    /// The options it was started with (`data_dir` filled in).
    pub fn opts(&self) -> &AgentOpts {
        &self.opts
    }

    /// `Some(status)` if the agent exited on its own.
    pub fn exit_status(&mut self) -> Result<Option<ExitStatus>> {
        self.proc.exit_status()
    }

    /// Fails if the agent log shows a panic (a panicking task need not end the process).
    pub fn ensure_no_panic(&self) -> Result<()> {
        ensure_no_panic(&self.proc)
    }

    /// Fails with the log tail if the agent has exited.
    pub fn ensure_running(&mut self) -> Result<()> {
        if let Some(status) = self.proc.exit_status()? {
            bail!("agent exited ({status}); log tail:\n{}", self.proc.tail());
        }
        Ok(())
    }

    /// The whole agent log so far.
    pub fn log_text(&self) -> Result<String> {
        self.proc.log_text()
    }

    /// Waits until an agent log line satisfies `pred` (given the lowercased line).
    pub fn wait_for_log_line(
        &self,
        timeout: Duration,
        what: &str,
        pred: &dyn Fn(&str) -> bool,
    ) -> Result<String> {
        wait_for_log_line(&self.proc, timeout, what, pred)
    }
}

// ---------------------------------------------------------------------------------------------
// One-shot runs (config validation)
// ---------------------------------------------------------------------------------------------

/// What a process that ran to completion printed.
#[derive(Debug)]
pub struct Finished {
    /// Exit status.
    pub status: ExitStatus,
    /// Captured stdout.
    pub stdout: String,
    /// Captured stderr.
    pub stderr: String,
}

/// Runs `fleetlog-collector` (`collector == true`) or `fleetlog-agent` with `args` in the temp
/// dir and waits up to `timeout` for it to exit; kills it and fails if it does not.
pub fn run_to_exit(
    env: &TestEnv,
    collector: bool,
    label: &str,
    args: &[&str],
    timeout: Duration,
) -> Result<Finished> {
    let program = bin(if collector { COLLECTOR_BIN } else { AGENT_BIN })?;
    let out_path = env.path().join(format!("{label}.stdout"));
    let err_path = env.path().join(format!("{label}.stderr"));
    env.register_log(&format!("{label} stdout"), &out_path);
    env.register_log(&format!("{label} stderr"), &err_path);
    let mut cmd = Command::new(&program);
    cmd.args(args)
        .current_dir(env.path())
        .stdin(Stdio::null())
        .stdout(File::create(&out_path)?)
        .stderr(File::create(&err_path)?);
    scrub_env(&mut cmd);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("spawning {}", program.display()))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{} {args:?} still running after {timeout:?}; killed",
                program.display()
            );
        }
        thread::sleep(Duration::from_millis(50));
    };
    Ok(Finished {
        status,
        stdout: String::from_utf8_lossy(&fs::read(&out_path)?).into_owned(),
        stderr: String::from_utf8_lossy(&fs::read(&err_path)?).into_owned(),
    })
}

/// PEM of a freshly generated self-signed CA that signed nothing the collector uses.
pub fn foreign_ca_pem() -> Result<String> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "fleetlog e2e foreign CA");
    let key = rcgen::KeyPair::generate()?;
    Ok(params.self_signed(&key)?.pem())
}

// ---------------------------------------------------------------------------------------------
// Log writer
// ---------------------------------------------------------------------------------------------

/// How a [`LineWriter`] rotates its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// Rename `app.log` to `app.log.1` (shifting older ones) and create a new `app.log`.
    Rename,
    /// Copy `app.log` to `app.log.1` (shifting older ones), then truncate `app.log` in place.
    CopyTruncate,
    /// logrotate `dateext`: rename `app.log` to `app.log-YYYYMMDD` (one date per rotation).
    DateExt,
    /// logrotate `olddir old`: rename `app.log` to `old/app.log.1` (shifting older ones there).
    OldDir,
    /// logrotate `compress` without `delaycompress`: rename `app.log` to `app.log.1`, reopen,
    /// then gzip `app.log.1` to `app.log.1.gz` and delete `app.log.1` (older `.k.gz` shift).
    Gzip,
}

/// Rotated files kept (`.1` ..= `.MAX_ROTATED`); more than any scenario rotates, so nothing is
/// deleted before the agent could read it.
const MAX_ROTATED: u32 = 50;

/// Appends sequence-numbered lines to a log file, the way an application does (`O_APPEND`).
///
/// Line `n` is `"<n> <RFC 3339 time> store=042 lane=3 INFO pos txn ok amount=12.50 id=<n>"`;
/// every 20th line is WARN and every 100th is ERROR.
pub struct LineWriter {
    path: PathBuf,
    file: File,
    first_seq: u64,
    next_seq: u64,
    rotations: u32,
    /// Random hex characters added to each line ([`LineWriter::padded`]).
    padding: usize,
    rng: u64,
}

impl LineWriter {
    /// Appends to `path` (created if missing), numbering lines from 1.
    pub fn new(path: &Path) -> Result<LineWriter> {
        LineWriter::starting_at(path, 1)
    }

    /// Appends to `path`, numbering lines from `first_seq`.
    pub fn starting_at(path: &Path, first_seq: u64) -> Result<LineWriter> {
        Ok(LineWriter {
            path: path.to_path_buf(),
            file: open_append(path)?,
            first_seq,
            next_seq: first_seq,
            rotations: 0,
            padding: 0,
            rng: 0x9e37_79b9_7f4a_7c15 ^ first_seq,
        })
    }

    /// Adds `chars` random hex characters to each line (`... pad=<hex> id=<n>`), so the lines
    /// compress about as badly as real ones with ids and hashes do; `parse_seq` still reads
    /// them.
    pub fn padded(mut self, chars: usize) -> LineWriter {
        self.padding = chars;
        self
    }

    /// The text of line `seq` (without newline), for a given time.
    pub fn format_line(seq: u64, now: SystemTime) -> String {
        let (level, what) = if seq.is_multiple_of(100) {
            ("ERROR", "failed")
        } else if seq.is_multiple_of(20) {
            ("WARN", "slow")
        } else {
            ("INFO", "ok")
        };
        format!(
            "{seq} {} store=042 lane=3 {level} pos txn {what} amount=12.50 id={seq}",
            rfc3339_millis(now)
        )
    }

    /// Appends `n` lines in one write.
    pub fn write_lines(&mut self, n: u64) -> Result<()> {
        let now = SystemTime::now();
        let mut buf = String::new();
        for seq in self.next_seq..self.next_seq + n {
            let line = LineWriter::format_line(seq, now);
            if self.padding == 0 {
                buf.push_str(&line);
            } else {
                // Before the closing `id=<n>`.
                let (head, id) = line.rsplit_once(' ').unwrap_or((&line, ""));
                buf.push_str(head);
                buf.push_str(" pad=");
                for _ in 0..self.padding {
                    self.rng ^= self.rng << 13;
                    self.rng ^= self.rng >> 7;
                    self.rng ^= self.rng << 17;
                    buf.push(char::from(b"0123456789abcdef"[(self.rng & 15) as usize]));
                }
                buf.push(' ');
                buf.push_str(id);
            }
            buf.push('\n');
        }
        self.file
            .write_all(buf.as_bytes())
            .with_context(|| format!("appending to {}", self.path.display()))?;
        self.next_seq += n;
        Ok(())
    }

    fn rotated(&self, k: u32) -> PathBuf {
        self.rotated_as(k, "")
    }

    /// `app.log.<k><suffix>`.
    fn rotated_as(&self, k: u32, suffix: &str) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{k}{suffix}"));
        PathBuf::from(name)
    }

    fn shift_rotated(&self) -> Result<()> {
        shift(|k| self.rotated(k))
    }

    /// `old/app.log.<k>` beside the file.
    fn in_olddir(&self, k: u32) -> PathBuf {
        let dir = self.path.parent().unwrap_or(Path::new(".")).join("old");
        let name = self.path.file_name().unwrap_or_default().to_string_lossy();
        dir.join(format!("{name}.{k}"))
    }

    /// Renames the file to `to` and starts a new one.
    fn rename_to(&mut self, to: &Path) -> Result<()> {
        fs::rename(&self.path, to).with_context(|| format!("renaming {}", self.path.display()))?;
        self.file = open_append(&self.path)?;
        self.rotations += 1;
        Ok(())
    }

    /// `dateext`: `app.log-<date>`, a new date for every rotation.
    pub fn rotate_dateext(&mut self) -> Result<()> {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!("-{}", 20_261_101 + self.rotations));
        self.rename_to(&PathBuf::from(name))
    }

    /// `olddir old`: `old/app.log.k` → `old/app.log.k+1`, file → `old/app.log.1`.
    pub fn rotate_olddir(&mut self) -> Result<()> {
        let first = self.in_olddir(1);
        if let Some(dir) = first.parent() {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        shift(|k| self.in_olddir(k))?;
        self.rename_to(&first)
    }

    /// `compress`: `.k.gz` → `.k+1.gz`, file → `.1`, new file, then `.1` → `.1.gz`.
    pub fn rotate_gzip(&mut self) -> Result<()> {
        shift(|k| self.rotated_as(k, ".gz"))?;
        let rotated = self.rotated(1);
        self.rename_to(&rotated)?;
        let data = fs::read(&rotated).with_context(|| format!("reading {}", rotated.display()))?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data)?;
        let target = self.rotated_as(1, ".gz");
        fs::write(&target, gz.finish()?)
            .with_context(|| format!("writing {}", target.display()))?;
        fs::remove_file(&rotated).with_context(|| format!("removing {}", rotated.display()))
    }

    /// Rename rotation: `.k` → `.k+1`, file → `.1`, then a new empty file.
    pub fn rotate_rename(&mut self) -> Result<()> {
        self.shift_rotated()?;
        self.rename_to(&self.rotated(1))
    }

    /// logrotate's `copytruncate`: `.k` → `.k+1`, copy the file to `.1`, truncate the original
    /// (which this writer keeps appending to). No line is written between copy and truncate.
    pub fn copytruncate(&mut self) -> Result<()> {
        self.shift_rotated()?;
        fs::copy(&self.path, self.rotated(1))
            .with_context(|| format!("copying {}", self.path.display()))?;
        self.file
            .set_len(0)
            .with_context(|| format!("truncating {}", self.path.display()))?;
        self.rotations += 1;
        Ok(())
    }

    /// Appends `text` as it is (a header or banner, not a numbered line).
    pub fn write_text(&mut self, text: &str) -> Result<()> {
        self.file
            .write_all(text.as_bytes())
            .with_context(|| format!("appending to {}", self.path.display()))
    }

    /// Truncates the file in place; the writer goes on appending from its start.
    pub fn truncate(&mut self) -> Result<()> {
        self.file
            .set_len(0)
            .with_context(|| format!("truncating {}", self.path.display()))
    }

    /// Rotates the given way.
    pub fn rotate(&mut self, how: Rotation) -> Result<()> {
        match how {
            Rotation::Rename => self.rotate_rename(),
            Rotation::CopyTruncate => self.copytruncate(),
            Rotation::DateExt => self.rotate_dateext(),
            Rotation::OldDir => self.rotate_olddir(),
            Rotation::Gzip => self.rotate_gzip(),
        }
    }

    /// Sequence numbers written so far.
    pub fn expected(&self) -> std::ops::Range<u64> {
        self.first_seq..self.next_seq
    }

    /// Number of lines written so far.
    pub fn written(&self) -> u64 {
        self.next_seq - self.first_seq
    }

    /// Rotations done so far.
    pub fn rotations(&self) -> u32 {
        self.rotations
    }

    /// Writes lines at a steady rate on a new thread; see [`WritePlan`].
    pub fn spawn_steady(self, plan: WritePlan) -> WriterHandle {
        let progress = Arc::new(AtomicU64::new(self.written()));
        let thread_progress = Arc::clone(&progress);
        let join = thread::Builder::new()
            .name("line-writer".into())
            .spawn(move || write_steady(self, plan, &thread_progress))
            // Invariant: spawning a thread only fails when the OS is out of resources.
            .expect("spawning writer thread");
        WriterHandle { progress, join }
    }
}

/// Renames `name(k)` to `name(k + 1)` for every existing `k`, highest first.
fn shift(name: impl Fn(u32) -> PathBuf) -> Result<()> {
    for k in (1..MAX_ROTATED).rev() {
        let from = name(k);
        if from.exists() {
            fs::rename(&from, name(k + 1))
                .with_context(|| format!("renaming {}", from.display()))?;
        }
    }
    Ok(())
}

fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}

/// What a writer thread does: `lines` more lines at `lines_per_sec`, rotating every
/// `rotate_every` lines if set.
#[derive(Debug, Clone, Copy)]
pub struct WritePlan {
    /// Lines to write.
    pub lines: u64,
    /// Target rate.
    pub lines_per_sec: u64,
    /// Rotate after every this many lines, the given way.
    pub rotate_every: Option<(u64, Rotation)>,
}

/// A running writer thread.
pub struct WriterHandle {
    progress: Arc<AtomicU64>,
    join: JoinHandle<Result<LineWriter>>,
}

impl WriterHandle {
    /// Lines written so far by the writer (including any before the thread started).
    pub fn written(&self) -> u64 {
        self.progress.load(Ordering::Relaxed)
    }

    /// Blocks until `n` lines are written (or the writer stopped).
    pub fn wait_until_written(&self, n: u64) {
        while self.written() < n && !self.join.is_finished() {
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the writer to finish its plan.
    pub fn join(self) -> Result<LineWriter> {
        match self.join.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

const WRITE_TICK: Duration = Duration::from_millis(10);

fn write_steady(mut w: LineWriter, plan: WritePlan, progress: &AtomicU64) -> Result<LineWriter> {
    let start = Instant::now();
    let mut done = 0u64;
    while done < plan.lines {
        let due = (start.elapsed().as_secs_f64() * plan.lines_per_sec as f64) as u64;
        let mut n = due.min(plan.lines).saturating_sub(done);
        if let Some((every, _)) = plan.rotate_every {
            // Stop at the rotation boundary so rotations happen at exact multiples.
            n = n.min(every - done % every);
        }
        if n > 0 {
            w.write_lines(n)?;
            done += n;
            progress.store(w.written(), Ordering::Relaxed);
            if let Some((every, how)) = plan.rotate_every
                && done.is_multiple_of(every)
                && done < plan.lines
            {
                w.rotate(how)?;
            }
        } else {
            thread::sleep(WRITE_TICK);
        }
    }
    Ok(w)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC.
pub fn rfc3339_millis(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

// ---------------------------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------------------------

/// What arrived compared with what was written.
#[derive(Debug, Clone)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Distinct lines written.
    pub expected: usize,
    /// Stored lines that are intact copies of written lines (duplicates included).
    pub received: usize,
    /// Written lines never stored intact.
    pub lost: usize,
    /// Stored copies beyond the first of a written line.
    pub duplicated: usize,
    /// Stored lines that are not an intact written line (split, merged, truncated or foreign).
    pub unexpected: usize,
    /// Up to 10 lost sequence numbers.
    pub lost_sample: Vec<u64>,
    /// Up to 10 duplicated sequence numbers.
    pub duplicated_sample: Vec<u64>,
    /// Up to 5 unexpected line texts.
    pub unexpected_sample: Vec<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "scenario {}: expected {}, received {}, lost {}, duplicated {}",
            self.scenario, self.expected, self.received, self.lost, self.duplicated
        )?;
        if self.unexpected > 0 {
            write!(
                f,
                ", unexpected {} (e.g. {:?})",
                self.unexpected, self.unexpected_sample
            )?;
        }
        if self.lost > 0 {
            write!(f, "; lost e.g. seq {:?}", self.lost_sample)?;
        }
        if self.duplicated > 0 {
            write!(f, "; duplicated e.g. seq {:?}", self.duplicated_sample)?;
        }
        Ok(())
    }
}

impl Report {
    /// Prints the report line to stderr.
    pub fn print(&self) {
        eprintln!("{self}");
    }

    /// True when nothing was lost, duplicated or mangled.
    pub fn is_clean(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.unexpected == 0
    }

    /// Fails unless [`Report::is_clean`].
    pub fn ensure_clean(&self) -> Result<()> {
        ensure!(self.is_clean(), "{self}");
        Ok(())
    }
}

/// The sequence number of an intact line written by [`LineWriter`]: the first token is `<n>` and
/// the line ends with `id=<n>` (so split or merged lines do not count).
pub fn parse_seq(line: &str) -> Option<u64> {
    let line = line.trim_end_matches(['\r', '\n']);
    let (first, _) = line.split_once(' ')?;
    let seq: u64 = first.parse().ok()?;
    let tail = line.rsplit_once(' ')?.1;
    (tail == format!("id={seq}")).then_some(seq)
}

/// Compares the written sequence numbers with the stored lines.
pub fn verify(
    scenario: &str,
    expected_seqs: impl IntoIterator<Item = u64>,
    got: &[StoredLine],
) -> Report {
    let expected: HashSet<u64> = expected_seqs.into_iter().collect();
    let mut counts: HashMap<u64, usize> = HashMap::new();
    let mut unexpected = Vec::new();
    for l in got {
        match parse_seq(&l.line).filter(|s| expected.contains(s)) {
            Some(seq) => *counts.entry(seq).or_default() += 1,
            None => unexpected.push(l.line.clone()),
        }
    }
    let mut lost: Vec<u64> = expected
        .iter()
        .copied()
        .filter(|s| !counts.contains_key(s))
        .collect();
    lost.sort_unstable();
    let mut dups: Vec<u64> = counts
        .iter()
        .filter(|&(_, &c)| c > 1)
        .map(|(&s, _)| s)
        .collect();
    dups.sort_unstable();
    Report {
        scenario: scenario.to_owned(),
        expected: expected.len(),
        received: counts.values().sum(),
        lost: lost.len(),
        duplicated: counts.values().map(|c| c - 1).sum(),
        unexpected: unexpected.len(),
        lost_sample: lost.into_iter().take(10).collect(),
        duplicated_sample: dups.into_iter().take(10).collect(),
        unexpected_sample: unexpected.into_iter().take(5).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(line: &str) -> StoredLine {
        StoredLine {
            line: line.to_owned(),
            source: String::new(),
            level: None,
            raw: Value::Null,
        }
    }

    #[test]
    fn format_and_parse_round_trip() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let line = LineWriter::format_line(42, t);
        assert_eq!(
            line,
            "42 2023-11-14T22:13:20.123Z store=042 lane=3 INFO pos txn ok amount=12.50 id=42"
        );
        assert_eq!(parse_seq(&line), Some(42));
        assert!(LineWriter::format_line(100, t).contains(" ERROR "));
        assert!(LineWriter::format_line(40, t).contains(" WARN "));
        assert_eq!(
            parse_seq("42 2023-11-14T22:13:20.123Z store=042 lane"),
            None
        );
        assert_eq!(parse_seq("garbage"), None);
    }

    #[test]
    fn verify_counts_lost_duplicated_and_mangled() {
        let now = SystemTime::now();
        let mut got: Vec<StoredLine> = [1, 2, 2, 4]
            .iter()
            .map(|&s| stored(&LineWriter::format_line(s, now)))
            .collect();
        got.push(stored("5 2023 store=042 lane"));
        let r = verify("unit", 1..=5, &got);
        assert_eq!(
            (r.expected, r.received, r.lost, r.duplicated, r.unexpected),
            (5, 4, 2, 1, 1)
        );
        assert_eq!(r.lost_sample, vec![3, 5]);
        assert!(!r.is_clean());
        assert!(verify("unit", 1..=2, &got[..2]).is_clean());
    }

    #[test]
    fn steady_writer_rotates_at_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        for how in [Rotation::Rename, Rotation::CopyTruncate] {
            let w = LineWriter::new(&path).unwrap();
            let plan = WritePlan {
                lines: 250,
                lines_per_sec: 100_000,
                rotate_every: Some((100, how)),
            };
            let w = w.spawn_steady(plan).join().unwrap();
            assert_eq!(w.written(), 250);
            assert_eq!(w.rotations(), 2);
            let mut all = String::new();
            for p in [
                path.with_extension("log.2"),
                path.with_extension("log.1"),
                path.clone(),
            ] {
                all.push_str(&fs::read_to_string(p).unwrap());
            }
            let seqs: Vec<u64> = all.lines().map(|l| parse_seq(l).unwrap()).collect();
            assert_eq!(seqs, (1..=250).collect::<Vec<_>>(), "{how:?}");
            for e in fs::read_dir(dir.path()).unwrap() {
                fs::remove_file(e.unwrap().path()).unwrap();
            }
        }
    }

    #[test]
    fn logrotate_namings_keep_every_line() {
        for how in [Rotation::DateExt, Rotation::OldDir, Rotation::Gzip] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("app.log");
            let plan = WritePlan {
                lines: 250,
                lines_per_sec: 100_000,
                rotate_every: Some((100, how)),
            };
            let w = LineWriter::new(&path)
                .unwrap()
                .spawn_steady(plan)
                .join()
                .unwrap();
            assert_eq!(w.rotations(), 2);
            let mut files = Vec::new();
            for sub in [dir.path().to_path_buf(), dir.path().join("old")] {
                for e in fs::read_dir(&sub).into_iter().flatten() {
                    let p = e.unwrap().path();
                    if p.is_file() {
                        files.push(p);
                    }
                }
            }
            let mut seqs: Vec<u64> = Vec::new();
            for p in &files {
                let bytes = fs::read(p).unwrap();
                let text = if p.extension().is_some_and(|e| e == "gz") {
                    let mut out = String::new();
                    flate2::read::GzDecoder::new(&bytes[..])
                        .read_to_string(&mut out)
                        .unwrap();
                    out
                } else {
                    String::from_utf8(bytes).unwrap()
                };
                seqs.extend(text.lines().map(|l| parse_seq(l).unwrap()));
            }
            seqs.sort_unstable();
            assert_eq!(seqs, (1..=250).collect::<Vec<_>>(), "{how:?}: {files:?}");
            assert_eq!(files.len(), 3, "{how:?}: {files:?}");
        }
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }
}
