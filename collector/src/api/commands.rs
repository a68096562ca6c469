//! `POST /api/v1/commands`: the chat-style commands our users type today (`/help`,
//! `/stat [host]`, `/reload`), answered with text for a chat window and structured data
//! for a program. `/reload` needs the admin role, checked here on top of the route's.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::{Auth, Viewer};
use super::error::ApiError;
use super::extract::Json;
use crate::auth::{Principal, Role};
use crate::now_ms;
use crate::store::audit::AuditEntry;

/// Hosts seen within this window count as active in `/stat`.
const ACTIVE_WINDOW_MS: i64 = 10 * 60 * 1000;
/// `/stat` counts events over this window.
const STAT_WINDOW_MS: i64 = 60 * 60 * 1000;

/// A command line, e.g. `/stat pos-042`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandRequest {
    /// `/help`, `/stat`, `/stat HOST` or `/reload`.
    #[schema(
        pattern = "^\\s*/(help|stat|reload)(\\s+\\S+)?\\s*$",
        example = "/stat pos-042"
    )]
    pub command: String,
}

/// The answer: text for a person, `data` for a program.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommandResponse {
    pub command: String,
    pub text: String,
    pub data: CommandData,
}

/// What a command returns, by kind.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CommandData {
    Help { commands: Vec<CommandHelp> },
    Stat(StatData),
    Reload(ReloadData),
}

/// One command and what it does.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommandHelp {
    pub usage: String,
    pub description: String,
    /// The least role that may run it.
    pub role: Role,
}

/// A count of events by severity or class.
#[derive(Debug, Serialize, ToSchema)]
pub struct NamedCount {
    pub name: String,
    pub count: i64,
}

/// Figures for the fleet or one host.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatData {
    /// `fleet` or the host name.
    pub scope: String,
    /// Hosts in scope that ever sent lines.
    pub hosts: u64,
    /// Of those, hosts heard from in the last 10 minutes.
    pub hosts_active: u64,
    pub lines_received: u64,
    pub last_seen_ms: Option<i64>,
    /// The window the event counts cover, in minutes.
    pub window_minutes: u32,
    pub events_by_severity: Vec<NamedCount>,
    pub top_classes: Vec<NamedCount>,
}

/// What `/reload` did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReloadData {
    /// The model file now pushed to agents, if any.
    pub model_path: Option<String>,
    /// Its version (content hash), if any.
    pub model_version: Option<u64>,
    pub model_templates: Option<usize>,
}

