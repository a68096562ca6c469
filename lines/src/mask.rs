//! Token masking for template mining: decides which tokens are parameters.
//!
//! A token is a parameter when its *shape* says so, whatever the source:
//! anything with a digit (numbers, numbers with units such as `12ms` or `200KB`,
//! `0x1f`, IPv4 with a port, UUIDs, `blk_-123`, timestamps), long hexadecimal ids,
//! absolute paths and URLs.
//! The functions here are pure, allocation-free and work on bytes, so they sit on
//! the Drain hot path.

/// Shortest run of hexadecimal letters (without any digit) taken for an id.
const MIN_HEX_ID_LEN: usize = 16;

/// How one whitespace-separated token enters a template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Masked<'a> {
    /// A constant word, kept verbatim.
    Word(&'a str),
    /// A parameter, rendered `<*>`.
    Param,
    /// `key` + parameter + `tail`: `(uid=0)` is `(uid=` + `<*>` + `)`.
    Keyed {
        /// Everything up to and including the first `=` or `:`; holds no digit.
        key: &'a str,
        /// Closing punctuation after the value.
        tail: &'a str,
    },
}

/// Classifies `token`: parameter-shaped tokens are masked, `key=value` and `key:value`
/// tokens keep their key when the value is parameter-shaped.
pub fn mask(token: &str) -> Masked<'_> {
    if !is_variable(token) {
        return Masked::Word(token);
    }
    let bytes = token.as_bytes();
    let Some(sep) = bytes.iter().position(|&b| b == b'=' || b == b':') else {
        return Masked::Param;
    };
    let key = &bytes[..=sep];
    if key.iter().any(u8::is_ascii_digit) || !key.iter().any(u8::is_ascii_alphabetic) {
        return Masked::Param;
    }
    let value = &bytes[sep + 1..];
    let tail_len = value
        .iter()
        .rev()
        .take_while(|b| b")]}>,;\"'".contains(b))
        .count();
    if tail_len == value.len() {
        return Masked::Param;
    }
    // `sep` and the tail are ASCII, so both cuts lie on char boundaries.
    Masked::Keyed {
        key: &token[..=sep],
        tail: &token[token.len() - tail_len..],
    }
}

/// Returns true when `token` is (or holds) a parameter; see `mask` for what is kept.
pub fn is_variable(token: &str) -> bool {
    let bytes = token.as_bytes();
    let Some(&first) = bytes.first() else {
        return false;
    };
    if bytes.iter().any(u8::is_ascii_digit) {
        return true;
    }
    if first == b'/' && bytes.len() > 1 && bytes[1..].iter().any(|b| b.is_ascii_alphabetic()) {
        return true;
    }
    if bytes.len() >= MIN_HEX_ID_LEN && bytes.iter().all(u8::is_ascii_hexdigit) {
        return true;
    }
    contains(bytes, b"://") || is_date_word(bytes)
}

/// Month and weekday abbreviations, as in `Fri Jun 17 07:07:00 2005`: parts of a timestamp.
fn is_date_word(bytes: &[u8]) -> bool {
    const WORDS: [&[u8; 3]; 19] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun",
    ];
    bytes.len() == 3 && WORDS.iter().any(|w| *w == bytes)
}

/// True when `needle` occurs in `haystack`; `needle` is short, so a naive scan wins.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::{Masked, is_variable, mask};

    #[test]
    fn keyed() {
        let keyed = |key, tail| Masked::Keyed { key, tail };
        assert_eq!(mask("(uid=0)"), keyed("(uid=", ")"));
        assert_eq!(mask("LOGIN(uid=0)"), keyed("LOGIN(uid=", ")"));
        assert_eq!(mask("ambient=30"), keyed("ambient=", ""));
        assert_eq!(mask("tty=:0"), keyed("tty=", ""));
        assert_eq!(mask("lr:00004ed0"), keyed("lr:", ""));
        assert_eq!(mask("10.251.73.220:50010"), Masked::Param);
        assert_eq!(mask("node-129"), Masked::Param);
        assert_eq!(mask("=5"), Masked::Param);
        assert_eq!(mask("user=root"), Masked::Word("user=root"));
    }

    #[test]
    fn parameters() {
        for t in [
            "42",
            "-7",
            "3.5s",
            "12ms",
            "200KB",
            "0x1F",
            "10.251.73.220:50010",
            "blk_-6952295868487656571",
            "req-38101a0b-2096-447d-96ea-a692162415ae",
            "/etc/httpd/conf/workers.properties",
            "http://example.com/a",
            "deadbeefcafebabe",
            "(uid=0)",
            "[173.234.31.186]",
            "Fri",
            "Jun",
        ] {
            assert!(is_variable(t), "{t} should be a parameter");
        }
    }

    #[test]
    fn constants() {
        for t in [
            "",
            "/",
            "error",
            "PacketResponder",
            "user=root",
            "()",
            "[preauth]",
            "-",
            "I/O",
        ] {
            assert!(!is_variable(t), "{t} should be a constant");
        }
    }
}
