//! Reading analysis input: paths to files, files to physical lines, with the bad-input rules.
//!
//! - A directory is walked recursively (symlinks followed, loops reported), in file-name order.
//! - A file that starts with the gzip magic bytes is decompressed as it streams
//!   ([`flate2::bufread::MultiGzDecoder`], so concatenated members work); the extension does not
//!   matter.
//! - A file whose first [`BINARY_PROBE_BYTES`] (after decompression) contain a NUL byte is
//!   binary: [`open`] refuses it with [`InputError::Binary`].
//! - A line with invalid UTF-8 is converted lossily (U+FFFD) and flagged; a line longer than
//!   [`MAX_LINE_BYTES`] is cut at a character boundary and flagged. The rest of the line is read
//!   and dropped without being buffered, so memory per line stays bounded.
//!
//! None of these is fatal: the caller reports, counts and moves on.
//! Invariant: [`LineReader`] numbers physical lines from 1 and never skips one; a final line
//! without a newline still counts.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// How much of a file's (decompressed) start is checked for NUL bytes.
pub const BINARY_PROBE_BYTES: usize = 8 * 1024;
/// Longest line kept; longer lines are truncated (and flagged).
pub const MAX_LINE_BYTES: usize = 64 * 1024;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// Why one input path or file could not be read. Never fatal for the run.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A NUL byte in the first [`BINARY_PROBE_BYTES`]: not a text log.
    #[error("{}: binary file (NUL byte in the first 8 KiB), skipped", path.display())]
    Binary {
        /// The file.
        path: PathBuf,
    },
    /// The path is missing, unreadable, or a read failed (a corrupt `.gz` too).
    #[error("{}: {error}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause (shown in the message, which is what gets reported).
        error: io::Error,
    },
}

impl InputError {
    fn io(path: &Path, error: io::Error) -> Self {
        InputError::Io {
            path: path.to_path_buf(),
            error,
        }
    }
}

/// One file to read, with its size on disk (for the progress bar).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    /// Its path.
    pub path: PathBuf,
    /// Bytes on disk (compressed size for `.gz`).
    pub size: u64,
}

/// Expands `paths` into files: files as given, directories walked recursively.
/// Paths that cannot be read are returned as errors next to the files that can.
pub fn expand(paths: &[PathBuf]) -> (Vec<InputFile>, Vec<InputError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) => {
                errors.push(InputError::io(path, e));
                continue;
            }
        };
        if !meta.is_dir() {
            files.push(InputFile {
                path: path.clone(),
                size: meta.len(),
            });
            continue;
        }
        let walk = walkdir::WalkDir::new(path)
            .follow_links(true)
            .sort_by_file_name();
        for entry in walk {
            match entry {
                // Sockets, FIFOs and devices inside a directory are not logs.
                Ok(e) if e.file_type().is_file() => files.push(InputFile {
                    size: e.metadata().map(|m| m.len()).unwrap_or(0),
                    path: e.into_path(),
                }),
                Ok(_) => {}
                Err(e) => {
                    let at = e.path().unwrap_or(path).to_path_buf();
                    errors.push(InputError::io(&at, io::Error::other(e.to_string())));
                }
            }
        }
    }
    (files, errors)
}

/// Passes reads through and reports how many bytes each one returned.
pub struct Counted<R, F> {
    inner: R,
    on_read: F,
}

impl<R: Read, F: FnMut(u64)> Counted<R, F> {
    /// Wraps `inner`; `on_read(n)` runs after every read of `n > 0` bytes.
    pub fn new(inner: R, on_read: F) -> Self {
        Counted { inner, on_read }
    }
}

impl<R: Read, F: FnMut(u64)> Read for Counted<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            (self.on_read)(n as u64);
        }
        Ok(n)
    }
}

/// Opens `path` for line reading: gzip by content, binary files refused.
/// `on_read` gets the number of raw (on-disk) bytes as they are read.
pub fn open(
    path: &Path,
    on_read: impl FnMut(u64) + 'static,
) -> Result<LineReader<Box<dyn BufRead>>, InputError> {
    let file = File::open(path).map_err(|e| InputError::io(path, e))?;
    from_reader(Counted::new(file, on_read)).map_err(|e| match e {
        OpenError::Binary => InputError::Binary {
            path: path.to_path_buf(),
        },
        OpenError::Io(e) => InputError::io(path, e),
    })
}

