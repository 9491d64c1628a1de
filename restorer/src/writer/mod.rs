//! Writes records to Aerospike with asrestore's write policy (format §4.3), batch or single
//! puts (format §4.4), result-code accounting and retries (format §4.5).

pub mod client;
pub mod globals;
pub mod outcome;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use aerospike::policy::{BatchPolicy, GenerationPolicy, RecordExistsAction, WritePolicy};
use aerospike::{BatchOperation, BatchWritePolicy, Client, Error, operations};

use crate::stats::{Counters, inc};
use crate::transform::{ClientRecord, WriteRecord};
use outcome::{CallOutcome, RecordOutcome, backoff, classify_call_error, classify_record};

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

/// The record writer shared by every file.
#[derive(Clone)]
pub struct Writer {
    client: Client,
    mode: Mode,
    opts: Arc<WriteOptions>,
    counters: Arc<Counters>,
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
    /// A writer over a connected client.
    pub fn new(client: Client, mode: Mode, opts: WriteOptions, counters: Arc<Counters>) -> Self {
        Writer {
            client,
            mode,
            opts: Arc::new(opts),
            counters,
        }
    }

    /// The client (for indexes and UDFs).
    pub fn client(&self) -> &Client {
        &self.client
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

    /// Accounts a final record outcome; `Err` when it stops the restore.
    fn account(&self, r: &ClientRecord, code: u8, o: RecordOutcome) -> Result<(), WriteError> {
        if let Some(c) = ctr(&self.counters, o) {
            inc(c);
        }
        match o {
            RecordOutcome::Ignored if !self.opts.ignore_record_error => {
                Err(WriteError::RecordError {
                    line: r.line,
                    code,
                    message: aerospike::ResultCode::from(code).to_string(),
                })
            }
            RecordOutcome::Fatal => Err(WriteError::Fatal {
                line: r.line,
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
            for (r, op) in pending.into_iter().zip(ops.iter()) {
                let Some(rc) = op.result_code() else {
                    retry.push(r);
                    continue;
                };
                let code = u8::from(rc);
                match classify_record(code) {
                    RecordOutcome::Retry => {
                        last_msg = Some(format!("record result code {code} ({rc})"));
                        retry.push(r);
                    }
                    o => {
                        if let Err(e) = self.account(&r, code, o) {
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
                Ok(()) => return self.account(&r, 0, RecordOutcome::Inserted),
                Err(e) => e,
            };
            match classify_call_error(&e) {
                CallOutcome::Fatal => return Err(fatal_call(r.line, Some(&e))),
                CallOutcome::PerRecord => {
                    let code = e.server_result_code().map_or(0, u8::from);
                    return self.account(&r, code, classify_record(code));
                }
                CallOutcome::Retry => {
                    attempt += 1;
                    self.retry_wait(attempt, r.line, &e.to_string()).await?;
                }
            }
        }
    }
}

fn fatal_call(line: u64, e: Option<&Error>) -> WriteError {
    let (code, message) = match e {
        Some(e) => (e.result_code(), e.to_string()),
        None => (-1, "unknown error".into()),
    };
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
