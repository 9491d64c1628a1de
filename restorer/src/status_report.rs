//! Live progress into the operator's `AerospikeNamespaceRestore` status.
//!
//! Enabled by `RESTORE_STATUS_REPORT=<namespace>/<name>` (the operator sets it in the Job).
//! Every progress tick the restorer sends a JSON merge patch of `status.progress` to the
//! restore's `status` subresource, with the pod's ServiceAccount token (which may patch that one
//! restore's status and nothing else). Under an Indexed Job (`JOB_COMPLETION_INDEX` set) a pod
//! writes only `status.progress.pods.<index>`, so pods never overwrite each other.
//!
//! Reporting is best effort: a failure is logged and never fails or slows the restore (a report
//! still in flight at the next tick makes that tick skip its report).
//!
//! The API server and credentials are the in-cluster ones, each overridable (tests, running
//! outside a pod): `RESTORE_STATUS_API` (base URL, default
//! `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`), `RESTORE_STATUS_TOKEN_FILE`
//! and `RESTORE_STATUS_CA_FILE` (default under `/var/run/secrets/kubernetes.io/serviceaccount/`).

use crate::stats::Snapshot;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

/// The variable naming the restore to report into, as `<namespace>/<name>`.
pub const REPORT_ENV: &str = "RESTORE_STATUS_REPORT";
/// The in-cluster ServiceAccount directory.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The API group and version of the restore resource.
pub const API_PATH: &str = "/apis/aerospike.travelaudience.com/v1alpha2";
/// How long one report may take.
pub const REPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the reporter could not be set up or a report failed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// `RESTORE_STATUS_REPORT` is not `<namespace>/<name>`.
    #[error("{REPORT_ENV} must be <namespace>/<name>, not {0:?}")]
    BadTarget(String),
    /// Neither `RESTORE_STATUS_API` nor `KUBERNETES_SERVICE_HOST` is set.
    #[error("no API server: set KUBERNETES_SERVICE_HOST or RESTORE_STATUS_API")]
    NoServer,
    /// A file (token, CA) could not be read.
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    /// The HTTP client failed (setup, connection, timeout).
    #[error("status report failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The API server refused the patch.
    #[error("status report refused with HTTP {0}: {1}")]
    Refused(u16, String),
}

/// Sends progress patches to one restore's status.
#[derive(Debug, Clone)]
pub struct StatusReporter {
    client: reqwest::Client,
    url: String,
    token_file: PathBuf,
    pod_index: Option<String>,
}

/// The figures of one report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// The counters now.
    pub snapshot: Snapshot,
    /// Records read per second over the last interval.
    pub rate: f64,
    /// Percent of the input read and the time left, when the input size is known.
    pub percent_eta: Option<(f64, Duration)>,
}

impl Progress {
    /// The figures from the counters now and at the previous tick, `interval` apart, `elapsed`
    /// since the start.
    pub fn new(now: &Snapshot, prev: &Snapshot, interval: Duration, elapsed: Duration) -> Self {
        let secs = interval.as_secs_f64().max(1e-3);
        Progress {
            snapshot: *now,
            rate: now.records.saturating_sub(prev.records) as f64 / secs,
            percent_eta: now.percent_eta(elapsed),
        }
    }
}

