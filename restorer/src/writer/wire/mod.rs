//! The restorer's own batch-write path: batch-index write requests encoded straight from the
//! parsed records, sent over plain TCP connections to each partition's master node, answered
//! with per-row result codes only.
//!
//! The `aerospike` client still connects (seeds, peers, services), tends the cluster and runs
//! every info command, index and UDF; this path asks each node it knows for its `replicas`
//! and rebuilds its partition map when the client's view of a node's partition generation
//! changes, when a node fails, or when a row answers "partition unavailable". With TLS or
//! authentication the writer uses the client's own batch API instead (see `Writer::new`).
//!
//! Rows are sent without `RESPOND_ALL_OPS`, so the server answers a write with its result
//! code alone (no echoed bin names), and the reply is read without building records.
//!
//! Pressure on the server: one connection per batch in flight and node, so `--batch-size`
//! and `--max-async-batches` keep asrestore's meaning and defaults (128, 32). On the rig's
//! CE 8.1.2 server sharing two cores with the restorer (mixed shape, `benches/vs_asrestore.sh`,
//! medians of 5 interleaved rounds, other builds loading the machine), 128x32 and 512x8 were
//! fastest (109k and 112k records/s); 256-row batches with 4 to 16 in flight and 512x4 came
//! within 10%; 128-row batches with 16 or fewer in flight were about 15% slower. Batches not
//! run inline on the service thread cost the server more CPU per record.

pub mod conn;
pub mod encode;
pub mod partitions;
pub mod proto;
pub mod reply;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use aerospike::Client;
use aerospike::Node;
use aerospike::policy::AdminPolicy;

use super::outcome::{CallOutcome, classify_call_code};
use crate::transform::WriteRecord;
use conn::{ExchangeError, Pool};
use encode::{BatchSettings, EncodeError, RowPolicy, encode_batch};
use partitions::PartitionMap;

/// Result code of a row whose partition has no master right now.
const PARTITION_UNAVAILABLE: u8 = 11;

/// Settings of the wire path.
#[derive(Debug, Clone, Copy)]
pub struct WireOptions {
    /// Client-side limit of one request-reply exchange (`None` = no limit).
    pub timeout: Option<Duration>,
    /// Server-side timeout sent with each request, in ms.
    pub server_timeout_ms: u32,
    /// Let the server run batches on its receiving thread.
    pub allow_inline: bool,
    /// Idle connections kept per node.
    pub max_idle_per_node: usize,
}

/// A node-level failure of one attempt: the node could not be reached, did not answer in
/// time, answered garbage, or ended the batch with an error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFailure {
    /// What it means for the rows the node did not answer.
    pub outcome: CallOutcome,
    /// The batch's result code, or -1 for a failure on the client's side of the wire.
    pub code: i32,
    /// What happened.
    pub message: String,
    /// Index (into the caller's records) of the first row sent to that node.
    pub first: u32,
    /// The request was sent but its outcome is unknown (a timeout, or the connection was
    /// lost while waiting for the answer): the rows left without a code are "in doubt".
    pub in_doubt: bool,
}

fn severity(o: CallOutcome) -> u8 {
    match o {
        CallOutcome::PerRecord => 0,
        CallOutcome::Retry => 1,
        CallOutcome::Fatal => 2,
    }
}

struct ViewNode {
    name: String,
    pool: Arc<Pool>,
}

/// The nodes and partition map one batch is routed with.
struct View {
    nodes: Vec<ViewNode>,
    /// Each client node's name and partition generation when the view was built.
    stamps: Vec<(String, isize)>,
    map: PartitionMap,
}

impl View {
    /// Whether the client still sees the same nodes at the same partition generations.
    fn matches(&self, nodes: &[Arc<Node>]) -> bool {
        nodes.len() == self.stamps.len()
            && nodes.iter().all(|n| {
                self.stamps.iter().any(|(name, generation)| {
                    name == n.name() && *generation == n.partition_generation()
                })
            })
    }
}

