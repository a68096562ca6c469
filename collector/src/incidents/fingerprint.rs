//! The stable fingerprint of an event: service + error class + the line's template (its
//! words with every variable-shaped token masked, `fleetlog_lines::mask`), hashed.
//! Stateless, so every replica and every restart computes the same fingerprint for the
//! same kind of line, and a line's variable parts (ids, times, amounts, addresses) never
//! split an incident.

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

/// 16 hex digits of FNV-1a over service, class and template.
pub fn fingerprint(service: &str, class: Option<&str>, line: &str) -> String {
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
    feed(class.unwrap_or("").as_bytes());
    feed(template(line).as_bytes());
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_do_not_split_and_words_do() {
        let a = fingerprint(
            "payment",
            Some("payment"),
            "2026-11-28T10:00:01Z ERROR card 4111 declined after 30s",
        );
        let b = fingerprint(
            "payment",
            Some("payment"),
            "2026-11-28T11:22:33Z ERROR card 5500 declined after 12s",
        );
        let c = fingerprint(
            "payment",
            Some("payment"),
            "2026-11-28T11:22:33Z ERROR card 5500 accepted after 12s",
        );
        let d = fingerprint(
            "kiosk",
            Some("payment"),
            "2026-11-28T10:00:01Z ERROR card 4111 declined after 30s",
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        assert_eq!(a.len(), 16);
        assert_eq!(template("ERROR user=42 failed"), "ERROR user=<*> failed");
    }
}
