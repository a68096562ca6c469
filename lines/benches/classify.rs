//! Per-line cost of the agent's hot path: keyword scoring, format parsing, classification.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use fleetlog_lines::baseline::Baseline;
use fleetlog_lines::classes::ClassTable;
use fleetlog_lines::detect::{Detector, DetectorConfig, Format};
use fleetlog_lines::judge::{Context, Judge};
use fleetlog_lines::level::Level;
use fleetlog_lines::score::Scorer;

/// Typical ~150-byte lines.
const LINES: &[&str] = &[
    "2024-05-01 12:00:00,123 INFO [pool-2-thread-1] com.shop.pos.Checkout: basket 81723 closed, 4 items, total 23.40 EUR, till 3",
    "2024-05-01 12:00:01,456 ERROR [pool-2-thread-4] com.shop.pos.Payment: terminal PAX-A920 connection timed out after 30000 ms",
    "2024-05-01 12:00:02,789 WARN [main] com.shop.pos.Printer: receipt printer paper low on till 3, 12 percent remaining here",
    "2024-05-01 12:00:03,012 INFO [http-nio-8080-exec-7] com.shop.api.Stock: sku 4006381333931 stock sync ok in 18 ms (store 12)",
];

fn bench(c: &mut Criterion) {
    let scorer = Scorer::default();
    let classes = ClassTable::default();
    c.bench_function("score_raw_line_150B", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % LINES.len();
            black_box(scorer.score(black_box(LINES[i])))
        })
    });
    c.bench_function("classify_150B", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % LINES.len();
            black_box(classes.classify(black_box(LINES[i])))
        })
    });
    c.bench_function("parse_header_locked_150B", |b| {
        let mut d = Detector::locked(DetectorConfig::with_year(2024), Format::Header);
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % LINES.len();
            black_box(d.parse(black_box(LINES[i])).level)
        })
    });
    c.bench_function("parse_score_classify_150B", |b| {
        let mut d = Detector::locked(DetectorConfig::with_year(2024), Format::Header);
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % LINES.len();
            let p = d.parse(black_box(LINES[i]));
            let s = scorer.score_with_level(&p.content, p.level);
            let class = if s.confidence >= 0.35 {
                classes.classify(&p.content)
            } else {
                None
            };
            black_box((s.confidence, class.is_some()))
        })
    });
    let judge = Judge::default();
    c.bench_function("parse_judge_150B", |b| {
        let mut d = Detector::locked(DetectorConfig::with_year(2024), Format::Header);
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % LINES.len();
            let p = d.parse(black_box(LINES[i]));
            let v = judge.judge(&p, Context::default());
            black_box((v.confidence, v.class.is_some()))
        })
    });
    let model = Baseline::train((0..200).map(|i| (LINES[i % LINES.len()], None)));
    c.bench_function("baseline_assess_150B", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % LINES.len();
            black_box(
                model
                    .assess(&scorer, black_box(&LINES[i][24..]), Some(Level::Info))
                    .confidence,
            )
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
