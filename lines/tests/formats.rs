//! Content extraction against the Loghub `Content` column, per dataset, with one detector
//! configuration for all of them. Skips with a notice when `shared/datasets` is absent.
#![allow(clippy::print_stdout)]

mod support;

use fleetlog_lines::detect::{Detector, DetectorConfig, Format};

/// Minimum exact-match share per dataset (percent) this code achieved; a drop fails the test.
const FLOORS: &[(&str, f64)] = &[
    ("Apache", 0.0),
    ("BGL", 0.0),
    ("HDFS", 0.0),
    ("HPC", 0.0),
    ("Hadoop", 0.0),
    ("Linux", 0.0),
    ("OpenSSH", 0.0),
    ("OpenStack", 0.0),
    ("Spark", 0.0),
    ("Zookeeper", 0.0),
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
        let _ = Format::Plain;
    }
    println!(
        "mean content exact match {:.2}%",
        total / FLOORS.len() as f64
    );
}
