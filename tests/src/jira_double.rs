//! A Jira Cloud stand-in for tests: the calls fleetlog makes (create issue, add and list
//! comments, get transitions, transition, `POST /rest/api/3/search/jql`, `GET myself`),
//! with every request checked against Atlassian's published OpenAPI document
//! (`../shared/contracts/jira-cloud-platform-v3.openapi.json`): the method and path must be
//! an operation of the document, and the JSON body must validate against the operation's
//! request schema (JSON Schema, `$ref`s resolved from the document's components). Every
//! response body it sends is validated against the operation's response schema too. A
//! request that breaks the contract gets 400 and is recorded in
//! [`DoubleState::violations`], which tests assert is empty.
//!
//! Beyond the contract's shapes it keeps Jira's rules that matter here: basic auth with the
//! configured email and token, labels without spaces, `fields.project.key`, `issuetype`
//! and `summary` required, descriptions and comment bodies in ADF (`type: doc, version: 1`).
//!
//! Faults (per operation, consumed in order): an HTTP status with an optional
//! `Retry-After` (429, 503, 500...), a delay before answering, and — for create — a timeout
//! *after* the issue was created (the issue exists, the answer comes too late). Search lags
//! behind writes: an issue is found by JQL only `search_lag` after its creation, unless its
//! id is in the request's `reconcileIssues` (as Atlassian documents).
//!
//! Run in-process with [`JiraDouble::start`], or as the `fleetlog-jira-double` binary,
//! controlled over HTTP under `/_double/` (faults, state, lag, closing an issue).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

/// The operations the stand-in serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Create,
    Comment,
    GetComments,
    GetTransitions,
    Transition,
    Search,
    Myself,
}

impl Op {
    pub fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "create" => Op::Create,
            "comment" => Op::Comment,
            "get_comments" => Op::GetComments,
            "get_transitions" => Op::GetTransitions,
            "transition" => Op::Transition,
            "search" => Op::Search,
            "myself" => Op::Myself,
            _ => return None,
        })
    }
}

/// An injected fault, consumed by the next request of its operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer this status (429, 500, 503...) without doing anything.
    Status {
        status: u16,
        retry_after_secs: Option<u64>,
    },
    /// Do the work, then wait this long before answering (longer than the client's
    /// timeout: the work is done, the client sees a timeout).
    DelayAfter(Duration),
}

/// One issue.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub id: i64,
    pub key: String,
    pub summary: String,
    pub labels: Vec<String>,
    pub priority: Option<String>,
    pub description: Value,
    /// `To Do`, `Done` (reopened issues go back to `To Do`).
    pub status: String,
    pub comments: Vec<Value>,
    pub transitions_done: Vec<String>,
    pub created: Instant,
    /// When its create request arrived (epoch ms).
    pub arrived_ms: i64,
}

/// Everything the stand-in saw.
#[derive(Debug, Default)]
pub struct DoubleState {
    pub issues: Vec<Issue>,
    /// Contract violations: `METHOD path: what`.
    pub violations: Vec<String>,
    pub requests: HashMap<&'static str, u64>,
    pub faults: HashMap<Op, VecDeque<Fault>>,
    pub faults_served: u64,
    pub search_lag: Duration,
    pub unauthorized: u64,
}

impl DoubleState {
    /// Issues carrying `label`.
    pub fn with_label(&self, label: &str) -> Vec<&Issue> {
        self.issues
            .iter()
            .filter(|i| i.labels.iter().any(|l| l == label))
            .collect()
    }
}

/// The contract: operations of the OpenAPI document and their schemas.
struct Contract {
    /// (method, path template split in segments, request schema validator, responses).
    ops: Vec<ContractOp>,
}

struct ContractOp {
    method: Method,
    segments: Vec<String>,
    request: Option<jsonschema::Validator>,
    responses: HashMap<u16, jsonschema::Validator>,
}

