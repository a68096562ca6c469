//! Seeded store-fleet scenarios with ground truth: the measuring stick for line scoring.
//!
//! [`generate`] builds a fleet of store hosts (POS and kiosk), seven services each, in the
//! formats `fleetlog-lines` detects (ISO-timestamp text, JSON lines, logfmt and glog/klog as
//! Go services write them, Java/logback with stack traces, access logs, RFC 3164 syslog with
//! and without `<PRI>`), hours of normal traffic, injected incidents and decoys (business errors that look
//! like trouble but are not incidents). Everything is derived from [`Params::seed`] with a
//! small SplitMix64 generator; the same parameters always give the same fleet.
//!
//! Ground truth: every physical line carries a [`Label`]; [`Fleet::truth_json`] describes each
//! incident (kind, window, hosts, services, expected severity and class, and the indices of
//! its lines per file) and each decoy kind. Incident lines have a [`Role`]: *key* lines say
//! what is wrong themselves, *supporting* lines are ordinary for their program alone (a unit
//! exiting at warn level) and should reach medium, *context* lines (stack frames, lines logged
//! at info such as systemd's restart counter) are not scored.
//!
//! Phrasing is deliberately varied: several wordings per incident kind and per decoy, random
//! ids, paths and numbers, so that scoring cannot key on one string. The first
//! [`HEALTHY_PREFIX_PERCENT`] of the run holds no incident, only normal traffic and decoys,
//! so a baseline can be trained on it.
//!
//! Pure: no I/O and no clock. Timestamps start at [`Params::start_ms`]; the binary
//! `fleetlog-scenario` writes a fleet to a directory.

use serde_json::{Value, json};

/// The share of the run, from its start, that holds no incident.
pub const HEALTHY_PREFIX_PERCENT: u64 = 25;

const MS_PER_MIN: i64 = 60_000;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Seed of every random choice.
    pub seed: u64,
    /// Number of hosts (at least 3: two POS and one kiosk per store).
    pub hosts: usize,
    /// Length of the run in minutes (at least 120, so every incident fits).
    pub minutes: u32,
    /// Normal lines per minute per host, across its services.
    pub lines_per_min: u32,
    /// Time of the first line, in milliseconds since the Unix epoch.
    pub start_ms: i64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            seed: 1,
            hosts: 9,
            minutes: 180,
            lines_per_min: 60,
            // 2026-11-27T08:00:00Z
            start_ms: 1_795_766_400_000,
        }
    }
}

/// Kind of host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    /// A till.
    Pos,
    /// A self-service kiosk.
    Kiosk,
}

/// A file's line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFormat {
    /// `2026-11-27 08:00:00,123 INFO [thread] com.store.Class - message`, with stack traces.
    Java,
    /// `{"ts":"...","level":"info","msg":"..."}`.
    Json,
    /// `2026-11-27T08:00:00.123Z WARN printerd[812]: message`.
    IsoText,
    /// `time=... level=info msg="..." key=value`, as Go services write it.
    Logfmt,
    /// `E1127 08:00:00.123456    4242 handler.go:142] message`: glog/klog, as Go services
    /// from the Kubernetes world write it.
    Klog,
    /// Combined access log.
    Access,
    /// RFC 3164 syslog; `<PRI>` only on hosts whose syslog keeps it.
    Syslog,
}

/// What a physical line is, in the ground truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// Ordinary traffic.
    Normal,
    /// A line of incident `index` (into [`Fleet::incidents`]).
    Incident {
        /// Index into [`Fleet::incidents`].
        index: usize,
        /// What the line should score.
        role: Role,
    },
    /// A line of decoy kind `index` (into [`Fleet::decoys`]).
    Decoy {
        /// Index into [`Fleet::decoys`].
        index: usize,
    },
}

/// How an incident line should score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The line itself reports the trouble: at least the incident's severity, with its class.
    Key,
    /// The line supports the incident but alone is ordinary for its program (a unit exiting
    /// at warn level, once): at least medium, with the incident's class.
    Supporting,
    /// Part of the incident without saying so (stack frames, info-level lines): not scored.
    Context,
}

impl Role {
    /// The severity the line should reach, given its incident's.
    pub fn expected(self, incident: Expected) -> Option<Expected> {
        match self {
            Role::Key => Some(incident),
            Role::Supporting => Some(Expected::Medium),
            Role::Context => None,
        }
    }
}

/// One physical line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// When it was written.
    pub ts_ms: i64,
    /// The text, without newline.
    pub text: String,
    /// Ground truth.
    pub label: Label,
}

/// One service's log file on one host.
#[derive(Debug, Clone)]
pub struct ServiceLog {
    /// Service name, also the file name (`<service>.log`).
    pub service: &'static str,
    /// Its format.
    pub format: LineFormat,
    /// The lines, in time order.
    pub lines: Vec<Line>,
}

/// One host and its files.
#[derive(Debug, Clone)]
pub struct Host {
    /// Host name (`pos-s02-1`).
    pub name: String,
    /// POS or kiosk.
    pub kind: HostKind,
    /// Store number.
    pub store: u32,
    /// Whether its syslog lines carry `<PRI>`.
    pub syslog_pri: bool,
    /// One file per service.
    pub services: Vec<ServiceLog>,
}

/// Expected severity, as `fleetlog_lines::score::Severity` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Expected {
    /// Probably a problem.
    Medium,
    /// Likely a real incident.
    High,
}

impl Expected {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Expected::Medium => "medium",
            Expected::High => "high",
        }
    }
}

/// An injected incident.
#[derive(Debug, Clone)]
pub struct Incident {
    /// Stable id within the fleet (`inc-3`).
    pub id: String,
    /// Kind (`tls_expiry`, `db_pool`, ...); a regression repeats its kind.
    pub kind: &'static str,
    /// First and last millisecond of the window.
    pub window: (i64, i64),
    /// Affected hosts.
    pub hosts: Vec<String>,
    /// Affected services.
    pub services: Vec<&'static str>,
    /// Severity its scored lines should reach at least.
    pub severity: Expected,
    /// Error class its scored lines should get (`None`: no lines, e.g. a silent host).
    pub class: Option<&'static str>,
    /// For a regression: the id of the earlier, resolved incident it repeats.
    pub regression_of: Option<String>,
}

/// A kind of decoy: error-looking business noise that is not an incident.
#[derive(Debug, Clone)]
pub struct Decoy {
    /// Kind (`card_declined`, ...).
    pub kind: &'static str,
    /// Why it is not an incident.
    pub why: &'static str,
}

/// A generated fleet.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// The parameters it was made from.
    pub params: Params,
    /// Hosts and their files.
    pub hosts: Vec<Host>,
    /// Injected incidents, in the order [`Label::Incident`] indexes them.
    pub incidents: Vec<Incident>,
    /// Decoy kinds, in the order [`Label::Decoy`] indexes them.
    pub decoys: Vec<Decoy>,
}

