//! The tailer: applies the decisions of `tail/mod.rs` to real files.
//!
//! `rescan` expands the globs and stats every match (one `stat` per file); `poll` does one
//! `fstat` per open file and reads only files that grew, with `pread` in
//! [`READ_CHUNK`]-sized blocks. A file's head (at most 256 bytes) is re-read only when its
//! size or mtime changed. Descriptors are held only for files read recently
//! ([`IDLE_CLOSE_RESCANS`]) and for files that left the globs while open
//! ([`ORPHAN_RELEASE_RESCANS`]); an idle file costs no descriptor.
//!
//! Keys not found by the globs are looked for outside them (rule 6 of the module docs) by
//! listing the directory of their last path and its subdirectories; only entries with a
//! wanted inode or a related name are stat-ed. gzip files are read through a streaming
//! decoder, positioned by decompressed bytes; the decoder lives only while the file has
//! bytes to read.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{DirEntryExt, FileExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;
use tracing::{debug, info, warn};

use super::fingerprint::{DevIno, StatSig, fingerprint_cap, fingerprint_len};
use super::{
    Candidate, Checkpoint, Codec, FINGERPRINT_MAX_BYTES, FileKey, FileState, Fingerprint,
    IDLE_CLOSE_RESCANS, KnownCheck, LiveView, NewDecision, Observed, ReadChunk, Released, Sample,
    TailConfig, TailError, TailLine, Transition, UNCLAIMED_TTL_RESCANS, UnclaimedView, check_known,
    codec_of, decide_new, line_text, next_state, related_name, search_due, split_lines,
};

/// Bytes per `pread`.
pub(crate) const READ_CHUNK: usize = 256 * 1024;

/// How far back from the end `start_at_end` looks for the last line end.
const START_AT_END_LOOKBACK: u64 = 64 * 1024;

/// Bytes kept before `offset` for the checkpoint's `before` fingerprint.
const BEFORE_BYTES: usize = FINGERPRINT_MAX_BYTES;

/// The size given to the decisions for a compressed file: unknown, so never "shorter".
const UNKNOWN_SIZE: u64 = u64::MAX;

/// A file being read.
struct Tracked {
    key: FileKey,
    id: DevIno,
    state: FileState,
    codec: Codec,
    /// First `min(256, size)` bytes at the last check (decompressed).
    head: Vec<u8>,
    /// The path lines are reported under.
    source: Arc<str>,
    /// The path it was discovered under, for the shadow rule.
    first_path: Arc<str>,
    /// Where it is now (for reopening).
    path: PathBuf,
    file: Option<File>,
    /// A gzip file's decoder, positioned at `read_pos`.
    decoder: Option<MultiGzDecoder<ReadAt>>,
    /// Just after the last line returned.
    offset: u64,
    /// Just after the last byte read; `read_pos == offset + pending.len()`.
    read_pos: u64,
    /// Bytes read past `offset` without a `'\n'`.
    pending: Vec<u8>,
    /// Up to [`BEFORE_BYTES`] bytes just before `offset`, as far as read since it started.
    before: Vec<u8>,
    /// Size and mtime at the last check.
    sig: Option<StatSig>,
    verified: bool,
    readable: bool,
    /// The key or offset changed since the last checkpoint returned.
    dirty: bool,
    /// Rescans since the last byte read.
    idle: u32,
    /// The last piece returned was cut from an over-long line: the next continues it.
    cut: bool,
}

impl Tracked {
    fn checkpoint(&self) -> Checkpoint {
        let before =
            (self.offset > 0 && !self.before.is_empty()).then(|| Fingerprint::of(&self.before));
        Checkpoint::new(self.offset, self.path.to_string_lossy()).with_before(before)
    }

    /// Moves `offset` past `consumed`, the bytes just returned as lines.
    fn advance(&mut self, consumed: &[u8]) {
        self.offset += consumed.len() as u64;
        keep_last(&mut self.before, consumed);
        self.dirty = true;
    }

    /// The size to judge this file by (see [`UNKNOWN_SIZE`]).
    fn judged_size(&self, sig: StatSig) -> u64 {
        if self.codec == Codec::Plain {
            sig.size
        } else {
            UNKNOWN_SIZE
        }
    }
}

/// A file read with `pread` from a position of its own (a `dup`ed descriptor shares the
/// cursor, so `Read` on it would not do).
struct ReadAt {
    file: File,
    pos: u64,
}

