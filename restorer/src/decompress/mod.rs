//! Input decoding: decryption (`asbackup --encrypt`, AES-CTR, when a key is given), then
//! decompression: gzip (multi-member) or zstd (multi-frame, libzstd), detected by magic bytes,
//! otherwise plain; on a blocking thread, shipping ~1 MiB [`Bytes`] chunks over a bounded channel.
//!
//! The channel is the backpressure: when the parser falls behind, the decoder thread blocks on
//! `send`, stops pulling from the source, and the source stops reading. A truncated or corrupt
//! gzip/zstd stream ends with an [`DecompressError`] naming the input, never a short success.
//!
//! The decoder thread only inflates: each gzip member's CRC-32 and length are checked on the
//! receiving thread as it takes the chunks ([`Decompressed::recv`]), where checking costs less
//! than on the decoder, the slowest stage of a restore.
//!
//! asbackup compresses, then encrypts; so an encrypted file is decrypted first and its format is
//! detected from the decrypted bytes. Encrypted data that decrypts to neither an `.asb` header
//! nor a gzip or zstd magic means the key (or the cipher) is wrong, and is reported as such.

mod decrypt;
mod gzip;
mod key;
mod zstd;

pub use key::{Cipher, EncryptionKey, KeyError};

use std::io::{self, BufRead, ErrorKind, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Buf, Bytes, BytesMut};
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::chunk_pool::ChunkPool;
use crate::source::{Input, SourceError};
use decrypt::Decryptor;

/// Size of the decompressed chunks sent to the consumer.
pub const OUT_CHUNK: usize = 1 << 20;
/// Decompressed chunks buffered between the decoder and the consumer.
pub const CHANNEL_CHUNKS: usize = 4;
/// Plain input chunks at least this large are passed through without copying.
const PASS_THROUGH_MIN: usize = 64 << 10;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
/// How every `.asb` file starts.
const ASB_START: &[u8] = b"Version ";

/// The `-z/--compress` flag: what the user says the data is compressed with. The compression
/// is detected from the data all the same; a disagreement is logged as a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// `-z zstd`.
    Zstd,
    /// `-z none`.
    None,
}

/// How to decode the inputs (the `-z` and `-y` flags).
#[derive(Debug, Clone, Default)]
pub struct DecodeOptions {
    /// Decrypt with this key first (`-y` with `--encryption-key-file` / `--encryption-key-env`).
    pub encryption: Option<Arc<EncryptionKey>>,
    /// The compression the user expects (`-z`), checked against the data.
    pub compression: Option<Compression>,
}

/// The compression of an input, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// gzip, possibly several members.
    Gzip,
    /// zstd, possibly several (or skippable) frames.
    Zstd,
    /// Not compressed.
    Plain,
}

impl Format {
    /// Detects the format from the first (up to 4) bytes of the input.
    pub fn detect(head: &[u8]) -> Format {
        let skippable_zstd =
            head.len() >= 4 && head[0] & 0xf0 == 0x50 && head[1..4] == [0x2a, 0x4d, 0x18];
        if head.starts_with(&GZIP_MAGIC) {
            Format::Gzip
        } else if head.starts_with(&ZSTD_MAGIC) || skippable_zstd {
            Format::Zstd
        } else {
            Format::Plain
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Gzip => "gzip",
            Format::Zstd => "zstd",
            Format::Plain => "plain",
        }
    }
}

/// The decompressed bytes of an input.
pub struct Decompressed {
    rx: mpsc::Receiver<Piece>,
    /// Compressed bytes taken from the source so far, for progress against [`Input::size`].
    pub compressed_bytes_read: Arc<AtomicU64>,
    input: String,
    /// CRC-32 and length of the current gzip member's data so far.
    crc: crc32fast::Hasher,
    size: u32,
    /// An error was returned: nothing follows.
    done: bool,
}

