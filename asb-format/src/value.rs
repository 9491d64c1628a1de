//! The decoded contents of an `.asb` file: records, keys, bins, values and global items.
//!
//! A [`Record`](crate::Record) keeps its bytes in two buffers (see
//! [`crate::record`]); its keys, bins and values are views borrowed from it.
//! Global items and meta lines are rare and hold [`Bytes`] directly: slices of
//! the parser's input where no decoding was needed, fresh buffers otherwise.

use std::fmt;

use bytes::Bytes;

use crate::Record;

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

/// A bin value (format §1.8), borrowed from its [`Record`](crate::Record).
#[derive(Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// `N`: nil, i.e. delete this bin on write.
    Nil,
    /// `Z`: boolean (particle 17).
    Bool(bool),
    /// `I`: 64-bit integer (particle 1).
    Int(i64),
    /// `D`: double (particle 2). NaN payloads are kept as parsed.
    Float(f64),
    /// `S` or `X`: string (particle 3); raw bytes, not necessarily UTF-8.
    String(&'a [u8]),
    /// `G`: GeoJSON text (particle 23).
    GeoJson(&'a [u8]),
    /// `B J C P R H E Y M L`: opaque bytes with their particle type; lists and
    /// maps are the server's msgpack bytes, never re-encoded.
    Bytes(BytesType, &'a [u8]),
}

impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("Nil"),
            Value::Bool(v) => write!(f, "Bool({v})"),
            Value::Int(v) => write!(f, "Int({v})"),
            Value::Float(v) => write!(f, "Float({v:?})"),
            Value::String(s) => write!(f, "String(b\"{}\")", s.escape_ascii()),
            Value::GeoJson(s) => write!(f, "GeoJson(b\"{}\")", s.escape_ascii()),
            Value::Bytes(t, s) => write!(f, "Bytes({t:?}, b\"{}\")", s.escape_ascii()),
        }
    }
}

/// One `-` bin line, borrowed from its [`Record`](crate::Record).
#[derive(Clone, Copy, PartialEq)]
pub struct Bin<'a> {
    /// Bin name, unescaped (raw bytes).
    pub name: &'a [u8],
    /// Bin value.
    pub value: Value<'a>,
}

impl<'a> Bin<'a> {
    /// A bin from its name and value.
    pub fn new(name: &'a (impl AsRef<[u8]> + ?Sized), value: Value<'a>) -> Self {
        Self {
            name: name.as_ref(),
            value,
        }
    }
}

impl fmt::Debug for Bin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Bin(b\"{}\", {:?})",
            self.name.escape_ascii(),
            self.value
        )
    }
}

/// A `+ k` user key (format §1.7), borrowed from its [`Record`](crate::Record).
#[derive(Clone, Copy, PartialEq)]
pub enum Key<'a> {
    /// `I`: integer key.
    Int(i64),
    /// `D`: double key.
    Float(f64),
    /// `S` or `X`: string key (raw bytes).
    String(&'a [u8]),
    /// `B` or `B!`: bytes key.
    Bytes(&'a [u8]),
}

impl fmt::Debug for Key<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Int(v) => write!(f, "Int({v})"),
            Key::Float(v) => write!(f, "Float({v:?})"),
            Key::String(s) => write!(f, "String(b\"{}\")", s.escape_ascii()),
            Key::Bytes(s) => write!(f, "Bytes(b\"{}\")", s.escape_ascii()),
        }
    }
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
    /// A complete record (boxed: entities move through several hands, records are large).
    Record(Box<Record>),
}