impl Read for ReadAt {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = read_at(&self.file, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// A gzip decoder over `file` from its first byte.
fn gunzip(file: File) -> MultiGzDecoder<ReadAt> {
    MultiGzDecoder::new(ReadAt { file, pos: 0 })
}

/// A released key, or a saved checkpoint not matched yet.
struct Unclaimed {
    checkpoint: Checkpoint,
    reason: Released,
    head: Option<Vec<u8>>,
    /// Ticks since released.
    age: u32,
    /// `age` at the previous rescan.
    before: u32,
}

impl Unclaimed {
    fn search_due(&self) -> bool {
        search_due(self.reason, self.before, self.age)
    }
}

/// A file not being read (new, too short, a shadow, or found outside the globs).
struct CandidateFile {
    sig: StatSig,
    codec: Codec,
    /// First `min(256, size)` bytes, decompressed.
    head: Vec<u8>,
    /// Content length and last (at most 256) content bytes, once computed for this `sig`.
    end: Option<Option<(u64, Vec<u8>)>>,
    /// [`Sample`]s against unclaimed keys, for this `sig`.
    samples: HashMap<FileKey, Sample>,
    warned: bool,
    /// Its head matched a live file's but its end did not, once: it may be a copy caught
    /// while being written. It is decided at the next rescan that still sees it so.
    doubted: bool,
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
    /// `TailConfig::start_at_end_globs`, compiled.
    at_end: Vec<glob::Pattern>,
    cap: usize,
    tracked: Vec<Tracked>,
    unclaimed: BTreeMap<FileKey, Unclaimed>,
    candidates: HashMap<DevIno, CandidateFile>,
    /// Files outside the globs examined by the last search.
    outside: HashMap<DevIno, CandidateFile>,
    forget: Vec<FileKey>,
    /// Last fragments of released files, delivered by the next poll.
    flushed: Vec<TailLine>,
    /// Checkpoints of released files, delivered by the next poll.
    released_checkpoints: Vec<(FileKey, Checkpoint)>,
    transitions: Vec<Transition>,
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
        let at_end = config
            .start_at_end_globs
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
                    before: 0,
                };
                (key, u)
            })
            .collect();
        let mut tailer = Tailer {
            cap: fingerprint_cap(config.max_line_bytes),
            config,
            exclude,
            at_end,
            tracked: Vec::new(),
            unclaimed,
            candidates: HashMap::new(),
            outside: HashMap::new(),
            forget: Vec::new(),
            flushed: Vec::new(),
            released_checkpoints: Vec::new(),
            transitions: Vec::new(),
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

    /// Bytes of each plain file not read yet (size at the last check minus the position
    /// after the last line returned), largest first.
    pub fn lags(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = self
            .tracked
            .iter()
            .filter(|t| t.codec == Codec::Plain)
            .filter_map(|t| {
                let size = t.sig?.size;
                Some((t.source.to_string(), size.saturating_sub(t.offset)))
            })
            .collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
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
        // Every file gets a turn of at most one quantum, then the files that used theirs
        // whole share what is left, turn by turn: a file written at full speed cannot
        // keep a quiet one waiting for more than one poll.
        let mut busy = Vec::new();
        for k in 0..n {
            if budget == 0 {
                break;
            }
            let i = (self.next + k) % n;
            if self.read_turn(i, &mut budget, &mut chunk.lines) {
                busy.push(i);
            }
        }
        while budget > 0 && !busy.is_empty() {
            let mut still = Vec::with_capacity(busy.len());
            for i in busy {
                if budget > 0 && self.read_turn(i, &mut budget, &mut chunk.lines) {
                    still.push(i);
                }
            }
            busy = still;
        }
        self.next = self.next.wrapping_add(1);
        chunk.budget_spent = budget == 0;
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
        chunk.transitions = std::mem::take(&mut self.transitions);
        Ok(chunk)
    }

    fn note(&mut self, path: &Path, key: &FileKey, from: Option<FileState>, to: FileState) {
        self.transitions.push(Transition {
            path: path.to_string_lossy().into_owned(),
            key: key.clone(),
            from,
            to,
        });
    }

    /// Re-expands the globs (new files, renames, rotations, truncations, deletions) as one
    /// tick of the tailer's clock.
    pub fn rescan(&mut self) -> Result<(), TailError> {
        self.rescan_after(1)
    }

    /// Reads next the tracked files at these paths (data was written to them), without a
    /// rescan: a write costs a lookup, not a tree walk. Paths of no tracked file are
    /// ignored; the next rescan finds what they are.
    pub fn touch(&mut self, written: &HashSet<PathBuf>) {
        if written.is_empty() {
            return;
        }
        for t in self.tracked.iter_mut() {
            if !t.readable && (written.contains(&t.path) || written.contains(Path::new(&*t.source)))
            {
                t.readable = true;
            }
        }
    }

    /// [`Tailer::rescan`] after `ticks` ticks of [`super::TICK`]: ages (idle files,
    /// released keys) advance by `ticks`; 0 for a rescan a file-system event asked for.
    pub fn rescan_after(&mut self, ticks: u32) -> Result<(), TailError> {
        let startup = self.scans == 0;
        self.scans += 1;
        let listing = self.list();
        let by_id: HashMap<DevIno, usize> =
            listing.iter().enumerate().map(|(i, l)| (l.id, i)).collect();

        // 1. Files being read.
        let mut i = 0;
        while i < self.tracked.len() {
            let t = &mut self.tracked[i];
            t.idle = t.idle.saturating_add(ticks);
            let listed = by_id.get(&t.id).map(|&li| &listing[li]);
            let mut restarted = false;
            let mut reachable = true;
            if let Some(l) = listed {
                if t.path != l.path {
                    let (from, to) = (t.path.display(), l.path.display());
                    info!(%from, %to, key = ?t.key, "File renamed; following it.");
                    t.path = l.path.clone();
                }
                if t.state == FileState::Suspect || t.sig != Some(l.sig) {
                    restarted = matches!(
                        check(t, l.sig, self.cap, &mut self.forget),
                        Checked::Restarted
                    );
                }
                if t.file.is_some() && !t.readable && t.idle >= IDLE_CLOSE_RESCANS {
                    debug!(path = %t.path.display(), "Closing idle file.");
                    t.file = None;
                    t.decoder = None;
                }
            } else {
                // Deleted, or rotated out of the globs: read what the writer still adds,
                // through the descriptor, or at the file's new name (rule 6).
                if t.file.is_none() {
                    t.file = open_verified(&t.path, t.id);
                }
                let (path, id) = (t.path.clone(), t.id);
                if t.file.is_none()
                    && let Some(found) = self.find_by_inode(&path, id)
                {
                    let t = &mut self.tracked[i];
                    let (from, to) = (t.path.display(), found.display());
                    info!(%from, %to, key = ?t.key, "File left the globs; found it by identity.");
                    t.file = open_verified(&found, t.id);
                    t.path = found;
                }
                let t = &mut self.tracked[i];
                match t.file.as_ref().map(File::metadata) {
                    Some(Ok(meta)) => {
                        let sig = StatSig::of(&meta);
                        if t.state == FileState::Suspect || t.sig != Some(sig) {
                            restarted = matches!(
                                check(t, sig, self.cap, &mut self.forget),
                                Checked::Restarted
                            );
                        }
                    }
                    _ => reachable = false,
                }
            }
            let t = &mut self.tracked[i];
            let to = next_state(&Observed {
                id: t.id,
                in_globs: listed.is_some(),
                reachable,
                restarted,
                readable: t.readable,
                idle: t.idle,
            });
            if let FileState::Released(reason) = to {
                let path = t.path.display();
                match reason {
                    Released::Restarted { .. } => {
                        info!(%path, "File truncated or replaced; reading from 0.");
                    }
                    Released::Drained => {
                        debug!(%path, "File outside the globs read to its end; releasing it.")
                    }
                    _ => debug!(%path, "Releasing file that left the globs."),
                }
                self.release(i, reason);
                continue;
            }
            if to != t.state {
                if to == FileState::Draining {
                    let path = t.path.display();
                    info!(%path, "File left the globs; reading it to its end.");
                }
                let (path, key, from) = (t.path.clone(), t.key.clone(), t.state);
                t.state = to;
                self.note(&path, &key, Some(from), to);
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
            if refresh_candidate(&mut self.candidates, l) {
                pending.push(li);
            }
        }
        self.candidates
            .retain(|id, _| by_id.contains_key(id) && !tracked_ids.contains(id));
        for exact_only in [true, false] {
            let mut k = 0;
            while k < pending.len() {
                let l = &listing[pending[k]];
                if self.decide(l, startup, exact_only, false) {
                    pending.swap_remove(k);
                } else {
                    k += 1;
                }
            }
        }

        // 3. Keys the globs did not find: look for them outside (rule 6).
        self.search_outside(&listing);

        // 4. Keys nobody claimed for long enough.
        let expired: Vec<FileKey> = self
            .unclaimed
            .iter_mut()
            .filter_map(|(k, u)| {
                u.before = u.age;
                u.age = u.age.saturating_add(ticks);
                (u.age > UNCLAIMED_TTL_RESCANS).then(|| k.clone())
            })
            .collect();
        for key in expired {
            debug!(?key, "Forgetting checkpoint of a file that is gone.");
            if let Some(u) = self.unclaimed.remove(&key) {
                let path = PathBuf::from(&u.checkpoint.path);
                self.note(
                    &path,
                    &key,
                    Some(FileState::Released(u.reason)),
                    FileState::Forgotten,
                );
            }
            self.forget.push(key);
        }
        Ok(())
    }

    /// Looks for unclaimed keys outside the globs, in the directory of their last path
    /// and its subdirectories; a file found is drained from the key's offset.
    fn search_outside(&mut self, listing: &[Listed]) {
        let wanted: Vec<(&FileKey, &Unclaimed)> = self
            .unclaimed
            .iter()
            .filter(|(_, u)| u.search_due())
            .collect();
        if wanted.is_empty() {
            self.outside.clear();
            return;
        }
        let inos: HashSet<u64> = wanted.iter().map(|(k, _)| k.ino).collect();
        let names: Vec<String> = wanted
            .iter()
            .filter_map(|(_, u)| file_name(Path::new(&u.checkpoint.path)))
            .collect();
        let dirs: BTreeSet<PathBuf> = wanted
            .iter()
            .filter_map(|(_, u)| {
                Path::new(&u.checkpoint.path)
                    .parent()
                    .map(Path::to_path_buf)
            })
            .collect();
        let in_globs: HashSet<&Path> = listing.iter().map(|l| l.path.as_path()).collect();
        let tracked_ids: HashSet<DevIno> = self.tracked.iter().map(|t| t.id).collect();
        let mut found = Vec::new();
        for dir in with_subdirs(&dirs) {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                let related = names.iter().any(|n| related_name(n, &name));
                if !(inos.contains(&entry.ino()) || related) {
                    continue;
                }
                let path = entry.path();
                if in_globs.contains(path.as_path())
                    || !entry.file_type().is_ok_and(|t| t.is_file())
                    || self.excluded(&path)
                {
                    continue;
                }
                let Ok(meta) = entry.metadata() else { continue };
                let id = DevIno::of(&meta);
                if tracked_ids.contains(&id) {
                    continue;
                }
                found.push(Listed {
                    name: Arc::from(path.to_string_lossy().as_ref()),
                    path,
                    id,
                    sig: StatSig::of(&meta),
                });
            }
        }
        let mut pending: Vec<usize> = Vec::new();
        for (k, l) in found.iter().enumerate() {
            if refresh_candidate(&mut self.outside, l) {
                pending.push(k);
            }
        }
        let seen: HashSet<DevIno> = found.iter().map(|l| l.id).collect();
        self.outside.retain(|id, _| seen.contains(id));
        for exact_only in [true, false] {
            let mut k = 0;
            while k < pending.len() {
                if self.decide(&found[pending[k]], false, exact_only, true) {
                    pending.swap_remove(k);
                } else {
                    k += 1;
                }
            }
        }
    }

    /// The file with inode `id` in the directory of `path` or its subdirectories.
    fn find_by_inode(&self, path: &Path, id: DevIno) -> Option<PathBuf> {
        let dirs: BTreeSet<PathBuf> = path.parent().map(Path::to_path_buf).into_iter().collect();
        for dir in with_subdirs(&dirs) {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry.ino() == id.ino
                    && entry.file_type().is_ok_and(|t| t.is_file())
                    && entry.metadata().is_ok_and(|m| DevIno::of(&m) == id)
                {
                    return Some(entry.path());
                }
            }
        }
        None
    }

    fn excluded(&self, path: &Path) -> bool {
        self.exclude.iter().any(|p| super::excluded_by(p, path))
    }

    /// Decides about one candidate; returns whether it is now being read. A file found
    /// `outside` the globs is only ever resumed (drained), never read as new.
    fn decide(&mut self, l: &Listed, startup: bool, exact_only: bool, outside: bool) -> bool {
        let cap = self.cap;
        let cache = if outside {
            &mut self.outside
        } else {
            &mut self.candidates
        };
        let Some(cand) = cache.get_mut(&l.id) else {
            return false;
        };
        if cand.codec != Codec::Zstd && fingerprint_len(&cand.head, cap).is_none() {
            return false; // Nothing to decide (or read) before a complete line.
        }
        let name = file_name(&l.path).unwrap_or_default();
        // Keys this file may belong to; outside the globs only those being searched for.
        let eligible: Vec<&FileKey> = self
            .unclaimed
            .iter()
            .filter(|(k, u)| {
                let same_inode = k.dev == l.id.dev && k.ino == l.id.ino;
                !outside
                    || (u.search_due()
                        && (same_inode
                            || file_name(Path::new(&u.checkpoint.path))
                                .is_some_and(|n| related_name(&n, &name))))
            })
            .map(|(k, _)| k)
            .collect();
        // Samples (I/O, cached per size and mtime) where a copy could claim a key.
        let mut samples = Vec::with_capacity(eligible.len());
        for &key in &eligible {
            let u = &self.unclaimed[key];
            let other_inode = key.dev != l.id.dev || key.ino != l.id.ino;
            let sample = match u.checkpoint.before {
                Some(before) if other_inode && key.fingerprint.matches(&cand.head) => {
                    *cand.samples.entry(key.clone()).or_insert_with(|| {
                        sample_before(&l.path, l.id, cand.codec, u.checkpoint.offset, before)
                    })
                }
                _ => Sample::Unknown,
            };
            samples.push(sample);
        }
        // Whether the candidate's end agrees with each live file (shadow rule).
        let mut same_end = Vec::new();
        if !outside && !exact_only {
            for t in &self.tracked {
                let maybe_copy = t.head.starts_with(&cand.head);
                let agrees = !maybe_copy || {
                    let end = cand
                        .end
                        .get_or_insert_with(|| content_end(&l.path, l.id, cand.codec));
                    match ends_agree(t, end.as_ref()) {
                        Some(agrees) => agrees,
                        // The live file shrank since this rescan looked at it: truncated
                        // right after being copied (copytruncate). The next rescan releases
                        // its key, which this copy then claims; deciding now would read
                        // the copy as a new file, from 0.
                        None => return false,
                    }
                };
                same_end.push(maybe_copy && agrees);
            }
            // A head like a live file's with another end: a copy still being written
            // (`cp`, copytruncate) looks so for a moment. Look once more before calling it
            // new: a new file read from 0 by mistake would ship the copy's lines twice.
            let copy_like = self
                .tracked
                .iter()
                .zip(&same_end)
                .any(|(t, &agrees)| !agrees && t.head.starts_with(&cand.head));
            if copy_like && !cand.doubted {
                cand.doubted = true;
                return false;
            }
        }
        let c = Candidate {
            id: l.id,
            path: &l.name,
            size: if cand.codec == Codec::Plain {
                l.sig.size
            } else {
                UNKNOWN_SIZE
            },
            head: &cand.head,
            codec: cand.codec,
        };
        let live: Vec<LiveView<'_>> = self
            .tracked
            .iter()
            .zip(same_end.iter().copied().chain(std::iter::repeat(false)))
            .filter(|_| !outside)
            .map(|(t, same_end)| LiveView {
                first_path: &t.first_path,
                head: &t.head,
                same_end,
            })
            .collect();
        let views: Vec<UnclaimedView<'_>> = eligible
            .iter()
            .zip(&samples)
            .map(|(&key, &sample)| {
                let u = &self.unclaimed[key];
                UnclaimedView {
                    key,
                    offset: u.checkpoint.offset,
                    path: &u.checkpoint.path,
                    reason: u.reason,
                    head: u.head.as_deref(),
                    sample,
                }
            })
            .collect();
        let decision = decide_new(&c, &live, &views, cap, exact_only);
        let has_checkpoint = views
            .iter()
            .any(|u| u.key.dev == l.id.dev && u.key.ino == l.id.ino);
        let (offset, old_key, fingerprint) = match decision {
            NewDecision::Wait => return false,
            NewDecision::Unsupported => {
                if !cand.warned && !outside {
                    cand.warned = true;
                    let path = l.path.display();
                    warn!(%path, "Compressed with zstd, which the agent cannot read; skipping the file.");
                }
                return false;
            }
            NewDecision::Shadow(owner) => {
                let (path, copy_of) = (l.path.display(), self.tracked[owner].path.display());
                debug!(%path, %copy_of, "File looks like a copy of a file being read; waiting.");
                return false;
            }
            NewDecision::New(_) if outside => return false,
            NewDecision::Resume(ui) => {
                let key = eligible[ui].clone();
                let fingerprint = key.fingerprint;
                let offset = views[ui].offset;
                (offset, Some(key), fingerprint)
            }
            NewDecision::New(fingerprint) => {
                let at_end = startup
                    && !has_checkpoint
                    && (self.config.start_at_end
                        || self
                            .at_end
                            .iter()
                            .any(|p| p.matches_path_with(&l.path, MATCH)));
                let offset = match (at_end, cand.codec) {
                    (false, _) => 0,
                    (true, Codec::Plain) => end_of_last_line(&l.path, l.id, l.sig.size),
                    (true, _) => UNKNOWN_SIZE,
                };
                (offset, None, fingerprint)
            }
        };
        let Some(cand) = cache_of(self, outside).remove(&l.id) else {
            return false;
        };
        let key = FileKey {
            fingerprint,
            dev: l.id.dev,
            ino: l.id.ino,
        };
        let exact = old_key.as_ref() == Some(&key);
        let mut from = None;
        let mut source = l.name.clone();
        let mut migrate = false;
        if let Some(old) = &old_key
            && let Some(u) = self.unclaimed.remove(old)
        {
            if !exact {
                self.forget.push(old.clone());
            }
            from = Some(FileState::Released(u.reason));
            migrate = u.checkpoint.version < super::CHECKPOINT_VERSION;
            if outside {
                // Lines keep the name the file was read under before it was rotated.
                source = Arc::from(u.checkpoint.path.as_str());
            }
            info!(path = %l.path.display(), offset, moved = !exact, outside, "Resuming file.");
        } else {
            info!(path = %l.path.display(), offset, "Reading new file.");
        }
        let size = if cand.codec == Codec::Plain {
            l.sig.size
        } else {
            UNKNOWN_SIZE
        };
        let state = if outside {
            FileState::Draining
        } else {
            FileState::Open
        };
        self.note(&l.path, &key, from, state);
        self.tracked.push(Tracked {
            key,
            id: l.id,
            state,
            codec: cand.codec,
            head: cand.head,
            source,
            first_path: l.name.clone(),
            path: l.path.clone(),
            file: None,
            decoder: None,
            offset,
            read_pos: offset,
            pending: Vec::new(),
            before: Vec::new(),
            sig: Some(l.sig),
            // A copy taken over may still be shorter than the offset (cp in progress).
            verified: size >= offset,
            readable: size > offset,
            dirty: !exact || migrate,
            idle: 0,
            cut: false,
        });
        true
    }

    /// Stops reading tracked file `i`; its key waits unclaimed (see the module docs).
    fn release(&mut self, i: usize, reason: Released) {
        let mut t = self.tracked.swap_remove(i);
        let writer_done = matches!(reason, Released::Gone | Released::Drained);
        if writer_done && !t.pending.is_empty() {
            // The writer is done with this file: its unterminated last line is a line.
            let pending = std::mem::take(&mut t.pending);
            let mut last = &pending[..];
            if let [rest @ .., b'\r'] = last {
                last = rest;
            }
            self.flushed.push(TailLine {
                source: t.source.clone(),
                text: line_text(last),
                continued: std::mem::take(&mut t.cut),
            });
            t.advance(&pending);
        }
        if t.dirty {
            self.released_checkpoints
                .push((t.key.clone(), t.checkpoint()));
        }
        let to = FileState::Released(reason);
        self.note(&t.path, &t.key, Some(t.state), to);
        let checkpoint = t.checkpoint();
        let head = Some(std::mem::take(&mut t.head));
        self.unclaimed.insert(
            t.key,
            Unclaimed {
                checkpoint,
                reason,
                head,
                age: 0,
                before: 0,
            },
        );
    }

    /// One turn of file `i`: at most [`READ_CHUNK`] of the budget. True when it used the
    /// whole turn (it may have more).
    fn read_turn(&mut self, i: usize, budget: &mut usize, out: &mut Vec<TailLine>) -> bool {
        let mut turn = (*budget).min(READ_CHUNK);
        let given = turn;
        self.read_one(i, &mut turn, out);
        *budget -= given - turn;
        turn == 0
    }

    /// Reads tracked file `i` while it has new bytes and the budget lasts.
    fn read_one(&mut self, i: usize, budget: &mut usize, out: &mut Vec<TailLine>) {
        let Tailer {
            tracked,
            scratch,
            forget,
            cap,
            config,
            transitions,
            ..
        } = self;
        let t = &mut tracked[i];
        if t.state == FileState::Suspect || (t.file.is_none() && !t.readable) {
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
                    transitions.push(Transition {
                        path: t.path.to_string_lossy().into_owned(),
                        key: t.key.clone(),
                        from: Some(t.state),
                        to: FileState::Suspect,
                    });
                    t.state = FileState::Suspect;
                    return;
                }
                Checked::Unavailable => return,
            }
        }
        if !t.readable {
            return;
        }
        if t.codec != Codec::Plain {
            read_compressed(t, scratch, config.max_line_bytes, budget, out);
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
            let consumed = split_lines(data, max_line, |piece, ends| {
                out.push(TailLine {
                    source: source.clone(),
                    text: line_text(piece),
                    continued: std::mem::replace(&mut t.cut, !ends),
                });
            });
            if consumed > 0 {
                t.offset += consumed as u64;
                keep_last(&mut t.before, &data[..consumed]);
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
                if self.excluded(&path) {
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

fn cache_of(tailer: &mut Tailer, outside: bool) -> &mut HashMap<DevIno, CandidateFile> {
    if outside {
        &mut tailer.outside
    } else {
        &mut tailer.candidates
    }
}

/// Reads (or keeps, if its size and mtime did not change) the head of a file not being
/// read; returns whether it can be decided about.
fn refresh_candidate(cache: &mut HashMap<DevIno, CandidateFile>, l: &Listed) -> bool {
    if cache.get(&l.id).is_some_and(|c| c.sig == l.sig) {
        return true;
    }
    let Some(file) = open_verified(&l.path, l.id) else {
        return false;
    };
    match read_head(&file, l.sig.size) {
        Ok((codec, head)) => {
            let warned = cache.get(&l.id).is_some_and(|c| c.warned);
            let doubted = cache.get(&l.id).is_some_and(|c| c.doubted);
            cache.insert(
                l.id,
                CandidateFile {
                    sig: l.sig,
                    codec,
                    head,
                    end: None,
                    samples: HashMap::new(),
                    warned,
                    doubted,
                },
            );
            true
        }
        Err(err) => {
            debug!(path = %l.path.display(), error = %err, "Cannot read file head.");
            false
        }
    }
}

/// `dirs` and their direct subdirectories (not following symlinks).
fn with_subdirs(dirs: &BTreeSet<PathBuf>) -> BTreeSet<PathBuf> {
    let mut out = dirs.clone();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                out.insert(entry.path());
            }
        }
    }
    out
}

