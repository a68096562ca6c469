//! Model-based test of the file tailer, in the style of Vector's file source model tests.
//!
//! Random sequences of writer actions (lines, partial lines, rename rotation under three
//! naming schemes, copytruncate, gzip of a rotated file, truncation, delete and recreate)
//! and reader actions (polls, restarts, crashes that lose the last uncommitted chunk) run
//! against a real temporary directory, once with the glob `*.log*` and once with `*.log`,
//! the glob users write, under which every rotated file is outside the glob.
//! The model is the list of lines written; the property is that, after a final drain,
//! the lines the "caller" committed are exactly the lines written: none lost, none
//! duplicated, and in write order within each physical file ("incarnation").

// The harness panics on any I/O failure: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use fleetlog_agent::tail::{Checkpoint, FileKey, FileState, Released, TailConfig, Tailer};
use proptest::prelude::*;

const STREAMS: usize = 2;
const MAX_LINE: usize = 64;

#[derive(Clone, Debug)]
enum Action {
    /// Append `n` complete lines with `pad` filler bytes each.
    Write { stream: usize, n: usize, pad: usize },
    /// Append the first half of a line (finished by the stream's next write).
    WritePartial { stream: usize },
    /// Append a line longer than `max_line_bytes` (split into pieces).
    WriteLong { stream: usize },
    /// `mv x.log x.log.N` (`x.log-2026NNNN`, `old/x.log.N`: see [`rotated_name`]); the
    /// writer keeps writing to the renamed file until `Reopen`.
    RenameRotate { stream: usize, naming: usize },
    /// `gzip` the oldest rotated file the writer is done with (logrotate `compress`).
    Compress,
    /// The writer opens a fresh `x.log` after a rename.
    Reopen { stream: usize },
    /// `cp x.log x.log.cN && truncate x.log` (no drain: the copy must cover the gap).
    CopyTruncate { stream: usize },
    /// Drain, then truncate `x.log` in place.
    Truncate { stream: usize },
    /// Drain, then delete `x.log` and create a new one.
    DeleteRecreate { stream: usize },
    /// `rescan` then `poll`, committing the chunk.
    Poll { max: usize },
    /// `poll` without a rescan, committing the chunk.
    PollOnly { max: usize },
    /// Drop the tailer and rebuild it from the committed checkpoints.
    Restart,
    /// Poll, lose the chunk (crash before the commit), then restart.
    CrashAfterPoll { max: usize },
}

fn action() -> impl Strategy<Value = Action> {
    let stream = 0..STREAMS;
    let max = prop_oneof![1usize..64, 64usize..4096, Just(1 << 20)];
    prop_oneof![
        8 => (stream.clone(), 1usize..8, 0usize..24)
            .prop_map(|(stream, n, pad)| Action::Write { stream, n, pad }),
        2 => stream.clone().prop_map(|stream| Action::WritePartial { stream }),
        1 => stream.clone().prop_map(|stream| Action::WriteLong { stream }),
        2 => (stream.clone(), 0..3usize)
            .prop_map(|(stream, naming)| Action::RenameRotate { stream, naming }),
        1 => Just(Action::Compress),
        2 => stream.clone().prop_map(|stream| Action::Reopen { stream }),
        2 => stream.clone().prop_map(|stream| Action::CopyTruncate { stream }),
        1 => stream.clone().prop_map(|stream| Action::Truncate { stream }),
        1 => stream.prop_map(|stream| Action::DeleteRecreate { stream }),
        5 => max.clone().prop_map(|max| Action::Poll { max }),
        2 => max.clone().prop_map(|max| Action::PollOnly { max }),
        2 => Just(Action::Restart),
        1 => max.prop_map(|max| Action::CrashAfterPoll { max }),
    ]
}

/// One writing application.
struct Writer {
    path: PathBuf,
    file: File,
    /// Which physical content stream the writes go to.
    incarnation: usize,
    seq: usize,
    /// The rest of a half-written line.
    partial: Option<String>,
    renamed: bool,
    /// The file `path` was renamed to, while the writer still writes to it.
    rotated_to: Option<PathBuf>,
}

/// Rotated file name number `n` of `path` under naming scheme `naming`: logrotate's
/// default `.N`, `dateext`, and `olddir old`.
fn rotated_name(path: &Path, naming: usize, n: usize) -> PathBuf {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let dir = path.parent().unwrap();
    match naming {
        0 => dir.join(format!("{name}.{n}")),
        1 => dir.join(format!("{name}-2026{n:04}")),
        _ => dir.join("old").join(format!("{name}.{n}")),
    }
}

