//! Checks made before a Job is created; a failure ends the restore with `RestoreFailed`.

use crate::cluster::AerospikeCluster;
use crate::crd::{AerospikeNamespaceRestore, BackupStorageSpec, StorageType};
use k8s_openapi::api::core::v1::Secret;

/// The longest Job name: Kubernetes copies it into a pod label value.
const MAX_JOB_NAME: usize = 63;

/// Why a restore cannot run: the condition's reason and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// A CamelCase reason, used for the condition and the Warning event.
    pub reason: &'static str,
    /// What is wrong, naming the objects involved.
    pub message: String,
}

impl Invalid {
    fn new(reason: &'static str, message: String) -> Self {
        Invalid { reason, message }
    }
}

/// Checks the restore's own fields (what no API call can fix).
pub fn check_restore(restore: &AerospikeNamespaceRestore, name: &str) -> Result<(), Invalid> {
    let job = crate::job::job_name(name);
    if job.len() > MAX_JOB_NAME {
        return Err(Invalid::new(
            "InvalidName",
            format!(
                "name {name} is too long: the job name {job} must be at most {MAX_JOB_NAME} characters"
            ),
        ));
    }
    let t = &restore.spec.target;
    if t.cluster.is_empty() || t.namespace.is_empty() {
        return Err(Invalid::new(
            "InvalidSpec",
            "spec.target.cluster and spec.target.namespace must not be empty".into(),
        ));
    }
    Ok(())
}

/// Checks the target cluster and resolves the storage: `spec.storage`, else the cluster's
/// `.spec.backupSpec.storage`.
pub fn check_target(
    restore: &AerospikeNamespaceRestore,
    ns: &str,
    cluster: Option<&AerospikeCluster>,
) -> Result<BackupStorageSpec, Invalid> {
    let target = &restore.spec.target;
    let Some(cluster) = cluster else {
        return Err(Invalid::new(
            "ClusterNotFound",
            format!("aerospikecluster {ns}/{} not found", target.cluster),
        ));
    };
    if !cluster.has_namespace(&target.namespace) {
        return Err(Invalid::new(
            "NamespaceNotFound",
            format!(
                "namespace {} not found in aerospikecluster {ns}/{}",
                target.namespace, target.cluster
            ),
        ));
    }
    match restore.spec.storage.as_ref().or(cluster.backup_storage()) {
        Some(storage) => Ok(storage.clone()),
        None => Err(Invalid::new(
            "StorageNotSpecified",
            format!(
                "no storage in spec.storage nor in aerospikecluster {ns}/{} .spec.backupSpec.storage",
                target.cluster
            ),
        )),
    }
}

/// Checks the storage Secret: it exists and holds the credentials key (always for `gcs`; for
/// `s3` and `azure`, whose Secret keys become environment variables, only when `secretKey` is set).
pub fn check_secret(
    storage: &BackupStorageSpec,
    ns: &str,
    secret: Option<Secret>,
) -> Result<Secret, Invalid> {
    let secret_ns = storage.secret_namespace(ns);
    let Some(secret) = secret else {
        return Err(Invalid::new(
            "SecretNotFound",
            format!("secret {secret_ns}/{} not found", storage.secret),
        ));
    };
    let key_required = storage.type_ == StorageType::Gcs || storage.secret_key.is_some();
    let key = storage.secret_key();
    let has_key = secret.data.as_ref().is_some_and(|d| d.contains_key(key))
        || secret
            .string_data
            .as_ref()
            .is_some_and(|d| d.contains_key(key));
    if key_required && !has_key {
        return Err(Invalid::new(
            "SecretKeyNotFound",
            format!("secret {secret_ns}/{} has no key {key}", storage.secret),
        ));
    }
    Ok(secret)
}
