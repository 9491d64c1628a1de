//! Batch-write throughput of the test node through the real `aerospike` client.
//!
//! ```text
//! cargo run --release -p aerospike-test-node --example batch_throughput -- --records 1000000
//! cargo run --release -p aerospike-test-node --example batch_throughput -- --hosts 127.0.0.1:3000
//! ```
//! Without `--hosts` the node runs in the same process (sharing the cores with the client).

use std::sync::Arc;
use std::time::Instant;

use aerospike::{
    BatchOperation, BatchPolicy, BatchWritePolicy, Bin, Client, ClientPolicy, Key, ResultCode,
    Value, operations,
};
use aerospike_test_node::{ClusterConfig, TestCluster};
use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Records to write.
    #[arg(long, default_value_t = 500_000)]
    records: usize,
    /// Records per batch call.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Batch calls in flight.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Nodes of the in-process cluster.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// In-process cluster keeps metadata only (no bin values).
    #[arg(long)]
    metadata_only: bool,
    /// Write to this cluster instead of an in-process one.
    #[arg(long)]
    hosts: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cluster = match &args.hosts {
        Some(_) => None,
        None => Some(
            TestCluster::start(ClusterConfig {
                nodes: args.nodes,
                store_bins: !args.metadata_only,
                ..Default::default()
            })
            .await?,
        ),
    };
    let hosts = args
        .hosts
        .clone()
        .or_else(|| cluster.as_ref().map(TestCluster::seeds))
        .unwrap_or_default();
    let policy = ClientPolicy {
        max_conns_per_node: 64,
        ..ClientPolicy::default()
    };
    let client = Client::new(&policy, &hosts).await?;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let client = client.clone();
        let next = next.clone();
        let (records, batch) = (args.records, args.batch);
        tasks.push(tokio::spawn(async move {
            let bwp = BatchWritePolicy::default();
            let bpol = BatchPolicy::write_default();
            let mut failed = 0usize;
            loop {
                let from = next.fetch_add(batch, std::sync::atomic::Ordering::Relaxed);
                if from >= records {
                    return Ok::<usize, aerospike::Error>(failed);
                }
                let to = (from + batch).min(records);
                let mut ops: Vec<BatchOperation> = (from..to)
                    .map(|i| {
                        let key =
                            Key::new("test", "bench", Value::from(i as i64)).expect("int key");
                        let bins = [
                            Bin::new("id", Value::from(i as i64)),
                            Bin::new("name", Value::from(format!("record number {i}"))),
                            Bin::new("blob", Value::Blob(vec![(i % 251) as u8; 64])),
                        ];
                        BatchOperation::write(
                            &bwp,
                            key,
                            bins.iter().map(operations::put).collect::<Vec<_>>(),
                        )
                    })
                    .collect();
                client.batch(&bpol, &mut ops).await?;
                failed += ops
                    .iter()
                    .filter(|o| o.result_code() != Some(ResultCode::Ok))
                    .count();
            }
        }));
    }
    let mut failed = 0;
    for t in tasks {
        failed += t.await??;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} records in {:.2} s = {:.0} records/s (batch {}, {} in flight, {} failed)",
        args.records,
        secs,
        args.records as f64 / secs,
        args.batch,
        args.concurrency,
        failed
    );
    if let Some(c) = &cluster {
        println!("stored: {}", c.record_count("test", Some("bench")));
    }
    Ok(())
}
