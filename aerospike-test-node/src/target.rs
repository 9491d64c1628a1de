//! Where a test talks to: this crate's node, or a real server named by `AEROSPIKE_HOSTS`.

use crate::cluster::TestCluster;
use crate::config::ClusterConfig;

/// Environment variable naming a real cluster's seeds (e.g. `127.0.0.1:3000`).
pub const HOSTS_ENV: &str = "AEROSPIKE_HOSTS";

/// The cluster a test runs against.
pub enum Target {
    /// An in-process test cluster.
    Node(TestCluster),
    /// A real server.
    Real {
        /// Seed list for the client.
        hosts: String,
    },
}

impl Target {
    /// Seed list for `aerospike::Client::new`.
    pub fn hosts(&self) -> String {
        match self {
            Target::Node(c) => c.seeds(),
            Target::Real { hosts } => hosts.clone(),
        }
    }

    /// The test cluster, when not running against a real server.
    pub fn node(&self) -> Option<&TestCluster> {
        match self {
            Target::Node(c) => Some(c),
            Target::Real { .. } => None,
        }
    }
}

/// `AEROSPIKE_HOSTS` set (and not empty) => [`Target::Real`]; otherwise starts a default
/// [`TestCluster`].
///
/// # Panics
/// When the test cluster cannot bind a port on 127.0.0.1 (tests cannot run at all then).
pub async fn target() -> Target {
    target_with(ClusterConfig::default()).await
}

/// Like [`target`], starting the test cluster with `cfg` when no real server is named.
///
/// # Panics
/// When the test cluster cannot bind a port on 127.0.0.1.
pub async fn target_with(cfg: ClusterConfig) -> Target {
    match real_hosts(std::env::var(HOSTS_ENV).ok()) {
        Some(hosts) => Target::Real { hosts },
        None => match TestCluster::start(cfg).await {
            Ok(c) => Target::Node(c),
            Err(e) => panic!("cannot start the aerospike test node on 127.0.0.1: {e}"),
        },
    }
}

/// The real cluster named by the environment value, if any (blank means none).
fn real_hosts(var: Option<String>) -> Option<String> {
    var.map(|h| h.trim().to_string()).filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_value_selects_the_target() {
        assert_eq!(real_hosts(None), None);
        assert_eq!(real_hosts(Some("  ".into())), None);
        assert_eq!(
            real_hosts(Some(" 10.0.0.1:3000 ".into())),
            Some("10.0.0.1:3000".into())
        );
    }

    #[tokio::test]
    async fn node_target_exposes_the_cluster() {
        let t = Target::Node(TestCluster::start(ClusterConfig::default()).await.unwrap());
        assert_eq!(t.hosts(), t.node().unwrap().seeds());
        let real = Target::Real {
            hosts: "h:1".into(),
        };
        assert_eq!(real.hosts(), "h:1");
        assert!(real.node().is_none());
    }
}
