//! Base64 (standard alphabet, padded) as asbackup writes it, decoded with
//! asrestore's rules: padding only in the last quad (`x=` or `==`), non-zero
//! trailing bits ignored, lengths a multiple of 4 (checked by the caller).
//!
//! Short payloads (digests, short keys) go through a table decoder that does
//! four lookups per quad; longer ones through `base64-simd`, whose start-up
//! cost is low enough for the 50-200 character blobs and lists that records
//! typically carry; kilobytes through the `base64` crate's engine.

use std::sync::LazyLock;

use base64::engine::general_purpose::PAD;

/// The `base64` crate's engine: long payloads, the encoder, and the reference in tests. Like
/// asrestore, it ignores non-zero trailing bits.
static ENGINE: LazyLock<base64::engine::Simd> =
    LazyLock::new(|| base64::engine::Simd::standard(PAD.with_decode_allow_trailing_bits(true)));

/// Standard base64 with padding, for the encoder.
pub(crate) fn engine() -> &'static base64::engine::Simd {
    &ENGINE
}

/// From this many characters on, `base64-simd` beats the table decoder
/// (measured with `benches`' `parse_cpu` on the `mixed` and `lists_maps` shapes).
const SIMD_FROM: usize = 32;

/// From this many characters on, the `base64` crate's engine beats `base64-simd` (the `blobs`
/// shape: 4.2 GB/s with `base64-simd`, 5.6 GB/s with the engine).
const LONG_FROM: usize = 1024;

/// Set in a [`QUAD`] entry for a byte outside the alphabet.
const INVALID: u32 = 1 << 31;

/// For each position in a quad, each character's six bits already shifted
/// into place (or [`INVALID`]): a quad decodes to the OR of four lookups.
static QUAD: [[u32; 256]; 4] = {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut t = [[INVALID; 256]; 4];
    let mut k = 0;
    while k < 64 {
        let c = alphabet[k] as usize;
        let v = k as u32;
        t[0][c] = v << 18;
        t[1][c] = v << 12;
        t[2][c] = v << 6;
        t[3][c] = v;
        k += 1;
    }
    t
};

/// Decodes `text` (a multiple of 4 long), appending to `out`; returns the
/// decoded length, or `None` (with `out` unchanged) if it is not valid base64.
pub(crate) fn decode_into(text: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    let start = out.len();
    // The text is in memory already, so this allocation is bounded by the input.
    out.resize(start + text.len() / 4 * 3, 0);
    let dst = &mut out[start..];
    let n = if text.len() < SIMD_FROM {
        decode_table(text, dst)
    } else if text.len() >= LONG_FROM {
        decode_long(text, dst)
    } else {
        // The SIMD decoder also rejects non-zero trailing bits, which asrestore ignores: the
        // table decoder settles whatever it refuses.
        match base64_simd::STANDARD.decode(text, base64_simd::Out::from_slice(dst)) {
            Ok(d) => Some(d.len()),
            Err(_) => decode_table(text, dst),
        }
    };
    match n {
        Some(n) => out.truncate(start + n),
        None => out.truncate(start),
    }
    n
}

/// Long payloads: the `base64` crate's engine, faster than `base64-simd` on kilobytes.
#[inline(never)]
fn decode_long(text: &[u8], dst: &mut [u8]) -> Option<usize> {
    use base64::Engine as _;
    ENGINE.decode_slice(text, dst).ok()
}

/// Decodes a 28-character digest into its 20 bytes.
pub(crate) fn digest(text: &[u8]) -> Option<[u8; 20]> {
    let mut buf = [0u8; 21];
    match decode_table(text, &mut buf) {
        Some(20) => buf[..20].try_into().ok(),
        _ => None,
    }
}

