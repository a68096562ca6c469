//! The Jira Cloud REST v3 client (reqwest with rustls): create issue, add and list comments,
//! get transitions and transition, `POST /rest/api/3/search/jql` (with `reconcileIssues`)
//! for duplicate checks, and `GET /rest/api/3/myself` as a connection test.
//!
//! Auth is HTTP basic with the account email and an API token; the token lives in a
//! [`SecretStr`] and is never logged, put in an error or shown by `Debug`. Every error says
//! whether it is worth retrying and carries `Retry-After` when Jira sent one (429, 503).

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::secret::SecretStr;

/// Where and who: `jira.url`, `jira.email` and the token read from `jira.api_token_file`.
#[derive(Clone)]
pub struct Credentials {
    pub url: String,
    pub email: String,
    pub token: SecretStr,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("url", &self.url)
            .field("email", &self.email)
            .field("token", &self.token)
            .finish()
    }
}

/// A failed call. `Display` never contains the token or the request body.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JiraError {
    #[error("Jira answered {status} to {op}: {message}")]
    Status {
        op: &'static str,
        status: u16,
        retry_after: Option<Duration>,
        message: String,
    },
    #[error("Jira did not answer {op} in time")]
    Timeout { op: &'static str },
    #[error("cannot reach Jira for {op}: {message}")]
    Transport { op: &'static str, message: String },
    #[error("unexpected answer from Jira to {op}: {message}")]
    Decode { op: &'static str, message: String },
    #[error("Jira is not configured: {0}")]
    NotConfigured(String),
    /// Not yet: a precondition of the job will hold later (retry after `retry_after`).
    #[error("not yet: {message}")]
    NotYet {
        message: String,
        retry_after: Duration,
    },
    #[error("no reopen transition for {key} (available: {available})")]
    NoReopenTransition { key: String, available: String },
}

impl JiraError {
    /// True if retrying cannot help: a 4xx other than 408/409/429, a decode error, missing
    /// configuration or no reopen transition.
    pub fn permanent(&self) -> bool {
        match self {
            JiraError::Status { status, .. } => {
                (400..500).contains(status) && !matches!(status, 408 | 409 | 429)
            }
            JiraError::Timeout { .. } | JiraError::Transport { .. } | JiraError::NotYet { .. } => {
                false
            }
            JiraError::Decode { .. }
            | JiraError::NotConfigured(_)
            | JiraError::NoReopenTransition { .. } => true,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            JiraError::Status { retry_after, .. } => *retry_after,
            JiraError::NotYet { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            JiraError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True if the request may have been applied although no answer came back.
    pub fn maybe_applied(&self) -> bool {
        matches!(
            self,
            JiraError::Timeout { .. } | JiraError::Transport { .. }
        ) || matches!(self, JiraError::Status { status, .. } if *status >= 500)
    }
}

/// A new issue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewIssue {
    pub project: String,
    pub issue_type: String,
    pub summary: String,
    /// ADF document.
    pub description: Value,
    pub labels: Vec<String>,
    /// Priority name (`None`: the project's default).
    pub priority: Option<String>,
}

/// An issue as created or found.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IssueRef {
    pub id: String,
    pub key: String,
}

impl IssueRef {
    /// The numeric id, for `reconcileIssues`.
    pub fn numeric_id(&self) -> Option<i64> {
        self.id.parse().ok()
    }
}

/// A transition an issue can take now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub id: String,
    pub name: String,
    /// Status category of the target status (`new`, `indeterminate`, `done`), if given.
    pub to_category: Option<String>,
}

/// The client. Cheap to clone.
#[derive(Clone)]
pub struct JiraClient {
    http: reqwest::Client,
    creds: Credentials,
}

impl std::fmt::Debug for JiraClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JiraClient")
            .field("creds", &self.creds)
            .finish_non_exhaustive()
    }
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

impl JiraClient {
    /// A client whose every request times out after `timeout`.
    pub fn new(creds: Credentials, timeout: Duration) -> Result<JiraClient, JiraError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("fleetlog/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| JiraError::Transport {
                op: "build client",
                message: e.to_string(),
            })?;
        Ok(JiraClient { http, creds })
    }

    pub fn base_url(&self) -> &str {
        self.creds.url.trim_end_matches('/')
    }

    async fn call(
        &self,
        op: &'static str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Option<Value>, JiraError> {
        let url = format!("{}{path}", self.base_url());
        let mut req = self
            .http
            .request(method, url)
            .basic_auth(&self.creds.email, Some(self.creds.token.expose()))
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| classify(op, e))?;
        let status = resp.status();
        let ra = retry_after(resp.headers());
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            return Err(JiraError::Status {
                op,
                status: status.as_u16(),
                retry_after: ra,
                message: error_message(&text),
            });
        }
        if status == reqwest::StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let bytes = resp.bytes().await.map_err(|e| classify(op, e))?;
        if bytes.is_empty() {
            return Ok(None);
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| JiraError::Decode {
                op,
                message: e.to_string(),
            })
    }

    fn decode<T: serde::de::DeserializeOwned>(
        op: &'static str,
        v: Option<Value>,
    ) -> Result<T, JiraError> {
        serde_json::from_value(v.unwrap_or(Value::Null)).map_err(|e| JiraError::Decode {
            op,
            message: e.to_string(),
        })
    }

    /// `POST /rest/api/3/issue`.
    pub async fn create_issue(&self, issue: &NewIssue) -> Result<IssueRef, JiraError> {
        let mut fields = json!({
            "project": { "key": issue.project },
            "issuetype": { "name": issue.issue_type },
            "summary": issue.summary,
            "description": issue.description,
            "labels": issue.labels,
        });
        if let Some(p) = &issue.priority {
            fields["priority"] = json!({ "name": p });
        }
        let body = json!({ "fields": fields });
        let v = self
            .call(
                "create issue",
                reqwest::Method::POST,
                "/rest/api/3/issue",
                Some(&body),
            )
            .await?;
        Self::decode("create issue", v)
    }

    /// `POST /rest/api/3/issue/{key}/comment`; returns the comment id.
    pub async fn add_comment(&self, key: &str, body_adf: &Value) -> Result<String, JiraError> {
        #[derive(Deserialize)]
        struct Created {
            id: String,
        }
        let v = self
            .call(
                "add comment",
                reqwest::Method::POST,
                &format!("/rest/api/3/issue/{}/comment", path_segment(key)),
                Some(&json!({ "body": body_adf })),
            )
            .await?;
        Ok(Self::decode::<Created>("add comment", v)?.id)
    }

    /// `GET /rest/api/3/issue/{key}/comment` (the newest 100): every comment's plain text.
    pub async fn comment_texts(&self, key: &str) -> Result<Vec<String>, JiraError> {
        let v = self
            .call(
                "get comments",
                reqwest::Method::GET,
                &format!(
                    "/rest/api/3/issue/{}/comment?orderBy=-created&maxResults=100",
                    path_segment(key)
                ),
                None,
            )
            .await?
            .unwrap_or(Value::Null);
        Ok(v.get("comments")
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .map(|c| super::adf::plain_text(c.get("body").unwrap_or(&Value::Null)))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `GET /rest/api/3/issue/{key}/transitions`.
    pub async fn transitions(&self, key: &str) -> Result<Vec<Transition>, JiraError> {
        let v = self
            .call(
                "get transitions",
                reqwest::Method::GET,
                &format!("/rest/api/3/issue/{}/transitions", path_segment(key)),
                None,
            )
            .await?
            .unwrap_or(Value::Null);
        let list = v
            .get("transitions")
            .and_then(Value::as_array)
            .ok_or_else(|| JiraError::Decode {
                op: "get transitions",
                message: "no `transitions` array".into(),
            })?;
        Ok(list
            .iter()
            .filter_map(|t| {
                Some(Transition {
                    id: t.get("id")?.as_str()?.to_owned(),
                    name: t
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    to_category: t
                        .pointer("/to/statusCategory/key")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                })
            })
            .collect())
    }

    /// `POST /rest/api/3/issue/{key}/transitions`.
    pub async fn transition(&self, key: &str, transition_id: &str) -> Result<(), JiraError> {
        self.call(
            "transition issue",
            reqwest::Method::POST,
            &format!("/rest/api/3/issue/{}/transitions", path_segment(key)),
            Some(&json!({ "transition": { "id": transition_id } })),
        )
        .await?;
        Ok(())
    }

    /// `POST /rest/api/3/search/jql`: issues of `project` carrying `label`, with the issues
    /// in `reconcile` (numeric ids written recently) made visible despite index lag.
    pub async fn find_by_label(
        &self,
        project: &str,
        label: &str,
        reconcile: &[i64],
    ) -> Result<Vec<IssueRef>, JiraError> {
        let mut body = json!({
            "jql": format!("project = \"{}\" AND labels = \"{}\" ORDER BY created ASC", jql_escape(project), jql_escape(label)),
            "fields": ["labels", "status"],
            "maxResults": 50,
        });
        if !reconcile.is_empty() {
            let ids: Vec<i64> = reconcile.iter().rev().take(50).copied().collect();
            body["reconcileIssues"] = json!(ids);
        }
        let v = self
            .call(
                "search issues",
                reqwest::Method::POST,
                "/rest/api/3/search/jql",
                Some(&body),
            )
            .await?
            .unwrap_or(Value::Null);
        let issues = v.get("issues").and_then(Value::as_array).cloned();
        let mut out = Vec::new();
        for i in issues.unwrap_or_default() {
            let labels_ok = i
                .pointer("/fields/labels")
                .and_then(Value::as_array)
                .is_none_or(|ls| ls.iter().any(|l| l.as_str() == Some(label)));
            if let (Some(id), Some(key)) = (
                i.get("id").and_then(Value::as_str),
                i.get("key").and_then(Value::as_str),
            ) && labels_ok
            {
                out.push(IssueRef {
                    id: id.to_owned(),
                    key: key.to_owned(),
                });
            }
        }
        Ok(out)
    }

    /// `GET /rest/api/3/myself`: the connection test; returns the account's display name.
    pub async fn myself(&self) -> Result<String, JiraError> {
        let v = self
            .call(
                "connection test",
                reqwest::Method::GET,
                "/rest/api/3/myself",
                None,
            )
            .await?
            .unwrap_or(Value::Null);
        Ok(v.get("displayName")
            .or_else(|| v.get("accountId"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned())
    }
}

fn classify(op: &'static str, e: reqwest::Error) -> JiraError {
    if e.is_timeout() {
        JiraError::Timeout { op }
    } else {
        // The URL is ours (no secret in it); the error text never holds the auth header.
        JiraError::Transport {
            op,
            message: e.without_url().to_string(),
        }
    }
}

/// Jira's `{"errorMessages": [...], "errors": {...}}`, shortened; never the request.
fn error_message(body: &str) -> String {
    let msg = serde_json::from_str::<Value>(body)
        .ok()
        .map(|v| {
            let mut parts: Vec<String> = v
                .get("errorMessages")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|m| m.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            if let Some(errs) = v.get("errors").and_then(Value::as_object) {
                parts.extend(errs.iter().map(|(k, m)| format!("{k}: {m}")));
            }
            parts.join("; ")
        })
        .unwrap_or_default();
    msg.chars().take(300).collect()
}

/// An issue key or id as a path segment (keys are `[A-Z0-9_]+-\d+`; anything else is escaped).
fn path_segment(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_string()
            } else {
                format!("%{:02X}", c as u32 & 0xff)
            }
        })
        .collect()
}

