//! Connecting to the cluster (seeds, auth, TLS) and asking what it supports.

use std::path::PathBuf;
use std::sync::Arc;

use aerospike::policy::AdminPolicy;
use aerospike::{AuthMode, Client, ClientPolicy, Host, TlsPolicy};

/// Lowest server version with batch writes (format §4.4).
const BATCH_WRITE_MIN_MAJOR: u32 = 6;

/// `-A/--auth`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Auth {
    /// Hashed password checked by the server.
    #[default]
    Internal,
    /// External (LDAP): the clear password is sent over TLS.
    External,
    /// External without TLS (clear password on a plain connection).
    ExternalInsecure,
    /// The TLS client certificate authenticates.
    Pki,
}

/// TLS settings beyond `--tls-enable` / `--tls-name` / `--tls-cafile`.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// `--tls-capath`: every PEM certificate (and CRL) in this directory.
    pub capath: Option<PathBuf>,
    /// `--tls-protocols` (Apache SSLProtocol syntax).
    pub protocols: Option<String>,
    /// `--tls-cipher-suite` (OpenSSL list syntax).
    pub cipher_suites: Option<String>,
    /// `--tls-certfile` and `--tls-keyfile`.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// `--tls-keyfile-password`, resolved.
    pub key_password: Option<String>,
    /// `--tls-crl-check`: leaf only; `--tls-crl-checkall`: the whole chain.
    pub crl: Option<CrlCheck>,
}

/// How far CRLs are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrlCheck {
    /// The server's own certificate.
    Leaf,
    /// Every certificate of the chain.
    Chain,
}

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
    /// `-A/--auth`.
    pub auth: Auth,
    /// `-S/--services-alternate`.
    pub services_alternate: bool,
    /// The other `--tls-*` options.
    pub tls_more: TlsOptions,
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
    /// Options that do not go together.
    #[error("{0}")]
    Options(String),
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

