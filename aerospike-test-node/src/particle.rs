//! Validation of bin values the way the server checks them on write.

use crate::result_code as rc;

/// Particle type codes.
pub mod ptype {
    /// Nil: a write deletes the bin.
    pub const NIL: u8 = 0;
    /// 64-bit integer, 8 bytes big-endian.
    pub const INTEGER: u8 = 1;
    /// IEEE-754 double, 8 bytes big-endian.
    pub const FLOAT: u8 = 2;
    /// String (raw bytes).
    pub const STRING: u8 = 3;
    /// Blob.
    pub const BLOB: u8 = 4;
    /// Boolean, 1 byte.
    pub const BOOL: u8 = 17;
    /// HyperLogLog.
    pub const HLL: u8 = 18;
    /// Map (server msgpack).
    pub const MAP: u8 = 19;
    /// List (server msgpack).
    pub const LIST: u8 = 20;
    /// GeoJSON: flags(1) + cell count(2) + JSON text.
    pub const GEOJSON: u8 = 23;
}

/// Checks a bin value written with particle type `ptype`; returns the result code to answer
/// when the server would reject it.
pub fn validate(ptype: u8, value: &[u8]) -> Result<(), u8> {
    match ptype {
        // 16 is taken as raw bytes by 8.1.2.0, like the language blobs 7..=12.
        ptype::NIL | ptype::STRING | ptype::BLOB | 7..=12 | 16 => Ok(()),
        ptype::INTEGER if matches!(value.len(), 1 | 2 | 4 | 8) => Ok(()),
        ptype::FLOAT if value.len() == 8 => Ok(()),
        ptype::BOOL if value.len() == 1 && value[0] <= 1 => Ok(()),
        ptype::HLL => validate_hll(value),
        ptype::LIST => validate_cdt(value, true),
        ptype::MAP => validate_cdt(value, false),
        ptype::GEOJSON => validate_geojson(value),
        _ => Err(rc::PARAMETER),
    }
}

/// HLL layout: flags(1)=0, index bits(1) 4..=16, minhash bits(1) 0 or 4..=51 with
/// index+minhash <= 64, 8 cache bytes, then the registers.
fn validate_hll(v: &[u8]) -> Result<(), u8> {
    if v.len() < 11 || v[0] != 0 {
        return Err(rc::PARAMETER);
    }
    let index_bits = u64::from(v[1]);
    let minhash_bits = u64::from(v[2]);
    if !(4..=16).contains(&index_bits)
        || !(minhash_bits == 0 || (4..=51).contains(&minhash_bits))
        || index_bits + minhash_bits > 64
    {
        return Err(rc::PARAMETER);
    }
    let register_bits = (6 + minhash_bits) << index_bits;
    let expected = 11 + register_bits.div_ceil(8);
    if v.len() as u64 != expected {
        return Err(rc::PARAMETER);
    }
    Ok(())
}

fn validate_geojson(v: &[u8]) -> Result<(), u8> {
    if v.len() < 3 {
        return Err(rc::PARAMETER);
    }
    let json: serde_json::Value =
        serde_json::from_slice(&v[3..]).map_err(|_| rc::GEO_INVALID_GEOJSON)?;
    match json.get("type").and_then(|t| t.as_str()) {
        Some("Point" | "Polygon" | "MultiPolygon" | "AeroCircle") => Ok(()),
        _ => Err(rc::GEO_INVALID_GEOJSON),
    }
}

/// Bytes a bin value takes in the server's record (8.1 flat format), particle type byte
/// included: integers in the fewest of 1, 2, 4 or 8 bytes (negative ones in 8) plus a length
/// byte, doubles 8 bytes, booleans 1, GeoJSON its value plus 8 bytes per covering cell (one
/// for a point; other regions are counted at `geo2dsphere-within.max-cells`, 12, an upper
/// bound), everything else a 4-byte length plus the bytes. Measured against 8.1.2.0.
pub fn stored_size(ptype: u8, value: &[u8]) -> usize {
    match ptype {
        ptype::INTEGER => {
            let v = normalize_integer(value).map_or(0, u64::from_be_bytes);
            let n = if v <= 0xff {
                1
            } else if v <= 0xffff {
                2
            } else if v <= 0xffff_ffff {
                4
            } else {
                8
            };
            2 + n
        }
        ptype::FLOAT => 1 + 8,
        ptype::BOOL => 1 + 1,
        ptype::GEOJSON => {
            let point = value
                .get(3..)
                .and_then(|j| serde_json::from_slice::<serde_json::Value>(j).ok())
                .is_some_and(|j| j.get("type").and_then(|t| t.as_str()) == Some("Point"));
            5 + value.len() + 8 * if point { 1 } else { 12 }
        }
        _ => 5 + value.len(),
    }
}