fn validator_for(doc: &Value, schema: &Value) -> Result<jsonschema::Validator, String> {
    // The document as the root resource, so `#/components/schemas/...` resolves; the
    // operation's schema is the root's `$ref` (Draft 4: a `$ref` replaces its siblings,
    // so the document's own keys do not constrain anything).
    let Some(r) = schema.get("$ref").and_then(Value::as_str) else {
        let mut root = doc.clone();
        root["definitions__inline"] = schema.clone();
        root["$ref"] = json!("#/definitions__inline");
        return build(&root);
    };
    let mut root = doc.clone();
    root["$ref"] = json!(r);
    build(&root)
}

fn build(root: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .build(root)
        .map_err(|e| e.to_string())
}

/// The operations fleetlog uses (only these are compiled; anything else is a violation).
const USED: &[(&str, &str)] = &[
    ("post", "/rest/api/3/issue"),
    ("post", "/rest/api/3/issue/{issueIdOrKey}/comment"),
    ("get", "/rest/api/3/issue/{issueIdOrKey}/comment"),
    ("get", "/rest/api/3/issue/{issueIdOrKey}/transitions"),
    ("post", "/rest/api/3/issue/{issueIdOrKey}/transitions"),
    ("post", "/rest/api/3/search/jql"),
    ("get", "/rest/api/3/myself"),
];

impl Contract {
    fn load(path: &Path) -> Result<Contract, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let doc: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let mut ops = Vec::new();
        for (method, p) in USED {
            let op = doc
                .pointer(&format!(
                    "/paths/{}/{method}",
                    p.replace('~', "~0").replace('/', "~1")
                ))
                .ok_or_else(|| format!("{method} {p} is not in the contract"))?;
            let request = match op.pointer("/requestBody/content/application~1json/schema") {
                Some(s) => Some(validator_for(&doc, s)?),
                None => None,
            };
            let mut responses = HashMap::new();
            if let Some(rs) = op.get("responses").and_then(Value::as_object) {
                for (code, r) in rs {
                    if let (Ok(c), Some(s)) = (
                        code.parse::<u16>(),
                        r.pointer("/content/application~1json/schema"),
                    ) {
                        responses.insert(c, validator_for(&doc, s)?);
                    }
                }
            }
            ops.push(ContractOp {
                method: Method::from_bytes(method.to_uppercase().as_bytes())
                    .map_err(|e| e.to_string())?,
                segments: p.split('/').map(str::to_owned).collect(),
                request,
                responses,
            });
        }
        Ok(Contract { ops })
    }

    fn find(&self, method: &Method, path: &str) -> Option<&ContractOp> {
        let segs: Vec<&str> = path.split('/').collect();
        self.ops.iter().find(|op| {
            op.method == method
                && op.segments.len() == segs.len()
                && op
                    .segments
                    .iter()
                    .zip(&segs)
                    .all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s)
        })
    }
}

fn errors_of(v: &jsonschema::Validator, instance: &Value) -> Option<String> {
    let errs: Vec<String> = v
        .iter_errors(instance)
        .take(3)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    (!errs.is_empty()).then(|| errs.join("; "))
}

/// Configuration of a stand-in.
#[derive(Debug, Clone)]
pub struct DoubleConfig {
    pub contract: std::path::PathBuf,
    pub email: String,
    pub token: String,
    pub project: String,
    pub search_lag: Duration,
}

struct Shared {
    state: Mutex<DoubleState>,
    contract: Contract,
    auth: String,
    project: String,
}

/// A running stand-in.
pub struct JiraDouble {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for JiraDouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JiraDouble")
            .field("addr", &self.addr)
            .finish()
    }
}

