//! The incident decider: pure functions of (incident, event, policy, now) with no I/O and
//! no clock. `incidents::worker` loads an incident by fingerprint, feeds it events in id
//! order with [`apply`], and calls [`tick`] on open incidents to resolve quiet ones.
//!
//! Life of an incident (one per fingerprint):
//! - **pending** — error-or-worse events are counted in a window; not shown as an
//!   incident yet, so a one-off error is not a problem report;
//! - **open** — `open_min_events` high events within `open_window` (a medium event counts
//!   a third), or any critical event, or high events of the fingerprint on
//!   `open_min_hosts` hosts;
//! - **resolved** — quiet for `quiet_for`, or resolved by a user;
//! - **regressed** — seen again after it was resolved; it keeps its history and counts.
//!
//! Severity is the worst of its events, raised one level (at most to critical) when it
//! has spread to `spread_hosts` hosts or more. "now" is the fleet's line-time watermark,
//! so an accelerated replay of historical lines resolves and regresses as live traffic
//! would.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use fleetlog_protocol::Level;
use serde::{Deserialize, Serialize};

/// Where an incident is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Open,
    Resolved,
    Regressed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Open => "open",
            Status::Resolved => "resolved",
            Status::Regressed => "regressed",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        [
            Status::Pending,
            Status::Open,
            Status::Resolved,
            Status::Regressed,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// Open or regressed: a problem now.
    pub fn is_active(self) -> bool {
        matches!(self, Status::Open | Status::Regressed)
    }
}

/// The rules, all configurable (`incidents.*` keys).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    pub open_min_events: u64,
    pub open_min_hosts: usize,
    pub open_window: Duration,
    pub quiet_for: Duration,
    pub spread_hosts: usize,
    pub max_samples: usize,
    /// Hosts remembered per incident (the count keeps growing past it).
    pub max_hosts: usize,
    /// Incidents that open within this of each other are related when they share a class
    /// or most of their hosts.
    pub related_window: Duration,
    /// Related incidents kept per incident (the nearest in opening time when more qualify),
    /// so a storm of incidents on one host does not link every pair.
    pub max_related: usize,
    /// A pending fingerprint seen for at least this long before its current window is
    /// background (business noise at a steady rate) unless the window's rate is
    /// `burst_factor` times its rate before.
    pub background_history: Duration,
    pub burst_factor: f64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            open_min_events: 3,
            open_min_hosts: 2,
            open_window: Duration::from_secs(10 * 60),
            quiet_for: Duration::from_secs(10 * 60),
            spread_hosts: 3,
            max_samples: 5,
            max_hosts: 1000,
            related_window: Duration::from_secs(5 * 60),
            max_related: 20,
            background_history: Duration::from_secs(20 * 60),
            burst_factor: 3.0,
        }
    }
}

/// The level an event counts as: its judged severity (the agent's confidence that the line
/// reports trouble), not the level the program wrote — a declined card logged at ERROR is
/// business as usual, an OOM kill in a syslog line without a level is not. Critical from
/// 0.85, error (high) from 0.5, warn (medium) from 0.35, else info.
pub fn judged_level(score: f64) -> Level {
    use fleetlog_lines::score::Severity;
    match Severity::from_confidence(score as f32) {
        Severity::Critical => Level::Critical,
        Severity::High => Level::Error,
        Severity::Medium => Level::Warn,
        Severity::Low | Severity::Info => Level::Info,
    }
}

/// One event as the decider sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventIn {
    pub id: i64,
    pub fingerprint: String,
    pub host: String,
    pub service: Option<String>,
    pub ts_ms: i64,
    pub level: Level,
    pub class: Option<String>,
    pub line: String,
    /// Lines this event row stands for (see `store::grouping`), at least 1.
    pub occurrences: u64,
    /// The time of the last of them, when the row stands for more than one.
    pub last_ts_ms: Option<i64>,
}

impl EventIn {
    /// The time of the latest line this event stands for.
    pub fn last_ms(&self) -> i64 {
        self.last_ts_ms.unwrap_or(self.ts_ms).max(self.ts_ms)
    }
}

