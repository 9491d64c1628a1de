//! `-m/--machine PATH`: asrestore's machine-readable status lines, appended to a file or
//! written to a FIFO (opening a FIFO waits for its reader, as asrestore does):
//!
//! ```text
//! PROGRESS:<percent>
//! REMAINING:<eta, e.g. 1h2m3s>
//! SUMMARY:<udfs>:<indexes>:<records>:<expired>:<skipped>:<ignored> :<inserted>:<existed>:<fresher>
//! ```
//!
//! PROGRESS/REMAINING pairs come every second (when the input size is known) and
//! once at the end; SUMMARY comes last. The space before the seventh field is asrestore's.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use crate::stats::Snapshot;

/// An open `--machine` output.
#[derive(Debug)]
pub struct Machine {
    out: Mutex<std::fs::File>,
}

/// `1d2h3m4s` with leading zero units left out; `0s` for nothing left.
pub fn format_eta(d: Duration) -> String {
    let mut s = d.as_secs();
    let mut out = String::new();
    for (unit, size) in [('d', 86_400), ('h', 3_600), ('m', 60)] {
        if s >= size || !out.is_empty() {
            out.push_str(&format!("{}{unit}", s / size));
            s %= size;
        }
    }
    out.push_str(&format!("{s}s"));
    out
}

/// `SUMMARY:...` for the final counters.
pub fn summary_line(s: &Snapshot) -> String {
    format!(
        "SUMMARY:{}:{}:{}:{}:{}:{} :{}:{}:{}",
        s.udfs,
        s.indexes,
        s.records,
        s.expired,
        s.skipped,
        s.ignored,
        s.inserted,
        s.existed,
        s.fresher
    )
}

/// `PROGRESS:<pct>\nREMAINING:<eta>` when the size of the inputs is known.
pub fn progress_lines(s: &Snapshot, elapsed: Duration) -> Option<String> {
    let (pct, eta) = s.percent_eta(elapsed)?;
    Some(format!(
        "PROGRESS:{}\nREMAINING:{}",
        pct.floor() as u64,
        format_eta(eta)
    ))
}

impl Machine {
    /// Opens `path` for appending (created if missing; a FIFO blocks until read).
    pub fn open(path: &Path) -> std::io::Result<Machine> {
        let f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)?;
        Ok(Machine { out: Mutex::new(f) })
    }

    fn line(&self, text: &str) {
        let mut f = self.out.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = writeln!(f, "{text}").and_then(|()| f.flush()) {
            tracing::warn!("cannot write the machine-readable status: {e}");
        }
    }

    /// The progress pair, when the input size is known.
    pub fn progress(&self, s: &Snapshot, elapsed: Duration) {
        if let Some(l) = progress_lines(s, elapsed) {
            self.line(&l);
        }
    }

    /// The final SUMMARY line.
    pub fn summary(&self, s: &Snapshot) {
        self.line(&summary_line(s));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_units() {
        assert_eq!(format_eta(Duration::ZERO), "0s");
        assert_eq!(format_eta(Duration::from_secs(59)), "59s");
        assert_eq!(format_eta(Duration::from_secs(61)), "1m1s");
        assert_eq!(format_eta(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(format_eta(Duration::from_secs(90_061)), "1d1h1m1s");
    }

    #[test]
    fn summary_in_asrestore_field_order() {
        let s = Snapshot {
            udfs: 1,
            indexes: 2,
            records: 15,
            expired: 3,
            skipped: 5,
            ignored: 0,
            inserted: 0,
            existed: 7,
            fresher: 0,
            ..Default::default()
        };
        assert_eq!(summary_line(&s), "SUMMARY:1:2:15:3:5:0 :0:7:0");
    }
}
