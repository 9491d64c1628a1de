//! End-to-end suite against a real kube-apiserver with the job controller and the garbage
//! collector running (the rig of `../shared/rigs/up kubernetes`, or kind / k3d), run only on
//! request:
//!
//! ```sh
//! eval "$(../shared/rigs/up kubernetes)"
//! cargo test --release -p operator --test e2e -- --ignored
//! ```
//!
//! Each test gets fresh namespaces and runs the controller in-process, watching only its own
//! namespace, so the tests run in parallel. The job controller owns the Jobs; the suite plays the
//! kubelet's part: it ends each pod the job controller creates through the pod's `status`
//! subresource (phase, terminated container, termination message), as a kubelet running the
//! restorer would. No image is pulled and no Aerospike is needed.
//!
//! The RBAC test also needs the rig's `sa-kubeconfig.sh` (a kubeconfig for a ServiceAccount):
//! `$E2E_SA_KUBECONFIG_SCRIPT`, else `sa-kubeconfig.sh` beside `$E2E_KUBECONFIG`. See
//! operator/README.md.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, ResourceExt};
use operator::cluster::AerospikeCluster;
use operator::config::Config;
use operator::crd::{AerospikeNamespaceRestore, RestoreCounters, RestorePhase};
use serde_json::{Value, json};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;
use tokio::task::JoinHandle;

/// How long any awaited state may take.
const TIMEOUT: Duration = Duration::from_secs(90);
/// How long the suite waits before asserting that something happened only once.
const SETTLE: Duration = Duration::from_secs(3);
const MANAGER: &str = "aerospike-restore-e2e";
/// The restorer's summary as the success pod's termination message.
const SUMMARY: &str = r#"{"records":10,"expired":1,"skipped":2,"ignored":0,"inserted":5,"existed":1,"fresher":1,"bytes":123,"error":null}"#;

fn kubeconfig_path() -> PathBuf {
    std::env::var_os("E2E_KUBECONFIG")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .expect(
            "E2E_KUBECONFIG must name the kubeconfig of a disposable cluster, e.g. \
             eval \"$(../shared/rigs/up kubernetes)\" (see operator/README.md)",
        )
}

async fn client_from(path: &Path) -> Client {
    let kubeconfig = Kubeconfig::read_from(path)
        .unwrap_or_else(|e| panic!("reading kubeconfig {}: {e}", path.display()));
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("kubeconfig {} unusable: {e}", path.display()));
    Client::try_from(config).expect("client")
}

/// Logs of the in-process controller (reconcile errors, RBAC refusals) in each test's output.
fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("operator=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_test_writer()
        .try_init();
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
        assert!(
            start.elapsed() < TIMEOUT,
            "timed out after {TIMEOUT:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn apply_crds(client: &Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let pp = PatchParams::apply(MANAGER).force();
    for (_, crd) in operator::crd_yaml::crds() {
        let name = crd.name_any();
        api.patch(&name, &pp, &Patch::Apply(&crd))
            .await
            .unwrap_or_else(|e| panic!("CRD {name} applies: {e}"));
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

/// A namespace name unique to this process and call.
fn unique_namespace(test: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let stamp = Timestamp::now().as_millisecond() % 1_000_000;
    let n = N.fetch_add(1, Ordering::SeqCst);
    format!(
        "asnr-e2e-{test}-{}-{stamp}-{n}",
        std::process::id() % 100_000
    )
}

/// Deletes the test's namespaces when dropped, also when the test panics (unless
/// `E2E_KEEP_NAMESPACES` is set, to look at what a failed test left).
struct Cleanup {
    namespaces: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if std::env::var_os("E2E_KEEP_NAMESPACES").is_some() {
            eprintln!("keeping namespaces {:?}", self.namespaces);
            return;
        }
        let namespaces = std::mem::take(&mut self.namespaces);
        // The test's runtime may be unwinding: delete from a runtime and client of our own.
        let deleted = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let client = client_from(&kubeconfig_path()).await;
                let api: Api<Namespace> = Api::all(client);
                for ns in namespaces {
                    let _ = api.delete(&ns, &DeleteParams::default()).await;
                }
            });
        })
        .join();
        if deleted.is_err() {
            eprintln!("could not delete the test namespaces");
        }
    }
}

/// One test's world: an admin client and a fresh namespace holding the example
/// `AerospikeCluster` (`as-cluster-0`) and the Secret `gcs-secret`.
struct Env {
    client: Client,
    ns: String,
    cleanup: Cleanup,
}

