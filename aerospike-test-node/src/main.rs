//! Runs an Aerospike test cluster standalone, for manual runs and benchmarks.

use aerospike_test_node::{ClusterConfig, TestCluster};
use anyhow::Context as _;
use clap::Parser;

/// In-memory Aerospike wire-protocol test cluster on 127.0.0.1.
#[derive(Parser, Debug)]
#[command(name = "aerospike-test-node", version)]
struct Args {
    /// Port of the first node; the others take the following ports (0 = ephemeral).
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Number of nodes.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Namespaces, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "test,bar")]
    namespaces: Vec<String>,
    /// Largest record accepted (the namespaces' max-record-size), in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    write_block_size: usize,
    /// Report batch-index-threads=0 and refuse batch requests.
    #[arg(long)]
    no_batch_writes: bool,
    /// Accept compressed requests, as an Enterprise server does (Community Edition answers 25).
    #[arg(long)]
    compression: bool,
    /// Keep only record metadata (set, key, generation, TTL), not bin values: for big benchmarks.
    #[arg(long)]
    metadata_only: bool,
    /// Print record counts per namespace every N seconds (0 = never).
    #[arg(long, default_value_t = 0)]
    stats_every: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let namespaces: Vec<String> = args
        .namespaces
        .iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let cluster = TestCluster::start(ClusterConfig {
        nodes: args.nodes,
        namespaces: namespaces.clone(),
        batch_writes: !args.no_batch_writes,
        write_block_size: args.write_block_size,
        base_port: args.port,
        store_bins: !args.metadata_only,
        compression: args.compression,
        ..Default::default()
    })
    .await
    .context("starting the test cluster")?;
    println!("{}", cluster.seeds());
    tracing::info!(seeds = %cluster.seeds(), "test cluster running; Ctrl-C stops it");
    let stats = async {
        if args.stats_every == 0 {
            return std::future::pending::<()>().await;
        }
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(args.stats_every));
        loop {
            tick.tick().await;
            for ns in &namespaces {
                tracing::info!(namespace = %ns, records = cluster.record_count(ns, None), "stats");
            }
        }
    };
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        () = stats => {}
    }
    Ok(())
}
