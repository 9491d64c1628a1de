//! The entity grammar (format §7): header, meta lines, global lines and
//! records, as nom parsers over one contiguous buffer.
//!
//! Parsers take the [`Cx`] (the buffer as [`Bytes`], for zero-copy slices,
//! and the file's version) and the unparsed input.

use std::borrow::Cow;

use bytes::Bytes;
use nom::Parser as _;
use nom::sequence::preceded;

use crate::lex::{
    Delim, In, MAX_TOKEN, Res, any_byte, b64_into, bad, byte, digest, float_lf, incomplete, int_lf,
    lit, name, ranged_lf, raw, size, unexpected, until_lf,
};
use crate::record::{BinSlot, KeySlot, MAX_RECORD, RecordParts, Span, ValueSlot};
use crate::{
    BytesType, Entity, ErrorKind, GlobalItem, IndexPath, IndexType, MetaLine, PathType, Record,
    SecondaryIndex, Udf, Version,
};

/// Longest record namespace (`+ n`).
const MAX_NAMESPACE: usize = 31;
/// Longest set name (`+ s`).
const MAX_SET: usize = 63;
/// Longest bin name the Aerospike client accepts.
pub(crate) const MAX_BIN_NAME: usize = 15;

/// Parsing context: the buffer the input slices point into, and the settings.
pub(crate) struct Cx<'a> {
    /// The buffer that holds the input.
    pub src: &'a Bytes,
    /// Format 3.0: no unescaping, no global lines.
    pub legacy: bool,
    /// Accept `* e` lines (the header said 3.2).
    pub expressions: bool,
    /// Longest accepted bin name.
    pub max_bin_name: usize,
}

impl Cx<'_> {
    /// `s` (a slice of the input, or an owned unescaped copy) as `Bytes`.
    #[inline]
    fn bytes(&self, s: Cow<'_, [u8]>) -> Bytes {
        match s {
            Cow::Borrowed(b) => self.slice(b),
            Cow::Owned(v) => Bytes::from(v),
        }
    }

    /// A slice of the input as `Bytes`, without copying.
    #[inline]
    fn slice(&self, b: &[u8]) -> Bytes {
        if b.is_empty() {
            Bytes::new()
        } else {
            self.src.slice_ref(b)
        }
    }
}

