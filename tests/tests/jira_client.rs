//! The Jira client against the Jira Cloud stand-in: every call fleetlog makes is accepted
//! by Atlassian's published contract (the stand-in validates each request), and every
//! injected fault comes back as the typed error the outbox acts on. Skips with a notice when
//! `../shared` (the contract) is absent.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use fleetlog_collector::auth::secret::SecretStr;
use fleetlog_collector::jira::client::{Credentials, JiraClient, JiraError, NewIssue};
use fleetlog_tests::jira_double::{DoubleConfig, Fault, JiraDouble, Op, contract_path};
use serde_json::json;

async fn double(lag: Duration) -> Option<JiraDouble> {
    let contract = contract_path();
    if !contract.is_file() {
        eprintln!("SKIP: {} is absent", contract.display());
        return None;
    }
    let cfg = DoubleConfig {
        contract,
        email: "bot@example.test".into(),
        token: "tok-s3cret".into(),
        project: "OPS".into(),
        search_lag: lag,
    };
    Some(
        JiraDouble::start(cfg, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap(),
    )
}

fn client(d: &JiraDouble, token: &str, timeout: Duration) -> JiraClient {
    JiraClient::new(
        Credentials {
            url: d.url(),
            email: "bot@example.test".into(),
            token: SecretStr::new(token),
        },
        timeout,
    )
    .unwrap()
}

fn issue(label: &str) -> NewIssue {
    NewIssue {
        project: "OPS".into(),
        issue_type: "Bug".into(),
        summary: "[fleetlog] pos: terminal offline".into(),
        description: json!({"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "x"}]}]}),
        labels: vec!["fleetlog".into(), label.into()],
        priority: Some("Highest".into()),
    }
}

#[tokio::test]
async fn jira_client_calls_follow_the_contract() {
    let Some(d) = double(Duration::from_secs(30)).await else {
        return;
    };
    let c = client(&d, "tok-s3cret", Duration::from_secs(5));
    assert_eq!(c.myself().await.unwrap(), "fleetlog bot");
    let created = c.create_issue(&issue("fleetlog-fp-aa")).await.unwrap();
    assert_eq!(created.key, "OPS-1");
    // Search lags behind the write; reconcileIssues makes the new issue visible.
    assert!(
        c.find_by_label("OPS", "fleetlog-fp-aa", &[])
            .await
            .unwrap()
            .is_empty()
    );
    let id = created.numeric_id().unwrap();
    let found = c
        .find_by_label("OPS", "fleetlog-fp-aa", &[id])
        .await
        .unwrap();
    assert_eq!(found, vec![created.clone()]);
    assert!(
        c.find_by_label("OPS", "fleetlog-fp-bb", &[id])
            .await
            .unwrap()
            .is_empty()
    );
    // Comments, transitions, reopen.
    let body = json!({"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "40 new occurrences"}]}]});
    c.add_comment("OPS-1", &body).await.unwrap();
    assert_eq!(
        c.comment_texts("OPS-1").await.unwrap(),
        vec!["40 new occurrences\n"]
    );
    let ts = c.transitions("OPS-1").await.unwrap();
    assert_eq!(ts[0].name, "Done");
    assert!(d.close("OPS-1"));
    let ts = c.transitions("OPS-1").await.unwrap();
    assert_eq!(
        (ts[0].name.as_str(), ts[0].to_category.as_deref()),
        ("Reopen", Some("new"))
    );
    c.transition("OPS-1", &ts[0].id).await.unwrap();
    d.with(|s| assert_eq!(s.issues[0].status, "To Do"));
    // No call broke the contract, and the stand-in's own answers kept it too.
    d.with(|s| assert!(s.violations.is_empty(), "{:?}", s.violations));
    eprintln!("jira_client: requests {:?}", d.with(|s| s.requests.clone()));
}

#[tokio::test]
async fn jira_client_faults_are_typed() {
    let Some(d) = double(Duration::ZERO).await else {
        return;
    };
    let c = client(&d, "tok-s3cret", Duration::from_millis(400));
    d.inject(
        Op::Create,
        Fault::Status {
            status: 429,
            retry_after_secs: Some(7),
        },
    );
    let e = c.create_issue(&issue("fleetlog-fp-cc")).await.unwrap_err();
    assert_eq!(
        (e.status(), e.retry_after()),
        (Some(429), Some(Duration::from_secs(7)))
    );
    assert!(!e.permanent() && !e.maybe_applied());
    d.inject(
        Op::Comment,
        Fault::Status {
            status: 503,
            retry_after_secs: Some(2),
        },
    );
    let e = c
        .add_comment(
            "OPS-1",
            &json!({"type": "doc", "version": 1, "content": []}),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (e.status(), e.retry_after()),
        (Some(503), Some(Duration::from_secs(2)))
    );
    d.inject(
        Op::Search,
        Fault::Status {
            status: 500,
            retry_after_secs: None,
        },
    );
    let e = c.find_by_label("OPS", "x", &[]).await.unwrap_err();
    assert!(!e.permanent() && e.status() == Some(500));
    // A timeout after a successful create: the issue exists, the client saw no answer.
    d.inject(Op::Create, Fault::DelayAfter(Duration::from_millis(1500)));
    let e = c.create_issue(&issue("fleetlog-fp-dd")).await.unwrap_err();
    assert!(matches!(e, JiraError::Timeout { .. }), "{e}");
    assert!(e.maybe_applied());
    d.with(|s| assert_eq!(s.with_label("fleetlog-fp-dd").len(), 1));
    // Wrong token: 401, permanent, and the token is in no error text.
    let bad = client(&d, "tok-wrong", Duration::from_secs(2));
    let e = bad.myself().await.unwrap_err();
    assert_eq!(e.status(), Some(401));
    assert!(e.permanent());
    assert!(!e.to_string().contains("tok-"));
    d.with(|s| assert!(s.violations.is_empty(), "{:?}", s.violations));
}

#[tokio::test]
async fn jira_double_rejects_what_the_contract_does_not_define() {
    let Some(d) = double(Duration::ZERO).await else {
        return;
    };
    let http = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value| {
        http.post(format!("{}{path}", d.url()))
            .basic_auth("bot@example.test", Some("tok-s3cret"))
            .json(&body)
            .send()
    };
    // An unknown field in the search body (the schema forbids additional properties).
    let r = post(
        "/rest/api/3/search/jql",
        json!({"jql": "project = \"OPS\" AND labels = \"x\"", "bogus": 1}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    // reconcileIssues holds integers, not keys.
    let r = post(
        "/rest/api/3/search/jql",
        json!({"jql": "project = \"OPS\" AND labels = \"x\"", "reconcileIssues": ["OPS-1"]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    // The removed search endpoint.
    let r = post("/rest/api/3/search", json!({"jql": "x"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // A comment body must be an object with ADF; a string is not a Comment.
    let r = post("/rest/api/3/issue/OPS-1/comment", json!("text"))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let n = d.with(|s| s.violations.len());
    assert_eq!(n, 4, "{:?}", d.with(|s| s.violations.clone()));
}
