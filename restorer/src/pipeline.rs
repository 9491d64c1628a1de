//! Wires the stages: source -> decompress -> parse + transform (one blocking thread per file)
//! -> bounded channel of record batches -> concurrent writer tasks.
//!
//! Parsing never waits for writes except through backpressure: a file's parse thread fills a
//! channel of `max_async_batches` batches while up to `max_async_batches` batches (across all
//! files) are in flight. Memory is bounded in bytes as well (see [`crate::budget`]): a batch
//! closes early at [`budget::BATCH_BYTES`], and the batches queued and in flight of every
//! file together hold at most [`budget::IN_FLIGHT_BYTES`]. Any error stops every stage;
//! records answered before it stay counted.

use std::cell::Cell;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use asb_format::{Entity, GlobalItem, MetaLine, ParseError, Parser, ParserOptions, Udf};
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::budget::{self, ByteBudget, BytePermit};
use crate::checkpoint::{CheckpointError, Counts, GlobalCounts, Progress, Shard, Span, State};
use crate::checkpoint::{Identity, StateStore};
use crate::decompress::{self, DecompressError, Decompressed};
use crate::metadata::{self, MetadataError};
use crate::source::{self, Location, SourceError, StorageOptions};
use crate::stats::{Counters, inc};
use crate::transform::{
    Decision, NamespaceRule, TransformError, TransformOptions, Transformer, WriteRecord,
    now_clepoch,
};
use crate::writer::globals::{self, GlobalError, IndexDef};
use crate::writer::{WriteError, Writer};

/// Largest metadata JSON accepted.
const METADATA_MAX: usize = 1 << 20;

/// What to read.
#[derive(Debug, Clone)]
pub enum Inputs {
    /// `-i`: one file (or `-`).
    File(Location),
    /// `-d`: every backup file in a directory or under a prefix.
    Directory(Location),
    /// `--backup PREFIX`: `<prefix>.json` then `<prefix>.asb.gz`.
    Backup(Location),
    /// `--directory-list`: the backup files of every directory or prefix, concatenated.
    Directories(Vec<Location>),
}

/// Namespace options as given.
#[derive(Debug, Clone, Default)]
pub struct NamespaceOptions {
    /// `-n SRC[,DST]`.
    pub namespace: Option<(String, Option<String>)>,
    /// `--target-namespace DST`.
    pub target: Option<String>,
}

/// Everything a run needs besides the writer.
#[derive(Debug, Clone)]
pub struct Config {
    /// Inputs.
    pub inputs: Inputs,
    /// `--metadata`.
    pub metadata: Option<Location>,
    /// Object-store settings.
    pub storage: StorageOptions,
    /// Namespace options.
    pub namespace: NamespaceOptions,
    /// Filters and TTL.
    pub transform: TransformOptions,
    /// `--no-records`.
    pub no_records: bool,
    /// `--no-indexes`.
    pub no_indexes: bool,
    /// `--no-udfs`.
    pub no_udfs: bool,
    /// `--indexes-last`.
    pub indexes_last: bool,
    /// Files restored at once (`--parallel`).
    pub parallel: usize,
    /// Records per batch.
    pub batch_size: usize,
    /// Batches in flight.
    pub max_async_batches: usize,
    /// Records per second (0 = unlimited).
    pub tps: u32,
    /// Backup bytes read per second (0 = unlimited): `-N`'s bandwidth, `--bandwidth`.
    pub bandwidth: u64,
    /// Decryption and the expected compression of every input (`-y`, `-z`).
    pub decode: decompress::DecodeOptions,
}

/// Sharding and resuming (`--shard`, `--resume`): what a run needs beyond [`Config`].
#[derive(Clone, Default)]
pub struct RunExtras {
    /// Restore only this shard's files of the listing (indexes and UDFs on shard 0).
    pub shard: Option<Shard>,
    /// Record progress, and resume from what was recorded.
    pub checkpoint: Option<Checkpointing>,
}

/// Where and how often progress is recorded.
#[derive(Clone)]
pub struct Checkpointing {
    /// The state's storage.
    pub store: Arc<dyn StateStore>,
    /// Time between saves (also saved at the end).
    pub interval: Duration,
    /// Options that change what is written or counted, as given (part of the identity).
    pub options: BTreeMap<String, String>,
}

