//! Line-level scoring on generated store fleets (`fleetlog_tests::scenario`), judged per
//! incident kind rather than per line.
//!
//! Three seeds; every line goes through the agent's classifier (`fleetlog_agent::classify`:
//! per-source format detection, level field, keywords, class), once without a model and once
//! with a baseline trained, as `fleetlog-collector train` does, on the message content of the
//! healthy prefix of the run. Per incident kind it reports the share of the incident's scored
//! lines at or above their expected severity (key lines: the incident's; supporting lines:
//! medium), with the expected class, and both; per decoy kind (business noise) the share
//! flagged high or worse. Run with `--nocapture` for the table.
#![allow(clippy::print_stdout, clippy::unwrap_used)] // A test reports by printing and by panicking.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use fleetlog_agent::classify::{Classifier, Model};
use fleetlog_lines::baseline::BaselineBuilder;
use fleetlog_lines::detect::{Detector, DetectorConfig};
use fleetlog_lines::score::Severity;
use fleetlog_tests::scenario::{Expected, Fleet, Label, Params, generate};

const SEEDS: [u64; 3] = [11, 2024, 777];

/// Every incident kind: share of scored lines at the expected severity *and* class.
const INCIDENT_FLOOR: f64 = 90.0;
/// All decoys together: share flagged high or worse.
const DECOY_CEILING: f64 = 5.0;
/// Any one decoy kind: share flagged high or worse.
const DECOY_KIND_CEILING: f64 = 15.0;
/// Normal traffic: share flagged high or worse.
const NORMAL_CEILING: f64 = 0.5;

/// What the agent says about one line.
struct Verdict {
    severity: Severity,
    class: Option<String>,
}

fn judge(c: &mut Classifier, source: &str, text: &str) -> Verdict {
    let v = c.classify(source, text);
    Verdict {
        severity: v.severity,
        class: c.class_id(&v).map(str::to_owned),
    }
}

fn baseline_model(fleet: &Fleet) -> Model {
    let mut b = BaselineBuilder::default();
    for h in &fleet.hosts {
        for s in &h.services {
            let mut det = Detector::new(DetectorConfig::with_year(2026));
            for l in s
                .lines
                .iter()
                .filter(|l| l.ts_ms < fleet.healthy_until_ms())
            {
                let p = det.parse(&l.text);
                b.add(&p.content, p.timestamp_ms);
            }
        }
    }
    let json = serde_json::to_vec(&b.finish()).unwrap();
    Model::from_json(1, &json).unwrap()
}

fn severity_of(e: Expected) -> Severity {
    match e {
        Expected::Medium => Severity::Medium,
        Expected::High => Severity::High,
    }
}

#[derive(Default, Clone, Copy)]
struct Tally {
    lines: usize,
    severity_ok: usize,
    class_ok: usize,
    both: usize,
    /// Lines whose severity is lower with the baseline than without.
    dropped: usize,
}

#[derive(Default)]
struct Report {
    /// (kind, with baseline) -> tally.
    incidents: BTreeMap<(String, bool), Tally>,
    /// (decoy kind, with baseline) -> (lines, flagged high+).
    decoys: BTreeMap<(String, bool), (usize, usize)>,
    /// with baseline -> (normal lines, flagged high+).
    normal: BTreeMap<bool, (usize, usize)>,
}

fn evaluate(fleet: &Fleet, report: &mut Report) {
    let model = Arc::new(baseline_model(fleet));
    for h in &fleet.hosts {
        // One agent per host.
        let mut plain = Classifier::default();
        let mut with = Classifier::with_model(model.clone());
        for s in &h.services {
            let source = format!("/var/log/{}/{}.log", h.name, s.service);
            for l in &s.lines {
                let a = judge(&mut plain, &source, &l.text);
                let b = judge(&mut with, &source, &l.text);
                for (verdict, baseline) in [(&a, false), (&b, true)] {
                    match l.label {
                        Label::Incident { index, role } => {
                            let inc = &fleet.incidents[index];
                            let Some(expected) = role.expected(inc.severity) else {
                                continue;
                            };
                            let kind = if inc.regression_of.is_some() {
                                format!("{} (regression)", inc.kind)
                            } else {
                                inc.kind.to_owned()
                            };
                            let t = report.incidents.entry((kind, baseline)).or_default();
                            let sev = verdict.severity >= severity_of(expected);
                            let class = verdict.class.as_deref() == inc.class;
                            t.lines += 1;
                            t.severity_ok += usize::from(sev);
                            t.class_ok += usize::from(class);
                            t.both += usize::from(sev && class);
                            t.dropped += usize::from(baseline && b.severity < a.severity);
                        }
                        Label::Decoy { index } => {
                            let d = report
                                .decoys
                                .entry((fleet.decoys[index].kind.to_owned(), baseline))
                                .or_default();
                            d.0 += 1;
                            d.1 += usize::from(verdict.severity >= Severity::High);
                        }
                        Label::Normal => {
                            let n = report.normal.entry(baseline).or_default();
                            n.0 += 1;
                            n.1 += usize::from(verdict.severity >= Severity::High);
                        }
                    }
                }
            }
        }
    }
}

