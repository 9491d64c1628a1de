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
    /// The address of the `/healthz` and `/readyz` endpoint.
    #[arg(long, env = "HEALTH_ADDR", default_value = "0.0.0.0:8080")]
    pub health_addr: SocketAddr,
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
    }
}