/// Why a run failed. Every message names the input and, where it applies, the line.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Opening, listing or reading a source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// Decompressing failed (truncated or corrupt data).
    #[error(transparent)]
    Decompress(#[from] DecompressError),
    /// The backup is malformed.
    #[error("{input}: {error}")]
    Parse {
        /// The input.
        input: String,
        /// Where and what.
        error: ParseError,
    },
    /// A record or line cannot be restored as asked.
    #[error("{input}: line {line}: {error}")]
    Transform {
        /// The input.
        input: String,
        /// Line.
        line: u64,
        /// What.
        error: TransformError,
    },
    /// Writing records failed.
    #[error("{input}: {error}")]
    Write {
        /// The input.
        input: String,
        /// What.
        error: WriteError,
    },
    /// An index or UDF could not be restored.
    #[error("{input}: {error}")]
    Global {
        /// The input.
        input: String,
        /// What.
        error: GlobalError,
    },
    /// The metadata JSON is unusable.
    #[error("{location}: invalid backup metadata: {error}")]
    Metadata {
        /// Where it came from.
        location: String,
        /// What.
        error: MetadataError,
    },
    /// No backup files in the directory.
    #[error("{0}: no backup files found (*.asb, *.asb.gz, *.asb.zst)")]
    NoFiles(String),
    /// An internal stage stopped unexpectedly.
    #[error("internal error: {0}")]
    Internal(String),
    /// Sharding or the resume state cannot go on.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

/// Where a file's entities go.
enum Sink {
    /// `--validate`: count only.
    Count,
    /// Restore: decide and batch records, queue globals.
    Restore(Box<RestoreSink>),
}

/// Spent record batches going back to the parse thread, which drops them (their buffers
/// share reference counts with the chunks it is parsing).
type Recycle = std::sync::mpsc::Sender<Vec<WriteRecord>>;

/// Work sent from a parse thread to its dispatcher.
enum Work {
    /// A batch, the ordinals it covers when progress is recorded, and its share of the bytes
    /// queued and in flight.
    Records(Vec<WriteRecord>, Option<Span>, BytePermit),
    /// Ordinals decided without a write (expired, skipped) after the last batch.
    Span(Span),
    Index(IndexDef),
    Udf(Udf),
}

/// Where a file's decided work goes.
enum Outlet {
    /// To the file's dispatcher, which writes it.
    Writer {
        tx: mpsc::Sender<Work>,
        /// Spent batches to drop on this thread.
        recycle: std::sync::mpsc::Receiver<Vec<WriteRecord>>,
        /// For the time spent waiting on the writers.
        counters: Arc<Counters>,
        /// Bytes queued and in flight, shared by every file.
        budget: Arc<ByteBudget>,
    },
    /// `--dry-run`: the pipeline ends after the transform; work is counted and dropped here.
    Discard(Arc<Counters>),
}

struct RestoreSink {
    transformer: Transformer,
    batch: Vec<WriteRecord>,
    batch_size: usize,
    /// Bytes of the records in `batch` ([`budget::record_bytes`]).
    batch_bytes: usize,
    outlet: Outlet,
    no_records: bool,
    no_indexes: bool,
    no_udfs: bool,
    deferred: Option<Arc<Mutex<Vec<IndexDef>>>>,
    /// Read only up to the first record, for the indexes and UDFs; bytes are not counted.
    globals_only: bool,
    /// Ordinals of this file, when progress is recorded.
    ckpt: Option<SinkCkpt>,
}

/// A file's record ordinals as the parse thread sees them.
struct SinkCkpt {
    file: usize,
    /// Record entities read so far.
    ordinal: u64,
    /// First ordinal of the batch being filled.
    span_start: u64,
    expired: u64,
    skipped: u64,
    /// Uncompressed offset after the last record read.
    last_offset: u64,
    /// Records acknowledged by an earlier run: read, not decided, not written.
    skip: u64,
    /// The offset expected after them.
    skip_offset: u64,
    /// Spans answered beyond the prefix by an earlier run (start, end, end offset), in order:
    /// skipped like the prefix.
    answered: std::collections::VecDeque<(u64, u64, u64)>,
    /// Set to the file's uncompressed size when it has been read to its end.
    end: Arc<std::sync::atomic::AtomicU64>,
}

impl SinkCkpt {
    /// The span since the last one, `None` when empty.
    fn take_span(&mut self) -> Option<Span> {
        if self.ordinal == self.span_start {
            return None;
        }
        let s = Span {
            file: self.file,
            start: self.span_start,
            end: self.ordinal,
            end_offset: self.last_offset,
            expired: std::mem::take(&mut self.expired),
            skipped: std::mem::take(&mut self.skipped),
        };
        self.span_start = self.ordinal;
        Some(s)
    }
}

/// What the parse loop does after an entity.
enum Flow {
    Continue,
    /// Stop reading this file (`--no-records` at the first record).
    StopFile,
    /// The dispatcher is gone (it failed); stop quietly, its error is reported.
    Stopped,
}

struct FileCtx<'a> {
    input: &'a str,
    counters: &'a Counters,
    /// Uncompressed offset after the entity being handled.
    offset: Cell<u64>,
}

impl RestoreSink {
    fn send(&mut self, w: Work) -> Flow {
        match &self.outlet {
            Outlet::Writer { tx, counters, .. } => match tx.try_send(w) {
                Ok(()) => Flow::Continue,
                Err(mpsc::error::TrySendError::Full(w)) => {
                    let t = Instant::now();
                    let sent = tx.blocking_send(w);
                    add_elapsed(&counters.parser_waited_ns, t);
                    match sent {
                        Ok(()) => Flow::Continue,
                        Err(_) => Flow::Stopped,
                    }
                }
                Err(mpsc::error::TrySendError::Closed(_)) => Flow::Stopped,
            },
            Outlet::Discard(counters) => {
                match w {
                    // Indexes are counted when read.
                    Work::Records(..) | Work::Span(_) | Work::Index(_) => {}
                    Work::Udf(_) => inc(&counters.udfs),
                }
                Flow::Continue
            }
        }
    }

