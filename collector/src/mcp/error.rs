//! `ToolError`: why a tool call failed, as the model reads it. Every variant becomes a tool
//! result with `isError: true` and the message as text; a store failure is logged here and
//! reaches the model only as "internal error".

use crate::api::error::ApiError;
use crate::auth::Role;

/// A failed tool call.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The arguments do not fit the tool's schema or its rules.
    #[error("bad argument: {0}")]
    BadArgument(String),
    /// The caller's role is below the tool's (or the operation's).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    /// The operation does not apply in the current state (e.g. resolving a resolved incident).
    #[error("{0}")]
    Conflict(String),
    /// The collector is busy (a rate limit or a timeout); the call may be retried.
    #[error("{0}")]
    Unavailable(String),
    /// The answer would exceed `mcp.max_result_bytes`.
    #[error(
        "the result is {bytes} bytes, over this server's limit of {max} (mcp.max_result_bytes); \
         ask for less: a smaller `limit`, a narrower time range or more filters"
    )]
    TooLarge { bytes: usize, max: usize },
    /// The collector could not answer; the cause is in its log.
    #[error("internal error while answering; the collector logged the cause, try again later")]
    Failed,
}

impl ToolError {
    /// The outcome label of `fleetlog_collector_mcp_tool_calls_total`.
    pub fn outcome(&self) -> &'static str {
        match self {
            ToolError::BadArgument(_) => "bad_argument",
            ToolError::Forbidden(_) => "forbidden",
            ToolError::NotFound(_) => "not_found",
            ToolError::Conflict(_) => "conflict",
            ToolError::Unavailable(_) => "unavailable",
            ToolError::TooLarge { .. } => "too_large",
            ToolError::Failed => "failed",
        }
    }

    /// The refusal of a tool whose least role is `needed`.
    pub fn role(tool: &str, needed: Role, name: &str, has: Role) -> ToolError {
        ToolError::Forbidden(format!(
            "`{tool}` needs the {needed} role; {name} has {has}"
        ))
    }
}

impl From<ApiError> for ToolError {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::BadRequest(m) | ApiError::UnsupportedMediaType(m) => {
                ToolError::BadArgument(m)
            }
            ApiError::Forbidden(m) => ToolError::Forbidden(m),
            ApiError::NotFound(m) => ToolError::NotFound(m),
            ApiError::Conflict(m) => ToolError::Conflict(m),
            ApiError::Unauthorized => {
                ToolError::Forbidden("missing, invalid, expired or revoked credentials".into())
            }
            ApiError::PayloadTooLarge(max) => ToolError::TooLarge { bytes: max, max },
            ApiError::TooManyRequests { message, .. } | ApiError::Unavailable(message) => {
                ToolError::Unavailable(message)
            }
            ApiError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "MCP tool call failed.");
                ToolError::Failed
            }
        }
    }
}
