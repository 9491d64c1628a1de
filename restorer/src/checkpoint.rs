//! Resume state and sharding: which prefix of each backup file the cluster has acknowledged,
//! kept behind [`StateStore`] so that a file (`--resume STATE-FILE`) or, later, the Kubernetes
//! restore status can hold it; and which files of a listing a shard restores.
//!
//! # Positions
//!
//! A file's position is the number of record entities read from its start (every record, also
//! expired and skipped ones), the *ordinal*. The checkpoint of a file is the longest prefix of
//! ordinals all of whose records are accounted for: decided as expired or skipped, or written
//! and answered. Batches complete out of order; a batch answered beyond the prefix is held in
//! memory until the gap before it closes. A resumed run re-reads (and inflates) the file from
//! its start, does not decide or write the first `acked_records` records, checks that the
//! uncompressed offset after them equals the recorded one, and continues.
//!
//! # Counting on resume
//!
//! The counters recorded for the prefix are added to the run's counters at start, so nothing is
//! counted twice. Records after the checkpoint are written again; one the interrupted run had
//! already written is answered as the server now sees it (see the README's "Resume").

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::stats::Counters;

/// The version of the state's JSON layout.
pub const STATE_VERSION: u32 = 1;

/// Command-line flags for sharding and resuming (flattened into the restorer's CLI).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ResumeArgs {
    /// Restore only the files of -d/--directory whose position in the sorted listing is INDEX
    /// modulo COUNT (e.g. `--shard 1/4`); indexes and UDFs are restored by shard 0 only.
    #[arg(long, value_name = "INDEX/COUNT", conflicts_with = "shard_count")]
    pub shard: Option<String>,
    /// Like --shard with the index taken from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job).
    #[arg(long, value_name = "COUNT", env = "RESTORER_SHARD_COUNT")]
    pub shard_count: Option<u32>,
    /// Record progress in STATE-FILE; when it exists and matches the backup, skip what it
    /// records as acknowledged and continue.
    #[arg(long, value_name = "STATE-FILE")]
    pub resume: Option<PathBuf>,
    /// Seconds between saves of the --resume state (it is also saved at the end).
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub checkpoint_interval: f64,
}

/// The shard and checkpointing of a command line (`JOB_COMPLETION_INDEX` read from the
/// environment for `--shard-count`).
pub fn extras(c: &crate::cli::Cli) -> Result<crate::pipeline::RunExtras, CheckpointError> {
    let args = &c.resume;
    let shard = Shard::from_args(args, std::env::var("JOB_COMPLETION_INDEX").ok())?;
    let checkpoint = match &args.resume {
        None => None,
        Some(path) => {
            let interval = std::time::Duration::try_from_secs_f64(args.checkpoint_interval)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    CheckpointError::Usage(format!(
                        "invalid --checkpoint-interval {}: expected a positive number of seconds",
                        args.checkpoint_interval
                    ))
                })?;
            Some(crate::pipeline::Checkpointing {
                store: Arc::new(FileStore::new(path.clone())),
                interval,
                options: counted_options(c),
            })
        }
    };
    Ok(crate::pipeline::RunExtras { shard, checkpoint })
}

/// The options of a command line that change what is written or how it is counted.
fn counted_options(c: &crate::cli::Cli) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            m.insert(k.to_string(), v);
        }
    };
    put("namespace", c.namespace.clone());
    put("target-namespace", c.target_namespace.clone());
    put("set-list", c.set_list.clone());
    put("bin-list", c.bin_list.clone());
    put(
        "extra-ttl",
        (c.extra_ttl != 0).then(|| c.extra_ttl.to_string()),
    );
    for (k, on) in [
        ("unique", c.unique),
        ("replace", c.replace),
        ("no-generation", c.no_generation),
        ("ignore-record-error", c.ignore_record_error),
        ("no-records", c.no_records),
        ("no-indexes", c.no_indexes),
        ("no-udfs", c.no_udfs),
    ] {
        put(k, on.then(|| "true".to_string()));
    }
    m
}

