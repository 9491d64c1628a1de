//! Sources: read a backup as a stream of byte chunks from a local file, standard input or an
//! object store (`gs://`, `s3://`, `az://`, `file://`), with backpressure.
//!
//! - [`Location`] parses what the user typed; [`Location::with_suffix`] builds `--backup` names.
//! - [`open`] returns an [`Input`]: a bounded stream of chunks. Object-store streams that drop
//!   mid-way resume with a ranged read from the offset reached ([`resume`]).
//! - [`list_backups`] lists `*.asb`, `*.asb.gz` and `*.asb.zst` of a directory or prefix (`-d`).
//! - [`read_small`] reads a small object whole (the backup metadata JSON).
//!
//! Credentials come from each cloud's standard environment ([`credentials`]) and are never
//! shown in messages: [`Location`]'s `Display` drops passwords and query strings.

pub mod credentials;
mod local;
mod location;
mod object;
pub mod read_ahead;
pub mod resume;

use std::fmt;
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::stream::BoxStream;

pub use location::{Location, Scheme};
pub use object::{store_for, streaming_client_options};
pub use resume::ResumePolicy;

/// Size of the chunks read from local files and standard input.
pub const READ_CHUNK: usize = 1 << 20;

/// File names [`list_backups`] picks up.
pub const BACKUP_SUFFIXES: &[&str] = &[".asb", ".asb.gz", ".asb.zst"];

/// How to reach object stores. Everything not set here comes from each cloud's standard
/// environment (`GOOGLE_*`, `AWS_*`, `AZURE_*`).
#[derive(Clone, Default)]
pub struct StorageOptions {
    /// `--storage-endpoint`: base URL of an emulator or an S3-compatible store, e.g.
    /// `http://127.0.0.1:4443` (fake-gcs-server), `http://127.0.0.1:5000` (moto, MinIO) or
    /// `http://127.0.0.1:10000/devstoreaccount1` (Azurite: the path names the account).
    pub endpoint: Option<String>,
    /// GCS key file (service account, or `authorized_user` ADC). `None` means the file named by
    /// `GOOGLE_APPLICATION_CREDENTIALS`, as the operator's Job sets it (`/secret/key.json`).
    pub gcs_credentials_file: Option<PathBuf>,
    /// Extra `object_store` configuration keys, applied after the environment, e.g.
    /// `("aws_access_key_id", "..")`, `("azure_storage_account_key", "..")`. Keys that belong to
    /// another store (`aws_`, `google_`, `azure_` prefixes) are ignored for that store.
    pub config: Vec<(String, String)>,
    /// How often and how patiently a dropped download is resumed.
    pub resume: ResumePolicy,
    /// Retries of one HTTP request inside `object_store` (default 10). `0` leaves every dropped
    /// stream to the resume layer.
    pub request_retries: Option<usize>,
}

impl StorageOptions {
    /// Options with only an endpoint set.
    pub fn with_endpoint(endpoint: impl Into<String>) -> Self {
        StorageOptions {
            endpoint: Some(endpoint.into()),
            ..Default::default()
        }
    }
}

impl fmt::Debug for StorageOptions {
    /// Shows configuration keys but never their values (they may be secrets).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self.config.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("StorageOptions")
            .field("endpoint", &self.endpoint)
            .field("gcs_credentials_file", &self.gcs_credentials_file)
            .field("config_keys", &keys)
            .field("resume", &self.resume)
            .field("request_retries", &self.request_retries)
            .finish()
    }
}

/// An opened backup: its name for messages, its size when known, and its bytes.
pub struct Input {
    /// The location as shown in messages (no credentials).
    pub name: String,
    /// Size in bytes (compressed size for `.gz`), when known; `None` for standard input.
    pub size: Option<u64>,
    /// The bytes, in order. Object-store streams resume internally after a dropped connection;
    /// an `Err` is final and names the location.
    pub stream: BoxStream<'static, Result<Bytes, SourceError>>,
}

impl Input {
    /// An input over any stream of chunks (used by tests and in-memory sources).
    pub fn new(
        name: impl Into<String>,
        size: Option<u64>,
        stream: BoxStream<'static, Result<Bytes, SourceError>>,
    ) -> Self {
        Input {
            name: name.into(),
            size,
            stream,
        }
    }

