//! [`Record`]: one backed-up record, stored compactly.
//!
//! A record owns two buffers: `text`, a zero-copy [`Bytes`] slice of the
//! parser's input covering the record's lines, and `decoded`, the base64
//! payloads and unescaped names decoded once. The key, namespace, set and
//! bins are small spans (offset and length) into those buffers, and the accessors hand out
//! borrowed views ([`Key`], [`Bin`], [`Value`]).
//!
//! This costs one reference-count increment and at most two allocations per
//! record however many bins it has, instead of a reference-counted handle per
//! name and value: the parser's hot path and the consumer's drop stay cheap.

use std::fmt;

use bytes::Bytes;

use crate::{Bin, BytesType, Key, Value};

/// Largest record (its text, or its decoded payloads) a span can address.
pub(crate) const MAX_RECORD: usize = (1 << 31) - 1;

/// Marks a span into `decoded` rather than `text`.
const DECODED: u32 = 1 << 31;

/// A byte range of one of the record's buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    /// Start; the top bit selects `decoded`.
    start: u32,
    len: u32,
}

impl Span {
    /// The empty span.
    pub(crate) const EMPTY: Span = Span { start: 0, len: 0 };

    /// `len` bytes at `start` of the text. Callers check that the record's
    /// buffers stay within [`MAX_RECORD`] before they build it.
    #[inline]
    pub(crate) fn text(start: usize, len: usize) -> Span {
        Span {
            start: start as u32,
            len: len as u32,
        }
    }

    /// `len` bytes at `start` of the decoded buffer.
    #[inline]
    pub(crate) fn decoded(start: usize, len: usize) -> Span {
        Span {
            start: start as u32 | DECODED,
            len: len as u32,
        }
    }
}

/// How a key is stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum KeySlot {
    Int(i64),
    Float(f64),
    String(Span),
    Bytes(Span),
}

/// A value as the grammar hands it over.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ValueSlot {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(Span),
    GeoJson(Span),
    Bytes(BytesType, Span),
}

/// Which [`ValueSlot`] a [`BinSlot`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Kind {
    Nil,
    Bool,
    Int,
    Float,
    String,
    GeoJson,
    Bytes,
}

/// How a bin is stored: flat and naturally aligned (24 bytes), so that pushing one is three
/// plain stores rather than a copy of an enum with an odd layout.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BinSlot {
    name: Span,
    /// The number's bits, or the span as `start << 32 | len`.
    payload: u64,
    kind: Kind,
    /// Meaningful for [`Kind::Bytes`] only.
    bytes_type: BytesType,
}

impl Span {
    #[inline]
    fn to_bits(self) -> u64 {
        u64::from(self.start) << 32 | u64::from(self.len)
    }

    #[inline]
    fn from_bits(b: u64) -> Span {
        Span {
            start: (b >> 32) as u32,
            len: b as u32,
        }
    }
}

impl BinSlot {
    /// A bin from its name and value.
    #[inline(always)]
    pub(crate) fn new(name: Span, value: ValueSlot) -> BinSlot {
        let (kind, payload, bytes_type) = match value {
            ValueSlot::Nil => (Kind::Nil, 0, BytesType::Blob),
            ValueSlot::Bool(v) => (Kind::Bool, u64::from(v), BytesType::Blob),
            ValueSlot::Int(v) => (Kind::Int, v as u64, BytesType::Blob),
            ValueSlot::Float(v) => (Kind::Float, v.to_bits(), BytesType::Blob),
            ValueSlot::String(s) => (Kind::String, s.to_bits(), BytesType::Blob),
            ValueSlot::GeoJson(s) => (Kind::GeoJson, s.to_bits(), BytesType::Blob),
            ValueSlot::Bytes(t, s) => (Kind::Bytes, s.to_bits(), t),
        };
        BinSlot {
            name,
            payload,
            kind,
            bytes_type,
        }
    }

    /// The value stored.
    #[inline]
    fn value(&self) -> ValueSlot {
        let p = self.payload;
        match self.kind {
            Kind::Nil => ValueSlot::Nil,
            Kind::Bool => ValueSlot::Bool(p != 0),
            Kind::Int => ValueSlot::Int(p as i64),
            Kind::Float => ValueSlot::Float(f64::from_bits(p)),
            Kind::String => ValueSlot::String(Span::from_bits(p)),
            Kind::GeoJson => ValueSlot::GeoJson(Span::from_bits(p)),
            Kind::Bytes => ValueSlot::Bytes(self.bytes_type, Span::from_bits(p)),
        }
    }
}

/// The two buffers spans point into.
#[derive(Clone, Default)]
struct Buffers {
    text: Bytes,
    decoded: Vec<u8>,
}