/// Seeds as asrestore writes them: `HOST[:TLSNAME][:PORT],...`. A second part that is not a
/// number is a TLS name.
pub fn parse_seeds(
    hosts: &str,
    default_port: u16,
) -> Result<Vec<(String, Option<String>, u16)>, ConnectError> {
    let v = hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| {
            let bad = || ConnectError::BadHost(h.to_string());
            let parts: Vec<&str> = h.split(':').collect();
            let (name, tls, port) = match parts.as_slice() {
                [n] => (*n, None, default_port),
                [n, p] if p.parse::<u16>().is_ok() => (*n, None, p.parse().map_err(|_| bad())?),
                [n, t] => (*n, Some(*t), default_port),
                [n, t, p] => (*n, Some(*t), p.parse().map_err(|_| bad())?),
                _ => return Err(bad()),
            };
            if name.is_empty() || tls.is_some_and(str::is_empty) {
                return Err(bad());
            }
            Ok((name.to_string(), tls.map(str::to_string), port))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if v.is_empty() {
        return Err(ConnectError::BadHost(hosts.to_string()));
    }
    Ok(v)
}

fn tls_err(path: &std::path::Path, e: impl std::fmt::Display) -> ConnectError {
    ConnectError::Tls(format!("{}: {e}", path.display()))
}

/// `--tls-protocols` in Apache SSLProtocol syntax: `TLSv1.2`, `+TLSv1.3 -TLSv1.2`, `all`,
/// `-all +TLSv1.3`. Only TLS 1.2 and 1.3 exist here; naming an older version is an error.
pub fn parse_protocols(
    spec: &str,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, ConnectError> {
    let mut v12 = false;
    let mut v13 = false;
    let mut first = true;
    for tok in spec.split([' ', ',', ':']).filter(|t| !t.is_empty()) {
        let (sign, name) = match tok.as_bytes()[0] {
            b'+' => (Some(true), &tok[1..]),
            b'-' => (Some(false), &tok[1..]),
            _ => (None, tok),
        };
        // A bare name first replaces the default set; later bare names add to it.
        if sign.is_none() && first {
            (v12, v13) = (false, false);
        }
        first = false;
        let on = sign.unwrap_or(true);
        match name.to_ascii_lowercase().as_str() {
            "all" => (v12, v13) = (on, on),
            "tlsv1.2" => v12 = on,
            "tlsv1.3" => v13 = on,
            "sslv3" | "tlsv1" | "tlsv1.1" if !on => {}
            "sslv3" | "tlsv1" | "tlsv1.1" => {
                return Err(ConnectError::Tls(format!(
                    "--tls-protocols {spec:?}: {name} is not supported (TLS 1.2 and 1.3 only)"
                )));
            }
            _ => {
                return Err(ConnectError::Tls(format!(
                    "--tls-protocols {spec:?}: unknown protocol {name:?} \
                     (expected all, TLSv1.2, TLSv1.3 with optional +/-)"
                )));
            }
        }
    }
    let mut out = Vec::new();
    if v13 {
        out.push(&rustls::version::TLS13);
    }
    if v12 {
        out.push(&rustls::version::TLS12);
    }
    if out.is_empty() {
        return Err(ConnectError::Tls(format!(
            "--tls-protocols {spec:?} leaves no protocol enabled"
        )));
    }
    Ok(out)
}

/// OpenSSL names of the suites this TLS library implements, with their IANA names.
const OPENSSL_SUITE_NAMES: &[(&str, &str)] = &[
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
];

/// The IANA name of a suite (rustls spells the TLS 1.3 ones `TLS13_...`).
fn iana_name(s: &rustls::SupportedCipherSuite) -> String {
    let n = format!("{:?}", s.suite());
    match n.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => n,
    }
}

/// `--tls-cipher-suite`: names separated by `:`, `,` or spaces, IANA (`TLS_AES_128_GCM_SHA256`)
/// or OpenSSL (`ECDHE-RSA-AES128-GCM-SHA256`) spelling. Every name must be a suite this TLS
/// library implements.
pub fn parse_cipher_suites(spec: &str) -> Result<Vec<rustls::SupportedCipherSuite>, ConnectError> {
    let all = rustls::crypto::ring::ALL_CIPHER_SUITES;
    let mut out = Vec::new();
    for name in spec.split([':', ',', ' ']).filter(|t| !t.is_empty()) {
        let iana = OPENSSL_SUITE_NAMES
            .iter()
            .find(|(o, _)| o.eq_ignore_ascii_case(name))
            .map_or(name, |(_, i)| i);
        let found = all.iter().find(|s| iana_name(s).eq_ignore_ascii_case(iana));
        match found {
            Some(s) => out.push(*s),
            None => {
                let known: Vec<String> = all.iter().map(iana_name).collect();
                return Err(ConnectError::Tls(format!(
                    "--tls-cipher-suite: {name:?} is not supported; supported: {}",
                    known.join(":")
                )));
            }
        }
    }
    if out.is_empty() {
        return Err(ConnectError::Tls(format!(
            "--tls-cipher-suite {spec:?} names no suite"
        )));
    }
    Ok(out)
}

/// CA certificates and CRLs from `--tls-cafile` and `--tls-capath`.
fn trust(
    cafile: Option<&PathBuf>,
    capath: Option<&PathBuf>,
) -> Result<
    (
        rustls::RootCertStore,
        Vec<rustls::pki_types::CertificateRevocationListDer<'static>>,
    ),
    ConnectError,
> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, CertificateRevocationListDer};
    let mut roots = rustls::RootCertStore::empty();
    let mut crls = Vec::new();
    let mut files: Vec<PathBuf> = cafile.into_iter().cloned().collect();
    if let Some(dir) = capath {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| tls_err(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        entries.sort();
        files.extend(entries);
    }
    for path in &files {
        let data = std::fs::read(path).map_err(|e| tls_err(path, e))?;
        for c in CertificateDer::pem_slice_iter(&data) {
            let c = c.map_err(|e| tls_err(path, e))?;
            roots.add(c).map_err(|e| tls_err(path, e))?;
        }
        for c in CertificateRevocationListDer::pem_slice_iter(&data) {
            crls.push(c.map_err(|e| tls_err(path, e))?);
        }
    }
    if cafile.is_none() && capath.is_none() {
        let native = rustls_native_certs::load_native_certs();
        for c in native.certs {
            let _ = roots.add(c);
        }
    }
    if roots.is_empty() {
        return Err(ConnectError::Tls(
            "no CA certificate found in --tls-cafile / --tls-capath".into(),
        ));
    }
    Ok((roots, crls))
}

