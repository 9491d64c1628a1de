//! The restore Job of DESIGN §7, built from a restore, its resolved storage and the configuration.

use crate::config::Config;
use crate::crd::{AerospikeNamespaceRestore, BackupStorageSpec, StorageType};
use crate::storage::{self, SECRET_MOUNT_PATH};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EnvFromSource, EnvVar, PodSecurityContext, PodSpec, PodTemplateSpec,
    ResourceRequirements, SeccompProfile, SecretEnvSource, SecretVolumeSource, SecurityContext,
    Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};
use std::collections::BTreeMap;

/// The name of the restore container (its termination message carries the counters).
pub const CONTAINER_NAME: &str = "restorer";
/// How often the Job retries a failed pod.
pub const BACKOFF_LIMIT: i32 = 3;
/// The uid and gid the restorer runs as (the image's non-root user).
pub const RUN_AS: i64 = 65532;
/// Where the restorer writes its JSON summary.
pub const TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";

/// The Job name of a restore.
pub fn job_name(restore_name: &str) -> String {
    format!("{restore_name}-restore")
}

/// The labels of the Job, its pods and the Secret copy.
pub fn labels(restore: &AerospikeNamespaceRestore) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app".to_owned(), "aerospike".to_owned()),
        ("cluster".to_owned(), restore.spec.target.cluster.clone()),
        (
            "namespace".to_owned(),
            restore.spec.target.namespace.clone(),
        ),
    ])
}

/// The restorer's arguments: backup prefix, target namespace, seed host, log format.
pub fn args(
    restore: &AerospikeNamespaceRestore,
    ns: &str,
    storage: &BackupStorageSpec,
) -> Vec<String> {
    let target = &restore.spec.target;
    vec![
        "--backup".into(),
        storage::backup_url(storage, &restore.name_any()),
        "--target-namespace".into(),
        target.namespace.clone(),
        "-h".into(),
        format!("{}.{ns}", target.cluster),
        "--log-format".into(),
        "logfmt".into(),
    ]
}

/// Builds the Job; `None` when the restore has no name, namespace or UID (never from the API).
pub fn build(
    restore: &AerospikeNamespaceRestore,
    storage: &BackupStorageSpec,
    config: &Config,
) -> Option<Job> {
    let owner = restore.controller_owner_ref(&())?;
    let ns = restore.namespace()?;
    let name = restore.meta().name.clone()?;
    let labels = labels(restore);
    let secret_name = storage::mounted_secret_name(storage, &ns, &name);
    let env = storage::credentials_file_env(storage).map(|(k, v)| {
        vec![EnvVar {
            name: k.to_owned(),
            value: Some(v),
            ..EnvVar::default()
        }]
    });
    let env_from = match storage.type_ {
        StorageType::Gcs => None,
        StorageType::S3 | StorageType::Azure => Some(vec![EnvFromSource {
            secret_ref: Some(SecretEnvSource {
                name: secret_name.clone(),
                optional: Some(false),
            }),
            ..EnvFromSource::default()
        }]),
    };
    let container = Container {
        name: CONTAINER_NAME.to_owned(),
        image: Some(config.restorer_image.clone()),
        image_pull_policy: Some(config.restorer_image_pull_policy.clone()),
        command: Some(vec![config.restorer_command.clone()]),
        args: Some(args(restore, &ns, storage)),
        env,
        env_from,
        resources: Some(resources(config)),
        volume_mounts: Some(vec![VolumeMount {
            name: "secret".to_owned(),
            mount_path: SECRET_MOUNT_PATH.to_owned(),
            read_only: Some(true),
            ..VolumeMount::default()
        }]),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_owned()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        termination_message_path: Some(TERMINATION_MESSAGE_PATH.to_owned()),
        // The restorer's JSON summary when it wrote one, else the tail of its log.
        termination_message_policy: Some("FallbackToLogsOnError".to_owned()),
        ..Container::default()
    };
    let pod = PodSpec {
        restart_policy: Some("Never".to_owned()),
        automount_service_account_token: Some(false),
        containers: vec![container],
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(RUN_AS),
            run_as_group: Some(RUN_AS),
            fs_group: Some(RUN_AS),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_owned(),
                ..SeccompProfile::default()
            }),
            ..PodSecurityContext::default()
        }),
        volumes: Some(vec![Volume {
            name: "secret".to_owned(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret_name),
                default_mode: Some(0o440),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        }]),
        ..PodSpec::default()
    };
    Some(Job {
        metadata: ObjectMeta {
            name: Some(job_name(&name)),
            namespace: Some(ns),
            labels: Some(labels.clone()),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(BACKOFF_LIMIT),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            ..JobSpec::default()
        }),
        status: None,
    })
}

/// Requests and limits of the restore container; empty settings are left out.
fn resources(config: &Config) -> ResourceRequirements {
    let pick = |cpu: &str, mem: &str| {
        let map: BTreeMap<String, Quantity> = [("cpu", cpu), ("memory", mem)]
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_owned(), Quantity(v.to_owned())))
            .collect();
        (!map.is_empty()).then_some(map)
    };
    ResourceRequirements {
        requests: pick(
            &config.restorer_cpu_request,
            &config.restorer_memory_request,
        ),
        limits: pick(&config.restorer_cpu_limit, &config.restorer_memory_limit),
        ..ResourceRequirements::default()
    }
}
