//! Writes records to Aerospike with asrestore's write policy (format §4.3), batch or single
//! puts (format §4.4), result-code accounting and retries (format §4.5).
//!
//! Batch writes go through the restorer's own encoder ([`wire`]) unless the cluster is reached
//! with TLS or authentication, or `--write-path client` asks for the `aerospike` client's batch
//! API; single puts always use the client.

pub mod client;
pub mod globals;
pub mod outcome;
pub mod wire;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use aerospike::policy::{BatchPolicy, GenerationPolicy, RecordExistsAction, WritePolicy};
use aerospike::{AuthMode, BatchOperation, BatchWritePolicy, Client, Error, operations};

use crate::stats::{Counters, inc};
use crate::transform::{ClientRecord, WriteRecord};
use outcome::{CallOutcome, RecordOutcome, backoff, classify_call_error, classify_record};
use wire::encode::RowPolicy;
use wire::{Wire, WireOptions};

/// Idle connections the wire path keeps per node (it opens one per batch in flight).
const WIRE_MAX_IDLE_PER_NODE: usize = 256;

/// Write settings from the command line.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// `--unique`: create only.
    pub unique: bool,
    /// `--replace`: replace whole records.
    pub replace: bool,
    /// `--no-generation`: no generation condition.
    pub no_generation: bool,
    /// `--ignore-record-error`.
    pub ignore_record_error: bool,
    /// `--socket-timeout` in ms.
    pub socket_timeout: u32,
    /// `--total-timeout` in ms (already defaulted to `--timeout`).
    pub total_timeout: u32,
    /// `--max-retries`.
    pub max_retries: u32,
    /// `--retry-scale-factor`.
    pub retry_scale: Duration,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            unique: false,
            replace: false,
            no_generation: false,
            ignore_record_error: false,
            socket_timeout: 10_000,
            total_timeout: 10_000,
            max_retries: 5,
            retry_scale: Duration::from_millis(150),
        }
    }
}

/// A write failure that stops the restore.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    /// A record failed with a record-specific error and `--ignore-record-error` was not given.
    #[error(
        "record at line {line} failed with error code {code} ({message}); \
         use --ignore-record-error to skip such records"
    )]
    RecordError {
        /// Line of the record.
        line: u64,
        /// Result code.
        code: u8,
        /// Name of the code.
        message: String,
    },
    /// The server rejected a record or a whole call with a permanent error.
    #[error("error while storing the record at line {line} - code {code}: {message}")]
    Fatal {
        /// Line of the (first) record concerned.
        line: u64,
        /// Result code (negative: client-side).
        code: i32,
        /// What the client said.
        message: String,
    },
    /// The record cannot be expressed in the client's types.
    #[error("record at line {line} cannot be written: {message}")]
    Invalid {
        /// Line of the record.
        line: u64,
        /// Why.
        message: String,
    },
    /// A transient failure persisted through every retry.
    #[error("max retries ({retries}) exceeded writing the records from line {line}: {message}")]
    MaxRetries {
        /// Line of the first record still failing.
        line: u64,
        /// Retries made.
        retries: u32,
        /// The last failure.
        message: String,
    },
}

/// How records are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One batch-write call per batch.
    Batch,
    /// Concurrent single puts.
    Single,
}

/// Which implementation sends batch writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum WritePath {
    /// The restorer's own batch encoder over plain TCP, unless TLS or authentication is on.
    #[default]
    Auto,
    /// Always the `aerospike` client's batch API.
    Client,
}

/// The record writer shared by every file.
#[derive(Clone)]
pub struct Writer {
    client: Client,
    mode: Mode,
    opts: Arc<WriteOptions>,
    counters: Arc<Counters>,
    /// The own batch-write path, when in use.
    wire: Option<Arc<Wire>>,
    row_policy: RowPolicy,
}

/// Whether the client reaches the cluster without TLS and without authentication, which the
/// wire path does not speak.
fn plain_connections(client: &Client) -> bool {
    client.nodes().first().is_some_and(|n| {
        let p = n.client_policy();
        p.tls_policy.is_none() && matches!(p.auth_mode, AuthMode::None)
    })
}

