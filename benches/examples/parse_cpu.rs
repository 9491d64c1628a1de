//! Parse throughput per shape in CPU time of the parsing thread (from
//! `/proc/thread-self/schedstat`), which a busy shared machine distorts far
//! less than wall-clock time. Best of N runs over a generated backup.
//!
//! `cargo run --release -p benches --example parse_cpu -- [shape|all] [runs] [bytes]`

use std::hint::black_box;
use std::time::Instant;

use asb_format::{Entity, Parser, ParserOptions};
use benches::r#gen::{Shape, backup};
use bytes::Bytes;

/// CPU time used by this thread so far, in ns (Linux only).
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Parses `data` in 1 MiB chunks; returns the record count.
fn parse(data: &Bytes) -> u64 {
    let mut p = Parser::new(ParserOptions::default());
    let mut n = 0;
    for i in (0..data.len()).step_by(1 << 20) {
        p.push(data.slice(i..(i + (1 << 20)).min(data.len())));
        while let Some(e) = p.next_entity().expect("valid backup") {
            if let Entity::Record(r) = e {
                n += 1;
                black_box(&r);
            }
        }
    }
    p.finish().expect("complete backup");
    n
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let only = args.first().map(String::as_str).unwrap_or("all");
    let runs: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(7);
    let bytes: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(64 << 20);
    for shape in Shape::ALL {
        if only != "all" && only != shape.name() {
            continue;
        }
        let data = Bytes::from(backup(shape, bytes));
        let (mut best_cpu, mut best_wall, mut records) = (f64::MAX, f64::MAX, 0);
        for _ in 0..runs {
            let (c0, t0) = (thread_cpu_ns(), Instant::now());
            records = parse(&data);
            best_wall = best_wall.min(t0.elapsed().as_secs_f64());
            if let (Some(c0), Some(c1)) = (c0, thread_cpu_ns()) {
                best_cpu = best_cpu.min((c1 - c0) as f64 / 1e9);
            }
        }
        let mb = data.len() as f64 / 1e6;
        println!(
            "{:13} {:7.0} MB/s cpu  {:7.0} MB/s wall  {:8} records  {:5.0} ns/record (cpu)",
            shape.name(),
            mb / best_cpu,
            mb / best_wall,
            records,
            best_cpu * 1e9 / records as f64
        );
    }
}
