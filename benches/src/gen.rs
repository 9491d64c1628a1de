//! Deterministic generator of realistic `.asb` backups of a chosen shape and size.
//!
//! ```
//! use benches::r#gen::{GenOptions, Shape, write_backup};
//! let mut out = Vec::new();
//! let stats = write_backup(&mut out, &GenOptions::new(Shape::Mixed, 100_000)).unwrap();
//! assert!(stats.bytes >= 100_000 && stats.bytes == out.len() as u64);
//! ```

use std::io::{self, Write};

use asb_format::encode::{EncodeOptions, Encoder, header};
use asb_format::{BytesType, Entity, Key, MetaLine, Record, Value, Version};
use bytes::Bytes;

/// The kind of records to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// 3-6 small integer and short string bins per record.
    SmallScalars,
    /// One or two base64 blobs of 200 B - 4 KiB plus an integer.
    Blobs,
    /// Several lists and maps (valid server msgpack, base64).
    ListsMaps,
    /// Long raw strings (1-8 KiB) with embedded newlines and spaces.
    LongStrings,
    /// A realistic mix: ~7 bins of every common type, ~450 bytes per record.
    Mixed,
    /// One large base64 blob of 16-96 KiB plus an integer.
    LargeBlobs,
    /// 40-60 small integer, float and short string bins per record.
    ManyBins,
}

impl Shape {
    /// Every shape, for benchmarks.
    pub const ALL: [Shape; 7] = [
        Shape::SmallScalars,
        Shape::Blobs,
        Shape::ListsMaps,
        Shape::LongStrings,
        Shape::Mixed,
        Shape::LargeBlobs,
        Shape::ManyBins,
    ];