/// Where the contract is: `../shared/contracts/...` from the workspace root.
pub fn contract_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/contracts/jira-cloud-platform-v3.openapi.json")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl JiraDouble {
    /// Starts on `addr` (port 0 for a free one) on the current tokio runtime.
    pub async fn start(config: DoubleConfig, addr: SocketAddr) -> anyhow::Result<JiraDouble> {
        let contract = Contract::load(&config.contract).map_err(anyhow::Error::msg)?;
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", config.email, config.token))
        );
        let shared = Arc::new(Shared {
            state: Mutex::new(DoubleState {
                search_lag: config.search_lag,
                ..DoubleState::default()
            }),
            contract,
            auth,
            project: config.project,
        });
        let app = Router::new()
            .route("/_double/state", axum::routing::get(control_state))
            .route("/_double/faults", axum::routing::post(control_fault))
            .route("/_double/lag", axum::routing::post(control_lag))
            .route("/_double/close", axum::routing::post(control_close))
            .fallback(handle)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(JiraDouble { addr, shared, task })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues `fault` for the next request of `op`.
    pub fn inject(&self, op: Op, fault: Fault) {
        self.with(|s| s.faults.entry(op).or_default().push_back(fault));
    }

    pub fn set_search_lag(&self, lag: Duration) {
        self.with(|s| s.search_lag = lag);
    }

    /// Moves an issue to `Done` (as a person closing it would).
    pub fn close(&self, key: &str) -> bool {
        self.with(|s| {
            s.issues
                .iter_mut()
                .find(|i| i.key == key)
                .map(|i| i.status = "Done".into())
                .is_some()
        })
    }

    /// Runs `f` on the state.
    pub fn with<T>(&self, f: impl FnOnce(&mut DoubleState) -> T) -> T {
        let mut s = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s)
    }
}