/// A string inside JQL double quotes.
pub fn jql_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_never_shows() {
        let c = Credentials {
            url: "https://x.atlassian.net".into(),
            email: "ops@example.com".into(),
            token: SecretStr::new("tok-very-secret"),
        };
        assert!(!format!("{c:?}").contains("very-secret"));
        let client = JiraClient::new(c, Duration::from_secs(1)).unwrap();
        assert!(!format!("{client:?}").contains("very-secret"));
    }

    #[test]
    fn errors_say_whether_to_retry() {
        let s = |status| JiraError::Status {
            op: "x",
            status,
            retry_after: None,
            message: String::new(),
        };
        assert!(s(400).permanent());
        assert!(s(404).permanent());
        assert!(!s(429).permanent());
        assert!(!s(503).permanent());
        assert!(s(503).maybe_applied());
        assert!(!s(429).maybe_applied());
        assert!(!JiraError::Timeout { op: "x" }.permanent());
        assert!(JiraError::Timeout { op: "x" }.maybe_applied());
        assert_eq!(
            error_message(r#"{"errorMessages":["bad"],"errors":{"summary":"required"}}"#),
            "bad; summary: \"required\""
        );
        assert_eq!(jql_escape(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(path_segment("OPS-12"), "OPS-12");
        assert_eq!(path_segment("a/b"), "a%2Fb");
    }
}
