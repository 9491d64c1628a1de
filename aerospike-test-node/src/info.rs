//! The info protocol: newline-separated commands, answered as `name\tvalue\n` lines.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::{BufMut, BytesMut};

use crate::cluster::Shared;
use crate::meta::param;
use crate::proto::{TYPE_INFO, begin_proto, end_proto};
use crate::store::lock;

/// Features the node advertises.
const FEATURES: &str = "batch-any;batch-index;blob-bits;cdt-list;cdt-map;cluster-stable;float;\
geo;sindex-exists;peers;pipelining;pquery;pscans;query-show;relaxed-sc;replicas;replicas-all;\
replicas-master;replicas-max;truncate-namespace;udf";

/// Answers an info request whose body is `body`.
pub(crate) fn handle(shared: &Shared, node: usize, body: &[u8], out: &mut BytesMut) {
    let text = String::from_utf8_lossy(body);
    let at = begin_proto(out);
    for cmd in text.split('\n').filter(|c| !c.is_empty()) {
        let value = answer(shared, node, cmd);
        out.put_slice(cmd.as_bytes());
        out.put_u8(b'\t');
        out.put_slice(value.as_bytes());
        out.put_u8(b'\n');
    }
    end_proto(out, at, TYPE_INFO);
}

fn answer(shared: &Shared, node: usize, cmd: &str) -> String {
    let (name, params) = cmd.split_once(':').unwrap_or((cmd, ""));
    let me = &shared.nodes[node];
    match name {
        "node" => me.name.clone(),
        "cluster-name" => shared.cfg.cluster_name.clone(),
        "build" => shared.cfg.build.clone(),
        "version" => format!("{} build {}", edition(shared), shared.cfg.build),
        "edition" => edition(shared).into(),
        "features" => FEATURES.into(),
        "partition-generation" | "peers-generation" | "rebalance-generation" => {
            lock(&shared.membership).generation.to_string()
        }
        "peers-clear-std" | "peers-clear-alt" => peers(shared, node),
        "peers-tls-std" | "peers-tls-alt" | "alumni-clear-std" | "alumni-tls-std" => {
            format!("{},{},[]", lock(&shared.membership).generation, me.port)
        }
        "service" | "service-clear-std" | "service-clear-alt" => format!("127.0.0.1:{}", me.port),
        "service-tls-std" | "service-tls-alt" => String::new(),
        "replicas" | "replicas-all" => replicas(shared, node),
        "rack-ids" => shared
            .cfg
            .namespaces
            .iter()
            .map(|n| format!("{n}:0"))
            .collect::<Vec<_>>()
            .join(";"),
        "namespaces" => shared.cfg.namespaces.join(";"),
        "user-agent-set" => "ok".into(),
        "statistics" => format!(
            "cluster_size={};objects={}",
            lock(&shared.membership).live_nodes().len(),
            shared
                .store
                .namespaces()
                .iter()
                .map(|ns| count(ns, None))
                .sum::<usize>()
        ),
        "get-config" => get_config(shared, params),
        "sindex-create" => lock(&shared.meta).sindex_create(params, &shared.cfg.namespaces),
        "sindex-delete" => lock(&shared.meta).sindex_delete(params),
        "sindex-list" => lock(&shared.meta).sindex_list(params),
        "sindex-exists" => lock(&shared.meta).sindex_exists(params),
        "sindex-stat" => lock(&shared.meta).sindex_stat(params),
        "udf-put" => lock(&shared.meta).udf_put(params),
        "udf-list" => lock(&shared.meta).udf_list(),
        "udf-get" => lock(&shared.meta).udf_get(params),
        "udf-remove" => lock(&shared.meta).udf_remove(params),
        "truncate" | "truncate-namespace" => truncate(shared, params),
        _ => slash_command(shared, cmd),
    }
}

/// The edition a client sees: Enterprise when compressed requests are accepted (Community
/// Edition refuses them with 25).
fn edition(shared: &Shared) -> &'static str {
    if shared.cfg.compression {
        "Aerospike Enterprise Edition"
    } else {
        "Aerospike Community Edition"
    }
}

