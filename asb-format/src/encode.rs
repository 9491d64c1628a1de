//! An encoder that writes entities exactly as asbackup does (format §1.13):
//! the same line order, `%.17g` doubles, base64 payloads (or raw bytes with
//! the compact option) and backslash-escaped names.
//!
//! ```
//! use asb_format::encode::{EncodeOptions, Encoder};
//! use asb_format::{Record, Value};
//! let rec = Record::builder("test", [0; 20]).bin("n", Value::Float(0.1)).build();
//! let mut out = Vec::new();
//! Encoder::new(EncodeOptions::default()).record(&mut out, &rec);
//! assert!(out.ends_with(b"+ b 1\n- D n 0.10000000000000001\n"));
//! ```

use base64::Engine as _;

use crate::b64::engine as b64_engine;
use crate::{
    Entity, GlobalItem, IndexType, Key, MetaLine, PathType, Record, SecondaryIndex, Udf, Value,
    Version,
};

/// Encoder settings.
#[derive(Debug, Clone, Copy)]
pub struct EncodeOptions {
    /// The file's format version: 3.0 writes names without escaping.
    pub version: Version,
    /// asbackup's `--compact`: bytes-family bins and bytes keys as raw bytes
    /// (`B!`) instead of base64.
    pub compact: bool,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        Self {
            version: Version::V3_1,
            compact: false,
        }
    }
}

/// Writes entities into a byte buffer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Encoder {
    opts: EncodeOptions,
}

impl Encoder {
    /// An encoder with the given settings.
    pub fn new(opts: EncodeOptions) -> Self {
        Self { opts }
    }

    /// Writes any entity.
    pub fn entity(&self, out: &mut Vec<u8>, e: &Entity) {
        match e {
            Entity::Header(v) => header(out, *v),
            Entity::Meta(m) => self.meta(out, m),
            Entity::Global(GlobalItem::Index(i)) => self.index(out, i),
            Entity::Global(GlobalItem::Udf(u)) => self.udf(out, u),
            Entity::Record(r) => self.record(out, r),
        }
    }

    /// A `#` meta line.
    pub fn meta(&self, out: &mut Vec<u8>, m: &MetaLine) {
        match m {
            MetaLine::FirstFile => out.extend_from_slice(b"# first-file\n"),
            MetaLine::Namespace(ns) => {
                out.extend_from_slice(b"# namespace ");
                self.name(out, ns);
                out.push(b'\n');
            }
        }
    }

    /// A `* i` (or `* e`) line.
    pub fn index(&self, out: &mut Vec<u8>, i: &SecondaryIndex) {
        out.extend_from_slice(if i.expression { b"* e " } else { b"* i " });
        for tok in [&i.namespace, &i.set, &i.name] {
            self.name(out, tok);
            out.push(b' ');
        }
        out.push(match i.index_type {
            IndexType::Default => b'N',
            IndexType::List => b'L',
            IndexType::MapKeys => b'K',
            IndexType::MapValues => b'V',
        });
        out.push(b' ');
        push_num(out, i.paths.len());
        for p in &i.paths {
            out.push(b' ');
            self.name(out, &p.bin);
            out.push(b' ');
            out.push(match p.path_type {
                PathType::String => b'S',
                PathType::Numeric => b'N',
                PathType::Geo2dSphere => b'G',
                PathType::Blob => b'B',
            });
        }
        if let Some(ctx) = &i.context {
            out.push(b' ');
            self.name(out, ctx);
        }
        out.push(b'\n');
    }

    /// A `* u` line.
    pub fn udf(&self, out: &mut Vec<u8>, u: &Udf) {
        out.extend_from_slice(b"* u L ");
        self.name(out, &u.name);
        out.push(b' ');
        raw(out, &u.content);
    }

