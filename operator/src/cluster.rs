//! The parts of `AerospikeCluster` (managed by the reference operator) that a restore reads.
//!
//! Every other field is kept through `x-kubernetes-preserve-unknown-fields`, so the CRD shipped
//! for clusters without the reference operator accepts whatever the reference accepts.

// Each `printcolumn(...)` group repeats `type_`; clippy reads them as duplicates.
#![allow(clippy::duplicated_attributes)]

use crate::crd::BackupStorageSpec;
use kube::CustomResource;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// An Aerospike cluster; its name is also its headless Service (`<name>.<namespace>:3000`).
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[kube(
    group = "aerospike.travelaudience.com",
    version = "v1alpha2",
    kind = "AerospikeCluster",
    plural = "aerospikeclusters",
    singular = "aerospikecluster",
    namespaced,
    shortname = "asc",
    status = "AerospikeClusterStatus",
    derive = "PartialEq",
    doc = "An Aerospike cluster managed by the reference aerospike-operator (read-only here).",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
#[serde(rename_all = "camelCase")]
pub struct AerospikeClusterSpec {
    /// The Aerospike namespaces of the cluster.
    #[serde(default)]
    pub namespaces: Vec<AerospikeNamespaceSpec>,
    /// How backups of this cluster are stored; the fallback storage of a restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_spec: Option<AerospikeClusterBackupSpec>,
}

/// One Aerospike namespace of a cluster (only its name is read).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct AerospikeNamespaceSpec {
    /// The namespace name.
    pub name: String,
}

/// The cluster's backup settings (only the storage is read).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct AerospikeClusterBackupSpec {
    /// Where backups of this cluster go.
    pub storage: BackupStorageSpec,
}

/// The status written by the reference operator, kept as-is and never interpreted.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(transparent)]
pub struct AerospikeClusterStatus(pub serde_json::Map<String, serde_json::Value>);

impl JsonSchema for AerospikeClusterStatus {
    fn schema_name() -> Cow<'static, str> {
        "AerospikeClusterStatus".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
    }
}

impl AerospikeCluster {
    /// Whether the cluster declares an Aerospike namespace of this name.
    pub fn has_namespace(&self, name: &str) -> bool {
        self.spec.namespaces.iter().any(|n| n.name == name)
    }

    /// The cluster's backup storage, if it declares one.
    pub fn backup_storage(&self) -> Option<&BackupStorageSpec> {
        self.spec.backup_spec.as_ref().map(|b| &b.storage)
    }
}