/// Why sharding or resuming cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The state could not be read or written.
    #[error("resume state {place}: {message}")]
    Store {
        /// Where the state lives.
        place: String,
        /// What failed.
        message: String,
    },
    /// The state belongs to another backup or other options.
    #[error(
        "resume state {place} does not match this restore: {what}; remove it to start from \
         the beginning"
    )]
    Mismatch {
        /// Where the state lives.
        place: String,
        /// What differs.
        what: String,
    },
    /// `--shard`, `--shard-count` or `--resume` cannot be honoured as given.
    #[error("{0}")]
    Usage(String),
}

/// Which part of a listing this process restores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// 0-based index.
    pub index: u32,
    /// Number of shards (>= 1).
    pub count: u32,
}

impl Shard {
    /// Parses `INDEX/COUNT`.
    pub fn parse(s: &str) -> Result<Shard, CheckpointError> {
        let bad = || {
            CheckpointError::Usage(format!(
                "invalid --shard {s:?}: expected INDEX/COUNT with 0 <= INDEX < COUNT"
            ))
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index = i.trim().parse().map_err(|_| bad())?;
        let count = n.trim().parse().map_err(|_| bad())?;
        Shard::new(index, count).ok_or_else(bad)
    }

    /// A shard when `index < count`.
    pub fn new(index: u32, count: u32) -> Option<Shard> {
        (count > 0 && index < count).then_some(Shard { index, count })
    }

    /// From the flags: `--shard I/N`, or `--shard-count N` with `I` from `JOB_COMPLETION_INDEX`
    /// (`job_index`). `None` without either flag.
    pub fn from_args(
        args: &ResumeArgs,
        job_index: Option<String>,
    ) -> Result<Option<Shard>, CheckpointError> {
        if let Some(s) = &args.shard {
            return Shard::parse(s).map(Some);
        }
        let Some(count) = args.shard_count else {
            return Ok(None);
        };
        let raw = job_index.ok_or_else(|| {
            CheckpointError::Usage(
                "--shard-count needs JOB_COMPLETION_INDEX in the environment (or use --shard \
                 INDEX/COUNT)"
                    .into(),
            )
        })?;
        let index: u32 = raw.trim().parse().map_err(|_| {
            CheckpointError::Usage(format!("JOB_COMPLETION_INDEX={raw:?} is not a number"))
        })?;
        Shard::new(index, count).map(Some).ok_or_else(|| {
            CheckpointError::Usage(format!(
                "JOB_COMPLETION_INDEX={index} is not below --shard-count {count}"
            ))
        })
    }

    /// Whether the file at `position` of the sorted listing belongs to this shard.
    pub fn owns(&self, position: usize) -> bool {
        position as u64 % u64::from(self.count) == u64::from(self.index)
    }

    /// Whether this shard restores the backup's indexes and UDFs (shard 0).
    pub fn restores_globals(&self) -> bool {
        self.index == 0
    }
}

/// Per-outcome counters of a span of records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Record entities.
    pub records: u64,
    /// Expired.
    pub expired: u64,
    /// Skipped by filters.
    pub skipped: u64,
    /// Ignored record errors.
    pub ignored: u64,
    /// Inserted.
    pub inserted: u64,
    /// Existed.
    pub existed: u64,
    /// Fresher.
    pub fresher: u64,
}

impl FileState {
    /// The counters of everything answered: the prefix and the spans ahead of it.
    pub fn answered(&self) -> Counts {
        let mut c = self.counts;
        for a in &self.ahead {
            c.add(&a.counts);
        }
        c
    }
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.records += o.records;
        self.expired += o.expired;
        self.skipped += o.skipped;
        self.ignored += o.ignored;
        self.inserted += o.inserted;
        self.existed += o.existed;
        self.fresher += o.fresher;
    }

    /// The write outcomes counted in `c` (a batch's own counters).
    pub fn outcomes_of(c: &Counters) -> Counts {
        Counts {
            ignored: c.ignored.load(Relaxed),
            inserted: c.inserted.load(Relaxed),
            existed: c.existed.load(Relaxed),
            fresher: c.fresher.load(Relaxed),
            ..Counts::default()
        }
    }

    /// Adds these counts to the run's counters.
    pub fn add_to(&self, c: &Counters) {
        c.records.fetch_add(self.records, Relaxed);
        c.expired.fetch_add(self.expired, Relaxed);
        c.skipped.fetch_add(self.skipped, Relaxed);
        c.ignored.fetch_add(self.ignored, Relaxed);
        c.inserted.fetch_add(self.inserted, Relaxed);
        c.existed.fetch_add(self.existed, Relaxed);
        c.fresher.fetch_add(self.fresher, Relaxed);
    }
}

