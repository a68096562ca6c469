//! The ticket decider: a pure function of (incident, its confidence, its ticket, policy,
//! now) with no I/O and no clock. `jira::worker` loads the inputs and writes the decision
//! with its outbox message in one transaction.
//!
//! Rules, in order:
//! - automation off, or the incident still pending → skip;
//! - no ticket yet: a resolved incident is skipped; otherwise the incident's severity band
//!   (critical, high, medium, low, info; see [`Band::of`]) has a confidence threshold
//!   ([`Thresholds`], `None` = never) and the incident's confidence must reach it → create;
//! - a ticket whose create is still in flight → skip (wait for it);
//! - the incident regressed more often than the ticket knows → reopen (a transition, with
//!   a comment on the comeback);
//! - new occurrences since the last comment (or the create) → one comment summarising them
//!   once `comment_interval` has passed since the last one; before that → skip, so repeats
//!   become at most one comment per interval, never one per line.
//!
//! **Confidence** of an incident is the highest stored confidence (`events.score`) of its
//! events: an incident opens on its strongest evidence and its severity is its worst
//! event's, so the maximum is the figure consistent with both; a mean would let the many
//! weak mentions that accompany a real outage (and that the incident decider counts too)
//! pull a clear critical below a threshold. Because severity bands that same confidence,
//! the default thresholds mostly matter for incidents whose severity was raised by spread
//! (a medium problem on many hosts is "high" but its confidence stays below 0.5).

use std::time::Duration;

use fleetlog_protocol::Level;
use serde::{Deserialize, Serialize};

use crate::incidents::decide::{Incident, Status};

/// The five severity bands tickets are decided on (the scorer's bands).
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
pub enum Band {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Band {
    /// An incident's severity as a band: critical → critical, error → high, warn → medium,
    /// info → low, debug and trace → info.
    pub fn of(level: Level) -> Band {
        match level {
            Level::Critical => Band::Critical,
            Level::Error => Band::High,
            Level::Warn => Band::Medium,
            Level::Info => Band::Low,
            Level::Debug | Level::Trace => Band::Info,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Band::Info => "info",
            Band::Low => "low",
            Band::Medium => "medium",
            Band::High => "high",
            Band::Critical => "critical",
        }
    }
}

/// Confidence needed per band to open a ticket; `None` means never (`0.0` always).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    pub critical: Option<f64>,
    pub high: Option<f64>,
    pub medium: Option<f64>,
    pub low: Option<f64>,
    pub info: Option<f64>,
}

impl Default for Thresholds {
    /// Critical always, high ≥ 0.5, medium ≥ 0.8, low and info never.
    fn default() -> Self {
        Thresholds {
            critical: Some(0.0),
            high: Some(0.5),
            medium: Some(0.8),
            low: None,
            info: None,
        }
    }
}

impl Thresholds {
    pub fn get(&self, band: Band) -> Option<f64> {
        match band {
            Band::Critical => self.critical,
            Band::High => self.high,
            Band::Medium => self.medium,
            Band::Low => self.low,
            Band::Info => self.info,
        }
    }

    /// The first threshold outside `0.0..=1.0`, by band name.
    pub fn invalid(&self) -> Option<&'static str> {
        [
            Band::Critical,
            Band::High,
            Band::Medium,
            Band::Low,
            Band::Info,
        ]
        .into_iter()
        .find(|b| {
            self.get(*b)
                .is_some_and(|t| !(0.0..=1.0).contains(&t) || t.is_nan())
        })
        .map(Band::as_str)
    }
}

/// The rules (`automation.*` keys, editable through `PUT /api/v1/automation`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    pub enabled: bool,
    pub thresholds: Thresholds,
    /// At most one comment about repeats per this interval (wall clock).
    pub comment_interval: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            enabled: true,
            thresholds: Thresholds::default(),
            comment_interval: Duration::from_secs(3600),
        }
    }
}

/// Where a ticket is, as the decider sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketView {
    /// The Jira key once the create is confirmed; `None` while it is in flight.
    pub key: Option<String>,
    /// Regressions of the incident this ticket has been reopened (or created) for.
    pub regressions_seen: u32,
    /// Incident events and hosts already told to Jira (create or last comment).
    pub told_events: u64,
    pub told_hosts: u64,
    /// When the last comment (or the create) was decided, wall clock.
    pub last_told_ms: i64,
}

