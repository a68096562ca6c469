//! The tailer: applies the decisions of `tail/mod.rs` to real files.
//!
//! `rescan` expands the globs and stats every match (one `stat` per file); `poll` does one
//! `fstat` per open file and reads only files that grew, with `pread` in
//! [`READ_CHUNK`]-sized blocks. A file's head (at most 256 bytes) is re-read only when its
//! size or mtime changed. Descriptors are held only for files read recently
//! ([`IDLE_CLOSE_RESCANS`]) and for files that left the globs while open
//! ([`ORPHAN_RELEASE_RESCANS`]); an idle file costs no descriptor.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::{debug, info, warn};

use super::fingerprint::{DevIno, StatSig, fingerprint_cap, fingerprint_len};
use super::{
    Candidate, Checkpoint, FINGERPRINT_MAX_BYTES, FileKey, IDLE_CLOSE_RESCANS, KnownCheck,
    LiveView, NewDecision, ORPHAN_RELEASE_RESCANS, ReadChunk, Released, TailConfig, TailError,
    TailLine, UNCLAIMED_TTL_RESCANS, UnclaimedView, check_known, decide_new, line_text,
    split_lines,
};

/// Bytes per `pread`.
pub(crate) const READ_CHUNK: usize = 256 * 1024;

/// How far back from the end `start_at_end` looks for the last line end.
const START_AT_END_LOOKBACK: u64 = 64 * 1024;

/// A file being read.
struct Tracked {
    key: FileKey,
    id: DevIno,
    /// First `min(256, size)` bytes at the last check.
    head: Vec<u8>,
    /// The path it was discovered under, reported with its lines.
    source: Arc<str>,
    /// The path it was discovered under, for the shadow rule.
    first_path: Arc<str>,
    /// Where it is now (for reopening).
    path: PathBuf,
    file: Option<File>,
    /// Just after the last line returned.
    offset: u64,
    /// Just after the last byte read; `read_pos == offset + pending.len()`.
    read_pos: u64,
    /// Bytes read past `offset` without a `'\n'`.
    pending: Vec<u8>,
    /// Size and mtime at the last check.
    sig: Option<StatSig>,
    verified: bool,
    readable: bool,
    /// The key or offset changed since the last checkpoint returned.
    dirty: bool,
    /// Rescans since the last byte read.
    idle: u32,
    /// Left the globs while open.
    orphan: bool,
    /// `poll` saw it restart; the next rescan releases it.
    suspect: bool,
}

impl Tracked {
    fn checkpoint(&self) -> Checkpoint {
        Checkpoint::new(self.offset, self.path.to_string_lossy())
    }
}

/// A released key, or a saved checkpoint not matched yet.
struct Unclaimed {
    checkpoint: Checkpoint,
    reason: Released,
    head: Option<Vec<u8>>,
    age: u32,
}

/// A file the globs found, not being read (new, too short, or a shadow).
struct CandidateFile {
    sig: StatSig,
    head: Vec<u8>,
}

struct Listed {
    path: PathBuf,
    name: Arc<str>,
    id: DevIno,
    sig: StatSig,
}

enum Checked {
    Ok,
    Restarted,
    Unavailable,
}

/// Reads lines from the files matching the configured globs; see the `tail` module docs.
pub struct Tailer {
    config: TailConfig,
    exclude: Vec<glob::Pattern>,
    cap: usize,
    tracked: Vec<Tracked>,
    unclaimed: BTreeMap<FileKey, Unclaimed>,
    candidates: HashMap<DevIno, CandidateFile>,
    forget: Vec<FileKey>,
    /// Last fragments of released files, delivered by the next poll.
    flushed: Vec<TailLine>,
    /// Checkpoints of released files, delivered by the next poll.
    released_checkpoints: Vec<(FileKey, Checkpoint)>,
    scratch: Vec<u8>,
    scans: u64,
    next: usize,
}

const MATCH: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