fn file_name(path: &Path) -> Option<String> {
    path.file_name().and_then(|n| n.to_str()).map(str::to_owned)
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
        Ok((_, head)) => head,
        Err(err) => {
            debug!(path = %t.path.display(), error = %err, "Cannot read file head.");
            return Checked::Unavailable;
        }
    };
    let size = t.judged_size(sig);
    match check_known(t.key.fingerprint, t.read_pos, t.verified, size, &head, cap) {
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
            t.sig = Some(sig);
            Checked::Ok
        }
    }
}

/// Reads a gzip file from `read_pos` while the budget lasts. A clean end of the stream
/// ends its last line; an error (a file still being compressed, or corrupt) leaves the
/// position where it is until the file changes.
fn read_compressed(
    t: &mut Tracked,
    scratch: &mut Vec<u8>,
    max_line: usize,
    budget: &mut usize,
    out: &mut Vec<TailLine>,
) {
    if t.decoder.is_none() {
        let Some(file) = t.file.as_ref().and_then(|f| f.try_clone().ok()) else {
            return;
        };
        let mut decoder = gunzip(file);
        match io::copy(&mut (&mut decoder).take(t.read_pos), &mut io::sink()) {
            Ok(skipped) if skipped == t.read_pos => t.decoder = Some(decoder),
            Ok(_) => {
                // Shorter than our position: nothing left to read.
                t.readable = false;
                return;
            }
            Err(err) => {
                debug!(path = %t.path.display(), error = %err, "Compressed file incomplete; waiting.");
                t.readable = false;
                return;
            }
        }
    }
    let Some(decoder) = t.decoder.as_mut() else {
        return;
    };
    let source = t.source.clone();
    while *budget > 0 {
        let want = READ_CHUNK.min(*budget);
        let plen = t.pending.len();
        if scratch.len() < plen + want {
            scratch.resize(plen + want, 0);
        }
        scratch[..plen].copy_from_slice(&t.pending);
        let n = match decoder.read(&mut scratch[plen..plen + want]) {
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => {
                debug!(path = %t.path.display(), error = %err, "Compressed file incomplete; waiting.");
                t.decoder = None;
                t.readable = false;
                return;
            }
        };
        if n == 0 {
            // The whole stream: its unterminated last line is a line.
            if !t.pending.is_empty() {
                let pending = std::mem::take(&mut t.pending);
                let mut last = &pending[..];
                if let [rest @ .., b'\r'] = last {
                    last = rest;
                }
                out.push(TailLine {
                    source: source.clone(),
                    text: line_text(last),
                    continued: std::mem::take(&mut t.cut),
                });
                t.advance(&pending);
            }
            t.decoder = None;
            t.readable = false;
            return;
        }
        t.read_pos += n as u64;
        *budget = budget.saturating_sub(n);
        t.idle = 0;
        let data = &scratch[..plen + n];
        let consumed = split_lines(data, max_line, |piece, ends| {
            out.push(TailLine {
                source: source.clone(),
                text: line_text(piece),
                continued: std::mem::replace(&mut t.cut, !ends),
            });
        });
        if consumed > 0 {
            t.offset += consumed as u64;
            keep_last(&mut t.before, &data[..consumed]);
            t.dirty = true;
        }
        t.pending.clear();
        t.pending.extend_from_slice(&data[consumed..]);
    }
}

