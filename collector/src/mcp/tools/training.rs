//! Training: `train_on_healthy_logs` starts a training job over a time window an analyst
//! marks healthy (`POST /api/v1/training/windows`) or over an S3 prefix of known-good logs
//! (`POST /api/v1/training/s3`), or reports a job's progress
//! (`GET /api/v1/training/jobs/{id}`). Uploads go through the REST API (a file is not a
//! tool argument); their jobs are reported here by id like any other.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{Ctx, Effect, TimeArg, ToolDef, def};
use crate::api::training::{JobDto, S3TrainingRequest, WindowRequest};
use crate::auth::Role;
use crate::mcp::error::ToolError;

/// A window or an S3 prefix to train on, or a job to report.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainArgs {
    /// Report this training job (from an earlier call or an upload) instead of starting one.
    pub job_id: Option<i64>,
    /// The host whose stored lines are healthy in the window, e.g. `pos-0042-01`.
    pub host: Option<String>,
    /// Only this service's lines (file stem or pod container), e.g. `payments`.
    pub service: Option<String>,
    /// Start of the healthy window: RFC 3339, epoch ms or a span back from now (`6h`).
    pub from: Option<TimeArg>,
    /// End of the healthy window (default: now).
    pub to: Option<TimeArg>,
    /// Train on the objects under this S3 prefix instead of a window, e.g.
    /// `s3://store-logs/pos-0042/2026-11-27/` (plain or gzip objects).
    pub s3_prefix: Option<String>,
}

pub fn train_on_healthy_logs() -> ToolDef {
    def(
        "train_on_healthy_logs",
        "Train on healthy logs",
        "Teach fleetlog what healthy looks like: start a background training job over the \
         lines one host stored in a time window the user says was healthy (`host`, `from`, \
         optional `to` and `service`), or over the log objects under an S3 prefix known to be \
         healthy (`s3_prefix`, e.g. `s3://bucket/prefix/`), or pass `job_id` to report a job's state and progress \
         (queued, running with percent, succeeded with the new model's id, failed with the \
         reason, cancelled). A finished job makes a new model version that is NOT active: an \
         admin activates it (REST `POST /api/v1/models/{id}/activate`) so agents apply it. \
         Known-good log files are uploaded through the REST API (`POST \
         /api/v1/training/uploads`) and reported here by their job id.",
        Role::Analyst,
        Effect::Changes,
        train,
    )
}

async fn train(ctx: Ctx, a: TrainArgs) -> Result<JobDto, ToolError> {
    let window = a.host.is_some() || a.from.is_some() || a.to.is_some() || a.service.is_some();
    if let Some(id) = a.job_id {
        if window || a.s3_prefix.is_some() {
            return Err(ToolError::BadArgument(
                "give either job_id (to report a job) or host and from or s3_prefix (to start one), not both"
                    .into(),
            ));
        }
        return Ok(crate::api::training::job_by_id(&ctx.state, id).await?);
    }
    let caller = &ctx.caller;
    if let Some(url) = a.s3_prefix {
        if window {
            return Err(ToolError::BadArgument(
                "give either host and from (a window) or s3_prefix, not both".into(),
            ));
        }
        let (bucket, prefix) = url
            .strip_prefix("s3://")
            .map(|rest| rest.split_once('/').unwrap_or((rest, "")))
            .ok_or_else(|| {
                ToolError::BadArgument(format!(
                    "s3_prefix must look like s3://bucket/prefix, not `{url}`"
                ))
            })?;
        let req = S3TrainingRequest {
            bucket: bucket.to_owned(),
            prefix: Some(prefix.to_owned()),
            credentials: None,
        };
        let (_, job) =
            crate::api::training::s3_as(&ctx.state, &caller.principal, caller.client.clone(), req)
                .await?;
        return Ok(job.0);
    }
    let (Some(host), Some(from)) = (a.host, a.from) else {
        return Err(ToolError::BadArgument(
            "to start training give host and from (and optionally to, service) or s3_prefix; to report a job give job_id"
                .into(),
        ));
    };
    let now = crate::now_ms();
    let req = WindowRequest {
        host,
        service: a.service,
        from: from.resolve("from", now)?,
        to: match a.to {
            Some(t) => t.resolve("to", now)?,
            None => now.to_string(),
        },
    };
    let (_, job) =
        crate::api::training::window_as(&ctx.state, &caller.principal, caller.client.clone(), req)
            .await?;
    Ok(job.0)
}
