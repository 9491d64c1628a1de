//! Test-node-only behaviours: partition split across nodes, fault injection, inspection,
//! raw-wire edge cases and the standalone binary.

mod common;

use std::time::{Duration, Instant};

use aerospike::{
    AdminPolicy, BatchOperation, BatchPolicy, BatchWritePolicy, Bin, Bins, Client,
    CollectionIndexType, Expiration, IndexType, Key, ReadPolicy, ResultCode, Task, UdfLang, Value,
    WritePolicy, operations,
};
use aerospike_test_node::{ClusterConfig, FaultAction, FaultRule, TestCluster, Trigger};
use base64::Engine as _;
use common::{assert_code, code, connect, unique_set, wire};

async fn cluster(nodes: usize) -> TestCluster {
    TestCluster::start(ClusterConfig {
        nodes,
        ..Default::default()
    })
    .await
    .expect("cluster starts")
}

fn key(set: &str, i: i64) -> Key {
    Key::new("test", set, Value::from(i)).expect("int keys are valid")
}

fn no_retry() -> WritePolicy {
    let mut wp = WritePolicy::default();
    wp.base_policy.max_retries = 0;
    wp
}

async fn batch_put(c: &Client, set: &str, range: std::ops::Range<i64>) -> Vec<BatchOperation> {
    let bwp = BatchWritePolicy::default();
    let mut ops: Vec<BatchOperation> = range
        .map(|i| {
            BatchOperation::write(
                &bwp,
                key(set, i),
                vec![operations::put(&Bin::new("v", Value::from(i)))],
            )
        })
        .collect();
    c.batch(&BatchPolicy::write_default(), &mut ops)
        .await
        .expect("batch call");
    ops
}