    fn flush(&mut self) -> Flow {
        match &self.outlet {
            Outlet::Writer {
                tx,
                recycle,
                counters,
                budget,
            } => {
                // Drop the batches the writer is done with here, where their buffers came from.
                while recycle.try_recv().is_ok() {}
                let span = self.ckpt.as_mut().and_then(SinkCkpt::take_span);
                if self.batch.is_empty() {
                    return match span {
                        Some(s) => self.send(Work::Span(s)),
                        None => Flow::Continue,
                    };
                }
                let bytes = std::mem::take(&mut self.batch_bytes);
                // Wait until the batches queued and in flight leave room for this one, dropping
                // those the writers are done with meanwhile; stop if the dispatcher is gone.
                let t = Instant::now();
                let granted = budget.acquire_blocking(bytes, || {
                    while recycle.try_recv().is_ok() {}
                    !tx.is_closed()
                });
                let Some((permit, waited)) = granted else {
                    return Flow::Stopped;
                };
                if waited {
                    add_elapsed(&counters.parser_waited_ns, t);
                }
                let b = std::mem::replace(&mut self.batch, Vec::with_capacity(self.batch_size));
                self.send(Work::Records(b, span, permit))
            }
            Outlet::Discard(_) => {
                self.batch.clear();
                self.batch_bytes = 0;
                Flow::Continue
            }
        }
    }

    fn on_entity(&mut self, e: Entity, line: u64, cx: &FileCtx) -> Result<Flow, PipelineError> {
        let terr = |error| PipelineError::Transform {
            input: cx.input.to_string(),
            line,
            error,
        };
        match e {
            Entity::Header(_) | Entity::Meta(MetaLine::FirstFile) => Ok(Flow::Continue),
            Entity::Meta(MetaLine::Namespace(ns)) => {
                self.transformer.on_meta_namespace(&ns).map_err(terr)?;
                Ok(Flow::Continue)
            }
            Entity::Global(GlobalItem::Udf(u)) => {
                if self.no_udfs {
                    return Ok(Flow::Continue);
                }
                Ok(self.send(Work::Udf(u)))
            }
            Entity::Global(GlobalItem::Index(idx)) => {
                if self.no_indexes {
                    return Ok(Flow::Continue);
                }
                // Like asrestore, "secondary index(es)" counts every index line read, those of
                // sets outside `--set-list` too (they are also counted as skipped).
                inc(&cx.counters.indexes);
                if !self.transformer.index_wanted(&idx) {
                    inc(&cx.counters.skipped_indexes);
                    return Ok(Flow::Continue);
                }
                let ns = self.transformer.index_namespace(&idx).map_err(terr)?;
                let def =
                    IndexDef::from_backup(&idx, ns).map_err(|error| PipelineError::Global {
                        input: format!("{}: line {line}", cx.input),
                        error,
                    })?;
                match &self.deferred {
                    Some(list) => {
                        list.lock()
                            .map_err(|_| PipelineError::Internal("index list poisoned".into()))?
                            .push(def);
                        Ok(Flow::Continue)
                    }
                    None => Ok(self.send(Work::Index(def))),
                }
            }
            Entity::Record(rec) => {
                if self.no_records {
                    return Ok(Flow::StopFile);
                }
                if let Some(k) = self.ckpt.as_ref()
                    && k.answered.front().is_some_and(|a| a.0 == k.ordinal)
                    && k.span_start < k.ordinal
                {
                    // The span being filled ends where an answered one starts.
                    match self.flush() {
                        Flow::Continue => {}
                        other => return Ok(other),
                    }
                }
                if let Some(k) = self.ckpt.as_mut()
                    && let Some(&(start, end, end_offset)) = k.answered.front()
                    && k.ordinal >= start
                {
                    k.ordinal += 1;
                    k.last_offset = cx.offset.get();
                    if k.ordinal == end {
                        k.answered.pop_front();
                        if k.last_offset != end_offset {
                            return Err(CheckpointError::Mismatch {
                                place: cx.input.to_string(),
                                what: format!(
                                    "record {end} ends at byte {} of the uncompressed input, \
                                     the state says {end_offset}",
                                    k.last_offset
                                ),
                            }
                            .into());
                        }
                    }
                    k.span_start = k.ordinal;
                    return Ok(Flow::Continue);
                }
                if let Some(k) = self.ckpt.as_mut() {
                    k.ordinal += 1;
                    k.last_offset = cx.offset.get();
                    if k.ordinal <= k.skip {
                        // Acknowledged by an earlier run and counted from its state.
                        if k.ordinal == k.skip && k.last_offset != k.skip_offset {
                            return Err(CheckpointError::Mismatch {
                                place: cx.input.to_string(),
                                what: format!(
                                    "record {} ends at byte {} of the uncompressed input, the \
                                     state says {}",
                                    k.skip, k.last_offset, k.skip_offset
                                ),
                            }
                            .into());
                        }
                        k.span_start = k.ordinal;
                        return Ok(Flow::Continue);
                    }
                }
                let d = self.transformer.decide(rec, line).map_err(terr)?;
                inc(&cx.counters.records);
                let k = self.ckpt.as_mut();
                match d {
                    Decision::Expired => {
                        inc(&cx.counters.expired);
                        if let Some(k) = k {
                            k.expired += 1;
                        }
                    }
                    Decision::Skipped => {
                        inc(&cx.counters.skipped);
                        if let Some(k) = k {
                            k.skipped += 1;
                        }
                    }
                    Decision::Write(w) => {
                        self.batch_bytes += budget::record_bytes(&w);
                        self.batch.push(w);
                        if self.batch.len() >= self.batch_size
                            || self.batch_bytes >= budget::BATCH_BYTES
                        {
                            return Ok(self.flush());
                        }
                    }
                }
                Ok(Flow::Continue)
            }
        }
    }
}

