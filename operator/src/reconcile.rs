//! The reconciler: one pass over a restore, from validation to the Job's end.
//!
//! Data flows one way: read the restore, the Job and what validation needs; decide; write
//! objects (Secret copy, Job), then the status, then the event. The status is written before
//! the event, so a transition (and its event) happens at most once.

use crate::cluster::AerospikeCluster;
use crate::config::Config;
use crate::crd::{
    AerospikeNamespaceRestore, AerospikeNamespaceRestoreStatus, BackupStorageSpec, RestorePhase,
};
use crate::error::{Error, Result};
use crate::events::{self, JOB_CREATED, JOB_FAILED, JOB_FINISHED};
use crate::metrics::Metrics;
use crate::status::{self, FAILED, FINISHED, JobOutcome, STARTED};
use crate::validate::{self, Invalid};
use crate::{job, rbac, storage};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource, ResourceExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often a running restore is looked at even without a Job event.
pub const RESYNC: Duration = Duration::from_secs(300);
/// The first retry delay after an error; it doubles up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_secs(5);
/// The longest retry delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// The longest a pass that created its Job waits for other passes to create theirs.
pub const MAX_YIELD: Duration = Duration::from_secs(2);
/// The retry delay after a status write found the restore newer than the reconcile's copy.
pub const STALE_RETRY: Duration = Duration::from_secs(1);

/// What every reconcile shares.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// Publishes events on restores.
    pub recorder: Recorder,
    /// Job image, resources and the like.
    pub config: Config,
    /// What `/metrics` shows.
    pub metrics: Arc<Metrics>,
    /// The controller's cache of restore Jobs, if it keeps one.
    jobs: Option<Store<Job>>,
    /// The controller's cache of clusters, if it keeps one.
    clusters: Option<Store<AerospikeCluster>>,
    /// Passes on their way to creating a Job.
    starting: AtomicUsize,
    /// Consecutive failures per restore UID, for the backoff.
    failures: Mutex<HashMap<String, u32>>,
}

/// A pass counted in [`Context::starting`] while it lives.
struct Starting<'a>(&'a AtomicUsize);

impl Drop for Starting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Context {
    /// A context whose events are reported as `config.reporter`.
    pub fn new(client: Client, config: Config) -> Self {
        let reporter = kube::runtime::events::Reporter {
            controller: config.reporter.clone(),
            instance: config.reporter_instance.clone(),
        };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            config,
            metrics: Arc::new(Metrics::new()),
            jobs: None,
            clusters: None,
            starting: AtomicUsize::new(0),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// The same context, reading Jobs and clusters from these caches first.
    pub fn with_caches(mut self, jobs: Store<Job>, clusters: Store<AerospikeCluster>) -> Self {
        self.jobs = Some(jobs);
        self.clusters = Some(clusters);
        self
    }

    /// The same context, counting into `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Counts a pass on its way to creating a Job, until the returned guard is dropped.
    fn starting(&self) -> Starting<'_> {
        self.starting.fetch_add(1, Ordering::SeqCst);
        Starting(&self.starting)
    }

