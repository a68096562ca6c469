//! The tool registry: every MCP tool with its name, description, input schema (schemars) and
//! least role, in the order `tools/list` shows them.
//!
//! A tool is one function `async fn(Ctx, Args) -> Result<T, ToolError>` in a family file
//! (`fleet.rs`, `events.rs`, `incidents.rs`, `solutions.rs`, `commands.rs`), registered by
//! one [`def`] line in `build`. `Args` derives `Deserialize` (`deny_unknown_fields`) and
//! `JsonSchema`; its doc comments are what the model reads about each argument.
//!
//! The functions call what the REST handlers call (`api::events::search`, ...), so an
//! answer equals the API's, with these bounds: at most `mcp.max_page` items per call, long
//! lines cut at [`MAX_LINE_CHARS`], long host lists cut at [`MAX_HOSTS`] (the counts stay
//! whole), and `next_cursor` whenever there is more.

pub mod commands;
pub mod events;
pub mod fleet;
pub mod incidents;
pub mod s3;
pub mod solutions;
pub mod training;

use std::future::Future;
use std::sync::{Arc, LazyLock};

use futures_util::future::BoxFuture;
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::Caller;
use super::error::ToolError;
use crate::api::AppState;
use crate::auth::Role;

/// Longest line text a tool returns, in characters; the rest is cut and marked.
pub const MAX_LINE_CHARS: usize = 2000;
/// Most host names one incident lists (`host_count` stays whole).
pub const MAX_HOSTS: usize = 50;
/// Default page size of the list tools.
pub const DEFAULT_LIMIT: u32 = 20;

/// What a tool runs with: the collector's state and who called.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub state: AppState,
    pub caller: Caller,
}

impl Ctx {
    /// `limit` or [`DEFAULT_LIMIT`], refused if 0 or above `mcp.max_page`.
    pub fn limit(&self, requested: Option<u32>) -> Result<u32, ToolError> {
        let max = self.state.config.mcp.max_page;
        let l = requested.unwrap_or(DEFAULT_LIMIT.min(max));
        if l == 0 || l > max {
            return Err(ToolError::BadArgument(format!(
                "limit must be between 1 and {max}"
            )));
        }
        Ok(l)
    }
}

/// A tool's answer: the JSON value (`structuredContent`) and the same as text in the order
/// of the output struct's fields (`content`), which is what a model reads first.
#[derive(Debug)]
pub struct Answer {
    pub value: serde_json::Value,
    pub text: String,
}

type Run = dyn Fn(Ctx, JsonObject) -> BoxFuture<'static, Result<Answer, ToolError>> + Send + Sync;

/// One registered tool.
pub struct ToolDef {
    pub name: &'static str,
    /// The least role that may call it (as the REST route it mirrors).
    pub min_role: Role,
    /// What `tools/list` shows.
    pub tool: Tool,
    run: Arc<Run>,
}

impl std::fmt::Debug for ToolDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolDef")
            .field("name", &self.name)
            .field("min_role", &self.min_role)
            .finish_non_exhaustive()
    }
}

impl ToolDef {
    /// Parses `args` and runs the tool (the caller has checked the role).
    pub fn call(
        &self,
        ctx: Ctx,
        args: JsonObject,
    ) -> BoxFuture<'static, Result<Answer, ToolError>> {
        (self.run)(ctx, args)
    }
}

/// Whether a tool changes state (`readOnlyHint` false) or only reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    ReadOnly,
    /// Changes state, written with an audit row; calling it twice changes nothing more.
    Changes,
}

