//! Result codes to counters and retry decisions (format §4.5).

use aerospike::{Error, ErrorKind, ResultCode};

/// What one record's result code means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// 0: written (`inserted`).
    Inserted,
    /// 3: the server copy is at least as new (`fresher`).
    Fresher,
    /// 5: exists and `--unique` (`existed`).
    Existed,
    /// A record-specific permanent error (`ignored`); fatal without `--ignore-record-error`.
    Ignored,
    /// A transient failure: write the record again.
    Retry,
    /// Any other code: the restore stops.
    Fatal,
}

/// What a failed write call (a whole batch, or one single put) means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// Look at each record's own result.
    PerRecord,
    /// Transient: retry (with backoff).
    Retry,
    /// Permanent: the restore stops.
    Fatal,
}

/// Record-specific permanent errors that asrestore counts as `ignored`.
const IGNORABLE: &[u8] = &[13, 19, 21, 10, 22, 12, 17];

/// Permanent transaction-level server codes.
fn permanent_server_code(code: u8) -> bool {
    matches!(
        code,
        4 | 8 | 16 | 20 | 25 | 26 | 27 | 51..=56 | 66 | 70 | 80 | 81 | 82 | 150 | 160 | 202 | 203
    )
}

/// Per-record codes of a transient condition (timeout, cluster change, partition unavailable,
/// busy key, device overload). asrestore aborts on these inside a batch; this restorer writes
/// just those records again (counted as retries), which loses and repeats nothing.
const TRANSIENT_RECORD: &[u8] = &[7, 9, 11, 14, 18];

/// Classifies one record's result code (a batch row, or a single put's answer).
pub fn classify_record(code: u8) -> RecordOutcome {
    match code {
        0 => RecordOutcome::Inserted,
        3 => RecordOutcome::Fresher,
        5 => RecordOutcome::Existed,
        c if IGNORABLE.contains(&c) => RecordOutcome::Ignored,
        c if TRANSIENT_RECORD.contains(&c) => RecordOutcome::Retry,
        _ => RecordOutcome::Fatal,
    }
}

/// Classifies a server result code returned for a whole call.
pub fn classify_call_code(code: u8) -> CallOutcome {
    match code {
        0 | 3 | 5 => CallOutcome::PerRecord,
        c if IGNORABLE.contains(&c) => CallOutcome::PerRecord,
        c if permanent_server_code(c) => CallOutcome::Fatal,
        _ => CallOutcome::Retry,
    }
}

/// Classifies an error returned by the client for a whole call.
pub fn classify_call_error(e: &Error) -> CallOutcome {
    if let Some(rc) = e.server_result_code() {
        return classify_call_code(u8::from(rc));
    }
    match e.kind() {
        ErrorKind::InvalidArgument
        | ErrorKind::Client
        | ErrorKind::InvalidNamespace
        | ErrorKind::ParseAddr(_)
        | ErrorKind::ParseInt(_) => CallOutcome::Fatal,
        _ => CallOutcome::Retry,
    }
}

/// The numeric code of a server result.
pub fn code_of(rc: ResultCode) -> u8 {
    u8::from(rc)
}

/// Backoff before retry number `attempt` (1-based): 0, then `scale`, 2×, 4×, ... (format §4.5).
pub fn backoff(attempt: u32, scale: std::time::Duration) -> std::time::Duration {
    if attempt <= 1 {
        std::time::Duration::ZERO
    } else {
        scale.saturating_mul(1 << (attempt - 2).min(20))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn record_codes_follow_format_4_5() {
        assert_eq!(classify_record(0), RecordOutcome::Inserted);
        assert_eq!(classify_record(3), RecordOutcome::Fresher);
        assert_eq!(classify_record(5), RecordOutcome::Existed);
        for c in [13, 19, 21, 10, 22, 12, 17] {
            assert_eq!(classify_record(c), RecordOutcome::Ignored, "{c}");
        }
        for c in [1, 2, 4, 8, 20, 160] {
            assert_eq!(classify_record(c), RecordOutcome::Fatal, "{c}");
        }
        for c in [9, 14, 18, 7] {
            assert_eq!(classify_record(c), RecordOutcome::Retry, "{c}");
        }
    }

    #[test]
    fn call_codes_follow_format_4_5() {
        for c in [
            4, 8, 16, 20, 25, 26, 27, 51, 56, 66, 70, 80, 81, 82, 150, 160, 202, 203,
        ] {
            assert_eq!(classify_call_code(c), CallOutcome::Fatal, "{c}");
        }
        for c in [0, 3, 5, 13, 22] {
            assert_eq!(classify_call_code(c), CallOutcome::PerRecord, "{c}");
        }
        for c in [1, 7, 9, 14, 18] {
            assert_eq!(classify_call_code(c), CallOutcome::Retry, "{c}");
        }
    }

    #[test]
    fn client_side_errors() {
        assert_eq!(
            classify_call_error(&Error::invalid_argument("x")),
            CallOutcome::Fatal
        );
        assert_eq!(
            classify_call_error(&Error::client_error("x")),
            CallOutcome::Fatal
        );
    }

    #[test]
    fn backoff_is_0_150_300_600_1200() {
        let s = Duration::from_millis(150);
        let got: Vec<u64> = (1..=5).map(|a| backoff(a, s).as_millis() as u64).collect();
        assert_eq!(got, [0, 150, 300, 600, 1200]);
    }
}
