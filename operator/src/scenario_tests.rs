//! Every reconcile path against a scripted mock API server: methods, paths and bodies.

use crate::crd::{AerospikeNamespaceRestore, AerospikeNamespaceRestoreStatus, StorageType};
use crate::error::Error;
use crate::fixtures::*;
use kube::runtime::controller::Action;
use serde_json::{Value, json};

fn job_path() -> String {
    format!("{JOBS}/{JOB}")
}

fn cluster_path() -> String {
    format!("{CLUSTERS}/as-cluster-0")
}

/// The script of a validation that passes: the Secret read, and the restorer's ServiceAccount
/// created beside it.
fn validation_ok(secret_ns: &str) -> Vec<Step> {
    let mut script = validation_up_to_secret(secret_ns);
    script.push(step("POST", SERVICE_ACCOUNTS, 201, None));
    script
}

/// The script of a validation that passes, up to the Secret.
fn validation_up_to_secret(secret_ns: &str) -> Vec<Step> {
    vec![
        step("GET", job_path(), 404, Some(not_found())),
        step("GET", cluster_path(), 200, Some(cluster_json())),
        step(
            "GET",
            format!("{}/gcs-secret", secrets(secret_ns)),
            200,
            Some(secret_json(secret_ns, &["key.json"])),
        ),
    ]
}

/// The Job, then the Role and RoleBinding of the status rights.
fn create_job() -> Vec<Step> {
    vec![
        step("POST", JOBS, 201, None),
        step("POST", ROLES, 201, None),
        step("POST", ROLE_BINDINGS, 201, None),
    ]
}

/// An adopted Job's identity: ServiceAccount, Role, RoleBinding.
fn identity() -> Vec<Step> {
    vec![
        step("POST", SERVICE_ACCOUNTS, 201, None),
        step("POST", ROLES, 201, None),
        step("POST", ROLE_BINDINGS, 201, None),
    ]
}

fn status_and_event() -> Vec<Step> {
    vec![
        step("PATCH", RESTORE_STATUS, 200, None),
        step("POST", EVENTS, 201, None),
    ]
}

fn find<'a>(seen: &'a [Seen], method: &str, path: &str) -> &'a Seen {
    seen.iter()
        .find(|s| s.method == method && s.path == path)
        .unwrap_or_else(|| panic!("no {method} {path} in {seen:#?}"))
}

fn only_condition(patch: &Value, type_: &str) -> Value {
    let conds = patch["status"]["conditions"]
        .as_array()
        .expect("conditions array");
    let found: Vec<&Value> = conds.iter().filter(|c| c["type"] == type_).collect();
    assert_eq!(found.len(), 1, "one {type_} condition in {conds:?}");
    found[0].clone()
}

fn assert_event(seen: &Seen, type_: &str, reason: &str, note: &str) {
    assert_eq!(seen.body["type"], type_);
    assert_eq!(seen.body["reason"], reason);
    assert_eq!(seen.body["note"], note);
    assert_eq!(seen.body["regarding"]["kind"], "AerospikeNamespaceRestore");
    assert_eq!(seen.body["regarding"]["name"], NAME);
    assert_eq!(seen.body["regarding"]["uid"], UID);
}

fn with_status(mut r: AerospikeNamespaceRestore, status: Value) -> AerospikeNamespaceRestore {
    r.status = Some(
        serde_json::from_value::<AerospikeNamespaceRestoreStatus>(status).expect("status parses"),
    );
    r
}

fn started_status() -> Value {
    json!({
        "target": {"cluster": "as-cluster-0", "namespace": "as-namespace-0"},
        "storage": {"type": "gcs", "bucket": "aerospike-backup", "secret": "gcs-secret"},
        "job": format!("{NS}/{JOB}"), "phase": "Running", "startTime": "2026-11-25T05:00:00Z",
        "conditions": [{"type": "RestoreStarted", "status": "True", "reason": "JobCreated",
            "message": "restore job created as kubernetes-namespace-0/as-backup-0-restore",
            "lastTransitionTime": "2026-11-25T05:00:00Z", "observedGeneration": 1}]
    })
}