/// The shorter non-zero of two timeouts in ms (0 = none).
fn effective_timeout(socket: u32, total: u32) -> u32 {
    match (socket, total) {
        (0, t) | (t, 0) => t,
        (s, t) => s.min(t),
    }
}

fn ctr(counters: &Counters, o: RecordOutcome) -> Option<&AtomicU64> {
    match o {
        RecordOutcome::Inserted => Some(&counters.inserted),
        RecordOutcome::Fresher => Some(&counters.fresher),
        RecordOutcome::Existed => Some(&counters.existed),
        RecordOutcome::Ignored => Some(&counters.ignored),
        RecordOutcome::Retry | RecordOutcome::Fatal => None,
    }
}

impl Writer {
    /// A writer over a connected client. Batch writes take the wire path when the cluster is
    /// reached without TLS and authentication (see [`Writer::with_write_path`]).
    pub fn new(client: Client, mode: Mode, opts: WriteOptions, counters: Arc<Counters>) -> Self {
        let row_policy = RowPolicy::new(opts.unique, opts.replace, opts.no_generation);
        let timeout = effective_timeout(opts.socket_timeout, opts.total_timeout);
        let wire = (mode == Mode::Batch && plain_connections(&client)).then(|| {
            Arc::new(Wire::new(
                client.clone(),
                WireOptions {
                    timeout: (timeout > 0).then(|| Duration::from_millis(u64::from(timeout))),
                    server_timeout_ms: timeout,
                    allow_inline: true,
                    max_idle_per_node: WIRE_MAX_IDLE_PER_NODE,
                },
            ))
        });
        Writer {
            client,
            mode,
            opts: Arc::new(opts),
            counters,
            wire,
            row_policy,
        }
    }

    /// Chooses the batch-write implementation (`--write-path`).
    pub fn with_write_path(mut self, path: WritePath) -> Self {
        if path == WritePath::Client {
            self.wire = None;
        }
        self
    }

    /// Whether batch writes take the wire path.
    pub fn uses_wire_path(&self) -> bool {
        self.wire.is_some()
    }

    /// The client (for indexes and UDFs).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The same writer counting into `counters` (a batch's own outcomes, for checkpoints).
    pub fn with_counters(&self, counters: Arc<Counters>) -> Writer {
        Writer {
            counters,
            ..self.clone()
        }
    }

