//! `fleetlog-collector analyze` and `train`: one-shot analysis of log files with
//! `fleetlog-lines`, and training a healthy baseline from them.
//!
//! The path from bytes to a summary:
//! `input` (paths → files → physical lines, bad input repaired or skipped) →
//! `record::Joiner` (multiline events, numbered by their first line) →
//! `record::Analyzer` (per-file format detection, template mining, scoring, error class) →
//! `report::ReportBuilder` (bounded aggregates) → `render` (text, `--json`, `--lines`).
//! `input`, `record` and `report` decide; this file drives them and owns the terminal.
//!
//! Output contract:
//! - Text summary on stdout by default; `--json` prints the same content as one JSON document.
//! - `--lines` streams one JSON object per record to stdout, in input order, as it is read:
//!   `n` is the 1-based number of the record's *first* physical line in `file` (a stack trace
//!   joined to its log line is one record), and `template` is the template's text *when the
//!   record was read*: ids are stable but a template may generalise later (a word becoming
//!   `<*>`); the summary lists final texts. This keeps memory bounded on any input size.
//!   The human summary then goes to stderr (not with `--quiet`).
//! - Progress bar (by bytes read from disk) on stderr, only when stderr is a terminal and
//!   `--quiet` is not given. Notices about skipped input always go to stderr.
//! - Bad input is never fatal: binary files are skipped, invalid UTF-8 is replaced, lines over
//!   64 KiB are truncated, a missing path is reported; all are counted in the summary. The exit
//!   status is non-zero only when no input file could be read at all.
//! - Blank records (whitespace only) are counted as lines but not analysed or emitted.
//!
//! Invariant: memory grows with the number of templates, classes and files, never with lines.

pub mod input;
pub mod model;
pub mod record;
pub mod render;
pub mod report;
mod s3;

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use fleetlog_lines::detect::{Detector, DetectorConfig};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use self::input::{InputError, Line};
use self::record::{Analyzer, Joiner, RawRecord, Trainer};
use self::report::{BaselineInfo, ReportBuilder};

/// `fleetlog-collector analyze`.
#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// Log files, directories (read recursively) and gzip files; or one `s3://bucket/prefix`.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Print the summary as one JSON document.
    #[arg(long, conflicts_with = "lines")]
    pub json: bool,
    /// Print one JSON object per record (JSON Lines), in input order; summary to stderr.
    #[arg(long)]
    pub lines: bool,
    /// Score against a baseline model written by `train` (adds novelty).
    #[arg(long, value_name = "MODEL")]
    pub baseline: Option<PathBuf>,
    /// No progress bar (and no summary on stderr with --lines).
    #[arg(long, short)]
    pub quiet: bool,
    /// Year for timestamps that carry none (RFC 3164 syslog); defaults to the current year.
    #[arg(long)]
    pub year: Option<i32>,
    /// Collector config file whose `[s3]` keys (endpoint, region, force_path_style, limits)
    /// apply to `s3://bucket/prefix` inputs; `FLEETLOG_S3_*` variables override them.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `fleetlog-collector train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Log files of a healthy period, directories (read recursively) and gzip files.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Where to write the model (JSON), atomically.
    #[arg(long, value_name = "MODEL")]
    pub out: PathBuf,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Year for timestamps that carry none (RFC 3164 syslog); defaults to the current year.
    #[arg(long)]
    pub year: Option<i32>,
}

