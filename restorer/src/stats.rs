//! Counters with asrestore's meanings (format §4.5), progress lines and the final summary.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use serde::Serialize;

/// Live counters shared by every stage (all relaxed atomics).
#[derive(Debug, Default)]
pub struct Counters {
    /// Records decoded and decided (expired, skipped or queued); parsed records in validate mode.
    pub records: AtomicU64,
    /// Records whose void time had passed.
    pub expired: AtomicU64,
    /// Records with no bins left, or with a set outside `--set-list`.
    pub skipped: AtomicU64,
    /// Records that failed with an ignorable record error.
    pub ignored: AtomicU64,
    /// Records written.
    pub inserted: AtomicU64,
    /// Records that existed (`--unique`).
    pub existed: AtomicU64,
    /// Records the server had at the same or a newer generation.
    pub fresher: AtomicU64,
    /// Retried write transactions.
    pub retries: AtomicU64,
    /// Record writes whose outcome was unknown (a timeout or a connection lost after the
    /// request was sent), as absctl counts them; each such record was then written again.
    pub errors_in_doubt: AtomicU64,
    /// UDF files registered (or counted).
    pub udfs: AtomicU64,
    /// Secondary index lines read (those of sets outside `--set-list` included, as asrestore
    /// counts them), unless `--no-indexes`.
    pub indexes: AtomicU64,
    /// Indexes skipped because their set is not in `--set-list`.
    pub skipped_indexes: AtomicU64,
    /// Indexes already present with the same definition.
    pub matched_indexes: AtomicU64,
    /// Indexes present with another definition (dropped and recreated).
    pub mismatched_indexes: AtomicU64,
    /// Uncompressed backup bytes parsed.
    pub bytes: AtomicU64,
    /// Compressed (source) bytes read, for the percentage.
    pub source_bytes: AtomicU64,
    /// Total size of the inputs opened so far.
    pub source_total: AtomicU64,
    /// Some input's size is unknown (standard input): no percentage.
    pub size_unknown: AtomicBool,
    /// Nanoseconds parse threads were blocked because every queued batch was still waiting for a
    /// write slot (backpressure: the cluster is the bottleneck).
    pub parser_waited_ns: AtomicU64,
    /// Nanoseconds dispatchers waited for the next batch while a write slot was free, after
    /// their first batch (the writers waiting on parsing).
    pub writers_waited_ns: AtomicU64,
    /// Bytes of the records being written right now ([`crate::budget::record_bytes`]),
    /// counted by the writer tasks.
    pub write_bytes: AtomicU64,
    /// The most bytes of records being written at once.
    pub peak_write_bytes: AtomicU64,
    /// Bytes of the largest batch written.
    pub largest_batch_bytes: AtomicU64,
    /// Indexes created or found present, as (namespace, name), for `--wait`.
    pub restored_indexes: Mutex<Vec<(String, String)>>,
    /// UDF modules registered, for `--wait`.
    pub restored_udfs: Mutex<Vec<String>>,
}

/// Adds one to a counter.
pub fn inc(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

/// A consistent-enough copy of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// See [`Counters::records`].
    pub records: u64,
    /// See [`Counters::expired`].
    pub expired: u64,
    /// See [`Counters::skipped`].
    pub skipped: u64,
    /// See [`Counters::ignored`].
    pub ignored: u64,
    /// See [`Counters::inserted`].
    pub inserted: u64,
    /// See [`Counters::existed`].
    pub existed: u64,
    /// See [`Counters::fresher`].
    pub fresher: u64,
    /// See [`Counters::retries`].
    pub retries: u64,
    /// See [`Counters::errors_in_doubt`].
    pub errors_in_doubt: u64,
    /// See [`Counters::udfs`].
    pub udfs: u64,
    /// See [`Counters::indexes`].
    pub indexes: u64,
    /// See [`Counters::skipped_indexes`].
    pub skipped_indexes: u64,
    /// See [`Counters::matched_indexes`].
    pub matched_indexes: u64,
    /// See [`Counters::mismatched_indexes`].
    pub mismatched_indexes: u64,
    /// See [`Counters::bytes`].
    pub bytes: u64,
    /// See [`Counters::source_bytes`].
    pub source_bytes: u64,
    /// See [`Counters::source_total`] (0 = unknown).
    pub source_total: u64,
}