#[tokio::test]
async fn new_restore_creates_job_then_status_then_event() {
    let mut script = validation_ok(NS);
    script.extend(create_job());
    script.extend(status_and_event());
    let (result, seen) = run(restore(), script).await;
    assert_eq!(result.unwrap(), Action::requeue(crate::reconcile::RESYNC));
    assert_eq!(seen.len(), 9);

    let job = &find(&seen, "POST", JOBS).body;
    assert_eq!(job["metadata"]["name"], JOB);
    assert_eq!(job["metadata"]["namespace"], NS);
    assert_eq!(
        job["metadata"]["labels"],
        json!({"app": "aerospike", "cluster": "as-cluster-0", "namespace": "as-namespace-0"})
    );
    let owner = &job["metadata"]["ownerReferences"][0];
    assert_eq!(
        (
            owner["uid"].as_str(),
            owner["controller"].as_bool(),
            owner["kind"].as_str()
        ),
        (Some(UID), Some(true), Some("AerospikeNamespaceRestore"))
    );
    assert_eq!(job["spec"]["backoffLimit"], 3);
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let c = &pod["containers"][0];
    assert_eq!(
        c["args"],
        json!([
            "--backup",
            "gs://aerospike-backup/as-backup-0",
            "--target-namespace",
            "as-namespace-0",
            "-h",
            "as-cluster-0.kubernetes-namespace-0",
            "--log-format",
            "logfmt"
        ])
    );
    assert_eq!(
        c["env"],
        json!([{"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": "/secret/key.json"},
               {"name": "RESTORE_STATUS_REPORT", "value": "kubernetes-namespace-0/as-backup-0"}])
    );
    assert_eq!(pod["serviceAccountName"], JOB);
    assert_eq!(pod["automountServiceAccountToken"], true);
    let sa = &find(&seen, "POST", SERVICE_ACCOUNTS).body;
    assert_eq!(sa["metadata"]["name"], JOB);
    assert_eq!(sa["metadata"]["ownerReferences"][0]["uid"], UID);
    assert_eq!(sa["automountServiceAccountToken"], false);
    let role = &find(&seen, "POST", ROLES).body;
    assert_eq!(role["metadata"]["ownerReferences"][0]["uid"], UID);
    assert_eq!(
        role["rules"],
        json!([{"apiGroups": ["aerospike.travelaudience.com"],
                "resources": ["aerospikenamespacerestores/status"],
                "resourceNames": [NAME], "verbs": ["get", "patch"]}]),
        "the restorer may read and patch its own restore's status, nothing else"
    );
    let rb = &find(&seen, "POST", ROLE_BINDINGS).body;
    assert_eq!(rb["metadata"]["ownerReferences"][0]["uid"], UID);
    assert_eq!(
        rb["roleRef"],
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": JOB})
    );
    assert_eq!(
        rb["subjects"],
        json!([{"kind": "ServiceAccount", "name": JOB, "namespace": NS}])
    );
    assert_eq!(
        c["volumeMounts"],
        json!([{"name": "secret", "mountPath": "/secret", "readOnly": true}, {"name": "tmp", "mountPath": "/tmp"}])
    );
    assert_eq!(pod["volumes"][0]["secret"]["secretName"], "gcs-secret");
    assert_eq!(c["terminationMessagePolicy"], "FallbackToLogsOnError");

    let patch = find(&seen, "PATCH", RESTORE_STATUS);
    assert_eq!(patch.content_type, "application/merge-patch+json");
    assert_eq!(
        patch.body["metadata"],
        json!({"resourceVersion": RESOURCE_VERSION}),
        "written only over the object that was read"
    );
    let st = &patch.body["status"];
    assert_eq!(st["phase"], "Running");
    assert_eq!(
        st["target"],
        json!({"cluster": "as-cluster-0", "namespace": "as-namespace-0"})
    );
    assert_eq!(
        st["storage"],
        json!({"type": "gcs", "bucket": "aerospike-backup", "secret": "gcs-secret"})
    );
    assert_eq!(st["job"], format!("{NS}/{JOB}"));
    assert!(st["startTime"].is_string());
    let cond = only_condition(&patch.body, "RestoreStarted");
    assert_eq!(cond["status"], "True");
    assert_eq!(
        cond["message"],
        "restore job created as kubernetes-namespace-0/as-backup-0-restore"
    );
    assert_eq!(cond["observedGeneration"], 1);
    assert!(cond["lastTransitionTime"].is_string());

    assert_event(
        find(&seen, "POST", EVENTS),
        "Normal",
        "JobCreated",
        "restore job created as kubernetes-namespace-0/as-backup-0-restore",
    );
    // Order: ServiceAccount, Job, Role, RoleBinding, then status, then event.
    let order: Vec<(&str, &str)> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.path.as_str()))
        .skip(2)
        .collect();
    assert_eq!(
        order,
        [
            (
                "GET",
                "/api/v1/namespaces/kubernetes-namespace-0/secrets/gcs-secret"
            ),
            ("POST", SERVICE_ACCOUNTS),
            ("POST", JOBS),
            ("POST", ROLES),
            ("POST", ROLE_BINDINGS),
            ("PATCH", RESTORE_STATUS),
            ("POST", EVENTS)
        ]
    );
}

#[tokio::test]
async fn storage_falls_back_to_the_cluster_backup_spec() {
    let mut script = validation_ok(NS);
    script.extend(create_job());
    script.extend(status_and_event());
    let (result, seen) = run(restore_with(None), script).await;
    result.unwrap();
    let job = &find(&seen, "POST", JOBS).body;
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["args"][1],
        "gs://aerospike-backup/as-backup-0"
    );
    let st = &find(&seen, "PATCH", RESTORE_STATUS).body["status"];
    assert_eq!(st["storage"]["bucket"], "aerospike-backup");
}

