//! The training itself, synchronous (the runner calls it on the blocking pool): uploaded
//! files or archived lines → `fleetlog_lines::baseline::Baseline` (through the CLI `train`'s
//! `analyze::record::Trainer`) → checked model bytes.
//!
//! Bad input is reported per file, never fatal: a binary file, or a gzip file that does not
//! decompress to its end, is skipped whole with its reason. A gzip file is decompressed once
//! to check it before any of its lines are learned, so a corrupt file never contributes half
//! of itself; if no file is usable, there is nothing to train on and no model.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use fleetlog_lines::detect::{Detector, DetectorConfig};
use serde::Serialize;

use crate::analyze::input::{self, Counted, OpenError};
use crate::analyze::record::{Joiner, RawRecord, Trainer};
use crate::ingest::model::{PushModel, content_hash};

/// How often (in lines) training looks at the cancel flag.
const CANCEL_CHECK_LINES: u64 = 4096;
/// gzip's first two bytes.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Shared between a running job and its runner: progress out, cancel in.
#[derive(Debug, Default)]
pub struct Progress {
    pub bytes_done: AtomicU64,
    pub lines: AtomicU64,
    pub cancel: AtomicBool,
}

/// One uploaded file.
#[derive(Debug, Clone)]
pub struct UploadFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// What became of one input file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileReport {
    pub name: String,
    /// Bytes as uploaded.
    pub bytes: u64,
    /// `gzip` or `plain`.
    pub encoding: &'static str,
    pub lines: u64,
    pub records: u64,
    /// Why the file was skipped; `None` if it was learned.
    pub error: Option<String>,
}

/// Why training produced no model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrainError {
    #[error("cancelled")]
    Cancelled,
    #[error("nothing to train on: {0}")]
    NothingToTrain(String),
    #[error("the trained model cannot be pushed to agents: {0}")]
    Unusable(String),
    /// The input could not be read (the archive, an S3 listing) or the training task died.
    #[error("{0}")]
    Failed(String),
}

/// A trained, checked model.
#[derive(Debug, Clone)]
pub struct Trained {
    /// The baseline's JSON.
    pub bytes: Vec<u8>,
    pub content_hash: u64,
    pub templates: u64,
    pub records: u64,
    pub lines: u64,
}

/// One training run over any number of inputs.
#[derive(Debug)]
pub struct Session {
    trainer: Trainer,
    year: i32,
    records: u64,
    lines: u64,
    /// One format detector per archived source (each file has its own format).
    detectors: HashMap<String, Detector>,
    progress: Arc<Progress>,
}

impl Session {
    /// `year` completes syslog timestamps that have none.
    pub fn new(year: i32, progress: Arc<Progress>) -> Session {
        Session {
            trainer: Trainer::default(),
            year,
            records: 0,
            lines: 0,
            detectors: HashMap::new(),
            progress,
        }
    }

    fn cancelled(&self) -> bool {
        self.progress.cancel.load(Ordering::Relaxed)
    }

