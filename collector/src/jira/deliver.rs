//! Carries out one Jira job (an outbox message of kind `jira`, target `jira:<fingerprint>`,
//! so one incident's jobs run one at a time and in order, and different incidents in
//! parallel). The outbox worker drives it through [`crate::outbox::Deliver`] with its
//! timeout, retries (Retry-After honoured, backoff on 5xx and timeouts) and dead-lettering.
//!
//! **No duplicate ticket.** A create first looks for the incident's ticket:
//! 1. locally (the `tickets` row has a key) — done;
//! 2. by `POST /rest/api/3/search/jql` on the fingerprint label, with the ids of tickets
//!    created in the last `jira.reconcile_window_secs` as `reconcileIssues` — found: adopt it;
//! 3. if an earlier create request for it may have reached Jira (it was sent, and its
//!    answer never came: a timeout, a 5xx, a crash or `kill -9` mid-request), no new create
//!    is sent until `jira.create_settle_secs` after that request, when search shows every
//!    issue it could have made; until then the job is retried (`Retry-After`);
//! 4. only then: note the request (`create_started_ms`, committed before it is sent) and
//!    create.
//!
//! **Comments and reopens** carry a marker (`fleetlog ref <job key>`); a retried job reads
//! the issue's comments first and does not post the marker twice.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::{debug, info};

use super::client::{Credentials, JiraClient, JiraError, NewIssue};
use super::config::{AutomationConfig, Settings};
use crate::auth::secret::SecretStr;
use crate::outbox::{BoxFuture, Deliver, DeliverError, Delivered, OutboxMessage};
use crate::store::Store;

/// The outbox kind of Jira jobs.
pub const KIND: &str = "jira";

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobAction {
    Create,
    Comment,
    Reopen,
}

/// A Jira job as stored in the outbox payload (no secret: credentials are looked up when
/// it is delivered).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JiraJob {
    pub action: JobAction,
    pub incident_id: i64,
    pub fingerprint: String,
    /// For a create.
    pub project: String,
    pub issue_type: String,
    pub summary: String,
    pub labels: Vec<String>,
    pub priority: Option<String>,
    /// The description (create) or the comment (comment, reopen), ADF.
    pub body: Value,
}

/// The outbox target of an incident's jobs.
pub fn target(fingerprint: &str) -> String {
    format!("jira:{fingerprint}")
}

fn marker(job_key: &str) -> String {
    format!("fleetlog ref {job_key}")
}

fn with_marker(body: &Value, job_key: &str) -> Value {
    let mut b = body.clone();
    if let Some(content) = b.get_mut("content").and_then(Value::as_array_mut) {
        content.push(json!({ "type": "paragraph", "content": [
            { "type": "text", "text": marker(job_key), "marks": [{ "type": "em" }] }
        ]}));
    }
    b
}

/// Reads the settings in force: the stored override, else the configuration's.
pub async fn settings(store: &Store, cfg: &AutomationConfig) -> Settings {
    match store.automation_settings().await {
        Ok(Some(s)) => s,
        _ => cfg.settings.clone(),
    }
}

/// Builds the client for `settings` (`Err` names what is missing or unreadable).
pub fn client_for(settings: &Settings, timeout: Duration) -> Result<JiraClient, JiraError> {
    if let Some(key) = settings.jira.missing() {
        return Err(JiraError::NotConfigured(format!("`{key}` is not set")));
    }
    let (Some(url), Some(email), Some(file)) = (
        settings.jira.url.clone(),
        settings.jira.email.clone(),
        settings.jira.api_token_file.clone(),
    ) else {
        return Err(JiraError::NotConfigured("incomplete".into()));
    };
    let token = std::fs::read_to_string(&file).map_err(|e| {
        JiraError::NotConfigured(format!(
            "`jira.api_token_file` ({}) cannot be read: {}",
            file.display(),
            e.kind()
        ))
    })?;
    let token = token.trim();
    if token.is_empty() {
        return Err(JiraError::NotConfigured(format!(
            "`jira.api_token_file` ({}) is empty",
            file.display()
        )));
    }
    JiraClient::new(
        Credentials {
            url,
            email,
            token: SecretStr::new(token),
        },
        timeout,
    )
}

/// The `jira` deliverer.
pub struct JiraDeliver {
    store: Store,
    cfg: AutomationConfig,
    /// The client of the last settings seen (rebuilt when they change).
    cached: Mutex<Option<(String, JiraClient)>>,
}

impl std::fmt::Debug for JiraDeliver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JiraDeliver").finish_non_exhaustive()
    }
}

fn to_deliver_error(e: &JiraError) -> DeliverError {
    DeliverError {
        permanent: e.permanent(),
        retry_after: e.retry_after(),
        status: e.status(),
        message: e.to_string(),
    }
}

impl JiraDeliver {
    pub fn new(store: Store, cfg: AutomationConfig) -> Arc<JiraDeliver> {
        Arc::new(JiraDeliver {
            store,
            cfg,
            cached: Mutex::new(None),
        })
    }

    async fn client(&self) -> Result<JiraClient, JiraError> {
        let s = settings(&self.store, &self.cfg).await;
        let token = s
            .jira
            .api_token_file
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .unwrap_or_default();
        // The cache key holds the token's hash, never the token.
        let id = format!(
            "{:?}|{:?}|{}",
            s.jira.url,
            s.jira.email,
            crate::auth::secret::sha256_hex(token.trim())
        );
        if let Some((k, c)) = self
            .cached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            && *k == id
        {
            return Ok(c.clone());
        }
        let c = client_for(&s, self.cfg.request_timeout)?;
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some((id, c.clone()));
        Ok(c)
    }

