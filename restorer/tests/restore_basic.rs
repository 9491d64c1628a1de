//! End-to-end restores into the test node (or a real server with AEROSPIKE_HOSTS): counters,
//! write policies, generation semantics, expiry, filters, renaming, values byte for byte.

mod rcore_support;

use aerospike::Value;
use aerospike_test_node::{ClusterConfig, raw, target, target_with};
use rcore_support::{
    Rec, asb, client, get, now_clepoch, restore, temp_dir, unique_sample, unique_set, write_file,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restores_records_and_counts_them() {
    let t = target().await;
    let hosts = t.hosts();
    let set = unique_set("basic");
    let dir = temp_dir("basic");
    let recs: Vec<Rec> = (0..1000)
        .map(|i| Rec::simple("test", &set, &set, i))
        .collect();
    let file = write_file(&dir, "b.asb", &asb(Some("test"), &[], &recs));
    let run = restore(&hosts, &file, &[]).await.ok();
    assert_eq!(run.counter("records"), 1000);
    assert_eq!(run.counter("inserted"), 1000);
    assert_eq!(run.counter("fresher"), 0);
    assert_eq!(run.error(), None);
    assert!(
        run.stderr
            .contains("Expired 0 : skipped 0 : inserted 1000 : failed 0 (existed 0, fresher 0)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(r#"level=info msg="restore is starting""#),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(r#"msg="restore is complete""#),
        "{}",
        run.stderr
    );
    let c = client(&hosts).await;
    for r in [&recs[0], &recs[517], &recs[999]] {
        let got = get(&c, &r.key_in("test")).await.expect("record restored");
        assert_eq!(got.generation, 1);
        assert_eq!(got.time_to_live(), None, "void time 0 = never expires");
        let i = r.bins[0][4..].parse::<i64>().unwrap();
        assert_eq!(got.bins.get("i"), Some(&Value::Int(i)));
        assert_eq!(got.bins.get("s"), Some(&Value::String(format!("v{i}"))));
    }
    if let Some(node) = t.node() {
        assert_eq!(node.record_count("test", Some(&set)), 1000);
    }

    // Same backup again: same generation, so every record is "fresher" (GT semantics).
    let run = restore(&hosts, &file, &[]).await.ok();
    assert_eq!(run.counter("fresher"), 1000);
    assert_eq!(run.counter("inserted"), 0);
    assert!(
        run.stderr.contains("failed 1000 (existed 0, fresher 1000)"),
        "{}",
        run.stderr
    );

    // --no-generation overwrites; --unique reports existed.
    let run = restore(&hosts, &file, &["--no-generation"]).await.ok();
    assert_eq!(run.counter("inserted"), 1000);
    let run = restore(&hosts, &file, &["--unique"]).await.ok();
    assert_eq!(run.counter("existed"), 1000);
    assert_eq!(run.counter("inserted"), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generation_greater_than_and_replace() {
    let t = target().await;
    let hosts = t.hosts();
    let set = unique_set("gen");
    let dir = temp_dir("gen");
    let mut r = Rec::simple("test", &set, &set, 1);
    r.bins = vec!["I a 1".into(), "I b 1".into()];
    let f1 = write_file(&dir, "g1.asb", &asb(None, &[], &[r.clone()]));
    restore(&hosts, &f1, &[]).await.ok();
    let c = client(&hosts).await;
    assert_eq!(get(&c, &r.key_in("test")).await.unwrap().generation, 1);

    // Backup generation 2 > server generation 1: applied; update keeps other bins.
    let mut r2 = r.clone();
    r2.generation = 2;
    r2.bins = vec!["I a 2".into()];
    let f2 = write_file(&dir, "g2.asb", &asb(None, &[], &[r2.clone()]));
    let run = restore(&hosts, &f2, &[]).await.ok();
    assert_eq!(run.counter("inserted"), 1);
    let got = get(&c, &r.key_in("test")).await.unwrap();
    assert_eq!(got.bins.get("a"), Some(&Value::Int(2)));
    assert_eq!(
        got.bins.get("b"),
        Some(&Value::Int(1)),
        "update keeps bins not in the backup"
    );
    assert_eq!(got.generation, 2);

    // Backup generation 1 <= server generation 2: fresher.
    let run = restore(&hosts, &f1, &[]).await.ok();
    assert_eq!(run.counter("fresher"), 1);

    // --replace with a newer generation drops bins not in the backup.
    let mut r3 = r.clone();
    r3.generation = 9;
    r3.bins = vec!["I c 3".into()];
    let f3 = write_file(&dir, "g3.asb", &asb(None, &[], &[r3]));
    let run = restore(&hosts, &f3, &["--replace"]).await.ok();
    assert_eq!(run.counter("inserted"), 1);
    let got = get(&c, &r.key_in("test")).await.unwrap();
    assert_eq!(got.bins.len(), 1, "{:?}", got.bins);
    assert_eq!(got.bins.get("c"), Some(&Value::Int(3)));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_filters_and_ttl() {
    let t = target().await;
    let hosts = t.hosts();
    let set = unique_set("ttl");
    let other = unique_set("oth");
    let dir = temp_dir("ttl");
    let now = now_clepoch();
    let mut recs = Vec::new();
    let mut expired = Rec::simple("test", &set, &set, 0);
    expired.void_time = now - 10;
    recs.push(expired);
    let mut live = Rec::simple("test", &set, &set, 1);
    live.void_time = now + 1000;
    recs.push(live.clone());
    let mut empty = Rec::simple("test", &set, &set, 2);
    empty.bins.clear();
    recs.push(empty);
    let in_other = Rec::simple("test", &other, &set, 3);
    recs.push(in_other.clone());
    let mut no_set = Rec::simple("test", &set, &set, 4);
    no_set.set = None;
    recs.push(no_set);
    let f = write_file(&dir, "t.asb", &asb(None, &[], &recs));

    // --extra-ttl revives the expired record (void + 20 > now) and lengthens the live TTL.
    let run = restore(&hosts, &f, &["--set-list", &set, "--extra-ttl", "20"])
        .await
        .ok();
    assert_eq!(run.counter("records"), 5);
    assert_eq!(run.counter("expired"), 0);
    assert_eq!(run.counter("skipped"), 3, "empty, other set, no set");
    assert_eq!(run.counter("inserted"), 2);
    let c = client(&hosts).await;
    let got = get(&c, &live.key_in("test")).await.unwrap();
    let ttl = got.time_to_live().expect("live record has a TTL").as_secs();
    assert!((1010..=1020).contains(&ttl), "ttl {ttl}");
    assert!(get(&c, &in_other.key_in("test")).await.is_none());

    // Without --extra-ttl the first record is expired and not sent; --bin-list keeps only `i`.
    let set2 = unique_set("ttl2");
    let recs2: Vec<Rec> = recs
        .iter()
        .enumerate()
        .map(|(i, r)| Rec {
            set: r.set.as_ref().map(|_| set2.clone()),
            digest: rcore_support::digest(&set2, i as u32),
            ..r.clone()
        })
        .collect();
    let f2 = write_file(&dir, "t2.asb", &asb(None, &[], &recs2));
    let run = restore(&hosts, &f2, &["--bin-list", "i"]).await.ok();
    assert_eq!(run.counter("expired"), 1);
    assert_eq!(run.counter("skipped"), 1);
    assert_eq!(run.counter("inserted"), 3);
    let got = get(&c, &recs2[1].key_in("test")).await.unwrap();
    assert_eq!(got.bins.len(), 1);
    assert!(got.bins.contains_key("i"));
    assert!(
        get(&c, &recs2[0].key_in("test")).await.is_none(),
        "expired record not written"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_rename_require_and_target() {
    let t = target().await;
    let hosts = t.hosts();
    let set = unique_set("ns");
    let dir = temp_dir("ns");
    let recs: Vec<Rec> = (0..10)
        .map(|i| Rec::simple("test", &set, &set, i))
        .collect();
    let f = write_file(&dir, "n.asb", &asb(Some("test"), &[], &recs));
    let c = client(&hosts).await;

    let run = restore(&hosts, &f, &["-n", "test,bar"]).await.ok();
    assert_eq!(run.counter("inserted"), 10);
    assert!(get(&c, &recs[3].key_in("bar")).await.is_some());

    // One name is an assertion: a mismatch is fatal and names the file and line.
    let run = restore(&hosts, &f, &["-n", "bar"]).await.failed();
    assert!(run.stderr.contains("n.asb: line 4"), "{}", run.stderr);
    assert!(run.stderr.contains("does not match"), "{}", run.stderr);
    assert!(run.error().unwrap().contains("does not match"));
    assert_eq!(run.counter("inserted"), 0);

    // --target-namespace from the `# namespace` line, and from metadata.
    let set2 = unique_set("ns2");
    let recs2: Vec<Rec> = (0..4)
        .map(|i| Rec::simple("test", &set2, &set2, i))
        .collect();
    let f2 = write_file(&dir, "m.asb", &asb(Some("test"), &[], &recs2));
    let run = restore(&hosts, &f2, &["--target-namespace", "bar"])
        .await
        .ok();
    assert_eq!(run.counter("inserted"), 4);
    assert!(get(&c, &recs2[0].key_in("bar")).await.is_some());
    let meta = write_file(&dir, "m.json", br#"{"namespace":"other"}"#);
    let run = restore(
        &hosts,
        &f2,
        &[
            "--target-namespace",
            "bar",
            "--metadata",
            meta.to_str().unwrap(),
        ],
    )
    .await
    .failed();
    assert!(run.stderr.contains("other"), "{}", run.stderr);

    // --target-namespace with neither metadata nor `# namespace`: clear failure.
    let f3 = write_file(&dir, "x.asb", &asb(None, &[], &recs2));
    let run = restore(&hosts, &f3, &["--target-namespace", "bar"])
        .await
        .failed();
    assert!(
        run.stderr.contains("neither the metadata nor"),
        "{}",
        run.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_prefix_reads_metadata_and_gzip() {
    let t = target().await;
    let hosts = t.hosts();
    let set = unique_set("bk");
    let dir = temp_dir("bk");
    let recs: Vec<Rec> = (0..50)
        .map(|i| Rec::simple("test", &set, &set, i))
        .collect();
    write_file(
        &dir,
        "bk.asb.gz",
        &rcore_support::gzip(&asb(None, &[], &recs)),
    );
    let prefix = dir.join("bk");
    let p = prefix.to_str().unwrap();
    // Missing metadata: exit 1, says which file.
    let run = rcore_support::restorer_async(
        ["-h", &hosts, "--backup", p, "--target-namespace", "bar"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
    )
    .await
    .failed();
    assert!(run.stderr.contains("bk.json"), "{}", run.stderr);
    write_file(&dir, "bk.json", b"{\"namespace\":\"test\"}\n");
    let run = rcore_support::restorer_async(
        ["-h", &hosts, "--backup", p, "--target-namespace", "bar"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
    )
    .await
    .ok();
    assert_eq!(run.counter("inserted"), 50);
    let c = client(&hosts).await;
    assert!(get(&c, &recs[49].key_in("bar")).await.is_some());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_restore_with_indexes_and_udfs() {
    let t = target().await;
    let hosts = t.hosts();
    let dir = temp_dir("sample01");
    // The shipped sample with digests unique to this run: a long-lived server still has the
    // records of earlier runs (the indexes and the UDF are the same every time).
    let (f, digests) = unique_sample("01-first-file-all-bin-types.asb", &dir);
    let f = f.as_path();
    let run = restore(&hosts, f, &["-n", "test,bar"]).await.ok();
    assert_eq!(run.counter("inserted"), 1);
    assert!(
        run.stderr
            .contains("1 UDF file(s), 8 secondary index(es), 1 record(s)"),
        "{}",
        run.stderr
    );
    let stored = raw::get(&hosts, "bar", Some("demo"), &digests[0])
        .await
        .unwrap()
        .expect("the sample record is in bar");
    assert_eq!(stored.generation, 1);
    assert_eq!(stored.particle("name"), Some((3, &b"Hello World"[..])));
    assert_eq!(stored.bin("gone"), None, "a nil bin is not stored");
    if let Some(node) = t.node() {
        let idx = node.indexes();
        assert_eq!(
            idx.iter().filter(|i| i.namespace == "bar").count(),
            8,
            "{idx:?}"
        );
        let tag0 = idx.iter().find(|i| i.name == "tag0_idx").unwrap();
        assert_eq!(tag0.context.as_deref(), Some("khAA"));
        assert_eq!(tag0.index_type, "string");
        let keys = idx.iter().find(|i| i.name == "attr_keys").unwrap();
        assert_eq!(keys.collection, "mapkeys");
        let udfs = node.udfs();
        assert_eq!(udfs.len(), 1);
        assert_eq!(udfs[0].name, "example.lua");
        assert_eq!(udfs[0].content.len(), 86);
    }
    // Again: indexes match and are skipped.
    let run = restore(&hosts, f, &["-n", "test,bar", "--no-generation"])
        .await
        .ok();
    assert!(
        run.stderr.contains("Skipped 8 matched index(es)"),
        "{}",
        run.stderr
    );
    assert_eq!(run.counter("inserted"), 1);
    // --no-indexes / --no-udfs / --no-records.
    let run = restore(&hosts, f, &["-n", "test,bar", "-I", "-F", "-R"])
        .await
        .ok();
    assert!(
        run.stderr
            .contains("0 UDF file(s), 0 secondary index(es), 0 record(s)"),
        "{}",
        run.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The bins of both records of `03-blob-and-cdt-types.asb` (one written in base64, one raw):
/// name, particle type, bytes.
fn sample03_bins() -> Vec<(&'static str, u8, Vec<u8>)> {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.decode(s).unwrap();
    vec![
        ("blob", 4, b64("ACAKXP8=")),
        ("java", 7, b64("rO0ABXQAAmhp")),
        ("csharp", 8, b64("AAEAAAA=")),
        ("python", 9, b64("gARLBy4=")),
        ("ruby", 10, b64("BAhpDA==")),
        ("php", 11, b64("aTo3Ow==")),
        ("erlang", 12, b64("g2EH")),
        ("hll", 18, b64("AAQAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")),
        ("list_empty", 20, b64("kA==")),
        ("list_nested", 20, b64("kgGSAqIDeA==")),
        ("map_empty", 19, b64("gA==")),
        ("map_kordered", 19, b64("g8cAAcCiA2EBogNiAg==")),
        ("blob_empty", 4, Vec::new()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_reach_the_server_byte_for_byte() {
    // What the server stored is read back as raw particles (`aerospike_test_node::raw`),
    // on the test node and on a real server alike: the client's typed reads would decode,
    // reorder or refuse some of these values.
    let t = target().await;
    let hosts = t.hosts();
    let dir = temp_dir("raw");
    let (f, digests) = unique_sample("03-blob-and-cdt-types.asb", &dir);
    let run = restore(&hosts, &f, &["-n", "test,bar"]).await.ok();
    assert_eq!(run.counter("inserted"), 2);
    assert_eq!(digests.len(), 2);
    for d in &digests {
        let stored = raw::get(&hosts, "bar", Some("demo"), d)
            .await
            .unwrap()
            .expect("sample record stored");
        assert_eq!(stored.generation, 1);
        assert_eq!(stored.void_time, 0, "void time 0 = never expires");
        let mut got: Vec<(String, u8, Vec<u8>)> = stored
            .bins
            .iter()
            .map(|b| (b.name_str(), b.particle_type, b.value.clone()))
            .collect();
        got.sort();
        let mut want: Vec<(String, u8, Vec<u8>)> = sample03_bins()
            .into_iter()
            .map(|(n, p, v)| (n.to_string(), p, v))
            .collect();
        want.sort();
        assert_eq!(got, want);
    }

    // A string that is not UTF-8, a NaN double, a raw ordered list and a compact blob.
    let set = unique_set("raw");
    let mut r = Rec::simple("test", &set, &set, 1);
    r.bins = vec![
        "X bad 8 /wAKYQ==".into(),
        "D d nan".into(),
        "L l 8 k8cAAQID".into(),
        "B! blob 3 a\nb".into(),
    ];
    let f = write_file(&dir, "raw.asb", &asb(None, &[], &[r.clone()]));
    let run = restore(&hosts, &f, &[]).await.ok();
    assert_eq!(run.counter("inserted"), 1);
    let stored = raw::get(&hosts, "test", Some(&set), &r.digest)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(stored.particle("bad"), Some((3, &b"\xff\x00\na"[..])));
    assert_eq!(
        stored.particle("l"),
        Some((20, &[0x93, 0xc7, 0, 1, 2, 3][..])),
        "the ordered list keeps its ext header"
    );
    assert_eq!(stored.particle("blob"), Some((4, &b"a\nb"[..])));
    let (ptype, d) = stored.particle("d").expect("double stored");
    assert_eq!(ptype, 2);
    let d = f64::from_be_bytes(d.try_into().expect("8 bytes"));
    assert!(d.is_nan(), "{d}");
    assert_eq!(stored.bins.len(), 4);
    // The client reads the parts it can decode alike.
    let c = client(&hosts).await;
    let k = r.key_in("test");
    let got = c
        .get(
            &aerospike::ReadPolicy::default(),
            &k,
            aerospike::Bins::from(vec!["blob", "l"]),
        )
        .await
        .unwrap();
    assert_eq!(got.bins.get("blob"), Some(&Value::Blob(b"a\nb".to_vec())));
    // The list's first element is the ordered flag (an ext header), which the client skips.
    assert_eq!(
        got.bins.get("l"),
        Some(&Value::List(vec![2.into(), 3.into()])),
        "{got:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_puts_when_batch_writes_are_off() {
    let t = target_with(ClusterConfig {
        batch_writes: false,
        ..Default::default()
    })
    .await;
    let hosts = t.hosts();
    let set = unique_set("single");
    let dir = temp_dir("single");
    let recs: Vec<Rec> = (0..100)
        .map(|i| Rec::simple("test", &set, &set, i))
        .collect();
    let f = write_file(&dir, "s.asb", &asb(None, &[], &recs));
    let run = restore(&hosts, &f, &[]).await.ok();
    assert_eq!(run.counter("inserted"), 100);
    let run = restore(&hosts, &f, &["--disable-batch-writes"]).await.ok();
    assert_eq!(run.counter("fresher"), 100);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_gzip_and_no_records() {
    let t = target().await;
    let hosts = t.hosts();
    let set = unique_set("stdin");
    let recs: Vec<Rec> = (0..200)
        .map(|i| Rec::simple("test", &set, &set, i))
        .collect();
    let data = rcore_support::gzip(&asb(Some("test"), &[], &recs));
    let h = hosts.clone();
    let run = tokio::task::spawn_blocking(move || {
        rcore_support::restorer(&["-h", &h, "-i", "-"], Some(data))
    })
    .await
    .unwrap()
    .ok();
    assert_eq!(run.counter("inserted"), 200);
    let c = client(&hosts).await;
    assert!(get(&c, &recs[199].key_in("test")).await.is_some());

    // --no-records stops at the first record: nothing counted, nothing written.
    let set2 = unique_set("norec");
    let recs2: Vec<Rec> = (0..5)
        .map(|i| Rec::simple("test", &set2, &set2, i))
        .collect();
    let dir = temp_dir("norec");
    let f = write_file(&dir, "n.asb", &asb(Some("test"), &[], &recs2));
    let run = restore(&hosts, &f, &["--no-records"]).await.ok();
    assert_eq!(run.counter("records"), 0);
    assert!(get(&c, &recs2[0].key_in("test")).await.is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}
