//! The restorer's own batch-write path (`writer::wire`): the same records as through the
//! client library, rows routed to each partition's master, replies cut or nodes gone
//! mid-restore, names the client library cannot carry. Tests without fault injection run on
//! the test node and on a real server (`AEROSPIKE_HOSTS`) with the same assertions.

mod rcore_support;

use std::time::Duration;

use aerospike::{Bins, ReadPolicy, Value};
use aerospike_test_node::{ClusterConfig, FaultAction, FaultRule, TestCluster, Trigger, target};
use rcore_support::{Rec, asb, client, get, restore, temp_dir, unique_set, write_file};

/// `n` records of a few bin types, some with keys and TTLs, whose digests spread over every
/// partition (the first two digest bytes pick the partition).
fn records(set: &str, n: u32) -> Vec<Rec> {
    (0..n)
        .map(|i| {
            let mut r = Rec::simple("test", set, set, i);
            let p = (i.wrapping_mul(2_654_435_761) >> 7) as u16;
            r.digest[..2].copy_from_slice(&p.to_le_bytes());
            r.generation = 1 + (i % 5) as u16;
            if i % 3 == 0 {
                r.key = Some(format!("key-{i}"));
            }
            if i % 4 == 0 {
                r.void_time = rcore_support::now_clepoch() + 100_000;
            }
            r.bins.extend([
                format!("D f {}.5", i),
                "Z z T".to_string(),
                "B b 8 AAEC/w==".to_string(),
                "L l 8 kwECAw==".to_string(),
                "N n".to_string(),
            ]);
            r
        })
        .collect()
}

