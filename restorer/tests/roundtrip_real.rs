//! A real round trip: varied data written into the real server's `test` namespace through the
//! client, backed up with the real `asbackup` (plain, `-z zstd`, and a filter-expression backup
//! of set-less records), restored into `bar` by our `restorer` and by the reference `asrestore`,
//! one after the other into an empty target, and compared: every record (set, stored key, every
//! bin's exact value, void time within a few seconds), every index and the UDF. The two
//! restorers' printed counters must be equal on a first run (with expired records), a second run
//! (generation check: fresher/inserted) and a `--unique` run (existed), and both restored
//! targets must be the same.
//!
//! Needs a real server in AEROSPIKE_HOSTS (namespaces `test` and `bar`) and asbackup/asrestore
//! on PATH; `.ci/run` runs it with `--ignored`, and without those it fails. Everything it writes
//! is named after its run id `rtrip_<time><pid>` (sets, indexes, the UDF, the `rtrip_tag` value of
//! the set-less records), so concurrent runs do not meet; it is removed at the end, and at the
//! start whatever an interrupted run left more than 15 minutes ago is removed. It never
//! truncates a namespace.

mod roundtrip_support;
mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aerospike::expressions::{Expression, eq, string_bin, string_val};
use aerospike::operations::cdt_context::ctx_list_index;
use aerospike::operations::hll::{self, HllPolicy};
use aerospike::operations::lists;
use aerospike::operations::maps::{self, MapOrder};
use aerospike::operations::{self, Operation};
use aerospike::policy::{AdminPolicy, Expiration, WritePolicy};
use aerospike::{
    Bin, Client, CollectionIndexType, IndexMap, IndexType, Key, ListOrderType, ListPolicy,
    ListWriteFlags, MapPolicy, MapWriteFlags, UdfLang, Value,
};
use roundtrip_support::{
    Env, Snapshot, Summary, clear, diff, drop_indexes, env, indexes, now_clepoch, remove_stale,
    remove_udf, run, run_id, snapshot, snapshot_sets, udf_content, wait_indexes_ready,
};

const SRC: &str = "test";
const DST: &str = "bar";
/// The bin that marks the set-less records (and selects them in scans and the backup).
const TAG_BIN: &str = "rtrip_tag";
const UDF_BODY: &str = "-- rtrip round trip module\nfunction add_one(rec, bin)\n  \
                        rec[bin] = (rec[bin] or 0) + 1\n  aerospike:update(rec)\n  \
                        return rec[bin]\nend\n";
/// Records written with a short TTL just before the backups; they expire before any restore.
const EXPIRING: usize = 5;
const EXPIRING_TTL: u32 = 8;
/// Allowed difference between a source and a restored void time.
const TOLERANCE: u32 = 5;

/// This run's names: `rtrip_<start time, 8 hex digits><pid, 5 hex digits>` followed by what
/// they name, so concurrent runs (several checkouts' CI on one server) never share anything,
/// and a later run tells the left-overs of an interrupted one by their age.
struct Names {
    /// The run id; also the tag value of the set-less records.
    id: String,
    vals: String,
    ttls: String,
    idx: String,
    udf: String,
}

fn names() -> &'static Names {
    static NAMES: OnceLock<Names> = OnceLock::new();
    NAMES.get_or_init(|| {
        let id = run_id();
        Names {
            vals: format!("{id}_vals"),
            ttls: format!("{id}_ttl"),
            idx: format!("{id}_idx"),
            udf: format!("{id}.lua"),
            id,
        }
    })
}

/// The start of every index name of this run.
fn index_prefix() -> String {
    format!("{}_", names().id)
}

fn sets() -> Vec<String> {
    let n = names();
    vec![n.vals.clone(), n.ttls.clone(), n.idx.clone()]
}

fn tag_filter() -> Expression {
    eq(string_bin(TAG_BIN), string_val(names().id.as_str()))
}

fn key(set: &str, k: impl Into<Value>) -> Key {
    Key::new(SRC, set, k.into()).expect("valid key")
}

fn policy(send_key: bool, expiration: Expiration) -> WritePolicy {
    WritePolicy {
        send_key,
        expiration,
        ..WritePolicy::default()
    }
}

async fn put(c: &Client, k: &Key, send_key: bool, expiration: Expiration, bins: &[Bin]) {
    c.put(&policy(send_key, expiration), k, bins)
        .await
        .unwrap_or_else(|e| panic!("put {k:?}: {e}"));
}

async fn operate(c: &Client, k: &Key, send_key: bool, ops: &[Operation]) {
    c.operate(&policy(send_key, Expiration::Never), k, ops)
        .await
        .unwrap_or_else(|e| panic!("operate {k:?}: {e}"));
}

/// Deterministic pseudo-random bytes (the restorer suites' generator).
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    support::pattern(len, seed).to_vec()
}

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

fn f(v: f64) -> Value {
    Value::Float(v.into())
}