impl Drop for JiraDouble {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn jira_error(status: StatusCode, msg: &str) -> Response {
    (
        status,
        [("content-type", "application/json")],
        json!({ "errorMessages": [msg], "errors": {} }).to_string(),
    )
        .into_response()
}

fn ok_json(status: StatusCode, v: &Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn is_adf(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("doc")
        && v.get("version").and_then(Value::as_i64) == Some(1)
        && v.get("content").is_some_and(Value::is_array)
}

fn status_json(status: &str) -> Value {
    let (id, cat) = if status == "Done" {
        ("10002", "done")
    } else {
        ("10000", "new")
    };
    json!({ "id": id, "name": status, "statusCategory": { "id": 2, "key": cat, "name": status } })
}

fn issue_json(i: &Issue, base: &str) -> Value {
    json!({
        "id": i.id.to_string(),
        "key": i.key,
        "self": format!("{base}/rest/api/3/issue/{}", i.id),
        "fields": { "labels": i.labels, "status": status_json(&i.status), "summary": i.summary },
    })
}

async fn handle(
    State(sh): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let Some(op_contract) = sh.contract.find(&method, &path) else {
        sh.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .violations
            .push(format!(
                "{method} {path}: not an operation fleetlog may call"
            ));
        return jira_error(StatusCode::NOT_FOUND, "no such operation in this stand-in");
    };
    let body_json: Option<Value> = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => Some(v),
            Err(e) => {
                let mut s = sh.state.lock().unwrap_or_else(|e| e.into_inner());
                s.violations
                    .push(format!("{method} {path}: body is not JSON: {e}"));
                return jira_error(StatusCode::BAD_REQUEST, "body is not JSON");
            }
        }
    };
    match (&op_contract.request, &body_json) {
        (Some(v), Some(b)) => {
            if let Some(err) = errors_of(v, b) {
                let mut s = sh.state.lock().unwrap_or_else(|e| e.into_inner());
                s.violations.push(format!("{method} {path}: {err}"));
                return jira_error(StatusCode::BAD_REQUEST, &err);
            }
        }
        (Some(_), None) => {
            let mut s = sh.state.lock().unwrap_or_else(|e| e.into_inner());
            s.violations.push(format!("{method} {path}: body required"));
            return jira_error(StatusCode::BAD_REQUEST, "body required");
        }
        (None, Some(_)) => {
            let mut s = sh.state.lock().unwrap_or_else(|e| e.into_inner());
            s.violations
                .push(format!("{method} {path}: unexpected body"));
            return jira_error(StatusCode::BAD_REQUEST, "unexpected body");
        }
        (None, None) => {}
    }
    if headers.get("authorization").and_then(|h| h.to_str().ok()) != Some(sh.auth.as_str()) {
        sh.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unauthorized += 1;
        return jira_error(StatusCode::UNAUTHORIZED, "Client must be authenticated");
    }
    let segs: Vec<&str> = path.split('/').collect();
    let op = match (method.as_str(), segs.as_slice()) {
        ("POST", [_, "rest", "api", "3", "issue"]) => Op::Create,
        ("POST", [_, "rest", "api", "3", "issue", _, "comment"]) => Op::Comment,
        ("GET", [_, "rest", "api", "3", "issue", _, "comment"]) => Op::GetComments,
        ("GET", [_, "rest", "api", "3", "issue", _, "transitions"]) => Op::GetTransitions,
        ("POST", [_, "rest", "api", "3", "issue", _, "transitions"]) => Op::Transition,
        ("POST", [_, "rest", "api", "3", "search", "jql"]) => Op::Search,
        _ => Op::Myself,
    };
    let arrived = now_ms();
    let base = format!(
        "http://{}",
        headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("jira.invalid")
    );
    let fault = {
        let mut s = sh.state.lock().unwrap_or_else(|e| e.into_inner());
        *s.requests.entry(op_name(op)).or_default() += 1;
        let f = s.faults.get_mut(&op).and_then(VecDeque::pop_front);
        if f.is_some() {
            s.faults_served += 1;
        }
        f
    };
    if let Some(Fault::Status {
        status,
        retry_after_secs,
    }) = &fault
    {
        let mut resp = jira_error(
            StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "injected fault",
        );
        if let Some(ra) = retry_after_secs
            && let Ok(v) = ra.to_string().parse()
        {
            resp.headers_mut().insert("retry-after", v);
        }
        return resp;
    }
    let key_seg = segs.get(5).copied().unwrap_or("");
    let (status, out) = {
        let mut s = sh.state.lock().unwrap_or_else(|e| e.into_inner());
        let b = body_json.clone().unwrap_or(Value::Null);
        match op {
            Op::Create => create(&mut s, &sh.project, &b, &base, arrived),
            Op::Comment => match s
                .issues
                .iter_mut()
                .find(|i| i.key == key_seg || i.id.to_string() == key_seg)
            {
                None => (
                    404,
                    json!({ "errorMessages": ["Issue does not exist"], "errors": {} }),
                ),
                Some(i) => {
                    let body = b.get("body").cloned().unwrap_or(Value::Null);
                    if !is_adf(&body) {
                        (
                            400,
                            json!({ "errorMessages": ["Comment body is not valid ADF"], "errors": {} }),
                        )
                    } else {
                        i.comments.push(body.clone());
                        let id = format!("{}", 20_000 + i.comments.len());
                        (
                            201,
                            json!({ "id": id, "body": body, "self": format!("{base}/rest/api/3/issue/{}/comment/{id}", i.id) }),
                        )
                    }
                }
            },
            Op::GetComments => match s
                .issues
                .iter()
                .find(|i| i.key == key_seg || i.id.to_string() == key_seg)
            {
                None => (
                    404,
                    json!({ "errorMessages": ["Issue does not exist"], "errors": {} }),
                ),
                Some(i) => {
                    let comments: Vec<Value> = i
                        .comments
                        .iter()
                        .enumerate()
                        .rev()
                        .map(|(n, c)| json!({ "id": format!("{}", 20_001 + n), "body": c }))
                        .collect();
                    (
                        200,
                        json!({ "comments": comments, "maxResults": 100, "startAt": 0, "total": comments.len() }),
                    )
                }
            },
            Op::GetTransitions => match s
                .issues
                .iter()
                .find(|i| i.key == key_seg || i.id.to_string() == key_seg)
            {
                None => (
                    404,
                    json!({ "errorMessages": ["Issue does not exist"], "errors": {} }),
                ),
                Some(i) => {
                    let t = if i.status == "Done" {
                        json!({ "id": "41", "name": "Reopen", "to": status_json("To Do") })
                    } else {
                        json!({ "id": "31", "name": "Done", "to": status_json("Done") })
                    };
                    (200, json!({ "transitions": [t] }))
                }
            },
            Op::Transition => match s
                .issues
                .iter_mut()
                .find(|i| i.key == key_seg || i.id.to_string() == key_seg)
            {
                None => (
                    404,
                    json!({ "errorMessages": ["Issue does not exist"], "errors": {} }),
                ),
                Some(i) => {
                    let id = b
                        .pointer("/transition/id")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    match (id, i.status.as_str()) {
                        ("41", "Done") => {
                            i.status = "To Do".into();
                            i.transitions_done.push("Reopen".into());
                            (204, Value::Null)
                        }
                        ("31", s) if s != "Done" => {
                            i.status = "Done".into();
                            i.transitions_done.push("Done".into());
                            (204, Value::Null)
                        }
                        _ => (
                            400,
                            json!({ "errorMessages": ["Transition is not valid for the issue"], "errors": {} }),
                        ),
                    }
                }
            },
            Op::Search => search(&s, &b, &base),
            Op::Myself => (
                200,
                json!({ "accountId": "5b10ac8d82e05b22cc7d4ef5", "accountType": "atlassian", "active": true, "displayName": "fleetlog bot", "emailAddress": "bot@example.test" }),
            ),
        }
    };
    if let Some(Fault::DelayAfter(d)) = fault {
        tokio::time::sleep(d).await;
    }
    if status < 300
        && status != 204
        && let Some(v) = op_contract.responses.get(&status)
        && let Some(err) = errors_of(v, &out)
    {
        let mut s = sh.state.lock().unwrap_or_else(|e| e.into_inner());
        s.violations.push(format!(
            "{method} {path}: the stand-in's own {status} answer: {err}"
        ));
    }
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status == 204 {
        return code.into_response();
    }
    ok_json(code, &out)
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Create => "create",
        Op::Comment => "comment",
        Op::GetComments => "get_comments",
        Op::GetTransitions => "get_transitions",
        Op::Transition => "transition",
        Op::Search => "search",
        Op::Myself => "myself",
    }
}