/// A tool from its function. `description` is written for a model: what it answers, when to
/// use it, what comes back.
pub fn def<A, T, F, Fut>(
    name: &'static str,
    title: &'static str,
    description: &'static str,
    min_role: Role,
    effect: Effect,
    f: F,
) -> ToolDef
where
    A: DeserializeOwned + JsonSchema + 'static,
    T: Serialize,
    F: Fn(Ctx, A) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = Result<T, ToolError>> + Send + 'static,
{
    let schema = input_schema::<A>();
    let role_note = match min_role {
        Role::Viewer => String::new(),
        role => format!(" Needs the {role} role."),
    };
    let tool = Tool::new(name, format!("{description}{role_note}"), schema)
        .with_title(title)
        .with_annotations(
            ToolAnnotations::with_title(title)
                .read_only(effect == Effect::ReadOnly)
                .destructive(false),
        );
    let run: Arc<Run> = Arc::new(move |ctx: Ctx, args: JsonObject| {
        Box::pin(async move {
            let args: A = parse_args(args)?;
            let out = f(ctx, args).await?;
            let failed = |e: serde_json::Error| {
                tracing::error!(error = %e, "MCP result did not serialize.");
                ToolError::Failed
            };
            Ok(Answer {
                text: serde_json::to_string(&out).map_err(failed)?,
                value: serde_json::to_value(out).map_err(failed)?,
            })
        })
    });
    ToolDef {
        name,
        min_role,
        tool,
        run,
    }
}

/// The JSON Schema (2020-12) of `A` with every definition inlined, so each property shows its
/// enum values and description where a model looks for them. Its root title and description
/// (the Rust type's) are dropped. Every `Args` is a struct, so the root is an object
/// (`registry_is_valid` checks it).
fn input_schema<A: JsonSchema>() -> Arc<JsonObject> {
    let mut settings = schemars::generate::SchemaSettings::draft2020_12();
    settings.inline_subschemas = true;
    let schema = settings.into_generator().into_root_schema_for::<A>();
    let mut object = match serde_json::to_value(schema) {
        Ok(serde_json::Value::Object(o)) => o,
        _ => JsonObject::new(),
    };
    object.remove("title");
    object.remove("description");
    Arc::new(object)
}

/// Arguments into `A`, with the path of a bad one in the message.
fn parse_args<A: DeserializeOwned>(args: JsonObject) -> Result<A, ToolError> {
    serde_path_to_error::deserialize(serde_json::Value::Object(args)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if path == "." {
            ToolError::BadArgument(inner)
        } else {
            ToolError::BadArgument(format!("{path}: {inner}"))
        }
    })
}

/// Every tool, in `tools/list` order.
pub fn registry() -> &'static [ToolDef] {
    static REGISTRY: LazyLock<Vec<ToolDef>> = LazyLock::new(build);
    &REGISTRY
}

/// The tool named `name`.
pub fn find(name: &str) -> Option<&'static ToolDef> {
    registry().iter().find(|t| t.name == name)
}

fn build() -> Vec<ToolDef> {
    vec![
        fleet::get_fleet_health(),
        fleet::get_log_analysis_summary(),
        events::filter_unhealthy_logs(),
        events::search_logs(),
        incidents::list_incidents(),
        incidents::get_incident(),
        incidents::resolve_incident(),
        solutions::suggest_solutions(),
        commands::run_command(),
        training::train_on_healthy_logs(),
        s3::analyze_s3_logs(),
    ]
}

/// A time bound as a model may give it: RFC 3339, epoch milliseconds, or a span back from
/// now (`30m`, `6h`, `7d`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum TimeArg {
    /// Epoch milliseconds.
    Millis(i64),
    /// RFC 3339 (`2026-11-28T10:00:00Z`), epoch milliseconds as text, or a span back from
    /// now: a number and `s`, `m`, `h` or `d` (`90m`, `24h`).
    Text(String),
}

impl TimeArg {
    /// The bound as the REST API takes it (RFC 3339 or epoch ms), spans resolved at `now_ms`.
    pub fn resolve(&self, name: &str, now_ms: i64) -> Result<String, ToolError> {
        match self {
            TimeArg::Millis(ms) => Ok(ms.to_string()),
            TimeArg::Text(t) => match span_ms(t.trim()) {
                Some(Ok(span)) => Ok((now_ms - span).to_string()),
                Some(Err(())) => Err(ToolError::BadArgument(format!(
                    "{name}: `{}` is not a span like 30m, 6h or 7d",
                    cut(t, 40)
                ))),
                None => Ok(t.clone()),
            },
        }
    }
}

