//! The streaming driver: keeps the pushed chunks, runs the grammar on one
//! contiguous buffer, and copies only when an entity straddles chunks.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use crate::grammar::{self, Cx, MAX_BIN_NAME};
use crate::lex::{GErr, GError, GKind, MAX_TOKEN};
use crate::{Entity, ErrorKind, ParseError, Version};

/// Parser settings.
#[derive(Debug, Clone, Default)]
pub struct ParserOptions {
    /// Accept backup-go's `Version 3.2` header and `* e` expression-index lines.
    pub allow_v3_2: bool,
    /// Accept bin names longer than 15 bytes (up to 999). asrestore rejects
    /// them, but only for bins that survive its `--bin-list` filter; a
    /// restorer that filters bins itself can set this and check later.
    pub allow_long_bin_names: bool,
}

/// Where in the file the parser is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Before the `Version` line.
    Header,
    /// After the header: `#` meta lines are still allowed.
    Meta,
    /// Global lines and records.
    Body,
}

/// Streaming `.asb` parser.
///
/// Contract: the sequence of entities (and the first error, if any) is the
/// same for every way of splitting the input into chunks. Memory held is
/// bounded by the largest single entity actually present in the input.
///
/// ```
/// use asb_format::{Entity, Parser, ParserOptions};
/// let mut p = Parser::new(ParserOptions::default());
/// p.push(bytes::Bytes::from_static(b"Version 3.1\n# namespace test\n"));
/// assert!(matches!(p.next_entity(), Ok(Some(Entity::Header(_)))));
/// assert!(matches!(p.next_entity(), Ok(Some(Entity::Meta(_)))));
/// assert_eq!(p.next_entity(), Ok(None));
/// assert_eq!(p.finish(), Ok(()));
/// ```
#[derive(Debug)]
pub struct Parser {
    options: ParserOptions,
    /// Contiguous unparsed bytes (the start of the next entity).
    buf: Bytes,
    /// Chunks after `buf`.
    pending: VecDeque<Bytes>,
    /// Total length of `pending`.
    pending_len: usize,
    /// Bytes (from the start of `buf`) the next entity needs at least.
    need: usize,
    /// Offset of the start of `buf` in the stream.
    offset: u64,
    /// 1-based line number at the start of `buf`.
    line: u64,
    stage: Stage,
    version: Version,
    /// The first error; every later call returns it again.
    failed: Option<ParseError>,
}

impl Parser {
    /// A parser at the start of a file.
    pub fn new(options: ParserOptions) -> Self {
        Self {
            options,
            buf: Bytes::new(),
            pending: VecDeque::new(),
            pending_len: 0,
            need: 0,
            offset: 0,
            line: 1,
            stage: Stage::Header,
            version: Version::V3_1,
            failed: None,
        }
    }

    /// Append the next chunk of input.
    pub fn push(&mut self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        if self.buf.is_empty() && self.pending.is_empty() {
            self.buf = chunk;
        } else {
            self.pending_len += chunk.len();
            self.pending.push_back(chunk);
        }
    }

