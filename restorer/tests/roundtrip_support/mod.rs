//! Support for the real round trip test (`roundtrip_real.rs`): the environment it needs, running
//! `asbackup`, `asrestore` and our `restorer`, parsing their summaries, snapshots of records read
//! back through the client, a strict value comparison, secondary index and UDF listings, and
//! clean-up by name.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aerospike::expressions::Expression;
use aerospike::policy::{AdminPolicy, QueryPolicy, WritePolicy};
use aerospike::{Bins, Client, ClientPolicy, Key, PartitionFilter, ResultCode, Statement, Value};
use base64::Engine as _;
use futures::StreamExt;

/// Every run id starts with this; ids (and so every set, index, UDF and tag value of the round
/// trip test) are `rtrip_<start time: 8 hex digits><pid: 5 hex digits>`, so a later run can find
/// what an interrupted one left behind and tell it from what a concurrent run is using.
pub const PREFIX: &str = "rtrip_";

/// Left-overs at least this old are removed at the start of a run (a run takes seconds).
pub const STALE_AFTER: Duration = Duration::from_secs(15 * 60);

/// A fresh run id.
pub fn run_id() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    format!("{PREFIX}{secs:08x}{:05x}", std::process::id() & 0xf_ffff)
}

/// Whether `name` belongs to a run that started [`STALE_AFTER`] ago or earlier. Names of the
/// test's first version (fixed names without a run id: `rtrip_vals`, `rtrip_i_num`,
/// `rtrip_udf.lua`, tag `rtrip-noset`) are always left-overs.
pub fn is_stale(name: &str) -> bool {
    let started = name
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.get(..8))
        .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .and_then(|hex| u64::from_str_radix(hex, 16).ok());
    let Some(started) = started else {
        return name.starts_with(PREFIX) || name == "rtrip-noset";
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    now.saturating_sub(started) >= STALE_AFTER.as_secs()
}

/// The message for a missing prerequisite: the test fails loudly instead of passing.
const NEEDS: &str = "the real round trip test needs a real Aerospike server with namespaces \
                     `test` and `bar` in AEROSPIKE_HOSTS and asbackup/asrestore on PATH: run \
                     `eval \"$(/work/shared/rigs/up aerospike)\"` first (.ci/run does)";

/// What the test needs from its environment.
pub struct Env {
    /// `host:port[,host:port...]` of the real server.
    pub hosts: String,
    /// The `asbackup` executable.
    pub asbackup: PathBuf,
    /// The `asrestore` executable.
    pub asrestore: PathBuf,
}

/// The environment, or a panic saying what is missing.
pub fn env() -> Env {
    let hosts = match std::env::var("AEROSPIKE_HOSTS") {
        Ok(h) if !h.trim().is_empty() => h,
        _ => panic!("AEROSPIKE_HOSTS is not set: {NEEDS}"),
    };
    Env {
        hosts,
        asbackup: on_path("asbackup"),
        asrestore: on_path("asrestore"),
    }
}

fn on_path(tool: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| {
            use std::os::unix::fs::PermissionsExt;
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .unwrap_or_else(|| panic!("{tool} is not on PATH: {NEEDS}"))
}

/// A client of the real server.
pub async fn client(hosts: &str) -> Client {
    Client::new(&ClientPolicy::default(), &hosts.to_string())
        .await
        .unwrap_or_else(|e| panic!("cannot connect to AEROSPIKE_HOSTS={hosts}: {e} ({NEEDS})"))
}

/// The outcome of one tool run.
#[derive(Debug)]
pub struct Run {
    /// What ran (for messages).
    pub command: String,
    /// Exit status code (-1 when killed).
    pub code: i32,
    /// stdout and stderr, in that order.
    pub output: String,
    /// Wall time.
    pub took: Duration,
}

impl Run {
    /// Asserts exit status 0.
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "`{}` failed (exit {}):\n{}",
            self.command, self.code, self.output
        );
        self
    }

    /// The summary counters the run printed.
    pub fn summary(&self) -> Summary {
        Summary::parse(&self.output).unwrap_or_else(|| {
            panic!(
                "no summary in the output of `{}`:\n{}",
                self.command, self.output
            )
        })
    }
}