    /// A short name (for benchmark ids and file names).
    pub fn name(self) -> &'static str {
        match self {
            Shape::SmallScalars => "small",
            Shape::Blobs => "blobs",
            Shape::ListsMaps => "lists_maps",
            Shape::LongStrings => "long_strings",
            Shape::Mixed => "mixed",
            Shape::LargeBlobs => "large_blobs",
            Shape::ManyBins => "many_bins",
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenOptions {
    /// Record shape.
    pub shape: Shape,
    /// Stop after the first record that brings the output to at least this many bytes.
    pub bytes: u64,
    /// PRNG seed: the same options give the same bytes.
    pub seed: u64,
    /// Write `+ k` user keys. The digests are random, so they do not match
    /// the keys; turn keys off when writing to a server that checks them.
    pub keys: bool,
    /// Namespace written in the meta line and every record.
    pub namespace: String,
    /// asbackup's `--compact` form for blobs, lists and maps.
    pub compact: bool,
    /// Reuse the digests of the first this many records, cyclically (0 = every digest new).
    /// With `--no-generation` a restore rewrites the same records over and over: a large
    /// backup then takes little server memory.
    pub distinct: u64,
}

impl GenOptions {
    /// Defaults: seed 1, keys on, namespace `test`, base64 blobs.
    pub fn new(shape: Shape, bytes: u64) -> Self {
        Self {
            shape,
            bytes,
            seed: 1,
            keys: true,
            namespace: "test".to_owned(),
            compact: false,
            distinct: 0,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenStats {
    /// Records written.
    pub records: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Writes a complete backup file (header, namespace line, records) to `w`.
pub fn write_backup<W: Write>(w: &mut W, opts: &GenOptions) -> io::Result<GenStats> {
    let enc = Encoder::new(EncodeOptions {
        version: Version::V3_1,
        compact: opts.compact,
    });
    let mut rng = Rng(opts.seed ^ 0x9e37_79b9_7f4a_7c15);
    let ns = Bytes::from(opts.namespace.clone());
    let mut buf = Vec::with_capacity(1 << 17);
    header(&mut buf, Version::V3_1);
    enc.entity(&mut buf, &Entity::Meta(MetaLine::Namespace(ns.clone())));
    let mut stats = GenStats {
        records: 0,
        bytes: 0,
    };
    while stats.bytes + (buf.len() as u64) < opts.bytes {
        let rec = record(&mut rng, opts, &ns, stats.records);
        enc.record(&mut buf, &rec);
        stats.records += 1;
        if buf.len() >= 1 << 16 {
            w.write_all(&buf)?;
            stats.bytes += buf.len() as u64;
            buf.clear();
        }
    }
    w.write_all(&buf)?;
    stats.bytes += buf.len() as u64;
    Ok(stats)
}

/// A whole backup in memory.
pub fn backup(shape: Shape, bytes: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes as usize + (64 << 10));
    // Writing into a Vec cannot fail.
    let _ = write_backup(&mut out, &GenOptions::new(shape, bytes));
    out
}

/// xorshift64*: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(n);
        v
    }

    /// Random bytes, `lo..=hi` of them.
    fn bytes_in(&mut self, lo: u64, hi: u64) -> Vec<u8> {
        let n = self.range(lo, hi) as usize;
        self.bytes(n)
    }

    /// Text of `lo..=hi` bytes.
    fn text_in(&mut self, lo: u64, hi: u64, lines: bool) -> Vec<u8> {
        let n = self.range(lo, hi) as usize;
        self.text(n, lines)
    }

    /// Printable text with spaces, and LFs when `lines`.
    fn text(&mut self, n: usize, lines: bool) -> Vec<u8> {
        const WORDS: [&[u8]; 8] = [
            b"lorem",
            b"ipsum",
            b"dolor",
            b"sit",
            b"amet",
            b"aerospike",
            b"restore",
            b"backup",
        ];
        let mut v = Vec::with_capacity(n + 16);
        while v.len() < n {
            let r = self.next();
            v.extend_from_slice(WORDS[(r & 7) as usize]);
            v.push(if lines && r >> 60 == 0 { b'\n' } else { b' ' });
        }
        v.truncate(n);
        v
    }
}

/// A server-format msgpack list of small ints and short strings.
fn msgpack_list(rng: &mut Rng, items: usize) -> Vec<u8> {
    let items = items.min(15);
    let mut v = vec![0x90 | items as u8];
    for _ in 0..items {
        msgpack_scalar(rng, &mut v);
    }
    v
}

/// A server-format msgpack map with string keys.
fn msgpack_map(rng: &mut Rng, pairs: usize) -> Vec<u8> {
    let pairs = pairs.min(15);
    let mut v = vec![0x80 | pairs as u8];
    for i in 0..pairs {
        let key = format!("k{i}");
        v.push(0xa0 | (key.len() + 1) as u8);
        v.push(0x03);
        v.extend_from_slice(key.as_bytes());
        msgpack_scalar(rng, &mut v);
    }
    v
}

fn msgpack_scalar(rng: &mut Rng, v: &mut Vec<u8>) {
    if rng.next() & 1 == 0 {
        let n = rng.range(0, 60000) as u16;
        if n < 128 {
            v.push(n as u8);
        } else {
            v.push(0xcd);
            v.extend_from_slice(&n.to_be_bytes());
        }
    } else {
        let len = rng.range(1, 20) as usize;
        v.push(0xa0 | (len + 1) as u8);
        v.push(0x03);
        v.extend(rng.text(len, false));
    }
}

fn record(rng: &mut Rng, opts: &GenOptions, ns: &[u8], n: u64) -> Record {
    let mut digest = [0u8; 20];
    if opts.distinct > 0 {
        // A digest drawn from the record's position modulo `distinct` only: the main
        // stream stays the same whatever `distinct` is.
        let mut d = Rng((n % opts.distinct) ^ 0x5851_f42d_4c95_7f2d);
        d.next();
        digest.copy_from_slice(&d.bytes(20));
        let _ = rng.next();
    } else {
        digest.copy_from_slice(&rng.bytes(20));
    }
    let mut r = Record::builder(ns, digest).set("demo");
    if opts.keys {
        r = if n.is_multiple_of(2) {
            r.key(Key::Int(n as i64))
        } else {
            r.key(Key::String(format!("user-{n:010}").as_bytes()))
        };
    }
    r = match opts.shape {
        Shape::SmallScalars => {
            r = r
                .bin("id", Value::Int(n as i64))
                .bin("count", Value::Int(rng.range(0, 1 << 40) as i64))
                .bin("name", Value::String(&rng.text_in(6, 24, false)));
            if rng.next() & 1 == 0 {
                r = r
                    .bin("flag", Value::Int(rng.range(0, 1) as i64))
                    .bin("tag", Value::String(&rng.text(8, false)));
            }
            r
        }
        Shape::Blobs => {
            r = r.bin("id", Value::Int(n as i64)).bin(
                "payload",
                Value::Bytes(BytesType::Blob, &rng.bytes_in(200, 4096)),
            );
            if rng.next() & 3 == 0 {
                r = r.bin(
                    "thumb",
                    Value::Bytes(BytesType::Blob, &rng.bytes_in(64, 512)),
                );
            }
            r
        }
        Shape::ListsMaps => r
            .bin("tags", Value::Bytes(BytesType::List, &msgpack_list(rng, 8)))
            .bin(
                "scores",
                Value::Bytes(BytesType::List, &msgpack_list(rng, 15)),
            )
            .bin("attrs", Value::Bytes(BytesType::Map, &msgpack_map(rng, 6)))
            .bin("meta", Value::Bytes(BytesType::Map, &msgpack_map(rng, 12))),
        Shape::LongStrings => r
            .bin("id", Value::Int(n as i64))
            .bin("body", Value::String(&rng.text_in(1024, 8192, true))),
        Shape::Mixed => r
            .bin("id", Value::Int(n as i64))
            .bin("score", Value::Float(rng.next() as f64 / 7.0e12))
            .bin("name", Value::String(&rng.text_in(8, 32, false)))
            .bin("comment", Value::String(&rng.text_in(40, 200, true)))
            .bin("active", Value::Bool(rng.next() & 1 == 0))
            .bin(
                "avatar",
                Value::Bytes(BytesType::Blob, &rng.bytes_in(60, 160)),
            )
            .bin("tags", Value::Bytes(BytesType::List, &msgpack_list(rng, 4))),
        Shape::LargeBlobs => r.bin("id", Value::Int(n as i64)).bin(
            "payload",
            Value::Bytes(BytesType::Blob, &rng.bytes_in(16 << 10, 96 << 10)),
        ),
        Shape::ManyBins => {
            let bins = rng.range(40, 60);
            for i in 0..bins {
                let name = format!("b{i:02}");
                r = match i % 3 {
                    0 => r.bin(&name, Value::Int(rng.range(0, 1 << 32) as i64)),
                    1 => r.bin(&name, Value::Float(rng.next() as f64 / 3.0e15)),
                    _ => r.bin(&name, Value::String(&rng.text_in(4, 16, false))),
                };
            }
            r
        }
    };
    r.generation(rng.range(1, 20) as u16)
        .void_time(if rng.next() & 3 == 0 {
            0
        } else {
            rng.range(600_000_000, 800_000_000) as u32
        })
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use asb_format::{Parser, ParserOptions};

    #[test]
    fn every_shape_parses_and_is_deterministic() {
        for shape in Shape::ALL {
            let a = backup(shape, 200_000);
            assert_eq!(a, backup(shape, 200_000), "{shape:?}");
            assert!(a.len() >= 200_000);
            let mut p = Parser::new(ParserOptions::default());
            p.push(Bytes::from(a));
            let mut records = 0;
            while let Some(e) = p.next_entity().unwrap() {
                records += u64::from(matches!(e, Entity::Record(_)));
            }
            p.finish().unwrap();
            // 16-96 KiB blobs: a 200 kB backup holds only a few of them.
            let least = if matches!(shape, Shape::LargeBlobs) {
                2
            } else {
                10
            };
            assert!(records > least, "{shape:?}: {records} records");
        }
    }
}
