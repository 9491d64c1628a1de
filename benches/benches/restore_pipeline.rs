//! The restorer's pipeline without the writer (local file -> gunzip -> parse -> transform ->
//! batches) against gunzip alone on one core, on a generated mixed backup.
//!
//! `cargo bench -p benches --bench restore_pipeline -- --warm-up-time 1 --measurement-time 10 --noplot`

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use benches::r#gen::{GenOptions, Shape, write_backup};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flate2::Compression;
use flate2::bufread::MultiGzDecoder;
use flate2::write::GzEncoder;
use restorer::pipeline::{self, Config, Inputs, NamespaceOptions};
use restorer::source::{Location, StorageOptions};
use restorer::stats::Counters;
use restorer::transform::TransformOptions;

/// Uncompressed size of the generated backup.
const SIZE: u64 = 64 << 20;

fn config(path: PathBuf) -> Config {
    Config {
        inputs: Inputs::File(Location::Path(path)),
        metadata: None,
        storage: StorageOptions::default(),
        namespace: NamespaceOptions::default(),
        transform: TransformOptions::default(),
        no_records: false,
        no_indexes: false,
        no_udfs: false,
        indexes_last: false,
        parallel: 1,
        batch_size: 512,
        max_async_batches: 8,
        tps: 0,
        bandwidth: 0,
        decode: Default::default(),
    }
}

fn bench(c: &mut Criterion) {
    let mut raw = Vec::new();
    let mut opts = GenOptions::new(Shape::Mixed, SIZE);
    opts.keys = false;
    let stats = write_backup(&mut raw, &opts).expect("generate");
    let mut gz = GzEncoder::new(Vec::new(), Compression::new(6));
    gz.write_all(&raw).expect("gzip");
    let gz = gz.finish().expect("gzip");
    let path = std::env::temp_dir().join(format!("restore-pipeline-{}.asb.gz", std::process::id()));
    std::fs::write(&path, &gz).expect("write backup");
    let rt = tokio::runtime::Runtime::new().expect("runtime");

    let mut g = c.benchmark_group("restore_pipeline");
    g.throughput(Throughput::Bytes(stats.bytes));
    g.sample_size(10);
    g.bench_function("gunzip_alone", |b| {
        let mut buf = vec![0u8; 1 << 20];
        b.iter(|| {
            let mut d = MultiGzDecoder::new(&gz[..]);
            let mut n = 0usize;
            loop {
                let k = d.read(&mut buf).expect("gunzip");
                if k == 0 {
                    break;
                }
                n += k;
            }
            assert_eq!(n as u64, stats.bytes);
        })
    });
    g.bench_function("file_gunzip_parse_transform", |b| {
        b.iter(|| {
            let counters = Arc::new(Counters::default());
            rt.block_on(pipeline::dry_run(config(path.clone()), counters.clone()))
                .expect("dry run");
            assert_eq!(counters.snapshot().records, stats.records);
        })
    });
    g.finish();
    let _ = std::fs::remove_file(&path);
}

criterion_group!(benches, bench);
criterion_main!(benches);
