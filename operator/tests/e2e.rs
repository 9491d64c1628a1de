//! End-to-end suite against a real Kubernetes cluster (kind, k3d, ...), run only on request:
//!
//! ```sh
//! E2E_KUBECONFIG=$HOME/.kube/kind-config cargo test -p operator --test e2e -- --ignored --test-threads=1
//! ```
//!
//! It applies the CRDs, runs the controller in-process, creates an AerospikeCluster, a Secret and
//! restores in a fresh namespace, then plays the Job's part by patching the Job status (no
//! restorer image or Aerospike server is needed). See operator/README.md.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, ResourceExt};
use operator::cluster::AerospikeCluster;
use operator::config::Config;
use operator::crd::AerospikeNamespaceRestore;
use serde_json::{Value, json};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(90);

async fn client() -> Client {
    let path = std::env::var("E2E_KUBECONFIG").expect(
        "E2E_KUBECONFIG must name a kubeconfig of a disposable cluster (see operator/README.md)",
    );
    let kubeconfig = Kubeconfig::read_from(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig usable");
    Client::try_from(config).expect("client")
}

/// Polls `f` until it returns `Some`, or panics after [`TIMEOUT`] naming `what`.
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < TIMEOUT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn apply_crds(client: &Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let pp = PatchParams::apply("aerospike-restore-e2e").force();
    for (_, crd) in operator::crd_yaml::crds() {
        let name = crd.name_any();
        api.patch(&name, &pp, &Patch::Apply(&crd))
            .await
            .expect("CRD applies");
        eventually(&format!("CRD {name} established"), || {
            let api = api.clone();
            let name = name.clone();
            async move {
                let crd = api.get(&name).await.ok()?;
                let established = crd
                    .status?
                    .conditions?
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True");
                established.then_some(())
            }
        })
        .await;
    }
}

async fn create<K>(client: &Client, ns: &str, value: Value) -> K
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let obj: K = serde_json::from_value(value).expect("object");
    Api::<K>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &obj)
        .await
        .expect("create")
}

fn restore_json(name: &str, ns: &str, cluster: &str) -> Value {
    json!({"apiVersion": "aerospike.travelaudience.com/v1alpha2", "kind": "AerospikeNamespaceRestore",
           "metadata": {"name": name, "namespace": ns},
           "spec": {"target": {"cluster": cluster, "namespace": "as-namespace-0"},
                    "storage": {"type": "gcs", "bucket": "aerospike-backup", "secret": "gcs-secret"}}})
}

async fn condition(
    api: &Api<AerospikeNamespaceRestore>,
    name: &str,
    type_: &str,
) -> AerospikeNamespaceRestore {
    eventually(&format!("{type_} on {name}"), || async {
        let r = api.get(name).await.ok()?;
        r.status.as_ref()?.is_true(type_).then_some(r)
    })
    .await
}

async fn events_for(client: &Client, ns: &str, name: &str, reason: &str) -> Vec<Event> {
    let all = Api::<Event>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .expect("events list");
    all.items
        .into_iter()
        .filter(|e| {
            e.reason.as_deref() == Some(reason)
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
        })
        .collect()
}

/// Waits for the restore's Job and checks name, labels, owner and arguments.
async fn job_of(client: &Client, ns: &str, restore: &AerospikeNamespaceRestore) -> Job {
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns);
    let name = format!("{}-restore", restore.name_any());
    let job = eventually(&format!("job {name}"), || async {
        jobs.get_opt(&name).await.ok().flatten()
    })
    .await;
    let labels = job.labels();
    assert_eq!(labels.get("app").map(String::as_str), Some("aerospike"));
    assert_eq!(
        labels.get("cluster").map(String::as_str),
        Some(restore.spec.target.cluster.as_str())
    );
    assert_eq!(
        labels.get("namespace").map(String::as_str),
        Some("as-namespace-0")
    );
    let owner = &job.owner_references()[0];
    assert_eq!(
        (owner.uid.as_str(), owner.controller),
        (restore.uid().unwrap().as_str(), Some(true))
    );
    let spec = job.spec.as_ref().unwrap();
    assert_eq!(spec.backoff_limit, Some(3));
    let pod = spec.template.spec.as_ref().unwrap();
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    let args = pod.containers[0].args.clone().unwrap();
    assert_eq!(
        args,
        [
            "--backup".to_owned(),
            format!("gs://aerospike-backup/{}", restore.name_any()),
            "--target-namespace".into(),
            "as-namespace-0".into(),
            "-h".into(),
            format!("{}.{ns}", restore.spec.target.cluster),
            "--log-format".into(),
            "logfmt".into(),
        ]
    );
    job
}

/// Plays the Job controller's part: marks the Job complete or failed through its status.
async fn finish_job(client: &Client, ns: &str, job: &Job, succeeded: bool) {
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let status = if succeeded {
        json!({"startTime": now, "completionTime": now, "active": 0, "succeeded": 1, "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now, "lastProbeTime": now},
            {"type": "Complete", "status": "True", "lastTransitionTime": now, "lastProbeTime": now}]})
    } else {
        json!({"startTime": now, "active": 0, "failed": 4, "conditions": [
            {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded", "lastTransitionTime": now, "lastProbeTime": now},
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "lastTransitionTime": now, "lastProbeTime": now}]})
    };
    Api::<Job>::namespaced(client.clone(), ns)
        .patch_status(
            &job.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await
        .expect("job status patch");
}