fn create(s: &mut DoubleState, project: &str, b: &Value, base: &str, arrived: i64) -> (u16, Value) {
    let bad = |m: &str| {
        (
            400,
            json!({ "errorMessages": [], "errors": { "fields": m } }),
        )
    };
    let f = b.get("fields").cloned().unwrap_or(Value::Null);
    if f.pointer("/project/key").and_then(Value::as_str) != Some(project) {
        return bad("project: a valid project key is required");
    }
    if f.pointer("/issuetype/name")
        .and_then(Value::as_str)
        .is_none()
        && f.pointer("/issuetype/id").and_then(Value::as_str).is_none()
    {
        return bad("issuetype: required");
    }
    let Some(summary) = f.get("summary").and_then(Value::as_str) else {
        return bad("summary: required");
    };
    if summary.is_empty() || summary.chars().count() > 255 || summary.contains('\n') {
        return bad("summary: 1 to 255 characters on one line");
    }
    let description = f.get("description").cloned().unwrap_or(Value::Null);
    if !description.is_null() && !is_adf(&description) {
        return bad("description: not ADF");
    }
    let labels: Vec<String> = match f.get("labels") {
        None => Vec::new(),
        Some(Value::Array(ls)) => {
            let mut out = Vec::new();
            for l in ls {
                match l.as_str() {
                    Some(t)
                        if !t.is_empty() && !t.contains(char::is_whitespace) && t.len() <= 255 =>
                    {
                        out.push(t.to_owned())
                    }
                    _ => return bad("labels: a label cannot contain spaces"),
                }
            }
            out
        }
        Some(_) => return bad("labels: an array"),
    };
    let n = s.issues.len() as i64 + 1;
    let issue = Issue {
        id: 10_000 + n,
        key: format!("{project}-{n}"),
        summary: summary.to_owned(),
        labels,
        priority: f
            .pointer("/priority/name")
            .and_then(Value::as_str)
            .map(str::to_owned),
        description,
        status: "To Do".into(),
        comments: Vec::new(),
        transitions_done: Vec::new(),
        created: Instant::now(),
        arrived_ms: arrived,
    };
    let out = json!({ "id": issue.id.to_string(), "key": issue.key, "self": format!("{base}/rest/api/3/issue/{}", issue.id) });
    s.issues.push(issue);
    (201, out)
}