/// Whether a candidate with content `end` (length, last bytes) agrees with tracked file
/// `t` at the same offsets: the candidate may be a copy of it.
/// `None` when live file `t` is now shorter than when the rescan checked it (truncated
/// meanwhile): no answer until the next rescan has seen the truncation.
fn ends_agree(t: &Tracked, end: Option<&(u64, Vec<u8>)>) -> Option<bool> {
    let Some((len, tail)) = end else {
        return Some(true); // Unknown: keep the head rule.
    };
    if t.codec != Codec::Plain {
        return Some(true);
    }
    let from = len - tail.len() as u64;
    let file = match t.file.as_ref() {
        Some(f) => f.try_clone().ok(),
        None => open_verified(&t.path, t.id),
    };
    let Some(file) = file else {
        return Some(true);
    };
    let now = file.metadata().map(|m| m.len()).unwrap_or(0);
    if t.sig.is_some_and(|seen| now < seen.size) {
        return None;
    }
    let mut buf = vec![0; tail.len()];
    Some(match read_exact_at(&file, &mut buf, from) {
        Ok(true) => buf == *tail,
        _ => false,
    })
}

/// Content length and last (at most 256) content bytes of a file (decompressed).
fn content_end(path: &Path, id: DevIno, codec: Codec) -> Option<(u64, Vec<u8>)> {
    let file = open_verified(path, id)?;
    match codec {
        Codec::Plain => {
            let len = file.metadata().ok()?.len();
            let from = len.saturating_sub(BEFORE_BYTES as u64);
            let mut buf = vec![0; (len - from) as usize];
            read_exact_at(&file, &mut buf, from)
                .ok()?
                .then_some((len, buf))
        }
        Codec::Gzip => {
            let (len, tail) = stream_window(gunzip(file), u64::MAX, BEFORE_BYTES);
            Some((len, tail))
        }
        Codec::Zstd => None,
    }
}