    /// The next complete entity; `Ok(None)` when more input is needed.
    pub fn next_entity(&mut self) -> Result<Option<Entity>, ParseError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        loop {
            let avail = self.buf.len() + self.pending_len;
            if avail == 0 || avail < self.need {
                return Ok(None);
            }
            if self.buf.is_empty() {
                self.take_next_chunk();
            }
            match self.parse_one().map_err(|e| *e.0) {
                Ok((used, entity)) => {
                    self.consume(used);
                    return Ok(Some(entity));
                }
                Err(GErr {
                    rest_len,
                    kind: GKind::Incomplete { needed, .. },
                }) => {
                    let at = self.buf.len() - rest_len;
                    self.need = at.saturating_add(needed).max(self.buf.len() + 1);
                    if avail < self.need {
                        return Ok(None);
                    }
                    let target = self.need.max(self.buf.len().saturating_mul(2)).min(avail);
                    self.merge(target);
                }
                Err(GErr {
                    rest_len,
                    kind: GKind::Bad(kind),
                }) => return Err(self.fail(self.buf.len() - rest_len, kind)),
            }
        }
    }

    /// Signal end of input: errors if the input ended inside an entity, before
    /// the header, or without the final LF. Call it after [`Parser::next_entity`]
    /// returned `Ok(None)`.
    pub fn finish(&mut self) -> Result<(), ParseError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let avail = self.buf.len() + self.pending_len;
        if avail == 0 {
            if self.stage == Stage::Header {
                return Err(self.fail(
                    0,
                    ErrorKind::UnexpectedEof {
                        expected: "header \"Version 3.1\"",
                    },
                ));
            }
            return Ok(());
        }
        self.merge(avail);
        match self.parse_one().map_err(|e| *e.0) {
            Ok(_) => Err(self.fail(
                0,
                ErrorKind::Unexpected {
                    expected: "next_entity() to be called until it returns Ok(None) before finish()",
                    found: "an unread entity".to_owned(),
                },
            )),
            Err(GErr {
                kind: GKind::Incomplete { expected, .. },
                ..
            }) => Err(self.fail(avail, ErrorKind::UnexpectedEof { expected })),
            Err(GErr {
                rest_len,
                kind: GKind::Bad(kind),
            }) => Err(self.fail(avail - rest_len, kind)),
        }
    }

    /// Bytes consumed so far (offset of the next unparsed byte).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// 1-based line number of the next unparsed byte.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The version from the header (3.1 until the header was read).
    pub fn version(&self) -> Version {
        self.version
    }

    /// Runs the grammar for the current stage on `buf`; returns the bytes used.
    #[inline]
    fn parse_one(&mut self) -> Result<(usize, Entity), GError> {
        let input: &[u8] = &self.buf;
        let res = match self.stage {
            Stage::Header => {
                grammar::header(input, self.options.allow_v3_2).map(|(r, v)| (r, Entity::Header(v)))
            }
            _ => {
                let cx = Cx {
                    src: &self.buf,
                    legacy: self.version == Version::V3_0,
                    expressions: self.version == Version::V3_2,
                    max_bin_name: if self.options.allow_long_bin_names {
                        MAX_TOKEN
                    } else {
                        MAX_BIN_NAME
                    },
                };
                if self.stage == Stage::Meta && input.first() == Some(&b'#') {
                    grammar::meta(&cx, input).map(|(r, m)| (r, Entity::Meta(m)))
                } else {
                    grammar::entity(&cx, input)
                }
            }
        };
        match res {
            Ok((rest, entity)) => {
                match &entity {
                    Entity::Header(v) => {
                        self.version = *v;
                        self.stage = Stage::Meta;
                    }
                    Entity::Meta(_) => {}
                    _ => self.stage = Stage::Body,
                }
                Ok((input.len() - rest.len(), entity))
            }
            Err(nom::Err::Failure(e) | nom::Err::Error(e)) => Err(e),
            Err(nom::Err::Incomplete(_)) => Err(GError::new(
                0,
                GKind::Incomplete {
                    expected: "more input",
                    needed: 1,
                },
            )),
        }
    }

    /// Drops `used` bytes of `buf`, advancing offset and line.
    fn consume(&mut self, used: usize) {
        self.line += count_lf(&self.buf[..used]);
        self.offset += used as u64;
        self.buf.advance(used);
        self.need = 0;
        if self.buf.is_empty() {
            self.take_next_chunk();
        }
    }

    /// Makes the next pending chunk the buffer (no copy).
    fn take_next_chunk(&mut self) {
        if let Some(c) = self.pending.pop_front() {
            self.pending_len -= c.len();
            self.buf = c;
        }
    }

    /// Makes the first `target` available bytes contiguous, copying `buf` and
    /// as much of the following chunks as needed.
    fn merge(&mut self, target: usize) {
        if self.buf.len() >= target {
            return;
        }
        let mut m = BytesMut::with_capacity(target);
        m.extend_from_slice(&self.buf);
        while m.len() < target {
            let Some(mut c) = self.pending.pop_front() else {
                break;
            };
            self.pending_len -= c.len();
            let take = (target - m.len()).min(c.len());
            m.extend_from_slice(&c[..take]);
            c.advance(take);
            if !c.is_empty() {
                self.pending_len += c.len();
                self.pending.push_front(c);
            }
        }
        self.buf = m.freeze();
    }

    /// Records and returns the error at `at` bytes into `buf`.
    fn fail(&mut self, at: usize, kind: ErrorKind) -> ParseError {
        let at = at.min(self.buf.len());
        let e = ParseError {
            line: self.line + count_lf(&self.buf[..at]),
            offset: self.offset + at as u64,
            kind,
        };
        self.failed = Some(e.clone());
        e
    }
}

/// Number of LF bytes in `s` (vectorizes well: byte-wide counters per block).
fn count_lf(s: &[u8]) -> u64 {
    let mut n = 0u64;
    for block in s.chunks(255) {
        let mut c: u8 = 0;
        for &b in block {
            c += u8::from(b == b'\n');
        }
        n += u64::from(c);
    }
    n
}
