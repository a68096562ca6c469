//! Slack incoming webhooks: the notification as Block Kit (state, scope, value against
//! threshold, first seen, a button to the dashboard), with `text` as the fallback.
//! The webhook URL carries Slack's token, so it is a secret (`secrets.webhook_url`).

use serde_json::{Value, json};

use super::{channel_of, http, string};
use crate::alerts::payload::Notification;
use crate::outbox::{BoxFuture, Deliver, DeliverError, Delivered, OutboxMessage};
use crate::store::Store;

fn time(ms: Option<i64>) -> String {
    match ms {
        // Slack renders <!date^unix^format|fallback> in the reader's time zone.
        Some(ms) => format!(
            "<!date^{}^{{date_short_pretty}} {{time_secs}}|{ms}>",
            ms / 1_000
        ),
        None => "–".into(),
    }
}

/// The Slack message for a notification.
pub fn blocks(n: &Notification) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(&n.title(), 150)}
    })];
    for a in n.alerts.iter().take(20) {
        let scope = a
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ");
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": truncate(&a.summary, 2_000)},
            "fields": [
                {"type": "mrkdwn", "text": format!("*State*\n{}", a.status)},
                {"type": "mrkdwn", "text": format!("*Scope*\n{}", truncate(&scope, 1_000))},
                {"type": "mrkdwn", "text": format!("*Value*\n{}{} {} {}{}", a.value, a.unit, a.comparison, a.threshold, a.unit)},
                {"type": "mrkdwn", "text": format!("*First seen*\n{}", time(a.starts_ms))},
            ]
        }));
    }
    blocks.push(json!({
        "type": "actions",
        "elements": [{
            "type": "button",
            "text": {"type": "plain_text", "text": "Open in fleetlog"},
            "url": n.dashboard_url,
        }]
    }));
    json!({"text": n.title(), "blocks": blocks})
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Delivers `slack` messages.
pub struct Slack {
    pub store: Store,
    pub client: reqwest::Client,
}

impl Deliver for Slack {
    fn deliver<'a>(
        &'a self,
        msg: &'a OutboxMessage,
    ) -> BoxFuture<'a, Result<Delivered, DeliverError>> {
        Box::pin(async move {
            let ch = channel_of(&self.store, &msg.target).await?;
            let url = string(&ch.secrets, "webhook_url").ok_or_else(|| {
                DeliverError::permanent("slack channel has no secrets.webhook_url")
            })?;
            let n: Notification = serde_json::from_str(&msg.payload)
                .map_err(|e| DeliverError::permanent(format!("bad notification: {e}")))?;
            http::outcome(self.client.post(url).json(&blocks(&n)).send().await).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::payload::AlertItem;

    #[test]
    fn block_kit_has_state_scope_value_first_seen_and_link() {
        let n = Notification {
            status: "firing".into(),
            group_key: "r1|host=pos-1|service=pay".into(),
            rule: "error-rate".into(),
            rule_id: 1,
            severity: "warning".into(),
            alerts: vec![AlertItem {
                fingerprint: "f".into(),
                status: "firing".into(),
                labels: [
                    ("host".to_owned(), "pos-1".to_owned()),
                    ("service".to_owned(), "pay".to_owned()),
                ]
                .into(),
                value: 12.5,
                threshold: 5.0,
                comparison: ">".into(),
                unit: "%".into(),
                summary: "pay on pos-1: 12.5 % of lines are errors".into(),
                starts_ms: Some(1_700_000_000_000),
                ends_ms: None,
            }],
            dashboard_url: "http://fleetlog/alerts?rule=1".into(),
            sent_ms: 0,
        };
        let v = blocks(&n);
        assert_eq!(v["text"], "[FIRING:1] error-rate host=pos-1 service=pay");
        assert_eq!(v["blocks"][0]["type"], "header");
        let fields = v["blocks"][1]["fields"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let texts: Vec<&str> = fields.iter().filter_map(|f| f["text"].as_str()).collect();
        assert_eq!(
            texts,
            [
                "*State*\nfiring",
                "*Scope*\nhost=pos-1, service=pay",
                "*Value*\n12.5% > 5%",
                "*First seen*\n<!date^1700000000^{date_short_pretty} {time_secs}|1700000000000>",
            ]
        );
        assert_eq!(
            v["blocks"][2]["elements"][0]["url"],
            "http://fleetlog/alerts?rule=1"
        );
    }
}