impl Env {
    async fn new(test: &str) -> Env {
        init_logs();
        let client = client_from(&kubeconfig_path()).await;
        apply_crds(&client).await;
        let ns = unique_namespace(test);
        let mut env = Env {
            client,
            ns: ns.clone(),
            cleanup: Cleanup { namespaces: vec![] },
        };
        env.namespace(&ns).await;
        let mut cluster: Value =
            serde_yaml::from_str(include_str!("../../testdata/k8s/aerospikecluster.yaml"))
                .expect("cluster example");
        cluster["metadata"]["namespace"] = json!(ns);
        // Server-side apply of the raw object keeps every field (nodeCount, version, ...), as a
        // reference-operator user would have them; the shipped CRD must accept it.
        Api::<AerospikeCluster>::namespaced(env.client.clone(), &ns)
            .patch(
                "as-cluster-0",
                &PatchParams::apply(MANAGER),
                &Patch::Apply(&cluster),
            )
            .await
            .expect("the example AerospikeCluster is accepted");
        env.secret(&ns).await;
        env
    }

    /// Creates a namespace that the test deletes when it ends.
    async fn namespace(&mut self, name: &str) {
        let ns: Namespace = serde_json::from_value(
            json!({"metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": MANAGER}}}),
        )
        .expect("namespace");
        Api::<Namespace>::all(self.client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("namespace {name}: {e}"));
        self.cleanup.namespaces.push(name.to_owned());
    }

    /// Creates the storage Secret `gcs-secret` (a key file under `key.json`) in `ns`.
    async fn secret(&self, ns: &str) -> Secret {
        let secret: Secret = serde_json::from_value(
            json!({"metadata": {"name": "gcs-secret"}, "stringData": {"key.json": "{}"}}),
        )
        .expect("secret");
        Api::<Secret>::namespaced(self.client.clone(), ns)
            .create(&PostParams::default(), &secret)
            .await
            .expect("secret created")
    }

    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    fn restores(&self) -> Api<AerospikeNamespaceRestore> {
        self.api()
    }

    /// Creates a restore of backup `name` into `as-namespace-0` of `cluster`; `storage`
    /// overrides the default gcs storage.
    async fn restore(&self, name: &str, cluster: &str, storage: Option<Value>) -> Restore {
        let storage = storage.unwrap_or_else(
            || json!({"type": "gcs", "bucket": "aerospike-backup", "secret": "gcs-secret"}),
        );
        let obj: AerospikeNamespaceRestore = serde_json::from_value(json!({
            "apiVersion": "aerospike.travelaudience.com/v1alpha2",
            "kind": "AerospikeNamespaceRestore",
            "metadata": {"name": name, "namespace": self.ns},
            "spec": {"target": {"cluster": cluster, "namespace": "as-namespace-0"},
                     "storage": storage}}))
        .expect("restore");
        let created = self
            .restores()
            .create(&PostParams::default(), &obj)
            .await
            .expect("restore created");
        Restore {
            name: name.to_owned(),
            job: format!("{name}-restore"),
            obj: created,
        }
    }

    /// Runs the controller in-process as `client`, watching this test's namespace only; waits
    /// until it has listed the restores.
    async fn controller(&self, client: Client) -> Controller {
        let config = Config {
            restorer_image: "aerospike-restore:e2e-not-pulled".into(),
            watch_namespace: Some(self.ns.clone()),
            reporter_instance: Some(format!("e2e-{}", std::process::id())),
            ..Config::default()
        };
        let ready = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(operator::controller::run(client, config, ready.clone()));
        let start = std::time::Instant::now();
        while !ready.load(Ordering::SeqCst) {
            if task.is_finished() {
                let result = task.await;
                panic!("the controller stopped before it was ready: {result:?}");
            }
            assert!(start.elapsed() < TIMEOUT, "controller not ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Controller { task }
    }

    /// Waits until the restore has the `True` condition `type_`.
    async fn condition(&self, r: &Restore, type_: &str) -> AerospikeNamespaceRestore {
        let api = self.restores();
        eventually(&format!("{type_} on {}", r.name), || async {
            let r = api.get(&r.name).await.ok()?;
            r.status.as_ref()?.is_true(type_).then_some(r)
        })
        .await
    }

    async fn events(&self, regarding: &str, reason: &str) -> Vec<Event> {
        let all = self
            .api::<Event>()
            .list(&ListParams::default())
            .await
            .expect("events list");
        all.items
            .into_iter()
            .filter(|e| {
                e.reason.as_deref() == Some(reason)
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(regarding)
            })
            .collect()
    }

    /// Waits for the event, lets the controller settle, and checks it was published once: a
    /// repeat shows up as a second object or as a `series`.
    async fn event_once(&self, regarding: &str, reason: &str) -> Event {
        eventually(&format!("{reason} event on {regarding}"), || async {
            (!self.events(regarding, reason).await.is_empty()).then_some(())
        })
        .await;
        tokio::time::sleep(SETTLE).await;
        let mut events = self.events(regarding, reason).await;
        assert_eq!(events.len(), 1, "{reason} published once: {events:#?}");
        let ev = events.remove(0);
        assert!(
            ev.series.is_none(),
            "{reason} repeated as a series: {ev:#?}"
        );
        ev
    }

    /// Waits for the restore's Job and checks name, labels, owner and the pod template.
    async fn job(&self, r: &Restore) -> Job {
        let jobs: Api<Job> = self.api();
        let job = eventually(&format!("job {}", r.job), || async {
            jobs.get_opt(&r.job).await.ok().flatten()
        })
        .await;
        let labels = job.labels();
        assert_eq!(labels.get("app").map(String::as_str), Some("aerospike"));
        assert_eq!(
            labels.get("cluster").map(String::as_str),
            Some(r.obj.spec.target.cluster.as_str())
        );
        assert_eq!(
            labels.get("namespace").map(String::as_str),
            Some("as-namespace-0")
        );
        let owners = job.owner_references();
        assert_eq!(owners.len(), 1, "{owners:?}");
        assert_eq!(
            (owners[0].uid.as_str(), owners[0].controller),
            (r.obj.uid().expect("uid").as_str(), Some(true))
        );
        let spec = job.spec.as_ref().expect("job spec");
        assert_eq!(spec.backoff_limit, Some(3));
        let pod = spec.template.spec.as_ref().expect("pod spec");
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        let args = pod.containers[0].args.clone().expect("args");
        assert_eq!(
            args,
            [
                "--backup".to_owned(),
                format!("gs://aerospike-backup/{}", r.name),
                "--target-namespace".into(),
                "as-namespace-0".into(),
                "-h".into(),
                format!("{}.{}", r.obj.spec.target.cluster, self.ns),
                "--log-format".into(),
                "logfmt".into(),
            ]
        );
        job
    }

    /// The pods the job controller created for the restore's Job.
    async fn pods(&self, r: &Restore) -> Vec<Pod> {
        self.api::<Pod>()
            .list(&ListParams::default().labels(&format!("job-name={}", r.job)))
            .await
            .expect("pods list")
            .items
    }

    /// Waits for a pod of the Job that has not ended and is not being deleted.
    async fn pending_pod(&self, r: &Restore) -> Pod {
        eventually(&format!("a pending pod of {}", r.job), || async {
            self.pods(r).await.into_iter().find(|p| {
                p.metadata.deletion_timestamp.is_none()
                    && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending")
            })
        })
        .await
    }

    /// Plays the kubelet: ends `pod` with its restore container terminated at `finished` with
    /// `exit_code` and `message` (what the restorer left in /dev/termination-log, or its log
    /// tail).
    async fn end_pod(&self, pod: &Pod, exit_code: i32, message: &str, finished: Timestamp) {
        let spec = pod.spec.as_ref().expect("pod spec");
        let container = &spec.containers[0];
        assert_eq!(container.name, "restorer");
        let (phase, reason) = if exit_code == 0 {
            ("Succeeded", "Completed")
        } else {
            ("Failed", "Error")
        };
        let started = (finished - SignedDuration::from_secs(5)).to_string();
        let finished = finished.to_string();
        let status = json!({"status": {
            "phase": phase,
            "conditions": [
                {"type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": finished},
                {"type": "ContainersReady", "status": "False", "reason": "PodCompleted", "lastTransitionTime": finished},
            ],
            "startTime": started,
            "containerStatuses": [{
                "name": container.name, "image": container.image, "imageID": "",
                "ready": false, "started": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": exit_code, "reason": reason,
                    "message": message, "startedAt": started, "finishedAt": finished}}}]}});
        self.api::<Pod>()
            .patch_status(
                &pod.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&status),
            )
            .await
            .unwrap_or_else(|e| panic!("pod {} status patch: {e}", pod.name_any()));
    }
}

