//! The restorer pod's own identity: per restore a ServiceAccount, a Role allowing `get` and
//! `patch` on that one restore's `status` (by `resourceNames`) and the RoleBinding between
//! them. All three are owned by the restore (garbage-collected with it) and named like its Job.
//! The Job's pod runs as that ServiceAccount, so the restorer can report its progress into the
//! restore's status and can do nothing else with the API.

use crate::crd::{AerospikeNamespaceRestore, GROUP};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};

/// The resource (with subresource) the restorer may write.
pub const STATUS_RESOURCE: &str = "aerospikenamespacerestores/status";
/// The verbs the restorer's Role grants.
pub const VERBS: [&str; 2] = ["get", "patch"];

/// The name of the ServiceAccount, Role and RoleBinding of a restore (the Job's name).
pub fn identity_name(restore_name: &str) -> String {
    crate::job::job_name(restore_name)
}

/// Metadata shared by the three objects: name, namespace, labels and the owner reference.
fn meta(restore: &AerospikeNamespaceRestore) -> Option<ObjectMeta> {
    let owner = restore.controller_owner_ref(&())?;
    Some(ObjectMeta {
        name: Some(identity_name(&restore.meta().name.clone()?)),
        namespace: Some(restore.namespace()?),
        labels: Some(crate::job::labels(restore)),
        owner_references: Some(vec![owner]),
        ..ObjectMeta::default()
    })
}

/// The restorer's ServiceAccount; `None` without name, namespace or UID.
pub fn service_account(restore: &AerospikeNamespaceRestore) -> Option<ServiceAccount> {
    Some(ServiceAccount {
        metadata: meta(restore)?,
        // Only the restore pod mounts a token, and it asks for it itself (job.rs).
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    })
}

/// The Role: `get` and `patch` on this restore's status, nothing else.
pub fn role(restore: &AerospikeNamespaceRestore) -> Option<Role> {
    Some(Role {
        metadata: meta(restore)?,
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![GROUP.to_owned()]),
            resources: Some(vec![STATUS_RESOURCE.to_owned()]),
            resource_names: Some(vec![restore.meta().name.clone()?]),
            verbs: VERBS.iter().map(|v| (*v).to_owned()).collect(),
            ..PolicyRule::default()
        }]),
    })
}

/// The RoleBinding of the Role to the ServiceAccount.
pub fn role_binding(restore: &AerospikeNamespaceRestore) -> Option<RoleBinding> {
    let metadata = meta(restore)?;
    let name = metadata.name.clone()?;
    let namespace = metadata.namespace.clone()?;
    Some(RoleBinding {
        metadata,
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".to_owned()),
            kind: "Role".to_owned(),
            name: name.clone(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_owned(),
            name,
            namespace: Some(namespace),
            ..Subject::default()
        }]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{UID, restore};

    #[test]
    fn identity_is_owned_by_the_restore_and_limited_to_its_status() {
        let r = restore();
        let sa = service_account(&r).unwrap();
        assert_eq!(sa.metadata.name.as_deref(), Some("as-backup-0-restore"));
        assert_eq!(
            sa.metadata.namespace.as_deref(),
            Some("kubernetes-namespace-0")
        );
        assert_eq!(sa.automount_service_account_token, Some(false));
        let role = role(&r).unwrap();
        let rules = role.rules.unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(
            rules[0].api_groups.as_deref(),
            Some(&[GROUP.to_owned()][..])
        );
        assert_eq!(
            rules[0].resources.as_deref(),
            Some(&["aerospikenamespacerestores/status".to_owned()][..])
        );
        assert_eq!(
            rules[0].resource_names.as_deref(),
            Some(&["as-backup-0".to_owned()][..])
        );
        assert_eq!(rules[0].verbs, ["get", "patch"]);
        let rb = role_binding(&r).unwrap();
        assert_eq!(rb.role_ref.kind, "Role");
        assert_eq!(rb.role_ref.name, "as-backup-0-restore");
        let s = &rb.subjects.unwrap()[0];
        assert_eq!(
            (s.kind.as_str(), s.name.as_str(), s.namespace.as_deref()),
            (
                "ServiceAccount",
                "as-backup-0-restore",
                Some("kubernetes-namespace-0")
            )
        );
        for owners in [
            sa.metadata.owner_references,
            role.metadata.owner_references,
            rb.metadata.owner_references,
        ] {
            let owners = owners.unwrap();
            assert_eq!(
                (owners.len(), owners[0].uid.as_str(), owners[0].controller),
                (1, UID, Some(true))
            );
        }
    }

    #[test]
    fn no_identity_without_uid() {
        let mut r = restore();
        r.metadata.uid = None;
        assert!(service_account(&r).is_none() && role(&r).is_none() && role_binding(&r).is_none());
    }
}
