//! The decision driver: under the `jira` lease, read the incidents that may need a Jira
//! action (those that opened or regressed since the lease's position in the
//! `incident_changes` feed, active ones without a ticket, and ticketed ones with news),
//! decide each with
//! [`decide::decide`], and write every decision with its outbox message and ticket change
//! in one transaction ([`Store::write_ticket_decisions`]). Jira itself is only called by
//! the outbox (`deliver.rs`), so Jira being slow or down never loses a decision.
//!
//! A skip is recorded once per reason (not every step); waits (`interval_not_elapsed`,
//! `create_in_flight`, `nothing_new`) are not decisions and are not recorded. Nothing is
//! decided while Jira is not configured.

use std::time::Duration;

use tokio::sync::watch;
use tracing::{debug, warn};

use super::adf::{self, Facts};
use super::config::{AutomationConfig, Settings};
use super::decide::{self, Action, Band};
use super::deliver::{self, JiraJob, JobAction};
use crate::store::incidents::IncidentRecord;
use crate::store::outbox::NewMessage;
use crate::store::tickets::{DecisionWrite, TicketChange};
use crate::store::{Store, StoreError};

/// Lease name of this worker.
pub const LEASE: &str = "jira";
const LEASE_MS: i64 = 60_000;

/// Reason codes that are waits, not decisions: never recorded.
const WAITS: &[&str] = &["interval_not_elapsed", "create_in_flight", "nothing_new"];

fn facts<'a>(
    store: &Store,
    cfg: &AutomationConfig,
    rec: &'a IncidentRecord,
    confidence: f64,
) -> Facts<'a> {
    let class = rec
        .incident
        .class
        .as_deref()
        .and_then(|c| store.class_info(c));
    Facts {
        incident_id: rec.id,
        incident: &rec.incident,
        confidence,
        class_title: class.as_ref().map(|c| c.title.clone()),
        fix: class.map(|c| c.fix),
        link: cfg
            .dashboard_url
            .as_ref()
            .map(|u| format!("{u}/incidents/{}", rec.id)),
    }
}

fn job(
    action: JobAction,
    rec: &IncidentRecord,
    settings: &Settings,
    cfg: &AutomationConfig,
    body: serde_json::Value,
    key: String,
) -> Result<NewMessage, StoreError> {
    let inc = &rec.incident;
    let band = Band::of(inc.severity);
    let j = JiraJob {
        action,
        incident_id: rec.id,
        fingerprint: inc.fingerprint.clone(),
        project: settings.jira.project.clone().unwrap_or_default(),
        issue_type: settings
            .jira
            .issue_type
            .clone()
            .unwrap_or_else(|| cfg.issue_type_default.clone()),
        summary: adf::summary(inc),
        labels: vec![
            super::LABEL.to_owned(),
            super::fingerprint_label(&inc.fingerprint),
            format!("fleetlog-severity-{}", band.as_str()),
        ],
        priority: Some(settings.priorities.get(band).to_owned()),
        body,
    };
    let payload = serde_json::to_string(&j).map_err(|source| StoreError::Json {
        what: "Jira job",
        source,
    })?;
    Ok(NewMessage {
        kind: deliver::KIND.to_owned(),
        target: deliver::target(&inc.fingerprint),
        idempotency_key: key,
        payload,
        due_ms: None,
    })
}

