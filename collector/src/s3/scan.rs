//! Pure scan decisions: which listed objects a scan takes, which it skips and why, and what
//! a scan's state becomes. No I/O, no clock.

/// One object as ListObjectsV2 returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    /// Without the quotes S3 puts around it.
    pub etag: String,
    pub size: u64,
    pub last_modified_ms: Option<i64>,
}

/// A scan's filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only objects modified at or after this time.
    pub modified_after_ms: Option<i64>,
    /// Only objects modified before this time.
    pub modified_before_ms: Option<i64>,
}

/// What a scan does with a listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Not part of the scan (outside the time filter, or a "folder" marker).
    Ignore,
    /// To be analysed.
    Process,
    /// Recorded as skipped, with the reason.
    Skip(String),
}

/// The plan for `obj`: `already_done` says whether this key with this ETag was analysed to
/// the end before (by any scan or event).
pub fn plan(obj: &Listed, filter: &Filter, already_done: bool, max_object_bytes: u64) -> Plan {
    if obj.key.ends_with('/') && obj.size == 0 {
        return Plan::Ignore;
    }
    if let Some(t) = obj.last_modified_ms {
        if filter.modified_after_ms.is_some_and(|a| t < a) {
            return Plan::Ignore;
        }
        if filter.modified_before_ms.is_some_and(|b| t >= b) {
            return Plan::Ignore;
        }
    }
    if already_done {
        return Plan::Skip(format!("unchanged (ETag {} already analysed)", obj.etag));
    }
    if obj.size > max_object_bytes {
        return Plan::Skip(format!(
            "object of {} bytes is larger than s3.max_object_bytes ({max_object_bytes})",
            obj.size
        ));
    }
    Plan::Process
}

/// An ETag without the surrounding quotes (S3 returns `"abc"`; events carry `abc`).
pub fn bare_etag(etag: &str) -> String {
    etag.trim().trim_matches('"').to_owned()
}

/// A scan's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanState {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
}

impl ScanState {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanState::Queued => "queued",
            ScanState::Running => "running",
            ScanState::Done => "done",
            ScanState::Failed => "failed",
            ScanState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<ScanState> {
        Some(match s {
            "queued" => ScanState::Queued,
            "running" => ScanState::Running,
            "done" => ScanState::Done,
            "failed" => ScanState::Failed,
            "cancelled" => ScanState::Cancelled,
            _ => return None,
        })
    }

    /// Whether the worker still has something to do for the scan.
    pub fn is_open(self) -> bool {
        matches!(self, ScanState::Queued | ScanState::Running)
    }
}

/// An object's status within a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectStatus {
    Pending,
    Done,
    Failed,
    Skipped,
}

impl ObjectStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectStatus::Pending => "pending",
            ObjectStatus::Done => "done",
            ObjectStatus::Failed => "failed",
            ObjectStatus::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<ObjectStatus> {
        Some(match s {
            "pending" => ObjectStatus::Pending,
            "done" => ObjectStatus::Done,
            "failed" => ObjectStatus::Failed,
            "skipped" => ObjectStatus::Skipped,
            _ => return None,
        })
    }
}

/// What the worker does next with an open scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// List the next page, after this key (`None` = from the start or `start_after`).
    List { after: Option<String> },
    /// Analyse the pending objects.
    Process,
    /// Nothing left: the scan is done.
    Finish,
}

/// The next step of a scan from what is stored: listing first (resuming after the last key
/// listed), then the pending objects, then done.
pub fn next_step(
    listed_all: bool,
    list_after: Option<&str>,
    start_after: Option<&str>,
    pending: u64,
) -> Step {
    if !listed_all {
        return Step::List {
            after: list_after.or(start_after).map(str::to_owned),
        };
    }
    if pending > 0 {
        Step::Process
    } else {
        Step::Finish
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(key: &str, size: u64, t: i64) -> Listed {
        Listed {
            key: key.to_owned(),
            etag: "e1".to_owned(),
            size,
            last_modified_ms: Some(t),
        }
    }

    #[test]
    fn plans() {
        let none = Filter::default();
        let window = Filter {
            modified_after_ms: Some(100),
            modified_before_ms: Some(200),
        };
        let cases: [(Listed, &Filter, bool, &str); 8] = [
            (obj("a.log", 10, 150), &none, false, "process"),
            (obj("a.log", 10, 150), &none, true, "skip unchanged"),
            (obj("a.log", 10_000, 150), &none, false, "skip larger"),
            (obj("dir/", 0, 150), &none, false, "ignore"),
            (obj("a.log", 10, 99), &window, false, "ignore"),
            (obj("a.log", 10, 100), &window, false, "process"),
            (obj("a.log", 10, 200), &window, false, "ignore"),
            // Unchanged wins over too large: the reason that is true first.
            (obj("a.log", 10_000, 150), &none, true, "skip unchanged"),
        ];
        for (o, f, done, want) in cases {
            let got = match plan(&o, f, done, 1_000) {
                Plan::Ignore => "ignore".to_owned(),
                Plan::Process => "process".to_owned(),
                Plan::Skip(r) if r.starts_with("unchanged") => "skip unchanged".to_owned(),
                Plan::Skip(r) if r.contains("larger") => "skip larger".to_owned(),
                Plan::Skip(r) => r,
            };
            assert_eq!(got, want, "{o:?} {f:?} done={done}");
        }
    }

    #[test]
    fn steps() {
        let cases = [
            (false, None, None, 0, Step::List { after: None }),
            (
                false,
                None,
                Some("k0"),
                0,
                Step::List {
                    after: Some("k0".into()),
                },
            ),
            // A resumed listing continues after the last key it stored.
            (
                false,
                Some("k5"),
                Some("k0"),
                3,
                Step::List {
                    after: Some("k5".into()),
                },
            ),
            (true, Some("k9"), None, 3, Step::Process),
            (true, Some("k9"), None, 0, Step::Finish),
        ];
        for (listed, after, start, pending, want) in cases {
            assert_eq!(next_step(listed, after, start, pending), want);
        }
    }

    #[test]
    fn etags_and_states_round_trip() {
        assert_eq!(bare_etag("\"abc\""), "abc");
        assert_eq!(bare_etag("abc"), "abc");
        for s in ["queued", "running", "done", "failed", "cancelled"] {
            assert_eq!(ScanState::parse(s).unwrap().as_str(), s);
        }
        for s in ["pending", "done", "failed", "skipped"] {
            assert_eq!(ObjectStatus::parse(s).unwrap().as_str(), s);
        }
        assert!(ScanState::Running.is_open() && !ScanState::Cancelled.is_open());
    }
}