/// Compares the `before.len` bytes just before `offset` in a candidate with `before`.
fn sample_before(
    path: &Path,
    id: DevIno,
    codec: Codec,
    offset: u64,
    before: Fingerprint,
) -> Sample {
    let len = before.len as u64;
    if offset < len {
        return Sample::Differs;
    }
    let Some(file) = open_verified(path, id) else {
        return Sample::Short;
    };
    let bytes = match codec {
        Codec::Plain => {
            let mut buf = vec![0; len as usize];
            match read_exact_at(&file, &mut buf, offset - len) {
                Ok(true) => buf,
                _ => return Sample::Short,
            }
        }
        Codec::Gzip => {
            let (got, tail) = stream_window(gunzip(file), offset, len as usize);
            if got < offset {
                return Sample::Short;
            }
            tail
        }
        Codec::Zstd => return Sample::Unknown,
    };
    if before.matches(&bytes) {
        Sample::Agrees
    } else {
        Sample::Differs
    }
}

/// Reads `reader` up to `limit` bytes; returns how many it read and the last `keep` of them.
/// A read error ends the stream early (an incomplete compressed file).
fn stream_window(mut reader: impl Read, limit: u64, keep: usize) -> (u64, Vec<u8>) {
    let mut total = 0u64;
    let mut window: Vec<u8> = Vec::with_capacity(2 * keep);
    let mut buf = vec![0; 64 * 1024];
    while total < limit {
        let want = (limit - total).min(buf.len() as u64) as usize;
        let n = match reader.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        total += n as u64;
        let chunk = &buf[..n];
        if chunk.len() >= keep {
            window.clear();
            window.extend_from_slice(&chunk[chunk.len() - keep..]);
        } else {
            window.extend_from_slice(chunk);
            let extra = window.len().saturating_sub(keep);
            window.drain(..extra);
        }
    }
    (total, window)
}

