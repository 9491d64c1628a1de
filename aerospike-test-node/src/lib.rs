//! An in-process Aerospike node speaking the real wire protocol, for tests.
//!
//! [`TestCluster::start`] binds 1..N nodes on `127.0.0.1` (ephemeral ports by default) that the
//! `aerospike` client connects to, tends and writes to unchanged: the info protocol (node,
//! peers, partition maps, namespaces, indexes, UDFs, config), single-record writes, reads and
//! deletes, and batch-index requests with per-record write operations, with the server's
//! record-exists, generation, TTL and value-validation semantics. Records live in memory,
//! shared by every node of the cluster (as if fully replicated); each node advertises its
//! share of the 4096 partitions so the client routes and splits batches for real.
//!
//! Tests can inject faults ([`Faults`]), stop and restart nodes, and inspect what was stored
//! ([`TestCluster::record`], [`TestCluster::record_count`]).
//!
//! [`target`] picks a real server instead when `AEROSPIKE_HOSTS` is set, so the same
//! client-level assertions run against both. [`raw`] reads what either stored, byte for byte.
//!
//! This crate is test support; it is never part of a release binary.

#![warn(missing_docs)]

mod cluster;
mod config;
mod exec;
mod faults;
mod info;
mod meta;
mod msg;
mod particle;
mod proto;
pub mod raw;
pub mod result_code;
mod server;
mod store;
mod target;

pub use cluster::{IndexInfo, StoredRecord, TestCluster, UdfInfo};
pub use config::ClusterConfig;
pub use exec::{MAX_TTL, TTL_DONT_UPDATE, TTL_NEVER_EXPIRE};
pub use faults::{FaultAction, FaultRule, Faults, Trigger};
pub use store::{CITRUSLEAF_EPOCH, PARTITIONS, StoredBin, StoredKey, now_clepoch, partition_of};
pub use target::{HOSTS_ENV, Target, target, target_with};
