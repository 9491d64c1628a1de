//! The restore Job of DESIGN §7, built from a restore, its resolved storage and the configuration.

use crate::config::Config;
use crate::crd::{AerospikeNamespaceRestore, BackupStorageSpec, StorageType};
use crate::storage::{self, SECRET_MOUNT_PATH};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, EnvFromSource, EnvVar, PodSecurityContext,
    PodSpec, PodTemplateSpec, ResourceRequirements, SeccompProfile, SecretEnvSource,
    SecretVolumeSource, SecurityContext, Volume, VolumeMount,
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
/// The variable telling the restorer which restore (`<namespace>/<name>`) to report its
/// progress into.
pub const STATUS_REPORT_ENV: &str = "RESTORE_STATUS_REPORT";

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
    let mut env: Vec<EnvVar> = storage::credentials_file_env(storage)
        .map(|(k, v)| EnvVar {
            name: k.to_owned(),
            value: Some(v),
            ..EnvVar::default()
        })
        .into_iter()
        .collect();
    env.push(EnvVar {
        name: STATUS_REPORT_ENV.to_owned(),
        value: Some(format!("{ns}/{name}")),
        ..EnvVar::default()
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
        env: Some(env),
        env_from,
        resources: Some(resources(config)),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "secret".to_owned(),
                mount_path: SECRET_MOUNT_PATH.to_owned(),
                read_only: Some(true),
                ..VolumeMount::default()
            },
            // The root filesystem is read-only; scratch space for the restorer.
            VolumeMount {
                name: "tmp".to_owned(),
                mount_path: "/tmp".to_owned(),
                ..VolumeMount::default()
            },
        ]),
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
        // The restore's own ServiceAccount (rbac.rs): its token may only patch this restore's
        // status, for the progress reports.
        service_account_name: Some(crate::rbac::identity_name(&name)),
        automount_service_account_token: Some(true),
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
        volumes: Some(vec![
            Volume {
                name: "secret".to_owned(),
                secret: Some(SecretVolumeSource {
                    secret_name: Some(secret_name),
                    default_mode: Some(0o440),
                    ..SecretVolumeSource::default()
                }),
                ..Volume::default()
            },
            Volume {
                name: "tmp".to_owned(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Volume::default()
            },
        ]),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::StorageType;
    use crate::fixtures::{UID, restore, restore_with, storage};

    fn built(storage: &BackupStorageSpec) -> Job {
        build(&restore(), storage, &Config::default()).expect("job builds")
    }

    fn container(job: &Job) -> &Container {
        &job.spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0]
    }

    #[test]
    fn job_has_name_labels_owner_and_policies() {
        let job = built(&storage(StorageType::Gcs, None));
        assert_eq!(job.metadata.name.as_deref(), Some("as-backup-0-restore"));
        assert_eq!(
            job.metadata.namespace.as_deref(),
            Some("kubernetes-namespace-0")
        );
        let labels = job.metadata.labels.clone().unwrap();
        assert_eq!(labels["app"], "aerospike");
        assert_eq!(labels["cluster"], "as-cluster-0");
        assert_eq!(labels["namespace"], "as-namespace-0");
        let owner = &job.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.uid.as_str(), owner.controller, owner.name.as_str()),
            (UID, Some(true), "as-backup-0")
        );
        let spec = job.spec.as_ref().unwrap();
        assert_eq!(spec.backoff_limit, Some(3));
        assert_eq!(
            spec.ttl_seconds_after_finished, None,
            "the Job is kept after it ends"
        );
        let pod = spec.template.spec.as_ref().unwrap();
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        let psc = pod.security_context.as_ref().unwrap();
        assert_eq!(
            (psc.run_as_non_root, psc.run_as_user),
            (Some(true), Some(RUN_AS))
        );
        assert_eq!(
            spec.template.metadata.as_ref().unwrap().labels.as_ref(),
            Some(&labels)
        );
    }

    #[test]
    fn gcs_job_mounts_secret_and_points_credentials_at_it() {
        let job = built(&storage(StorageType::Gcs, None));
        let c = container(&job);
        assert_eq!(
            c.args.clone().unwrap(),
            [
                "--backup",
                "gs://aerospike-backup/as-backup-0",
                "--target-namespace",
                "as-namespace-0",
                "-h",
                "as-cluster-0.kubernetes-namespace-0",
                "--log-format",
                "logfmt"
            ]
        );
        let env = c.env.clone().unwrap();
        assert_eq!(env.len(), 2);
        assert_eq!(
            (env[0].name.as_str(), env[0].value.as_deref()),
            ("GOOGLE_APPLICATION_CREDENTIALS", Some("/secret/key.json"))
        );
        assert_eq!(
            (env[1].name.as_str(), env[1].value.as_deref()),
            (
                "RESTORE_STATUS_REPORT",
                Some("kubernetes-namespace-0/as-backup-0")
            )
        );
        let pod = job.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
        assert_eq!(
            pod.service_account_name.as_deref(),
            Some("as-backup-0-restore")
        );
        assert_eq!(pod.automount_service_account_token, Some(true));
        let mount = &c.volume_mounts.as_ref().unwrap()[0];
        assert_eq!(
            (mount.mount_path.as_str(), mount.read_only),
            ("/secret", Some(true))
        );
        let pod = job.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
        let vol = pod.volumes.as_ref().unwrap()[0].secret.as_ref().unwrap();
        assert_eq!(vol.secret_name.as_deref(), Some("gcs-secret"));
        assert_eq!(
            c.termination_message_path.as_deref(),
            Some("/dev/termination-log")
        );
        assert_eq!(
            c.termination_message_policy.as_deref(),
            Some("FallbackToLogsOnError")
        );
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(
            (sc.allow_privilege_escalation, sc.read_only_root_filesystem),
            (Some(false), Some(true))
        );
    }

    #[test]
    fn custom_secret_key_is_used_in_the_credentials_path() {
        let mut s = storage(StorageType::Gcs, None);
        s.secret_key = Some("sa.json".into());
        let job = built(&s);
        assert_eq!(
            container(&job).env.as_ref().unwrap()[0].value.as_deref(),
            Some("/secret/sa.json")
        );
    }

    #[test]
    fn s3_and_azure_use_their_scheme_and_secret_environment() {
        for (t, url) in [
            (StorageType::S3, "s3://aerospike-backup/as-backup-0"),
            (StorageType::Azure, "az://aerospike-backup/as-backup-0"),
        ] {
            let job = built(&storage(t, None));
            let c = container(&job);
            assert_eq!(c.args.as_ref().unwrap()[1], url);
            let env = c.env.as_ref().unwrap();
            assert_eq!(env.len(), 1);
            assert_eq!(env[0].name, "RESTORE_STATUS_REPORT");
            let from = c.env_from.as_ref().unwrap()[0].secret_ref.as_ref().unwrap();
            assert_eq!(from.name, "gcs-secret");
        }
    }

    #[test]
    fn secret_from_another_namespace_mounts_the_copy() {
        let job = built(&storage(StorageType::Gcs, Some("secrets-ns")));
        let pod = job.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
        let vol = pod.volumes.as_ref().unwrap()[0].secret.as_ref().unwrap();
        assert_eq!(
            vol.secret_name.as_deref(),
            Some("as-backup-0-restore-secret")
        );
    }

    #[test]
    fn image_and_resources_come_from_the_configuration() {
        let config = Config {
            restorer_image: "registry.example/restore:1.2.3".into(),
            restorer_cpu_request: "1".into(),
            restorer_memory_request: "".into(),
            restorer_cpu_limit: "".into(),
            restorer_memory_limit: "2Gi".into(),
            ..Config::default()
        };
        let job = build(
            &restore_with(Some(storage(StorageType::Gcs, None))),
            &storage(StorageType::Gcs, None),
            &config,
        )
        .unwrap();
        let c = container(&job);
        assert_eq!(c.image.as_deref(), Some("registry.example/restore:1.2.3"));
        assert_eq!(c.command.clone().unwrap(), ["/usr/local/bin/restorer"]);
        let r = c.resources.as_ref().unwrap();
        let requests = r.requests.clone().unwrap();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests["cpu"].0, "1");
        let limits = r.limits.clone().unwrap();
        assert_eq!((limits.len(), limits["memory"].0.as_str()), (1, "2Gi"));
    }

    #[test]
    fn no_job_without_uid() {
        let mut r = restore();
        r.metadata.uid = None;
        assert!(build(&r, &storage(StorageType::Gcs, None), &Config::default()).is_none());
    }
}