    /// An input over bytes held in memory.
    pub fn from_bytes(name: impl Into<String>, data: Bytes) -> Self {
        let size = Some(data.len() as u64);
        let stream = futures::stream::iter((!data.is_empty()).then_some(Ok(data))).boxed();
        Input::new(name, size, stream)
    }
}

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Input")
            .field("name", &self.name)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// A source could not be opened, listed or read. Each message names the location.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The text is not a location the restorer can read.
    #[error("invalid location {input:?}: {reason}")]
    InvalidLocation {
        /// What was given (credentials removed).
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// The store client could not be configured (credentials, endpoint, options).
    #[error("{location}: cannot configure the object store: {reason}")]
    Config {
        /// The location.
        location: String,
        /// What is wrong (never contains secrets).
        reason: String,
    },
    /// The file or object does not exist.
    #[error("{location}: not found")]
    NotFound {
        /// The location.
        location: String,
    },
    /// A local I/O operation failed.
    #[error("{location}: cannot {action}: {source}")]
    Io {
        /// The location.
        location: String,
        /// What was being done ("open", "read", "list").
        action: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// An object-store request failed.
    #[error("{location}: cannot {action}: {source}")]
    Store {
        /// The location.
        location: String,
        /// What was being done ("open", "list", ...).
        action: &'static str,
        /// The error.
        source: object_store::Error,
    },
    /// Reading a local file or standard input failed.
    #[error("{location}: read error at byte {offset}: {source}")]
    LocalRead {
        /// The location.
        location: String,
        /// Bytes read before the error.
        offset: u64,
        /// The error.
        source: std::io::Error,
    },
    /// Reading stopped and could not be resumed.
    #[error(
        "{location}: read failed at byte {offset} after {attempts} resume attempt(s): {source}"
    )]
    ReadFailed {
        /// The location.
        location: String,
        /// Bytes delivered before the failure.
        offset: u64,
        /// Resume attempts made since the last progress.
        attempts: u32,
        /// The last error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The object changed while it was read; continuing would mix two versions.
    #[error("{location}: the object changed while it was being read ({detail})")]
    Changed {
        /// The location.
        location: String,
        /// What differs.
        detail: String,
    },
    /// A small object (metadata) is larger than allowed.
    #[error("{location}: larger than the {max} bytes allowed")]
    TooLarge {
        /// The location.
        location: String,
        /// The limit.
        max: usize,
    },
    /// The operation does not apply to this kind of location.
    #[error("{location}: {reason}")]
    Unsupported {
        /// The location.
        location: String,
        /// Why.
        reason: String,
    },
}

/// Opens a backup for streaming.
///
/// Local files and `file://` URLs are read directly in [`READ_CHUNK`] pieces on a reader thread;
/// standard input likewise; object stores through `object_store` with streaming-friendly client
/// options and the [`resume`] layer. Reading ahead is bounded by a small channel.
pub async fn open(loc: &Location, opts: &StorageOptions) -> Result<Input, SourceError> {
    match loc {
        Location::Stdin => Ok(local::open_stdin()),
        _ => match loc.local_path() {
            Some(path) => local::open_file(&path, loc.to_string()).await,
            None => object::open(loc, opts).await,
        },
    }
}

/// Lists the backup files (`*.asb`, `*.asb.gz`, `*.asb.zst`) directly inside a directory or an
/// object prefix (`gs://bucket/dir`), sorted by name.
pub async fn list_backups(
    dir: &Location,
    opts: &StorageOptions,
) -> Result<Vec<Location>, SourceError> {
    let mut found = match dir {
        Location::Stdin => {
            return Err(SourceError::Unsupported {
                location: dir.to_string(),
                reason: "standard input is not a directory".into(),
            });
        }
        _ => match dir.local_path() {
            Some(path) => local::list_dir(dir, &path).await?,
            None => object::list(dir, opts).await?,
        },
    };
    found.sort_by_key(|(name, _)| name.clone());
    Ok(found.into_iter().map(|(_, loc)| loc).collect())
}

/// Whether a file name is one [`list_backups`] picks up.
pub fn is_backup_name(name: &str) -> bool {
    BACKUP_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// Reads a whole small file or object (the backup metadata JSON), refusing more than
/// `max_bytes`.
pub async fn read_small(
    loc: &Location,
    opts: &StorageOptions,
    max_bytes: usize,
) -> Result<Bytes, SourceError> {
    let mut input = open(loc, opts).await?;
    if input.size.is_some_and(|s| s > max_bytes as u64) {
        return Err(SourceError::TooLarge {
            location: input.name,
            max: max_bytes,
        });
    }
    let mut buf = BytesMut::new();
    while let Some(chunk) = input.stream.next().await {
        let chunk = chunk?;
        if buf.len() + chunk.len() > max_bytes {
            return Err(SourceError::TooLarge {
                location: input.name,
                max: max_bytes,
            });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}