    /// Learns an uploaded file (plain text or gzip, by its magic bytes), or reports why not.
    /// `max_decoded` bounds its decompressed size.
    pub fn add_file(
        &mut self,
        file: &UploadFile,
        max_decoded: u64,
    ) -> Result<FileReport, TrainError> {
        let gzip = file.bytes.starts_with(&GZIP_MAGIC);
        let mut report = FileReport {
            name: file.name.clone(),
            bytes: file.bytes.len() as u64,
            encoding: if gzip { "gzip" } else { "plain" },
            lines: 0,
            records: 0,
            error: None,
        };
        if gzip && let Err(e) = check_decodes(&file.bytes, max_decoded) {
            report.error = Some(e);
            self.progress
                .bytes_done
                .fetch_add(report.bytes, Ordering::Relaxed);
            return Ok(report);
        }
        let progress = self.progress.clone();
        let counted = Counted::new(Cursor::new(file.bytes.clone()), move |n| {
            progress.bytes_done.fetch_add(n, Ordering::Relaxed);
        });
        let mut reader = match input::from_reader(counted) {
            Ok(r) => r,
            Err(OpenError::Binary) => {
                report.error = Some("binary data (NUL byte in the first 8 KiB)".to_owned());
                return Ok(report);
            }
            Err(OpenError::Io(e)) => {
                report.error = Some(format!("unreadable: {e}"));
                return Ok(report);
            }
        };
        let mut detector = Detector::new(DetectorConfig::with_year(self.year));
        let mut joiner = Joiner::new();
        let mut decoded = 0u64;
        loop {
            let line = match reader.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(e) => {
                    // Checked above for gzip; a plain in-memory file cannot fail to read.
                    report.error = Some(format!(
                        "read error after line {}: {e}; the lines before it were learned",
                        reader.lines_read()
                    ));
                    break;
                }
            };
            decoded += line.text.len() as u64 + 1;
            if decoded > max_decoded {
                report.error = Some(format!(
                    "longer than {max_decoded} bytes; the lines before were learned"
                ));
                break;
            }
            report.lines += 1;
            self.count_line()?;
            if let Some(raw) = joiner.push(&line) {
                report.records += self.learn(&mut detector, &raw);
            }
        }
        if let Some(raw) = joiner.flush() {
            report.records += self.learn(&mut detector, &raw);
        }
        Ok(report)
    }

    /// Learns one archived line of `source` (the agent already joined multi-line records).
    pub fn add_archived(&mut self, source: &str, text: &str) -> Result<(), TrainError> {
        self.count_line()?;
        self.progress
            .bytes_done
            .fetch_add(text.len() as u64, Ordering::Relaxed);
        let year = self.year;
        let mut detector = self
            .detectors
            .remove(source)
            .unwrap_or_else(|| Detector::new(DetectorConfig::with_year(year)));
        let raw = RawRecord {
            n: self.lines,
            lines: 1,
            text: text.to_owned(),
            invalid_utf8: false,
            truncated: false,
        };
        self.learn(&mut detector, &raw);
        self.detectors.insert(source.to_owned(), detector);
        Ok(())
    }

    fn count_line(&mut self) -> Result<(), TrainError> {
        self.lines += 1;
        self.progress.lines.fetch_add(1, Ordering::Relaxed);
        if self.lines.is_multiple_of(CANCEL_CHECK_LINES) && self.cancelled() {
            return Err(TrainError::Cancelled);
        }
        Ok(())
    }

    /// Learns a non-blank record; returns 1 if it was learned.
    fn learn(&mut self, detector: &mut Detector, raw: &RawRecord) -> u64 {
        if raw.text.trim().is_empty() {
            return 0;
        }
        self.trainer.add(detector, raw);
        self.records += 1;
        1
    }

    /// Records learned so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The model: its JSON, checked to be pushable in one frame.
    pub fn finish(self) -> Result<Trained, TrainError> {
        if self.cancelled() {
            return Err(TrainError::Cancelled);
        }
        if self.records == 0 {
            return Err(TrainError::NothingToTrain(format!(
                "no usable non-blank line in {} line(s) read",
                self.lines
            )));
        }
        let baseline = self.trainer.finish();
        let bytes =
            serde_json::to_vec(&baseline).map_err(|e| TrainError::Unusable(e.to_string()))?;
        let hash = content_hash(&bytes);
        PushModel::from_bytes(Path::new("trained model"), &bytes, String::new(), None)
            .map_err(|e| TrainError::Unusable(e.to_string()))?;
        Ok(Trained {
            content_hash: hash,
            templates: baseline.templates() as u64,
            records: self.records,
            lines: self.lines,
            bytes,
        })
    }
}