/// Runs `analyze`.
pub fn run_analyze(args: AnalyzeArgs) -> anyhow::Result<()> {
    let baseline = match &args.baseline {
        Some(path) => Some(model::load(path)?),
        None => None,
    };
    let mut run = AnalyzeRun {
        analyzer: Analyzer::new(baseline.as_ref()),
        report: ReportBuilder::new(),
        lines_out: args.lines.then(|| io::BufWriter::new(io::stdout().lock())),
    };
    let year = args.year.unwrap_or_else(current_year);
    let read = match s3::url_of(&args.paths)? {
        Some(url) => s3::read_s3(&url, args.config.as_deref(), args.quiet, year, &mut run),
        None => read_inputs(&args.paths, args.quiet, year, &mut run),
    };
    match read {
        Ok(_) => {}
        Err(ReadError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    let AnalyzeRun {
        analyzer,
        report,
        lines_out,
    } = run;
    if let Some(mut out) = lines_out
        && let Err(e) = out.flush()
    {
        return quiet_pipe(Err(e));
    }
    let info = args
        .baseline
        .as_ref()
        .zip(baseline.as_ref())
        .map(|(p, b)| BaselineInfo {
            path: p.display().to_string(),
            templates: b.templates() as u64,
            lines: b.lines,
        });
    let summary = report.finish(analyzer.drain(), analyzer.classes(), info);
    if args.lines {
        if !args.quiet {
            // Best effort: stdout carried the data; a closed stderr must not fail the run.
            let _ = render::write_text(&mut io::stderr().lock(), &summary);
        }
        return Ok(());
    }
    let mut out = io::BufWriter::new(io::stdout().lock());
    let written = if args.json {
        render::write_json(&mut out, &summary)
    } else {
        render::write_text(&mut out, &summary)
    };
    quiet_pipe(written.and_then(|()| out.flush()))
}

/// Runs `train`.
pub fn run_train(args: TrainArgs) -> anyhow::Result<()> {
    let mut run = TrainRun::default();
    let year = args.year.unwrap_or_else(current_year);
    let stats = read_inputs(&args.paths, args.quiet, year, &mut run)?;
    if run.records == 0 {
        anyhow::bail!("nothing to train on: the input has no non-blank lines");
    }
    let model = run.trainer.finish();
    let bytes = model::save(&args.out, &model)?;
    let mut out = io::stdout().lock();
    quiet_pipe(writeln!(
        out,
        "Trained on {} lines ({} records) from {} file(s): {} templates learned.\n\
         Model written to {} ({} bytes).",
        stats.lines,
        run.records,
        stats.files,
        model.templates(),
        args.out.display(),
        bytes
    ))
}

/// A closed stdout (`| head`) ends the run quietly.
fn quiet_pipe(r: io::Result<()>) -> anyhow::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing output"),
    }
}

/// What the reading loop tells its consumer.
trait Visit {
    /// One physical line was read.
    fn line(&mut self, _line: &Line) {}
    /// One non-blank record of `file`.
    fn record(&mut self, file: &str, detector: &mut Detector, raw: &RawRecord) -> io::Result<()>;
    /// `file` was read to its end (or to a read error).
    fn file_done(&mut self, _file: &str, _detector: &Detector, _lines: u64, _records: u64) {}
    /// A path was skipped.
    fn skipped(&mut self, _err: &InputError) {}
    /// A file's reading stopped early.
    fn read_error(&mut self) {}
    /// An input (an S3 object) was skipped or stopped early, named with the reason.
    fn skipped_object(&mut self, _name: &str, _reason: &str) {}
}

#[derive(Debug, Default)]
struct ReadStats {
    files: u64,
    lines: u64,
}

#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("no input could be read ({paths} path(s) given; see the messages above)")]
    NoInput { paths: usize },
    #[error("writing output")]
    Output(#[source] io::Error),
    /// An `s3://` input could not be listed (or the configuration not loaded).
    #[error("{0}")]
    S3(String),
}

/// Reads every file under `paths` and feeds the records to `visit`.
fn read_inputs(
    paths: &[PathBuf],
    quiet: bool,
    year: i32,
    visit: &mut impl Visit,
) -> Result<ReadStats, ReadError> {
    let (files, errors) = input::expand(paths);
    let total: u64 = files.iter().map(|f| f.size).sum();
    let bar = progress_bar(total, quiet);
    let notice = |msg: &dyn std::fmt::Display| {
        bar.suspend(|| {
            let _ = writeln!(io::stderr().lock(), "fleetlog-collector: {msg}");
        });
    };
    for e in &errors {
        notice(&format_args!("skipped {e}"));
        visit.skipped(e);
    }
    let mut stats = ReadStats::default();
    let mut done_bytes = 0u64;
    for file in &files {
        let name = file.path.display().to_string();
        bar.set_message(name.clone());
        let counter = bar.clone();
        let mut reader = match input::open(&file.path, move |n| counter.inc(n)) {
            Ok(r) => r,
            Err(e) => {
                notice(&format_args!("skipped {e}"));
                visit.skipped(&e);
                done_bytes += file.size;
                bar.set_position(done_bytes);
                continue;
            }
        };
        read_lines(&mut reader, &name, year, visit, &notice)?;
        stats.files += 1;
        stats.lines += reader.lines_read();
        done_bytes += file.size;
        bar.set_position(done_bytes);
    }
    bar.finish_and_clear();
    if stats.files == 0 {
        return Err(ReadError::NoInput { paths: paths.len() });
    }
    Ok(stats)
}