struct Harness {
    dir: tempfile::TempDir,
    config: TailConfig,
    tailer: Option<Tailer>,
    writers: Vec<Writer>,
    next_incarnation: usize,
    next_name: usize,
    /// Model: lines (and pieces) written, per incarnation, in order.
    written: BTreeMap<usize, Vec<String>>,
    /// What the caller persisted.
    committed_lines: Vec<String>,
    committed_checkpoints: BTreeMap<FileKey, Checkpoint>,
    /// Rotated files the writer is done with, oldest first (for `Compress`).
    closed_rotations: Vec<PathBuf>,
    /// Every rotated name is outside the glob (`*.log`).
    outside: bool,
}

fn append(file: &mut File, bytes: &[u8]) {
    file.write_all(bytes).unwrap();
}

fn open_append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

impl Harness {
    fn new(glob: &str) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("old")).unwrap();
        let config = TailConfig {
            include: vec![format!("{}/{glob}", dir.path().display())],
            exclude: vec![],
            max_line_bytes: MAX_LINE,
            ..TailConfig::default()
        };
        let mut h = Harness {
            writers: Vec::new(),
            dir,
            config,
            tailer: None,
            next_incarnation: 0,
            next_name: 0,
            written: BTreeMap::new(),
            committed_lines: Vec::new(),
            committed_checkpoints: BTreeMap::new(),
            closed_rotations: Vec::new(),
            outside: glob == "*.log",
        };
        for s in 0..STREAMS {
            let path = h.dir.path().join(format!("s{s}.log"));
            let file = open_append(&path);
            let incarnation = h.new_incarnation();
            h.writers.push(Writer {
                path,
                file,
                incarnation,
                seq: 0,
                partial: None,
                renamed: false,
                rotated_to: None,
            });
        }
        h.restart();
        h
    }

    fn new_incarnation(&mut self) -> usize {
        self.next_incarnation += 1;
        self.written.insert(self.next_incarnation, Vec::new());
        self.next_incarnation
    }

    fn line(&mut self, s: usize, pad: usize) -> String {
        let w = &mut self.writers[s];
        w.seq += 1;
        format!("s{s}-f{}-{:06}{}", w.incarnation, w.seq, "x".repeat(pad))
    }

    fn record(&mut self, s: usize, text: String) {
        let inc = self.writers[s].incarnation;
        self.written.get_mut(&inc).unwrap().push(text);
    }

    fn finish_partial(&mut self, s: usize) {
        if let Some(rest) = self.writers[s].partial.take() {
            append(&mut self.writers[s].file, format!("{rest}\n").as_bytes());
        }
    }

    fn write(&mut self, s: usize, n: usize, pad: usize) {
        self.finish_partial(s);
        let mut buf = String::new();
        for _ in 0..n {
            let line = self.line(s, pad);
            buf.push_str(&line);
            buf.push('\n');
            self.record(s, line);
        }
        append(&mut self.writers[s].file, buf.as_bytes());
    }

    fn write_partial(&mut self, s: usize) {
        self.finish_partial(s);
        let line = self.line(s, 5);
        let (head, tail) = line.split_at(line.len() / 2);
        append(&mut self.writers[s].file, head.as_bytes());
        self.writers[s].partial = Some(tail.to_owned());
        self.record(s, line);
    }

    fn write_long(&mut self, s: usize) {
        self.finish_partial(s);
        let w = &mut self.writers[s];
        w.seq += 1;
        // Unique 14-byte tokens, so every 64-byte piece is unique too.
        let line: String = (0..12)
            .map(|k| format!("<{s}{:03}{:05}{k:03}>", w.incarnation, w.seq))
            .collect();
        append(&mut w.file, format!("{line}\r\n").as_bytes());
        for piece in line.as_bytes().chunks(MAX_LINE) {
            self.record(s, String::from_utf8(piece.to_vec()).unwrap());
        }
    }

    fn reopen(&mut self, s: usize) {
        self.finish_partial(s);
        let inc = self.new_incarnation();
        let w = &mut self.writers[s];
        w.file = open_append(&w.path);
        w.incarnation = inc;
        w.renamed = false;
        if let Some(done) = w.rotated_to.take() {
            self.closed_rotations.push(done);
        }
    }

    /// Before a rotation out of the glob: the agent has seen the current file and
    /// committed its identity (a file renamed away before that is a documented limit).
    fn ensure_seen(&mut self, s: usize) {
        self.finish_partial(s);
        let inc = self.writers[s].incarnation;
        if self.written[&inc].is_empty() {
            self.write(s, 1, 0);
        }
        self.poll(true, 1);
    }

    fn ensure_open(&mut self, s: usize) {
        if self.writers[s].renamed {
            self.reopen(s);
        }
    }

    fn rename_rotate(&mut self, s: usize, naming: usize) {
        self.ensure_open(s);
        if self.outside || naming == 2 {
            self.ensure_seen(s);
        }
        self.next_name += 1;
        let w = &mut self.writers[s];
        let to = rotated_name(&w.path, naming, self.next_name);
        std::fs::rename(&w.path, &to).unwrap();
        w.renamed = true;
        w.rotated_to = Some(to);
    }

    fn compress(&mut self) {
        if self.closed_rotations.is_empty() {
            return;
        }
        let path = self.closed_rotations.remove(0);
        let data = std::fs::read(&path).unwrap();
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&data).unwrap();
        let gz = PathBuf::from(format!("{}.gz", path.display()));
        std::fs::write(gz, enc.finish().unwrap()).unwrap();
        std::fs::remove_file(&path).unwrap();
    }

    fn copy_truncate(&mut self, s: usize) {
        self.ensure_open(s);
        if self.outside {
            self.ensure_seen(s);
        }
        self.finish_partial(s);
        self.next_name += 1;
        let path = self.writers[s].path.clone();
        std::fs::copy(&path, format!("{}.c{}", path.display(), self.next_name)).unwrap();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(0)
            .unwrap();
        let inc = self.new_incarnation();
        self.writers[s].incarnation = inc;
    }

    fn truncate(&mut self, s: usize) {
        self.ensure_open(s);
        self.finish_partial(s);
        self.drain();
        let path = self.writers[s].path.clone();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(0)
            .unwrap();
        let inc = self.new_incarnation();
        self.writers[s].incarnation = inc;
    }

    fn delete_recreate(&mut self, s: usize) {
        self.ensure_open(s);
        self.finish_partial(s);
        self.drain();
        std::fs::remove_file(&self.writers[s].path).unwrap();
        self.reopen(s);
    }

    fn commit(&mut self, chunk: fleetlog_agent::tail::ReadChunk) -> usize {
        for t in &chunk.transitions {
            assert!(
                allowed(t.from, t.to),
                "transition not in the file-state machine: {t:?}"
            );
        }
        let n = chunk.lines.len();
        self.committed_lines
            .extend(chunk.lines.into_iter().map(|l| l.text));
        let forget: HashSet<&FileKey> = chunk.forget.iter().collect();
        for (key, _) in &chunk.checkpoints {
            assert!(
                !forget.contains(key),
                "key both checkpointed and forgotten: {key:?}"
            );
        }
        for (key, cp) in chunk.checkpoints {
            self.committed_checkpoints.insert(key, cp);
        }
        for key in chunk.forget {
            self.committed_checkpoints.remove(&key);
        }
        n
    }

    fn poll(&mut self, rescan: bool, max: usize) -> usize {
        let tailer = self.tailer.as_mut().unwrap();
        if rescan {
            tailer.rescan().unwrap();
        }
        let chunk = tailer.poll(max).unwrap();
        self.commit(chunk)
    }

    fn restart(&mut self) {
        self.tailer = None;
        let saved = self.committed_checkpoints.clone().into_iter().collect();
        self.tailer = Some(Tailer::new(self.config.clone(), saved).unwrap());
    }

    /// Rescan and poll until nothing new arrives twice in a row.
    fn drain(&mut self) {
        let mut quiet = 0;
        for _ in 0..1000 {
            if self.poll(true, 1 << 20) == 0 {
                quiet += 1;
                if quiet == 3 {
                    return;
                }
            } else {
                quiet = 0;
            }
        }
        panic!("drain did not settle");
    }

    fn apply(&mut self, action: &Action) {
        match *action {
            Action::Write { stream, n, pad } => self.write(stream, n, pad),
            Action::WritePartial { stream } => self.write_partial(stream),
            Action::WriteLong { stream } => self.write_long(stream),
            Action::RenameRotate { stream, naming } => self.rename_rotate(stream, naming),
            Action::Compress => self.compress(),
            Action::Reopen { stream } => self.reopen(stream),
            Action::CopyTruncate { stream } => self.copy_truncate(stream),
            Action::Truncate { stream } => self.truncate(stream),
            Action::DeleteRecreate { stream } => self.delete_recreate(stream),
            Action::Poll { max } => {
                self.poll(true, max);
            }
            Action::PollOnly { max } => {
                self.poll(false, max);
            }
            Action::Restart => self.restart(),
            Action::CrashAfterPoll { max } => {
                let tailer = self.tailer.as_mut().unwrap();
                tailer.rescan().unwrap();
                let _lost = tailer.poll(max).unwrap();
                self.restart();
            }
        }
    }

    fn check(&mut self) -> Result<(), TestCaseError> {
        for s in 0..STREAMS {
            self.finish_partial(s);
        }
        self.drain();
        let mut all_written: Vec<&String> = self.written.values().flatten().collect();
        let mut all_read: Vec<&String> = self.committed_lines.iter().collect();
        all_written.sort();
        all_read.sort();
        let missing: Vec<_> = diff(&all_written, &all_read);
        let extra: Vec<_> = diff(&all_read, &all_written);
        prop_assert!(
            missing.is_empty() && extra.is_empty(),
            "lost {} lines {:?}; duplicated or unexpected {} lines {:?}",
            missing.len(),
            missing.iter().take(10).collect::<Vec<_>>(),
            extra.len(),
            extra.iter().take(10).collect::<Vec<_>>()
        );
        let owner: HashMap<&String, usize> = self
            .written
            .iter()
            .flat_map(|(inc, ls)| ls.iter().map(move |l| (l, *inc)))
            .collect();
        let mut per_inc: BTreeMap<usize, Vec<&String>> = BTreeMap::new();
        for line in &self.committed_lines {
            per_inc.entry(owner[line]).or_default().push(line);
        }
        for (inc, got) in per_inc {
            let want: Vec<&String> = self.written[&inc].iter().collect();
            prop_assert_eq!(got, want, "order within incarnation {}", inc);
        }
        Ok(())
    }
}