/// The node each pending row goes to: its partition's master. Rows of an unknown namespace
/// or of a partition without a master go to the first node, whose answer (proxying,
/// "partition unavailable", "namespace not found") decides.
fn route(view: &View, records: &[WriteRecord], pending: &[u32]) -> Vec<u16> {
    let mut last: Option<(&str, Option<partitions::Masters<'_>>)> = None;
    pending
        .iter()
        .map(|&r| {
            let w = &records[r as usize];
            let masters = match last {
                Some((ns, m)) if ns == &*w.namespace => m,
                _ => {
                    let m = view.map.namespace(&w.namespace);
                    last = Some((&w.namespace, m));
                    m
                }
            };
            masters
                .and_then(|m| m.master(proto::partition_id(&w.record.digest)))
                .unwrap_or(0)
        })
        .collect()
}

/// The batch-write path over the cluster a [`Client`] tends.
pub struct Wire {
    client: Client,
    opts: WireOptions,
    view: RwLock<Option<Arc<View>>>,
    /// Set when the map may be wrong (a node failed, a partition was unavailable).
    stale: AtomicBool,
    refresh: tokio::sync::Mutex<()>,
    /// Pools by node name, kept across map rebuilds.
    pools: Mutex<HashMap<String, Arc<Pool>>>,
}

impl std::fmt::Debug for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wire")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl Wire {
    /// A wire path over `client`'s cluster; the partition map is fetched at the first write.
    pub fn new(client: Client, opts: WireOptions) -> Self {
        Wire {
            client,
            opts,
            view: RwLock::new(None),
            stale: AtomicBool::new(false),
            refresh: tokio::sync::Mutex::new(()),
            pools: Mutex::new(HashMap::new()),
        }
    }

    fn current(&self, nodes: &[Arc<Node>]) -> Option<Arc<View>> {
        if self.stale.load(Ordering::Acquire) {
            return None;
        }
        let v = self.view.read().unwrap_or_else(|p| p.into_inner());
        v.as_ref().filter(|v| v.matches(nodes)).cloned()
    }

    async fn view(&self) -> Result<Arc<View>, String> {
        if let Some(v) = self.current(&self.client.nodes()) {
            return Ok(v);
        }
        let _one = self.refresh.lock().await;
        let nodes = self.client.nodes();
        if let Some(v) = self.current(&nodes) {
            return Ok(v);
        }
        self.stale.store(false, Ordering::Release);
        let v = Arc::new(self.build(&nodes).await?);
        *self.view.write().unwrap_or_else(|p| p.into_inner()) = Some(v.clone());
        Ok(v)
    }

    async fn build(&self, nodes: &[Arc<Node>]) -> Result<View, String> {
        let stamps = nodes
            .iter()
            .map(|n| (n.name().to_string(), n.partition_generation()))
            .collect();
        let policy = AdminPolicy::default();
        let mut map = PartitionMap::default();
        let mut view_nodes = Vec::with_capacity(nodes.len());
        let mut last_error = String::from("the client knows no node");
        for n in nodes.iter().filter(|n| n.is_active()) {
            let replicas = match n.info(&policy, &["replicas"]).await {
                Ok(info) => info.get("replicas").cloned().unwrap_or_default(),
                Err(e) => {
                    last_error = format!("node {}: replicas: {e}", n.name());
                    tracing::debug!("{last_error}");
                    continue;
                }
            };
            let index = view_nodes.len() as u16;
            if let Err(e) = map.add_node(index, &replicas) {
                last_error = format!("node {}: {e}", n.name());
                tracing::warn!("{last_error}");
                continue;
            }
            let host = n.host();
            let pool = self
                .pools
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(n.name().to_string())
                .or_insert_with(|| {
                    Arc::new(Pool::new(
                        host.name.clone(),
                        host.port,
                        self.opts.max_idle_per_node,
                    ))
                })
                .clone();
            view_nodes.push(ViewNode {
                name: n.name().to_string(),
                pool,
            });
        }
        if view_nodes.is_empty() {
            return Err(format!("no node gave its partition map ({last_error})"));
        }
        tracing::debug!(nodes = view_nodes.len(), "batch-write partition map built");
        Ok(View {
            nodes: view_nodes,
            stamps,
            map,
        })
    }

    /// Writes the records `pending` (indices into `records`) in one request per master node.
    /// Each answered row's result code lands in `codes` (aligned with `pending`); rows left
    /// `None` were not answered. Returns the worst node-level failure, if any.
    pub async fn write(
        &self,
        records: &[WriteRecord],
        pending: &[u32],
        policy: &RowPolicy,
        codes: &mut [Option<u8>],
    ) -> Result<Option<NodeFailure>, EncodeError> {
        let Some(&first) = pending.first() else {
            return Ok(None);
        };
        let view = match self.view().await {
            Ok(v) => v,
            Err(message) => {
                return Ok(Some(NodeFailure {
                    outcome: CallOutcome::Retry,
                    code: -1,
                    message,
                    first,
                    in_doubt: false,
                }));
            }
        };
        let failure = if view.nodes.len() == 1 {
            let rows = pending.iter().map(|&r| &records[r as usize]);
            self.send(&view.nodes[0], rows, first, policy, codes)
                .await?
        } else {
            let targets = route(&view, records, pending);
            if targets.iter().all(|&t| t == targets[0]) {
                let rows = pending.iter().map(|&r| &records[r as usize]);
                let node = &view.nodes[usize::from(targets[0])];
                self.send(node, rows, first, policy, codes).await?
            } else {
                self.write_split(&view, records, pending, &targets, policy, codes)
                    .await?
            }
        };
        if codes.contains(&Some(PARTITION_UNAVAILABLE)) {
            self.stale.store(true, Ordering::Release);
        }
        Ok(failure)
    }

    async fn write_split(
        &self,
        view: &View,
        records: &[WriteRecord],
        pending: &[u32],
        targets: &[u16],
        policy: &RowPolicy,
        codes: &mut [Option<u8>],
    ) -> Result<Option<NodeFailure>, EncodeError> {
        let mut groups: Vec<Vec<u32>> = vec![Vec::new(); view.nodes.len()];
        for (pos, &t) in targets.iter().enumerate() {
            groups[usize::from(t)].push(pos as u32);
        }
        let sends = groups
            .iter()
            .enumerate()
            .filter(|(_, g)| !g.is_empty())
            .map(|(i, g)| async move {
                let mut local = vec![None; g.len()];
                let rows = g.iter().map(|&p| &records[pending[p as usize] as usize]);
                let first = pending[g[0] as usize];
                let r = self
                    .send(&view.nodes[i], rows, first, policy, &mut local)
                    .await;
                (g, local, r)
            });
        let mut worst: Option<NodeFailure> = None;
        let mut encode_error = None;
        for (g, local, r) in futures::future::join_all(sends).await {
            for (&p, c) in g.iter().zip(local) {
                codes[p as usize] = c;
            }
            match r {
                Ok(Some(f)) => {
                    let in_doubt = f.in_doubt || worst.as_ref().is_some_and(|w| w.in_doubt);
                    if worst
                        .as_ref()
                        .is_none_or(|w| severity(f.outcome) > severity(w.outcome))
                    {
                        worst = Some(f);
                    }
                    if let Some(w) = worst.as_mut() {
                        w.in_doubt = in_doubt;
                    }
                }
                Ok(None) => {}
                Err(e) => encode_error = Some(e),
            }
        }
        match encode_error {
            Some(e) => Err(e),
            None => Ok(worst),
        }
    }

    async fn send<'a>(
        &self,
        node: &ViewNode,
        rows: impl ExactSizeIterator<Item = &'a WriteRecord>,
        first: u32,
        policy: &RowPolicy,
        codes: &mut [Option<u8>],
    ) -> Result<Option<NodeFailure>, EncodeError> {
        let fail = |outcome, code: i32, message| {
            Some(NodeFailure {
                outcome,
                code,
                message,
                first,
                // Server timeout (9): the rows may or may not have been applied.
                in_doubt: code == 9,
            })
        };
        let mut conn = match node.pool.get(self.opts.timeout).await {
            Ok(c) => c,
            Err(e) => {
                self.stale.store(true, Ordering::Release);
                let msg = format!("node {} ({}): {e}", node.name, node.pool.address());
                return Ok(fail(CallOutcome::Retry, -1, msg));
            }
        };
        let settings = BatchSettings {
            server_timeout_ms: self.opts.server_timeout_ms,
            allow_inline: self.opts.allow_inline,
        };
        if let Err(e) = encode_batch(&mut conn.buf, rows, policy, &settings) {
            node.pool.put(conn);
            return Err(e);
        }
        let answer = match self.opts.timeout {
            Some(t) => tokio::time::timeout(t, conn.exchange(codes))
                .await
                .unwrap_or(Err(ExchangeError::Timeout(t.as_millis() as u64))),
            None => conn.exchange(codes).await,
        };
        match answer {
            Ok(0) => {
                node.pool.put(conn);
                Ok(None)
            }
            Ok(rc) => {
                node.pool.put(conn);
                let msg = aerospike::ResultCode::from(rc).to_string();
                Ok(fail(classify_call_code(rc), i32::from(rc), msg))
            }
            Err(e) => {
                self.stale.store(true, Ordering::Release);
                node.pool.clear();
                let msg = format!("node {} ({}): {e}", node.name, node.pool.address());
                // The request went out: whatever the server did with it is unknown.
                Ok(fail(CallOutcome::Retry, -1, msg).map(|f| NodeFailure {
                    in_doubt: true,
                    ..f
                }))
            }
        }
    }
}