/// Integer values may come in 1, 2, 4 or 8 big-endian bytes (zero-extended); they are stored
/// as 8 bytes.
pub fn normalize_integer(value: &[u8]) -> Option<[u8; 8]> {
    let mut out = [0u8; 8];
    match value.len() {
        1 | 2 | 4 | 8 => {
            out[8 - value.len()..].copy_from_slice(value);
            Some(out)
        }
        _ => None,
    }
}

/// A whole list (array) or map particle: one msgpack element of the right kind, nothing after
/// it. The server answers 1 (its "unknown" error) for anything else.
fn validate_cdt(v: &[u8], list: bool) -> Result<(), u8> {
    const BAD: u8 = rc::SERVER_ERROR;
    let first = *v.first().ok_or(BAD)?;
    let kind_ok = if list {
        matches!(first, 0x90..=0x9f | 0xdc | 0xdd)
    } else {
        matches!(first, 0x80..=0x8f | 0xde | 0xdf)
    };
    if !kind_ok {
        return Err(BAD);
    }
    let mut pos = 0;
    skip_element(v, &mut pos, 0).ok_or(BAD)?;
    if pos != v.len() {
        return Err(BAD);
    }
    Ok(())
}

const MAX_DEPTH: usize = 256;

fn take(v: &[u8], pos: &mut usize, n: usize) -> Option<()> {
    let end = pos.checked_add(n)?;
    if end > v.len() {
        return None;
    }
    *pos = end;
    Some(())
}

fn read_be(v: &[u8], pos: &mut usize, n: usize) -> Option<usize> {
    let start = *pos;
    take(v, pos, n)?;
    let mut x: usize = 0;
    for b in &v[start..start + n] {
        x = (x << 8) | usize::from(*b);
    }
    Some(x)
}

/// Skips one msgpack element, checking every length against the remaining input.
fn skip_element(v: &[u8], pos: &mut usize, depth: usize) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    let b = *v.get(*pos)?;
    *pos += 1;
    match b {
        0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => Some(()),
        0x80..=0x8f => skip_n(v, pos, usize::from(b & 0x0f) * 2, depth),
        0x90..=0x9f => skip_n(v, pos, usize::from(b & 0x0f), depth),
        0xa0..=0xbf => take(v, pos, usize::from(b & 0x1f)),
        0xc1 => None,
        0xc4 | 0xd9 => {
            let n = read_be(v, pos, 1)?;
            take(v, pos, n)
        }
        0xc5 | 0xda => {
            let n = read_be(v, pos, 2)?;
            take(v, pos, n)
        }
        0xc6 | 0xdb => {
            let n = read_be(v, pos, 4)?;
            take(v, pos, n)
        }
        0xc7 => {
            let n = read_be(v, pos, 1)?;
            take(v, pos, 1 + n)
        }
        0xc8 => {
            let n = read_be(v, pos, 2)?;
            take(v, pos, 1 + n)
        }
        0xc9 => {
            let n = read_be(v, pos, 4)?;
            take(v, pos, 1 + n)
        }
        0xca => take(v, pos, 4),
        0xcb => take(v, pos, 8),
        0xcc | 0xd0 => take(v, pos, 1),
        0xcd | 0xd1 => take(v, pos, 2),
        0xce | 0xd2 => take(v, pos, 4),
        0xcf | 0xd3 => take(v, pos, 8),
        0xd4 => take(v, pos, 2),
        0xd5 => take(v, pos, 3),
        0xd6 => take(v, pos, 5),
        0xd7 => take(v, pos, 9),
        0xd8 => take(v, pos, 17),
        0xdc => {
            let n = read_be(v, pos, 2)?;
            skip_n(v, pos, n, depth)
        }
        0xdd => {
            let n = read_be(v, pos, 4)?;
            skip_n(v, pos, n, depth)
        }
        0xde => {
            let n = read_be(v, pos, 2)?;
            skip_n(v, pos, n.checked_mul(2)?, depth)
        }
        0xdf => {
            let n = read_be(v, pos, 4)?;
            skip_n(v, pos, n.checked_mul(2)?, depth)
        }
    }
}