/// The edges of the file-state machine (`tail` module docs, "File states").
fn allowed(from: Option<FileState>, to: FileState) -> bool {
    use FileState::{Draining, Forgotten, Open, Suspect};
    match (from, to) {
        // A file seen for the first time starts open.
        (None, Open) => true,
        // A released key is claimed (in the globs, or outside them) or forgotten.
        (Some(FileState::Released(_)), Open | Draining | Forgotten) => true,
        // A file being read leaves or re-enters the globs, or looks truncated to a poll.
        (Some(Open), Draining | Suspect) | (Some(Draining), Open | Suspect) => true,
        (Some(Suspect), Open | Draining) => true,
        // ... and is released: truncated, unreachable, or drained.
        (Some(Open | Draining | Suspect), FileState::Released(r)) => {
            !matches!(r, Released::Startup)
        }
        _ => false,
    }
}

/// Elements of sorted `a` not matched one-for-one in sorted `b`.
fn diff<'a>(a: &[&'a String], b: &[&'a String]) -> Vec<&'a String> {
    let mut out = Vec::new();
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j < b.len() && b[j] == x {
            j += 1;
        } else {
            out.push(x);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn tailer_delivers_every_line_exactly_once(actions in prop::collection::vec(action(), 1..40)) {
        let mut h = Harness::new("*.log*");
        for a in &actions {
            h.apply(a);
        }
        h.check()?;
    }

    /// The glob users write: every rotated file (`.N`, dateext, `old/`, `.gz`) is outside
    /// it, and is found again by identity after restarts and crashes.
    #[test]
    fn rotations_outside_the_glob_lose_and_duplicate_nothing(
        actions in prop::collection::vec(action(), 1..40)
    ) {
        let mut h = Harness::new("*.log");
        for a in &actions {
            h.apply(a);
        }
        h.check()?;
    }
}

/// 100 idle, fully read files hold no descriptor once the idle period has passed.
#[test]
fn idle_files_cost_no_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..100 {
        std::fs::write(
            dir.path().join(format!("f{i:03}.log")),
            format!("line {i}\n"),
        )
        .unwrap();
    }
    let config = TailConfig {
        include: vec![format!("{}/*.log", dir.path().display())],
        ..TailConfig::default()
    };
    let mut tailer = Tailer::new(config, Vec::new()).unwrap();
    let chunk = tailer.poll(1 << 20).unwrap();
    assert_eq!(chunk.lines.len(), 100);
    assert_eq!(tailer.watched_files(), 100);
    assert_eq!(tailer.open_files(), 100, "every file was just read");
    for _ in 0..fleetlog_agent::tail::IDLE_CLOSE_RESCANS {
        tailer.rescan().unwrap();
        assert!(tailer.poll(1 << 20).unwrap().lines.is_empty());
    }
    assert_eq!(tailer.open_files(), 0);
    // A write to one file reopens only that one.
    let mut f = open_append(&dir.path().join("f042.log"));
    append(&mut f, b"more\n");
    tailer.rescan().unwrap();
    let chunk = tailer.poll(1 << 20).unwrap();
    assert_eq!(
        chunk
            .lines
            .iter()
            .map(|l| l.text.as_str())
            .collect::<Vec<_>>(),
        ["more"]
    );
    assert_eq!(tailer.open_files(), 1);
}
