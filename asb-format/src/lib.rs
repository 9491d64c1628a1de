//! The Aerospike `.asb` backup format (versions 3.0 and 3.1): a streaming,
//! chunk-boundary-independent parser and an asbackup-exact encoder.
//!
//! This crate does no I/O. Feed it bytes with [`Parser::push`], pull
//! [`Entity`] values with [`Parser::next_entity`], and call [`Parser::finish`]
//! at end of input.

pub mod encode;
mod error;
mod grammar;
mod lex;
mod parser;
mod value;

pub use error::{ErrorKind, ParseError};
pub use parser::{Parser, ParserOptions};
pub use value::{
    Bin, BytesType, Entity, GlobalItem, IndexPath, IndexType, Key, MetaLine, PathType, Record,
    SecondaryIndex, Udf, Value, Version,
};