/// What the decoder thread sends.
enum Piece {
    /// Decompressed bytes.
    Data(Bytes),
    /// A gzip member ended after the data sent so far; `offset` is where its trailer ends in
    /// the compressed input.
    MemberEnd { trailer: gzip::Trailer, offset: u64 },
    /// The decoder failed; nothing follows.
    Failed(DecompressError),
}

impl Decompressed {
    /// The next chunk of decompressed bytes (~[`OUT_CHUNK`] bytes each), `None` at the end of
    /// a complete and verified input. After an `Err` nothing follows.
    pub async fn recv(&mut self) -> Option<Result<Bytes, DecompressError>> {
        loop {
            if self.done {
                return None;
            }
            let piece = self.rx.recv().await;
            if let Some(out) = self.check(piece) {
                return out;
            }
        }
    }

    /// [`Decompressed::recv`] for a blocking thread.
    pub fn blocking_recv(&mut self) -> Option<Result<Bytes, DecompressError>> {
        loop {
            if self.done {
                return None;
            }
            let piece = self.rx.blocking_recv();
            if let Some(out) = self.check(piece) {
                return out;
            }
        }
    }

    /// Checksums data and checks member trailers; `None` means "nothing to hand out yet".
    fn check(&mut self, piece: Option<Piece>) -> Option<Option<Result<Bytes, DecompressError>>> {
        match piece {
            None => Some(None),
            Some(Piece::Data(b)) => {
                self.crc.update(&b);
                self.size = self.size.wrapping_add(b.len() as u32);
                Some(Some(Ok(b)))
            }
            Some(Piece::MemberEnd { trailer, offset }) => {
                let crc = std::mem::take(&mut self.crc).finalize();
                let size = std::mem::take(&mut self.size);
                let message = if crc != trailer.crc {
                    format!(
                        "CRC-32 mismatch: the data hashes to {crc:#010x}, the gzip trailer says                          {:#010x}",
                        trailer.crc
                    )
                } else if size != trailer.size {
                    format!(
                        "length mismatch: {size} bytes (mod 2^32) decompressed, the gzip trailer                          says {}",
                        trailer.size
                    )
                } else {
                    return None;
                };
                Some(Some(Err(self.fail(DecompressError::Corrupt {
                    input: self.input.clone(),
                    format: "gzip",
                    offset,
                    message,
                }))))
            }
            Some(Piece::Failed(e)) => Some(Some(Err(self.fail(e)))),
        }
    }

    /// Stops the decoder (dropping the channel) and returns `e`.
    fn fail(&mut self, e: DecompressError) -> DecompressError {
        self.done = true;
        self.rx.close();
        e
    }
}

/// Reading or decompressing an input failed.
#[derive(Debug, thiserror::Error)]
pub enum DecompressError {
    /// The source failed (its message names the location).
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The compressed stream ended early.
    #[error(
        "{input}: {format} data is truncated: the input ended after {offset} compressed bytes, \
         before the end of the compressed stream"
    )]
    Truncated {
        /// The input's name.
        input: String,
        /// "gzip" or "zstd".
        format: &'static str,
        /// Compressed bytes read.
        offset: u64,
    },
    /// The compressed stream is invalid.
    #[error("{input}: {format} data is corrupt near compressed byte {offset}: {message}")]
    Corrupt {
        /// The input's name.
        input: String,
        /// "gzip" or "zstd".
        format: &'static str,
        /// Compressed bytes consumed by the decoder when it failed.
        offset: u64,
        /// The decoder's message.
        message: String,
    },
    /// An encrypted input cannot be decrypted: it ends inside its IV header, or the key does
    /// not fit (the decrypted data is not an `.asb`, gzip or zstd stream).
    #[error("{input}: encrypted data near byte {offset}: {message}")]
    Encrypted {
        /// The input's name.
        input: String,
        /// Byte offset in the (encrypted) input.
        offset: u64,
        /// What is wrong.
        message: String,
    },
    /// The decoder thread stopped unexpectedly.
    #[error("{input}: the decompression thread failed: {message}")]
    Internal {
        /// The input's name.
        input: String,
        /// What happened.
        message: String,
    },
}

