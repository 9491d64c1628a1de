//! The operator's HTTP endpoint (axum): the Deployment's probes `/healthz` (alive) and `/readyz`
//! (ready), and `/metrics` in the Prometheus text exposition format (OpenMetrics, through
//! `prometheus-client`).

use crate::crd::{AerospikeNamespaceRestore, RestorePhase};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use kube::runtime::reflector::Store;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// The content type of `/metrics`.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The phase label of restores that have no phase yet (not yet looked at).
pub const PENDING: &str = "Pending";

/// Labels of per-phase metrics.
type PhaseLabels = Vec<(&'static str, &'static str)>;

/// Every metric of the operator.
pub struct Metrics {
    registry: Registry,
    restores: Family<PhaseLabels, Gauge>,
    reconciles: Counter,
    reconcile_errors: Counter,
    reconcile_duration: Histogram,
    jobs_created: Counter,
    restored_records: Counter,
    finished: Family<PhaseLabels, Counter>,
    leader: Gauge,
    store: Mutex<Option<Store<AerospikeNamespaceRestore>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry holding every metric, all at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("aerospike_restore");
        let restores = Family::<PhaseLabels, Gauge>::default();
        registry.register(
            "restores",
            "Restores seen by this operator, by phase",
            restores.clone(),
        );
        let reconciles = Counter::default();
        registry.register("reconciles", "Reconcile passes", reconciles.clone());
        let reconcile_errors = Counter::default();
        registry.register(
            "reconcile_errors",
            "Reconcile passes that failed and were retried",
            reconcile_errors.clone(),
        );
        let reconcile_duration = Histogram::new(exponential_buckets(0.001, 2.0, 14));
        registry.register(
            "reconcile_duration_seconds",
            "Duration of reconcile passes",
            reconcile_duration.clone(),
        );
        let jobs_created = Counter::default();
        registry.register("jobs_created", "Restore Jobs created", jobs_created.clone());
        let restored_records = Counter::default();
        registry.register(
            "restored_records",
            "Records written by restores that ended (their restorer's summary)",
            restored_records.clone(),
        );
        let finished = Family::<PhaseLabels, Counter>::default();
        registry.register(
            "restores_ended",
            "Restores that ended while this operator watched, by final phase",
            finished.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this instance holds the leader Lease",
            leader.clone(),
        );
        Metrics {
            registry,
            restores,
            reconciles,
            reconcile_errors,
            reconcile_duration,
            jobs_created,
            restored_records,
            finished,
            leader,
            store: Mutex::new(None),
        }
    }

    /// Counts one reconcile pass that took `took`, failed or not.
    pub fn reconciled(&self, took: Duration, failed: bool) {
        self.reconciles.inc();
        if failed {
            self.reconcile_errors.inc();
        }
        self.reconcile_duration.observe(took.as_secs_f64());
    }

    /// Counts a created Job.
    pub fn job_created(&self) {
        self.jobs_created.inc();
    }

    /// Counts a restore that ended in `phase`, having written `records`.
    pub fn restore_ended(&self, phase: RestorePhase, records: u64) {
        self.finished
            .get_or_create(&vec![("phase", phase_name(Some(phase)))])
            .inc();
        self.restored_records.inc_by(records);
    }

    /// Sets whether this instance leads.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// The controller's cache of restores, counted by phase at each scrape.
    pub fn watch(&self, store: Store<AerospikeNamespaceRestore>) {
        *self.store.lock().unwrap_or_else(|p| p.into_inner()) = Some(store);
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        if let Some(store) = self
            .store
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            let mut counts = [0i64; 4];
            for r in store.state() {
                let phase = r.status.as_ref().and_then(|s| s.phase);
                counts[phase_index(phase)] += 1;
            }
            for (phase, n) in [
                None,
                Some(RestorePhase::Running),
                Some(RestorePhase::Finished),
                Some(RestorePhase::Failed),
            ]
            .into_iter()
            .zip(counts)
            {
                self.restores
                    .get_or_create(&vec![("phase", phase_name(phase))])
                    .set(n);
            }
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

fn phase_index(phase: Option<RestorePhase>) -> usize {
    match phase {
        None => 0,
        Some(RestorePhase::Running) => 1,
        Some(RestorePhase::Finished) => 2,
        Some(RestorePhase::Failed) => 3,
    }
}

fn phase_name(phase: Option<RestorePhase>) -> &'static str {
    match phase {
        None => PENDING,
        Some(RestorePhase::Running) => "Running",
        Some(RestorePhase::Finished) => "Finished",
        Some(RestorePhase::Failed) => "Failed",
    }
}

