//! File tailing: the pure decisions (identity, rotation, truncation, line splitting).
//!
//! `tailer.rs` drives these decisions with file I/O (glob, stat, `pread`), `watcher.rs`
//! wakes the caller on file-system events, `fingerprint.rs` hashes file heads and
//! `checkpoint.rs` holds the persisted types. Nothing in this file touches the disk.
//!
//! # Positions
//!
//! Per file the tailer keeps `offset`, the byte just after the last line it returned.
//! Bytes read past `offset` without a `'\n'` wait in memory and are re-read after a
//! restart. A checkpoint is only ever `offset`, returned in the same [`ReadChunk`] as
//! the lines it follows; the tailer never assumes a position was persisted otherwise.
//!
//! # Identity rules
//!
//! A [`FileKey`] is `(fingerprint, dev, ino)`.
//!
//! 1. **Fingerprint.** FNV-1a 64 of the file's first `min(256, size)` bytes, taken once
//!    the file holds at least one `'\n'` or 256 bytes (or `max_line_bytes + 2`, if
//!    smaller); its length is recorded. A file too short to fingerprint has no complete
//!    line to emit yet, so it just waits. While the recorded length is below 256 and the
//!    file has grown, the key is upgraded to the longer fingerprint (new checkpoint,
//!    old key in `forget`, same chunk). A compressed file (gzip) is fingerprinted, read
//!    and positioned by its decompressed bytes.
//! 2. **Same device+inode, head still matches:** the same file, wherever it now is.
//!    A renamed file keeps its key and offset, so `pos.log.1` is not read again.
//! 3. **Same device+inode, head differs, or size below the read position:** the file was
//!    truncated or the inode reused. It restarts at offset 0 under a new key. The old
//!    key is *released* (see 5) so a copy of the old content can claim it.
//! 4. **A new inode whose content is a prefix of a live file's content**, at a path that
//!    file never had: a copy of it, e.g. the `.1` of a copytruncate. It is a *shadow*:
//!    not read, re-examined at every rescan. "Prefix" is checked on the head and on the
//!    candidate's last (at most 256) bytes against the live file at the same offsets, so
//!    two live files with identical first 256 bytes (CSV headers, banners) are two
//!    streams. A new inode at the path a live file was first seen under (the new
//!    `pos.log` after a rename rotation) is never a shadow. A candidate whose head matches
//!    a live file's but whose end does not is looked at once more, in the next rescan,
//!    before it is called new: a copy caught while being written looks so for a moment
//!    (rescans follow file-system events, so they often land right after a `cp` starts),
//!    and read from 0 it would ship the copied lines twice.
//! 5. **Released keys** (truncated, vanished or drained files, and saved checkpoints not
//!    yet found after a restart) wait, unclaimed, for [`UNCLAIMED_TTL_RESCANS`] rescans
//!    before they are returned in `forget`. A new inode claims one and continues at its
//!    offset if it has the same device+inode and head (the file came back), or else
//!    if its head matches the fingerprint at a *different* path than the released file
//!    had, and its bytes before the offset match the checkpoint's `before` fingerprint
//!    when one was saved (a copy made before truncation, or the gzip of a rotated file:
//!    lines written between our last read and the truncate are read from the copy).
//!    A copy still shorter than the released head or offset waits.
//! 6. **Outside the globs.** A released key whose file left the globs unread (found
//!    neither by descriptor nor by the globs), and every saved checkpoint after a
//!    restart, is looked for by identity in the directory of its last path and that
//!    directory's subdirectories (logrotate's `olddir`): the same device+inode (rules 2
//!    and 3) at any name, then a copy (rule 5) whose name starts with the file's stem
//!    (`app.log.1`, `app.log-20261128`, `app.log.1.gz`). A file found so is *drained*
//!    (read to its end from the checkpoint) and then released as `Drained`, which is not
//!    searched again; it is never read from 0. The search runs in the rescan that
//!    releases a key (or the startup scan), in the next two, then every 8th
//!    (`search_due`).
//! 7. **Otherwise** the file is new: read from 0, or, if first seen in the startup scan
//!    with no checkpoint for its inode and `start_at_end` is set, from the end of its
//!    last complete line (a compressed file: not at all). A new gzip file in the globs
//!    is read once, decompressed; a zstd file is never read (warned), so compressed
//!    bytes are never shipped as text.
//!
//! Known limits (content identity cannot tell these apart): a file truncated and
//! rewritten with the same first bytes past the old offset between two checks looks
//! unchanged; a file whose whole content is a prefix of another file's (two files holding
//! only the same header) waits until the two differ; a file renamed out of the globs
//! before the agent ever saw it has no identity to look for and is not read.
//!
//! # File states
//!
//! A file being read is in one [`FileState`], decided by `next_state` at every rescan:
//!
//! ```text
//! from                     to                    when
//! (new)                    Open                  found by the globs and fingerprinted
//! Released(_)              Open                  claimed by a file in the globs (rules 2, 5)
//! Released(_)              Draining              claimed by a file outside them (rule 6)
//! Released(_)              Forgotten             unclaimed for UNCLAIMED_TTL_RESCANS rescans
//! Open                     Draining              left the globs, still reachable
//! Draining                 Open                  back in the globs
//! Open, Draining           Suspect               a poll saw it shorter or with another head
//! Suspect                  Open, Draining        the rescan's check found the same stream
//! Open, Draining, Suspect  Released(Restarted)   truncated or replaced (rule 3)
//! Open, Draining, Suspect  Released(Gone)        outside the globs and unreachable
//! Open, Draining, Suspect  Released(Drained)     outside the globs, at its end, idle for
//!                                                ORPHAN_RELEASE_RESCANS rescans
//! ```
//!
//! Saved checkpoints start as `Released(Startup)`.
//! Every change is reported in [`ReadChunk::transitions`], so tests can name them.
//!
//! # Lines
//!
//! Split on `'\n'`, a trailing `'\r'` stripped, invalid UTF-8 converted lossily.
//! A line longer than `max_line_bytes` is cut greedily into pieces of at most
//! `max_line_bytes` (a cut backs off up to 3 bytes to a UTF-8 boundary); a fragment
//! without `'\n'` is cut the same way once it exceeds `max_line_bytes + 1` bytes, so
//! the pieces do not depend on how the writes were timed. Every piece after the first is
//! returned with `TailLine::continued` (shipped as `ENTRY_CONTINUATION`), across reads too.

