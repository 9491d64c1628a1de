//! Secondary indexes and UDFs (format §4.7): created, matched ones skipped, mismatched ones
//! recreated, `--indexes-last`, `--set-list` on indexes; plus log formats and secrets.

mod rcore_support;

use aerospike::policy::AdminPolicy;
use aerospike::{CollectionIndexType, IndexType};
use aerospike_test_node::target;
use rcore_support::{Rec, asb, client, restore, temp_dir, unique_set, write_file};

/// The `sindex-list` entry of index `name` in `ns`, through the client.
async fn index_entry(c: &aerospike::Client, ns: &str, name: &str) -> Option<String> {
    let cmd = format!("sindex-list:ns={ns};b64=true");
    let info = c.info(&AdminPolicy::default(), &[&cmd]).await.unwrap();
    info.get(&cmd).and_then(|l| {
        l.split(';')
            .find(|e| e.contains(&format!("indexname={name}:")))
            .map(str::to_string)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexes_created_matched_and_recreated() {
    let t = target().await;
    let hosts = t.hosts();
    let set = unique_set("idx");
    let dir = temp_dir("idx");
    let c = client(&hosts).await;
    let (a, b) = (format!("{set}_a"), format!("{set}_b"));
    // `b` exists with another type: it must be dropped and recreated as numeric.
    c.create_index_on_bin(
        &AdminPolicy::default(),
        "test",
        &set,
        "n",
        &b,
        IndexType::String,
        CollectionIndexType::Default,
        None,
    )
    .await
    .unwrap();
    let lines = [
        format!("* i test {set} {a} N 1 s S"),
        format!("* i test {set} {b} N 1 n N"),
        format!("* i test other{set} {set}_c N 1 n N"),
    ];
    let globals: Vec<&str> = lines.iter().map(String::as_str).collect();
    let recs: Vec<Rec> = (0..5).map(|i| Rec::simple("test", &set, &set, i)).collect();
    let f = write_file(&dir, "i.asb", &asb(Some("test"), &globals, &recs));
    let run = restore(&hosts, &f, &["--set-list", &set]).await.ok();
    assert_eq!(run.counter("inserted"), 5);
    assert!(
        run.stderr.contains("3 secondary index(es)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("Skipped 1 index(es) with unwanted set(s)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("Skipped 1 mismatched index(es)"),
        "{}",
        run.stderr
    );
    let entry = index_entry(&c, "test", &b).await.expect("b recreated");
    assert!(
        entry.contains("type=numeric") || entry.contains("type=NUMERIC"),
        "{entry}"
    );
    let all = c
        .info(&AdminPolicy::default(), &["sindex-list:ns=test;b64=true"])
        .await
        .unwrap();
    assert!(
        index_entry(&c, "test", &a).await.is_some(),
        "{all:?}\n{}",
        run.stderr
    );
    assert!(index_entry(&c, "test", &format!("{set}_c")).await.is_none());

    // Again: both match and are left alone; --indexes-last creates after the records.
    let run = restore(&hosts, &f, &["--set-list", &set, "-L", "-g"])
        .await
        .ok();
    assert!(
        run.stderr.contains("Skipped 2 matched index(es)"),
        "{}",
        run.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexes_last_and_udfs() {
    let t = target().await;
    let hosts = t.hosts();
    let set = unique_set("last");
    let dir = temp_dir("last");
    let body = "function f(rec)\n  return 1\nend\n";
    let udf_name = format!("{set}.lua");
    let lines = [
        format!("* i test {set} {set}_l N 1 s S"),
        format!("* u L {udf_name} {} {body}", body.len()),
    ];
    let globals: Vec<&str> = lines.iter().map(String::as_str).collect();
    let recs: Vec<Rec> = (0..5).map(|i| Rec::simple("test", &set, &set, i)).collect();
    let f = write_file(&dir, "l.asb", &asb(Some("test"), &globals, &recs));
    let run = restore(&hosts, &f, &["--indexes-last"]).await.ok();
    assert!(
        run.stderr.contains("1 UDF file(s), 1 secondary index(es)"),
        "{}",
        run.stderr
    );
    let c = client(&hosts).await;
    assert!(index_entry(&c, "test", &format!("{set}_l")).await.is_some());
    let udfs = c
        .info(&AdminPolicy::default(), &["udf-list"])
        .await
        .unwrap();
    assert!(
        udfs.get("udf-list").unwrap().contains(&udf_name),
        "{udfs:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_formats_and_no_secrets_in_logs() {
    let t = target().await;
    let hosts = t.hosts();
    let set = unique_set("log");
    let dir = temp_dir("log");
    let recs: Vec<Rec> = (0..3).map(|i| Rec::simple("test", &set, &set, i)).collect();
    let f = write_file(&dir, "l.asb", &asb(None, &[], &recs));
    let run = restore(&hosts, &f, &["--log-format", "json"]).await.ok();
    let lines: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "restore is complete"),
        "{}",
        run.stderr
    );
    assert!(lines.iter().all(|l| l["level"].is_string()));

    // A password given on the command line or in the environment never shows up.
    let secret = "pa55-w0rd-secret";
    let run = restore(&hosts, &f, &["-U", "admin", "-P", secret, "-T", "2000"]).await;
    assert!(!run.stderr.contains(secret), "{}", run.stderr);
    if let Some(term) = &run.term {
        assert!(!term.to_string().contains(secret));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
