//! End-to-end restore benchmark: a generated backup of >= 1 GB uncompressed (gzip) is restored
//! by the release `restorer` binary into an in-process test node, under `/usr/bin/time -v`.
//! Also measures gunzip alone on one core, the pipeline without the writer (`--dry-run`:
//! file -> gunzip -> parse -> transform), and peak RSS for each size.
//!
//! ```sh
//! cargo build --release -p restorer
//! RESTORE_BENCH_GB=1,4 cargo bench -p benches --bench restore_e2e
//! ```
//! Environment: `RESTORE_BENCH_GB` (sizes in GB, default `1`), `RESTORE_BENCH_DIR` (where the
//! backups are generated and kept, default `/tmp/restore-bench`), `RESTORER_BIN` (default: the
//! `restorer` next to this benchmark's target directory), `RESTORE_BENCH_WRITE` (`0` to skip
//! the writes into the test node), `RESTORE_BENCH_REPEAT` (gunzip and the pipeline without
//! writer are timed this many times, alternating, default 5; medians are compared).

use std::io::{BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use aerospike_test_node::{ClusterConfig, TestCluster};
use benches::r#gen::{GenOptions, Shape, write_backup};
use flate2::Compression;
use flate2::bufread::MultiGzDecoder;
use flate2::write::GzEncoder;

const GB: u64 = 1_000_000_000;

fn restorer_bin() -> PathBuf {
    if let Ok(p) = std::env::var("RESTORER_BIN") {
        return PathBuf::from(p);
    }
    // target/release/deps/restore_e2e-<hash> -> target/release/restorer
    let exe = std::env::current_exe().expect("current exe");
    let release = exe
        .parent()
        .and_then(Path::parent)
        .expect("bench binary lives in <target>/release/deps");
    release.join("restorer")
}

/// Generates (once) a gzip'ed mixed backup of at least `gb` GB uncompressed.
fn backup(dir: &Path, gb: u64) -> (PathBuf, u64, u64) {
    let path = dir.join(format!("mixed-{gb}g.asb.gz"));
    let meta = dir.join(format!("mixed-{gb}g.stats"));
    if let (true, Ok(s)) = (path.exists(), std::fs::read_to_string(&meta)) {
        let mut it = s.split_whitespace().filter_map(|n| n.parse::<u64>().ok());
        if let (Some(records), Some(bytes)) = (it.next(), it.next()) {
            return (path, records, bytes);
        }
    }
    eprintln!("generating {}", path.display());
    let f = std::fs::File::create(&path).expect("create backup");
    let mut gz = GzEncoder::new(BufWriter::with_capacity(1 << 20, f), Compression::new(6));
    let mut opts = GenOptions::new(Shape::Mixed, gb * GB);
    opts.keys = false;
    let stats = write_backup(&mut gz, &opts).expect("write backup");
    gz.finish().expect("finish gzip");
    std::fs::write(&meta, format!("{} {}\n", stats.records, stats.bytes)).expect("stats");
    (path, stats.records, stats.bytes)
}

/// Seconds to gunzip `path` on this thread (one core).
fn gunzip_secs(path: &Path) -> f64 {
    let f = std::fs::File::open(path).expect("open");
    let mut d = MultiGzDecoder::new(BufReader::with_capacity(1 << 20, f));
    let mut buf = vec![0u8; 1 << 20];
    let t = Instant::now();
    while d.read(&mut buf).expect("gunzip") > 0 {}
    t.elapsed().as_secs_f64()
}

/// Sorts `v` and returns its median.
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Timed {
    secs: f64,
    max_rss_kib: u64,
    stderr: String,
}

fn timed(bin: &Path, args: &[String]) -> Timed {
    let t = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(bin)
        .args(args)
        .output()
        .expect("run /usr/bin/time -v restorer");
    let secs = t.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "restorer failed:\n{stderr}");
    let max_rss_kib = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Timed {
        secs,
        max_rss_kib,
        stderr,
    }
}

fn main() {
    // `cargo bench` passes `--bench`. `cargo test --all-targets` runs this binary without it
    // (a debug build): a gigabyte restore there would only slow the test suite down.
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "restore_e2e is a benchmark: run it with `cargo bench -p benches --bench restore_e2e`"
        );
        return;
    }
    let sizes: Vec<u64> = std::env::var("RESTORE_BENCH_GB")
        .unwrap_or_else(|_| "1".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let dir = PathBuf::from(
        std::env::var("RESTORE_BENCH_DIR").unwrap_or_else(|_| "/tmp/restore-bench".into()),
    );
    std::fs::create_dir_all(&dir).expect("bench dir");
    let bin = restorer_bin();
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --release -p restorer` first (or set RESTORER_BIN)",
        bin.display()
    );
    let write = std::env::var("RESTORE_BENCH_WRITE").map_or(true, |v| v != "0");
    let repeat: usize = std::env::var("RESTORE_BENCH_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    for gb in sizes {
        let (path, records, bytes) = backup(&dir, gb);
        let mb = bytes as f64 / 1e6;
        println!(
            "{gb} GB backup: {records} records, {bytes} bytes uncompressed, {} bytes gzip",
            std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
        );
        let file = path.display().to_string();
        // Alternate the two so that both see the same machine state.
        let (mut gz, mut dry, mut rss) = (Vec::new(), Vec::new(), 0);
        for _ in 0..repeat {
            gz.push(gunzip_secs(&path));
            let run = timed(&bin, &["--dry-run".into(), "-i".into(), file.clone()]);
            dry.push(run.secs);
            rss = rss.max(run.max_rss_kib);
        }
        let (gz_med, dry_med) = (median(&mut gz), median(&mut dry));
        println!(
            "  gunzip alone (1 core, in process):   median {gz_med:5.2} s {:7.1} MB/s   best {:5.2} s",
            mb / gz_med,
            gz[0]
        );
        println!(
            "  pipeline without writer (process):   median {dry_med:5.2} s {:7.1} MB/s   best {:5.2} s  \
             {:8.0} rec/s  max RSS {} MiB",
            mb / dry_med,
            dry[0],
            records as f64 / dry_med,
            rss / 1024
        );
        println!(
            "  pipeline / gunzip throughput (medians of {repeat}): {:.3}",
            gz_med / dry_med
        );
        if !write {
            continue;
        }
        let node = rt
            .block_on(TestCluster::start(ClusterConfig {
                store_bins: false,
                ..Default::default()
            }))
            .expect("test node");
        let run = timed(
            &bin,
            &[
                "-h".into(),
                node.seeds(),
                "-i".into(),
                file.clone(),
                "--batch-size".into(),
                "512".into(),
                "--max-async-batches".into(),
                "8".into(),
            ],
        );
        let inserted = node.record_count("test", None);
        assert_eq!(
            inserted as u64, records,
            "every record restored:\n{}",
            run.stderr
        );
        println!(
            "  restore into the test node:          {:7.2} s  {:8.1} MB/s  {:9.0} rec/s  max RSS {} MiB",
            run.secs,
            mb / run.secs,
            records as f64 / run.secs,
            run.max_rss_kib / 1024
        );
        if let Some(waits) = run
            .stderr
            .lines()
            .find_map(|l| l.split_once("pipeline: ").map(|(_, w)| w))
        {
            println!("  {}", waits.trim_end_matches('"'));
        }
        drop(node);
    }
}
