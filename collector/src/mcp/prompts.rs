//! The `triage_incident` prompt: a first message that hands a model one incident (as the
//! `fleetlog://incidents/{id}` resource shows it) and the steps of a triage with this
//! server's tools.

use rmcp::ErrorData as McpError;
use rmcp::model::{GetPromptResult, JsonObject, Prompt, PromptArgument, PromptMessage, Role};

use super::tools::{Ctx, MAX_HOSTS, cut_line};

/// The prompt's name.
pub const TRIAGE: &str = "triage_incident";

pub fn list() -> Vec<Prompt> {
    vec![
        Prompt::new(
            TRIAGE,
            Some(
                "Triage one incident: what is failing, where, since when, how bad, the likely \
             cause and the fix, with evidence from the fleet's logs.",
            ),
            Some(vec![
                PromptArgument::new("incident_id")
                    .with_description("The incident id (list_incidents shows them).")
                    .with_required(true),
            ]),
        )
        .with_title("Triage an incident"),
    ]
}

/// The incident id argument (prompt arguments are strings; a number is accepted too).
fn incident_id(args: &JsonObject) -> Result<i64, McpError> {
    let id = match args.get("incident_id") {
        Some(serde_json::Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        _ => None,
    };
    id.filter(|id| *id > 0)
        .ok_or_else(|| McpError::invalid_params("incident_id must be a positive incident id", None))
}

pub async fn get(ctx: &Ctx, name: &str, args: JsonObject) -> Result<GetPromptResult, McpError> {
    if name != TRIAGE {
        let name: String = name.chars().take(64).collect();
        return Err(McpError::invalid_params(
            format!("unknown prompt `{name}`; prompts/list names them"),
            None,
        ));
    }
    let id = incident_id(&args)?;
    let mut detail = crate::api::incidents::detail(&ctx.state, id)
        .await
        .map_err(|e| match e {
            crate::api::error::ApiError::NotFound(m) => {
                McpError::invalid_params(format!("{m} not found"), None)
            }
            other => {
                McpError::internal_error(super::error::ToolError::from(other).to_string(), None)
            }
        })?;
    detail.incident.hosts.truncate(MAX_HOSTS);
    for s in &mut detail.incident.samples {
        cut_line(&mut s.line);
    }
    let json = serde_json::to_string_pretty(&detail)
        .map_err(|e| McpError::internal_error(e.to_string(), None))?;
    let i = &detail.incident;
    let text = format!(
        "Triage incident {id} of the fleetlog fleet: \"{title}\".\n\n\
         Here it is as fleetlog://incidents/{id} shows it:\n```json\n{json}\n```\n\n\
         Work through these steps with the fleetlog tools, citing what you find:\n\
         1. What is failing and where: the service, the error class, the hosts affected \
         ({hosts} so far), and whether it spread.\n\
         2. Since when and how bad: first and last seen, the timeline, the event count, and \
         whether it regressed; filter_unhealthy_logs with host/class/time shows the lines.\n\
         3. Context: search_logs on an affected host around the first sample; \
         get_fleet_health for the hosts' state; related incidents, if any.\n\
         4. Cause and fix: suggest_solutions with incident_id {id}; quote its fix and say \
         how sure you are.\n\
         5. Answer with a short summary for an on-call operator: impact, likely cause, next \
         action. Do not resolve the incident unless asked.",
        title = i.title,
        hosts = i.host_count,
    );
    Ok(
        GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
            .with_description(format!("Triage of incident {id}")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_id_argument() {
        let args = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
        assert_eq!(
            incident_id(&args(serde_json::json!({"incident_id": "7"}))).unwrap(),
            7
        );
        assert_eq!(
            incident_id(&args(serde_json::json!({"incident_id": 7}))).unwrap(),
            7
        );
        assert!(incident_id(&args(serde_json::json!({"incident_id": "x"}))).is_err());
        assert!(incident_id(&args(serde_json::json!({"incident_id": 0}))).is_err());
        assert!(incident_id(&args(serde_json::json!({}))).is_err());
    }
}