/// A sample line kept as evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    pub event_id: i64,
    pub host: String,
    pub ts_ms: i64,
    pub line: String,
}

/// An incident as the decider keeps it (stored as a row plus JSON for hosts and samples).
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub fingerprint: String,
    pub status: Status,
    /// Worst event level seen.
    pub worst: Level,
    /// `worst`, raised when the incident spread to many hosts.
    pub severity: Level,
    pub class: Option<String>,
    pub service: Option<String>,
    /// The first line seen, as a title.
    pub title: String,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// Events in total.
    pub count: u64,
    pub hosts: BTreeSet<String>,
    /// Hosts in total (`hosts` stops growing at `max_hosts`).
    pub host_count: u64,
    pub samples: Vec<Sample>,
    /// While pending or resolved: the start of the current opening window, its weighted
    /// count (high 3, medium 1), its events and its hosts.
    pub window_start_ms: i64,
    pub window_count: u64,
    pub window: Window,
    /// When it opened (first time), if it has.
    pub opened_ms: Option<i64>,
    pub resolved_ms: Option<i64>,
    pub regressions: u32,
}

/// The current opening window's events and hosts (stored as JSON with the incident).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub events: u64,
    /// Hosts with a high (or worse) event in the window, at most [`WINDOW_HOSTS`].
    pub hosts: BTreeSet<String>,
    /// Weighted count per host (high 3, medium 1), at most [`WINDOW_HOSTS`] hosts.
    #[serde(default)]
    pub per_host: BTreeMap<String, u64>,
}

/// Hosts remembered per window: enough to tell "several hosts" from one, and to find the
/// host a problem is concentrated on.
pub const WINDOW_HOSTS: usize = 64;

/// What a decision changed, for the change feed and the side effects it causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Opened,
    Regressed,
    /// Severity rose (spread, or a worse event).
    Escalated,
    Resolved,
    /// Counts or samples changed only.
    Updated,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// One level worse, at most critical.
fn raise(level: Level) -> Level {
    match level {
        Level::Trace | Level::Debug | Level::Info => Level::Warn,
        Level::Warn => Level::Error,
        Level::Error | Level::Critical => Level::Critical,
    }
}

fn severity_of(worst: Level, host_count: u64, policy: &Policy) -> Level {
    if host_count >= policy.spread_hosts as u64 {
        raise(worst)
    } else {
        worst
    }
}

/// Longest incident title, in characters.
const TITLE_CHARS: usize = 300;

/// An incident's title from its first line: the message as the format detector finds it
/// (a JSON line's `msg`, a header line without its timestamp and level), else the line.
pub fn title_of(line: &str) -> String {
    use fleetlog_lines::detect::{Detector, DetectorConfig};
    // A joined stack trace is titled by its first line.
    let line = line.split_once('\n').map_or(line, |(first, _)| first);
    let parsed = Detector::new(DetectorConfig::default()).parse(line).content;
    let text = match parsed.trim() {
        "" => line.trim(),
        content => content,
    };
    text.chars().take(TITLE_CHARS).collect()
}

/// A new pending incident for the first event of a fingerprint.
fn new_incident(ev: &EventIn) -> Incident {
    Incident {
        fingerprint: ev.fingerprint.clone(),
        status: Status::Pending,
        worst: ev.level,
        severity: ev.level,
        class: ev.class.clone(),
        service: ev.service.clone(),
        title: title_of(&ev.line),
        first_seen_ms: ev.ts_ms,
        last_seen_ms: ev.ts_ms,
        count: 0,
        hosts: BTreeSet::new(),
        host_count: 0,
        samples: Vec::new(),
        window_start_ms: ev.ts_ms,
        window_count: 0,
        window: Window::default(),
        opened_ms: None,
        resolved_ms: None,
        regressions: 0,
    }
}

