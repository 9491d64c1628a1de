//! Leader election on a `coordination.k8s.io/v1` Lease, so that several replicas can run and
//! only one reconciles.
//!
//! kube 5 has no leader election of its own; this is the client-go algorithm in small:
//! - a replica acquires the Lease when it does not exist, has no holder, or its record
//!   (holder, renew time) has not changed for `leaseDurationSeconds` as measured on this
//!   replica's own clock since it last saw it change (so clock skew between replicas does not
//!   matter);
//! - every write is a `replace` carrying the `resourceVersion` that was read: of two replicas
//!   racing for the Lease, one gets 409 Conflict and stays a follower;
//! - the leader renews every `retry` period; when it has not renewed for the renew deadline
//!   (two thirds of the lease duration) or finds another holder, it stops leading at once
//!   (the caller exits the process, and the restarted process starts as a follower);
//! - a leader that stops cleanly clears the holder, so a follower takes over at its next try.

use crate::metrics::Metrics;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Where and as whom to hold the Lease, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseConfig {
    /// The Lease's name.
    pub name: String,
    /// The Lease's namespace.
    pub namespace: String,
    /// This replica's identity (the pod name).
    pub identity: String,
    /// How long a holder's record stays valid without renewal.
    pub duration: Duration,
    /// How often the Lease is renewed or tried.
    pub retry: Duration,
}

impl LeaseConfig {
    /// How long the leader goes on leading without a successful renewal.
    pub fn renew_deadline(&self) -> Duration {
        self.duration * 2 / 3
    }
}

/// The leading side ended: it lost the Lease, or the work it ran failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// Another replica holds the Lease now, or it could not be renewed in time.
    #[error("lost the leader lease {0}")]
    Lost(String),
    /// The work run while leading failed.
    #[error(transparent)]
    Work(#[from] anyhow::Error),
}

/// A Lease record as seen by a follower: holder and renew time.
type Record = (Option<String>, Option<MicroTime>);

/// One replica's view of the Lease.
pub struct Elector {
    api: Api<Lease>,
    config: LeaseConfig,
    /// The last record seen and when this replica first saw it.
    observed: Option<(Record, Instant)>,
}

fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

impl Elector {
    /// An elector for `config.namespace/config.name`.
    pub fn new(client: Client, config: LeaseConfig) -> Self {
        Elector {
            api: Api::namespaced(client, &config.namespace),
            config,
            observed: None,
        }
    }

    fn spec(&self, transitions: i32, acquired: Option<MicroTime>) -> LeaseSpec {
        let t = now();
        LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: i32::try_from(self.config.duration.as_secs()).ok(),
            acquire_time: Some(acquired.unwrap_or_else(|| t.clone())),
            renew_time: Some(t),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// One attempt to acquire or renew the Lease; `Ok(true)` when this replica holds it now.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.config.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(0, None)),
            };
            return conflict_is_false(self.api.create(&PostParams::default(), &lease).await);
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let record = (holder.clone(), spec.renew_time.clone());
        if self
            .observed
            .as_ref()
            .is_none_or(|(seen, _)| *seen != record)
        {
            self.observed = Some((record, Instant::now()));
        }
        let transitions = spec.lease_transitions.unwrap_or(0);
        let new_spec = if holder.as_deref() == Some(self.config.identity.as_str()) {
            self.spec(transitions, spec.acquire_time.clone())
        } else {
            let valid_for = spec
                .lease_duration_seconds
                .and_then(|s| u64::try_from(s).ok())
                .map_or(self.config.duration, Duration::from_secs);
            let expired = self
                .observed
                .as_ref()
                .is_some_and(|(_, at)| at.elapsed() >= valid_for);
            if holder.is_some() && !expired {
                return Ok(false);
            }
            self.spec(transitions.saturating_add(1), None)
        };
        lease.spec = Some(new_spec);
        // `replace` sends the resourceVersion read above: a concurrent writer makes it 409.
        conflict_is_false(
            self.api
                .replace(&self.config.name, &PostParams::default(), &lease)
                .await,
        )
    }

    /// Clears the holder if this replica holds the Lease, so a follower takes over at once.
    pub async fn release(&mut self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.config.name).await? else {
            return Ok(());
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(());
        };
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = Some(now());
        conflict_is_false(
            self.api
                .replace(&self.config.name, &PostParams::default(), &lease)
                .await,
        )
        .map(|_| ())
    }
}

fn conflict_is_false<T>(r: Result<T, kube::Error>) -> Result<bool, kube::Error> {
    match r {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Waits for the Lease, then runs `lead` while renewing it. `ready` turns true once the Lease
/// API has answered (followers are ready too: they are healthy standbys). Returns when `lead`
/// ends (releasing the Lease), or with [`LeaderError::Lost`] when leadership is lost (`lead`
/// is then dropped at once, before any other replica can acquire the Lease).
pub async fn run<F, Fut>(
    mut elector: Elector,
    ready: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
    lead: F,
) -> Result<(), LeaderError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let cfg = elector.config.clone();
    let lease = format!("{}/{}", cfg.namespace, cfg.name);
    loop {
        match elector.try_acquire_or_renew().await {
            Ok(true) => break,
            Ok(false) => ready.store(true, Ordering::SeqCst),
            Err(e) => tracing::warn!(error = %e, %lease, "cannot read the leader lease"),
        }
        tokio::time::sleep(cfg.retry).await;
    }
    ready.store(true, Ordering::SeqCst);
    metrics.set_leader(true);
    tracing::info!(%lease, identity = %cfg.identity, "became the leader");
    // Polled here, not spawned: dropping this future (a crash) drops the controller with it.
    let work = lead();
    tokio::pin!(work);
    let mut renewed = Instant::now();
    let result = loop {
        tokio::select! {
            end = &mut work => break end.map_err(LeaderError::Work),
            () = tokio::time::sleep(cfg.retry) => {
                match elector.try_acquire_or_renew().await {
                    Ok(true) => renewed = Instant::now(),
                    Ok(false) => {
                        metrics.set_leader(false);
                        return Err(LeaderError::Lost(format!("{lease}: another replica holds it")));
                    }
                    Err(e) => tracing::warn!(error = %e, %lease, "cannot renew the leader lease"),
                }
                if renewed.elapsed() >= cfg.renew_deadline() {
                    metrics.set_leader(false);
                    return Err(LeaderError::Lost(format!("{lease}: not renewed for {:?}", cfg.renew_deadline())));
                }
            }
        }
    };
    metrics.set_leader(false);
    if let Err(e) = elector.release().await {
        tracing::warn!(error = %e, %lease, "cannot release the leader lease");
    }
    result
}