/// The set `rtrip_vals`: every particle type and key type the client writes.
async fn write_values(c: &Client) {
    let ints = [0, 1, -1, i64::MAX, i64::MIN, 123_456_789];
    let floats = [
        0.0,
        -0.0,
        1.5,
        -2.25e10,
        f64::MAX,
        f64::MIN_POSITIVE,
        5e-324,
        std::f64::consts::PI,
        1.0 / 3.0,
    ];
    let strings = [
        String::new(),
        "plain".to_string(),
        "héllo wörld ✓ 日本語 🎉".to_string(),
        "sp ace\ttab\nnewline\\backslash \"quoted\"".to_string(),
        "x".repeat(1000),
    ];
    let blobs = [vec![], vec![0], (0..=255).collect(), pattern(3000, 7)];
    let geos = [
        r#"{"type":"Point","coordinates":[13.4050,52.5200]}"#,
        r#"{"type":"Polygon","coordinates":[[[0,0],[0,10],[10,10],[10,0],[0,0]]]}"#,
    ];
    // (user key, stored with the record)
    let keys: Vec<(Value, bool)> = vec![
        (Value::Int(0), true),
        (Value::Int(-1), true),
        (Value::Int(i64::MAX), true),
        (Value::Int(i64::MIN), true),
        (Value::Int(42), true),
        (s(""), true),
        (s("k"), true),
        (s("ключ ünï 🔑 spaced key\nwith newline"), true),
        (Value::Blob(vec![]), true),
        (Value::Blob(vec![0, 1, 2, 254, 255]), true),
        (Value::Blob(b"blob key".to_vec()), true),
        (s("digest-only-0"), false),
        (s("digest-only-1"), false),
        (Value::Int(7), false),
        (Value::Blob(vec![9, 9, 9]), false),
    ];
    for (j, (k, send)) in keys.iter().enumerate() {
        let key = key(&names().vals, k.clone());
        let nested = Value::List(vec![
            Value::Int(j as i64),
            s("x"),
            Value::List(vec![
                f(1.5),
                Value::Blob(vec![1, 2]),
                Value::Nil,
                Value::Bool(true),
            ]),
            Value::HashMap(HashMap::from([(s("in"), Value::List(vec![]))])),
            Value::GeoJson(geos[0].to_string()),
        ]);
        let hmap = Value::HashMap(HashMap::from([
            (s("a"), Value::Int(1)),
            (Value::Int(-5), Value::List(vec![s("l"), f(2.5)])),
            (Value::Blob(vec![0xff, 0]), s("blob-keyed")),
            (
                s("nested"),
                Value::HashMap(HashMap::from([(Value::Int(1), Value::Nil)])),
            ),
        ]));
        let omap = Value::OrderedMap(IndexMap::from_iter([
            (s("zeta"), Value::Int(26)),
            (s("alpha"), Value::Int(1)),
            (Value::Int(3), s("three")),
        ]));
        let smap = Value::SortedMap(BTreeMap::from([
            (s("b"), Value::Int(2)),
            (
                s("a"),
                Value::SortedMap(BTreeMap::from([(Value::Int(1), s("one"))])),
            ),
            (Value::Int(10), Value::List(vec![Value::Bool(false)])),
        ]));
        let mut bins = vec![
            Bin::new("int", Value::Int(ints[j % ints.len()])),
            Bin::new("float", f(floats[j % floats.len()])),
            Bin::new("str", Value::String(strings[j % strings.len()].clone())),
            Bin::new("blob", Value::Blob(blobs[j % blobs.len()].clone())),
            Bin::new("bool", Value::Bool(j % 2 == 0)),
            Bin::new("list", nested),
            Bin::new("empty_list", Value::List(vec![])),
            Bin::new("hmap", hmap),
            Bin::new("omap", omap),
            Bin::new("smap", smap),
            Bin::new("empty_map", Value::HashMap(HashMap::new())),
            Bin::new("geo", Value::GeoJson(geos[j % geos.len()].to_string())),
            Bin::new("sp ace", s("bin name with a space")),
            Bin::new("back\\sl", Value::Int(j as i64)),
            Bin::new("ünï", s("unicode bin name")),
            Bin::new("fifteen_chars_x", Value::Int(15)),
        ];
        if j % 2 == 1 {
            bins.push(Bin::new("gone", Value::Int(1)));
        }
        put(c, &key, *send, Expiration::Never, &bins).await;
        if j % 2 == 1 {
            // A nil write deletes the bin: the backup must not have it.
            put(
                c,
                &key,
                *send,
                Expiration::Never,
                &[Bin::new("gone", Value::Nil)],
            )
            .await;
        }
        match j % 3 {
            0 => {
                let hp = HllPolicy::default();
                let items = (0..50).map(|i| s(&format!("item{i}"))).collect();
                operate(
                    c,
                    &key,
                    *send,
                    &[hll::init(&hp, "hll", 10), hll::add(&hp, "hll", items)],
                )
                .await;
            }
            1 => {
                let lp = ListPolicy::new(ListOrderType::Ordered, ListWriteFlags::DEFAULT);
                let mp = MapPolicy::new(MapOrder::KeyOrdered, MapWriteFlags::DEFAULT);
                let items = BTreeMap::from([
                    (s("z"), Value::Int(1)),
                    (s("m"), Value::List(vec![Value::Int(2)])),
                    (Value::Int(4), s("four")),
                ]);
                let values = vec![Value::Int(5), Value::Int(1), Value::Int(3)];
                operate(
                    c,
                    &key,
                    *send,
                    &[
                        lists::append_items(&lp, "olist", values),
                        maps::put_items(&mp, "kmap", items),
                    ],
                )
                .await;
            }
            _ => {
                let lp = ListPolicy::new(ListOrderType::Ordered, ListWriteFlags::DEFAULT);
                let mp = MapPolicy::new(MapOrder::KeyOrdered, MapWriteFlags::DEFAULT);
                let items = BTreeMap::from([(s("p"), Value::Int(1)), (s("q"), Value::Int(2))]);
                operate(
                    c,
                    &key,
                    *send,
                    &[
                        lists::create_with_index("plist", ListOrderType::Ordered),
                        lists::append_items(&lp, "plist", vec![Value::Int(9), Value::Int(8)]),
                        maps::create_with_index("pmap", MapOrder::KeyOrdered),
                        maps::put_items(&mp, "pmap", items),
                    ],
                )
                .await;
            }
        }
    }
    // A large record, a record with many bins, and legacy blob particle types.
    put(
        c,
        &key(&names().vals, "large"),
        true,
        Expiration::Never,
        &[
            Bin::new("big", Value::Blob(pattern(100 * 1024, 1))),
            Bin::new("bigs", Value::String("y".repeat(50_000))),
        ],
    )
    .await;
    let many: Vec<Bin> = (0..300)
        .map(|i| Bin::new(format!("b{i:03}"), Value::Int(i)))
        .collect();
    put(
        c,
        &key(&names().vals, "many"),
        true,
        Expiration::Never,
        &many,
    )
    .await;
    let legacy: Vec<Bin> = (7u8..=12)
        .map(|t| Bin::new(format!("legacy{t}"), Value::Unknown(t, vec![t, 0, 1, 2])))
        .collect();
    put(
        c,
        &key(&names().vals, "legacy"),
        true,
        Expiration::Never,
        &legacy,
    )
    .await;
    put(
        c,
        &key(&names().vals, "special-floats"),
        true,
        Expiration::Never,
        &[
            Bin::new("nan", f(f64::NAN)),
            Bin::new("inf", f(f64::INFINITY)),
            Bin::new("ninf", f(f64::NEG_INFINITY)),
        ],
    )
    .await;
}