impl Tailer {
    /// Builds a tailer resuming from `saved` checkpoints and runs the startup scan.
    pub fn new(config: TailConfig, saved: Vec<(FileKey, Checkpoint)>) -> Result<Tailer, TailError> {
        if config.max_line_bytes == 0 {
            return Err(TailError::InvalidConfig {
                key: "max_line_bytes",
                reason: "must be greater than 0".into(),
            });
        }
        let compile = |pattern: &String| {
            glob::Pattern::new(pattern).map_err(|source| TailError::Pattern {
                pattern: pattern.clone(),
                source,
            })
        };
        for pattern in &config.include {
            compile(pattern)?;
        }
        let exclude = config
            .exclude
            .iter()
            .map(compile)
            .collect::<Result<Vec<_>, _>>()?;
        let unclaimed = saved
            .into_iter()
            .map(|(key, checkpoint)| {
                let u = Unclaimed {
                    checkpoint,
                    reason: Released::Startup,
                    head: None,
                    age: 0,
                };
                (key, u)
            })
            .collect();
        let mut tailer = Tailer {
            cap: fingerprint_cap(config.max_line_bytes),
            config,
            exclude,
            tracked: Vec::new(),
            unclaimed,
            candidates: HashMap::new(),
            forget: Vec::new(),
            flushed: Vec::new(),
            released_checkpoints: Vec::new(),
            scratch: Vec::new(),
            scans: 0,
            next: 0,
        };
        tailer.rescan()?;
        Ok(tailer)
    }

    /// Files found by the globs (being read, waiting or shadowing a copy).
    pub fn watched_files(&self) -> usize {
        self.tracked.len() + self.candidates.len()
    }

    /// File descriptors held right now.
    pub fn open_files(&self) -> usize {
        self.tracked.iter().filter(|t| t.file.is_some()).count()
    }

    /// Reads complete lines, up to about `max_bytes` read in total, from all files.
    ///
    /// Never returns a partial line: a trailing fragment without `'\n'` waits, unless it
    /// exceeds `max_line_bytes`. The chunk's checkpoints are the positions just after its
    /// lines; the caller persists them together with the lines.
    pub fn poll(&mut self, max_bytes: usize) -> Result<ReadChunk, TailError> {
        let mut chunk = ReadChunk {
            lines: std::mem::take(&mut self.flushed),
            ..Default::default()
        };
        let mut budget = max_bytes.max(1);
        let n = self.tracked.len();
        for k in 0..n {
            if budget == 0 {
                break;
            }
            let i = (self.next + k) % n;
            self.read_one(i, &mut budget, &mut chunk.lines);
        }
        self.next = self.next.wrapping_add(1);
        chunk.checkpoints = std::mem::take(&mut self.released_checkpoints);
        for t in self.tracked.iter_mut().filter(|t| t.dirty) {
            t.dirty = false;
            chunk.checkpoints.push((t.key.clone(), t.checkpoint()));
        }
        let mut forget = std::mem::take(&mut self.forget);
        if !forget.is_empty() {
            // Keep the two lists disjoint: a live key wins over a stale forget, a forget
            // wins over the last checkpoint of a released key.
            let live: HashSet<&FileKey> = self.tracked.iter().map(|t| &t.key).collect();
            forget.retain(|k| !live.contains(k));
            forget.sort();
            forget.dedup();
            chunk
                .checkpoints
                .retain(|(k, _)| forget.binary_search(k).is_err());
        }
        chunk.forget = forget;
        Ok(chunk)
    }

