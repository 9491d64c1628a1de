//! Encodes a batch-index write request straight from parsed records into a reused buffer.
//!
//! Every row carries its digest, `info` attributes, generation, TTL, namespace and set fields,
//! the user key when the backup stored one, and one write operation per bin whose value bytes
//! are copied from the record's own buffers: nothing is allocated per record.

use asb_format::{Key, Record, Value};

use super::proto::{
    self, INFO1_BATCH, MSG_HEADER, OP_WRITE, PROTO_HEADER, TYPE_AS_MSG, batch, field, msg,
    particle, row,
};
use crate::transform::WriteRecord;

/// What every row of a batch asks of the server (asrestore's write policy, format §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowPolicy {
    /// `info2` bits: write, plus generation-greater-than or create-only.
    pub write_attr: u8,
    /// `info3` bits: create-or-replace.
    pub info_attr: u8,
    /// Send each record's backup generation (with generation-greater-than).
    pub send_generation: bool,
}

impl RowPolicy {
    /// The policy for asrestore's flags: `--unique` creates only, `--replace` replaces the
    /// bins, and unless `--no-generation` a record is written only over an older generation.
    pub fn new(unique: bool, replace: bool, no_generation: bool) -> Self {
        let mut write_attr = proto::INFO2_WRITE;
        let mut info_attr = 0;
        if unique {
            write_attr |= proto::INFO2_CREATE_ONLY;
        } else if replace {
            info_attr |= proto::INFO3_CREATE_OR_REPLACE;
        }
        if !no_generation {
            write_attr |= proto::INFO2_GENERATION_GT;
        }
        RowPolicy {
            write_attr,
            info_attr,
            send_generation: !no_generation,
        }
    }
}

/// Request-wide settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSettings {
    /// Server-side timeout in ms (0 = none).
    pub server_timeout_ms: u32,
    /// Let the server run the batch on its receiving thread (fast for in-memory namespaces).
    pub allow_inline: bool,
}

/// A record the protocol cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A bin name longer than the one-byte length of an operation.
    #[error("bin name of {0} bytes is longer than the protocol's 255")]
    BinName(usize),
    /// More bins than a 16-bit operation count.
    #[error("{0} bins are more than the protocol's 65535 per record")]
    TooManyBins(usize),
    /// More rows than a 32-bit count (never in practice).
    #[error("too many records in one batch")]
    TooManyRows,
}

/// Encodes one batch request for `rows` into `buf` (cleared first): proto word, AS_MSG
/// header, and the batch-index field. Row `i` of the request is numbered `i`, which the server
/// echoes back in its answer for that row.
pub fn encode_batch<'a>(
    buf: &mut Vec<u8>,
    rows: impl ExactSizeIterator<Item = &'a WriteRecord>,
    policy: &RowPolicy,
    settings: &BatchSettings,
) -> Result<(), EncodeError> {
    buf.clear();
    let count = u32::try_from(rows.len()).map_err(|_| EncodeError::TooManyRows)?;
    let mut header = [0u8; PROTO_HEADER + MSG_HEADER];
    let h = &mut header[PROTO_HEADER..];
    h[msg::HEADER_SIZE] = MSG_HEADER as u8;
    h[msg::INFO1] = INFO1_BATCH;
    h[msg::TRANSACTION_TTL..msg::TRANSACTION_TTL + 4]
        .copy_from_slice(&settings.server_timeout_ms.to_be_bytes());
    h[msg::N_FIELDS..msg::N_FIELDS + 2].copy_from_slice(&1u16.to_be_bytes());
    buf.extend_from_slice(&header);
    let field_at = buf.len();
    buf.extend_from_slice(&[0, 0, 0, 0, field::BATCH_INDEX]);
    buf.extend_from_slice(&count.to_be_bytes());
    let mut flags = batch::KEY_ERRORS | batch::RESPOND_ALL_KEYS;
    if settings.allow_inline {
        flags |= batch::ALLOW_INLINE;
    }
    buf.push(flags);
    for (i, w) in rows.enumerate() {
        encode_row(buf, i as u32, w, policy)?;
    }
    let field_len = (buf.len() - field_at - 4) as u32;
    buf[field_at..field_at + 4].copy_from_slice(&field_len.to_be_bytes());
    let body = buf.len() - PROTO_HEADER;
    buf[..PROTO_HEADER].copy_from_slice(&proto::proto_word(TYPE_AS_MSG, body));
    Ok(())
}

fn put_field(buf: &mut Vec<u8>, ty: u8, data: &[u8]) {
    buf.extend_from_slice(&(data.len() as u32 + 1).to_be_bytes());
    buf.push(ty);
    buf.extend_from_slice(data);
}

/// The user key's particle type and value bytes (8-byte big-endian numbers).
fn key_parts<'a>(k: &Key<'a>, scratch: &'a mut [u8; 8]) -> (u8, &'a [u8]) {
    match *k {
        Key::Int(i) => {
            *scratch = i.to_be_bytes();
            (particle::INTEGER, &scratch[..])
        }
        Key::Float(f) => {
            *scratch = f.to_bits().to_be_bytes();
            (particle::FLOAT, &scratch[..])
        }
        Key::String(s) => (particle::STRING, s),
        Key::Bytes(b) => (particle::BLOB, b),
    }
}

