//! `--shard INDEX/COUNT` and `--shard-count N` (+ `JOB_COMPLETION_INDEX`): a 4-file backup
//! restored by 1, 2 and 4 shard processes running at once gives the same records and the same
//! summed counters; the index and the UDF are restored once, by shard 0, even though they are in
//! a file shard 0 does not own. On the test node, and on the real server with AEROSPIKE_HOSTS.

mod rcore_support;

use aerospike::policy::AdminPolicy;
use aerospike_test_node::target;
use rcore_support::{
    Rec, Run, asb, client, get, gzip, restorer_async, restorer_async_env, temp_dir, unique_set,
    write_file,
};

const FILES: u32 = 4;
const PER_FILE: u32 = 300;
/// Records of file 2 that expired before the restore.
const EXPIRED: u32 = 10;

/// The counters a restore (or the sum of a restore's shards) reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Totals {
    records: u64,
    expired: u64,
    skipped: u64,
    inserted: u64,
    existed: u64,
    fresher: u64,
    bytes: u64,
    udfs: u64,
    indexes: u64,
}

/// `N UDF file(s), M secondary index(es)` from the log.
fn globals_of(run: &Run) -> (u64, u64) {
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("UDF file(s), "))
        .unwrap_or_else(|| panic!("no totals line:\n{}", run.stderr));
    let num_before = |what: &str| -> u64 {
        let i = line.find(what).expect("field");
        line[..i]
            .split(|c: char| !c.is_ascii_digit())
            .rfind(|s| !s.is_empty())
            .and_then(|s| s.parse().ok())
            .expect("number")
    };
    (
        num_before(" UDF file(s)"),
        num_before(" secondary index(es)"),
    )
}

fn totals_of(run: &Run) -> Totals {
    let (udfs, indexes) = globals_of(run);
    Totals {
        records: run.counter("records"),
        expired: run.counter("expired"),
        skipped: run.counter("skipped"),
        inserted: run.counter("inserted"),
        existed: run.counter("existed"),
        fresher: run.counter("fresher"),
        bytes: run.counter("bytes"),
        udfs,
        indexes,
    }
}

fn sum(runs: &[Run]) -> Totals {
    runs.iter()
        .map(totals_of)
        .fold(Totals::default(), |a, t| Totals {
            records: a.records + t.records,
            expired: a.expired + t.expired,
            skipped: a.skipped + t.skipped,
            inserted: a.inserted + t.inserted,
            existed: a.existed + t.existed,
            fresher: a.fresher + t.fresher,
            bytes: a.bytes + t.bytes,
            udfs: a.udfs + t.udfs,
            indexes: a.indexes + t.indexes,
        })
}

struct Backup {
    dir: std::path::PathBuf,
    set: String,
    recs: Vec<Rec>,
    index: String,
    udf: String,
    /// Uncompressed size of all files.
    bytes: u64,
}

/// Four files `part-0..3`; the index and UDF lines are in `part-1` (position 1, not shard 0's
/// with 2 or 4 shards); `part-3` is gzipped; part-2 has expired records.
fn backup(tag: &str) -> Backup {
    let set = unique_set(tag);
    let dir = temp_dir(tag);
    let (index, udf) = (format!("{set}_i"), format!("{set}.lua"));
    let body = "function f(rec)\n  return 1\nend\n";
    let globals = [
        format!("* i test {set} {index} N 1 i N"),
        format!("* u L {udf} {} {body}", body.len()),
    ];
    let globals: Vec<&str> = globals.iter().map(String::as_str).collect();
    let mut all = Vec::new();
    let mut bytes = 0;
    for f in 0..FILES {
        let mut recs: Vec<Rec> = (0..PER_FILE)
            .map(|i| Rec::simple("test", &set, &set, f * PER_FILE + i))
            .collect();
        if f == 2 {
            for r in recs.iter_mut().take(EXPIRED as usize) {
                r.void_time = 1;
            }
        }
        let text = if f == 1 {
            asb(Some("test"), &globals, &recs)
        } else {
            // Only one file of a directory backup is the first file.
            let t = String::from_utf8(asb(Some("test"), &[], &recs)).unwrap();
            t.replace("# first-file\n", "").into_bytes()
        };
        bytes += text.len() as u64;
        if f == 3 {
            write_file(&dir, &format!("part-{f}.asb.gz"), &gzip(&text));
        } else {
            write_file(&dir, &format!("part-{f}.asb"), &text);
        }
        all.extend(recs);
    }
    Backup {
        dir,
        set,
        recs: all,
        index,
        udf,
        bytes,
    }
}