impl Sink {
    fn on_entity(&mut self, e: Entity, line: u64, cx: &FileCtx) -> Result<Flow, PipelineError> {
        match self {
            Sink::Count => {
                match e {
                    Entity::Record(_) => inc(&cx.counters.records),
                    Entity::Global(GlobalItem::Index(_)) => inc(&cx.counters.indexes),
                    Entity::Global(GlobalItem::Udf(_)) => inc(&cx.counters.udfs),
                    _ => {}
                }
                Ok(Flow::Continue)
            }
            Sink::Restore(s) => s.on_entity(e, line, cx),
        }
    }

    fn finish(&mut self) -> Flow {
        match self {
            Sink::Count => Flow::Continue,
            Sink::Restore(s) => s.flush(),
        }
    }
}

/// Parses one decompressed stream on the current (blocking) thread.
///
/// Records decided before an error are still sent (and counted), so that everything before the
/// fault is in the cluster when the run reports the error.
fn parse_stream(
    input: &str,
    rx: Decompressed,
    compressed: &std::sync::atomic::AtomicU64,
    (counters, bandwidth): (&Counters, Option<&crate::throttle::Bandwidth>),
    stop: &AtomicBool,
    mut sink: Sink,
) -> Result<(), PipelineError> {
    let result = parse_into(
        input,
        rx,
        compressed,
        (counters, bandwidth),
        stop,
        &mut sink,
    );
    if !matches!(result, Ok(Flow::Stopped)) {
        sink.finish();
    }
    result.map(|_| ())
}

fn parse_into(
    input: &str,
    mut rx: Decompressed,
    compressed: &std::sync::atomic::AtomicU64,
    (counters, bandwidth): (&Counters, Option<&crate::throttle::Bandwidth>),
    stop: &AtomicBool,
    sink: &mut Sink,
) -> Result<Flow, PipelineError> {
    let cx = FileCtx {
        input,
        counters,
        offset: Cell::new(0),
    };
    // A file read only for its indexes and UDFs (shard 0 reading other shards' files, or a
    // resumed run re-reading a finished file) is not counted as read.
    let count_bytes = !matches!(sink, Sink::Restore(s) if s.globals_only);
    let mut parser = Parser::new(ParserOptions::default());
    let perr = |error| PipelineError::Parse {
        input: input.to_string(),
        error,
    };
    let (mut seen_bytes, mut seen_src) = (0u64, 0u64);
    let mut account = |parser: &Parser| {
        if !count_bytes {
            return;
        }
        let off = parser.offset();
        counters.bytes.fetch_add(off - seen_bytes, Relaxed);
        seen_bytes = off;
        let src = compressed.load(Relaxed);
        counters
            .source_bytes
            .fetch_add(src.saturating_sub(seen_src), Relaxed);
        seen_src = seen_src.max(src);
    };
    let drain = |parser: &mut Parser, sink: &mut Sink| -> Result<Flow, PipelineError> {
        loop {
            let line = parser.line();
            let Some(e) = parser.next_entity().map_err(perr)? else {
                return Ok(Flow::Continue);
            };
            cx.offset.set(parser.offset());
            match sink.on_entity(e, line, &cx)? {
                Flow::Continue => {}
                other => return Ok(other),
            }
        }
    };
    while let Some(chunk) = rx.blocking_recv() {
        if stop.load(Relaxed) {
            // Another file failed: stop reading, let the writes already queued finish.
            return Ok(Flow::Stopped);
        }
        parser.push(chunk?);
        let flow = drain(&mut parser, sink);
        account(&parser);
        if let Some(b) = bandwidth {
            // Reading pauses until the bytes read so far (every file) fit the budget.
            b.pause_blocking(counters.source_bytes.load(Relaxed));
        }
        match flow? {
            Flow::Continue => {}
            other => return Ok(other),
        }
    }
    parser.finish().map_err(perr)?;
    let flow = drain(&mut parser, sink);
    account(&parser);
    if let Sink::Restore(s) = sink
        && let Some(k) = &s.ckpt
    {
        k.end.store(parser.offset(), Relaxed);
    }
    flow
}

/// Shared state of a restore run.
#[derive(Clone)]
pub struct RestoreCtx {
    /// `None` for a dry run: records are decided and batched, then dropped by the parse thread.
    writer: Option<Writer>,
    in_flight: Arc<Semaphore>,
    /// Bytes of records queued and in flight, every file together.
    budget: Arc<ByteBudget>,
    limiter: Option<Arc<RateLimiter>>,
    /// Answered spans go here when progress is recorded.
    progress: Option<Arc<Progress>>,
}

/// `--tps`: spaces out batches so that at most `tps` records per second are sent.
#[derive(Debug)]
pub struct RateLimiter {
    start: Instant,
    per_sec: f64,
    sent: Mutex<u64>,
}

impl RateLimiter {
    /// A limiter of `tps` records per second.
    pub fn new(tps: u32) -> Self {
        RateLimiter {
            start: Instant::now(),
            per_sec: f64::from(tps.max(1)),
            sent: Mutex::new(0),
        }
    }

    /// When `n` more records may go (the instant at which the budget covers them).
    pub fn reserve(&self, n: usize) -> Instant {
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        let due = self.start + Duration::from_secs_f64(*sent as f64 / self.per_sec);
        *sent += n as u64;
        due
    }
}

