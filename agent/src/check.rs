//! `fleetlog-agent check --config FILE`: validates a configuration (the same two-stage
//! validation as `run`) and lists the files it would tail, and why others are not.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::config::AgentConfig;

/// What `run` would do with one path a glob matched.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Tailed.
    Tail,
    /// Matched an `exclude` glob (named).
    Excluded(String),
    /// Not a regular file.
    NotAFile,
    /// Cannot be opened (the OS error).
    Unreadable(String),
    /// A zstd file: never read (the agent names zstd only through the wire codec).
    Zstd,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Tail => f.write_str("tail"),
            Verdict::Excluded(glob) => write!(f, "skip: matches exclude `{glob}`"),
            Verdict::NotAFile => f.write_str("skip: not a regular file"),
            Verdict::Unreadable(err) => write!(f, "skip: cannot be read ({err})"),
            Verdict::Zstd => f.write_str("skip: zstd-compressed files are never read"),
        }
    }
}

const MATCH: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Every path the include globs match, with its verdict, sorted by path.
pub fn plan(config: &AgentConfig) -> Vec<(PathBuf, Verdict)> {
    let excludes: Vec<(String, glob::Pattern)> = config
        .exclude
        .iter()
        .filter_map(|g| glob::Pattern::new(g).ok().map(|p| (g.clone(), p)))
        .collect();
    let mut out: Vec<(PathBuf, Verdict)> = Vec::new();
    for include in &config.paths {
        let Ok(paths) = glob::glob_with(include, MATCH) else {
            continue;
        };
        for path in paths.flatten() {
            if out.iter().any(|(p, _)| p == &path) {
                continue;
            }
            let verdict = verdict(&path, &excludes);
            out.push((path, verdict));
        }
    }
    out.sort();
    out
}

fn verdict(path: &Path, excludes: &[(String, glob::Pattern)]) -> Verdict {
    if let Some((glob, _)) = excludes
        .iter()
        .find(|(_, p)| crate::tail::excluded_by(p, path))
    {
        return Verdict::Excluded(glob.clone());
    }
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => return Verdict::NotAFile,
        Ok(_) => {}
        Err(err) => return Verdict::Unreadable(err.to_string()),
    }
    let mut head = [0u8; 4];
    match File::open(path).and_then(|mut f| f.read(&mut head)) {
        Ok(4) if head == ZSTD_MAGIC => Verdict::Zstd,
        Ok(_) => Verdict::Tail,
        Err(err) => Verdict::Unreadable(err.to_string()),
    }
}

/// The report `check` prints.
pub fn report(config: &AgentConfig) -> String {
    let plan = plan(config);
    let tailed = plan.iter().filter(|(_, v)| *v == Verdict::Tail).count();
    let mut out = format!(
        "config OK: collector {}, host {}, data dir {}, {} glob(s), {} exclude(s)\n",
        config.collector,
        config.host_name,
        config.data_dir.display(),
        config.paths.len(),
        config.exclude.len()
    );
    let services = crate::assemble::Services::new(&config.services).unwrap_or_default();
    let at_end: Vec<glob::Pattern> = config
        .start_at_end_globs
        .iter()
        .filter_map(|g| glob::Pattern::new(g).ok())
        .collect();
    for (path, verdict) in &plan {
        out.push_str(&format!("{verdict}\t{}", path.display()));
        if *verdict == Verdict::Tail {
            // What `[[sources]]` tables say of the file, when they say anything.
            let mut notes = Vec::new();
            if let Some(service) = services.of(&path.to_string_lossy()) {
                notes.push(format!("service {service}"));
            }
            if config.start_at_end || at_end.iter().any(|p| p.matches_path_with(path, MATCH)) {
                notes.push("from its end at the first start".to_owned());
            }
            if !notes.is_empty() {
                out.push_str(&format!("\t({})", notes.join(", ")));
            }
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "{tailed} file(s) would be tailed, {} skipped\n",
        plan.len() - tailed
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_says_why_each_matched_path_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("app.log"), "a\n").unwrap();
        std::fs::write(d.join("debug.log"), "b\n").unwrap();
        std::fs::write(d.join("old.log"), [0x28, 0xb5, 0x2f, 0xfd, 0, 0]).unwrap();
        std::fs::create_dir(d.join("dir.log")).unwrap();
        let mut config = crate::config::load(
            None,
            |_| None,
            toml::from_str(
                r#"collector = "127.0.0.1:4433"
token_file = "t"
ca = "ca.pem"
paths = ["/nonexistent/*.log"]"#,
            )
            .unwrap(),
        )
        .unwrap();
        config.paths = vec![format!("{}/*.log", d.display())];
        config.exclude = vec![format!("{}/debug*", d.display())];
        let got: Vec<(String, String)> = plan(&config)
            .into_iter()
            .map(|(p, v)| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                let kind = v.to_string().split(':').next().unwrap().to_owned();
                let suffix = if matches!(v, Verdict::Excluded(_)) {
                    "/exclude"
                } else {
                    ""
                };
                (name, format!("{kind}{suffix}"))
            })
            .collect();
        let want: Vec<(String, String)> = [
            ("app.log", "tail"),
            ("debug.log", "skip/exclude"),
            ("dir.log", "skip"),
            ("old.log", "skip"),
        ]
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
        assert_eq!(got, want);
        let text = report(&config);
        assert!(
            text.contains("1 file(s) would be tailed, 3 skipped"),
            "{text}"
        );
        assert!(
            !text.contains("service"),
            "no [[sources]], no notes: {text}"
        );
        config.services = vec![(format!("{}/app*", d.display()), "till".into())];
        config.start_at_end_globs = vec![format!("{}/*.log", d.display())];
        let text = report(&config);
        assert!(
            text.contains("app.log\t(service till, from its end at the first start)"),
            "{text}"
        );
    }
}
