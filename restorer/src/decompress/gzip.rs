//! gzip (RFC 1952) members over raw deflate: this module reads each member's header, inflates
//! its body and reads its trailer, but leaves the CRC-32 and length check to the consumer's
//! thread (see [`super::Decompressed`]). The decoder thread is the pipeline's bottleneck, so
//! moving the checksum off it makes the whole restore faster; nothing is reported complete
//! before every member's trailer has matched.

use std::io::{self, BufRead, ErrorKind, Read};

use flate2::{Decompress, FlushDecompress, Status};

use super::Step;

/// A member's trailer: what its data must hash to and how long it must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    /// CRC-32 of the member's uncompressed data.
    pub crc: u32,
    /// Uncompressed length modulo 2^32.
    pub size: u32,
}

/// Header flag bits (RFC 1952 §2.3.1).
const FHCRC: u8 = 1 << 1;
const FEXTRA: u8 = 1 << 2;
const FNAME: u8 = 1 << 3;
const FCOMMENT: u8 = 1 << 4;
const RESERVED: u8 = 0b1110_0000;

/// Decodes every member of a gzip stream.
pub struct GzipMembers<R: BufRead> {
    source: R,
    inflate: Decompress,
    in_member: bool,
    members: u64,
    /// A trailer read with the member's last bytes, reported on the next call.
    pending_end: Option<Trailer>,
}

fn corrupt(msg: impl Into<String>) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, msg.into())
}

fn truncated(what: &str) -> io::Error {
    io::Error::new(
        ErrorKind::UnexpectedEof,
        format!("the input ended inside {what}"),
    )
}

impl<R: BufRead> GzipMembers<R> {
    /// A decoder positioned at the first member's header.
    pub fn new(source: R) -> Self {
        GzipMembers {
            source,
            inflate: Decompress::new(false),
            in_member: false,
            members: 0,
            pending_end: None,
        }
    }

    /// Decodes into `out` (which must not be empty).
    pub fn step(&mut self, out: &mut [u8]) -> io::Result<Step> {
        if let Some(t) = self.pending_end.take() {
            return Ok(Step::MemberEnd(t));
        }
        if !self.in_member && !self.start_member()? {
            return Ok(Step::End);
        }
        loop {
            let input = self.source.fill_buf()?;
            let eof = input.is_empty();
            let (in0, out0) = (self.inflate.total_in(), self.inflate.total_out());
            let status = self
                .inflate
                .decompress(input, out, FlushDecompress::None)
                .map_err(|e| corrupt(format!("invalid deflate data: {e}")))?;
            let consumed = (self.inflate.total_in() - in0) as usize;
            let produced = (self.inflate.total_out() - out0) as usize;
            self.source.consume(consumed);
            if status == Status::StreamEnd {
                let trailer = self.read_trailer()?;
                self.in_member = false;
                if produced == 0 {
                    return Ok(Step::MemberEnd(trailer));
                }
                self.pending_end = Some(trailer);
                return Ok(Step::Data(produced));
            }
            if produced > 0 {
                return Ok(Step::Data(produced));
            }
            if eof {
                return Err(truncated("a gzip member's compressed data"));
            }
            if consumed == 0 {
                return Err(corrupt("the deflate decoder made no progress"));
            }
        }
    }

    /// Reads the next member's header; `false` at a clean end of input after a member.
    fn start_member(&mut self) -> io::Result<bool> {
        if self.members > 0 && self.source.fill_buf()?.is_empty() {
            return Ok(false);
        }
        let mut h = [0u8; 10];
        self.read_exact(&mut h, "a gzip header")?;
        if h[..2] != [0x1f, 0x8b] {
            return Err(corrupt(if self.members == 0 {
                "not a gzip header"
            } else {
                "data after the last gzip member is not another gzip member"
            }));
        }
        if h[2] != 8 {
            return Err(corrupt(format!(
                "unsupported gzip compression method {}",
                h[2]
            )));
        }
        let flags = h[3];
        if flags & RESERVED != 0 {
            return Err(corrupt("reserved gzip header flags are set"));
        }
        if flags & FEXTRA != 0 {
            let mut len = [0u8; 2];
            self.read_exact(&mut len, "a gzip header's extra field")?;
            self.skip(u64::from(u16::from_le_bytes(len)))?;
        }
        if flags & FNAME != 0 {
            self.skip_past_nul()?;
        }
        if flags & FCOMMENT != 0 {
            self.skip_past_nul()?;
        }
        if flags & FHCRC != 0 {
            self.skip(2)?;
        }
        self.inflate.reset(false);
        self.in_member = true;
        self.members += 1;
        Ok(true)
    }

    fn read_trailer(&mut self) -> io::Result<Trailer> {
        let mut t = [0u8; 8];
        self.read_exact(&mut t, "a gzip trailer")?;
        Ok(Trailer {
            crc: u32::from_le_bytes([t[0], t[1], t[2], t[3]]),
            size: u32::from_le_bytes([t[4], t[5], t[6], t[7]]),
        })
    }

    fn read_exact(&mut self, buf: &mut [u8], what: &str) -> io::Result<()> {
        self.source.read_exact(buf).map_err(|e| match e.kind() {
            ErrorKind::UnexpectedEof => truncated(what),
            _ => e,
        })
    }

    fn skip(&mut self, n: u64) -> io::Result<()> {
        let skipped = io::copy(&mut (&mut self.source).take(n), &mut io::sink())?;
        if skipped < n {
            return Err(truncated("a gzip header"));
        }
        Ok(())
    }