/// A restore the test created.
struct Restore {
    name: String,
    job: String,
    obj: AerospikeNamespaceRestore,
}

/// The in-process controller; stopped when dropped.
struct Controller {
    task: JoinHandle<anyhow::Result<()>>,
}

impl Controller {
    /// Stops the controller as a crash would (its future is dropped mid-flight).
    async fn kill(mut self) {
        self.task.abort();
        let end = (&mut self.task).await;
        assert!(
            end.as_ref().is_err_and(|e| e.is_cancelled()),
            "the controller ended by itself: {end:?}"
        );
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn only_condition<'a>(
    r: &'a AerospikeNamespaceRestore,
    type_: &str,
) -> &'a operator::crd::RestoreCondition {
    let status = r.status.as_ref().expect("status");
    let found: Vec<_> = status
        .conditions
        .iter()
        .filter(|c| c.type_ == type_)
        .collect();
    assert_eq!(found.len(), 1, "one {type_} in {:#?}", status.conditions);
    found[0]
}

fn summary() -> RestoreCounters {
    RestoreCounters {
        records: 10,
        expired: 1,
        skipped: 2,
        ignored: 0,
        inserted: 5,
        existed: 1,
        fresher: 1,
        bytes: 123,
        error: None,
    }
}

/// The success path as `client` (admin or the shipped ServiceAccount): Job, pod ended with the
/// restorer's summary, `RestoreFinished` with its counters, one `JobCreated` and one
/// `JobFinished` event.
async fn succeeds(env: &Env, r: &Restore) {
    env.job(r).await;
    let started = env.condition(r, "RestoreStarted").await;
    let cond = only_condition(&started, "RestoreStarted");
    assert_eq!(
        (cond.reason.as_str(), cond.message.clone()),
        (
            "JobCreated",
            format!("restore job created as {}/{}", env.ns, r.job)
        )
    );
    let st = started.status.as_ref().expect("status");
    assert_eq!(
        st.target.as_ref().map(|t| t.cluster.as_str()),
        Some("as-cluster-0")
    );
    assert_eq!(st.job, Some(format!("{}/{}", env.ns, r.job)));
    assert!(st.start_time.is_some());
    let pod = env.pending_pod(r).await;
    assert_eq!(
        pod.labels().get("app").map(String::as_str),
        Some("aerospike")
    );
    env.end_pod(&pod, 0, SUMMARY, Timestamp::now()).await;

    let done = env.condition(r, "RestoreFinished").await;
    let cond = only_condition(&done, "RestoreFinished");
    assert_eq!(
        (cond.reason.as_str(), cond.message.as_str()),
        ("JobFinished", "restore job has finished")
    );
    only_condition(&done, "RestoreStarted");
    let st = done.status.as_ref().expect("status");
    assert_eq!(st.phase, Some(RestorePhase::Finished));
    assert_eq!(st.counters, Some(summary()));
    let job = env.api::<Job>().get(&r.job).await.expect("job kept");
    let job_status = job.status.expect("job status");
    assert_eq!(job_status.succeeded, Some(1));
    assert_eq!(
        st.completion_time, job_status.completion_time,
        "the Job's completion time"
    );

    let ev = env.event_once(&r.name, "JobFinished").await;
    assert_eq!(
        (ev.type_.as_deref(), ev.note.as_deref()),
        (Some("Normal"), Some("restore job has finished"))
    );
    let ev = env.event_once(&r.name, "JobCreated").await;
    assert_eq!(
        ev.note,
        Some(format!("restore job created as {}/{}", env.ns, r.job))
    );
    assert_eq!(env.pods(r).await.len(), 1, "one pod, no retry");
}

