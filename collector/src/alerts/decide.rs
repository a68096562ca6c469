//! The pure alert deciders, time as a parameter.
//!
//! [`next_state`]: one alert's state machine per evaluation —
//! inactive → pending (while the condition has held for less than `for`) → firing →
//! resolved, with `keep_firing_for` (a firing alert whose condition clears stays firing
//! that long, so a flapping condition does not resolve and re-fire), and an
//! acknowledgement that lasts until the firing episode ends or its `until`.
//!
//! [`group_step`]: when a notification group (a rule's alerts with the same group
//! labels) sends, Alertmanager-style: the first notification `group_wait` after the group
//! got something to say, a changed group (an alert added or resolved) at most every
//! `group_interval`, an unchanged firing group again after `repeat_interval`. Silenced
//! and acknowledged alerts are left out of what is sent (silences suppress notifications,
//! never evaluation).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum State {
    #[default]
    Inactive,
    Pending,
    Firing,
    Resolved,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Inactive => "inactive",
            State::Pending => "pending",
            State::Firing => "firing",
            State::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        Some(match s {
            "inactive" => State::Inactive,
            "pending" => State::Pending,
            "firing" => State::Firing,
            "resolved" => State::Resolved,
            _ => return None,
        })
    }
}

/// Who acknowledged a firing alert, when, and until when (`None`: until it resolves).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub by: String,
    pub at_ms: i64,
    pub until_ms: Option<i64>,
}

/// An alert's decider state (stored as JSON in `alerts.state_json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AlertState {
    pub state: State,
    /// When the condition started holding (pending start).
    pub pending_since_ms: Option<i64>,
    /// When the current or last firing episode started.
    pub firing_since_ms: Option<i64>,
    /// The last evaluation at which the condition held.
    pub last_true_ms: Option<i64>,
    pub resolved_ms: Option<i64>,
    pub ack: Option<Ack>,
}

impl AlertState {
    /// Acknowledged at `now` (an ack lasts until its `until` or the episode's end).
    pub fn acked(&self, now_ms: i64) -> bool {
        self.state == State::Firing
            && self
                .ack
                .as_ref()
                .is_some_and(|a| a.until_ms.is_none_or(|u| now_ms < u))
    }
}

/// A rule's timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timing {
    /// How long the condition must hold before firing (0: fire at once).
    pub for_ms: i64,
    /// How long a firing alert stays firing after its condition cleared.
    pub keep_firing_for_ms: i64,
}

/// A state change worth recording (and maybe notifying).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The condition started holding; waiting out `for`.
    Pending,
    /// Pending cleared before `for`: nothing is notified.
    Cleared,
    Firing,
    Resolved,
}

/// The next state of an alert whose condition is `holds` at `now`.
pub fn next_state(
    prev: &AlertState,
    holds: bool,
    timing: &Timing,
    now_ms: i64,
) -> (AlertState, Option<Change>) {
    let mut s = prev.clone();
    if holds {
        s.last_true_ms = Some(now_ms);
    }
    let change = match (prev.state, holds) {
        (State::Inactive | State::Resolved, true) => {
            s.pending_since_ms = Some(now_ms);
            s.ack = None;
            if timing.for_ms <= 0 {
                s.state = State::Firing;
                s.firing_since_ms = Some(now_ms);
                s.resolved_ms = None;
                Some(Change::Firing)
            } else {
                s.state = State::Pending;
                Some(Change::Pending)
            }
        }
        (State::Pending, true) => {
            let since = prev.pending_since_ms.unwrap_or(now_ms);
            if now_ms - since >= timing.for_ms {
                s.state = State::Firing;
                s.firing_since_ms = Some(now_ms);
                s.resolved_ms = None;
                Some(Change::Firing)
            } else {
                None
            }
        }
        (State::Pending, false) => {
            s.state = State::Inactive;
            s.pending_since_ms = None;
            Some(Change::Cleared)
        }
        (State::Firing, true) => None,
        (State::Firing, false) => {
            let last = prev.last_true_ms.unwrap_or(now_ms);
            if now_ms - last < timing.keep_firing_for_ms {
                None
            } else {
                s.state = State::Resolved;
                s.resolved_ms = Some(now_ms);
                s.pending_since_ms = None;
                s.ack = None;
                Some(Change::Resolved)
            }
        }
        (State::Inactive | State::Resolved, false) => None,
    };
    (s, change)
}

