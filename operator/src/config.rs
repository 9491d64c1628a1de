//! The operator's configuration, from flags or environment variables.

use clap::Parser;
use std::net::SocketAddr;

/// Settings for the operator process and for the restore Jobs it creates.
#[derive(Parser, Debug, Clone, PartialEq, Eq)]
#[command(
    name = "operator",
    version,
    about = "Runs AerospikeNamespaceRestore resources as Jobs"
)]
pub struct Config {
    /// The image of the restore Job (holds the `restorer` binary).
    #[arg(
        long,
        env = "RESTORER_IMAGE",
        default_value = "aerospike-restore:latest"
    )]
    pub restorer_image: String,
    /// The image pull policy of the restore Job.
    #[arg(
        long,
        env = "RESTORER_IMAGE_PULL_POLICY",
        default_value = "IfNotPresent"
    )]
    pub restorer_image_pull_policy: String,
    /// The restorer executable inside the image.
    #[arg(
        long,
        env = "RESTORER_COMMAND",
        default_value = "/usr/local/bin/restorer"
    )]
    pub restorer_command: String,
    /// CPU request of the restore container.
    #[arg(long, env = "RESTORER_CPU_REQUEST", default_value = "500m")]
    pub restorer_cpu_request: String,
    /// Memory request of the restore container.
    #[arg(long, env = "RESTORER_MEMORY_REQUEST", default_value = "256Mi")]
    pub restorer_memory_request: String,
    /// CPU limit of the restore container (empty: none).
    #[arg(long, env = "RESTORER_CPU_LIMIT", default_value = "")]
    pub restorer_cpu_limit: String,
    /// Memory limit of the restore container (empty: none).
    #[arg(long, env = "RESTORER_MEMORY_LIMIT", default_value = "1Gi")]
    pub restorer_memory_limit: String,
    /// The address of the `/healthz`, `/readyz` and `/metrics` endpoint.
    #[arg(long, env = "HEALTH_ADDR", default_value = "0.0.0.0:8080")]
    pub health_addr: SocketAddr,
    /// Elect a leader through a Lease, so that several replicas may run (`false`: reconcile
    /// at once, for a single replica).
    #[arg(long, env = "LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// The name of the leader Lease.
    #[arg(long, env = "LEASE_NAME", default_value = "aerospike-restore-operator")]
    pub lease_name: String,
    /// The namespace of the leader Lease (the operator's own namespace in the Deployment).
    #[arg(
        long,
        env = "POD_NAMESPACE",
        default_value = "aerospike-restore-operator"
    )]
    pub lease_namespace: String,
    /// Seconds a leader's Lease stays valid without renewal.
    #[arg(long, env = "LEASE_DURATION_SECONDS", default_value_t = 15)]
    pub lease_duration_seconds: u64,
    /// Seconds between renewals (and between a follower's tries).
    #[arg(long, env = "LEASE_RETRY_SECONDS", default_value_t = 2)]
    pub lease_retry_seconds: u64,
    /// The controller name reported in events.
    #[arg(
        long,
        env = "REPORTER_NAME",
        default_value = "aerospike-restore-operator"
    )]
    pub reporter: String,
    /// The instance reported in events (the pod name in the Deployment).
    #[arg(long, env = "POD_NAME")]
    pub reporter_instance: Option<String>,
    /// Watch restores and Jobs in this namespace only (default: every namespace).
    #[arg(long, env = "WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,
}

impl Config {
    /// The leader Lease of this replica: identity from `POD_NAME`, else host name and pid.
    pub fn lease(&self) -> crate::leader::LeaseConfig {
        let identity = self.reporter_instance.clone().unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "operator".to_owned());
            format!("{host}-{}", std::process::id())
        });
        crate::leader::LeaseConfig {
            name: self.lease_name.clone(),
            namespace: self.lease_namespace.clone(),
            identity,
            duration: std::time::Duration::from_secs(self.lease_duration_seconds.max(1)),
            retry: std::time::Duration::from_secs(self.lease_retry_seconds.max(1)),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::parse_from(["operator"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_defaults() {
        let c = Config::try_parse_from([
            "operator",
            "--restorer-image",
            "img:1",
            "--restorer-memory-limit",
            "",
        ])
        .unwrap();
        assert_eq!(c.restorer_image, "img:1");
        assert_eq!(c.restorer_memory_limit, "");
        assert_eq!(c.restorer_cpu_request, "500m");
        assert_eq!(c.health_addr.port(), 8080);
        assert_eq!(c.watch_namespace, None);
        let c = Config::try_parse_from(["operator", "--watch-namespace", "ns-1"]).unwrap();
        assert_eq!(c.watch_namespace.as_deref(), Some("ns-1"));
        let c = Config::try_parse_from(["operator", "--leader-elect", "false"]).unwrap();
        assert!(!c.leader_elect);
        let d = Config::default();
        assert!(d.leader_elect);
        let lease = Config {
            reporter_instance: Some("pod-1".into()),
            ..d
        }
        .lease();
        assert_eq!(
            (lease.name.as_str(), lease.identity.as_str()),
            ("aerospike-restore-operator", "pod-1")
        );
        assert_eq!(lease.renew_deadline(), std::time::Duration::from_secs(10));
    }
}
