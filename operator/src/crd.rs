//! The `AerospikeNamespaceRestore` custom resource (`aerospike.travelaudience.com/v1alpha2`).
//!
//! The status keeps reading objects written by the reference (Go) operator, whose conditions
//! were serialised with capitalised keys (`Conditions`, `Type`, `Status`, ...).

// Each `printcolumn(...)` group repeats `type_`/`priority`; clippy reads them as duplicates.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The API group shared by every resource of the reference operator.
pub const GROUP: &str = "aerospike.travelaudience.com";
/// The served and stored API version.
pub const VERSION: &str = "v1alpha2";
/// The key looked up in the storage Secret when `secretKey` is not given.
pub const DEFAULT_SECRET_KEY: &str = "key.json";

/// The desired restore: which backup (the object's name) goes into which Aerospike namespace.
/// The spec is immutable after creation (a CEL transition rule enforces it).
// Every string in the spec has a `maxLength`: it keeps the estimated cost of `self == oldSelf`
// far below the API server's budget (unbounded strings are costed at the request size limit).
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[kube(
    group = "aerospike.travelaudience.com",
    version = "v1alpha2",
    kind = "AerospikeNamespaceRestore",
    plural = "aerospikenamespacerestores",
    singular = "aerospikenamespacerestore",
    namespaced,
    shortname = "asnr",
    status = "AerospikeNamespaceRestoreStatus",
    derive = "PartialEq",
    doc = "Restores the backup named like this object into one namespace of an AerospikeCluster.",
    printcolumn(
        name = "Target Cluster",
        type_ = "string",
        json_path = ".status.target.cluster"
    ),
    printcolumn(
        name = "Target Namespace",
        type_ = "string",
        json_path = ".status.target.namespace"
    ),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Progress",
        type_ = "string",
        json_path = ".status.progress.summary"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Read",
        type_ = "integer",
        json_path = ".status.progress.recordsRead",
        priority = "1"
    ),
    printcolumn(
        name = "Written",
        type_ = "integer",
        json_path = ".status.progress.recordsWritten",
        priority = "1"
    ),
    printcolumn(
        name = "Rate",
        type_ = "number",
        json_path = ".status.progress.rate",
        priority = "1"
    ),
    printcolumn(
        name = "ETA",
        type_ = "string",
        json_path = ".status.progress.eta",
        priority = "1"
    ),
    printcolumn(
        name = "Inserted",
        type_ = "integer",
        json_path = ".status.counters.inserted",
        priority = "1"
    )
)]
#[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "spec is immutable"}]))]
#[serde(rename_all = "camelCase")]
pub struct AerospikeNamespaceRestoreSpec {
    /// The Aerospike cluster and namespace the backup is restored into.
    pub target: TargetNamespace,
    /// Where the backup is read from; defaults to the target cluster's `.spec.backupSpec.storage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<BackupStorageSpec>,
}

/// An Aerospike namespace inside an `AerospikeCluster` of the restore's Kubernetes namespace.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, JsonSchema)]
pub struct TargetNamespace {
    /// The name of the `AerospikeCluster` (also its headless Service).
    #[schemars(length(min = 1, max = 253))]
    pub cluster: String,
    /// The Aerospike namespace to restore into.
    #[schemars(length(min = 1, max = 63))]
    pub namespace: String,
}

/// The object store holding `<name>.json` and `<name>.asb.gz`, and the Secret to reach it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupStorageSpec {
    /// The kind of object store.
    #[serde(rename = "type")]
    pub type_: StorageType,
    /// The bucket (or Azure container) holding the backup objects at its root.
    #[schemars(length(min = 1, max = 255))]
    pub bucket: String,
    /// The Secret holding the credentials.
    #[schemars(length(min = 1, max = 253))]
    pub secret: String,
    /// The Secret's namespace; defaults to the namespace of the resource that uses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub secret_namespace: Option<String>,
    /// The key of the credentials file inside the Secret; defaults to `key.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub secret_key: Option<String>,
}

impl BackupStorageSpec {
    /// The Secret key holding the credentials file (`secretKey`, else `key.json`).
    pub fn secret_key(&self) -> &str {
        self.secret_key.as_deref().unwrap_or(DEFAULT_SECRET_KEY)
    }

