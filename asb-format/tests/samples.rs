//! Every sample in testdata/asb parses to exactly what its .notes.md says.

mod common;

use asb_format::{
    Bin, BytesType, Entity, GlobalItem, IndexPath, IndexType, Key, MetaLine, ParserOptions,
    PathType, Record, SecondaryIndex, Value, Version,
};
use base64::Engine as _;
use bytes::Bytes;
use common::{parse, parse_chunked, records, sample};

fn b(s: &[u8]) -> Bytes {
    Bytes::copy_from_slice(s)
}

fn bin<'a>(name: &'a [u8], value: Value<'a>) -> Bin<'a> {
    Bin { name, value }
}

/// A record's bins as a vector, for comparisons.
fn bins(r: &Record) -> Vec<Bin<'_>> {
    r.bins().collect()
}

fn digest(b64: &str) -> [u8; 20] {
    let v = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    v.try_into().unwrap()
}

/// Decoded base64, leaked so that expected values can borrow it for the whole test.
fn b64(s: &str) -> &'static [u8] {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .unwrap()
        .leak()
}

const SAMPLES: [&str; 5] = [
    "01-first-file-all-bin-types.asb",
    "02-keys-sets-escapes.asb",
    "03-blob-and-cdt-types.asb",
    "04-ttl-filters-and-quirks.asb",
    "05-legacy-v3.0.asb",
];