/// `Version 3.x` LF.
pub(crate) fn header(i: In<'_>, allow_v3_2: bool) -> Res<'_, Version> {
    let (rest, ()) = lit(b"Version 3.", "header \"Version 3.0\" or \"Version 3.1\"")(i)?;
    let (after, minor) = any_byte("version number")(rest)?;
    let v = match minor {
        b'0' => Version::V3_0,
        b'1' => Version::V3_1,
        b'2' if allow_v3_2 => Version::V3_2,
        _ => return unexpected(i, "header \"Version 3.0\" or \"Version 3.1\""),
    };
    let (after, ()) = byte(b'\n', "LF after version")(after)?;
    Ok((after, v))
}

/// A `#` meta line.
pub(crate) fn meta<'a>(cx: &Cx<'_>, i: In<'a>) -> Res<'a, MetaLine> {
    let (rest, ()) = lit(b"# ", "\"# \" at start of meta line")(i)?;
    let (after, body) = until_lf(rest, MAX_TOKEN, "meta line")?;
    let after = &after[1..];
    if body == b"first-file" {
        return Ok((after, MetaLine::FirstFile));
    }
    if let Some(ns) = body.strip_prefix(b"namespace ") {
        let ns = if cx.legacy {
            Cow::Borrowed(ns)
        } else {
            unescape(ns)
        };
        return Ok((after, MetaLine::Namespace(cx.bytes(ns))));
    }
    unexpected(rest, "\"namespace <ns>\" or \"first-file\" in meta line")
}

/// Unescapes a complete token (backslash makes the next byte literal).
fn unescape(s: &[u8]) -> Cow<'_, [u8]> {
    if memchr::memchr(b'\\', s).is_none() {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len());
    let mut it = s.iter();
    while let Some(&c) = it.next() {
        if c == b'\\' {
            if let Some(&n) = it.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A global (`*`), record (`+`) entity.
#[inline]
pub(crate) fn entity<'a>(cx: &Cx<'_>, i: In<'a>) -> Res<'a, Entity> {
    match i.first() {
        Some(b'+') => record(cx, i).map(|(r, rec)| (r, Entity::Record(rec))),
        Some(b'*') if !cx.legacy => global(cx, i).map(|(r, g)| (r, Entity::Global(g))),
        Some(_) if cx.legacy => unexpected(i, "'+' at start of record (format 3.0)"),
        Some(_) => unexpected(i, "'*' or '+' at start of entity"),
        None => incomplete(i, "entity", 1),
    }
}

/// `* i`, `* u` (and `* e` behind the 3.2 option) lines.
fn global<'a>(cx: &Cx<'_>, i: In<'a>) -> Res<'a, GlobalItem> {
    let (rest, ()) = lit(b"* ", "\"* \"")(i)?;
    let (after, kind) = any_byte("global line type")(rest)?;
    match kind {
        b'i' => index(cx, after, false),
        b'e' if cx.expressions => index(cx, after, true),
        b'u' => udf(cx, after),
        _ => unexpected(rest, "global line type 'i' or 'u'"),
    }
}

/// An escaped token delimited by SP, then the SP.
fn sp_token<'a>(cx: &Cx<'_>, i: In<'a>, what: &'static str) -> Res<'a, Bytes> {
    let (rest, t) = name(i, Delim::Space, cx.legacy, MAX_TOKEN, what)?;
    let (rest, ()) = byte(b' ', "SP after token")(rest)?;
    Ok((rest, cx.bytes(t)))
}

/// The rest of a `* i` / `* e` line after the type letter.
fn index<'a>(cx: &Cx<'_>, i: In<'a>, expression: bool) -> Res<'a, GlobalItem> {
    let (i, ()) = byte(b' ', "SP after global line type")(i)?;
    let (i, namespace) = sp_token(cx, i, "index namespace")?;
    let (i, set) = sp_token(cx, i, "index set")?;
    let (i, idx_name) = sp_token(cx, i, "index name")?;
    let (rest, t) = any_byte("index type")(i)?;
    let index_type = match t {
        b'N' => IndexType::Default,
        b'L' => IndexType::List,
        b'K' => IndexType::MapKeys,
        b'V' => IndexType::MapValues,
        _ => return unexpected(i, "index type N, L, K or V"),
    };
    let (rest, ()) = byte(b' ', "SP after index type")(rest)?;
    let (after, npaths) = size(rest, "index path count")?;
    if npaths != 1 {
        return bad(
            rest,
            ErrorKind::OutOfRange {
                what: "index path count (only 1 is supported)",
                value: npaths.to_string(),
            },
        );
    }
    let (i, bin) = sp_token(cx, after, "index path")?;
    let (rest, t) = any_byte("index path type")(i)?;
    let path_type = match t {
        b'S' => PathType::String,
        b'N' => PathType::Numeric,
        b'G' => PathType::Geo2dSphere,
        b'B' => PathType::Blob,
        _ => return unexpected(i, "index path type S, N, G or B"),
    };
    let after_type = rest;
    let (rest, sep) = any_byte("LF or SP after index path type")(rest)?;
    let (rest, context) = match sep {
        b'\n' => (rest, None),
        b' ' => {
            let (r, ctx) = name(rest, Delim::Lf, cx.legacy, MAX_TOKEN, "index context")?;
            let (r, ()) = byte(b'\n', "LF after index context")(r)?;
            (r, (!ctx.is_empty()).then(|| cx.bytes(ctx)))
        }
        _ => return unexpected(after_type, "LF or SP after index path type"),
    };
    Ok((
        rest,
        GlobalItem::Index(SecondaryIndex {
            namespace,
            set,
            name: idx_name,
            index_type,
            paths: vec![IndexPath { bin, path_type }],
            context,
            expression,
        }),
    ))
}

/// The rest of a `* u` line after the `u`.
fn udf<'a>(cx: &Cx<'_>, i: In<'a>) -> Res<'a, GlobalItem> {
    let (i, ()) = lit(b" L ", "\" L \" (Lua UDF)")(i)?;
    let (i, name) = sp_token(cx, i, "UDF name")?;
    let (_, len) = size(i, "UDF length")?;
    if len > u64::from(u32::MAX) {
        return bad(
            i,
            ErrorKind::OutOfRange {
                what: "UDF length",
                value: len.to_string(),
            },
        );
    }
    let (rest, content) = raw(i, "UDF content")?;
    let content = cx.slice(content);
    Ok((rest, GlobalItem::Udf(Udf { name, content })))
}

/// First capacity of a record's decoded buffer.
const DECODED_START: usize = 256;

/// Where a record's spans point: offsets from the record's first byte, or
/// into the buffer of decoded payloads.
struct RecCx {
    /// Address of the record's first byte.
    base: usize,
    /// Base64 payloads and unescaped names.
    decoded: Vec<u8>,
}

impl RecCx {
    /// A span of the record's text (`s` is a slice of it).
    #[inline]
    fn text(&self, s: &[u8]) -> Span {
        Span::text(s.as_ptr() as usize - self.base, s.len())
    }

    /// A name: a span of the text, or of its unescaped copy.
    #[inline]
    fn name(&mut self, s: Cow<'_, [u8]>) -> Span {
        match s {
            Cow::Borrowed(b) => self.text(b),
            Cow::Owned(v) => {
                let start = self.decoded.len();
                self.decoded.extend_from_slice(&v);
                Span::decoded(start, v.len())
            }
        }
    }

    /// `size SP` base64 LF, decoded into the decoded buffer.
    #[inline]
    fn b64<'a>(&mut self, i: In<'a>, what: &'static str) -> Res<'a, Span> {
        if self.decoded.capacity() == 0 {
            // Records with payloads usually have several: one allocation for all of them.
            self.decoded.reserve(DECODED_START);
        }
        let start = self.decoded.len();
        let (rest, len) = b64_into(i, what, &mut self.decoded)?;
        Ok((rest, Span::decoded(start, len)))
    }
}

/// One record: header lines `k n d s g t b` and its bins.
#[inline]
fn record<'a>(cx: &Cx<'_>, i: In<'a>) -> Res<'a, Box<Record>> {
    let start = i;
    let mut rc = RecCx {
        base: i.as_ptr() as usize,
        decoded: Vec::new(),
    };
    let (line_type, ()) = lit(b"+ ", "\"+ \"")(i)?;
    let (mut i, letter) = any_byte("record line type")(line_type)?;
    let mut key = None;
    if letter == b'k' {
        let (r, ()) = byte(b' ', "SP after \"+ k\"")(i)?;
        let (r, k) = key_value(&mut rc, r)?;
        let (r, ()) = lit(b"+ n", "\"+ n\" line after key")(r)?;
        key = Some(k);
        i = r;
    } else if letter != b'n' {
        return unexpected(line_type, "\"+ k\" or \"+ n\" line");
    }
    let (i, ()) = byte(b' ', "SP after \"+ n\"")(i)?;
    let (i, ns) = name(i, Delim::Lf, cx.legacy, MAX_NAMESPACE, "namespace")?;
    let namespace = rc.name(ns);
    let (i, digest) = preceded(lit(b"\n+ d ", "LF then \"+ d \" line"), digest).parse(i)?;
    let (i, ()) = lit(b"\n+ ", "LF then \"+ s\" or \"+ g\" line")(i)?;
    let (i, set) = match i.first() {
        Some(b's') => {
            let (r, ()) = lit(b"s ", "\"s \"")(i)?;
            let (r, s) = name(r, Delim::Lf, cx.legacy, MAX_SET, "set name")?;
            let (r, ()) = lit(b"\n+ g", "LF then \"+ g\" line")(r)?;
            (r, Some(rc.name(s)))
        }
        Some(b'g') => (&i[1..], None),
        Some(_) => return unexpected(i, "\"+ s\" or \"+ g\" line"),
        None => return incomplete(i, "\"+ g\" line", 1),
    };
    let (i, generation) = preceded(byte(b' ', "SP after \"+ g\""), |i| {
        ranged_lf(i, "generation", 0, 65535)
    })
    .parse(i)?;
    let (i, void_time) = preceded(lit(b"+ t ", "\"+ t \" line"), |i| {
        ranged_lf(i, "void time", 0, i64::from(u32::MAX))
    })
    .parse(i)?;
    let (mut i, count) = preceded(lit(b"+ b ", "\"+ b \" line"), |i| {
        ranged_lf(i, "bin count", 0, 65535)
    })
    .parse(i)?;
    // Never trust the count for an allocation: each bin line takes >= 6 bytes.
    let mut bins = Vec::with_capacity((count as usize).min(i.len() / 6 + 1));
    for _ in 0..count {
        i = bin(cx, &mut rc, i, &mut bins)?.0;
    }
    let used = start.len() - i.len();
    if used > MAX_RECORD || rc.decoded.len() > MAX_RECORD {
        return bad(
            start,
            ErrorKind::TooLong {
                what: "record",
                max: MAX_RECORD,
            },
        );
    }
    let record = Box::new(Record::from_parts(RecordParts {
        text: cx.slice(&start[..used]),
        decoded: rc.decoded,
        key,
        namespace,
        set,
        digest,
        generation: generation as u16,
        void_time: void_time as u32,
        bins,
    }));
    Ok((i, record))
}

/// The value of a `+ k` line after `+ k SP`, including the LF.
fn key_value<'a>(rc: &mut RecCx, i: In<'a>) -> Res<'a, KeySlot> {
    let (rest, t) = any_byte("key type")(i)?;
    let (rest, compact) = match (t, rest.first()) {
        (b'B', Some(b'!')) => (&rest[1..], true),
        _ => (rest, false),
    };
    let sp = match (t, compact) {
        (b'B', true) => "SP after \"B!\"",
        (b'B', false) => "SP or '!' after key type",
        _ => "SP after key type",
    };
    let (rest, ()) = match t {
        b'I' | b'D' | b'S' | b'X' | b'B' => byte(b' ', sp)(rest)?,
        _ => return unexpected(i, "key type I, D, S, X or B"),
    };
    match t {
        b'I' => int_lf(rest, "integer key").map(|(r, v)| (r, KeySlot::Int(v))),
        b'D' => float_lf(rest, "double key").map(|(r, v)| (r, KeySlot::Float(v))),
        b'S' => raw(rest, "string key").map(|(r, s)| (r, KeySlot::String(rc.text(s)))),
        b'X' => rc
            .b64(rest, "base64 string key")
            .map(|(r, s)| (r, KeySlot::String(s))),
        _ if compact => raw(rest, "bytes key").map(|(r, s)| (r, KeySlot::Bytes(rc.text(s)))),
        _ => rc
            .b64(rest, "base64 bytes key")
            .map(|(r, s)| (r, KeySlot::Bytes(s))),
    }
}

