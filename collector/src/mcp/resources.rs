//! Resources: `fleetlog://incidents/{id}` (an incident with its timeline, as `get_incident`)
//! and `fleetlog://hosts/{name}` (a host with its services and agents, as
//! `GET /api/v1/hosts/{name}`), both JSON. `resources/list` names the active incidents.

use rmcp::ErrorData as McpError;
use rmcp::model::{
    ListResourcesResult, ReadResourceResult, Resource, ResourceContents, ResourceTemplate,
};

use super::error::ToolError;
use super::tools::{Ctx, MAX_HOSTS, cut, cut_line};

/// URI prefix of an incident.
pub const INCIDENT_PREFIX: &str = "fleetlog://incidents/";
/// URI prefix of a host.
pub const HOST_PREFIX: &str = "fleetlog://hosts/";
/// Most incidents `resources/list` names.
const MAX_LISTED: usize = 50;
const JSON: &str = "application/json";

/// A URI this server serves.
#[derive(Debug, PartialEq, Eq)]
pub enum Target<'a> {
    Incident(i64),
    Host(&'a str),
}

/// Which resource `uri` names; `Err` says why it names none.
pub fn parse(uri: &str) -> Result<Target<'_>, String> {
    if let Some(id) = uri.strip_prefix(INCIDENT_PREFIX) {
        return id
            .parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .map(Target::Incident)
            .ok_or_else(|| format!("`{}` is not an incident id", cut(id, 40)));
    }
    if let Some(name) = uri.strip_prefix(HOST_PREFIX) {
        if name.is_empty() || name.contains('/') {
            return Err("a host URI is fleetlog://hosts/NAME".to_owned());
        }
        return Ok(Target::Host(name));
    }
    Err(format!(
        "unknown resource `{}`; this server serves {INCIDENT_PREFIX}{{id}} and \
         {HOST_PREFIX}{{name}}",
        cut(uri, 100)
    ))
}

pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(format!("{INCIDENT_PREFIX}{{id}}"), "incident")
            .with_title("Incident")
            .with_description(
                "An incident: status, severity, class and suggested fix, hosts, samples, \
                 related incidents and timeline (JSON).",
            )
            .with_mime_type(JSON),
        ResourceTemplate::new(format!("{HOST_PREFIX}{{name}}"), "host")
            .with_title("Host")
            .with_description(
                "A host: health state and reason, its services' health, and its agents' \
                 latest heartbeats (JSON).",
            )
            .with_mime_type(JSON),
    ]
}

/// The active incidents, newest first.
pub async fn list(ctx: &Ctx) -> Result<ListResourcesResult, McpError> {
    let mut active = ctx
        .state
        .store
        .active_incidents()
        .await
        .map_err(|e| mcp_error(ToolError::from(crate::api::error::ApiError::from(e))))?;
    active.sort_by_key(|r| std::cmp::Reverse(r.id));
    Ok(ListResourcesResult::with_all_items(
        active
            .into_iter()
            .take(MAX_LISTED)
            .map(|r| {
                Resource::new(
                    format!("{INCIDENT_PREFIX}{}", r.id),
                    format!("incident {}", r.id),
                )
                .with_title(cut(&r.incident.title, 200))
                .with_mime_type(JSON)
            })
            .collect(),
    ))
}

pub async fn read(ctx: &Ctx, uri: &str) -> Result<ReadResourceResult, McpError> {
    let target = parse(uri).map_err(|m| McpError::invalid_params(m, None))?;
    let value = match target {
        Target::Incident(id) => {
            let mut d = crate::api::incidents::detail(&ctx.state, id)
                .await
                .map_err(|e| mcp_error(e.into()))?;
            d.incident.hosts.truncate(MAX_HOSTS);
            for s in &mut d.incident.samples {
                cut_line(&mut s.line);
            }
            serde_json::to_string_pretty(&d)
        }
        Target::Host(name) => {
            let d = crate::api::health::host_detail(&ctx.state, name.to_owned())
                .await
                .map_err(|e| mcp_error(e.into()))?;
            serde_json::to_string_pretty(&d)
        }
    }
    .map_err(|e| McpError::internal_error(e.to_string(), None))?;
    Ok(ReadResourceResult::new(vec![
        ResourceContents::text(value, uri).with_mime_type(JSON),
    ]))
}

/// A resource failure as the protocol error a client shows.
fn mcp_error(err: ToolError) -> McpError {
    match err {
        ToolError::NotFound(what) => {
            McpError::resource_not_found(format!("{what} not found"), None)
        }
        ToolError::Failed => McpError::internal_error(err.to_string(), None),
        other => McpError::invalid_params(other.to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        assert_eq!(parse("fleetlog://incidents/12"), Ok(Target::Incident(12)));
        assert_eq!(
            parse("fleetlog://hosts/pos-001"),
            Ok(Target::Host("pos-001"))
        );
        assert!(parse("fleetlog://incidents/x").is_err());
        assert!(parse("fleetlog://incidents/-3").is_err());
        assert!(parse("fleetlog://hosts/").is_err());
        assert!(parse("fleetlog://hosts/a/b").is_err());
        assert!(parse("file:///etc/passwd").is_err());
    }
}