#[tokio::test]
async fn s3_storage_uses_s3_scheme_and_secret_environment() {
    let mut script = vec![
        step("GET", job_path(), 404, Some(not_found())),
        step("GET", cluster_path(), 200, Some(cluster_json())),
        // s3 needs no key file: the Secret's AWS_* keys become the environment.
        step(
            "GET",
            format!("{}/gcs-secret", secrets(NS)),
            200,
            Some(secret_json(NS, &["AWS_ACCESS_KEY_ID"])),
        ),
        step("POST", SERVICE_ACCOUNTS, 201, None),
    ];
    script.extend(create_job());
    script.extend(status_and_event());
    let (result, seen) = run(restore_with(Some(storage(StorageType::S3, None))), script).await;
    result.unwrap();
    let c = &find(&seen, "POST", JOBS).body["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["args"][1], "s3://aerospike-backup/as-backup-0");
    assert_eq!(
        c["envFrom"],
        json!([{"secretRef": {"name": "gcs-secret", "optional": false}}])
    );
    assert_eq!(
        c["env"],
        json!([{"name": "RESTORE_STATUS_REPORT", "value": "kubernetes-namespace-0/as-backup-0"}])
    );
}

#[tokio::test]
async fn secret_in_another_namespace_is_copied_and_owned() {
    let restore = restore_with(Some(storage(StorageType::Gcs, Some("secrets-ns"))));
    let mut script = validation_ok("secrets-ns");
    script.push(step(
        "GET",
        format!("{}/as-backup-0-restore-secret", secrets(NS)),
        404,
        Some(not_found()),
    ));
    script.push(step("POST", secrets(NS), 201, None));
    script.extend(create_job());
    script.extend(status_and_event());
    let (result, seen) = run(restore, script).await;
    result.unwrap();
    let copy = &find(&seen, "POST", &secrets(NS)).body;
    assert_eq!(copy["metadata"]["name"], "as-backup-0-restore-secret");
    assert_eq!(copy["metadata"]["namespace"], NS);
    assert_eq!(copy["metadata"]["ownerReferences"][0]["uid"], UID);
    assert_eq!(
        copy["metadata"]["annotations"]["aerospike.travelaudience.com/copied-from"],
        "secrets-ns/gcs-secret"
    );
    assert_eq!(copy["data"], json!({"key.json": "e30="}));
    let job = &find(&seen, "POST", JOBS).body;
    assert_eq!(
        job["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"],
        "as-backup-0-restore-secret"
    );
}

#[tokio::test]
async fn a_secret_copy_owned_by_someone_else_is_not_touched() {
    let restore = restore_with(Some(storage(StorageType::Gcs, Some("secrets-ns"))));
    let mut script = validation_ok("secrets-ns");
    script.push(step(
        "GET",
        format!("{}/as-backup-0-restore-secret", secrets(NS)),
        200,
        Some(secret_json(NS, &["key.json"])),
    ));
    let (result, _) = run(restore, script).await;
    assert!(
        matches!(result, Err(Error::SecretNotOwned(_))),
        "{result:?}"
    );
}

/// Runs a validation failure and checks RestoreFailed + Warning event and no Job.
async fn assert_validation_failure(
    restore: AerospikeNamespaceRestore,
    mut script: Vec<Step>,
    reason: &str,
    message: &str,
) {
    script.extend(status_and_event());
    let (result, seen) = run(restore, script).await;
    assert_eq!(result.unwrap(), Action::await_change());
    assert!(
        !seen.iter().any(|s| s.method == "POST" && s.path == JOBS),
        "no job created"
    );
    let patch = &find(&seen, "PATCH", RESTORE_STATUS).body;
    let cond = only_condition(patch, "RestoreFailed");
    assert_eq!(
        (cond["reason"].as_str(), cond["message"].as_str()),
        (Some(reason), Some(message))
    );
    assert_eq!(patch["status"]["phase"], "Failed");
    assert_event(find(&seen, "POST", EVENTS), "Warning", reason, message);
}

#[tokio::test]
async fn missing_cluster_fails_without_job() {
    let script = vec![
        step("GET", job_path(), 404, Some(not_found())),
        step("GET", cluster_path(), 404, Some(not_found())),
    ];
    assert_validation_failure(
        restore(),
        script,
        "ClusterNotFound",
        "aerospikecluster kubernetes-namespace-0/as-cluster-0 not found",
    )
    .await;
}

#[tokio::test]
async fn namespace_not_in_cluster_fails_without_job() {
    let mut r = restore();
    r.spec.target.namespace = "other-ns".into();
    let script = vec![
        step("GET", job_path(), 404, Some(not_found())),
        step("GET", cluster_path(), 200, Some(cluster_json())),
    ];
    assert_validation_failure(
        r,
        script,
        "NamespaceNotFound",
        "namespace other-ns not found in aerospikecluster kubernetes-namespace-0/as-cluster-0",
    )
    .await;
}

#[tokio::test]
async fn no_storage_anywhere_fails_without_job() {
    let mut cluster = cluster_json();
    cluster["spec"]
        .as_object_mut()
        .unwrap()
        .remove("backupSpec");
    let script = vec![
        step("GET", job_path(), 404, Some(not_found())),
        step("GET", cluster_path(), 200, Some(cluster)),
    ];
    assert_validation_failure(
        restore_with(None),
        script,
        "StorageNotSpecified",
        "no storage in spec.storage nor in aerospikecluster kubernetes-namespace-0/as-cluster-0 .spec.backupSpec.storage",
    )
    .await;
}

#[tokio::test]
async fn missing_secret_fails_without_job() {
    let script = vec![
        step("GET", job_path(), 404, Some(not_found())),
        step("GET", cluster_path(), 200, Some(cluster_json())),
        step(
            "GET",
            format!("{}/gcs-secret", secrets(NS)),
            404,
            Some(not_found()),
        ),
        step("POST", SERVICE_ACCOUNTS, 201, None),
    ];
    assert_validation_failure(
        restore(),
        script,
        "SecretNotFound",
        "secret kubernetes-namespace-0/gcs-secret not found",
    )
    .await;
}

#[tokio::test]
async fn missing_secret_key_fails_without_job() {
    let script = vec![
        step("GET", job_path(), 404, Some(not_found())),
        step("GET", cluster_path(), 200, Some(cluster_json())),
        step(
            "GET",
            format!("{}/gcs-secret", secrets(NS)),
            200,
            Some(secret_json(NS, &["other.json"])),
        ),
        step("POST", SERVICE_ACCOUNTS, 201, None),
    ];
    assert_validation_failure(
        restore(),
        script,
        "SecretKeyNotFound",
        "secret kubernetes-namespace-0/gcs-secret has no key key.json",
    )
    .await;
}

#[tokio::test]
async fn too_long_name_fails_before_any_lookup() {
    let mut r = restore();
    let long = "a".repeat(60);
    r.metadata.name = Some(long.clone());
    let status_path = RESTORE_STATUS.replace(NAME, &long);
    let script = vec![
        step(
            "GET",
            format!("{JOBS}/{long}-restore"),
            404,
            Some(not_found()),
        ),
        step("PATCH", status_path.clone(), 200, None),
        step("POST", EVENTS, 201, None),
    ];
    let (result, seen) = run(r, script).await;
    result.unwrap();
    let cond = only_condition(&find(&seen, "PATCH", &status_path).body, "RestoreFailed");
    assert_eq!(cond["reason"], "InvalidName");
}

#[tokio::test]
async fn existing_owned_job_is_adopted_and_start_recorded_once() {
    let script = vec![
        step("GET", job_path(), 200, Some(job_json(UID, job_running()))),
        step("POST", SERVICE_ACCOUNTS, 201, None),
        step("POST", ROLES, 201, None),
        step("POST", ROLE_BINDINGS, 201, None),
        step("PATCH", RESTORE_STATUS, 200, None),
        step("POST", EVENTS, 201, None),
    ];
    let (result, seen) = run(restore(), script).await;
    assert_eq!(result.unwrap(), Action::requeue(crate::reconcile::RESYNC));
    let cond = only_condition(&find(&seen, "PATCH", RESTORE_STATUS).body, "RestoreStarted");
    assert_eq!(
        cond["message"],
        "restore job created as kubernetes-namespace-0/as-backup-0-restore"
    );
    assert_event(
        find(&seen, "POST", EVENTS),
        "Normal",
        "JobCreated",
        "restore job created as kubernetes-namespace-0/as-backup-0-restore",
    );
}

#[tokio::test]
async fn job_with_another_owner_uid_is_not_adopted() {
    let script = vec![step(
        "GET",
        job_path(),
        200,
        Some(job_json("some-other-uid", job_running())),
    )];
    let (result, seen) = run(restore(), script).await;
    assert!(
        matches!(result, Err(Error::JobNotOwned(ref j)) if j == "kubernetes-namespace-0/as-backup-0-restore"),
        "{result:?}"
    );
    assert_eq!(seen.len(), 1, "nothing written");
}

#[tokio::test]
async fn running_job_already_recorded_makes_no_writes() {
    let script = vec![step(
        "GET",
        job_path(),
        200,
        Some(job_json(UID, job_running())),
    )];
    let (result, _) = run(with_status(restore(), started_status()), script).await;
    assert_eq!(result.unwrap(), Action::requeue(crate::reconcile::RESYNC));
}

const SUMMARY: &str = r#"{"records":1000,"expired":1,"skipped":2,"ignored":0,"inserted":990,"existed":5,"fresher":2,"bytes":123456,"error":null}"#;

#[tokio::test]
async fn completed_job_finishes_with_counters_and_event() {
    let job_status = job_complete();
    let script = vec![
        step("GET", job_path(), 200, Some(job_json(UID, job_status))),
        step(
            "GET",
            PODS,
            200,
            Some(list_json(
                "PodList",
                vec![pod_json("Succeeded", 0, SUMMARY)],
            )),
        ),
        step("PATCH", RESTORE_STATUS, 200, None),
        step("POST", EVENTS, 201, None),
    ];
    let (result, seen) = run(with_status(restore(), started_status()), script).await;
    assert_eq!(result.unwrap(), Action::await_change());
    assert_eq!(
        find(&seen, "GET", PODS).query,
        "&labelSelector=job-name%3Das-backup-0-restore"
    );
    let patch = &find(&seen, "PATCH", RESTORE_STATUS).body;
    let st = &patch["status"];
    assert_eq!(st["phase"], "Finished");
    assert_eq!(st["completionTime"], "2026-11-25T06:00:01Z");
    assert_eq!(st["startTime"], "2026-11-25T05:00:00Z", "start time kept");
    assert_eq!(
        st["counters"],
        json!({"records":1000,"expired":1,"skipped":2,"ignored":0,"inserted":990,"existed":5,"fresher":2,"bytes":123456})
    );
    let cond = only_condition(patch, "RestoreFinished");
    assert_eq!(
        (cond["reason"].as_str(), cond["message"].as_str()),
        (Some("JobFinished"), Some("restore job has finished"))
    );
    only_condition(patch, "RestoreStarted");
    assert_event(
        find(&seen, "POST", EVENTS),
        "Normal",
        "JobFinished",
        "restore job has finished",
    );
}

#[tokio::test]
async fn completed_job_removes_the_secret_copy() {
    let mut status = started_status();
    status["storage"]["secretNamespace"] = json!("secrets-ns");
    let job_status = job_complete();
    let mut copy = secret_json(NS, &["key.json"]);
    copy["metadata"]["name"] = json!("as-backup-0-restore-secret");
    copy["metadata"]["ownerReferences"] = json!([{"apiVersion": "aerospike.travelaudience.com/v1alpha2",
        "kind": "AerospikeNamespaceRestore", "name": NAME, "uid": UID, "controller": true}]);
    let copy_path = format!("{}/as-backup-0-restore-secret", secrets(NS));
    let script = vec![
        step("GET", job_path(), 200, Some(job_json(UID, job_status))),
        step("GET", PODS, 200, Some(list_json("PodList", vec![]))),
        step("GET", copy_path.clone(), 200, Some(copy.clone())),
        step("DELETE", copy_path, 200, Some(copy)),
        step("PATCH", RESTORE_STATUS, 200, None),
        step("POST", EVENTS, 201, None),
    ];
    let (result, seen) = run(with_status(restore(), status), script).await;
    result.unwrap();
    let patch = &find(&seen, "PATCH", RESTORE_STATUS).body;
    assert!(
        patch["status"].get("counters").is_none(),
        "no termination message, no counters"
    );
    only_condition(patch, "RestoreFinished");
}

#[tokio::test]
async fn failed_job_fails_the_restore_with_count_and_warning() {
    let job_status = job_failed(4, true);
    let log_tail = "time=\"2026-11-25T06:00:00Z\" level=error msg=\"cannot read backup\"";
    let script = vec![
        step("GET", job_path(), 200, Some(job_json(UID, job_status))),
        step(
            "GET",
            PODS,
            200,
            Some(list_json("PodList", vec![pod_json("Failed", 1, log_tail)])),
        ),
        step("PATCH", RESTORE_STATUS, 200, None),
        step("POST", EVENTS, 201, None),
    ];
    let (result, seen) = run(with_status(restore(), started_status()), script).await;
    assert_eq!(result.unwrap(), Action::await_change());
    let patch = &find(&seen, "PATCH", RESTORE_STATUS).body;
    let cond = only_condition(patch, "RestoreFailed");
    assert_eq!(
        (cond["reason"].as_str(), cond["message"].as_str()),
        (Some("JobFailed"), Some("restore job failed 4 times"))
    );
    assert_eq!(patch["status"]["phase"], "Failed");
    assert!(
        patch["status"]["completionTime"].is_string(),
        "a failed Job has no completionTime: the operator's clock"
    );
    assert_eq!(patch["status"]["counters"]["error"], log_tail);
    assert_event(
        find(&seen, "POST", EVENTS),
        "Warning",
        "JobFailed",
        "restore job failed 4 times",
    );
}

#[tokio::test]
async fn finished_or_failed_restores_never_run_again() {
    for status in [
        json!({"conditions": [{"type": "RestoreFinished", "status": "True", "reason": "JobFinished", "message": "restore job has finished"}]}),
        json!({"conditions": [{"type": "RestoreFailed", "status": "True", "reason": "ClusterNotFound", "message": "x"}]}),
    ] {
        let (result, seen) = run(with_status(restore(), status), vec![]).await;
        assert_eq!(result.unwrap(), Action::await_change());
        assert!(seen.is_empty());
    }
}

#[tokio::test]
async fn reference_operator_status_is_read_and_respected() {
    // As the Go operator wrote it: spec fields inlined, capitalised `Conditions` and keys.
    let legacy = json!({
        "target": {"cluster": "as-cluster-0", "namespace": "as-namespace-0"},
        "storage": {"type": "gcs", "bucket": "aerospike-backup", "secret": "gcs-secret"},
        "Conditions": [
            {"Type": "RestoreStarted", "Status": "True", "LastTransitionTime": "2018-07-02T15:52:48Z", "Reason": "", "Message": "restore job created as kubernetes-namespace-0/as-backup-0-restore"},
            {"Type": "RestoreFinished", "Status": "True", "LastTransitionTime": "2018-07-02T15:53:48Z", "Reason": "", "Message": "restore job has finished"}
        ]
    });
    let mut obj = serde_json::to_value(restore()).unwrap();
    obj["status"] = legacy;
    let r: AerospikeNamespaceRestore = serde_json::from_value(obj).expect("reference object reads");
    let (result, seen) = run(r, vec![]).await;
    assert_eq!(result.unwrap(), Action::await_change());
    assert!(
        seen.is_empty(),
        "a finished reference restore is left alone"
    );
}

#[tokio::test]
async fn reference_operator_running_restore_is_migrated_on_finish() {
    let legacy = json!({"Conditions": [{"Type": "RestoreStarted", "Status": "True", "LastTransitionTime": null, "Reason": "", "Message": "m"}]});
    let job_status = job_complete();
    let script = vec![
        step("GET", job_path(), 200, Some(job_json(UID, job_status))),
        step("GET", PODS, 200, Some(list_json("PodList", vec![]))),
        step("PATCH", RESTORE_STATUS, 200, None),
        step("POST", EVENTS, 201, None),
    ];
    let (result, seen) = run(with_status(restore(), legacy), script).await;
    result.unwrap();
    let patch = &find(&seen, "PATCH", RESTORE_STATUS).body;
    assert_eq!(
        patch["status"]["Conditions"],
        Value::Null,
        "legacy key removed"
    );
    assert!(
        patch["status"]
            .as_object()
            .unwrap()
            .contains_key("Conditions")
    );
    assert_eq!(only_condition(patch, "RestoreStarted")["message"], "m");
    only_condition(patch, "RestoreFinished");
    // Only the finish event: the start was recorded by the reference operator.
    assert_eq!(seen.iter().filter(|s| s.path == EVENTS).count(), 1);
}

#[tokio::test]
async fn job_deleted_after_start_fails_instead_of_rerunning() {
    let script = vec![step("GET", job_path(), 404, Some(not_found()))];
    let mut script = script;
    script.extend(status_and_event());
    let (result, seen) = run(with_status(restore(), started_status()), script).await;
    assert_eq!(result.unwrap(), Action::await_change());
    let cond = only_condition(&find(&seen, "PATCH", RESTORE_STATUS).body, "RestoreFailed");
    assert_eq!(cond["reason"], "JobMissing");
    assert!(!seen.iter().any(|s| s.method == "POST" && s.path == JOBS));
}

#[tokio::test]
async fn api_errors_are_returned_for_requeue_with_backoff() {
    let err = json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
                     "message": "etcd timeout", "reason": "InternalError", "code": 500});
    let script = vec![step("GET", job_path(), 500, Some(err))];
    let (result, _) = run(restore(), script).await;
    let e = result.unwrap_err();
    assert!(matches!(e, Error::Kube(_)), "{e:?}");
}

