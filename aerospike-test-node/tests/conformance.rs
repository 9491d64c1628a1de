//! Server behaviours, asserted only through the `aerospike` client's public API.
//!
//! Runs against the test node, or against a real server when `AEROSPIKE_HOSTS` is set
//! (namespace `test`, a unique set per test), so the node stays honest. What the client
//! cannot send or show (malformed batches, raw answer headers) goes through
//! `aerospike_test_node::raw`, against both alike. Last checked against CE 8.1.2.0.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use aerospike::{
    AdminPolicy, BatchDeletePolicy, BatchOperation, BatchPolicy, BatchReadPolicy, BatchWritePolicy,
    Bin, Bins, CollectionIndexType, Expiration, GenerationPolicy, IndexType, Key, ReadPolicy,
    RecordExistsAction, ResultCode, Task, UdfLang, Value, WritePolicy, operations,
};
use aerospike_test_node::raw::{self, field_bytes, frame, msg, msg_with, op_bytes};
use aerospike_test_node::target;
use common::{assert_code, connect, unique_set};

const NS: &str = "test";

fn key(set: &str, k: &str) -> Key {
    Key::new(NS, set, Value::from(k)).expect("string keys are valid")
}

fn wp(action: RecordExistsAction) -> WritePolicy {
    WritePolicy {
        record_exists_action: action,
        ..WritePolicy::default()
    }
}

