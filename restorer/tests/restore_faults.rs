//! Failure paths against the test node (fault injection is test-node-only by nature): retries
//! with nothing lost or written twice, record errors, fatal codes, bad inputs mid-restore,
//! unreachable clusters. Plus directory mode and throttling.

mod rcore_support;

use std::time::Instant;

use aerospike_test_node::{ClusterConfig, TestCluster};
use rcore_support::{Rec, asb, gzip, restore, temp_dir, unique_set, write_file};

async fn cluster(nodes: usize, batch_writes: bool) -> TestCluster {
    TestCluster::start(ClusterConfig {
        nodes,
        batch_writes,
        ..Default::default()
    })
    .await
    .expect("start test cluster")
}

fn records(set: &str, n: u32) -> Vec<Rec> {
    (0..n).map(|i| Rec::simple("test", set, set, i)).collect()
}

/// Every record of `recs` is stored exactly once (generation 1: never written twice).
fn assert_written_once(node: &TestCluster, set: &str, recs: &[Rec]) {
    assert_eq!(node.record_count("test", Some(set)), recs.len());
    for r in recs {
        let s = node.record("test", &r.digest).expect("record stored");
        assert_eq!(s.generation, 1, "record written more than once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_batch_failures_are_retried_without_loss_or_duplicates() {
    let node = cluster(3, true).await;
    let set = unique_set("retry");
    let dir = temp_dir("retry");
    let recs = records(&set, 3000);
    let f = write_file(&dir, "r.asb", &asb(None, &[], &recs));
    node.faults().fail_next(2, 18);
    node.faults().drop_nth(5);
    let run = restore(&node.seeds(), &f, &["--retry-scale-factor", "1000"])
        .await
        .ok();
    assert_eq!(run.counter("inserted"), 3000);
    assert_eq!(run.counter("fresher"), 0);
    assert!(node.faults().injected() >= 3, "faults were applied");
    assert!(
        !run.stderr.contains("retries: 0)"),
        "retries counted:\n{}",
        run.stderr
    );
    assert_written_once(&node, &set, &recs);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_record_transient_codes_retry_only_those_records() {
    let node = cluster(1, true).await;
    let set = unique_set("rowretry");
    let dir = temp_dir("rowretry");
    let recs = records(&set, 300);
    let f = write_file(&dir, "r.asb", &asb(None, &[], &recs));
    node.faults().fail_record(recs[7].digest, 14);
    let args = ["--retry-scale-factor", "1000", "--max-retries", "2"];
    let run = restore(&node.seeds(), &f, &args).await.failed();
    assert!(
        run.stderr.contains("max retries (2) exceeded"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.counter("inserted"),
        299,
        "the other records are written and counted"
    );
    node.faults().clear();
    let run = restore(&node.seeds(), &f, &[]).await.ok();
    assert_eq!(run.counter("inserted"), 1);
    assert_eq!(run.counter("fresher"), 299);
    assert_written_once(&node, &set, &recs);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_failures_stop_after_five_retries_with_backoff() {
    let node = cluster(1, true).await;
    let set = unique_set("maxretry");
    let dir = temp_dir("maxretry");
    let recs = records(&set, 10);
    let f = write_file(&dir, "m.asb", &asb(None, &[], &recs));
    node.faults().fail_next(1000, 9);
    let t0 = Instant::now();
    let run = restore(&node.seeds(), &f, &[]).await.failed();
    let took = t0.elapsed();
    // 0 + 150 + 300 + 600 + 1200 ms of backoff.
    assert!(took.as_millis() >= 2250, "backoff too short: {took:?}");
    assert!(
        run.stderr.contains("max retries (5) exceeded"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("m.asb"), "{}", run.stderr);
    assert!(run.stderr.contains("retries: 5)"), "{}", run.stderr);
    assert!(run.error().unwrap().contains("max retries"));
    assert_eq!(run.counter("inserted"), 0);
    assert!(
        !run.stderr.contains("restore is complete"),
        "{}",
        run.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignorable_record_errors_count_and_abort_unless_allowed() {
    for batch in [true, false] {
        let node = cluster(1, batch).await;
        let set = unique_set("ign");
        let dir = temp_dir("ign");
        let recs = records(&set, 40);
        let f = write_file(&dir, "i.asb", &asb(None, &[], &recs));
        node.faults().fail_record(recs[5].digest, 13);
        let run = restore(&node.seeds(), &f, &[]).await.failed();
        assert_eq!(run.counter("ignored"), 1, "batch={batch}");
        assert!(
            run.stderr.contains("--ignore-record-error"),
            "{}",
            run.stderr
        );
        let run = restore(
            &node.seeds(),
            &f,
            &["--ignore-record-error", "--no-generation"],
        )
        .await
        .ok();
        assert_eq!(run.counter("ignored"), 1);
        assert_eq!(run.counter("inserted"), 39);
        // A permanent per-record code that is not ignorable always stops the restore.
        node.faults().clear();
        node.faults().fail_record(recs[6].digest, 4);
        let run = restore(
            &node.seeds(),
            &f,
            &["--ignore-record-error", "--no-generation"],
        )
        .await
        .failed();
        assert!(
            run.stderr.contains("code 4"),
            "batch={batch}: {}",
            run.stderr
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_too_big_is_ignored_with_the_flag() {
    let node = TestCluster::start(ClusterConfig {
        write_block_size: 4096,
        ..Default::default()
    })
    .await
    .unwrap();
    let set = unique_set("big");
    let dir = temp_dir("big");
    let mut recs = records(&set, 3);
    let big = "x".repeat(10_000);
    recs[1].bins = vec![format!("S big {} {big}", big.len())];
    let f = write_file(&dir, "b.asb", &asb(None, &[], &recs));
    let run = restore(&node.seeds(), &f, &["--ignore-record-error"])
        .await
        .ok();
    assert_eq!(run.counter("ignored"), 1);
    assert_eq!(run.counter("inserted"), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_mid_restore_counts_records_before_it() {
    let node = cluster(1, true).await;
    let set = unique_set("corrupt");
    let dir = temp_dir("corrupt");
    let recs = records(&set, 500);
    let mut data = asb(None, &[], &recs);
    let tail = asb(None, &[], &records(&unique_set("tail"), 10));
    data.extend_from_slice(b"+ n test\n+ x broken\n");
    data.extend_from_slice(&tail[12..]);
    let f = write_file(&dir, "c.asb", &data);
    let run = restore(&node.seeds(), &f, &["--batch-size", "50"])
        .await
        .failed();
    assert!(run.stderr.contains("c.asb: line"), "{}", run.stderr);
    assert!(run.stderr.contains("byte offset"), "{}", run.stderr);
    assert_eq!(run.counter("records"), 500);
    assert_eq!(
        run.counter("inserted"),
        500,
        "records before the fault are written and counted"
    );
    assert!(run.error().is_some());

    // Truncated gzip: exit 1, names the file.
    let gz = gzip(&asb(None, &[], &records(&unique_set("gz"), 5000)));
    let f = write_file(&dir, "t.asb.gz", &gz[..gz.len() * 2 / 3]);
    let run = restore(&node.seeds(), &f, &[]).await.failed();
    assert!(run.stderr.contains("t.asb.gz"), "{}", run.stderr);
    assert!(run.stderr.contains("truncated"), "{}", run.stderr);
    assert!(run.counter("inserted") > 0);
    assert_eq!(run.counter("inserted"), run.counter("records"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_cluster_fails_clearly() {
    let dir = temp_dir("unreach");
    let f = write_file(&dir, "u.asb", &asb(None, &[], &records("s", 3)));
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let run = restore(&format!("127.0.0.1:{port}"), &f, &["-T", "2000"])
        .await
        .failed();
    assert!(run.stderr.contains("cannot connect"), "{}", run.stderr);
    assert!(run.error().unwrap().contains(&port.to_string()));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_restores_every_file() {
    let node = cluster(2, true).await;
    let set = unique_set("dir");
    let dir = temp_dir("dir");
    let all = records(&set, 900);
    for (i, chunk) in all.chunks(300).enumerate() {
        let data = asb(Some("test"), &[], chunk);
        if i == 1 {
            write_file(&dir, &format!("f{i}.asb.gz"), &gzip(&data));
        } else {
            write_file(&dir, &format!("f{i}.asb"), &data);
        }
    }
    let args = vec![
        "-h".to_string(),
        node.seeds(),
        "-d".to_string(),
        dir.display().to_string(),
        "-t".to_string(),
        "3".to_string(),
    ];
    let run = rcore_support::restorer_async(args).await.ok();
    assert_eq!(run.counter("inserted"), 900);
    assert_written_once(&node, &set, &all);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tps_throttles_writes() {
    let node = cluster(1, true).await;
    let set = unique_set("tps");
    let dir = temp_dir("tps");
    let f = write_file(&dir, "t.asb", &asb(None, &[], &records(&set, 600)));
    let t0 = Instant::now();
    let run = restore(&node.seeds(), &f, &["--tps", "400", "--batch-size", "50"])
        .await
        .ok();
    assert_eq!(run.counter("inserted"), 600);
    // 600 records at 400/s: the last batch may start at 550/400 s.
    assert!(t0.elapsed().as_millis() >= 1300, "{:?}", t0.elapsed());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_put_mode_retries_failed_records() {
    let node = cluster(2, false).await;
    let set = unique_set("sp");
    let dir = temp_dir("sp");
    let recs = records(&set, 200);
    let f = write_file(&dir, "s.asb", &asb(None, &[], &recs));
    node.faults().fail_next(3, 14);
    let run = restore(&node.seeds(), &f, &["--retry-scale-factor", "1000"])
        .await
        .ok();
    assert_eq!(run.counter("inserted"), 200);
    assert!(run.stderr.contains("retries: 3)"), "{}", run.stderr);
    assert_written_once(&node, &set, &recs);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_file_in_a_directory_fails_the_run_and_every_write_is_counted() {
    let node = cluster(1, true).await;
    let set = unique_set("dirbad");
    let dir = temp_dir("dirbad");
    let all = records(&set, 3000);
    for (i, chunk) in all.chunks(1000).enumerate() {
        write_file(&dir, &format!("f{i}.asb"), &asb(Some("test"), &[], chunk));
    }
    write_file(&dir, "f9-bad.asb", b"Version 3.1\n+ n test\n");
    let args = vec![
        "-h".to_string(),
        node.seeds(),
        "-d".to_string(),
        dir.display().to_string(),
        "-t".to_string(),
        "4".to_string(),
    ];
    let run = rcore_support::restorer_async(args).await.failed();
    assert!(run.stderr.contains("f9-bad.asb"), "{}", run.stderr);
    assert!(run.error().unwrap().contains("f9-bad.asb"));
    // Whatever was read before the stop was written and answered.
    assert_eq!(run.counter("inserted"), run.counter("records"));
    assert_eq!(
        node.record_count("test", Some(&set)) as u64,
        run.counter("inserted")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_setup_errors_are_reported() {
    let dir = temp_dir("tls");
    let f = write_file(&dir, "t.asb", &asb(None, &[], &records("s", 1)));
    let missing = dir.join("missing-ca.pem");
    let run = restore(
        "127.0.0.1:1",
        &f,
        &["--tls-enable", "--tls-cafile", missing.to_str().unwrap()],
    )
    .await
    .failed();
    assert!(run.stderr.contains("TLS setup failed"), "{}", run.stderr);
    assert!(run.stderr.contains("missing-ca.pem"), "{}", run.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_lines_report_rate_percent_and_eta() {
    let node = cluster(1, true).await;
    let set = unique_set("prog");
    let dir = temp_dir("prog");
    let f = write_file(&dir, "p.asb", &asb(None, &[], &records(&set, 400)));
    let args: Vec<String> = [
        "-h",
        &node.seeds(),
        "-i",
        f.to_str().unwrap(),
        "--tps",
        "200",
        "--batch-size",
        "20",
        "--log-format",
        "logfmt",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let run = rcore_support::restorer_async_env(
        args,
        vec![("RESTORER_PROGRESS_MS".into(), "300".into())],
    )
    .await
    .ok();
    let progress: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("rec/s") && l.contains("MiB/s"))
        .collect();
    assert!(progress.len() >= 3, "{}", run.stderr);
    assert!(
        progress
            .iter()
            .any(|l| l.contains("% complete, ~") && l.contains("s remaining")),
        "{}",
        run.stderr
    );
    assert_eq!(run.counter("inserted"), 400);
    std::fs::remove_dir_all(&dir).unwrap();
}
