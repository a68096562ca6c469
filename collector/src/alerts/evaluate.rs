//! What a rule sees: its measure computed over a snapshot of the store, per scope.
//! Pure: the snapshot (counts, arrivals, heartbeats, incidents, labels) is loaded by the
//! worker; time is the snapshot's.

use std::collections::{BTreeMap, HashMap};

use super::rules::{Measure, RuleSpec, matches};

/// Counts of one (host, service, minute) by line time.
#[derive(Debug, Clone, PartialEq)]
pub struct MinuteRow {
    pub host: String,
    pub service: String,
    pub minute_ms: i64,
    pub lines: i64,
    /// Lines at error or critical.
    pub errors: i64,
    pub critical: i64,
    pub lag_ms_sum: i64,
}

/// An active incident, as the incident rule sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRow {
    pub id: i64,
    pub service: Option<String>,
    pub class: Option<String>,
    /// 1 low, 2 medium, 3 high, 4 critical.
    pub severity: f64,
    pub title: String,
    pub hosts: Vec<String>,
}

/// The store, as of one evaluation.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub now_ms: i64,
    /// The fleet's line-time watermark (windows end here).
    pub watermark_ms: i64,
    pub minutes: Vec<MinuteRow>,
    /// (host, service) → last arrival; service "" is the host as a whole.
    pub last_arrival: BTreeMap<(String, String), i64>,
    /// host → (buffer bytes, capacity) of each agent.
    pub buffers: BTreeMap<String, Vec<(u64, u64)>>,
    pub incidents: Vec<IncidentRow>,
    /// host → labels from its agents (store, site, ...).
    pub host_labels: HashMap<String, BTreeMap<String, String>>,
}

/// One scope's value under a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    /// A sentence a person can act on.
    pub summary: String,
}

/// Parameters of evaluation that are not per rule (`[alerts]` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvalParams {
    /// Fewer lines than this in the window make no error rate (one error in two lines
    /// is not 50 %).
    pub min_lines: i64,
}