    /// Waits (at most [`MAX_YIELD`]) until no pass is on its way to creating a Job.
    async fn after_starts(&self) {
        let start = std::time::Instant::now();
        while self.starting.load(Ordering::SeqCst) > 0 && start.elapsed() < MAX_YIELD {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn record_failure(&self, uid: &str) -> u32 {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(uid.to_owned()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }

    fn clear_failures(&self, uid: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uid);
    }
}

/// The delay before retry number `failures` (1-based): 5 s, 10 s, 20 s, ... up to 5 min.
pub fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    MIN_BACKOFF.saturating_mul(1 << exp).min(MAX_BACKOFF)
}

/// Requeues a restore whose reconcile failed, with exponential backoff.
pub fn error_policy(
    restore: Arc<AerospikeNamespaceRestore>,
    err: &Error,
    ctx: Arc<Context>,
) -> Action {
    let n = ctx.record_failure(&restore.uid().unwrap_or_default());
    let delay = backoff(n);
    tracing::warn!(restore = %restore.name_any(), error = %err, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// Reconciles one restore.
pub async fn reconcile(
    restore: Arc<AerospikeNamespaceRestore>,
    ctx: Arc<Context>,
) -> Result<Action> {
    let start = std::time::Instant::now();
    let result = reconcile_once(&restore, &ctx).await;
    ctx.metrics.reconciled(start.elapsed(), result.is_err());
    result
}

async fn reconcile_once(restore: &AerospikeNamespaceRestore, ctx: &Context) -> Result<Action> {
    let action = match Reconciler::new(restore, ctx)?.run().await {
        // The watch cache lagged behind a write (often this controller's own): nothing was
        // written, no event published; look again once the newer object has arrived.
        Err(Error::Stale(name)) => {
            tracing::debug!(restore = %name, "restore changed since it was read; looking again");
            Action::requeue(STALE_RETRY)
        }
        other => other?,
    };
    ctx.clear_failures(&restore.uid().unwrap_or_default());
    Ok(action)
}

/// Creates `obj`, or accepts an existing object of that name that `uid` owns.
async fn create_owned<K>(api: &Api<K>, obj: &K, uid: &str) -> Result<()>
where
    K: Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    match api.create(&PostParams::default(), obj).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let name = obj.meta().name.clone().unwrap_or_default();
            let existing = api.get(&name).await?;
            if existing.owner_references().iter().any(|o| o.uid == uid) {
                Ok(())
            } else {
                Err(Error::NotOwned(format!("{} {name}", K::kind(&()))))
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// One reconcile pass over one restore.
struct Reconciler<'a> {
    restore: &'a AerospikeNamespaceRestore,
    ctx: &'a Context,
    ns: String,
    name: String,
    uid: String,
    job_name: String,
    now: Time,
}

impl<'a> Reconciler<'a> {
    fn new(restore: &'a AerospikeNamespaceRestore, ctx: &'a Context) -> Result<Self> {
        let ns = restore
            .namespace()
            .ok_or(Error::MissingField("metadata.namespace"))?;
        let name = restore
            .meta()
            .name
            .clone()
            .ok_or(Error::MissingField("metadata.name"))?;
        let uid = restore.uid().ok_or(Error::MissingField("metadata.uid"))?;
        Ok(Reconciler {
            job_name: job::job_name(&name),
            restore,
            ctx,
            ns,
            name,
            uid,
            now: Time(k8s_openapi::jiff::Timestamp::now()),
        })
    }

    fn status(&self) -> Option<&AerospikeNamespaceRestoreStatus> {
        self.restore.status.as_ref()
    }

    async fn run(self) -> Result<Action> {
        if self.restore.meta().deletion_timestamp.is_some() || status::is_terminal(self.status()) {
            // Ended restores never run again; owner references clean up on deletion.
            return Ok(Action::await_change());
        }
        match self.job().await? {
            Some(existing) => {
                let owned = existing
                    .owner_references()
                    .iter()
                    .any(|o| o.controller == Some(true) && o.uid == self.uid);
                if !owned {
                    return Err(Error::JobNotOwned(format!("{}/{}", self.ns, self.job_name)));
                }
                self.observe(&existing).await
            }
            None if status::is_started(self.status()) => {
                let message = format!(
                    "restore job {}/{} was deleted before it ended",
                    self.ns, self.job_name
                );
                self.fail(Invalid {
                    reason: "JobMissing",
                    message,
                })
                .await
            }
            None => {
                let starting = self.ctx.starting();
                match self.validate().await? {
                    Ok((storage, secret)) => self.start(&storage, &secret, starting).await,
                    Err(invalid) => {
                        drop(starting);
                        self.fail(invalid).await
                    }
                }
            }
        }
    }

    /// The restore's Job: from the cache when it has it, else from the API.
    async fn job(&self) -> Result<Option<Job>> {
        let key = ObjectRef::new(&self.job_name).within(&self.ns);
        if let Some(job) = self.ctx.jobs.as_ref().and_then(|s| s.get(&key)) {
            return Ok(Some((*job).clone()));
        }
        let jobs: Api<Job> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        Ok(jobs.get_opt(&self.job_name).await?)
    }

    /// The target cluster: from the cache when it has it, else from the API.
    async fn cluster(&self) -> Result<Option<AerospikeCluster>> {
        let name = &self.restore.spec.target.cluster;
        let key = ObjectRef::new(name).within(&self.ns);
        if let Some(c) = self.ctx.clusters.as_ref().and_then(|s| s.get(&key)) {
            return Ok(Some((*c).clone()));
        }
        let clusters: Api<AerospikeCluster> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        Ok(clusters.get_opt(name).await?)
    }

    /// Runs every check of DESIGN §7; the outer error is an API failure (retried), the inner
    /// one a validation failure (final).
    async fn validate(&self) -> Result<Result<(BackupStorageSpec, Secret), Invalid>> {
        if let Err(e) = validate::check_restore(self.restore, &self.name) {
            return Ok(Err(e));
        }
        let cluster = self.cluster().await?;
        let storage = match validate::check_target(self.restore, &self.ns, cluster.as_ref()) {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        let secrets: Api<Secret> =
            Api::namespaced(self.ctx.client.clone(), storage.secret_namespace(&self.ns));
        // The restorer's ServiceAccount (needed before the Job) is created while the Secret is
        // read: one round trip less before the Job. Should the Secret check fail, the account
        // stays unused and goes with the restore.
        let (secret, account) = futures::join!(
            secrets.get_opt(&storage.secret),
            self.ensure_service_account()
        );
        let secret = secret?;
        account?;
        Ok(validate::check_secret(&storage, &self.ns, secret).map(|s| (storage, s)))
    }

    /// Creates the Secret copy, or accepts an existing one that this restore owns.
    async fn ensure_secret_copy(&self, source: &Secret) -> Result<()> {
        let api: Api<Secret> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        let name = storage::copy_name(&self.name);
        if let Some(existing) = api.get_opt(&name).await? {
            return if self.owns(&existing) {
                Ok(())
            } else {
                Err(Error::SecretNotOwned(format!("{}/{name}", self.ns)))
            };
        }
        let copy = storage::secret_copy(self.restore, source)
            .ok_or(Error::MissingField("metadata.uid"))?;
        api.create(&PostParams::default(), &copy).await?;
        Ok(())
    }

    /// Removes the Secret copy when this restore owns it.
    async fn delete_secret_copy(&self) -> Result<()> {
        let api: Api<Secret> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        let name = storage::copy_name(&self.name);
        match api.get_opt(&name).await? {
            Some(existing) if self.owns(&existing) => {
                match api.delete(&name, &DeleteParams::default()).await {
                    Ok(_) => Ok(()),
                    Err(kube::Error::Api(s)) if s.is_not_found() => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            _ => Ok(()),
        }
    }

    fn owns<K: Resource>(&self, obj: &K) -> bool {
        obj.owner_references().iter().any(|o| o.uid == self.uid)
    }

    fn uses_secret_copy(&self) -> bool {
        let storage = self.status().and_then(|s| s.storage.as_ref());
        storage
            .or(self.restore.spec.storage.as_ref())
            .is_some_and(|s| storage::needs_copy(s, &self.ns))
    }

    /// Copies the Secret when needed, creates the Job and records `RestoreStarted`.
    async fn start(
        &self,
        storage: &BackupStorageSpec,
        secret: &Secret,
        starting: Starting<'_>,
    ) -> Result<Action> {
        if storage::needs_copy(storage, &self.ns) {
            self.ensure_secret_copy(secret).await?;
        }
        let job = job::build(self.restore, storage, &self.ctx.config)
            .ok_or(Error::MissingField("metadata.uid"))?;
        // The pod's ServiceAccount exists already (validate), as the pod's admission needs.
        let jobs: Api<Job> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        jobs.create(&PostParams::default(), &job).await?;
        self.ctx.metrics.job_created();
        tracing::info!(restore = %self.name, namespace = %self.ns, job = %self.job_name, "created restore job");
        drop(starting);
        // Under a burst of new restores, their Jobs go first; the rest of this pass (rights,
        // status, event) follows once no other pass is on its way to a Job.
        self.ctx.after_starts().await;
        // The rights are needed only at the restorer's first progress report.
        self.ensure_status_rights().await?;
        let mut new = self.status().cloned().unwrap_or_default();
        new.storage = Some(storage.clone());
        let message = self.started(&mut new);
        self.write_status(&new).await?;
        self.event(EventType::Normal, JOB_CREATED, "CreateJob", &message)
            .await;
        Ok(Action::requeue(RESYNC))
    }

    /// Creates the restorer's ServiceAccount (rbac.rs), or accepts the one this restore owns.
    async fn ensure_service_account(&self) -> Result<()> {
        let sa = rbac::service_account(self.restore).ok_or(Error::MissingField("metadata.uid"))?;
        let api: Api<ServiceAccount> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        create_owned(&api, &sa, &self.uid).await
    }

    /// Creates the Role and RoleBinding letting the restorer patch this restore's status.
    async fn ensure_status_rights(&self) -> Result<()> {
        let role = rbac::role(self.restore).ok_or(Error::MissingField("metadata.uid"))?;
        let binding =
            rbac::role_binding(self.restore).ok_or(Error::MissingField("metadata.uid"))?;
        let roles: Api<Role> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        let bindings: Api<RoleBinding> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        create_owned(&roles, &role, &self.uid).await?;
        create_owned(&bindings, &binding, &self.uid).await
    }

    /// Adds `RestoreStarted` and the fields that go with it; returns the message.
    fn started(&self, new: &mut AerospikeNamespaceRestoreStatus) -> String {
        let message = status::started_message(&self.ns, &self.job_name);
        new.target = Some(self.restore.spec.target.clone());
        new.job = Some(format!("{}/{}", self.ns, self.job_name));
        new.start_time.get_or_insert_with(|| self.now.clone());
        let cond = status::condition(STARTED, JOB_CREATED, &message, self.generation(), &self.now);
        status::add_condition(new, cond);
        message
    }

    /// Follows an owned Job: records its start (when adopted) and its end.
    async fn observe(&self, job: &Job) -> Result<Action> {
        let outcome = status::job_outcome(job);
        let mut new = self.status().cloned().unwrap_or_default();
        let adopted = (!status::is_started(self.status())).then(|| self.started(&mut new));
        if adopted.is_some() {
            // A pass that created the Job may have died before the rest of the identity.
            self.ensure_service_account().await?;
            self.ensure_status_rights().await?;
        }
        let end = match outcome {
            JobOutcome::Running => None,
            JobOutcome::Succeeded => Some((
                FINISHED,
                JOB_FINISHED,
                EventType::Normal,
                status::FINISHED_MESSAGE.to_owned(),
            )),
            JobOutcome::Failed(n) => Some((
                FAILED,
                JOB_FAILED,
                EventType::Warning,
                status::failed_message(n),
            )),
        };
        if let Some((cond_type, reason, _, message)) = &end {
            new.counters = self.counters(outcome).await?;
            new.progress = status::final_progress(
                new.progress.as_ref(),
                new.counters.as_ref(),
                outcome == JobOutcome::Succeeded,
                &self.now,
            );
            if self.uses_secret_copy() {
                self.delete_secret_copy().await?;
            }
            let completed = job.status.as_ref().and_then(|s| s.completion_time.clone());
            new.completion_time = Some(completed.unwrap_or_else(|| self.now.clone()));
            let cond = status::condition(cond_type, reason, message, self.generation(), &self.now);
            status::add_condition(&mut new, cond);
        }
        if adopted.is_some() || end.is_some() {
            self.write_status(&new).await?;
        }
        if let Some(message) = adopted {
            tracing::info!(restore = %self.name, job = %self.job_name, "adopted restore job");
            self.event(EventType::Normal, JOB_CREATED, "CreateJob", &message)
                .await;
        }
        match end {
            Some((_, reason, type_, message)) => {
                let phase = match outcome {
                    JobOutcome::Succeeded => RestorePhase::Finished,
                    _ => RestorePhase::Failed,
                };
                let written = new.counters.as_ref().map_or(0, |c| c.inserted);
                self.ctx.metrics.restore_ended(phase, written);
                tracing::info!(restore = %self.name, job = %self.job_name, %message, "restore ended");
                self.event(type_, reason, "ObserveJob", &message).await;
                Ok(Action::await_change())
            }
            None => Ok(Action::requeue(RESYNC)),
        }
    }

    /// The counters from the restore pod's termination message, if it left one.
    async fn counters(&self, outcome: JobOutcome) -> Result<Option<crate::crd::RestoreCounters>> {
        let pods: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        let lp = ListParams::default().labels(&format!("job-name={}", self.job_name));
        let list = pods.list(&lp).await?;
        Ok(status::termination_message(&list.items, outcome).map(|m| status::parse_counters(&m)))
    }

    /// Ends the restore with `RestoreFailed` and a Warning event; no Job is created.
    async fn fail(&self, invalid: Invalid) -> Result<Action> {
        tracing::warn!(restore = %self.name, reason = invalid.reason, message = %invalid.message, "restore failed");
        if self.uses_secret_copy() {
            self.delete_secret_copy().await?;
        }
        let mut new = self.status().cloned().unwrap_or_default();
        new.target = Some(self.restore.spec.target.clone());
        new.completion_time = Some(self.now.clone());
        let cond = status::condition(
            FAILED,
            invalid.reason,
            &invalid.message,
            self.generation(),
            &self.now,
        );
        status::add_condition(&mut new, cond);
        self.write_status(&new).await?;
        self.ctx.metrics.restore_ended(RestorePhase::Failed, 0);
        self.event(
            EventType::Warning,
            invalid.reason,
            "Validate",
            &invalid.message,
        )
        .await;
        Ok(Action::await_change())
    }

    fn generation(&self) -> Option<i64> {
        self.restore.meta().generation
    }

    /// Writes the status only over the object this pass read (its `resourceVersion` is a
    /// precondition): a pass working from a stale copy of the restore, as the watch cache
    /// hands out right after a write, gets [`Error::Stale`] instead of repeating a transition
    /// and its event.
    async fn write_status(&self, new: &AerospikeNamespaceRestoreStatus) -> Result<()> {
        let api: Api<AerospikeNamespaceRestore> =
            Api::namespaced(self.ctx.client.clone(), &self.ns);
        let patch = status::merge_patch(self.status(), new, self.restore.resource_version());
        match api
            .patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 409 => {
                Err(Error::Stale(format!("{}/{}", self.ns, self.name)))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn event(&self, type_: EventType, reason: &str, action: &str, note: &str) {
        events::publish(
            &self.ctx.recorder,
            self.restore,
            type_,
            reason,
            action,
            note,
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let secs: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
        assert_eq!(backoff(0), MIN_BACKOFF);
    }
}

#[cfg(test)]
mod policy_tests {
    use super::*;
    use http::{Request, Response};
    use kube::client::Body;

    #[tokio::test]
    async fn error_policy_backs_off_per_restore_and_success_resets_it() {
        let (svc, _handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let ctx = Arc::new(Context::new(Client::new(svc, "default"), Config::default()));
        let a = Arc::new(crate::fixtures::restore());
        let mut b = crate::fixtures::restore();
        b.metadata.uid = Some("other".into());
        let b = Arc::new(b);
        let err = || Error::JobNotOwned("x".into());
        assert_eq!(
            error_policy(a.clone(), &err(), ctx.clone()),
            Action::requeue(Duration::from_secs(5))
        );
        assert_eq!(
            error_policy(a.clone(), &err(), ctx.clone()),
            Action::requeue(Duration::from_secs(10))
        );
        assert_eq!(
            error_policy(b.clone(), &err(), ctx.clone()),
            Action::requeue(Duration::from_secs(5))
        );
        ctx.clear_failures(UID_A);
        assert_eq!(
            error_policy(a, &err(), ctx),
            Action::requeue(Duration::from_secs(5))
        );
    }

    const UID_A: &str = crate::fixtures::UID;
}
