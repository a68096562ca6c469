//! The live stream's content: the store's change feeds (unhealthy events, health
//! changes, incident changes, alert changes — each a table with a growing id) merged
//! into one sequence of typed items, with a composite position (`cursor.rs`) that is the
//! SSE event id, so `Last-Event-ID` resumes exactly where a client stopped.
//! `feed.rs` reads the tables; filters are pure (`Filter::admits`).

pub mod cursor;
pub mod feed;
pub mod pump;

use serde::Serialize;

pub use cursor::Position;

/// The kinds of item, as `types=` names them.
pub const TYPES: &[&str] = &["event", "health", "incident", "alert"];

/// One item of the stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    /// `event`, `health`, `incident` or `alert`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The row id in its feed.
    pub id: i64,
    pub host: Option<String>,
    pub service: Option<String>,
    /// 0 info, 1 medium (warn), 2 high (error), 3 critical.
    pub severity: u8,
    pub ts_ms: i64,
    /// The row, for display.
    pub data: serde_json::Value,
}

/// What a client asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Empty: every type.
    pub types: Vec<String>,
    pub host: Option<String>,
    pub service: Option<String>,
    pub min_severity: u8,
}

/// A severity name as a rank.
pub fn severity_rank(s: &str) -> Option<u8> {
    Some(match s {
        "info" | "healthy" | "resolved" | "inactive" => 0,
        "warn" | "medium" | "warning" | "degraded" | "pending" => 1,
        "error" | "high" | "down" | "silent" | "firing" => 2,
        "critical" => 3,
        _ => return None,
    })
}

impl Filter {
    /// A filter from its query form: `types` comma-separated (each one of [`TYPES`]),
    /// `min_severity` a severity name. The error says which value is wrong.
    pub fn parse(
        types: Option<&str>,
        host: Option<String>,
        service: Option<String>,
        min_severity: Option<&str>,
    ) -> Result<Filter, String> {
        let mut filter = Filter {
            host,
            service,
            ..Filter::default()
        };
        for t in types
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            if !TYPES.contains(&t) {
                return Err(format!("type `{t}` is not one of {}", TYPES.join(", ")));
            }
            filter.types.push(t.to_owned());
        }
        if let Some(s) = min_severity {
            filter.min_severity = severity_rank(s).ok_or_else(|| {
                format!("min_severity `{s}` is not info, warn, error or critical")
            })?;
        }
        Ok(filter)
    }

    /// Whether the client gets `item`.
    pub fn admits(&self, item: &Item) -> bool {
        (self.types.is_empty() || self.types.iter().any(|t| t == item.kind))
            && self
                .host
                .as_ref()
                .is_none_or(|h| item.host.as_deref() == Some(h.as_str()))
            && self
                .service
                .as_ref()
                .is_none_or(|s| item.service.as_deref() == Some(s.as_str()))
            && item.severity >= self.min_severity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_table() {
        let item = Item {
            kind: "event",
            id: 1,
            host: Some("pos-1".into()),
            service: Some("pay".into()),
            severity: 2,
            ts_ms: 0,
            data: serde_json::Value::Null,
        };
        let f = |types: &[&str], host: Option<&str>, service: Option<&str>, min: u8| Filter {
            types: types.iter().map(|s| (*s).to_owned()).collect(),
            host: host.map(str::to_owned),
            service: service.map(str::to_owned),
            min_severity: min,
        };
        let cases = [
            (f(&[], None, None, 0), true),
            (f(&["event"], None, None, 0), true),
            (f(&["alert", "health"], None, None, 0), false),
            (f(&[], Some("pos-1"), None, 0), true),
            (f(&[], Some("pos-2"), None, 0), false),
            (f(&[], None, Some("pay"), 2), true),
            (f(&[], None, Some("web"), 0), false),
            (f(&[], None, None, 3), false),
        ];
        for (filter, want) in cases {
            assert_eq!(filter.admits(&item), want, "{filter:?}");
        }
        assert_eq!(severity_rank("critical"), Some(3));
        let parsed = Filter::parse(
            Some("event, alert"),
            Some("pos-1".into()),
            None,
            Some("error"),
        );
        assert_eq!(parsed, Ok(f(&["event", "alert"], Some("pos-1"), None, 2)));
        assert_eq!(Filter::parse(None, None, None, None), Ok(Filter::default()));
        assert!(
            Filter::parse(Some("event,bogus"), None, None, None)
                .unwrap_err()
                .contains("bogus")
        );
        assert!(
            Filter::parse(None, None, None, Some("loud"))
                .unwrap_err()
                .contains("loud")
        );
        assert_eq!(severity_rank("nonsense"), None);
    }
}