async fn dispatch(
    input: String,
    mut rx: mpsc::Receiver<Work>,
    ctx: RestoreCtx,
    counters: Arc<Counters>,
    recycle: Recycle,
    writer: Writer,
) -> Result<(), PipelineError> {
    let mut tasks: JoinSet<Result<(), WriteError>> = JoinSet::new();
    let mut result = Ok(());
    let gerr = |error| PipelineError::Global {
        input: input.clone(),
        error,
    };
    let mut first = true;
    loop {
        let slot_free = ctx.in_flight.available_permits() > 0;
        let t = Instant::now();
        let Some(work) = rx.recv().await else {
            break;
        };
        if slot_free && !std::mem::take(&mut first) {
            add_elapsed(&counters.writers_waited_ns, t);
        }
        // Reap finished writes early so an error stops the file quickly.
        while let Some(done) = tasks.try_join_next() {
            if let Err(e) = flatten(done) {
                result = Err(e);
            }
        }
        if result.is_err() {
            break;
        }
        match work {
            Work::Span(span) => {
                if let Some(p) = &ctx.progress {
                    p.complete(span, Counts::default());
                }
            }
            Work::Records(batch, span, bytes) => {
                if let Some(l) = &ctx.limiter {
                    tokio::time::sleep_until(l.reserve(batch.len()).into()).await;
                }
                let permit = ctx
                    .in_flight
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| PipelineError::Internal("writer semaphore closed".into()))?;
                let (writer, recycle) = (writer.clone(), recycle.clone());
                let writing = InFlight::start(counters.clone(), bytes.bytes());
                match (span, ctx.progress.clone()) {
                    (Some(span), Some(progress)) => {
                        // The batch counts into its own counters first, so that its outcomes
                        // can be recorded with its span.
                        let (run, own) = (counters.clone(), Arc::new(Counters::default()));
                        let writer = writer.with_counters(own.clone());
                        tasks.spawn(async move {
                            let r = writer.write(&batch).await;
                            drop(permit);
                            let _ = recycle.send(batch);
                            drop((writing, bytes));
                            let outcomes = Counts::outcomes_of(&own);
                            outcomes.add_to(&run);
                            run.retries.fetch_add(own.retries.load(Relaxed), Relaxed);
                            run.errors_in_doubt
                                .fetch_add(own.errors_in_doubt.load(Relaxed), Relaxed);
                            if r.is_ok() {
                                progress.complete(span, outcomes);
                            }
                            r
                        });
                    }
                    _ => {
                        tasks.spawn(async move {
                            let r = writer.write(&batch).await;
                            drop(permit);
                            let _ = recycle.send(batch);
                            drop((writing, bytes));
                            r
                        });
                    }
                }
            }
            Work::Index(def) => {
                if let Err(e) = globals::restore_index(writer.client(), &def, &counters).await {
                    result = Err(gerr(e));
                    break;
                }
            }
            Work::Udf(u) => {
                if let Err(e) = globals::restore_udf(writer.client(), &u, &counters).await {
                    result = Err(gerr(e));
                    break;
                }
            }
        }
    }
    drop(rx);
    // Let writes already sent finish, so their answers are counted.
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = flatten(done)
            && result.is_ok()
        {
            result = Err(e);
        }
    }
    result.map_err(|e| match e {
        PipelineError::Write { error, .. } => PipelineError::Write { input, error },
        other => other,
    })
}

/// A batch being written, counted in [`Counters::write_bytes`] (and its peak) until dropped:
/// what the writers hold, measured on their side, apart from the budget that limits it.
struct InFlight {
    counters: Arc<Counters>,
    bytes: u64,
}

impl InFlight {
    fn start(counters: Arc<Counters>, bytes: usize) -> Self {
        let bytes = bytes as u64;
        let now = counters.write_bytes.fetch_add(bytes, Relaxed) + bytes;
        counters.peak_write_bytes.fetch_max(now, Relaxed);
        counters.largest_batch_bytes.fetch_max(bytes, Relaxed);
        InFlight { counters, bytes }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.counters.write_bytes.fetch_sub(self.bytes, Relaxed);
    }
}

/// Adds the time since `since` to a nanosecond counter.
fn add_elapsed(c: &std::sync::atomic::AtomicU64, since: Instant) {
    let ns = u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX);
    c.fetch_add(ns, Relaxed);
}

fn flatten(r: Result<Result<(), WriteError>, tokio::task::JoinError>) -> Result<(), PipelineError> {
    match r {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(PipelineError::Write {
            input: String::new(),
            error,
        }),
        Err(e) => Err(PipelineError::Internal(format!("writer task failed: {e}"))),
    }
}

/// Per-file settings derived once per run.
#[derive(Clone)]
struct FilePlan {
    rule: NamespaceRule,
    transform: Arc<TransformOptions>,
    cfg: Arc<Config>,
    deferred: Option<Arc<Mutex<Vec<IndexDef>>>>,
    /// Set when any file failed: the others stop reading.
    stop: Arc<AtomicBool>,
    /// `--bandwidth` / `-N`: the read budget shared by every file.
    bandwidth: Option<Arc<crate::throttle::Bandwidth>>,
}

