//! Test-only objects and a scripted mock API server (tower-test) for reconcile scenarios.

use crate::cluster::AerospikeCluster;
use crate::config::Config;
use crate::crd::{
    AerospikeNamespaceRestore, AerospikeNamespaceRestoreSpec, BackupStorageSpec, StorageType,
    TargetNamespace,
};
use crate::reconcile::{self, Context};
use http::{Request, Response};
use kube::client::Body;
use kube::runtime::controller::Action;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

pub const NS: &str = "kubernetes-namespace-0";
pub const NAME: &str = "as-backup-0";
pub const UID: &str = "0a1b2c3d-0000-4000-8000-000000000001";
pub const JOB: &str = "as-backup-0-restore";
pub const CLUSTER_YAML: &str = include_str!("../../testdata/k8s/aerospikecluster.yaml");
pub const EXAMPLE_YAML: &str = include_str!("../../deploy/examples/aerospikenamespacerestore.yaml");

/// The `resourceVersion` of [`restore`].
pub const RESOURCE_VERSION: &str = "1785";

/// The seed example of the issue, as the API server returns it (uid, generation and
/// resourceVersion set).
pub fn restore() -> AerospikeNamespaceRestore {
    let mut r: AerospikeNamespaceRestore =
        serde_yaml::from_str(EXAMPLE_YAML).expect("example parses");
    r.metadata.uid = Some(UID.into());
    r.metadata.generation = Some(1);
    r.metadata.resource_version = Some(RESOURCE_VERSION.into());
    r
}

/// A restore with the given spec.
pub fn restore_with(storage: Option<BackupStorageSpec>) -> AerospikeNamespaceRestore {
    let mut r = restore();
    r.spec = AerospikeNamespaceRestoreSpec {
        target: TargetNamespace {
            cluster: "as-cluster-0".into(),
            namespace: "as-namespace-0".into(),
        },
        storage,
    };
    r
}

/// A storage spec.
pub fn storage(type_: StorageType, secret_ns: Option<&str>) -> BackupStorageSpec {
    BackupStorageSpec {
        type_,
        bucket: "aerospike-backup".into(),
        secret: "gcs-secret".into(),
        secret_namespace: secret_ns.map(Into::into),
        secret_key: None,
    }
}

/// The example cluster of `testdata/k8s/`.
pub fn cluster() -> AerospikeCluster {
    serde_yaml::from_str(CLUSTER_YAML).expect("cluster example parses")
}

pub fn cluster_json() -> Value {
    serde_json::to_value(cluster()).unwrap()
}

/// A Secret with the given keys.
pub fn secret_json(ns: &str, keys: &[&str]) -> Value {
    let data: serde_json::Map<String, Value> = keys
        .iter()
        .map(|k| (k.to_string(), json!("e30=")))
        .collect();
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "gcs-secret", "namespace": ns}, "type": "Opaque", "data": data})
}

/// A Job as the API returns it, owned by `owner_uid`, with the given status.
pub fn job_json(owner_uid: &str, status: Value) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": JOB, "namespace": NS, "uid": "job-uid", "ownerReferences": [{
            "apiVersion": "aerospike.travelaudience.com/v1alpha2", "kind": "AerospikeNamespaceRestore",
            "name": NAME, "uid": owner_uid, "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"template": {"spec": {"containers": [{"name": "restorer", "image": "x"}]}}},
        "status": status
    })
}

// Job statuses as the job controller (kube-controller-manager v1.36) writes them.

/// A Job whose pod has not ended.
pub fn job_running() -> Value {
    json!({"active": 1, "ready": 0, "startTime": "2026-11-25T06:00:00Z", "terminating": 0,
           "uncountedTerminatedPods": {}})
}

/// A Job whose pod succeeded: `SuccessCriteriaMet`, then `Complete` once the pod is accounted for.
pub fn job_complete() -> Value {
    let cond = |t: &str| {
        json!({"type": t, "status": "True", "reason": "CompletionsReached",
               "message": "Reached expected number of succeeded pods",
               "lastProbeTime": "2026-11-25T06:00:01Z", "lastTransitionTime": "2026-11-25T06:00:01Z"})
    };
    json!({"completionTime": "2026-11-25T06:00:01Z", "startTime": "2026-11-25T06:00:00Z",
           "conditions": [cond("SuccessCriteriaMet"), cond("Complete")], "ready": 0, "succeeded": 1,
           "terminating": 0, "uncountedTerminatedPods": {}})
}

/// A Job whose pods failed `failed` times, past its backoff limit: `FailureTarget`, and
/// `Failed` once no pod is left running (`with_failed`). No `completionTime`.
pub fn job_failed(failed: i32, with_failed: bool) -> Value {
    let cond = |t: &str| {
        json!({"type": t, "status": "True", "reason": "BackoffLimitExceeded",
               "message": "Job has reached the specified backoff limit",
               "lastProbeTime": "2026-11-25T06:00:04Z", "lastTransitionTime": "2026-11-25T06:00:04Z"})
    };
    let mut conditions = vec![cond("FailureTarget")];
    if with_failed {
        conditions.push(cond("Failed"));
    }
    json!({"conditions": conditions, "failed": failed, "ready": 0, "startTime": "2026-11-25T06:00:00Z",
           "terminating": if with_failed { 0 } else { 1 }, "uncountedTerminatedPods": {}})
}