impl Snapshot {
    fn labels(&self, host: &str, service: &str) -> BTreeMap<String, String> {
        let mut l = BTreeMap::new();
        if let Some(h) = self.host_labels.get(host) {
            for k in ["store", "site"] {
                if let Some(v) = h.get(k) {
                    l.insert(k.to_owned(), v.clone());
                }
            }
        }
        l.insert("host".into(), host.to_owned());
        if !service.is_empty() {
            l.insert("service".into(), service.to_owned());
        }
        l
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Every scope the rule's measure has a value for, that its scope matchers match.
pub fn measure(spec: &RuleSpec, snap: &Snapshot, p: &EvalParams) -> Vec<Candidate> {
    let window_ms = i64::try_from(spec.window_secs.saturating_mul(1_000)).unwrap_or(i64::MAX);
    let from = snap.watermark_ms.saturating_sub(window_ms);
    let mut out = Vec::new();
    let mut sums: BTreeMap<(&str, &str), (i64, i64, i64, i64)> = BTreeMap::new();
    if matches!(
        spec.measure,
        Measure::ErrorRate | Measure::CriticalEvents | Measure::ProcessingLag
    ) {
        for m in snap.minutes.iter().filter(|m| m.minute_ms >= from) {
            let e = sums.entry((&m.host, &m.service)).or_default();
            e.0 += m.lines;
            e.1 += m.errors;
            e.2 += m.critical;
            e.3 += m.lag_ms_sum;
        }
    }
    let mins = spec.window_secs / 60;
    match spec.measure {
        Measure::ErrorRate => {
            for ((host, service), (lines, errors, _, _)) in sums {
                if lines < p.min_lines.max(1) {
                    continue;
                }
                let value = round2(errors as f64 * 100.0 / lines as f64);
                out.push(Candidate {
                    labels: snap.labels(host, service),
                    value,
                    summary: format!(
                        "{service} on {host}: {value} % of lines are errors over {mins} min ({errors} of {lines})"
                    ),
                });
            }
        }
        Measure::CriticalEvents => {
            for ((host, service), (_, _, critical, _)) in sums {
                out.push(Candidate {
                    labels: snap.labels(host, service),
                    value: critical as f64,
                    summary: format!(
                        "{service} on {host}: {critical} critical lines over {mins} min"
                    ),
                });
            }
        }
        Measure::ProcessingLag => {
            for ((host, service), (lines, _, _, lag)) in sums {
                if lines == 0 {
                    continue;
                }
                let value = round2(lag as f64 / lines as f64 / 1_000.0);
                out.push(Candidate {
                    labels: snap.labels(host, service),
                    value,
                    summary: format!(
                        "{service} on {host}: lines arrive {value} s after they were written (mean over {mins} min)"
                    ),
                });
            }
        }
        Measure::Silence => {
            for ((host, service), last) in &snap.last_arrival {
                let value = ((snap.now_ms - last).max(0) / 1_000) as f64;
                let what = if service.is_empty() {
                    format!("host {host}")
                } else {
                    format!("{service} on {host}")
                };
                out.push(Candidate {
                    labels: snap.labels(host, service),
                    value,
                    summary: format!("{what} has sent nothing for {value} s"),
                });
            }
        }
        Measure::BufferUsage => {
            for (host, agents) in &snap.buffers {
                let worst = agents
                    .iter()
                    .filter(|(_, cap)| *cap > 0)
                    .map(|(b, cap)| *b as f64 * 100.0 / *cap as f64)
                    .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.max(v))));
                if let Some(v) = worst {
                    let value = round2(v);
                    out.push(Candidate {
                        labels: snap.labels(host, ""),
                        value,
                        summary: format!("the agent on {host} has filled {value} % of its buffer"),
                    });
                }
            }
        }
        Measure::Incident => {
            for i in &snap.incidents {
                let mut labels = BTreeMap::new();
                labels.insert("incident".to_owned(), i.id.to_string());
                if let Some(s) = &i.service {
                    labels.insert("service".into(), s.clone());
                }
                if let Some(c) = &i.class {
                    labels.insert("class".into(), c.clone());
                }
                if let [h] = i.hosts.as_slice() {
                    labels.insert("host".into(), h.clone());
                }
                out.push(Candidate {
                    labels,
                    value: i.severity,
                    summary: format!(
                        "incident {} on {} host(s): {}",
                        i.id,
                        i.hosts.len(),
                        i.title
                    ),
                });
            }
        }
    }
    out.retain(|c| matches(&spec.scope, &c.labels));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::rules::builtins;

    fn rule(name: &str) -> RuleSpec {
        builtins()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s)
            .unwrap_or_else(|| panic!("{name}"))
    }

    fn minute(
        host: &str,
        service: &str,
        m: i64,
        lines: i64,
        errors: i64,
        crit: i64,
        lag: i64,
    ) -> MinuteRow {
        MinuteRow {
            host: host.into(),
            service: service.into(),
            minute_ms: m * 60_000,
            lines,
            errors,
            critical: crit,
            lag_ms_sum: lag,
        }
    }

    fn snap() -> Snapshot {
        let mut s = Snapshot {
            now_ms: 10 * 60_000,
            watermark_ms: 10 * 60_000,
            ..Snapshot::default()
        };
        s.minutes = vec![
            // outside the 5-minute window: ignored
            minute("a", "pay", 4, 100, 100, 0, 0),
            minute("a", "pay", 5, 100, 3, 0, 1_000),
            minute("a", "pay", 9, 100, 4, 1, 1_000),
            minute("b", "web", 9, 5, 5, 0, 700_000),
        ];
        s.last_arrival
            .insert(("a".into(), String::new()), 9 * 60_000);
        s.last_arrival.insert(("c".into(), String::new()), 0);
        s.buffers.insert("a".into(), vec![(90, 100), (10, 100)]);
        s.buffers.insert("b".into(), vec![(5, 0)]);
        s.host_labels
            .insert("a".into(), [("store".to_owned(), "0042".to_owned())].into());
        s.incidents = vec![IncidentRow {
            id: 7,
            service: Some("pay".into()),
            class: Some("payment_terminal".into()),
            severity: 3.0,
            title: "terminal offline".into(),
            hosts: vec!["a".into()],
        }];
        s
    }

    fn values(name: &str, snap: &Snapshot) -> Vec<(String, f64)> {
        measure(&rule(name), snap, &EvalParams { min_lines: 10 })
            .into_iter()
            .map(|c| {
                (
                    c.labels
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(","),
                    c.value,
                )
            })
            .collect()
    }

    #[test]
    fn measures_table() {
        let s = snap();
        let cases: &[(&str, &[(&str, f64)])] = &[
            // 7 errors in 200 lines in the window; b has too few lines for a rate.
            ("error-rate", &[("host=a,service=pay,store=0042", 3.5)]),
            (
                "critical-event",
                &[
                    ("host=a,service=pay,store=0042", 1.0),
                    ("host=b,service=web", 0.0),
                ],
            ),
            (
                "processing-lag",
                &[
                    ("host=a,service=pay,store=0042", 0.01),
                    ("host=b,service=web", 140.0),
                ],
            ),
            ("silent", &[("host=a,store=0042", 60.0), ("host=c", 600.0)]),
            ("agent-buffer", &[("host=a,store=0042", 90.0)]),
            (
                "incident",
                &[("class=payment_terminal,host=a,incident=7,service=pay", 3.0)],
            ),
        ];
        for (name, want) in cases {
            let want: Vec<(String, f64)> =
                want.iter().map(|(l, v)| ((*l).to_owned(), *v)).collect();
            assert_eq!(values(name, &s), want, "{name}");
        }
    }

    #[test]
    fn scope_matchers_filter_candidates() {
        let s = snap();
        let mut spec = rule("critical-event");
        spec.scope.insert("store".into(), "0042".into());
        let c = measure(&spec, &s, &EvalParams { min_lines: 1 });
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].labels.get("host").map(String::as_str), Some("a"));
        spec.scope.insert("service".into(), "web".into());
        assert!(measure(&spec, &s, &EvalParams { min_lines: 1 }).is_empty());
    }
}