/// The table decoder. `out` must hold `text.len() / 4 * 3` bytes; returns the
/// decoded length.
fn decode_table(text: &[u8], out: &mut [u8]) -> Option<usize> {
    let Some(body_len) = text.len().checked_sub(4) else {
        return text.is_empty().then_some(0);
    };
    let (body, last) = text.split_at(body_len);
    let quad = |q: [u8; 4]| {
        QUAD[0][usize::from(q[0])]
            | QUAD[1][usize::from(q[1])]
            | QUAD[2][usize::from(q[2])]
            | QUAD[3][usize::from(q[3])]
    };
    // Validity is checked once at the end: on error the output is discarded.
    let mut seen = 0u32;
    for (q, o) in body
        .as_chunks::<4>()
        .0
        .iter()
        .zip(out.as_chunks_mut::<3>().0)
    {
        let n = quad(*q);
        seen |= n;
        let [_, a, b, c] = n.to_be_bytes();
        *o = [a, b, c];
    }
    let at = body.len() / 4 * 3;
    // The last quad may be padded: `xx==` gives one byte, `xxx=` two.
    let (len, n) = match (last[2], last[3]) {
        (b'=', b'=') => (1, quad([last[0], last[1], b'A', b'A'])),
        (b'=', _) => return None,
        (c, b'=') => (2, quad([last[0], last[1], c, b'A'])),
        (c, d) => (3, quad([last[0], last[1], c, d])),
    };
    if (seen | n) & INVALID != 0 {
        return None;
    }
    out.get_mut(at..at + len)?
        .copy_from_slice(&n.to_be_bytes()[1..=len]);
    Some(at + len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    /// Random texts over a small alphabet (with padding in odd places) of
    /// every length up to `max`: both decoders must agree on each.
    fn agree_up_to(max: usize, tries: usize) {
        let chars = b"AQz09+/=";
        let mut seed = 7u64;
        for len in (0..=max).step_by(4) {
            for _ in 0..tries {
                let text: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        chars[(seed % 8) as usize]
                    })
                    .collect();
                let mut out = vec![0u8; len / 4 * 3];
                let table = decode_table(&text, &mut out).map(|n| out[..n].to_vec());
                let engine = ENGINE.decode(&text).ok();
                assert_eq!(table, engine, "{}", text.escape_ascii());
            }
        }
    }

    #[test]
    fn table_decoder_agrees_with_the_engine() {
        agree_up_to(40, 2000);
        agree_up_to(SIMD_FROM + 8, 50);
    }

    #[test]
    fn valid_text_with_every_character_decodes_the_same() {
        // Past LONG_FROM characters, so that every decoder is exercised.
        let data: Vec<u8> = (0..=255u8).cycle().take(LONG_FROM).collect();
        for len in 0..data.len() {
            let text = ENGINE.encode(&data[..len]);
            let mut out = vec![0xAA; 3];
            assert_eq!(decode_into(text.as_bytes(), &mut out), Some(len));
            assert_eq!(&out[..3], &[0xAA; 3]);
            assert_eq!(&out[3..], &data[..len]);
        }
    }

    #[test]
    fn invalid_text_leaves_the_output_alone() {
        let mut out = b"keep".to_vec();
        assert_eq!(decode_into(b"AAAA!AAA", &mut out), None);
        assert_eq!(decode_into(b"AA=A", &mut out), None);
        assert_eq!(out, b"keep");
        let d = ENGINE.decode("AxYfNSyKuFRIlSyJbs2qEis8TnE=").unwrap();
        assert_eq!(
            digest(b"AxYfNSyKuFRIlSyJbs2qEis8TnE=").map(Vec::from),
            Some(d)
        );
        assert_eq!(digest(b"AxYfNSyKuFRIlSyJbs2qEis8TnE"), None);
    }

    #[test]
    fn trailing_bits_are_ignored_on_every_path() {
        // "QUJ=" and "QUL=" both carry "AB" plus non-zero unused bits, which asrestore
        // ignores; the SIMD decoder refuses them, so the table decoder must take over.
        for prefix in [0, 8, 32, 200, LONG_FROM + 100] {
            for tail in [&b"QUI="[..], b"QUJ=", b"QUL=", b"QR=="] {
                let mut text = vec![b'A'; prefix];
                text.extend_from_slice(tail);
                let mut out = Vec::new();
                let want = if tail == b"QR==" { 1 } else { 2 };
                assert_eq!(
                    decode_into(&text, &mut out),
                    Some(prefix / 4 * 3 + want),
                    "{}",
                    text.escape_ascii()
                );
                assert_eq!(out[prefix / 4 * 3], b'A');
            }
        }
    }
}