fn skip_n(v: &[u8], pos: &mut usize, n: usize, depth: usize) -> Option<()> {
    // Every element takes at least one byte: a count larger than the input is malformed,
    // and checking it first bounds the loop.
    if n > v.len() - *pos {
        return None;
    }
    for _ in 0..n {
        skip_element(v, pos, depth + 1)?;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_maps() {
        const BAD: Result<(), u8> = Err(rc::SERVER_ERROR);
        assert_eq!(validate(ptype::LIST, &[0x93, 1, 2, 3]), Ok(()));
        assert_eq!(validate(ptype::LIST, &[0x90]), Ok(()));
        assert_eq!(validate(ptype::LIST, &[0x93, 1, 2]), BAD);
        assert_eq!(validate(ptype::LIST, &[0x91, 1, 2]), BAD);
        assert_eq!(validate(ptype::LIST, &[0x80]), BAD);
        assert_eq!(validate(ptype::LIST, &[]), BAD);
        assert_eq!(validate(ptype::LIST, &[0xdd, 0xff, 0xff, 0xff, 0xff]), BAD);
        assert_eq!(validate(ptype::MAP, &[0x81, 0xa2, 3, b'a', 1]), Ok(()));
        assert_eq!(validate(ptype::MAP, &[0x81, 0xa2, 3]), BAD);
        // ordered list: ext header element inside the array
        assert_eq!(validate(ptype::LIST, &[0x93, 0xc7, 0, 1, 2, 3]), Ok(()));
        assert_eq!(validate(ptype::LIST, &[0x91, 0xc1]), BAD);
    }

    #[test]
    fn hll_sizes() {
        let mut v = vec![0u8, 4, 0];
        v.extend_from_slice(&[0; 8]);
        v.extend(std::iter::repeat_n(0u8, (6 * 16usize).div_ceil(8)));
        assert_eq!(validate(ptype::HLL, &v), Ok(()));
        v.push(0);
        assert_eq!(validate(ptype::HLL, &v), Err(rc::PARAMETER));
        assert_eq!(validate(ptype::HLL, &[0; 16]), Err(rc::PARAMETER));
    }

    #[test]
    fn stored_sizes_match_the_server() {
        // Measured on 8.1.2.0 (bin name excluded).
        let int = |v: i64| stored_size(ptype::INTEGER, &v.to_be_bytes());
        assert_eq!(
            [int(0), int(255), int(256), int(65535), int(65536)],
            [3, 3, 4, 4, 6]
        );
        assert_eq!([int(1 << 32), int(-1)], [10, 10]);
        assert_eq!(stored_size(ptype::INTEGER, &[5]), 3);
        assert_eq!(stored_size(ptype::FLOAT, &[0; 8]), 9);
        assert_eq!(stored_size(ptype::BOOL, &[1]), 2);
        assert_eq!(stored_size(ptype::BLOB, &[0; 10]), 15);
        assert_eq!(stored_size(ptype::LIST, &[0x93, 1, 2, 3]), 9);
        let point = b"\0\0\0{\"type\":\"Point\",\"coordinates\":[1.5,2.5]}";
        assert_eq!(stored_size(ptype::GEOJSON, point), 56);
    }

    #[test]
    fn scalars_and_geo() {
        assert_eq!(validate(ptype::INTEGER, &[0; 8]), Ok(()));
        assert_eq!(validate(ptype::INTEGER, &[0; 4]), Ok(()));
        assert_eq!(validate(ptype::INTEGER, &[0; 3]), Err(rc::PARAMETER));
        assert_eq!(normalize_integer(&[1, 2]), Some([0, 0, 0, 0, 0, 0, 1, 2]));
        assert_eq!(validate(ptype::BOOL, &[1]), Ok(()));
        assert_eq!(validate(ptype::BOOL, &[2]), Err(rc::PARAMETER));
        assert_eq!(validate(9, b"raw"), Ok(()));
        assert_eq!(validate(5, b"raw"), Err(rc::PARAMETER));
        assert_eq!(validate(16, b""), Ok(()));
        for p in [6, 13, 14, 15, 21, 22, 24, 255] {
            assert_eq!(validate(p, b"raw"), Err(rc::PARAMETER), "type {p}");
        }
        let geo = b"\0\0\0{\"type\":\"Point\",\"coordinates\":[1,2]}";
        assert_eq!(validate(ptype::GEOJSON, geo), Ok(()));
        assert_eq!(
            validate(ptype::GEOJSON, b"\0\0\0{nope"),
            Err(rc::GEO_INVALID_GEOJSON)
        );
    }
}