    /// Re-expands the globs: new files, renames, rotations, truncations, deletions.
    pub fn rescan(&mut self) -> Result<(), TailError> {
        let startup = self.scans == 0;
        self.scans += 1;
        let listing = self.list();
        let by_id: HashMap<DevIno, usize> =
            listing.iter().enumerate().map(|(i, l)| (l.id, i)).collect();

        // 1. Files being read.
        let mut i = 0;
        while i < self.tracked.len() {
            let t = &mut self.tracked[i];
            t.idle = t.idle.saturating_add(1);
            if let Some(&li) = by_id.get(&t.id) {
                let l = &listing[li];
                t.orphan = false;
                if t.path != l.path {
                    let (from, to) = (t.path.display(), l.path.display());
                    info!(%from, %to, key = ?t.key, "File renamed; following it.");
                    t.path = l.path.clone();
                }
                if (t.suspect || t.sig != Some(l.sig))
                    && let Checked::Restarted = check(t, l.sig, self.cap, &mut self.forget)
                {
                    info!(path = %l.path.display(), "File truncated or replaced; reading from 0.");
                    self.release(i, Released::Restarted { id: l.id });
                    continue;
                }
                if t.file.is_some() && !t.readable && t.idle >= IDLE_CLOSE_RESCANS {
                    debug!(path = %t.path.display(), "Closing idle file.");
                    t.file = None;
                }
            } else {
                // Deleted, or renamed out of the globs: read what the writer still adds.
                let meta = t.file.as_ref().map(File::metadata);
                match meta {
                    Some(Ok(meta)) if t.idle < ORPHAN_RELEASE_RESCANS || t.readable => {
                        if !t.orphan {
                            let path = t.path.display();
                            info!(%path, "File left the globs; reading it to its end.");
                            t.orphan = true;
                        }
                        let sig = StatSig::of(&meta);
                        if t.sig != Some(sig)
                            && let Checked::Restarted = check(t, sig, self.cap, &mut self.forget)
                        {
                            self.release(i, Released::Gone);
                            continue;
                        }
                    }
                    _ => {
                        debug!(path = %t.path.display(), "Releasing file that left the globs.");
                        self.release(i, Released::Gone);
                        continue;
                    }
                }
            }
            i += 1;
        }

        // 2. Files not being read.
        let tracked_ids: HashSet<DevIno> = self.tracked.iter().map(|t| t.id).collect();
        let mut pending: Vec<usize> = Vec::new();
        for (li, l) in listing.iter().enumerate() {
            if tracked_ids.contains(&l.id) {
                continue;
            }
            let fresh = self.candidates.get(&l.id).is_some_and(|c| c.sig == l.sig);
            if !fresh {
                let Some(file) = open_verified(&l.path, l.id) else {
                    continue;
                };
                match read_head(&file, l.sig.size) {
                    Ok(head) => {
                        self.candidates
                            .insert(l.id, CandidateFile { sig: l.sig, head });
                    }
                    Err(err) => {
                        debug!(path = %l.path.display(), error = %err, "Cannot read file head.");
                        continue;
                    }
                }
            }
            pending.push(li);
        }
        self.candidates
            .retain(|id, _| by_id.contains_key(id) && !tracked_ids.contains(id));
        for exact_only in [true, false] {
            let mut k = 0;
            while k < pending.len() {
                let l = &listing[pending[k]];
                if self.decide(l, startup, exact_only) {
                    pending.swap_remove(k);
                } else {
                    k += 1;
                }
            }
        }

        // 3. Keys nobody claimed for long enough.
        let expired: Vec<FileKey> = self
            .unclaimed
            .iter_mut()
            .filter_map(|(k, u)| {
                u.age += 1;
                (u.age > UNCLAIMED_TTL_RESCANS).then(|| k.clone())
            })
            .collect();
        for key in expired {
            debug!(?key, "Forgetting checkpoint of a file that is gone.");
            self.unclaimed.remove(&key);
            self.forget.push(key);
        }
        Ok(())
    }

    /// Decides about one candidate; returns whether it is now being read.
    fn decide(&mut self, l: &Listed, startup: bool, exact_only: bool) -> bool {
        let Some(cand) = self.candidates.get(&l.id) else {
            return false;
        };
        if fingerprint_len(&cand.head, self.cap).is_none() {
            return false; // Nothing to decide (or read) before a complete line.
        }
        let c = Candidate {
            id: l.id,
            path: &l.name,
            size: l.sig.size,
            head: &cand.head,
        };
        let live: Vec<LiveView<'_>> = self
            .tracked
            .iter()
            .map(|t| LiveView {
                first_path: &t.first_path,
                head: &t.head,
            })
            .collect();
        let keys: Vec<&FileKey> = self.unclaimed.keys().collect();
        let views: Vec<UnclaimedView<'_>> = self
            .unclaimed
            .iter()
            .map(|(key, u)| UnclaimedView {
                key,
                offset: u.checkpoint.offset,
                path: &u.checkpoint.path,
                reason: u.reason,
                head: u.head.as_deref(),
            })
            .collect();
        let decision = decide_new(&c, &live, &views, self.cap, exact_only);
        let has_checkpoint = views
            .iter()
            .any(|u| u.key.dev == l.id.dev && u.key.ino == l.id.ino);
        let (offset, old_key, fingerprint) = match decision {
            NewDecision::Wait => return false,
            NewDecision::Shadow(owner) => {
                let (path, copy_of) = (l.path.display(), self.tracked[owner].path.display());
                debug!(%path, %copy_of, "File looks like a copy of a file being read; waiting.");
                return false;
            }
            NewDecision::Resume(ui) => {
                let key = keys[ui].clone();
                let fingerprint = key.fingerprint;
                let offset = views[ui].offset;
                (offset, Some(key), fingerprint)
            }
            NewDecision::New(fingerprint) => {
                let at_end = startup && self.config.start_at_end && !has_checkpoint;
                let offset = if at_end {
                    end_of_last_line(&l.path, l.id, l.sig.size)
                } else {
                    0
                };
                (offset, None, fingerprint)
            }
        };
        let Some(cand) = self.candidates.remove(&l.id) else {
            return false;
        };
        let key = FileKey {
            fingerprint,
            dev: l.id.dev,
            ino: l.id.ino,
        };
        let exact = old_key.as_ref() == Some(&key);
        if let Some(old) = &old_key {
            self.unclaimed.remove(old);
            if !exact {
                self.forget.push(old.clone());
            }
            info!(path = %l.path.display(), offset, moved = !exact, "Resuming file.");
        } else {
            info!(path = %l.path.display(), offset, "Reading new file.");
        }
        self.tracked.push(Tracked {
            key,
            id: l.id,
            head: cand.head,
            source: l.name.clone(),
            first_path: l.name.clone(),
            path: l.path.clone(),
            file: None,
            offset,
            read_pos: offset,
            pending: Vec::new(),
            sig: Some(l.sig),
            // A copy taken over may still be shorter than the offset (cp in progress).
            verified: l.sig.size >= offset,
            readable: l.sig.size > offset,
            dirty: !exact,
            idle: 0,
            orphan: false,
            suspect: false,
        });
        true
    }

