//! The stable fingerprint of an event: service + error class when the line has one (one
//! problem phrased several ways is one incident: "printer offline" and "paper out" on the
//! same service), else service + the message's template (its words with every
//! variable-shaped token masked, `fleetlog_lines::mask`), hashed.
//! Stateless, so every replica and every restart computes the same fingerprint for the
//! same kind of line, and a line's variable parts (ids, times, amounts, addresses) never
//! split an incident. Indented continuation lines (stack frames) get none: they belong to
//! the record above them and never start an incident.

use fleetlog_lines::mask::{Masked, mask};

/// Most template bytes that count: long lines (stack traces) are told apart by their head.
const MAX_TEMPLATE_BYTES: usize = 512;

/// The line's template: words kept, variables as `<*>`.
pub fn template(line: &str) -> String {
    let mut out = String::new();
    for token in line.split_whitespace() {
        if out.len() >= MAX_TEMPLATE_BYTES {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        match mask(token) {
            Masked::Word(w) => out.push_str(w),
            Masked::Param => out.push_str("<*>"),
            Masked::Keyed { key, tail } => {
                out.push_str(key);
                out.push_str("<*>");
                out.push_str(tail);
            }
        }
    }
    out
}

/// True for an indented continuation line (`\tat com.x.Y(Y.java:1)`, `  File "x.py"`).
pub fn is_continuation(line: &str) -> bool {
    line.starts_with([' ', '\t']) || line.starts_with("Caused by:") || line.starts_with("...")
}

/// 16 hex digits of FNV-1a over service and class, or service and template when the
/// line has no class; `None` for a continuation line.
pub fn fingerprint(service: &str, class: Option<&str>, line: &str) -> Option<String> {
    if is_continuation(line) {
        return None;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    };
    feed(service.as_bytes());
    match class {
        Some(c) => feed(c.as_bytes()),
        None => {
            feed(b"");
            feed(template(line).as_bytes());
        }
    }
    Some(format!("{h:016x}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_do_not_split_and_words_do() {
        let f = |svc: &str, class: Option<&str>, line: &str| fingerprint(svc, class, line).unwrap();
        let a = f(
            "payment",
            None,
            "2026-11-28T10:00:01Z ERROR card 4111 declined after 30s",
        );
        let b = f(
            "payment",
            None,
            "2026-11-28T11:22:33Z ERROR card 5500 declined after 12s",
        );
        let c = f(
            "payment",
            None,
            "2026-11-28T11:22:33Z ERROR card 5500 accepted after 12s",
        );
        let d = f(
            "kiosk",
            None,
            "2026-11-28T10:00:01Z ERROR card 4111 declined after 30s",
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        assert_eq!(a.chars().count(), 16);
        assert_eq!(template("ERROR user=42 failed"), "ERROR user=<*> failed");
        // With a class, the class groups every phrasing on the service.
        assert_eq!(
            f("pos", Some("printer"), "printer offline"),
            f("pos", Some("printer"), "receipt printer: paper out")
        );
        assert_ne!(
            f("pos", Some("printer"), "x"),
            f("pos", Some("disk_full"), "x")
        );
        assert_eq!(
            fingerprint(
                "pos",
                Some("tls"),
                "\tat sun.security.ssl.Alert(Alert.java:1)"
            ),
            None
        );
    }
}