mod checkpoint;
mod fingerprint;
mod tailer;
mod watcher;

use std::sync::Arc;

pub use checkpoint::{
    CHECKPOINT_VERSION, Checkpoint, CheckpointError, FileKey, decode_saved, encode_checkpoint,
    encode_key, load_saved,
};
pub use fingerprint::{FINGERPRINT_MAX_BYTES, Fingerprint};
pub use tailer::Tailer;
pub use watcher::{Changes, Watcher};

use fingerprint::{DevIno, fingerprint_len};

/// Default for [`TailConfig::max_line_bytes`].
pub const DEFAULT_MAX_LINE_BYTES: usize = 256 * 1024;

/// The tailer's clock: ages below count ticks of this length. A timed rescan adds the
/// ticks elapsed since the previous one ([`Tailer::rescan_after`]); a rescan asked for by
/// a file-system event adds none; [`Tailer::rescan`] adds one.
pub const TICK: std::time::Duration = std::time::Duration::from_millis(250);

/// Ticks (10 s) a fully read file stays open before its descriptor closes.
pub const IDLE_CLOSE_RESCANS: u32 = 40;

/// Ticks (60 s) an open file that left the globs (rotated away or deleted) is kept for
/// the writer to finish with it, after its last new byte.
pub const ORPHAN_RELEASE_RESCANS: u32 = 240;

/// Ticks (60 s) a released key or an unmatched saved checkpoint waits before it is
/// forgotten.
pub const UNCLAIMED_TTL_RESCANS: u32 = 240;

/// Whether exclude glob `pattern` skips `path`: a pattern with a `/` is matched against
/// the whole path, one without (`*.gz`) against the file name, at any depth. `*` never
/// crosses a `/`.
pub fn excluded_by(pattern: &glob::Pattern, path: &std::path::Path) -> bool {
    const MATCH: glob::MatchOptions = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    if pattern.as_str().contains('/') {
        pattern.matches_path_with(path, MATCH)
    } else {
        path.file_name()
            .is_some_and(|name| pattern.matches_path_with(std::path::Path::new(name), MATCH))
    }
}

/// What to tail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TailConfig {
    /// Globs of files to read (`**` recurses; `*` does not cross `/`).
    pub include: Vec<String>,
    /// Globs of paths to skip, matched against the full path.
    pub exclude: Vec<String>,
    /// Longer lines are split into pieces of at most this many bytes, never dropped.
    pub max_line_bytes: usize,
    /// For files first seen at startup with no checkpoint: start at their end.
    pub start_at_end: bool,
    /// The same for the files these globs match only (sources with their own
    /// `start_at_end`); a file any of them matches starts at its end.
    pub start_at_end_globs: Vec<String>,
}

impl Default for TailConfig {
    fn default() -> Self {
        TailConfig {
            include: Vec::new(),
            exclude: Vec::new(),
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            start_at_end: false,
            start_at_end_globs: Vec::new(),
        }
    }
}

/// One line (or piece of an over-long line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TailLine {
    /// The path the file was discovered under.
    pub source: Arc<str>,
    /// The line without its `'\n'` (and trailing `'\r'`), lossily decoded.
    pub text: String,
    /// This piece continues the previous one: a line over `max_line_bytes` was cut there.
    pub continued: bool,
}

