//! The operator binary: configuration, logging, probes and the controller.

use clap::Parser;
use operator::config::Config;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let config = Config::parse();
    let ready = Arc::new(AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind(config.health_addr).await?;
    tokio::spawn(operator::health::serve(listener, ready.clone()));
    let client = kube::Client::try_default().await?;
    tracing::info!(image = %config.restorer_image, "starting aerospike restore operator");
    operator::controller::run(client, config, ready).await
}