/// Acknowledges a firing alert; `None` if it is not firing (nothing to acknowledge).
pub fn acknowledge(prev: &AlertState, ack: Ack) -> Option<AlertState> {
    (prev.state == State::Firing).then(|| AlertState {
        ack: Some(ack),
        ..prev.clone()
    })
}

/// The notification windows (defaults as Alertmanager's and Grafana's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupTiming {
    pub group_wait_ms: i64,
    pub group_interval_ms: i64,
    pub repeat_interval_ms: i64,
}

impl Default for GroupTiming {
    fn default() -> Self {
        GroupTiming {
            group_wait_ms: 30_000,
            group_interval_ms: 5 * 60_000,
            repeat_interval_ms: 4 * 3_600_000,
        }
    }
}

/// One alert of a group, as the grouping decider sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub fingerprint: String,
    /// Firing (else resolved or inactive).
    pub firing: bool,
    /// Matched by an active silence.
    pub silenced: bool,
    /// Acknowledged.
    pub acked: bool,
}

/// A group's notification state (stored as JSON in `alert_groups.state_json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct GroupState {
    /// Firing alerts the last notification announced.
    pub sent: BTreeMap<String, bool>,
    pub last_sent_ms: Option<i64>,
    /// Digest of the firing part of the last notification.
    pub last_digest: Option<String>,
    /// Since when a group with nothing sent has had something to say (`group_wait`).
    pub waiting_since_ms: Option<i64>,
}

/// A notification to send: which alerts are firing, which resolved since the last one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Send {
    pub firing: Vec<String>,
    pub resolved: Vec<String>,
}

fn digest(firing: &[String]) -> String {
    firing.join(",")
}

