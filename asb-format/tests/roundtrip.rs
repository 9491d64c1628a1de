//! Property tests: random records -> encode -> parse gives the same records,
//! for every chunking; and the encoder reproduces asbackup's bytes.

mod common;

use asb_format::encode::{EncodeOptions, Encoder, header};
use asb_format::{Bin, BytesType, Entity, Key, MetaLine, ParserOptions, Record, Value, Version};
use bytes::Bytes;
use common::{parse, parse_chunked, sample};
use proptest::prelude::*;

fn name(max: usize) -> impl Strategy<Value = Bytes> {
    // Any byte but NUL (names are C strings); SP, LF and backslash included.
    prop::collection::vec(
        prop_oneof![3 => b'a'..=b'z', 1 => Just(b' '), 1 => Just(b'\n'), 1 => Just(b'\\'), 1 => 1u8..=255],
        0..=max,
    )
    .prop_map(Bytes::from)
}

fn payload() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from)
}

fn bytes_type() -> impl Strategy<Value = BytesType> {
    use BytesType::*;
    prop::sample::select(vec![
        Blob, Java, CSharp, Python, Ruby, Php, Erlang, Hll, Map, List,
    ])
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<f64>().prop_map(Value::Float),
        payload().prop_map(Value::String),
        payload().prop_map(Value::GeoJson),
        (bytes_type(), payload()).prop_map(|(t, b)| Value::Bytes(t, b)),
    ]
}

fn key() -> impl Strategy<Value = Key> {
    prop_oneof![
        any::<i64>().prop_map(Key::Int),
        any::<f64>().prop_map(Key::Float),
        payload().prop_map(Key::String),
        payload().prop_map(Key::Bytes),
    ]
}

fn record() -> impl Strategy<Value = Record> {
    (
        prop::option::of(key()),
        name(31).prop_filter("namespace", |n| !n.is_empty()),
        any::<[u8; 20]>(),
        prop::option::of(name(63).prop_filter("set", |s| !s.is_empty())),
        any::<u16>(),
        any::<u32>(),
        prop::collection::vec(
            (name(15), value()).prop_map(|(name, value)| Bin { name, value }),
            0..8,
        ),
    )
        .prop_map(
            |(key, namespace, digest, set, generation, void_time, bins)| Record {
                key,
                namespace,
                digest,
                set,
                generation,
                void_time,
                bins,
            },
        )
}

fn encode(records: &[Record], compact: bool) -> Vec<u8> {
    let enc = Encoder::new(EncodeOptions {
        version: Version::V3_1,
        compact,
    });
    let mut out = Vec::new();
    header(&mut out, Version::V3_1);
    enc.meta(&mut out, &MetaLine::Namespace(Bytes::from_static(b"te st")));
    for r in records {
        enc.record(&mut out, r);
    }
    out
}

/// Debug text: compares NaN payloads as equal, which `==` does not.
fn dbg<T: std::fmt::Debug>(v: &T) -> String {
    format!("{v:?}")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn encode_then_parse_gives_the_records(
        records in prop::collection::vec(record(), 0..12),
        compact in any::<bool>(),
        sizes in prop::collection::vec(1usize..300, 1..6),
    ) {
        let data = encode(&records, compact);
        let whole = parse(&data).unwrap();
        let got: Vec<Record> = whole.iter().filter_map(|e| match e {
            Entity::Record(r) => Some(r.clone()),
            _ => None,
        }).collect();
        prop_assert_eq!(dbg(&got), dbg(&records));
        prop_assert_eq!(&whole[1], &Entity::Meta(MetaLine::Namespace(Bytes::from_static(b"te st"))));
        for chunks in [&[1][..], &[2], &[7], &[4096], &sizes] {
            let again = parse_chunked(&data, chunks, ParserOptions::default()).unwrap();
            prop_assert_eq!(dbg(&again), dbg(&whole), "chunks {:?}", chunks);
        }
    }

    #[test]
    fn truncation_and_corruption_are_chunking_independent(
        records in prop::collection::vec(record(), 1..4),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        sizes in prop::collection::vec(1usize..50, 1..6),
    ) {
        let mut data = encode(&records, false);
        let i = flip.index(data.len());
        data[i] = byte;
        data.truncate(cut.index(data.len() + 1));
        let whole = parse(&data);
        for chunks in [&[1][..], &[7], &sizes] {
            let again = parse_chunked(&data, chunks, ParserOptions::default());
            prop_assert_eq!(dbg(&again), dbg(&whole), "chunks {:?}", chunks);
        }
    }
}

#[test]
fn encoder_reproduces_an_asbackup_file() {
    // Sample 01 is written exactly as asbackup writes it.
    let data = sample("01-first-file-all-bin-types.asb");
    let entities = parse(&data).unwrap();
    let enc = Encoder::new(EncodeOptions::default());
    let mut out = Vec::new();
    for e in &entities {
        enc.entity(&mut out, e);
    }
    assert_eq!(
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&data)
    );
    assert_eq!(out, data);
}

#[test]
fn compact_encoding_of_sample_03() {
    // The second record of sample 03 is the --compact form of the first.
    let data = sample("03-blob-and-cdt-types.asb");
    let entities = parse(&data).unwrap();
    let Entity::Record(r) = &entities[3] else {
        panic!("record expected")
    };
    let mut out = Vec::new();
    Encoder::new(EncodeOptions {
        compact: true,
        ..EncodeOptions::default()
    })
    .record(&mut out, r);
    let second = data
        .windows(17)
        .position(|w| w == b"+ k S 9 blobs-raw")
        .unwrap();
    assert_eq!(out, &data[second..]);
}
