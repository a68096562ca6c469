//! Fleet health, as a pure decider: [`next_state`] turns the previous [`Health`] of a host
//! (or of one service on a host) and what was observed in the last window into the next
//! state and a reason a person can act on. No I/O, no clock: `now_ms` is a parameter.
//!
//! States, checked in this order:
//! - **silent** — a host whose agent sends heartbeats: none for `host_silent_after`
//!   (default 60 s, six missed heartbeats): the agent or the host is gone; a service (or a
//!   host that never sent a heartbeat): no line for `silent_after` (default 10 min);
//! - **down** — a critical event in the window, or an error rate of `down_error_rate` (50 %)
//!   or more over the window (5 min) with at least `min_lines` lines;
//! - **degraded** — an error rate of `degraded_error_rate` (5 %, the rule our users run
//!   today) or more over the window, with at least `min_lines` lines;
//! - **healthy** — otherwise.
//!
//! A host leaves down or degraded only after `recover_after` (2 min) of good observations,
//! so a state does not flap with every minute's counts; it says "recovering" meanwhile.
//! Silent ends at once when a line or heartbeat arrives.

pub mod worker;

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A health state, ordered from best to worst.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Healthy,
    Degraded,
    Down,
    Silent,
}

impl State {
    pub const ALL: [State; 4] = [State::Healthy, State::Degraded, State::Down, State::Silent];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Healthy => "healthy",
            State::Degraded => "degraded",
            State::Down => "down",
            State::Silent => "silent",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// How bad, for "worst first" ordering: silent and down first.
    pub fn badness(self) -> u8 {
        match self {
            State::Silent => 3,
            State::Down => 3,
            State::Degraded => 2,
            State::Healthy => 0,
        }
    }
}

/// Thresholds, all configurable (`health.*` keys).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// The window error rates and critical events are counted over.
    pub window: Duration,
    pub degraded_error_rate: f64,
    pub down_error_rate: f64,
    /// Fewer lines than this in the window are too few to judge a rate.
    pub min_lines: u64,
    pub silent_after: Duration,
    /// Heartbeat age after which a host that sends heartbeats is silent.
    pub host_silent_after: Duration,
    pub recover_after: Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            window: Duration::from_secs(5 * 60),
            degraded_error_rate: 0.05,
            down_error_rate: 0.5,
            min_lines: 20,
            silent_after: Duration::from_secs(10 * 60),
            host_silent_after: Duration::from_secs(60),
            recover_after: Duration::from_secs(2 * 60),
        }
    }
}

/// The health of one host or service, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub state: State,
    pub reason: String,
    /// When `state` began (epoch ms).
    pub since_ms: i64,
    /// While down or degraded: since when observations have been good again.
    pub clear_since_ms: Option<i64>,
}

impl Health {
    /// A host or service seen for the first time.
    pub fn new(now_ms: i64) -> Health {
        Health {
            state: State::Healthy,
            reason: "no problems seen".to_owned(),
            since_ms: now_ms,
            clear_since_ms: None,
        }
    }
}

/// What was observed for one host or service.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observations {
    /// Newest line received (by arrival), if any.
    pub last_line_ms: Option<i64>,
    /// Newest agent heartbeat (hosts only).
    pub last_heartbeat_ms: Option<i64>,
    /// Lines in the window, by the lines' own time.
    pub lines: u64,
    /// Error and critical lines in the window.
    pub errors: u64,
    /// Critical lines in the window.
    pub criticals: u64,
    /// The most frequent error class in the window, for the reason.
    pub top_class: Option<String>,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn minutes(d_ms: i64) -> i64 {
    (d_ms / 60_000).max(1)
}

/// `45 s` under two minutes, else `12 min`.
fn ago(d_ms: i64) -> String {
    if d_ms < 120_000 {
        format!("{} s", d_ms / 1000)
    } else {
        format!("{} min", d_ms / 60_000)
    }
}

/// The state the observations alone call for, with its reason.
fn verdict(obs: &Observations, th: &Thresholds, now_ms: i64) -> (State, String) {
    let (last, limit, what) = match obs.last_heartbeat_ms {
        Some(hb) => (
            obs.last_line_ms.max(Some(hb)),
            th.host_silent_after,
            "no heartbeat or line",
        ),
        None => (obs.last_line_ms, th.silent_after, "no lines"),
    };
    match last {
        Some(t) if now_ms - t >= ms(limit) => {
            return (State::Silent, format!("{what} for {}", ago(now_ms - t)));
        }
        None => return (State::Silent, "nothing received yet".to_owned()),
        Some(_) => {}
    }
    let window_min = minutes(ms(th.window));
    let class = obs
        .top_class
        .as_deref()
        .map(|c| format!(", mostly {c}"))
        .unwrap_or_default();
    if obs.criticals > 0 {
        return (
            State::Down,
            format!(
                "{} critical event{} in {window_min} min{class}",
                obs.criticals,
                if obs.criticals == 1 { "" } else { "s" }
            ),
        );
    }
    if obs.lines >= th.min_lines.max(1) {
        let rate = obs.errors as f64 / obs.lines as f64;
        let pct = rate * 100.0;
        if rate >= th.down_error_rate {
            return (
                State::Down,
                format!("error rate {pct:.0}% over {window_min} min{class}"),
            );
        }
        if rate >= th.degraded_error_rate {
            return (
                State::Degraded,
                format!("error rate {pct:.1}% over {window_min} min{class}"),
            );
        }
    }
    (State::Healthy, "no problems seen".to_owned())
}

