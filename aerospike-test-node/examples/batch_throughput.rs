//! Batch-write throughput of the test node through the real `aerospike` client.
//!
//! ```text
//! cargo run --release -p aerospike-test-node --example batch_throughput -- --records 1000000
//! cargo run --release -p aerospike-test-node --example batch_throughput -- --hosts 127.0.0.1:3000
//! ```
//! Without `--hosts` the node runs in the same process (sharing the cores with the client).
//! `--raw` replaces the client with pre-encoded batch frames sent over plain sockets, which
//! measures what the node itself can take.

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
    /// Send pre-encoded batch frames over sockets instead of using the client.
    #[arg(long)]
    raw: bool,
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
    if args.raw {
        let addr = hosts.split(',').next().unwrap_or_default().to_string();
        return raw::run(&addr, &args).await;
    }
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

/// Pre-encoded batch-write frames over plain sockets (no client cost).
mod raw {
    use std::time::Instant;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::Args;

    fn digest(i: u64) -> [u8; 20] {
        let mut d = [0u8; 20];
        let mut x = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
        for chunk in d.chunks_mut(8) {
            x ^= x >> 30;
            x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x ^= x >> 27;
            chunk.copy_from_slice(&x.to_be_bytes()[..chunk.len()]);
        }
        d
    }

    fn field(out: &mut Vec<u8>, ftype: u8, data: &[u8]) {
        out.extend_from_slice(&((data.len() + 1) as u32).to_be_bytes());
        out.push(ftype);
        out.extend_from_slice(data);
    }

    fn write_op(out: &mut Vec<u8>, ptype: u8, name: &[u8], value: &[u8]) {
        out.extend_from_slice(&((4 + name.len() + value.len()) as u32).to_be_bytes());
        out.extend_from_slice(&[2, ptype, 0, name.len() as u8]);
        out.extend_from_slice(name);
        out.extend_from_slice(value);
    }

    /// One batch request writing records `from..to` with the example's three bins.
    fn batch_frame(from: u64, to: u64) -> Vec<u8> {
        let mut rows = Vec::new();
        rows.extend_from_slice(&((to - from) as u32).to_be_bytes());
        rows.push(0x8);
        for (idx, i) in (from..to).enumerate() {
            rows.extend_from_slice(&(idx as u32).to_be_bytes());
            rows.extend_from_slice(&digest(i));
            rows.extend_from_slice(&[0x2 | 0x4 | 0x8, 0, 1, 0]); // INFO|GEN|TTL, write
            rows.extend_from_slice(&0u16.to_be_bytes());
            rows.extend_from_slice(&0u32.to_be_bytes());
            rows.extend_from_slice(&2u16.to_be_bytes());
            rows.extend_from_slice(&3u16.to_be_bytes());
            field(&mut rows, 0, b"test");
            field(&mut rows, 1, b"bench");
            write_op(&mut rows, 1, b"id", &(i as i64).to_be_bytes());
            write_op(
                &mut rows,
                3,
                b"name",
                format!("record number {i}").as_bytes(),
            );
            write_op(&mut rows, 4, b"blob", &[(i % 251) as u8; 64]);
        }
        let mut body = vec![22, 8, 0, 0, 0, 0];
        body.extend_from_slice(&[0; 12]);
        body.extend_from_slice(&1u16.to_be_bytes());
        body.extend_from_slice(&0u16.to_be_bytes());
        field(&mut body, 41, &rows);
        let header = (body.len() as u64) | (2u64 << 56) | (3u64 << 48);
        let mut frame = header.to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        frame
    }

    pub async fn run(addr: &str, args: &Args) -> anyhow::Result<()> {
        let (records, batch) = (args.records as u64, args.batch as u64);
        let frames: Vec<Vec<u8>> = (0..records)
            .step_by(batch as usize)
            .map(|from| batch_frame(from, (from + batch).min(records)))
            .collect();
        let frames = std::sync::Arc::new(frames);
        let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..args.concurrency {
            let (frames, next, addr) = (frames.clone(), next.clone(), addr.to_string());
            tasks.push(tokio::spawn(async move {
                let mut s = TcpStream::connect(&addr).await?;
                s.set_nodelay(true)?;
                let mut answer = Vec::new();
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(frame) = frames.get(n) else {
                        return anyhow::Ok(());
                    };
                    s.write_all(frame).await?;
                    let mut h = [0u8; 8];
                    s.read_exact(&mut h).await?;
                    answer.resize((u64::from_be_bytes(h) & 0xFFFF_FFFF_FFFF) as usize, 0);
                    s.read_exact(&mut answer).await?;
                }
            }));
        }
        for t in tasks {
            t.await??;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "raw: {records} records in {secs:.2} s = {:.0} records/s (batch {batch}, {} connections)",
            records as f64 / secs,
            args.concurrency
        );
        Ok(())
    }
}