impl Fleet {
    /// End of the healthy prefix (no incident before it).
    pub fn healthy_until_ms(&self) -> i64 {
        healthy_until(&self.params)
    }

    /// `truth.json`: parameters, incidents and decoys with their lines per file.
    pub fn truth_json(&self) -> Value {
        let mut incidents: Vec<Value> = self
            .incidents
            .iter()
            .map(|i| {
                json!({
                    "id": i.id,
                    "kind": i.kind,
                    "window": {"start_ms": i.window.0, "end_ms": i.window.1},
                    "hosts": i.hosts,
                    "services": i.services,
                    "expected_severity": i.severity.as_str(),
                    "expected_class": i.class,
                    "regression_of": i.regression_of,
                    "lines": [],
                    "supporting_lines": [],
                    "context_lines": [],
                })
            })
            .collect();
        let mut decoys: Vec<Value> = self
            .decoys
            .iter()
            .map(|d| {
                json!({"kind": d.kind, "why": d.why, "expected_severity_at_most": "medium", "lines": []})
            })
            .collect();
        for h in &self.hosts {
            for s in &h.services {
                let mut per_inc: Vec<[Vec<usize>; 3]> =
                    vec![[Vec::new(), Vec::new(), Vec::new()]; self.incidents.len()];
                let mut per_decoy: Vec<Vec<usize>> = vec![Vec::new(); self.decoys.len()];
                for (n, l) in s.lines.iter().enumerate() {
                    match l.label {
                        Label::Normal => {}
                        Label::Incident { index, role } => per_inc[index][role as usize].push(n),
                        Label::Decoy { index } => per_decoy[index].push(n),
                    }
                }
                let file = format!("{}/{}.log", h.name, s.service);
                for (i, roles) in per_inc.into_iter().enumerate() {
                    let keys = ["lines", "supporting_lines", "context_lines"];
                    for (key, idx) in keys.into_iter().zip(roles) {
                        if !idx.is_empty() {
                            push_ref(&mut incidents[i][key], &file, idx);
                        }
                    }
                }
                for (i, idx) in per_decoy.into_iter().enumerate() {
                    if !idx.is_empty() {
                        push_ref(&mut decoys[i]["lines"], &file, idx);
                    }
                }
            }
        }
        let hosts: Vec<Value> = self
            .hosts
            .iter()
            .map(|h| {
                json!({
                    "name": h.name,
                    "kind": match h.kind { HostKind::Pos => "pos", HostKind::Kiosk => "kiosk" },
                    "store": h.store,
                    "syslog_pri": h.syslog_pri,
                    "services": h.services.iter().map(|s| s.service).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({
            "params": {
                "seed": self.params.seed,
                "hosts": self.params.hosts,
                "minutes": self.params.minutes,
                "lines_per_min": self.params.lines_per_min,
                "start_ms": self.params.start_ms,
            },
            "healthy_until_ms": self.healthy_until_ms(),
            "line_index": "0-based physical line number within the file",
            "roles": {
                "lines": "report the trouble themselves: at least expected_severity, expected_class",
                "supporting_lines": "ordinary alone for their program: at least medium, expected_class",
                "context_lines": "stack frames and info-level lines of the incident: not scored",
            },
            "hosts": hosts,
            "incidents": incidents,
            "decoys": decoys,
        })
    }
}

fn push_ref(list: &mut Value, file: &str, lines: Vec<usize>) {
    if let Value::Array(a) = list {
        a.push(json!({"file": file, "lines": lines}));
    }
}

fn healthy_until(p: &Params) -> i64 {
    p.start_ms + i64::from(p.minutes) * MS_PER_MIN * HEALTHY_PREFIX_PERCENT as i64 / 100
}

/// SplitMix64: tiny, seedable, good enough for test data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1).max(1) as u64) as i64
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One element of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

// ---------------------------------------------------------------------------------------------
// Time formatting.

fn civil(ms: i64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000) as u32;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (h, m, s) = (
        (sod / 3600) as u32,
        ((sod / 60) % 60) as u32,
        (sod % 60) as u32,
    );
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(mo <= 2);
    (y, mo, d, h, m, s, milli)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `2026-11-27T08:00:00.123Z`.
pub fn iso(ms: i64) -> String {
    let (y, mo, d, h, m, s, f) = civil(ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}.{f:03}Z")
}

fn logback(ms: i64) -> String {
    let (y, mo, d, h, m, s, f) = civil(ms);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02}:{s:02},{f:03}")
}

fn syslog_ts(ms: i64) -> String {
    let (_, mo, d, h, m, s, _) = civil(ms);
    format!("{} {d:>2} {h:02}:{m:02}:{s:02}", MONTHS[mo as usize - 1])
}

fn access_ts(ms: i64) -> String {
    let (y, mo, d, h, m, s, _) = civil(ms);
    format!(
        "{d:02}/{}/{y:04}:{h:02}:{m:02}:{s:02} +0000",
        MONTHS[mo as usize - 1]
    )
}

/// Parses `2026-11-27T08:00:00Z` (seconds precision, UTC) into milliseconds.
pub fn parse_iso(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z').unwrap_or(s);
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, mo, dd) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.split(':').map(|x| x.parse::<i64>());
    let (h, mi, se) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    // Days from civil (Howard Hinnant).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + dd - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400) + h * 3600 + mi * 60 + se) * 1000)
}

// ---------------------------------------------------------------------------------------------
// Rendering one event in a service's format.

/// Level an event is logged at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lv {
    Debug,
    Info,
    Warn,
    Error,
    Crit,
}

impl Lv {
    fn upper(self) -> &'static str {
        match self {
            Lv::Debug => "DEBUG",
            Lv::Info => "INFO",
            Lv::Warn => "WARN",
            Lv::Error => "ERROR",
            Lv::Crit => "CRITICAL",
        }
    }
    fn lower(self) -> &'static str {
        match self {
            Lv::Debug => "debug",
            Lv::Info => "info",
            Lv::Warn => "warn",
            Lv::Error => "error",
            Lv::Crit => "fatal",
        }
    }
    fn syslog_severity(self) -> u8 {
        match self {
            Lv::Debug => 7,
            Lv::Info => 6,
            Lv::Warn => 4,
            Lv::Error => 3,
            Lv::Crit => 2,
        }
    }
}

/// One event before rendering: level, message, optional component/program and extra lines.
#[derive(Debug, Clone)]
struct Ev {
    lv: Lv,
    msg: String,
    /// Java logger / syslog program / ISO-text program.
    who: String,
    /// Physical lines after the first (stack frames), logged as context.
    trace: Vec<String>,
    /// Access log: (method path status bytes).
    access: Option<(String, u16)>,
}

fn ev(lv: Lv, who: &str, msg: String) -> Ev {
    Ev {
        lv,
        msg,
        who: who.to_owned(),
        trace: Vec::new(),
        access: None,
    }
}