/// Applies one event. Returns the incident after it and what changed. The worker feeds
/// only events judged warn or worse (see [`judged_level`]).
pub fn apply(prev: Option<Incident>, ev: &EventIn, policy: &Policy) -> (Incident, Change) {
    let mut inc = prev.unwrap_or_else(|| new_incident(ev));
    let before_severity = inc.severity;
    let occurrences = ev.occurrences.max(1);
    inc.count += occurrences;
    inc.first_seen_ms = inc.first_seen_ms.min(ev.ts_ms);
    // Only events as bad as the incident (or at least high) keep it alive: a few
    // medium-severity mentions after an outage do not hold it open.
    if ev.level >= inc.worst.min(Level::Error) {
        inc.last_seen_ms = inc.last_seen_ms.max(ev.last_ms());
    }
    if inc.class.is_none() {
        inc.class = ev.class.clone();
    }
    let new_host = !inc.hosts.contains(&ev.host);
    if new_host {
        inc.host_count += 1;
        if inc.hosts.len() < policy.max_hosts {
            inc.hosts.insert(ev.host.clone());
        }
    }
    // Evidence: the first samples, and one from every new host while there is room; a
    // regression replaces the newest sample, so the comeback is in the evidence too.
    let sample = Sample {
        event_id: ev.id,
        host: ev.host.clone(),
        ts_ms: ev.ts_ms,
        line: ev.line.chars().take(2000).collect(),
    };
    let regressing = inc.status == Status::Resolved && ev.level >= Level::Error;
    if inc.samples.len() < policy.max_samples
        && (inc.samples.len() < 2 || new_host || inc.samples.iter().all(|s| s.host == ev.host))
    {
        inc.samples.push(sample);
    } else if regressing && let Some(last) = inc.samples.last_mut() {
        *last = sample;
    }
    inc.worst = inc.worst.max(ev.level);
    inc.severity = severity_of(inc.worst, inc.host_count, policy);

    let change = match inc.status {
        Status::Pending | Status::Resolved => {
            count_in_window(&mut inc, ev, occurrences, policy);
            // A critical line opens at once; otherwise the window must hold three high
            // events on one host (or nine medium ones: a sustained medium problem such as
            // clock skew or a printer that keeps going offline is an incident too), or high
            // events from several hosts — and a fingerprint with a long history must be
            // bursting, not ticking over at its usual rate. Medium business noise spread
            // thinly over the fleet (a warning now and then on every host) opens nothing.
            let busiest = inc.window.per_host.values().copied().max().unwrap_or(0);
            let crossed = busiest >= 3 * policy.open_min_events
                || (ev.level >= Level::Error
                    && inc.window.hosts.len() >= policy.open_min_hosts.max(1));
            let opens = ev.level >= Level::Critical
                || (crossed && (inc.status == Status::Resolved || bursting(&inc, policy)));
            match (inc.status, opens) {
                (Status::Pending, true) => {
                    inc.status = Status::Open;
                    inc.opened_ms = Some(ev.ts_ms);
                    Change::Opened
                }
                (Status::Resolved, true) => {
                    inc.status = Status::Regressed;
                    inc.regressions += 1;
                    inc.resolved_ms = None;
                    Change::Regressed
                }
                _ => Change::Updated,
            }
        }
        Status::Open | Status::Regressed => {
            if inc.severity > before_severity {
                Change::Escalated
            } else {
                Change::Updated
            }
        }
    };
    (inc, change)
}

/// Adds an event to the incident's opening window, starting a new window when the event
/// falls after the current one.
fn count_in_window(inc: &mut Incident, ev: &EventIn, occurrences: u64, policy: &Policy) {
    if ev.ts_ms - inc.window_start_ms > ms(policy.open_window) {
        inc.window_start_ms = ev.ts_ms;
        inc.window_count = 0;
        inc.window = Window::default();
    }
    let weight = occurrences
        * match ev.level {
            Level::Critical | Level::Error => 3,
            Level::Warn => 1,
            _ => 0,
        };
    inc.window_count += weight;
    inc.window.events += occurrences;
    let known = inc.window.per_host.contains_key(&ev.host);
    if known || inc.window.per_host.len() < WINDOW_HOSTS {
        *inc.window.per_host.entry(ev.host.clone()).or_default() += weight;
    }
    if ev.level >= Level::Error && inc.window.hosts.len() < WINDOW_HOSTS {
        inc.window.hosts.insert(ev.host.clone());
    }
}

