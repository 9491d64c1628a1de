//! zstd streams (RFC 8878) through libzstd's streaming decoder: every frame, skippable frames
//! skipped, content checksums checked when a frame has one. The decoder writes straight into the
//! pump's output buffer; the input ends cleanly only between frames.

use std::io::{self, BufRead, ErrorKind};

use zstd::stream::raw::{Decoder, InBuffer, Operation, OutBuffer};

use super::Step;

/// Decodes every frame of a zstd stream.
pub struct ZstdFrames<R: BufRead> {
    source: R,
    decoder: Decoder<'static>,
    /// Inside a frame: libzstd's last hint was not 0 (0 = a frame was decoded and flushed).
    in_frame: bool,
}

fn corrupt(e: io::Error) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, format!("invalid zstd data: {e}"))
}

impl<R: BufRead> ZstdFrames<R> {
    /// A decoder positioned at the first frame.
    pub fn new(source: R) -> io::Result<Self> {
        Ok(ZstdFrames {
            source,
            decoder: Decoder::new()?,
            in_frame: false,
        })
    }

    /// Decodes into `out` (which must not be empty).
    pub fn step(&mut self, out: &mut [u8]) -> io::Result<Step> {
        loop {
            let input = self.source.fill_buf()?;
            let eof = input.is_empty();
            if eof && !self.in_frame {
                return Ok(Step::End);
            }
            let mut inb = InBuffer::around(input);
            let mut outb = OutBuffer::around(&mut *out);
            let hint = self.decoder.run(&mut inb, &mut outb).map_err(corrupt)?;
            let (consumed, produced) = (inb.pos(), outb.pos());
            self.source.consume(consumed);
            self.in_frame = hint != 0;
            if produced > 0 {
                return Ok(Step::Data(produced));
            }
            if eof {
                // Nothing was left to flush and the frame is not complete.
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    "the input ended inside a zstd frame",
                ));
            }
            if consumed == 0 {
                return Err(io::Error::new(
                    ErrorKind::InvalidData,
                    "the zstd decoder made no progress",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zstd(data: &[u8], level: i32) -> Vec<u8> {
        zstd::bulk::compress(data, level).unwrap()
    }

    /// Decodes everything with a small reader buffer and output buffer.
    fn decode(input: &[u8], out_len: usize, reader_cap: usize) -> io::Result<Vec<u8>> {
        let mut d = ZstdFrames::new(io::BufReader::with_capacity(reader_cap, input))?;
        let mut data = Vec::new();
        let mut buf = vec![0u8; out_len];
        loop {
            match d.step(&mut buf)? {
                Step::Data(n) => data.extend_from_slice(&buf[..n]),
                Step::MemberEnd(_) => unreachable!("zstd has no gzip members"),
                Step::End => return Ok(data),
            }
        }
    }

    #[test]
    fn frames_and_skippable_frames() {
        let (a, b) = (b"first frame\n".repeat(500), b"second".to_vec());
        let mut input = zstd(&a, 3);
        input.extend([0x50, 0x2a, 0x4d, 0x18, 2, 0, 0, 0, 7, 7]);
        input.extend(zstd(&b, 19));
        input.extend(zstd(b"", 1));
        for (out_len, cap) in [(1, 1), (5, 3), (4096, 64), (1 << 20, 1 << 16)] {
            assert_eq!(decode(&input, out_len, cap).unwrap(), [&a[..], &b].concat());
        }
    }

    #[test]
    fn truncation_anywhere_is_unexpected_eof() {
        let input = zstd(&b"some records\n".repeat(2000), 3);
        for cut in 1..input.len() {
            let err = decode(&input[..cut], 64, 16).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::UnexpectedEof, "cut at {cut}: {err}");
        }
    }

    #[test]
    fn garbage_and_bad_checksums_are_invalid_data() {
        let mut input = zstd(b"data", 3);
        input.extend_from_slice(b"junk after the frame");
        let err = decode(&input, 64, 64).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");

        let text = b"checksummed frame\n".repeat(100);
        let mut c = zstd::bulk::Compressor::new(3).unwrap();
        c.set_parameter(zstd::stream::raw::CParameter::ChecksumFlag(true))
            .unwrap();
        let good = c.compress(&text).unwrap();
        assert_eq!(decode(&good, 64, 64).unwrap(), text);
        let mut bad = good;
        let last = bad.len() - 1;
        bad[last] ^= 0x40; // the last 4 bytes are the content checksum
        let err = decode(&bad, 64, 64).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
        assert!(err.to_string().contains("zstd"), "{err}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        #[test]
        fn any_frames_any_buffers_give_the_data_back(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..6000),
            cuts in proptest::collection::vec(0usize..6000, 0..4),
            out_len in 1usize..5000,
            reader_cap in 1usize..5000,
        ) {
            let input = crate::decompress::encode_pieces(&data, cuts, |p| zstd(p, 1));
            proptest::prop_assert_eq!(decode(&input, out_len, reader_cap).unwrap(), data);
        }
    }
}
