//! asrestore 4.5.8's options end to end against the test node (or, with AEROSPIKE_HOSTS, the
//! real server, same assertions): -m machine lines, --directory-list, -w/--wait, -S, seeds
//! from a configuration file, errors in doubt (fault injection: test node only), and the
//! throttles (-N, --bandwidth, --records-per-second: the measured rate within 10 % of the
//! limit, test node).

mod rcore_support;

use std::time::Instant;

use aerospike::policy::AdminPolicy;
use aerospike_test_node::{ClusterConfig, FaultAction, FaultRule, TestCluster, Trigger, target};
use rcore_support::{Rec, asb, client, restore, restorer_async, temp_dir, unique_set, write_file};

fn records(set: &str, n: u32) -> Vec<Rec> {
    (0..n).map(|i| Rec::simple("test", set, set, i)).collect()
}

/// Records with one string bin of `pad` bytes each.
fn padded(set: &str, n: u32, pad: usize) -> Vec<Rec> {
    let v = "x".repeat(pad);
    (0..n)
        .map(|i| {
            let mut r = Rec::simple("test", set, set, i);
            r.bins = vec![format!("S p {} {v}", v.len())];
            r
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machine_lines_match_asrestore_s_format() {
    let t = target().await;
    let hosts = t.hosts();
    let set = unique_set("mach");
    let dir = temp_dir("mach");
    let mut recs = records(&set, 15);
    for r in recs.iter_mut().take(3) {
        r.void_time = 1; // long expired
    }
    let other = unique_set("macho");
    for r in recs.iter_mut().skip(3).take(5) {
        r.set = Some(other.clone());
    }
    let f = write_file(&dir, "m.asb", &asb(Some("test"), &[], &recs));
    let m = dir.join("machine");
    let m_s = m.display().to_string();
    let run = restore(&hosts, &f, &["-s", &set, "-m", &m_s]).await.ok();
    assert_eq!(run.counter("inserted"), 7);
    let text = std::fs::read_to_string(&m).unwrap();
    assert!(
        text.ends_with("PROGRESS:100\nREMAINING:0s\nSUMMARY:0:0:15:3:5:0 :7:0:0\n"),
        "{text}"
    );
    // Appended on the next run (asrestore appends too): all fresher now; then -u: existed.
    restore(&hosts, &f, &["-s", &set, "-m", &m_s]).await.ok();
    restore(&hosts, &f, &["-s", &set, "-m", &m_s, "-u"])
        .await
        .ok();
    let text = std::fs::read_to_string(&m).unwrap();
    let summaries: Vec<&str> = text.lines().filter(|l| l.starts_with("SUMMARY:")).collect();
    assert_eq!(
        summaries,
        [
            "SUMMARY:0:0:15:3:5:0 :7:0:0",
            "SUMMARY:0:0:15:3:5:0 :0:0:7",
            "SUMMARY:0:0:15:3:5:0 :0:7:0"
        ]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_list_restores_every_directory() {
    let t = target().await;
    let hosts = t.hosts();
    let set = unique_set("dlist");
    let dir = temp_dir("dlist");
    let all = records(&set, 30);
    for (i, chunk) in all.chunks(10).enumerate() {
        let sub = dir.join(format!("part{i}"));
        std::fs::create_dir_all(&sub).unwrap();
        write_file(&sub, &format!("p{i}.asb"), &asb(Some("test"), &[], chunk));
    }
    let args: Vec<String> = [
        "-h",
        &hosts,
        "--parent-directory",
        &dir.display().to_string(),
        "--directory-list",
        "part0,part2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let run = restorer_async(args).await.ok();
    assert_eq!(run.counter("records"), 20);
    assert_eq!(run.counter("inserted"), 20);
    let c = client(&hosts).await;
    assert!(
        rcore_support::get(&c, &all[0].key_in("test"))
            .await
            .is_some()
    );
    assert!(
        rcore_support::get(&c, &all[15].key_in("test"))
            .await
            .is_none()
    );
    assert!(
        rcore_support::get(&c, &all[29].key_in("test"))
            .await
            .is_some()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_returns_once_indexes_are_built_and_udfs_are_everywhere() {
    let t = target().await;
    let hosts = t.hosts();
    let set = unique_set("wait");
    let dir = temp_dir("wait");
    let body = "function f(rec)\n  return 1\nend\n";
    let udf = format!("{set}.lua");
    let index = format!("{set}_w");
    let lines = [
        format!("* i test {set} {index} N 1 i N"),
        format!("* u L {udf} {} {body}", body.len()),
    ];
    let globals: Vec<&str> = lines.iter().map(String::as_str).collect();
    let f = write_file(
        &dir,
        "w.asb",
        &asb(Some("test"), &globals, &records(&set, 500)),
    );
    let run = restore(&hosts, &f, &["-w", "--indexes-last"]).await.ok();
    assert!(
        run.stderr
            .contains("for 1 secondary index(es) to be built and 1 UDF(s) to reach every node"),
        "{}",
        run.stderr
    );
    // Right after the exit: built on every node, UDF listed by every node.
    let c = client(&hosts).await;
    for node in c.nodes() {
        let cmd = format!("sindex-stat:namespace=test;indexname={index}");
        let a = node.info(&AdminPolicy::default(), &[&cmd]).await.unwrap();
        assert!(a[&cmd].contains("load_pct=100"), "{}: {a:?}", node.name());
        let a = node
            .info(&AdminPolicy::default(), &["udf-list"])
            .await
            .unwrap();
        assert!(a["udf-list"].contains(&udf), "{}: {a:?}", node.name());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_alternate_and_seeds_from_a_config_file() {
    let t = target().await;
    let hosts = t.hosts();
    let set = unique_set("salt");
    let dir = temp_dir("salt");
    let f = write_file(&dir, "s.asb", &asb(Some("test"), &[], &records(&set, 40)));
    let run = restore(&hosts, &f, &["-S"]).await.ok();
    assert_eq!(run.counter("inserted"), 40);
    // [cluster] host from the file; the command line names no host.
    let conf = write_file(
        &dir,
        "c.conf",
        format!("[cluster]\nhost = \"{hosts}\"\nservices-alternate = true\n\n[asrestore]\nno-generation = true\n")
            .as_bytes(),
    );
    let args = vec![
        "--config-file".to_string(),
        conf.display().to_string(),
        "-i".to_string(),
        f.display().to_string(),
    ];
    let run = restorer_async(args).await.ok();
    // no-generation from the file: every record written again.
    assert_eq!(run.counter("inserted"), 40, "{}", run.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Writes whose answer is lost after the request went out are counted as in doubt (and
/// written again: the retry finds them applied, so they count as fresher).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_in_doubt_are_counted_and_reported() {
    for path in ["auto", "client"] {
        let node = TestCluster::start(ClusterConfig {
            nodes: 1,
            ..Default::default()
        })
        .await
        .unwrap();
        let set = unique_set("doubt");
        let dir = temp_dir("doubt");
        let f = write_file(&dir, "d.asb", &asb(None, &[], &records(&set, 1000)));
        node.faults().add(FaultRule {
            trigger: Trigger::Nth(3),
            action: FaultAction::DropMidResponse,
            node: None,
        });
        let run = restore(
            &node.seeds(),
            &f,
            &[
                "--batch-size",
                "100",
                "--retry-scale-factor",
                "1000",
                "--write-path",
                path,
                "--log-format",
                "json",
            ],
        )
        .await
        .ok();
        assert!(node.faults().injected() >= 1);
        let doubt = run.counter("errors_in_doubt");
        assert!(doubt > 0 && doubt <= 100, "{path}: {doubt}\n{}", run.stderr);
        assert_eq!(
            run.counter("inserted") + run.counter("fresher"),
            1000,
            "{path}"
        );
        let summary = run
            .stderr
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|l| {
                l["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("Expired "))
            })
            .unwrap_or_else(|| panic!("no summary line:\n{}", run.stderr));
        assert_eq!(summary["fields"]["errors_in_doubt"], doubt, "{summary}");
        assert!(
            summary["fields"]["message"]
                .as_str()
                .unwrap()
                .ends_with(&format!(": errors in doubt {doubt}")),
            "{summary}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Runs `args` against a one-node test cluster and returns the wall time in seconds.
async fn timed(node: &TestCluster, file: &std::path::Path, args: &[&str]) -> (f64, u64) {
    let t0 = Instant::now();
    let run = restore(&node.seeds(), file, args).await.ok();
    (t0.elapsed().as_secs_f64(), run.counter("inserted"))
}

fn within_10_percent(what: &str, measured: f64, limit: f64) {
    let ratio = measured / limit;
    assert!(
        (0.9..=1.1).contains(&ratio),
        "{what}: measured {measured:.0}/s against a limit of {limit:.0}/s (ratio {ratio:.3})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_rate_limits_hold_within_10_percent() {
    let node = TestCluster::start(ClusterConfig {
        nodes: 1,
        ..Default::default()
    })
    .await
    .unwrap();
    for args in [
        &["--records-per-second", "1500"][..],
        &["-N", "1000,1500"][..],
        &["--tps", "1500"][..],
    ] {
        let set = unique_set("rps");
        let dir = temp_dir("rps");
        let f = write_file(&dir, "r.asb", &asb(None, &[], &records(&set, 6000)));
        let mut a = args.to_vec();
        a.extend(["--batch-size", "50"]);
        let (secs, n) = timed(&node, &f, &a).await;
        assert_eq!(n, 6000);
        within_10_percent(&format!("{args:?}"), n as f64 / secs, 1500.0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandwidth_limits_hold_within_10_percent() {
    let node = TestCluster::start(ClusterConfig {
        nodes: 1,
        ..Default::default()
    })
    .await
    .unwrap();
    for args in [&["--bandwidth", "2"][..], &["-N", "2,1000000"][..]] {
        let set = unique_set("bw");
        let dir = temp_dir("bw");
        // ~8 MiB of backup text.
        let f = write_file(&dir, "b.asb", &asb(None, &[], &padded(&set, 8000, 1000)));
        let size = std::fs::metadata(&f).unwrap().len() as f64;
        let (secs, n) = timed(&node, &f, args).await;
        assert_eq!(n, 8000);
        within_10_percent(
            &format!("{args:?} (MiB/s)"),
            size / secs / (1024.0 * 1024.0),
            2.0,
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