async fn run_file(
    loc: Location,
    plan: FilePlan,
    counters: Arc<Counters>,
    restore: Option<RestoreCtx>,
    job: FileJob,
) -> Result<(), PipelineError> {
    let input = source::open(&loc, &plan.cfg.storage).await?;
    let name = input.name.clone();
    match input.size {
        _ if job.globals_only => {}
        Some(s) => {
            counters.source_total.fetch_add(s, Relaxed);
        }
        None => counters.size_unknown.store(true, Relaxed),
    }
    // Where this file's progress is recorded, and the prefix an earlier run acknowledged.
    let tracked = match (job.state, restore.as_ref().and_then(|c| c.progress.clone())) {
        (Some(i), Some(p)) => {
            p.check_size(i, input.size, &name)?;
            let f = p.file(i).unwrap_or_default();
            if f.acked_records > 0 {
                tracing::info!(input = %name, "skipping {} acknowledged record(s)", f.acked_records);
            }
            Some((i, p, f))
        }
        _ => None,
    };
    let end_offset = Arc::new(std::sync::atomic::AtomicU64::new(0));
    if job.globals_only {
        tracing::info!(input = %name, "reading backup file for its indexes and UDFs");
    } else {
        tracing::info!(input = %name, "reading backup file");
    }
    let dec = decompress::spawn_with(input, &plan.cfg.decode);
    let compressed = dec.compressed_bytes_read.clone();
    let source_read = compressed.clone();
    let (sink, dispatcher) = match restore {
        None => (Sink::Count, None),
        Some(ctx) => {
            let (outlet, dispatcher) = match ctx.writer.clone() {
                None => (Outlet::Discard(counters.clone()), None),
                Some(writer) => {
                    let cap = plan.cfg.max_async_batches.max(2);
                    let (tx, rx) = mpsc::channel(cap);
                    let (recycle_tx, recycle_rx) = std::sync::mpsc::channel();
                    let budget = ctx.budget.clone();
                    let d = tokio::spawn(dispatch(
                        name.clone(),
                        rx,
                        ctx,
                        counters.clone(),
                        recycle_tx,
                        writer,
                    ));
                    (
                        Outlet::Writer {
                            tx,
                            recycle: recycle_rx,
                            counters: counters.clone(),
                            budget,
                        },
                        Some(d),
                    )
                }
            };
            let sink = RestoreSink {
                transformer: Transformer::new(
                    plan.rule.clone(),
                    plan.transform.clone(),
                    now_clepoch(),
                ),
                batch: Vec::with_capacity(plan.cfg.batch_size),
                batch_size: plan.cfg.batch_size,
                batch_bytes: 0,
                outlet,
                no_records: plan.cfg.no_records || job.globals_only,
                no_indexes: plan.cfg.no_indexes || job.no_globals,
                no_udfs: plan.cfg.no_udfs || job.no_globals,
                deferred: plan.deferred.clone(),
                globals_only: job.globals_only,
                ckpt: tracked.as_ref().map(|(i, _, f)| SinkCkpt {
                    file: *i,
                    ordinal: 0,
                    span_start: 0,
                    expired: 0,
                    skipped: 0,
                    last_offset: 0,
                    skip: f.acked_records,
                    skip_offset: f.acked_offset,
                    answered: f
                        .ahead
                        .iter()
                        .map(|a| (a.start, a.end, a.end_offset))
                        .collect(),
                    end: end_offset.clone(),
                }),
            };
            (Sink::Restore(Box::new(sink)), dispatcher)
        }
    };
    let parse = tokio::task::spawn_blocking({
        let counters = counters.clone();
        let name = name.clone();
        let stop = plan.stop.clone();
        let bandwidth = plan.bandwidth.clone();
        move || {
            parse_stream(
                &name,
                dec,
                &compressed,
                (&counters, bandwidth.as_deref()),
                &stop,
                sink,
            )
        }
    });
    let parsed = parse
        .await
        .map_err(|e| PipelineError::Internal(format!("parse thread failed: {e}")))?;
    let written = match dispatcher {
        Some(d) => d
            .await
            .map_err(|e| PipelineError::Internal(format!("dispatcher failed: {e}")))?,
        None => Ok(()),
    };
    // A write error explains a parse stop; otherwise report the parse error first.
    match (parsed, written) {
        (_, Err(w)) => Err(w),
        (Err(p), Ok(())) => Err(p),
        (Ok(()), Ok(())) => {
            if let Some((i, p, _)) = tracked {
                p.file_done(i, end_offset.load(Relaxed), source_read.load(Relaxed));
            }
            Ok(())
        }
    }
}

async fn read_metadata(
    loc: &Location,
    storage: &StorageOptions,
) -> Result<Option<String>, PipelineError> {
    let json = source::read_small(loc, storage, METADATA_MAX).await?;
    let meta = metadata::parse(&json).map_err(|error| PipelineError::Metadata {
        location: loc.to_string(),
        error,
    })?;
    Ok(meta.namespace)
}

/// Resolves the inputs and the namespace rule (reading metadata when needed).
async fn plan(cfg: &Config) -> Result<(Vec<Location>, NamespaceRule), PipelineError> {
    let (files, meta_loc) = match &cfg.inputs {
        Inputs::File(l) => (vec![l.clone()], cfg.metadata.clone()),
        Inputs::Directory(d) => {
            let files = source::list_backups(d, &cfg.storage).await?;
            if files.is_empty() {
                return Err(PipelineError::NoFiles(d.to_string()));
            }
            (files, cfg.metadata.clone())
        }
        Inputs::Directories(dirs) => {
            let mut files = Vec::new();
            for d in dirs {
                let found = source::list_backups(d, &cfg.storage).await?;
                if found.is_empty() {
                    return Err(PipelineError::NoFiles(d.to_string()));
                }
                files.extend(found);
            }
            (files, cfg.metadata.clone())
        }
        Inputs::Backup(p) => (
            vec![p.with_suffix(".asb.gz")],
            Some(
                cfg.metadata
                    .clone()
                    .unwrap_or_else(|| p.with_suffix(".json")),
            ),
        ),
    };
    let meta_ns = match &meta_loc {
        Some(l) => read_metadata(l, &cfg.storage).await?,
        None => None,
    };
    let rule = match (&cfg.namespace.namespace, &cfg.namespace.target) {
        (Some((src, None)), _) => NamespaceRule::Require(src.clone()),
        (Some((src, Some(dst))), _) => NamespaceRule::Rename {
            src: src.clone(),
            dst: dst.clone(),
        },
        (None, Some(dst)) => match meta_ns {
            Some(src) => NamespaceRule::Rename {
                src,
                dst: dst.clone(),
            },
            None => NamespaceRule::RenameFromFile { dst: dst.clone() },
        },
        (None, None) => NamespaceRule::Keep,
    };
    Ok((files, rule))
}

