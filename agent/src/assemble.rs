//! From physical lines to the entries the agent ships: CRI partials merged, stack traces and
//! other multi-line messages joined, Kubernetes coordinates read from the path. Pure: no I/O,
//! no clock.
//!
//! [`assemble`] works on one read chunk and holds nothing back: everything it was given comes
//! out, so the checkpoints committed with the chunk's entries cover exactly what was shipped
//! and a crash can neither lose a held line nor ship one twice. The price is that a message
//! whose lines straddle two reads (its writer flushed in the middle of it, and the agent read
//! in between) arrives as two entries; loggers write a stack trace in one `write`, so this is
//! rare.
//!
//! - **CRI sources** (container logs under `/var/log/pods/` or `/var/log/containers/`): the
//!   `P` fragments of one stream and the `F` record that ends them become one `F` line with the
//!   first fragment's timestamp, flagged [`ENTRY_PARTIAL_MERGED`]. A merged line is capped at
//!   [`AssembleConfig::max_event_bytes`]: at the cap the fragments gathered so far go out as
//!   they were written (still `P` records, nothing dropped) and merging starts again. Fragments
//!   still open at the end of a chunk also go out as they were written. Then, with
//!   [`AssembleConfig::multiline`], a trace the runtime wrote one record per line is joined
//!   like a plain file's (below) into one `F` entry: the first record's header, then the
//!   records' contents joined with `'\n'`.
//! - **Other sources**, with [`AssembleConfig::multiline`]: continuation lines (indented lines,
//!   `at …`, `Caused by:`, Python tracebacks, Go `goroutine N [`; see
//!   `fleetlog_lines::multiline`) join the line before them into one entry flagged
//!   [`ENTRY_MULTILINE`], joined with `'\n'`. An event is capped at `max_event_bytes`: at the
//!   cap it is shipped and the rest of it starts a new entry flagged [`ENTRY_CONTINUATION`];
//!   nothing is dropped.

use std::sync::Arc;

use fleetlog_lines::detect::{CriStream, parse_cri};
use fleetlog_lines::multiline::{Multiline, MultilineConfig};
use fleetlog_protocol::messages::{
    ENTRY_CONTINUATION, ENTRY_MULTILINE, ENTRY_PARTIAL_MERGED, KubernetesRef, SourceMeta,
};

use crate::tail::TailLine;

/// Default for [`AssembleConfig::max_event_bytes`]: 64 KiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 64 * 1024;

/// How lines are assembled (agent keys `multiline` and `max_event_bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssembleConfig {
    /// Join continuation lines into the line before them.
    pub multiline: bool,
    /// Most bytes one joined entry holds before the rest starts a new one.
    pub max_event_bytes: usize,
}

impl Default for AssembleConfig {
    fn default() -> Self {
        AssembleConfig {
            multiline: true,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
        }
    }
}

/// One entry to ship: its text and its `ENTRY_*` flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assembled {
    pub source: Arc<str>,
    pub text: String,
    pub flags: u8,
    /// Physical lines it holds.
    pub lines: usize,
}

/// Whether `path` is a container log written by the kubelet's CRI runtime.
pub fn is_cri_path(path: &str) -> bool {
    path.contains("/var/log/pods/") || path.contains("/var/log/containers/")
}

/// The pod a container log belongs to, from its path:
/// `/var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log`, or the kubelet's links
/// `/var/log/containers/<pod>_<namespace>_<container>-<container id>.log`.
pub fn kubernetes_ref(path: &str) -> Option<KubernetesRef> {
    if let Some((_, rest)) = path.split_once("/var/log/pods/") {
        let mut parts = rest.split('/');
        let pod_dir = parts.next()?;
        let container = parts.next()?;
        parts.next()?; // the file
        let mut ids = pod_dir.splitn(3, '_');
        let (namespace, pod, _uid) = (ids.next()?, ids.next()?, ids.next()?);
        return non_empty(namespace, pod, container);
    }
    let (_, name) = path.split_once("/var/log/containers/")?;
    let stem = name.strip_suffix(".log")?;
    let mut ids = stem.splitn(3, '_');
    let (pod, namespace, rest) = (ids.next()?, ids.next()?, ids.next()?);
    // The container id is the last dash-separated part (64 hex digits).
    let (container, id) = rest.rsplit_once('-')?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    non_empty(namespace, pod, container)
}

