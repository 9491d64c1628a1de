//! Status transitions: conditions (each written once), phase, times and the restorer's counters.

use crate::crd::{
    AerospikeNamespaceRestoreStatus, RestoreCondition, RestoreCounters, RestorePhase,
};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Value, json};

/// The condition written when the Job is created (or adopted).
pub const STARTED: &str = "RestoreStarted";
/// The condition written when the Job completes.
pub const FINISHED: &str = "RestoreFinished";
/// The condition written when validation fails or the Job fails.
pub const FAILED: &str = "RestoreFailed";
/// The message of `RestoreFinished` and of the `JobFinished` event.
pub const FINISHED_MESSAGE: &str = "restore job has finished";
/// The longest termination message kept as an error text.
const MAX_ERROR_LEN: usize = 1024;

/// The message of `RestoreStarted` and of the `JobCreated` event.
pub fn started_message(ns: &str, job: &str) -> String {
    format!("restore job created as {ns}/{job}")
}

/// The message of `RestoreFailed` and of the `JobFailed` event when the Job fails.
pub fn failed_message(failures: i32) -> String {
    format!("restore job failed {failures} times")
}

/// Whether the restore has ended (finished or failed): it never runs again.
pub fn is_terminal(status: Option<&AerospikeNamespaceRestoreStatus>) -> bool {
    status.is_some_and(|s| s.is_true(FINISHED) || s.is_true(FAILED))
}

/// Whether the Job was already recorded as started.
pub fn is_started(status: Option<&AerospikeNamespaceRestoreStatus>) -> bool {
    status.is_some_and(|s| s.is_true(STARTED))
}

/// A `True` condition.
pub fn condition(
    type_: &str,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: &Time,
) -> RestoreCondition {
    RestoreCondition {
        type_: type_.to_owned(),
        status: "True".to_owned(),
        reason: reason.to_owned(),
        message: message.to_owned(),
        last_transition_time: Some(now.clone()),
        observed_generation: generation,
    }
}

/// Adds a condition unless one of its type is already present; returns whether it was added.
pub fn add_condition(status: &mut AerospikeNamespaceRestoreStatus, cond: RestoreCondition) -> bool {
    if status.all_conditions().any(|c| c.type_ == cond.type_) {
        return false;
    }
    // Carry the reference operator's conditions over to the standard key.
    let legacy = std::mem::take(&mut status.legacy_conditions);
    for l in legacy {
        if !status.conditions.iter().any(|c| c.type_ == l.type_) {
            status.conditions.push(l);
        }
    }
    status.conditions.push(cond);
    status.phase = Some(match status.conditions.last().map(|c| c.type_.as_str()) {
        Some(FINISHED) => RestorePhase::Finished,
        Some(FAILED) => RestorePhase::Failed,
        _ => RestorePhase::Running,
    });
    true
}

/// The merge patch writing `new` over the restore's status; it removes the reference
/// operator's capitalised `Conditions` key when the old status had one.
pub fn merge_patch(
    old: Option<&AerospikeNamespaceRestoreStatus>,
    new: &AerospikeNamespaceRestoreStatus,
) -> Value {
    let mut status = serde_json::to_value(new).unwrap_or_else(|_| json!({}));
    if old.is_some_and(|o| !o.legacy_conditions.is_empty())
        && let Some(map) = status.as_object_mut()
    {
        map.insert("Conditions".to_owned(), Value::Null);
    }
    json!({ "status": status })
}

/// How far a Job has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    /// Neither complete nor failed.
    Running,
    /// The `Complete` condition is true.
    Succeeded,
    /// The `Failed` condition is true (the backoff limit was reached); pods failed this often.
    Failed(i32),
}

/// Reads the Job's `Complete` / `Failed` conditions.
pub fn job_outcome(job: &Job) -> JobOutcome {
    let Some(status) = job.status.as_ref() else {
        return JobOutcome::Running;
    };
    let is = |t: &str| {
        status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == t && c.status == "True")
    };
    if is("Complete") {
        JobOutcome::Succeeded
    } else if is("Failed") {
        JobOutcome::Failed(status.failed.unwrap_or(0))
    } else {
        JobOutcome::Running
    }
}

/// The termination message of the restore container in the most relevant pod: a succeeded pod
/// when the Job succeeded, else the pod that terminated last.
pub fn termination_message(pods: &[Pod], outcome: JobOutcome) -> Option<String> {
    let terminated = pods.iter().filter_map(|p| {
        let phase = p.status.as_ref()?.phase.clone().unwrap_or_default();
        let state = p
            .status
            .as_ref()?
            .container_statuses
            .iter()
            .flatten()
            .find(|c| c.name == crate::job::CONTAINER_NAME)?
            .state
            .as_ref()?
            .terminated
            .clone()?;
        Some((phase, state))
    });
    let wanted = |phase: &str| match outcome {
        JobOutcome::Succeeded => phase == "Succeeded",
        _ => true,
    };
    terminated
        .filter(|(phase, _)| wanted(phase))
        .max_by_key(|(_, t)| t.finished_at.as_ref().map(|f| f.0))
        .and_then(|(_, t)| t.message)
        .filter(|m| !m.trim().is_empty())
}

/// Parses the restorer's JSON summary; anything else (a log tail after a crash) is kept,
/// shortened, as the error text.
pub fn parse_counters(message: &str) -> RestoreCounters {
    match serde_json::from_str::<RestoreCounters>(message.trim()) {
        Ok(c) => c,
        Err(_) => {
            let mut text = message.trim().to_owned();
            if text.len() > MAX_ERROR_LEN {
                let mut cut = text.len() - MAX_ERROR_LEN;
                while !text.is_char_boundary(cut) {
                    cut += 1;
                }
                text = format!("...{}", &text[cut..]);
            }
            RestoreCounters {
                error: Some(text),
                ..RestoreCounters::default()
            }
        }
    }
}