/// What to do about an incident.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Create,
    Comment { new_events: u64, new_hosts: u64 },
    Reopen,
    Skip,
}

impl Action {
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Comment { .. } => "comment",
            Action::Reopen => "reopen",
            Action::Skip => "skip",
        }
    }
}

/// Why; [`Reason::code`] is stable (stored, and used to record a skip only once).
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    AutomationOff,
    NotOpenYet,
    ResolvedWithoutTicket,
    BandNever(Band),
    BelowThreshold {
        band: Band,
        confidence: f64,
        threshold: f64,
    },
    AboveThreshold {
        band: Band,
        confidence: f64,
        threshold: f64,
    },
    CreateInFlight,
    Regressed(u32),
    Repeats {
        new_events: u64,
        new_hosts: u64,
    },
    IntervalNotElapsed {
        wait_ms: i64,
    },
    NothingNew,
}

impl Reason {
    pub fn code(&self) -> &'static str {
        match self {
            Reason::AutomationOff => "automation_off",
            Reason::NotOpenYet => "not_open_yet",
            Reason::ResolvedWithoutTicket => "resolved_without_ticket",
            Reason::BandNever(_) => "band_never",
            Reason::BelowThreshold { .. } => "below_threshold",
            Reason::AboveThreshold { .. } => "above_threshold",
            Reason::CreateInFlight => "create_in_flight",
            Reason::Regressed(_) => "regressed",
            Reason::Repeats { .. } => "repeats",
            Reason::IntervalNotElapsed { .. } => "interval_not_elapsed",
            Reason::NothingNew => "nothing_new",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::AutomationOff => write!(f, "automation is off"),
            Reason::NotOpenYet => write!(f, "the incident is still pending"),
            Reason::ResolvedWithoutTicket => {
                write!(f, "the incident resolved before a ticket was due")
            }
            Reason::BandNever(b) => write!(f, "{} incidents never get a ticket", b.as_str()),
            Reason::BelowThreshold {
                band,
                confidence,
                threshold,
            } => write!(
                f,
                "{} incident with confidence {confidence:.2} below the threshold {threshold:.2}",
                band.as_str()
            ),
            Reason::AboveThreshold {
                band,
                confidence,
                threshold,
            } => write!(
                f,
                "{} incident with confidence {confidence:.2} at or above the threshold {threshold:.2}",
                band.as_str()
            ),
            Reason::CreateInFlight => write!(f, "the ticket's create is still in flight"),
            Reason::Regressed(n) => write!(f, "the incident regressed (regression {n})"),
            Reason::Repeats {
                new_events,
                new_hosts,
            } => write!(
                f,
                "{new_events} new occurrences on {new_hosts} new hosts since the last update"
            ),
            Reason::IntervalNotElapsed { wait_ms } => write!(
                f,
                "repeats wait for the comment interval ({} s left)",
                (wait_ms + 999) / 1000
            ),
            Reason::NothingNew => write!(f, "nothing new since the last update"),
        }
    }
}

/// A decision: what and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub action: Action,
    pub reason: Reason,
}

fn skip(reason: Reason) -> Decision {
    Decision {
        action: Action::Skip,
        reason,
    }
}

