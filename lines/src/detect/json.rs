//! JSON lines: one object per line, with the usual names for time, level and message.

use std::borrow::Cow;

use serde_json::Value;

use super::{Format, Parsed, time, trim_end};
use crate::level::Level;

/// Keys that carry the message, most common first.
pub(super) const MESSAGE_KEYS: &[&str] = &[
    "msg", "message", "log", "@m", "@mt", "text", "event", "MESSAGE",
];
/// Keys that carry the level.
pub(super) const LEVEL_KEYS: &[&str] = &[
    "level",
    "lvl",
    "severity",
    "loglevel",
    "log.level",
    "levelname",
    "@l",
    "PRIORITY",
    "severity_text",
];
/// Keys that carry the time.
pub(super) const TIME_KEYS: &[&str] = &[
    "ts",
    "time",
    "timestamp",
    "@timestamp",
    "@t",
    "t",
    "date",
    "datetime",
    "asctime",
];

/// Parses a JSON object line.
pub(super) fn parse(line: &str, year: i32) -> Option<Parsed<'_>> {
    let t = line.trim_start();
    if !t.starts_with('{') {
        return None;
    }
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(trim_end(t)) else {
        return None;
    };
    let mut content: Option<String> = None;
    let mut level = None;
    let mut ts = None;
    let mut fields = Vec::with_capacity(map.len());
    for (k, v) in map {
        if content.is_none()
            && MESSAGE_KEYS.contains(&k.as_str())
            && let Value::String(s) = &v
        {
            content = Some(trim_end(s).to_owned());
            continue;
        }
        if level.is_none() && LEVEL_KEYS.contains(&k.as_str()) {
            level = level_of(&v);
            if level.is_some() {
                continue;
            }
        }
        if ts.is_none() && TIME_KEYS.contains(&k.as_str()) {
            ts = time_of(&v, year);
            if ts.is_some() {
                continue;
            }
        }
        let value = match v {
            Value::String(s) => s,
            Value::Null => String::new(),
            other => other.to_string(),
        };
        fields.push((Cow::Owned(k), Cow::Owned(value)));
    }
    Some(Parsed {
        format: Format::Json,
        timestamp_ms: ts,
        level,
        // An object without a message key keeps the whole line as content.
        content: content.map_or(Cow::Borrowed(trim_end(line)), Cow::Owned),
        fields,
    })
}

/// A level from a string (`"warn"`) or a number (syslog severity 0-7, or bunyan/pino 10-60).
pub(super) fn level_of(v: &Value) -> Option<Level> {
    match v {
        Value::String(s) => Level::from_word(s),
        Value::Number(n) => {
            let n = n.as_u64()?;
            Some(match n {
                0..=7 => Level::from_syslog_severity(n as u8),
                10 => Level::Trace,
                20 => Level::Debug,
                30 => Level::Info,
                40 => Level::Warn,
                50 => Level::Error,
                60 => Level::Critical,
                _ => return None,
            })
        }
        _ => None,
    }
}

/// A timestamp from a string in any known shape, or a number of epoch s/ms/us/ns.
pub(super) fn time_of(v: &Value, year: i32) -> Option<i64> {
    match v {
        Value::String(s) => time::parse_prefix(s, year).map(|(ms, _)| ms),
        Value::Number(n) => {
            let f = n.as_f64()?;
            epoch_number_ms(f)
        }
        _ => None,
    }
}

/// Guesses the unit of an epoch number by its magnitude.
pub(super) fn epoch_number_ms(f: f64) -> Option<i64> {
    if !f.is_finite() || f <= 0.0 {
        return None;
    }
    let ms = if f < 1e11 {
        f * 1e3
    } else if f < 1e14 {
        f
    } else if f < 1e17 {
        f / 1e3
    } else {
        f / 1e6
    };
    Some(ms as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typical() {
        let p = parse(
            r#"{"ts":"2024-01-02T03:04:05.123Z","level":"ERROR","msg":"db down  ","code":5,"ok":false}"#,
            2024,
        )
        .unwrap();
        assert_eq!(p.format, Format::Json);
        assert_eq!(p.level, Some(Level::Error));
        assert_eq!(p.content, "db down");
        assert_eq!(p.timestamp_ms, Some(1_704_164_645_123));
        assert_eq!(p.field("code"), Some("5"));
        assert_eq!(p.field("ok"), Some("false"));
    }

    #[test]
    fn numeric_level_and_time() {
        let p = parse(r#"{"time":1704164645123,"level":50,"msg":"x"}"#, 2024).unwrap();
        assert_eq!(p.level, Some(Level::Error));
        assert_eq!(p.timestamp_ms, Some(1_704_164_645_123));
    }

    #[test]
    fn not_json() {
        assert!(parse("{not json", 2024).is_none());
        assert!(parse("[1,2]", 2024).is_none());
        let p = parse(r#"{"a":1}"#, 2024).unwrap();
        assert_eq!(p.content, r#"{"a":1}"#);
    }
}