/// Decompresses a gzip file to its end without keeping it; the reason it cannot be used.
fn check_decodes(bytes: &[u8], max_decoded: u64) -> Result<(), String> {
    let mut decoder = flate2::read::MultiGzDecoder::new(bytes);
    let mut sink = std::io::sink();
    let mut limited = std::io::Read::take(&mut decoder, max_decoded.saturating_add(1));
    match std::io::copy(&mut limited, &mut sink) {
        Ok(n) if n > max_decoded => Err(format!(
            "decompresses to more than {max_decoded} bytes (16 × training.max_upload_bytes)"
        )),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("corrupt gzip: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(text: &str) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(text.as_bytes()).unwrap();
        enc.finish().unwrap()
    }

    fn healthy(n: usize) -> String {
        (0..n)
            .map(|i| format!("2026-11-28 10:00:{:02} INFO user {i} logged in\n", i % 60))
            .collect()
    }

    fn session() -> Session {
        Session::new(2026, Arc::new(Progress::default()))
    }

    #[test]
    fn plain_and_gzip_files_are_learned_and_bad_ones_reported() {
        let mut s = session();
        let files = [
            UploadFile {
                name: "a.log".into(),
                bytes: healthy(50).into_bytes(),
            },
            UploadFile {
                name: "b.log.gz".into(),
                bytes: gzip(&healthy(30)),
            },
            UploadFile {
                name: "bad.gz".into(),
                bytes: {
                    let mut g = gzip(&healthy(300));
                    let half = g.len() / 2;
                    g.truncate(half);
                    g
                },
            },
            UploadFile {
                name: "bin".into(),
                bytes: vec![0, 1, 2, 0],
            },
        ];
        let reports: Vec<FileReport> = files
            .iter()
            .map(|f| s.add_file(f, 1 << 20).unwrap())
            .collect();
        assert_eq!((reports[0].lines, reports[0].error.as_deref()), (50, None));
        assert_eq!(reports[1].encoding, "gzip");
        assert_eq!(
            (reports[1].records, reports[1].error.as_deref()),
            (30, None)
        );
        let bad = reports[2].error.as_deref().unwrap_or_default();
        assert!(bad.contains("corrupt gzip"), "{bad}");
        assert_eq!(reports[2].lines, 0, "a corrupt file contributes nothing");
        assert!(
            reports[3]
                .error
                .as_deref()
                .unwrap_or_default()
                .contains("binary")
        );
        let model = s.finish().unwrap();
        assert_eq!(model.records, 80);
        assert!(model.templates >= 1);
        assert_eq!(model.content_hash, content_hash(&model.bytes));
    }

    #[test]
    fn only_bad_input_makes_no_model() {
        let mut s = session();
        let bad = UploadFile {
            name: "x.gz".into(),
            bytes: vec![0x1f, 0x8b, 8, 0, 1, 2, 3],
        };
        let r = s.add_file(&bad, 1 << 20).unwrap();
        assert!(r.error.is_some());
        assert!(matches!(s.finish(), Err(TrainError::NothingToTrain(_))));
    }

    #[test]
    fn a_gzip_bomb_is_refused_by_its_decoded_size() {
        let mut s = session();
        let big = UploadFile {
            name: "big.gz".into(),
            bytes: gzip(&"a".repeat(100_000)),
        };
        let r = s.add_file(&big, 1000).unwrap();
        assert!(r.error.unwrap().contains("more than 1000 bytes"));
    }

    #[test]
    fn archived_lines_are_learned_per_source_and_cancel_stops() {
        let progress = Arc::new(Progress::default());
        let mut s = Session::new(2026, progress.clone());
        for i in 0..10 {
            s.add_archived("/var/log/a.log", &format!("user {i} logged in"))
                .unwrap();
        }
        assert_eq!(s.records(), 10);
        progress.cancel.store(true, Ordering::Relaxed);
        let mut stopped = false;
        for i in 0..CANCEL_CHECK_LINES {
            if s.add_archived("/var/log/b.log", &format!("order {i} paid"))
                == Err(TrainError::Cancelled)
            {
                stopped = true;
                break;
            }
        }
        assert!(stopped);
        assert!(matches!(s.finish(), Err(TrainError::Cancelled)));
    }
}
