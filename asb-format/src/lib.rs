//! The Aerospike `.asb` backup format (versions 3.0 and 3.1): a streaming,
//! chunk-boundary-independent parser and an asbackup-exact encoder.
//!
//! This crate does no I/O. Feed it bytes with [`Parser::push`], pull
//! [`Entity`] values with [`Parser::next_entity`], and call [`Parser::finish`]
//! at end of input:
//!
//! ```
//! use asb_format::{Entity, Parser, ParserOptions, Value};
//! let file = b"Version 3.1\n# namespace test\n+ n test\n+ d AxYfNSyKuFRIlSyJbs2qEis8TnE=\n\
//!              + g 1\n+ t 0\n+ b 1\n- S note 11 line1\nline2\n";
//! let mut parser = Parser::new(ParserOptions::default());
//! let mut records = Vec::new();
//! for chunk in file.chunks(7) {
//!     parser.push(bytes::Bytes::copy_from_slice(chunk));
//!     while let Some(entity) = parser.next_entity()? {
//!         if let Entity::Record(r) = entity {
//!             records.push(r);
//!         }
//!     }
//! }
//! parser.finish()?;
//! assert_eq!(records[0].bin(0).unwrap().value, Value::String(b"line1\nline2"));
//! # Ok::<(), asb_format::ParseError>(())
//! ```
//!
//! # What is accepted
//!
//! Everything asrestore 4.x accepts (see `shared/asb-format.md` §1 and §7):
//! the `Version 3.0` (legacy: no unescaping, no global lines) and `3.1`
//! headers, `#` meta lines, `* i` and `* u` global lines, records with every
//! header line (`k n d s g t b`) and every bin type, the key forms
//! `I D S X B B!`, compact (`!`) payloads, name escaping, both asrestore's and
//! backup-go's float spellings, and the limits of §1.12. With
//! [`ParserOptions::allow_v3_2`] it also reads backup-go's `Version 3.2`
//! metadata files with `* e` expression-index lines.
//!
//! Rejected, with the line, byte offset and what was expected
//! ([`ParseError`]): CR anywhere in the framing, blank lines, unknown line or
//! type letters, LDT (`U`) bins, a missing final LF, bad base64, base64
//! lengths that are not a multiple of 4, out-of-range generation, void time,
//! bin count or integers, names over their limits (bin names over 15 bytes
//! unless [`ParserOptions::allow_long_bin_names`]).
//!
//! Known differences from asrestore, all on inputs no writer produces: padding
//! inside base64 data is rejected (asrestore decodes it group by group), a
//! backslash inside a number is an error (asrestore drops it), and index
//! lines with more than one path are refused.
//!
//! # Guarantees
//!
//! * The entities and the first error are the same for every way of splitting
//!   the input into chunks (property-tested and fuzzed).
//! * Memory is bounded by the largest entity actually present: declared
//!   lengths are never used to allocate; a truncated file that declares a
//!   10^12-byte value just reports the end of input.
//! * Zero-copy: a [`Record`] holds one [`bytes::Bytes`] slice of the pushed
//!   chunks (an entity that straddles chunks is copied once) and one buffer of
//!   decoded base64 payloads and unescaped names; its keys, bins and values
//!   are borrowed views into those two buffers. Raw strings, GeoJSON, compact
//!   blobs and plain names are never copied. Base64 payloads are decoded once
//!   (SIMD for long ones); lists, maps and HLLs stay the server's bytes with
//!   their particle type. UDF bodies are slices of the input too.
//! * Never panics on input (fuzzed).
//!
//! The [`encode`] module writes entities byte for byte as asbackup does.

mod b64;
pub mod encode;
mod error;
mod grammar;
mod lex;
mod parser;
pub mod record;
mod value;

pub use error::{ErrorKind, ParseError};
pub use parser::{Parser, ParserOptions};
pub use record::{Bins, Record, RecordBuilder};
pub use value::{
    Bin, BytesType, Entity, GlobalItem, IndexPath, IndexType, Key, MetaLine, PathType,
    SecondaryIndex, Udf, Value, Version,
};