/// The result of one [`Tailer::poll`].
#[derive(Debug, Default)]
pub struct ReadChunk {
    /// Complete lines, in file order per file.
    pub lines: Vec<TailLine>,
    /// Positions after these lines (and identity changes), for every file that changed.
    pub checkpoints: Vec<(FileKey, Checkpoint)>,
    /// Identities that can be deleted from storage; disjoint from `checkpoints`.
    pub forget: Vec<FileKey>,
    /// File state changes since the last poll, in order (for tests and debugging).
    pub transitions: Vec<Transition>,
    /// The read stopped because the byte budget ran out, not because every file was at
    /// its end: more bytes are (probably) waiting, so the caller should not sleep, and a
    /// read group that ends here is complete even if its last line was cut.
    pub budget_spent: bool,
}

/// Where a file is in its life; see "File states" in the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileState {
    /// Found by the globs: read as it grows.
    Open,
    /// Outside the globs (rotated away, moved, or found again by identity): read to its
    /// end, then released.
    Draining,
    /// `poll` saw it shorter or with another head; the next rescan decides.
    Suspect,
    /// Not read; its key waits to be claimed.
    Released(Released),
    /// Its key was returned in `forget`.
    Forgotten,
}

/// One change of a file's [`FileState`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The file's path when it changed.
    pub path: String,
    /// Its identity (the new one, for a file that just started).
    pub key: FileKey,
    /// `None` for a file seen for the first time.
    pub from: Option<FileState>,
    /// The new state.
    pub to: FileState,
}

impl ReadChunk {
    /// Nothing to deliver or persist.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.checkpoints.is_empty() && self.forget.is_empty()
    }
}

/// Errors from building a tailer or watcher.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    /// A configuration value is unusable.
    #[error("invalid `{key}`: {reason}")]
    InvalidConfig {
        /// The config key, e.g. `max_line_bytes`.
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A glob does not parse.
    #[error("invalid glob `{pattern}`")]
    Pattern {
        /// The glob as configured.
        pattern: String,
        /// The parser's complaint.
        #[source]
        source: glob::PatternError,
    },
}

// ---------------------------------------------------------------------------------------
// Lines

/// Splits `data` into lines and pieces, calling `emit` for each with whether it ends its line
/// (`false` for a piece cut from an over-long line: the next piece continues it); returns the
/// bytes consumed.
///
/// The unconsumed rest is a fragment without `'\n'` of at most `max_line + 1` bytes.
pub(crate) fn split_lines(
    data: &[u8],
    max_line: usize,
    mut emit: impl FnMut(&[u8], bool),
) -> usize {
    let max_line = max_line.max(1);
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', data) {
        let mut line = &data[start..nl];
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        while line.len() > max_line {
            let cut = cut_point(line, max_line);
            emit(&line[..cut], false);
            line = &line[cut..];
        }
        emit(line, true);
        start = nl + 1;
    }
    while data.len() - start > max_line + 1 {
        let cut = cut_point(&data[start..], max_line);
        emit(&data[start..start + cut], false);
        start += cut;
    }
    start
}

/// Where to cut `bytes` (longer than `max`): at `max`, or up to 3 bytes earlier so a
/// UTF-8 sequence is not split.
fn cut_point(bytes: &[u8], max: usize) -> usize {
    (0..=3)
        .map(|back| max.saturating_sub(back))
        .take_while(|&cut| cut > 0)
        .find(|&cut| bytes.get(cut).is_some_and(|b| (b & 0xC0) != 0x80))
        .unwrap_or(max)
}

/// Text of one line: borrowed bytes, lossily decoded (invalid UTF-8 is kept as U+FFFD).
pub(crate) fn line_text(bytes: &[u8]) -> String {
    // Validation alone is several times faster than the lossy decoder, and almost every
    // line is valid.
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

// ---------------------------------------------------------------------------------------
// Known files

/// What a check of a file we are reading found, at the same device+inode.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum KnownCheck {
    /// Truncated, rewritten or a reused inode: restart at 0 as a new identity.
    Restarted,
    /// The same content stream.
    Continue {
        /// A longer fingerprint to switch the key to.
        upgrade: Option<Fingerprint>,
        /// The file has been seen at least as long as the read position.
        verified: bool,
        /// There are bytes past the read position.
        readable: bool,
    },
}

/// Decides whether a tracked file still holds the stream we were reading.
///
/// `head` is the file's first `min(256, size)` bytes now. `verified` says the file has
/// been seen at least `read_pos` long since we started reading it at this inode: only
/// then does a shorter file mean truncation (a copy we took over may still be growing).
pub(crate) fn check_known(
    fingerprint: Fingerprint,
    read_pos: u64,
    verified: bool,
    size: u64,
    head: &[u8],
    cap: usize,
) -> KnownCheck {
    if (verified && size < read_pos) || !fingerprint.matches(head) {
        return KnownCheck::Restarted;
    }
    let upgrade = ((fingerprint.len as usize) < cap && head.len() > fingerprint.len as usize)
        .then(|| Fingerprint::of(&head[..head.len().min(cap)]));
    KnownCheck::Continue {
        upgrade,
        verified: verified || size >= read_pos,
        readable: size > read_pos,
    }
}