/// Starts decompressing `input` on a blocking thread. Must be called inside a tokio runtime.
///
/// Dropping the returned receiver stops the thread at its next chunk.
pub fn spawn(input: Input) -> Decompressed {
    spawn_with(input, &DecodeOptions::default())
}

/// [`spawn`] with decryption and the expected compression.
pub fn spawn_with(input: Input, options: &DecodeOptions) -> Decompressed {
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    let counter = Arc::new(AtomicU64::new(0));
    let name = input.name.clone();
    let decryptor = options.encryption.clone().map(Decryptor::new);
    let reader = ChunkReader::new(Handle::current(), input.stream, counter.clone(), decryptor);
    let expected = options.compression;
    let task = tokio::task::spawn_blocking({
        let tx = tx.clone();
        move || run(name, reader, expected, &tx)
    });
    // Report a panic of the decoder thread instead of ending the stream as if complete.
    let input_name = input.name.clone();
    tokio::spawn(async move {
        if let Err(e) = task.await {
            let _ = tx
                .send(Piece::Failed(DecompressError::Internal {
                    input: input_name,
                    message: e.to_string(),
                }))
                .await;
        }
    });
    Decompressed {
        rx,
        compressed_bytes_read: counter,
        input: input.name,
        crc: crc32fast::Hasher::new(),
        size: 0,
        done: false,
    }
}

type Sender = mpsc::Sender<Piece>;

/// Detects the format and pumps the input through the right decoder.
fn run(name: String, mut reader: ChunkReader, expected: Option<Compression>, tx: &Sender) {
    let state = reader.state.clone();
    let format = match reader.fill_at_least(ASB_START.len()) {
        Ok(head) => Format::detect(head),
        Err(e) => {
            let _ = tx.blocking_send(Piece::Failed(classify(&name, Format::Plain, &state, e)));
            return;
        }
    };
    if let Err(e) = check_format(&name, &reader, format, expected) {
        let _ = tx.blocking_send(Piece::Failed(e));
        return;
    }
    let result = match format {
        Format::Plain => pass_through(&mut reader, tx),
        Format::Gzip => pump(gzip::GzipMembers::new(reader), &state, tx),
        Format::Zstd => zstd::ZstdFrames::new(reader).and_then(|z| pump(z, &state, tx)),
    };
    if let Err(e) = result {
        let _ = tx.blocking_send(Piece::Failed(classify(&name, format, &state, e)));
    }
}

/// Checks the detected format against what the flags say: a wrong key is an error, a
/// disagreement with `-z` a warning.
fn check_format(
    name: &str,
    reader: &ChunkReader,
    format: Format,
    expected: Option<Compression>,
) -> Result<(), DecompressError> {
    let head = &reader.cur[..];
    let n = head.len().min(ASB_START.len());
    let asb_like = head[..n] == ASB_START[..n];
    if format == Format::Plain && !head.is_empty() && !asb_like {
        // Fewer bytes than a magic, and the start of one: a compressed stream cut short.
        let cut = [("zstd", &ZSTD_MAGIC[..]), ("gzip", &GZIP_MAGIC[..])]
            .into_iter()
            .find(|(_, magic)| head.len() < magic.len() && magic.starts_with(head));
        if let Some((format, _)) = cut {
            return Err(DecompressError::Truncated {
                input: name.to_owned(),
                format,
                offset: reader.state.header + head.len() as u64,
            });
        }
        if let Some(d) = &reader.decryptor {
            let key = d.key();
            return Err(DecompressError::Encrypted {
                input: name.to_owned(),
                offset: decrypt::HEADER_LEN as u64,
                message: format!(
                    "the decrypted data is not an .asb, gzip or zstd stream: wrong {}, or not \
                     a file written with --encrypt {}?",
                    key.origin(),
                    key.cipher().name()
                ),
            });
        }
        if head
            .iter()
            .any(|&b| !(b.is_ascii_graphic() || b.is_ascii_whitespace()))
        {
            tracing::warn!(
                input = %name,
                "the data starts with neither an .asb header nor a gzip or zstd magic; if it \
                 was written with asbackup --encrypt, pass -y/--encrypt and the key"
            );
        }
    }
    match (expected, format) {
        (Some(Compression::Zstd), Format::Gzip | Format::Plain) => tracing::warn!(
            input = %name,
            "--compress zstd was given, but the data is {}; reading it as {}",
            format.name(),
            format.name()
        ),
        (Some(Compression::None), Format::Gzip | Format::Zstd) => tracing::warn!(
            input = %name,
            "--compress none was given, but the data is {}-compressed; decompressing it",
            format.name()
        ),
        _ => {}
    }
    Ok(())
}