    /// Skips a zero-terminated header field without buffering it.
    fn skip_past_nul(&mut self) -> io::Result<()> {
        loop {
            let buf = self.source.fill_buf()?;
            if buf.is_empty() {
                return Err(truncated("a gzip header"));
            }
            match memchr::memchr(0, buf) {
                Some(p) => {
                    self.source.consume(p + 1);
                    return Ok(());
                }
                None => {
                    let n = buf.len();
                    self.source.consume(n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// Decodes everything, with a tiny output buffer to exercise every path.
    fn decode(input: &[u8], out_len: usize) -> io::Result<(Vec<u8>, Vec<Trailer>)> {
        let mut d = GzipMembers::new(io::BufReader::with_capacity(7, input));
        let (mut data, mut ends) = (Vec::new(), Vec::new());
        let mut buf = vec![0u8; out_len];
        loop {
            match d.step(&mut buf)? {
                Step::Data(n) => data.extend_from_slice(&buf[..n]),
                Step::MemberEnd(t) => ends.push(t),
                Step::End => return Ok((data, ends)),
            }
        }
    }

    #[test]
    fn members_and_trailers() {
        let (a, b) = (b"first member\n".repeat(50), b"second".to_vec());
        let mut input = gzip(&a);
        input.extend(gzip(&b));
        input.extend(gzip(b""));
        for out_len in [1, 5, 4096] {
            let (data, ends) = decode(&input, out_len).unwrap();
            assert_eq!(data, [a.clone(), b.clone()].concat());
            let want: Vec<_> = [&a[..], &b, b""]
                .iter()
                .map(|m| Trailer {
                    crc: crc32fast::hash(m),
                    size: m.len() as u32,
                })
                .collect();
            assert_eq!(ends, want);
        }
    }

    #[test]
    fn header_fields_are_skipped() {
        let mut e = flate2::GzBuilder::new()
            .filename("backup.asb")
            .comment("made by a test")
            .extra(vec![1, 2, 3])
            .write(Vec::new(), Compression::default());
        e.write_all(b"payload").unwrap();
        let mut input = e.finish().unwrap();
        // Set FHCRC and insert its two bytes after the comment's NUL.
        input[3] |= FHCRC;
        let end_of_comment = input
            .windows(15)
            .position(|w| w == b"made by a test\0")
            .unwrap()
            + 15;
        input.splice(end_of_comment..end_of_comment, [0xAB, 0xCD]);
        let (data, ends) = decode(&input, 3).unwrap();
        assert_eq!(data, b"payload");
        assert_eq!(ends.len(), 1);
    }

    #[test]
    fn truncation_anywhere_is_unexpected_eof() {
        let input = gzip(&b"some records\n".repeat(100));
        for cut in 1..input.len() {
            let err = decode(&input[..cut], 64).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::UnexpectedEof, "cut at {cut}: {err}");
        }
    }

    #[test]
    fn garbage_is_invalid_data() {
        let mut input = gzip(b"data");
        input.extend_from_slice(b"junk after the member");
        let err = decode(&input, 64).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData);
        assert!(err.to_string().contains("not another gzip member"), "{err}");
        let mut bad_method = gzip(b"data");
        bad_method[2] = 7;
        assert_eq!(
            decode(&bad_method, 64).unwrap_err().kind(),
            ErrorKind::InvalidData
        );
        let mut bad_deflate = gzip(&b"x".repeat(1000));
        bad_deflate[10] = 0xff;
        assert_eq!(
            decode(&bad_deflate, 64).unwrap_err().kind(),
            ErrorKind::InvalidData
        );
    }

    /// Data whose every member matched its trailer, or `None` if some member did not.
    fn checked(input: &[u8], out_len: usize, reader_cap: usize) -> io::Result<Option<Vec<u8>>> {
        let mut d = GzipMembers::new(io::BufReader::with_capacity(reader_cap, input));
        let (mut data, mut member) = (Vec::new(), Vec::new());
        let mut buf = vec![0u8; out_len];
        loop {
            match d.step(&mut buf)? {
                Step::Data(n) => member.extend_from_slice(&buf[..n]),
                Step::MemberEnd(t) => {
                    if crc32fast::hash(&member) != t.crc || member.len() as u32 != t.size {
                        return Ok(None);
                    }
                    data.append(&mut member);
                }
                Step::End => return Ok(Some(data)),
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        #[test]
        fn any_members_any_buffers_give_the_data_back(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..6000),
            cuts in proptest::collection::vec(0usize..6000, 0..4),
            out_len in 1usize..5000,
            reader_cap in 1usize..5000,
        ) {
            let input = crate::decompress::encode_pieces(&data, cuts, gzip);
            proptest::prop_assert_eq!(checked(&input, out_len, reader_cap).unwrap(), Some(data));
        }

        #[test]
        fn a_changed_byte_is_never_silently_accepted(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..3000),
            at in proptest::prelude::any::<proptest::sample::Index>(),
            xor in 1u8..=255,
            out_len in 1usize..4000,
        ) {
            let mut input = gzip(&data);
            let i = at.index(input.len());
            input[i] ^= xor;
            // Header bytes that carry no data (time, flags for absent fields, OS) may change
            // freely; anything else must fail or fail its trailer.
            if let Ok(Some(got)) = checked(&input, out_len, 64) {
                proptest::prop_assert_eq!(got, data);
            }
        }
    }
}
