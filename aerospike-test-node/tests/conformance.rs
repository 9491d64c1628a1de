//! Server behaviours, asserted only through the `aerospike` client's public API.
//!
//! Runs against the test node, or against a real server when `AEROSPIKE_HOSTS` is set
//! (namespace `test`, a unique set per test), so the node stays honest.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use aerospike::{
    AdminPolicy, BatchDeletePolicy, BatchOperation, BatchPolicy, BatchReadPolicy, BatchWritePolicy,
    Bin, Bins, CollectionIndexType, Expiration, GenerationPolicy, IndexType, Key, ReadPolicy,
    RecordExistsAction, ResultCode, Task, UdfLang, Value, WritePolicy, operations,
};
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

    let short = key(&set, "short");
    c.put(&ttl_wp(Expiration::Seconds(1)), &short, &bin)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_code(
        c.get(&rp, &short, Bins::All).await,
        ResultCode::KeyNotFoundError,
    );
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
    let t = target().await;
    let c = connect(&t.hosts()).await;
    let set = unique_set("nil");
    let k = key(&set, "k");
    let wp = WritePolicy::default();
    c.put(&wp, &k, &[Bin::new("a", 1.into()), Bin::new("b", 2.into())])
        .await
        .unwrap();
    c.put(&wp, &k, &[Bin::new("a", Value::Nil)]).await.unwrap();
    let rec = c.get(&ReadPolicy::default(), &k, Bins::All).await.unwrap();
    assert_eq!(bins_of(&rec), vec![("b".into(), 2.into())]);
    // Only a nil bin on a record that does not exist.
    assert_code(
        c.put(&wp, &key(&set, "missing"), &[Bin::new("a", Value::Nil)])
            .await,
        ResultCode::ParameterError,
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_too_big() {
    let t = target().await;
    let c = connect(&t.hosts()).await;
    let set = unique_set("big");
    let mut wp = WritePolicy::default();
    wp.base_policy.total_timeout = 20_000;
    wp.base_policy.socket_timeout = 20_000;
    let k = key(&set, "big");
    assert_code(
        c.put(&wp, &k, &[Bin::new("b", Value::Blob(vec![7; 9 << 20]))])
            .await,
        ResultCode::RecordTooBig,
    );
    let ok = key(&set, "ok");
    c.put(&wp, &ok, &[Bin::new("b", Value::Blob(vec![7; 100_000]))])
        .await
        .unwrap();
    let rec = c.get(&ReadPolicy::default(), &ok, Bins::All).await.unwrap();
    assert_eq!(rec.bins.get("b"), Some(&Value::Blob(vec![7; 100_000])));
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