/// `1h2m3s`, `4m5s`, `6s`.
pub fn format_eta(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The merge patch of one report; `pod_index` puts the figures under `progress.pods.<index>`.
pub fn patch_body(p: &Progress, pod_index: Option<&str>, now: &str) -> Value {
    let s = &p.snapshot;
    let percent = p.percent_eta.map(|(pct, _)| round1(pct));
    match pod_index {
        Some(index) => json!({"status": {"progress": {"pods": {index: {
            "recordsRead": s.records,
            "recordsWritten": s.inserted,
            "percent": percent,
            "rate": round1(p.rate),
            "updatedAt": now,
        }}}}}),
        None => {
            let summary = match percent {
                Some(pct) => format!("{pct:.0}% {} records", s.records),
                None => format!("{} records", s.records),
            };
            json!({"status": {"progress": {
                "recordsRead": s.records,
                "recordsWritten": s.inserted,
                "percent": percent,
                "rate": round1(p.rate),
                "eta": p.percent_eta.map(|(_, eta)| format_eta(eta)),
                "summary": summary,
                "updatedAt": now,
            }}})
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl StatusReporter {
    /// The reporter the environment asks for: `None` without `RESTORE_STATUS_REPORT`.
    pub fn from_env() -> Option<Result<Self, ReportError>> {
        let target = env(REPORT_ENV)?;
        Some(Self::new(
            &target,
            env("RESTORE_STATUS_API"),
            env("RESTORE_STATUS_TOKEN_FILE").map_or_else(
                || PathBuf::from(SERVICE_ACCOUNT_DIR).join("token"),
                PathBuf::from,
            ),
            env("RESTORE_STATUS_CA_FILE").map_or_else(
                || PathBuf::from(SERVICE_ACCOUNT_DIR).join("ca.crt"),
                PathBuf::from,
            ),
            env("JOB_COMPLETION_INDEX"),
        ))
    }

    /// A reporter into `target` (`<namespace>/<name>`) at `api` (else the in-cluster address),
    /// trusting `ca_file` when it exists.
    pub fn new(
        target: &str,
        api: Option<String>,
        token_file: PathBuf,
        ca_file: PathBuf,
        pod_index: Option<String>,
    ) -> Result<Self, ReportError> {
        let (ns, name) = target
            .split_once('/')
            .filter(|(ns, name)| !ns.is_empty() && !name.is_empty() && !name.contains('/'))
            .ok_or_else(|| ReportError::BadTarget(target.to_owned()))?;
        let base = match api {
            Some(a) => a.trim_end_matches('/').to_owned(),
            None => {
                let host = env("KUBERNETES_SERVICE_HOST").ok_or(ReportError::NoServer)?;
                let port = env("KUBERNETES_SERVICE_PORT").unwrap_or_else(|| "443".to_owned());
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host
                };
                format!("https://{host}:{port}")
            }
        };
        let mut builder = reqwest::Client::builder().timeout(REPORT_TIMEOUT);
        if ca_file.is_file() {
            let pem = std::fs::read(&ca_file).map_err(|e| ReportError::Read(ca_file.clone(), e))?;
            builder = builder.tls_certs_only(reqwest::Certificate::from_pem_bundle(&pem)?);
        }
        Ok(StatusReporter {
            client: builder.build()?,
            url: format!(
                "{base}{API_PATH}/namespaces/{ns}/aerospikenamespacerestores/{name}/status"
            ),
            token_file,
            pod_index,
        })
    }

    /// The URL patched.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends one report.
    pub async fn report(&self, p: &Progress) -> Result<(), ReportError> {
        // The projected token is rotated: read it at each report.
        let token = std::fs::read_to_string(&self.token_file)
            .map_err(|e| ReportError::Read(self.token_file.clone(), e))?;
        let now = jiff::Timestamp::now();
        let now = now.round(jiff::Unit::Second).unwrap_or(now);
        let body = patch_body(p, self.pod_index.as_deref(), &now.to_string());
        let resp = self
            .client
            .patch(&self.url)
            .bearer_auth(token.trim())
            .header("content-type", "application/merge-patch+json")
            .header("accept", "application/json")
            .body(body.to_string())
            .send()
            .await?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let text = resp.text().await.unwrap_or_default();
        let text: String = text.trim().chars().take(300).collect();
        Err(ReportError::Refused(status.as_u16(), text))
    }
}

/// Sends reports one at a time in the background: a tick whose previous report is still in
/// flight is skipped; failures are logged (the first as a warning, later ones at debug).
#[derive(Debug)]
pub struct Background {
    reporter: StatusReporter,
    in_flight: Option<tokio::task::JoinHandle<()>>,
    failed_before: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Background {
    /// Reports through `reporter`.
    pub fn new(reporter: StatusReporter) -> Self {
        Background {
            reporter,
            in_flight: None,
            failed_before: Default::default(),
        }
    }

    /// The reporter from the environment, if it asks for one; a bad setup is logged.
    pub fn from_env() -> Option<Self> {
        match StatusReporter::from_env()? {
            Ok(r) => {
                tracing::info!(url = %r.url(), "reporting progress into the restore's status");
                Some(Background::new(r))
            }
            Err(e) => {
                tracing::warn!(error = %e, "progress is not reported into the restore's status");
                None
            }
        }
    }

    /// Starts a report of `p` unless one is still in flight.
    pub fn tick(&mut self, p: Progress) {
        if self.in_flight.as_ref().is_some_and(|h| !h.is_finished()) {
            tracing::debug!("previous status report still in flight; skipping this one");
            return;
        }
        let reporter = self.reporter.clone();
        let failed_before = self.failed_before.clone();
        self.in_flight = Some(tokio::spawn(async move {
            use std::sync::atomic::Ordering::Relaxed;
            match reporter.report(&p).await {
                Ok(()) => {}
                Err(e) if failed_before.swap(true, Relaxed) => {
                    tracing::debug!(error = %e, "status report failed");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "status report failed (the restore goes on)");
                }
            }
        }));
    }

    /// Whether a report has failed.
    pub fn has_failed(&self) -> bool {
        self.failed_before
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits for the report in flight, if any.
    pub async fn flush(&mut self) {
        if let Some(h) = self.in_flight.take() {
            let _ = h.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn progress() -> Progress {
        let prev = Snapshot {
            records: 100,
            ..Snapshot::default()
        };
        let now = Snapshot {
            records: 600,
            inserted: 590,
            source_bytes: 250,
            source_total: 1000,
            ..Snapshot::default()
        };
        Progress::new(
            &now,
            &prev,
            Duration::from_secs(10),
            Duration::from_secs(30),
        )
    }

    #[test]
    fn patch_has_the_progress_figures() {
        let body = patch_body(&progress(), None, "2026-12-02T21:00:00Z");
        assert_eq!(
            body,
            json!({"status": {"progress": {"recordsRead": 600, "recordsWritten": 590,
                "percent": 25.0, "rate": 50.0, "eta": "1m30s", "summary": "25% 600 records",
                "updatedAt": "2026-12-02T21:00:00Z"}}})
        );
        let unknown = Progress {
            percent_eta: None,
            ..progress()
        };
        let body = patch_body(&unknown, None, "t");
        assert_eq!(body["status"]["progress"]["percent"], Value::Null);
        assert_eq!(body["status"]["progress"]["summary"], "600 records");
    }

    #[test]
    fn a_pod_of_an_indexed_job_writes_only_its_own_entry() {
        let body = patch_body(&progress(), Some("3"), "t");
        let progress = body["status"]["progress"].as_object().unwrap();
        assert_eq!(progress.keys().collect::<Vec<_>>(), ["pods"]);
        assert_eq!(
            progress["pods"],
            json!({"3": {"recordsRead": 600, "recordsWritten": 590, "percent": 25.0,
                "rate": 50.0, "updatedAt": "t"}})
        );
    }

    #[test]
    fn eta_is_short() {
        assert_eq!(format_eta(Duration::from_secs(6)), "6s");
        assert_eq!(format_eta(Duration::from_secs(245)), "4m5s");
        assert_eq!(format_eta(Duration::from_secs(3723)), "1h2m3s");
    }

    #[test]
    fn the_target_must_be_namespace_slash_name() {
        for bad in ["x", "/x", "x/", "a/b/c"] {
            let r = StatusReporter::new(
                bad,
                Some("http://127.0.0.1:1".into()),
                "t".into(),
                "/nonexistent".into(),
                None,
            );
            assert!(matches!(r, Err(ReportError::BadTarget(_))), "{bad}: {r:?}");
        }
        let r = StatusReporter::new(
            "ns-1/r-1",
            Some("http://127.0.0.1:1/".into()),
            "t".into(),
            "/nonexistent".into(),
            None,
        )
        .unwrap();
        assert_eq!(
            r.url(),
            "http://127.0.0.1:1/apis/aerospike.travelaudience.com/v1alpha2/namespaces/ns-1/aerospikenamespacerestores/r-1/status"
        );
    }

    /// A one-request HTTP server answering `status`; returns the request it read.
    async fn one_request(status: u16) -> (String, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = s.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            let reply = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
            );
            s.write_all(reply.as_bytes()).await.unwrap();
            String::from_utf8_lossy(&buf).to_string()
        });
        (format!("http://{addr}"), server)
    }

    #[tokio::test]
    async fn a_report_is_a_merge_patch_with_the_token() {
        let dir = std::env::temp_dir().join(format!("status-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let token = dir.join("token");
        std::fs::write(&token, "secret-token\n").unwrap();
        let (url, server) = one_request(200).await;
        let r = StatusReporter::new("ns-1/r-1", Some(url), token.clone(), dir.join("none"), None)
            .unwrap();
        r.report(&progress()).await.unwrap();
        let req = server.await.unwrap();
        let (head, body) = req.split_once("\r\n\r\n").unwrap();
        let head = head.to_ascii_lowercase();
        assert!(
            head.starts_with(
                "patch /apis/aerospike.travelaudience.com/v1alpha2/namespaces/ns-1/aerospikenamespacerestores/r-1/status http/1.1"
            ),
            "{head}"
        );
        assert!(
            head.contains("authorization: bearer secret-token\r\n"),
            "{head}"
        );
        assert!(
            head.contains("content-type: application/merge-patch+json"),
            "{head}"
        );
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["status"]["progress"]["recordsRead"], 600);

        let (url, server) = one_request(403).await;
        let r = StatusReporter::new("ns-1/r-1", Some(url), token, dir.join("none"), None).unwrap();
        let e = r.report(&progress()).await.unwrap_err();
        assert!(matches!(e, ReportError::Refused(403, _)), "{e}");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_missing_token_or_server_is_an_error_not_a_panic() {
        let r = StatusReporter::new(
            "ns/r",
            Some("http://127.0.0.1:9".into()),
            "/nonexistent/token".into(),
            "/nonexistent/ca".into(),
            None,
        )
        .unwrap();
        assert!(matches!(
            r.report(&progress()).await,
            Err(ReportError::Read(..))
        ));
        let mut bg = Background::new(r);
        bg.tick(progress());
        bg.flush().await;
        assert!(bg.has_failed(), "logged, not raised");
        bg.tick(progress());
        bg.flush().await;
    }
}