    /// The namespace of the Secret, given the namespace of the resource using it.
    pub fn secret_namespace<'a>(&'a self, own_namespace: &'a str) -> &'a str {
        self.secret_namespace.as_deref().unwrap_or(own_namespace)
    }
}

/// The supported object stores.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StorageType {
    /// Google Cloud Storage (`gs://`), the reference operator's only type.
    Gcs,
    /// Amazon S3 or an S3-compatible store (`s3://`).
    S3,
    /// Azure Blob Storage (`az://`).
    Azure,
}

/// The observed state of a restore.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct AerospikeNamespaceRestoreStatus {
    /// The target the restore was started for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetNamespace>,
    /// The storage actually used (after falling back to the cluster's backup storage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<BackupStorageSpec>,
    /// `RestoreStarted`, `RestoreFinished`, `RestoreFailed`; each written once.
    #[serde(default)]
    pub conditions: Vec<RestoreCondition>,
    /// Conditions as the reference operator wrote them (key `Conditions`); read, never written.
    #[serde(rename = "Conditions", default, skip_serializing)]
    #[schemars(skip)]
    pub legacy_conditions: Vec<RestoreCondition>,
    /// The restore Job, as `<namespace>/<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// A one-word summary of the conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<RestorePhase>,
    /// When the Job was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the Job finished or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// The restorer's counters, from its pod's termination message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counters: Option<RestoreCounters>,
    /// Live progress, reported by the restorer while its Job runs (at most every 10 s) and set
    /// to the final figures by the operator when the Job ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<RestoreProgress>,
}

/// How far a restore has got: the figures of the whole restore, and (for Jobs with several
/// pods) each pod's own figures under `pods`, keyed by the pod's completion index. A restorer
/// pod writes only its own key (a JSON merge patch of `status.progress.pods.<index>`), so pods
/// never overwrite each other; the totals are then the sum over `pods`.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreProgress {
    /// Records read from the backup (decoded and decided) so far.
    #[serde(default)]
    pub records_read: u64,
    /// Records written to the cluster so far.
    #[serde(default)]
    pub records_written: u64,
    /// The share of the backup read, 0 to 100; absent while the backup's size is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    /// Records read per second over the last interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Estimated time left, like `1m30s`; absent while unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta: Option<String>,
    /// One line for `kubectl get`: `42% 420000/1000000` style, or the records read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub summary: Option<String>,
    /// When these figures were taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Time>,
    /// Per-pod figures, keyed by the pod's completion index (`"0"`, `"1"`, ...).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub pods: std::collections::BTreeMap<String, PodProgress>,
}

/// One restorer pod's figures (see [`RestoreProgress::pods`]).
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodProgress {
    /// Records read by this pod.
    #[serde(default)]
    pub records_read: u64,
    /// Records written by this pod.
    #[serde(default)]
    pub records_written: u64,
    /// The share of this pod's input read, 0 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    /// Records read per second over the last interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// When these figures were taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Time>,
}

impl RestoreProgress {
    /// The final figures of an ended restore, from the restorer's summary.
    pub fn finished(counters: &RestoreCounters, now: &Time) -> Self {
        RestoreProgress {
            records_read: counters.records,
            records_written: counters.inserted,
            percent: Some(100.0),
            rate: None,
            eta: None,
            summary: Some(format!("100% {} records", counters.records)),
            updated_at: Some(now.clone()),
            pods: std::collections::BTreeMap::new(),
        }
    }
}

/// One condition, in the standard Kubernetes shape; capitalised keys are accepted on read.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreCondition {
    /// `RestoreStarted`, `RestoreFinished` or `RestoreFailed`.
    #[serde(rename = "type", alias = "Type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    #[serde(alias = "Status")]
    pub status: String,
    /// A CamelCase reason.
    #[serde(default, alias = "Reason")]
    pub reason: String,
    /// A human-readable message.
    #[serde(default, alias = "Message")]
    pub message: String,
    /// When the condition was written.
    #[serde(
        default,
        alias = "LastTransitionTime",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_transition_time: Option<Time>,
    /// The `metadata.generation` the condition was written for.
    #[serde(
        default,
        alias = "ObservedGeneration",
        skip_serializing_if = "Option::is_none"
    )]
    pub observed_generation: Option<i64>,
}

