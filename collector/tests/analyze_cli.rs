//! `fleetlog-collector analyze` and `train`, run as the real binary on files made here.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const MIXED: &str = r#"{"ts":"2024-05-01T10:00:00Z","level":"info","msg":"user 17 logged in"}
{"ts":"2024-05-01T10:00:01Z","level":"info","msg":"user 18 logged in"}
ts=2024-05-01T10:00:02Z level=info msg="cache warmed" items=120
ts=2024-05-01T10:00:03Z level=error msg="write failed: No space left on device"
2024-05-01 10:00:04,000 ERROR [main] com.shop.Checkout - request failed
java.lang.OutOfMemoryError: Java heap space
	at com.shop.Checkout.run(Checkout.java:10)
	at java.base/java.lang.Thread.run(Thread.java:833)
plain text line about nothing

2024-05-01 10:00:05,000 INFO [main] com.shop.Checkout - request served
"#;
const MIXED_LINES: u64 = 11;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fleetlog-collector"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The input set: mixed formats, gzip, binary, invalid UTF-8 + huge line, a directory.
struct Fixture {
    _dir: tempfile::TempDir,
    mixed: PathBuf,
    gz: PathBuf,
    binary: PathBuf,
    messy: PathBuf,
    tree: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mixed = dir.path().join("mixed.log");
    std::fs::write(&mixed, MIXED).unwrap();

    let gz = dir.path().join("old.log.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for i in 0..50 {
        writeln!(
            enc,
            "2024-05-01 09:00:{:02},000 INFO [pool-1] c.s.Sync - synced {i} items",
            i % 60
        )
        .unwrap();
    }
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();

    let binary = dir.path().join("core.bin");
    std::fs::write(&binary, b"\x7fELF\x02\x01\x01\0\0\0\0\0garbage").unwrap();

    let messy = dir.path().join("messy.log");
    let mut m = b"first line ok\nbad bytes \xff\xfe here\n".to_vec();
    m.extend(std::iter::repeat_n(b'x', 200 * 1024));
    m.extend_from_slice(b"\nlast line ok\n");
    std::fs::write(&messy, m).unwrap();

    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("nested/deeper")).unwrap();
    std::fs::write(tree.join("a.log"), "service started\nservice ready\n").unwrap();
    std::fs::write(
        tree.join("nested/deeper/b.log"),
        "connection refused to db:5432\nconnection refused to db:5432\n",
    )
    .unwrap();

    Fixture {
        _dir: dir,
        mixed,
        gz,
        binary,
        messy,
        tree,
    }
}

