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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_exists_actions() {
    let t = target().await;
    let c = connect(&t.hosts()).await;
    let set = unique_set("exists");
    let k = key(&set, "k");
    let rp = ReadPolicy::default();

    c.put(
        &WritePolicy::default(),
        &k,
        &[Bin::new("a", 1.into()), Bin::new("b", 2.into())],
    )
    .await
    .unwrap();
    c.put(
        &wp(RecordExistsAction::Update),
        &k,
        &[Bin::new("b", 3.into()), Bin::new("c", 4.into())],
    )
    .await
    .unwrap();
    let rec = c.get(&rp, &k, Bins::All).await.unwrap();
    assert_eq!(
        bins_of(&rec),
        vec![
            ("a".into(), 1.into()),
            ("b".into(), 3.into()),
            ("c".into(), 4.into())
        ]
    );
    assert_eq!(rec.generation, 2);

    c.put(
        &wp(RecordExistsAction::Replace),
        &k,
        &[Bin::new("d", 5.into())],
    )
    .await
    .unwrap();
    let rec = c.get(&rp, &k, Bins::All).await.unwrap();
    assert_eq!(bins_of(&rec), vec![("d".into(), 5.into())]);
    assert_eq!(rec.generation, 3);

    assert_code(
        c.put(
            &wp(RecordExistsAction::CreateOnly),
            &k,
            &[Bin::new("e", 6.into())],
        )
        .await,
        ResultCode::KeyExistsError,
    );
    let fresh = key(&set, "fresh");
    c.put(
        &wp(RecordExistsAction::CreateOnly),
        &fresh,
        &[Bin::new("e", 6.into())],
    )
    .await
    .unwrap();

    let missing = key(&set, "missing");
    assert_code(
        c.put(
            &wp(RecordExistsAction::UpdateOnly),
            &missing,
            &[Bin::new("x", 1.into())],
        )
        .await,
        ResultCode::KeyNotFoundError,
    );
    assert_code(
        c.put(
            &wp(RecordExistsAction::ReplaceOnly),
            &missing,
            &[Bin::new("x", 1.into())],
        )
        .await,
        ResultCode::KeyNotFoundError,
    );
    c.put(
        &wp(RecordExistsAction::ReplaceOnly),
        &k,
        &[Bin::new("f", 7.into())],
    )
    .await
    .unwrap();
    let rec = c.get(&rp, &k, Bins::All).await.unwrap();
    assert_eq!(bins_of(&rec), vec![("f".into(), 7.into())]);
    assert!(!c.exists(&rp, &missing).await.unwrap());
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

    // GT on a missing record creates it, whatever the generation.
    c.put(&gen_wp(GenerationPolicy::ExpectGenGreater, 7), &k, &bin)
        .await
        .unwrap();
    c.put(&WritePolicy::default(), &k, &bin).await.unwrap();
    assert_eq!(
        c.get(&ReadPolicy::default(), &k, Bins::None)
            .await
            .unwrap()
            .generation,
        2
    );

    assert_code(
        c.put(&gen_wp(GenerationPolicy::ExpectGenEqual, 1), &k, &bin)
            .await,
        ResultCode::GenerationError,
    );
    c.put(&gen_wp(GenerationPolicy::ExpectGenEqual, 2), &k, &bin)
        .await
        .unwrap();
    // stored generation is 3 now: GT needs strictly more
    assert_code(
        c.put(&gen_wp(GenerationPolicy::ExpectGenGreater, 3), &k, &bin)
            .await,
        ResultCode::GenerationError,
    );
    assert_code(
        c.put(&gen_wp(GenerationPolicy::ExpectGenGreater, 2), &k, &bin)
            .await,
        ResultCode::GenerationError,
    );
    c.put(&gen_wp(GenerationPolicy::ExpectGenGreater, 4), &k, &bin)
        .await
        .unwrap();
    assert_eq!(
        c.get(&ReadPolicy::default(), &k, Bins::None)
            .await
            .unwrap()
            .generation,
        4
    );
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

    let k = key(&set, "seconds");
    c.put(&ttl_wp(Expiration::Seconds(1000)), &k, &bin)
        .await
        .unwrap();
    let ttl = c
        .get(&rp, &k, Bins::None)
        .await
        .unwrap()
        .time_to_live()
        .unwrap();
    assert!(
        ttl <= Duration::from_secs(1000) && ttl >= Duration::from_secs(990),
        "{ttl:?}"
    );

    // DontUpdate keeps the expiry of an existing record.
    c.put(&ttl_wp(Expiration::DontUpdate), &k, &bin)
        .await
        .unwrap();
    let ttl = c
        .get(&rp, &k, Bins::None)
        .await
        .unwrap()
        .time_to_live()
        .unwrap();
    assert!(ttl >= Duration::from_secs(990), "{ttl:?}");

    let never = key(&set, "never");
    c.put(&ttl_wp(Expiration::Never), &never, &bin)
        .await
        .unwrap();
    assert_eq!(
        c.get(&rp, &never, Bins::None).await.unwrap().time_to_live(),
        None
    );

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
        ResultCode::ParameterError,
    );
    assert_code(
        put("map", Value::Unknown(19, vec![0x81, 0x01])).await,
        ResultCode::ParameterError,
    );
    assert_code(
        put("notlist", Value::Unknown(20, vec![0x81, 0x01, 0x02])).await,
        ResultCode::ParameterError,
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
    let task = c
        .create_index_on_bin(
            &ap,
            NS,
            &set,
            "n",
            &name,
            IndexType::Numeric,
            CollectionIndexType::Default,
            None,
        )
        .await
        .unwrap();
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
    let again = c
        .create_index_on_bin(
            &ap,
            NS,
            &set,
            "n",
            &name,
            IndexType::Numeric,
            CollectionIndexType::Default,
            None,
        )
        .await;
    assert!(again.is_err());
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