impl Counters {
    /// Notes an index present after the restore (for `--wait`).
    pub fn note_index(&self, namespace: &str, name: &str) {
        self.restored_indexes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((namespace.to_string(), name.to_string()));
    }

    /// Notes a registered UDF module (for `--wait`).
    pub fn note_udf(&self, name: &str) {
        self.restored_udfs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(name.to_string());
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            records: self.records.load(Relaxed),
            expired: self.expired.load(Relaxed),
            skipped: self.skipped.load(Relaxed),
            ignored: self.ignored.load(Relaxed),
            inserted: self.inserted.load(Relaxed),
            existed: self.existed.load(Relaxed),
            fresher: self.fresher.load(Relaxed),
            retries: self.retries.load(Relaxed),
            errors_in_doubt: self.errors_in_doubt.load(Relaxed),
            udfs: self.udfs.load(Relaxed),
            indexes: self.indexes.load(Relaxed),
            skipped_indexes: self.skipped_indexes.load(Relaxed),
            matched_indexes: self.matched_indexes.load(Relaxed),
            mismatched_indexes: self.mismatched_indexes.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            source_bytes: self.source_bytes.load(Relaxed),
            source_total: if self.size_unknown.load(Relaxed) {
                0
            } else {
                self.source_total.load(Relaxed)
            },
        }
    }
}

impl Snapshot {
    /// `failed` as asrestore prints it: existed + fresher.
    pub fn failed(&self) -> u64 {
        self.existed + self.fresher
    }

    /// Records decided but not yet answered by the server (or still in flight).
    pub fn unaccounted(&self) -> u64 {
        let done = self.expired + self.skipped + self.ignored + self.inserted + self.failed();
        self.records.saturating_sub(done)
    }

    /// `Expired 0 : skipped 0 : inserted 1000000 : failed 0 (existed 0, fresher 0) : errors
    /// in doubt 0` (asrestore's line, then absctl's in-doubt count).
    pub fn summary_line(&self) -> String {
        format!(
            "Expired {} : skipped {} : inserted {} : failed {} (existed {}, fresher {}) : errors in doubt {}",
            self.expired,
            self.skipped,
            self.inserted,
            self.failed(),
            self.existed,
            self.fresher,
            self.errors_in_doubt
        )
    }

    /// `<u> UDF file(s), <i> secondary index(es), <n> record(s) (<r> rec/s, <k> KiB/s, <b> B/rec, retries: <t>)`.
    pub fn totals_line(&self, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64().max(1e-3);
        let per_rec = self.bytes.checked_div(self.records).unwrap_or(0);
        format!(
            "{} UDF file(s), {} secondary index(es), {} record(s) ({:.0} rec/s, {:.0} KiB/s, {} B/rec, retries: {})",
            self.udfs,
            self.indexes,
            self.records,
            self.records as f64 / secs,
            self.bytes as f64 / 1024.0 / secs,
            per_rec,
            self.retries
        )
    }

    /// A progress line: records, rec/s and MiB/s since `prev`, and percent and ETA when the
    /// source size is known.
    pub fn progress_line(&self, prev: &Snapshot, interval: Duration, elapsed: Duration) -> String {
        let secs = interval.as_secs_f64().max(1e-3);
        let rate = self.records.saturating_sub(prev.records) as f64 / secs;
        let mib = self.bytes.saturating_sub(prev.bytes) as f64 / (1024.0 * 1024.0) / secs;
        let mut line = format!(
            "{} record(s), {:.0} rec/s, {:.1} MiB/s, inserted {}, expired {}, skipped {}, failed {}, ignored {}, retries {}",
            self.records,
            rate,
            mib,
            self.inserted,
            self.expired,
            self.skipped,
            self.failed(),
            self.ignored,
            self.retries
        );
        if let Some((pct, eta)) = self.percent_eta(elapsed) {
            line.push_str(&format!(
                ", {pct:.0}% complete, ~{}s remaining",
                eta.as_secs()
            ));
        }
        line
    }

    /// Percentage of the source read and the estimated time left, when the size is known.
    pub fn percent_eta(&self, elapsed: Duration) -> Option<(f64, Duration)> {
        if self.source_total == 0 || self.source_bytes == 0 {
            return None;
        }
        let frac = (self.source_bytes as f64 / self.source_total as f64).min(1.0);
        let eta = elapsed.as_secs_f64() * (1.0 - frac) / frac;
        Some((frac * 100.0, Duration::from_secs_f64(eta)))
    }
}