/// Runs `program args...` to completion on a blocking thread, with `env` added.
pub async fn run(program: &Path, args: Vec<String>, env: Vec<(String, String)>) -> Run {
    let program = program.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let command = format!("{} {}", program.display(), args.join(" "));
        let start = Instant::now();
        let out = std::process::Command::new(&program)
            .args(&args)
            .envs(env)
            .env_remove("AEROSPIKE_PASSWORD")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run `{command}`: {e}"));
        Run {
            command,
            code: out.status.code().unwrap_or(-1),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            took: start.elapsed(),
        }
    })
    .await
    .expect("tool thread")
}

/// The counters of a restore, as both `asrestore` 4.5.8 and our `restorer` print them:
/// `<u> UDF file(s), <i> secondary index(es), <n> record(s) (...)`,
/// `Expired <e> : skipped <s> : [err_ignored <g> : ]inserted <n>[ ]: failed <f> (existed <x>[ ], fresher <y>)`
/// and the `Skipped <n> ... index(es)` lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// UDF files registered.
    pub udfs: u64,
    /// Secondary indexes created (or queued).
    pub indexes: u64,
    /// Record entities read.
    pub records: u64,
    /// Records whose void time had passed.
    pub expired: u64,
    /// Records skipped (no bins left, or a set outside `--set-list`).
    pub skipped: u64,
    /// Records written.
    pub inserted: u64,
    /// existed + fresher.
    pub failed: u64,
    /// Records that existed (`--unique`).
    pub existed: u64,
    /// Records the server had at least as new (generation check).
    pub fresher: u64,
    /// Indexes skipped because their set is not in `--set-list`.
    pub unwanted_set_indexes: u64,
    /// Indexes already present with the same definition.
    pub matched_indexes: u64,
    /// Indexes present with another definition (dropped and recreated).
    pub mismatched_indexes: u64,
}

impl Summary {
    /// The last summary in `output`, `None` when it has none. `err_ignored` (printed by
    /// `asrestore` only) must be 0 when present; a non-zero one makes this panic.
    pub fn parse(output: &str) -> Option<Summary> {
        let counts = output.lines().rev().find(|l| l.contains("UDF file(s)"))?;
        let line = output
            .lines()
            .rev()
            .find(|l| l.contains("Expired ") && l.contains("fresher"))?;
        if let Some(ignored) = num_after(line, "err_ignored") {
            assert_eq!(ignored, 0, "err_ignored in {line}");
        }
        let skipped_line = |what: &str| {
            output
                .lines()
                .rev()
                .find(|l| l.contains(what))
                .and_then(|l| num_before(l, what))
                .unwrap_or(0)
        };
        Some(Summary {
            udfs: num_before(counts, " UDF file(s)")?,
            indexes: num_before(counts, " secondary index(es)")?,
            records: num_before(counts, " record(s)")?,
            expired: num_after(line, "Expired")?,
            skipped: num_after(line, "skipped")?,
            inserted: num_after(line, "inserted")?,
            failed: num_after(line, "failed")?,
            existed: num_after(line, "existed")?,
            fresher: num_after(line, "fresher")?,
            unwanted_set_indexes: skipped_line(" index(es) with unwanted set(s)"),
            matched_indexes: skipped_line(" matched index(es)"),
            mismatched_indexes: skipped_line(" mismatched index(es)"),
        })
    }
}