/// Index and UDF counters, recorded once every global item of the run is restored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalCounts {
    /// Index lines read.
    pub indexes: u64,
    /// Of them, skipped for their set.
    pub skipped_indexes: u64,
    /// Already present and identical.
    pub matched_indexes: u64,
    /// Present with another definition.
    pub mismatched_indexes: u64,
    /// UDFs.
    pub udfs: u64,
}

impl GlobalCounts {
    /// The global counters of `c`.
    pub fn of(c: &Counters) -> GlobalCounts {
        GlobalCounts {
            indexes: c.indexes.load(Relaxed),
            skipped_indexes: c.skipped_indexes.load(Relaxed),
            matched_indexes: c.matched_indexes.load(Relaxed),
            mismatched_indexes: c.mismatched_indexes.load(Relaxed),
            udfs: c.udfs.load(Relaxed),
        }
    }

    /// Adds these counts to `c`.
    pub fn add_to(&self, c: &Counters) {
        c.indexes.fetch_add(self.indexes, Relaxed);
        c.skipped_indexes.fetch_add(self.skipped_indexes, Relaxed);
        c.matched_indexes.fetch_add(self.matched_indexes, Relaxed);
        c.mismatched_indexes
            .fetch_add(self.mismatched_indexes, Relaxed);
        c.udfs.fetch_add(self.udfs, Relaxed);
    }
}

/// The progress of one backup file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileState {
    /// The input as named in the listing.
    pub name: String,
    /// Its size when known (checked on resume).
    pub size: Option<u64>,
    /// Record entities of the acknowledged prefix.
    pub acked_records: u64,
    /// Uncompressed offset just after the prefix's last record (checked on resume).
    pub acked_offset: u64,
    /// Counters of the prefix.
    pub counts: Counts,
    /// Spans answered beyond the prefix (a gap before them was not answered yet), by start;
    /// a resumed run skips them too.
    #[serde(default)]
    pub ahead: Vec<AnsweredSpan>,
    /// Every record of the file is accounted for.
    pub done: bool,
    /// Uncompressed bytes of the whole file (when done).
    pub bytes: u64,
    /// Bytes read from the source (when done).
    pub source_bytes: u64,
}

/// A span of ordinals answered beyond a file's acknowledged prefix.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnsweredSpan {
    /// First ordinal.
    pub start: u64,
    /// One past the last ordinal.
    pub end: u64,
    /// Uncompressed offset after its last record.
    pub end_offset: u64,
    /// Its counters.
    pub counts: Counts,
}

/// What a state belongs to; a resume refuses a state whose identity differs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The files this process restores, in order.
    pub files: Vec<String>,
    /// The shard, if any.
    pub shard: Option<Shard>,
    /// Options that change what is written or how it is counted (namespace mapping, filters,
    /// write policy), as given.
    pub options: BTreeMap<String, String>,
}

/// The whole resume state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// [`STATE_VERSION`].
    pub version: u32,
    /// What the state belongs to.
    pub identity: Identity,
    /// Per file, in the order of `identity.files`.
    pub files: Vec<FileState>,
    /// Every index and UDF of the run was restored (then they are not restored again).
    pub globals_done: bool,
    /// Counters of the global items (when `globals_done`).
    pub globals: GlobalCounts,
}

impl State {
    /// A fresh state for `identity`.
    pub fn new(identity: Identity) -> State {
        let files = identity
            .files
            .iter()
            .map(|name| FileState {
                name: name.clone(),
                ..FileState::default()
            })
            .collect();
        State {
            version: STATE_VERSION,
            identity,
            files,
            globals_done: false,
            globals: GlobalCounts::default(),
        }
    }