/// Old-style `a/b/c` commands: `namespace/<ns>`, `sets/<ns>`, `sindex/<ns>/<name>`.
fn slash_command(shared: &Shared, cmd: &str) -> String {
    let parts: Vec<&str> = cmd.split('/').collect();
    match parts.as_slice() {
        ["namespace", ns] => match shared.store.namespace(ns.as_bytes()) {
            Some(n) => format!(
                "objects={};replication-factor={};default-ttl={};nsup-period=120;\
                 storage-engine=memory;max-record-size={}",
                count(n, None),
                lock(&shared.membership).live_nodes().len().clamp(1, 2),
                shared.cfg.default_ttl,
                shared.cfg.write_block_size
            ),
            None => "type=unknown".into(),
        },
        ["sindex", ns, name] => {
            lock(&shared.meta).sindex_stat(&format!("ns={ns};indexname={name}"))
        }
        ["sets", ns] | ["sets", ns, _] => sets(shared, ns),
        ["sets"] => shared
            .cfg
            .namespaces
            .iter()
            .map(|ns| sets(shared, ns))
            .collect(),
        _ => "ERROR:4:unrecognized command".into(),
    }
}

fn count(ns: &crate::store::Namespace, set: Option<&[u8]>) -> usize {
    let mut n = 0;
    ns.for_each(|_, r| {
        if set.is_none() || r.set.as_deref() == set {
            n += 1;
        }
    });
    n
}

fn sets(shared: &Shared, ns: &str) -> String {
    let Some(n) = shared.store.namespace(ns.as_bytes()) else {
        return String::new();
    };
    let mut counts: std::collections::BTreeMap<Vec<u8>, usize> = Default::default();
    n.for_each(|_, r| {
        if let Some(s) = &r.set {
            *counts.entry(s.to_vec()).or_default() += 1;
        }
    });
    let mut out = String::new();
    for (set, c) in counts {
        let _ = write!(
            out,
            "ns={ns}:set={}:objects={c}:tombstones=0:truncate_lut=0:disable-eviction=false;",
            String::from_utf8_lossy(&set)
        );
    }
    out
}

fn truncate(shared: &Shared, params: &str) -> String {
    let ns = param(params, "namespace").or_else(|| param(params, "ns"));
    match ns.and_then(|n| shared.store.namespace(n.as_bytes())) {
        Some(n) => {
            n.truncate(param(params, "set").map(str::as_bytes));
            "ok".into()
        }
        None => "ERROR::namespace not found".into(),
    }
}

fn get_config(shared: &Shared, params: &str) -> String {
    match param(params, "context") {
        Some("service") => format!(
            "batch-index-threads={};batch-max-buffers-per-queue=255;batch-max-requests=5000;\
             batch-max-unused-buffers=256;cluster-name={};proto-fd-max=15000;\
             service-threads=2;transaction-queues=2",
            if shared.cfg.batch_writes { 2 } else { 0 },
            shared.cfg.cluster_name
        ),
        Some("namespace") => {
            let ns = param(params, "id").or_else(|| param(params, "namespace"));
            match ns.filter(|n| shared.cfg.namespaces.iter().any(|x| x == n)) {
                Some(_) => format!(
                    "default-ttl={};max-record-size={};nsup-period=120;\
                     replication-factor=2;storage-engine=memory",
                    shared.cfg.default_ttl, shared.cfg.write_block_size
                ),
                None => "ERROR::namespace not found".into(),
            }
        }
        _ => String::new(),
    }
}

/// `gen,port,[[name,,[host:port]],...]` of the other live nodes.
fn peers(shared: &Shared, node: usize) -> String {
    let m = lock(&shared.membership);
    let list = m
        .live_nodes()
        .into_iter()
        .filter(|&i| i != node)
        .map(|i| {
            let n = &shared.nodes[i];
            format!("[{},,[127.0.0.1:{}]]", n.name, n.port)
        })
        .collect::<Vec<_>>()
        .join(",");
    format!("{},{},[{}]", m.generation, shared.nodes[node].port, list)
}

/// `ns:regime,replicas,<master bitmap>,<prole bitmap>;...` with base64 bitmaps of 4096 bits.
fn replicas(shared: &Shared, node: usize) -> String {
    let (n, maps) = shared.partition_bitmaps(node);
    let encoded: Vec<String> = maps.iter().map(|m| BASE64.encode(m)).collect();
    shared
        .cfg
        .namespaces
        .iter()
        .map(|ns| format!("{ns}:0,{n},{}", encoded.join(",")))
        .collect::<Vec<_>>()
        .join(";")
}