/// One step; `Ok(None)` without the lease, else how many decisions were written.
pub async fn step(
    store: &Store,
    owner: &str,
    cfg: &AutomationConfig,
    now_ms: i64,
) -> Result<Option<usize>, StoreError> {
    let settings = deliver::settings(store, cfg).await;
    let Some(lease) = store.take_lease(LEASE, owner, now_ms, LEASE_MS).await? else {
        return Ok(None);
    };
    if settings.jira.missing().is_some() {
        // Off until configured: what happened meanwhile is history, not news.
        let last = store.last_incident_change().await?;
        if last != lease.position {
            store
                .write_ticket_decisions(&[], (LEASE, owner), last, now_ms)
                .await?;
        }
        return Ok(Some(0));
    }
    let policy = settings.policy();
    let (fresh, position) = store
        .incidents_changed_after(lease.position, cfg.max_incidents_per_step)
        .await?;
    let fresh_ids: std::collections::HashSet<i64> = fresh.iter().map(|r| r.id).collect();
    let mut candidates = store
        .automation_candidates(cfg.max_incidents_per_step)
        .await?;
    for rec in fresh {
        if !candidates.iter().any(|c| c.id == rec.id) {
            candidates.push(rec);
        }
    }
    if candidates.is_empty() {
        if position != lease.position {
            store
                .write_ticket_decisions(&[], (LEASE, owner), position, now_ms)
                .await?;
        }
        return Ok(Some(0));
    }
    let fps: Vec<String> = candidates
        .iter()
        .map(|r| r.incident.fingerprint.clone())
        .collect();
    let tickets = store.tickets_by_fingerprint(&fps).await?;
    let untracked: Vec<String> = fps
        .iter()
        .filter(|f| !tickets.contains_key(*f))
        .cloned()
        .collect();
    let confidence = store.incident_confidence(&untracked).await?;
    let ids: Vec<i64> = candidates.iter().map(|r| r.id).collect();
    let last = store.last_decision_codes(&ids).await?;
    let mut writes = Vec::new();
    for rec in &candidates {
        let inc = &rec.incident;
        let ticket = tickets.get(&inc.fingerprint);
        let conf = ticket.map_or_else(
            || confidence.get(&inc.fingerprint).copied().unwrap_or(0.0),
            |t| t.confidence,
        );
        let view = ticket.map(|t| t.view());
        let d = decide::decide(
            inc,
            conf,
            view.as_ref(),
            fresh_ids.contains(&rec.id),
            &policy,
            now_ms,
        );
        let code = d.reason.code();
        if d.action == Action::Skip
            && (WAITS.contains(&code) || last.get(&rec.id).map(String::as_str) == Some(code))
        {
            continue;
        }
        let f = facts(store, cfg, rec, conf);
        let (job, change) = match &d.action {
            Action::Skip => (None, TicketChange::None),
            Action::Create => (
                Some(job(
                    JobAction::Create,
                    rec,
                    &settings,
                    cfg,
                    adf::description(&f),
                    format!("jira:create:{}:{now_ms}", inc.fingerprint),
                )?),
                TicketChange::Create {
                    severity: inc.severity.as_str().to_owned(),
                    confidence: conf,
                    regressions: inc.regressions,
                    events: inc.count,
                    hosts: inc.host_count,
                },
            ),
            Action::Comment {
                new_events,
                new_hosts,
            } => (
                Some(job(
                    JobAction::Comment,
                    rec,
                    &settings,
                    cfg,
                    adf::repeats_comment(&f, *new_events, *new_hosts),
                    format!("jira:comment:{}:{}", inc.fingerprint, inc.count),
                )?),
                TicketChange::Told {
                    events: inc.count,
                    hosts: inc.host_count,
                },
            ),
            Action::Reopen => (
                Some(job(
                    JobAction::Reopen,
                    rec,
                    &settings,
                    cfg,
                    adf::regression_comment(&f),
                    format!("jira:reopen:{}:{}", inc.fingerprint, inc.regressions),
                )?),
                TicketChange::Reopened {
                    regressions: inc.regressions,
                    events: inc.count,
                    hosts: inc.host_count,
                },
            ),
        };
        writes.push(DecisionWrite {
            incident_id: rec.id,
            fingerprint: inc.fingerprint.clone(),
            decision: d.action.as_str(),
            reason_code: code,
            reason: d.reason.to_string(),
            severity: inc.severity.as_str().to_owned(),
            confidence: conf,
            ticket_key: ticket.and_then(|t| t.issue_key.clone()),
            job,
            change,
        });
    }
    if writes.is_empty() && position == lease.position {
        return Ok(Some(0));
    }
    store
        .write_ticket_decisions(&writes, (LEASE, owner), position, now_ms)
        .await
}

/// Steps every `cfg.interval`, sooner when the incident worker nudges, until shutdown;
/// nudges the outbox when it queued Jira calls.
pub async fn run(
    store: Store,
    owner: String,
    cfg: AutomationConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let interval: Duration = cfg.interval;
    loop {
        let began = std::time::Instant::now();
        match step(&store, &owner, &cfg, crate::now_ms()).await {
            Ok(Some(n)) if n > 0 => {
                debug!(
                    decisions = n,
                    took_ms = began.elapsed().as_millis() as u64,
                    "Jira decisions written."
                );
                store.nudges().outbox.notify_one();
            }
            Ok(_) => {}
            Err(err) => warn!(error = %err, "Jira decision step failed; will retry."),
        }
        tokio::select! {
            _ = crate::store::nudge::wait(interval, &store.nudges().jira) => {}
            _ = shutdown.changed() => return,
        }
    }
}
