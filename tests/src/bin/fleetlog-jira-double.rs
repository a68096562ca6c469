//! Runs the Jira Cloud stand-in (`fleetlog_tests::jira_double`) as a process, for end-to-end
//! tests that start the real collector binary.
//!
//! `fleetlog-jira-double --listen 127.0.0.1:0 --email E --token-file F --project KEY
//! [--contract PATH] [--search-lag-ms N]`; prints `listening http://ADDR` on stdout, then
//! serves until killed. Faults and state are under `/_double/`.

use std::time::Duration;

use anyhow::{Context, Result};
use fleetlog_tests::jira_double::{DoubleConfig, JiraDouble, contract_path};

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let token_file = get("--token-file").context("--token-file")?;
    let token = std::fs::read_to_string(&token_file)
        .with_context(|| format!("reading {token_file}"))?
        .trim()
        .to_owned();
    let config = DoubleConfig {
        contract: get("--contract").map_or_else(contract_path, Into::into),
        email: get("--email").context("--email")?,
        token,
        project: get("--project").unwrap_or_else(|| "OPS".into()),
        search_lag: Duration::from_millis(
            get("--search-lag-ms")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
        ),
    };
    let listen = get("--listen").unwrap_or_else(|| "127.0.0.1:0".into());
    let double = JiraDouble::start(config, listen.parse().context("--listen")?).await?;
    #[allow(clippy::print_stdout)]
    {
        println!("listening {}", double.url());
    }
    std::future::pending::<()>().await;
    Ok(())
}
