//! Fuzz the streaming parser: no panic on any input, the same result for a
//! random chunking as for one chunk, and parse -> encode -> parse is stable.
#![no_main]

use asb_format::encode::{EncodeOptions, Encoder, header};
use asb_format::{Entity, MetaLine, ParseError, Parser, ParserOptions, Version};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

/// Parses `data`, splitting it at the sizes drawn from `sizes` (cycled).
fn parse(data: &[u8], sizes: &[u8], opts: &ParserOptions) -> (Vec<Entity>, Option<ParseError>) {
    let mut p = Parser::new(opts.clone());
    let mut out = Vec::new();
    let mut pos = 0;
    let mut k = 0;
    while pos < data.len() {
        let n = if sizes.is_empty() {
            data.len()
        } else {
            usize::from(sizes[k % sizes.len()]).max(1)
        }
        .min(data.len() - pos);
        k += 1;
        p.push(Bytes::copy_from_slice(&data[pos..pos + n]));
        pos += n;
        loop {
            match p.next_entity() {
                Ok(Some(e)) => out.push(e),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, p.finish().err())
}

fuzz_target!(|input: &[u8]| {
    // First byte: flags; next 4: chunk sizes; the rest: the file.
    let Some((&flags, rest)) = input.split_first() else {
        return;
    };
    let (sizes, data) = rest.split_at(rest.len().min(4));
    let opts = ParserOptions {
        allow_v3_2: flags & 1 != 0,
        allow_long_bin_names: flags & 2 != 0,
    };
    let whole = parse(data, &[], &opts);
    let chunked = parse(data, sizes, &opts);
    assert_eq!(format!("{whole:?}"), format!("{chunked:?}"));

    // Round trip of what parsed, for 3.1 files.
    let (entities, _) = whole;
    if entities.first() != Some(&Entity::Header(Version::V3_1)) {
        return;
    }
    // Not encodable as parsed: a meta line is limited in raw bytes (escaping
    // may push a long one over), and the encoder omits an empty set line.
    if entities.iter().any(|e| match e {
        Entity::Meta(MetaLine::Namespace(ns)) => ns.len() > 490,
        Entity::Record(r) => r.set().is_some_and(|s| s.is_empty()),
        _ => false,
    }) {
        return;
    }
    let enc = Encoder::new(EncodeOptions::default());
    let mut out = Vec::new();
    header(&mut out, Version::V3_1);
    for e in &entities[1..] {
        enc.entity(&mut out, e);
    }
    let (again, err) = parse(&out, &[], &opts);
    assert!(err.is_none(), "re-encoded file failed: {err:?}");
    assert_eq!(format!("{entities:?}"), format!("{again:?}"));
});
