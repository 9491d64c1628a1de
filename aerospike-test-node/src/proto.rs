//! Wire format: the 8-byte proto header, the 22-byte AS_MSG header, fields and operations.
//!
//! Every length read from the wire is checked against the bytes actually present before it is
//! used; nothing is allocated from a declared length.

use bytes::{BufMut, Bytes, BytesMut};

use crate::store::{StoredBin, StoredKey};

/// Protocol version in every proto header.
pub const PROTO_VERSION: u8 = 2;
/// Info (text) message.
pub const TYPE_INFO: u8 = 1;
/// AS_MSG message.
pub const TYPE_MSG: u8 = 3;
/// zlib-compressed AS_MSG message.
pub const TYPE_MSG_COMPRESSED: u8 = 4;
/// Largest proto body accepted; a larger declared size closes the connection.
pub const MAX_PROTO_BODY: usize = 128 << 20;
/// Size of the AS_MSG header that follows the proto header.
pub const MSG_HEADER_SIZE: usize = 22;

/// `info1` bits.
pub mod info1 {
    /// Read.
    pub const READ: u8 = 1;
    /// Read all bins.
    pub const GET_ALL: u8 = 1 << 1;
    /// Batch index request.
    pub const BATCH: u8 = 1 << 3;
    /// Header only (no bin data).
    pub const NOBINDATA: u8 = 1 << 5;
}

/// `info2` bits.
pub mod info2 {
    /// Write.
    pub const WRITE: u8 = 1;
    /// Delete the record.
    pub const DELETE: u8 = 1 << 1;
    /// Generation must equal.
    pub const GENERATION: u8 = 1 << 2;
    /// Generation must be greater than the stored one.
    pub const GENERATION_GT: u8 = 1 << 3;
    /// Create only.
    pub const CREATE_ONLY: u8 = 1 << 5;
    /// Answer every op, in order.
    pub const RESPOND_ALL_OPS: u8 = 1 << 7;
}

/// `info3` bits.
pub mod info3 {
    /// Last message of a multi-message response.
    pub const LAST: u8 = 1;
    /// Update only: the record must exist.
    pub const UPDATE_ONLY: u8 = 1 << 3;
    /// Create or replace all bins.
    pub const CREATE_OR_REPLACE: u8 = 1 << 4;
    /// Replace only: the record must exist.
    pub const REPLACE_ONLY: u8 = 1 << 5;
}

/// Field types used by the node.
pub mod field {
    /// Namespace name.
    pub const NAMESPACE: u8 = 0;
    /// Set name.
    pub const SET: u8 = 1;
    /// User key: particle type byte + value.
    pub const KEY: u8 = 2;
    /// RIPEMD-160 digest.
    pub const DIGEST: u8 = 4;
    /// Batch index rows.
    pub const BATCH_INDEX: u8 = 41;
    /// Filter expression.
    pub const FILTER_EXP: u8 = 43;
}

/// Operation types used by the node.
pub mod op {
    /// Read a bin (or all bins when the name is empty).
    pub const READ: u8 = 1;
    /// Write a bin.
    pub const WRITE: u8 = 2;
    /// Add to an integer / float bin.
    pub const INCR: u8 = 5;
    /// Append to a string / blob bin.
    pub const APPEND: u8 = 9;
    /// Prepend to a string / blob bin.
    pub const PREPEND: u8 = 10;
    /// Touch the record.
    pub const TOUCH: u8 = 11;
    /// Delete the record.
    pub const DELETE: u8 = 14;
}

/// Decoded proto header.
#[derive(Debug, Clone, Copy)]
pub struct ProtoHeader {
    /// Protocol version (2).
    pub version: u8,
    /// Message type.
    pub msg_type: u8,
    /// Body size in bytes.
    pub size: usize,
}

/// Decodes an 8-byte proto header.
pub fn proto_header(b: &[u8]) -> ProtoHeader {
    let mut size = 0usize;
    for x in &b[2..8] {
        size = (size << 8) | usize::from(*x);
    }
    ProtoHeader {
        version: b[0],
        msg_type: b[1],
        size,
    }
}

/// The AS_MSG header.
#[derive(Debug, Clone, Copy, Default)]
pub struct MsgHeader {
    /// Read flags.
    pub info1: u8,
    /// Write flags.
    pub info2: u8,
    /// Other flags.
    pub info3: u8,
    /// Generation for the generation policies.
    pub generation: u32,
    /// TTL for writes.
    pub record_ttl: u32,
    /// Number of fields.
    pub n_fields: u16,
    /// Number of operations.
    pub n_ops: u16,
}

/// One operation of a request.
#[derive(Debug, Clone)]
pub struct Op {
    /// Operation type.
    pub op: u8,
    /// Particle type of the value.
    pub ptype: u8,
    /// Bin name.
    pub name: Bytes,
    /// Value bytes.
    pub value: Bytes,
}

/// Fields of a request the node understands.
#[derive(Debug, Clone, Default)]
pub struct Fields {
    /// Namespace name.
    pub namespace: Option<Bytes>,
    /// Set name.
    pub set: Option<Bytes>,
    /// User key.
    pub key: Option<StoredKey>,
    /// Digest.
    pub digest: Option<[u8; 20]>,
    /// A filter expression was sent (not evaluated by the node).
    pub filter: bool,
    /// Body of the batch index field.
    pub batch: Option<Bytes>,
}

/// Cursor over a request buffer that hands out zero-copy slices.
pub struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
}

/// The request is shorter than its own lengths say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated;