const THREADS: [&str; 5] = [
    "main",
    "http-nio-8080-exec-3",
    "http-nio-8080-exec-7",
    "scheduling-1",
    "pool-2-thread-4",
];

fn render(rng: &mut Rng, host: &Host, svc: &ServiceLog, ts: i64, e: &Ev) -> Vec<String> {
    let first = match svc.format {
        LineFormat::Java => format!(
            "{} {:<5} [{}] {} - {}",
            logback(ts),
            e.lv.upper(),
            rng.pick(&THREADS),
            e.who,
            e.msg
        ),
        LineFormat::Json => {
            let key = if host.store.is_multiple_of(2) {
                "level"
            } else {
                "severity"
            };
            let mut o = serde_json::Map::new();
            o.insert("ts".into(), Value::String(iso(ts)));
            o.insert(key.into(), Value::String(e.lv.lower().to_owned()));
            o.insert("service".into(), Value::String(svc.service.to_owned()));
            o.insert("host".into(), Value::String(host.name.clone()));
            o.insert("msg".into(), Value::String(e.msg.clone()));
            o.insert(
                "trace_id".into(),
                Value::String(format!("{:016x}", rng.next_u64())),
            );
            Value::Object(o).to_string()
        }
        LineFormat::IsoText => format!(
            "{} {} {}[{}]: {}",
            iso(ts),
            e.lv.upper(),
            e.who,
            300 + (host.store * 7) % 500,
            e.msg
        ),
        LineFormat::Logfmt => {
            let msg = e.msg.replace('"', "'");
            format!(
                "time={} level={} caller={} msg=\"{}\" store={:03}",
                iso(ts),
                e.lv.lower(),
                e.who,
                msg,
                host.store
            )
        }
        LineFormat::Klog => {
            let (_, mo, d, h, m, sec, f) = civil(ts);
            let letter = match e.lv {
                Lv::Debug | Lv::Info => 'I',
                Lv::Warn => 'W',
                Lv::Error => 'E',
                Lv::Crit => 'F',
            };
            format!(
                "{letter}{mo:02}{d:02} {h:02}:{m:02}:{sec:02}.{f:03}{:03} {:>7} {}] {}",
                rng.below(1000),
                1000 + host.store * 17,
                e.who,
                e.msg
            )
        }
        LineFormat::Access => {
            let (req, status) = e
                .access
                .clone()
                .unwrap_or_else(|| ("GET / HTTP/1.1".to_owned(), 200));
            format!(
                "10.{}.{}.{} - - [{}] \"{}\" {} {} \"-\" \"{}\"",
                host.store,
                rng.below(4),
                10 + rng.below(200),
                access_ts(ts),
                req,
                status,
                if status == 304 {
                    0
                } else {
                    200 + rng.below(9000)
                },
                rng.pick(&[
                    "kiosk-ui/4.2",
                    "Mozilla/5.0 (X11; Linux x86_64)",
                    "pos-app/7.1",
                    "curl/8.5.0"
                ])
            )
        }
        LineFormat::Syslog => {
            let pid = 200 + rng.below(30_000);
            let head = if host.syslog_pri {
                // kern facility for the kernel, daemon (3) otherwise.
                let facility = if e.who == "kernel" { 0 } else { 3 };
                format!("<{}>", facility * 8 + e.lv.syslog_severity())
            } else {
                String::new()
            };
            if e.who == "kernel" {
                format!(
                    "{head}{} {} kernel: [{}.{:06}] {}",
                    syslog_ts(ts),
                    host.name,
                    (ts / 1000).rem_euclid(900_000),
                    rng.below(1_000_000),
                    e.msg
                )
            } else {
                format!(
                    "{head}{} {} {}[{pid}]: {}",
                    syslog_ts(ts),
                    host.name,
                    e.who,
                    e.msg
                )
            }
        }
    };
    let mut out = vec![first];
    out.extend(e.trace.iter().cloned());
    out
}

// ---------------------------------------------------------------------------------------------
// Normal traffic, per service.

fn sku(rng: &mut Rng) -> u64 {
    4_000_000_000_000 + rng.below(9_000_000_000)
}

fn money(rng: &mut Rng) -> String {
    format!("{}.{:02}", 1 + rng.below(250), rng.below(100))
}