fn non_empty(namespace: &str, pod: &str, container: &str) -> Option<KubernetesRef> {
    (!namespace.is_empty() && !pod.is_empty() && !container.is_empty()).then(|| KubernetesRef {
        namespace: namespace.to_owned(),
        pod: pod.to_owned(),
        container: container.to_owned(),
    })
}

/// The services `[[sources]]` tables name, by glob; the first glob matching a path wins.
#[derive(Debug, Clone, Default)]
pub struct Services(Vec<(glob::Pattern, String)>);

impl Services {
    /// Compiles (glob, service) pairs (validated by the config already).
    pub fn new(pairs: &[(String, String)]) -> Result<Services, glob::PatternError> {
        pairs
            .iter()
            .map(|(g, service)| Ok((glob::Pattern::new(g)?, service.clone())))
            .collect::<Result<Vec<_>, _>>()
            .map(Services)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The service configured for `path`, if a glob matches it (`*` does not cross `/`).
    pub fn of(&self, path: &str) -> Option<&str> {
        const MATCH: glob::MatchOptions = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        self.0
            .iter()
            .find(|(p, _)| p.matches_with(path, MATCH))
            .map(|(_, service)| service.as_str())
    }
}

/// What the agent tells the collector about a source: its pod, and its service (the one its
/// `[[sources]]` table names, else the container's name).
pub fn source_meta(path: &str, services: &Services) -> SourceMeta {
    let kubernetes = kubernetes_ref(path);
    SourceMeta {
        service: services
            .of(path)
            .map(str::to_owned)
            .or_else(|| kubernetes.as_ref().map(|k| k.container.clone())),
        kubernetes,
    }
}

/// Assembles one chunk's lines (in file order per source) into entries, per source in order.
pub fn assemble(lines: Vec<TailLine>, config: AssembleConfig) -> Vec<Assembled> {
    let mut out = Vec::with_capacity(lines.len());
    // Lines of one source are consecutive in a chunk, mostly: work on runs of one source.
    let mut run: Vec<TailLine> = Vec::new();
    let mut runs: Vec<Vec<TailLine>> = Vec::new();
    for line in lines {
        if run
            .last()
            .is_some_and(|l| !Arc::ptr_eq(&l.source, &line.source) && l.source != line.source)
        {
            runs.push(std::mem::take(&mut run));
        }
        run.push(line);
    }
    runs.push(run);
    for run in runs {
        let Some(first) = run.first() else { continue };
        let source = first.source.clone();
        if is_cri_path(&source) {
            if config.multiline {
                let mut records = Vec::with_capacity(run.len());
                merge_cri(&source, run, config.max_event_bytes, &mut records);
                join_cri_records(records, config.max_event_bytes, &mut out);
            } else {
                merge_cri(&source, run, config.max_event_bytes, &mut out);
            }
        } else if config.multiline {
            join_multiline(&source, run, config.max_event_bytes, &mut out);
        } else {
            out.extend(run.into_iter().map(|l| Assembled {
                flags: if l.continued { ENTRY_CONTINUATION } else { 0 },
                source: l.source,
                text: l.text,
                lines: 1,
            }));
        }
    }
    out
}

/// Continuation lines join the line before them, up to `cap` bytes per entry.
fn join_multiline(source: &Arc<str>, run: Vec<TailLine>, cap: usize, out: &mut Vec<Assembled>) {
    // The joiner's own caps would drop text; ours splits instead.
    let mut joiner = Multiline::new(MultilineConfig {
        max_bytes: usize::MAX,
        max_lines: usize::MAX,
        // The tailer removed the line ending; a `'\r'` left is the line's own.
        strip_cr: false,
    });
    // Flags of the event the joiner holds.
    let mut pending_flags = 0u8;
    let mut emit = |joined: fleetlog_lines::multiline::Joined, flags: u8| {
        let multi = if joined.lines > 1 { ENTRY_MULTILINE } else { 0 };
        out.push(Assembled {
            source: source.clone(),
            text: joined.text,
            flags: flags | multi,
            lines: joined.lines,
        });
    };
    for line in run {
        if line.continued {
            // A piece of an over-long line: never joined, it says it continues the one
            // before.
            if let Some(done) = joiner.flush() {
                emit(done, pending_flags);
            }
            pending_flags = 0;
            emit(
                fleetlog_lines::multiline::Joined {
                    text: line.text,
                    lines: 1,
                    truncated: false,
                },
                ENTRY_CONTINUATION,
            );
            continue;
        }
        let mut forced = false;
        if joiner.has_pending() && joiner.pending_bytes() + 1 + line.text.len() > cap {
            if let Some(done) = joiner.flush() {
                emit(done, pending_flags);
            }
            forced = true;
        }
        let continues = forced && continues_anything(&line.text);
        let started = joiner.push_owned(line.text);
        if let Some(done) = started {
            emit(done, pending_flags);
            pending_flags = 0;
        }
        if forced {
            // The line may have continued the event just shipped: say so when it did.
            pending_flags = if continues { ENTRY_CONTINUATION } else { 0 };
        }
    }
    if let Some(done) = joiner.flush() {
        emit(done, pending_flags);
    }
}

/// Whether `line` would continue any event before it (the joiner's test, asked of a fresh
/// joiner holding one line).
fn continues_anything(line: &str) -> bool {
    let mut probe = Multiline::new(MultilineConfig::default());
    probe.push("x");
    probe.push(line).is_none()
}

/// A CRI stream's fragments being merged: the raw first fragment's header and the content so
/// far, with the raw fragments kept for the cap and end-of-chunk cases.
#[derive(Default)]
struct Fragments {
    header: String,
    content: String,
    raw: Vec<String>,
}

/// `P` fragments and the `F` record ending them become one `F` line, per stream.
fn merge_cri(source: &Arc<str>, run: Vec<TailLine>, cap: usize, out: &mut Vec<Assembled>) {
    let mut open: [Fragments; 2] = Default::default();
    let push = |out: &mut Vec<Assembled>, text: String, flags: u8, lines: usize| {
        out.push(Assembled {
            source: source.clone(),
            text,
            flags,
            lines,
        });
    };
    let spill = |out: &mut Vec<Assembled>, f: &mut Fragments| {
        for raw in std::mem::take(&mut f.raw) {
            push(out, raw, 0, 1);
        }
        f.content.clear();
        f.header.clear();
    };
    for line in run {
        if line.continued {
            push(out, line.text, ENTRY_CONTINUATION, 1);
            continue;
        }
        let Some(cri) = parse_cri(&line.text) else {
            push(out, line.text, 0, 1);
            continue;
        };
        let slot = &mut open[usize::from(cri.stream == CriStream::Stderr)];
        if !cri.partial && slot.raw.is_empty() {
            drop(cri);
            push(out, line.text, 0, 1);
            continue;
        }
        if slot.content.len() + cri.content.len() > cap && !slot.raw.is_empty() {
            spill(out, slot);
        }
        if slot.raw.is_empty() {
            // `<time> <stream> ` of the first fragment; the merged line is an `F` record.
            slot.header = header_of(&line.text).to_owned();
        }
        slot.content.push_str(&cri.content);
        let partial = cri.partial;
        drop(cri);
        slot.raw.push(line.text);
        if !partial {
            let lines = slot.raw.len();
            let text = if lines == 1 {
                slot.raw.pop().unwrap_or_default()
            } else {
                format!("{}F {}", slot.header, slot.content)
            };
            let flags = if lines > 1 { ENTRY_PARTIAL_MERGED } else { 0 };
            *slot = Fragments::default();
            push(out, text, flags, lines);
        }
    }
    for slot in &mut open {
        spill(out, slot);
    }
}

/// Stack traces inside container logs: consecutive whole (`F`) records of one stream whose
/// contents continue the record before them, by the same rules as plain files
/// (`fleetlog_lines::multiline`), become one `F` entry: the first record's header, then the
/// contents joined with `'\n'`, flagged [`ENTRY_MULTILINE`] (with the records' own flags).
/// A record of the other stream, a `P` fragment left open, a non-CRI line or the
/// `max_event_bytes` cap ends the event; nothing is dropped.
fn join_cri_records(records: Vec<Assembled>, cap: usize, out: &mut Vec<Assembled>) {
    let mut joiner = Multiline::new(MultilineConfig {
        max_bytes: usize::MAX,
        max_lines: usize::MAX,
        strip_cr: false,
    });
    // The records of the event the joiner holds.
    let mut held: Vec<Assembled> = Vec::new();
    let mut stream = None;
    for record in records {
        let whole = (record.flags & ENTRY_CONTINUATION == 0)
            .then(|| parse_cri(&record.text))
            .flatten()
            .filter(|cri| !cri.partial)
            .map(|cri| (cri.stream, cri.content.to_string()));
        let Some((this_stream, content)) = whole else {
            if let Some(done) = joiner.flush() {
                emit_cri_event(out, &mut held, done);
            }
            out.push(record);
            continue;
        };
        let over_cap = joiner.has_pending() && joiner.pending_bytes() + 1 + content.len() > cap;
        if (stream != Some(this_stream) || over_cap)
            && let Some(done) = joiner.flush()
        {
            emit_cri_event(out, &mut held, done);
        }
        stream = Some(this_stream);
        if let Some(done) = joiner.push_owned(content) {
            emit_cri_event(out, &mut held, done);
        }
        held.push(record);
    }
    if let Some(done) = joiner.flush() {
        emit_cri_event(out, &mut held, done);
    }
}

/// Ships the records `held` (exactly those of `joined`) as one entry.
fn emit_cri_event(
    out: &mut Vec<Assembled>,
    held: &mut Vec<Assembled>,
    joined: fleetlog_lines::multiline::Joined,
) {
    let mut records = std::mem::take(held);
    if records.len() <= 1 {
        out.append(&mut records);
        return;
    }
    let first = &records[0];
    out.push(Assembled {
        source: first.source.clone(),
        text: format!("{}F {}", header_of(&first.text), joined.text),
        flags: records.iter().fold(ENTRY_MULTILINE, |f, r| f | r.flags),
        lines: records.iter().map(|r| r.lines).sum(),
    });
}

/// `<time> <stream> ` of a CRI record: everything before its `P`/`F` tag.
fn header_of(raw: &str) -> &str {
    let mut spaces = raw.match_indices(' ').map(|(i, _)| i);
    let _ = spaces.next();
    match spaces.next() {
        Some(second) => &raw[..=second],
        None => raw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(source: &str, texts: &[&str]) -> Vec<TailLine> {
        let source: Arc<str> = source.into();
        texts
            .iter()
            .map(|t| TailLine {
                source: source.clone(),
                text: (*t).to_owned(),
                continued: false,
            })
            .collect()
    }

    fn texts(out: &[Assembled]) -> Vec<(&str, u8)> {
        out.iter().map(|a| (a.text.as_str(), a.flags)).collect()
    }

    const JAVA: &[&str] = &[
        "2026-11-28 10:00:00,001 ERROR [pool-1] c.s.Db - Cannot get a connection",
        "java.sql.SQLTransientConnectionException: pool exhausted",
        "\tat com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:696)",
        "\tat com.store.Db.get(Db.java:42)",
        "Caused by: java.net.SocketTimeoutException: connect timed out",
        "\t... 12 more",
        "2026-11-28 10:00:01,000 INFO [main] c.s.App - recovered",
    ];

    #[test]
    fn traces_become_one_entry_each_in_every_language() {
        let python = [
            "2026-11-28 10:00:00 ERROR payment failed",
            "Traceback (most recent call last):",
            "  File \"/app/pay.py\", line 10, in charge",
            "    raise TimeoutError(\"terminal\")",
            "TimeoutError: terminal",
            "2026-11-28 10:00:02 INFO next",
        ];
        let go = [
            "panic: runtime error: invalid memory address or nil pointer dereference",
            "",
            "goroutine 1 [running]:",
            "main.main()",
            "\t/app/main.go:12 +0x1d",
            "2026-11-28T10:00:03Z INFO restarted",
        ];
        let cfg = AssembleConfig::default();
        for (name, input, want_entries, want_first_lines) in [
            ("java", JAVA, 2, 6),
            ("python", &python[..], 2, 5),
            ("go", &go[..], 2, 5),
        ] {
            let out = assemble(lines("/var/log/app.log", input), cfg);
            assert_eq!(out.len(), want_entries, "{name}: {:#?}", texts(&out));
            assert_eq!(out[0].lines, want_first_lines, "{name}");
            assert_eq!(out[0].flags, ENTRY_MULTILINE, "{name}");
            assert_eq!(out[1].flags, 0, "{name}");
            // Nothing lost: every physical line is in some entry.
            let all: Vec<&str> = out.iter().flat_map(|a| a.text.split('\n')).collect();
            assert_eq!(all, input, "{name}");
        }
    }

    #[test]
    fn the_cap_splits_an_event_and_drops_nothing() {
        let cfg = AssembleConfig {
            multiline: true,
            max_event_bytes: 120,
        };
        let out = assemble(lines("/var/log/app.log", JAVA), cfg);
        let all: Vec<&str> = out.iter().flat_map(|a| a.text.split('\n')).collect();
        assert_eq!(all, JAVA);
        assert!(out.iter().all(|a| a.text.len() <= 120 || a.lines == 1));
        assert!(out.len() > 2, "{:#?}", texts(&out));
        // Every piece after the first of the trace says it continues.
        let trace_pieces = out.len() - 1;
        for piece in &out[1..trace_pieces] {
            assert_ne!(piece.flags & ENTRY_CONTINUATION, 0, "{piece:?}");
        }
        assert_eq!(out[trace_pieces].flags, 0);
    }

    #[test]
    fn a_lines_own_carriage_return_is_kept() {
        // The tailer already removed the line ending; what is left belongs to the line
        // (found by fuzzing: `\r\r\n` lost a byte).
        let out = assemble(
            lines("/var/log/app.log", &["\r", "a\r", "\tb\r"]),
            AssembleConfig::default(),
        );
        assert_eq!(texts(&out), [("\r", 0), ("a\r\n\tb\r", ENTRY_MULTILINE)]);
    }

    #[test]
    fn pieces_of_an_over_long_line_say_they_continue_it() {
        let mut input = lines("/var/log/app.log", &["head", "\tat x", "aaaa"]);
        let source = input[0].source.clone();
        input.extend(["bbbb", "cc"].iter().map(|t| TailLine {
            source: source.clone(),
            text: (*t).to_owned(),
            continued: true,
        }));
        input.extend(lines("/var/log/app.log", &["\tindented after"]));
        let out = assemble(input.clone(), AssembleConfig::default());
        assert_eq!(
            texts(&out),
            [
                ("head\n\tat x", ENTRY_MULTILINE),
                ("aaaa", 0),
                ("bbbb", ENTRY_CONTINUATION),
                ("cc", ENTRY_CONTINUATION),
                ("\tindented after", 0),
            ]
        );
        let off = AssembleConfig {
            multiline: false,
            ..AssembleConfig::default()
        };
        let flags: Vec<u8> = assemble(input, off).iter().map(|a| a.flags).collect();
        assert_eq!(flags, [0, 0, 0, ENTRY_CONTINUATION, ENTRY_CONTINUATION, 0]);
    }

    #[test]
    fn multiline_off_ships_lines_as_they_are() {
        let cfg = AssembleConfig {
            multiline: false,
            ..AssembleConfig::default()
        };
        let out = assemble(lines("/var/log/app.log", JAVA), cfg);
        assert_eq!(
            texts(&out),
            JAVA.iter().map(|t| (*t, 0)).collect::<Vec<_>>()
        );
    }

    #[test]
    fn cri_partials_merge_per_stream_and_nothing_is_dropped() {
        let path = "/var/log/pods/shop_pos-7_0c1d/pos/0.log";
        let input = [
            "2026-11-28T10:00:00.000000001Z stdout P {\"level\":\"error\",",
            "2026-11-28T10:00:00.000000002Z stderr F a whole stderr line",
            "2026-11-28T10:00:00.000000003Z stdout P \"msg\":\"pool ",
            "2026-11-28T10:00:00.000000004Z stdout F exhausted\"}",
            "2026-11-28T10:00:01.000000000Z stdout F plain",
            "2026-11-28T10:00:02.000000000Z stdout P left open at the end of the chunk",
        ];
        let out = assemble(lines(path, &input), AssembleConfig::default());
        assert_eq!(
            texts(&out),
            [
                (input[1], 0),
                (
                    "2026-11-28T10:00:00.000000001Z stdout F {\"level\":\"error\",\"msg\":\"pool exhausted\"}",
                    ENTRY_PARTIAL_MERGED
                ),
                (input[4], 0),
                (input[5], 0),
            ]
        );
        // Over the cap, the fragments go out as written.
        let small = AssembleConfig {
            multiline: true,
            max_event_bytes: 25,
        };
        let out = assemble(lines(path, &input), small);
        let shipped: Vec<&str> = out.iter().map(|a| a.text.as_str()).collect();
        assert!(shipped.contains(&input[0]), "{shipped:#?}");
        assert!(
            shipped
                .contains(&"2026-11-28T10:00:00.000000003Z stdout F \"msg\":\"pool exhausted\"}"),
            "{shipped:#?}"
        );
        // Lines that are not CRI records pass through, never joined.
        let out = assemble(
            lines(path, &["not a cri line", "\tindented"]),
            AssembleConfig::default(),
        );
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn traces_inside_container_logs_are_one_entry() {
        let path = "/var/log/pods/shop_pos-7_0c1d/pos/0.log";
        let input = [
            "2026-11-28T10:00:00.1Z stdout F request served",
            "2026-11-28T10:00:00.2Z stderr F java.lang.IllegalStateException: pool exhausted",
            "2026-11-28T10:00:00.2Z stderr P \tat com.store.Db.get(Db.java:",
            "2026-11-28T10:00:00.2Z stderr F 42)",
            "2026-11-28T10:00:00.2Z stderr F \tat com.store.Api.handle(Api.java:7)",
            "2026-11-28T10:00:00.3Z stdout F \tindented, but on the other stream",
            "2026-11-28T10:00:00.4Z stderr F Traceback (most recent call last):",
            "2026-11-28T10:00:00.4Z stderr F   File \"app.py\", line 3, in <module>",
            "2026-11-28T10:00:00.4Z stderr F ValueError: bad price",
            "2026-11-28T10:00:00.5Z stdout F next request",
        ];
        let out = assemble(lines(path, &input), AssembleConfig::default());
        assert_eq!(
            texts(&out),
            [
                (input[0], 0),
                (
                    "2026-11-28T10:00:00.2Z stderr F java.lang.IllegalStateException: pool exhausted\n\
                     \tat com.store.Db.get(Db.java:42)\n\tat com.store.Api.handle(Api.java:7)",
                    ENTRY_MULTILINE | ENTRY_PARTIAL_MERGED
                ),
                (input[5], 0),
                (
                    "2026-11-28T10:00:00.4Z stderr F Traceback (most recent call last):\n  \
                     File \"app.py\", line 3, in <module>\nValueError: bad price",
                    ENTRY_MULTILINE
                ),
                (input[9], 0),
            ]
        );
        assert_eq!(out.iter().map(|a| a.lines).sum::<usize>(), input.len());
        // multiline off: partials are merged, traces are not joined.
        let off = AssembleConfig {
            multiline: false,
            ..AssembleConfig::default()
        };
        assert_eq!(assemble(lines(path, &input), off).len(), 9);
    }

    #[test]
    fn pods_are_read_from_the_path() {
        let k = |ns: &str, pod: &str, c: &str| {
            Some(KubernetesRef {
                namespace: ns.into(),
                pod: pod.into(),
                container: c.into(),
            })
        };
        for (path, want) in [
            (
                "/var/log/pods/shop_pos-7d9f_0c1d2e3f-aaaa/pos/0.log",
                k("shop", "pos-7d9f", "pos"),
            ),
            (
                "/host/var/log/pods/kube-system_coredns-5d78_9a8b/coredns/3.log",
                k("kube-system", "coredns-5d78", "coredns"),
            ),
            (
                "/var/log/containers/pos-7d9f_shop_pos-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.log",
                k("shop", "pos-7d9f", "pos"),
            ),
            (
                "/var/log/containers/web_default_nginx-sidecar-abc123.log",
                k("default", "web", "nginx-sidecar"),
            ),
            ("/var/log/pods/broken/0.log", None),
            ("/var/log/containers/no-id.log", None),
            ("/var/log/pos/app.log", None),
        ] {
            assert_eq!(kubernetes_ref(path), want, "{path}");
        }
        let none = Services::default();
        let meta = source_meta("/var/log/pods/shop_pos-7_u/pos/0.log", &none);
        assert_eq!(meta.service.as_deref(), Some("pos"));
        assert_eq!(
            source_meta("/var/log/app.log", &none),
            SourceMeta::default()
        );
        // A configured service wins over the container's name; the first glob matching wins.
        let services = Services::new(&[
            ("/var/log/pos/*.log".into(), "register".into()),
            ("/var/log/**/*.log".into(), "everything".into()),
            (
                "/var/log/pods/shop_*/pos/*.log".into(),
                "pos-terminal".into(),
            ),
        ])
        .unwrap();
        let got = |p: &str| source_meta(p, &services).service;
        assert_eq!(got("/var/log/pos/app.log").as_deref(), Some("register"));
        assert_eq!(
            got("/var/log/pos/old/app.log").as_deref(),
            Some("everything")
        );
        assert_eq!(got("/srv/app.log"), None);
        let pod = source_meta("/var/log/pods/shop_pos-7_u/pos/0.log", &services);
        assert_eq!(pod.service.as_deref(), Some("everything"));
        assert!(pod.kubernetes.is_some());
    }

    #[test]
    fn sources_interleaved_in_a_chunk_keep_their_own_order() {
        let mut input = lines("/var/log/a.log", &JAVA[..3]);
        input.extend(lines("/var/log/b.log", &["b1", "\tb-continued"]));
        input.extend(lines("/var/log/a.log", &JAVA[3..]));
        let out = assemble(input, AssembleConfig::default());
        let a: Vec<&str> = out
            .iter()
            .filter(|e| &*e.source == "/var/log/a.log")
            .flat_map(|e| e.text.split('\n'))
            .collect();
        assert_eq!(a, JAVA);
        let b: Vec<&Assembled> = out
            .iter()
            .filter(|e| &*e.source == "/var/log/b.log")
            .collect();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].text, "b1\n\tb-continued");
    }
}
