//! Log levels as `lines` understands them, and the words that spell them.
//!
//! `lines` does not depend on `fleetlog-protocol`; the agent maps [`Level`] onto the wire type.

use serde::{Deserialize, Serialize};

/// Severity a log line claims for itself, from the least to the most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Tracing detail.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation (also `notice`).
    Info,
    /// Something unexpected that the program handled.
    Warn,
    /// An operation failed (also `err`, `severe`, `failure`).
    Error,
    /// The program or host cannot continue (`fatal`, `crit`, `alert`, `emerg`, `panic`).
    Critical,
}

impl Level {
    /// Parses a level word, ignoring ASCII case: `INFO`, `warning`, `Err`, `FATAL`, `E`...
    ///
    /// Single letters (`E`, `W`, `I`, `D`, `F`, `T`, as in glog/klog) are accepted too; callers
    /// that scan free text should use [`Level::from_word_strict`].
    pub fn from_word(word: &str) -> Option<Level> {
        if word.len() == 1 {
            return match word.as_bytes()[0].to_ascii_uppercase() {
                b'T' => Some(Level::Trace),
                b'D' => Some(Level::Debug),
                b'I' => Some(Level::Info),
                b'W' => Some(Level::Warn),
                b'E' => Some(Level::Error),
                b'F' | b'C' => Some(Level::Critical),
                _ => None,
            };
        }
        Self::from_word_strict(word)
    }

    /// Like [`Level::from_word`] but only multi-letter words.
    pub fn from_word_strict(word: &str) -> Option<Level> {
        if word.len() < 3 || word.len() > 11 {
            return None;
        }
        let mut buf = [0u8; 11];
        for (dst, src) in buf.iter_mut().zip(word.bytes()) {
            *dst = src.to_ascii_lowercase();
        }
        let lower = &buf[..word.len()];
        Some(match lower {
            b"trace" | b"finest" | b"finer" => Level::Trace,
            b"debug" | b"dbg" | b"fine" | b"verbose" => Level::Debug,
            b"info" | b"inf" | b"notice" | b"information" | b"informational" => Level::Info,
            b"warn" | b"warning" | b"wrn" => Level::Warn,
            b"error" | b"err" | b"severe" | b"failure" => Level::Error,
            b"fatal" | b"crit" | b"critical" | b"alert" | b"emerg" | b"emergency" | b"panic" => {
                Level::Critical
            }
            _ => return None,
        })
    }

    /// Maps a syslog severity (0 = emerg ... 7 = debug).
    pub fn from_syslog_severity(severity: u8) -> Level {
        match severity {
            0..=2 => Level::Critical,
            3 => Level::Error,
            4 => Level::Warn,
            5 | 6 => Level::Info,
            _ => Level::Debug,
        }
    }

    /// Lower-case name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert_eq!(Level::from_word("INFO"), Some(Level::Info));
        assert_eq!(Level::from_word("notice"), Some(Level::Info));
        assert_eq!(Level::from_word("Warning"), Some(Level::Warn));
        assert_eq!(Level::from_word("SEVERE"), Some(Level::Error));
        assert_eq!(Level::from_word("FATAL"), Some(Level::Critical));
        assert_eq!(Level::from_word("E"), Some(Level::Error));
        assert_eq!(Level::from_word_strict("E"), None);
        assert_eq!(Level::from_word("information_overload"), None);
        assert_eq!(Level::from_word(""), None);
        assert!(Level::Critical > Level::Error);
    }

    #[test]
    fn syslog() {
        assert_eq!(Level::from_syslog_severity(3), Level::Error);
        assert_eq!(Level::from_syslog_severity(6), Level::Info);
    }
}
