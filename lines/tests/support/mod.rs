//! Helpers shared by the dataset tests: locating `shared/datasets` and reading Loghub CSVs.
#![allow(dead_code, unreachable_pub, clippy::print_stdout, clippy::unwrap_used)]

use std::path::PathBuf;

/// The ten Loghub 2k systems in `shared/datasets/loghub`.
pub const SYSTEMS: [&str; 10] = [
    "Apache",
    "BGL",
    "HDFS",
    "HPC",
    "Hadoop",
    "Linux",
    "OpenSSH",
    "OpenStack",
    "Spark",
    "Zookeeper",
];

/// `CARGO_MANIFEST_DIR/../../shared/datasets/loghub`, if present.
pub fn loghub() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/loghub");
    p.is_dir().then_some(p)
}

/// Parses RFC 4180 CSV text (quoted fields, doubled quotes, newlines inside quotes).
pub fn csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut in_q = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_q {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    in_q = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' => in_q = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            _ => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// Column `name` of a CSV with a header row.
pub fn column(rows: &[Vec<String>], name: &str) -> Vec<String> {
    let Some(i) = rows[0].iter().position(|h| h == name) else {
        return Vec::new();
    };
    rows[1..]
        .iter()
        .map(|r| r.get(i).cloned().unwrap_or_default())
        .collect()
}
