//! First-version pre-classification: the line's level and a weighted-keyword error score.
//!
//! Replaceable: `fleetlog-lines` will take over (issue: line intelligence).

use fleetlog_protocol::Level;

/// Keyword weights users rely on today (TIMEOUT 0.9, ERROR 0.8, FAILED 0.7), plus a few more.
const KEYWORDS: &[(&[u8], f32)] = &[
    (b"panic", 1.0),
    (b"fatal", 1.0),
    (b"timeout", 0.9),
    (b"timed out", 0.9),
    (b"exception", 0.85),
    (b"error", 0.8),
    (b"refused", 0.8),
    (b"failed", 0.7),
    (b"failure", 0.7),
];

/// Level and error score of one line.
pub fn classify(line: &str) -> (Level, f32) {
    let bytes = line.as_bytes();
    let mut score = 0.0f32;
    let lower_hit = |kw: &[u8]| bytes.windows(kw.len()).any(|w| w.eq_ignore_ascii_case(kw));
    // Cheap prefilter: every keyword contains one of these letters pairs; skip most lines fast.
    if bytes.iter().any(|b| matches!(b | 0x20, b'p' | b'f' | b't' | b'e' | b'r')) {
        for (kw, w) in KEYWORDS {
            if *w > score && lower_hit(kw) {
                score = *w;
            }
        }
    }
    (level_of(bytes), score)
}

fn level_of(bytes: &[u8]) -> Level {
    // Look for a level word in the first 128 bytes, where headers put it.
    let head = &bytes[..bytes.len().min(128)];
    for word in head.split(|b| !b.is_ascii_alphabetic()) {
        let level = match word.len() {
            4 if word.eq_ignore_ascii_case(b"warn") => Level::Warn,
            4 if word.eq_ignore_ascii_case(b"info") => Level::Info,
            5 if word.eq_ignore_ascii_case(b"error") => Level::Error,
            5 if word.eq_ignore_ascii_case(b"fatal") => Level::Critical,
            5 if word.eq_ignore_ascii_case(b"debug") => Level::Debug,
            5 if word.eq_ignore_ascii_case(b"trace") => Level::Trace,
            5 if word.eq_ignore_ascii_case(b"panic") => Level::Critical,
            7 if word.eq_ignore_ascii_case(b"warning") => Level::Warn,
            8 if word.eq_ignore_ascii_case(b"critical") => Level::Critical,
            5 if word.eq_ignore_ascii_case(b"emerg") => Level::Critical,
            _ => continue,
        };
        return level;
    }
    Level::Info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_weights_hold() {
        assert_eq!(classify("payment TIMEOUT on lane 3"), (Level::Info, 0.9));
        assert_eq!(classify("2026-01-01 ERROR db write failed"), (Level::Error, 0.8));
        assert_eq!(classify("sync FAILED"), (Level::Info, 0.7));
        assert_eq!(classify("FATAL out of paper"), (Level::Critical, 1.0));
        assert_eq!(classify("all good"), (Level::Info, 0.0));
        assert_eq!(classify("x WARN low stock"), (Level::Warn, 0.0));
    }
}
