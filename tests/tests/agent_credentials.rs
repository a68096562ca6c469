//! Per-agent credentials (issue 16), end to end with the real binaries: the agent enrolls
//! with the fleet token and keeps the credential the collector issues; after a restart it
//! presents that credential; an operator revokes it through the API, the collector closes
//! its connection and refuses it with the reason, and the agent keeps its lines buffered;
//! reinstated, it delivers every line exactly once.
//!
//! Run with `-- --nocapture` to see the figures it prints.

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use fleetlog_tests::{Agent, AgentOpts, Collector, LineWriter, TestEnv};
use serde_json::{Value, json};

const DRAIN: Duration = Duration::from_secs(120);

fn enrollment(collector: &Collector, agent_host: &str) -> Result<Value> {
    let list = collector
        .api_json("/api/v1/agents/enrollments")?
        .unwrap_or_default();
    list["enrollments"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["host"] == agent_host)
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no enrollment for {agent_host}: {list}"))
}

#[test]
fn agent_enrolls_is_revoked_keeps_its_lines_and_delivers_them_when_reinstated() -> Result<()> {
    let mut env = TestEnv::new("agent-credentials")?;
    let collector = Collector::start(&env, &env.subdir("collector")?)?;
    let logs = env.subdir("logs")?;
    let mut writer = LineWriter::new(&logs.join("pos.log"))?;
    writer.write_lines(1_000)?;
    let opts = AgentOpts::new(&collector, "pos-7", &[format!("{}/*.log", logs.display())]);
    let mut agent = Agent::start(&env, opts)?;
    collector.wait_for_lines("pos-7", 1_000, DRAIN)?;
    agent.wait_for_log_line(Duration::from_secs(30), "credential issued", &|l| {
        l.contains("issued this agent its own credential")
    })?;

    // Restarted, it presents its own credential: the collector records that it did.
    agent.restart()?;
    writer.write_lines(500)?;
    collector.wait_for_lines("pos-7", 1_500, DRAIN)?;
    let row = enrollment(&collector, "pos-7")?;
    ensure!(row["credential_used"] == true, "{row}");
    let agent_id = row["agent_id"].as_str().unwrap_or_default().to_owned();

    // Revoked: the connection closes and the agent is refused with the reason.
    let revoked_at = Instant::now();
    let (status, body) = collector.api_send(
        "PUT",
        &format!("/api/v1/agents/{agent_id}/revocation"),
        Some(&json!({ "reason": "register reported stolen" })),
    )?;
    ensure!(status == 200, "revoke: {status} {body}");
    let said = agent.wait_for_log_line(Duration::from_secs(60), "revoked", &|l| {
        l.contains("was revoked") && l.contains("register reported stolen")
    })?;
    let refused_after = revoked_at.elapsed();
    // Lines written while revoked stay on the host.
    writer.write_lines(700)?;
    std::thread::sleep(Duration::from_secs(3));
    let while_revoked = collector.lines_received("pos-7")?;
    ensure!(
        while_revoked == 1_500,
        "{while_revoked} lines stored while revoked (1500 before)"
    );

    // Reinstated: everything arrives, once.
    let (status, body) = collector.api_send(
        "DELETE",
        &format!("/api/v1/agents/{agent_id}/revocation"),
        None,
    )?;
    ensure!(status == 200, "reinstate: {status} {body}");
    let reinstated_at = Instant::now();
    let got = collector.wait_for_lines("pos-7", 2_200, DRAIN)?;
    let drained_after = reinstated_at.elapsed();
    let lines = collector.fetch_all_lines("pos-7")?;
    let mut texts: Vec<&str> = lines.iter().map(|l| l.line.as_str()).collect();
    texts.sort_unstable();
    texts.dedup();
    ensure!(
        got == 2_200 && lines.len() == 2_200 && texts.len() == 2_200,
        "{got} counted, {} stored, {} distinct, 2200 written",
        lines.len(),
        texts.len()
    );
    let collector_log = collector.log_text()?;
    ensure!(
        !collector_log.contains("fla_") && !agent.log_text()?.contains("fla_"),
        "a credential appears in a log"
    );
    eprintln!(
        "agent-credentials: enrolled and restarted on its credential; revoked -> agent told \
         in {refused_after:?} ({}); {while_revoked} lines stored while revoked with 700 held \
         on the host; reinstated -> all 2200 lines stored once after {drained_after:?}",
        said.trim()
    );
    agent.ensure_no_panic()?;
    collector.ensure_no_panic()?;
    env.finish();
    Ok(())
}
