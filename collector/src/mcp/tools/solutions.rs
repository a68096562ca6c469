//! `suggest_solutions`: from an incident, an error class or a pasted line to the error class
//! and its fix. The fixes are `GET /api/v1/classes`' (the class table's, or an admin's edit);
//! a pasted line is judged by the same `fleetlog_lines` rules as the agent and the store.

use std::sync::LazyLock;

use fleetlog_lines::detect::parse_line;
use fleetlog_lines::judge::{Context, Judge};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Ctx, Effect, ToolDef, cut, def};
use crate::api::classes::ClassDto;
use crate::api::error::ApiError;
use crate::api::incidents::IncidentQuery;
use crate::auth::Role;
use crate::incidents::decide::Status;
use crate::mcp::error::ToolError;
use crate::mcp::tools::fleet::IncidentBrief;

/// Longest pasted line, in characters.
const MAX_PASTED_CHARS: usize = 20_000;

/// What to find a fix for: exactly one of the three.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SuggestArgs {
    /// An incident id (from list_incidents).
    pub incident_id: Option<i64>,
    /// An error class id, e.g. `disk_full` (as events and incidents carry it).
    pub class: Option<String>,
    /// A log line pasted as it is (up to 20000 characters), e.g.
    /// `2026-11-28 10:00:01 ERROR payment: terminal T-12 not responding`.
    pub line: Option<String>,
}

/// How a pasted line was judged.
#[derive(Debug, Serialize)]
pub struct LineVerdict {
    /// The level field of the line, if it has one.
    pub level: Option<String>,
    /// Confidence that the line reports trouble, 0 to 1.
    pub confidence: f32,
    /// Whether it shows evidence of trouble (a trouble keyword, or warn or worse).
    pub evidence: bool,
    /// The strongest trouble keyword found.
    pub keyword: Option<String>,
}

/// The class, its fix, and what else is known.
#[derive(Debug, Serialize)]
pub struct SuggestOut {
    /// `incident`, `class` or `line`: what the suggestion was found from.
    pub from: &'static str,
    /// The error class with the fix in force (as `GET /api/v1/classes` shows it); absent
    /// when none matched.
    pub class: Option<ClassDto>,
    /// What to do next: the class's title and fix, or where to look when none matched.
    pub advice: String,
    /// The incident asked about.
    pub incident: Option<IncidentBrief>,
    /// The pasted line's verdict.
    pub verdict: Option<LineVerdict>,
    /// Active incidents of the same class (up to 5), to check whether it is happening now.
    pub active_incidents_of_class: Vec<IncidentBrief>,
}

pub fn suggest_solutions() -> ToolDef {
    def(
        "suggest_solutions",
        "Suggest a fix",
        "Suggest what to do about a problem, from exactly one of: an incident id, an error \
         class id, or a log line pasted as it is. Returns the error class (e.g. \
         payment_terminal, disk_full, tls, dns, oom...) with its title and the suggested fix \
         in force (written by the class table or edited by an admin), how a pasted line was \
         judged, and the active incidents of that class. Quote the fix; do not invent one \
         when no class matched.",
        Role::Viewer,
        Effect::ReadOnly,
        suggest,
    )
}

fn judge() -> &'static Judge {
    static JUDGE: LazyLock<Judge> = LazyLock::new(Judge::default);
    &JUDGE
}

async fn suggest(ctx: Ctx, a: SuggestArgs) -> Result<SuggestOut, ToolError> {
    let given = [a.incident_id.is_some(), a.class.is_some(), a.line.is_some()];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(ToolError::BadArgument(
            "give exactly one of incident_id, class or line".into(),
        ));
    }
    let classes = ctx
        .state
        .store
        .class_fixes()
        .await
        .map_err(ApiError::from)?;
    let find = |id: &str| classes.iter().find(|c| c.id == id).cloned();
    let (from, class_id, incident, verdict) = if let Some(id) = a.incident_id {
        let d = crate::api::incidents::detail(&ctx.state, id).await?;
        let i = d.incident;
        // An incident without a class: its first sample may still name one.
        let class_id = i.class.clone().or_else(|| {
            i.samples
                .first()
                .and_then(|s| judge().class_of(&parse_line(&s.line, 1970), ""))
                .map(|c| c.id.clone())
        });
        ("incident", class_id, Some(IncidentBrief::from(i)), None)
    } else if let Some(c) = a.class {
        let c = c.trim().to_owned();
        if find(&c).is_none() {
            let ids: Vec<&str> = classes.iter().map(|c| c.id.as_str()).collect();
            return Err(ToolError::NotFound(format!(
                "class `{}` (the classes are: {})",
                cut(&c, 60),
                ids.join(", ")
            )));
        }
        ("class", Some(c), None, None)
    } else {
        let line = a.line.unwrap_or_default();
        if line.trim().is_empty() {
            return Err(ToolError::BadArgument("line must not be empty".into()));
        }
        if line.chars().count() > MAX_PASTED_CHARS {
            return Err(ToolError::BadArgument(format!(
                "line must be at most {MAX_PASTED_CHARS} characters; paste the first line \
                 of the record"
            )));
        }
        // The year only matters for RFC 3164 timestamps; the class does not depend on it.
        let parsed = parse_line(&line, 1970);
        let v = judge().judge(&parsed, Context::default());
        // The store classes every event row's line with `class_of`, evidence or not.
        let class_id = judge().class_of(&parsed, "").map(|c| c.id.clone());
        let verdict = LineVerdict {
            level: v.level.map(|l| format!("{l:?}").to_lowercase()),
            confidence: v.confidence,
            evidence: v.evidence,
            keyword: v.matched.map(str::to_owned),
        };
        ("line", class_id, None, Some(verdict))
    };
    let class = class_id.as_deref().and_then(find).map(ClassDto::from);
    let mut active = Vec::new();
    if let Some(c) = &class {
        for status in [Status::Open, Status::Regressed] {
            let q = IncidentQuery {
                status: Some(status),
                severity: None,
                host: None,
                class: Some(c.id.clone()),
                service: None,
                limit: Some(5),
                cursor: None,
            };
            let page = crate::api::incidents::page(&ctx.state, q).await?;
            active.extend(page.incidents.into_iter().map(IncidentBrief::from));
        }
        active.truncate(5);
    }
    let advice = match (&class, from) {
        (Some(c), _) => format!("{} — {}", c.title, c.fix),
        (None, "line") => "No error class matches this line; it shows no known failure \
                           pattern. Look for lines around it with filter_unhealthy_logs or \
                           search_logs."
            .to_owned(),
        (None, _) => "This incident has no error class, so there is no stored fix; read its \
                      samples and timeline (get_incident) and the host's lines (search_logs)."
            .to_owned(),
    };
    Ok(SuggestOut {
        from,
        class,
        advice,
        incident,
        verdict,
        active_incidents_of_class: active,
    })
}