    /// The counters this writer updates.
    pub fn counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }

    /// The mode in use.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    fn exists_action(&self) -> RecordExistsAction {
        if self.opts.unique {
            RecordExistsAction::CreateOnly
        } else if self.opts.replace {
            RecordExistsAction::Replace
        } else {
            RecordExistsAction::Update
        }
    }

    fn generation_policy(&self) -> GenerationPolicy {
        if self.opts.no_generation {
            GenerationPolicy::None
        } else {
            GenerationPolicy::ExpectGenGreater
        }
    }

    fn generation(&self, r: &ClientRecord) -> u32 {
        if self.opts.no_generation {
            0
        } else {
            u32::from(r.generation)
        }
    }

    /// The single-put policy for a record.
    pub fn write_policy(&self, r: &ClientRecord) -> WritePolicy {
        let mut p = WritePolicy {
            record_exists_action: self.exists_action(),
            generation_policy: self.generation_policy(),
            generation: self.generation(r),
            expiration: r.expiration,
            send_key: r.send_key,
            ..WritePolicy::default()
        };
        p.base_policy.socket_timeout = self.opts.socket_timeout;
        p.base_policy.total_timeout = self.opts.total_timeout;
        p.base_policy.max_retries = 0;
        p
    }

    /// The batch-row policy for a record.
    pub fn batch_write_policy(&self, r: &ClientRecord) -> BatchWritePolicy {
        BatchWritePolicy {
            record_exists_action: self.exists_action(),
            generation_policy: self.generation_policy(),
            generation: self.generation(r),
            expiration: r.expiration,
            send_key: r.send_key,
            ..BatchWritePolicy::default()
        }
    }

    fn batch_policy(&self) -> BatchPolicy {
        let mut p = BatchPolicy::write_default();
        p.base_policy.socket_timeout = self.opts.socket_timeout;
        p.base_policy.total_timeout = self.opts.total_timeout;
        p.base_policy.max_retries = 0;
        p.respond_all_keys = true;
        p
    }

    /// Writes records, counting each answer; returns once every record is accounted for, or
    /// the first error that stops the restore.
    ///
    /// `records` is only read: the caller drops it where its buffers were allocated.
    pub async fn write(&self, records: &[WriteRecord]) -> Result<(), WriteError> {
        if let (Mode::Batch, Some(wire)) = (self.mode, &self.wire) {
            return self.write_wire(wire, records).await;
        }
        let records = records
            .iter()
            .map(|r| {
                let line = r.line;
                r.to_client().map_err(|e| WriteError::Invalid {
                    line,
                    message: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        match self.mode {
            Mode::Batch => self.write_batch(records).await,
            Mode::Single => {
                let futs = records.into_iter().map(|r| self.write_single(r));
                let results = futures::future::join_all(futs).await;
                results.into_iter().collect()
            }
        }
    }

    /// Writes a batch through the wire path: one request per master node, then the rows
    /// that need it again (transient codes, unanswered rows) with backoff.
    async fn write_wire(&self, wire: &Wire, records: &[WriteRecord]) -> Result<(), WriteError> {
        let mut pending: Vec<u32> = (0..records.len() as u32).collect();
        let mut codes: Vec<Option<u8>> = Vec::with_capacity(pending.len());
        let mut retry: Vec<u32> = Vec::new();
        let mut attempt = 0u32;
        while !pending.is_empty() {
            codes.clear();
            codes.resize(pending.len(), None);
            let failure = wire
                .write(records, &pending, &self.row_policy, &mut codes)
                .await
                .map_err(|e| WriteError::Invalid {
                    line: records[pending[0] as usize].line,
                    message: e.to_string(),
                })?;
            let mut first_err = None;
            let mut last_msg = failure.as_ref().map(|f| f.message.clone());
            let in_doubt = failure.as_ref().is_some_and(|f| f.in_doubt);
            retry.clear();
            for (&r, &code) in pending.iter().zip(&codes) {
                let line = records[r as usize].line;
                let Some(code) = code else {
                    if in_doubt {
                        inc(&self.counters.errors_in_doubt);
                    }
                    retry.push(r);
                    continue;
                };
                match classify_record(code) {
                    RecordOutcome::Retry => {
                        last_msg = Some(format!(
                            "record result code {code} ({})",
                            aerospike::ResultCode::from(code)
                        ));
                        retry.push(r);
                    }
                    o => {
                        if let Err(e) = self.account(line, code, o) {
                            first_err.get_or_insert(e);
                        }
                    }
                }
            }
            if let Some(f) = failure.as_ref().filter(|f| f.outcome == CallOutcome::Fatal) {
                return Err(fatal_code(
                    records[f.first as usize].line,
                    f.code,
                    &f.message,
                ));
            }
            if let Some(e) = first_err {
                return Err(e);
            }
            let Some(&first) = retry.first() else {
                return Ok(());
            };
            attempt += 1;
            let msg = last_msg.unwrap_or_else(|| "records without a result".into());
            self.retry_wait(attempt, records[first as usize].line, &msg)
                .await?;
            std::mem::swap(&mut pending, &mut retry);
        }
        Ok(())
    }

    /// Accounts a final record outcome; `Err` when it stops the restore.
    fn account(&self, line: u64, code: u8, o: RecordOutcome) -> Result<(), WriteError> {
        if let Some(c) = ctr(&self.counters, o) {
            inc(c);
        }
        match o {
            RecordOutcome::Ignored if !self.opts.ignore_record_error => {
                Err(WriteError::RecordError {
                    line,
                    code,
                    message: aerospike::ResultCode::from(code).to_string(),
                })
            }
            RecordOutcome::Fatal => Err(WriteError::Fatal {
                line,
                code: i32::from(code),
                message: aerospike::ResultCode::from(code).to_string(),
            }),
            _ => Ok(()),
        }
    }

    async fn retry_wait(&self, attempt: u32, line: u64, last: &str) -> Result<(), WriteError> {
        if attempt > self.opts.max_retries {
            return Err(WriteError::MaxRetries {
                line,
                retries: self.opts.max_retries,
                message: last.to_string(),
            });
        }
        inc(&self.counters.retries);
        tracing::debug!(attempt, line, "retrying write: {last}");
        let d = backoff(attempt, self.opts.retry_scale);
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
        Ok(())
    }

    async fn write_batch(&self, mut pending: Vec<ClientRecord>) -> Result<(), WriteError> {
        let policy = self.batch_policy();
        let mut attempt = 0u32;
        loop {
            let mut ops: Vec<BatchOperation> = pending
                .iter()
                .map(|r| {
                    let puts: Vec<_> = r.bins.iter().map(operations::put).collect();
                    BatchOperation::write(&self.batch_write_policy(r), r.key.clone(), puts)
                })
                .collect();
            let res = self.client.batch(&policy, &mut ops).await;
            let call = match &res {
                Ok(()) => CallOutcome::PerRecord,
                Err(e) => classify_call_error(e),
            };
            let first_line = pending.first().map_or(0, |r| r.line);
            if call == CallOutcome::Fatal {
                let e = res.err();
                return Err(fatal_call(first_line, e.as_ref()));
            }
            let mut retry = Vec::new();
            let mut first_err = None;
            let mut last_msg = res.as_ref().err().map(Error::to_string);
            let in_doubt = res.as_ref().err().is_some_and(Error::in_doubt);
            for (r, op) in pending.into_iter().zip(ops.iter()) {
                let row_doubt = in_doubt || op.in_doubt();
                let Some(rc) = op.result_code() else {
                    if row_doubt {
                        inc(&self.counters.errors_in_doubt);
                    }
                    retry.push(r);
                    continue;
                };
                let code = u8::from(rc);
                match classify_record(code) {
                    RecordOutcome::Retry => {
                        if row_doubt {
                            inc(&self.counters.errors_in_doubt);
                        }
                        last_msg = Some(format!("record result code {code} ({rc})"));
                        retry.push(r);
                    }
                    o => {
                        if let Err(e) = self.account(r.line, code, o) {
                            first_err.get_or_insert(e);
                        }
                    }
                }
            }
            if let Some(e) = first_err {
                return Err(e);
            }
            let Some(first) = retry.first() else {
                return Ok(());
            };
            attempt += 1;
            let msg = last_msg.unwrap_or_else(|| "records without a result".into());
            self.retry_wait(attempt, first.line, &msg).await?;
            pending = retry;
        }
    }

    async fn write_single(&self, r: ClientRecord) -> Result<(), WriteError> {
        let policy = self.write_policy(&r);
        let mut attempt = 0u32;
        loop {
            let e = match self.client.put(&policy, &r.key, &r.bins).await {
                Ok(()) => return self.account(r.line, 0, RecordOutcome::Inserted),
                Err(e) => e,
            };
            match classify_call_error(&e) {
                CallOutcome::Fatal => return Err(fatal_call(r.line, Some(&e))),
                CallOutcome::PerRecord => {
                    let code = e.server_result_code().map_or(0, u8::from);
                    return self.account(r.line, code, classify_record(code));
                }
                CallOutcome::Retry => {
                    if e.in_doubt() {
                        inc(&self.counters.errors_in_doubt);
                    }
                    attempt += 1;
                    self.retry_wait(attempt, r.line, &e.to_string()).await?;
                }
            }
        }
    }
}

fn fatal_call(line: u64, e: Option<&Error>) -> WriteError {
    match e {
        Some(e) => fatal_code(line, e.result_code(), &e.to_string()),
        None => fatal_code(line, -1, "unknown error"),
    }
}

/// The error for a whole call that failed permanently with `code`.
fn fatal_code(line: u64, code: i32, message: &str) -> WriteError {
    let message = message.to_string();
    let message = if code == 150 {
        format!("{message} (the cluster has batch writes disabled: use --disable-batch-writes)")
    } else {
        message
    };
    WriteError::Fatal {
        line,
        code,
        message,
    }
}