/// Why [`from_reader`] refused a stream.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A NUL byte near the start.
    #[error("binary data (NUL byte in the first 8 KiB)")]
    Binary,
    /// Reading the start failed (including a corrupt gzip header).
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// [`open`] for any byte stream: sniffs gzip, probes for binary content.
pub fn from_reader(raw: impl Read + 'static) -> Result<LineReader<Box<dyn BufRead>>, OpenError> {
    let mut raw = BufReader::with_capacity(READ_BUFFER_BYTES, raw);
    let gz = starts_with(&mut raw, &GZIP_MAGIC)?;
    let mut decoded: Box<dyn Read> = if gz {
        Box::new(flate2::bufread::MultiGzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    let mut head = Vec::with_capacity(BINARY_PROBE_BYTES);
    (&mut decoded)
        .take(BINARY_PROBE_BYTES as u64)
        .read_to_end(&mut head)?;
    if head.contains(&0) {
        return Err(OpenError::Binary);
    }
    let stream = io::Cursor::new(head).chain(decoded);
    Ok(LineReader::new(Box::new(BufReader::with_capacity(
        READ_BUFFER_BYTES,
        stream,
    ))))
}

/// Whether the stream starts with `magic`, without consuming anything.
fn starts_with(r: &mut BufReader<impl Read>, magic: &[u8]) -> io::Result<bool> {
    loop {
        match r.fill_buf() {
            Ok(buf) => return Ok(buf.starts_with(magic)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// One physical line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number in its file.
    pub n: u64,
    /// The text, without `\n` or `\r\n`.
    pub text: String,
    /// Invalid UTF-8 was replaced with U+FFFD.
    pub invalid_utf8: bool,
    /// The line was longer than the limit and was cut.
    pub truncated: bool,
}

/// Splits a byte stream into [`Line`]s with bounded memory.
pub struct LineReader<R> {
    inner: R,
    n: u64,
    buf: Vec<u8>,
    max: usize,
}

impl<R: BufRead> LineReader<R> {
    /// A reader keeping at most [`MAX_LINE_BYTES`] per line.
    pub fn new(inner: R) -> Self {
        Self::with_max(inner, MAX_LINE_BYTES)
    }

    /// A reader keeping at most `max` bytes per line.
    pub fn with_max(inner: R, max: usize) -> Self {
        LineReader {
            inner,
            n: 0,
            buf: Vec::new(),
            max,
        }
    }

    /// Lines returned so far.
    pub fn lines_read(&self) -> u64 {
        self.n
    }

    /// The next line, `Ok(None)` at the end.
    pub fn next_line(&mut self) -> io::Result<Option<Line>> {
        self.buf.clear();
        let mut truncated = false;
        let mut any = false;
        loop {
            let chunk = match self.inner.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                if !any {
                    return Ok(None);
                }
                break;
            }
            any = true;
            let newline = chunk.iter().position(|&b| b == b'\n');
            let take = newline.unwrap_or(chunk.len());
            let room = self.max.saturating_sub(self.buf.len());
            if take > room {
                truncated = true;
            }
            self.buf.extend_from_slice(&chunk[..take.min(room)]);
            let consumed = newline.map_or(take, |i| i + 1);
            self.inner.consume(consumed);
            if newline.is_some() {
                break;
            }
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        if truncated {
            // Do not let the cut split a character: that would look like invalid input.
            if let Err(e) = std::str::from_utf8(&self.buf)
                && e.error_len().is_none()
            {
                self.buf.truncate(e.valid_up_to());
            }
        }
        let (text, invalid_utf8) = match std::str::from_utf8(&self.buf) {
            Ok(s) => (s.to_owned(), false),
            Err(_) => (String::from_utf8_lossy(&self.buf).into_owned(), true),
        };
        self.n += 1;
        Ok(Some(Line {
            n: self.n,
            text,
            invalid_utf8,
            truncated,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines(bytes: &[u8], max: usize) -> Vec<Line> {
        let mut r = LineReader::with_max(io::Cursor::new(bytes.to_vec()), max);
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push(l);
        }
        out
    }

    fn texts(v: &[Line]) -> Vec<&str> {
        v.iter().map(|l| l.text.as_str()).collect()
    }

    #[test]
    fn splits_lines_numbers_them_and_keeps_a_last_line_without_newline() {
        let v = lines(b"a\r\nb\n\nc", 100);
        assert_eq!(texts(&v), ["a", "b", "", "c"]);
        assert_eq!(v.iter().map(|l| l.n).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert!(v.iter().all(|l| !l.invalid_utf8 && !l.truncated));
        assert!(lines(b"", 100).is_empty());
        assert_eq!(texts(&lines(b"x\n", 100)), ["x"]);
    }

    #[test]
    fn invalid_utf8_is_repaired_and_flagged() {
        let v = lines(b"ok\nbad \xff\xfe here\n", 100);
        assert_eq!(v[1].text, "bad \u{fffd}\u{fffd} here");
        assert!(!v[0].invalid_utf8);
        assert!(v[1].invalid_utf8);
    }

    #[test]
    fn long_lines_are_cut_on_a_char_boundary_and_the_rest_skipped() {
        // A small BufReader capacity so the long line spans many fill_buf calls.
        let mut data = "é".repeat(10).into_bytes(); // 20 bytes
        data.extend_from_slice(b"\nnext\n");
        let mut r = LineReader::with_max(BufReader::with_capacity(3, io::Cursor::new(data)), 5);
        let first = r.next_line().unwrap().unwrap();
        assert_eq!(first.text, "éé");
        assert!(first.truncated);
        assert!(!first.invalid_utf8);
        let second = r.next_line().unwrap().unwrap();
        assert_eq!(
            (second.n, second.text.as_str(), second.truncated),
            (2, "next", false)
        );
        assert!(r.next_line().unwrap().is_none());
    }

    #[test]
    fn binary_is_refused_and_gzip_is_decoded() {
        assert!(matches!(
            from_reader(io::Cursor::new(b"text\0more".to_vec())),
            Err(OpenError::Binary)
        ));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"one\ntwo\n").unwrap();
        let mut bytes = gz.finish().unwrap();
        // A second member: `cat a.gz b.gz` is a valid gzip file.
        let mut gz2 = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz2.write_all(b"three\n").unwrap();
        bytes.extend(gz2.finish().unwrap());
        let mut r = from_reader(io::Cursor::new(bytes)).unwrap();
        let mut got = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            got.push(l.text);
        }
        assert_eq!(got, ["one", "two", "three"]);
    }

    #[test]
    fn counted_reports_raw_bytes() {
        let total = std::rc::Rc::new(std::cell::Cell::new(0u64));
        let t = total.clone();
        let mut r = from_reader(Counted::new(
            io::Cursor::new(b"a\nb\n".to_vec()),
            move |n| t.set(t.get() + n),
        ))
        .unwrap();
        while r.next_line().unwrap().is_some() {}
        assert_eq!(total.get(), 4);
    }

    #[test]
    fn expand_walks_directories_in_order_and_reports_missing_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("b.log"), "b\n").unwrap();
        std::fs::write(dir.path().join("sub/a.log"), "a\n").unwrap();
        std::fs::write(dir.path().join("a.log"), "aa\n").unwrap();
        let missing = dir.path().join("nope.log");
        let (files, errors) = expand(&[dir.path().to_path_buf(), missing.clone()]);
        let names: Vec<_> = files
            .iter()
            .map(|f| f.path.strip_prefix(dir.path()).unwrap().to_path_buf())
            .collect();
        assert_eq!(
            names,
            [PathBuf::from("a.log"), "b.log".into(), "sub/a.log".into()]
        );
        assert_eq!(files[0].size, 3);
        assert_eq!(errors.len(), 1);
        assert!(matches!(&errors[0], InputError::Io { path, .. } if *path == missing));
    }
}