// ---------------------------------------------------------------------------------------
// New files

/// A file found by the globs that is not being read.
#[derive(Debug)]
pub(crate) struct Candidate<'a> {
    pub(crate) id: DevIno,
    pub(crate) path: &'a str,
    /// Size in bytes (`u64::MAX` for a compressed file: not known without decompressing).
    pub(crate) size: u64,
    /// First `min(256, size)` bytes (decompressed).
    pub(crate) head: &'a [u8],
    pub(crate) codec: Codec,
}

/// A file being read, as seen by [`decide_new`].
#[derive(Debug)]
pub(crate) struct LiveView<'a> {
    pub(crate) first_path: &'a str,
    pub(crate) head: &'a [u8],
    /// The candidate's last (at most 256) bytes equal this file's bytes at the same
    /// offsets (true when the candidate is no longer than its head).
    pub(crate) same_end: bool,
}

/// Why a key is unclaimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Released {
    /// A saved checkpoint not yet matched since startup.
    Startup,
    /// The file at `(dev, ino)` was truncated or replaced; it must not claim it back.
    Restarted {
        /// Device of the truncated file.
        dev: u64,
        /// Inode of the truncated file.
        ino: u64,
    },
    /// The file left the globs (or was deleted) before it was read to its end.
    Gone,
    /// The file left the globs and was read to its end.
    Drained,
}

impl Released {
    fn restarted(id: DevIno) -> Released {
        Released::Restarted {
            dev: id.dev,
            ino: id.ino,
        }
    }
}

// ---------------------------------------------------------------------------------------
// File states

/// What a rescan saw of a file being read.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Observed {
    pub(crate) id: DevIno,
    /// Found by the globs.
    pub(crate) in_globs: bool,
    /// Outside the globs but still readable: by its open descriptor, or found again by
    /// identity (rule 6).
    pub(crate) reachable: bool,
    /// Its head or size says it was truncated or replaced (see [`check_known`]).
    pub(crate) restarted: bool,
    /// Bytes past the read position (or not known to be at its end).
    pub(crate) readable: bool,
    /// Rescans since its last byte was read.
    pub(crate) idle: u32,
}

/// The state of a file being read after a rescan (see "File states" in the module docs).
pub(crate) fn next_state(o: &Observed) -> FileState {
    if o.restarted {
        FileState::Released(Released::restarted(o.id))
    } else if o.in_globs {
        FileState::Open
    } else if !o.reachable {
        FileState::Released(Released::Gone)
    } else if o.readable || o.idle < ORPHAN_RELEASE_RESCANS {
        FileState::Draining
    } else {
        FileState::Released(Released::Drained)
    }
}

/// Whether an unclaimed key now `age` ticks old (`before` at the previous rescan) is
/// looked for outside the globs (rule 6) in this rescan: a drained file never is; the
/// others at once and in the next two ticks, then whenever the age crosses a multiple of
/// 8 ticks (every 8th rescan at one tick per rescan; a rescan that adds no tick, one
/// asked for by a file-system event, repeats no search after the first ticks).
pub(crate) fn search_due(reason: Released, before: u32, age: u32) -> bool {
    !matches!(reason, Released::Drained) && (age <= 2 || before / 8 != age / 8)
}

/// Whether file name `name` may be a rotation of `original` (both without directory):
/// it starts with the original's stem (up to its first `.`), followed by `.`, `-`, `_`
/// or nothing.
pub(crate) fn related_name(original: &str, name: &str) -> bool {
    let stem = match original.find('.') {
        Some(0) | None => original,
        Some(i) => &original[..i],
    };
    name != original
        && name
            .strip_prefix(stem)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '-', '_']))
}

/// How a file's bytes are stored, from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Codec {
    /// Text as written.
    Plain,
    /// gzip (read decompressed).
    Gzip,
    /// zstd (not supported: never read).
    Zstd,
}

/// The codec of a file whose first bytes are `magic`.
pub(crate) fn codec_of(magic: &[u8]) -> Codec {
    if magic.starts_with(&[0x1f, 0x8b]) {
        Codec::Gzip
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Codec::Zstd
    } else {
        Codec::Plain
    }
}

/// How a candidate's bytes just before a released key's offset compare with the
/// checkpoint's `before` fingerprint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sample {
    /// No fingerprint saved (older checkpoint, offset 0) or not looked at.
    Unknown,
    /// They match: the candidate holds the same bytes there.
    Agrees,
    /// They differ: another stream with the same head.
    Differs,
    /// The candidate does not reach the offset yet.
    Short,
}

