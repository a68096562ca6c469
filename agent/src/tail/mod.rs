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
//!    old key in `forget`, same chunk).
//! 2. **Same device+inode, head still matches:** the same file, wherever it now is.
//!    A renamed file keeps its key and offset, so `pos.log.1` is not read again.
//! 3. **Same device+inode, head differs, or size below the read position:** the file was
//!    truncated or the inode reused. It restarts at offset 0 under a new key. The old
//!    key is *released* (see 5) so a copy of the old content can claim it.
//! 4. **A new inode whose head is a prefix of a live file's head** (or equals its
//!    256-byte head), at a path that file never had: a copy of it, e.g. the `.1` of a
//!    copytruncate. It is a *shadow*: not read, re-examined at every rescan. A new
//!    inode at the path a live file was first seen under (the new `pos.log` after a
//!    rename rotation) is never a shadow.
//! 5. **Released keys** (truncated or vanished files, and saved checkpoints not yet
//!    found after a restart) wait, unclaimed, for [`UNCLAIMED_TTL_RESCANS`] rescans before
//!    they are returned in `forget`. A new inode claims one and continues at its
//!    offset if it has the same device+inode and head (the file came back), or else
//!    if its head matches the fingerprint at a *different* path than the released file
//!    had (a copy made before truncation: lines written between our last read and the
//!    truncate are read from the copy). A copy still shorter than the released head
//!    waits.
//! 6. **Otherwise** the file is new: read from 0, or, if first seen in the startup scan
//!    with no checkpoint for its inode and `start_at_end` is set, from the end of its
//!    last complete line.
//!
//! Known limits (content identity cannot tell these apart): a file truncated and
//! rewritten with the same first bytes past the old offset between two checks looks
//! unchanged; two live files with identical first 256 bytes at different paths are
//! one stream (only one is read until the other goes away).
//!
//! # Lines
//!
//! Split on `'\n'`, a trailing `'\r'` stripped, invalid UTF-8 converted lossily.
//! A line longer than `max_line_bytes` is cut greedily into pieces of at most
//! `max_line_bytes` (a cut backs off up to 3 bytes to a UTF-8 boundary); a fragment
//! without `'\n'` is cut the same way once it exceeds `max_line_bytes + 1` bytes, so
//! the pieces do not depend on how the writes were timed.

mod checkpoint;
mod fingerprint;
mod tailer;
mod watcher;

use std::sync::Arc;

pub use checkpoint::{CHECKPOINT_VERSION, Checkpoint, FileKey};
pub use fingerprint::{FINGERPRINT_MAX_BYTES, Fingerprint};
pub use tailer::Tailer;
pub use watcher::Watcher;

use fingerprint::{DevIno, fingerprint_len};

/// Default for [`TailConfig::max_line_bytes`].
pub const DEFAULT_MAX_LINE_BYTES: usize = 256 * 1024;

/// Rescans (about 250 ms each) a fully read file stays open before its descriptor closes.
pub const IDLE_CLOSE_RESCANS: u32 = 40;

/// Rescans an open file that left the globs (rotated away or deleted) is kept for the
/// writer to finish with it, after its last new byte.
pub const ORPHAN_RELEASE_RESCANS: u32 = 240;

/// Rescans a released key or an unmatched saved checkpoint waits before it is forgotten.
pub const UNCLAIMED_TTL_RESCANS: u32 = 240;

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
}

impl Default for TailConfig {
    fn default() -> Self {
        TailConfig {
            include: Vec::new(),
            exclude: Vec::new(),
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            start_at_end: false,
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

/// Splits `data` into lines and pieces, calling `emit` for each; returns the bytes consumed.
///
/// The unconsumed rest is a fragment without `'\n'` of at most `max_line + 1` bytes.
pub(crate) fn split_lines(data: &[u8], max_line: usize, mut emit: impl FnMut(&[u8])) -> usize {
    let max_line = max_line.max(1);
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', data) {
        let mut line = &data[start..nl];
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        while line.len() > max_line {
            let cut = cut_point(line, max_line);
            emit(&line[..cut]);
            line = &line[cut..];
        }
        emit(line);
        start = nl + 1;
    }
    while data.len() - start > max_line + 1 {
        let cut = cut_point(&data[start..], max_line);
        emit(&data[start..start + cut]);
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
    pub(crate) size: u64,
    /// First `min(256, size)` bytes.
    pub(crate) head: &'a [u8],
}

/// A file being read, as seen by [`decide_new`].
#[derive(Debug)]
pub(crate) struct LiveView<'a> {
    pub(crate) first_path: &'a str,
    pub(crate) head: &'a [u8],
}

/// Why a key is unclaimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Released {
    /// A saved checkpoint not yet matched since startup.
    Startup,
    /// The file at `id` was truncated or replaced; `id` itself must not claim it back.
    Restarted { id: DevIno },
    /// The file left the globs or was deleted.
    Gone,
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
    let Some(fp_len) = fingerprint_len(c.head, cap) else {
        return NewDecision::Wait;
    };
    let same_inode = |u: &UnclaimedView<'_>| u.key.dev == c.id.dev && u.key.ino == c.id.ino;
    let restarted_here =
        |u: &UnclaimedView<'_>| matches!(u.reason, Released::Restarted { id } if id == c.id);
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
        .position(|l| c.path != l.first_path && is_copy_of(c.head, l.head))
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
            return NewDecision::Resume(i);
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
        let consumed = split_lines(data, max, |l| out.push(line_text(l)));
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
            let consumed = split_lines(&data[..split], 5, |l| out.push(line_text(l)));
            let rest = &data[consumed..];
            split_lines(rest, 5, |l| out.push(line_text(l)));
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
        }
    }

    #[test]
    fn short_file_waits_for_a_complete_line() {
        let c = Candidate {
            id: id(1),
            path: "/l/a.log",
            size: 5,
            head: b"start",
        };
        assert_eq!(decide_new(&c, &[], &[], CAP, false), NewDecision::Wait);
        let c = Candidate {
            id: id(1),
            path: "/l/a.log",
            size: 6,
            head: b"start\n",
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
        }];
        let c = Candidate {
            id: id(9),
            path: "/l/pos.log",
            size: 7,
            head: b"banner\n",
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
        }];
        for head in [&b"one\n"[..], b"one\ntwo\nthree\n"] {
            let c = Candidate {
                id: id(9),
                path: "/l/pos.log.1",
                size: head.len() as u64,
                head,
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
        let released = Released::Restarted { id: id(7) };
        let u = [uview(&k, 8, "/l/pos.log", released, Some(head))];
        // The copy, complete: continue at offset 8.
        let c = Candidate {
            id: id(9),
            path: "/l/pos.log.1",
            size: 14,
            head,
        };
        assert_eq!(decide_new(&c, &[], &u, CAP, false), NewDecision::Resume(0));
        // The copy, still being written: wait.
        let c = Candidate {
            id: id(9),
            path: "/l/pos.log.1",
            size: 4,
            head: b"one\n",
        };
        assert_eq!(decide_new(&c, &[], &u, CAP, false), NewDecision::Wait);
        // The truncated file itself, rewritten with the same head: never its own copy.
        let c = Candidate {
            id: id(7),
            path: "/l/pos.log",
            size: 14,
            head,
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
        };
        assert_eq!(decide_new(&c, &[], &u, CAP, true), NewDecision::Resume(1));
    }
}