/// Interval of the progress lines.
pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(10);

/// The progress interval: [`PROGRESS_INTERVAL`], or `RESTORER_PROGRESS_MS` milliseconds (tests).
pub fn progress_interval() -> Duration {
    std::env::var("RESTORER_PROGRESS_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&ms| ms > 0)
        .map_or(PROGRESS_INTERVAL, Duration::from_millis)
}

/// Logs a progress line every [`progress_interval`]; with `bar`, also draws a progress bar on
/// stderr (for terminals); with `RESTORE_STATUS_REPORT` set, also reports the same figures into
/// the restore's status (status_report.rs). Abort the returned task to stop it.
pub fn spawn_progress(
    counters: std::sync::Arc<Counters>,
    start: std::time::Instant,
    bar: bool,
) -> tokio::task::JoinHandle<()> {
    let every = progress_interval();
    tokio::spawn(async move {
        let pb = bar.then(|| {
            let pb = indicatif::ProgressBar::new(0);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
            ) {
                pb.set_style(style);
            }
            pb
        });
        let tick = if bar {
            every.min(Duration::from_millis(500))
        } else {
            every
        };
        let mut prev = Snapshot::default();
        let mut last_line = start;
        let mut report = crate::status_report::Background::from_env();
        let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
        loop {
            interval.tick().await;
            let s = counters.snapshot();
            if let Some(pb) = &pb {
                pb.set_length(s.source_total);
                pb.set_position(s.source_bytes);
                pb.set_message(format!("{} records", s.records));
            }
            if last_line.elapsed() >= every {
                let line = s.progress_line(&prev, last_line.elapsed(), start.elapsed());
                if let Some(r) = report.as_mut() {
                    r.tick(crate::status_report::Progress::new(
                        &s,
                        &prev,
                        last_line.elapsed(),
                        start.elapsed(),
                    ));
                }
                match &pb {
                    Some(pb) => pb.suspend(|| tracing::info!("{line}")),
                    None => tracing::info!("{line}"),
                }
                prev = s;
                last_line = std::time::Instant::now();
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_line_has_the_grepped_shape() {
        let s = Snapshot {
            inserted: 1_000_000,
            records: 1_000_000,
            ..Default::default()
        };
        assert_eq!(
            s.summary_line(),
            "Expired 0 : skipped 0 : inserted 1000000 : failed 0 (existed 0, fresher 0) : errors in doubt 0"
        );
        let s = Snapshot {
            expired: 1,
            skipped: 2,
            inserted: 3,
            existed: 4,
            fresher: 5,
            errors_in_doubt: 6,
            ..Default::default()
        };
        assert_eq!(
            s.summary_line(),
            "Expired 1 : skipped 2 : inserted 3 : failed 9 (existed 4, fresher 5) : errors in doubt 6"
        );
    }

    #[test]
    fn unaccounted_counts_records_without_an_answer() {
        let s = Snapshot {
            records: 10,
            expired: 1,
            skipped: 1,
            ignored: 1,
            inserted: 4,
            existed: 1,
            fresher: 1,
            ..Default::default()
        };
        assert_eq!(s.unaccounted(), 1);
    }

    #[test]
    fn percent_and_eta_need_a_size() {
        let mut s = Snapshot {
            source_bytes: 25,
            ..Default::default()
        };
        assert!(s.percent_eta(Duration::from_secs(10)).is_none());
        s.source_total = 100;
        let (pct, eta) = s.percent_eta(Duration::from_secs(10)).unwrap();
        assert_eq!(pct.round(), 25.0);
        assert_eq!(eta.as_secs(), 30);
        let line = s.progress_line(
            &Snapshot::default(),
            Duration::from_secs(10),
            Duration::from_secs(10),
        );
        assert!(line.contains("25% complete, ~30s remaining"), "{line}");
    }

    #[test]
    fn totals_line_shape() {
        let s = Snapshot {
            udfs: 1,
            indexes: 2,
            records: 10,
            bytes: 10 * 1024,
            retries: 3,
            ..Default::default()
        };
        assert_eq!(
            s.totals_line(Duration::from_secs(1)),
            "1 UDF file(s), 2 secondary index(es), 10 record(s) (10 rec/s, 10 KiB/s, 1024 B/rec, retries: 3)"
        );
    }
}