/// Appends `bytes` to `window`, keeping only its last [`BEFORE_BYTES`].
fn keep_last(window: &mut Vec<u8>, bytes: &[u8]) {
    if bytes.len() >= BEFORE_BYTES {
        window.clear();
        window.extend_from_slice(&bytes[bytes.len() - BEFORE_BYTES..]);
    } else {
        window.extend_from_slice(bytes);
        let extra = window.len().saturating_sub(BEFORE_BYTES);
        window.drain(..extra);
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

/// Fills `buf` from `pos`; `Ok(false)` if the file ends first.
fn read_exact_at(file: &File, buf: &mut [u8], pos: u64) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        let n = read_at(file, &mut buf[got..], pos + got as u64)?;
        if n == 0 {
            return Ok(false);
        }
        got += n;
    }
    Ok(true)
}

/// The codec and the first `min(256, size)` content bytes (decompressed for gzip; fewer if
/// the file shrank meanwhile or the compressed stream is incomplete).
fn read_head(file: &File, size: u64) -> io::Result<(Codec, Vec<u8>)> {
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
    let codec = codec_of(&head);
    if codec == Codec::Gzip {
        let (_, head) = stream_window(
            gunzip(file.try_clone()?),
            FINGERPRINT_MAX_BYTES as u64,
            FINGERPRINT_MAX_BYTES,
        );
        return Ok((codec, head));
    }
    Ok((codec, head))
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

    fn truncate(path: &Path) {
        OpenOptions::new()
            .write(true)
            .open(path)
            .unwrap()
            .set_len(0)
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
    fn pieces_of_an_over_long_line_are_marked_across_reads() {
        let (dir, mut config) = setup("*.log");
        config.max_line_bytes = 4;
        let log = dir.path().join("pos.log");
        // A 10-byte line, then a short one; then a line whose end arrives in a later read.
        append(&log, "aaaabbbbcc\nok\nddddeeee");
        let mut tailer = Tailer::new(config, Vec::new()).unwrap();
        let read = |tailer: &mut Tailer| -> Vec<(String, bool)> {
            tailer.rescan().unwrap();
            let chunk = tailer.poll(1 << 20).unwrap();
            chunk
                .lines
                .into_iter()
                .map(|l| (l.text, l.continued))
                .collect()
        };
        let first = read(&mut tailer);
        let want: Vec<(String, bool)> = [
            ("aaaa", false),
            ("bbbb", true),
            ("cc", true),
            ("ok", false),
            ("dddd", false),
        ]
        .iter()
        .map(|(t, c)| ((*t).to_owned(), *c))
        .collect();
        assert_eq!(first, want);
        append(&log, "f\nnext\n");
        let second = read(&mut tailer);
        let want: Vec<(String, bool)> = [("eeee", true), ("f", true), ("next", false)]
            .iter()
            .map(|(t, c)| ((*t).to_owned(), *c))
            .collect();
        assert_eq!(second, want);
    }

    #[test]
    fn a_busy_file_leaves_every_quiet_file_a_turn_in_each_poll() {
        let (dir, config) = setup("*.log");
        let busy = dir.path().join("busy.log");
        append(&busy, &format!("{}\n", "b".repeat(99)).repeat(40_000)); // 4 MB
        for i in 0..200 {
            append(
                &dir.path().join(format!("q{i:03}.log")),
                &format!("opened {i}\n"),
            );
        }
        let mut tailer = Tailer::new(config, Vec::new()).unwrap();
        // Whatever file the round starts at, one 1 MiB poll reads every quiet file.
        for round in 0..3 {
            for i in (round..200).step_by(7) {
                append(&dir.path().join(format!("q{i:03}.log")), "quiet\n");
            }
            let chunk = tailer.poll(1 << 20).unwrap();
            let quiet = chunk
                .lines
                .iter()
                .filter(|l| !l.text.starts_with('b'))
                .count();
            let busy = chunk.lines.len() - quiet;
            let opened = if round == 0 { 200 } else { 0 };
            let written = (round..200).step_by(7).count();
            assert_eq!(quiet, opened + written, "round {round}");
            assert!(
                busy > 5_000,
                "round {round}: the busy file shares the rest ({busy})"
            );
        }
    }

    #[test]
    fn start_at_end_per_glob_skips_only_that_sources_backlog() {
        let (dir, mut config) = setup("*.log");
        config.start_at_end_globs = vec![format!("{}/kiosk*.log", dir.path().display())];
        append(&dir.path().join("pos.log"), "pos old\n");
        append(&dir.path().join("kiosk.log"), "kiosk old\n");
        let mut tailer = Tailer::new(config, Vec::new()).unwrap();
        assert_eq!(texts(&mut tailer), ["pos old"]);
        append(&dir.path().join("kiosk.log"), "kiosk new\n");
        append(&dir.path().join("pos.log"), "pos new\n");
        let mut got = texts(&mut tailer);
        got.sort();
        assert_eq!(got, ["kiosk new", "pos new"]);
        // A file created while running is read from its start, whatever its source says.
        append(&dir.path().join("kiosk2.log"), "kiosk2 first\n");
        assert_eq!(texts(&mut tailer), ["kiosk2 first"]);
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
        truncate(&log);
        append(&log, "after\n");
        let mut got = texts(&mut tailer);
        got.sort();
        assert_eq!(got, ["3", "4", "after"]);
        assert!(texts(&mut tailer).is_empty());
    }

    #[test]
    fn an_exclude_without_a_slash_matches_file_names_at_any_depth() {
        let (dir, mut config) = setup("**/*");
        config.exclude = vec!["*.gz".into(), format!("{}/skip/*", dir.path().display())];
        let deep = dir.path().join("a/b");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::create_dir_all(dir.path().join("skip")).unwrap();
        append(&deep.join("app.log"), "kept\n");
        append(
            &deep.join("app.log.1.gz"),
            "not gzip, but excluded by name\n",
        );
        append(&dir.path().join("top.gz"), "excluded too\n");
        append(&dir.path().join("skip/x.log"), "excluded by path\n");
        let mut tailer = Tailer::new(config, Vec::new()).unwrap();
        assert_eq!(texts(&mut tailer), ["kept"]);
    }

    #[test]
    fn a_copy_caught_while_being_written_is_not_read_as_new() {
        let (dir, config) = setup("pos.log*");
        let log = dir.path().join("pos.log");
        let line = |i: usize| format!("line {i} {}\n", "x".repeat(40));
        let first: String = (0..10).map(line).collect(); // 480 bytes: a 256-byte head
        append(&log, &first);
        let mut tailer = Tailer::new(config, Vec::new()).unwrap();
        assert_eq!(texts(&mut tailer).len(), 10);
        append(&log, &line(10)); // never read from pos.log
        // The copy as a rescan may see it mid-write: the head, then bytes not there yet.
        let copy = dir.path().join("pos.log.1");
        append(&copy, &format!("{}{}", &first[..300], "\0".repeat(180)));
        assert_eq!(texts(&mut tailer), [line(10).trim_end()]);
        // The copy completes, the original is truncated and written on.
        std::fs::copy(&log, &copy).unwrap();
        truncate(&log);
        append(&log, "after\n");
        let got = texts(&mut tailer);
        assert_eq!(
            got,
            ["after"],
            "the copy is the released file, not a new one"
        );
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

    #[test]
    fn a_read_cut_by_the_budget_says_so_and_one_at_the_end_does_not() {
        // The reader must not sleep out `batch.max_wait` when a group's budget ends
        // inside a line with the rest of the backlog unread (issue 10, item 7).
        let (dir, config) = setup("*.log");
        let log = dir.path().join("a.log");
        append(&log, "first line\nsecond line\nthird");
        let mut tailer = Tailer::new(config, Vec::new()).unwrap();
        tailer.rescan().unwrap();
        // 15 bytes: "first line\n" and "seco"; the budget is spent mid-line.
        let chunk = tailer.poll(15).unwrap();
        assert_eq!(chunk.lines.len(), 1);
        assert!(chunk.budget_spent);
        // A tiny budget that completes no line is still "spent": more is waiting.
        let chunk = tailer.poll(3).unwrap();
        assert!(chunk.lines.is_empty());
        assert!(chunk.budget_spent);
        // Reading to the end, which is a partial line: nothing more to read now.
        let chunk = tailer.poll(1 << 20).unwrap();
        assert_eq!(chunk.lines.len(), 1);
        assert!(!chunk.budget_spent);
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    /// Polls (with rescans) until nothing new comes three times; returns lines and the
    /// checkpoints a caller would have committed.
    fn drain(tailer: &mut Tailer, saved: &mut BTreeMap<FileKey, Checkpoint>) -> Vec<String> {
        let mut out = Vec::new();
        let mut quiet = 0;
        while quiet < 3 {
            tailer.rescan().unwrap();
            let chunk = tailer.poll(1 << 20).unwrap();
            if chunk.lines.is_empty() {
                quiet += 1;
            } else {
                quiet = 0;
            }
            out.extend(chunk.lines.into_iter().map(|l| l.text));
            saved.extend(chunk.checkpoints);
            for k in chunk.forget {
                saved.remove(&k);
            }
        }
        out
    }

    /// One row per rotation name outside `*.log`: the agent reads `1`, dies, the writer adds
    /// `2` and rotates; the restarted agent drains `2` from the rotated file, then reads the
    /// new `app.log`.
    #[test]
    fn restart_drains_a_file_rotated_out_of_the_glob() {
        for rotated in ["app.log.1", "app.log-20261128", "old/app.log.1"] {
            let (dir, config) = setup("*.log");
            std::fs::create_dir(dir.path().join("old")).unwrap();
            let log = dir.path().join("app.log");
            append(&log, "1\n");
            let mut saved = BTreeMap::new();
            let mut tailer = Tailer::new(config.clone(), Vec::new()).unwrap();
            assert_eq!(drain(&mut tailer, &mut saved), ["1"], "{rotated}");
            drop(tailer); // kill -9: nothing but the committed checkpoints survives
            append(&log, "2\n");
            std::fs::rename(&log, dir.path().join(rotated)).unwrap();
            append(&log, "new\n");
            let mut tailer = Tailer::new(config, saved.clone().into_iter().collect()).unwrap();
            let mut got = drain(&mut tailer, &mut saved);
            got.sort();
            assert_eq!(got, ["2", "new"], "{rotated}");
        }
    }

    #[test]
    fn lagging_reader_finds_a_file_rotated_out_of_the_glob_after_closing_it() {
        let (dir, config) = setup("*.log");
        let log = dir.path().join("app.log");
        append(&log, "1\n");
        let mut saved = BTreeMap::new();
        let mut tailer = Tailer::new(config, Vec::new()).unwrap();
        assert_eq!(drain(&mut tailer, &mut saved), ["1"]);
        for _ in 0..IDLE_CLOSE_RESCANS {
            tailer.rescan().unwrap();
        }
        assert_eq!(tailer.open_files(), 0, "idle file closed");
        append(&log, "2\n");
        std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
        let chunk = {
            tailer.rescan().unwrap();
            tailer.poll(1 << 20).unwrap()
        };
        let texts: Vec<&str> = chunk.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["2"]);
        let states: Vec<_> = chunk.transitions.iter().map(|t| (t.from, t.to)).collect();
        assert_eq!(states, [(Some(FileState::Open), FileState::Draining)]);
    }

    /// logrotate `compress` without `delaycompress`: `app.log.1` becomes `app.log.1.gz`
    /// while the agent is down. Unread lines come from the decompressed file; a file read
    /// to its end before it was compressed is not read again.
    #[test]
    fn restart_reads_the_rest_of_a_gzipped_rotation_once() {
        for unread in ["", "2\n3\n"] {
            let (dir, config) = setup("*.log");
            let log = dir.path().join("app.log");
            append(&log, "1\n");
            let mut saved = BTreeMap::new();
            let mut tailer = Tailer::new(config.clone(), Vec::new()).unwrap();
            assert_eq!(drain(&mut tailer, &mut saved), ["1"]);
            drop(tailer);
            append(&log, unread);
            let content = std::fs::read(&log).unwrap();
            std::fs::remove_file(&log).unwrap();
            std::fs::write(dir.path().join("app.log.1.gz"), gzip(&content)).unwrap();
            append(&log, "new\n");
            let mut tailer = Tailer::new(config, saved.clone().into_iter().collect()).unwrap();
            let mut got = drain(&mut tailer, &mut saved);
            got.sort();
            let want: Vec<&str> = unread.lines().chain(["new"]).collect();
            assert_eq!(got, want, "unread {unread:?}");
        }
    }

    #[test]
    fn gzip_in_the_glob_is_read_once_decompressed_and_zstd_never() {
        let (dir, config) = setup("*");
        std::fs::write(dir.path().join("old.log.gz"), gzip(b"a\nb\nc")).unwrap();
        // zstd magic: never read as text.
        std::fs::write(dir.path().join("old.log.zst"), b"\x28\xb5\x2f\xfdjunk\n").unwrap();
        let mut saved = BTreeMap::new();
        let mut tailer = Tailer::new(config.clone(), Vec::new()).unwrap();
        assert_eq!(drain(&mut tailer, &mut saved), ["a", "b", "c"]);
        drop(tailer);
        let mut tailer = Tailer::new(config, saved.clone().into_iter().collect()).unwrap();
        assert!(drain(&mut tailer, &mut saved).is_empty());
    }

    #[test]
    fn gzip_of_a_drained_rotation_in_the_glob_is_not_read_again() {
        // delaycompress with `*.log*`: app.log.1 was read to its end, then compressed.
        let (dir, config) = setup("*.log*");
        let log = dir.path().join("app.log");
        append(&log, "1\n2\n");
        let mut saved = BTreeMap::new();
        let mut tailer = Tailer::new(config, Vec::new()).unwrap();
        assert_eq!(drain(&mut tailer, &mut saved), ["1", "2"]);
        let rotated = dir.path().join("app.log.1");
        std::fs::rename(&log, &rotated).unwrap();
        append(&log, "new\n");
        assert_eq!(drain(&mut tailer, &mut saved), ["new"]);
        let content = std::fs::read(&rotated).unwrap();
        std::fs::write(dir.path().join("app.log.1.gz"), gzip(&content)).unwrap();
        std::fs::remove_file(&rotated).unwrap();
        for _ in 0..IDLE_CLOSE_RESCANS {
            assert!(drain(&mut tailer, &mut saved).is_empty());
        }
    }

    #[test]
    fn copytruncate_to_a_name_outside_the_glob_recovers_unread_lines() {
        let (dir, config) = setup("*.log");
        let log = dir.path().join("app.log");
        append(&log, "1\n2\n");
        let mut saved = BTreeMap::new();
        let mut tailer = Tailer::new(config, Vec::new()).unwrap();
        assert_eq!(drain(&mut tailer, &mut saved), ["1", "2"]);
        append(&log, "3\n4\n"); // never read from app.log
        std::fs::copy(&log, dir.path().join("app.log.1")).unwrap();
        truncate(&log);
        append(&log, "after\n");
        let mut got = drain(&mut tailer, &mut saved);
        got.sort();
        assert_eq!(got, ["3", "4", "after"]);
    }

    /// Two files with the same 300-byte header are two streams, also when one is truncated.
    #[test]
    fn identical_heads_are_two_streams() {
        let (dir, config) = setup("*.csv");
        let header = format!("{}\n", "h".repeat(299));
        let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
        append(&a, &format!("{header}a1\n"));
        append(&b, &format!("{header}b1\n"));
        let mut saved = BTreeMap::new();
        let mut tailer = Tailer::new(config.clone(), Vec::new()).unwrap();
        let mut got = drain(&mut tailer, &mut saved);
        got.sort();
        let h = header.trim_end().to_owned();
        assert_eq!(got, ["a1", "b1", h.as_str(), h.as_str()]);
        append(&a, "a2\n");
        append(&b, "b2\n");
        let mut got = drain(&mut tailer, &mut saved);
        got.sort();
        assert_eq!(got, ["a2", "b2"]);
        // Truncate a and write it anew with the same header: read from 0, b untouched.
        truncate(&a);
        append(&a, &format!("{header}a3\n"));
        append(&b, "b3\n");
        let mut got = drain(&mut tailer, &mut saved);
        got.sort();
        assert_eq!(got, ["a3", "b3", h.as_str()]);
        // And after a restart, each resumes at its own offset.
        drop(tailer);
        append(&a, "a4\n");
        append(&b, "b4\n");
        let mut tailer = Tailer::new(config, saved.clone().into_iter().collect()).unwrap();
        let mut got = drain(&mut tailer, &mut saved);
        got.sort();
        assert_eq!(got, ["a4", "b4"]);
    }

    #[test]
    fn v0_checkpoint_resumes_and_is_rewritten_in_the_current_format() {
        let (dir, config) = setup("*.log");
        let log = dir.path().join("app.log");
        append(&log, "1\n2\n");
        let meta = std::fs::metadata(&log).unwrap();
        let key = FileKey {
            fingerprint: Fingerprint::of(b"1\n2\n"),
            dev: DevIno::of(&meta).dev,
            ino: DevIno::of(&meta).ino,
        };
        let v0 = format!(r#"{{"offset":2,"path":"{}"}}"#, log.display());
        let (key, cp) =
            super::super::decode_saved(&super::super::encode_key(&key), v0.as_bytes()).unwrap();
        assert_eq!(cp.version, 0);
        let mut tailer = Tailer::new(config, vec![(key.clone(), cp)]).unwrap();
        let chunk = tailer.poll(1 << 20).unwrap();
        let texts: Vec<&str> = chunk.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["2"]);
        let (k, cp) = &chunk.checkpoints[0];
        assert_eq!(
            (k, cp.offset, cp.version),
            (&key, 4, super::super::CHECKPOINT_VERSION)
        );
    }

    /// While running, with the descriptor closed: the file is rotated out of the glob and
    /// compressed before the next rescan. Of two gzip files with the same banner, only the
    /// one whose bytes before the offset agree is resumed.
    #[test]
    fn lagging_reader_resumes_the_right_gzip_of_two_with_the_same_banner() {
        let (dir, config) = setup("*.log");
        let banner = format!("{}\n", "b".repeat(299));
        // An older rotation with the same banner, longer than our offset.
        let older = format!("{banner}old 1\nold 2\nold 3\nold 4\nold 5\n");
        std::fs::write(dir.path().join("app.log.2.gz"), gzip(older.as_bytes())).unwrap();
        let log = dir.path().join("app.log");
        append(&log, &format!("{banner}1\n"));
        let mut saved = BTreeMap::new();
        let mut tailer = Tailer::new(config, Vec::new()).unwrap();
        assert_eq!(drain(&mut tailer, &mut saved), [banner.trim_end(), "1"]);
        for _ in 0..IDLE_CLOSE_RESCANS {
            tailer.rescan().unwrap();
        }
        assert_eq!(tailer.open_files(), 0);
        append(&log, "2\n3\n");
        let content = std::fs::read(&log).unwrap();
        std::fs::remove_file(&log).unwrap();
        // gzip still running: only the older file is there, and it must not be taken.
        assert!(drain(&mut tailer, &mut saved).is_empty());
        std::fs::write(dir.path().join("app.log.1.gz"), gzip(&content)).unwrap();
        let mut got = Vec::new();
        for _ in 0..8 {
            // The search runs at once, then every 8th rescan.
            got.extend(drain(&mut tailer, &mut saved));
        }
        assert_eq!(got, ["2", "3"]);
    }
}