fn json_of(o: &Output) -> Value {
    assert!(o.status.success(), "stderr: {}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn summary_reports_formats_classes_and_bad_input() {
    let f = fixture();
    let o = run(&[
        "analyze",
        s(&f.mixed),
        s(&f.gz),
        s(&f.binary),
        s(&f.messy),
        s(&f.tree),
    ]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let out = stdout(&o);
    println!("{out}");
    for want in [
        "Formats detected",
        "json",
        "logfmt",
        "header",
        "Top templates",
        "Anomalies",
        "Error classes",
        "disk_full",
        "out_of_memory",
        "fix:",
        "1 binary skipped",
        "Repaired lines: 1 with invalid UTF-8",
    ] {
        assert!(out.contains(want), "summary lacks {want:?}:\n{out}");
    }
    let err = stderr(&o);
    assert!(err.contains("core.bin") && err.contains("binary"), "{err}");
}

#[test]
fn json_has_the_expected_counts() {
    let f = fixture();
    let o = run(&[
        "analyze",
        "--json",
        s(&f.mixed),
        s(&f.gz),
        s(&f.binary),
        s(&f.messy),
        s(&f.tree),
    ]);
    let v = json_of(&o);
    assert_eq!(v["files"]["read"], 5, "{v:#}");
    assert_eq!(v["files"]["skipped_binary"], 1);
    assert_eq!(v["files"]["unreadable"], 0);
    // mixed 11 + gz 50 + messy 4 + tree 2 + 2.
    assert_eq!(v["lines"], MIXED_LINES + 50 + 4 + 4);
    // mixed: the stack trace joins 4 lines into 1 and the blank line is not a record.
    assert_eq!(v["records"], (MIXED_LINES - 3 - 1) + 50 + 4 + 4);
    assert_eq!(v["repaired"]["invalid_utf8_lines"], 1);
    assert_eq!(v["repaired"]["truncated_lines"], 1);
    let formats: Vec<&str> = v["formats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["format"].as_str().unwrap())
        .collect();
    for want in ["json", "logfmt", "header", "plain"] {
        assert!(formats.contains(&want), "{formats:?}");
    }
    let gz = v["file_list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["path"].as_str().unwrap().ends_with("old.log.gz"))
        .unwrap();
    assert_eq!(gz["lines"], 50);
    assert_eq!(gz["format"], "header");
    let classes: Vec<&str> = v["classes"]["found"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(classes.contains(&"disk_full"), "{classes:?}");
    assert!(classes.contains(&"out_of_memory"), "{classes:?}");
    assert!(v["anomalies"]["unhealthy_records"].as_u64().unwrap() >= 2);
    assert_eq!(v["anomalies"]["novel_records"], Value::Null);
    let synced = v["templates"]["top"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["count"] == 50)
        .unwrap();
    // The logback header (`[pool-1] c.s.Sync -`) is not part of the message.
    assert_eq!(synced["template"], "synced <*> items");
    assert_eq!(v["baseline"], Value::Null);
}

#[test]
fn lines_gives_one_object_per_record_in_order() {
    let f = fixture();
    let o = run(&["analyze", "--lines", s(&f.mixed), s(&f.messy)]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let objs: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    println!("{}", serde_json::to_string(&objs[4]).unwrap());
    for o in &objs {
        for key in [
            "n",
            "template_id",
            "template",
            "severity",
            "confidence",
            "class",
        ] {
            assert!(o.get(key).is_some(), "{key} missing in {o}");
        }
    }
    let at: Vec<(String, u64)> = objs
        .iter()
        .map(|o| {
            let file = Path::new(o["file"].as_str().unwrap()).file_name().unwrap();
            (file.to_str().unwrap().to_owned(), o["n"].as_u64().unwrap())
        })
        .collect();
    let want: Vec<(String, u64)> = [1, 2, 3, 4, 5, 9, 11]
        .into_iter()
        .map(|n| ("mixed.log".to_owned(), n))
        .chain((1..=4).map(|n| ("messy.log".to_owned(), n)))
        .collect();
    assert_eq!(at, want);
    // The same template id for both "user N logged in" lines.
    assert_eq!(objs[0]["template_id"], objs[1]["template_id"]);
    assert_eq!(objs[1]["template"], "user <*> logged in");
    // The stack trace record.
    let trace = &objs[4];
    assert_eq!(trace["lines"], 4);
    assert_eq!(trace["class"], "out_of_memory");
    assert_eq!(trace["level"], "error");
    assert!(trace["confidence"].as_f64().unwrap() >= 0.5);
    assert!(["high", "critical"].contains(&trace["severity"].as_str().unwrap()));
    assert_eq!(objs[3]["class"], "disk_full");
    assert_eq!(objs[0]["class"], Value::Null);
    assert_eq!(objs[8]["invalid_utf8"], true);
    assert_eq!(objs[9]["truncated"], true);
    // The human summary went to stderr, not into the JSON stream.
    assert!(stderr(&o).contains("Formats detected"));
}

#[test]
fn train_then_analyze_with_the_baseline() {
    let f = fixture();
    let model = f.tree.parent().unwrap().join("model.json");
    let o = run(&["train", s(&f.gz), s(&f.tree), "--out", s(&model)]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let out = stdout(&o);
    println!("{out}");
    assert!(
        out.contains("templates learned") && out.contains("bytes"),
        "{out}"
    );
    assert!(model.is_file());

    let v = json_of(&run(&[
        "analyze",
        "--json",
        "--baseline",
        s(&model),
        s(&f.gz),
        s(&f.mixed),
    ]));
    assert_eq!(v["baseline"]["templates"].as_u64().unwrap(), 4, "{v:#}");
    // Everything in mixed.log is new to the model; the gz lines are not.
    let novel = v["anomalies"]["novel_records"].as_u64().unwrap();
    assert_eq!(novel, MIXED_LINES - 3 - 1);
    assert!(
        v["anomalies"]["templates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["novel"].is_u64())
    );

    let o = run(&[
        "analyze",
        "--lines",
        "-q",
        "--baseline",
        s(&model),
        s(&f.gz),
    ]);
    let first: Value = serde_json::from_str(stdout(&o).lines().next().unwrap()).unwrap();
    assert_eq!(first["novel"], false);
}

#[test]
fn a_corrupt_model_is_a_clear_error() {
    let f = fixture();
    let model = f.tree.parent().unwrap().join("broken-model.json");
    std::fs::write(&model, "{\"version\": 1, \"drain\": 12").unwrap();
    let o = run(&["analyze", "--baseline", s(&model), s(&f.mixed)]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("broken-model.json") && err.contains("corrupt"),
        "{err}"
    );
}

#[test]
fn exit_status_fails_only_when_nothing_could_be_read() {
    let f = fixture();
    let missing = f.tree.join("no-such.log");
    let o = run(&["analyze", "--json", s(&missing), s(&f.mixed)]);
    let v = json_of(&o);
    assert_eq!(v["files"]["unreadable"], 1);
    assert!(stderr(&o).contains("no-such.log"));

    let o = run(&["analyze", s(&missing), s(&f.binary)]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no input could be read"),
        "{}",
        stderr(&o)
    );

    let model = f.tree.join("never.json");
    let o = run(&["train", s(&missing), "--out", s(&model)]);
    assert!(!o.status.success());
    assert!(!model.exists());
}

#[test]
fn loghub_file_has_2000_lines() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/loghub");
    let file = root.join("HDFS/HDFS_2k.log");
    if !file.is_file() {
        println!(
            "NOTICE: {} not found; skipping the Loghub check",
            file.display()
        );
        return;
    }
    let v = json_of(&run(&["analyze", "--json", s(&file)]));
    assert_eq!(v["lines"], 2000);
    assert_eq!(v["records"], 2000);
    assert_eq!(v["formats"][0]["format"], "header");
}