/// The set `rtrip_ttl`: never-expiring, one day, namespace default, almost ten years.
async fn write_ttls(c: &Client) {
    let kinds = [
        ("never", Expiration::Never),
        ("day", Expiration::Seconds(86_400)),
        ("default", Expiration::NamespaceDefault),
        ("decade", Expiration::Seconds(315_000_000)),
    ];
    for (kind, exp) in kinds {
        for i in 0..4 {
            let k = key(&names().ttls, format!("{kind}-{i}"));
            put(
                c,
                &k,
                true,
                exp,
                &[Bin::new("i", Value::Int(i)), Bin::new("kind", s(kind))],
            )
            .await;
        }
    }
}

/// Records in `rtrip_ttl` that expire [`EXPIRING_TTL`] seconds from now.
async fn write_expiring(c: &Client) {
    for i in 0..EXPIRING {
        let k = key(&names().ttls, format!("short-{i}"));
        let bins = [
            Bin::new("i", Value::Int(i as i64)),
            Bin::new("kind", s("short")),
        ];
        put(c, &k, i % 2 == 0, Expiration::Seconds(EXPIRING_TTL), &bins).await;
    }
}

/// The set `<id>_idx`: bins for every index kind; record `i` is written `i % 3 + 1` times
/// (generations 1 to 3).
async fn write_indexed(c: &Client) {
    for i in 0..40i64 {
        let k = key(&names().idx, i);
        let bins = [
            Bin::new("n", Value::Int(i)),
            Bin::new("s", s(&format!("s{i}"))),
            Bin::new(
                "g",
                Value::GeoJson(format!(
                    r#"{{"type":"Point","coordinates":[{},{}]}}"#,
                    i as f64 * 0.5,
                    i as f64 * 0.25
                )),
            ),
            Bin::new("b", Value::Blob(vec![i as u8; 4])),
            Bin::new("l", Value::List(vec![Value::Int(i), Value::Int(i + 100)])),
            Bin::new(
                "m",
                Value::HashMap(HashMap::from([(s(&format!("k{i}")), Value::Int(i))])),
            ),
            Bin::new("c", Value::List(vec![Value::Int(i * 10), s("x")])),
        ];
        for _ in 0..=(i % 3) {
            put(c, &k, true, Expiration::Never, &bins).await;
        }
    }
}