fn search(s: &DoubleState, b: &Value, base: &str) -> (u16, Value) {
    let jql = b.get("jql").and_then(Value::as_str).unwrap_or("");
    let re = regex::Regex::new(
        r#"^project = "([^"\\]*)" AND labels = "([^"\\]*)"( ORDER BY created ASC)?$"#,
    )
    .ok();
    let Some(caps) = re.and_then(|r| r.captures(jql)) else {
        return (
            400,
            json!({ "errorMessages": [format!("The stand-in understands only project + label JQL, got: {jql}")], "errors": {} }),
        );
    };
    let (project, label) = (caps[1].to_owned(), caps[2].to_owned());
    let reconcile: Vec<i64> = b
        .get("reconcileIssues")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default();
    let issues: Vec<Value> = s
        .issues
        .iter()
        .filter(|i| i.key.starts_with(&format!("{project}-")) && i.labels.contains(&label))
        .filter(|i| i.created.elapsed() >= s.search_lag || reconcile.contains(&i.id))
        .map(|i| issue_json(i, base))
        .collect();
    (200, json!({ "issues": issues, "isLast": true }))
}

async fn control_state(State(sh): State<Arc<Shared>>) -> Response {
    let s = sh.state.lock().unwrap_or_else(|e| e.into_inner());
    let issues: Vec<Value> = s
        .issues
        .iter()
        .map(|i| {
            json!({
                "id": i.id, "key": i.key, "summary": i.summary, "labels": i.labels,
                "priority": i.priority, "status": i.status, "comments": i.comments.len(),
                "transitions": i.transitions_done, "arrived_ms": i.arrived_ms,
            })
        })
        .collect();
    ok_json(
        StatusCode::OK,
        &json!({
            "issues": issues, "violations": s.violations, "requests": s.requests,
            "faults_served": s.faults_served, "unauthorized": s.unauthorized,
        }),
    )
}

async fn control_fault(State(sh): State<Arc<Shared>>, body: Bytes) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(op) = v.get("op").and_then(Value::as_str).and_then(Op::parse) else {
        return jira_error(StatusCode::BAD_REQUEST, "op");
    };
    let count = v.get("count").and_then(Value::as_u64).unwrap_or(1);
    let fault = if let Some(ms) = v.get("delay_after_ms").and_then(Value::as_u64) {
        Fault::DelayAfter(Duration::from_millis(ms))
    } else if let Some(st) = v.get("status").and_then(Value::as_u64) {
        Fault::Status {
            status: st as u16,
            retry_after_secs: v.get("retry_after_secs").and_then(Value::as_u64),
        }
    } else {
        return jira_error(StatusCode::BAD_REQUEST, "status or delay_after_ms");
    };
    let mut s = sh.state.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..count {
        s.faults.entry(op).or_default().push_back(fault.clone());
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn control_lag(State(sh): State<Arc<Shared>>, body: Bytes) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let ms = v.get("search_lag_ms").and_then(Value::as_u64).unwrap_or(0);
    sh.state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .search_lag = Duration::from_millis(ms);
    StatusCode::NO_CONTENT.into_response()
}

async fn control_close(State(sh): State<Arc<Shared>>, body: Bytes) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let key = v.get("key").and_then(Value::as_str).unwrap_or("");
    let mut s = sh.state.lock().unwrap_or_else(|e| e.into_inner());
    match s.issues.iter_mut().find(|i| i.key == key) {
        Some(i) => {
            i.status = "Done".into();
            StatusCode::NO_CONTENT.into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