#[tokio::test]
async fn job_create_conflict_is_retried_not_failed() {
    let conflict = json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
                          "message": "exists", "reason": "AlreadyExists", "code": 409});
    let mut script = validation_ok(NS);
    script.push(step("POST", JOBS, 409, Some(conflict)));
    let (result, seen) = run(restore(), script).await;
    assert!(matches!(result, Err(Error::Kube(_))), "{result:?}");
    assert!(
        !seen.iter().any(|s| s.method == "PATCH"),
        "no status written"
    );
}

#[tokio::test]
async fn a_restore_being_deleted_is_left_to_garbage_collection() {
    let mut r = restore();
    r.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::now(),
    ));
    let (result, seen) = run(r, vec![]).await;
    assert_eq!(result.unwrap(), Action::await_change());
    assert!(seen.is_empty());
}

#[tokio::test]
async fn adopted_job_that_already_ended_records_start_and_end_in_one_write() {
    let job_status = job_complete();
    let mut script = vec![step(
        "GET",
        job_path(),
        200,
        Some(job_json(UID, job_status)),
    )];
    script.extend(identity());
    script.extend([
        step(
            "GET",
            PODS,
            200,
            Some(list_json(
                "PodList",
                vec![pod_json("Succeeded", 0, SUMMARY)],
            )),
        ),
        step("PATCH", RESTORE_STATUS, 200, None),
        step("POST", EVENTS, 201, None),
        step("POST", EVENTS, 201, None),
    ]);
    let (result, seen) = run(restore(), script).await;
    assert_eq!(result.unwrap(), Action::await_change());
    let patch = &find(&seen, "PATCH", RESTORE_STATUS).body;
    only_condition(patch, "RestoreStarted");
    only_condition(patch, "RestoreFinished");
    assert_eq!(patch["status"]["phase"], "Finished");
    assert_eq!(patch["status"]["counters"]["inserted"], 990);
    let events: Vec<&str> = seen
        .iter()
        .filter(|s| s.path == EVENTS)
        .map(|s| s.body["reason"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["JobCreated", "JobFinished"]);
}

#[tokio::test]
async fn an_owned_secret_copy_from_an_earlier_attempt_is_reused() {
    let restore = restore_with(Some(storage(StorageType::Gcs, Some("secrets-ns"))));
    let mut copy = secret_json(NS, &["key.json"]);
    copy["metadata"]["name"] = json!("as-backup-0-restore-secret");
    copy["metadata"]["ownerReferences"] = json!([{"apiVersion": "aerospike.travelaudience.com/v1alpha2",
        "kind": "AerospikeNamespaceRestore", "name": NAME, "uid": UID, "controller": true}]);
    let mut script = validation_ok("secrets-ns");
    script.push(step(
        "GET",
        format!("{}/as-backup-0-restore-secret", secrets(NS)),
        200,
        Some(copy),
    ));
    script.extend(create_job());
    script.extend(status_and_event());
    let (result, seen) = run(restore, script).await;
    result.unwrap();
    assert!(
        !seen
            .iter()
            .any(|s| s.method == "POST" && s.path == secrets(NS)),
        "no second copy"
    );
}

#[tokio::test]
async fn a_job_decided_but_not_yet_ended_is_still_running() {
    // The job controller sets SuccessCriteriaMet / FailureTarget first, and Complete / Failed
    // only once every pod is accounted for.
    let mut success_criteria_met = job_complete();
    success_criteria_met["conditions"]
        .as_array_mut()
        .unwrap()
        .truncate(1);
    for job_status in [success_criteria_met, job_failed(4, false)] {
        let script = vec![step(
            "GET",
            job_path(),
            200,
            Some(job_json(UID, job_status)),
        )];
        let (result, seen) = run(with_status(restore(), started_status()), script).await;
        assert_eq!(result.unwrap(), Action::requeue(crate::reconcile::RESYNC));
        assert_eq!(seen.len(), 1, "nothing written");
    }
}

#[tokio::test]
async fn a_status_write_over_a_newer_restore_publishes_nothing() {
    // The watch cache can hand out the restore as it was before this controller's last status
    // write; the API server refuses a write carrying that older resourceVersion.
    let conflict = json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
        "message": "Operation cannot be fulfilled on aerospikenamespacerestores.aerospike.travelaudience.com \"as-backup-0\": the object has been modified; please apply your changes to the latest version and try again",
        "reason": "Conflict", "code": 409});
    let script = vec![
        step("GET", job_path(), 200, Some(job_json(UID, job_complete()))),
        step(
            "GET",
            PODS,
            200,
            Some(list_json(
                "PodList",
                vec![pod_json("Succeeded", 0, SUMMARY)],
            )),
        ),
        step("PATCH", RESTORE_STATUS, 409, Some(conflict)),
    ];
    let (result, seen) = run(with_status(restore(), started_status()), script).await;
    assert_eq!(
        result.unwrap(),
        Action::requeue(crate::reconcile::STALE_RETRY),
        "looked at again soon, without backoff"
    );
    let patch = find(&seen, "PATCH", RESTORE_STATUS);
    assert_eq!(patch.body["metadata"]["resourceVersion"], RESOURCE_VERSION);
    assert!(
        !seen.iter().any(|s| s.path == EVENTS),
        "no event without a written transition"
    );
}