#[derive(Clone)]
struct AppState {
    ready: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
}

/// The router of `/healthz`, `/readyz` and `/metrics`.
pub fn router(ready: Arc<AtomicBool>, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_handler))
        .with_state(AppState { ready, metrics })
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    if s.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

async fn metrics_handler(State(s): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], s.metrics.render())
}

/// Serves the endpoint until the process ends.
pub async fn serve(
    listener: TcpListener,
    ready: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
) -> std::io::Result<()> {
    axum::serve(listener, router(ready, metrics)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn serves_probes_and_metrics_over_tcp() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let ready = Arc::new(AtomicBool::new(false));
        let metrics = Arc::new(Metrics::new());
        tokio::spawn(serve(listener, ready.clone(), metrics.clone()));
        assert!(get(addr, "/healthz").await.starts_with("HTTP/1.1 200 OK"));
        assert!(get(addr, "/readyz").await.starts_with("HTTP/1.1 503"));
        ready.store(true, Ordering::SeqCst);
        assert!(get(addr, "/readyz").await.starts_with("HTTP/1.1 200 OK"));
        assert!(get(addr, "/other").await.starts_with("HTTP/1.1 404"));
        metrics.job_created();
        metrics.reconciled(Duration::from_millis(3), false);
        metrics.reconciled(Duration::from_millis(3), true);
        metrics.restore_ended(RestorePhase::Finished, 1234);
        let page = get(addr, "/metrics").await;
        assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
        assert!(
            page.to_lowercase()
                .contains(&format!("content-type: {CONTENT_TYPE}")),
            "{page}"
        );
        for line in [
            "aerospike_restore_jobs_created_total 1",
            "aerospike_restore_reconciles_total 2",
            "aerospike_restore_reconcile_errors_total 1",
            "aerospike_restore_reconcile_duration_seconds_count 2",
            "aerospike_restore_restored_records_total 1234",
            "aerospike_restore_restores_ended_total{phase=\"Finished\"} 1",
            "aerospike_restore_leader 0",
            "# EOF",
        ] {
            assert!(
                page.lines().any(|l| l == line),
                "{line:?} missing from\n{page}"
            );
        }
    }

    #[test]
    fn restores_are_counted_by_phase_at_each_scrape() {
        use kube::runtime::reflector::store;
        use kube::runtime::watcher::Event;
        let (reader, mut writer) = store::<AerospikeNamespaceRestore>();
        let mut running = crate::fixtures::restore();
        running.status = Some(crate::crd::AerospikeNamespaceRestoreStatus {
            phase: Some(RestorePhase::Running),
            ..Default::default()
        });
        let mut fresh = crate::fixtures::restore();
        fresh.metadata.name = Some("other".into());
        writer.apply_watcher_event(&Event::Apply(running));
        writer.apply_watcher_event(&Event::Apply(fresh));
        let m = Metrics::new();
        m.watch(reader);
        let page = m.render();
        for line in [
            "aerospike_restore_restores{phase=\"Running\"} 1",
            "aerospike_restore_restores{phase=\"Pending\"} 1",
            "aerospike_restore_restores{phase=\"Finished\"} 0",
            "aerospike_restore_restores{phase=\"Failed\"} 0",
        ] {
            assert!(
                page.lines().any(|l| l == line),
                "{line:?} missing from\n{page}"
            );
        }
    }
}
