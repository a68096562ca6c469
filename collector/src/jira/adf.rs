//! Atlassian Document Format (ADF) for ticket descriptions and comments: pure builders over
//! an incident's facts, no I/O. Jira Cloud REST v3 takes descriptions and comment bodies as
//! ADF JSON (`{"type": "doc", "version": 1, "content": [...]}`).

use serde_json::{Value, json};

use crate::incidents::decide::Incident;

/// Longest summary Jira accepts is 255 characters.
pub const MAX_SUMMARY_CHARS: usize = 255;
/// Sample lines shown in a description or comment, and their length.
pub const MAX_SAMPLE_LINES: usize = 5;
pub const MAX_SAMPLE_CHARS: usize = 500;

/// What a ticket says about an incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts<'a> {
    pub incident_id: i64,
    pub incident: &'a Incident,
    pub confidence: f64,
    /// Class title and suggested fix, when the incident has a known class.
    pub class_title: Option<String>,
    pub fix: Option<String>,
    /// Link to the incident on the dashboard (absent when no dashboard URL is configured).
    pub link: Option<String>,
}

fn text(s: impl Into<String>) -> Value {
    json!({ "type": "text", "text": s.into() })
}

fn strong(s: impl Into<String>) -> Value {
    json!({ "type": "text", "text": s.into(), "marks": [{ "type": "strong" }] })
}

fn paragraph(content: Vec<Value>) -> Value {
    json!({ "type": "paragraph", "content": content })
}

fn heading(level: u8, s: &str) -> Value {
    json!({ "type": "heading", "attrs": { "level": level }, "content": [text(s)] })
}

fn field(name: &str, value: impl Into<String>) -> Value {
    json!({
        "type": "listItem",
        "content": [paragraph(vec![strong(format!("{name}: ")), text(value)])]
    })
}

fn code_block(lines: &[String]) -> Value {
    json!({
        "type": "codeBlock",
        "attrs": { "language": "text" },
        "content": [text(lines.join("\n"))]
    })
}

fn link(url: &str) -> Value {
    paragraph(vec![
        text("Incident on the dashboard: "),
        json!({ "type": "text", "text": url, "marks": [{ "type": "link", "attrs": { "href": url } }] }),
    ])
}

fn doc(content: Vec<Value>) -> Value {
    json!({ "type": "doc", "version": 1, "content": content })
}

/// Epoch milliseconds as RFC 3339 UTC.
pub fn rfc3339(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| ms.to_string())
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// `[fleetlog] <service>: <title>`, on one line, at most 255 characters.
pub fn summary(inc: &Incident) -> String {
    let title: String = inc
        .title
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let service = inc.service.as_deref().unwrap_or("unknown service");
    clip(
        &format!("[fleetlog] {service}: {}", title.trim()),
        MAX_SUMMARY_CHARS,
    )
}

fn hosts_line(inc: &Incident) -> String {
    let shown: Vec<&str> = inc.hosts.iter().take(20).map(String::as_str).collect();
    let more = inc.host_count.saturating_sub(shown.len() as u64);
    if more > 0 {
        format!("{} ({} in all)", shown.join(", "), inc.host_count)
    } else {
        shown.join(", ")
    }
}

fn samples(inc: &Incident, limit: usize) -> Vec<String> {
    inc.samples
        .iter()
        .rev()
        .take(limit)
        .rev()
        .map(|s| clip(&format!("{} {}", s.host, s.line), MAX_SAMPLE_CHARS))
        .collect()
}

/// The description of a new ticket: summary, service, hosts, count, first/last seen, sample
/// lines as a code block, class and suggested fix, and the dashboard link.
pub fn description(f: &Facts<'_>) -> Value {
    let inc = f.incident;
    let mut content = vec![
        paragraph(vec![text(clip(&inc.title, 2000))]),
        heading(3, "Incident"),
        json!({
            "type": "bulletList",
            "content": [
                field("Service", inc.service.clone().unwrap_or_else(|| "unknown".into())),
                field("Severity", inc.severity.as_str()),
                field("Confidence", format!("{:.2}", f.confidence)),
                field("Hosts affected", hosts_line(inc)),
                field("Occurrences", inc.count.to_string()),
                field("First seen", rfc3339(inc.first_seen_ms)),
                field("Last seen", rfc3339(inc.last_seen_ms)),
                field("Fingerprint", inc.fingerprint.clone()),
            ]
        }),
    ];
    let lines = samples(inc, MAX_SAMPLE_LINES);
    if !lines.is_empty() {
        content.push(heading(3, "Sample lines"));
        content.push(code_block(&lines));
    }
    if let Some(class) = inc.class.as_deref() {
        content.push(heading(3, "Class and suggested fix"));
        let title = f.class_title.clone().unwrap_or_else(|| class.to_owned());
        content.push(paragraph(vec![strong(format!("{title} ({class})"))]));
        if let Some(fix) = &f.fix {
            content.push(paragraph(vec![text(fix.clone())]));
        }
    }
    if let Some(url) = &f.link {
        content.push(link(url));
    }
    doc(content)
}

