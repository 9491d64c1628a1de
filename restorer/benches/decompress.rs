//! Decompression throughput through `restorer::decompress` (blocking decoder thread, 1 MiB
//! chunks, bounded channel), for gzip, zstd and plain input held in memory and fed in 1 MiB
//! chunks. Throughput is in decompressed bytes; "plain" measures the pass-through overhead.
//!
//! `cargo bench -p restorer --bench decompress`

use std::hint::black_box;
use std::io::Write;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::{StreamExt, stream};
use restorer::decompress;
use restorer::source::{Input, READ_CHUNK, SourceError};

/// `.asb`-like text (records with keys, digests, ints, strings and blobs): 64 MiB under
/// `cargo bench`, 1 MiB when `cargo test` runs the benchmark once as a test.
fn asb_text() -> Vec<u8> {
    let size = if std::env::args().any(|a| a == "--bench") {
        64 << 20
    } else {
        1 << 20
    };
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = Vec::with_capacity(size + 4096);
    let mut n = 0u64;
    while out.len() < size {
        let blob: String = (0..(next() % 32 + 8))
            .map(|_| char::from(b'A' + (next() % 26) as u8))
            .collect();
        writeln!(
            out,
            "+ k S 12 user-{n:07}\n+ n test\n+ d {:020x}{:020x}\n+ s users\n+ g 1\n+ t 0\n+ b 3\n\
             - I count {}\n- S name 14 name-{n:09}\n- B payload {} {blob}",
            next(),
            next(),
            next() % 1_000_000,
            blob.len()
        )
        .unwrap();
        n += 1;
    }
    out
}

fn drain(rt: &tokio::runtime::Runtime, data: &Bytes) -> u64 {
    rt.block_on(async {
        // 1 MiB slices (no copy), as the local file source delivers them.
        let chunks: Vec<Result<Bytes, SourceError>> = (0..data.len())
            .step_by(READ_CHUNK)
            .map(|i| Ok(data.slice(i..data.len().min(i + READ_CHUNK))))
            .collect();
        let input = Input::new(
            "bench",
            Some(data.len() as u64),
            stream::iter(chunks).boxed(),
        );
        let mut out = decompress::spawn(input);
        let mut total = 0u64;
        while let Some(chunk) = out.recv().await {
            total += chunk.expect("valid input").len() as u64;
        }
        total
    })
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let text = asb_text();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gz.write_all(&text).unwrap();
    let gzip = Bytes::from(gz.finish().unwrap());
    let zstd = Bytes::from(ruzstd::encoding::compress_to_vec(
        &text[..],
        ruzstd::encoding::CompressionLevel::Fastest,
    ));
    let plain = Bytes::from(text);

    let mut group = c.benchmark_group("decompress");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(plain.len() as u64));
    for (name, data) in [("gzip", &gzip), ("zstd", &zstd), ("plain", &plain)] {
        assert_eq!(drain(&rt, data), plain.len() as u64, "{name}");
        group.bench_function(name, |b| b.iter(|| black_box(drain(&rt, data))));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
