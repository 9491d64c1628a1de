//! The `AerospikeNamespaceRestore` operator: CRD types, validation, the restore Job, status,
//! events and the controller that ties them together (DESIGN §6-§7).

pub mod cluster;
pub mod config;
pub mod controller;
pub mod crd;
pub mod crd_yaml;
pub mod error;
pub mod events;
pub mod job;
pub mod leader;
pub mod metrics;
pub mod rbac;
pub mod reconcile;
pub mod status;
pub mod storage;
pub mod validate;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod scenario_tests;