/// Runs a chat-style command.
#[utoipa::path(
    post, path = "/commands", tag = "commands",
    request_body = CommandRequest,
    responses(
        (status = 200, description = "The command's answer", body = CommandResponse),
        (status = 400, description = "Unknown command or bad arguments", body = super::error::ErrorBody),
        (status = 403, description = "`/reload` needs the admin role", body = super::error::ErrorBody),
        (status = 404, description = "`/stat HOST` names no known host", body = super::error::ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub(super) async fn run(
    State(state): State<AppState>,
    auth: Auth<Viewer>,
    Json(req): Json<CommandRequest>,
) -> Result<axum::Json<CommandResponse>, ApiError> {
    execute(&state, &auth.principal, auth.client.clone(), &req.command)
        .await
        .map(axum::Json)
}

/// Runs a command line as `principal` (from `client`): `POST /api/v1/commands` and the MCP
/// `run_command`. `/reload` needs the admin role, checked here.
pub(crate) async fn execute(
    state: &AppState,
    principal: &Principal,
    client: Option<String>,
    command: &str,
) -> Result<CommandResponse, ApiError> {
    let line = command.trim();
    let mut words = line.split_whitespace();
    let name = words.next().unwrap_or_default();
    let args: Vec<&str> = words.collect();
    let (text, data) = match (name, args.as_slice()) {
        ("/help", []) => help(),
        ("/stat", []) => stat(state, None).await?,
        ("/stat", [host]) => stat(state, Some(host)).await?,
        ("/reload", []) => {
            if !principal.may(Role::Admin) {
                return Err(ApiError::Forbidden(
                    "/reload needs the admin role".to_owned(),
                ));
            }
            reload(
                state,
                AuditEntry::new(principal, client, "model.reload", "model"),
            )
            .await?
        }
        ("/help" | "/reload", _) | ("/stat", _) => {
            return Err(ApiError::BadRequest(format!(
                "wrong arguments for {name}; try /help"
            )));
        }
        _ => {
            return Err(ApiError::BadRequest(format!(
                "unknown command `{}`; try /help",
                name.chars().take(40).collect::<String>()
            )));
        }
    };
    Ok(CommandResponse {
        command: line.chars().take(200).collect(),
        text,
        data,
    })
}

fn help() -> (String, CommandData) {
    let commands = vec![
        CommandHelp {
            usage: "/help".into(),
            description: "List the commands.".into(),
            role: Role::Viewer,
        },
        CommandHelp {
            usage: "/stat [host]".into(),
            description: "Hosts, lines and the last hour's events for the fleet or one host."
                .into(),
            role: Role::Viewer,
        },
        CommandHelp {
            usage: "/reload".into(),
            description: "Re-read the baseline model file; agents get it as they connect.".into(),
            role: Role::Admin,
        },
    ];
    let text = commands
        .iter()
        .map(|c| format!("{:<14} {} ({}+)", c.usage, c.description, c.role))
        .collect::<Vec<_>>()
        .join("\n");
    (text, CommandData::Help { commands })
}

async fn stat(state: &AppState, host: Option<&str>) -> Result<(String, CommandData), ApiError> {
    let now = now_ms();
    let all = state.store.hosts().await?;
    let in_scope: Vec<_> = all
        .into_iter()
        .filter(|h| host.is_none_or(|name| h.host == name))
        .collect();
    if let Some(name) = host
        && in_scope.is_empty()
    {
        return Err(ApiError::NotFound(format!(
            "host `{}`",
            name.chars().take(100).collect::<String>()
        )));
    }
    let since = now - STAT_WINDOW_MS;
    let by_level = state.store.event_counts_by_level(host, since).await?;
    let by_class = state.store.event_counts_by_class(host, since, 5).await?;
    let data = StatData {
        scope: host.unwrap_or("fleet").to_owned(),
        hosts: in_scope.len() as u64,
        hosts_active: in_scope
            .iter()
            .filter(|h| now - h.last_seen_ms <= ACTIVE_WINDOW_MS)
            .count() as u64,
        lines_received: in_scope.iter().map(|h| h.lines_received).sum(),
        last_seen_ms: in_scope.iter().map(|h| h.last_seen_ms).max(),
        window_minutes: (STAT_WINDOW_MS / 60_000) as u32,
        events_by_severity: by_level
            .into_iter()
            .map(|(name, count)| NamedCount { name, count })
            .collect(),
        top_classes: by_class
            .into_iter()
            .map(|(name, count)| NamedCount { name, count })
            .collect(),
    };
    let counts = |v: &[NamedCount]| {
        if v.is_empty() {
            "none".to_owned()
        } else {
            v.iter()
                .map(|c| format!("{} {}", c.count, c.name))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let text = format!(
        "{}: {} host(s), {} active in the last 10 min; {} lines received.\n\
         Last hour: events {}; top classes {}.",
        data.scope,
        data.hosts,
        data.hosts_active,
        data.lines_received,
        counts(&data.events_by_severity),
        counts(&data.top_classes),
    );
    Ok((text, CommandData::Stat(data)))
}

async fn reload(state: &AppState, audit: AuditEntry) -> Result<(String, CommandData), ApiError> {
    let path = state.config.model_path();
    let before = state.model.get().map(|m| m.version);
    // The file becomes a registry version (if its content is new) and the active model.
    if let Some(p) = &path {
        crate::training::registry::import_file(&state.store, p, Some(audit.clone()), true)
            .await
            .map_err(|e| ApiError::BadRequest(format!("model not reloaded: {e:#}")))?;
    }
    let loaded = crate::training::registry::load_active(&state.store).await?;
    if state.model.set(loaded.clone()) {
        state.metrics.model_activations.inc();
    }
    let after = loaded.as_ref().map(|m| m.version);
    let entry = audit
        .before(serde_json::json!({ "version": before }))
        .after(serde_json::json!({ "version": after }));
    state.store.audit_only(&entry, now_ms()).await?;
    let data = ReloadData {
        model_path: path.map(|p| p.display().to_string()),
        model_version: after,
        model_templates: loaded.as_ref().map(|m| m.templates),
    };
    let text = match &loaded {
        Some(m) => format!(
            "Model {} reloaded and active: version {:016x}, {} templates; pushed to connected agents now.",
            m.origin, m.version, m.templates
        ),
        None => "No model configured (`model` key, or <data_dir>/baseline.json) and none active in the registry; agents get none."
            .to_owned(),
    };
    Ok((text, CommandData::Reload(data)))
}