/// Decides what to do about `inc` (with `confidence`, see the module doc) given its ticket,
/// at wall-clock `now_ms`. `fresh` says the incident opened or regressed since the worker
/// last looked: one that has already resolved again still gets its ticket (a real incident
/// that came and went between two looks), while an old resolved one never does.
pub fn decide(
    inc: &Incident,
    confidence: f64,
    ticket: Option<&TicketView>,
    fresh: bool,
    policy: &Policy,
    now_ms: i64,
) -> Decision {
    if !policy.enabled {
        return skip(Reason::AutomationOff);
    }
    if inc.status == Status::Pending {
        return skip(Reason::NotOpenYet);
    }
    let Some(t) = ticket else {
        if inc.status == Status::Resolved && !fresh {
            return skip(Reason::ResolvedWithoutTicket);
        }
        let band = Band::of(inc.severity);
        return match policy.thresholds.get(band) {
            None => skip(Reason::BandNever(band)),
            Some(threshold) if confidence < threshold => skip(Reason::BelowThreshold {
                band,
                confidence,
                threshold,
            }),
            Some(threshold) => Decision {
                action: Action::Create,
                reason: Reason::AboveThreshold {
                    band,
                    confidence,
                    threshold,
                },
            },
        };
    };
    if t.key.is_none() {
        return skip(Reason::CreateInFlight);
    }
    if inc.regressions > t.regressions_seen && inc.status != Status::Resolved {
        return Decision {
            action: Action::Reopen,
            reason: Reason::Regressed(inc.regressions),
        };
    }
    let new_events = inc.count.saturating_sub(t.told_events);
    if new_events == 0 {
        return skip(Reason::NothingNew);
    }
    let interval = i64::try_from(policy.comment_interval.as_millis()).unwrap_or(i64::MAX);
    let due = t.last_told_ms.saturating_add(interval);
    if now_ms < due {
        return skip(Reason::IntervalNotElapsed {
            wait_ms: due - now_ms,
        });
    }
    let new_hosts = inc.host_count.saturating_sub(t.told_hosts);
    Decision {
        action: Action::Comment {
            new_events,
            new_hosts,
        },
        reason: Reason::Repeats {
            new_events,
            new_hosts,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn incident(
        status: Status,
        severity: Level,
        count: u64,
        hosts: u64,
        regressions: u32,
    ) -> Incident {
        Incident {
            fingerprint: "fp".into(),
            status,
            worst: severity,
            severity,
            class: None,
            service: Some("pos".into()),
            title: "t".into(),
            first_seen_ms: 0,
            last_seen_ms: 0,
            count,
            hosts: BTreeSet::new(),
            host_count: hosts,
            samples: Vec::new(),
            window_start_ms: 0,
            window_count: 0,
            window: Default::default(),
            opened_ms: Some(0),
            resolved_ms: None,
            regressions,
        }
    }

    fn ticket(key: Option<&str>, seen: u32, events: u64, hosts: u64, at: i64) -> TicketView {
        TicketView {
            key: key.map(str::to_owned),
            regressions_seen: seen,
            told_events: events,
            told_hosts: hosts,
            last_told_ms: at,
        }
    }

    const H: i64 = 3_600_000;

    #[test]
    fn decisions_table() {
        use Level::*;
        use Status::*;
        let off = Policy {
            enabled: false,
            ..Policy::default()
        };
        let d = Policy::default();
        let t_open = ticket(Some("OPS-1"), 0, 10, 1, 0);
        #[rustfmt::skip]
        type Case<'a> = (
            &'a str,
            Incident,
            f64,
            Option<TicketView>,
            Policy,
            i64,
            &'a str,
            &'a str,
        );
        let cases: Vec<Case<'_>> = vec![
            (
                "off",
                incident(Open, Critical, 1, 1, 0),
                0.99,
                None,
                off,
                0,
                "skip",
                "automation_off",
            ),
            (
                "pending",
                incident(Pending, Critical, 1, 1, 0),
                0.99,
                None,
                d,
                0,
                "skip",
                "not_open_yet",
            ),
            (
                "critical always",
                incident(Open, Critical, 1, 1, 0),
                0.0,
                None,
                d,
                0,
                "create",
                "above_threshold",
            ),
            (
                "high at 0.5",
                incident(Open, Error, 3, 1, 0),
                0.5,
                None,
                d,
                0,
                "create",
                "above_threshold",
            ),
            (
                "high below",
                incident(Open, Error, 3, 1, 0),
                0.49,
                None,
                d,
                0,
                "skip",
                "below_threshold",
            ),
            (
                "medium at 0.8",
                incident(Open, Warn, 9, 1, 0),
                0.8,
                None,
                d,
                0,
                "create",
                "above_threshold",
            ),
            (
                "medium below",
                incident(Open, Warn, 9, 1, 0),
                0.79,
                None,
                d,
                0,
                "skip",
                "below_threshold",
            ),
            (
                "low never",
                incident(Open, Info, 9, 1, 0),
                1.0,
                None,
                d,
                0,
                "skip",
                "band_never",
            ),
            (
                "info never",
                incident(Open, Debug, 9, 1, 0),
                1.0,
                None,
                d,
                0,
                "skip",
                "band_never",
            ),
            (
                "resolved untracked",
                incident(Resolved, Critical, 9, 1, 0),
                1.0,
                None,
                d,
                0,
                "skip",
                "resolved_without_ticket",
            ),
            (
                "regressed untracked creates",
                incident(Regressed, Critical, 9, 1, 1),
                1.0,
                None,
                d,
                0,
                "create",
                "above_threshold",
            ),
            (
                "create in flight",
                incident(Open, Critical, 20, 1, 0),
                1.0,
                Some(ticket(None, 0, 10, 1, 0)),
                d,
                2 * H,
                "skip",
                "create_in_flight",
            ),
            (
                "nothing new",
                incident(Open, Critical, 10, 1, 0),
                1.0,
                Some(t_open.clone()),
                d,
                2 * H,
                "skip",
                "nothing_new",
            ),
            (
                "repeats wait",
                incident(Open, Critical, 50, 1, 0),
                1.0,
                Some(t_open.clone()),
                d,
                H - 1,
                "skip",
                "interval_not_elapsed",
            ),
            (
                "repeats commented",
                incident(Open, Critical, 50, 3, 0),
                1.0,
                Some(t_open.clone()),
                d,
                H,
                "comment",
                "repeats",
            ),
            (
                "repeats after resolve",
                incident(Resolved, Critical, 50, 3, 0),
                1.0,
                Some(t_open.clone()),
                d,
                H,
                "comment",
                "repeats",
            ),
            (
                "regressed reopens",
                incident(Regressed, Critical, 11, 1, 1),
                1.0,
                Some(t_open.clone()),
                d,
                1,
                "reopen",
                "regressed",
            ),
            (
                "regression known",
                incident(Regressed, Critical, 10, 1, 1),
                1.0,
                Some(ticket(Some("OPS-1"), 1, 10, 1, 0)),
                d,
                1,
                "skip",
                "nothing_new",
            ),
            (
                "re-resolved no reopen",
                incident(Resolved, Critical, 10, 1, 1),
                1.0,
                Some(t_open.clone()),
                d,
                1,
                "skip",
                "nothing_new",
            ),
        ];
        for (name, inc, conf, t, policy, now, action, code) in cases {
            let got = decide(&inc, conf, t.as_ref(), false, &policy, now);
            assert_eq!(
                (got.action.as_str(), got.reason.code()),
                (action, code),
                "{name}: {got:?}"
            );
            assert!(!got.reason.to_string().is_empty());
        }
    }

    #[test]
    fn a_fresh_incident_that_already_resolved_still_gets_its_ticket() {
        let inc = incident(Status::Resolved, Level::Critical, 3, 1, 0);
        let d = Policy::default();
        assert_eq!(decide(&inc, 0.9, None, true, &d, 0).action, Action::Create);
        assert_eq!(
            decide(&inc, 0.9, None, false, &d, 0).reason,
            Reason::ResolvedWithoutTicket
        );
    }

    #[test]
    fn a_comment_summarises_new_occurrences_and_hosts() {
        let inc = incident(Status::Open, Level::Critical, 250, 4, 0);
        let t = ticket(Some("OPS-2"), 0, 10, 1, 0);
        let got = decide(&inc, 1.0, Some(&t), false, &Policy::default(), H);
        assert_eq!(
            got.action,
            Action::Comment {
                new_events: 240,
                new_hosts: 3
            }
        );
        assert_eq!(
            got.reason.to_string(),
            "240 new occurrences on 3 new hosts since the last update"
        );
    }

    #[test]
    fn a_thousand_repeats_within_an_interval_make_one_comment() {
        let policy = Policy::default();
        let mut t = ticket(Some("OPS-3"), 0, 1, 1, 0);
        let mut comments = 0;
        // One repeat every 3.6 s for 2 hours of wall clock: 2000 lines.
        for i in 1..=2000u64 {
            let now = i as i64 * 3_600;
            let inc = incident(Status::Open, Level::Critical, 1 + i, 1, 0);
            if let Action::Comment { .. } = decide(&inc, 1.0, Some(&t), false, &policy, now).action
            {
                comments += 1;
                t.told_events = inc.count;
                t.last_told_ms = now;
            }
        }
        assert_eq!(comments, 2);
    }

    #[test]
    fn thresholds_are_checked() {
        assert_eq!(Thresholds::default().invalid(), None);
        let bad = Thresholds {
            medium: Some(1.5),
            ..Thresholds::default()
        };
        assert_eq!(bad.invalid(), Some("medium"));
    }
}