    /// Stops reading tracked file `i`; its key waits unclaimed (see the module docs).
    fn release(&mut self, i: usize, reason: Released) {
        let mut t = self.tracked.swap_remove(i);
        if reason == Released::Gone && !t.pending.is_empty() {
            // The writer is done with this file: its unterminated last line is a line.
            let mut last = &t.pending[..];
            if let [rest @ .., b'\r'] = last {
                last = rest;
            }
            self.flushed.push(TailLine {
                source: t.source.clone(),
                text: line_text(last),
            });
            t.offset = t.read_pos;
            t.dirty = true;
        }
        if t.dirty {
            self.released_checkpoints
                .push((t.key.clone(), t.checkpoint()));
        }
        let checkpoint = t.checkpoint();
        let head = Some(std::mem::take(&mut t.head));
        self.unclaimed.insert(
            t.key,
            Unclaimed {
                checkpoint,
                reason,
                head,
                age: 0,
            },
        );
    }

    /// Reads tracked file `i` while it has new bytes and the budget lasts.
    fn read_one(&mut self, i: usize, budget: &mut usize, out: &mut Vec<TailLine>) {
        let Tailer {
            tracked,
            scratch,
            forget,
            cap,
            config,
            ..
        } = self;
        let t = &mut tracked[i];
        if t.suspect || (t.file.is_none() && !t.readable) {
            return;
        }
        if t.file.is_none() {
            t.file = open_verified(&t.path, t.id);
            if t.file.is_none() {
                // Renamed or gone since the last rescan, which will find it and re-check.
                t.readable = false;
                t.sig = None;
                return;
            }
        }
        let meta = match t.file.as_ref().map(File::metadata) {
            Some(Ok(meta)) => meta,
            _ => return,
        };
        let sig = StatSig::of(&meta);
        if t.sig != Some(sig) {
            match check(t, sig, *cap, forget) {
                Checked::Ok => {}
                Checked::Restarted => {
                    t.suspect = true;
                    return;
                }
                Checked::Unavailable => return,
            }
        }
        if !t.readable {
            return;
        }
        let Some(file) = t.file.as_ref() else { return };
        let source = t.source.clone();
        let max_line = config.max_line_bytes;
        while *budget > 0 {
            let want = READ_CHUNK.min(*budget);
            let plen = t.pending.len();
            if scratch.len() < plen + want {
                scratch.resize(plen + want, 0);
            }
            scratch[..plen].copy_from_slice(&t.pending);
            let n = match read_at(file, &mut scratch[plen..plen + want], t.read_pos) {
                Ok(n) => n,
                Err(err) => {
                    warn!(path = %t.path.display(), error = %err, "Read failed; will retry.");
                    return;
                }
            };
            if n == 0 {
                t.readable = false;
                break;
            }
            t.read_pos += n as u64;
            *budget = budget.saturating_sub(n);
            t.idle = 0;
            let data = &scratch[..plen + n];
            let consumed = split_lines(data, max_line, |piece| {
                out.push(TailLine {
                    source: source.clone(),
                    text: line_text(piece),
                });
            });
            if consumed > 0 {
                t.offset += consumed as u64;
                t.dirty = true;
            }
            t.pending.clear();
            t.pending.extend_from_slice(&data[consumed..]);
            if n < want {
                t.readable = false;
                break;
            }
        }
    }

