//! Content extraction against the Loghub `Content` column, per dataset, with one detector
//! configuration for all of them. Skips with a notice when `shared/datasets` is absent.
#![allow(clippy::print_stdout, clippy::unwrap_used)] // A test reports by printing and by panicking.

mod support;

use fleetlog_lines::classes::ClassTable;
use fleetlog_lines::detect::{
    CriJoiner, Detector, DetectorConfig, Format, parse_as, parse_cri, parse_line,
};
use fleetlog_lines::multiline::{Multiline, MultilineConfig};
use fleetlog_lines::score::Scorer;
use proptest::prelude::*;

/// Minimum exact-match share per dataset (percent) this code achieved; a drop fails the test.
/// HPC has no level word and its timestamp is the fifth column: the detector's learned column
/// header (`detect/columns.rs`) finds where its content starts.
const FLOORS: &[(&str, f64)] = &[
    ("Apache", 100.0),
    ("BGL", 100.0),
    ("HDFS", 100.0),
    ("HPC", 100.0),
    ("Hadoop", 100.0),
    ("Linux", 99.5),
    ("OpenSSH", 100.0),
    ("OpenStack", 100.0),
    ("Spark", 99.9),
    ("Zookeeper", 100.0),
];

#[test]
fn loghub_content_extraction() {
    let Some(root) = support::loghub() else {
        println!("NOTICE: shared/datasets/loghub not found; skipping content extraction check");
        return;
    };
    let mut total = 0.0;
    for (name, floor) in FLOORS {
        let dir = root.join(name);
        let log = std::fs::read_to_string(dir.join(format!("{name}_2k.log"))).unwrap();
        let csv =
            std::fs::read_to_string(dir.join(format!("{name}_2k.log_structured_corrected.csv")))
                .unwrap();
        let rows = support::csv(&csv);
        let want = support::column(&rows, "Content");
        let mut det = Detector::new(DetectorConfig::with_year(2005));
        let mut ok = 0usize;
        let mut n = 0usize;
        let mut shown = 0;
        let mut formats = std::collections::BTreeMap::<String, usize>::new();
        for (line, want) in log.lines().zip(&want) {
            // BGL's first field is the anomaly label: the system never sees it.
            let line = if *name == "BGL" {
                line.split_once(' ').map_or("", |x| x.1)
            } else {
                line
            };
            let p = det.parse(line);
            *formats.entry(format!("{:?}", p.format)).or_default() += 1;
            n += 1;
            if p.content.trim() == want.trim() {
                ok += 1;
            } else if shown < 2 && std::env::var_os("SHOW_MISMATCH").is_some() {
                shown += 1;
                println!("  {name} got  {:?}\n  {name} want {:?}", p.content, want);
            }
        }
        let pct = 100.0 * ok as f64 / n.max(1) as f64;
        total += pct;
        println!(
            "{name:<10} content exact match {pct:6.2}% ({ok}/{n}) formats {formats:?} locked {:?}",
            det.format()
        );
        assert!(pct + 1e-9 >= *floor, "{name}: {pct:.2}% < floor {floor}%");
    }
    println!(
        "mean content exact match {:.2}%",
        total / FLOORS.len() as f64
    );
}

/// Fragments that steer random lines into every parser's interesting paths.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("2024-01-02T03:04:05.123Z ".to_owned()),
        Just("2024-01-02 03:04:05,006 ".to_owned()),
        Just("Jun 14 15:16:01 ".to_owned()),
        Just("081109 203615 ".to_owned()),
        Just("[Sun Dec 04 04:47:44 2005] ".to_owned()),
        Just("10/Oct/2000:13:55:36 -0700".to_owned()),
        Just("<34>".to_owned()),
        Just("<165>1 ".to_owned()),
        Just("stdout P ".to_owned()),
        Just("stderr F ".to_owned()),
        Just("ERROR ".to_owned()),
        Just("INFO: ".to_owned()),
        Just("[main] ".to_owned()),
        Just("com.x.Y: ".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just("{\"msg\":".to_owned()),
        Just("\"".to_owned()),
        Just("k=v ".to_owned()),
        Just("- - ".to_owned()),
        Just("\tat ".to_owned()),
        Just("Traceback (most recent call last):".to_owned()),
        Just("é€\u{10348}".to_owned()),
        "[ -~]{0,12}",
        any::<String>(),
    ]
}