    /// Delivers one job (`attempt` counts from 1).
    pub async fn run(&self, job: &JiraJob, job_key: &str, attempt: u32) -> Result<(), JiraError> {
        let store_err = |e: crate::store::StoreError| JiraError::Transport {
            op: "local store",
            message: e.to_string(),
        };
        let client = self.client().await?;
        let now = crate::now_ms();
        let ticket = self
            .store
            .ticket(&job.fingerprint)
            .await
            .map_err(store_err)?;
        match job.action {
            JobAction::Create => {
                // 1. Locally.
                if let Some(t) = &ticket
                    && let (Some(key), Some(id)) = (&t.issue_key, &t.issue_id)
                {
                    self.store
                        .ticket_created(&job.fingerprint, key, id, job_key, now)
                        .await
                        .map_err(store_err)?;
                    return Ok(());
                }
                // 2. By JQL on the fingerprint label, recent creates reconciled.
                let window = i64::try_from(self.cfg.reconcile_window.as_millis()).unwrap_or(0);
                let recent = self
                    .store
                    .recent_issue_ids(now - window, 50)
                    .await
                    .map_err(store_err)?;
                let label = super::fingerprint_label(&job.fingerprint);
                let found = client.find_by_label(&job.project, &label, &recent).await?;
                if let Some(existing) = found.first() {
                    info!(fingerprint = %job.fingerprint, key = %existing.key, "Jira already has this incident's ticket; adopting it.");
                    self.store
                        .ticket_created(&job.fingerprint, &existing.key, &existing.id, job_key, now)
                        .await
                        .map_err(store_err)?;
                    return Ok(());
                }
                // 3. An earlier create may still be invisible to search.
                let settle = i64::try_from(self.cfg.create_settle.as_millis()).unwrap_or(0);
                if let Some(started) = ticket.as_ref().and_then(|t| t.create_started_ms)
                    && now - started < settle
                {
                    let wait =
                        Duration::from_millis(u64::try_from(settle - (now - started)).unwrap_or(0));
                    return Err(JiraError::NotYet {
                        retry_after: wait.max(Duration::from_millis(200)),
                        message: "an earlier create may not be searchable yet; waiting before creating again".into(),
                    });
                }
                // 4. Create, the attempt noted first.
                self.store
                    .ticket_create_started(&job.fingerprint, now)
                    .await
                    .map_err(store_err)?;
                let issue = NewIssue {
                    project: job.project.clone(),
                    issue_type: job.issue_type.clone(),
                    summary: job.summary.clone(),
                    description: job.body.clone(),
                    labels: job.labels.clone(),
                    priority: job.priority.clone(),
                };
                match client.create_issue(&issue).await {
                    Ok(created) => {
                        let key = self
                            .store
                            .ticket_created(
                                &job.fingerprint,
                                &created.key,
                                &created.id,
                                job_key,
                                crate::now_ms(),
                            )
                            .await
                            .map_err(store_err)?;
                        debug!(fingerprint = %job.fingerprint, key = %key, attempt, "Jira ticket created.");
                        Ok(())
                    }
                    Err(e) => {
                        if !e.maybe_applied() {
                            // Refused: nothing was created, no need to wait for search.
                            self.store
                                .ticket_create_cleared(&job.fingerprint)
                                .await
                                .map_err(store_err)?;
                        }
                        Err(e)
                    }
                }
            }
            JobAction::Comment | JobAction::Reopen => {
                let Some(key) = ticket.as_ref().and_then(|t| t.issue_key.clone()) else {
                    return Err(JiraError::NotYet {
                        retry_after: Duration::from_secs(1),
                        message: "the ticket's create has not completed yet".into(),
                    });
                };
                if job.action == JobAction::Reopen {
                    let ts = client.transitions(&key).await?;
                    let want = self.cfg.reopen_transition.to_lowercase();
                    let pick = ts
                        .iter()
                        .find(|t| t.name.to_lowercase() == want)
                        .or_else(|| ts.iter().find(|t| t.to_category.as_deref() == Some("new")));
                    match pick {
                        Some(t) => client.transition(&key, &t.id).await?,
                        None => {
                            debug!(key = %key, "No reopen transition (the issue is not done); commenting only.")
                        }
                    }
                }
                let m = marker(job_key);
                let already = attempt > 1
                    && client
                        .comment_texts(&key)
                        .await?
                        .iter()
                        .any(|t| t.contains(&m));
                if !already {
                    client
                        .add_comment(&key, &with_marker(&job.body, job_key))
                        .await?;
                }
                self.store
                    .ticket_bump(
                        &job.fingerprint,
                        job.action == JobAction::Reopen,
                        crate::now_ms(),
                    )
                    .await
                    .map_err(store_err)?;
                self.store
                    .decision_done(job_key, attempt, crate::now_ms())
                    .await
                    .map_err(store_err)?;
                Ok(())
            }
        }
    }
}

impl Deliver for JiraDeliver {
    fn deliver<'a>(
        &'a self,
        msg: &'a OutboxMessage,
    ) -> BoxFuture<'a, Result<Delivered, DeliverError>> {
        Box::pin(async move {
            let job: JiraJob = serde_json::from_str(&msg.payload)
                .map_err(|e| DeliverError::permanent(format!("bad Jira job payload: {e}")))?;
            let result = self.run(&job, &msg.idempotency_key, msg.attempt).await;
            let now = crate::now_ms();
            match &result {
                Ok(()) => {
                    let _ = self.store.note_jira_call(None, now).await;
                    Ok(Delivered { status: Some(200) })
                }
                Err(e) => {
                    let text = e.to_string();
                    let _ = self.store.note_jira_call(Some(&text), now).await;
                    let _ = self
                        .store
                        .decision_failed(&msg.idempotency_key, msg.attempt, &text)
                        .await;
                    Err(to_deliver_error(e))
                }
            }
        })
    }
}