/// The next health of a host or service.
pub fn next_state(prev: &Health, obs: &Observations, th: &Thresholds, now_ms: i64) -> Health {
    let (state, reason) = verdict(obs, th, now_ms);
    let recovering = state < prev.state
        && matches!(prev.state, State::Down | State::Degraded)
        && state != State::Silent;
    if recovering {
        let clear_since = prev.clear_since_ms.unwrap_or(now_ms);
        if now_ms - clear_since < ms(th.recover_after) {
            return Health {
                state: prev.state,
                reason: format!("recovering: {reason}"),
                since_ms: prev.since_ms,
                clear_since_ms: Some(clear_since),
            };
        }
    }
    if state == prev.state {
        return Health {
            state,
            reason,
            since_ms: prev.since_ms,
            clear_since_ms: None,
        };
    }
    Health {
        state,
        reason,
        since_ms: now_ms,
        clear_since_ms: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn obs(
        last_line_min_ago: Option<i64>,
        lines: u64,
        errors: u64,
        criticals: u64,
    ) -> Observations {
        Observations {
            last_line_ms: last_line_min_ago.map(|m| 100 * MIN - m * MIN),
            last_heartbeat_ms: None,
            lines,
            errors,
            criticals,
            top_class: None,
        }
    }

    /// Feeds `steps` of (minute, observations) through `next_state` from a healthy start
    /// and renders each result.
    fn check(steps: &[(i64, Observations)], expect: expect_test::Expect) {
        let th = Thresholds::default();
        let mut h = Health::new(0);
        let mut out = String::new();
        for (minute, o) in steps {
            let now = minute * MIN;
            h = next_state(&h, o, &th, now);
            out.push_str(&format!(
                "t={minute} {} since={} {}\n",
                h.state.as_str(),
                h.since_ms / MIN,
                h.reason
            ));
        }
        expect.assert_eq(&out);
    }

    fn at(minute: i64, lines: u64, errors: u64, criticals: u64) -> (i64, Observations) {
        let mut o = obs(Some(0), lines, errors, criticals);
        o.last_line_ms = Some(minute * MIN);
        (minute, o)
    }

    #[test]
    fn error_rates_degrade_and_take_down() {
        check(
            &[
                at(1, 1000, 10, 0),
                at(2, 1000, 60, 0),
                at(3, 1000, 600, 0),
                at(4, 10, 9, 0),
                at(5, 1000, 0, 1),
            ],
            expect_test::expect![[r#"
                t=1 healthy since=0 no problems seen
                t=2 degraded since=2 error rate 6.0% over 5 min
                t=3 down since=3 error rate 60% over 5 min
                t=4 down since=3 recovering: no problems seen
                t=5 down since=3 1 critical event in 5 min
            "#]],
        );
    }

    #[test]
    fn recovery_waits_out_the_hold_time() {
        check(
            &[
                at(1, 1000, 100, 0),
                at(2, 1000, 0, 0),
                at(3, 1000, 0, 0),
                at(4, 1000, 0, 0),
                at(5, 1000, 70, 0),
                at(6, 1000, 0, 0),
            ],
            expect_test::expect![[r#"
                t=1 degraded since=1 error rate 10.0% over 5 min
                t=2 degraded since=1 recovering: no problems seen
                t=3 degraded since=1 recovering: no problems seen
                t=4 healthy since=4 no problems seen
                t=5 degraded since=5 error rate 7.0% over 5 min
                t=6 degraded since=5 recovering: no problems seen
            "#]],
        );
    }

    #[test]
    fn silence_and_return() {
        // A host whose agent sends heartbeats: silent once they stop for a minute.
        let mut host = obs(None, 0, 0, 0);
        host.last_line_ms = Some(MIN);
        host.last_heartbeat_ms = Some(2 * MIN);
        let mut back = host.clone();
        back.last_heartbeat_ms = Some(20 * MIN);
        // A service (no heartbeats): silent after ten minutes without a line.
        let mut service = obs(None, 0, 0, 0);
        service.last_line_ms = Some(5 * MIN);
        check(
            &[
                (2, host.clone()),
                (3, host.clone()),
                (20, back),
                (14, service.clone()),
                (15, service),
                (21, obs(None, 0, 0, 0)),
            ],
            expect_test::expect![[r#"
                t=2 healthy since=0 no problems seen
                t=3 silent since=3 no heartbeat or line for 60 s
                t=20 healthy since=20 no problems seen
                t=14 healthy since=20 no problems seen
                t=15 silent since=15 no lines for 10 min
                t=21 silent since=15 nothing received yet
            "#]],
        );
    }

    #[test]
    fn too_few_lines_are_not_a_rate_and_classes_are_named() {
        let mut o = obs(Some(0), 1000, 80, 0);
        o.last_line_ms = Some(3 * MIN);
        o.top_class = Some("tls_certificate".to_owned());
        check(
            &[at(1, 5, 5, 0), (3, o)],
            expect_test::expect![[r#"
                t=1 healthy since=0 no problems seen
                t=3 degraded since=3 error rate 8.0% over 5 min, mostly tls_certificate
            "#]],
        );
    }
}