/// Set-less records, tagged with [`TAG_BIN`]: string, integer and blob keys, and digest only.
/// Their keys derive from the run id: without a set, the digest is the key's alone.
async fn write_setless(c: &Client) {
    let id = &names().id;
    // 13 hex digits = 52 bits, shifted by 4: an i64 unique to the run.
    let n = i64::from_str_radix(&id[id.len() - 13..], 16).expect("hex run id") << 4;
    let keys: Vec<(Value, bool)> = vec![
        (s(&format!("{id}-0")), true),
        (s(&format!("{id}-1")), true),
        (Value::Int(n + 2), true),
        (Value::Int(-(n + 3)), true),
        (Value::Blob(format!("{id}-4").into_bytes()), true),
        (s(&format!("{id}-digest-5")), false),
    ];
    for (i, (k, send)) in keys.into_iter().enumerate() {
        let key = Key::new(SRC, "", k).expect("valid key");
        let exp = if i == 1 {
            Expiration::Seconds(86_400)
        } else {
            Expiration::Never
        };
        let bins = [
            Bin::new(TAG_BIN, s(&names().id)),
            Bin::new("v", Value::Int(i as i64)),
            Bin::new("l", Value::List(vec![s("a"), Value::Int(i as i64)])),
        ];
        for _ in 0..=(i % 2) {
            put(c, &key, send, exp, &bins).await;
        }
    }
}

/// (name, set, bin, type, collection type, context) of the indexes the test creates in `test`.
fn index_specs() -> Vec<(
    String,
    &'static str,
    &'static str,
    IndexType,
    CollectionIndexType,
    bool,
)> {
    use CollectionIndexType as C;
    let (idx, vals) = (names().idx.as_str(), names().vals.as_str());
    use IndexType as T;
    [
        ("i_num", idx, "n", T::Numeric, C::Default, false),
        ("i_str", idx, "s", T::String, C::Default, false),
        ("i_geo", idx, "g", T::Geo2DSphere, C::Default, false),
        ("i_blob", idx, "b", T::Blob, C::Default, false),
        ("i_list", idx, "l", T::Numeric, C::List, false),
        ("i_mkeys", idx, "m", T::String, C::MapKeys, false),
        ("i_mvals", idx, "m", T::Numeric, C::MapValues, false),
        ("i_ctx", idx, "c", T::Numeric, C::Default, true),
        ("v_str", vals, "str", T::String, C::Default, false),
    ]
    .into_iter()
    .map(|(n, set, bin, t, ct, ctx)| (format!("{}{n}", index_prefix()), set, bin, t, ct, ctx))
    .collect()
}

async fn create_indexes(c: &Client) {
    for (name, set, bin, t, ct, with_ctx) in index_specs() {
        let ctx = [ctx_list_index(0)];
        c.create_index_on_bin(
            &AdminPolicy::default(),
            SRC,
            set,
            bin,
            &name,
            t,
            ct,
            with_ctx.then_some(&ctx[..]),
        )
        .await
        .unwrap_or_else(|e| panic!("create index {name}: {e}"));
    }
    wait_indexes_ready(c, SRC, &index_prefix(), index_specs().len()).await;
}

