//! `fleetlog-collector analyze s3://bucket/prefix`: the objects under a prefix, read like
//! files (same progress bar by bytes, same records, summary, `--json` and `--lines`), with
//! the collector's S3 rules: gzip by content, binary objects and objects over
//! `s3.max_object_bytes` skipped, the decompression-bomb limit. Every object skipped or
//! stopped early is named in the summary with its reason.
//!
//! Endpoint, region and credentials come from the AWS sources (`AWS_ENDPOINT_URL`,
//! `AWS_ACCESS_KEY_ID`, `AWS_REGION`, profiles), overridden by the `[s3]` keys of `--config`
//! and `FLEETLOG_S3_*` variables.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{ReadError, ReadStats, Visit, progress_bar, read_lines};
use crate::s3::client::{self, Target};
use crate::s3::object::{self, ObjectError};
use crate::s3::scan::bare_etag;
use crate::s3::worker::source_of;

/// A parsed `s3://bucket/prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct S3Url {
    pub bucket: String,
    pub prefix: String,
}

/// Parses `s3://bucket[/prefix]` (pure).
fn parse_url(s: &str) -> Option<S3Url> {
    let rest = s.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then(|| S3Url {
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
    })
}

/// The S3 input, if the paths name one; an error for several, or S3 mixed with files.
pub(super) fn url_of(paths: &[PathBuf]) -> anyhow::Result<Option<S3Url>> {
    let s3: Vec<&str> = paths
        .iter()
        .filter_map(|p| p.to_str())
        .filter(|p| p.starts_with("s3://"))
        .collect();
    match (s3.as_slice(), paths.len()) {
        ([], _) => Ok(None),
        ([one], 1) => parse_url(one)
            .map(Some)
            .ok_or_else(|| anyhow::anyhow!("`{one}` is not s3://bucket/prefix")),
        _ => anyhow::bail!("give one s3://bucket/prefix, or files and directories, not both"),
    }
}

struct Obj {
    key: String,
    etag: String,
    size: u64,
}

/// Lists and reads the objects under `url`, feeding their records to `visit`.
pub(super) fn read_s3(
    url: &S3Url,
    config: Option<&Path>,
    quiet: bool,
    year: i32,
    visit: &mut impl Visit,
) -> Result<ReadStats, ReadError> {
    let cfg = crate::config::load(config, |k| std::env::var(k).ok(), toml::Table::new())
        .map_err(|e| ReadError::S3(format!("configuration: {e}")))?
        .s3;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ReadError::S3(format!("starting the S3 client: {e}")))?;
    let s3 = rt.block_on(client::s3(&Target::from_config(&cfg, None)));
    let where_ = format!("s3://{}/{}", url.bucket, url.prefix);
    let mut objs = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = rt
            .block_on(
                s3.list_objects_v2()
                    .bucket(&url.bucket)
                    .prefix(&url.prefix)
                    .set_start_after(after.clone())
                    .send(),
            )
            .map_err(|e| ReadError::S3(format!("listing {where_}: {}", client::describe(&e))))?;
        for o in page.contents() {
            let Some(key) = o.key() else { continue };
            if key.ends_with('/') && o.size().unwrap_or(0) == 0 {
                continue;
            }
            objs.push(Obj {
                key: key.to_owned(),
                etag: bare_etag(o.e_tag().unwrap_or_default()),
                size: u64::try_from(o.size().unwrap_or(0)).unwrap_or(0),
            });
        }
        after = objs.last().map(|o| o.key.clone());
        if !page.is_truncated().unwrap_or(false) || page.contents().is_empty() {
            break;
        }
    }
    if objs.is_empty() {
        return Err(ReadError::S3(format!("no objects under {where_}")));
    }
    let total: u64 = objs.iter().map(|o| o.size).sum();
    let bar = progress_bar(total, quiet);
    let notice = |msg: &dyn std::fmt::Display| {
        bar.suspend(|| {
            let _ = writeln!(io::stderr().lock(), "fleetlog-collector: {msg}");
        });
    };
    let mut stats = ReadStats::default();
    for o in &objs {
        let name = source_of(&url.bucket, &o.key);
        bar.set_message(name.clone());
        let skip = |visit: &mut dyn FnMut(&str), reason: &str| {
            notice(&format_args!("skipped {name}: {reason}"));
            visit(reason);
        };
        if o.size > cfg.max_object_bytes {
            let reason = ObjectError::TooLarge {
                size: o.size,
                max: cfg.max_object_bytes,
            }
            .to_string();
            skip(&mut |r| visit.skipped_object(&name, r), &reason);
            bar.inc(o.size);
            continue;
        }
        let got = rt.block_on(async {
            let r = s3
                .get_object()
                .bucket(&url.bucket)
                .key(&o.key)
                .if_match(format!("\"{}\"", o.etag))
                .send()
                .await
                .map_err(|e| client::describe(&e))?;
            r.body
                .collect()
                .await
                .map(|b| b.into_bytes().to_vec())
                .map_err(|e| format!("reading the body: {e}"))
        });
        bar.inc(o.size);
        let bytes = match got {
            Ok(b) => b,
            Err(reason) => {
                visit.read_error();
                skip(&mut |r| visit.skipped_object(&name, r), &reason);
                continue;
            }
        };
        let mut reader = match object::open(bytes, cfg.max_decompressed_bytes) {
            Ok((r, _gzip)) => r,
            Err(e) => {
                if e == ObjectError::Binary {
                    visit.skipped(&super::input::InputError::Binary {
                        path: PathBuf::from(&name),
                    });
                } else {
                    visit.read_error();
                }
                skip(&mut |r| visit.skipped_object(&name, r), &e.to_string());
                continue;
            }
        };
        if let Some(reason) = read_lines(&mut reader, &name, year, visit, &notice)? {
            visit.skipped_object(&name, &reason);
        }
        stats.files += 1;
        stats.lines += reader.lines_read();
    }
    bar.finish_and_clear();
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = |s: &str| parse_url(s).map(|u| (u.bucket, u.prefix));
        assert_eq!(u("s3://logs"), Some(("logs".into(), "".into())));
        assert_eq!(u("s3://logs/a/b"), Some(("logs".into(), "a/b".into())));
        assert_eq!(u("s3:///x"), None);
        assert_eq!(u("/var/log"), None);
        let p = |v: &[&str]| url_of(&v.iter().map(PathBuf::from).collect::<Vec<_>>());
        assert!(p(&["a.log"]).unwrap().is_none());
        assert!(p(&["s3://b/p"]).unwrap().is_some());
        assert!(p(&["s3://b/p", "a.log"]).is_err());
    }
}