fn encode_row(
    buf: &mut Vec<u8>,
    index: u32,
    w: &WriteRecord,
    policy: &RowPolicy,
) -> Result<(), EncodeError> {
    let rec: &Record = &w.record;
    let n_ops =
        u16::try_from(rec.bin_count()).map_err(|_| EncodeError::TooManyBins(rec.bin_count()))?;
    let key = rec.key();
    let n_fields: u16 = if key.is_some() { 3 } else { 2 };
    let generation = if policy.send_generation {
        rec.generation
    } else {
        0
    };
    let ttl = u32::from(w.expiration);
    let mut head = [0u8; 4 + 20 + 1 + 3 + 2 + 4 + 2 + 2];
    head[..4].copy_from_slice(&index.to_be_bytes());
    head[4..24].copy_from_slice(&rec.digest);
    head[24] = row::INFO | row::GEN | row::TTL;
    head[25] = 0;
    head[26] = policy.write_attr;
    head[27] = policy.info_attr;
    head[28..30].copy_from_slice(&generation.to_be_bytes());
    head[30..34].copy_from_slice(&ttl.to_be_bytes());
    head[34..36].copy_from_slice(&n_fields.to_be_bytes());
    head[36..38].copy_from_slice(&n_ops.to_be_bytes());
    buf.extend_from_slice(&head);
    put_field(buf, field::NAMESPACE, w.namespace.as_bytes());
    put_field(buf, field::SET, rec.set().unwrap_or_default());
    if let Some(k) = key {
        let mut scratch = [0u8; 8];
        let (ty, value) = key_parts(&k, &mut scratch);
        buf.extend_from_slice(&(value.len() as u32 + 2).to_be_bytes());
        buf.push(field::KEY);
        buf.push(ty);
        buf.extend_from_slice(value);
    }
    for b in rec.bins() {
        let name_len =
            u8::try_from(b.name.len()).map_err(|_| EncodeError::BinName(b.name.len()))?;
        let mut scratch = [0u8; 8];
        let (ty, prefix, value): (u8, &[u8], &[u8]) = match b.value {
            Value::Nil => (particle::NIL, &[], &[]),
            Value::Bool(v) => {
                scratch[0] = u8::from(v);
                (particle::BOOL, &[], &scratch[..1])
            }
            Value::Int(i) => {
                scratch = i.to_be_bytes();
                (particle::INTEGER, &[], &scratch[..])
            }
            Value::Float(f) => {
                scratch = f.to_bits().to_be_bytes();
                (particle::FLOAT, &[], &scratch[..])
            }
            Value::String(s) => (particle::STRING, &[], s),
            Value::GeoJson(g) => (particle::GEOJSON, &[0, 0, 0], g),
            Value::Bytes(t, v) => (t.particle_type(), &[], v),
        };
        let size = 4 + b.name.len() + prefix.len() + value.len();
        buf.extend_from_slice(&(size as u32).to_be_bytes());
        buf.extend_from_slice(&[OP_WRITE, ty, 0, name_len]);
        buf.extend_from_slice(b.name);
        buf.extend_from_slice(prefix);
        buf.extend_from_slice(value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aerospike::Expiration;
    use asb_format::{Bin, BytesType};
    use std::sync::Arc;

    fn wr(rec: Record, expiration: Expiration) -> WriteRecord {
        WriteRecord {
            namespace: Arc::from("bar"),
            record: Box::new(rec),
            expiration,
            line: 1,
        }
    }

    fn settings() -> BatchSettings {
        BatchSettings {
            server_timeout_ms: 1000,
            allow_inline: true,
        }
    }

    #[test]
    fn policies_follow_asrestore_flags() {
        let p = RowPolicy::new(false, false, false);
        assert_eq!(
            (p.write_attr, p.info_attr, p.send_generation),
            (0x09, 0, true)
        );
        let p = RowPolicy::new(true, false, false);
        assert_eq!((p.write_attr, p.info_attr), (0x29, 0));
        let p = RowPolicy::new(false, true, true);
        assert_eq!(
            (p.write_attr, p.info_attr, p.send_generation),
            (0x01, 0x10, false)
        );
    }

    #[test]
    fn one_row_byte_for_byte() {
        let rec = Record::builder("test", [7; 20])
            .set("s")
            .generation(3)
            .key(Key::Int(5))
            .bins([
                Bin::new("i", Value::Int(-2)),
                Bin::new("n", Value::Nil),
                Bin::new("g", Value::GeoJson(b"{}")),
                Bin::new("l", Value::Bytes(BytesType::List, b"\x91\x01")),
            ])
            .build();
        let w = wr(rec, Expiration::Seconds(100));
        let mut buf = vec![9; 3];
        encode_batch(
            &mut buf,
            [&w].into_iter(),
            &RowPolicy::new(false, false, false),
            &settings(),
        )
        .unwrap();
        let mut want = Vec::new();
        let mut row = Vec::new();
        row.extend_from_slice(&0u32.to_be_bytes());
        row.extend_from_slice(&[7; 20]);
        row.extend_from_slice(&[0x0e, 0, 0x09, 0, 0, 3, 0, 0, 0, 100, 0, 3, 0, 4]);
        row.extend_from_slice(&[0, 0, 0, 4, 0, b'b', b'a', b'r']);
        row.extend_from_slice(&[0, 0, 0, 2, 1, b's']);
        row.extend_from_slice(&[0, 0, 0, 10, 2, 1, 0, 0, 0, 0, 0, 0, 0, 5]);
        row.extend_from_slice(&[0, 0, 0, 13, 2, 1, 0, 1, b'i']);
        row.extend_from_slice(&(-2i64).to_be_bytes());
        row.extend_from_slice(&[0, 0, 0, 5, 2, 0, 0, 1, b'n']);
        row.extend_from_slice(&[0, 0, 0, 10, 2, 23, 0, 1, b'g', 0, 0, 0, b'{', b'}']);
        row.extend_from_slice(&[0, 0, 0, 7, 2, 20, 0, 1, b'l', 0x91, 1]);
        let field_len = 1 + 4 + 1 + row.len();
        let body_len = 22 + 4 + field_len;
        want.extend_from_slice(&proto::proto_word(3, body_len));
        want.extend_from_slice(&[22, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        want.extend_from_slice(&1000u32.to_be_bytes());
        want.extend_from_slice(&[0, 1, 0, 0]);
        want.extend_from_slice(&(field_len as u32).to_be_bytes());
        want.extend_from_slice(&[41, 0, 0, 0, 1, 0x0d]);
        want.extend_from_slice(&row);
        assert_eq!(buf, want);
    }

    #[test]
    fn scalars_keep_their_bytes() {
        let nan = f64::from_bits(0x7ff8_0000_0000_1234);
        let rec = Record::builder("test", [1; 20])
            .bins([
                Bin::new("f", Value::Float(nan)),
                Bin::new("b", Value::Bool(true)),
                Bin::new("s", Value::String(b"\xff\x00")),
            ])
            .build();
        let w = wr(rec, Expiration::Never);
        let mut buf = Vec::new();
        let s = BatchSettings {
            server_timeout_ms: 0,
            allow_inline: false,
        };
        encode_batch(
            &mut buf,
            [&w].into_iter(),
            &RowPolicy::new(false, true, true),
            &s,
        )
        .unwrap();
        // No generation with --no-generation; TTL -1 = never expire; set field empty.
        let row_at = 8 + 22 + 5 + 5;
        assert_eq!(buf[row_at - 1], batch::KEY_ERRORS | batch::RESPOND_ALL_KEYS);
        assert_eq!(
            &buf[row_at + 24..row_at + 38],
            &[0x0e, 0, 1, 0x10, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 2, 0, 3]
        );
        let ops = &buf[row_at + 38 + 8 + 5..];
        let mut f = vec![0, 0, 0, 13, 2, 2, 0, 1, b'f'];
        f.extend_from_slice(&0x7ff8_0000_0000_1234u64.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 6, 2, 17, 0, 1, b'b', 1]);
        f.extend_from_slice(&[0, 0, 0, 7, 2, 3, 0, 1, b's', 0xff, 0]);
        assert_eq!(ops, &f[..]);
    }

    #[test]
    fn keys_of_every_type() {
        let cases: [(Key, &[u8]); 4] = [
            (Key::Int(1), &[1, 0, 0, 0, 0, 0, 0, 0, 1]),
            (Key::Float(1.0), &[2, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]),
            (Key::String(b"\xffk"), &[3, 0xff, b'k']),
            (Key::Bytes(b"\x00"), &[4, 0]),
        ];
        for (k, want) in cases {
            let rec = Record::builder("test", [1; 20])
                .key(k)
                .bins([Bin::new("a", Value::Int(1))])
                .build();
            let w = wr(rec, Expiration::Never);
            let mut buf = Vec::new();
            encode_batch(
                &mut buf,
                [&w].into_iter(),
                &RowPolicy::new(false, false, false),
                &settings(),
            )
            .unwrap();
            let key_at = 8 + 22 + 10 + 38 + 8 + 5;
            let len = u32::from_be_bytes(buf[key_at..key_at + 4].try_into().unwrap()) as usize;
            assert_eq!(buf[key_at + 4], field::KEY);
            assert_eq!(&buf[key_at + 5..key_at + 4 + len], want, "{k:?}");
        }
    }

    #[test]
    fn long_bin_names_are_refused() {
        let name = "x".repeat(256);
        let rec = Record::builder("test", [1; 20])
            .bins([Bin::new(name.as_str(), Value::Int(1))])
            .build();
        let w = wr(rec, Expiration::Never);
        let mut buf = Vec::new();
        assert_eq!(
            encode_batch(
                &mut buf,
                [&w].into_iter(),
                &RowPolicy::new(false, false, false),
                &settings()
            ),
            Err(EncodeError::BinName(256))
        );
    }
}