/// False when a fingerprint with at least `background_history` of history before its
/// current window arrives in this window at less than `burst_factor` times its earlier
/// rate: steady business noise (a loyalty card that is not registered, a declined
/// payment) crosses the opening threshold by chance, a problem raises the rate.
fn bursting(inc: &Incident, policy: &Policy) -> bool {
    let history_ms = inc.window_start_ms - inc.first_seen_ms;
    if history_ms < ms(policy.background_history).max(1) {
        return true;
    }
    let before = inc.count.saturating_sub(inc.window.events) as f64 / history_ms as f64;
    let now = inc.window.events as f64 / ms(policy.open_window).max(1) as f64;
    now >= policy.burst_factor * before
}

/// Resolves an active incident quiet for `quiet_for` at `now_ms` (the line-time
/// watermark), and forgets a pending one whose window has passed (`None`).
pub fn tick(inc: &Incident, policy: &Policy, now_ms: i64) -> Option<(Incident, Change)> {
    let quiet = now_ms - inc.last_seen_ms >= ms(policy.quiet_for);
    match inc.status {
        Status::Open | Status::Regressed if quiet => {
            let mut next = inc.clone();
            next.status = Status::Resolved;
            next.resolved_ms = Some(now_ms);
            next.window_start_ms = now_ms;
            next.window_count = 0;
            next.window = Window::default();
            Some((next, Change::Resolved))
        }
        _ => None,
    }
}

/// Resolution by a user: active incidents only.
pub fn resolve_by_user(inc: &Incident, now_ms: i64) -> Option<Incident> {
    inc.status.is_active().then(|| {
        let mut next = inc.clone();
        next.status = Status::Resolved;
        next.resolved_ms = Some(now_ms);
        next.window_start_ms = now_ms;
        next.window_count = 0;
        next.window = Window::default();
        next
    })
}