#[tokio::test]
#[ignore = "needs E2E_KUBECONFIG pointing at a disposable cluster (kind/k3d); see operator/README.md"]
async fn restore_lifecycle_on_a_real_cluster() {
    let client = client().await;
    apply_crds(&client).await;
    let ns = format!("asnr-e2e-{}", std::process::id());
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
        )
        .await
        .expect("test namespace");

    let mut cluster: Value =
        serde_yaml::from_str(include_str!("../../testdata/k8s/aerospikecluster.yaml")).unwrap();
    cluster["metadata"]["namespace"] = json!(ns);
    // Server-side apply of the raw object keeps every field (nodeCount, version, ...), as a
    // reference-operator user would have them; the shipped CRD must accept it.
    Api::<AerospikeCluster>::namespaced(client.clone(), &ns)
        .patch(
            "as-cluster-0",
            &PatchParams::apply("aerospike-restore-e2e"),
            &Patch::Apply(&cluster),
        )
        .await
        .expect("the example AerospikeCluster is accepted");
    let _: Secret = create(
        &client,
        &ns,
        json!({"metadata": {"name": "gcs-secret"}, "stringData": {"key.json": "{}"}}),
    )
    .await;

    let config = Config {
        restorer_image: "aerospike-restore:e2e-not-pulled".into(),
        ..Config::default()
    };
    let controller = tokio::spawn(operator::controller::run(
        client.clone(),
        config,
        Arc::new(AtomicBool::new(false)),
    ));
    let restores: Api<AerospikeNamespaceRestore> = Api::namespaced(client.clone(), &ns);

    // Success: Job created, marked complete, RestoreFinished and one JobFinished event.
    let r: AerospikeNamespaceRestore = create(
        &client,
        &ns,
        restore_json("as-backup-0", &ns, "as-cluster-0"),
    )
    .await;
    let job = job_of(&client, &ns, &r).await;
    let started = condition(&restores, "as-backup-0", "RestoreStarted").await;
    let st = started.status.unwrap();
    assert_eq!(st.target.as_ref().unwrap().cluster, "as-cluster-0");
    finish_job(&client, &ns, &job, true).await;
    let done = condition(&restores, "as-backup-0", "RestoreFinished").await;
    let st = done.status.unwrap();
    let cond = st
        .conditions
        .iter()
        .find(|c| c.type_ == "RestoreFinished")
        .unwrap();
    assert_eq!(cond.message, "restore job has finished");
    assert!(st.completion_time.is_some());
    let ev = eventually("JobFinished event", || async {
        let evs = events_for(&client, &ns, "as-backup-0", "JobFinished").await;
        (!evs.is_empty()).then_some(evs)
    })
    .await;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].note.as_deref(), Some("restore job has finished"));
    // Once per transition: a repeat would show up as a second object or as a series.
    assert!(
        ev[0].series.is_none(),
        "JobFinished published more than once"
    );
    let created = events_for(&client, &ns, "as-backup-0", "JobCreated").await;
    assert_eq!(created.len(), 1);
    assert!(
        created[0].series.is_none(),
        "JobCreated published more than once"
    );

    // Failure: Job marked failed, RestoreFailed and a JobFailed Warning event.
    let r: AerospikeNamespaceRestore = create(
        &client,
        &ns,
        restore_json("as-backup-1", &ns, "as-cluster-0"),
    )
    .await;
    let job = job_of(&client, &ns, &r).await;
    condition(&restores, "as-backup-1", "RestoreStarted").await;
    finish_job(&client, &ns, &job, false).await;
    let failed = condition(&restores, "as-backup-1", "RestoreFailed").await;
    let st = failed.status.unwrap();
    assert_eq!(
        st.conditions
            .iter()
            .find(|c| c.type_ == "RestoreFailed")
            .unwrap()
            .message,
        "restore job failed 4 times"
    );
    let ev = eventually("JobFailed event", || async {
        let evs = events_for(&client, &ns, "as-backup-1", "JobFailed").await;
        (!evs.is_empty()).then_some(evs)
    })
    .await;
    assert_eq!(ev[0].type_.as_deref(), Some("Warning"));

    // Validation: a missing cluster fails without a Job.
    let _: AerospikeNamespaceRestore = create(
        &client,
        &ns,
        restore_json("as-backup-2", &ns, "no-such-cluster"),
    )
    .await;
    let failed = condition(&restores, "as-backup-2", "RestoreFailed").await;
    assert_eq!(
        failed.status.unwrap().conditions[0].reason,
        "ClusterNotFound"
    );
    assert!(
        Api::<Job>::namespaced(client.clone(), &ns)
            .get_opt("as-backup-2-restore")
            .await
            .unwrap()
            .is_none()
    );

    // The spec is immutable (CEL rule).
    let change = json!({"spec": {"target": {"cluster": "as-cluster-0", "namespace": "other"}}});
    let err = restores
        .patch(
            "as-backup-0",
            &PatchParams::default(),
            &Patch::Merge(change),
        )
        .await;
    assert!(err.is_err(), "spec change must be rejected");

    controller.abort();
    let _ = Api::<Namespace>::all(client.clone())
        .delete(&ns, &DeleteParams::default())
        .await;
}
