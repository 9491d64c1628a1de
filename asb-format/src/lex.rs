//! Lexical primitives of the `.asb` grammar, written as nom parsers over
//! `&[u8]`: literals, escaped names, integers, sizes, floats, raw and base64
//! payloads.
//!
//! Every primitive either succeeds, fails with a grammar error at a precise
//! position, or reports that the input ended too early together with a lower
//! bound of the remaining bytes it needs. A primitive never decides anything
//! from the end of its input, so the outcome does not depend on how the
//! stream was split into chunks.

use std::borrow::Cow;

use nom::IResult;

use crate::ErrorKind;
use crate::b64;

/// Parser input: the unparsed bytes.
pub(crate) type In<'a> = &'a [u8];

/// Result of a grammar parser.
pub(crate) type Res<'a, T> = IResult<In<'a>, T, GError>;

/// Longest generic token (format §1.12): 999 bytes after unescaping.
pub(crate) const MAX_TOKEN: usize = 999;

/// A grammar error, boxed so that every parser's `Result` stays small.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GError(pub Box<GErr>);

impl GError {
    /// An error `rest_len` bytes before the end of the input.
    #[cold]
    pub(crate) fn new(rest_len: usize, kind: GKind) -> Self {
        GError(Box::new(GErr { rest_len, kind }))
    }
}

/// A grammar error: where (as the length of the input left at that point) and what.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GErr {
    /// Length of the remaining input at the error position.
    pub rest_len: usize,
    /// What happened.
    pub kind: GKind,
}

/// Grammar error kinds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum GKind {
    /// The input ended; at least `needed` more bytes (counted from the error
    /// position) are required to decide.
    Incomplete {
        /// What was being read.
        expected: &'static str,
        /// Lower bound of the bytes needed from the error position.
        needed: usize,
    },
    /// The input is invalid.
    Bad(ErrorKind),
}

impl nom::error::ParseError<In<'_>> for GError {
    fn from_error_kind(input: In<'_>, _: nom::error::ErrorKind) -> Self {
        GError::new(
            input.len(),
            GKind::Bad(ErrorKind::Unexpected {
                expected: "valid syntax",
                found: render(input),
            }),
        )
    }

    fn append(_: In<'_>, _: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

/// The byte at an error position, escaped. Only one byte is shown: what
/// follows may not have arrived yet, and the message must not depend on the
/// chunking.
pub(crate) fn render(input: &[u8]) -> String {
    match input.first() {
        None => "end of input".to_owned(),
        Some(b) => format!("'{}'", b.escape_ascii()),
    }
}

/// A fatal grammar error at `at`.
pub(crate) fn bad<T>(at: In<'_>, kind: ErrorKind) -> Res<'_, T> {
    Err(nom::Err::Failure(GError::new(at.len(), GKind::Bad(kind))))
}

/// "Expected X, found ..." at `at`.
pub(crate) fn unexpected<'a, T>(at: In<'a>, expected: &'static str) -> Res<'a, T> {
    bad(
        at,
        ErrorKind::Unexpected {
            expected,
            found: render(at),
        },
    )
}

/// A token longer than [`MAX_TOKEN`] starts at `at`.
pub(crate) fn too_long<'a, T>(at: In<'a>, what: &'static str) -> Res<'a, T> {
    bad(
        at,
        ErrorKind::TooLong {
            what,
            max: MAX_TOKEN,
        },
    )
}

/// The input ended at `at`; `needed` more bytes are required.
pub(crate) fn incomplete<'a, T>(at: In<'a>, expected: &'static str, needed: usize) -> Res<'a, T> {
    Err(nom::Err::Failure(GError::new(
        at.len(),
        GKind::Incomplete { expected, needed },
    )))
}

/// Matches the literal `lit` exactly.
pub(crate) fn lit<'a>(
    lit: &'static [u8],
    expected: &'static str,
) -> impl Fn(In<'a>) -> Res<'a, ()> {
    move |i: In<'a>| {
        // Short literals: a byte loop beats a memcmp call.
        if i.len() >= lit.len() && lit.iter().zip(i).all(|(a, b)| a == b) {
            return Ok((&i[lit.len()..], ()));
        }
        let n = lit.len().min(i.len());
        match i[..n].iter().zip(lit).position(|(a, b)| a != b) {
            Some(p) => unexpected(&i[p..], expected),
            None if n < lit.len() => incomplete(&i[n..], expected, lit.len() - n),
            None => Ok((&i[n..], ())),
        }
    }
}

/// One byte, which must be `b`.
#[inline]
pub(crate) fn byte(b: u8, expected: &'static str) -> impl Fn(In<'_>) -> Res<'_, ()> {
    move |i: In<'_>| match i.first() {
        Some(&c) if c == b => Ok((&i[1..], ())),
        Some(_) => unexpected(i, expected),
        None => incomplete(i, expected, 1),
    }
}

