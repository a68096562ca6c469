//! `FleetlogMcp`: the `rmcp` server handler. It answers `tools/list` from the registry, and
//! for `tools/call` finds the tool, checks the caller's role, runs it, bounds the answer and
//! counts the outcome; every failure the model should read is a tool result with
//! `isError: true`. Resources and prompts are delegated to `resources.rs` and `prompts.rs`.

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, GetPromptRequestParams,
    GetPromptResponse, Implementation, ListPromptsResult, ListResourceTemplatesResult,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};

use super::error::ToolError;
use super::tools::{self, Ctx};
use super::{Caller, prompts, resources};
use crate::api::AppState;

/// What the server tells a model about itself at `initialize`.
const INSTRUCTIONS: &str = "fleetlog watches a fleet of store hosts (POS, kiosks) through \
the logs their agents ship. Start with get_fleet_health or get_log_analysis_summary; drill \
down with list_incidents, get_incident, filter_unhealthy_logs and search_logs; \
suggest_solutions gives the error class and its fix. Times are epoch milliseconds (time \
arguments also take RFC 3339 or a span back from now like `6h`). Lists are newest first \
and paged: pass `next_cursor` back as `cursor` for more.";

/// One handler per request (the endpoint is stateless); cheap to build.
#[derive(Debug, Clone)]
pub struct FleetlogMcp {
    state: AppState,
}

impl FleetlogMcp {
    pub fn new(state: AppState) -> FleetlogMcp {
        FleetlogMcp { state }
    }

    /// The tool context of a request, with the caller the auth middleware resolved.
    fn ctx(&self, rc: &RequestContext<RoleServer>) -> Result<Ctx, McpError> {
        let caller = caller(rc)?;
        Ok(Ctx {
            state: self.state.clone(),
            caller,
        })
    }

    /// Runs `tool` for the caller; `Err` is what the model reads.
    async fn run(
        &self,
        tool: &'static tools::ToolDef,
        ctx: Ctx,
        args: rmcp::model::JsonObject,
    ) -> Result<tools::Answer, ToolError> {
        let principal = &ctx.caller.principal;
        if !principal.may(tool.min_role) {
            return Err(ToolError::role(
                tool.name,
                tool.min_role,
                &principal.name,
                principal.role,
            ));
        }
        let answer = tool.call(ctx, args).await?;
        let (bytes, max) = (answer.text.len(), self.state.config.mcp.max_result_bytes);
        if bytes > max {
            return Err(ToolError::TooLarge { bytes, max });
        }
        Ok(answer)
    }
}

/// The caller the `/mcp` route's auth middleware put in the request's HTTP parts.
pub(super) fn caller(rc: &RequestContext<RoleServer>) -> Result<Caller, McpError> {
    rc.extensions
        .get::<axum::http::request::Parts>()
        .and_then(|p| p.extensions.get::<Caller>())
        .cloned()
        // Unreachable behind `mcp::routes`, whose middleware authenticates every request.
        .ok_or_else(|| McpError::internal_error("request without an authenticated caller", None))
}

impl ServerHandler for FleetlogMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .build(),
        )
        .with_server_info(
            Implementation::new("fleetlog-collector", env!("CARGO_PKG_VERSION"))
                .with_title("fleetlog")
                .with_description("Ask the fleet's logs: health, incidents, errors and fixes."),
        )
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(
            tools::registry().iter().map(|t| t.tool.clone()).collect(),
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let metrics = self.state.metrics.clone();
        let Some(tool) = tools::find(&request.name) else {
            metrics.mcp_tool_call("unknown", "bad_argument");
            let name: String = request.name.chars().take(64).collect();
            return Err(McpError::invalid_params(
                format!("unknown tool `{name}`; tools/list names the tools"),
                None,
            ));
        };
        let ctx = self.ctx(&context)?;
        let args = request.arguments.unwrap_or_default();
        let result = match self.run(tool, ctx, args).await {
            Ok(answer) => {
                metrics.mcp_tool_call(tool.name, "ok");
                let mut result = CallToolResult::structured(answer.value);
                result.content = vec![ContentBlock::text(answer.text)];
                result
            }
            Err(err) => {
                metrics.mcp_tool_call(tool.name, err.outcome());
                tracing::debug!(tool = tool.name, error = %err, "MCP tool call refused.");
                CallToolResult::error(vec![ContentBlock::text(err.to_string())])
            }
        };
        Ok(result.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let ctx = self.ctx(&context)?;
        resources::list(&ctx).await
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Ok(ListResourceTemplatesResult::with_all_items(
            resources::templates(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let ctx = self.ctx(&context)?;
        resources::read(&ctx, &request.uri).await.map(Into::into)
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        Ok(ListPromptsResult::with_all_items(prompts::list()))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let ctx = self.ctx(&context)?;
        prompts::get(&ctx, &request.name, request.arguments.unwrap_or_default())
            .await
            .map(Into::into)
    }
}