/// The particle type of a bytes-family bin letter.
fn bytes_type(letter: u8) -> Option<BytesType> {
    Some(match letter {
        b'B' => BytesType::Blob,
        b'J' => BytesType::Java,
        b'C' => BytesType::CSharp,
        b'P' => BytesType::Python,
        b'R' => BytesType::Ruby,
        b'H' => BytesType::Php,
        b'E' => BytesType::Erlang,
        b'Y' => BytesType::Hll,
        b'M' => BytesType::Map,
        b'L' => BytesType::List,
        _ => return None,
    })
}

/// One `-` bin line, appended to `bins`.
#[inline]
fn bin<'a>(cx: &Cx<'_>, rc: &mut RecCx, i: In<'a>, bins: &mut Vec<BinSlot>) -> Res<'a, ()> {
    let (rest, ()) = lit(b"- ", "\"- \" (bin line)")(i)?;
    let (mut r, letter) = any_byte("bin type")(rest)?;
    match letter {
        b'N' | b'Z' | b'I' | b'D' | b'S' | b'X' | b'G' => {}
        b'U' => return bad(rest, ErrorKind::Ldt),
        l if bytes_type(l).is_some() => {}
        _ => {
            return unexpected(
                rest,
                "bin type N, Z, I, D, S, X, G, B, J, C, P, R, H, E, Y, M or L",
            );
        }
    }
    let compact = r.first() == Some(&b'!');
    if compact {
        r = &r[1..];
    }
    let (r, ()) = byte(b' ', "SP after bin type")(r)?;
    let name_at = r;
    let (r, nm) = name(r, Delim::SpaceOrLf, cx.legacy, MAX_TOKEN, "bin name")?;
    if nm.len() > cx.max_bin_name {
        return bad(
            name_at,
            ErrorKind::TooLong {
                what: "bin name",
                max: cx.max_bin_name,
            },
        );
    }
    let name = rc.name(nm);
    if letter == b'N' {
        let (r, ()) = byte(b'\n', "LF after nil bin name")(r)?;
        bins.push(BinSlot::new(name, ValueSlot::Nil));
        return Ok((r, ()));
    }
    let (r, ()) = byte(b' ', "SP after bin name")(r)?;
    let (r, value) = match letter {
        b'Z' => {
            let (r2, v) = any_byte("T or F")(r)?;
            let v = match v {
                b'T' => true,
                b'F' => false,
                _ => return unexpected(r, "T or F"),
            };
            let (r2, ()) = byte(b'\n', "LF after boolean")(r2)?;
            (r2, ValueSlot::Bool(v))
        }
        b'I' => int_lf(r, "integer").map(|(r, v)| (r, ValueSlot::Int(v)))?,
        b'D' => float_lf(r, "double").map(|(r, v)| (r, ValueSlot::Float(v)))?,
        b'S' => raw(r, "string").map(|(r, v)| (r, ValueSlot::String(rc.text(v))))?,
        b'G' => raw(r, "GeoJSON").map(|(r, v)| (r, ValueSlot::GeoJson(rc.text(v))))?,
        b'X' => rc
            .b64(r, "base64 string")
            .map(|(r, v)| (r, ValueSlot::String(v)))?,
        l => {
            // Checked above: a bytes-family letter.
            let Some(t) = bytes_type(l) else {
                return unexpected(rest, "bin type");
            };
            if compact {
                raw(r, "bytes").map(|(r, v)| (r, ValueSlot::Bytes(t, rc.text(v))))?
            } else {
                rc.b64(r, "base64 bytes")
                    .map(|(r, v)| (r, ValueSlot::Bytes(t, v)))?
            }
        }
    };
    bins.push(BinSlot::new(name, value));
    Ok((r, ()))
}