/// An unclaimed key, as seen by [`decide_new`].
#[derive(Debug)]
pub(crate) struct UnclaimedView<'a> {
    pub(crate) key: &'a FileKey,
    pub(crate) offset: u64,
    pub(crate) path: &'a str,
    pub(crate) reason: Released,
    /// The released file's head bytes, when known (not for saved checkpoints).
    pub(crate) head: Option<&'a [u8]>,
    /// The candidate's bytes before `offset` against the checkpoint's `before`.
    pub(crate) sample: Sample,
}

/// What to do with a candidate.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NewDecision {
    /// Continue an unclaimed key (index into the unclaimed slice) at its offset.
    Resume(usize),
    /// A copy of a live file (index into the live slice): do not read it.
    Shadow(usize),
    /// Not decidable yet (too short to fingerprint, or a copy still in progress).
    Wait,
    /// A new stream, with its fingerprint.
    New(Fingerprint),
    /// A compression this build cannot read: never read (it would be binary text).
    Unsupported,
}

/// Decides what a file found by the globs, and not being read, is.
///
/// With `exact_only` only rule 2 of the module docs is tried; the tailer runs an exact
/// pass over all candidates first so a copy never takes a key from its original.
pub(crate) fn decide_new(
    c: &Candidate<'_>,
    live: &[LiveView<'_>],
    unclaimed: &[UnclaimedView<'_>],
    cap: usize,
    exact_only: bool,
) -> NewDecision {
    if c.codec == Codec::Zstd {
        return NewDecision::Unsupported;
    }
    let Some(fp_len) = fingerprint_len(c.head, cap) else {
        return NewDecision::Wait;
    };
    let same_inode = |u: &UnclaimedView<'_>| u.key.dev == c.id.dev && u.key.ino == c.id.ino;
    let restarted_here = |u: &UnclaimedView<'_>| u.reason == Released::restarted(c.id);
    // Rule 2: the same inode with the same head came back, at least as long as the offset
    // (shorter means truncated while we were not looking: rule 3). Prefer the longest
    // fingerprint: an upgraded key whose old key's `forget` was not persisted.
    let exact = unclaimed
        .iter()
        .enumerate()
        .filter(|(_, u)| {
            same_inode(u)
                && !restarted_here(u)
                && c.size >= u.offset
                && u.key.fingerprint.matches(c.head)
        })
        .max_by_key(|(_, u)| u.key.fingerprint.len);
    if let Some((i, _)) = exact {
        return NewDecision::Resume(i);
    }
    if exact_only {
        return NewDecision::Wait;
    }
    // Rule 4: a copy of a file we are reading.
    if let Some(i) = live
        .iter()
        .position(|l| c.path != l.first_path && l.same_end && is_copy_of(c.head, l.head))
    {
        return NewDecision::Shadow(i);
    }
    // Rule 5: a copy of a released file: another inode at another path.
    let copies = unclaimed
        .iter()
        .enumerate()
        .filter(|(_, u)| !same_inode(u) && u.path != c.path);
    let mut wait = false;
    for (i, u) in copies {
        if u.key.fingerprint.matches(c.head) {
            match u.sample {
                Sample::Unknown | Sample::Agrees => return NewDecision::Resume(i),
                Sample::Short => wait = true,
                Sample::Differs => {}
            }
            continue;
        }
        if let Some(h) = u.head
            && c.head.len() < u.key.fingerprint.len as usize
            && h.starts_with(c.head)
        {
            wait = true;
        }
    }
    if wait {
        return NewDecision::Wait;
    }
    NewDecision::New(Fingerprint::of(&c.head[..fp_len]))
}

/// Whether a file with head `cand` may be a (possibly partial) copy of one with head `live`.
///
/// Both heads are at most 256 bytes, so a candidate longer than `live` holds bytes the
/// live file does not have: it is not a copy of it.
fn is_copy_of(cand: &[u8], live: &[u8]) -> bool {
    cand.len() <= live.len() && live.starts_with(cand)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(data: &[u8], max: usize) -> (Vec<String>, usize) {
        let mut out = Vec::new();
        let consumed = split_lines(data, max, |l, _| out.push(line_text(l)));
        (out, consumed)
    }

    #[test]
    fn splits_on_newline_and_keeps_fragment() {
        assert_eq!(
            lines(b"a\n\nbc\nd", 100),
            (vec!["a".into(), "".into(), "bc".into()], 6)
        );
        assert_eq!(lines(b"partial", 100), (vec![], 0));
    }

    #[test]
    fn crlf_is_stripped_once() {
        assert_eq!(lines(b"a\r\nb\r\r\n\r\n", 100).0, vec!["a", "b\r", ""]);
    }

    #[test]
    fn invalid_utf8_is_kept_lossily() {
        assert_eq!(
            lines(b"ok \xff\xfe end\n", 100).0,
            vec!["ok \u{fffd}\u{fffd} end"]
        );
    }

    #[test]
    fn long_line_is_split_not_dropped() {
        assert_eq!(lines(b"abcdefghij\n", 4).0, vec!["abcd", "efgh", "ij"]);
        // Exactly max bytes plus CRLF is one line, not a line and an empty piece.
        assert_eq!(lines(b"abcd\r\n", 4).0, vec!["abcd"]);
        // A fragment is cut once it exceeds max + 1 (it could still end in '\r').
        assert_eq!(lines(b"abcde", 4), (vec![], 0));
        assert_eq!(lines(b"abcdef", 4), (vec!["abcd".into()], 4));
    }

    #[test]
    fn long_line_cut_backs_off_to_utf8_boundary() {
        // "é" is 2 bytes; cutting at 4 would split the second one.
        assert_eq!(lines("aéé b\n".as_bytes(), 4).0, vec!["aé", "é b"]);
    }

    #[test]
    fn pieces_do_not_depend_on_write_timing() {
        let data = "x1234567890\r\nab\r\ncdé€fghijklmnop\n\n".as_bytes();
        let (whole, _) = lines(data, 5);
        for split in 0..data.len() {
            // Feed the first `split` bytes, keep the fragment, then feed the rest.
            let mut out = Vec::new();
            let consumed = split_lines(&data[..split], 5, |l, _| out.push(line_text(l)));
            let rest = &data[consumed..];
            split_lines(rest, 5, |l, _| out.push(line_text(l)));
            assert_eq!(out, whole, "split at {split}");
        }
    }

    const CAP: usize = FINGERPRINT_MAX_BYTES;

    #[test]
    fn truncation_restarts_only_when_verified() {
        let head = b"line one\nline two\n";
        let fp = Fingerprint::of(head);
        assert_eq!(
            check_known(fp, 18, true, 0, b"", CAP),
            KnownCheck::Restarted
        );
        assert_eq!(
            check_known(fp, 18, true, 10, &head[..10], CAP),
            KnownCheck::Restarted
        );
        // A copy taken over while `cp` is still writing: shorter than our position, wait.
        assert_eq!(
            check_known(fp, 100, false, 18, head, CAP),
            KnownCheck::Continue {
                upgrade: None,
                verified: false,
                readable: false
            }
        );
    }

    #[test]
    fn rewritten_head_or_reused_inode_restarts() {
        let fp = Fingerprint::of(b"old first line\n");
        let new_head = b"new first line\nmore\n";
        assert_eq!(
            check_known(fp, 15, true, 20, new_head, CAP),
            KnownCheck::Restarted
        );
    }

    #[test]
    fn growth_continues_and_upgrades_short_fingerprint() {
        let fp = Fingerprint::of(b"a\n");
        let head = b"a\nb\nc\n";
        assert_eq!(
            check_known(fp, 2, true, 6, head, CAP),
            KnownCheck::Continue {
                upgrade: Some(Fingerprint::of(head)),
                verified: true,
                readable: true
            }
        );
        let full = [b'z'; CAP];
        let fp = Fingerprint::of(&full);
        assert_eq!(
            check_known(fp, 300, true, 400, &full, CAP),
            KnownCheck::Continue {
                upgrade: None,
                verified: true,
                readable: true
            }
        );
    }

    fn id(ino: u64) -> DevIno {
        DevIno { dev: 1, ino }
    }

    fn key(head: &[u8], ino: u64) -> FileKey {
        FileKey {
            fingerprint: Fingerprint::of(head),
            dev: 1,
            ino,
        }
    }

    fn uview<'a>(
        key: &'a FileKey,
        offset: u64,
        path: &'a str,
        reason: Released,
        head: Option<&'a [u8]>,
    ) -> UnclaimedView<'a> {
        UnclaimedView {
            key,
            offset,
            path,
            reason,
            head,
            sample: Sample::Unknown,
        }
    }

    #[test]
    fn short_file_waits_for_a_complete_line() {
        let c = Candidate {
            id: id(1),
            path: "/l/a.log",
            size: 5,
            head: b"start",
            codec: Codec::Plain,
        };
        assert_eq!(decide_new(&c, &[], &[], CAP, false), NewDecision::Wait);
        let c = Candidate {
            id: id(1),
            path: "/l/a.log",
            size: 6,
            head: b"start\n",
            codec: Codec::Plain,
        };
        assert_eq!(
            decide_new(&c, &[], &[], CAP, false),
            NewDecision::New(Fingerprint::of(b"start\n"))
        );
    }

    #[test]
    fn restart_resumes_renamed_file_by_inode_and_head() {
        // pos.log was rotated to pos.log.1 while the agent was down.
        let head = b"first\nsecond\n";
        let k = key(head, 7);
        let u = [uview(&k, 6, "/l/pos.log", Released::Startup, None)];
        let c = Candidate {
            id: id(7),
            path: "/l/pos.log.1",
            size: 13,
            head,
            codec: Codec::Plain,
        };
        assert_eq!(decide_new(&c, &[], &u, CAP, true), NewDecision::Resume(0));
    }

    #[test]
    fn inode_reuse_is_a_new_file() {
        let k = key(b"old\n", 7);
        let u = [uview(&k, 4, "/l/pos.log", Released::Startup, None)];
        let c = Candidate {
            id: id(7),
            path: "/l/pos.log",
            size: 4,
            head: b"new\n",
            codec: Codec::Plain,
        };
        assert_eq!(
            decide_new(&c, &[], &u, CAP, false),
            NewDecision::New(Fingerprint::of(b"new\n"))
        );
    }

    #[test]
    fn truncated_while_down_is_read_from_start() {
        let k = key(b"a\n", 7);
        let u = [uview(&k, 100, "/l/pos.log", Released::Startup, None)];
        let c = Candidate {
            id: id(7),
            path: "/l/pos.log",
            size: 4,
            head: b"a\nb\n",
            codec: Codec::Plain,
        };
        assert_eq!(
            decide_new(&c, &[], &u, CAP, false),
            NewDecision::New(Fingerprint::of(b"a\nb\n"))
        );
    }

    #[test]
    fn rotation_new_file_at_old_path_is_not_a_shadow() {
        // Same banner, but it sits where the live file was first seen: rename rotation.
        let live = [LiveView {
            first_path: "/l/pos.log",
            head: b"banner\nold lines\n",
            same_end: true,
        }];
        let c = Candidate {
            id: id(9),
            path: "/l/pos.log",
            size: 7,
            head: b"banner\n",
            codec: Codec::Plain,
        };
        assert_eq!(
            decide_new(&c, &live, &[], CAP, false),
            NewDecision::New(Fingerprint::of(b"banner\n"))
        );
    }

    #[test]
    fn copy_of_a_live_file_is_a_shadow() {
        let live = [LiveView {
            first_path: "/l/pos.log",
            head: b"one\ntwo\nthree\n",
            same_end: true,
        }];
        for head in [&b"one\n"[..], b"one\ntwo\nthree\n"] {
            let c = Candidate {
                id: id(9),
                path: "/l/pos.log.1",
                size: head.len() as u64,
                head,
                codec: Codec::Plain,
            };
            assert_eq!(
                decide_new(&c, &live, &[], CAP, false),
                NewDecision::Shadow(0)
            );
        }
        // Diverging content is not a copy.
        let c = Candidate {
            id: id(9),
            path: "/l/pos.log.1",
            size: 8,
            head: b"one\nTWO\n",
            codec: Codec::Plain,
        };
        assert!(matches!(
            decide_new(&c, &live, &[], CAP, false),
            NewDecision::New(_)
        ));
    }

    #[test]
    fn copytruncate_copy_claims_the_released_key() {
        let head = b"one\ntwo\nthree\n";
        let k = key(head, 7);
        let released = Released::restarted(id(7));
        let u = [uview(&k, 8, "/l/pos.log", released, Some(head))];
        // The copy, complete: continue at offset 8.
        let c = Candidate {
            id: id(9),
            path: "/l/pos.log.1",
            size: 14,
            head,
            codec: Codec::Plain,
        };
        assert_eq!(decide_new(&c, &[], &u, CAP, false), NewDecision::Resume(0));
        // The copy, still being written: wait.
        let c = Candidate {
            id: id(9),
            path: "/l/pos.log.1",
            size: 4,
            head: b"one\n",
            codec: Codec::Plain,
        };
        assert_eq!(decide_new(&c, &[], &u, CAP, false), NewDecision::Wait);
        // The truncated file itself, rewritten with the same head: never its own copy.
        let c = Candidate {
            id: id(7),
            path: "/l/pos.log",
            size: 14,
            head,
            codec: Codec::Plain,
        };
        assert!(matches!(
            decide_new(&c, &[], &u, CAP, false),
            NewDecision::New(_)
        ));
    }

    #[test]
    fn recreated_file_with_same_head_at_same_path_is_new() {
        let head = b"banner\n";
        let k = key(head, 7);
        let u = [uview(&k, 7, "/l/pos.log", Released::Gone, Some(head))];
        let c = Candidate {
            id: id(8),
            path: "/l/pos.log",
            size: 7,
            head,
            codec: Codec::Plain,
        };
        assert_eq!(
            decide_new(&c, &[], &u, CAP, false),
            NewDecision::New(Fingerprint::of(head))
        );
    }

    #[test]
    fn exact_pass_prefers_the_longest_fingerprint() {
        let head = b"a\nbb\n";
        let short = key(b"a\n", 7);
        let long = key(head, 7);
        let u = [
            uview(&short, 2, "/l/a.log", Released::Startup, None),
            uview(&long, 5, "/l/a.log", Released::Startup, None),
        ];
        let c = Candidate {
            id: id(7),
            path: "/l/a.log",
            size: 5,
            head,
            codec: Codec::Plain,
        };
        assert_eq!(decide_new(&c, &[], &u, CAP, true), NewDecision::Resume(1));
    }

    /// One row per transition of a file being read: (observation, expected state).
    #[test]
    fn next_state_table() {
        let o = |in_globs, reachable, restarted, readable, idle| Observed {
            id: id(7),
            in_globs,
            reachable,
            restarted,
            readable,
            idle,
        };
        let late = ORPHAN_RELEASE_RESCANS;
        let rows = [
            (o(true, true, false, true, 0), FileState::Open),
            (
                o(true, true, true, true, 0),
                FileState::Released(Released::restarted(id(7))),
            ),
            (
                o(false, true, true, true, 0),
                FileState::Released(Released::restarted(id(7))),
            ),
            (o(false, true, false, false, 0), FileState::Draining),
            (o(false, true, false, true, late), FileState::Draining),
            (
                o(false, true, false, false, late),
                FileState::Released(Released::Drained),
            ),
            (
                o(false, false, false, true, 0),
                FileState::Released(Released::Gone),
            ),
        ];
        for (obs, want) in rows {
            assert_eq!(next_state(&obs), want, "{obs:?}");
        }
    }

    #[test]
    fn search_schedule_and_related_names() {
        assert!(search_due(Released::Startup, 0, 0));
        assert!(search_due(Released::Gone, 1, 2));
        assert!(!search_due(Released::Gone, 2, 3));
        assert!(search_due(Released::Gone, 15, 16));
        assert!(!search_due(Released::Gone, 16, 17));
        // Four ticks per rescan (a 1 s poll interval): every other rescan.
        assert!(!search_due(Released::Gone, 8, 12));
        assert!(search_due(Released::Gone, 12, 16));
        // A rescan without a tick repeats no search.
        assert!(!search_due(Released::Gone, 16, 16));
        assert!(!search_due(Released::Drained, 0, 0));
        let rows = [
            ("app.log", "app.log.1", true),
            ("app.log", "app.log-20261128", true),
            ("app.log", "app.log.1.gz", true),
            ("app.log", "app-20261128.log.gz", true),
            ("app.log", "app.log", false),
            ("app.log", "apple.log.1", false),
            ("app.log", "other.log.1", false),
            (".hidden", ".hidden.1", true),
        ];
        for (original, name, want) in rows {
            assert_eq!(related_name(original, name), want, "{original} {name}");
        }
        assert_eq!(codec_of(b"\x1f\x8b\x08"), Codec::Gzip);
        assert_eq!(codec_of(b"\x28\xb5\x2f\xfd"), Codec::Zstd);
        assert_eq!(codec_of(b"plain\n"), Codec::Plain);
    }

    #[test]
    fn identical_head_with_different_content_is_not_a_shadow() {
        let head = [b'h'; CAP];
        let live = |same_end| {
            [LiveView {
                first_path: "/l/a.csv",
                head: &head,
                same_end,
            }]
        };
        let c = Candidate {
            id: id(9),
            path: "/l/b.csv",
            size: 400,
            head: &head,
            codec: Codec::Plain,
        };
        assert_eq!(
            decide_new(&c, &live(true), &[], CAP, false),
            NewDecision::Shadow(0)
        );
        assert_eq!(
            decide_new(&c, &live(false), &[], CAP, false),
            NewDecision::New(Fingerprint::of(&head))
        );
    }

    #[test]
    fn copy_claims_a_released_key_only_where_its_bytes_agree() {
        let head = b"one\ntwo\nthree\n";
        let k = key(head, 7);
        let c = Candidate {
            id: id(9),
            path: "/l/pos.log.1",
            size: 14,
            head,
            codec: Codec::Plain,
        };
        let rows = [
            (Sample::Unknown, NewDecision::Resume(0)),
            (Sample::Agrees, NewDecision::Resume(0)),
            (Sample::Short, NewDecision::Wait),
            (Sample::Differs, NewDecision::New(Fingerprint::of(head))),
        ];
        for (sample, want) in rows {
            let mut u = uview(&k, 8, "/l/pos.log", Released::Gone, Some(head));
            u.sample = sample;
            assert_eq!(decide_new(&c, &[], &[u], CAP, false), want, "{sample:?}");
        }
        let zstd = Candidate {
            codec: Codec::Zstd,
            ..c
        };
        assert_eq!(
            decide_new(&zstd, &[], &[], CAP, false),
            NewDecision::Unsupported
        );
    }
}