#[tokio::test]
async fn the_pod_that_ended_last_gives_the_counters_of_a_failed_job() {
    let pods: Vec<Value> = [
        ("2026-11-25T06:00:00Z", "first"),
        ("2026-11-25T06:00:30Z", "last"),
        ("2026-11-25T06:00:10Z", "second"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (finished, message))| {
        let mut p = pod_json_at("Failed", 1, message, finished);
        p["metadata"]["name"] = json!(format!("{JOB}-{i}"));
        p
    })
    .collect();
    let script = vec![
        step(
            "GET",
            job_path(),
            200,
            Some(job_json(UID, job_failed(4, true))),
        ),
        step("GET", PODS, 200, Some(list_json("PodList", pods))),
        step("PATCH", RESTORE_STATUS, 200, None),
        step("POST", EVENTS, 201, None),
    ];
    let (result, seen) = run(with_status(restore(), started_status()), script).await;
    result.unwrap();
    let patch = &find(&seen, "PATCH", RESTORE_STATUS).body;
    assert_eq!(patch["status"]["counters"]["error"], "last");
}

#[tokio::test]
async fn a_service_account_of_another_owner_blocks_the_job() {
    let exists = json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
                        "message": "exists", "reason": "AlreadyExists", "code": 409});
    let foreign = json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": JOB, "namespace": NS, "ownerReferences": [{"apiVersion": "v1",
            "kind": "Thing", "name": "x", "uid": "someone-else"}]}});
    let mut script = validation_up_to_secret(NS);
    script.push(step("POST", SERVICE_ACCOUNTS, 409, Some(exists)));
    script.push(step(
        "GET",
        format!("{SERVICE_ACCOUNTS}/{JOB}"),
        200,
        Some(foreign),
    ));
    let (result, seen) = run(restore(), script).await;
    assert!(
        matches!(&result, Err(Error::NotOwned(what)) if what == "ServiceAccount as-backup-0-restore"),
        "{result:?}"
    );
    assert!(
        !seen.iter().any(|s| s.path == JOBS),
        "no Job runs as a ServiceAccount the restore does not own"
    );
}

