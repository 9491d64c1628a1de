//! The operator binary: configuration, logging, probes and the controller.

use anyhow::Context as _;
use clap::Parser;
use operator::config::Config;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        // Pod logs are files: colour codes only on a terminal, and never with NO_COLOR set.
        .with_ansi(colour(std::io::stdout().is_terminal()))
        .init();
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "operator stopped");
            ExitCode::FAILURE
        }
    }
}

/// Whether log lines carry ANSI colours: on a terminal, unless `NO_COLOR` is set (no-color.org).
fn colour(terminal: bool) -> bool {
    terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

async fn run(config: Config) -> anyhow::Result<()> {
    tracing::info!(
        image = %config.restorer_image,
        namespace = config
            .watch_namespace
            .as_deref()
            .filter(|ns| !ns.is_empty())
            .unwrap_or("*"),
        "starting aerospike restore operator"
    );
    let ready = Arc::new(AtomicBool::new(false));
    let metrics = Arc::new(operator::metrics::Metrics::new());
    let listener = tokio::net::TcpListener::bind(config.health_addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.health_addr))?;
    tokio::spawn(operator::metrics::serve(
        listener,
        ready.clone(),
        metrics.clone(),
    ));
    let client = kube::Client::try_default()
        .await
        .context("no Kubernetes client configuration")?;
    if !config.leader_elect {
        return operator::controller::run_with(client, config, ready, metrics).await;
    }
    let elector = operator::leader::Elector::new(client.clone(), config.lease());
    // The controller's own readiness flag: followers are ready as standbys.
    let controller_ready = Arc::new(AtomicBool::new(false));
    operator::leader::run(elector, ready, metrics.clone(), move || {
        operator::controller::run_with(client, config, controller_ready, metrics)
    })
    .await
    .map_err(anyhow::Error::from)
}
