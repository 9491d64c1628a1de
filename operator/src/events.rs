//! Events published on a restore (events.k8s.io/v1), once per transition.

use crate::crd::AerospikeNamespaceRestore;
use kube::Resource;
use kube::runtime::events::{Event, EventType, Recorder};

/// The Job was created.
pub const JOB_CREATED: &str = "JobCreated";
/// The Job completed.
pub const JOB_FINISHED: &str = "JobFinished";
/// The Job failed (validation failures use their own reason, e.g. `ClusterNotFound`).
pub const JOB_FAILED: &str = "JobFailed";

/// Publishes an event on the restore. Events are best effort: a failure is logged, not retried,
/// because the status (already written) is what prevents a second transition.
pub async fn publish(
    recorder: &Recorder,
    restore: &AerospikeNamespaceRestore,
    type_: EventType,
    reason: &str,
    action: &str,
    note: &str,
) {
    let ev = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(note.to_owned()),
        action: action.to_owned(),
        secondary: None,
    };
    if let Err(e) = recorder.publish(&ev, &restore.object_ref(&())).await {
        tracing::warn!(error = %e, reason, "could not publish event");
    }
}