    /// A record: its header lines and bins.
    pub fn record(&self, out: &mut Vec<u8>, r: &Record) {
        if let Some(k) = r.key() {
            out.extend_from_slice(b"+ k ");
            match k {
                Key::Int(v) => {
                    out.extend_from_slice(b"I ");
                    push_num(out, v);
                    out.push(b'\n');
                }
                Key::Float(v) => {
                    out.extend_from_slice(b"D ");
                    push_double(out, v);
                    out.push(b'\n');
                }
                Key::String(s) => {
                    out.extend_from_slice(b"S ");
                    raw(out, s);
                }
                Key::Bytes(s) if self.opts.compact => {
                    out.extend_from_slice(b"B! ");
                    raw(out, s);
                }
                Key::Bytes(s) => {
                    out.extend_from_slice(b"B ");
                    base64(out, s);
                }
            }
        }
        out.extend_from_slice(b"+ n ");
        self.name(out, r.namespace());
        out.extend_from_slice(b"\n+ d ");
        encode_b64(out, &r.digest);
        out.push(b'\n');
        if let Some(set) = r.set().filter(|s| !s.is_empty()) {
            out.extend_from_slice(b"+ s ");
            self.name(out, set);
            out.push(b'\n');
        }
        out.extend_from_slice(b"+ g ");
        push_num(out, r.generation);
        out.extend_from_slice(b"\n+ t ");
        push_num(out, r.void_time);
        out.extend_from_slice(b"\n+ b ");
        push_num(out, r.bin_count());
        out.push(b'\n');
        for b in r.bins() {
            let letter = match &b.value {
                Value::Nil => {
                    out.extend_from_slice(b"- N ");
                    self.name(out, b.name);
                    out.push(b'\n');
                    continue;
                }
                Value::Bool(_) => b'Z',
                Value::Int(_) => b'I',
                Value::Float(_) => b'D',
                Value::String(_) => b'S',
                Value::GeoJson(_) => b'G',
                Value::Bytes(t, _) => bytes_letter(*t),
            };
            out.extend_from_slice(b"- ");
            out.push(letter);
            if self.opts.compact && matches!(b.value, Value::Bytes(..)) {
                out.push(b'!');
            }
            out.push(b' ');
            self.name(out, b.name);
            out.push(b' ');
            match b.value {
                Value::Nil => {}
                Value::Bool(v) => {
                    out.push(if v { b'T' } else { b'F' });
                    out.push(b'\n');
                }
                Value::Int(v) => {
                    push_num(out, v);
                    out.push(b'\n');
                }
                Value::Float(v) => {
                    push_double(out, v);
                    out.push(b'\n');
                }
                Value::String(s) | Value::GeoJson(s) => raw(out, s),
                Value::Bytes(_, s) if self.opts.compact => raw(out, s),
                Value::Bytes(_, s) => base64(out, s),
            }
        }
    }

    /// A name, escaped unless the file is format 3.0.
    fn name(&self, out: &mut Vec<u8>, s: &[u8]) {
        if self.opts.version == Version::V3_0 {
            out.extend_from_slice(s);
        } else {
            escape(out, s);
        }
    }
}

/// The `Version` line.
pub fn header(out: &mut Vec<u8>, v: Version) {
    out.extend_from_slice(match v {
        Version::V3_0 => b"Version 3.0\n",
        Version::V3_1 => b"Version 3.1\n",
        Version::V3_2 => b"Version 3.2\n",
    });
}

/// The bin letter of a bytes-family particle type.
fn bytes_letter(t: crate::BytesType) -> u8 {
    use crate::BytesType::*;
    match t {
        Blob => b'B',
        Java => b'J',
        CSharp => b'C',
        Python => b'P',
        Ruby => b'R',
        Php => b'H',
        Erlang => b'E',
        Hll => b'Y',
        Map => b'M',
        List => b'L',
    }
}

/// Backslash before every SP, LF and backslash (format §1.9).
pub fn escape(out: &mut Vec<u8>, s: &[u8]) {
    let mut start = 0;
    for p in memchr::memchr3_iter(b' ', b'\n', b'\\', s) {
        out.extend_from_slice(&s[start..p]);
        out.push(b'\\');
        start = p;
    }
    out.extend_from_slice(&s[start..]);
}