async fn cluster(nodes: usize) -> TestCluster {
    TestCluster::start(ClusterConfig {
        nodes,
        ..Default::default()
    })
    .await
    .expect("start test cluster")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wire_and_client_paths_store_the_same_records() {
    let t = target().await;
    let hosts = t.hosts();
    let dir = temp_dir("wirecmp");
    let (set_w, set_c) = (unique_set("wirew"), unique_set("wirec"));
    let recs_w = records(&set_w, 300);
    let recs_c = records(&set_c, 300);
    let fw = write_file(&dir, "w.asb", &asb(None, &[], &recs_w));
    let fc = write_file(&dir, "c.asb", &asb(None, &[], &recs_c));
    let run = restore(&hosts, &fw, &["--batch-size", "64"]).await.ok();
    assert_eq!(run.counter("inserted"), 300);
    let run = restore(
        &hosts,
        &fc,
        &["--batch-size", "64", "--write-path", "client"],
    )
    .await
    .ok();
    assert_eq!(run.counter("inserted"), 300);
    // Again: generation-greater-than makes the records whose backup generation is 1 fresher.
    let fresher = recs_w.iter().filter(|r| r.generation == 1).count() as u64;
    for (f, path) in [(&fw, "auto"), (&fc, "client")] {
        let run = restore(&hosts, f, &["--write-path", path]).await.ok();
        assert_eq!(run.counter("fresher"), fresher, "{path}");
        assert_eq!(run.counter("inserted"), 300 - fresher, "{path}");
    }
    let c = client(&hosts).await;
    for (rw, rc) in recs_w.iter().zip(&recs_c) {
        let w = get(&c, &rw.key_in("test")).await.expect("wire record");
        let cl = get(&c, &rc.key_in("test")).await.expect("client record");
        assert_eq!(w.bins, cl.bins, "bins of record {:?}", rw.bins);
        assert_eq!(w.bins.len(), 6, "nil bins are not stored");
        assert_eq!(w.bins.get("z"), Some(&Value::Bool(true)));
        assert_eq!(w.bins.get("b"), Some(&Value::Blob(vec![0, 1, 2, 0xff])));
        assert_eq!(w.generation, cl.generation);
        assert_eq!(w.time_to_live().is_some(), rw.void_time != 0);
        let (tw, tc) = (w.time_to_live(), cl.time_to_live());
        if let (Some(a), Some(b)) = (tw, tc) {
            assert!(a.abs_diff(b) <= Duration::from_secs(5), "{a:?} vs {b:?}");
        }
    }
    if let Some(node) = t.node() {
        for (rw, rc) in recs_w.iter().zip(&recs_c) {
            let w = node.record("test", &rw.digest).expect("stored");
            let cl = node.record("test", &rc.digest).expect("stored");
            assert_eq!(
                w.key, cl.key,
                "the key is sent only when the backup has one"
            );
            assert_eq!(w.key.is_some(), rw.key.is_some());
            assert_eq!(w.bins, cl.bins);
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_and_keys_that_are_not_utf8_are_sent_as_they_are() {
    let t = target().await;
    let hosts = t.hosts();
    let dir = temp_dir("wirenames");
    let set = unique_set("wiren");
    // A bin name and a string key that are not UTF-8 (the client library cannot carry
    // either; asrestore sends their bytes, and so does the wire path).
    let mut text = asb(None, &[], &[]);
    let d = rcore_support::digest(&set, 1);
    text.extend_from_slice(b"+ k S 2 \xff\xfe\n+ n test\n+ d ");
    text.extend_from_slice(base64_of(&d).as_bytes());
    text.extend_from_slice(format!("\n+ s {set}\n+ g 1\n+ t 0\n+ b 2\n").as_bytes());
    text.extend_from_slice(b"- I \xff\xfe 7\n- S ok 2 hi\n");
    let f = write_file(&dir, "n.asb", &text);
    let run = restore(&hosts, &f, &[]).await.ok();
    assert_eq!(run.counter("inserted"), 1);
    let run = restore(&hosts, &f, &[]).await.ok();
    assert_eq!(
        run.counter("fresher"),
        1,
        "the same key and generation again"
    );
    if let Some(node) = t.node() {
        let r = node.record("test", &d).expect("record stored");
        assert_eq!(r.bins.len(), 2);
        assert_eq!(r.bins[0].name.as_ref(), b"\xff\xfe");
        let key = r.key.expect("key stored");
        assert_eq!(
            (key.particle_type, key.value.as_ref()),
            (3, &b"\xff\xfe"[..])
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn base64_of(d: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(d)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_namespace_stops_the_run() {
    let t = target().await;
    let hosts = t.hosts();
    let dir = temp_dir("wirens");
    let set = unique_set("wirens");
    let f = write_file(&dir, "u.asb", &asb(None, &[], &records(&set, 10)));
    let run = restore(&hosts, &f, &["-n", "test,nosuchns"]).await.failed();
    assert!(run.stderr.contains("line"), "{}", run.stderr);
    assert_eq!(run.counter("inserted"), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_go_to_each_partition_master() {
    let node = cluster(3).await;
    let dir = temp_dir("wireroute");
    let set = unique_set("wirer");
    let recs = records(&set, 3000);
    let f = write_file(&dir, "r.asb", &asb(None, &[], &recs));
    let before: Vec<u64> = (0..3).map(|i| node.node_requests(i)).collect();
    let run = restore(&node.seeds(), &f, &["--batch-size", "500"])
        .await
        .ok();
    assert_eq!(run.counter("inserted"), 3000);
    let sent: Vec<u64> = (0..3).map(|i| node.node_requests(i) - before[i]).collect();
    // Six batches, each split three ways (the digests spread over every partition).
    assert_eq!(sent, [6, 6, 6], "one request per node and batch");
    assert_eq!(node.record_count("test", Some(&set)), 3000);
    for r in &recs {
        assert_eq!(
            node.record("test", &r.digest).expect("stored").generation,
            1
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_reply_is_retried_and_every_record_is_accounted() {
    let node = cluster(1).await;
    let dir = temp_dir("wirecut");
    let set = unique_set("wirecut");
    let mut recs = records(&set, 600);
    for r in &mut recs {
        r.generation = 1;
    }
    let f = write_file(&dir, "c.asb", &asb(None, &[], &recs));
    node.faults().add(FaultRule {
        trigger: Trigger::Nth(2),
        action: FaultAction::DropMidResponse,
        node: None,
    });
    let run = restore(
        &node.seeds(),
        &f,
        &["--batch-size", "200", "--retry-scale-factor", "1000"],
    )
    .await
    .ok();
    assert_eq!(node.faults().injected(), 1);
    // The cut batch was applied; written again, its rows are fresher (never written twice).
    assert_eq!(run.counter("inserted") + run.counter("fresher"), 600);
    assert!(run.counter("inserted") >= 400, "{}", run.stderr);
    assert!(run.stderr.contains("retries: 1)"), "{}", run.stderr);
    assert_eq!(node.record_count("test", Some(&set)), 600);
    for r in &recs {
        assert_eq!(
            node.record("test", &r.digest).expect("stored").generation,
            1
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stopped_mid_restore_hands_its_partitions_over() {
    let node = cluster(3).await;
    let dir = temp_dir("wirestop");
    let set = unique_set("wirestop");
    let recs = records(&set, 3000);
    let f = write_file(&dir, "s.asb", &asb(None, &[], &recs));
    let seeds = node.seeds();
    let args = [
        "--batch-size",
        "100",
        "--tps",
        "3000",
        "--retry-scale-factor",
        "20000",
    ];
    let run = {
        let restore = restore(&seeds, &f, &args);
        tokio::pin!(restore);
        tokio::select! {
            r = &mut restore => panic!("finished before the node stopped: {}", r.stderr),
            () = tokio::time::sleep(Duration::from_millis(400)) => {}
        }
        node.stop_node(1).await;
        restore.await.ok()
    };
    assert_eq!(run.counter("inserted") + run.counter("fresher"), 3000);
    assert_eq!(node.record_count("test", Some(&set)), 3000);
    let c = client(&seeds).await;
    let r = c
        .get(
            &ReadPolicy::default(),
            &recs[2999].key_in("test"),
            Bins::All,
        )
        .await
        .expect("the last record reads back");
    assert_eq!(r.bins.get("i"), Some(&Value::Int(2999)));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The value of `key=NUMBER` in the restorer's logfmt output.
fn logged(stderr: &str, key: &str) -> u64 {
    let pat = format!("{key}=");
    stderr
        .lines()
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix(pat.as_str())))
        .next_back()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key}= in the restorer's output:\n{stderr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_records_are_batched_and_held_by_bytes_not_by_count() {
    use restorer::budget::{BATCH_BYTES, IN_FLIGHT_BYTES};
    let t = target().await;
    let hosts = t.hosts();
    let dir = temp_dir("bigrec");
    let set = unique_set("bigrec");
    // 400 records of one 64 KiB blob (~87 KiB of base64 in the file): 50 MiB of records,
    // 140 KiB each as parsed. 128-row batches of them would hold 18 MiB each, 32 in flight
    // several hundred.
    const BLOB: usize = 64 << 10;
    let recs: Vec<Rec> = (0..400u32)
        .map(|i| {
            let mut r = Rec::simple("test", &set, &set, i);
            let blob: Vec<u8> = (0..BLOB)
                .map(|j| (j as u32).wrapping_mul(2_654_435_761).wrapping_add(i) as u8)
                .collect();
            let text = base64_of(&blob);
            r.bins = vec![format!("B blob {} {text}", text.len())];
            r
        })
        .collect();
    let f = write_file(&dir, "big.asb", &asb(None, &[], &recs));
    let run = restore(
        &hosts,
        &f,
        &["--batch-size", "128", "--max-async-batches", "32"],
    )
    .await
    .ok();
    assert_eq!(run.counter("inserted"), 400);
    let (largest, peak) = (
        logged(&run.stderr, "largest_batch_kib") * 1024,
        logged(&run.stderr, "peak_write_kib") * 1024,
    );
    // A record is ~140 KiB as held: a batch closes at the first record that reaches the
    // byte limit, so it holds at most the limit plus one record.
    let one = (BLOB * 2 + BLOB / 3) as u64;
    assert!(
        largest <= BATCH_BYTES as u64 + one,
        "largest batch {largest} bytes, limit {BATCH_BYTES} + one record"
    );
    assert!(
        largest >= BATCH_BYTES as u64,
        "the batches were cut by bytes: {largest}"
    );
    assert!(
        peak <= IN_FLIGHT_BYTES as u64,
        "records being written peaked at {peak} bytes, budget {IN_FLIGHT_BYTES}"
    );
    let c = client(&hosts).await;
    for r in [&recs[0], &recs[399]] {
        let rec = get(&c, &r.key_in("test")).await.expect("record restored");
        match rec.bins.get("blob") {
            Some(Value::Blob(b)) => assert_eq!(b.len(), BLOB),
            other => panic!("blob bin: {other:?}"),
        }
    }
}
