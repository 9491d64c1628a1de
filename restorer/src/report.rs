//! Log output (`--log-format text|logfmt|json`) and the Job's termination message (DESIGN §4).

use std::fmt;
use std::io::{IsTerminal, Write};
use std::path::Path;

use serde::Serialize;
use tracing::{Event, Subscriber, field::Field};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, fmt as tfmt};

use crate::cli::LogFormat;
use crate::stats::Snapshot;

/// Installs the global subscriber writing to stderr in the chosen format.
pub fn init_logging(format: LogFormat, verbose: bool) {
    let filter = EnvFilter::try_from_env("RESTORER_LOG").unwrap_or_else(|_| {
        EnvFilter::new(if verbose {
            "info,restorer=debug"
        } else {
            "info,aerospike=warn,aerospike_core=warn"
        })
    });
    let ansi = ansi_wanted(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let builder = tfmt()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_env_filter(filter);
    let _ = match format {
        LogFormat::Text => builder.with_target(false).try_init(),
        LogFormat::Json => builder.json().with_current_span(false).try_init(),
        LogFormat::Logfmt => builder.event_format(Logfmt).try_init(),
    };
}

/// Colours only on a terminal, and not when `NO_COLOR` is set (and not empty). Logs to a pipe
/// or a file (a Job's log) stay plain text in every format: the JSON and logfmt writers never
/// colour, and control characters inside messages are escaped by every format
/// (`tests/log_output.rs` checks all three for ESC bytes).
fn ansi_wanted(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// `time="2018-07-02T15:52:48Z" level=info msg="restore is starting" key=value ...`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Logfmt;

/// Quotes a logfmt value when needed.
pub fn logfmt_value(v: &str) -> String {
    if !v.is_empty() && !v.contains(|c: char| c == ' ' || c == '"' || c == '=' || c.is_control()) {
        return v.to_string();
    }
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            c if c.is_control() => s.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

#[derive(Default)]
struct Fields {
    msg: String,
    rest: Vec<(String, String)>,
}

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.msg = value.to_string();
        } else {
            self.rest
                .push((field.name().to_string(), value.to_string()));
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut f = Fields::default();
        event.record(&mut f);
        let time = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ");
        let level = event.metadata().level().as_str().to_ascii_lowercase();
        let level = if level == "warn" {
            "warning".to_string()
        } else {
            level
        };
        write!(w, "time=\"{time}\" level={level} msg={}", quote(&f.msg))?;
        for (k, v) in f.rest {
            write!(w, " {k}={}", logfmt_value(&v))?;
        }
        writeln!(w)
    }
}

/// Always quotes (the `msg` field is always quoted by logrus).
fn quote(v: &str) -> String {
    let q = logfmt_value(v);
    if q.starts_with('"') {
        q
    } else {
        format!("\"{q}\"")
    }
}

/// The termination message (DESIGN §4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TerminationMessage {
    /// Records read.
    pub records: u64,
    /// Expired.
    pub expired: u64,
    /// Skipped.
    pub skipped: u64,
    /// Ignored.
    pub ignored: u64,
    /// Inserted.
    pub inserted: u64,
    /// Existed.
    pub existed: u64,
    /// Fresher.
    pub fresher: u64,
    /// Writes whose outcome was unknown (then written again), as absctl counts them.
    pub errors_in_doubt: u64,
    /// Uncompressed bytes read.
    pub bytes: u64,
    /// Why the restore failed, `null` on success.
    pub error: Option<String>,
}

impl TerminationMessage {
    /// From the final counters and the error, if any.
    pub fn new(s: &Snapshot, error: Option<String>) -> Self {
        TerminationMessage {
            records: s.records,
            expired: s.expired,
            skipped: s.skipped,
            ignored: s.ignored,
            inserted: s.inserted,
            existed: s.existed,
            fresher: s.fresher,
            errors_in_doubt: s.errors_in_doubt,
            bytes: s.bytes,
            error,
        }
    }

    /// One JSON object.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

/// Writes the termination message to `path` when `explicit` or when the file exists (it does
/// in Kubernetes pods). Kubernetes keeps at most 4096 bytes, so a long error is shortened.
pub fn write_termination_message(
    path: &Path,
    explicit: bool,
    msg: &TerminationMessage,
) -> std::io::Result<()> {
    if !explicit && !path.exists() {
        return Ok(());
    }
    let mut msg = msg.clone();
    if let Some(e) = &mut msg.error
        && e.len() > 3000
    {
        let mut cut = 3000;
        while !e.is_char_boundary(cut) {
            cut -= 1;
        }
        e.truncate(cut);
        e.push_str("...");
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(explicit)
        .truncate(true)
        .open(path)?;
    f.write_all(msg.to_json().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logfmt_quoting() {
        assert_eq!(logfmt_value("abc"), "abc");
        assert_eq!(logfmt_value("a b"), "\"a b\"");
        assert_eq!(logfmt_value("say \"hi\"\n"), "\"say \\\"hi\\\"\\n\"");
        assert_eq!(logfmt_value(""), "\"\"");
        assert_eq!(quote("restore is starting"), "\"restore is starting\"");
        assert_eq!(quote("x"), "\"x\"");
    }

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        use std::ffi::OsStr;
        assert!(ansi_wanted(true, None));
        assert!(ansi_wanted(true, Some(OsStr::new(""))));
        assert!(!ansi_wanted(true, Some(OsStr::new("1"))));
        assert!(!ansi_wanted(false, None));
    }

    #[test]
    fn termination_json_shape() {
        let s = Snapshot {
            records: 3,
            inserted: 2,
            expired: 1,
            bytes: 99,
            ..Default::default()
        };
        let m = TerminationMessage::new(&s, None);
        assert_eq!(
            m.to_json(),
            r#"{"records":3,"expired":1,"skipped":0,"ignored":0,"inserted":2,"existed":0,"fresher":0,"errors_in_doubt":0,"bytes":99,"error":null}"#
        );
        let m = TerminationMessage::new(&s, Some("boom".into()));
        assert!(m.to_json().ends_with(r#""error":"boom"}"#));
    }

    #[test]
    fn termination_file_written_only_when_present_or_explicit() {
        let dir = std::env::temp_dir().join(format!("rcore-term-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("termination-log");
        let _ = std::fs::remove_file(&p);
        let m = TerminationMessage::new(&Snapshot::default(), None);
        write_termination_message(&p, false, &m).unwrap();
        assert!(!p.exists());
        write_termination_message(&p, true, &m).unwrap();
        assert!(
            std::fs::read_to_string(&p)
                .unwrap()
                .contains("\"records\":0")
        );
        let long = TerminationMessage::new(&Snapshot::default(), Some("x".repeat(10_000)));
        write_termination_message(&p, false, &long).unwrap();
        assert!(std::fs::read_to_string(&p).unwrap().len() < 4096);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