/// One byte, whatever it is.
#[inline]
pub(crate) fn any_byte(expected: &'static str) -> impl Fn(In<'_>) -> Res<'_, u8> {
    move |i: In<'_>| match i.first() {
        Some(&c) => Ok((&i[1..], c)),
        None => incomplete(i, expected, 1),
    }
}

/// How an escaped token ends (format §1.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delim {
    /// Ends at an unescaped SP.
    Space,
    /// Ends at an unescaped LF.
    Lf,
    /// Ends at an unescaped SP or LF (bin names).
    SpaceOrLf,
}

/// [`NAME_STOP`] classes.
const SPACE: u8 = 1;
const LF: u8 = 2;
const BACKSLASH: u8 = 4;
const NUL: u8 = 8;

/// The bytes that can stop a name, by class.
static NAME_STOP: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b' ' as usize] = SPACE;
    t[b'\n' as usize] = LF;
    t[b'\\' as usize] = BACKSLASH;
    t[0] = NUL;
    t
};

/// A name token: bytes up to an unescaped delimiter (not consumed). A
/// backslash makes the next byte literal unless `legacy` (format 3.0). An
/// unescaped NUL also ends the token (as in asrestore). The result is a slice
/// of the input when there was nothing to unescape.
pub(crate) fn name<'a>(
    i: In<'a>,
    delim: Delim,
    legacy: bool,
    max: usize,
    what: &'static str,
) -> Res<'a, Cow<'a, [u8]>> {
    let (d1, d2) = match delim {
        Delim::Space => (b' ', b' '),
        Delim::Lf => (b'\n', b'\n'),
        Delim::SpaceOrLf => (b' ', b'\n'),
    };
    let esc = if legacy { d1 } else { b'\\' };
    // Fast path: no escape before the delimiter. Names are short: a plain
    // loop beats the SIMD search's set-up for the first bytes.
    let window = &i[..i.len().min(max + 1)];
    let head = &window[..window.len().min(32)];
    let mask = match delim {
        Delim::Space => SPACE,
        Delim::Lf => LF,
        Delim::SpaceOrLf => SPACE | LF,
    } | if legacy { NUL } else { BACKSLASH | NUL };
    let stop = match head
        .iter()
        .position(|&c| NAME_STOP[usize::from(c)] & mask != 0)
    {
        Some(p) => Some(p),
        None if head.len() < window.len() => {
            memchr::memchr3(d1, d2, esc, &window[head.len()..]).map(|p| p + head.len())
        }
        None => None,
    };
    let plain_end = match stop {
        Some(p) if i[p] == 0 => return Ok((&i[p..], Cow::Borrowed(&i[..p]))),
        Some(p) if i[p] != b'\\' || legacy => Some(p),
        Some(_) => None,
        None if window.len() > max => return bad(&i[max..], ErrorKind::TooLong { what, max }),
        None => return incomplete(&i[window.len()..], what, 1),
    };
    if let Some(end) = plain_end {
        // The head was already checked for NUL.
        let end = match end > head.len() {
            true => memchr::memchr(0, &i[..end]).unwrap_or(end),
            false => end,
        };
        return Ok((&i[end..], Cow::Borrowed(&i[..end])));
    }
    // Slow path: unescape into a new buffer.
    let mut out = Vec::with_capacity(16);
    let mut p = 0;
    loop {
        let Some(&c) = i.get(p) else {
            return incomplete(&i[p..], what, 1);
        };
        if c == d1 || c == d2 || c == 0 {
            return Ok((&i[p..], Cow::Owned(out)));
        }
        let lit_byte = if c == b'\\' {
            match i.get(p + 1) {
                // Names are C strings: an escaped NUL ends the token too.
                Some(0) => return Ok((&i[p..], Cow::Owned(out))),
                Some(&n) => {
                    p += 2;
                    n
                }
                None => return incomplete(&i[p..], what, 2),
            }
        } else {
            p += 1;
            c
        };
        if out.len() == max {
            return bad(&i[p - 1..], ErrorKind::TooLong { what, max });
        }
        out.push(lit_byte);
    }
}