#[tokio::test]
#[ignore = "needs E2E_KUBECONFIG"]
async fn a_restore_finishes_with_the_counters_of_its_pod() {
    let env = Env::new("success").await;
    let _controller = env.controller(env.client.clone()).await;
    let r = env.restore("as-backup-0", "as-cluster-0", None).await;
    succeeds(&env, &r).await;
}

#[tokio::test]
#[ignore = "needs E2E_KUBECONFIG"]
async fn a_restore_fails_once_its_job_has_failed_four_times() {
    let env = Env::new("failure").await;
    let _controller = env.controller(env.client.clone()).await;
    let r = env.restore("as-backup-1", "as-cluster-0", None).await;
    env.job(&r).await;
    env.condition(&r, "RestoreStarted").await;
    let last = r#"{"records":0,"expired":0,"skipped":0,"ignored":0,"inserted":0,"existed":0,"fresher":0,"bytes":0,"error":"gs://aerospike-backup/as-backup-1.json: not found"}"#;
    // The job controller waits 10 s, 20 s, 40 s before replacing a failed pod, counted from the
    // container's finish time: failures that finished long ago have served their backoff, which
    // keeps the suite fast without changing what the controller decides. A minute apart, so the
    // last one is the latest (finish times have whole seconds).
    let long_ago = Timestamp::now() - SignedDuration::from_mins(30);
    // backoffLimit 3: the first pod and three replacements.
    for attempt in 1..=4 {
        let pod = env.pending_pod(&r).await;
        let message = if attempt < 4 {
            format!("time=\"2026-11-25T06:00:00Z\" level=error msg=\"attempt {attempt} failed\"")
        } else {
            last.to_owned()
        };
        let finished = long_ago + SignedDuration::from_mins(attempt as i64);
        env.end_pod(&pod, 1, &message, finished).await;
        // The next pending pod must be a replacement, not this one seen from a stale list.
        eventually(&format!("pod {attempt} seen as failed"), || async {
            let pods = env.pods(&r).await;
            let failed = pods
                .iter()
                .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed"))
                .count();
            (failed == attempt).then_some(())
        })
        .await;
    }

    let failed = env.condition(&r, "RestoreFailed").await;
    let cond = only_condition(&failed, "RestoreFailed");
    assert_eq!(
        (cond.reason.as_str(), cond.message.as_str()),
        ("JobFailed", "restore job failed 4 times")
    );
    assert!(!failed.status.as_ref().unwrap().is_true("RestoreFinished"));
    let st = failed.status.as_ref().expect("status");
    assert_eq!(st.phase, Some(RestorePhase::Failed));
    assert!(st.completion_time.is_some());
    // The counters of the pod that failed last.
    assert_eq!(
        st.counters.as_ref().and_then(|c| c.error.as_deref()),
        Some("gs://aerospike-backup/as-backup-1.json: not found")
    );
    let job = env.api::<Job>().get(&r.job).await.expect("job kept");
    let job_status = job.status.expect("job status");
    assert_eq!(job_status.failed, Some(4));
    assert!(
        job_status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Failed"
                && c.status == "True"
                && c.reason.as_deref() == Some("BackoffLimitExceeded")),
        "{:?}",
        job_status.conditions
    );

    let ev = env.event_once(&r.name, "JobFailed").await;
    assert_eq!(
        (ev.type_.as_deref(), ev.note.as_deref()),
        (Some("Warning"), Some("restore job failed 4 times"))
    );
    env.event_once(&r.name, "JobCreated").await;
    let pods = env.pods(&r).await;
    assert_eq!(pods.len(), 4, "no fifth pod after the backoff limit");
}

