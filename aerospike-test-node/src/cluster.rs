//! The cluster: shared state, node lifecycle (start, stop, restart) and the partition map.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::config::ClusterConfig;
use crate::exec::Limits;
use crate::faults::Faults;
use crate::meta::Meta;
use crate::server::serve_conn;
use crate::store::{PARTITIONS, Store, StoredBin, StoredKey, lock};

/// One node's identity and counters.
pub(crate) struct NodeSlot {
    pub name: String,
    pub port: u16,
    pub requests: AtomicU64,
    /// Connection tasks that ended in a panic (a bug: input must never panic the node).
    pub panics: AtomicU64,
    runtime: Mutex<Option<Runtime>>,
}

struct Runtime {
    shutdown: watch::Sender<bool>,
    accept: JoinHandle<()>,
}

/// Which nodes are up, and the generation that changes whenever that set changes.
pub(crate) struct Membership {
    pub live: Vec<bool>,
    pub generation: u64,
}

impl Membership {
    /// Indexes of the live nodes, in order.
    pub fn live_nodes(&self) -> Vec<usize> {
        (0..self.live.len()).filter(|&i| self.live[i]).collect()
    }
}

/// State shared by every node of a cluster.
pub(crate) struct Shared {
    pub cfg: ClusterConfig,
    pub limits: Limits,
    pub store: Store,
    pub faults: Faults,
    pub meta: Mutex<Meta>,
    pub membership: Mutex<Membership>,
    pub nodes: Vec<NodeSlot>,
}

impl Shared {
    /// Bitmaps (master, prole) of the partitions `node` holds, and the replica count.
    pub fn partition_bitmaps(&self, node: usize) -> (usize, Vec<Vec<u8>>) {
        let live = lock(&self.membership).live_nodes();
        let replicas = live.len().clamp(1, 2);
        let mut maps = vec![vec![0u8; PARTITIONS / 8]; replicas];
        if live.is_empty() {
            return (replicas, maps);
        }
        for p in 0..PARTITIONS {
            for (r, map) in maps.iter_mut().enumerate() {
                if live[(p + r) % live.len()] == node {
                    map[p >> 3] |= 0x80 >> (p & 7);
                }
            }
        }
        (replicas, maps)
    }
}

/// A record as seen through [`TestCluster::record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Namespace.
    pub namespace: String,
    /// Digest.
    pub digest: [u8; 20],
    /// Set name, if any.
    pub set: Option<String>,
    /// User key stored with the record.
    pub key: Option<StoredKey>,
    /// Generation.
    pub generation: u16,
    /// Void time (seconds since 2010-01-01 UTC); 0 = never expires.
    pub void_time: u32,
    /// Bins in write order.
    pub bins: Vec<StoredBin>,
}

impl StoredRecord {
    /// Remaining time to live in seconds; `None` when the record never expires.
    pub fn ttl(&self) -> Option<u32> {
        (self.void_time != 0).then(|| self.void_time.saturating_sub(crate::store::now_clepoch()))
    }

    /// The bin named `name`.
    pub fn bin(&self, name: &str) -> Option<&StoredBin> {
        self.bins
            .iter()
            .find(|b| b.name.as_ref() == name.as_bytes())
    }
}

/// A secondary index as registered with `sindex-create`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexInfo {
    /// Namespace.
    pub namespace: String,
    /// Set, if the index is limited to one.
    pub set: Option<String>,
    /// Index name.
    pub name: String,
    /// Bin name (empty for expression indexes).
    pub bin: String,
    /// Value type: `numeric`, `string`, `geo2dsphere`, `blob`...
    pub index_type: String,
    /// Collection type: `default`, `list`, `mapkeys`, `mapvalues`.
    pub collection: String,
    /// CDT context, base64, as sent.
    pub context: Option<String>,
    /// Expression, base64, as sent.
    pub expression: Option<String>,
}