/// The client certificate chain and key (`--tls-certfile`, `--tls-keyfile`).
fn client_identity(
    cert: &std::path::Path,
    key: &std::path::Path,
    password: Option<&str>,
) -> Result<
    (
        Vec<rustls::pki_types::CertificateDer<'static>>,
        rustls::pki_types::PrivateKeyDer<'static>,
    ),
    ConnectError,
> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| tls_err(cert, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_err(cert, e))?;
    if certs.is_empty() {
        return Err(tls_err(cert, "no certificate in the file"));
    }
    let text = std::fs::read_to_string(key).map_err(|e| tls_err(key, e))?;
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || text.contains("Proc-Type: 4,ENCRYPTED")
    {
        return Err(tls_err(
            key,
            match password {
                Some(_) => {
                    "encrypted private keys cannot be decrypted here; decrypt it \
                            first (openssl pkey -in KEY -out PLAIN) and omit \
                            --tls-keyfile-password"
                }
                None => {
                    "the key is encrypted: it needs --tls-keyfile-password (and \
                         encrypted keys are not supported: decrypt it first)"
                }
            },
        ));
    }
    let key_der = PrivateKeyDer::from_pem_slice(text.as_bytes()).map_err(|e| tls_err(key, e))?;
    Ok((certs, key_der))
}

