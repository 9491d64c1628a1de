//! Facts of the Aerospike wire protocol that the batch-write path needs: frame and message
//! headers, field and operation codes, attribute bits.
//!
//! A request or reply is a proto frame: an 8-byte big-endian word holding the protocol version
//! (top byte), the message type (next byte) and the body length (low 48 bits), then the body.
//! An AS_MSG body is one or more 22-byte message headers, each followed by its fields
//! (`u32` size counting the type byte, `u8` type, data) and operations (`u32` size counting
//! the 4 bytes after it, op, particle type, version, name length, name, value).

/// Protocol version in every frame.
pub const PROTO_VERSION: u8 = 2;
/// Frame type of an AS_MSG message.
pub const TYPE_AS_MSG: u8 = 3;
/// Frame type of a zlib-compressed AS_MSG message (never requested here).
pub const TYPE_AS_MSG_COMPRESSED: u8 = 4;
/// Length of the proto word.
pub const PROTO_HEADER: usize = 8;
/// Length of an AS_MSG header.
pub const MSG_HEADER: usize = 22;
/// Largest reply body accepted (a corrupt length must not allocate gigabytes).
pub const MAX_BODY: usize = 128 << 20;

/// Offsets inside an AS_MSG header.
pub mod msg {
    /// Header length byte (always 22).
    pub const HEADER_SIZE: usize = 0;
    /// `info1` bits.
    pub const INFO1: usize = 1;
    /// `info3` bits (the reply's end marker lives here).
    pub const INFO3: usize = 3;
    /// Result code.
    pub const RESULT_CODE: usize = 5;
    /// Transaction TTL in requests (server-side timeout, ms); batch row index in replies.
    pub const TRANSACTION_TTL: usize = 14;
    /// Number of fields.
    pub const N_FIELDS: usize = 18;
    /// Number of operations.
    pub const N_OPS: usize = 20;
}

/// `info1`: the message is a batch request.
pub const INFO1_BATCH: u8 = 1 << 3;
/// `info2`: write.
pub const INFO2_WRITE: u8 = 1;
/// `info2`: the record's generation must be greater than the one sent.
pub const INFO2_GENERATION_GT: u8 = 1 << 3;
/// `info2`: fail with 5 when the record exists.
pub const INFO2_CREATE_ONLY: u8 = 1 << 5;
/// `info3`: the last message of a reply.
pub const INFO3_LAST: u8 = 1;
/// `info3`: replace the record's bins instead of merging them.
pub const INFO3_CREATE_OR_REPLACE: u8 = 1 << 4;

/// Field types.
pub mod field {
    /// Namespace name.
    pub const NAMESPACE: u8 = 0;
    /// Set name.
    pub const SET: u8 = 1;
    /// User key: particle type byte, then the value.
    pub const KEY: u8 = 2;
    /// The batch-index body.
    pub const BATCH_INDEX: u8 = 41;
}

/// Batch-index flags (the byte after the row count).
pub mod batch {
    /// Execute the batch on the receiving service thread (in-memory namespaces).
    pub const ALLOW_INLINE: u8 = 1;
    /// Answer every key even after a row fails.
    pub const RESPOND_ALL_KEYS: u8 = 1 << 2;
    /// On an error that stops the batch, answer with the key-specific code.
    pub const KEY_ERRORS: u8 = 1 << 3;
}

/// Row flags of a batch-index row.
pub mod row {
    /// The row carries `info1..3`.
    pub const INFO: u8 = 1 << 1;
    /// The row carries a 16-bit generation.
    pub const GEN: u8 = 1 << 2;
    /// The row carries a 32-bit TTL.
    pub const TTL: u8 = 1 << 3;
}

/// Operation code of a bin write.
pub const OP_WRITE: u8 = 2;

/// Particle types the encoder writes itself (the rest come with the parsed value).
pub mod particle {
    /// Nil: deletes the bin.
    pub const NIL: u8 = 0;
    /// 64-bit integer, big-endian.
    pub const INTEGER: u8 = 1;
    /// IEEE double, big-endian bits.
    pub const FLOAT: u8 = 2;
    /// Bytes of a string.
    pub const STRING: u8 = 3;
    /// Blob.
    pub const BLOB: u8 = 4;
    /// One byte, 0 or 1.
    pub const BOOL: u8 = 17;
    /// Flags, cell count (3 zero bytes) and the GeoJSON text.
    pub const GEOJSON: u8 = 23;
}

/// The proto word for a body of `len` bytes of type `ty`.
pub fn proto_word(ty: u8, len: usize) -> [u8; 8] {
    let w =
        (u64::from(PROTO_VERSION) << 56) | (u64::from(ty) << 48) | (len as u64 & 0xFFFF_FFFF_FFFF);
    w.to_be_bytes()
}

/// Splits a proto word into (version, type, body length).
pub fn parse_proto_word(b: [u8; 8]) -> (u8, u8, usize) {
    let w = u64::from_be_bytes(b);
    (
        (w >> 56) as u8,
        (w >> 48) as u8,
        (w & 0xFFFF_FFFF_FFFF) as usize,
    )
}

/// The partition (0..4096) of a digest: its first two bytes, little-endian, modulo 4096.
pub fn partition_id(digest: &[u8; 20]) -> usize {
    usize::from(u16::from_le_bytes([digest[0], digest[1]])) & (PARTITIONS - 1)
}

/// Partitions per namespace.
pub const PARTITIONS: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proto_word_round_trips() {
        let w = proto_word(TYPE_AS_MSG, 0x0102_0304_0506);
        assert_eq!(w, [2, 3, 1, 2, 3, 4, 5, 6]);
        assert_eq!(parse_proto_word(w), (2, 3, 0x0102_0304_0506));
    }

    #[test]
    fn partition_is_the_little_endian_prefix() {
        let mut d = [0u8; 20];
        d[0] = 0x34;
        d[1] = 0x12;
        assert_eq!(partition_id(&d), 0x234);
        d[1] = 0xff;
        d[0] = 0xff;
        assert_eq!(partition_id(&d), 4095);
    }
}