/// The decimal number right after `key` (spaces skipped).
fn num_after(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The decimal number right before `key` (spaces skipped).
fn num_before(line: &str, key: &str) -> Option<u64> {
    let head = line[..line.find(key)?].trim_end();
    let start = head
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    head[start..].parse().ok()
}

/// One record as read back: what a restore must reproduce.
#[derive(Debug, Clone)]
pub struct Snap {
    /// Set name (empty when none).
    pub set: String,
    /// The stored user key, when one was stored.
    pub key: Option<Value>,
    /// All bins.
    pub bins: BTreeMap<String, Value>,
    /// Void time, seconds since 2010-01-01; 0 = never expires.
    pub void_time: u32,
    /// Generation (reported, never compared across namespaces).
    pub generation: u32,
}

/// Records by digest.
pub type Snapshot = BTreeMap<[u8; 20], Snap>;

/// Every record of `set` in `ns` (`set` empty: the whole namespace), optionally filtered.
pub async fn snapshot(c: &Client, ns: &str, set: &str, filter: Option<Expression>) -> Snapshot {
    let mut policy = QueryPolicy::default();
    policy.base_policy.filter_expression = filter;
    let rs = c
        .query(
            &policy,
            PartitionFilter::all(),
            Statement::new(ns, set, Bins::All),
        )
        .await
        .unwrap_or_else(|e| panic!("scan of {ns}/{set}: {e}"));
    let mut stream = rs.into_stream();
    let mut out = Snapshot::new();
    while let Some(r) = stream.next().await {
        let r = r.unwrap_or_else(|e| panic!("scan of {ns}/{set}: {e}"));
        let key = r.key.clone().expect("scanned records carry their digest");
        out.insert(
            key.digest(),
            Snap {
                set: key.set_name().to_string(),
                key: key.user_key().cloned(),
                bins: r.bins.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                void_time: r.expiration(),
                generation: r.generation,
            },
        );
    }
    out
}

/// Every record of the given sets in `ns`.
pub async fn snapshot_sets(c: &Client, ns: &str, sets: &[String]) -> Snapshot {
    let mut all = Snapshot::new();
    for set in sets {
        all.extend(snapshot(c, ns, set, None).await);
    }
    all
}

/// Value equality that also tells apart what `Value`'s own `==` does not: an unordered map
/// (`HashMap`/`OrderedMap`) never equals a key-ordered one (`SortedMap`), key-ordered maps
/// compare in order, and nested values are compared the same way.
pub fn same_value(a: &Value, b: &Value) -> bool {
    use Value::{HashMap, List, OrderedMap, SortedMap};
    fn unordered(v: &Value) -> Option<Vec<(&Value, &Value)>> {
        match v {
            Value::HashMap(m) => Some(m.iter().collect()),
            Value::OrderedMap(m) => Some(m.iter().collect()),
            _ => None,
        }
    }
    match (a, b) {
        (List(x), List(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_value(x, y)),
        (HashMap(_) | OrderedMap(_), HashMap(_) | OrderedMap(_)) => {
            let (x, y) = (
                unordered(a).unwrap_or_default(),
                unordered(b).unwrap_or_default(),
            );
            x.len() == y.len()
                && x.iter().all(|(k, v)| {
                    y.iter()
                        .any(|(k2, w)| same_value(k, k2) && same_value(v, w))
                })
        }
        (SortedMap(x), SortedMap(y)) => {
            x.len() == y.len()
                && x.iter().zip(y).all(|((k, v), (k2, w))| {
                    std::mem::discriminant(k) == std::mem::discriminant(k2)
                        && k == k2
                        && same_value(v, w)
                })
        }
        _ => std::mem::discriminant(a) == std::mem::discriminant(b) && a == b,
    }
}

/// A short description of a value for messages (large values abbreviated).
pub fn show(v: &Value) -> String {
    let s = format!("{v:?}");
    if s.len() > 300 {
        let cut = (0..=300)
            .rev()
            .find(|&i| s.is_char_boundary(i))
            .unwrap_or(0);
        format!("{}... ({} chars)", &s[..cut], s.len())
    } else {
        s
    }
}

/// The differences between what a restore should have produced (`want`) and what it did
/// (`got`): missing and extra records, set, stored key, bins (exact values) and void time
/// (within `tolerance` seconds; never-expiring must stay never-expiring).
pub fn diff(label: &str, want: &Snapshot, got: &Snapshot, tolerance: u32) -> Vec<String> {
    let b64 = |d: &[u8; 20]| base64::engine::general_purpose::STANDARD.encode(d);
    let mut out = Vec::new();
    for (d, w) in want {
        let Some(g) = got.get(d) else {
            out.push(format!(
                "{label}: record {} (set {:?}, key {:?}) missing",
                b64(d),
                w.set,
                w.key
            ));
            continue;
        };
        let id = format!(
            "{label}: record {} (set {:?}, key {:?})",
            b64(d),
            w.set,
            w.key
        );
        if w.set != g.set {
            out.push(format!("{id}: set {:?}, want {:?}", g.set, w.set));
        }
        let keys_same = match (&w.key, &g.key) {
            (None, None) => true,
            (Some(a), Some(b)) => same_value(a, b),
            _ => false,
        };
        if !keys_same {
            out.push(format!("{id}: stored key {:?}, want {:?}", g.key, w.key));
        }
        for (name, v) in &w.bins {
            match g.bins.get(name) {
                None => out.push(format!("{id}: bin {name:?} missing (want {})", show(v))),
                Some(x) if !same_value(v, x) => out.push(format!(
                    "{id}: bin {name:?} = {}, want {}",
                    show(x),
                    show(v)
                )),
                Some(_) => {}
            }
        }
        for (name, x) in &g.bins {
            if !w.bins.contains_key(name) {
                out.push(format!("{id}: extra bin {name:?} = {}", show(x)));
            }
        }
        let void_ok = match (w.void_time, g.void_time) {
            (0, 0) => true,
            (0, _) | (_, 0) => false,
            (a, b) => a.abs_diff(b) <= tolerance,
        };
        if !void_ok {
            out.push(format!(
                "{id}: void time {} (ttl {}s), want {} (ttl {}s) within {tolerance}s",
                g.void_time,
                ttl_of(g.void_time),
                w.void_time,
                ttl_of(w.void_time)
            ));
        }
    }
    for (d, g) in got {
        if !want.contains_key(d) {
            out.push(format!(
                "{label}: extra record {} (set {:?}, key {:?})",
                b64(d),
                g.set,
                g.key
            ));
        }
    }
    out
}

/// Seconds from now to `void_time` (negative when past), for messages.
pub fn ttl_of(void_time: u32) -> i64 {
    if void_time == 0 {
        return 0;
    }
    i64::from(void_time) - now_clepoch() as i64
}

/// Seconds since 2010-01-01 now.
pub fn now_clepoch() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        - aerospike::CITRUSLEAF_EPOCH_UNIX_SECS
}

/// One info command's answer.
pub async fn info(c: &Client, cmd: &str) -> String {
    let answer = c
        .info(&AdminPolicy::default(), &[cmd])
        .await
        .unwrap_or_else(|e| panic!("info {cmd}: {e}"));
    answer.get(cmd).cloned().unwrap_or_default()
}

/// The secondary indexes of `ns` whose name starts with `prefix`: name -> every field the
/// server lists (`set`, `bin`, `type`, `indextype`, `context`, `state`, ...).
async fn index_entries(
    c: &Client,
    ns: &str,
    prefix: &str,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let list = info(c, &format!("sindex-list:ns={ns};b64=true")).await;
    let mut out = BTreeMap::new();
    for entry in list.split(';').filter(|e| !e.trim().is_empty()) {
        let fields: BTreeMap<String, String> = entry
            .split(':')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match fields.get("indexname") {
            Some(name) if name.starts_with(prefix) => {
                out.insert(name.clone(), fields);
            }
            _ => {}
        }
    }
    out
}

/// The indexes of `ns` whose name starts with `prefix`: name -> the fields that define them
/// (`set`, `bin`, `type`, `indextype`, `context`, ...; `ns`, `indexname` and the build `state`
/// are left out).
pub async fn indexes(
    c: &Client,
    ns: &str,
    prefix: &str,
) -> BTreeMap<String, BTreeMap<String, String>> {
    index_entries(c, ns, prefix)
        .await
        .into_iter()
        .map(|(name, fields)| {
            let defining = fields
                .into_iter()
                .filter(|(k, _)| !matches!(k.as_str(), "ns" | "indexname" | "state"))
                .collect();
            (name, defining)
        })
        .collect()
}

/// Polls `done` every 50 ms for up to 60 s (the client's tasks poll once a second).
async fn wait_for<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(Instant::now() < deadline, "{what}: not done in 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `n` indexes of `ns` named `prefix...` are built (`state=RW`).
pub async fn wait_indexes_ready(c: &Client, ns: &str, prefix: &str, n: usize) {
    wait_for(&format!("{n} indexes built in {ns}"), || async {
        let entries = index_entries(c, ns, prefix).await;
        entries.len() == n
            && entries
                .values()
                .all(|f| f.get("state").is_some_and(|s| s == "RW"))
    })
    .await;
}

/// Drops the indexes of `ns` named `prefix...` that `which` selects, and waits until the server
/// no longer lists them.
pub async fn drop_indexes(c: &Client, ns: &str, prefix: &str, which: impl Fn(&str) -> bool) {
    let doomed = |all: BTreeMap<String, BTreeMap<String, String>>| {
        all.into_iter()
            .filter(|(name, _)| which(name))
            .collect::<Vec<_>>()
    };
    for (name, fields) in doomed(indexes(c, ns, prefix).await) {
        let set = fields
            .get("set")
            .map_or("", |s| if s == "NULL" { "" } else { s });
        c.drop_index(&AdminPolicy::default(), ns, set, &name)
            .await
            .unwrap_or_else(|e| panic!("drop index {ns}/{name}: {e}"));
    }
    wait_for(&format!("indexes of {ns} dropped"), || async {
        doomed(indexes(c, ns, prefix).await).is_empty()
    })
    .await;
}

/// The content of UDF module `name` on the server, `None` when it is not registered.
pub async fn udf_content(c: &Client, name: &str) -> Option<Vec<u8>> {
    let listed = info(c, "udf-list").await;
    if !listed
        .split(';')
        .any(|e| e.contains(&format!("filename={name},")))
    {
        return None;
    }
    let got = info(c, &format!("udf-get:filename={name}")).await;
    let content = got
        .split(';')
        .find_map(|kv| kv.strip_prefix("content="))
        .unwrap_or_else(|| panic!("udf-get {name}: {got}"));
    Some(
        base64::engine::general_purpose::STANDARD
            .decode(content)
            .unwrap_or_else(|e| panic!("udf-get {name}: {e}")),
    )
}

/// Removes UDF module `name` when registered and waits until it is gone.
pub async fn remove_udf(c: &Client, name: &str) {
    if udf_content(c, name).await.is_none() {
        return;
    }
    c.remove_udf(&AdminPolicy::default(), name)
        .await
        .unwrap_or_else(|e| panic!("remove udf {name}: {e}"));
    wait_for(&format!("udf {name} removed"), || async {
        udf_content(c, name).await.is_none()
    })
    .await;
}

/// Deletes every record in `snap` from `ns` (through the client, by digest).
pub async fn delete_all(c: &Client, ns: &str, snap: &Snapshot) {
    for (d, s) in snap {
        let key = Key::with_digest(ns, s.set.clone(), None, *d);
        match c.delete(&WritePolicy::default(), &key).await {
            Ok(_) => {}
            Err(e) if e.matches(&[ResultCode::KeyNotFoundError]) => {}
            Err(e) => panic!("delete {ns}/{}: {e}", s.set),
        }
    }
}

/// Deletes the records of `sets` in `ns`, and in the whole of `ns` the records `filter`
/// selects; then checks nothing is left.
pub async fn clear(c: &Client, ns: &str, sets: &[String], filter: &Expression) {
    let snap = snapshot_sets(c, ns, sets).await;
    delete_all(c, ns, &snap).await;
    let tagged = snapshot(c, ns, "", Some(filter.clone())).await;
    delete_all(c, ns, &tagged).await;
    let left = snapshot_sets(c, ns, sets).await.len()
        + snapshot(c, ns, "", Some(filter.clone())).await.len();
    assert_eq!(left, 0, "records left in {ns} after clearing");
}

/// Removes what runs that started [`STALE_AFTER`] ago or earlier left in `namespaces`: records of
/// their sets, their set-less records (bin `tag_bin` holding their run id), their indexes and
/// their UDF modules. What younger (possibly concurrent) runs use is left alone.
pub async fn remove_stale(c: &Client, namespaces: &[&str], tag_bin: &str) {
    for ns in namespaces {
        let sets = info(c, &format!("sets/{ns}")).await;
        let stale_sets: Vec<String> = sets
            .split(';')
            .filter_map(|e| e.split(':').find_map(|kv| kv.strip_prefix("set=")))
            .filter(|set| is_stale(set))
            .map(str::to_string)
            .collect();
        let snap = snapshot_sets(c, ns, &stale_sets).await;
        delete_all(c, ns, &snap).await;
        let tagged = snapshot(c, ns, "", Some(aerospike::expressions::bin_exists(tag_bin))).await;
        let stale_tagged: Snapshot = tagged
            .into_iter()
            .filter(|(_, s)| matches!(s.bins.get(tag_bin), Some(Value::String(id)) if is_stale(id)))
            .collect();
        delete_all(c, ns, &stale_tagged).await;
        drop_indexes(c, ns, PREFIX, is_stale).await;
    }
    let udfs = info(c, "udf-list").await;
    let stale_udfs: Vec<String> = udfs
        .split(';')
        .filter_map(|e| e.split(',').find_map(|kv| kv.strip_prefix("filename=")))
        .filter(|name| is_stale(name))
        .map(str::to_string)
        .collect();
    for name in stale_udfs {
        remove_udf(c, &name).await;
    }
}
