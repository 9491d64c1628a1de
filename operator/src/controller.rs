//! Wires the reconciler into a kube-runtime Controller watching restores and their Jobs.

use crate::cluster::AerospikeCluster;
use crate::config::Config;
use crate::crd::AerospikeNamespaceRestore;
use crate::metrics::Metrics;
use crate::reconcile::{self, Context};
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use kube::Client;
use kube::api::{Api, ListParams};
use kube::runtime::{Controller, WatchStreamExt, reflector, watcher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// An API over every namespace, or over `namespace` alone.
fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Runs the controller until a shutdown signal; `ready` turns true once the restore API answers.
/// With `config.watch_namespace` (non-empty) only that namespace is watched.
pub async fn run(client: Client, config: Config, ready: Arc<AtomicBool>) -> anyhow::Result<()> {
    run_with(client, config, ready, Arc::new(Metrics::new())).await
}

/// [`run`], counting into `metrics` (the restores by phase come from the controller's cache).
pub async fn run_with(
    client: Client,
    config: Config,
    ready: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
) -> anyhow::Result<()> {
    let namespace = config
        .watch_namespace
        .as_deref()
        .filter(|ns| !ns.is_empty());
    let restores: Api<AerospikeNamespaceRestore> = scoped(&client, namespace);
    restores
        .list(&ListParams::default().limit(1))
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot list aerospikenamespacerestores (CRD installed? RBAC?): {e}")
        })?;
    ready.store(true, Ordering::SeqCst);
    let jobs: Api<Job> = scoped(&client, namespace);
    let clusters: Api<AerospikeCluster> = scoped(&client, namespace);
    let job_config = watcher::Config::default().labels("app=aerospike");
    // Caches of the restore Jobs and the clusters: a pass that finds what it needs there makes
    // no API call for it (a miss falls back to a GET, so a lagging cache is never trusted to
    // say that something does not exist).
    let (job_store, job_writer) = reflector::store::<Job>();
    let (cluster_store, cluster_writer) = reflector::store::<AerospikeCluster>();
    let caches = futures::future::join(
        reflector(job_writer, watcher(jobs.clone(), job_config.clone()))
            .default_backoff()
            .for_each(|_| async {}),
        reflector(
            cluster_writer,
            watcher(clusters, watcher::Config::default()),
        )
        .default_backoff()
        .for_each(|_| async {}),
    );
    let ctx = Arc::new(
        Context::new(client, config)
            .with_metrics(metrics.clone())
            .with_caches(job_store, cluster_store),
    );
    let controller = Controller::new(restores, watcher::Config::default());
    metrics.watch(controller.store());
    let run = controller
        .owns(jobs, job_config)
        .shutdown_on_signal()
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(|res| async move {
            match res {
                Ok((obj, _)) => tracing::debug!(restore = %obj, "reconciled"),
                Err(e) => tracing::warn!(error = %e, "reconcile error"),
            }
        });
    // The caches run as long as the controller, which ends on a shutdown signal.
    futures::pin_mut!(run, caches);
    futures::future::select(run, caches).await;
    ready.store(false, Ordering::SeqCst);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Request, Response};
    use kube::client::Body;

    /// Runs the controller against a server that answers the first list with 404; returns the
    /// path that list asked for and the error.
    async fn first_list_path(config: Config) -> (String, anyhow::Error) {
        let (svc, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let server = tokio::spawn(async move {
            let (req, send) = handle.next_request().await.expect("list request");
            assert_eq!(req.method(), "GET");
            let path = req.uri().path().to_owned();
            let body = serde_json::to_vec(&crate::fixtures::not_found()).unwrap();
            send.send_response(
                Response::builder()
                    .status(404)
                    .body(Body::from(body))
                    .unwrap(),
            );
            path
        });
        let ready = Arc::new(AtomicBool::new(false));
        let err = run(Client::new(svc, "default"), config, ready.clone())
            .await
            .unwrap_err();
        assert!(!ready.load(Ordering::SeqCst));
        (server.await.expect("mock server"), err)
    }

    #[tokio::test]
    async fn refuses_to_start_without_the_crd_and_stays_unready() {
        let config = Config {
            watch_namespace: None,
            ..Config::default()
        };
        let (path, err) = first_list_path(config).await;
        assert_eq!(
            path,
            "/apis/aerospike.travelaudience.com/v1alpha2/aerospikenamespacerestores"
        );
        assert!(err.to_string().contains("CRD installed?"), "{err}");
    }

    #[tokio::test]
    async fn a_watch_namespace_scopes_the_controller() {
        let config = Config {
            watch_namespace: Some("ns-1".into()),
            ..Config::default()
        };
        let (path, _) = first_list_path(config).await;
        assert_eq!(
            path,
            "/apis/aerospike.travelaudience.com/v1alpha2/namespaces/ns-1/aerospikenamespacerestores"
        );
        let config = Config {
            watch_namespace: Some(String::new()),
            ..Config::default()
        };
        let (path, _) = first_list_path(config).await;
        assert_eq!(
            path, "/apis/aerospike.travelaudience.com/v1alpha2/aerospikenamespacerestores",
            "an empty WATCH_NAMESPACE means every namespace"
        );
    }
}
