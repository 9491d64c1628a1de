//! Parse errors: where (line, byte offset) and what was expected.

use thiserror::Error;

/// A fatal parse error. `line` is 1-based, `offset` is the 0-based byte offset
/// from the start of the (decompressed) stream at which the problem was found.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}, byte offset {offset}: {kind}")]
pub struct ParseError {
    /// 1-based line number (counting every LF, including those inside payloads).
    pub line: u64,
    /// 0-based byte offset in the uncompressed stream.
    pub offset: u64,
    /// What went wrong.
    pub kind: ErrorKind,
}

/// What went wrong, phrased as what was expected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ErrorKind {
    /// A grammar violation: `expected` says what the parser wanted, `found` a
    /// short rendering of what it saw.
    #[error("expected {expected}, found {found}")]
    Unexpected {
        /// What the grammar required here.
        expected: &'static str,
        /// What was there instead (escaped, truncated).
        found: String,
    },
    /// A number or length outside its allowed range.
    #[error("{what} out of range: {value}")]
    OutOfRange {
        /// The field.
        what: &'static str,
        /// The value as written.
        value: String,
    },
    /// A token longer than format §1.12 allows.
    #[error("{what} longer than {max} bytes")]
    TooLong {
        /// The field.
        what: &'static str,
        /// Its maximum length.
        max: usize,
    },
    /// Invalid base64 payload.
    #[error("invalid base64 in {what}")]
    Base64 {
        /// The field.
        what: &'static str,
    },
    /// The input ended inside an entity (or before the header).
    #[error("unexpected end of input: expected {expected}")]
    UnexpectedEof {
        /// What the parser was reading.
        expected: &'static str,
    },
    /// The backup contains an LDT (`U`) bin, which cannot be restored.
    #[error("backup contains LDT bins, which are not supported")]
    Ldt,
}