fn normal_event(rng: &mut Rng, host: &Host, service: &str) -> Ev {
    let r = rng.below(100);
    match service {
        "pos-app" | "loyalty" => {
            let who = if service == "pos-app" {
                *rng.pick(&[
                    "com.store.pos.CheckoutService",
                    "com.store.pos.BasketController",
                    "com.store.pos.sync.PriceSync",
                ])
            } else {
                *rng.pick(&[
                    "com.store.loyalty.MemberService",
                    "com.store.loyalty.PointsLedger",
                ])
            };
            let msg = match r {
                0..=29 => format!(
                    "Basket {} closed: {} items, total {} EUR, till {}",
                    rng.below(1_000_000),
                    1 + rng.below(30),
                    money(rng),
                    1 + rng.below(6)
                ),
                30..=49 => format!("Scanned item sku={} qty={}", sku(rng), 1 + rng.below(4)),
                50..=59 => format!(
                    "Loyalty member {} earned {} points",
                    rng.below(900_000),
                    rng.below(400)
                ),
                60..=67 => format!(
                    "Price sync delta applied: {} items updated in {} ms",
                    rng.below(300),
                    10 + rng.below(900)
                ),
                68..=74 => format!(
                    "Health summary: no critical alerts, {} warnings in last 5m, error rate 0.0%",
                    rng.below(3)
                ),
                75..=81 => format!(
                    "HikariPool-1 - Pool stats (total={}, active={}, idle={}, waiting=0)",
                    10,
                    rng.below(5),
                    5 + rng.below(5)
                ),
                82..=88 => format!(
                    "Session {:08x} started for cashier {}",
                    rng.next_u64() as u32,
                    rng.below(90)
                ),
                89..=93 => format!(
                    "Retry succeeded for receipt upload {} after {} attempt(s)",
                    rng.below(100_000),
                    1 + rng.below(2)
                ),
                _ => format!(
                    "Cache warmed: {} entries in {} ms",
                    rng.below(20_000),
                    rng.below(500)
                ),
            };
            let lv = if r >= 94 && rng.chance(50) {
                Lv::Debug
            } else {
                Lv::Info
            };
            ev(lv, who, msg)
        }
        "payment" => {
            let msg = match r {
                0..=59 => format!(
                    "Authorization approved amount={} card=****{:04} rrn={:012} in {} ms",
                    money(rng),
                    rng.below(10_000),
                    rng.below(1_000_000_000_000),
                    80 + rng.below(900)
                ),
                60..=74 => format!(
                    "Terminal {} heartbeat ok, battery {}%",
                    terminal(rng),
                    40 + rng.below(60)
                ),
                75..=84 => format!(
                    "Settlement batch {} queued, {} transactions",
                    rng.below(10_000),
                    rng.below(400)
                ),
                85..=92 => "EMV kernel ready, contactless enabled".to_owned(),
                _ => format!(
                    "Refund approved amount={} ref={:08x}",
                    money(rng),
                    rng.next_u64() as u32
                ),
            };
            ev(Lv::Info, "payment", msg)
        }
        "printer" => {
            let (lv, msg) = match r {
                0..=69 => (
                    Lv::Info,
                    format!(
                        "Receipt {} printed on {} ({} lines)",
                        rng.below(1_000_000),
                        printer(rng),
                        10 + rng.below(60)
                    ),
                ),
                70..=84 => (
                    Lv::Info,
                    format!("Printer {} status: ready, paper ok", printer(rng)),
                ),
                85..=94 => (Lv::Debug, format!("Spool queue depth {}", rng.below(3))),
                _ => (
                    Lv::Warn,
                    format!(
                        "Paper low on {}, about {} receipts left",
                        printer(rng),
                        20 + rng.below(80)
                    ),
                ),
            };
            ev(lv, "printerd", msg)
        }
        "scanner" => {
            let msg = match r {
                0..=79 => format!(
                    "Barcode read EAN-13 {} in {} ms",
                    sku(rng),
                    5 + rng.below(60)
                ),
                80..=94 => format!(
                    "Scanner {} connected on /dev/ttyACM{}",
                    rng.pick(&["DS2208", "Magellan-3410"]),
                    rng.below(2)
                ),
                _ => "Scanner mode set to USB HID".to_owned(),
            };
            ev(Lv::Info, "scannerd", msg)
        }
        "inventory" | "menu-api" => {
            let who = if service == "inventory" {
                "sync/delta.go:88"
            } else {
                "menu/handler.go:142"
            };
            let msg = match r {
                0..=49 => format!(
                    "delta applied skus={} batch={} duration={}ms",
                    rng.below(500),
                    rng.below(100_000),
                    rng.below(2000)
                ),
                50..=74 => format!(
                    "GET /api/menu/{} served in {}ms",
                    rng.below(400),
                    rng.below(120)
                ),
                75..=89 => format!("stock level reconciled for {} skus", rng.below(5000)),
                _ => format!(
                    "connected to upstream {}:443",
                    rng.pick(&["api.store-hq.example", "menu.svc.local"])
                ),
            };
            ev(Lv::Info, who, msg)
        }
        "kiosk-ui" => {
            let msg = match r {
                0..=44 => format!(
                    "Order {:08x} placed: {} items, total {} EUR",
                    rng.next_u64() as u32,
                    1 + rng.below(8),
                    money(rng)
                ),
                45..=69 => format!(
                    "Screen {} shown",
                    rng.pick(&["welcome", "menu", "basket", "payment", "thank-you"])
                ),
                70..=84 => format!(
                    "Idle timeout reached, returning to attract loop after {}s",
                    60 + rng.below(60)
                ),
                _ => format!(
                    "Asset bundle {} loaded",
                    rng.pick(&["menu-v12", "promo-autumn", "fonts"])
                ),
            };
            ev(Lv::Info, "kiosk-ui", msg)
        }
        "nginx" => {
            let (req, status) = match r {
                0..=49 => (format!("GET /api/menu/{} HTTP/1.1", rng.below(400)), 200),
                50..=69 => (
                    format!("POST /api/basket/{} HTTP/1.1", rng.below(100_000)),
                    201,
                ),
                70..=84 => ("GET /static/app.js HTTP/1.1".to_owned(), 304),
                _ => ("GET /healthz HTTP/1.1".to_owned(), 200),
            };
            let mut e = ev(Lv::Info, "nginx", String::new());
            e.access = Some((req, status));
            e
        }
        _ => {
            // syslog
            let (who, msg) = match r {
                0..=24 => (
                    "CRON",
                    format!(
                        "(root) CMD (/usr/lib/store/housekeeping.sh --quick {})",
                        rng.below(10)
                    ),
                ),
                25..=44 => (
                    "systemd",
                    format!("Started Session {} of user pos.", rng.below(5000)),
                ),
                45..=59 => (
                    "chronyd",
                    format!("Selected source 10.{}.0.1 (ntp.store.local)", host.store),
                ),
                60..=74 => (
                    "sshd",
                    format!(
                        "Accepted publickey for ops from 10.0.{}.{} port {} ssh2",
                        rng.below(9),
                        rng.below(250),
                        40_000 + rng.below(20_000)
                    ),
                ),
                75..=89 => (
                    "kernel",
                    format!(
                        "usb 1-{}: new full-speed USB device number {} using xhci_hcd",
                        1 + rng.below(4),
                        rng.below(30)
                    ),
                ),
                _ => (
                    "NetworkManager",
                    "<info>  [1764230400.1234] device (eth0): carrier: link connected".to_owned(),
                ),
            };
            ev(Lv::Info, who, msg)
        }
    }
}

const TERMINALS: [&str; 3] = ["PAX-A920", "Ingenico-Move5000", "Verifone-V400m"];
const PRINTERS: [&str; 3] = ["TM-T88VI", "TM-m30III", "Star-TSP143"];

fn terminal(rng: &mut Rng) -> &'static str {
    TERMINALS[rng.below(TERMINALS.len() as u64) as usize]
}

fn printer(rng: &mut Rng) -> &'static str {
    PRINTERS[rng.below(PRINTERS.len() as u64) as usize]
}

// ---------------------------------------------------------------------------------------------
// Decoys: business errors, steady through the whole run.

struct DecoySpec {
    kind: &'static str,
    why: &'static str,
    services: &'static [&'static str],
    /// Per mille of normal lines on those services.
    per_mille: u64,
}

const DECOYS: &[DecoySpec] = &[
    DecoySpec {
        kind: "card_declined",
        why: "the issuer declined the customer's card; the payment system worked",
        services: &["payment"],
        per_mille: 60,
    },
    DecoySpec {
        kind: "wrong_pin",
        why: "the customer typed a wrong PIN",
        services: &["payment"],
        per_mille: 30,
    },
    DecoySpec {
        kind: "coupon_rejected",
        why: "the customer's coupon or voucher was expired or unknown",
        services: &["pos-app", "kiosk-ui", "loyalty"],
        per_mille: 25,
    },
    DecoySpec {
        kind: "not_found_404",
        why: "a browser asked for a favicon or a stale link",
        services: &["nginx"],
        per_mille: 80,
    },
    DecoySpec {
        kind: "customer_input",
        why: "a cashier or customer entered something invalid (unknown member, age check)",
        services: &["pos-app", "loyalty", "kiosk-ui"],
        per_mille: 20,
    },
];