/// `Some` if `text` looks like a span (digits then a unit letter): its milliseconds, or
/// `Err` if it is out of range. `None` for anything else (left to the RFC 3339 parser).
fn span_ms(text: &str) -> Option<Result<i64, ()>> {
    let unit = text.chars().last()?;
    let ms_per = match unit {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        _ => return None,
    };
    let digits = &text[..text.len() - 1];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(
        digits
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(ms_per))
            .filter(|ms| *ms <= 3650 * 86_400_000)
            .ok_or(()),
    )
}

/// Resolves an optional time bound.
pub fn time(name: &str, arg: &Option<TimeArg>, now_ms: i64) -> Result<Option<String>, ToolError> {
    arg.as_ref().map(|a| a.resolve(name, now_ms)).transpose()
}

/// `Ok` if `host` has sent lines; else a not-found error that says where the names are.
pub async fn known_host(ctx: &Ctx, host: &str) -> Result<(), ToolError> {
    let hosts = ctx
        .state
        .store
        .hosts()
        .await
        .map_err(crate::api::error::ApiError::from)?;
    if hosts.iter().any(|h| h.host == host) {
        return Ok(());
    }
    Err(ToolError::NotFound(format!(
        "host `{}` (get_fleet_health lists the hosts)",
        cut(host, 100)
    )))
}

/// `text` cut to `max` characters, marked when cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max).collect();
    out.push_str(" …[cut]");
    out
}

/// Cuts a line in place to [`MAX_LINE_CHARS`].
pub fn cut_line(line: &mut String) {
    if line.len() > MAX_LINE_CHARS {
        *line = cut(line, MAX_LINE_CHARS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_is_valid() {
        let tools = registry();
        let mut names: Vec<&str> = tools.iter().map(|t| t.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), tools.len(), "tool names are unique");
        for t in tools {
            assert_eq!(t.tool.name, t.name);
            assert_eq!(
                t.tool.input_schema.get("type"),
                Some(&serde_json::json!("object")),
                "{} has an object schema",
                t.name
            );
            let schema = serde_json::Value::Object((*t.tool.input_schema).clone()).to_string();
            assert!(
                !schema.contains("$ref"),
                "{} has its definitions inlined",
                t.name
            );
            assert!(
                t.tool.description.as_ref().is_some_and(|d| d.len() > 80),
                "{} is described for a model",
                t.name
            );
        }
    }

    #[test]
    fn time_bounds() {
        let now = 10_000_000_000;
        let check = |arg: TimeArg| arg.resolve("from", now);
        assert_eq!(check(TimeArg::Millis(5)).unwrap(), "5");
        assert_eq!(
            check(TimeArg::Text("90m".into())).unwrap(),
            (now - 90 * 60_000).to_string()
        );
        assert_eq!(
            check(TimeArg::Text("2d".into())).unwrap(),
            (now - 2 * 86_400_000).to_string()
        );
        assert_eq!(
            check(TimeArg::Text("2026-11-28T10:00:00Z".into())).unwrap(),
            "2026-11-28T10:00:00Z"
        );
        assert!(check(TimeArg::Text("99999999999999d".into())).is_err());
        assert_eq!(check(TimeArg::Text("m".into())).unwrap(), "m");
    }

    #[test]
    fn cutting_marks_the_cut() {
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("abcd", 3), "abc …[cut]");
        let mut long = "é".repeat(MAX_LINE_CHARS + 1);
        cut_line(&mut long);
        assert!(long.ends_with("…[cut]"));
        assert_eq!(
            long.chars().count(),
            MAX_LINE_CHARS + " …[cut]".chars().count()
        );
    }
}
