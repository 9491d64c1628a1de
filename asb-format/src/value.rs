//! The decoded contents of an `.asb` file: records, keys, bins, values and global items.
//!
//! Byte payloads are [`Bytes`] that refer into the parser's input where no
//! decoding was needed (raw strings, compact blobs, unescaped names); base64
//! payloads and escaped names are decoded once into fresh buffers.

use bytes::Bytes;

/// `Version` line of a backup file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// `Version 3.0`: legacy, no unescaping, no global lines.
    V3_0,
    /// `Version 3.1`: the current format.
    V3_1,
    /// `Version 3.2`: backup-go metadata files (only with [`crate::ParserOptions::allow_v3_2`]).
    V3_2,
}

/// A `#` meta-data line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaLine {
    /// `# namespace <ns>`: the namespace the file was backed up from (unescaped).
    Namespace(Bytes),
    /// `# first-file`: the file that carries the indexes and UDFs.
    FirstFile,
}

/// Aerospike particle types used for byte-family values (format §1.8, §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum BytesType {
    /// `B`: generic blob (particle 4).
    Blob = 4,
    /// `J`: Java-serialized blob (particle 7).
    Java = 7,
    /// `C`: C# blob (particle 8).
    CSharp = 8,
    /// `P`: Python pickled blob (particle 9).
    Python = 9,
    /// `R`: Ruby marshalled blob (particle 10).
    Ruby = 10,
    /// `H`: PHP serialized blob (particle 11).
    Php = 11,
    /// `E`: Erlang blob (particle 12).
    Erlang = 12,
    /// `Y`: HyperLogLog (particle 18).
    Hll = 18,
    /// `M`: map in the server's msgpack dialect (particle 19).
    Map = 19,
    /// `L`: list in the server's msgpack dialect (particle 20).
    List = 20,
}

impl BytesType {
    /// The Aerospike wire particle type.
    pub fn particle_type(self) -> u8 {
        self as u8
    }
}

/// A bin value (format §1.8).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `N`: nil, i.e. delete this bin on write.
    Nil,
    /// `Z`: boolean (particle 17).
    Bool(bool),
    /// `I`: 64-bit integer (particle 1).
    Int(i64),
    /// `D`: double (particle 2). NaN payloads are kept as parsed.
    Float(f64),
    /// `S` or `X`: string (particle 3); raw bytes, not necessarily UTF-8.
    String(Bytes),
    /// `G`: GeoJSON text (particle 23).
    GeoJson(Bytes),
    /// `B J C P R H E Y M L`: opaque bytes with their particle type; lists and
    /// maps are the server's msgpack bytes, never re-encoded.
    Bytes(BytesType, Bytes),
}

/// One `-` bin line.
#[derive(Debug, Clone, PartialEq)]
pub struct Bin {
    /// Bin name, unescaped (raw bytes).
    pub name: Bytes,
    /// Bin value.
    pub value: Value,
}

/// A `+ k` user key (format §1.7).
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    /// `I`: integer key.
    Int(i64),
    /// `D`: double key.
    Float(f64),
    /// `S` or `X`: string key (raw bytes).
    String(Bytes),
    /// `B` or `B!`: bytes key.
    Bytes(Bytes),
}

/// One record: its header lines and bins (format §1.6).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// `+ k`: the stored user key, if the backup had one.
    pub key: Option<Key>,
    /// `+ n`: namespace (unescaped).
    pub namespace: Bytes,
    /// `+ d`: the 20-byte RIPEMD-160 digest.
    pub digest: [u8; 20],
    /// `+ s`: set name (unescaped); `None` when the line is absent.
    pub set: Option<Bytes>,
    /// `+ g`: generation, 0..=65535.
    pub generation: u16,
    /// `+ t`: void time in seconds since 2010-01-01T00:00:00Z; 0 = never expires.
    pub void_time: u32,
    /// The bins in file order (duplicates kept; last wins on write).
    pub bins: Vec<Bin>,
}

/// Secondary-index type letter of a `* i` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IndexType {
    /// `N`: plain bin index.
    Default,
    /// `L`: list elements.
    List,
    /// `K`: map keys.
    MapKeys,
    /// `V`: map values.
    MapValues,
}

/// Path (bin) type letter of a `* i` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PathType {
    /// `S`: string.
    String,
    /// `N`: numeric.
    Numeric,
    /// `G`: geo2dsphere.
    Geo2dSphere,
    /// `B`: blob.
    Blob,
}

/// One path spec of a secondary index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexPath {
    /// Bin name the index is on (unescaped).
    pub bin: Bytes,
    /// Value type indexed.
    pub path_type: PathType,
}

/// A `* i` (or, behind an option, backup-go's `* e`) line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondaryIndex {
    /// Namespace (unescaped).
    pub namespace: Bytes,
    /// Set name; empty = the whole namespace.
    pub set: Bytes,
    /// Index name.
    pub name: Bytes,
    /// Index type.
    pub index_type: IndexType,
    /// Path specs (asbackup writes exactly one).
    pub paths: Vec<IndexPath>,
    /// Base64 text of the msgpack CDT context (or, for `* e`, the expression), if any.
    pub context: Option<Bytes>,
    /// `true` for a backup-go `* e` expression index.
    pub expression: bool,
}

/// A `* u` line: a UDF module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Udf {
    /// Module file name, e.g. `example.lua` (unescaped).
    pub name: Bytes,
    /// The module source, verbatim.
    pub content: Bytes,
}

/// A global (`*`) item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GlobalItem {
    /// Secondary index definition.
    Index(SecondaryIndex),
    /// UDF module.
    Udf(Udf),
}

/// One item produced by the parser, in file order.
#[derive(Debug, Clone, PartialEq)]
pub enum Entity {
    /// The `Version` line.
    Header(Version),
    /// A `#` meta-data line.
    Meta(MetaLine),
    /// A `*` global line.
    Global(GlobalItem),
    /// A complete record.
    Record(Record),
}