#[tokio::test]
#[ignore = "needs E2E_KUBECONFIG"]
async fn validation_failures_end_the_restore_without_a_job() {
    let mut env = Env::new("validation").await;
    let _controller = env.controller(env.client.clone()).await;
    let r = env.restore("as-backup-2", "no-such-cluster", None).await;
    let failed = env.condition(&r, "RestoreFailed").await;
    let message = format!("aerospikecluster {}/no-such-cluster not found", env.ns);
    let cond = only_condition(&failed, "RestoreFailed");
    assert_eq!(
        (cond.reason.as_str(), cond.message.as_str()),
        ("ClusterNotFound", message.as_str())
    );
    let st = failed.status.as_ref().expect("status");
    assert_eq!(st.phase, Some(RestorePhase::Failed));
    assert!(!st.is_true("RestoreStarted"));
    let ev = env.event_once(&r.name, "ClusterNotFound").await;
    assert_eq!(
        (ev.type_.as_deref(), ev.note.as_deref()),
        (Some("Warning"), Some(message.as_str()))
    );

    // A Secret in another namespace that does not exist.
    let other = unique_namespace("validation-secrets");
    env.namespace(&other).await;
    let storage = json!({"type": "gcs", "bucket": "aerospike-backup", "secret": "missing", "secretNamespace": other});
    let r2 = env
        .restore("as-backup-3", "as-cluster-0", Some(storage))
        .await;
    let failed = env.condition(&r2, "RestoreFailed").await;
    assert_eq!(
        only_condition(&failed, "RestoreFailed").message,
        format!("secret {other}/missing not found")
    );
    env.event_once(&r2.name, "SecretNotFound").await;

    for r in [&r, &r2] {
        assert!(
            env.api::<Job>().get_opt(&r.job).await.unwrap().is_none(),
            "no job for {}",
            r.name
        );
        assert!(env.pods(r).await.is_empty());
    }
}