/// The phase shown by `kubectl get asnr -o wide`.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
pub enum RestorePhase {
    /// The Job exists and has not ended.
    Running,
    /// The Job completed.
    Finished,
    /// Validation failed or the Job failed.
    Failed,
}

/// The restorer's summary (DESIGN §4), as written to `/dev/termination-log`.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq, JsonSchema)]
pub struct RestoreCounters {
    /// Records read from the backup.
    #[serde(default)]
    pub records: u64,
    /// Records skipped because they had expired.
    #[serde(default)]
    pub expired: u64,
    /// Records skipped by filters.
    #[serde(default)]
    pub skipped: u64,
    /// Records whose write error was ignored.
    #[serde(default)]
    pub ignored: u64,
    /// Records written.
    #[serde(default)]
    pub inserted: u64,
    /// Records not written because they existed.
    #[serde(default)]
    pub existed: u64,
    /// Records not written because the server's copy was fresher.
    #[serde(default)]
    pub fresher: u64,
    /// Backup bytes read.
    #[serde(default)]
    pub bytes: u64,
    /// The error that stopped the restore, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl AerospikeNamespaceRestoreStatus {
    /// Every condition: the current ones, then reference-operator ones of other types.
    pub fn all_conditions(&self) -> impl Iterator<Item = &RestoreCondition> {
        let legacy = self
            .legacy_conditions
            .iter()
            .filter(|l| !self.conditions.iter().any(|c| c.type_ == l.type_));
        self.conditions.iter().chain(legacy)
    }

    /// Whether a condition of this type has status `True`.
    pub fn is_true(&self, type_: &str) -> bool {
        self.all_conditions()
            .any(|c| c.type_ == type_ && c.status == "True")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn seed_example_parses() {
        let r = crate::fixtures::restore();
        assert_eq!(r.spec.target.cluster, "as-cluster-0");
        let s = r.spec.storage.unwrap();
        assert_eq!(
            (s.type_, s.secret_key(), s.secret_namespace("here")),
            (StorageType::Gcs, "key.json", "here")
        );
    }

    #[test]
    fn reference_operator_status_reads_without_error() {
        let st: AerospikeNamespaceRestoreStatus = serde_json::from_value(json!({
            "target": {"cluster": "c", "namespace": "n"},
            "storage": {"type": "gcs", "bucket": "b", "secret": "s"},
            "Conditions": [{"Type": "RestoreFailed", "Status": "True", "LastTransitionTime": null,
                            "Reason": "", "Message": "restore job failed 3 times"}]
        }))
        .unwrap();
        assert!(st.is_true("RestoreFailed"));
        assert_eq!(st.all_conditions().count(), 1);
        assert_eq!(
            st.legacy_conditions[0].message,
            "restore job failed 3 times"
        );
    }

    #[test]
    fn both_condition_keys_may_coexist() {
        let st: AerospikeNamespaceRestoreStatus = serde_json::from_value(json!({
            "conditions": [{"type": "RestoreStarted", "status": "True"}],
            "Conditions": [{"Type": "RestoreStarted", "Status": "False"}, {"Type": "RestoreFinished", "Status": "True"}]
        }))
        .unwrap();
        let types: Vec<_> = st
            .all_conditions()
            .map(|c| (c.type_.as_str(), c.status.as_str()))
            .collect();
        assert_eq!(
            types,
            [("RestoreStarted", "True"), ("RestoreFinished", "True")]
        );
    }

    #[test]
    fn legacy_key_is_never_written() {
        let st = AerospikeNamespaceRestoreStatus {
            legacy_conditions: vec![RestoreCondition {
                type_: "X".into(),
                status: "True".into(),
                reason: String::new(),
                message: String::new(),
                last_transition_time: None,
                observed_generation: None,
            }],
            ..Default::default()
        };
        let v = serde_json::to_value(&st).unwrap();
        assert!(v.get("Conditions").is_none());
        assert_eq!(v["conditions"], json!([]));
    }

    #[test]
    fn unknown_storage_type_is_rejected() {
        let r: Result<BackupStorageSpec, _> =
            serde_json::from_value(json!({"type": "ftp", "bucket": "b", "secret": "s"}));
        assert!(r.is_err());
    }
}