fn decoy_event(rng: &mut Rng, kind: &str, service: &str) -> Ev {
    // Applications disagree on the level of a business error: half log it at WARN, half at ERROR.
    let lv = if rng.chance(50) { Lv::Warn } else { Lv::Error };
    let who = match service {
        "pos-app" => "com.store.pos.PromotionService",
        "loyalty" => "com.store.loyalty.MemberService",
        other => other,
    };
    match kind {
        "card_declined" => {
            let msg = match rng.below(5) {
                0 => format!(
                    "Card declined: insufficient funds (response code 51) card=****{:04}",
                    rng.below(10_000)
                ),
                1 => format!(
                    "Transaction declined by issuer: do not honor (05) amount={}",
                    money(rng)
                ),
                2 => format!(
                    "Payment declined: card expired, rrn={:012}",
                    rng.below(1_000_000_000_000)
                ),
                3 => format!(
                    "Authorization failed: declined by issuer, code 51, amount={}",
                    money(rng)
                ),
                _ => format!(
                    "Contactless limit exceeded, card declined, customer asked to insert card (amount {})",
                    money(rng)
                ),
            };
            ev(lv, who, msg)
        }
        "wrong_pin" => {
            let msg = match rng.below(4) {
                0 => format!("Incorrect PIN entered (attempt {} of 3)", 1 + rng.below(3)),
                1 => "PIN verification failed: wrong PIN".to_owned(),
                2 => format!(
                    "Invalid PIN for card ****{:04}, transaction cancelled",
                    rng.below(10_000)
                ),
                _ => "Offline PIN try limit exceeded, card blocked by issuer".to_owned(),
            };
            ev(lv, who, msg)
        }
        "coupon_rejected" => {
            let code = format!(
                "{}{}",
                rng.pick(&["SAVE", "WELCOME", "XMAS", "BOGO"]),
                rng.below(50)
            );
            let msg = match rng.below(5) {
                0 => format!("Coupon {code} expired on 2026-10-31, not applied"),
                1 => format!("Voucher code {code} not valid: expired"),
                2 => format!("Failed to apply coupon {code}: coupon already redeemed"),
                3 => format!(
                    "Promotion rejected for basket {}: coupon {code} expired",
                    rng.below(1_000_000)
                ),
                _ => format!("Invalid voucher {code}: unknown code"),
            };
            ev(lv, who, msg)
        }
        "customer_input" => {
            let msg = match rng.below(4) {
                0 => format!(
                    "Loyalty lookup failed: no member with card number {}",
                    rng.below(1_000_000_000)
                ),
                1 => "Age verification failed: customer declined to show ID".to_owned(),
                2 => format!("Invalid quantity entered for sku={}: -1", sku(rng)),
                _ => format!(
                    "Gift card {} rejected: balance 0.00 EUR",
                    rng.below(1_000_000_000)
                ),
            };
            ev(lv, who, msg)
        }
        _ => {
            let path = *rng.pick(&[
                "/favicon.ico",
                "/apple-touch-icon.png",
                "/robots.txt",
                "/apple-touch-icon-precomposed.png",
                "/api/menu/item/0",
            ]);
            let mut e = ev(Lv::Info, "nginx", String::new());
            e.access = Some((format!("GET {path} HTTP/1.1"), 404));
            e
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Incidents.

struct Plan {
    kind: &'static str,
    severity: Expected,
    class: Option<&'static str>,
}

const PLANS: &[Plan] = &[
    Plan {
        kind: "tls_expiry",
        severity: Expected::High,
        class: Some("tls_certificate"),
    },
    Plan {
        kind: "db_pool",
        severity: Expected::High,
        class: Some("database"),
    },
    Plan {
        kind: "dns_failure",
        severity: Expected::High,
        class: Some("dns"),
    },
    Plan {
        kind: "disk_full",
        severity: Expected::High,
        class: Some("disk_full"),
    },
    Plan {
        kind: "oom_kill",
        severity: Expected::High,
        class: Some("out_of_memory"),
    },
    Plan {
        kind: "printer_offline",
        severity: Expected::Medium,
        class: Some("printer"),
    },
    Plan {
        kind: "pricing_error",
        severity: Expected::High,
        class: Some("pricing"),
    },
    Plan {
        kind: "crash_loop",
        severity: Expected::High,
        class: Some("crash_loop"),
    },
    Plan {
        kind: "clock_skew",
        severity: Expected::Medium,
        class: Some("clock_skew"),
    },
    Plan {
        kind: "host_silent",
        severity: Expected::High,
        class: None,
    },
    Plan {
        kind: "payment_terminal",
        severity: Expected::High,
        class: Some("payment_terminal"),
    },
];

/// Lines for one occurrence of `kind` on `service`: event and the role of its first line.
fn incident_events(rng: &mut Rng, kind: &str, service: &str, host: &Host) -> Vec<(Ev, Role)> {
    let who = match service {
        "pos-app" => "com.store.pos.CheckoutService",
        "loyalty" => "com.store.loyalty.MemberService",
        "inventory" => "sync/client.go:212",
        "menu-api" => "menu/upstream.go:57",
        other => other,
    }
    .to_owned();
    let one = |e: Ev| vec![(e, Role::Key)];
    match kind {
        "tls_expiry" => {
            let hostname = rng.pick(&[
                "api.payments-hq.example",
                "acq-gw.bank.example",
                "loyalty.store-hq.example",
            ]);
            let msg = match (service, rng.below(4)) {
                ("pos-app" | "loyalty", 0 | 1) => {
                    let mut e = ev(
                        Lv::Error,
                        &who,
                        format!(
                            "Request to https://{hostname}/v2/auth failed: javax.net.ssl.SSLHandshakeException: PKIX path validation failed: java.security.cert.CertPathValidatorException: validity check failed"
                        ),
                    );
                    e.trace = vec![
                        "javax.net.ssl.SSLHandshakeException: PKIX path validation failed: java.security.cert.CertificateExpiredException: NotAfter: Thu Nov 26 23:59:59 UTC 2026".to_owned(),
                        "\tat java.base/sun.security.ssl.Alert.createSSLException(Alert.java:131)".to_owned(),
                        "\tat java.base/sun.security.ssl.TransportContext.fatal(TransportContext.java:378)".to_owned(),
                    ];
                    return vec![(e, Role::Key)];
                }
                (_, 0) => format!(
                    "TLS handshake with {hostname}:443 failed: x509: certificate has expired or is not yet valid"
                ),
                (_, 1) => {
                    format!("upstream {hostname}: SSL certificate problem: certificate has expired")
                }
                (_, 2) => format!(
                    "Could not connect to {hostname}: certificate expired (notAfter=2026-11-26T23:59:59Z)"
                ),
                _ => format!(
                    "x509: certificate has expired: current time {} is after 2026-11-26T23:59:59Z",
                    "2026-11-27T10:00:00Z"
                ),
            };
            one(ev(Lv::Error, &who, msg))
        }
        "db_pool" => {
            let mut e = ev(
                Lv::Error,
                &who,
                rng.pick(&[
                    "Could not get JDBC Connection; nested exception is java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30000ms.",
                    "Checkout failed: unable to acquire database connection from pool within 30000 ms",
                    "Transaction rolled back: HikariPool-1 - Connection is not available, request timed out after 30004ms (total=10, active=10, idle=0, waiting=37)",
                ])
                .to_string(),
            );
            e.trace = vec![
                "org.springframework.jdbc.CannotGetJdbcConnectionException: Failed to obtain JDBC Connection".to_owned(),
                "\tat org.springframework.jdbc.datasource.DataSourceUtils.getConnection(DataSourceUtils.java:84)".to_owned(),
                "\tat com.store.pos.OrderRepository.save(OrderRepository.java:57)".to_owned(),
                "Caused by: java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30000ms.".to_owned(),
                "\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)".to_owned(),
                "\t... 42 common frames omitted".to_owned(),
            ];
            vec![(e, Role::Key)]
        }
        "dns_failure" => {
            let name = rng.pick(&[
                "api.store-hq.example",
                "pricing.svc.local",
                "acq-gw.bank.example",
                "menu.svc.local",
            ]);
            let msg = match (service, rng.below(4)) {
                ("pos-app" | "loyalty", _) => format!(
                    "Lookup of {name} failed: java.net.UnknownHostException: {name}: Temporary failure in name resolution"
                ),
                (_, 0) => format!(
                    "dial tcp: lookup {name} on 10.{}.0.2:53: no such host",
                    host.store
                ),
                (_, 1) => format!("getaddrinfo ENOTFOUND {name}"),
                (_, 2) => format!("Could not resolve host: {name}"),
                _ => format!(
                    "DNS resolution for {name} failed: SERVFAIL from 10.{}.0.2",
                    host.store
                ),
            };
            one(ev(Lv::Error, &who, msg))
        }
        "disk_full" => {
            let path = rng.pick(&[
                "/var/log/store",
                "/var/lib/pos/journal",
                "/var/spool/receipts",
                "/tmp",
            ]);
            if service == "syslog" {
                let (w, msg) = match rng.below(3) {
                    0 => ("kernel", format!("EXT4-fs warning (device sda2): ext4_dx_add_entry: Directory index full! No space left on device ({path})")),
                    1 => ("systemd-journald", "Failed to write entry (26 items, 812 bytes), ignoring: No space left on device".to_owned()),
                    _ => ("rsyslogd", format!("file '{path}/messages': write error: No space left on device")),
                };
                return one(ev(Lv::Error, w, msg));
            }
            let msg = match rng.below(4) {
                0 => format!(
                    "write {path}/{}.dat: no space left on device",
                    rng.below(100_000)
                ),
                1 => format!(
                    "Failed to persist transaction journal: IOException: No space left on device ({path})"
                ),
                2 => format!("Disk full: {path} is 100% used, cannot write"),
                _ => format!(
                    "could not extend file \"{path}/base/16384/2619\": No space left on device"
                ),
            };
            one(ev(Lv::Error, &who, msg))
        }
        "oom_kill" => {
            if service == "syslog" {
                let pid = 1000 + rng.below(30_000);
                let proc_ = rng.pick(&["java", "pos-app", "kiosk-ui", "chrome"]);
                let (lv, w, msg, role) = match rng.below(4) {
                    0 => (
                        Lv::Error,
                        "kernel",
                        format!(
                            "Out of memory: Killed process {pid} ({proc_}) total-vm:{}kB, anon-rss:{}kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:{}kB oom_score_adj:0",
                            4_000_000 + rng.below(900_000),
                            1_800_000 + rng.below(200_000),
                            rng.below(9000)
                        ),
                        Role::Key,
                    ),
                    1 => (
                        Lv::Error,
                        "kernel",
                        format!(
                            "Memory cgroup out of memory: Killed process {pid} ({proc_}) total-vm:{}kB",
                            2_000_000 + rng.below(900_000)
                        ),
                        Role::Key,
                    ),
                    2 => (
                        Lv::Warn,
                        "kernel",
                        format!(
                            "{proc_} invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), order=0, oom_score_adj=0"
                        ),
                        Role::Key,
                    ),
                    _ => (
                        Lv::Info,
                        "kernel",
                        format!(
                            "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/system.slice/{proc_}.service,task={proc_},pid={pid},uid=1000"
                        ),
                        Role::Context,
                    ),
                };
                return vec![(ev(lv, w, msg), role)];
            }
            one(ev(
                Lv::Error,
                &who,
                rng.pick(&[
                    "Worker process was killed by the OOM killer, restarting",
                    "java.lang.OutOfMemoryError: Java heap space",
                    "A process of this unit has been killed by the OOM killer.",
                ])
                .to_string(),
            ))
        }
        "printer_offline" => {
            let p = printer(rng);
            let (lv, msg) = match rng.below(5) {
                0 => (
                    Lv::Warn,
                    format!(
                        "Printer {p} offline, receipt {} queued",
                        rng.below(1_000_000)
                    ),
                ),
                1 => (Lv::Error, format!("Printer {p} is offline: paper out")),
                2 => (
                    Lv::Error,
                    format!(
                        "Receipt printer not responding on /dev/usb/lp{}",
                        rng.below(2)
                    ),
                ),
                3 => (
                    Lv::Warn,
                    format!("Print job {} failed: cover open on {p}", rng.below(100_000)),
                ),
                _ => (
                    Lv::Error,
                    format!("Out of paper on {p}, {} receipts waiting", 1 + rng.below(9)),
                ),
            };
            one(ev(lv, "printerd", msg))
        }
        "pricing_error" => {
            let s = sku(rng);
            if service == "pos-app" && rng.chance(40) {
                return one(ev(
                    Lv::Error,
                    &who,
                    format!(
                        "Price lookup failed for sku={s}: no price in price book for store {:03}",
                        host.store
                    ),
                ));
            }
            let msg = match rng.below(3) {
                0 => format!("CRITICAL: Pricing error | Missing price for product {s}"),
                1 => format!(
                    "CRITICAL: Pricing error | Price file checksum mismatch, store {:03} falling back to list prices",
                    host.store
                ),
                _ => format!("CRITICAL: Pricing error | product {s} has invalid price 0.00"),
            };
            // These lines announce themselves: no level header, the message starts with it.
            let mut e = ev(Lv::Crit, &who, msg);
            e.who = "RAW".to_owned();
            one(e)
        }
        "crash_loop" => {
            let unit = rng.pick(&[
                "pos-app.service",
                "kiosk-ui.service",
                "payment-bridge.service",
            ]);
            if service == "syslog" {
                let (lv, msg, role) = match rng.below(5) {
                    0 => (
                        Lv::Warn,
                        format!("{unit}: Main process exited, code=killed, status=6/ABRT"),
                        Role::Supporting,
                    ),
                    1 => (
                        Lv::Warn,
                        format!("{unit}: Failed with result 'signal'."),
                        Role::Supporting,
                    ),
                    2 => (
                        Lv::Info,
                        format!(
                            "{unit}: Scheduled restart job, restart counter is at {}.",
                            3 + rng.below(40)
                        ),
                        Role::Context,
                    ),
                    3 => (
                        Lv::Error,
                        format!("{unit}: Start request repeated too quickly."),
                        Role::Key,
                    ),
                    _ => (
                        Lv::Error,
                        format!("Failed to start {unit}: crash loop, restart limit hit"),
                        Role::Key,
                    ),
                };
                return vec![(ev(lv, "systemd", msg), role)];
            }
            let mut e = ev(
                Lv::Crit,
                &who,
                rng.pick(&[
                    "Application startup failed, exiting with status 1",
                    "Fatal error during startup: cannot load configuration, aborting",
                    "Service crashed on startup (exit code 134), supervisor will restart it",
                ])
                .to_string(),
            );
            if service == "pos-app" || service == "loyalty" {
                e.trace = vec![
                    "java.lang.IllegalStateException: Failed to load ApplicationContext".to_owned(),
                    "\tat org.springframework.boot.SpringApplication.run(SpringApplication.java:1306)".to_owned(),
                ];
            }
            one(e)
        }
        "clock_skew" => {
            if service == "syslog" {
                let off = 30 + rng.below(4000);
                let (w, msg) = match rng.below(4) {
                    0 => (
                        "chronyd",
                        format!("System clock wrong by {off}.{} seconds", rng.below(1000)),
                    ),
                    1 => (
                        "chronyd",
                        "Can't synchronise: no selectable sources".to_owned(),
                    ),
                    2 => (
                        "ntpd",
                        format!(
                            "time reset +{off}.{:06} s, clock is not synchronized",
                            rng.below(1_000_000)
                        ),
                    ),
                    _ => (
                        "systemd-timesyncd",
                        format!(
                            "Timed out waiting for reply from 10.{}.0.1:123 (ntp.store.local), time drift {off}s",
                            host.store
                        ),
                    ),
                };
                return one(ev(Lv::Warn, w, msg));
            }
            let off = 30 + rng.below(4000);
            one(ev(
                Lv::Warn,
                &who,
                match rng.below(3) {
                    0 => format!("Clock skew detected: local time is {off}s ahead of server time"),
                    1 => format!(
                        "Request rejected by server: timestamp out of range (clock drift {off}s)"
                    ),
                    _ => format!("Time drift of {off}s detected against NTP, signatures may fail"),
                },
            ))
        }
        "payment_terminal" => one(ev(
            Lv::Error,
            "payment",
            match rng.below(4) {
                0 => format!(
                    "Payment terminal {} not responding: connection timed out after 30000 ms",
                    terminal(rng)
                ),
                1 => format!(
                    "PIN pad disconnected (terminal {}), transaction aborted",
                    terminal(rng)
                ),
                2 => format!(
                    "EMV kernel error: terminal {} offline, cannot start transaction",
                    terminal(rng)
                ),
                _ => format!(
                    "Card reader {} lost connection, reconnect attempt {} failed",
                    terminal(rng),
                    1 + rng.below(5)
                ),
            },
        )),
        _ => Vec::new(),
    }
}

/// Services an incident of `kind` touches on a host of `kind`.
fn incident_services(kind: &str, host: HostKind) -> Vec<&'static str> {
    let java = if host == HostKind::Pos {
        "pos-app"
    } else {
        "loyalty"
    };
    match kind {
        "tls_expiry" => vec!["payment", java],
        "db_pool" => vec![java],
        "dns_failure" => {
            if host == HostKind::Pos {
                vec!["payment", java, "inventory"]
            } else {
                vec!["payment", java, "menu-api"]
            }
        }
        "disk_full" => vec!["syslog", java, "printer"],
        "oom_kill" => vec!["syslog"],
        "printer_offline" => vec!["printer"],
        "pricing_error" => vec![java],
        "crash_loop" => vec!["syslog", java],
        "clock_skew" => vec!["syslog", java],
        "payment_terminal" => vec!["payment"],
        _ => Vec::new(),
    }
}

fn services_of(kind: HostKind) -> [(&'static str, LineFormat); 7] {
    match kind {
        HostKind::Pos => [
            ("pos-app", LineFormat::Java),
            ("payment", LineFormat::Json),
            ("printer", LineFormat::IsoText),
            ("scanner", LineFormat::IsoText),
            ("inventory", LineFormat::Logfmt),
            ("nginx", LineFormat::Access),
            ("syslog", LineFormat::Syslog),
        ],
        HostKind::Kiosk => [
            ("kiosk-ui", LineFormat::Json),
            ("payment", LineFormat::Json),
            ("printer", LineFormat::IsoText),
            ("menu-api", LineFormat::Klog),
            ("loyalty", LineFormat::Java),
            ("nginx", LineFormat::Access),
            ("syslog", LineFormat::Syslog),
        ],
    }
}

/// Share (per mille) of a host's normal lines per service, by position in [`services_of`].
const SHARES: [u64; 7] = [250, 200, 120, 120, 110, 130, 70];

struct Pending {
    ts: i64,
    ev: Ev,
    label: Label,
}

/// Generates a fleet.
pub fn generate(params: Params) -> Fleet {
    let p = Params {
        hosts: params.hosts.max(3),
        minutes: params.minutes.max(120),
        lines_per_min: params.lines_per_min.max(7),
        ..params
    };
    let mut rng = Rng::new(p.seed);
    let mut hosts: Vec<Host> = (0..p.hosts)
        .map(|i| {
            let store = 1 + (i / 3) as u32;
            let kind = if i % 3 == 2 {
                HostKind::Kiosk
            } else {
                HostKind::Pos
            };
            let name = match kind {
                HostKind::Pos => format!("pos-s{store:02}-{}", 1 + i % 3),
                HostKind::Kiosk => format!("kiosk-s{store:02}-1"),
            };
            Host {
                name,
                kind,
                store,
                syslog_pri: rng.chance(50),
                services: services_of(kind)
                    .iter()
                    .map(|(service, format)| ServiceLog {
                        service,
                        format: *format,
                        lines: Vec::new(),
                    })
                    .collect(),
            }
        })
        .collect();
    let mut pending: Vec<Vec<Vec<Pending>>> = hosts
        .iter()
        .map(|h| h.services.iter().map(|_| Vec::new()).collect())
        .collect();

    // Normal traffic and decoys.
    let decoys: Vec<Decoy> = DECOYS
        .iter()
        .map(|d| Decoy {
            kind: d.kind,
            why: d.why,
        })
        .collect();
    for (hi, host) in hosts.iter().enumerate() {
        for (si, svc) in host.services.iter().enumerate() {
            let per_min = (u64::from(p.lines_per_min) * SHARES[si] / 1000).max(1);
            for minute in 0..i64::from(p.minutes) {
                // Busier at some minutes than others: 50 % to 150 % of the mean.
                let n = per_min / 2 + rng.below(per_min + 1);
                for _ in 0..n {
                    let ts = p.start_ms + minute * MS_PER_MIN + rng.below(60_000) as i64;
                    let mut e = normal_event(&mut rng, host, svc.service);
                    let mut label = Label::Normal;
                    for (di, d) in DECOYS.iter().enumerate() {
                        if d.services.contains(&svc.service) && rng.below(1000) < d.per_mille {
                            e = decoy_event(&mut rng, d.kind, svc.service);
                            label = Label::Decoy { index: di };
                            break;
                        }
                    }
                    pending[hi][si].push(Pending { ts, ev: e, label });
                }
            }
        }
    }

    // Incidents: windows placed after the healthy prefix.
    let healthy = healthy_until(&p);
    let end = p.start_ms + i64::from(p.minutes) * MS_PER_MIN;
    let span = end - healthy;
    let mut incidents = Vec::new();
    let mut silent: Vec<(usize, i64, i64)> = Vec::new();
    let stores = 1 + (p.hosts as u32 - 1) / 3;
    for plan in PLANS {
        let len = rng.range(6, 18) * MS_PER_MIN;
        let regression = plan.kind == "payment_terminal";
        // A regression needs room for two windows and a quiet gap between them.
        let latest = if regression {
            healthy + span / 3
        } else {
            end - len - MS_PER_MIN
        };
        let start = rng.range(healthy + MS_PER_MIN, latest.max(healthy + MS_PER_MIN));
        let chosen: Vec<usize> = match plan.kind {
            "tls_expiry" => (0..hosts.len()).collect(),
            "dns_failure" => {
                let store = 1 + rng.below(u64::from(stores)) as u32;
                (0..hosts.len())
                    .filter(|&i| hosts[i].store == store)
                    .collect()
            }
            "pricing_error" => {
                let store = 1 + rng.below(u64::from(stores)) as u32;
                (0..hosts.len())
                    .filter(|&i| hosts[i].store == store && hosts[i].kind == HostKind::Pos)
                    .collect()
            }
            "printer_offline" | "db_pool" => {
                let pos: Vec<usize> = (0..hosts.len())
                    .filter(|&i| hosts[i].kind == HostKind::Pos)
                    .collect();
                vec![*rng.pick(&pos)]
            }
            _ => vec![rng.below(hosts.len() as u64) as usize],
        };
        let mut windows = vec![(start, start + len, None)];
        if regression {
            let gap = rng.range(15, 30) * MS_PER_MIN;
            let again = start + len + gap;
            let len2 = rng.range(5, 12) * MS_PER_MIN;
            windows.push((
                again,
                (again + len2).min(end - 1),
                Some(format!("inc-{}", incidents.len())),
            ));
        }
        for (w0, w1, regression_of) in windows {
            let index = incidents.len();
            let mut services: Vec<&'static str> = Vec::new();
            for &hi in &chosen {
                if plan.kind == "host_silent" {
                    silent.push((hi, w0, w1));
                    continue;
                }
                for svc in incident_services(plan.kind, hosts[hi].kind) {
                    if !services.contains(&svc) {
                        services.push(svc);
                    }
                    let Some(si) = hosts[hi].services.iter().position(|s| s.service == svc) else {
                        continue;
                    };
                    // 1-4 events per minute per file, some minutes none (bursty, as outages are).
                    let mut t = w0;
                    while t < w1 {
                        let n = rng.below(5);
                        for _ in 0..n {
                            let ts = t + rng.below(60_000) as i64;
                            if ts > w1 {
                                continue;
                            }
                            for (e, role) in incident_events(&mut rng, plan.kind, svc, &hosts[hi]) {
                                pending[hi][si].push(Pending {
                                    ts,
                                    ev: e,
                                    label: Label::Incident { index, role },
                                });
                            }
                        }
                        t += MS_PER_MIN;
                    }
                }
            }
            incidents.push(Incident {
                id: format!("inc-{index}"),
                kind: plan.kind,
                window: (w0, w1),
                hosts: chosen.iter().map(|&i| hosts[i].name.clone()).collect(),
                services: if plan.kind == "host_silent" {
                    hosts[chosen[0]]
                        .services
                        .iter()
                        .map(|s| s.service)
                        .collect()
                } else {
                    services
                },
                severity: plan.severity,
                class: plan.class,
                regression_of,
            });
        }
    }

    // Render, sort, flatten.
    for (hi, files) in pending.into_iter().enumerate() {
        for (si, mut evs) in files.into_iter().enumerate() {
            evs.sort_by_key(|e| e.ts);
            let host = hosts[hi].clone();
            let svc = host.services[si].clone();
            let mut out = Vec::with_capacity(evs.len());
            for e in evs {
                if silent
                    .iter()
                    .any(|&(h, a, b)| h == hi && (a..=b).contains(&e.ts))
                {
                    continue;
                }
                let lines = if e.ev.who == "RAW" {
                    vec![format!("{} {}", iso(e.ts), e.ev.msg)]
                } else {
                    render(&mut rng, &host, &svc, e.ts, &e.ev)
                };
                for (k, text) in lines.into_iter().enumerate() {
                    let label = match e.label {
                        Label::Incident { index, .. } if k > 0 => Label::Incident {
                            index,
                            role: Role::Context,
                        },
                        l => l,
                    };
                    out.push(Line {
                        ts_ms: e.ts,
                        text,
                        label,
                    });
                }
            }
            hosts[hi].services[si].lines = out;
        }
    }
    Fleet {
        params: p,
        hosts,
        incidents,
        decoys,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_complete() {
        let p = Params {
            hosts: 6,
            minutes: 120,
            lines_per_min: 30,
            ..Params::default()
        };
        let a = generate(p);
        let b = generate(p);
        assert_eq!(a.truth_json(), b.truth_json());
        let kinds: std::collections::BTreeSet<&str> = a.incidents.iter().map(|i| i.kind).collect();
        assert_eq!(kinds.len(), PLANS.len());
        assert!(a.incidents.iter().any(|i| i.regression_of.is_some()));
        for (i, inc) in a.incidents.iter().enumerate() {
            assert!(inc.window.0 >= a.healthy_until_ms(), "{inc:?}");
            let lines = a
                .hosts
                .iter()
                .flat_map(|h| &h.services)
                .flat_map(|s| &s.lines)
                .filter(|l| {
                    l.label
                        == Label::Incident {
                            index: i,
                            role: Role::Key,
                        }
                })
                .count();
            assert_eq!(
                lines == 0,
                inc.kind == "host_silent",
                "{inc:?}: {lines} lines"
            );
        }
        let c = generate(Params { seed: 2, ..p });
        assert_ne!(a.truth_json(), c.truth_json());
    }

    #[test]
    fn time_formats() {
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            parse_iso("2026-11-27T08:00:00Z"),
            Some(Params::default().start_ms)
        );
        assert_eq!(syslog_ts(Params::default().start_ms), "Nov 27 08:00:00");
    }
}
