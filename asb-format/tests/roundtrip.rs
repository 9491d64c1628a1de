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

/// An owned bin value, from which the strategies build records.
#[derive(Debug, Clone)]
enum OwnedValue {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(Bytes),
    GeoJson(Bytes),
    Bytes(BytesType, Bytes),
}

impl OwnedValue {
    fn view(&self) -> Value<'_> {
        match self {
            OwnedValue::Nil => Value::Nil,
            OwnedValue::Bool(v) => Value::Bool(*v),
            OwnedValue::Int(v) => Value::Int(*v),
            OwnedValue::Float(v) => Value::Float(*v),
            OwnedValue::String(s) => Value::String(s),
            OwnedValue::GeoJson(s) => Value::GeoJson(s),
            OwnedValue::Bytes(t, s) => Value::Bytes(*t, s),
        }
    }
}

/// An owned user key.
#[derive(Debug, Clone)]
enum OwnedKey {
    Int(i64),
    Float(f64),
    String(Bytes),
    Bytes(Bytes),
}

impl OwnedKey {
    fn view(&self) -> Key<'_> {
        match self {
            OwnedKey::Int(v) => Key::Int(*v),
            OwnedKey::Float(v) => Key::Float(*v),
            OwnedKey::String(s) => Key::String(s),
            OwnedKey::Bytes(s) => Key::Bytes(s),
        }
    }
}

fn value() -> impl Strategy<Value = OwnedValue> {
    prop_oneof![
        Just(OwnedValue::Nil),
        any::<bool>().prop_map(OwnedValue::Bool),
        any::<i64>().prop_map(OwnedValue::Int),
        any::<f64>().prop_map(OwnedValue::Float),
        payload().prop_map(OwnedValue::String),
        payload().prop_map(OwnedValue::GeoJson),
        (bytes_type(), payload()).prop_map(|(t, b)| OwnedValue::Bytes(t, b)),
    ]
}

fn key() -> impl Strategy<Value = OwnedKey> {
    prop_oneof![
        any::<i64>().prop_map(OwnedKey::Int),
        any::<f64>().prop_map(OwnedKey::Float),
        payload().prop_map(OwnedKey::String),
        payload().prop_map(OwnedKey::Bytes),
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
        prop::collection::vec((name(15), value()), 0..8),
    )
        .prop_map(
            |(key, namespace, digest, set, generation, void_time, bins)| {
                let mut r = Record::builder(namespace, digest)
                    .generation(generation)
                    .void_time(void_time)
                    .bins(bins.iter().map(|(n, v)| Bin::new(n, v.view())));
                if let Some(k) = &key {
                    r = r.key(k.view());
                }
                if let Some(s) = set {
                    r = r.set(s);
                }
                r.build()
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
            Entity::Record(r) => Some(Record::clone(r)),
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
