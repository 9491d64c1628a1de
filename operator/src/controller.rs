//! Wires the reconciler into a kube-runtime Controller watching restores and their Jobs.

use crate::config::Config;
use crate::crd::AerospikeNamespaceRestore;
use crate::reconcile::{self, Context};
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use kube::Client;
use kube::api::{Api, ListParams};
use kube::runtime::{Controller, watcher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Runs the controller until a shutdown signal; `ready` turns true once the restore API answers.
pub async fn run(client: Client, config: Config, ready: Arc<AtomicBool>) -> anyhow::Result<()> {
    let restores: Api<AerospikeNamespaceRestore> = Api::all(client.clone());
    restores
        .list(&ListParams::default().limit(1))
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot list aerospikenamespacerestores (CRD installed? RBAC?): {e}")
        })?;
    ready.store(true, Ordering::SeqCst);
    let jobs: Api<Job> = Api::all(client.clone());
    let ctx = Arc::new(Context::new(client, config));
    Controller::new(restores, watcher::Config::default())
        .owns(jobs, watcher::Config::default().labels("app=aerospike"))
        .shutdown_on_signal()
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(|res| async move {
            match res {
                Ok((obj, _)) => tracing::debug!(restore = %obj, "reconciled"),
                Err(e) => tracing::warn!(error = %e, "reconcile error"),
            }
        })
        .await;
    ready.store(false, Ordering::SeqCst);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Request, Response};
    use kube::client::Body;

    #[tokio::test]
    async fn refuses_to_start_without_the_crd_and_stays_unready() {
        let (svc, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        tokio::spawn(async move {
            let (req, send) = handle.next_request().await.expect("list request");
            assert_eq!(req.method(), "GET");
            assert_eq!(
                req.uri().path(),
                "/apis/aerospike.travelaudience.com/v1alpha2/aerospikenamespacerestores"
            );
            let body = serde_json::to_vec(&crate::fixtures::not_found()).unwrap();
            send.send_response(
                Response::builder()
                    .status(404)
                    .body(Body::from(body))
                    .unwrap(),
            );
        });
        let ready = Arc::new(AtomicBool::new(false));
        let err = run(
            Client::new(svc, "default"),
            Config::default(),
            ready.clone(),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("CRD installed?"), "{err}");
        assert!(!ready.load(Ordering::SeqCst));
    }
}