/// A UDF module as registered with `udf-put`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdfInfo {
    /// File name, e.g. `mod.lua`.
    pub name: String,
    /// Language (`LUA`).
    pub language: String,
    /// Decoded content.
    pub content: Vec<u8>,
}

/// An in-process Aerospike cluster of 1..N nodes on 127.0.0.1.
///
/// Dropping it stops every node.
pub struct TestCluster {
    shared: Arc<Shared>,
}

impl TestCluster {
    /// Starts the nodes; returns once every node is listening.
    pub async fn start(cfg: ClusterConfig) -> io::Result<TestCluster> {
        if cfg.nodes == 0 || cfg.nodes > 64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("nodes must be 1..=64, got {}", cfg.nodes),
            ));
        }
        if cfg.namespaces.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "at least one namespace is needed",
            ));
        }
        let mut listeners = Vec::with_capacity(cfg.nodes);
        for i in 0..cfg.nodes {
            let port = if cfg.base_port == 0 {
                0
            } else {
                cfg.base_port.checked_add(i as u16).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidInput, "port out of range")
                })?
            };
            listeners.push(TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?);
        }
        let nodes = listeners
            .iter()
            .enumerate()
            .map(|(i, l)| {
                Ok(NodeSlot {
                    name: format!("BB9{:013X}", 0x0A00_0000_0001u64 + i as u64),
                    port: l.local_addr()?.port(),
                    requests: AtomicU64::new(0),
                    panics: AtomicU64::new(0),
                    runtime: Mutex::new(None),
                })
            })
            .collect::<io::Result<Vec<_>>>()?;
        let shared = Arc::new(Shared {
            limits: Limits {
                write_block_size: cfg.write_block_size,
                default_ttl: cfg.default_ttl,
                store_bins: cfg.store_bins,
            },
            store: Store::new(&cfg.namespaces),
            faults: Faults::default(),
            meta: Mutex::new(Meta::default()),
            membership: Mutex::new(Membership {
                live: vec![true; cfg.nodes],
                generation: 1,
            }),
            nodes,
            cfg,
        });
        for (i, l) in listeners.into_iter().enumerate() {
            spawn_node(&shared, i, l);
        }
        Ok(TestCluster { shared })
    }

    /// Seed list `"127.0.0.1:p1,127.0.0.1:p2"` of every node.
    pub fn seeds(&self) -> String {
        self.shared
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Fault injection.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Number of nodes (running or stopped).
    pub fn node_count(&self) -> usize {
        self.shared.nodes.len()
    }

    /// Port of node `i`.
    pub fn node_port(&self, i: usize) -> u16 {
        self.shared.nodes[i].port
    }

    /// Node id of node `i` (what the `node` info command answers).
    pub fn node_name(&self, i: usize) -> &str {
        &self.shared.nodes[i].name
    }

    /// Data requests (single-record commands and batch requests) node `i` has received.
    pub fn node_requests(&self, i: usize) -> u64 {
        self.shared.nodes[i].requests.load(Ordering::SeqCst)
    }

    /// Connection tasks of node `i` that panicked; always 0 unless the node has a bug.
    pub fn connection_panics(&self, i: usize) -> u64 {
        self.shared.nodes[i].panics.load(Ordering::SeqCst)
    }

    /// Current partition-map generation (changes when a node stops or restarts).
    pub fn partition_generation(&self) -> u64 {
        lock(&self.shared.membership).generation
    }

    /// Live records in `namespace`, of one set when `set` is given (`Some("")` = no set).
    pub fn record_count(&self, namespace: &str, set: Option<&str>) -> usize {
        let Some(ns) = self.shared.store.namespace(namespace.as_bytes()) else {
            return 0;
        };
        let mut n = 0;
        ns.for_each(|_, r| {
            let matches = match set {
                None => true,
                Some("") => r.set.is_none(),
                Some(s) => r.set.as_deref() == Some(s.as_bytes()),
            };
            if matches {
                n += 1;
            }
        });
        n
    }

    /// One record by digest, if it exists and has not expired.
    pub fn record(&self, namespace: &str, digest: &[u8; 20]) -> Option<StoredRecord> {
        let ns = self.shared.store.namespace(namespace.as_bytes())?;
        let map = ns.lock(digest);
        let r = map.get(digest)?;
        if r.expired(crate::store::now_clepoch()) {
            return None;
        }
        Some(StoredRecord {
            namespace: namespace.to_string(),
            digest: *digest,
            set: r
                .set
                .as_ref()
                .map(|s| String::from_utf8_lossy(s).into_owned()),
            key: r.key.clone(),
            generation: r.generation,
            void_time: r.void_time,
            bins: r.bins.clone(),
        })
    }

    /// Every live record of `namespace` (for small test data sets).
    pub fn records(&self, namespace: &str) -> Vec<StoredRecord> {
        let mut digests = Vec::new();
        if let Some(ns) = self.shared.store.namespace(namespace.as_bytes()) {
            ns.for_each(|d, _| digests.push(*d));
        }
        digests
            .iter()
            .filter_map(|d| self.record(namespace, d))
            .collect()
    }

    /// Removes every record of `namespace` (of one set when `set` is given).
    pub fn truncate(&self, namespace: &str, set: Option<&str>) {
        if let Some(ns) = self.shared.store.namespace(namespace.as_bytes()) {
            ns.truncate(set.map(str::as_bytes));
        }
    }

    /// Secondary indexes currently defined.
    pub fn indexes(&self) -> Vec<IndexInfo> {
        lock(&self.shared.meta).indexes.clone()
    }

    /// UDF modules currently registered.
    pub fn udfs(&self) -> Vec<UdfInfo> {
        lock(&self.shared.meta).udfs.clone()
    }

    /// Stops node `i`: closes its listener and every connection to it, and moves its
    /// partitions to the other nodes (the partition generation changes).
    pub async fn stop_node(&self, i: usize) {
        let rt = lock(&self.shared.nodes[i].runtime).take();
        if let Some(rt) = rt {
            let _ = rt.shutdown.send(true);
            let _ = rt.accept.await;
            let mut m = lock(&self.shared.membership);
            m.live[i] = false;
            m.generation += 1;
        }
    }

    /// Brings node `i` back on the same port and name.
    pub async fn restart_node(&self, i: usize) -> io::Result<()> {
        if lock(&self.shared.nodes[i].runtime).is_some() {
            return Ok(());
        }
        let port = self.shared.nodes[i].port;
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
        {
            let mut m = lock(&self.shared.membership);
            m.live[i] = true;
            m.generation += 1;
        }
        spawn_node(&self.shared, i, listener);
        Ok(())
    }

    /// Whether node `i` is running.
    pub fn node_running(&self, i: usize) -> bool {
        lock(&self.shared.nodes[i].runtime).is_some()
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        for n in &self.shared.nodes {
            if let Some(rt) = lock(&n.runtime).take() {
                let _ = rt.shutdown.send(true);
                rt.accept.abort();
            }
        }
    }
}

fn spawn_node(shared: &Arc<Shared>, i: usize, listener: TcpListener) {
    let (tx, rx) = watch::channel(false);
    let accept = tokio::spawn(accept_loop(shared.clone(), i, listener, rx));
    *lock(&shared.nodes[i].runtime) = Some(Runtime {
        shutdown: tx,
        accept,
    });
}

/// Accepts connections until shutdown; dropping the task set closes every connection.
async fn accept_loop(
    shared: Arc<Shared>,
    node: usize,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            r = listener.accept() => {
                if let Ok((stream, _)) = r {
                    conns.spawn(serve_conn(shared.clone(), node, stream));
                }
            }
            _ = shutdown.changed() => break,
            Some(done) = conns.join_next(), if !conns.is_empty() => {
                if done.is_err_and(|e| e.is_panic()) {
                    shared.nodes[node].panics.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}