fn tls_config(
    cafile: Option<&PathBuf>,
    more: &TlsOptions,
) -> Result<rustls::ClientConfig, ConnectError> {
    let (roots, crls) = trust(cafile, more.capath.as_ref())?;
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(spec) = &more.cipher_suites {
        provider.cipher_suites = parse_cipher_suites(spec)?;
    }
    let provider = Arc::new(provider);
    let versions = match &more.protocols {
        Some(spec) => parse_protocols(spec)?,
        None => rustls::DEFAULT_VERSIONS.to_vec(),
    };
    let mut verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    );
    if let Some(depth) = more.crl {
        if crls.is_empty() {
            return Err(ConnectError::Tls(
                "--tls-crl-check(all): no CRL (-----BEGIN X509 CRL-----) found in --tls-capath"
                    .into(),
            ));
        }
        verifier = verifier.with_crls(crls);
        if depth == CrlCheck::Leaf {
            verifier = verifier.only_check_end_entity_revocation();
        }
    }
    let verifier = verifier
        .build()
        .map_err(|e| ConnectError::Tls(e.to_string()))?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| ConnectError::Tls(e.to_string()))?
        .with_webpki_verifier(verifier);
    match &more.client_cert {
        Some((cert, key)) => {
            let (chain, key) = client_identity(cert, key, more.key_password.as_deref())?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| ConnectError::Tls(e.to_string()))
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

/// The client's authentication mode for the options, or why they do not go together.
fn auth_mode(o: &ConnectOptions) -> Result<AuthMode, ConnectError> {
    let pass = || o.password.clone().unwrap_or_default();
    match (o.auth, &o.user) {
        (Auth::Pki, _) => {
            if !o.tls || o.tls_more.client_cert.is_none() {
                return Err(ConnectError::Options(
                    "-A PKI needs --tls-enable, --tls-certfile and --tls-keyfile".into(),
                ));
            }
            Ok(AuthMode::Pki)
        }
        (_, None) => Ok(AuthMode::None),
        (Auth::Internal, Some(u)) => Ok(AuthMode::Internal(u.clone(), pass())),
        (Auth::External, Some(u)) => {
            if !o.tls {
                return Err(ConnectError::Options(
                    "-A EXTERNAL sends the password in clear: it needs --tls-enable \
                     (or -A EXTERNAL_INSECURE)"
                        .into(),
                ));
            }
            Ok(AuthMode::External(u.clone(), pass()))
        }
        (Auth::ExternalInsecure, Some(u)) => Ok(AuthMode::ExternalInsecure(u.clone(), pass())),
    }
}

/// Connects; returns once the client knows the partition map.
pub async fn connect(o: &ConnectOptions) -> Result<Client, ConnectError> {
    let seeds = parse_seeds(&o.hosts, o.port)?;
    let mut p = ClientPolicy {
        auth_mode: auth_mode(o)?,
        use_services_alternate: o.services_alternate,
        timeout: o.timeout,
        login_timeout: o.timeout,
        idle_timeout: 0,
        ..Default::default()
    };
    if o.max_conns_per_node > 0 {
        p.max_conns_per_node = o.max_conns_per_node;
    }
    let hosts: Vec<Host> = if o.tls {
        p.tls_policy = Some(TlsPolicy::new(tls_config(
            o.tls_cafile.as_ref(),
            &o.tls_more,
        )?));
        seeds
            .iter()
            .map(|(h, tls, port)| {
                let name = tls.as_deref().or(o.tls_name.as_deref()).unwrap_or(h);
                Host::new_tls(h, name, *port)
            })
            .collect()
    } else {
        seeds
            .iter()
            .map(|(h, _, port)| Host::new(h, *port))
            .collect()
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
    fn seeds_with_tls_names() {
        let s = parse_seeds("a, b:3100, c:cert1:4333, d:cert2", 3000).unwrap();
        assert_eq!(s[0], ("a".into(), None, 3000));
        assert_eq!(s[1], ("b".into(), None, 3100));
        assert_eq!(s[2], ("c".into(), Some("cert1".into()), 4333));
        assert_eq!(s[3], ("d".into(), Some("cert2".into()), 3000));
        assert!(parse_seeds("a:b:c", 3000).is_err());
        assert!(parse_seeds("a::3000", 3000).is_err());
        assert!(parse_seeds("a:b:c:d", 3000).is_err());
    }

    #[test]
    fn protocols_in_apache_syntax() {
        let names = |s: &str| -> Vec<String> {
            parse_protocols(s)
                .unwrap()
                .iter()
                .map(|v| format!("{:?}", v.version))
                .collect()
        };
        assert_eq!(names("TLSv1.2"), ["TLSv1_2"]);
        assert_eq!(names("all"), ["TLSv1_3", "TLSv1_2"]);
        assert_eq!(names("-all +TLSv1.3"), ["TLSv1_3"]);
        assert_eq!(names("all -TLSv1 -TLSv1.1"), ["TLSv1_3", "TLSv1_2"]);
        assert!(parse_protocols("TLSv1.1").is_err());
        assert!(parse_protocols("-all").is_err());
        assert!(parse_protocols("TLSv9").is_err());
    }

    #[test]
    fn cipher_suites_by_either_name() {
        let s = parse_cipher_suites("TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES256-GCM-SHA384").unwrap();
        assert_eq!(s.len(), 2);
        let e = parse_cipher_suites("RC4-MD5").unwrap_err().to_string();
        assert!(e.contains("\"RC4-MD5\" is not supported"), "{e}");
    }

    #[test]
    fn auth_modes_need_their_settings() {
        let base = ConnectOptions {
            user: Some("u".into()),
            password: Some("p".into()),
            ..Default::default()
        };
        assert!(matches!(auth_mode(&base), Ok(AuthMode::Internal(..))));
        let ext = ConnectOptions {
            auth: Auth::External,
            ..base.clone()
        };
        assert!(
            auth_mode(&ext)
                .unwrap_err()
                .to_string()
                .contains("--tls-enable")
        );
        let ext = ConnectOptions { tls: true, ..ext };
        assert!(matches!(auth_mode(&ext), Ok(AuthMode::External(..))));
        let insecure = ConnectOptions {
            auth: Auth::ExternalInsecure,
            ..base.clone()
        };
        assert!(matches!(
            auth_mode(&insecure),
            Ok(AuthMode::ExternalInsecure(..))
        ));
        let pki = ConnectOptions {
            auth: Auth::Pki,
            tls: true,
            ..base.clone()
        };
        assert!(
            auth_mode(&pki)
                .unwrap_err()
                .to_string()
                .contains("--tls-certfile")
        );
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