/// An error of the decryption layer, carried inside an [`io::Error`].
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct EncryptedInputError {
    offset: u64,
    message: String,
}

/// Turns a decoder error into the error to report.
fn classify(name: &str, format: Format, state: &ReaderState, e: io::Error) -> DecompressError {
    let failure = state.failure.lock().map(|mut f| f.take()).unwrap_or(None);
    if let Some(source) = failure {
        return DecompressError::Source(source);
    }
    if let Some(enc) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<EncryptedInputError>())
    {
        return DecompressError::Encrypted {
            input: name.to_owned(),
            offset: enc.offset,
            message: enc.message.clone(),
        };
    }
    let offset = state.offset();
    if state.eof.load(Ordering::Relaxed) && is_eof_error(&e) {
        return DecompressError::Truncated {
            input: name.to_owned(),
            format: format.name(),
            offset,
        };
    }
    DecompressError::Corrupt {
        input: name.to_owned(),
        format: format.name(),
        offset,
        message: e.to_string(),
    }
}

/// Whether an error is, or wraps, an unexpected end of input.
fn is_eof_error(e: &io::Error) -> bool {
    e.kind() == ErrorKind::UnexpectedEof || e.get_ref().is_some_and(|c| chain_has_eof(c))
}

/// Whether an error or one of its causes is an `UnexpectedEof` I/O error.
fn chain_has_eof(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == ErrorKind::UnexpectedEof)
        {
            return true;
        }
        cause = c.source();
    }
    false
}

/// One step of a decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// This many bytes were written at the start of the output buffer.
    Data(usize),
    /// A gzip member ended (its data was all returned before this).
    MemberEnd(gzip::Trailer),
    /// The input ended cleanly (after the last member or frame).
    End,
}

/// A decoder as the pump drives it.
trait Decoder {
    /// Decodes into `out` (never empty).
    fn step(&mut self, out: &mut [u8]) -> io::Result<Step>;
}

impl<R: BufRead> Decoder for gzip::GzipMembers<R> {
    fn step(&mut self, out: &mut [u8]) -> io::Result<Step> {
        gzip::GzipMembers::step(self, out)
    }
}

impl<R: BufRead> Decoder for zstd::ZstdFrames<R> {
    fn step(&mut self, out: &mut [u8]) -> io::Result<Step> {
        zstd::ZstdFrames::step(self, out)
    }
}