/// Reads one input's lines to its end (or a read error, reported through `notice` and
/// `visit.read_error`), joining records and handing them to `visit`; ends with `file_done`.
/// Returns the read error's text, if reading stopped early.
fn read_lines(
    reader: &mut input::LineReader<impl io::BufRead>,
    name: &str,
    year: i32,
    visit: &mut impl Visit,
    notice: &dyn Fn(&dyn std::fmt::Display),
) -> Result<Option<String>, ReadError> {
    let mut detector = Detector::new(DetectorConfig::with_year(year));
    let mut joiner = Joiner::new();
    let mut records = 0u64;
    let mut failed = None;
    loop {
        match reader.next_line() {
            Ok(Some(line)) => {
                visit.line(&line);
                if let Some(raw) = joiner.push(&line) {
                    emit(visit, name, &mut detector, &raw, &mut records)?;
                }
            }
            Ok(None) => break,
            Err(e) => {
                let text = format!("read error after line {}: {e}", reader.lines_read());
                notice(&format_args!("{name}: {text}, rest of file skipped"));
                visit.read_error();
                failed = Some(text);
                break;
            }
        }
    }
    if let Some(raw) = joiner.flush() {
        emit(visit, name, &mut detector, &raw, &mut records)?;
    }
    visit.file_done(name, &detector, reader.lines_read(), records);
    Ok(failed)
}

/// Hands a non-blank record to `visit`.
fn emit(
    visit: &mut impl Visit,
    file: &str,
    detector: &mut Detector,
    raw: &RawRecord,
    records: &mut u64,
) -> Result<(), ReadError> {
    if raw.text.trim().is_empty() {
        return Ok(());
    }
    *records += 1;
    visit.record(file, detector, raw).map_err(ReadError::Output)
}

fn progress_bar(total: u64, quiet: bool) -> ProgressBar {
    if quiet || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta}) {wide_msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

struct AnalyzeRun<'b, W> {
    analyzer: Analyzer<'b>,
    report: ReportBuilder,
    lines_out: Option<W>,
}

impl<W: Write> Visit for AnalyzeRun<'_, W> {
    fn line(&mut self, line: &Line) {
        self.report.line(line);
    }

    fn record(&mut self, file: &str, detector: &mut Detector, raw: &RawRecord) -> io::Result<()> {
        let rec = self.analyzer.analyze(detector, raw);
        self.report.record(file, &rec, raw.first_line());
        if let Some(out) = &mut self.lines_out {
            let template = self
                .analyzer
                .drain()
                .template(rec.template_id)
                .unwrap_or_default();
            let class = rec
                .class
                .and_then(|i| self.analyzer.classes().classes().get(i))
                .map(|c| c.id.as_str());
            render::write_line(out, &render::LineOut::new(file, &rec, template, class))?;
        }
        Ok(())
    }

    fn file_done(&mut self, file: &str, detector: &Detector, lines: u64, records: u64) {
        self.report
            .file_done(file, detector.format(), lines, records);
    }

    fn skipped(&mut self, err: &InputError) {
        match err {
            InputError::Binary { .. } => self.report.skipped_binary(),
            InputError::Io { .. } => self.report.unreadable(),
        }
    }

    fn read_error(&mut self) {
        self.report.read_error();
    }

    fn skipped_object(&mut self, name: &str, reason: &str) {
        self.report.skipped_object(name, reason);
    }
}

#[derive(Debug, Default)]
struct TrainRun {
    trainer: Trainer,
    records: u64,
}

impl Visit for TrainRun {
    fn record(&mut self, _file: &str, detector: &mut Detector, raw: &RawRecord) -> io::Result<()> {
        self.trainer.add(detector, raw);
        self.records += 1;
        Ok(())
    }
}

/// The current UTC year (for syslog timestamps without one).
pub(crate) fn current_year() -> i32 {
    fleetlog_lines::detect::time::year_of_ms(crate::now_ms())
}
