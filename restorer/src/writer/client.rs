//! Connecting to the cluster (seeds, auth, TLS) and asking what it supports.

use std::path::PathBuf;
use std::sync::Arc;

use aerospike::policy::AdminPolicy;
use aerospike::{AuthMode, Client, ClientPolicy, Host, TlsPolicy};

/// Lowest server version with batch writes (format §4.4).
const BATCH_WRITE_MIN_MAJOR: u32 = 6;

/// How to reach the cluster.
#[derive(Clone, Default)]
pub struct ConnectOptions {
    /// `-h`: `HOST[:PORT][,...]`.
    pub hosts: String,
    /// `-p`: port for hosts given without one.
    pub port: u16,
    /// `-U`.
    pub user: Option<String>,
    /// `-P` / `AEROSPIKE_PASSWORD`.
    pub password: Option<String>,
    /// `--tls-enable`.
    pub tls: bool,
    /// `--tls-name`.
    pub tls_name: Option<String>,
    /// `--tls-cafile`.
    pub tls_cafile: Option<PathBuf>,
    /// Connect / info timeout in ms.
    pub timeout: u32,
    /// Connections per node.
    pub max_conns_per_node: usize,
}

impl std::fmt::Debug for ConnectOptions {
    /// Never shows the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("hosts", &self.hosts)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("tls", &self.tls)
            .field("tls_name", &self.tls_name)
            .finish_non_exhaustive()
    }
}

/// Connecting failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// A seed is not `host[:port]`.
    #[error("invalid host {0:?}: expected HOST[:PORT]")]
    BadHost(String),
    /// TLS setup failed.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// The client could not connect.
    #[error("cannot connect to the cluster at {hosts}: {message}")]
    Connect {
        /// Seeds.
        hosts: String,
        /// The client's message.
        message: String,
    },
}

/// Seeds from `-h` and `-p`: `a,b:3100` with port 3000 gives `[(a,3000),(b,3100)]`.
pub fn parse_hosts(hosts: &str, default_port: u16) -> Result<Vec<(String, u16)>, ConnectError> {
    hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| {
            let bad = || ConnectError::BadHost(h.to_string());
            match h.rsplit_once(':') {
                Some((name, port)) if !name.contains(':') => {
                    let port = port.parse().map_err(|_| bad())?;
                    if name.is_empty() {
                        return Err(bad());
                    }
                    Ok((name.to_string(), port))
                }
                Some(_) => Err(bad()),
                None => Ok((h.to_string(), default_port)),
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .and_then(|v| {
            if v.is_empty() {
                Err(ConnectError::BadHost(hosts.to_string()))
            } else {
                Ok(v)
            }
        })
}

fn tls_config(cafile: Option<&PathBuf>) -> Result<rustls::ClientConfig, ConnectError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match cafile {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| ConnectError::Tls(format!("{}: {e}", path.display())))?;
            for c in certs {
                let c = c.map_err(|e| ConnectError::Tls(format!("{}: {e}", path.display())))?;
                roots
                    .add(c)
                    .map_err(|e| ConnectError::Tls(format!("{}: {e}", path.display())))?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            for c in native.certs {
                let _ = roots.add(c);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnectError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Connects; returns once the client knows the partition map.
pub async fn connect(o: &ConnectOptions) -> Result<Client, ConnectError> {
    let seeds = parse_hosts(&o.hosts, o.port)?;
    let mut p = ClientPolicy::default();
    if let Some(user) = &o.user {
        p.auth_mode = AuthMode::Internal(user.clone(), o.password.clone().unwrap_or_default());
    }
    p.timeout = o.timeout;
    p.login_timeout = o.timeout;
    p.idle_timeout = 0;
    if o.max_conns_per_node > 0 {
        p.max_conns_per_node = o.max_conns_per_node;
    }
    let hosts: Vec<Host> = if o.tls {
        p.tls_policy = Some(TlsPolicy::new(tls_config(o.tls_cafile.as_ref())?));
        seeds
            .iter()
            .map(|(h, port)| Host::new_tls(h, o.tls_name.as_deref().unwrap_or(h), *port))
            .collect()
    } else {
        seeds.iter().map(|(h, port)| Host::new(h, *port)).collect()
    };
    Client::new(&p, &hosts)
        .await
        .map_err(|e| ConnectError::Connect {
            hosts: o.hosts.clone(),
            message: e.to_string(),
        })
}

/// Whether the cluster takes batch writes: server >= 6.0 and `batch-index-threads` > 0.
pub async fn supports_batch_writes(client: &Client) -> bool {
    let policy = AdminPolicy::default();
    let Ok(info) = client
        .info(&policy, &["build", "get-config:context=service"])
        .await
    else {
        return false;
    };
    let major_ok = info
        .get("build")
        .and_then(|b| b.split('.').next())
        .and_then(|m| m.trim().parse::<u32>().ok())
        .is_some_and(|m| m >= BATCH_WRITE_MIN_MAJOR);
    let threads_ok = info
        .get("get-config:context=service")
        .and_then(|c| {
            c.split(';')
                .find_map(|kv| kv.strip_prefix("batch-index-threads="))
                .and_then(|v| v.trim().parse::<u32>().ok())
        })
        .is_some_and(|t| t > 0);
    major_ok && threads_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_with_and_without_ports() {
        assert_eq!(
            parse_hosts("a, b:3100", 3000).unwrap(),
            [("a".to_string(), 3000), ("b".to_string(), 3100)]
        );
        assert!(parse_hosts("a:x", 3000).is_err());
        assert!(parse_hosts("", 3000).is_err());
        assert!(parse_hosts(":3000", 3000).is_err());
    }

    #[test]
    fn debug_hides_the_password() {
        let o = ConnectOptions {
            password: Some("s3cret".into()),
            ..Default::default()
        };
        assert!(!format!("{o:?}").contains("s3cret"));
    }
}