/// Bytes up to the next LF (not consumed), at most `max` of them; raw, no unescaping.
pub(crate) fn until_lf<'a>(i: In<'a>, max: usize, what: &'static str) -> Res<'a, In<'a>> {
    let window = &i[..i.len().min(max + 1)];
    match memchr::memchr(b'\n', window) {
        Some(p) => Ok((&i[p..], &i[..p])),
        None if window.len() > max => bad(&i[max..], ErrorKind::TooLong { what, max }),
        None => incomplete(&i[window.len()..], what, 1),
    }
}

/// Maximum value of a length prefix in asrestore (1024^5).
const MAX_SIZE: u64 = 1 << 50;

/// A length prefix: decimal digits (possibly none, meaning 0) ended by SP,
/// which is consumed.
pub(crate) fn size<'a>(i: In<'a>, what: &'static str) -> Res<'a, u64> {
    let mut v: u64 = 0;
    for (p, &c) in i.iter().enumerate() {
        match c {
            b'0'..=b'9' => {
                v = v * 10 + u64::from(c - b'0');
                if v > MAX_SIZE {
                    return bad(
                        i,
                        ErrorKind::OutOfRange {
                            what,
                            value: i[..=p].escape_ascii().to_string(),
                        },
                    );
                }
            }
            b' ' => return Ok((&i[p + 1..], v)),
            _ => return unexpected(&i[p..], "digit or space after length"),
        }
        if p >= MAX_TOKEN {
            return too_long(i, what);
        }
    }
    incomplete(&i[i.len()..], what, 1)
}

/// A signed 64-bit decimal integer ended by LF, which is consumed. As in
/// asrestore, an empty token (or a lone `-`) is 0.
pub(crate) fn int_lf<'a>(i: In<'a>, what: &'static str) -> Res<'a, i64> {
    let (neg, digits) = match i.first() {
        Some(b'-') => (true, &i[1..]),
        _ => (false, i),
    };
    // Up to 18 digits cannot overflow a u64: no checks needed.
    let mut v: u64 = 0;
    let mut p = 0;
    for &c in digits.iter().take(18) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        v = v * 10 + u64::from(d);
        p += 1;
    }
    let out_of_range = |end: usize| {
        bad(
            i,
            ErrorKind::OutOfRange {
                what,
                value: i[..end].escape_ascii().to_string(),
            },
        )
    };
    loop {
        match digits.get(p) {
            Some(b'\n') => {
                let v = if neg {
                    match 0i64.checked_sub_unsigned(v) {
                        Some(v) => v,
                        None => return out_of_range(p + 1),
                    }
                } else {
                    match i64::try_from(v) {
                        Ok(v) => v,
                        Err(_) => return out_of_range(p),
                    }
                };
                return Ok((&digits[p + 1..], v));
            }
            Some(&c @ b'0'..=b'9') => {
                match v
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(u64::from(c - b'0')))
                {
                    Some(n) => v = n,
                    None => return out_of_range(p + 1 + usize::from(neg)),
                }
                p += 1;
                if p > MAX_TOKEN {
                    return too_long(i, what);
                }
            }
            Some(_) => return unexpected(&digits[p..], "digit or LF"),
            None => return incomplete(&digits[p..], what, 1),
        }
    }
}

/// An integer ended by LF that must lie in `lo..=hi`.
pub(crate) fn ranged_lf<'a>(i: In<'a>, what: &'static str, lo: i64, hi: i64) -> Res<'a, i64> {
    let (rest, v) = int_lf(i, what)?;
    if v < lo || v > hi {
        return bad(
            i,
            ErrorKind::OutOfRange {
                what,
                value: v.to_string(),
            },
        );
    }
    Ok((rest, v))
}

