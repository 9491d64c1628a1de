//! Status transitions: conditions (each written once), phase, times and the restorer's counters.

use crate::crd::{
    AerospikeNamespaceRestoreStatus, RestoreCondition, RestoreCounters, RestorePhase,
    RestoreProgress,
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
/// operator's capitalised `Conditions` key when the old status had one. With
/// `resource_version`, the API server applies it only to that version of the object (else
/// 409 Conflict).
pub fn merge_patch(
    old: Option<&AerospikeNamespaceRestoreStatus>,
    new: &AerospikeNamespaceRestoreStatus,
    resource_version: Option<String>,
) -> Value {
    let mut status = serde_json::to_value(new).unwrap_or_else(|_| json!({}));
    if old.is_some_and(|o| !o.legacy_conditions.is_empty())
        && let Some(map) = status.as_object_mut()
    {
        map.insert("Conditions".to_owned(), Value::Null);
    }
    // A merge patch keeps what it does not mention: figures the new progress no longer has (the
    // rate and ETA of a finished restore) are removed explicitly.
    if let Some(progress) = status.get_mut("progress").and_then(Value::as_object_mut) {
        for key in ["percent", "rate", "eta", "summary"] {
            progress.entry(key).or_insert(Value::Null);
        }
    }
    match resource_version {
        Some(rv) => json!({ "metadata": { "resourceVersion": rv }, "status": status }),
        None => json!({ "status": status }),
    }
}

/// The progress written when the Job ends: the restorer's final figures from its summary (100%
/// when it succeeded), keeping the per-pod entries it reported; without a summary, the last
/// reported figures, with no rate or ETA left.
pub fn final_progress(
    reported: Option<&RestoreProgress>,
    counters: Option<&RestoreCounters>,
    succeeded: bool,
    now: &Time,
) -> Option<RestoreProgress> {
    let mut p = match (counters, reported) {
        (Some(c), _) if c.error.is_none() || c.records > 0 => {
            let mut p = RestoreProgress::finished(c, now);
            if !succeeded {
                p.percent = reported.and_then(|r| r.percent);
                p.summary = Some(format!("{} records", c.records));
            }
            p
        }
        (_, Some(r)) => {
            let mut p = r.clone();
            p.rate = None;
            p.eta = None;
            p
        }
        (_, None) => return None,
    };
    if let Some(r) = reported {
        p.pods = r.pods.clone();
    }
    Some(p)
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

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn now() -> Time {
        Time("2026-11-25T06:00:00Z".parse::<Timestamp>().unwrap())
    }

    #[test]
    fn messages_are_the_reference_ones() {
        assert_eq!(
            started_message("ns", "r-restore"),
            "restore job created as ns/r-restore"
        );
        assert_eq!(failed_message(4), "restore job failed 4 times");
        assert_eq!(FINISHED_MESSAGE, "restore job has finished");
    }

    #[test]
    fn a_condition_type_is_written_once_and_sets_the_phase() {
        let mut s = AerospikeNamespaceRestoreStatus::default();
        assert!(add_condition(
            &mut s,
            condition(STARTED, "JobCreated", "a", Some(1), &now())
        ));
        assert_eq!(s.phase, Some(RestorePhase::Running));
        assert!(!add_condition(
            &mut s,
            condition(STARTED, "JobCreated", "b", Some(1), &now())
        ));
        assert_eq!(s.conditions.len(), 1);
        assert_eq!(s.conditions[0].message, "a");
        assert!(add_condition(
            &mut s,
            condition(FAILED, "JobFailed", "c", Some(1), &now())
        ));
        assert_eq!(s.phase, Some(RestorePhase::Failed));
        assert!(is_terminal(Some(&s)) && is_started(Some(&s)));
    }

    #[test]
    fn capitalised_reference_conditions_are_read_and_moved_to_the_standard_key() {
        let old: AerospikeNamespaceRestoreStatus = serde_json::from_value(json!({
            "Conditions": [{"Type": "RestoreStarted", "Status": "True", "LastTransitionTime": "2018-07-02T15:52:48Z",
                            "Reason": "", "Message": "restore job created as ns/x-restore"}]
        }))
        .unwrap();
        assert!(is_started(Some(&old)) && !is_terminal(Some(&old)));
        let mut new = old.clone();
        add_condition(
            &mut new,
            condition(FINISHED, "JobFinished", FINISHED_MESSAGE, None, &now()),
        );
        let patch = merge_patch(Some(&old), &new, None);
        assert_eq!(patch["status"]["Conditions"], Value::Null);
        let conds = patch["status"]["conditions"].as_array().unwrap();
        assert_eq!(conds.len(), 2);
        assert_eq!(conds[0]["type"], "RestoreStarted");
        assert_eq!(conds[0]["lastTransitionTime"], "2018-07-02T15:52:48Z");
        assert_eq!(conds[1]["type"], "RestoreFinished");
        assert_eq!(patch["status"]["phase"], "Finished");
    }

    #[test]
    fn merge_patch_without_legacy_conditions_does_not_mention_them() {
        let s = AerospikeNamespaceRestoreStatus::default();
        let patch = merge_patch(Some(&s), &s, None);
        assert!(
            !patch["status"]
                .as_object()
                .unwrap()
                .contains_key("Conditions")
        );
        assert!(patch.get("metadata").is_none());
    }

    #[test]
    fn merge_patch_removes_figures_the_final_progress_drops() {
        let s = AerospikeNamespaceRestoreStatus {
            progress: Some(RestoreProgress {
                records_read: 3,
                percent: Some(100.0),
                ..RestoreProgress::default()
            }),
            ..Default::default()
        };
        let patch = merge_patch(None, &s, None);
        let p = &patch["status"]["progress"];
        assert_eq!(
            (p["rate"].clone(), p["eta"].clone()),
            (Value::Null, Value::Null)
        );
        assert_eq!(p["percent"], 100.0);
        assert_eq!(p["recordsRead"], 3);
    }

    #[test]
    fn merge_patch_carries_the_resource_version_it_was_computed_from() {
        let s = AerospikeNamespaceRestoreStatus::default();
        let patch = merge_patch(None, &s, Some("42".into()));
        assert_eq!(patch["metadata"], json!({"resourceVersion": "42"}));
        assert!(patch["status"].is_object());
    }

    #[test]
    fn final_progress_takes_the_summary_and_keeps_pod_entries() {
        let reported = RestoreProgress {
            records_read: 5,
            records_written: 4,
            percent: Some(40.0),
            rate: Some(10.0),
            eta: Some("2s".into()),
            pods: [("0".to_owned(), crate::crd::PodProgress::default())].into(),
            ..RestoreProgress::default()
        };
        let c = RestoreCounters {
            records: 10,
            inserted: 9,
            ..RestoreCounters::default()
        };
        let p = final_progress(Some(&reported), Some(&c), true, &now()).unwrap();
        assert_eq!((p.records_read, p.records_written), (10, 9));
        assert_eq!(
            (p.percent, p.rate, p.eta.as_deref()),
            (Some(100.0), None, None)
        );
        assert_eq!(p.summary.as_deref(), Some("100% 10 records"));
        assert_eq!(p.pods.len(), 1);
        let failed = final_progress(Some(&reported), Some(&c), false, &now()).unwrap();
        assert_eq!(failed.percent, Some(40.0));
        // A crash log instead of a summary: the last report stands, without rate and ETA.
        let crash = parse_counters("panicked");
        let p = final_progress(Some(&reported), Some(&crash), false, &now()).unwrap();
        assert_eq!((p.records_read, p.percent, p.rate), (5, Some(40.0), None));
        assert_eq!(final_progress(None, Some(&crash), false, &now()), None);
        assert!(final_progress(None, None, true, &now()).is_none());
    }

    fn job(status: Value) -> Job {
        serde_json::from_value(json!({"metadata": {}, "status": status})).unwrap()
    }

    #[test]
    fn job_outcome_reads_conditions() {
        assert_eq!(job_outcome(&Job::default()), JobOutcome::Running);
        assert_eq!(job_outcome(&job(json!({"active": 1}))), JobOutcome::Running);
        assert_eq!(
            job_outcome(&job(
                json!({"conditions": [{"type": "Complete", "status": "True"}]})
            )),
            JobOutcome::Succeeded
        );
        assert_eq!(
            job_outcome(&job(
                json!({"conditions": [{"type": "Complete", "status": "False"}]})
            )),
            JobOutcome::Running
        );
        assert_eq!(
            job_outcome(&job(
                json!({"failed": 4, "conditions": [{"type": "Failed", "status": "True"}]})
            )),
            JobOutcome::Failed(4)
        );
    }

    fn pod(phase: &str, finished: &str, message: &str) -> Pod {
        serde_json::from_value(json!({"metadata": {}, "status": {"phase": phase, "containerStatuses": [{
            "name": "restorer", "image": "", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "finishedAt": finished, "message": message}}}]}}))
        .unwrap()
    }

    #[test]
    fn termination_message_picks_the_relevant_pod() {
        let pods = [
            pod("Failed", "2026-11-25T06:00:00Z", "first failure"),
            pod("Succeeded", "2026-11-25T06:01:00Z", "{\"inserted\":3}"),
            pod("Failed", "2026-11-25T06:02:00Z", "last failure"),
        ];
        assert_eq!(
            termination_message(&pods, JobOutcome::Succeeded).as_deref(),
            Some("{\"inserted\":3}")
        );
        assert_eq!(
            termination_message(&pods, JobOutcome::Failed(2)).as_deref(),
            Some("last failure")
        );
        assert_eq!(termination_message(&[], JobOutcome::Succeeded), None);
        assert_eq!(
            termination_message(
                &[pod("Succeeded", "2026-11-25T06:01:00Z", " ")],
                JobOutcome::Succeeded
            ),
            None
        );
    }

    #[test]
    fn counters_parse_from_the_restorer_summary() {
        let c = parse_counters(
            r#"{"records":10,"expired":1,"skipped":2,"ignored":3,"inserted":4,"existed":5,"fresher":6,"bytes":7,"error":"boom"}"#,
        );
        assert_eq!(
            c,
            RestoreCounters {
                records: 10,
                expired: 1,
                skipped: 2,
                ignored: 3,
                inserted: 4,
                existed: 5,
                fresher: 6,
                bytes: 7,
                error: Some("boom".into())
            }
        );
        assert_eq!(
            parse_counters(r#"{"inserted":4,"error":null,"future":1}"#).inserted,
            4
        );
    }

    #[test]
    fn non_json_termination_message_becomes_a_bounded_error() {
        let c = parse_counters("level=error msg=\"no such bucket\"\n");
        assert_eq!(
            c.error.as_deref(),
            Some("level=error msg=\"no such bucket\"")
        );
        assert_eq!(c.inserted, 0);
        let long = format!("é{}", "x".repeat(5000));
        let e = parse_counters(&long).error.unwrap();
        assert!(
            e.starts_with("...") && e.len() <= MAX_ERROR_LEN + 3,
            "{}",
            e.len()
        );
    }
}
