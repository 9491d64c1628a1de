//! Storage facts for the Job: the backup URL, the credentials environment and the Secret copy.

use crate::crd::{AerospikeNamespaceRestore, BackupStorageSpec, StorageType};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};
use std::collections::BTreeMap;

/// Where the storage Secret is mounted in the restore container.
pub const SECRET_MOUNT_PATH: &str = "/secret";
/// The annotation on a Secret copy naming its source.
pub const COPIED_FROM_ANNOTATION: &str = "aerospike.travelaudience.com/copied-from";

/// The `--backup` prefix: `<scheme>://<bucket>/<backup name>`.
pub fn backup_url(storage: &BackupStorageSpec, backup_name: &str) -> String {
    let scheme = match storage.type_ {
        StorageType::Gcs => "gs",
        StorageType::S3 => "s3",
        StorageType::Azure => "az",
    };
    format!("{scheme}://{}/{backup_name}", storage.bucket)
}

/// The environment variable pointing at the mounted credentials file, if the store uses one
/// (`gcs`); `s3` and `azure` take their `AWS_*` / `AZURE_*` variables from the Secret's keys.
pub fn credentials_file_env(storage: &BackupStorageSpec) -> Option<(&'static str, String)> {
    match storage.type_ {
        StorageType::Gcs => Some((
            "GOOGLE_APPLICATION_CREDENTIALS",
            format!("{SECRET_MOUNT_PATH}/{}", storage.secret_key()),
        )),
        StorageType::S3 | StorageType::Azure => None,
    }
}

/// Whether the Secret lives in another namespace and must be copied beside the Job.
pub fn needs_copy(storage: &BackupStorageSpec, restore_ns: &str) -> bool {
    storage.secret_namespace(restore_ns) != restore_ns
}

/// The name of the Secret copy of a restore.
pub fn copy_name(restore_name: &str) -> String {
    format!("{restore_name}-restore-secret")
}

/// The Secret the Job mounts: the copy when the original is in another namespace.
pub fn mounted_secret_name(
    storage: &BackupStorageSpec,
    restore_ns: &str,
    restore_name: &str,
) -> String {
    if needs_copy(storage, restore_ns) {
        copy_name(restore_name)
    } else {
        storage.secret.clone()
    }
}

/// The copy of `source` placed in the restore's namespace, owned (as controller) by the restore,
/// so that deleting the restore removes it.
pub fn secret_copy(restore: &AerospikeNamespaceRestore, source: &Secret) -> Option<Secret> {
    let owner = restore.controller_owner_ref(&())?;
    let annotation = format!(
        "{}/{}",
        source.namespace().unwrap_or_default(),
        source.name_any()
    );
    Some(Secret {
        metadata: ObjectMeta {
            name: Some(copy_name(&restore.name_any())),
            namespace: restore.namespace(),
            labels: Some(crate::job::labels(restore)),
            annotations: Some(BTreeMap::from([(
                COPIED_FROM_ANNOTATION.to_owned(),
                annotation,
            )])),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        data: source.data.clone(),
        string_data: source.string_data.clone(),
        type_: source.type_.clone(),
        immutable: Some(true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::StorageType;
    use crate::fixtures::{UID, restore, storage};
    use k8s_openapi::ByteString;

    #[test]
    fn backup_url_per_store() {
        assert_eq!(
            backup_url(&storage(StorageType::Gcs, None), "b"),
            "gs://aerospike-backup/b"
        );
        assert_eq!(
            backup_url(&storage(StorageType::S3, None), "b"),
            "s3://aerospike-backup/b"
        );
        assert_eq!(
            backup_url(&storage(StorageType::Azure, None), "b"),
            "az://aerospike-backup/b"
        );
    }

    #[test]
    fn copy_needed_only_for_another_namespace() {
        assert!(!needs_copy(&storage(StorageType::Gcs, None), "ns"));
        assert!(!needs_copy(&storage(StorageType::Gcs, Some("ns")), "ns"));
        assert!(needs_copy(&storage(StorageType::Gcs, Some("other")), "ns"));
        assert_eq!(
            mounted_secret_name(&storage(StorageType::Gcs, Some("other")), "ns", "r"),
            "r-restore-secret"
        );
        assert_eq!(
            mounted_secret_name(&storage(StorageType::Gcs, None), "ns", "r"),
            "gcs-secret"
        );
    }

    #[test]
    fn secret_copy_is_owned_labelled_and_keeps_data() {
        let source = Secret {
            metadata: ObjectMeta {
                name: Some("gcs-secret".into()),
                namespace: Some("secrets-ns".into()),
                uid: Some("source-uid".into()),
                resource_version: Some("42".into()),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([(
                "key.json".to_owned(),
                ByteString(b"{}".to_vec()),
            )])),
            type_: Some("Opaque".into()),
            ..Secret::default()
        };
        let copy = secret_copy(&restore(), &source).expect("copy builds");
        assert_eq!(
            copy.metadata.name.as_deref(),
            Some("as-backup-0-restore-secret")
        );
        assert_eq!(
            copy.metadata.namespace.as_deref(),
            Some("kubernetes-namespace-0")
        );
        assert_eq!(copy.metadata.uid, None, "server fields are not copied");
        assert_eq!(copy.metadata.resource_version, None);
        let owner = &copy.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.uid.as_str(), owner.kind.as_str()),
            (UID, "AerospikeNamespaceRestore")
        );
        assert_eq!(
            copy.metadata.annotations.unwrap()[COPIED_FROM_ANNOTATION],
            "secrets-ns/gcs-secret"
        );
        assert_eq!(copy.metadata.labels.unwrap()["app"], "aerospike");
        assert_eq!(copy.data, source.data);
        assert_eq!(copy.type_.as_deref(), Some("Opaque"));
    }
}