fn pct(n: usize, d: usize) -> f64 {
    100.0 * n as f64 / d.max(1) as f64
}

#[test]
fn incidents_are_scored_and_classed_decoys_stay_quiet() {
    let mut report = Report::default();
    for seed in SEEDS {
        let fleet = generate(Params {
            seed,
            hosts: 9,
            minutes: 180,
            lines_per_min: 40,
            ..Params::default()
        });
        evaluate(&fleet, &mut report);
    }
    println!("seeds {SEEDS:?}, 9 hosts x 7 services, 180 min, 40 lines/min/host");
    println!(
        "{:<30} {:>6} | {:>7} {:>7} {:>7} | {:>7} {:>7} {:>7} {:>6}",
        "incident kind", "lines", "sev%", "class%", "both%", "sev%", "class%", "both%", "drop"
    );
    println!(
        "{:<37} | {:^23} | {:^23}",
        "", "no baseline", "with baseline"
    );
    let kinds: BTreeSet<String> = report.incidents.keys().map(|(k, _)| k.clone()).collect();
    let mut failures = Vec::new();
    for kind in &kinds {
        let a = report.incidents[&(kind.clone(), false)];
        let b = report.incidents[&(kind.clone(), true)];
        println!(
            "{:<30} {:>6} | {:>7.1} {:>7.1} {:>7.1} | {:>7.1} {:>7.1} {:>7.1} {:>6}",
            kind,
            a.lines,
            pct(a.severity_ok, a.lines),
            pct(a.class_ok, a.lines),
            pct(a.both, a.lines),
            pct(b.severity_ok, b.lines),
            pct(b.class_ok, b.lines),
            pct(b.both, b.lines),
            b.dropped
        );
        for (t, with) in [(a, "without"), (b, "with")] {
            if pct(t.both, t.lines) < INCIDENT_FLOOR {
                failures.push(format!(
                    "{kind} {with} baseline: {:.1} % < {INCIDENT_FLOOR} %",
                    pct(t.both, t.lines)
                ));
            }
        }
        if b.dropped > 0 {
            failures.push(format!(
                "{kind}: {} lines score lower with the baseline",
                b.dropped
            ));
        }
    }
    println!(
        "{:<30} {:>6} | {:>23} | {:>23}",
        "decoy kind", "lines", "high+% no baseline", "high+% with baseline"
    );
    let decoy_kinds: BTreeSet<String> = report.decoys.keys().map(|(k, _)| k.clone()).collect();
    let mut all = [(0, 0); 2];
    for kind in &decoy_kinds {
        let a = report.decoys[&(kind.clone(), false)];
        let b = report.decoys[&(kind.clone(), true)];
        println!(
            "{:<30} {:>6} | {:>23.1} | {:>23.1}",
            kind,
            a.0,
            pct(a.1, a.0),
            pct(b.1, b.0)
        );
        for (i, t) in [a, b].into_iter().enumerate() {
            all[i].0 += t.0;
            all[i].1 += t.1;
            if pct(t.1, t.0) > DECOY_KIND_CEILING {
                failures.push(format!(
                    "decoy {kind}: {:.1} % high+ > {DECOY_KIND_CEILING} %",
                    pct(t.1, t.0)
                ));
            }
        }
    }
    println!(
        "{:<30} {:>6} | {:>23.1} | {:>23.1}",
        "all decoys",
        all[0].0,
        pct(all[0].1, all[0].0),
        pct(all[1].1, all[1].0)
    );
    for t in all {
        if pct(t.1, t.0) > DECOY_CEILING {
            failures.push(format!(
                "decoys: {:.1} % high+ > {DECOY_CEILING} %",
                pct(t.1, t.0)
            ));
        }
    }
    let (na, nb) = (report.normal[&false], report.normal[&true]);
    println!(
        "{:<30} {:>6} | {:>23.2} | {:>23.2}",
        "normal traffic",
        na.0,
        pct(na.1, na.0),
        pct(nb.1, nb.0)
    );
    for t in [na, nb] {
        if pct(t.1, t.0) > NORMAL_CEILING {
            failures.push(format!(
                "normal traffic: {:.2} % high+ > {NORMAL_CEILING} %",
                pct(t.1, t.0)
            ));
        }
    }
    assert!(kinds.len() >= 10, "{kinds:?}");
    assert!(failures.is_empty(), "{failures:#?}");
}