impl Buffers {
    #[inline]
    fn get(&self, s: Span) -> &[u8] {
        let (buf, start) = if s.start & DECODED != 0 {
            (&self.decoded[..], (s.start & !DECODED) as usize)
        } else {
            (&self.text[..], s.start as usize)
        };
        // Spans are built by this crate inside their buffer.
        buf.get(start..start + s.len as usize).unwrap_or_default()
    }

    fn key(&self, k: &KeySlot) -> Key<'_> {
        match *k {
            KeySlot::Int(v) => Key::Int(v),
            KeySlot::Float(v) => Key::Float(v),
            KeySlot::String(s) => Key::String(self.get(s)),
            KeySlot::Bytes(s) => Key::Bytes(self.get(s)),
        }
    }

    #[inline]
    fn bin(&self, b: &BinSlot) -> Bin<'_> {
        let value = match b.value() {
            ValueSlot::Nil => Value::Nil,
            ValueSlot::Bool(v) => Value::Bool(v),
            ValueSlot::Int(v) => Value::Int(v),
            ValueSlot::Float(v) => Value::Float(v),
            ValueSlot::String(s) => Value::String(self.get(s)),
            ValueSlot::GeoJson(s) => Value::GeoJson(self.get(s)),
            ValueSlot::Bytes(t, s) => Value::Bytes(t, self.get(s)),
        };
        Bin {
            name: self.get(b.name),
            value,
        }
    }
}

/// One record: its header lines and bins (format §1.6).
///
/// Build one with [`Record::builder`]; the parser produces them directly.
/// Equality compares contents, not how they are stored.
#[derive(Clone)]
pub struct Record {
    /// `+ d`: the 20-byte RIPEMD-160 digest.
    pub digest: [u8; 20],
    /// `+ g`: generation, 0..=65535.
    pub generation: u16,
    /// `+ t`: void time in seconds since 2010-01-01T00:00:00Z; 0 = never expires.
    pub void_time: u32,
    buffers: Buffers,
    key: Option<KeySlot>,
    namespace: Span,
    set: Option<Span>,
    bins: Vec<BinSlot>,
}

/// The parts the grammar assembles a record from.
pub(crate) struct RecordParts {
    pub(crate) text: Bytes,
    pub(crate) decoded: Vec<u8>,
    pub(crate) key: Option<KeySlot>,
    pub(crate) namespace: Span,
    pub(crate) set: Option<Span>,
    pub(crate) digest: [u8; 20],
    pub(crate) generation: u16,
    pub(crate) void_time: u32,
    pub(crate) bins: Vec<BinSlot>,
}

impl Record {
    /// Assembles a parsed record (spans already checked against the buffers).
    pub(crate) fn from_parts(p: RecordParts) -> Self {
        Self {
            digest: p.digest,
            generation: p.generation,
            void_time: p.void_time,
            buffers: Buffers {
                text: p.text,
                decoded: p.decoded,
            },
            key: p.key,
            namespace: p.namespace,
            set: p.set,
            bins: p.bins,
        }
    }

    /// A builder for a record in namespace `namespace` with digest `digest`
    /// (generation 1, never expires, no key, set or bins until added).
    pub fn builder(namespace: impl AsRef<[u8]>, digest: [u8; 20]) -> RecordBuilder {
        let mut b = RecordBuilder {
            rec: Record {
                digest,
                generation: 1,
                void_time: 0,
                buffers: Buffers::default(),
                key: None,
                namespace: Span::EMPTY,
                set: None,
                bins: Vec::new(),
            },
        };
        b.rec.namespace = b.push(namespace.as_ref());
        b
    }

    /// `+ k`: the stored user key, if the backup had one.
    pub fn key(&self) -> Option<Key<'_>> {
        self.key.as_ref().map(|k| self.buffers.key(k))
    }

    /// `+ n`: namespace (unescaped).
    #[inline]
    pub fn namespace(&self) -> &[u8] {
        self.buffers.get(self.namespace)
    }

    /// `+ s`: set name (unescaped); `None` when the line is absent.
    #[inline]
    pub fn set(&self) -> Option<&[u8]> {
        self.set.map(|s| self.buffers.get(s))
    }

    /// Number of bins.
    #[inline]
    pub fn bin_count(&self) -> usize {
        self.bins.len()
    }

    /// The `i`-th bin in file order.
    pub fn bin(&self, i: usize) -> Option<Bin<'_>> {
        self.bins.get(i).map(|b| self.buffers.bin(b))
    }

    /// The bins in file order (duplicates kept; last wins on write).
    pub fn bins(&self) -> Bins<'_> {
        Bins {
            buffers: &self.buffers,
            slots: self.bins.iter(),
        }
    }

    /// Bytes of memory this record keeps alive beyond its own struct: its slice of the
    /// input text, its decoded (base64) values and its bin table. A bound for buffering
    /// records by memory rather than by count.
    pub fn heap_size(&self) -> usize {
        self.buffers.text.len()
            + self.buffers.decoded.capacity()
            + self.bins.capacity() * std::mem::size_of::<BinSlot>()
    }

    /// Keeps only the bins for which `keep` returns `true`, in order.
    pub fn retain_bins(&mut self, mut keep: impl FnMut(&Bin<'_>) -> bool) {
        let buffers = &self.buffers;
        self.bins.retain(|b| keep(&buffers.bin(b)));
    }
}

impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.digest == other.digest
            && self.generation == other.generation
            && self.void_time == other.void_time
            && self.key() == other.key()
            && self.namespace() == other.namespace()
            && self.set() == other.set()
            && self.bins().eq(other.bins())
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("key", &self.key())
            .field("namespace", &self.namespace().escape_ascii().to_string())
            .field("digest", &self.digest)
            .field("set", &self.set().map(|s| s.escape_ascii().to_string()))
            .field("generation", &self.generation)
            .field("void_time", &self.void_time)
            .field("bins", &self.bins().collect::<Vec<_>>())
            .finish()
    }
}

/// Iterator over a record's bins, from [`Record::bins`].
#[derive(Clone)]
pub struct Bins<'a> {
    buffers: &'a Buffers,
    slots: std::slice::Iter<'a, BinSlot>,
}

impl<'a> Iterator for Bins<'a> {
    type Item = Bin<'a>;

    #[inline]
    fn next(&mut self) -> Option<Bin<'a>> {
        self.slots.next().map(|b| self.buffers.bin(b))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.slots.size_hint()
    }
}

impl ExactSizeIterator for Bins<'_> {}

impl<'a> DoubleEndedIterator for Bins<'a> {
    fn next_back(&mut self) -> Option<Bin<'a>> {
        self.slots.next_back().map(|b| self.buffers.bin(b))
    }
}

/// Builds a [`Record`] from borrowed parts, copying them into one buffer.
///
/// ```
/// use asb_format::{Bin, Key, Record, Value};
/// let rec = Record::builder("test", [7; 20])
///     .key(Key::String(b"user-1"))
///     .set("users")
///     .generation(3)
///     .bin("age", Value::Int(42))
///     .build();
/// assert_eq!(rec.set(), Some(&b"users"[..]));
/// assert_eq!(rec.bin(0), Some(Bin::new("age", Value::Int(42))));
/// ```
#[derive(Debug, Clone)]
pub struct RecordBuilder {
    rec: Record,
}

impl RecordBuilder {
    fn push(&mut self, b: &[u8]) -> Span {
        let d = &mut self.rec.buffers.decoded;
        let start = d.len();
        d.extend_from_slice(b);
        Span::decoded(start, b.len())
    }

    /// Sets the user key.
    pub fn key(mut self, key: Key<'_>) -> Self {
        self.rec.key = Some(match key {
            Key::Int(v) => KeySlot::Int(v),
            Key::Float(v) => KeySlot::Float(v),
            Key::String(s) => KeySlot::String(self.push(s)),
            Key::Bytes(s) => KeySlot::Bytes(self.push(s)),
        });
        self
    }

    /// Sets the set name.
    pub fn set(mut self, set: impl AsRef<[u8]>) -> Self {
        self.rec.set = Some(self.push(set.as_ref()));
        self
    }

    /// Sets the generation.
    pub fn generation(mut self, generation: u16) -> Self {
        self.rec.generation = generation;
        self
    }

    /// Sets the void time.
    pub fn void_time(mut self, void_time: u32) -> Self {
        self.rec.void_time = void_time;
        self
    }

    /// Appends a bin.
    pub fn bin(mut self, name: impl AsRef<[u8]>, value: Value<'_>) -> Self {
        let name = self.push(name.as_ref());
        let value = match value {
            Value::Nil => ValueSlot::Nil,
            Value::Bool(v) => ValueSlot::Bool(v),
            Value::Int(v) => ValueSlot::Int(v),
            Value::Float(v) => ValueSlot::Float(v),
            Value::String(s) => ValueSlot::String(self.push(s)),
            Value::GeoJson(s) => ValueSlot::GeoJson(self.push(s)),
            Value::Bytes(t, s) => ValueSlot::Bytes(t, self.push(s)),
        };
        self.rec.bins.push(BinSlot::new(name, value));
        self
    }

    /// Appends bins.
    pub fn bins<'a>(mut self, bins: impl IntoIterator<Item = Bin<'a>>) -> Self {
        for b in bins {
            self = self.bin(b.name, b.value);
        }
        self
    }

    /// The record.
    ///
    /// # Panics
    ///
    /// If the parts add up to more than 2 GiB, which no Aerospike record comes near.
    pub fn build(self) -> Record {
        assert!(
            self.rec.buffers.decoded.len() <= MAX_RECORD,
            "record larger than 2 GiB"
        );
        self.rec
    }
}