/// Runs a decoder into ~[`OUT_CHUNK`] chunks and sends them, each gzip member's data before
/// its trailer. Stops quietly when the consumer is gone.
fn pump(mut decoder: impl Decoder, state: &ReaderState, tx: &Sender) -> io::Result<()> {
    let mut pool = ChunkPool::new(OUT_CHUNK);
    // `buf` is the unsent rest of the current output buffer; its first `filled` bytes are data.
    let mut buf = pool.take();
    let mut filled = 0;
    // Sends the data decoded so far; `false` when the consumer is gone.
    let flush = |buf: &mut BytesMut, filled: &mut usize, pool: &mut ChunkPool| -> bool {
        if *filled == 0 {
            return true;
        }
        let chunk = buf.split_to(*filled).freeze();
        *filled = 0;
        pool.sent(&chunk);
        tx.blocking_send(Piece::Data(chunk)).is_ok()
    };
    loop {
        if filled == buf.len() {
            if !flush(&mut buf, &mut filled, &mut pool) {
                return Ok(());
            }
            buf = pool.take();
        }
        let step = match decoder.step(&mut buf[filled..]) {
            Ok(s) => s,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                // What was decoded before an error is delivered first, then the error.
                flush(&mut buf, &mut filled, &mut pool);
                return Err(e);
            }
        };
        match step {
            Step::Data(n) => filled += n,
            Step::MemberEnd(trailer) => {
                if !flush(&mut buf, &mut filled, &mut pool) {
                    return Ok(());
                }
                let offset = state.offset();
                if tx
                    .blocking_send(Piece::MemberEnd { trailer, offset })
                    .is_err()
                {
                    return Ok(());
                }
            }
            Step::End => {
                flush(&mut buf, &mut filled, &mut pool);
                return Ok(());
            }
        }
    }
}

/// Sends plain input on, passing large chunks through and gathering small ones.
fn pass_through(reader: &mut ChunkReader, tx: &Sender) -> io::Result<()> {
    let mut pending = BytesMut::new();
    while let Some(chunk) = reader.next_chunk()? {
        let out = if pending.is_empty() && chunk.len() >= PASS_THROUGH_MIN {
            chunk
        } else {
            pending.extend_from_slice(&chunk);
            if pending.len() < PASS_THROUGH_MIN {
                continue;
            }
            pending.split().freeze()
        };
        if tx.blocking_send(Piece::Data(out)).is_err() {
            return Ok(());
        }
    }
    if !pending.is_empty() {
        let _ = tx.blocking_send(Piece::Data(pending.freeze()));
    }
    Ok(())
}

/// What the reader shares with the error reporting.
#[derive(Default)]
struct ReaderState {
    /// Bytes handed to the decoder.
    consumed: AtomicU64,
    /// Input bytes before the first byte handed to the decoder (the encrypted IV).
    header: u64,
    /// The source reached its end.
    eof: AtomicBool,
    /// The source's own error, reported as is.
    failure: Mutex<Option<SourceError>>,
}

impl ReaderState {
    /// Offset in the input of the next byte the decoder will take.
    fn offset(&self) -> u64 {
        self.header + self.consumed.load(Ordering::Relaxed)
    }
}

/// A blocking [`BufRead`] over the async chunk stream (decrypted when a key is given), without
/// copying chunks.
struct ChunkReader {
    handle: Handle,
    stream: BoxStream<'static, Result<Bytes, SourceError>>,
    cur: Bytes,
    received: Arc<AtomicU64>,
    state: Arc<ReaderState>,
    decryptor: Option<Decryptor>,
}

impl ChunkReader {
    fn new(
        handle: Handle,
        stream: BoxStream<'static, Result<Bytes, SourceError>>,
        received: Arc<AtomicU64>,
        decryptor: Option<Decryptor>,
    ) -> Self {
        let state = ReaderState {
            header: if decryptor.is_some() {
                decrypt::HEADER_LEN as u64
            } else {
                0
            },
            ..ReaderState::default()
        };
        ChunkReader {
            handle,
            stream,
            cur: Bytes::new(),
            received,
            state: Arc::new(state),
            decryptor,
        }
    }