#[tokio::test]
async fn an_owned_identity_from_an_earlier_attempt_is_reused() {
    let exists = json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
                        "message": "exists", "reason": "AlreadyExists", "code": 409});
    let owned = |kind: &str| {
        let api_version = if kind == "ServiceAccount" {
            "v1"
        } else {
            "rbac.authorization.k8s.io/v1"
        };
        json!({"apiVersion": api_version, "kind": kind,
            "metadata": {"name": JOB, "namespace": NS, "ownerReferences": [{"apiVersion":
                "aerospike.travelaudience.com/v1alpha2", "kind": "AerospikeNamespaceRestore",
                "name": NAME, "uid": UID, "controller": true}]}})
    };
    let mut script = validation_up_to_secret(NS);
    script.push(step("POST", SERVICE_ACCOUNTS, 409, Some(exists.clone())));
    script.push(step(
        "GET",
        format!("{SERVICE_ACCOUNTS}/{JOB}"),
        200,
        Some(owned("ServiceAccount")),
    ));
    script.push(step("POST", JOBS, 201, None));
    script.push(step("POST", ROLES, 409, Some(exists.clone())));
    script.push(step(
        "GET",
        format!("{ROLES}/{JOB}"),
        200,
        Some(owned("Role")),
    ));
    script.push(step("POST", ROLE_BINDINGS, 409, Some(exists)));
    script.push(step(
        "GET",
        format!("{ROLE_BINDINGS}/{JOB}"),
        200,
        Some(owned("RoleBinding")),
    ));
    script.extend(status_and_event());
    let (result, _) = run(restore(), script).await;
    assert_eq!(result.unwrap(), Action::requeue(crate::reconcile::RESYNC));
}