fn line() -> impl Strategy<Value = String> {
    prop::collection::vec(fragment(), 0..8).prop_map(|v| v.concat())
}

static SCORER: std::sync::LazyLock<Scorer> = std::sync::LazyLock::new(Scorer::default);
static CLASSES: std::sync::LazyLock<ClassTable> = std::sync::LazyLock::new(ClassTable::default);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn no_input_panics(lines in prop::collection::vec(line(), 1..12), year in -3000i32..3000) {
        let scorer = &*SCORER;
        let classes = &*CLASSES;
        let mut det = Detector::new(DetectorConfig { sample_lines: 3, ..DetectorConfig::with_year(year) });
        let mut ml = Multiline::new(MultilineConfig { max_bytes: 64, max_lines: 3, ..MultilineConfig::default() });
        let mut cri = CriJoiner::new(16);
        for l in &lines {
            for f in Format::ALL {
                let _ = parse_as(f, l, year);
            }
            let p = parse_line(l, year);
            if p.format == Format::Plain {
                prop_assert!(l.contains(p.content.as_ref()));
            }
            let p = det.parse(l);
            let s = scorer.score_with_level(&p.content, p.level);
            prop_assert!((0.0..=1.0).contains(&s.confidence));
            let _ = scorer.score(l);
            let _ = classes.classify(l);
            if let Some(j) = ml.push(l) {
                prop_assert!(j.text.len() <= 64);
            }
            if let Some(j) = parse_cri(l).and_then(|c| cri.push(c)) {
                prop_assert!(j.content.len() <= 16);
            }
        }
        let _ = ml.flush();
        let _ = cri.flush();
    }
}

/// Messages the generated header shapes wrap; each holds values a template should mask.
const MESSAGES: [&str; 6] = [
    "connection to db-primary lost after 3 retries",
    "user alice logged in from 10.0.0.7",
    "Checkout failed: card reader timeout (code 17)",
    "cache warmed with 12000 entries in 431ms",
    "printer offline, queue holds 4 jobs",
    "shutting down worker pool",
];