    /// Checks that this (loaded) state belongs to `identity`.
    pub fn check(&self, identity: &Identity, place: &str) -> Result<(), CheckpointError> {
        let mismatch = |what: String| CheckpointError::Mismatch {
            place: place.to_string(),
            what,
        };
        if self.version != STATE_VERSION {
            return Err(mismatch(format!(
                "state version {} (this restorer writes {STATE_VERSION})",
                self.version
            )));
        }
        if self.identity.files != identity.files {
            return Err(mismatch(format!(
                "it lists the files {:?}, this restore reads {:?}",
                self.identity.files, identity.files
            )));
        }
        if self.identity.shard != identity.shard {
            return Err(mismatch(format!(
                "it was written by shard {:?}, this is shard {:?}",
                self.identity.shard, identity.shard
            )));
        }
        if self.identity.options != identity.options {
            let keys: std::collections::BTreeSet<&String> = self
                .identity
                .options
                .keys()
                .chain(identity.options.keys())
                .collect();
            let diff: Vec<String> = keys
                .into_iter()
                .filter(|k| self.identity.options.get(*k) != identity.options.get(*k))
                .map(|k| {
                    format!(
                        "{k}: {:?} then, {:?} now",
                        self.identity.options.get(k),
                        identity.options.get(k)
                    )
                })
                .collect();
            return Err(mismatch(format!("options differ ({})", diff.join("; "))));
        }
        if self.files.len() != identity.files.len() {
            return Err(mismatch("its file list is inconsistent".into()));
        }
        Ok(())
    }
}

/// Where a [`State`] is kept. A file today (`--resume`); the Kubernetes restore status (one
/// entry per pod index) can implement the same interface.
pub trait StateStore: Send + Sync {
    /// The saved state, `None` when there is none yet.
    fn load(&self) -> BoxFuture<'_, Result<Option<State>, CheckpointError>>;
    /// Replaces the saved state (atomically: a reader sees the old or the new one).
    fn save(&self, state: State) -> BoxFuture<'_, Result<(), CheckpointError>>;
    /// Where the state lives, for messages.
    fn place(&self) -> String;
}

/// A JSON file, replaced by writing a temporary file beside it and renaming it over.
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    /// A store at `path`.
    pub fn new(path: PathBuf) -> Self {
        FileStore { path }
    }

    fn err(&self, message: String) -> CheckpointError {
        CheckpointError::Store {
            place: self.place(),
            message,
        }
    }
}

impl StateStore for FileStore {
    fn load(&self) -> BoxFuture<'_, Result<Option<State>, CheckpointError>> {
        Box::pin(async move {
            let text = match tokio::fs::read(&self.path).await {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(self.err(e.to_string())),
            };
            serde_json::from_slice(&text)
                .map(Some)
                .map_err(|e| self.err(format!("not a resume state: {e}")))
        })
    }

    fn save(&self, state: State) -> BoxFuture<'_, Result<(), CheckpointError>> {
        Box::pin(async move {
            let json = serde_json::to_vec_pretty(&state).map_err(|e| self.err(e.to_string()))?;
            let mut tmp = self.path.clone().into_os_string();
            tmp.push(format!(".tmp.{}", std::process::id()));
            let tmp = PathBuf::from(tmp);
            tokio::fs::write(&tmp, &json)
                .await
                .map_err(|e| self.err(format!("writing {}: {e}", tmp.display())))?;
            tokio::fs::rename(&tmp, &self.path)
                .await
                .map_err(|e| self.err(format!("renaming {}: {e}", tmp.display())))
        })
    }

    fn place(&self) -> String {
        self.path.display().to_string()
    }
}

/// A run of consecutive record ordinals of one file, sent as one batch (or decided locally).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Index of the file in the state.
    pub file: usize,
    /// First ordinal.
    pub start: u64,
    /// One past the last ordinal.
    pub end: u64,
    /// Uncompressed offset just after the span's last record.
    pub end_offset: u64,
    /// Records of the span decided without a write.
    pub expired: u64,
    /// Records of the span skipped by filters.
    pub skipped: u64,
}

struct FileProgress {
    state: FileState,
    /// Answered spans beyond the prefix, by start.
    ahead: BTreeMap<u64, (Span, Counts)>,
}

impl FileProgress {
    fn to_state(&self) -> FileState {
        FileState {
            ahead: self
                .ahead
                .values()
                .map(|(sp, c)| AnsweredSpan {
                    start: sp.start,
                    end: sp.end,
                    end_offset: sp.end_offset,
                    counts: *c,
                })
                .collect(),
            ..self.state.clone()
        }
    }
}

