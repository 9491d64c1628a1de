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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{cluster, restore, restore_with, storage};
    use k8s_openapi::ByteString;
    use std::collections::BTreeMap;

    fn secret(keys: &[&str]) -> Secret {
        Secret {
            data: Some(
                keys.iter()
                    .map(|k| (k.to_string(), ByteString(vec![])))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..Secret::default()
        }
    }

    #[test]
    fn spec_storage_wins_over_cluster_storage() {
        let mut s = storage(StorageType::S3, None);
        s.bucket = "mine".into();
        let got = check_target(&restore_with(Some(s.clone())), "ns", Some(&cluster())).unwrap();
        assert_eq!(got, s);
        let fallback = check_target(&restore_with(None), "ns", Some(&cluster())).unwrap();
        assert_eq!(
            (fallback.type_, fallback.bucket.as_str()),
            (StorageType::Gcs, "aerospike-backup")
        );
    }

    #[test]
    fn target_failures_have_reasons() {
        assert_eq!(
            check_target(&restore(), "ns", None).unwrap_err().reason,
            "ClusterNotFound"
        );
        let mut r = restore();
        r.spec.target.namespace = "nope".into();
        assert_eq!(
            check_target(&r, "ns", Some(&cluster())).unwrap_err().reason,
            "NamespaceNotFound"
        );
        let mut c = cluster();
        c.spec.backup_spec = None;
        assert_eq!(
            check_target(&restore_with(None), "ns", Some(&c))
                .unwrap_err()
                .reason,
            "StorageNotSpecified"
        );
    }

    #[test]
    fn secret_checks() {
        let gcs = storage(StorageType::Gcs, Some("other"));
        let e = check_secret(&gcs, "ns", None).unwrap_err();
        assert_eq!(
            (e.reason, e.message.as_str()),
            ("SecretNotFound", "secret other/gcs-secret not found")
        );
        assert_eq!(
            check_secret(&gcs, "ns", Some(secret(&["x"])))
                .unwrap_err()
                .reason,
            "SecretKeyNotFound"
        );
        assert!(check_secret(&gcs, "ns", Some(secret(&["key.json"]))).is_ok());
        // s3/azure read AWS_*/AZURE_* keys: a key is only required when named.
        let mut s3 = storage(StorageType::S3, None);
        assert!(check_secret(&s3, "ns", Some(secret(&["AWS_ACCESS_KEY_ID"]))).is_ok());
        s3.secret_key = Some("credentials".into());
        assert_eq!(
            check_secret(&s3, "ns", Some(secret(&["AWS_ACCESS_KEY_ID"])))
                .unwrap_err()
                .reason,
            "SecretKeyNotFound"
        );
    }

    #[test]
    fn restore_name_must_leave_room_for_the_job_suffix() {
        let r = restore();
        assert!(check_restore(&r, &"a".repeat(55)).is_ok());
        assert_eq!(
            check_restore(&r, &"a".repeat(56)).unwrap_err().reason,
            "InvalidName"
        );
        let mut empty = restore();
        empty.spec.target.cluster.clear();
        assert_eq!(
            check_restore(&empty, "x").unwrap_err().reason,
            "InvalidSpec"
        );
    }
}
