//! `--resume STATE-FILE`: a run stopped by an error resumes with exactly the counters of an
//! uninterrupted run and every record written once (test node: the stop is a fault); a run
//! killed with SIGKILL mid-file resumes and ends with every record present once and the
//! counters the README's "Resume" section promises (test node, and the real server with
//! AEROSPIKE_HOSTS); a state of another restore is refused.

mod rcore_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aerospike_test_node::{ClusterConfig, TestCluster, target};
use rcore_support::{
    Rec, Run, asb, client, get, gzip, restorer_async, temp_dir, unique_set, write_file,
};

const N: u32 = 6000;
/// Every 100th record has expired.
const EXPIRED: u64 = 60;

struct Backup {
    dir: PathBuf,
    file: PathBuf,
    recs: Vec<Rec>,
    /// Uncompressed size.
    bytes: u64,
}

/// One gzipped file of `N` records (generation 1), every 100th expired.
fn backup(tag: &str) -> Backup {
    let set = unique_set(tag);
    let dir = temp_dir(tag);
    let recs: Vec<Rec> = (0..N)
        .map(|i| {
            let mut r = Rec::simple("test", &set, &set, i);
            if i % 100 == 99 {
                r.void_time = 1;
            }
            r
        })
        .collect();
    let text = asb(Some("test"), &[], &recs);
    let file = write_file(&dir, "big.asb.gz", &gzip(&text));
    Backup {
        dir,
        file,
        recs,
        bytes: text.len() as u64,
    }
}

fn args(hosts: &str, b: &Backup, state: &Path, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "-h".into(),
        hosts.into(),
        "-i".into(),
        b.file.display().to_string(),
        "--log-format".into(),
        "logfmt".into(),
        "--resume".into(),
        state.display().to_string(),
        "--batch-size".into(),
        "100".into(),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn state_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("state file")).expect("state is JSON")
}

/// Inserted records the state records (the prefix and the spans answered ahead of it).
fn state_inserted(s: &serde_json::Value) -> u64 {
    let f = &s["files"][0];
    let ahead: u64 = f["ahead"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x["counts"]["inserted"].as_u64().unwrap())
                .sum()
        })
        .unwrap_or(0);
    f["counts"]["inserted"].as_u64().unwrap() + ahead
}

fn counters(run: &Run) -> [u64; 6] {
    [
        "records", "expired", "skipped", "inserted", "existed", "fresher",
    ]
    .map(|c| run.counter(c))
}