    /// The files matching the globs, sorted by path, one entry per inode.
    fn list(&self) -> Vec<Listed> {
        let mut out = Vec::new();
        for pattern in &self.config.include {
            let Ok(paths) = glob::glob_with(pattern, MATCH) else {
                continue;
            };
            for entry in paths {
                let path = match entry {
                    Ok(path) => path,
                    Err(err) => {
                        debug!(error = %err, "Skipping unreadable path.");
                        continue;
                    }
                };
                if self
                    .exclude
                    .iter()
                    .any(|p| p.matches_path_with(&path, MATCH))
                {
                    continue;
                }
                // Follows symlinks (Kubernetes /var/log/containers); vanished files are skipped.
                let Ok(meta) = std::fs::metadata(&path) else {
                    continue;
                };
                if !meta.is_file() {
                    continue;
                }
                let name = Arc::from(path.to_string_lossy().as_ref());
                out.push(Listed {
                    path,
                    name,
                    id: DevIno::of(&meta),
                    sig: StatSig::of(&meta),
                });
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        let mut seen = HashSet::new();
        out.retain(|l| seen.insert(l.id));
        out
    }
}

/// Re-checks a tracked file whose size or mtime changed (see [`check_known`]).
fn check(t: &mut Tracked, sig: StatSig, cap: usize, forget: &mut Vec<FileKey>) -> Checked {
    if t.file.is_none() {
        t.file = open_verified(&t.path, t.id);
    }
    let Some(file) = t.file.as_ref() else {
        return Checked::Unavailable;
    };
    let head = match read_head(file, sig.size) {
        Ok(head) => head,
        Err(err) => {
            debug!(path = %t.path.display(), error = %err, "Cannot read file head.");
            return Checked::Unavailable;
        }
    };
    match check_known(
        t.key.fingerprint,
        t.read_pos,
        t.verified,
        sig.size,
        &head,
        cap,
    ) {
        KnownCheck::Restarted => Checked::Restarted,
        KnownCheck::Continue {
            upgrade,
            verified,
            readable,
        } => {
            if let Some(fingerprint) = upgrade {
                forget.push(t.key.clone());
                t.key.fingerprint = fingerprint;
                t.dirty = true;
            }
            t.head = head;
            t.verified = verified;
            t.readable = readable;
            t.suspect = false;
            t.sig = Some(sig);
            Checked::Ok
        }
    }
}

/// Opens `path` if it is still the inode `id`.
fn open_verified(path: &Path, id: DevIno) -> Option<File> {
    let file = File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    (DevIno::of(&meta) == id).then_some(file)
}

/// One `pread`, retried on `EINTR`.
fn read_at(file: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    loop {
        match file.read_at(buf, pos) {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// The first `min(256, size)` bytes (fewer if the file shrank meanwhile).
fn read_head(file: &File, size: u64) -> io::Result<Vec<u8>> {
    let want = size.min(FINGERPRINT_MAX_BYTES as u64) as usize;
    let mut head = vec![0; want];
    let mut got = 0;
    while got < want {
        let n = read_at(file, &mut head[got..], got as u64)?;
        if n == 0 {
            break;
        }
        got += n;
    }
    head.truncate(got);
    Ok(head)
}

/// For `start_at_end`: the position after the last `'\n'` in the final 64 KiB, else `size`.
fn end_of_last_line(path: &Path, id: DevIno, size: u64) -> u64 {
    let Some(file) = open_verified(path, id) else {
        return size;
    };
    let from = size.saturating_sub(START_AT_END_LOOKBACK);
    let mut tail = vec![0; (size - from) as usize];
    match read_at(&file, &mut tail, from) {
        Ok(n) => memchr::memrchr(b'\n', &tail[..n]).map_or(size, |p| from + p as u64 + 1),
        Err(_) => size,
    }
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;
    use std::io::Write as _;

    use super::*;

    fn setup(pattern: &str) -> (tempfile::TempDir, TailConfig) {
        let dir = tempfile::tempdir().unwrap();
        let config = TailConfig {
            include: vec![format!("{}/{pattern}", dir.path().display())],
            ..TailConfig::default()
        };
        (dir, config)
    }

    fn append(path: &Path, text: &str) {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }

    fn texts(tailer: &mut Tailer) -> Vec<String> {
        tailer.rescan().unwrap();
        tailer
            .poll(1 << 20)
            .unwrap()
            .lines
            .into_iter()
            .map(|l| l.text)
            .collect()
    }

    #[test]
    fn rename_rotation_reads_old_file_to_its_end_once() {
        let (dir, config) = setup("pos.log*");
        let log = dir.path().join("pos.log");
        append(&log, "1\n2\n");
        let mut writer = OpenOptions::new().append(true).open(&log).unwrap();
        let mut tailer = Tailer::new(config, Vec::new()).unwrap();
        assert_eq!(texts(&mut tailer), ["1", "2"]);
        std::fs::rename(&log, dir.path().join("pos.log.1")).unwrap();
        writer.write_all(b"3\n").unwrap(); // after the rename, before the reopen
        append(&log, "new 1\n");
        let mut got = texts(&mut tailer);
        got.sort();
        assert_eq!(got, ["3", "new 1"]);
        assert!(texts(&mut tailer).is_empty());
    }

    #[test]
    fn rename_rotation_out_of_glob_is_read_through_the_open_descriptor() {
        let (dir, config) = setup("*.log");
        let log = dir.path().join("pos.log");
        append(&log, "1\n");
        let mut writer = OpenOptions::new().append(true).open(&log).unwrap();
        let mut tailer = Tailer::new(config, Vec::new()).unwrap();
        assert_eq!(texts(&mut tailer), ["1"]);
        std::fs::rename(&log, dir.path().join("pos.log.1")).unwrap();
        writer.write_all(b"2\n").unwrap();
        assert_eq!(texts(&mut tailer), ["2"]);
    }

    #[test]
    fn copytruncate_recovers_unread_lines_from_the_copy() {
        let (dir, config) = setup("pos.log*");
        let log = dir.path().join("pos.log");
        append(&log, "1\n2\n");
        let mut tailer = Tailer::new(config, Vec::new()).unwrap();
        assert_eq!(texts(&mut tailer), ["1", "2"]);
        append(&log, "3\n4\n"); // never read from pos.log
        std::fs::copy(&log, dir.path().join("pos.log.1")).unwrap();
        OpenOptions::new()
            .write(true)
            .open(&log)
            .unwrap()
            .set_len(0)
            .unwrap();
        append(&log, "after\n");
        let mut got = texts(&mut tailer);
        got.sort();
        assert_eq!(got, ["3", "4", "after"]);
        assert!(texts(&mut tailer).is_empty());
    }

    #[test]
    fn restart_finds_a_file_rotated_while_down() {
        let (dir, config) = setup("pos.log*");
        let log = dir.path().join("pos.log");
        append(&log, "1\n");
        let mut tailer = Tailer::new(config.clone(), Vec::new()).unwrap();
        tailer.rescan().unwrap();
        let chunk = tailer.poll(1 << 20).unwrap();
        assert_eq!(chunk.lines.len(), 1);
        drop(tailer);
        append(&log, "2\n");
        std::fs::rename(&log, dir.path().join("pos.log.1")).unwrap();
        append(&log, "new\n");
        let mut tailer = Tailer::new(config, chunk.checkpoints).unwrap();
        let mut got = texts(&mut tailer);
        got.sort();
        assert_eq!(got, ["2", "new"]);
    }

    #[test]
    fn start_at_end_skips_existing_content_of_new_files_only() {
        let (dir, mut config) = setup("*.log");
        config.start_at_end = true;
        let log = dir.path().join("a.log");
        append(&log, "old\npartial");
        let mut tailer = Tailer::new(config, Vec::new()).unwrap();
        append(&log, " line\nnext\n");
        append(&dir.path().join("b.log"), "b1\n");
        let mut got = texts(&mut tailer);
        got.sort();
        assert_eq!(got, ["b1", "next", "partial line"]);
    }
}