/// A pod of the Job, as the job controller creates it and a kubelet ends it, whose restore
/// container terminated with `message` at `finished`.
pub fn pod_json(phase: &str, exit_code: i32, message: &str) -> Value {
    pod_json_at(phase, exit_code, message, "2026-11-25T06:00:00Z")
}

/// [`pod_json`] with the container's finish time.
pub fn pod_json_at(phase: &str, exit_code: i32, message: &str, finished: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{JOB}-abcde"), "namespace": NS,
            "labels": {"app": "aerospike", "batch.kubernetes.io/controller-uid": "job-uid",
                "batch.kubernetes.io/job-name": JOB, "cluster": "as-cluster-0", "controller-uid": "job-uid",
                "job-name": JOB, "namespace": "as-namespace-0"},
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": JOB, "uid": "job-uid",
                "controller": true, "blockOwnerDeletion": true}]},
        "status": {"phase": phase, "containerStatuses": [{
            "name": "restorer", "image": "x", "imageID": "", "ready": false, "restartCount": 0, "started": false,
            "state": {"terminated": {"exitCode": exit_code, "reason": if exit_code == 0 { "Completed" } else { "Error" },
                "startedAt": finished, "finishedAt": finished, "message": message}}}]}
    })
}

/// A list response.
pub fn list_json(kind: &str, items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": kind, "metadata": {}, "items": items})
}

/// The body of a 404 answer (a `Status`, so `get_opt` maps it to `None`).
pub fn not_found() -> Value {
    json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
           "message": "not found", "reason": "NotFound", "code": 404})
}

/// One scripted exchange: the expected request and the answer.
pub struct Step {
    pub method: &'static str,
    pub path: String,
    pub status: u16,
    /// `None` echoes the request body back.
    pub body: Option<Value>,
}

pub fn step(
    method: &'static str,
    path: impl Into<String>,
    status: u16,
    body: Option<Value>,
) -> Step {
    Step {
        method,
        path: path.into(),
        status,
        body,
    }
}

/// A request the mock server received.
#[derive(Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub body: Value,
}

pub const JOBS: &str = "/apis/batch/v1/namespaces/kubernetes-namespace-0/jobs";
pub const CLUSTERS: &str = "/apis/aerospike.travelaudience.com/v1alpha2/namespaces/kubernetes-namespace-0/aerospikeclusters";
pub const RESTORE_STATUS: &str = "/apis/aerospike.travelaudience.com/v1alpha2/namespaces/kubernetes-namespace-0/aerospikenamespacerestores/as-backup-0/status";
pub const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/kubernetes-namespace-0/events";
pub const PODS: &str = "/api/v1/namespaces/kubernetes-namespace-0/pods";
pub const SERVICE_ACCOUNTS: &str = "/api/v1/namespaces/kubernetes-namespace-0/serviceaccounts";
pub const ROLES: &str =
    "/apis/rbac.authorization.k8s.io/v1/namespaces/kubernetes-namespace-0/roles";
pub const ROLE_BINDINGS: &str =
    "/apis/rbac.authorization.k8s.io/v1/namespaces/kubernetes-namespace-0/rolebindings";

pub fn secrets(ns: &str) -> String {
    format!("/api/v1/namespaces/{ns}/secrets")
}

/// Runs one reconcile of `restore` against a server that expects exactly `script`, in order.
/// Panics on an unexpected, missing or extra request; returns the reconcile result and the
/// requests seen.
pub async fn run(
    restore: AerospikeNamespaceRestore,
    script: Vec<Step>,
) -> (crate::error::Result<Action>, Vec<Seen>) {
    let (svc, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(svc, "default");
    let restore_json = serde_json::to_value(&restore).unwrap();
    let server = tokio::spawn(async move {
        let mut seen = Vec::new();
        for (i, step) in script.into_iter().enumerate() {
            let Some((req, send)) = handle.next_request().await else {
                panic!(
                    "step {i}: expected {} {} but the reconcile ended",
                    step.method, step.path
                );
            };
            let method = req.method().to_string();
            let path = req.uri().path().to_owned();
            let query = req.uri().query().unwrap_or("").to_owned();
            assert_eq!(
                (method.as_str(), path.as_str()),
                (step.method, step.path.as_str()),
                "step {i}"
            );
            let content_type = req
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let bytes = req.into_body().collect_bytes().await.unwrap();
            let body: Value = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap()
            };
            let answer = match step.body {
                Some(b) => b,
                // A status patch answers with the restore; other writes echo their body.
                None if path.ends_with("/status") => restore_json.clone(),
                None => body.clone(),
            };
            send.send_response(
                Response::builder()
                    .status(step.status)
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&answer).unwrap()))
                    .unwrap(),
            );
            seen.push(Seen {
                method,
                path,
                query,
                content_type,
                body,
            });
        }
        if let Some((req, _)) = handle.next_request().await {
            panic!("unexpected extra request {} {}", req.method(), req.uri());
        }
        seen
    });
    let ctx = Arc::new(Context::new(client, Config::default()));
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        reconcile::reconcile(Arc::new(restore), ctx),
    )
    .await
    .expect("reconcile timed out");
    let seen = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server timed out")
        .expect("mock server assertion failed");
    (result, seen)
}