/// Parses every input and counts (`--validate`); no cluster needed.
pub async fn validate(cfg: Config, counters: Arc<Counters>) -> Result<(), PipelineError> {
    run_all(cfg, counters, None, RunExtras::default()).await
}

/// Restores every input through `writer`.
pub async fn restore(
    cfg: Config,
    counters: Arc<Counters>,
    writer: Writer,
) -> Result<(), PipelineError> {
    restore_with(cfg, counters, writer, RunExtras::default()).await
}

/// [`restore`] of one shard's files, recording progress and resuming from it (see
/// [`crate::checkpoint`]).
pub async fn restore_with(
    cfg: Config,
    counters: Arc<Counters>,
    writer: Writer,
    extras: RunExtras,
) -> Result<(), PipelineError> {
    let ctx = RestoreCtx {
        in_flight: Arc::new(Semaphore::new(cfg.max_async_batches.max(1))),
        budget: Arc::new(ByteBudget::new(budget::IN_FLIGHT_BYTES)),
        limiter: (cfg.tps > 0).then(|| Arc::new(RateLimiter::new(cfg.tps))),
        writer: Some(writer),
        progress: None,
    };
    run_all(cfg, counters, Some(ctx), extras).await
}

/// Runs everything but the writer (source, decompression, parsing, transform, batching):
/// records are decided and counted as expired / skipped / records, then dropped.
pub async fn dry_run(cfg: Config, counters: Arc<Counters>) -> Result<(), PipelineError> {
    dry_run_with(cfg, counters, RunExtras::default()).await
}

/// [`dry_run`] of one shard's files (`extras.checkpoint` is refused: nothing is written).
pub async fn dry_run_with(
    cfg: Config,
    counters: Arc<Counters>,
    extras: RunExtras,
) -> Result<(), PipelineError> {
    let ctx = RestoreCtx {
        in_flight: Arc::new(Semaphore::new(1)),
        budget: Arc::new(ByteBudget::new(budget::IN_FLIGHT_BYTES)),
        limiter: None,
        writer: None,
        progress: None,
    };
    run_all(cfg, counters, Some(ctx), extras).await
}

/// How one listed file is read.
#[derive(Debug, Clone, Copy, Default)]
struct FileJob {
    /// Its index in the resume state, when progress is recorded.
    state: Option<usize>,
    /// Read only up to the first record, for indexes and UDFs (not counted as read).
    globals_only: bool,
    /// Leave its indexes and UDFs alone (another shard, or an earlier run, restored them).
    no_globals: bool,
}

/// Loads (or starts) the resume state of this run's files and adds what it records to the
/// counters.
async fn load_progress(
    ck: &Checkpointing,
    files: &[Location],
    shard: Option<Shard>,
    counters: &Counters,
) -> Result<Arc<Progress>, PipelineError> {
    let identity = Identity {
        files: files.iter().map(ToString::to_string).collect(),
        shard,
        options: ck.options.clone(),
    };
    let place = ck.store.place();
    let state = match ck.store.load().await? {
        Some(s) => {
            s.check(&identity, &place)?;
            let (acked, done) = s.files.iter().fold((0, 0), |(a, d), f| {
                (a + f.acked_records, d + usize::from(f.done))
            });
            tracing::info!(
                state = %place,
                "resuming: {acked} record(s) acknowledged, {done} of {} file(s) done",
                s.files.len()
            );
            for f in &s.files {
                f.answered().add_to(counters);
                if f.done {
                    counters.bytes.fetch_add(f.bytes, Relaxed);
                    counters.source_bytes.fetch_add(f.source_bytes, Relaxed);
                    if let Some(size) = f.size {
                        counters.source_total.fetch_add(size, Relaxed);
                    }
                }
            }
            if s.globals_done {
                s.globals.add_to(counters);
            }
            s
        }
        None => State::new(identity),
    };
    Ok(Progress::new(state))
}

/// Saves the state every `interval` until aborted.
fn spawn_saver(ck: &Checkpointing, progress: Arc<Progress>) -> tokio::task::JoinHandle<()> {
    let (store, interval) = (ck.store.clone(), ck.interval);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            if let Err(e) = store.save(progress.snapshot()).await {
                tracing::warn!("cannot save the resume state: {e}");
            }
        }
    })
}

