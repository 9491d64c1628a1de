//! Shared test support: emulator endpoints, unique names, uploads, and a TCP proxy that cuts a
//! connection once in the middle of a response.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use futures::StreamExt;
use object_store::{ObjectStoreExt, PutPayload};
use restorer::source::{Location, StorageOptions, store_for};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// `http://127.0.0.1:<port>` of fake-gcs-server.
pub const GCS_ENDPOINT_VAR: &str = "TEST_GCS_ENDPOINT";
/// `http://127.0.0.1:<port>` of moto's S3 server.
pub const S3_ENDPOINT_VAR: &str = "TEST_S3_ENDPOINT";
/// `http://127.0.0.1:<port>/devstoreaccount1` of Azurite.
pub const AZURE_ENDPOINT_VAR: &str = "TEST_AZURE_ENDPOINT";
/// The bucket / container that exists in every emulator.
pub const BUCKET_VAR: &str = "TEST_BUCKET";

/// Azurite's well-known development account key (public, documented by Microsoft).
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Reads a variable that `scripts/test` exports; fails the test (never skips) when missing.
pub fn required_env(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{name} is not set: run the tests with scripts/test, which starts the storage \
             emulators (scripts/test-services start) and exports their endpoints"
        ),
    }
}

/// The emulated clouds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    Gcs,
    S3,
    Azure,
}

impl Cloud {
    pub const ALL: [Cloud; 3] = [Cloud::Gcs, Cloud::S3, Cloud::Azure];

    pub fn scheme(self) -> &'static str {
        match self {
            Cloud::Gcs => "gs",
            Cloud::S3 => "s3",
            Cloud::Azure => "az",
        }
    }

    /// The emulator's endpoint from the environment.
    pub fn endpoint(self) -> String {
        required_env(match self {
            Cloud::Gcs => GCS_ENDPOINT_VAR,
            Cloud::S3 => S3_ENDPOINT_VAR,
            Cloud::Azure => AZURE_ENDPOINT_VAR,
        })
    }

    /// Options reaching the emulator at `endpoint`, with its test credentials.
    pub fn options_for(self, endpoint: &str) -> StorageOptions {
        let mut opts = StorageOptions::with_endpoint(endpoint);
        opts.config = match self {
            Cloud::Gcs => vec![],
            Cloud::S3 => vec![
                ("aws_access_key_id".into(), "testing".into()),
                ("aws_secret_access_key".into(), "testing".into()),
                ("aws_region".into(), "us-east-1".into()),
            ],
            Cloud::Azure => vec![("azure_storage_account_key".into(), AZURITE_KEY.into())],
        };
        opts
    }

    pub fn options(self) -> StorageOptions {
        self.options_for(&self.endpoint())
    }

    /// `<scheme>://<bucket>/<key>`.
    pub fn location(self, key: &str) -> Location {
        format!("{}://{}/{key}", self.scheme(), required_env(BUCKET_VAR))
            .parse()
            .unwrap()
    }
}

/// Writes a GCS service-account key file to `path` that reaches fake-gcs-server at `endpoint`
/// (`gcs_base_url` + `disable_oauth`), as the operator mounts one at `/secret/key.json`.
pub fn write_gcs_key_file(path: &std::path::Path, endpoint: &str) {
    let key = serde_json::json!({
        "type": "service_account",
        "project_id": "test",
        "private_key_id": "test",
        "private_key": "not-used-with-disable-oauth",
        "client_email": "restorer@test.iam.gserviceaccount.com",
        "gcs_base_url": endpoint,
        "disable_oauth": true,
    });
    std::fs::write(path, key.to_string()).unwrap();
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Uploads `data` to `loc`.
pub async fn put(loc: &Location, opts: &StorageOptions, data: Bytes) {
    if let (Location::Url(url), Some(endpoint)) = (loc, &opts.endpoint)
        && url.scheme() == "gs"
    {
        return gcs_upload(endpoint, url, data).await;
    }
    let (store, path) = store_for(loc, opts).unwrap();
    store
        .put(&path, PutPayload::from_bytes(data))
        .await
        .unwrap_or_else(|e| panic!("upload to {loc} failed: {e}"));
}

/// Uploads to fake-gcs-server through the JSON API (it does not take `object_store`'s XML-API
/// PUT), with a minimal HTTP/1.1 request.
async fn gcs_upload(endpoint: &str, url: &url::Url, data: Bytes) {
    let bucket = url.host_str().unwrap();
    let name = url.path().trim_start_matches('/');
    let mut target = url::Url::parse(endpoint).unwrap();
    target.set_path(&format!("/upload/storage/v1/b/{bucket}/o"));
    target
        .query_pairs_mut()
        .append_pair("uploadType", "media")
        .append_pair("name", name);
    let host = format!("{}:{}", target.host_str().unwrap(), target.port().unwrap());
    let mut conn = TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "POST {}?{} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        target.path(),
        target.query().unwrap(),
        data.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(&data).await.unwrap();
    let mut response = Vec::new();
    conn.read_to_end(&mut response).await.unwrap();
    let status = String::from_utf8_lossy(&response[..response.len().min(200)]).into_owned();
    assert!(
        status.starts_with("HTTP/1.1 200"),
        "upload of {url} to fake-gcs-server failed: {status}"
    );
}

/// Deterministic pseudo-random bytes (incompressible enough, reproducible).
pub fn pattern(len: usize, seed: u64) -> Bytes {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

/// Collects an input's stream, panicking on an error.
pub async fn collect(input: restorer::source::Input) -> Vec<u8> {
    let name = input.name.clone();
    let mut out = Vec::new();
    let mut stream = input.stream;
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap_or_else(|e| panic!("{name}: {e}")));
    }
    out
}

