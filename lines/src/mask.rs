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

/// Returns true when `token` is a parameter, to be replaced by `<*>` in templates.
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
    contains(bytes, b"://")
}

/// True when `needle` occurs in `haystack`; `needle` is short, so a naive scan wins.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::is_variable;

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