async fn run_all(
    cfg: Config,
    counters: Arc<Counters>,
    restore: Option<RestoreCtx>,
    extras: RunExtras,
) -> Result<(), PipelineError> {
    let (listed, rule) = plan(&cfg).await?;
    let writes = restore.as_ref().is_some_and(|c| c.writer.is_some());
    let shard = extras.shard.filter(|s| s.count > 1);
    if shard.is_some() && !matches!(cfg.inputs, Inputs::Directory(_) | Inputs::Directories(_)) {
        return Err(CheckpointError::Usage(
            "--shard/--shard-count split the files of -d/--directory (or --directory-list)".into(),
        )
        .into());
    }
    let owned: Vec<bool> = (0..listed.len())
        .map(|p| shard.is_none_or(|s| s.owns(p)))
        .collect();
    let own: Vec<Location> = listed
        .iter()
        .zip(&owned)
        .filter(|(_, o)| **o)
        .map(|(l, _)| l.clone())
        .collect();
    if let Some(s) = shard {
        tracing::info!(
            "shard {}/{}: {} of {} file(s)",
            s.index,
            s.count,
            own.len(),
            listed.len()
        );
    }
    let progress = match &extras.checkpoint {
        None => None,
        Some(_) if !writes => {
            return Err(CheckpointError::Usage(
                "--resume records writes: it cannot be used with --validate or --dry-run".into(),
            )
            .into());
        }
        Some(ck) => Some(load_progress(ck, &own, extras.shard, &counters).await?),
    };
    let globals_here = shard.is_none_or(|s| s.restores_globals())
        && !progress.as_ref().is_some_and(|p| p.globals_done());
    // Every listed file with how it is read: this shard's files fully (a finished one of a
    // resumed run only for its globals, or not at all); shard 0 reads the others' up to their
    // first record, for their indexes and UDFs.
    let mut jobs: Vec<(Location, FileJob)> = Vec::new();
    let mut i = 0usize;
    for (loc, mine) in listed.into_iter().zip(owned) {
        if !mine {
            if globals_here {
                let job = FileJob {
                    globals_only: true,
                    ..FileJob::default()
                };
                jobs.push((loc, job));
            }
            continue;
        }
        let state = progress.as_ref().map(|_| i);
        i += 1;
        let done = match (&progress, state) {
            (Some(p), Some(i)) => p.file(i).is_some_and(|f| f.done),
            _ => false,
        };
        match (done, globals_here) {
            (true, false) => {}
            (true, true) => jobs.push((
                loc,
                FileJob {
                    globals_only: true,
                    ..FileJob::default()
                },
            )),
            (false, g) => jobs.push((
                loc,
                FileJob {
                    state,
                    globals_only: false,
                    no_globals: !g,
                },
            )),
        }
    }
    let restore = restore.map(|mut c| {
        c.progress = progress.clone();
        c
    });
    let saver = match (&extras.checkpoint, &progress) {
        (Some(ck), Some(p)) => Some(spawn_saver(ck, p.clone())),
        _ => None,
    };
    let result = run_jobs(&cfg, rule, jobs, &counters, restore, shard.is_some()).await;
    if let Some(s) = saver {
        s.abort();
    }
    if let (Some(ck), Some(p)) = (&extras.checkpoint, &progress) {
        if result.is_ok() {
            p.globals_finished(GlobalCounts::of(&counters));
        }
        let saved = ck.store.save(p.snapshot()).await;
        result?;
        saved?;
        return Ok(());
    }
    result
}

/// Reads every job's file (`parallel` at once), then restores the deferred indexes.
async fn run_jobs(
    cfg: &Config,
    rule: NamespaceRule,
    jobs: Vec<(Location, FileJob)>,
    counters: &Arc<Counters>,
    restore: Option<RestoreCtx>,
    sharded: bool,
) -> Result<(), PipelineError> {
    // With shards, shard 0 creates the indexes after its records, as --indexes-last does.
    let deferred = ((cfg.indexes_last || sharded)
        && restore.as_ref().is_some_and(|c| c.writer.is_some()))
    .then(|| Arc::new(Mutex::new(Vec::new())));
    let parallel = cfg.parallel.clamp(1, jobs.len().max(1));
    let bandwidth =
        (cfg.bandwidth > 0).then(|| Arc::new(crate::throttle::Bandwidth::new(cfg.bandwidth)));
    let fp = FilePlan {
        rule,
        transform: Arc::new(cfg.transform.clone()),
        cfg: Arc::new(cfg.clone()),
        deferred: deferred.clone(),
        stop: Arc::new(AtomicBool::new(false)),
        bandwidth,
    };
    let first_error: Mutex<Option<PipelineError>> = Mutex::new(None);
    futures::stream::iter(jobs)
        .for_each_concurrent(parallel, |(loc, job)| {
            let (fp, counters, restore, first_error) =
                (fp.clone(), counters.clone(), restore.clone(), &first_error);
            async move {
                if fp.stop.load(Relaxed) {
                    return;
                }
                if let Err(e) = run_file(loc, fp.clone(), counters, restore, job).await {
                    fp.stop.store(true, Relaxed);
                    first_error
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert(e);
                }
            }
        })
        .await;
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    if let (Some(list), Some(writer)) = (deferred, restore.as_ref().and_then(|c| c.writer.as_ref()))
    {
        let defs = std::mem::take(&mut *list.lock().unwrap_or_else(|p| p.into_inner()));
        for def in defs {
            globals::restore_index(writer.client(), &def, counters)
                .await
                .map_err(|error| PipelineError::Global {
                    input: "--indexes-last".into(),
                    error,
                })?;
        }
    }
    Ok(())
}

/// Parses `--bin-list` / `--set-list` items into the lookup sets the transform uses.
pub fn name_set(items: &[String]) -> HashSet<Bytes> {
    items
        .iter()
        .map(|s| Bytes::copy_from_slice(s.as_bytes()))
        .collect()
}
