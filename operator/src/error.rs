//! Errors of a reconcile that are retried (validation failures are not errors: they end the restore).

/// A failure that makes the controller requeue the restore with backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the Kubernetes API failed.
    #[error("kubernetes API call failed: {0}")]
    Kube(#[from] kube::Error),
    /// A Job named like the restore's Job exists but is not controlled by this restore.
    #[error(
        "job {0} exists but is not owned by this restore (owner UID mismatch); waiting for it to go away"
    )]
    JobNotOwned(String),
    /// A Secret named like the restore's Secret copy exists but is not owned by this restore.
    #[error("secret {0} exists but is not owned by this restore; waiting for it to go away")]
    SecretNotOwned(String),
    /// An object named like one of the restore's own (ServiceAccount, Role, RoleBinding)
    /// exists but is not owned by this restore.
    #[error("{0} exists but is not owned by this restore; waiting for it to go away")]
    NotOwned(String),
    /// The restore changed since this reconcile read it (the status write carried its
    /// `resourceVersion` and the API server refused it): nothing was written, and the restore is
    /// looked at again once the newer object is seen.
    #[error("restore {0} changed since it was read")]
    Stale(String),
    /// The restore lacks a field the API server always sets.
    #[error("restore object is missing {0}")]
    MissingField(&'static str),
}

/// The result type of the reconciler.
pub type Result<T, E = Error> = std::result::Result<T, E>;
