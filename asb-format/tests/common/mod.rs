//! Helpers shared by the integration tests.
#![allow(dead_code)]

use asb_format::{Entity, ParseError, Parser, ParserOptions, Record};
use bytes::Bytes;

/// Parses `data` fed in chunks of the given sizes (cycled), then finishes.
pub fn parse_chunked(
    data: &[u8],
    sizes: &[usize],
    opts: ParserOptions,
) -> Result<Vec<Entity>, ParseError> {
    let mut p = Parser::new(opts);
    let mut out = Vec::new();
    let mut pos = 0;
    let mut k = 0;
    while pos < data.len() {
        let n = sizes[k % sizes.len()].max(1).min(data.len() - pos);
        k += 1;
        p.push(Bytes::copy_from_slice(&data[pos..pos + n]));
        pos += n;
        while let Some(e) = p.next_entity()? {
            out.push(e);
        }
    }
    p.finish()?;
    Ok(out)
}

/// Parses `data` in one chunk with default options.
pub fn parse(data: &[u8]) -> Result<Vec<Entity>, ParseError> {
    parse_chunked(data, &[usize::MAX], ParserOptions::default())
}

/// The records among `entities`.
pub fn records(entities: &[Entity]) -> Vec<&Record> {
    entities
        .iter()
        .filter_map(|e| match e {
            Entity::Record(r) => Some(&**r),
            _ => None,
        })
        .collect()
}

/// Reads a sample from the repository's test data.
pub fn sample(name: &str) -> Vec<u8> {
    let path = format!("{}/../testdata/asb/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}