/// The live progress of a run: spans answered so far, folded into per-file prefixes.
pub struct Progress {
    inner: Mutex<Inner>,
}

struct Inner {
    state: State,
    files: Vec<FileProgress>,
    /// Position of a file name in the state (for the pipeline's lookups).
    index: HashMap<String, usize>,
}

impl Progress {
    /// Progress starting from `state` (fresh or loaded).
    pub fn new(state: State) -> Arc<Self> {
        let files = state
            .files
            .iter()
            .map(|f| FileProgress {
                state: FileState {
                    ahead: Vec::new(),
                    ..f.clone()
                },
                ahead: f
                    .ahead
                    .iter()
                    .map(|a| {
                        let span = Span {
                            file: 0,
                            start: a.start,
                            end: a.end,
                            end_offset: a.end_offset,
                            expired: a.counts.expired,
                            skipped: a.counts.skipped,
                        };
                        (a.start, (span, a.counts))
                    })
                    .collect(),
            })
            .collect();
        let index = state
            .identity
            .files
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        Arc::new(Progress {
            inner: Mutex::new(Inner {
                state,
                files,
                index,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The state's index of a file.
    pub fn file_index(&self, name: &str) -> Option<usize> {
        self.lock().index.get(name).copied()
    }

    /// The recorded progress of file `i`.
    pub fn file(&self, i: usize) -> Option<FileState> {
        self.lock().files.get(i).map(FileProgress::to_state)
    }

    /// Whether the run's indexes and UDFs were all restored.
    pub fn globals_done(&self) -> bool {
        self.lock().state.globals_done
    }

    /// Records that every record of `span` is answered, with the write outcomes `outcomes`.
    pub fn complete(&self, span: Span, outcomes: Counts) {
        let mut g = self.lock();
        let Some(f) = g.files.get_mut(span.file) else {
            return;
        };
        let mut counts = outcomes;
        counts.records = span.end - span.start;
        counts.expired = span.expired;
        counts.skipped = span.skipped;
        if span.start != f.state.acked_records {
            f.ahead.insert(span.start, (span, counts));
            return;
        }
        let mut next = Some((span, counts));
        while let Some((s, c)) = next {
            f.state.acked_records = s.end;
            f.state.acked_offset = s.end_offset;
            f.state.counts.add(&c);
            next = f.ahead.remove(&s.end);
        }
    }

    /// Records the size of file `i` as opened; `Err` when a loaded state says otherwise.
    pub fn check_size(
        &self,
        i: usize,
        size: Option<u64>,
        place: &str,
    ) -> Result<(), CheckpointError> {
        let mut g = self.lock();
        let Some(f) = g.files.get_mut(i) else {
            return Ok(());
        };
        let started = f.state.acked_records > 0 || f.state.done;
        match (f.state.size, size) {
            (Some(was), Some(now)) if started && was != now => Err(CheckpointError::Mismatch {
                place: place.to_string(),
                what: format!("{} had {was} bytes, it has {now} now", f.state.name),
            }),
            _ => {
                f.state.size = size;
                Ok(())
            }
        }
    }

    /// Marks file `i` as done: every record accounted for.
    pub fn file_done(&self, i: usize, bytes: u64, source_bytes: u64) {
        let mut g = self.lock();
        if let Some(f) = g.files.get_mut(i)
            && f.ahead.is_empty()
        {
            f.state.done = true;
            f.state.bytes = bytes;
            f.state.source_bytes = source_bytes;
        }
    }

    /// Marks the run's indexes and UDFs as restored, with their counters.
    pub fn globals_finished(&self, counts: GlobalCounts) {
        let mut g = self.lock();
        g.state.globals_done = true;
        g.state.globals = counts;
    }

    /// The state to save now.
    pub fn snapshot(&self) -> State {
        let g = self.lock();
        let mut s = g.state.clone();
        s.files = g.files.iter().map(FileProgress::to_state).collect();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: u64, end: u64) -> Span {
        Span {
            file: 0,
            start,
            end,
            end_offset: end * 10,
            expired: 0,
            skipped: 0,
        }
    }

    fn ins(n: u64) -> Counts {
        Counts {
            inserted: n,
            ..Counts::default()
        }
    }

    fn progress() -> Arc<Progress> {
        Progress::new(State::new(Identity {
            files: vec!["a.asb".into()],
            ..Identity::default()
        }))
    }

    #[test]
    fn prefix_advances_only_over_contiguous_answered_spans() {
        let p = progress();
        p.complete(span(10, 20), ins(10));
        p.complete(span(30, 40), ins(10));
        assert_eq!(p.file(0).map(|f| f.acked_records), Some(0));
        p.complete(span(0, 10), ins(10));
        let f = p.file(0).unwrap();
        assert_eq!(
            (f.acked_records, f.acked_offset, f.counts.inserted),
            (20, 200, 20)
        );
        p.complete(span(20, 30), ins(9));
        let f = p.file(0).unwrap();
        assert_eq!(
            (f.acked_records, f.counts.inserted, f.counts.records),
            (40, 39, 40)
        );
        p.file_done(0, 400, 100);
        assert!(p.snapshot().files[0].done);
    }

    #[test]
    fn spans_ahead_survive_a_save_and_close_the_gap_after_a_restart() {
        let p = progress();
        p.complete(span(0, 10), ins(10));
        p.complete(span(20, 30), ins(10));
        let saved = p.snapshot();
        assert_eq!(saved.files[0].ahead.len(), 1);
        assert_eq!(saved.files[0].answered().inserted, 20);
        let q = Progress::new(saved);
        q.complete(span(10, 20), ins(10));
        let f = q.snapshot().files[0].clone();
        assert_eq!(
            (f.acked_records, f.counts.inserted, f.ahead.len()),
            (30, 30, 0)
        );
    }

    #[test]
    fn a_file_with_answers_ahead_of_a_gap_is_not_done() {
        let p = progress();
        p.complete(span(10, 20), ins(10));
        p.file_done(0, 200, 50);
        assert!(!p.snapshot().files[0].done);
    }

    #[test]
    fn shard_flags() {
        assert_eq!(Shard::parse("1/4").unwrap(), Shard { index: 1, count: 4 });
        assert!(Shard::parse("4/4").is_err());
        assert!(Shard::parse("1").is_err());
        let args = ResumeArgs {
            shard_count: Some(3),
            ..ResumeArgs::default()
        };
        assert_eq!(
            Shard::from_args(&args, Some("2".into())).unwrap(),
            Some(Shard { index: 2, count: 3 })
        );
        assert!(Shard::from_args(&args, None).is_err());
        assert!(Shard::from_args(&args, Some("3".into())).is_err());
        let s = Shard { index: 1, count: 2 };
        assert_eq!(
            (0..5).filter(|&p| s.owns(p)).collect::<Vec<_>>(),
            vec![1, 3]
        );
    }

    #[test]
    fn a_state_of_other_options_is_refused_with_the_difference() {
        let mut id = Identity {
            files: vec!["a.asb".into()],
            ..Identity::default()
        };
        id.options.insert("set-list".into(), "x".into());
        let s = State::new(id.clone());
        assert!(s.check(&id, "st").is_ok());
        let mut other = id.clone();
        other.options.insert("set-list".into(), "y".into());
        let e = s.check(&other, "st").unwrap_err().to_string();
        assert!(
            e.contains("set-list") && e.contains("\"x\"") && e.contains("\"y\""),
            "{e}"
        );
        let mut files = id;
        files.files.push("b.asb".into());
        assert!(
            s.check(&files, "st")
                .unwrap_err()
                .to_string()
                .contains("files")
        );
    }

    #[tokio::test]
    async fn file_store_round_trip_and_missing_file() {
        let dir = std::env::temp_dir().join(format!("ckpt-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = FileStore::new(dir.join("state.json"));
        assert!(store.load().await.unwrap().is_none());
        let p = progress();
        p.complete(span(0, 5), ins(5));
        store.save(p.snapshot()).await.unwrap();
        assert_eq!(store.load().await.unwrap(), Some(p.snapshot()));
        std::fs::write(dir.join("state.json"), b"{").unwrap();
        assert!(store.load().await.is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