/// Records present, and whether each is stored once (generation 1) with its value.
async fn check_records(hosts: &str, b: &Backup) -> u64 {
    let c = client(hosts).await;
    let mut present = 0;
    for (i, r) in b.recs.iter().enumerate() {
        if let Some(rec) = get(&c, &r.key_in("test")).await {
            assert_eq!(r.void_time, 0, "expired record {i} was written");
            assert_eq!(rec.generation, 1, "record {i} written more than once");
            assert_eq!(
                rec.bins.get("i"),
                Some(&aerospike::Value::Int(i as i64)),
                "record {i}"
            );
            present += 1;
        }
    }
    present
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_stopped_by_an_error_resumes_with_exact_counters() {
    let node = TestCluster::start(ClusterConfig {
        nodes: 1,
        batch_writes: true,
        ..Default::default()
    })
    .await
    .expect("test node");
    let hosts = node.seeds();
    // The uninterrupted run, of the same records in another set.
    let base = backup("resbase");
    let base_state = base.dir.join("state.json");
    let baseline = restorer_async(args(&hosts, &base, &base_state, &[]))
        .await
        .ok();
    assert_eq!(
        counters(&baseline),
        [u64::from(N), EXPIRED, 0, u64::from(N) - EXPIRED, 0, 0]
    );
    let b = backup("resfault");
    let state = b.dir.join("state.json");
    // The 20th request fails (every row, nothing applied) and no retry is allowed.
    node.faults().fail_nth(20, 18);
    let extra = ["--max-retries", "0", "--max-async-batches", "4"];
    let first = restorer_async(args(&hosts, &b, &state, &extra))
        .await
        .failed();
    assert!(first.stderr.contains("max retries"), "{}", first.stderr);
    let s = state_json(&state);
    let acked = s["files"][0]["acked_records"].as_u64().unwrap();
    assert!(acked > 0 && acked < u64::from(N), "acked {acked}");
    assert_eq!(s["files"][0]["done"], false);
    node.faults().clear();
    let resumed = restorer_async(args(&hosts, &b, &state, &extra)).await.ok();
    assert!(
        resumed.stderr.contains("acknowledged record(s)"),
        "{}",
        resumed.stderr
    );
    assert_eq!(counters(&resumed), counters(&baseline));
    assert_eq!(resumed.counter("bytes"), b.bytes);
    assert_eq!(check_records(&hosts, &b).await, u64::from(N) - EXPIRED);
    // A finished state: nothing is read or written again, the counters are the same.
    let before = node.faults().requests();
    let again = restorer_async(args(&hosts, &b, &state, &extra)).await.ok();
    assert_eq!(counters(&again), counters(&baseline));
    assert_eq!(again.counter("bytes"), b.bytes);
    assert_eq!(node.faults().requests(), before, "nothing written again");
    std::fs::remove_dir_all(&b.dir).unwrap();
    std::fs::remove_dir_all(&base.dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_run_resumes_and_every_record_is_written_once() {
    let t = target().await;
    let hosts = t.hosts();
    let b = backup("reskill");
    let state = b.dir.join("state.json");
    // Slowed to 2000 records/s, saving every 0.2 s: killed around a third of the way.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_restorer"))
        .args(args(
            &hosts,
            &b,
            &state,
            &["--tps", "2000", "--checkpoint-interval", "0.2"],
        ))
        .env("RESTORER_TERMINATION_LOG", b.dir.join("term-killed"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn restorer");
    let t0 = Instant::now();
    loop {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no progress recorded"
        );
        if state.exists() && state_json(&state)["files"][0]["acked_records"].as_u64() >= Some(2000)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Half a checkpoint interval later: records written since the last save form the tail.
    tokio::time::sleep(Duration::from_millis(100)).await;
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    // Writes already sent are applied (or not) by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s = state_json(&state);
    let acked = s["files"][0]["acked_records"].as_u64().unwrap();
    assert!(acked < u64::from(N), "killed before the end ({acked})");
    let recorded = state_inserted(&s);
    let written = check_records(&hosts, &b).await;
    assert!(
        written >= recorded,
        "{written} present, {recorded} recorded"
    );
    let resumed = restorer_async(args(&hosts, &b, &state, &[])).await.ok();
    // The records the killed run wrote after its last save are written again and refused
    // (generation 1 is not greater than 1): counted as fresher instead of inserted.
    let tail = written - recorded;
    eprintln!(
        "killed at {acked} acknowledged: {recorded} recorded inserted, {written} present, tail {tail}"
    );
    assert_eq!(
        counters(&resumed),
        [
            u64::from(N),
            EXPIRED,
            0,
            u64::from(N) - EXPIRED - tail,
            0,
            tail
        ],
        "{} present after the kill, {recorded} recorded",
        written
    );
    assert_eq!(resumed.counter("bytes"), b.bytes);
    assert_eq!(check_records(&hosts, &b).await, u64::from(N) - EXPIRED);
    std::fs::remove_dir_all(&b.dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_of_another_restore_is_refused() {
    let t = target().await;
    let hosts = t.hosts();
    let set = unique_set("resother");
    let dir = temp_dir("resother");
    let recs: Vec<Rec> = (0..5).map(|i| Rec::simple("test", &set, &set, i)).collect();
    let f = write_file(&dir, "a.asb", &asb(None, &[], &recs));
    let g = write_file(&dir, "b.asb", &asb(None, &[], &recs[..2]));
    let state = dir.join("state.json").display().to_string();
    let base = |file: &Path| -> Vec<String> {
        [
            "-h",
            &hosts,
            "-i",
            &file.display().to_string(),
            "--resume",
            &state,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let run = restorer_async(base(&f)).await.ok();
    assert_eq!(run.counter("inserted"), 5);
    let mut other = base(&f);
    other.extend(["--set-list".to_string(), set.clone()]);
    let run = restorer_async(other).await.failed();
    assert!(
        run.stderr.contains("does not match this restore") && run.stderr.contains("set-list"),
        "{}",
        run.stderr
    );
    let run = restorer_async(base(&g)).await.failed();
    assert!(run.stderr.contains("files"), "{}", run.stderr);
    std::fs::write(&state, b"not json").unwrap();
    let run = restorer_async(base(&f)).await.failed();
    assert!(run.stderr.contains("not a resume state"), "{}", run.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}