#[test]
fn record_counts() {
    for (name, n) in SAMPLES.iter().zip([1, 8, 2, 9, 1]) {
        let e = parse(&sample(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(records(&e).len(), n, "{name}");
    }
}

#[test]
fn every_chunking_gives_the_same_entities() {
    for name in SAMPLES {
        let data = sample(name);
        let whole = parse(&data).unwrap();
        for sizes in [&[1][..], &[2], &[7], &[4096], &[3, 1, 50, 13]] {
            let got = parse_chunked(&data, sizes, ParserOptions::default()).unwrap();
            assert_eq!(format!("{got:?}"), format!("{whole:?}"), "{name} {sizes:?}");
        }
    }
}

#[test]
fn sample_01_first_file() {
    let e = parse(&sample("01-first-file-all-bin-types.asb")).unwrap();
    assert_eq!(e[0], Entity::Header(Version::V3_1));
    assert_eq!(e[1], Entity::Meta(MetaLine::Namespace(b(b"test"))));
    assert_eq!(e[2], Entity::Meta(MetaLine::FirstFile));
    let idx = |set: &[u8], name: &[u8], t, bin: &[u8], pt, ctx: Option<&[u8]>| {
        Entity::Global(GlobalItem::Index(SecondaryIndex {
            namespace: b(b"test"),
            set: b(set),
            name: b(name),
            index_type: t,
            paths: vec![IndexPath {
                bin: b(bin),
                path_type: pt,
            }],
            context: ctx.map(b),
            expression: false,
        }))
    };
    use IndexType as I;
    use PathType as P;
    let expected = [
        idx(b"demo", b"age_idx", I::Default, b"age", P::Numeric, None),
        idx(b"", b"name_idx", I::Default, b"name", P::String, None),
        idx(b"demo", b"tags_idx", I::List, b"tags", P::String, None),
        idx(
            b"demo",
            b"tag0_idx",
            I::Default,
            b"tags",
            P::String,
            Some(b"khAA"),
        ),
        idx(b"demo", b"attr_keys", I::MapKeys, b"attrs", P::String, None),
        idx(
            b"demo",
            b"attr_vals",
            I::MapValues,
            b"attrs",
            P::Numeric,
            None,
        ),
        idx(
            b"demo",
            b"loc_idx",
            I::Default,
            b"loc",
            P::Geo2dSphere,
            None,
        ),
        idx(b"demo", b"raw_idx", I::Default, b"raw", P::Blob, None),
    ];
    assert_eq!(&e[3..11], &expected);
    let Entity::Global(GlobalItem::Udf(udf)) = &e[11] else {
        panic!("expected UDF, got {:?}", e[11]);
    };
    assert_eq!(udf.name, b(b"example.lua"));
    assert_eq!(udf.content.len(), 86);
    assert!(udf.content.starts_with(b"-- example.lua"));
    assert!(udf.content.ends_with(b"end\n"));
    assert_eq!(udf.content.iter().filter(|&&c| c == b'\n').count(), 4);
    let Entity::Record(r) = &e[12] else {
        panic!("expected record");
    };
    let want = Record::builder("test", digest("AxYfNSyKuFRIlSyJbs2qEis8TnE="))
        .key(Key::String(b"user1"))
        .set("demo")
        .generation(3)
        .void_time(0)
        .bins([
            bin(b"age", Value::Int(42)),
            bin(b"min_i64", Value::Int(i64::MIN)),
            bin(b"max_i64", Value::Int(i64::MAX)),
            bin(b"ratio", Value::Float(0.1)),
            bin(b"avogadro", Value::Float(6.02214076e23)),
            bin(b"name", Value::String(b"Hello World")),
            bin(b"note", Value::String(b"line1\nline2")),
            bin(b"empty", Value::String(b"")),
            bin(b"active", Value::Bool(true)),
            bin(b"banned", Value::Bool(false)),
            bin(
                b"loc",
                Value::GeoJson(br#"{"type":"Point","coordinates":[-122.5,37.75]}"#),
            ),
            bin(b"raw", Value::Bytes(BytesType::Blob, &[0, 1, 2, 0xff])),
            bin(
                b"tags",
                Value::Bytes(BytesType::List, b"\x92\xa4\x03red\xa5\x03blue"),
            ),
            bin(
                b"attrs",
                Value::Bytes(BytesType::Map, b"\x82\xa6\x03color\xa4\x03red\xa2\x03n\x07"),
            ),
            bin(b"gone", Value::Nil),
        ])
        .build();
    assert_eq!(**r, want);
    assert_eq!(e.len(), 13);
}

#[test]
fn sample_02_keys_sets_escapes() {
    let e = parse(&sample("02-keys-sets-escapes.asb")).unwrap();
    let r = records(&e);
    let keys: Vec<_> = r.iter().map(|r| r.key()).collect();
    assert_eq!(
        keys,
        vec![
            Some(Key::Int(1)),
            Some(Key::Int(-42)),
            Some(Key::String(b"a b\nc")),
            Some(Key::String(b"hello")),
            Some(Key::Bytes(&[0, 1, 2, 0xff])),
            Some(Key::Bytes(b"x y\nz")),
            None,
            Some(Key::String(b"names")),
        ]
    );
    let sets: Vec<_> = r.iter().map(|r| r.set()).collect();
    let demo = Some(&b"demo"[..]);
    assert_eq!(
        sets,
        vec![
            demo,
            None,
            Some(&b"my set"[..]),
            demo,
            demo,
            demo,
            None,
            demo
        ]
    );
    assert_eq!(r[6].generation, 7);
    assert_eq!(r[2].generation, 2);
    assert_eq!(r[6].digest, digest("sUES3eg1JB93t8JiJQWMjTCZYF0="));
    assert_eq!(
        bins(r[3]),
        vec![bin(b"v", Value::String(b"X = base64 string"))]
    );
    assert_eq!(bins(r[1]), vec![bin(b"v", Value::Int(-42))]);
    assert_eq!(
        bins(r[7]),
        vec![
            bin(b"with space", Value::Int(1)),
            bin(b"back\\slash", Value::Int(2)),
            bin(b"new\nline", Value::Int(3)),
            bin("héllo".as_bytes(), Value::String(b"ok")),
            bin(b"abcdefghijklmno", Value::Int(15)),
        ]
    );
    assert!(
        r.iter()
            .all(|r| r.namespace() == b"test" && r.void_time == 0)
    );
}

#[test]
fn sample_03_blobs_both_forms_agree() {
    let e = parse(&sample("03-blob-and-cdt-types.asb")).unwrap();
    let r = records(&e);
    assert_eq!(r[0].key(), Some(Key::String(b"blobs-b64")));
    assert_eq!(r[1].key(), Some(Key::String(b"blobs-raw")));
    assert_eq!(bins(r[0]), bins(r[1]));
    use BytesType::*;
    let want = vec![
        bin(b"blob", Value::Bytes(Blob, b"\x00 \n\\\xff")),
        bin(b"java", Value::Bytes(Java, b64("rO0ABXQAAmhp"))),
        bin(b"csharp", Value::Bytes(CSharp, &[0, 1, 0, 0, 0])),
        bin(b"python", Value::Bytes(Python, b64("gARLBy4="))),
        bin(b"ruby", Value::Bytes(Ruby, b64("BAhpDA=="))),
        bin(b"php", Value::Bytes(Php, b"i:7;")),
        bin(b"erlang", Value::Bytes(Erlang, b64("g2EH"))),
        bin(
            b"hll",
            Value::Bytes(
                Hll,
                &[
                    0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                ],
            ),
        ),
        bin(b"list_empty", Value::Bytes(List, &[0x90])),
        bin(
            b"list_nested",
            Value::Bytes(List, b"\x92\x01\x92\x02\xa2\x03x"),
        ),
        bin(b"map_empty", Value::Bytes(Map, &[0x80])),
        bin(
            b"map_kordered",
            Value::Bytes(Map, b64("g8cAAcCiA2EBogNiAg==")),
        ),
        bin(b"blob_empty", Value::Bytes(Blob, b"")),
    ];
    assert_eq!(bins(r[0]), want);
    assert_eq!(
        bins(r[1])[7].value,
        Value::Bytes(Hll, b64("AAQAAAAAAAAAAAAAAAAAAAAAAAAAAAA="))
    );
    let particle: Vec<u8> = want
        .iter()
        .map(|b| match b.value {
            Value::Bytes(t, _) => t.particle_type(),
            _ => 0,
        })
        .collect();
    assert_eq!(particle, [4, 7, 8, 9, 10, 11, 12, 18, 20, 20, 19, 19, 4]);
}

#[test]
fn sample_04_ttl_and_quirks() {
    let e = parse(&sample("04-ttl-filters-and-quirks.asb")).unwrap();
    let r = records(&e);
    let floats: Vec<f64> = r[0]
        .bins()
        .map(|b| match b.value {
            Value::Float(f) => f,
            ref v => panic!("not a float: {v:?}"),
        })
        .collect();
    assert_eq!(r[0].generation, 65535);
    assert!(floats[0].is_nan() && floats[0].is_sign_positive());
    assert!(floats[1].is_nan() && floats[1].is_sign_negative());
    assert_eq!(floats[2], f64::INFINITY);
    assert_eq!(floats[3], f64::NEG_INFINITY);
    assert!(floats[4].is_nan());
    assert_eq!(floats[5], f64::INFINITY);
    assert_eq!(floats[6], 0.1);
    assert_eq!(floats[7], 1e21);
    assert!(floats[8] == 0.0 && floats[8].is_sign_negative());
    assert_eq!(floats[9], f64::MIN_POSITIVE);
    assert_eq!(floats[10], f64::MAX);
    let void: Vec<u32> = r.iter().map(|r| r.void_time).collect();
    assert_eq!(void, [0, 1, 0, 0, 788918400, 0, 0, 0, 0]);
    assert!(bins(r[2]).is_empty());
    assert_eq!(r[3].set(), Some(&b"other"[..]));
    assert_eq!(
        bins(r[5]),
        vec![bin(b"dup", Value::Int(1)), bin(b"dup", Value::Int(2))]
    );
    assert_eq!(bins(r[6]), vec![bin(b"x", Value::Nil)]);
    assert_eq!(r[7].key(), Some(Key::Float(3.5)));
    assert_eq!(
        bins(r[8]),
        vec![
            bin(b"s_bang", Value::String(b"abc")),
            bin(b"with_nul", Value::String(b"a\0b")),
            bin(b"neg_zero", Value::Int(0)),
        ]
    );
}

#[test]
fn sample_05_legacy_does_not_unescape() {
    let e = parse(&sample("05-legacy-v3.0.asb")).unwrap();
    assert_eq!(e[0], Entity::Header(Version::V3_0));
    assert_eq!(e[2], Entity::Meta(MetaLine::FirstFile));
    let r = records(&e);
    assert_eq!(r[0].set(), Some(&b"back\\slash"[..]));
    assert_eq!(r[0].key(), Some(Key::String(b"k30")));
    assert_eq!(r[0].generation, 2);
    assert_eq!(
        bins(r[0]),
        vec![
            bin(b"a\\b", Value::String(b"x")),
            bin(b"plain", Value::Int(5))
        ]
    );
}