/// A comment summarising repeats: new occurrences, new hosts, last seen, one sample line.
pub fn repeats_comment(f: &Facts<'_>, new_events: u64, new_hosts: u64) -> Value {
    let inc = f.incident;
    let mut content = vec![
        paragraph(vec![strong(format!(
            "{new_events} new occurrences, {new_hosts} new hosts since the last update."
        ))]),
        json!({
            "type": "bulletList",
            "content": [
                field("Occurrences in all", inc.count.to_string()),
                field("Hosts affected", hosts_line(inc)),
                field("Last seen", rfc3339(inc.last_seen_ms)),
                field("Status", inc.status.as_str()),
            ]
        }),
    ];
    let lines = samples(inc, 1);
    if !lines.is_empty() {
        content.push(code_block(&lines));
    }
    if let Some(url) = &f.link {
        content.push(link(url));
    }
    doc(content)
}

/// The comment posted with a reopen: the incident came back.
pub fn regression_comment(f: &Facts<'_>) -> Value {
    let inc = f.incident;
    let mut content = vec![
        paragraph(vec![strong(format!(
            "The incident regressed (regression {}): seen again after it was resolved.",
            inc.regressions
        ))]),
        json!({
            "type": "bulletList",
            "content": [
                field("Occurrences in all", inc.count.to_string()),
                field("Hosts affected", hosts_line(inc)),
                field("Last seen", rfc3339(inc.last_seen_ms)),
            ]
        }),
    ];
    let lines = samples(inc, 1);
    if !lines.is_empty() {
        content.push(code_block(&lines));
    }
    if let Some(url) = &f.link {
        content.push(link(url));
    }
    doc(content)
}

/// Every text node's text in document order (tests and previews).
pub fn plain_text(v: &Value) -> String {
    let mut out = String::new();
    fn walk(v: &Value, out: &mut String) {
        if v.get("type").and_then(Value::as_str) == Some("text")
            && let Some(t) = v.get("text").and_then(Value::as_str)
        {
            out.push_str(t);
            out.push('\n');
        }
        if let Some(items) = v.get("content").and_then(Value::as_array) {
            for c in items {
                walk(c, out);
            }
        }
    }
    walk(v, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incidents::decide::{Sample, Status};
    use fleetlog_protocol::Level;

    fn inc() -> Incident {
        Incident {
            fingerprint: "a1b2c3".into(),
            status: Status::Open,
            worst: Level::Critical,
            severity: Level::Critical,
            class: Some("payment_terminal".into()),
            service: Some("pos".into()),
            title: "ERROR terminal offline\tretrying".into(),
            first_seen_ms: 1_700_000_000_000,
            last_seen_ms: 1_700_000_060_000,
            count: 42,
            hosts: ["pos-1".to_owned(), "pos-2".to_owned()]
                .into_iter()
                .collect(),
            host_count: 2,
            samples: vec![Sample {
                event_id: 1,
                host: "pos-1".into(),
                ts_ms: 1_700_000_000_000,
                line: "ERROR terminal offline".into(),
            }],
            window_start_ms: 0,
            window_count: 0,
            window: Default::default(),
            opened_ms: Some(1),
            resolved_ms: None,
            regressions: 0,
        }
    }

    #[test]
    fn description_carries_every_fact() {
        let i = inc();
        let f = Facts {
            incident_id: 7,
            incident: &i,
            confidence: 0.93,
            class_title: Some("Payment terminal".into()),
            fix: Some("Power-cycle the terminal.".into()),
            link: Some("https://fleet.example/incidents/7".into()),
        };
        let d = description(&f);
        assert_eq!(d["type"], "doc");
        assert_eq!(d["version"], 1);
        let t = plain_text(&d);
        for want in [
            "pos",
            "pos-1, pos-2",
            "42",
            "2023-11-14T22:13:20Z",
            "2023-11-14T22:14:20Z",
            "pos-1 ERROR terminal offline",
            "Payment terminal (payment_terminal)",
            "Power-cycle the terminal.",
            "https://fleet.example/incidents/7",
            "0.93",
        ] {
            assert!(t.contains(want), "{want} missing from {t}");
        }
        assert!(d.to_string().contains("\"codeBlock\""));
        assert_eq!(
            summary(&i),
            "[fleetlog] pos: ERROR terminal offline retrying"
        );
        let long = Incident {
            title: "x".repeat(400),
            ..inc()
        };
        assert_eq!(summary(&long).chars().count(), MAX_SUMMARY_CHARS);
    }

    #[test]
    fn comments_summarise() {
        let i = inc();
        let f = Facts {
            incident_id: 7,
            incident: &i,
            confidence: 0.9,
            class_title: None,
            fix: None,
            link: None,
        };
        let t = plain_text(&repeats_comment(&f, 40, 1));
        assert!(t.contains("40 new occurrences, 1 new hosts"), "{t}");
        assert!(t.contains("pos-1 ERROR terminal offline"), "{t}");
        let t = plain_text(&regression_comment(&f));
        assert!(t.contains("regressed"), "{t}");
    }
}