async fn wait_for_nodes(c: &Client, n: usize) {
    let start = Instant::now();
    while c.nodes().len() != n {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "client still sees {} nodes, want {n}",
            c.nodes().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_split_the_partition_map_and_the_batches() {
    let tc = cluster(3).await;
    // Every partition has exactly one master and one other replica among the nodes.
    let mut masters = vec![0u8; 4096];
    let mut proles = vec![0u8; 4096];
    for i in 0..3 {
        let info = wire::info(tc.node_port(i), &["replicas", "node", "peers-clear-std"]).await;
        assert_eq!(info["node"], tc.node_name(i));
        assert_eq!(info["peers-clear-std"].matches("127.0.0.1:").count(), 2);
        let test = info["replicas"]
            .split(';')
            .find_map(|e| e.strip_prefix("test:"))
            .expect("test namespace in replicas");
        let parts: Vec<&str> = test.split(',').collect();
        assert_eq!(&parts[..2], &["0", "2"]);
        for (r, counts) in [&mut masters, &mut proles].into_iter().enumerate() {
            let bits = base64::engine::general_purpose::STANDARD
                .decode(parts[2 + r])
                .unwrap();
            for (p, c) in counts.iter_mut().enumerate() {
                if bits[p >> 3] & (0x80 >> (p & 7)) != 0 {
                    *c += 1;
                }
            }
        }
    }
    assert!(masters.iter().all(|&c| c == 1) && proles.iter().all(|&c| c == 1));

    let c = connect(&tc.seeds()).await;
    assert_eq!(c.nodes().len(), 3);
    let set = unique_set("split");
    let ops = batch_put(&c, &set, 0..300).await;
    assert!(ops.iter().all(|o| o.result_code() == Some(ResultCode::Ok)));
    assert_eq!(tc.record_count("test", Some(&set)), 300);
    for i in 0..3 {
        assert!(tc.node_requests(i) > 0, "node {i} got no batch");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_shows_what_was_stored() {
    let tc = cluster(1).await;
    let c = connect(&tc.seeds()).await;
    let set = unique_set("inspect");
    let k = Key::new("test", &set, Value::from("user")).unwrap();
    let wp = WritePolicy {
        send_key: true,
        expiration: Expiration::Seconds(1000),
        ..WritePolicy::default()
    };
    c.put(
        &wp,
        &k,
        &[Bin::new("i", 5.into()), Bin::new("s", "x".into())],
    )
    .await
    .unwrap();
    c.put(&wp, &k, &[Bin::new("b", Value::Blob(vec![1, 2]))])
        .await
        .unwrap();
    c.put(
        &WritePolicy::default(),
        &key("", 1),
        &[Bin::new("a", 1.into())],
    )
    .await
    .unwrap();
    c.put(
        &WritePolicy::default(),
        &key(&set, 2),
        &[Bin::new("a", 1.into())],
    )
    .await
    .unwrap();
    let r = tc.record("test", &k.digest()).expect("stored");
    assert_eq!(r.generation, 2);
    assert_eq!(r.set.as_deref(), Some(set.as_str()));
    let ttl = r.ttl().expect("expires");
    assert!((990..=1000).contains(&ttl), "{ttl}");
    let key = r.key.expect("key stored");
    assert_eq!(
        (key.particle_type, key.value.as_ref()),
        (3, b"user".as_ref())
    );
    let bins: Vec<(String, u8, Vec<u8>)> = r
        .bins
        .iter()
        .map(|b| (b.name_str(), b.particle_type, b.value.to_vec()))
        .collect();
    assert_eq!(
        bins,
        vec![
            ("i".into(), 1, 5i64.to_be_bytes().to_vec()),
            ("s".into(), 3, b"x".to_vec()),
            ("b".into(), 4, vec![1, 2]),
        ]
    );
    assert_eq!(tc.record_count("test", Some(&set)), 2);
    assert_eq!(tc.record_count("test", Some("")), 1);
    assert_eq!(tc.record_count("test", None), 3);
    assert_eq!(tc.record_count("bar", None), 0);
    assert_eq!(tc.records("test").len(), 3);
    assert!(tc.record("bar", &k.digest()).is_none());
    // A digest-only record has no stored key; a never-expiring one has no TTL.
    let plain = tc.record("test", &key_digest(&set, 2)).unwrap();
    assert!(plain.key.is_none());
    assert_eq!(plain.ttl(), None);
    tc.truncate("test", Some(&set));
    assert_eq!(tc.record_count("test", None), 1);
}

fn key_digest(set: &str, i: i64) -> [u8; 20] {
    key(set, i).digest()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_result_codes() {
    let tc = cluster(1).await;
    let c = connect(&tc.seeds()).await;
    let set = unique_set("codes");
    let bin = [Bin::new("a", 1.into())];
    for (rc, want) in [
        (9, ResultCode::Timeout),
        (18, ResultCode::DeviceOverload),
        (14, ResultCode::KeyBusy),
    ] {
        tc.faults().fail_next(1, rc);
        assert_code(c.put(&no_retry(), &key(&set, 1), &bin).await, want);
    }
    assert!(
        !c.exists(&ReadPolicy::default(), &key(&set, 1))
            .await
            .unwrap()
    );
    assert_eq!(tc.faults().injected(), 3);

    // In a batch every row carries the injected code, and nothing is applied.
    tc.faults().fail_next(1, 18);
    let ops = batch_put(&c, &set, 0..10).await;
    for o in &ops {
        assert_eq!(o.result_code(), Some(ResultCode::DeviceOverload));
    }
    assert_eq!(tc.record_count("test", Some(&set)), 0);
    // A timeout also ends the batch answer with 9, as 8.1.2.0 does; other codes end it
    // with 0.
    for (injected, last) in [(9u8, 9u8), (18, 0), (14, 0)] {
        tc.faults().fail_next(1, injected);
        let mut rows = 2u32.to_be_bytes().to_vec();
        rows.push(0);
        for i in 0..2u32 {
            rows.extend_from_slice(&i.to_be_bytes());
            rows.extend_from_slice(&key_digest(&set, 50 + i64::from(i)));
            if i == 0 {
                rows.extend_from_slice(&[0x2, 0, 1, 0]);
                rows.extend_from_slice(&1u16.to_be_bytes());
                rows.extend_from_slice(&1u16.to_be_bytes());
                rows.extend(wire::field(0, b"test"));
                rows.extend(wire::op(2, 1, b"a", &[0; 8]));
            } else {
                rows.push(0x1);
            }
        }
        let req = wire::as_msg(0x08, 0, 0, &[wire::field(41, &rows)], &[]);
        let (_, body) = wire::roundtrip(tc.node_port(0), &req).await.unwrap();
        let codes: Vec<(u8, bool)> = body.chunks(22).map(|h| (h[5], h[3] & 1 == 1)).collect();
        assert_eq!(
            codes,
            vec![(injected, false), (injected, false), (last, true)],
            "injected {injected}"
        );
    }
    assert_eq!(tc.record_count("test", Some(&set)), 0);

    // The n-th request fails, the others go through.
    tc.faults().fail_nth(3, 14);
    let mut results = Vec::new();
    for i in 0..5 {
        results.push(
            c.put(&no_retry(), &key(&set, i), &bin)
                .await
                .map_err(|e| code(&e)),
        );
    }
    assert_eq!(
        results,
        vec![
            Ok(()),
            Ok(()),
            Err(Some(ResultCode::KeyBusy)),
            Ok(()),
            Ok(())
        ]
    );
    assert_eq!(tc.record_count("test", Some(&set)), 4);

    // Per-record answers: only the named records fail, in a batch and alone.
    let set = unique_set("perrecord");
    tc.faults().fail_record(key_digest(&set, 3), 22);
    tc.faults().fail_record(key_digest(&set, 5), 13);
    let ops = batch_put(&c, &set, 0..8).await;
    let codes: Vec<_> = ops.iter().map(|o| o.result_code()).collect();
    let mut want = vec![Some(ResultCode::Ok); 8];
    want[3] = Some(ResultCode::FailForbidden);
    want[5] = Some(ResultCode::RecordTooBig);
    assert_eq!(codes, want);
    assert_code(
        c.put(&no_retry(), &key(&set, 3), &bin).await,
        ResultCode::FailForbidden,
    );
    assert_eq!(tc.record_count("test", Some(&set)), 6);
    tc.faults().clear();
    c.put(&no_retry(), &key(&set, 3), &bin).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_and_delays() {
    let tc = cluster(1).await;
    let c = connect(&tc.seeds()).await;
    let set = unique_set("drop");
    let bin = [Bin::new("a", 1.into())];

    tc.faults().drop_nth(1);
    assert!(c.put(&no_retry(), &key(&set, 1), &bin).await.is_err());
    assert!(
        tc.record("test", &key_digest(&set, 1)).is_none(),
        "a dropped request is not applied"
    );

    // With retries the client gets through on a new connection.
    tc.faults().drop_nth(1);
    let mut retrying = WritePolicy::default();
    retrying.base_policy.max_retries = 2;
    c.put(&retrying, &key(&set, 2), &bin).await.unwrap();
    assert!(tc.record("test", &key_digest(&set, 2)).is_some());

    // Cut in the middle of the answer: the write was applied, the client saw an error.
    tc.faults().add(FaultRule {
        trigger: Trigger::Nth(1),
        action: FaultAction::DropMidResponse,
        node: None,
    });
    assert!(c.put(&no_retry(), &key(&set, 3), &bin).await.is_err());
    assert!(tc.record("test", &key_digest(&set, 3)).is_some());

    // A delay longer than the socket timeout times the command out on the client.
    tc.faults().delay_all(Duration::from_millis(400));
    let mut impatient = no_retry();
    impatient.base_policy.socket_timeout = 100;
    impatient.base_policy.total_timeout = 100;
    let err = c.put(&impatient, &key(&set, 4), &bin).await.unwrap_err();
    assert!(err.is_client_timeout(), "{err}");
    tc.faults().clear();
    c.put(&no_retry(), &key(&set, 5), &bin).await.unwrap();

    // A batch whose connection drops: no row succeeds and nothing is applied.
    let set = unique_set("dropbatch");
    tc.faults().drop_nth(1);
    let bwp = BatchWritePolicy::default();
    let mut ops: Vec<BatchOperation> = (0..20)
        .map(|i| BatchOperation::write(&bwp, key(&set, i), vec![operations::put(&bin[0])]))
        .collect();
    let _ = c.batch(&BatchPolicy::write_default(), &mut ops).await;
    assert!(ops.iter().all(|o| o.result_code() != Some(ResultCode::Ok)));
    assert_eq!(tc.record_count("test", Some(&set)), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_node_hands_its_partitions_over_and_comes_back() {
    let tc = cluster(3).await;
    let c = connect(&tc.seeds()).await;
    let set = unique_set("restart");
    let gen0 = tc.partition_generation();
    tc.stop_node(1).await;
    assert!(!tc.node_running(1));
    assert!(tc.partition_generation() > gen0);
    wait_for_nodes(&c, 2).await;
    let before = tc.node_requests(1);
    let ops = batch_put(&c, &set, 0..200).await;
    assert!(ops.iter().all(|o| o.result_code() == Some(ResultCode::Ok)));
    assert_eq!(tc.node_requests(1), before, "a stopped node serves nothing");

    tc.restart_node(1).await.unwrap();
    wait_for_nodes(&c, 3).await;
    let ops = batch_put(&c, &set, 200..400).await;
    assert!(ops.iter().all(|o| o.result_code() == Some(ResultCode::Ok)));
    assert!(
        tc.node_requests(1) > before,
        "the restarted node serves again"
    );
    assert_eq!(tc.record_count("test", Some(&set)), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_wire_edge_cases() {
    let tc = TestCluster::start(ClusterConfig {
        compression: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let port = tc.node_port(0);
    let digest = [7u8; 20];
    let fields = [wire::field(0, b"test"), wire::field(4, &digest)];
    // Bin name over 15 bytes (the client refuses to send one).
    let req = wire::as_msg(
        0,
        1,
        0,
        &fields,
        &[wire::op(2, 1, b"sixteen_bytes_xx", &[0; 8])],
    );
    let (_, body) = wire::roundtrip(port, &req).await.unwrap();
    assert_eq!(wire::result_code(&body), 21);
    // A 2-byte integer is taken and stored as 8 bytes.
    let req = wire::as_msg(0, 1, 0, &fields, &[wire::op(2, 1, b"i", &[1, 2])]);
    assert_eq!(
        wire::result_code(&wire::roundtrip(port, &req).await.unwrap().1),
        0
    );
    let stored = tc.record("test", &digest).unwrap();
    assert_eq!(
        stored.bin("i").unwrap().value.as_ref(),
        &258i64.to_be_bytes()
    );
    // Integer of a size the server does not take (1, 2, 4 and 8 are fine).
    let req = wire::as_msg(0, 1, 0, &fields, &[wire::op(2, 1, b"i", &[0; 3])]);
    assert_eq!(
        wire::result_code(&wire::roundtrip(port, &req).await.unwrap().1),
        4
    );
    // Unknown namespace.
    let other = [wire::field(0, b"nope"), wire::field(4, &digest)];
    let req = wire::as_msg(0, 1, 0, &other, &[wire::op(2, 3, b"s", b"x")]);
    assert_eq!(
        wire::result_code(&wire::roundtrip(port, &req).await.unwrap().1),
        20
    );
    // Fields that claim more bytes than the message has.
    let mut req = wire::as_msg(0, 1, 0, &fields, &[]);
    let len = req.len();
    req[len - 20..len - 16].copy_from_slice(&1000u32.to_be_bytes());
    assert_eq!(
        wire::result_code(&wire::roundtrip(port, &req).await.unwrap().1),
        4
    );
    // A huge declared proto size closes the connection without allocating it.
    let mut huge = wire::frame(3, &[]);
    huge[2..8].copy_from_slice(&[0xff; 6]);
    assert!(wire::roundtrip(port, &huge).await.is_err());
    // A compressed message (type 4) holding a write.
    let inner = wire::as_msg(0, 1, 0, &fields, &[wire::op(2, 3, b"s", b"compressed")]);
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, &inner).unwrap();
    let mut body = (inner.len() as u64).to_be_bytes().to_vec();
    body.extend_from_slice(&enc.finish().unwrap());
    let (_, answer) = wire::roundtrip(port, &wire::frame(4, &body)).await.unwrap();
    assert_eq!(wire::result_code(&answer), 0);
    let r = tc.record("test", &digest).unwrap();
    assert_eq!(r.bin("s").unwrap().value.as_ref(), b"compressed");
    // An old-style batch read row (no INFO flag: info1 only) finds the record.
    let mut rows = 1u32.to_be_bytes().to_vec();
    rows.push(0);
    rows.extend_from_slice(&0u32.to_be_bytes());
    rows.extend_from_slice(&digest);
    rows.extend_from_slice(&[0, 0x03]); // flags, info1 = READ | GET_ALL
    rows.extend_from_slice(&1u16.to_be_bytes());
    rows.extend_from_slice(&0u16.to_be_bytes());
    rows.extend(wire::field(0, b"test"));
    let req = wire::as_msg(0x08 | 0x01, 0, 0, &[wire::field(41, &rows)], &[]);
    let (_, answer) = wire::roundtrip(port, &req).await.unwrap();
    assert_eq!(wire::result_code(&answer), 0);
    assert_eq!(
        u16::from_be_bytes([answer[20], answer[21]]),
        2,
        "two bins come back"
    );
    assert!(answer.windows(10).any(|w| w == b"compressed"));
    assert_eq!(
        answer[answer.len() - 22 + 3] & 1,
        1,
        "ends with the LAST marker"
    );
    assert_eq!(
        wire::info(port, &["no-such-command"]).await["no-such-command"],
        "ERROR:4:unrecognized command"
    );
    // Still serving.
    assert_eq!(
        wire::info(port, &["namespaces"]).await["namespaces"],
        "test;bar"
    );
    // Pipelined: three requests in one write, three answers in order.
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut req = wire::frame(1, b"build\n");
    req.extend(wire::as_msg(1, 0, 0, &fields, &[wire::op(1, 0, b"s", b"")]));
    req.extend(wire::frame(1, b"node\n"));
    tokio::io::AsyncWriteExt::write_all(&mut s, &req)
        .await
        .unwrap();
    let (t1, b1) = wire::read_frame(&mut s).await.unwrap();
    let (t2, b2) = wire::read_frame(&mut s).await.unwrap();
    let (t3, b3) = wire::read_frame(&mut s).await.unwrap();
    assert_eq!((t1, t2, t3), (1, 3, 1));
    assert!(b1.starts_with(b"build\t"));
    assert_eq!(wire::result_code(&b2), 0);
    assert!(b2.ends_with(b"compressed"), "the read returns the bin");
    assert!(b3.starts_with(b"node\t"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_only_mode_keeps_no_bins() {
    let tc = TestCluster::start(ClusterConfig {
        store_bins: false,
        ..Default::default()
    })
    .await
    .unwrap();
    let c = connect(&tc.seeds()).await;
    let set = unique_set("meta");
    let wp = WritePolicy {
        send_key: true,
        ..WritePolicy::default()
    };
    let ops = batch_put(&c, &set, 0..50).await;
    assert!(ops.iter().all(|o| o.result_code() == Some(ResultCode::Ok)));
    c.put(&wp, &key(&set, 100), &[Bin::new("a", 1.into())])
        .await
        .unwrap();
    c.put(&wp, &key(&set, 100), &[Bin::new("a", 2.into())])
        .await
        .unwrap();
    assert_eq!(tc.record_count("test", Some(&set)), 51);
    let r = tc.record("test", &key_digest(&set, 100)).unwrap();
    assert!(r.bins.is_empty());
    assert_eq!(r.generation, 2);
    assert_eq!(r.set.as_deref(), Some(set.as_str()));
    assert_eq!(r.key.unwrap().value.as_ref(), &100i64.to_be_bytes());
    // validation still happens
    assert_code(
        c.put(
            &wp,
            &key(&set, 101),
            &[Bin::new("h", Value::Hll(vec![0; 16]))],
        )
        .await,
        ResultCode::ParameterError,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_compression_and_pipelined_connections() {
    // As an Enterprise server (Community Edition answers 25, see the conformance suite).
    let tc = TestCluster::start(ClusterConfig {
        nodes: 2,
        compression: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let c = connect(&tc.seeds()).await;
    let set = unique_set("compress");
    let mut wp = WritePolicy::default();
    wp.base_policy.use_compression = true;
    let big = "z".repeat(50_000);
    c.put(
        &wp,
        &key(&set, 1),
        &[Bin::new("s", Value::from(big.as_str()))],
    )
    .await
    .unwrap();
    let rec = c
        .get(&ReadPolicy::default(), &key(&set, 1), Bins::All)
        .await
        .unwrap();
    assert_eq!(rec.bins.get("s"), Some(&Value::from(big.as_str())));
    // Many concurrent commands share the client's pooled connections.
    let mut tasks = Vec::new();
    for i in 0..200 {
        let c = c.clone();
        let set = set.clone();
        tasks.push(tokio::spawn(async move {
            c.put(
                &WritePolicy::default(),
                &key(&set, i),
                &[Bin::new("v", Value::from(i))],
            )
            .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(tc.record_count("test", Some(&set)), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_limits() {
    let tc = TestCluster::start(ClusterConfig {
        write_block_size: 1000,
        default_ttl: 100,
        batch_writes: false,
        ..Default::default()
    })
    .await
    .unwrap();
    let c = connect(&tc.seeds()).await;
    let set = unique_set("limits");
    assert_code(
        c.put(
            &WritePolicy::default(),
            &key(&set, 1),
            &[Bin::new("b", Value::Blob(vec![0; 2000]))],
        )
        .await,
        ResultCode::RecordTooBig,
    );
    c.put(
        &WritePolicy::default(),
        &key(&set, 2),
        &[Bin::new("b", Value::Blob(vec![0; 500]))],
    )
    .await
    .unwrap();
    let ttl = tc
        .record("test", &key_digest(&set, 2))
        .unwrap()
        .ttl()
        .unwrap();
    assert!(
        (95..=100).contains(&ttl),
        "namespace default TTL, got {ttl}"
    );
    let info = c
        .info(&AdminPolicy::default(), &["get-config:context=service"])
        .await
        .unwrap();
    assert!(info["get-config:context=service"].contains("batch-index-threads=0"));
    let ops = batch_put(&c, &set, 10..20).await;
    assert!(ops.iter().all(|o| o.result_code() != Some(ResultCode::Ok)));
    assert_eq!(ops[0].result_code(), Some(ResultCode::BatchDisabled));
    assert_eq!(tc.record_count("test", Some(&set)), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexes_and_udfs_are_inspectable() {
    let tc = cluster(2).await;
    let c = connect(&tc.seeds()).await;
    let ap = AdminPolicy::default();
    c.create_index_on_bin(
        &ap,
        "test",
        "s",
        "b",
        "ib",
        IndexType::String,
        CollectionIndexType::List,
        None,
    )
    .await
    .unwrap()
    .wait_till_complete(None)
    .await
    .unwrap();
    let idx = tc.indexes();
    assert_eq!(idx.len(), 1);
    assert_eq!(
        (
            idx[0].name.as_str(),
            idx[0].set.as_deref(),
            idx[0].bin.as_str()
        ),
        ("ib", Some("s"), "b")
    );
    assert_eq!(
        (idx[0].index_type.as_str(), idx[0].collection.as_str()),
        ("string", "list")
    );
    c.register_udf(&ap, b"-- lua", "m.lua", UdfLang::Lua)
        .await
        .unwrap()
        .wait_till_complete(None)
        .await
        .unwrap();
    let udfs = tc.udfs();
    assert_eq!(udfs.len(), 1);
    assert_eq!(
        (udfs[0].name.as_str(), udfs[0].content.as_slice()),
        ("m.lua", b"-- lua".as_ref())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_a_cluster() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_aerospike-test-node"))
        .args(["--port", "0", "--nodes", "2", "--namespaces", "test,other"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let seeds = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("seeds printed in time")
        .unwrap()
        .expect("a seeds line");
    assert_eq!(seeds.split(',').count(), 2, "{seeds}");
    let c = connect(&seeds).await;
    assert_eq!(c.nodes().len(), 2);
    let info = c
        .info(&AdminPolicy::default(), &["namespaces"])
        .await
        .unwrap();
    assert_eq!(info["namespaces"], "test;other");
    c.put(
        &WritePolicy::default(),
        &key("bin", 1),
        &[Bin::new("a", 1.into())],
    )
    .await
    .unwrap();
    child.kill().await.unwrap();
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_never_panics_the_node() {
    let tc = cluster(1).await;
    let port = tc.node_port(0);
    let digest = [9u8; 20];
    let valid_single = wire::as_msg(
        0,
        1,
        0,
        &[
            wire::field(0, b"test"),
            wire::field(1, b"s"),
            wire::field(4, &digest),
        ],
        &[
            wire::op(2, 20, b"l", &[0x92, 0x01, 0xc0]),
            wire::op(2, 3, b"s", b"x"),
        ],
    );
    let mut batch_rows = 2u32.to_be_bytes().to_vec();
    batch_rows.push(0x8);
    for i in 0..2u32 {
        batch_rows.extend_from_slice(&i.to_be_bytes());
        batch_rows.extend_from_slice(&digest);
        batch_rows.extend_from_slice(&[0x2 | 0x4 | 0x8, 0, 1, 0, 0, 1, 0, 0, 0, 9]);
        batch_rows.extend_from_slice(&[0, 1, 0, 1]);
        batch_rows.extend(wire::field(0, b"test"));
        batch_rows.extend(wire::op(2, 1, b"n", &[0; 8]));
    }
    let valid_batch = wire::as_msg(0x08, 0, 0, &[wire::field(41, &batch_rows)], &[]);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..600 {
        let mut frame = match round % 3 {
            0 => valid_single.clone(),
            1 => valid_batch.clone(),
            _ => {
                let len = rng.below(120);
                let body: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                wire::frame(3, &body)
            }
        };
        // Flip a few bytes after the proto header (which must stay consistent).
        for _ in 0..rng.below(4) + 1 {
            if frame.len() > 8 {
                let at = 8 + rng.below(frame.len() - 8);
                frame[at] = rng.next() as u8;
            }
        }
        // Either an answer or a closed connection; never a hang.
        let r = tokio::time::timeout(Duration::from_secs(5), wire::roundtrip(port, &frame)).await;
        assert!(r.is_ok(), "round {round}: no answer and no close");
    }
    assert_eq!(
        wire::info(port, &["namespaces"]).await["namespaces"],
        "test;bar"
    );
    // Let the accept loop reap the finished connection tasks before counting panics.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(tc.connection_panics(0), 0);
}