fn bins_of(rec: &aerospike::Record) -> Vec<(String, Value)> {
    let mut v: Vec<_> = rec
        .bins
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Puts `bins` with `action`; returns the server's answer.
async fn put_with(
    c: &aerospike::Client,
    action: RecordExistsAction,
    k: &Key,
    bins: &[(&str, i64)],
) -> aerospike::Result<()> {
    let bins: Vec<Bin> = bins
        .iter()
        .map(|(n, v)| Bin::new(*n, Value::from(*v)))
        .collect();
    c.put(&wp(action), k, &bins).await
}

/// All bins of `k` (sorted by name) and its generation.
async fn read_back(c: &aerospike::Client, k: &Key) -> (Vec<(String, Value)>, u32) {
    let rec = c.get(&ReadPolicy::default(), k, Bins::All).await.unwrap();
    (bins_of(&rec), rec.generation)
}

fn expect(bins: &[(&str, i64)], generation: u32) -> (Vec<(String, Value)>, u32) {
    let bins = bins
        .iter()
        .map(|(n, v)| (n.to_string(), Value::from(*v)))
        .collect();
    (bins, generation)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_exists_actions() {
    use RecordExistsAction::*;
    let t = target().await;
    let c = connect(&t.hosts()).await;
    let set = unique_set("exists");
    let k = key(&set, "k");

    put_with(&c, Update, &k, &[("a", 1), ("b", 2)])
        .await
        .unwrap();
    put_with(&c, Update, &k, &[("b", 3), ("c", 4)])
        .await
        .unwrap();
    assert_eq!(
        read_back(&c, &k).await,
        expect(&[("a", 1), ("b", 3), ("c", 4)], 2)
    );

    put_with(&c, Replace, &k, &[("d", 5)]).await.unwrap();
    assert_eq!(read_back(&c, &k).await, expect(&[("d", 5)], 3));

    assert_code(
        put_with(&c, CreateOnly, &k, &[("e", 6)]).await,
        ResultCode::KeyExistsError,
    );
    let fresh = key(&set, "fresh");
    put_with(&c, CreateOnly, &fresh, &[("e", 6)]).await.unwrap();
    assert_eq!(read_back(&c, &fresh).await, expect(&[("e", 6)], 1));

    let missing = key(&set, "missing");
    for action in [UpdateOnly, ReplaceOnly] {
        assert_code(
            put_with(&c, action, &missing, &[("x", 1)]).await,
            ResultCode::KeyNotFoundError,
        );
    }
    assert!(!c.exists(&ReadPolicy::default(), &missing).await.unwrap());

    put_with(&c, UpdateOnly, &k, &[("g", 8)]).await.unwrap();
    assert_eq!(read_back(&c, &k).await, expect(&[("d", 5), ("g", 8)], 4));
    put_with(&c, ReplaceOnly, &k, &[("f", 7)]).await.unwrap();
    assert_eq!(read_back(&c, &k).await, expect(&[("f", 7)], 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generation_policies() {
    let t = target().await;
    let c = connect(&t.hosts()).await;
    let set = unique_set("gen");
    let k = key(&set, "k");
    let bin = [Bin::new("a", 1.into())];
    let gen_wp = |policy, generation| WritePolicy {
        generation_policy: policy,
        generation,
        ..WritePolicy::default()
    };

    use GenerationPolicy::{ExpectGenEqual as Eq, ExpectGenGreater as Gt, None as Ignore};
    // (policy, generation sent, expected answer, stored generation afterwards)
    // A missing record has generation 0 for both policies.
    for (policy, generation) in [(Gt, 0), (Eq, 5)] {
        assert_code(
            c.put(&gen_wp(policy, generation), &k, &bin).await,
            ResultCode::GenerationError,
        );
    }
    c.put(&gen_wp(Eq, 0), &key(&set, "eq0"), &bin)
        .await
        .unwrap();
    let steps = [
        (Gt, 7, None, 1), // GT on a missing record creates it when the generation is > 0
        (Ignore, 0, None, 2),
        (Eq, 1, Some(ResultCode::GenerationError), 2),
        (Eq, 2, None, 3),
        (Gt, 3, Some(ResultCode::GenerationError), 3), // GT needs strictly more
        (Gt, 2, Some(ResultCode::GenerationError), 3),
        (Gt, 4, None, 4),
    ];
    for (i, (policy, generation, want, stored)) in steps.into_iter().enumerate() {
        let r = c.put(&gen_wp(policy, generation), &k, &bin).await;
        assert_eq!(
            r.map_err(|e| common::code(&e)),
            want.map_or(Ok(()), |w| Err(Some(w))),
            "step {i}"
        );
        let rec = c.get(&ReadPolicy::default(), &k, Bins::None).await.unwrap();
        assert_eq!(rec.generation, stored, "step {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_rules() {
    let t = target().await;
    let c = connect(&t.hosts()).await;
    let set = unique_set("ttl");
    let bin = [Bin::new("a", 1.into())];
    let ttl_wp = |e| WritePolicy {
        expiration: e,
        ..WritePolicy::default()
    };
    let rp = ReadPolicy::default();
    // Writes with `e` and answers the TTL the server reports.
    let put_ttl = |k: Key, e| {
        let (c, bin) = (c.clone(), bin.clone());
        async move {
            c.put(&ttl_wp(e), &k, &bin).await.unwrap();
            let rec = c.get(&ReadPolicy::default(), &k, Bins::None).await.unwrap();
            rec.time_to_live()
        }
    };

    let k = key(&set, "seconds");
    let ttl = put_ttl(k.clone(), Expiration::Seconds(1000)).await.unwrap();
    assert!((990..=1000).contains(&ttl.as_secs()), "{ttl:?}");
    // DontUpdate keeps the expiry of an existing record.
    let ttl = put_ttl(k, Expiration::DontUpdate).await.unwrap();
    assert!(ttl.as_secs() >= 990, "{ttl:?}");
    assert_eq!(put_ttl(key(&set, "never"), Expiration::Never).await, None);

    let ten_years = 315_360_000;
    c.put(
        &ttl_wp(Expiration::Seconds(ten_years)),
        &key(&set, "max"),
        &bin,
    )
    .await
    .unwrap();
    assert_code(
        c.put(
            &ttl_wp(Expiration::Seconds(ten_years + 1)),
            &key(&set, "over"),
            &bin,
        )
        .await,
        ResultCode::ParameterError,
    );
    assert!(!c.exists(&rp, &key(&set, "over")).await.unwrap());

    // DontUpdate on a record that does not exist: the namespace default applies.
    let default_ttl = namespace_default_ttl(&c).await;
    let ttl = put_ttl(key(&set, "dont-new"), Expiration::DontUpdate).await;
    assert_ttl_near(ttl, default_ttl);
    // NamespaceDefault (0) and Never on a record that expires replace its expiry; a shorter
    // TTL shortens it.
    let k = key(&set, "redo");
    put_ttl(k.clone(), Expiration::Seconds(1000)).await.unwrap();
    assert_ttl_near(
        put_ttl(k.clone(), Expiration::NamespaceDefault).await,
        default_ttl,
    );
    put_ttl(k.clone(), Expiration::Seconds(1000)).await.unwrap();
    assert_eq!(put_ttl(k.clone(), Expiration::Never).await, None);
    put_ttl(k.clone(), Expiration::Seconds(1000)).await.unwrap();
    let ttl = put_ttl(k.clone(), Expiration::Seconds(50)).await.unwrap();
    assert!((40..=50).contains(&ttl.as_secs()), "{ttl:?}");
    // Touch: DontUpdate keeps the expiry, an over-long TTL is refused, a missing record is
    // not found.
    let touch = |e| WritePolicy {
        expiration: e,
        ..WritePolicy::default()
    };
    put_ttl(k.clone(), Expiration::Seconds(1000)).await.unwrap();
    c.touch(&touch(Expiration::DontUpdate), &k).await.unwrap();
    let rec = c.get(&rp, &k, Bins::None).await.unwrap();
    assert!(rec.time_to_live().unwrap().as_secs() >= 990, "{rec:?}");
    assert_code(
        c.touch(&touch(Expiration::Seconds(ten_years + 1)), &k)
            .await,
        ResultCode::ParameterError,
    );
    assert_eq!(
        c.get(&rp, &k, Bins::None).await.unwrap().generation,
        rec.generation
    );

    // Expired records read as missing, and a write treats them as missing too.
    let short = key(&set, "short");
    let short_gen2 = key(&set, "short2");
    for k in [&short, &short_gen2] {
        c.put(&ttl_wp(Expiration::Seconds(1)), k, &bin)
            .await
            .unwrap();
    }
    c.put(&ttl_wp(Expiration::Seconds(1)), &short_gen2, &bin)
        .await
        .unwrap();
    let gone = key(&set, "gone");
    c.put(
        &ttl_wp(Expiration::Seconds(1)),
        &gone,
        &[Bin::new("old", 1.into())],
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_code(
        c.get(&rp, &short, Bins::All).await,
        ResultCode::KeyNotFoundError,
    );
    assert!(!c.exists(&rp, &short).await.unwrap());
    assert_code(
        c.put(&wp(RecordExistsAction::UpdateOnly), &short, &bin)
            .await,
        ResultCode::KeyNotFoundError,
    );
    // Generation 2 has expired: greater-than 1 passes and starts again at 1.
    let gt1 = WritePolicy {
        generation_policy: GenerationPolicy::ExpectGenGreater,
        generation: 1,
        ..WritePolicy::default()
    };
    c.put(&gt1, &short_gen2, &bin).await.unwrap();
    assert_eq!(read_back(&c, &short_gen2).await, expect(&[("a", 1)], 1));
    // Create-only succeeds, and the expired bins are gone.
    c.put(&wp(RecordExistsAction::CreateOnly), &gone, &bin)
        .await
        .unwrap();
    assert_eq!(read_back(&c, &gone).await, expect(&[("a", 1)], 1));
}

/// The `default-ttl` of namespace `test`, in seconds.
async fn namespace_default_ttl(c: &aerospike::Client) -> u64 {
    let cmd = format!("get-config:context=namespace;id={NS}");
    let info = c.info(&AdminPolicy::default(), &[&cmd]).await.unwrap();
    info[&cmd]
        .split(';')
        .find_map(|kv| kv.strip_prefix("default-ttl="))
        .expect("default-ttl reported")
        .parse()
        .unwrap()
}

/// A TTL read back equals `want` seconds (0 = never expires), give or take 10 s.
#[track_caller]
fn assert_ttl_near(ttl: Option<Duration>, want: u64) {
    match (ttl, want) {
        (None, 0) => {}
        (Some(t), w) if w > 0 && t.as_secs() + 10 >= w && t.as_secs() <= w => {}
        _ => panic!("TTL {ttl:?}, want {want} s (0 = never expires)"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generation_wraps_and_compares_as_32_bits() {
    let t = target().await;
    let c = connect(&t.hosts()).await;
    let set = unique_set("wrap");
    let k = key(&set, "k");
    // 65536 writes from nothing: 65535 is the largest generation, the next one is 1 (0 is
    // skipped).
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let (c, k) = (c.clone(), k.clone());
            tokio::spawn(async move {
                let bin = [Bin::new("a", 1.into())];
                // No retries (a retried write could count twice) and a long timeout: the
                // server is shared with other tests.
                let mut wp = WritePolicy::default();
                wp.base_policy.max_retries = 0;
                wp.base_policy.total_timeout = 30_000;
                wp.base_policy.socket_timeout = 30_000;
                for _ in 0..16_384 {
                    c.put(&wp, &k, &bin).await.unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let generation = |c: aerospike::Client, k: Key| async move {
        c.get(&ReadPolicy::default(), &k, Bins::None)
            .await
            .unwrap()
            .generation
    };
    assert_eq!(generation(c.clone(), k.clone()).await, 1);
    c.put(&WritePolicy::default(), &k, &[Bin::new("a", 2.into())])
        .await
        .unwrap();
    assert_eq!(generation(c.clone(), k.clone()).await, 2);
    // The generation sent is compared as 32 bits: 65538 is not 2, and it is greater.
    let policy = |p, generation| WritePolicy {
        generation_policy: p,
        generation,
        ..WritePolicy::default()
    };
    let bin = [Bin::new("a", 3.into())];
    assert_code(
        c.put(&policy(GenerationPolicy::ExpectGenEqual, 65_538), &k, &bin)
            .await,
        ResultCode::GenerationError,
    );
    c.put(
        &policy(GenerationPolicy::ExpectGenGreater, 65_538),
        &k,
        &bin,
    )
    .await
    .unwrap();
    assert_eq!(generation(c.clone(), k.clone()).await, 3);
    // On a missing record (generation 0) any greater-than generation creates it.
    let fresh = key(&set, "fresh");
    c.put(
        &policy(GenerationPolicy::ExpectGenGreater, u32::MAX),
        &fresh,
        &bin,
    )
    .await
    .unwrap();
    assert_eq!(generation(c.clone(), fresh).await, 1);
}

/// A valid HLL: index bits 4, no minhash bits: 11 header bytes + 16 registers of 6 bits.
fn valid_hll() -> Vec<u8> {
    let mut v = vec![0u8, 4, 0];
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&[0; 12]);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_particle_type_round_trips() {
    let t = target().await;
    let c = connect(&t.hosts()).await;
    let set = unique_set("types");
    let k = key(&set, "k");
    let mut map = HashMap::new();
    map.insert(Value::from("x"), Value::from(1));
    let geo = r#"{"type":"Point","coordinates":[-122.5,45.5]}"#;
    let mut bins = vec![
        Bin::new("int", Value::from(-42)),
        Bin::new("float", Value::from(2.5f64)),
        Bin::new("str", Value::from("héllo")),
        Bin::new("blob", Value::Blob(vec![0, 1, 2, 255])),
        Bin::new("bool", Value::Bool(true)),
        Bin::new("list", Value::List(vec![1.into(), "a".into()])),
        Bin::new("map", Value::HashMap(map.clone())),
        Bin::new("geo", Value::GeoJson(geo.into())),
        Bin::new("hll", Value::Hll(valid_hll())),
        // server-format msgpack list [1, "a"] sent as raw bytes
        Bin::new(
            "rawlist",
            Value::Unknown(20, vec![0x92, 0x01, 0xa2, 0x03, b'a']),
        ),
    ];
    for code in 7u8..=12 {
        bins.push(Bin::new(
            format!("blob{code}"),
            Value::Unknown(code, vec![code, 0, code]),
        ));
    }
    c.put(&WritePolicy::default(), &k, &bins).await.unwrap();
    let rec = c.get(&ReadPolicy::default(), &k, Bins::All).await.unwrap();
    let got = |n: &str| {
        rec.bins
            .get(n)
            .cloned()
            .unwrap_or_else(|| panic!("bin {n} missing"))
    };
    assert_eq!(got("int"), Value::from(-42));
    assert_eq!(got("float"), Value::from(2.5f64));
    assert_eq!(got("str"), Value::from("héllo"));
    assert_eq!(got("blob"), Value::Blob(vec![0, 1, 2, 255]));
    assert_eq!(got("bool"), Value::Bool(true));
    assert_eq!(got("list"), Value::List(vec![1.into(), "a".into()]));
    assert_eq!(got("map"), Value::HashMap(map));
    assert_eq!(got("geo"), Value::GeoJson(geo.into()));
    assert_eq!(got("hll"), Value::Hll(valid_hll()));
    assert_eq!(got("rawlist"), Value::List(vec![1.into(), "a".into()]));
    for code in 7u8..=12 {
        assert_eq!(
            got(&format!("blob{code}")),
            Value::Unknown(code, vec![code, 0, code])
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nil_deletes_a_bin() {
    use RecordExistsAction::*;
    let t = target().await;
    let c = connect(&t.hosts()).await;
    let set = unique_set("nil");
    let k = key(&set, "k");
    let wp = WritePolicy::default();
    c.put(&wp, &k, &[Bin::new("a", 1.into()), Bin::new("b", 2.into())])
        .await
        .unwrap();
    c.put(&wp, &k, &[Bin::new("a", Value::Nil)]).await.unwrap();
    assert_eq!(read_back(&c, &k).await, expect(&[("b", 2)], 2));
    // A nil for a bin the record does not have still updates it.
    c.put(&wp, &k, &[Bin::new("z", Value::Nil)]).await.unwrap();
    assert_eq!(read_back(&c, &k).await, expect(&[("b", 2)], 3));
    // Only nil bins on a record that does not exist: not found (2) and nothing is created,
    // whatever the record-exists action; a replace cannot carry a nil at all (4).
    let missing = key(&set, "missing");
    let nil = [Bin::new("a", Value::Nil), Bin::new("c", Value::Nil)];
    for action in [Update, UpdateOnly, CreateOnly] {
        assert_code(
            c.put(&self::wp(action), &missing, &nil).await,
            ResultCode::KeyNotFoundError,
        );
    }
    assert_code(
        c.put(&self::wp(Replace), &missing, &nil).await,
        ResultCode::ParameterError,
    );
    // The generation and the TTL are checked before the empty record is noticed.
    let gen_eq = WritePolicy {
        generation_policy: GenerationPolicy::ExpectGenEqual,
        generation: 5,
        ..WritePolicy::default()
    };
    assert_code(
        c.put(&gen_eq, &missing, &nil).await,
        ResultCode::GenerationError,
    );
    let bad_ttl = WritePolicy {
        expiration: Expiration::Seconds(315_360_001),
        ..WritePolicy::default()
    };
    assert_code(
        c.put(&bad_ttl, &missing, &nil).await,
        ResultCode::ParameterError,
    );
    // A record delete as the last operation of a write on a missing record: the same.
    assert_code(
        c.operate(
            &wp,
            &missing,
            &[
                operations::put(&Bin::new("x", 1.into())),
                operations::delete(),
            ],
        )
        .await,
        ResultCode::KeyNotFoundError,
    );
    assert!(!c.exists(&ReadPolicy::default(), &missing).await.unwrap());
    // A nil beside a value creates the record with the value.
    c.put(
        &wp,
        &missing,
        &[Bin::new("a", Value::Nil), Bin::new("v", 7.into())],
    )
    .await
    .unwrap();
    assert_eq!(read_back(&c, &missing).await, expect(&[("v", 7)], 1));
    // Deleting the last bin deletes the record.
    c.put(&wp, &k, &[Bin::new("b", Value::Nil)]).await.unwrap();
    assert!(!c.exists(&ReadPolicy::default(), &k).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_values_are_rejected() {
    // Malformed list/map msgpack is refused with the server's generic error (1), other bad
    // values with a parameter error (4), bad GeoJSON with 160.
    let t = target().await;
    let c = connect(&t.hosts()).await;
    let set = unique_set("invalid");
    let wp = WritePolicy::default();
    let put = |name: &'static str, v: Value| {
        let c = c.clone();
        let k = key(&set, name);
        async move {
            c.put(&WritePolicy::default(), &k, &[Bin::new("v", v)])
                .await
        }
    };
    assert_code(
        put("list", Value::Unknown(20, vec![0x93, 0x01])).await,
        ResultCode::ServerError,
    );
    assert_code(
        put("map", Value::Unknown(19, vec![0x81, 0x01])).await,
        ResultCode::ServerError,
    );
    assert_code(
        put("notlist", Value::Unknown(20, vec![0x81, 0x01, 0x02])).await,
        ResultCode::ServerError,
    );
    assert_code(
        put("hll", Value::Hll(vec![0; 16])).await,
        ResultCode::ParameterError,
    );
    assert_code(
        put("geo", Value::GeoJson("{not json".into())).await,
        ResultCode::InvalidGeojson,
    );
    // The client refuses bin names over 15 bytes before sending anything.
    let long = c
        .put(
            &wp,
            &key(&set, "long"),
            &[Bin::new("sixteen_bytes_xx", 1.into())],
        )
        .await;
    assert!(long.is_err());
    for name in ["list", "map", "notlist", "hll", "geo", "long"] {
        assert!(
            !c.exists(&ReadPolicy::default(), &key(&set, name))
                .await
                .unwrap(),
            "{name}"
        );
    }
}

/// Namespace `test`'s `max-record-size` (the 8.1 default for memory namespaces).
const MAX_RECORD_SIZE: usize = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_size_limit() {
    let t = target().await;
    let c = connect(&t.hosts()).await;
    let info = c
        .info(
            &AdminPolicy::default(),
            &[&format!("get-config:context=namespace;id={NS}")],
        )
        .await
        .unwrap();
    let max: usize = info
        .values()
        .flat_map(|v| v.split(';'))
        .find_map(|kv| kv.strip_prefix("max-record-size="))
        .expect("max-record-size reported")
        .parse()
        .unwrap();
    assert_eq!(
        max, MAX_RECORD_SIZE,
        "the sizes below assume the 8.1 default"
    );
    let set = unique_set("big");
    let mut wp = WritePolicy::default();
    wp.base_policy.total_timeout = 20_000;
    wp.base_policy.socket_timeout = 20_000;
    let blob = |n: usize| [Bin::new("b", Value::Blob(vec![7; n]))];
    // 8.1 counts a record as it stores it: 39 header bytes, the bin count (1 byte below 128
    // bins), the set name and its length byte, and per bin a length byte, the name, then the
    // value (a blob: particle type, 4-byte length, bytes). Exactly the limit fits.
    let fits = max - 39 - 1 - (1 + set.len()) - (1 + 1 + 5);
    let k = key(&set, "limit");
    c.put(&wp, &k, &blob(fits)).await.unwrap();
    assert_code(
        c.put(&wp, &key(&set, "over"), &blob(fits + 1)).await,
        ResultCode::RecordTooBig,
    );
    let rec = c.get(&ReadPolicy::default(), &k, Bins::All).await.unwrap();
    assert_eq!(rec.bins.get("b"), Some(&Value::Blob(vec![7; fits])));
    // An update is checked on the record it would leave: refused, the record unchanged.
    assert_code(
        c.put(&wp, &k, &[Bin::new("c", Value::from(1))]).await,
        ResultCode::RecordTooBig,
    );
    assert_eq!(
        c.get(&ReadPolicy::default(), &k, Bins::None)
            .await
            .unwrap()
            .generation,
        1
    );
    // A stored key (a length varint, 2 bytes from 128, then the particle type and value),
    // an expiry (4 bytes) and an integer bin in its fewest bytes (300: 2 bytes + type and
    // length) count too.
    let user_key = "u".repeat(127);
    let with_key = Key::new(NS, &set, Value::from(user_key.as_str())).unwrap();
    let kwp = WritePolicy {
        send_key: true,
        expiration: Expiration::Seconds(3600),
        ..wp.clone()
    };
    let fits_keyed = fits - (2 + 1 + 127) - 4 - (1 + 1 + 1 + 1 + 2);
    let bins = |n: usize| {
        [
            Bin::new("b", Value::Blob(vec![7; n])),
            Bin::new("n", Value::from(300)),
        ]
    };
    assert_code(
        c.put(&kwp, &with_key, &bins(fits_keyed + 1)).await,
        ResultCode::RecordTooBig,
    );
    c.put(&kwp, &with_key, &bins(fits_keyed)).await.unwrap();
    // Far over the limit (what a live 8.1.1 also answered).
    assert_code(
        c.put(&wp, &key(&set, "huge"), &blob(9 << 20)).await,
        ResultCode::RecordTooBig,
    );
    for k in [k, with_key] {
        assert!(c.delete(&WritePolicy::default(), &k).await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_key_is_stored_and_checked() {
    let t = target().await;
    let c = connect(&t.hosts()).await;
    let set = unique_set("sendkey");
    let k = key(&set, "user-key");
    let wp = WritePolicy {
        send_key: true,
        ..WritePolicy::default()
    };
    c.put(&wp, &k, &[Bin::new("a", 1.into())]).await.unwrap();
    // Same digest, different user key: the stored key does not match.
    let other = Key::with_digest(NS, &set, Some(Value::from("other")), k.digest());
    assert_code(
        c.put(&wp, &other, &[Bin::new("a", 2.into())]).await,
        ResultCode::KeyMismatch,
    );
    // Without the key, the digest alone addresses the record.
    let digest_only = Key::with_digest(NS, &set, None, k.digest());
    c.put(
        &WritePolicy::default(),
        &digest_only,
        &[Bin::new("a", 3.into())],
    )
    .await
    .unwrap();
    let rec = c.get(&ReadPolicy::default(), &k, Bins::All).await.unwrap();
    assert_eq!(rec.bins.get("a"), Some(&Value::from(3)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_and_exists() {
    let t = target().await;
    let c = connect(&t.hosts()).await;
    let set = unique_set("delete");
    let k = key(&set, "k");
    c.put(&WritePolicy::default(), &k, &[Bin::new("a", 1.into())])
        .await
        .unwrap();
    assert!(c.exists(&ReadPolicy::default(), &k).await.unwrap());
    assert!(c.delete(&WritePolicy::default(), &k).await.unwrap());
    assert!(!c.delete(&WritePolicy::default(), &k).await.unwrap());
    assert!(!c.exists(&ReadPolicy::default(), &k).await.unwrap());
    assert_code(
        c.get(&ReadPolicy::default(), &k, Bins::All).await,
        ResultCode::KeyNotFoundError,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_writes_report_each_record() {
    let t = target().await;
    let c = connect(&t.hosts()).await;
    let set = unique_set("batch");
    let keys: Vec<Key> = (0..40).map(|i| key(&set, &format!("k{i}"))).collect();
    // every other record exists already
    for k in keys.iter().step_by(2) {
        c.put(&WritePolicy::default(), k, &[Bin::new("old", 1.into())])
            .await
            .unwrap();
    }
    let create_only = BatchWritePolicy {
        record_exists_action: RecordExistsAction::CreateOnly,
        send_key: true,
        expiration: Expiration::Seconds(3600),
        ..BatchWritePolicy::default()
    };
    let mut ops: Vec<BatchOperation> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let bins = [
                Bin::new("n", Value::from(i as i64)),
                Bin::new("s", Value::from("x")),
            ];
            BatchOperation::write(
                &create_only,
                k.clone(),
                bins.iter().map(operations::put).collect::<Vec<_>>(),
            )
        })
        .collect();
    c.batch(&BatchPolicy::default(), &mut ops).await.unwrap();
    for (i, op) in ops.iter().enumerate() {
        let want = if i % 2 == 0 {
            ResultCode::KeyExistsError
        } else {
            ResultCode::Ok
        };
        assert_eq!(op.result_code(), Some(want), "row {i}: {:?}", op.error());
    }

    // Generation greater-than: backup generation 1 does not overwrite generation 1.
    let gt = |generation| BatchWritePolicy {
        generation_policy: GenerationPolicy::ExpectGenGreater,
        generation,
        ..BatchWritePolicy::default()
    };
    let mut ops = vec![
        BatchOperation::write(
            &gt(1),
            keys[1].clone(),
            vec![operations::put(&Bin::new("n", 100.into()))],
        ),
        BatchOperation::write(
            &gt(2),
            keys[3].clone(),
            vec![operations::put(&Bin::new("n", 300.into()))],
        ),
    ];
    c.batch(&BatchPolicy::default(), &mut ops).await.unwrap();
    assert_eq!(ops[0].result_code(), Some(ResultCode::GenerationError));
    assert_eq!(ops[1].result_code(), Some(ResultCode::Ok));

    // Reads and deletes in one batch.
    let brp = BatchReadPolicy::default();
    let mut ops = vec![
        BatchOperation::read(&brp, keys[1].clone(), Bins::All),
        BatchOperation::read(&brp, keys[3].clone(), Bins::All),
        BatchOperation::read(&brp, key(&set, "absent"), Bins::All),
        BatchOperation::delete(&BatchDeletePolicy::default(), keys[5].clone()),
    ];
    c.batch(&BatchPolicy::default(), &mut ops).await.unwrap();
    let rec1 = ops[0].record().expect("row 0 found");
    assert_eq!(rec1.bins.get("n"), Some(&Value::from(1)));
    assert_eq!(rec1.generation, 1);
    let rec3 = ops[1].record().expect("row 1 found");
    assert_eq!(rec3.bins.get("n"), Some(&Value::from(300)));
    assert_eq!(rec3.generation, 2);
    assert_eq!(ops[2].result_code(), Some(ResultCode::KeyNotFoundError));
    assert_eq!(ops[3].result_code(), Some(ResultCode::Ok));
    assert!(!c.exists(&ReadPolicy::default(), &keys[5]).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_commands_a_restore_uses() {
    let t = target().await;
    let c = connect(&t.hosts()).await;
    let cmds = ["namespaces", "get-config:context=service", "build"];
    let info = c.info(&AdminPolicy::default(), &cmds).await.unwrap();
    assert!(
        info["namespaces"].split(';').any(|n| n == NS),
        "{:?}",
        info["namespaces"]
    );
    let threads: u32 = info["get-config:context=service"]
        .split(';')
        .find_map(|kv| kv.strip_prefix("batch-index-threads="))
        .expect("batch-index-threads reported")
        .parse()
        .unwrap();
    assert!(threads > 0);
    let major: u32 = info["build"].split('.').next().unwrap().parse().unwrap();
    assert!(major >= 6, "{}", info["build"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secondary_index_lifecycle() {
    let t = target().await;
    let c = connect(&t.hosts()).await;
    let set = unique_set("sidx");
    let name = format!("idx_{set}");
    let ap = AdminPolicy::default();
    let create = |bin: &'static str| {
        c.create_index_on_bin(
            &ap,
            NS,
            &set,
            bin,
            &name,
            IndexType::Numeric,
            CollectionIndexType::Default,
            None,
        )
    };
    let task = create("n").await.unwrap();
    task.wait_till_complete(Some(Duration::from_secs(30)))
        .await
        .unwrap();
    let list_cmd = format!("sindex-list:ns={NS}");
    let list = c.info(&ap, &[&list_cmd]).await.unwrap();
    let entry = list[&list_cmd]
        .split(';')
        .find(|e| e.contains(&format!("indexname={name}:")))
        .unwrap_or_else(|| panic!("{name} not listed: {}", list[&list_cmd]));
    assert!(entry.contains(&format!("set={set}:")), "{entry}");
    assert!(entry.contains("bin=n:"), "{entry}");
    assert!(entry.to_lowercase().contains("type=numeric"), "{entry}");
    // creating it again fails
    // The same definition again is accepted; the same name on another bin is not.
    create("n").await.unwrap();
    assert!(create("other").await.is_err());
    let task = c.drop_index(&ap, NS, &set, &name).await.unwrap();
    task.wait_till_complete(Some(Duration::from_secs(30)))
        .await
        .unwrap();
    let list = c.info(&ap, &[&list_cmd]).await.unwrap();
    assert!(!list[&list_cmd].contains(&format!("indexname={name}:")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udf_register_and_list() {
    let t = target().await;
    let c = connect(&t.hosts()).await;
    let file = format!("{}.lua", unique_set("udf"));
    let ap = AdminPolicy::default();
    let body = b"function hello(rec)\n  return 1\nend\n";
    let task = c
        .register_udf(&ap, body, &file, UdfLang::Lua)
        .await
        .unwrap();
    task.wait_till_complete(Some(Duration::from_secs(30)))
        .await
        .unwrap();
    let list = c.info(&ap, &["udf-list"]).await.unwrap();
    assert!(
        list["udf-list"].contains(&format!("filename={file},")),
        "{}",
        list["udf-list"]
    );
    let task = c.remove_udf(&ap, &file).await.unwrap();
    task.wait_till_complete(Some(Duration::from_secs(30)))
        .await
        .unwrap();
    let list = c.info(&ap, &["udf-list"]).await.unwrap();
    assert!(!list["udf-list"].contains(&format!("filename={file},")));
}

/// The last answer for a bin of an operate (a bin answered twice holds a `MultiResult`).
fn last_answer(rec: &aerospike::Record, bin: &str) -> Value {
    match rec.bins.get(bin) {
        Some(Value::MultiResult(all)) => all.last().cloned().unwrap_or(Value::Nil),
        Some(v) => v.clone(),
        None => panic!("no answer for {bin}: {rec:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operate_touch_and_simple_modifiers() {
    let t = target().await;
    let c = connect(&t.hosts()).await;
    let set = unique_set("operate");
    let k = key(&set, "k");
    let wp = WritePolicy::default();
    c.put(
        &wp,
        &k,
        &[Bin::new("n", 10.into()), Bin::new("s", "ab".into())],
    )
    .await
    .unwrap();
    let ops = [
        operations::add(&Bin::new("n", 5.into())),
        operations::append(&Bin::new("s", "cd".into())),
        operations::prepend(&Bin::new("s", ">".into())),
        operations::get_bin("n"),
        operations::get_bin("s"),
    ];
    let rec = c.operate(&wp, &k, &ops).await.unwrap();
    assert_eq!(last_answer(&rec, "n"), Value::from(15));
    assert_eq!(last_answer(&rec, "s"), Value::from(">abcd"));
    assert_eq!(rec.generation, 2);

    let touch = WritePolicy {
        expiration: Expiration::Seconds(500),
        ..WritePolicy::default()
    };
    c.touch(&touch, &k).await.unwrap();
    let rec = c.get(&ReadPolicy::default(), &k, Bins::All).await.unwrap();
    assert_eq!(rec.generation, 3);
    let ttl = rec.time_to_live().unwrap().as_secs();
    assert!((490..=500).contains(&ttl), "{ttl}");
    assert_eq!(rec.bins.get("n"), Some(&Value::from(15)));
    assert_code(
        c.touch(&touch, &key(&set, "missing")).await,
        ResultCode::KeyNotFoundError,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_checks_follow_the_server_order() {
    let t = target().await;
    let c = connect(&t.hosts()).await;
    let set = unique_set("order");
    let k = key(&set, "k");
    c.put(&WritePolicy::default(), &k, &[Bin::new("a", 1.into())])
        .await
        .unwrap();
    let bin = [Bin::new("a", 2.into())];
    // The record lives in `set`: an update naming another set, or none, is refused.
    for other in [format!("{set}x"), String::new()] {
        let same_digest = Key::with_digest(NS, &other, None, k.digest());
        assert_code(
            c.put(&WritePolicy::default(), &same_digest, &bin).await,
            ResultCode::ParameterError,
        );
    }
    // Create-only is decided before the TTL is looked at.
    let bad_ttl_create_only = WritePolicy {
        record_exists_action: RecordExistsAction::CreateOnly,
        expiration: Expiration::Seconds(315_360_001),
        ..WritePolicy::default()
    };
    assert_code(
        c.put(&bad_ttl_create_only, &k, &bin).await,
        ResultCode::KeyExistsError,
    );
    // ...and the generation before the values.
    let gen_eq_bad_value = WritePolicy {
        generation_policy: GenerationPolicy::ExpectGenEqual,
        generation: 9,
        ..WritePolicy::default()
    };
    assert_code(
        c.put(
            &gen_eq_bad_value,
            &k,
            &[Bin::new("l", Value::Unknown(20, vec![0x93]))],
        )
        .await,
        ResultCode::GenerationError,
    );
    // A replace cannot carry a bin delete.
    assert_code(
        c.put(
            &wp(RecordExistsAction::Replace),
            &k,
            &[Bin::new("a", Value::Nil)],
        )
        .await,
        ResultCode::ParameterError,
    );
    let rec = c.get(&ReadPolicy::default(), &k, Bins::All).await.unwrap();
    assert_eq!(bins_of(&rec), vec![("a".into(), 1.into())]);
    assert_eq!(rec.generation, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn particle_types_and_bin_counts_the_server_takes() {
    let t = target().await;
    let c = connect(&t.hosts()).await;
    let set = unique_set("ptypes");
    let mut wp = WritePolicy::default();
    wp.base_policy.total_timeout = 30_000;
    wp.base_policy.socket_timeout = 30_000;
    // 16 is stored as raw bytes; retired and unknown codes are refused with 4.
    let k = key(&set, "p16");
    c.put(&wp, &k, &[Bin::new("v", Value::Unknown(16, vec![1, 2, 3]))])
        .await
        .unwrap();
    let rec = c.get(&ReadPolicy::default(), &k, Bins::All).await.unwrap();
    assert_eq!(rec.bins.get("v"), Some(&Value::Unknown(16, vec![1, 2, 3])));
    for p in [5u8, 6, 13, 14, 15, 21, 22, 24] {
        let k = key(&set, &format!("p{p}"));
        assert_code(
            c.put(&wp, &k, &[Bin::new("v", Value::Unknown(p, vec![1]))])
                .await,
            ResultCode::ParameterError,
        );
        assert!(!c.exists(&ReadPolicy::default(), &k).await.unwrap(), "{p}");
    }
    // A record holds at most 32767 bins.
    let bins = |n: usize| -> Vec<Bin> {
        (0..n)
            .map(|i| Bin::new(format!("b{i}"), Value::Bool(true)))
            .collect()
    };
    let most = key(&set, "most");
    c.put(&wp, &most, &bins(32_767)).await.unwrap();
    let mut rp = ReadPolicy::default();
    rp.base_policy.total_timeout = 30_000;
    rp.base_policy.socket_timeout = 30_000;
    let rec = c.get(&rp, &most, Bins::All).await.unwrap();
    assert_eq!(rec.bins.len(), 32_767);
    assert_code(
        c.put(&wp, &key(&set, "toomany"), &bins(32_768)).await,
        ResultCode::ParameterError,
    );
    assert!(c.delete(&wp, &most).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn increments_check_number_types() {
    let t = target().await;
    let c = connect(&t.hosts()).await;
    let set = unique_set("incr");
    let k = key(&set, "k");
    let wp = WritePolicy::default();
    c.put(
        &wp,
        &k,
        &[
            Bin::new("n", 1.into()),
            Bin::new("f", 1.5f64.into()),
            Bin::new("s", "ab".into()),
        ],
    )
    .await
    .unwrap();
    c.operate(
        &wp,
        &k,
        &[
            operations::add(&Bin::new("f", 2.0f64.into())),
            operations::add(&Bin::new("g", 0.5f64.into())),
            operations::add(&Bin::new("n", i64::MAX.into())),
        ],
    )
    .await
    .unwrap();
    let rec = c.get(&ReadPolicy::default(), &k, Bins::All).await.unwrap();
    assert_eq!(rec.bins.get("f"), Some(&Value::from(3.5f64)));
    assert_eq!(
        rec.bins.get("g"),
        Some(&Value::from(0.5f64)),
        "a new bin takes the type"
    );
    assert_eq!(
        rec.bins.get("n"),
        Some(&Value::from(i64::MIN)),
        "integers wrap"
    );
    // An integer onto a double, a double onto an integer, a string onto anything: 12.
    for (bin, v) in [
        ("f", Value::from(1)),
        ("n", Value::from(1.0f64)),
        ("n", Value::from("x")),
    ] {
        assert_code(
            c.operate(&wp, &k, &[operations::add(&Bin::new(bin, v.clone()))])
                .await,
            ResultCode::BinTypeError,
        );
    }
    assert_code(
        c.operate(&wp, &k, &[operations::append(&Bin::new("n", "x".into()))])
            .await,
        ResultCode::BinTypeError,
    );
    let rec = c.get(&ReadPolicy::default(), &k, Bins::None).await.unwrap();
    assert_eq!(rec.generation, 2, "refused operations change nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_and_deletes_check_a_named_set() {
    let t = target().await;
    let c = connect(&t.hosts()).await;
    let set = unique_set("rset");
    let k = key(&set, "k");
    c.put(&WritePolicy::default(), &k, &[Bin::new("a", 1.into())])
        .await
        .unwrap();
    let other = Key::with_digest(NS, format!("{set}x"), None, k.digest());
    let rp = ReadPolicy::default();
    assert_code(
        c.get(&rp, &other, Bins::All).await,
        ResultCode::ParameterError,
    );
    assert_code(
        c.delete(&WritePolicy::default(), &other).await,
        ResultCode::ParameterError,
    );
    // Naming no set reaches the record wherever it is.
    let no_set = Key::with_digest(NS, "", None, k.digest());
    assert_eq!(c.get(&rp, &no_set, Bins::All).await.unwrap().generation, 1);
    assert!(c.delete(&WritePolicy::default(), &no_set).await.unwrap());
    assert!(!c.exists(&rp, &k).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_requests_need_enterprise() {
    let t = target().await;
    let c = connect(&t.hosts()).await;
    let info = c.info(&AdminPolicy::default(), &["edition"]).await.unwrap();
    let enterprise = info["edition"].contains("Enterprise");
    let set = unique_set("compress");
    let k = key(&set, "k");
    let mut wp = WritePolicy::default();
    wp.base_policy.use_compression = true;
    let big = "z".repeat(50_000);
    let r = c
        .put(&wp, &k, &[Bin::new("s", Value::from(big.as_str()))])
        .await;
    if enterprise {
        r.unwrap();
    } else {
        assert_code(r, ResultCode::EnterpriseOnly);
        assert!(!c.exists(&ReadPolicy::default(), &k).await.unwrap());
    }
}

// ---- raw wire: what the client cannot send or does not show ----

/// Namespace, set and digest fields for `k`.
fn raw_fields(k: &Key, set: &str) -> Vec<Vec<u8>> {
    vec![
        field_bytes(0, NS.as_bytes()),
        field_bytes(1, set.as_bytes()),
        field_bytes(4, &k.digest()),
    ]
}

/// One raw single-record command; its one answer.
async fn raw_one(hosts: &str, body: Vec<u8>) -> raw::RawAnswer {
    let answers = raw::exchange(hosts, &frame(&body)).await.unwrap();
    assert_eq!(answers.len(), 1, "{answers:?}");
    answers.into_iter().next().unwrap()
}

const WRITE: u8 = 1;

/// An integer bin write op.
fn int_op(name: &str, v: i64) -> Vec<u8> {
    op_bytes(2, 1, name.as_bytes(), &v.to_be_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_answers_carry_the_stored_generation_and_expiry() {
    let t = target().await;
    let hosts = t.hosts();
    let set = unique_set("rawhdr");
    let k = key(&set, "k");
    let f = raw_fields(&k, &set);
    let a = raw_one(
        &hosts,
        msg_with(0, WRITE, 0, 0, 1000, &f, &[int_op("a", 1)]),
    )
    .await;
    assert_eq!((a.result_code, a.generation), (0, 1));
    assert_ne!(a.void_time, 0);
    let stored = raw::get(&hosts, NS, Some(&set), &k.digest())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((stored.generation, stored.void_time), (1, a.void_time));
    // Refused writes on an existing record answer with its generation and void time.
    let create_only = 1 << 5;
    let gen_equal = 1 << 2;
    for (info2, generation, code) in [(WRITE | create_only, 0, 5), (WRITE | gen_equal, 9, 3)] {
        let a = raw_one(
            &hosts,
            msg_with(0, info2, 0, generation, 0, &f, &[int_op("a", 2)]),
        )
        .await;
        assert_eq!(
            (a.result_code, a.generation, a.void_time),
            (code, 1, stored.void_time)
        );
    }
    let bad_bool = op_bytes(2, 17, b"b", &[5]);
    let a = raw_one(&hosts, msg(0, WRITE, 0, &f, &[bad_bool])).await;
    assert_eq!((a.result_code, a.generation), (4, 1));
    // On a missing record there is nothing to report.
    let m = key(&set, "missing");
    let nil = op_bytes(2, 0, b"a", b"");
    let a = raw_one(&hosts, msg(0, WRITE, 0, &raw_fields(&m, &set), &[nil])).await;
    assert_eq!((a.result_code, a.generation, a.void_time), (2, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_keys_bin_names_and_ops() {
    let t = target().await;
    let hosts = t.hosts();
    let set = unique_set("rawkey");
    let write = |name: &'static str, key: Option<Vec<u8>>, ops: Vec<Vec<u8>>| {
        let (hosts, set) = (hosts.clone(), set.clone());
        async move {
            let k = self::key(&set, name);
            let mut f = raw_fields(&k, &set);
            if let Some(kf) = key {
                f.push(field_bytes(2, &kf));
            }
            let a = raw_one(&hosts, msg(0, WRITE, 0, &f, &ops)).await;
            let stored = raw::get(&hosts, NS, Some(&set), &k.digest()).await.unwrap();
            (a.result_code, stored)
        }
    };
    // An integer key must be 8 bytes (16 otherwise); any other key is stored as sent.
    let (code, stored) = write("int4", Some(vec![1, 0, 0, 0, 5]), vec![int_op("a", 1)]).await;
    assert_eq!((code, stored), (16, None));
    for (name, kf) in [
        ("int8", vec![1, 0, 0, 0, 0, 0, 0, 0, 5]),
        ("float4", vec![2, 0, 0, 0, 0]),
        ("type5", vec![5, b'x']),
        ("empty", vec![3]),
    ] {
        let (code, stored) = write(name, Some(kf), vec![int_op("a", 1)]).await;
        assert_eq!(code, 0, "{name}");
        assert!(stored.is_some(), "{name}");
    }
    // Bin names: 15 bytes and empty ones are fine, 16 bytes or a NUL are 21, any bytes go.
    let (code, stored) = write("n15", None, vec![int_op("fifteen_bytes_x", 1)]).await;
    assert_eq!(code, 0);
    assert!(stored.unwrap().bin("fifteen_bytes_x").is_some());
    let (code, stored) = write("nempty", None, vec![int_op("", 1)]).await;
    assert_eq!(code, 0);
    assert!(stored.unwrap().bin("").is_some());
    let (code, stored) = write("nbytes", None, vec![op_bytes(2, 1, b"\xff\xfe", &[0; 8])]).await;
    assert_eq!(code, 0);
    assert_eq!(stored.unwrap().bins[0].name, b"\xff\xfe");
    for (name, bin) in [("n16", &b"sixteen_bytes_xx"[..]), ("nnul", &b"a\0b"[..])] {
        let (code, stored) = write(name, None, vec![op_bytes(2, 1, bin, &[0; 8])]).await;
        assert_eq!((code, stored), (21, None), "{name}");
    }
    // A read among the writes needs the READ flag; no operations at all is 4 too.
    let (code, stored) = write(
        "readop",
        None,
        vec![op_bytes(1, 0, b"a", b""), int_op("b", 1)],
    )
    .await;
    assert_eq!((code, stored), (4, None));
    let (code, stored) = write("noops", None, vec![]).await;
    assert_eq!((code, stored), (4, None));
}

/// A batch-index body: count, flags, then `rows`.
fn batch_body(count: u32, rows: &[Vec<u8>]) -> Vec<u8> {
    let mut b = count.to_be_bytes().to_vec();
    b.push(0);
    for r in rows {
        b.extend_from_slice(r);
    }
    b
}

/// A batch row with its own header (INFO flag): a write of `ops` into `ns`.
fn batch_row(index: u32, digest: [u8; 20], ns: &str, set: &str, ops: &[Vec<u8>]) -> Vec<u8> {
    let mut r = index.to_be_bytes().to_vec();
    r.extend_from_slice(&digest);
    r.extend_from_slice(&[0x2, 0, WRITE, 0]); // flags INFO, info1, info2, info3
    r.extend_from_slice(&2u16.to_be_bytes());
    r.extend_from_slice(&(ops.len() as u16).to_be_bytes());
    r.extend(field_bytes(0, ns.as_bytes()));
    r.extend(field_bytes(1, set.as_bytes()));
    for o in ops {
        r.extend_from_slice(o);
    }
    r
}

/// A row repeating the previous row's header and ops.
fn repeat_row(index: u32, digest: [u8; 20]) -> Vec<u8> {
    let mut r = index.to_be_bytes().to_vec();
    r.extend_from_slice(&digest);
    r.push(0x1);
    r
}

/// A batch request frame with a transaction timeout of `timeout_ms`.
fn batch_frame(body: &[u8], timeout_ms: u32) -> Vec<u8> {
    let mut m = msg(0x08, 0, 0, &[field_bytes(41, body)], &[]);
    m[14..18].copy_from_slice(&timeout_ms.to_be_bytes());
    frame(&m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_malformed_batches_answer_one_4() {
    let t = target().await;
    let hosts = t.hosts();
    let set = unique_set("rawbatch");
    let op = [int_op("a", 1)];
    // Each case: its rows (built from fresh digests), and which rows end up applied. The
    // answer is always one closing message with 4 and no rows, but what the server met
    // before the fault was applied anyway (8.1.2.0).
    type Build = fn(&[[u8; 20]], &str, &[Vec<u8>]) -> Vec<u8>;
    let cases: [(&str, Build, [bool; 3]); 4] = [
        (
            "fewer rows than announced",
            |d, set, op| batch_body(3, &[batch_row(0, d[0], NS, set, op), repeat_row(1, d[1])]),
            [true, true, false],
        ),
        ("no rows", |_, _, _| batch_body(0, &[]), [false; 3]),
        (
            "a REPEAT row first",
            |d, set, op| batch_body(2, &[repeat_row(0, d[0]), batch_row(1, d[1], NS, set, op)]),
            [false; 3],
        ),
        (
            "a row in an unknown namespace",
            |d, set, op| {
                batch_body(
                    3,
                    &[
                        batch_row(0, d[0], NS, set, op),
                        batch_row(1, d[1], "nosuchns", set, op),
                        batch_row(2, d[2], NS, set, op),
                    ],
                )
            },
            [true, false, false],
        ),
    ];
    for (n, (what, build, applied)) in cases.into_iter().enumerate() {
        let digests: Vec<[u8; 20]> = (0..3)
            .map(|i| key(&set, &format!("c{n}r{i}")).digest())
            .collect();
        let body = build(&digests, &set, &op);
        let answers = raw::exchange_batch(&hosts, &batch_frame(&body, 1000))
            .await
            .unwrap();
        assert_eq!(answers.len(), 1, "{what}: {answers:?}");
        assert!(answers[0].is_last(), "{what}");
        assert_eq!(answers[0].result_code, 4, "{what}");
        for (d, want) in digests.iter().zip(applied) {
            let got = raw::get(&hosts, NS, Some(&set), d).await.unwrap();
            assert_eq!(got.is_some(), want, "{what}: {got:?}");
        }
    }
    // A good batch: one answer per row (in any order), then the closing message with 0; a
    // row with only a nil bin on a missing record is 2.
    let digests: Vec<[u8; 20]> = (0..4)
        .map(|i| key(&set, &format!("ok{i}")).digest())
        .collect();
    let nil = [op_bytes(2, 0, b"a", b"")];
    let body = batch_body(
        4,
        &[
            batch_row(0, digests[0], NS, &set, &op),
            repeat_row(1, digests[1]),
            batch_row(2, digests[2], NS, &set, &op),
            batch_row(3, digests[3], NS, &set, &nil),
        ],
    );
    let answers = raw::exchange_batch(&hosts, &batch_frame(&body, 1000))
        .await
        .unwrap();
    let (last, rows) = answers.split_last().unwrap();
    assert!(last.is_last());
    assert_eq!(last.result_code, 0);
    let mut got: Vec<(u32, u8)> = rows.iter().map(|a| (a.index, a.result_code)).collect();
    got.sort();
    assert_eq!(got, vec![(0, 0), (1, 0), (2, 0), (3, 2)]);
    assert!(
        raw::get(&hosts, NS, Some(&set), &digests[1])
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        raw::get(&hosts, NS, Some(&set), &digests[3])
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_batch_timeouts_are_per_row_and_final() {
    // A server that runs out of a batch's time answers 9 for rows it did not do, may stop
    // before answering every row, and ends with 9 (8.1.2.0 did so for 3000 rows and 1 ms);
    // the node is fast enough to answer all with 0. Either way no row is answered twice,
    // rows are 0 or 9, and a closing 0 means every row was answered 0.
    let t = target().await;
    let hosts = t.hosts();
    let set = unique_set("rawtimeout");
    let n = 3000u32;
    let mut rows = vec![batch_row(
        0,
        key(&set, "0").digest(),
        NS,
        &set,
        &[int_op("a", 1)],
    )];
    rows.extend((1..n).map(|i| repeat_row(i, key(&set, &i.to_string()).digest())));
    let answers = raw::exchange_batch(&hosts, &batch_frame(&batch_body(n, &rows), 1))
        .await
        .unwrap();
    let (last, rows) = answers.split_last().unwrap();
    assert!(last.is_last());
    let mut seen: Vec<u32> = rows.iter().map(|a| a.index).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), rows.len(), "each row answered at most once");
    assert!(seen.iter().all(|&i| i < n));
    assert!(rows.iter().all(|a| matches!(a.result_code, 0 | 9)));
    match last.result_code {
        0 => assert_eq!(rows.len(), n as usize, "a closing 0 after every row"),
        9 => {}
        code => panic!("closing code {code}"),
    }
    if rows.iter().any(|a| a.result_code == 9) {
        assert_eq!(last.result_code, 9, "a row timed out, so the batch did");
    }
}
