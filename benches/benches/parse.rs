//! Parse throughput per backup shape, and gunzip + parse against gunzip alone.
//!
//! `cargo bench -p benches --bench parse -- --warm-up-time 1 --measurement-time 3 --noplot`

use std::hint::black_box;
use std::io::{Read, Write};
use std::sync::mpsc::sync_channel;

use asb_format::{Entity, Parser, ParserOptions};
use benches::r#gen::{Shape, backup};
use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flate2::Compression;
use flate2::bufread::MultiGzDecoder;
use flate2::write::GzEncoder;

/// Size of every generated backup.
const SIZE: u64 = 32 << 20;
/// Chunk size, as the restorer's decompressor ships them.
const CHUNK: usize = 1 << 20;

/// Parses `chunks`; returns the record count.
fn parse_chunks(chunks: impl IntoIterator<Item = Bytes>) -> u64 {
    let mut p = Parser::new(ParserOptions::default());
    let mut records = 0u64;
    for c in chunks {
        p.push(c);
        while let Some(e) = p.next_entity().expect("valid backup") {
            if let Entity::Record(r) = e {
                records += 1;
                black_box(&r);
            }
        }
    }
    p.finish().expect("complete backup");
    records
}

/// Splits `data` into zero-copy chunks.
fn chunks(data: &Bytes) -> impl Iterator<Item = Bytes> + '_ {
    (0..data.len())
        .step_by(CHUNK)
        .map(|i| data.slice(i..(i + CHUNK).min(data.len())))
}

/// Decompresses `gz` into 1 MiB chunks, handing each to `sink`.
fn gunzip(gz: &[u8], mut sink: impl FnMut(Bytes)) {
    let mut dec = MultiGzDecoder::new(gz);
    loop {
        let mut buf = vec![0u8; CHUNK];
        let mut n = 0;
        while n < CHUNK {
            match dec.read(&mut buf[n..]).expect("valid gzip") {
                0 => break,
                k => n += k,
            }
        }
        if n == 0 {
            return;
        }
        buf.truncate(n);
        sink(Bytes::from(buf));
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::new(6));
    enc.write_all(data).expect("in memory");
    enc.finish().expect("in memory")
}

fn parse_shapes(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    for shape in Shape::ALL {
        let data = Bytes::from(backup(shape, SIZE));
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.bench_function(shape.name(), |b| b.iter(|| parse_chunks(chunks(&data))));
    }
    g.finish();
}

fn gunzip_and_parse(c: &mut Criterion) {
    let data = backup(Shape::Mixed, SIZE);
    let gz = gzip(&data);
    let mut g = c.benchmark_group("gunzip_mixed");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("gunzip_alone", |b| {
        b.iter(|| {
            let mut n = 0usize;
            gunzip(&gz, |c| n += black_box(c).len());
            n
        })
    });
    g.bench_function("gunzip_then_parse_one_thread", |b| {
        b.iter(|| {
            let mut all = Vec::new();
            gunzip(&gz, |c| all.push(c));
            parse_chunks(all)
        })
    });
    g.bench_function("gunzip_parse_pipelined", |b| {
        b.iter(|| {
            std::thread::scope(|s| {
                let (tx, rx) = sync_channel::<Bytes>(4);
                s.spawn(|| {
                    gunzip(&gz, move |c| {
                        let _ = tx.send(c);
                    })
                });
                parse_chunks(rx)
            })
        })
    });
    g.finish();
}

criterion_group!(benches, parse_shapes, gunzip_and_parse);
criterion_main!(benches);
