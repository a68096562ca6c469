//! Every line format detector, the CRI parser, the multiline joiner and the agent's assembly of
//! lines into entries, on arbitrary text. Nothing may panic, and assembly may drop nothing:
//! the entries of a plain file hold exactly the lines read, in order.
#![no_main]

use std::sync::Arc;

use fleetlog_agent::assemble::{AssembleConfig, assemble};
use fleetlog_agent::tail::TailLine;
use fleetlog_lines::detect::{Detector, DetectorConfig, parse_cri, parse_line};
use fleetlog_lines::multiline::Multiline;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut detector = Detector::new(DetectorConfig::with_year(2026));
    let mut joiner = Multiline::default();
    for line in text.split('\n') {
        let _ = parse_line(line, 2026);
        let _ = detector.parse(line);
        let _ = parse_cri(line);
        let _ = fleetlog_lines::detect::time::parse_prefix(line, 2026);
        let _ = joiner.push(line);
    }
    let _ = joiner.flush();

    let cap = data.first().map_or(64, |b| usize::from(*b) * 4 + 1);
    // As the tailer hands them over: without `'\n'` and a trailing `'\r'`.
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let source: Arc<str> = "/var/log/app.log".into();
    let tail: Vec<TailLine> = lines
        .iter()
        .map(|l| TailLine {
            source: source.clone(),
            text: (*l).to_owned(),
            continued: false,
        })
        .collect();
    let entries = assemble(
        tail,
        AssembleConfig {
            multiline: true,
            max_event_bytes: cap,
        },
    );
    let back: Vec<&str> = entries.iter().flat_map(|e| e.text.split('\n')).collect();
    assert_eq!(back, lines, "assembly lost, added or reordered a line");

    // A container log: nothing may panic, and every byte of message text survives.
    let pod: Arc<str> = "/var/log/pods/ns_pod_uid/c/0.log".into();
    let tail: Vec<TailLine> = lines
        .iter()
        .map(|l| TailLine {
            source: pod.clone(),
            text: (*l).to_owned(),
            continued: false,
        })
        .collect();
    let _ = assemble(tail, AssembleConfig::default());
});