    /// The next non-empty chunk from the source (decrypted), `None` at its end.
    fn fetch(&mut self) -> io::Result<Option<Bytes>> {
        if self.state.eof.load(Ordering::Relaxed) {
            return Ok(None);
        }
        loop {
            match self.handle.block_on(self.stream.next()) {
                Some(Ok(b)) if b.is_empty() => continue,
                Some(Ok(b)) => {
                    self.received.fetch_add(b.len() as u64, Ordering::Relaxed);
                    let Some(d) = &mut self.decryptor else {
                        return Ok(Some(b));
                    };
                    let plain = d.decrypt(b);
                    if !plain.is_empty() {
                        return Ok(Some(plain));
                    }
                }
                Some(Err(e)) => {
                    let msg = e.to_string();
                    if let Ok(mut slot) = self.state.failure.lock() {
                        *slot = Some(e);
                    }
                    return Err(io::Error::other(msg));
                }
                None => {
                    self.state.eof.store(true, Ordering::Relaxed);
                    if let Some(d) = &self.decryptor
                        && !d.header_complete()
                    {
                        let offset = self.received.load(Ordering::Relaxed);
                        return Err(io::Error::new(
                            ErrorKind::UnexpectedEof,
                            EncryptedInputError {
                                offset,
                                message: format!(
                                    "the input is truncated: it ended after {offset} bytes, \
                                     inside the {}-byte encrypted IV that starts an encrypted \
                                     backup",
                                    decrypt::HEADER_LEN
                                ),
                            },
                        ));
                    }
                    return Ok(None);
                }
            }
        }
    }

    /// Buffers at least `n` bytes (fewer only at the end of input) and returns them.
    fn fill_at_least(&mut self, n: usize) -> io::Result<&[u8]> {
        while self.cur.len() < n {
            let Some(next) = self.fetch()? else { break };
            if self.cur.is_empty() {
                self.cur = next;
            } else {
                let mut joined = BytesMut::with_capacity(self.cur.len() + next.len());
                joined.extend_from_slice(&self.cur);
                joined.extend_from_slice(&next);
                self.cur = joined.freeze();
            }
        }
        Ok(&self.cur)
    }

    /// Takes the buffered bytes or the next chunk whole.
    fn next_chunk(&mut self) -> io::Result<Option<Bytes>> {
        let chunk = if self.cur.is_empty() {
            self.fetch()?
        } else {
            Some(std::mem::take(&mut self.cur))
        };
        if let Some(c) = &chunk {
            self.state
                .consumed
                .fetch_add(c.len() as u64, Ordering::Relaxed);
        }
        Ok(chunk)
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ChunkReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.cur.is_empty()
            && let Some(next) = self.fetch()?
        {
            self.cur = next;
        }
        Ok(&self.cur)
    }

    fn consume(&mut self, amt: usize) {
        let amt = amt.min(self.cur.len());
        self.cur.advance(amt);
        self.state.consumed.fetch_add(amt as u64, Ordering::Relaxed);
    }
}

/// Test support: `data` cut at `cuts` (sorted, clamped to its length) into pieces, each encoded
/// on its own by `encode` (one gzip member / zstd frame each) and concatenated.
#[cfg(test)]
pub(crate) fn encode_pieces(
    data: &[u8],
    cuts: Vec<usize>,
    mut encode: impl FnMut(&[u8]) -> Vec<u8>,
) -> Vec<u8> {
    let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
    cuts.sort_unstable();
    let mut input = Vec::new();
    let mut start = 0;
    for end in cuts.into_iter().chain([data.len()]) {
        input.extend(encode(&data[start..end]));
        start = end;
    }
    input
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats() {
        assert_eq!(Format::detect(&[0x1f, 0x8b, 8, 0]), Format::Gzip);
        assert_eq!(Format::detect(&[0x28, 0xb5, 0x2f, 0xfd]), Format::Zstd);
        assert_eq!(Format::detect(&[0x5e, 0x2a, 0x4d, 0x18]), Format::Zstd);
        assert_eq!(Format::detect(b"Vers"), Format::Plain);
        assert_eq!(Format::detect(b""), Format::Plain);
        assert_eq!(Format::detect(&[0x1f]), Format::Plain);
    }
}
