//! Helpers shared by the test files.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use aerospike::{Client, ClientPolicy, Error, ResultCode};

/// A set name no other test (or earlier run against a real server) uses.
pub fn unique_set(prefix: &str) -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{:x}_{}",
        std::process::id(),
        nanos,
        SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

/// Connects the real client to `hosts`.
pub async fn connect(hosts: &str) -> Client {
    let mut p = ClientPolicy::default();
    p.timeout = 10_000;
    Client::new(&p, &hosts.to_string())
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {hosts}: {e}"))
}

/// The server result code carried by a client error.
pub fn code(e: &Error) -> Option<ResultCode> {
    e.server_result_code()
}

/// Asserts `r` failed with server result code `want`.
#[track_caller]
pub fn assert_code<T: std::fmt::Debug>(r: Result<T, Error>, want: ResultCode) {
    match r {
        Ok(v) => panic!("expected {want:?}, got Ok({v:?})"),
        Err(e) => assert_eq!(code(&e), Some(want), "error was: {e}"),
    }
}