/// `len SP bytes LF`.
fn raw(out: &mut Vec<u8>, s: &[u8]) {
    push_num(out, s.len());
    out.push(b' ');
    out.extend_from_slice(s);
    out.push(b'\n');
}

/// `b64len SP base64 LF`.
fn base64(out: &mut Vec<u8>, s: &[u8]) {
    push_num(out, s.len().div_ceil(3) * 4);
    out.push(b' ');
    encode_b64(out, s);
    out.push(b'\n');
}

/// Appends the base64 text of `s`.
fn encode_b64(out: &mut Vec<u8>, s: &[u8]) {
    let start = out.len();
    out.resize(start + s.len().div_ceil(3) * 4, 0);
    // The buffer has exactly the encoded size, so this cannot fail.
    let n = b64_engine().encode_slice(s, &mut out[start..]).unwrap_or(0);
    out.truncate(start + n);
}

/// A decimal number.
fn push_num(out: &mut Vec<u8>, n: impl std::fmt::Display) {
    use std::io::Write as _;
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{n}");
}

/// `v` as C's `printf("%.17g")` prints it (glibc): 17 significant digits,
/// exponent form when the exponent is < -4 or >= 17, trailing zeros removed,
/// `nan`/`-nan`/`inf`/`-inf` for the specials.
pub fn push_double(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(if v.is_sign_negative() {
            b"-nan"
        } else {
            b"nan"
        });
        return;
    }
    if v.is_infinite() {
        out.extend_from_slice(if v < 0.0 { b"-inf" } else { b"inf" });
        return;
    }
    // 17 significant digits, correctly rounded: d.dddddddddddddddde<exp>.
    let sci = format!("{:.16e}", v.abs());
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    if v.is_sign_negative() {
        out.push(b'-');
    }
    if (-4..17).contains(&exp) {
        let mut s = Vec::with_capacity(24);
        if exp >= 0 {
            let int_len = exp as usize + 1;
            s.extend_from_slice(&digits[..int_len]);
            s.push(b'.');
            s.extend_from_slice(&digits[int_len..]);
        } else {
            s.extend_from_slice(b"0.");
            s.extend(std::iter::repeat_n(b'0', (-exp - 1) as usize));
            s.extend_from_slice(&digits);
        }
        strip_zeros(&mut s);
        out.extend_from_slice(&s);
    } else {
        let mut s = Vec::with_capacity(24);
        s.push(digits[0]);
        s.push(b'.');
        s.extend_from_slice(&digits[1..]);
        strip_zeros(&mut s);
        out.extend_from_slice(&s);
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push(b'0');
        }
        push_num(out, e);
    }
}

/// Removes trailing zeros after the point, and the point itself if bare.
fn strip_zeros(s: &mut Vec<u8>) {
    while s.last() == Some(&b'0') {
        s.pop();
    }
    if s.last() == Some(&b'.') {
        s.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g17(v: f64) -> String {
        let mut out = Vec::new();
        push_double(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn doubles_like_printf_17g() {
        for (v, s) in [
            (0.1, "0.10000000000000001"),
            (1.2345, "1.2344999999999999"),
            (1e20, "1e+20"),
            (1e-5, "1.0000000000000001e-05"),
            (-0.0, "-0"),
            (0.0, "0"),
            (f64::NAN, "nan"),
            (-f64::NAN, "-nan"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (6.02214076e23, "6.0221407599999999e+23"),
            (42.0, "42"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (0.0001, "0.0001"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (5e-324, "4.9406564584124654e-324"),
            (-1.5, "-1.5"),
            (123456789.125, "123456789.125"),
        ] {
            assert_eq!(g17(v), s, "{v:e}");
        }
    }

    #[test]
    fn escapes_space_lf_backslash() {
        let mut out = Vec::new();
        escape(&mut out, b"a b\nc\\d\te");
        assert_eq!(out, b"a\\ b\\\nc\\\\d\te");
    }
}
