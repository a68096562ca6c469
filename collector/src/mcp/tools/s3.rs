//! S3: `analyze_s3_logs` starts a scan of `s3://bucket/prefix` (`POST /api/v1/s3/scans`) or
//! reports one with its counts and a page of its objects (`GET /api/v1/s3/scans/{id}`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Ctx, Effect, TimeArg, ToolDef, def};
use crate::api::s3::{NewScanDto, ObjectQuery, ScanDetail, ScanDto};
use crate::auth::Role;
use crate::mcp::error::ToolError;

/// Either a bucket prefix to scan, or a scan to report.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanArgs {
    /// Report this scan instead of starting one.
    pub scan_id: Option<i64>,
    /// The bucket to scan, e.g. `store-logs`.
    pub bucket: Option<String>,
    /// Key prefix, e.g. `alb/2026/11/28/` (default: the whole bucket).
    pub prefix: Option<String>,
    /// Only objects modified at or after this time: RFC 3339, epoch ms or a span (`24h`).
    pub from: Option<TimeArg>,
    /// Only objects modified before this time.
    pub to: Option<TimeArg>,
    /// When reporting: only objects with this status (pending, done, failed, skipped).
    pub status: Option<String>,
    /// When reporting: objects per page (default 20).
    pub limit: Option<u32>,
    /// When reporting: `next_cursor` of the previous call.
    pub cursor: Option<String>,
}

/// A started scan, or a reported one.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ScanOut {
    Started(ScanDto),
    Report(ScanDetail),
}

pub fn analyze_s3_logs() -> ToolDef {
    def(
        "analyze_s3_logs",
        "Analyze logs in S3",
        "Analyse log files in an S3 bucket (load balancer, CDN and cloud service logs that no \
         agent ships): give `bucket` and optional `prefix`, `from`, `to` to start a scan — it \
         runs in the background, reads every object (plain or gzip), stores unhealthy lines as \
         events with source s3://bucket/key and feeds incidents — or give `scan_id` to report \
         it: state, counts of objects done / failed / skipped and lines read, and a page of \
         objects with their status and error (`status` filters, `cursor` pages). Then use \
         filter_unhealthy_logs or list_incidents on host `s3:<bucket>` for what it found.",
        Role::Analyst,
        Effect::Changes,
        scan,
    )
}

async fn scan(ctx: Ctx, a: ScanArgs) -> Result<ScanOut, ToolError> {
    if let Some(id) = a.scan_id {
        if a.bucket.is_some() || a.prefix.is_some() || a.from.is_some() || a.to.is_some() {
            return Err(ToolError::BadArgument(
                "give either scan_id (to report a scan) or bucket (to start one), not both".into(),
            ));
        }
        let q = ObjectQuery {
            status: a.status,
            limit: Some(ctx.limit(a.limit)?),
            cursor: a.cursor,
        };
        return Ok(ScanOut::Report(
            crate::api::s3::detail(&ctx.state, id, q).await?,
        ));
    }
    let Some(bucket) = a.bucket else {
        return Err(ToolError::BadArgument(
            "to start a scan give bucket (and optionally prefix, from, to); to report one give scan_id"
                .into(),
        ));
    };
    let now = crate::now_ms();
    let body = NewScanDto {
        bucket,
        prefix: a.prefix,
        start_after: None,
        from: a.from.map(|t| t.resolve("from", now)).transpose()?,
        to: a.to.map(|t| t.resolve("to", now)).transpose()?,
        credentials: None,
    };
    let caller = &ctx.caller;
    Ok(ScanOut::Started(
        crate::api::s3::create_as(&ctx.state, &caller.principal, caller.client.clone(), body)
            .await?,
    ))
}