/// Whether the group sends at `now`, and its next state.
pub fn group_step(
    prev: &GroupState,
    members: &[Member],
    t: &GroupTiming,
    now_ms: i64,
) -> (GroupState, Option<Send>) {
    let mut s = prev.clone();
    let mut firing: Vec<String> = members
        .iter()
        .filter(|m| m.firing && !m.silenced && !m.acked)
        .map(|m| m.fingerprint.clone())
        .collect();
    firing.sort();
    // Resolved since announced: only what was announced firing and is not silenced now.
    let mut resolved: Vec<String> = members
        .iter()
        .filter(|m| !m.firing && !m.silenced && prev.sent.contains_key(&m.fingerprint))
        .map(|m| m.fingerprint.clone())
        .collect();
    resolved.sort();
    // Forget announced alerts that are gone, or resolved while silenced (nothing to say).
    s.sent.retain(|fp, _| {
        members
            .iter()
            .any(|m| &m.fingerprint == fp && (m.firing || !m.silenced))
    });
    if firing.is_empty() && resolved.is_empty() {
        s.waiting_since_ms = None;
        return (s, None);
    }
    let d = digest(&firing);
    let due = if s.sent.is_empty() && resolved.is_empty() {
        // Nothing announced: a new group waits group_wait to collect its alerts.
        let since = *s.waiting_since_ms.get_or_insert(now_ms);
        since + t.group_wait_ms
    } else if prev.last_digest.as_deref() != Some(d.as_str()) || !resolved.is_empty() {
        prev.last_sent_ms.unwrap_or(i64::MIN / 2) + t.group_interval_ms
    } else {
        prev.last_sent_ms.unwrap_or(i64::MIN / 2) + t.repeat_interval_ms
    };
    if now_ms < due {
        return (s, None);
    }
    s.sent = firing.iter().map(|f| (f.clone(), true)).collect();
    s.last_sent_ms = Some(now_ms);
    s.last_digest = Some(d);
    s.waiting_since_ms = None;
    (s, Some(Send { firing, resolved }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOR: Timing = Timing {
        for_ms: 60_000,
        keep_firing_for_ms: 0,
    };
    const KEEP: Timing = Timing {
        for_ms: 0,
        keep_firing_for_ms: 120_000,
    };

    /// Runs a sequence of (now, condition) evaluations, returning the state and change
    /// after each.
    fn run(timing: Timing, steps: &[(i64, bool)]) -> Vec<(State, Option<Change>)> {
        let mut s = AlertState::default();
        steps
            .iter()
            .map(|&(now, holds)| {
                let (next, change) = next_state(&s, holds, &timing, now);
                s = next;
                (s.state, change)
            })
            .collect()
    }

    #[test]
    fn state_machine_table() {
        use Change as C;
        use State::*;
        type Case<'a> = (
            &'a str,
            Timing,
            &'a [(i64, bool)],
            &'a [(State, Option<Change>)],
        );
        let cases: &[Case<'_>] = &[
            (
                "pending then firing after for, then resolved",
                FOR,
                &[(0, true), (30_000, true), (60_000, true), (90_000, false)],
                &[
                    (Pending, Some(C::Pending)),
                    (Pending, None),
                    (Firing, Some(C::Firing)),
                    (Resolved, Some(C::Resolved)),
                ],
            ),
            (
                "pending that clears before for never fires",
                FOR,
                &[(0, true), (59_999, false), (70_000, false)],
                &[
                    (Pending, Some(C::Pending)),
                    (Inactive, Some(C::Cleared)),
                    (Inactive, None),
                ],
            ),
            (
                "pending restarts its clock after clearing",
                FOR,
                &[
                    (0, true),
                    (30_000, false),
                    (40_000, true),
                    (90_000, true),
                    (100_000, true),
                ],
                &[
                    (Pending, Some(C::Pending)),
                    (Inactive, Some(C::Cleared)),
                    (Pending, Some(C::Pending)),
                    (Pending, None),
                    (Firing, Some(C::Firing)),
                ],
            ),
            (
                "for 0 fires at once",
                Timing::default(),
                &[(0, true), (10, false), (20, false)],
                &[
                    (Firing, Some(C::Firing)),
                    (Resolved, Some(C::Resolved)),
                    (Resolved, None),
                ],
            ),
            (
                "flapping within keep_firing_for stays firing",
                KEEP,
                &[
                    (0, true),
                    (60_000, false),
                    (90_000, true),
                    (150_000, false),
                    (209_999, false),
                ],
                &[
                    (Firing, Some(C::Firing)),
                    (Firing, None),
                    (Firing, None),
                    (Firing, None),
                    (Firing, None),
                ],
            ),
            (
                "keep_firing_for runs out: resolved",
                KEEP,
                &[(0, true), (60_000, false), (120_000, false)],
                &[
                    (Firing, Some(C::Firing)),
                    (Firing, None),
                    (Resolved, Some(C::Resolved)),
                ],
            ),
            (
                "flapping without keep_firing_for resolves and re-fires",
                Timing::default(),
                &[(0, true), (1, false), (2, true)],
                &[
                    (Firing, Some(C::Firing)),
                    (Resolved, Some(C::Resolved)),
                    (Firing, Some(C::Firing)),
                ],
            ),
            (
                "resolved then pending again goes through for",
                FOR,
                &[
                    (0, true),
                    (60_000, true),
                    (61_000, false),
                    (62_000, true),
                    (122_000, true),
                ],
                &[
                    (Pending, Some(C::Pending)),
                    (Firing, Some(C::Firing)),
                    (Resolved, Some(C::Resolved)),
                    (Pending, Some(C::Pending)),
                    (Firing, Some(C::Firing)),
                ],
            ),
        ];
        for (name, timing, steps, expected) in cases {
            assert_eq!(&run(*timing, steps), expected, "{name}");
        }
    }

    #[test]
    fn ack_lasts_until_its_end_or_the_episode_and_refire_is_unacked() {
        let t = Timing::default();
        let (firing, _) = next_state(&AlertState::default(), true, &t, 0);
        assert!(acknowledge(&AlertState::default(), ack(None)).is_none());
        let acked = acknowledge(&firing, ack(Some(1_000))).unwrap();
        assert!(acked.acked(999));
        assert!(!acked.acked(1_000), "ack until 1000 has ended");
        let forever = acknowledge(&firing, ack(None)).unwrap();
        let (still, change) = next_state(&forever, true, &t, 5_000);
        assert!(still.acked(5_000) && change.is_none());
        // Resolve, then fire again: a new episode, not acknowledged.
        let (resolved, c) = next_state(&still, false, &t, 6_000);
        assert_eq!(
            (resolved.state, c),
            (State::Resolved, Some(Change::Resolved))
        );
        assert!(resolved.ack.is_none());
        let (refired, c) = next_state(&resolved, true, &t, 7_000);
        assert_eq!(c, Some(Change::Firing));
        assert!(!refired.acked(7_000));
    }

    fn ack(until: Option<i64>) -> Ack {
        Ack {
            by: "alice".into(),
            at_ms: 0,
            until_ms: until,
        }
    }

    fn m(fp: &str, firing: bool, silenced: bool, acked: bool) -> Member {
        Member {
            fingerprint: fp.into(),
            firing,
            silenced,
            acked,
        }
    }

    const G: GroupTiming = GroupTiming {
        group_wait_ms: 30,
        group_interval_ms: 300,
        repeat_interval_ms: 4_000,
    };

    /// Runs (now, members) steps; returns what was sent at each.
    fn group(steps: &[(i64, Vec<Member>)]) -> Vec<Option<(Vec<&'static str>, Vec<&'static str>)>> {
        let mut s = GroupState::default();
        steps
            .iter()
            .map(|(now, members)| {
                let (next, send) = group_step(&s, members, &G, *now);
                s = next;
                send.map(|x| {
                    let leak = |v: Vec<String>| -> Vec<&'static str> {
                        v.into_iter()
                            .map(|f| &*Box::leak(f.into_boxed_str()))
                            .collect()
                    };
                    (leak(x.firing), leak(x.resolved))
                })
            })
            .collect()
    }

    #[test]
    fn grouping_windows_table() {
        let a = |f| m("a", f, false, false);
        let b = |f| m("b", f, false, false);
        type Sent = Option<(Vec<&'static str>, Vec<&'static str>)>;
        let s = |f: &[&'static str], r: &[&'static str]| -> Sent { Some((f.to_vec(), r.to_vec())) };
        type Case = (&'static str, Vec<(i64, Vec<Member>)>, Vec<Sent>);
        let cases: Vec<Case> = vec![
            (
                "group_wait collects a second alert into the first notification",
                vec![
                    (0, vec![a(true)]),
                    (20, vec![a(true), b(true)]),
                    (30, vec![a(true), b(true)]),
                ],
                vec![None, None, s(&["a", "b"], &[])],
            ),
            (
                "a change waits for group_interval; unchanged repeats after repeat_interval",
                vec![
                    (0, vec![a(true)]),
                    (30, vec![a(true)]),
                    (100, vec![a(true), b(true)]),
                    (329, vec![a(true), b(true)]),
                    (330, vec![a(true), b(true)]),
                    (4_329, vec![a(true), b(true)]),
                    (4_330, vec![a(true), b(true)]),
                ],
                vec![
                    None,
                    s(&["a"], &[]),
                    None,
                    None,
                    s(&["a", "b"], &[]),
                    None,
                    s(&["a", "b"], &[]),
                ],
            ),
            (
                "resolved is announced once, after group_interval",
                vec![
                    (0, vec![a(true)]),
                    (30, vec![a(true)]),
                    (40, vec![a(false)]),
                    (330, vec![a(false)]),
                    (1_000, vec![a(false)]),
                    (10_000, vec![a(false)]),
                ],
                vec![None, s(&["a"], &[]), None, s(&[], &["a"]), None, None],
            ),
            (
                "silence: nothing sent while silenced, re-announced after it ends",
                vec![
                    (0, vec![m("a", true, true, false)]),
                    (100, vec![m("a", true, true, false)]),
                    (200, vec![a(true)]),
                    (230, vec![a(true)]),
                ],
                vec![None, None, None, s(&["a"], &[])],
            ),
            (
                "silence starting while firing stops repeats and hides the resolve",
                vec![
                    (0, vec![a(true)]),
                    (30, vec![a(true)]),
                    (5_000, vec![m("a", true, true, false)]),
                    (6_000, vec![m("a", false, true, false)]),
                    (7_000, vec![a(false)]),
                ],
                vec![None, s(&["a"], &[]), None, None, None],
            ),
            (
                "ack stops repeats; the resolve is still announced",
                vec![
                    (0, vec![a(true)]),
                    (30, vec![a(true)]),
                    (5_000, vec![m("a", true, false, true)]),
                    (9_000, vec![m("a", true, false, true)]),
                    (9_100, vec![a(false)]),
                ],
                vec![None, s(&["a"], &[]), None, None, s(&[], &["a"])],
            ),
            (
                "ack then re-fire: announced again as a new group",
                vec![
                    (0, vec![a(true)]),
                    (30, vec![a(true)]),
                    (40, vec![m("a", true, false, true)]),
                    (400, vec![a(false)]),
                    (500, vec![a(true)]),
                    (530, vec![a(true)]),
                ],
                vec![
                    None,
                    s(&["a"], &[]),
                    None,
                    s(&[], &["a"]),
                    None,
                    s(&["a"], &[]),
                ],
            ),
        ];
        for (name, steps, expected) in cases {
            assert_eq!(group(&steps), expected, "{name}");
        }
    }
}