async fn register_udf(c: &Client) {
    c.register_udf(
        &AdminPolicy::default(),
        UDF_BODY.as_bytes(),
        &names().udf,
        UdfLang::Lua,
    )
    .await
    .unwrap_or_else(|e| panic!("register {}: {e}", names().udf));
    let deadline = Instant::now() + Duration::from_secs(30);
    while udf_content(c, &names().udf).await.as_deref() != Some(UDF_BODY.as_bytes()) {
        assert!(
            Instant::now() < deadline,
            "{} not registered in 30 s",
            names().udf
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Removes everything the test writes, in both namespaces.
async fn cleanup(c: &Client) {
    for ns in [SRC, DST] {
        clear(c, ns, &sets(), &tag_filter()).await;
        drop_indexes(c, ns, &index_prefix(), |_| true).await;
    }
    remove_udf(c, &names().udf).await;
}

/// The name of a value's type, for the coverage check.
fn kind(v: &Value) -> String {
    match v {
        Value::Unknown(t, _) => format!("Unknown({t})"),
        other => format!("{other:?}")
            .split(['(', ' ', '{'])
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

/// The restorers under comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Ours,
    Asrestore,
}

/// One backup file and how to restore it.
struct Case {
    name: &'static str,
    file: PathBuf,
    zstd: bool,
    /// `-s` for both restorers (the sets backups); `None` for the set-less backup.
    set_list: Option<Vec<String>>,
    /// What the file should restore to (the source, read after the short TTLs passed).
    want: Snapshot,
    /// Expired records in the file.
    expired: u64,
    /// Records of the file in sets outside `set_list`.
    skipped: u64,
}

impl Case {
    /// The records of this case in `ns`.
    async fn read(&self, c: &Client, ns: &str) -> Snapshot {
        // All of this run's sets: records of a set left out of `-s` must not appear.
        match self.set_list {
            Some(_) => snapshot_sets(c, ns, &sets()).await,
            None => snapshot(c, ns, "", Some(tag_filter())).await,
        }
    }

    fn globals(&self) -> bool {
        self.set_list.is_some()
    }
}

async fn restore(
    env: &Env,
    tool: Tool,
    case: &Case,
    extra: &[&str],
    dir: &Path,
) -> roundtrip_support::Run {
    let mut args: Vec<String> = vec![
        "-h".into(),
        env.hosts.clone(),
        "-n".into(),
        format!("{SRC},{DST}"),
        "-i".into(),
        case.file.display().to_string(),
    ];
    if let Some(sets) = &case.set_list {
        args.extend(["-s".into(), sets.join(",")]);
    }
    args.extend(extra.iter().map(|a| a.to_string()));
    match tool {
        Tool::Ours => {
            let term = dir.join("termination-log");
            let _ = std::fs::remove_file(&term);
            let r = run(
                Path::new(env!("CARGO_BIN_EXE_restorer")),
                args,
                vec![(
                    "RESTORER_TERMINATION_LOG".into(),
                    term.display().to_string(),
                )],
            )
            .await
            .ok();
            // The termination message carries the same counters as the printed summary.
            let msg: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(&term).expect("our restorer writes a termination message"),
            )
            .expect("termination message is JSON");
            let sum = r.summary();
            for (name, v) in [
                ("expired", sum.expired),
                ("skipped", sum.skipped),
                ("inserted", sum.inserted),
                ("existed", sum.existed),
                ("fresher", sum.fresher),
                ("records", sum.records),
            ] {
                assert_eq!(
                    msg[name].as_u64(),
                    Some(v),
                    "{name} in {msg} vs\n{}",
                    r.output
                );
            }
            assert_eq!(msg["ignored"].as_u64(), Some(0), "{msg}");
            r
        }
        Tool::Asrestore => {
            args.insert(0, "--no-config-file".into());
            if case.zstd {
                args.extend(["-z".into(), "zstd".into()]);
            }
            run(&env.asrestore, args, vec![]).await.ok()
        }
    }
}

/// What one restorer did with one case.
struct Outcome {
    /// First run into an empty target, second run, `--unique` run.
    summaries: [Summary; 3],
    /// The target after the first run.
    restored: Snapshot,
    took: [Duration; 3],
}

/// Restores `case` with `tool` into an emptied target three times and checks the first result
/// against the source; differences go to `problems`.
async fn restore_case(
    env: &Env,
    c: &Client,
    case: &Case,
    tool: Tool,
    dir: &Path,
    problems: &mut Vec<String>,
) -> Outcome {
    let label = format!("{} backup restored by {tool:?}", case.name);
    clear(c, DST, &sets(), &tag_filter()).await;
    drop_indexes(c, DST, &index_prefix(), |_| true).await;
    remove_udf(c, &names().udf).await;

    let first = restore(env, tool, case, &[], dir).await;
    let restored = case.read(c, DST).await;
    problems.extend(diff(&label, &case.want, &restored, TOLERANCE));
    if case.globals() {
        let (mut want, got) = (
            indexes(c, SRC, &index_prefix()).await,
            indexes(c, DST, &index_prefix()).await,
        );
        want.retain(|_, fields| {
            fields
                .get("set")
                .is_some_and(|set| case.set_list.as_ref().is_some_and(|l| l.contains(set)))
        });
        if want != got {
            problems.push(format!(
                "{label}: indexes in {DST} {got:#?}, want (as in {SRC}) {want:#?}"
            ));
        }
        match udf_content(c, &names().udf).await {
            Some(body) if body == UDF_BODY.as_bytes() => {}
            other => problems.push(format!(
                "{label}: UDF {} is {:?}, want the registered body",
                names().udf,
                other.map(|b| String::from_utf8_lossy(&b).into_owned())
            )),
        }
    }
    let second = restore(env, tool, case, &[], dir).await;
    let unique = restore(env, tool, case, &["--unique"], dir).await;

    // Order flags survived: appending to an ordered list inserts in order.
    for (d, snap) in case
        .want
        .iter()
        .filter(|(_, w)| w.bins.contains_key("olist"))
    {
        let k = Key::with_digest(DST, snap.set.clone(), None, *d);
        let got = c
            .operate(
                &WritePolicy::default(),
                &k,
                &[
                    lists::append(&ListPolicy::default(), "olist", Value::Int(0)),
                    operations::get_bin("olist"),
                ],
            )
            .await
            .unwrap_or_else(|e| panic!("{label}: append to olist: {e}"));
        let list = match got.bins.get("olist") {
            Some(Value::MultiResult(v)) => v.last().cloned(),
            other => other.cloned(),
        };
        let want = Value::List([0, 1, 3, 5].map(Value::Int).to_vec());
        if list.as_ref() != Some(&want) {
            problems.push(format!(
                "{label}: olist after appending 0 is {list:?}, want {want:?} (the list lost its ordered flag)"
            ));
        }
    }
    Outcome {
        summaries: [first.summary(), second.summary(), unique.summary()],
        restored,
        took: [first.took, second.took, unique.took],
    }
}

/// The counters a restore of `case` must print: first run, second run, `--unique` run.
fn expected_summaries(case: &Case) -> [Summary; 3] {
    let live = case.want.len() as u64;
    let regenerated = case.want.values().filter(|s| s.generation > 1).count() as u64;
    // asrestore counts every index line read in "secondary index(es)", unwanted ones too.
    let (mut indexes, mut wanted, mut unwanted_set_indexes) = (0, 0, 0);
    if let Some(list) = &case.set_list {
        for (_, set, ..) in index_specs() {
            indexes += 1;
            if list.iter().any(|s| s == set) {
                wanted += 1;
            } else {
                unwanted_set_indexes += 1;
            }
        }
    }
    let base = Summary {
        records: live + case.expired + case.skipped,
        expired: case.expired,
        skipped: case.skipped,
        unwanted_set_indexes,
        ..Summary::default()
    };
    [
        Summary {
            inserted: live,
            indexes,
            ..base
        },
        Summary {
            inserted: regenerated,
            fresher: live - regenerated,
            failed: live - regenerated,
            indexes,
            matched_indexes: wanted,
            ..base
        },
        Summary {
            existed: live,
            failed: live,
            indexes,
            matched_indexes: wanted,
            ..base
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real server (AEROSPIKE_HOSTS) and asbackup/asrestore on PATH; .ci/run runs it"]
async fn asbackup_files_restore_like_asrestore() {
    let started = Instant::now();
    let env = env();
    let c = roundtrip_support::client(&env.hosts).await;
    let dir = std::env::temp_dir().join(format!("rtrip-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");

    remove_stale(&c, &[SRC, DST], TAG_BIN).await;
    eprintln!("run id {}", names().id);
    write_values(&c).await;
    write_ttls(&c).await;
    write_indexed(&c).await;
    write_setless(&c).await;
    create_indexes(&c).await;
    register_udf(&c).await;
    let written = started.elapsed();

    // The short-TTL records go in last, right before the backups that must still see them.
    write_expiring(&c).await;
    let expiring_at = now_clepoch() + u64::from(EXPIRING_TTL);
    let sets_csv = sets().join(",");
    let backup = |out: &Path, extra: &[&str]| {
        let mut args: Vec<String> = vec![
            "--no-config-file".into(),
            "-h".into(),
            env.hosts.clone(),
            "-n".into(),
            SRC.into(),
            "-o".into(),
            out.display().to_string(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        run(&env.asbackup, args, vec![])
    };
    let (plain, zstd, setless) = (
        dir.join("plain.asb"),
        dir.join("zstd.asb"),
        dir.join("setless.asb"),
    );
    let b1 = backup(&plain, &["-s", &sets_csv]).await.ok();
    let b2 = backup(&zstd, &["-s", &sets_csv, "-z", "zstd"]).await.ok();
    assert!(
        now_clepoch() + 2 < expiring_at,
        "the backups took too long: the short-TTL records may have expired before they were \
         backed up ({:?} + {:?})",
        b1.took,
        b2.took
    );
    let filter = tag_filter().base64().expect("filter expression");
    let b3 = backup(&setless, &["-f", &filter, "-I", "-u"]).await.ok();
    eprintln!(
        "asbackup: plain {:?}, zstd {:?}, set-less {:?}",
        b1.took, b2.took, b3.took
    );
    let text = std::fs::read(&plain).expect("plain backup");
    let zbytes = std::fs::read(&zstd).expect("zstd backup");
    assert_eq!(
        &zbytes[..4],
        &[0x28, 0xb5, 0x2f, 0xfd],
        "-z zstd writes a zstd stream"
    );
    for shape in [
        "\n+ k I ",
        "\n+ k S ",
        "\n+ k B ",
        "\n- I ",
        "\n- D ",
        "\n- S ",
        "\n- B ",
        "\n- Z ",
        "\n- L ",
        "\n- M ",
        "\n- G ",
        "\n- Y ",
        "\n- J ",
        &format!("\n* i test {} ", names().idx),
        &format!("\n* u L {} ", names().udf),
    ] {
        assert!(
            text.windows(shape.len()).any(|w| w == shape.as_bytes()),
            "the plain backup has no {shape:?} line"
        );
    }

    // The UDF must come back from the backup; the short TTLs must pass before any restore.
    remove_udf(&c, &names().udf).await;
    while now_clepoch() <= expiring_at + 1 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let source = snapshot_sets(&c, SRC, &sets()).await;
    let source_setless = snapshot(&c, SRC, "", Some(tag_filter())).await;

    // What the source holds is what the test means to cover.
    let mut kinds = BTreeSet::new();
    for snap in source.values().chain(source_setless.values()) {
        kinds.extend(snap.bins.values().map(kind));
        kinds.insert(format!(
            "key {}",
            snap.key.as_ref().map_or("none".into(), kind)
        ));
        kinds.insert(format!(
            "set {}",
            if snap.set.is_empty() { "none" } else { "some" }
        ));
        kinds.insert(format!(
            "ttl {}",
            if snap.void_time == 0 { "never" } else { "some" }
        ));
        assert!(
            !snap.bins.contains_key("gone"),
            "the nil write did not delete the bin"
        );
    }
    eprintln!(
        "source: {} + {} records, kinds {kinds:?}",
        source.len(),
        source_setless.len()
    );
    for k in [
        "Int",
        "Float",
        "String",
        "Blob",
        "Bool",
        "List",
        "OrderedMap",
        "SortedMap",
        "GeoJson",
        "Hll",
        "key Int",
        "key String",
        "key Blob",
        "key none",
        "set none",
        "set some",
        "ttl never",
        "ttl some",
    ] {
        assert!(kinds.contains(k), "the source has no {k}: {kinds:?}");
    }
    assert!(
        source
            .values()
            .all(|r| r.set != names().ttls || r.bins.get("kind").is_none_or(|k| *k != s("short"))),
        "short-TTL records still readable after their TTL"
    );

    let cases = [
        Case {
            name: "plain",
            file: plain.clone(),
            zstd: false,
            set_list: Some(sets()),
            want: source.clone(),
            expired: EXPIRING as u64,
            skipped: 0,
        },
        Case {
            name: "zstd",
            file: zstd,
            zstd: true,
            set_list: Some(sets()),
            want: source.clone(),
            expired: EXPIRING as u64,
            skipped: 0,
        },
        // `-s` without the index set: its records are skipped, its indexes unwanted.
        Case {
            name: "plain, -s without the index set,",
            file: plain,
            zstd: false,
            set_list: Some(vec![names().vals.clone(), names().ttls.clone()]),
            want: source
                .iter()
                .filter(|(_, r)| r.set != names().idx)
                .map(|(d, r)| (*d, r.clone()))
                .collect(),
            expired: EXPIRING as u64,
            skipped: source.values().filter(|r| r.set == names().idx).count() as u64,
        },
        Case {
            name: "set-less",
            file: setless,
            zstd: false,
            set_list: None,
            want: source_setless,
            expired: 0,
            skipped: 0,
        },
    ];
    let mut problems = Vec::new();
    let mut timings = Vec::new();
    let restores_started = Instant::now();
    for case in &cases {
        let ours = restore_case(&env, &c, case, Tool::Ours, &dir, &mut problems).await;
        let theirs = restore_case(&env, &c, case, Tool::Asrestore, &dir, &mut problems).await;
        let expected = expected_summaries(case);
        for (i, run) in ["first", "second", "--unique"].iter().enumerate() {
            let (o, t) = (ours.summaries[i], theirs.summaries[i]);
            // The UDF count depends on what else is on the server: compared between the tools.
            let mut e = expected[i];
            e.udfs = t.udfs;
            if o != t {
                problems.push(format!(
                    "{} backup, {run} run: our counters {o:?}\n  asrestore's {t:?}",
                    case.name
                ));
            }
            if t != e {
                problems.push(format!(
                    "{} backup, {run} run: asrestore's counters {t:?}\n  expected {e:?}",
                    case.name
                ));
            }
            timings.push(format!(
                "{} {run}: ours {:?}, asrestore {:?}; {o:?}",
                case.name, ours.took[i], theirs.took[i]
            ));
        }
        if case.globals() {
            assert!(ours.summaries[0].udfs >= 1, "{:?}", ours.summaries[0]);
        }
        problems.extend(diff(
            &format!("{} backup: ours (want) vs asrestore (got)", case.name),
            &ours.restored,
            &theirs.restored,
            TOLERANCE,
        ));
    }
    let restores = restores_started.elapsed();
    cleanup(&c).await;
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("runs:\n  {}", timings.join("\n  "));
    eprintln!(
        "set-up and writes {written:?}, 4 cases x 2 restorers x 3 runs with checks {restores:?}, \
         total {:?}",
        started.elapsed()
    );
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The checks of the round trip can fail: the summary parser reads both restorers' lines, and
/// the record comparison sees every kind of difference it is meant to catch.
mod checks {
    use super::*;
    use roundtrip_support::{Snap, is_stale, same_value};

    #[test]
    fn summaries_of_both_restorers_parse() {
        let asrestore = "2026-12-02 18:17:05 GMT [INF] [16026] 1 UDF file(s), 8 secondary index(es), \
                         13 record(s) (166 rec/s, 144 KiB/s, 886 B/rec, retries: 0)\n\
                         2026-12-02 18:17:05 GMT [INF] [16026] Expired 2 : skipped 1 : err_ignored 0 : \
                         inserted 4: failed 6 (existed 5 , fresher 1)\n\
                         2026-12-02 18:17:05 GMT [INF] [16026] Skipped 3 index(es) with unwanted set(s)\n\
                         2026-12-02 18:17:05 GMT [INF] [16026] Skipped 7 matched index(es)\n";
        let ours = "2026-12-02T18:17:05Z  INFO restorer: 1 UDF file(s), 8 secondary index(es), 13 \
                    record(s) (10 rec/s, 1 KiB/s, 886 B/rec, retries: 0)\n\
                    2026-12-02T18:17:05Z  INFO restorer: Expired 2 : skipped 1 : inserted 4 : failed 6 \
                    (existed 5, fresher 1)\n\
                    2026-12-02T18:17:05Z  INFO restorer: Skipped 3 index(es) with unwanted set(s)\n\
                    2026-12-02T18:17:05Z  INFO restorer: Skipped 7 matched index(es)\n";
        let want = Summary {
            udfs: 1,
            indexes: 8,
            records: 13,
            expired: 2,
            skipped: 1,
            inserted: 4,
            failed: 6,
            existed: 5,
            fresher: 1,
            unwanted_set_indexes: 3,
            matched_indexes: 7,
            mismatched_indexes: 0,
        };
        assert_eq!(Summary::parse(asrestore), Some(want));
        assert_eq!(Summary::parse(ours), Some(want));
        let mismatched = format!("{ours}x ERROR Skipped 2 mismatched index(es)\n");
        assert_eq!(
            Summary::parse(&mismatched).map(|s| (s.matched_indexes, s.mismatched_indexes)),
            Some((7, 2))
        );
        assert_eq!(Summary::parse("no summary here"), None);
    }

    #[test]
    fn only_old_runs_are_stale() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let id = run_id();
        assert!(id.starts_with("rtrip_") && id.len() == 6 + 13, "{id}");
        assert!(!is_stale(&id) && !is_stale(&format!("{id}_vals")));
        assert!(!is_stale(&format!("rtrip_{:08x}00001_idx", now - 60)));
        assert!(is_stale(&format!("rtrip_{:08x}00001_idx", now - 3600)));
        assert!(is_stale(&format!("rtrip_{:08x}00001.lua", now - 3600)));
        for legacy in ["rtrip_vals", "rtrip_i_num", "rtrip_udf.lua", "rtrip-noset"] {
            assert!(is_stale(legacy), "{legacy}");
        }
        for other in ["idx0x5118", "example.lua", "rtripx_1", ""] {
            assert!(!is_stale(other), "{other}");
        }
    }

    #[test]
    fn values_compare_strictly() {
        let sorted = Value::SortedMap(BTreeMap::from([(s("a"), Value::Int(1))]));
        let unordered = Value::HashMap(HashMap::from([(s("a"), Value::Int(1))]));
        let ordered = Value::OrderedMap(IndexMap::from_iter([(s("a"), Value::Int(1))]));
        // `Value`'s own `==` ignores the map kind; the round trip must not.
        assert_eq!(sorted, unordered);
        assert!(!same_value(&sorted, &unordered));
        assert!(same_value(&unordered, &ordered));
        let nested = |m: Value| Value::List(vec![Value::Int(1), m]);
        assert!(!same_value(
            &nested(sorted.clone()),
            &nested(ordered.clone())
        ));
        assert!(same_value(&nested(sorted.clone()), &nested(sorted)));
        assert!(!same_value(&f(0.0), &f(-0.0)));
        assert!(same_value(&f(f64::NAN), &f(f64::NAN)));
        assert!(!same_value(&Value::Int(1), &f(1.0)));
        assert!(!same_value(&s("x"), &Value::GeoJson("x".into())));
        assert!(!same_value(&Value::Blob(vec![1]), &Value::Hll(vec![1])));
        assert!(!same_value(
            &Value::Blob(vec![1]),
            &Value::Unknown(7, vec![1])
        ));
        assert!(!same_value(
            &Value::List(vec![Value::Int(1), Value::Int(2)]),
            &Value::List(vec![Value::Int(2), Value::Int(1)])
        ));
    }

    #[test]
    fn record_differences_are_reported() {
        let rec = |key: Option<Value>, bins: &[(&str, Value)], void_time: u32| Snap {
            set: "rtrip_vals".into(),
            key,
            bins: bins
                .iter()
                .map(|(n, v)| (n.to_string(), v.clone()))
                .collect(),
            void_time,
            generation: 1,
        };
        let want: Snapshot = [
            (
                [1; 20],
                rec(Some(Value::Int(1)), &[("a", Value::Int(1))], 0),
            ),
            ([2; 20], rec(None, &[("a", Value::Int(2))], 1000)),
        ]
        .into();
        assert!(diff("same", &want, &want.clone(), TOLERANCE).is_empty());
        let mut close = want.clone();
        close.get_mut(&[2; 20]).unwrap().void_time = 1000 + TOLERANCE;
        close.get_mut(&[1; 20]).unwrap().generation = 9;
        assert!(diff("close", &want, &close, TOLERANCE).is_empty());

        type Change = fn(&mut Snapshot);
        let changes: [(&str, Change); 8] = [
            ("missing", |s| {
                s.remove(&[1; 20]);
            }),
            ("extra record", |s| {
                let r = s[&[1; 20]].clone();
                s.insert([3; 20], r);
            }),
            ("set", |s| s.get_mut(&[1; 20]).unwrap().set = "other".into()),
            ("stored key", |s| {
                s.get_mut(&[2; 20]).unwrap().key = Some(Value::Int(2))
            }),
            ("bin", |s| {
                s.get_mut(&[1; 20]).unwrap().bins.insert("a".into(), f(1.0));
            }),
            ("extra bin", |s| {
                s.get_mut(&[1; 20])
                    .unwrap()
                    .bins
                    .insert("b".into(), Value::Nil);
            }),
            ("void time", |s| {
                s.get_mut(&[2; 20]).unwrap().void_time = 1000 + TOLERANCE + 1
            }),
            ("void time", |s| s.get_mut(&[1; 20]).unwrap().void_time = 5),
        ];
        for (what, change) in changes {
            let mut got = want.clone();
            change(&mut got);
            let found = diff("t", &want, &got, TOLERANCE);
            assert_eq!(found.len(), 1, "{what}: {found:?}");
            assert!(found[0].contains(what), "{what}: {found:?}");
        }
    }
}