#[tokio::test]
async fn a_finished_restore_gets_the_final_progress_over_the_reported_one() {
    let mut status = started_status();
    status["progress"] = json!({"recordsRead": 400, "recordsWritten": 390, "percent": 40.0,
        "rate": 100.0, "eta": "6s", "summary": "40% 400 records",
        "pods": {"0": {"recordsRead": 400, "recordsWritten": 390, "percent": 40.0}}});
    let script = vec![
        step("GET", job_path(), 200, Some(job_json(UID, job_complete()))),
        step(
            "GET",
            PODS,
            200,
            Some(list_json(
                "PodList",
                vec![pod_json("Succeeded", 0, SUMMARY)],
            )),
        ),
        step("PATCH", RESTORE_STATUS, 200, None),
        step("POST", EVENTS, 201, None),
    ];
    let (result, seen) = run(with_status(restore(), status), script).await;
    assert_eq!(result.unwrap(), Action::await_change());
    let patch = &find(&seen, "PATCH", RESTORE_STATUS).body;
    assert_eq!(
        patch["metadata"],
        json!({"resourceVersion": RESOURCE_VERSION}),
        "never over a newer report"
    );
    let p = &patch["status"]["progress"];
    assert_eq!(
        (p["recordsRead"].as_u64(), p["recordsWritten"].as_u64()),
        (Some(1000), Some(990))
    );
    assert_eq!(p["percent"], 100.0);
    assert_eq!(p["summary"], "100% 1000 records");
    assert!(
        p["rate"].is_null() && p["eta"].is_null(),
        "the last rate and ETA are removed"
    );
    assert_eq!(p["pods"]["0"]["recordsRead"], 400, "per-pod entries kept");
}

#[tokio::test]
async fn a_running_restore_with_reported_progress_writes_nothing() {
    let mut status = started_status();
    status["progress"] = json!({"recordsRead": 400, "recordsWritten": 390, "percent": 40.0});
    let script = vec![step(
        "GET",
        job_path(),
        200,
        Some(job_json(UID, job_running())),
    )];
    let (result, seen) = run(with_status(restore(), status), script).await;
    assert_eq!(result.unwrap(), Action::requeue(crate::reconcile::RESYNC));
    assert_eq!(seen.len(), 1, "the restorer's reports are left alone");
}