/// A loopback TCP proxy to `upstream` that, once, closes a connection after forwarding
/// `cut_after` bytes of the response. Later connections pass through untouched.
pub struct CutProxy {
    pub addr: SocketAddr,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
    /// Response bytes forwarded on the connection that was cut, before the cut.
    pub cut_at: Arc<AtomicU64>,
    cut_done: Arc<AtomicBool>,
    /// Notified when the cut happens.
    pub cut: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl CutProxy {
    pub async fn start(upstream: SocketAddr, cut_after: u64) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let cut_done = Arc::new(AtomicBool::new(false));
        let cut_at = Arc::new(AtomicU64::new(0));
        let cut = Arc::new(Notify::new());
        let task = tokio::spawn({
            let (connections, cut_done, cut_at, cut) = (
                connections.clone(),
                cut_done.clone(),
                cut_at.clone(),
                cut.clone(),
            );
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    connections.fetch_add(1, Ordering::SeqCst);
                    let (cut_done, cut_at, cut) = (cut_done.clone(), cut_at.clone(), cut.clone());
                    tokio::spawn(async move {
                        let Ok(server) = TcpStream::connect(upstream).await else {
                            return;
                        };
                        relay(client, server, cut_after, cut_done, cut_at, cut).await;
                    });
                }
            }
        });
        CutProxy {
            addr,
            connections,
            cut_at,
            cut_done,
            cut,
            task,
        }
    }

    /// Whether the one cut has happened.
    pub fn did_cut(&self) -> bool {
        self.cut_done.load(Ordering::SeqCst)
    }

    /// The endpoint URL through the proxy for an emulator endpoint (same path).
    pub fn endpoint_for(&self, endpoint: &str) -> String {
        let mut url = url::Url::parse(endpoint).unwrap();
        url.set_port(Some(self.addr.port())).unwrap();
        url.to_string().trim_end_matches('/').to_owned()
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Upstream address of an `http://host:port/...` endpoint.
pub fn socket_addr(endpoint: &str) -> SocketAddr {
    let url = url::Url::parse(endpoint).unwrap();
    let host = url.host_str().unwrap();
    let port = url.port().unwrap();
    format!("{host}:{port}").parse().unwrap()
}

async fn relay(
    client: TcpStream,
    server: TcpStream,
    cut_after: u64,
    cut_done: Arc<AtomicBool>,
    cut_at: Arc<AtomicU64>,
    cut: Arc<Notify>,
) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let upload = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut cr, &mut sw).await;
        let _ = sw.shutdown().await;
    });
    let mut sent = 0u64;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match sr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut n = n;
        let mut cutting = false;
        if sent + n as u64 > cut_after
            && cut_done
                .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            n = (cut_after.saturating_sub(sent)) as usize;
            cutting = true;
        }
        if cw.write_all(&buf[..n]).await.is_err() {
            break;
        }
        sent += n as u64;
        if cutting {
            cut_at.store(sent, Ordering::SeqCst);
            cut.notify_one();
            break;
        }
    }
    upload.abort();
    // Dropping both halves closes the connection abruptly.
}