#[tokio::test]
#[ignore = "needs E2E_KUBECONFIG"]
async fn the_apiserver_rejects_a_spec_change() {
    let env = Env::new("immutable").await;
    let r = env.restore("as-backup-4", "as-cluster-0", None).await;
    let change = json!({"spec": {"target": {"cluster": "as-cluster-0", "namespace": "other"}}});
    let err = env
        .restores()
        .patch(&r.name, &PatchParams::default(), &Patch::Merge(change))
        .await
        .expect_err("spec change must be rejected");
    match err {
        kube::Error::Api(e) => {
            assert_eq!(e.code, 422, "{e:?}");
            assert!(e.message.contains("spec is immutable"), "{e:?}");
        }
        e => panic!("not an API refusal: {e:?}"),
    }
    // Metadata stays editable, and the spec is what it was.
    let labelled = env
        .restores()
        .patch(
            &r.name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"team": "data"}}})),
        )
        .await
        .expect("a label change is accepted");
    assert_eq!(labelled.spec, r.obj.spec);
}

#[tokio::test]
#[ignore = "needs E2E_KUBECONFIG"]
async fn deleting_a_restore_removes_its_job_pods_and_secret_copy() {
    let mut env = Env::new("gc").await;
    let secrets_ns = unique_namespace("gc-secrets");
    env.namespace(&secrets_ns).await;
    let source = env.secret(&secrets_ns).await;
    let _controller = env.controller(env.client.clone()).await;
    let storage = json!({"type": "gcs", "bucket": "aerospike-backup", "secret": "gcs-secret", "secretNamespace": secrets_ns});
    let r = env
        .restore("as-backup-5", "as-cluster-0", Some(storage))
        .await;
    env.job(&r).await;
    env.condition(&r, "RestoreStarted").await;
    let pod = env.pending_pod(&r).await;
    let copy_name = "as-backup-5-restore-secret";
    let copy = env
        .api::<Secret>()
        .get(copy_name)
        .await
        .expect("the Secret copy next to the Job");
    assert_eq!(
        copy.owner_references()[0].uid,
        r.obj.uid().expect("restore uid")
    );

    env.restores()
        .delete(&r.name, &DeleteParams::foreground())
        .await
        .expect("restore deleted");
    eventually("the restore gone", || async {
        env.restores()
            .get_opt(&r.name)
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    // Foreground deletion removes the blocking dependents (the Job) before the owner.
    assert!(
        env.api::<Job>().get_opt(&r.job).await.unwrap().is_none(),
        "the Job outlived its restore"
    );
    eventually("the Job's pods gone", || async {
        let pods = env.api::<Pod>();
        pods.get_opt(&pod.name_any())
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    assert!(env.pods(&r).await.is_empty());
    eventually("the Secret copy gone", || async {
        env.api::<Secret>()
            .get_opt(copy_name)
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    // Nothing else is touched: the source Secret and the target cluster stay.
    let kept = Api::<Secret>::namespaced(env.client.clone(), &secrets_ns)
        .get("gcs-secret")
        .await
        .expect("the source Secret is kept");
    assert_eq!(kept.uid(), source.uid());
    env.api::<AerospikeCluster>()
        .get("as-cluster-0")
        .await
        .expect("the target cluster is kept");
    tokio::time::sleep(SETTLE).await;
    assert!(
        env.api::<Job>().get_opt(&r.job).await.unwrap().is_none(),
        "no Job recreated"
    );
}

#[tokio::test]
#[ignore = "needs E2E_KUBECONFIG"]
async fn a_restarted_operator_neither_duplicates_the_job_nor_repeats_events() {
    let env = Env::new("restart").await;
    let first = env.controller(env.client.clone()).await;
    let r = env.restore("as-backup-6", "as-cluster-0", None).await;
    env.job(&r).await;
    env.condition(&r, "RestoreStarted").await;
    eventually("JobCreated published", || async {
        (!env.events(&r.name, "JobCreated").await.is_empty()).then_some(())
    })
    .await;
    let pod = env.pending_pod(&r).await;
    first.kill().await;

    let _second = env.controller(env.client.clone()).await;
    tokio::time::sleep(SETTLE).await;
    let jobs = env
        .api::<Job>()
        .list(&ListParams::default().labels("app=aerospike"))
        .await
        .expect("jobs list");
    assert_eq!(jobs.items.len(), 1, "one Job");
    env.event_once(&r.name, "JobCreated").await;
    let pods = env.pods(&r).await;
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0].uid(), pod.uid());

    env.end_pod(&pod, 0, SUMMARY, Timestamp::now()).await;
    let done = env.condition(&r, "RestoreFinished").await;
    only_condition(&done, "RestoreStarted");
    assert_eq!(done.status.as_ref().unwrap().counters, Some(summary()));
    env.event_once(&r.name, "JobFinished").await;
    env.event_once(&r.name, "JobCreated").await;
}

#[tokio::test]
#[ignore = "needs E2E_KUBECONFIG"]
async fn an_operator_that_died_after_creating_the_job_adopts_it() {
    let env = Env::new("adopt").await;
    let r = env.restore("as-backup-7", "as-cluster-0", None).await;
    // What the operator had done before it died: the Job exists, the status does not say so.
    let storage = r.obj.spec.storage.clone().expect("storage");
    let job = operator::job::build(&r.obj, &storage, &Config::default()).expect("job");
    let created = env
        .api::<Job>()
        .create(&PostParams::default(), &job)
        .await
        .expect("job created");
    assert!(r.obj.status.is_none());

    let _controller = env.controller(env.client.clone()).await;
    let started = env.condition(&r, "RestoreStarted").await;
    assert_eq!(
        only_condition(&started, "RestoreStarted").message,
        format!("restore job created as {}/{}", env.ns, r.job)
    );
    let adopted = env.job(&r).await;
    assert_eq!(adopted.uid(), created.uid(), "the same Job, not a new one");
    env.event_once(&r.name, "JobCreated").await;
    let pod = env.pending_pod(&r).await;
    env.end_pod(&pod, 0, SUMMARY, Timestamp::now()).await;
    let done = env.condition(&r, "RestoreFinished").await;
    assert_eq!(done.status.as_ref().unwrap().counters, Some(summary()));
    env.event_once(&r.name, "JobFinished").await;
}

/// The rig's `sa-kubeconfig.sh`: `$E2E_SA_KUBECONFIG_SCRIPT`, else beside `$E2E_KUBECONFIG`.
fn sa_kubeconfig_script() -> PathBuf {
    let script = match std::env::var_os("E2E_SA_KUBECONFIG_SCRIPT").filter(|s| !s.is_empty()) {
        Some(s) => PathBuf::from(s),
        None => kubeconfig_path()
            .parent()
            .map(|d| d.join("sa-kubeconfig.sh"))
            .unwrap_or_default(),
    };
    assert!(
        script.is_file(),
        "the RBAC test needs a kubeconfig for the shipped ServiceAccount: no {} (set \
         E2E_SA_KUBECONFIG_SCRIPT to a script taking NAMESPACE SERVICEACCOUNT OUTFILE, like \
         ../shared/rigs' sa-kubeconfig.sh)",
        script.display()
    );
    script
}

/// Applies `deploy/namespace.yaml` and every `deploy/rbac/*.yaml`; returns the ServiceAccount
/// the ClusterRoleBinding grants the rights to, as (namespace, name).
async fn apply_shipped_rbac(client: &Client) -> (String, String) {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let mut files = vec![deploy.join("namespace.yaml")];
    let mut rbac: Vec<PathBuf> = std::fs::read_dir(deploy.join("rbac"))
        .expect("deploy/rbac")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    rbac.sort();
    files.extend(rbac);
    let mut subject = None;
    for file in files {
        let text = std::fs::read_to_string(&file).expect("manifest");
        let obj: DynamicObject =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let types = obj.types.clone().expect("apiVersion and kind");
        let gvk = GroupVersionKind::try_from(&types).expect("gvk");
        let ar = ApiResource::from_gvk(&gvk);
        let api: Api<DynamicObject> = match obj.namespace() {
            Some(ns) => Api::namespaced_with(client.clone(), &ns, &ar),
            None => Api::all_with(client.clone(), &ar),
        };
        api.patch(
            &obj.name_any(),
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&obj),
        )
        .await
        .unwrap_or_else(|e| panic!("applying {}: {e}", file.display()));
        if types.kind == "ClusterRoleBinding" {
            let s = &obj.data["subjects"][0];
            assert_eq!(s["kind"], "ServiceAccount");
            subject = Some((
                s["namespace"].as_str().expect("namespace").to_owned(),
                s["name"].as_str().expect("name").to_owned(),
            ));
        }
    }
    subject.expect("a ClusterRoleBinding in deploy/rbac")
}

/// A client authenticated as the ServiceAccount, through the rig's script.
async fn service_account_client(ns: &str, sa: &str) -> Client {
    let script = sa_kubeconfig_script();
    let dir = std::env::temp_dir().join(format!("asnr-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let out = dir.join(format!("{ns}-{sa}.kubeconfig"));
    let rig = script.parent().expect("script directory");
    let status = std::process::Command::new(&script)
        .args([ns, sa])
        .arg(&out)
        .env("RIG", rig)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(status.success(), "{} failed: {status}", script.display());
    client_from(&out).await
}

/// Whether a cluster-wide watch of `K` is allowed (a refusal is an error at once).
async fn can_watch_all<K>(client: &Client) -> bool
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    use futures::StreamExt;
    let api: Api<K> = Api::all(client.clone());
    match api.watch(&WatchParams::default().timeout(1), "0").await {
        Err(_) => false,
        Ok(stream) => {
            let mut stream = std::pin::pin!(stream);
            while let Some(ev) = stream.next().await {
                if matches!(ev, Err(_) | Ok(WatchEvent::Error(_))) {
                    return false;
                }
            }
            true
        }
    }
}

#[tokio::test]
#[ignore = "needs E2E_KUBECONFIG"]
async fn the_shipped_rbac_is_enough_to_run_restores() {
    let mut env = Env::new("rbac").await;
    let (sa_ns, sa) = apply_shipped_rbac(&env.client).await;
    let operator = service_account_client(&sa_ns, &sa).await;

    // What the Deployment does without WATCH_NAMESPACE: list and watch every namespace.
    Api::<AerospikeNamespaceRestore>::all(operator.clone())
        .list(&ListParams::default().limit(1))
        .await
        .expect("the ServiceAccount lists restores cluster-wide");
    Api::<Job>::all(operator.clone())
        .list(&ListParams::default().limit(1))
        .await
        .expect("the ServiceAccount lists Jobs cluster-wide");
    assert!(can_watch_all::<AerospikeNamespaceRestore>(&operator).await);
    assert!(can_watch_all::<Job>(&operator).await);
    // And no more than it needs: it reads Secrets by name, it does not enumerate them.
    assert!(!can_watch_all::<Secret>(&operator).await);
    let listing = Api::<Secret>::all(operator.clone())
        .list(&ListParams::default().limit(1))
        .await;
    assert!(
        matches!(&listing, Err(kube::Error::Api(e)) if e.code == 403),
        "{listing:?}"
    );

    // The whole success path with the ServiceAccount's rights only, with the Secret copied from
    // another namespace (get there; create and delete the copy here).
    let secrets_ns = unique_namespace("rbac-secrets");
    env.namespace(&secrets_ns).await;
    env.secret(&secrets_ns).await;
    let _controller = env.controller(operator).await;
    let storage = json!({"type": "gcs", "bucket": "aerospike-backup", "secret": "gcs-secret", "secretNamespace": secrets_ns});
    let r = env
        .restore("as-backup-8", "as-cluster-0", Some(storage))
        .await;
    env.job(&r).await;
    let copy = "as-backup-8-restore-secret";
    assert!(
        env.api::<Secret>().get_opt(copy).await.unwrap().is_some(),
        "the Secret copy"
    );
    succeeds(&env, &r).await;
    assert!(
        env.api::<Secret>().get_opt(copy).await.unwrap().is_none(),
        "the Secret copy removed when the restore finished"
    );
    // A validation failure with the same rights.
    let r = env.restore("as-backup-9", "no-such-cluster", None).await;
    env.condition(&r, "RestoreFailed").await;
    env.event_once(&r.name, "ClusterNotFound").await;
}
