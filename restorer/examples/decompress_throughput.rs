//! Measures source + decompression throughput (no parsing): open a location, decompress it
//! through `restorer::decompress`, count the bytes.
//!
//! ```sh
//! cargo run --release -p restorer --example decompress_throughput -- /path/big.asb.gz
//! cargo run --release -p restorer --example decompress_throughput -- \
//!     gs://restorer-test/big.asb.gz --endpoint "$TEST_GCS_ENDPOINT"
//! ```
//! For `s3://` with an endpoint, `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` come from the
//! environment as usual.

use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::Context;
use restorer::decompress;
use restorer::source::{self, Location, StorageOptions};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let location: Location = args
        .next()
        .context("usage: decompress_throughput LOCATION [--endpoint URL] [--runs N]")?
        .parse()?;
    let mut opts = StorageOptions::default();
    let mut runs = 3;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--endpoint" => opts.endpoint = Some(args.next().context("--endpoint URL")?),
            "--runs" => runs = args.next().context("--runs N")?.parse()?,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    for run in 1..=runs {
        let (compressed, decompressed, secs) = rt.block_on(measure(&location, &opts))?;
        println!(
            "run {run}: {location}: {:.1} MB compressed -> {:.1} MB in {secs:.2} s: \
             {:.0} MB/s in, {:.0} MB/s out",
            compressed as f64 / 1e6,
            decompressed as f64 / 1e6,
            compressed as f64 / 1e6 / secs,
            decompressed as f64 / 1e6 / secs,
        );
    }
    Ok(())
}

async fn measure(location: &Location, opts: &StorageOptions) -> anyhow::Result<(u64, u64, f64)> {
    let start = Instant::now();
    let input = source::open(location, opts).await?;
    let mut out = decompress::spawn(input);
    let mut decompressed = 0u64;
    while let Some(chunk) = out.recv().await {
        decompressed += chunk?.len() as u64;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok((
        out.compressed_bytes_read.load(Ordering::Relaxed),
        decompressed,
        secs,
    ))
}