/// A double ended by LF, which is consumed: asrestore's spellings (`%.17g`,
/// `nan`, `-nan`, `inf`, `-inf`) and backup-go's (`NaN`, `+Inf`, shortest
/// form). Uppercase `E` and hex floats are rejected, as asrestore does.
pub(crate) fn float_lf<'a>(i: In<'a>, what: &'static str) -> Res<'a, f64> {
    let (rest, tok) = until_lf(i, MAX_TOKEN, what)?;
    match parse_float(tok) {
        Some(v) => Ok((&rest[1..], v)),
        None => bad(
            i,
            ErrorKind::Unexpected {
                expected: "a decimal floating-point number",
                found: format!("\"{}\"", tok.escape_ascii()),
            },
        ),
    }
}

/// The float rules of asrestore (format §1.10).
fn parse_float(tok: &[u8]) -> Option<f64> {
    if tok.is_empty() {
        return Some(0.0);
    }
    let (neg, body) = match tok[0] {
        b'-' => (true, &tok[1..]),
        b'+' => (false, &tok[1..]),
        _ => (false, tok),
    };
    if body.first().is_some_and(|c| c.is_ascii_alphabetic()) {
        let lower = body.to_ascii_lowercase();
        let v = match lower.as_slice() {
            b"nan" => f64::NAN,
            b"inf" | b"infinity" => f64::INFINITY,
            _ => return None,
        };
        return Some(if neg { -v } else { v });
    }
    // Rust's parser accepts exactly asrestore's decimal syntax (optional
    // sign, digits, one '.', one exponent with optional sign; ".5" and "5."
    // too), except that it also takes an uppercase 'E', which asrestore
    // rejects. Specials were handled above.
    if body.contains(&b'E') {
        return None;
    }
    std::str::from_utf8(tok).ok()?.parse::<f64>().ok()
}

/// `size SP` then exactly that many raw bytes, then LF.
pub(crate) fn raw<'a>(i: In<'a>, what: &'static str) -> Res<'a, In<'a>> {
    let (rest, n) = size(i, what)?;
    take_lf(rest, n, what)
}

/// Exactly `n` bytes, then LF.
fn take_lf<'a>(i: In<'a>, n: u64, what: &'static str) -> Res<'a, In<'a>> {
    let Ok(n) = usize::try_from(n) else {
        return incomplete(i, what, usize::MAX);
    };
    match i.get(n) {
        Some(b'\n') => Ok((&i[n + 1..], &i[..n])),
        Some(_) => unexpected(&i[n..], "LF after payload"),
        None => incomplete(i, what, n.saturating_add(1)),
    }
}

/// `size SP` then that many base64 characters (a multiple of 4), then LF;
/// appends the decoded bytes to `out` and returns how many there are.
pub(crate) fn b64_into<'a>(i: In<'a>, what: &'static str, out: &mut Vec<u8>) -> Res<'a, usize> {
    let (rest, n) = size(i, what)?;
    if n % 4 != 0 {
        return bad(
            i,
            ErrorKind::OutOfRange {
                what: "base64 length (must be a multiple of 4)",
                value: n.to_string(),
            },
        );
    }
    let (after, text) = take_lf(rest, n, what)?;
    match b64::decode_into(text, out) {
        Some(len) => Ok((after, len)),
        None => bad(rest, ErrorKind::Base64 { what }),
    }
}

/// Decodes a base64 digest of exactly 28 characters into 20 bytes.
pub(crate) fn digest(i: In<'_>) -> Res<'_, [u8; 20]> {
    const WHAT: &str = "digest (28 base64 characters)";
    let Some(text) = i.get(..28) else {
        return incomplete(i, WHAT, 28);
    };
    match b64::digest(text) {
        Some(d) => Ok((&i[28..], d)),
        None => bad(i, ErrorKind::Base64 { what: "digest" }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_follow_asrestore() {
        for (s, v) in [
            ("0.10000000000000001", 0.1),
            ("1e+20", 1e20),
            ("-0", -0.0),
            ("", 0.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("+Inf", f64::INFINITY),
            ("-inf", f64::NEG_INFINITY),
            ("Infinity", f64::INFINITY),
        ] {
            assert_eq!(parse_float(s.as_bytes()), Some(v), "{s}");
        }
        assert!(parse_float(b"-nan").unwrap().is_sign_negative());
        assert!(parse_float(b"NaN").unwrap().is_nan());
        for s in [
            "1E5", "0x1p3", "1e", "nan(1)", "-", "in", "1.2.3", "1e5e5", " 1",
        ] {
            assert_eq!(parse_float(s.as_bytes()), None, "{s}");
        }
    }
}
