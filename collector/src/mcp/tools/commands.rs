//! `run_command`: the chat commands of `POST /api/v1/commands` (`/help`, `/stat [host]`,
//! `/reload`), with the same role rule: `/reload` needs the admin role.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{Ctx, Effect, ToolDef, def};
use crate::api::commands::CommandResponse;
use crate::auth::Role;
use crate::mcp::error::ToolError;

/// A command line.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandArgs {
    /// `/help`, `/stat`, `/stat HOST` or `/reload`.
    #[schemars(regex(pattern = r"^\s*/(help|stat|reload)(\s+\S+)?\s*$"))]
    pub command: String,
}

pub fn run_command() -> ToolDef {
    def(
        "run_command",
        "Run a chat command",
        "Run one of the chat commands operators type: `/help` lists them, `/stat` gives the \
         fleet's hosts, lines and the last hour's events by severity and top error classes \
         (`/stat HOST` for one host), `/reload` re-reads the baseline model file that agents \
         receive (admin role only; it changes what agents run). Returns `text` for a person \
         and `data` for a program.",
        Role::Viewer,
        Effect::Changes,
        run,
    )
}

async fn run(ctx: Ctx, a: CommandArgs) -> Result<CommandResponse, ToolError> {
    let caller = &ctx.caller;
    Ok(crate::api::commands::execute(
        &ctx.state,
        &caller.principal,
        caller.client.clone(),
        &a.command,
    )
    .await?)
}
