//! Configuration reload (SIGHUP): the running agent is stopped as on SIGTERM (its lines and
//! file positions are committed together, so nothing is lost or read twice) and started again
//! with the new configuration, in the same process. Added and removed paths, labels, limits
//! and collectors all take effect; a configuration that does not load or validate is logged
//! and the running one stays in force.

use anyhow::Context;
use tokio::sync::{mpsc, watch};
use tracing::{error, info};

use crate::config::{AgentConfig, ConfigError};

/// What the process was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// SIGTERM or Ctrl-C: stop.
    Stop,
    /// SIGHUP: load the configuration again and apply it.
    Reload,
}

/// Runs the agent with `config` until a `Stop` request (or the end of `requests`); on each
/// `Reload`, `load` reads the configuration again (the same file, environment and flags).
pub async fn run_reloading(
    mut config: AgentConfig,
    load: impl Fn() -> Result<AgentConfig, ConfigError>,
    mut requests: mpsc::Receiver<Request>,
) -> anyhow::Result<()> {
    // One set of metrics for every run: a reload does not reset the counters.
    let metrics = std::sync::Arc::new(crate::metrics::Metrics::default());
    loop {
        let (stop, stopped) = watch::channel(false);
        let mut agent = tokio::spawn(crate::run_with_metrics(
            config.clone(),
            stopped,
            metrics.clone(),
        ));
        let next = loop {
            tokio::select! {
                // The agent ended by itself: an error (a clean run only ends when stopped).
                ended = &mut agent => return ended.context("agent task")?,
                request = requests.recv() => match request {
                    None | Some(Request::Stop) => {
                        let _ = stop.send(true);
                        return agent.await.context("agent task")?;
                    }
                    Some(Request::Reload) => match load() {
                        Ok(next) => break next,
                        Err(err) => error!(error = %err, "Reloading the configuration failed; the running configuration stays in force."),
                    },
                },
            }
        };
        let _ = stop.send(true);
        agent
            .await
            .context("agent task")?
            .context("stopping the agent for a reload")?;
        info!(
            paths = next.paths.len(),
            collector = %next.collector,
            host = %next.host_name,
            "Configuration reloaded; the agent resumes from its saved positions."
        );
        config = next;
    }
}