/// True if two incidents look like one problem: the same error class while both were
/// active (an expired certificate seen by every service of the fleet), or opened within
/// `window` of each other on mostly the same hosts (at least half of the smaller one's:
/// a TLS failure and the payment failures it causes on the same hosts).
pub fn related(a: &Incident, b: &Incident, window: Duration) -> bool {
    let (Some(oa), Some(ob)) = (a.opened_ms, b.opened_ms) else {
        return false;
    };
    if a.fingerprint == b.fingerprint {
        return false;
    }
    // The same class at the same time (one expired certificate seen by every service).
    let overlap = a.first_seen_ms <= b.last_seen_ms && b.first_seen_ms <= a.last_seen_ms;
    if a.class.is_some() && a.class == b.class && overlap {
        return true;
    }
    if (oa - ob).abs() > ms(window) {
        return false;
    }
    let shared = a.hosts.intersection(&b.hosts).count();
    let smaller = a.hosts.len().min(b.hosts.len());
    smaller > 0 && shared * 2 >= smaller
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn ev(id: i64, minute: i64, host: &str, level: Level) -> EventIn {
        EventIn {
            id,
            fingerprint: "fp".into(),
            host: host.into(),
            service: Some("payment".into()),
            ts_ms: minute * MIN,
            level,
            class: Some("payment".into()),
            line: format!("ERROR payment failed on {host}"),
            occurrences: 1,
            last_ts_ms: None,
        }
    }

    /// Feeds `events` (minute, host, level, occurrences) to one fingerprint and returns
    /// the minutes at which it opened or regressed.
    fn openings(events: &[(i64, &str, Level, u64)]) -> Vec<i64> {
        let policy = Policy::default();
        let mut inc: Option<Incident> = None;
        let mut out = Vec::new();
        for (i, &(minute, host, level, occurrences)) in events.iter().enumerate() {
            let mut e = ev(i as i64, minute, host, level);
            e.occurrences = occurrences;
            let (next, change) = apply(inc.take(), &e, &policy);
            if matches!(change, Change::Opened | Change::Regressed) {
                out.push(minute);
            }
            inc = Some(next);
        }
        out
    }

    #[test]
    fn steady_background_noise_does_not_open_but_a_burst_does() {
        use Level::{Critical, Error};
        // One high event every 6 minutes on one host for 42 minutes: at most two in any
        // 10-minute window (under the threshold of three), then more at minute 44.
        let mut steady: Vec<(i64, &str, Level, u64)> =
            (0..8).map(|k| (k * 6, "pos-1", Error, 1)).collect();
        type Case<'a> = (&'a str, Vec<(i64, &'a str, Level, u64)>, Vec<i64>);
        let cases: Vec<Case<'_>> = vec![
            (
                "bunching within the first 20 minutes opens (no history yet)",
                vec![(0, "pos-1", Error, 1), (1, "pos-1", Error, 2)],
                vec![1],
            ),
            (
                "steady noise then a chance bunch of 3 stays pending",
                {
                    let mut v = steady.clone();
                    v.push((44, "pos-1", Error, 2));
                    v
                },
                vec![],
            ),
            (
                "steady noise then a burst (12 in the window) opens",
                {
                    let mut v = steady.clone();
                    v.push((44, "pos-1", Error, 12));
                    v
                },
                vec![44],
            ),
            (
                "steady noise then a critical line opens at once",
                {
                    steady.push((44, "pos-1", Critical, 1));
                    steady.clone()
                },
                vec![44],
            ),
            (
                "two hosts within the window open",
                vec![(0, "pos-1", Error, 1), (4, "pos-2", Error, 1)],
                vec![4],
            ),
            (
                "two hosts far apart do not",
                vec![(0, "pos-1", Error, 1), (15, "pos-2", Error, 1)],
                vec![],
            ),
            (
                "medium noise spread over twelve hosts does not open",
                (0..12)
                    .map(|h| {
                        (
                            h % 10,
                            [
                                "pos-1", "pos-2", "pos-3", "pos-4", "pos-5", "pos-6", "pos-7",
                                "pos-8", "pos-9", "pos-10", "pos-11", "pos-12",
                            ][h as usize],
                            Level::Warn,
                            1,
                        )
                    })
                    .collect(),
                vec![],
            ),
            (
                "nine medium lines on one host open",
                (0..9).map(|m| (m, "pos-1", Level::Warn, 1)).collect(),
                vec![8],
            ),
        ];
        for (case, events, expected) in cases {
            assert_eq!(openings(&events), expected, "{case}");
        }
    }

    #[test]
    fn a_grouped_row_counts_as_its_lines() {
        // (occurrences, level, opens?) on one host: 3 high lines or 9 medium ones open.
        let cases = [
            (1, Level::Error, false),
            (2, Level::Error, false),
            (3, Level::Error, true),
            (8, Level::Warn, false),
            (9, Level::Warn, true),
        ];
        for (occurrences, level, opens) in cases {
            let mut e = ev(1, 0, "pos-1", level);
            e.occurrences = occurrences;
            e.last_ts_ms = Some(e.ts_ms + 50_000);
            let (inc, change) = apply(None, &e, &Policy::default());
            assert_eq!(change == Change::Opened, opens, "{occurrences} × {level:?}");
            assert_eq!(inc.count, occurrences);
            assert_eq!(inc.first_seen_ms, e.ts_ms);
            assert_eq!(inc.last_seen_ms, e.ts_ms + 50_000);
        }
    }

    /// Feeds events (or `tick` at a minute) and renders status, severity and change.
    fn check(steps: &[Step], expect: expect_test::Expect) {
        let policy = Policy::default();
        let mut inc: Option<Incident> = None;
        let mut out = String::new();
        for step in steps {
            let (next, change) = match step {
                Step::Ev(e) => {
                    let (n, c) = apply(inc.take(), e, &policy);
                    (n, Some(c))
                }
                Step::Tick(minute) => {
                    let cur = inc.take().expect("an incident to tick");
                    match tick(&cur, &policy, minute * MIN) {
                        Some((n, c)) => (n, Some(c)),
                        None => (cur, None),
                    }
                }
            };
            let what = match step {
                Step::Ev(e) => format!(
                    "ev{} t={} {} {}",
                    e.id,
                    e.ts_ms / MIN,
                    e.host,
                    e.level.as_str()
                ),
                Step::Tick(m) => format!("tick t={m}"),
            };
            out.push_str(&format!(
                "{what} -> {} {} count={} hosts={} {:?}\n",
                next.status.as_str(),
                next.severity.as_str(),
                next.count,
                next.host_count,
                change
            ));
            inc = Some(next);
        }
        expect.assert_eq(&out);
    }

    #[derive(Debug)]
    enum Step {
        Ev(EventIn),
        Tick(i64),
    }

    #[test]
    fn opens_after_repeats_resolves_when_quiet_and_regresses() {
        check(
            &[
                Step::Ev(ev(1, 0, "pos-1", Level::Error)),
                Step::Ev(ev(2, 1, "pos-1", Level::Error)),
                Step::Ev(ev(3, 2, "pos-1", Level::Error)),
                Step::Ev(ev(4, 3, "pos-1", Level::Warn)),
                Step::Tick(12),
                Step::Tick(14),
                Step::Ev(ev(5, 40, "pos-1", Level::Warn)),
                Step::Ev(ev(6, 41, "pos-1", Level::Error)),
                Step::Ev(ev(7, 41, "pos-1", Level::Error)),
                Step::Ev(ev(8, 42, "pos-1", Level::Error)),
            ],
            expect_test::expect![[r#"
                ev1 t=0 pos-1 error -> pending error count=1 hosts=1 Some(Updated)
                ev2 t=1 pos-1 error -> pending error count=2 hosts=1 Some(Updated)
                ev3 t=2 pos-1 error -> open error count=3 hosts=1 Some(Opened)
                ev4 t=3 pos-1 warn -> open error count=4 hosts=1 Some(Updated)
                tick t=12 -> resolved error count=4 hosts=1 Some(Resolved)
                tick t=14 -> resolved error count=4 hosts=1 None
                ev5 t=40 pos-1 warn -> resolved error count=5 hosts=1 Some(Updated)
                ev6 t=41 pos-1 error -> resolved error count=6 hosts=1 Some(Updated)
                ev7 t=41 pos-1 error -> resolved error count=7 hosts=1 Some(Updated)
                ev8 t=42 pos-1 error -> regressed error count=8 hosts=1 Some(Regressed)
            "#]],
        );
    }

    #[test]
    fn a_late_comeback_resolves_by_line_time_then_regresses() {
        // What the worker does when the comeback arrives before any tick resolved it.
        let policy = Policy::default();
        let mut inc = None;
        for (id, minute) in [(1, 0), (2, 1), (3, 2)] {
            inc = Some(apply(inc, &ev(id, minute, "pos-1", Level::Error), &policy).0);
        }
        let open = inc.unwrap();
        assert_eq!(open.status, Status::Open);
        let comeback = ev(4, 30, "pos-1", Level::Error);
        let (resolved, change) = tick(&open, &policy, comeback.ts_ms).unwrap();
        assert_eq!(
            (resolved.status, change),
            (Status::Resolved, Change::Resolved)
        );
        // One stray line does not regress it; the comeback crossing the threshold does.
        let (back, change) = apply(Some(resolved), &comeback, &policy);
        assert_eq!((back.status, change), (Status::Resolved, Change::Updated));
        let (back, _) = apply(Some(back), &ev(5, 30, "pos-1", Level::Error), &policy);
        let (back, change) = apply(Some(back), &ev(6, 31, "pos-1", Level::Error), &policy);
        assert_eq!(
            (back.status, change, back.regressions),
            (Status::Regressed, Change::Regressed, 1)
        );
        assert_eq!(
            back.samples.last().unwrap().event_id,
            6,
            "the comeback is in the evidence"
        );
        // Within the quiet period nothing resolves.
        assert!(tick(&open, &policy, 5 * MIN).is_none());
    }

    #[test]
    fn titles_are_the_message_not_the_header() {
        let cases = [
            (
                r#"{"time":1795925104415,"level":"fatal","msg":"payment service crashed: out of memory"}"#,
                "payment service crashed: out of memory",
            ),
            (
                "2026-11-28T10:00:01Z ERROR pricing: Missing price for product 4006381",
                "pricing: Missing price for product 4006381",
            ),
            ("disk full on /var", "disk full on /var"),
            ("   ", ""),
            (
                "2026-11-28 10:00:00,001 ERROR [pool-1] Db - Cannot get a connection\n\tat com.x.Pool.get(Pool.java:9)",
                "[pool-1] Db - Cannot get a connection",
            ),
        ];
        for (line, want) in cases {
            assert_eq!(title_of(line), want, "{line}");
        }
        assert_eq!(title_of(&"x".repeat(1000)).chars().count(), TITLE_CHARS);
    }

    #[test]
    fn critical_opens_at_once_and_spread_escalates() {
        check(
            &[
                Step::Ev(ev(1, 0, "pos-1", Level::Critical)),
                Step::Ev(ev(2, 0, "pos-2", Level::Error)),
                Step::Ev(ev(3, 0, "pos-3", Level::Error)),
            ],
            expect_test::expect![[r#"
                ev1 t=0 pos-1 critical -> open critical count=1 hosts=1 Some(Opened)
                ev2 t=0 pos-2 error -> open critical count=2 hosts=2 Some(Updated)
                ev3 t=0 pos-3 error -> open critical count=3 hosts=3 Some(Updated)
            "#]],
        );
        check(
            &[
                Step::Ev(ev(1, 0, "pos-1", Level::Error)),
                Step::Ev(ev(2, 0, "pos-2", Level::Error)),
                Step::Ev(ev(3, 1, "pos-3", Level::Error)),
            ],
            expect_test::expect![[r#"
                ev1 t=0 pos-1 error -> pending error count=1 hosts=1 Some(Updated)
                ev2 t=0 pos-2 error -> open error count=2 hosts=2 Some(Opened)
                ev3 t=1 pos-3 error -> open critical count=3 hosts=3 Some(Escalated)
            "#]],
        );
    }

    #[test]
    fn medium_events_weigh_a_third_and_windows_expire() {
        check(
            &[
                Step::Ev(ev(1, 0, "pos-1", Level::Warn)),
                Step::Ev(ev(2, 0, "pos-1", Level::Warn)),
                Step::Ev(ev(3, 0, "pos-1", Level::Warn)),
                Step::Ev(ev(4, 1, "pos-1", Level::Error)),
                Step::Ev(ev(5, 2, "pos-1", Level::Error)),
                Step::Ev(ev(6, 30, "pos-1", Level::Error)),
            ],
            expect_test::expect![[r#"
                ev1 t=0 pos-1 warn -> pending warn count=1 hosts=1 Some(Updated)
                ev2 t=0 pos-1 warn -> pending warn count=2 hosts=1 Some(Updated)
                ev3 t=0 pos-1 warn -> pending warn count=3 hosts=1 Some(Updated)
                ev4 t=1 pos-1 error -> pending error count=4 hosts=1 Some(Updated)
                ev5 t=2 pos-1 error -> open error count=5 hosts=1 Some(Opened)
                ev6 t=30 pos-1 error -> open error count=6 hosts=1 Some(Updated)
            "#]],
        );
        check(
            &[
                Step::Ev(ev(1, 0, "pos-1", Level::Error)),
                Step::Ev(ev(2, 1, "pos-1", Level::Error)),
                Step::Ev(ev(3, 20, "pos-1", Level::Error)),
            ],
            expect_test::expect![[r#"
                ev1 t=0 pos-1 error -> pending error count=1 hosts=1 Some(Updated)
                ev2 t=1 pos-1 error -> pending error count=2 hosts=1 Some(Updated)
                ev3 t=20 pos-1 error -> pending error count=3 hosts=1 Some(Updated)
            "#]],
        );
    }
}