/// A header shape not among the Loghub sets: renders line `i` around `msg`.
type Shape = (&'static str, fn(usize, &str) -> String);

fn ts(i: usize) -> (u32, u32, u32, u32) {
    // Minutes, seconds, millis and micros that vary line by line.
    let i = i as u32;
    (
        (i / 60) % 60,
        i % 60,
        (i * 37) % 1000,
        (i * 7919) % 1_000_000,
    )
}

/// Header shapes real programs write that none of the ten Loghub sets uses.
fn shapes() -> Vec<Shape> {
    vec![
        ("bracketed python", |i, m| {
            let (mi, s, ms, _) = ts(i);
            format!(
                "[2026-11-28 10:{mi:02}:{s:02},{ms:03}] [worker-{}] INFO {m}",
                i % 8
            )
        }),
        ("bsd syslog", |i, m| {
            let (mi, s, _, _) = ts(i);
            format!(
                "Nov 28 10:{mi:02}:{s:02} pos-{} posd[{}]: {m}",
                i % 5,
                100 + i
            )
        }),
        ("go log letter", |i, m| {
            let (mi, s, _, us) = ts(i);
            let l = ["I", "W", "E"][i % 3];
            format!("2026/11/28 10:{mi:02}:{s:02}.{us:06} {l} {m}")
        }),
        ("go std log", |i, m| {
            let (mi, s, _, _) = ts(i);
            format!("2026/11/28 10:{mi:02}:{s:02} {m}")
        }),
        ("klog", |i, m| {
            let (mi, s, _, us) = ts(i);
            format!(
                "I1128 10:{mi:02}:{s:02}.{us:06}    {} reconciler.go:{}] {m}",
                1000 + i % 9,
                40 + i % 7
            )
        }),
        ("logfmt", |i, m| {
            let (mi, s, _, _) = ts(i);
            format!(
                "level=info ts=2026-11-28T10:{mi:02}:{s:02}Z caller=main.go:{} msg=\"{m}\"",
                i % 90
            )
        }),
        ("logrus", |i, m| {
            let (mi, s, _, _) = ts(i);
            format!(
                "time=\"2026-11-28T10:{mi:02}:{s:02}Z\" level=warning msg=\"{m}\" host=pos-{}",
                i % 4
            )
        }),
        ("zap console (tabs)", |i, m| {
            let (mi, s, ms, _) = ts(i);
            format!(
                "2026-11-28T10:{mi:02}:{s:02}.{ms:03}Z\tINFO\tserver/http.go:{}\t{m}",
                100 + i % 50
            )
        }),
        ("tab separated host", |i, m| {
            let (mi, s, _, _) = ts(i);
            format!("2026-11-28T10:{mi:02}:{s:02}Z\tweb-{}\tERROR\t{m}", i % 6)
        }),
        ("python logging", |i, m| {
            let (mi, s, ms, _) = ts(i);
            format!("2026-11-28 10:{mi:02}:{s:02},{ms:03} - shop.payments.gateway - WARNING - {m}")
        }),
        ("loguru", |i, m| {
            let (mi, s, ms, _) = ts(i);
            format!(
                "2026-11-28 10:{mi:02}:{s:02}.{ms:03} | INFO     | shop.worker:run:{} - {m}",
                10 + i % 30
            )
        }),
        ("ruby logger", |i, m| {
            let (mi, s, _, us) = ts(i);
            format!(
                "I, [2026-11-28T10:{mi:02}:{s:02}.{us:06} #{}]  INFO -- : {m}",
                4000 + i % 3
            )
        }),
        ("serilog", |i, m| {
            let (mi, s, ms, _) = ts(i);
            format!("2026-11-28 10:{mi:02}:{s:02}.{ms:03} +01:00 [INF] {m}")
        }),
        ("postgres", |i, m| {
            let (mi, s, ms, _) = ts(i);
            format!(
                "2026-11-28 10:{mi:02}:{s:02}.{ms:03} UTC [{}] LOG:  {m}",
                2000 + i % 11
            )
        }),
        ("nginx error", |i, m| {
            let (mi, s, _, _) = ts(i);
            format!("2026/11/28 10:{mi:02}:{s:02} [error] {}#0: {m}", 31 + i % 4)
        }),
        ("elasticsearch", |i, m| {
            let (mi, s, ms, _) = ts(i);
            format!(
                "[2026-11-28T10:{mi:02}:{s:02},{ms:03}][INFO ][o.e.c.r.a.AllocationService] [node-{}] {m}",
                i % 3
            )
        }),
        ("mysql", |i, m| {
            let (mi, s, _, us) = ts(i);
            format!(
                "2026-11-28T10:{mi:02}:{s:02}.{us:06}Z {} [Warning] [MY-010068] [Server] {m}",
                i % 9
            )
        }),
        ("logback thread", |i, m| {
            let (mi, s, ms, _) = ts(i);
            format!(
                "2026-11-28 10:{mi:02}:{s:02}.{ms:03} [http-nio-8080-exec-{}] ERROR c.s.pos.Checkout - {m}",
                i % 10
            )
        }),
        ("columns, no level", |i, m| {
            let (mi, s, _, _) = ts(i);
            format!(
                "web-{} 2026-11-28T10:{mi:02}:{s:02}Z {} {m}",
                i % 7,
                4000 + i
            )
        }),
        ("columns, epoch", |i, m| {
            format!(
                "{} node-{} hw.ctl state.up {} 1 {m}",
                90_000 + i * 13,
                i % 40,
                1_764_324_000 + i
            )
        }),
        ("rfc5424", |i, m| {
            let (mi, s, ms, _) = ts(i);
            format!(
                "<134>1 2026-11-28T10:{mi:02}:{s:02}.{ms:03}Z pos-{} posd {} - - {m}",
                i % 5,
                300 + i
            )
        }),
    ]
}

/// Every generated header shape, fed as a source of its own through one default `Detector`,
/// yields exactly the message as content on every line, the first ones included.
#[test]
fn generated_header_shapes_yield_the_message() {
    let mut failures = Vec::new();
    for (name, render) in shapes() {
        let mut det = Detector::new(DetectorConfig::with_year(2026));
        let mut bad = 0;
        for i in 0..200 {
            let msg = MESSAGES[(i * 7) % MESSAGES.len()];
            let line = render(i, msg);
            let p = det.parse(&line);
            if p.content != msg {
                if bad == 0 {
                    failures.push(format!("{name}: {line:?} gave {:?}", p.content));
                }
                bad += 1;
            }
        }
        println!("{name:<20} wrong {bad:3}/200 locked {:?}", det.format());
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A header assembled from parts real loggers combine: timestamp, optional fields before the
/// level, the level, optional fields after it; `sep` between parts (space or tab).
fn composed_header() -> impl Strategy<Value = (Vec<String>, String)> {
    let ts = prop_oneof![
        Just("2026-11-28T10:00:01.123Z".to_owned()),
        Just("2026-11-28 10:00:01,123".to_owned()),
        Just("2026-11-28 10:00:01.123456 +01:00".to_owned()),
        Just("2026/11/28 10:00:01".to_owned()),
        Just("[2026-11-28 10:00:01]".to_owned()),
        Just("[2026-11-28T10:00:01.123Z]".to_owned()),
    ];
    let before = prop_oneof![
        Just(vec![]),
        Just(vec!["[main]".to_owned()]),
        Just(vec!["pos-3".to_owned()]),
        Just(vec!["4242".to_owned()]),
        Just(vec!["[4242]".to_owned(), "pos-3".to_owned()]),
        Just(vec!["-".to_owned()]),
    ];
    let level = prop_oneof![
        Just("INFO".to_owned()),
        Just("WARN".to_owned()),
        Just("ERROR:".to_owned()),
        Just("[warn]".to_owned()),
        Just("[INF]".to_owned()),
        Just("FATAL".to_owned()),
    ];
    let after = prop_oneof![
        Just(vec![]),
        Just(vec![
            "[worker-1]".to_owned(),
            "com.shop.Pay".to_owned(),
            "-".to_owned()
        ]),
        Just(vec!["com.shop.Pay:".to_owned()]),
        Just(vec!["-".to_owned()]),
        Just(vec![
            "|".to_owned(),
            "pay/charge.go:88".to_owned(),
            "-".to_owned()
        ]),
        Just(vec!["pay/charge.go:88".to_owned()]),
        Just(vec!["shop.pay:charge:88".to_owned(), "-".to_owned()]),
        Just(vec!["[pay]".to_owned(), "[node-1]".to_owned()]),
        Just(vec!["31#0:".to_owned()]),
    ];
    let sep = prop_oneof![
        Just(" ".to_owned()),
        Just("\t".to_owned()),
        Just("  ".to_owned())
    ];
    (ts, before, level, after, sep).prop_map(|(ts, before, level, after, sep)| {
        let mut parts = vec![ts];
        parts.extend(before);
        parts.push(level);
        parts.extend(after);
        (parts, sep)
    })
}

/// A message: a lower-case first word (a header never ends in one), then free words.
fn message() -> impl Strategy<Value = String> {
    (
        "[a-z]{3,10}",
        prop::collection::vec("[a-z0-9_=/.,()-]{1,10}", 1..7),
    )
        .prop_map(|(first, rest)| format!("{first} {}", rest.join(" ")))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Composed headers, one shape per source, give back exactly the message on every line.
    #[test]
    fn composed_headers_yield_the_message(
        (parts, sep) in composed_header(),
        messages in prop::collection::vec(message(), 1..6),
    ) {
        let header = parts.join(&sep);
        let mut det = Detector::new(DetectorConfig::with_year(2026));
        for m in &messages {
            let line = format!("{header}{sep}{m}");
            let p = det.parse(&line);
            prop_assert_eq!(p.content.as_ref(), m.as_str(), "line {:?}", line);
            prop_assert!(p.level.is_some(), "no level in {:?}", line);
            prop_assert!(p.timestamp_ms.is_some(), "no time in {:?}", line);
        }
    }
}