fn args(hosts: &str, b: &Backup, extra: &[String]) -> Vec<String> {
    let mut a: Vec<String> = [
        "-h",
        hosts,
        "-d",
        &b.dir.display().to_string(),
        "--log-format",
        "logfmt",
        "--batch-size",
        "50",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend(extra.iter().cloned());
    a
}

/// Restores `b` with `shards` processes at once (`--shard i/N`, or `--shard-count N` with
/// `JOB_COMPLETION_INDEX` when `indexed_job`).
async fn restore_sharded(hosts: &str, b: &Backup, shards: u32, indexed_job: bool) -> Vec<Run> {
    let runs = (0..shards).map(|i| {
        let (extra, env) = if shards == 1 {
            (vec![], vec![])
        } else if indexed_job {
            (
                vec!["--shard-count".to_string(), shards.to_string()],
                vec![("JOB_COMPLETION_INDEX".to_string(), i.to_string())],
            )
        } else {
            (vec!["--shard".to_string(), format!("{i}/{shards}")], vec![])
        };
        restorer_async_env(args(hosts, b, &extra), env)
    });
    futures::future::join_all(runs)
        .await
        .into_iter()
        .map(Run::ok)
        .collect()
}

/// Every record of the backup but the expired ones is stored once, with its values.
async fn assert_records(c: &aerospike::Client, b: &Backup) {
    for (n, r) in b.recs.iter().enumerate() {
        let got = get(c, &r.key_in("test")).await;
        let expired = r.void_time == 1;
        assert_eq!(got.is_none(), expired, "record {n} of {}", b.set);
        if let Some(rec) = got {
            assert_eq!(rec.generation, 1, "record {n} written once");
            let want = aerospike::Value::Int(i64::from(n as u32));
            assert_eq!(rec.bins.get("i"), Some(&want), "record {n}");
        }
    }
}

async fn cleanup(c: &aerospike::Client, b: &Backup) {
    let _ = c
        .drop_index(&AdminPolicy::default(), "test", &b.set, &b.index)
        .await;
    let _ = c.remove_udf(&AdminPolicy::default(), &b.udf).await;
    let _ = std::fs::remove_dir_all(&b.dir);
}

async fn globals_present(c: &aerospike::Client, b: &Backup) -> (bool, bool) {
    let cmd = "sindex-list:ns=test;b64=true";
    let info = c
        .info(&AdminPolicy::default(), &[cmd, "udf-list"])
        .await
        .expect("info");
    let index = info
        .get(cmd)
        .is_some_and(|l| l.contains(&format!("indexname={}:", b.index)));
    let udf = info.get("udf-list").is_some_and(|l| l.contains(&b.udf));
    (index, udf)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_two_and_four_shards_restore_the_same_records_and_counters() {
    let t = target().await;
    let hosts = t.hosts();
    let c = client(&hosts).await;
    let mut sums = Vec::new();
    for (shards, indexed_job) in [(1u32, false), (2, false), (4, true)] {
        let b = backup(&format!("shard{shards}"));
        let runs = restore_sharded(&hosts, &b, shards, indexed_job).await;
        let mut total = sum(&runs);
        // Every byte is counted once: files read by shard 0 for their globals are not.
        assert_eq!(total.bytes, b.bytes, "{shards} shard(s)");
        total.bytes = 0;
        // The index and the UDF are restored by shard 0 alone, once.
        for (i, run) in runs.iter().enumerate() {
            let (udfs, indexes) = globals_of(run);
            let want = if i == 0 { (1, 1) } else { (0, 0) };
            assert_eq!((udfs, indexes), want, "shard {i}/{shards}:\n{}", run.stderr);
            assert!(
                !run.stderr.contains("matched index(es)"),
                "an index restored twice:\n{}",
                run.stderr
            );
        }
        if shards > 1 {
            assert!(
                runs[1].stderr.contains(&format!("shard 1/{shards}: ")),
                "{}",
                runs[1].stderr
            );
        }
        assert_eq!(
            globals_present(&c, &b).await,
            (true, true),
            "{shards} shard(s)"
        );
        assert_records(&c, &b).await;
        cleanup(&c, &b).await;
        sums.push((shards, total));
    }
    let want = Totals {
        records: u64::from(FILES * PER_FILE),
        expired: u64::from(EXPIRED),
        inserted: u64::from(FILES * PER_FILE - EXPIRED),
        udfs: 1,
        indexes: 1,
        ..Totals::default()
    };
    for (shards, total) in &sums {
        assert_eq!(*total, want, "{shards} shard(s)");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_flags_are_checked() {
    let dir = temp_dir("shardflags");
    let f = write_file(&dir, "a.asb", &asb(None, &[], &[]));
    let file = f.display().to_string();
    let dirs = dir.display().to_string();
    for (a, env, msg) in [
        (
            vec!["--shard", "2/2", "-d", &dirs],
            vec![],
            "invalid --shard",
        ),
        (
            vec!["--shard", "1/2", "-i", &file],
            vec![],
            "split the files of -d",
        ),
        (
            vec!["--shard-count", "2", "-d", &dirs],
            vec![],
            "JOB_COMPLETION_INDEX",
        ),
        (
            vec!["--shard-count", "2", "-d", &dirs],
            vec![("JOB_COMPLETION_INDEX".to_string(), "2".to_string())],
            "not below --shard-count 2",
        ),
    ] {
        let mut args: Vec<String> = vec!["--dry-run".into()];
        args.extend(a.iter().map(|s| s.to_string()));
        let run = restorer_async_env(args, env).await.failed();
        assert!(run.stderr.contains(msg), "{a:?}: {}", run.stderr);
    }
    // A shard without files restores nothing and succeeds.
    let run = restorer_async(vec![
        "--dry-run".into(),
        "-d".into(),
        dirs.clone(),
        "--shard".into(),
        "1/2".into(),
    ])
    .await
    .ok();
    assert!(
        run.stderr.contains("shard 1/2: 0 of 1 file(s)"),
        "{}",
        run.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