impl<'a> Reader<'a> {
    /// Starts reading `buf` at `pos`.
    pub fn new(buf: &'a Bytes, pos: usize) -> Self {
        Reader { buf, pos }
    }

    fn slice(&mut self, n: usize) -> Result<&'a [u8], Truncated> {
        let end = self.pos.checked_add(n).ok_or(Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(Truncated)?;
        self.pos = end;
        Ok(s)
    }

    /// Next `n` bytes as a shared slice of the buffer.
    pub fn bytes(&mut self, n: usize) -> Result<Bytes, Truncated> {
        let start = self.pos;
        self.slice(n)?;
        Ok(self.buf.slice(start..self.pos))
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, Truncated> {
        Ok(self.slice(1)?[0])
    }

    /// Big-endian u16.
    pub fn u16(&mut self) -> Result<u16, Truncated> {
        let s = self.slice(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }

    /// Big-endian u32.
    pub fn u32(&mut self) -> Result<u32, Truncated> {
        let s = self.slice(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    /// 20-byte digest.
    pub fn digest(&mut self) -> Result<[u8; 20], Truncated> {
        let mut d = [0u8; 20];
        d.copy_from_slice(self.slice(20)?);
        Ok(d)
    }

    /// The 22-byte AS_MSG header.
    pub fn msg_header(&mut self) -> Result<MsgHeader, Truncated> {
        let s = self.slice(MSG_HEADER_SIZE)?;
        let be32 = |i: usize| u32::from_be_bytes([s[i], s[i + 1], s[i + 2], s[i + 3]]);
        Ok(MsgHeader {
            info1: s[1],
            info2: s[2],
            info3: s[3],
            generation: be32(6),
            record_ttl: be32(10),
            n_fields: u16::from_be_bytes([s[18], s[19]]),
            n_ops: u16::from_be_bytes([s[20], s[21]]),
        })
    }

    /// Reads `n` fields, keeping the ones the node understands.
    pub fn fields(&mut self, n: u16, out: &mut Fields) -> Result<(), Truncated> {
        for _ in 0..n {
            let size = self.u32()? as usize;
            if size == 0 {
                return Err(Truncated);
            }
            let ftype = self.u8()?;
            let data = self.bytes(size - 1)?;
            match ftype {
                field::NAMESPACE => out.namespace = Some(data),
                field::SET => out.set = Some(data),
                field::KEY => {
                    let (&pt, value) = data.split_first().ok_or(Truncated)?;
                    out.key = Some(StoredKey {
                        particle_type: pt,
                        value: data.slice(1..1 + value.len()),
                    });
                }
                field::DIGEST => {
                    let d: [u8; 20] = data.as_ref().try_into().map_err(|_| Truncated)?;
                    out.digest = Some(d);
                }
                field::BATCH_INDEX => out.batch = Some(data),
                field::FILTER_EXP => out.filter = true,
                _ => {}
            }
        }
        Ok(())
    }

    /// Reads `n` operations into `out`.
    pub fn ops(&mut self, n: u16, out: &mut Vec<Op>) -> Result<(), Truncated> {
        for _ in 0..n {
            let size = self.u32()? as usize;
            if size < 4 {
                return Err(Truncated);
            }
            let op = self.u8()?;
            let ptype = self.u8()?;
            let _version = self.u8()?;
            let name_len = usize::from(self.u8()?);
            let value_len = size.checked_sub(4 + name_len).ok_or(Truncated)?;
            let name = self.bytes(name_len)?;
            let value = self.bytes(value_len)?;
            out.push(Op {
                op,
                ptype,
                name,
                value,
            });
        }
        Ok(())
    }
}

/// Starts a proto message in `out`; returns its offset for [`end_proto`].
pub fn begin_proto(out: &mut BytesMut) -> usize {
    let at = out.len();
    out.put_u64(0);
    at
}

/// Fills in the proto header started at `at`.
pub fn end_proto(out: &mut BytesMut, at: usize, msg_type: u8) {
    let size = (out.len() - at - 8) as u64;
    let header = size | (u64::from(PROTO_VERSION) << 56) | (u64::from(msg_type) << 48);
    out[at..at + 8].copy_from_slice(&header.to_be_bytes());
}

/// A response AS_MSG header. `index` goes in the transaction-ttl slot (the batch row index).
#[allow(clippy::too_many_arguments)]
pub fn put_msg_header(
    out: &mut BytesMut,
    info3: u8,
    result_code: u8,
    generation: u32,
    void_time: u32,
    index: u32,
    n_fields: u16,
    n_ops: u16,
) {
    out.put_u8(MSG_HEADER_SIZE as u8);
    out.put_u8(0);
    out.put_u8(0);
    out.put_u8(info3);
    out.put_u8(0);
    out.put_u8(result_code);
    out.put_u32(generation);
    out.put_u32(void_time);
    out.put_u32(index);
    out.put_u16(n_fields);
    out.put_u16(n_ops);
}

/// A bin in a response (as a READ op).
pub fn put_bin(out: &mut BytesMut, bin: &StoredBin) {
    out.put_u32((4 + bin.name.len() + bin.value.len()) as u32);
    out.put_u8(op::READ);
    out.put_u8(bin.particle_type);
    out.put_u8(0);
    out.put_u8(bin.name.len() as u8);
    out.put_slice(&bin.name);
    out.put_slice(&bin.value);
}

/// A one-message AS_MSG response with just a result code.
pub fn put_simple_response(out: &mut BytesMut, result_code: u8, generation: u32, void_time: u32) {
    let at = begin_proto(out);
    put_msg_header(out, 0, result_code, generation, void_time, 0, 0, 0);
    end_proto(out, at, TYPE_MSG);
}
