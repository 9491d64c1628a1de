//! The Aerospike `.asb` backup format (versions 3.0 and 3.1): a streaming,
//! chunk-boundary-independent parser and an asbackup-exact encoder.
//!
//! This crate does no I/O. Feed it bytes with [`Parser::push`], pull
//! [`Entity`] values with [`Parser::next_entity`], and call [`Parser::finish`]
//! at end of input.

mod error;
mod value;

pub use error::{ErrorKind, ParseError};
pub use value::{
    Bin, BytesType, Entity, GlobalItem, IndexPath, IndexType, Key, MetaLine, PathType, Record,
    SecondaryIndex, Udf, Value, Version,
};

use bytes::Bytes;

/// Parser settings.
#[derive(Debug, Clone, Default)]
pub struct ParserOptions {
    /// Accept backup-go's `Version 3.2` header and `* e` expression-index lines.
    pub allow_v3_2: bool,
}

/// Streaming `.asb` parser.
///
/// Contract: the sequence of entities (and the first error, if any) is the
/// same for every way of splitting the input into chunks. Memory held is
/// bounded by the largest single entity actually present in the input.
#[derive(Debug)]
pub struct Parser {
    #[allow(dead_code)]
    options: ParserOptions,
}

impl Parser {
    /// A parser at the start of a file.
    pub fn new(options: ParserOptions) -> Self {
        Self { options }
    }

    /// Append the next chunk of input.
    pub fn push(&mut self, _chunk: Bytes) {
        unimplemented!("asb-format parser: issue 2")
    }

    /// The next complete entity; `Ok(None)` when more input is needed.
    pub fn next_entity(&mut self) -> Result<Option<Entity>, ParseError> {
        unimplemented!("asb-format parser: issue 2")
    }

    /// Signal end of input: errors if the input ended inside an entity, before
    /// the header, or without the final LF.
    pub fn finish(&mut self) -> Result<(), ParseError> {
        unimplemented!("asb-format parser: issue 2")
    }

    /// Bytes consumed so far (offset of the next unparsed byte).
    pub fn offset(&self) -> u64 {
        0
    }

    /// 1-based line number of the next unparsed byte.
    pub fn line(&self) -> u64 {
        1
    }
}
