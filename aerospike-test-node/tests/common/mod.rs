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
    let p = ClientPolicy {
        timeout: 10_000,
        ..ClientPolicy::default()
    };
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

/// Raw wire helpers, for what the client cannot send.
pub mod wire {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// A field: size (type byte included), type, data.
    pub fn field(ftype: u8, data: &[u8]) -> Vec<u8> {
        let mut v = ((data.len() + 1) as u32).to_be_bytes().to_vec();
        v.push(ftype);
        v.extend_from_slice(data);
        v
    }

    /// An operation: size, op, particle type, version, name length, name, value.
    pub fn op(op: u8, ptype: u8, name: &[u8], value: &[u8]) -> Vec<u8> {
        let mut v = ((4 + name.len() + value.len()) as u32)
            .to_be_bytes()
            .to_vec();
        v.extend_from_slice(&[op, ptype, 0, name.len() as u8]);
        v.extend_from_slice(name);
        v.extend_from_slice(value);
        v
    }

    /// A whole AS_MSG frame.
    pub fn as_msg(info1: u8, info2: u8, ttl: u32, fields: &[Vec<u8>], ops: &[Vec<u8>]) -> Vec<u8> {
        let mut body = vec![22, info1, info2, 0, 0, 0];
        body.extend_from_slice(&0u32.to_be_bytes());
        body.extend_from_slice(&ttl.to_be_bytes());
        body.extend_from_slice(&0u32.to_be_bytes());
        body.extend_from_slice(&(fields.len() as u16).to_be_bytes());
        body.extend_from_slice(&(ops.len() as u16).to_be_bytes());
        for f in fields.iter().chain(ops) {
            body.extend_from_slice(f);
        }
        frame(3, &body)
    }

    /// A proto frame of `msg_type` around `body`.
    pub fn frame(msg_type: u8, body: &[u8]) -> Vec<u8> {
        let header = (body.len() as u64) | (2u64 << 56) | (u64::from(msg_type) << 48);
        let mut v = header.to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    }

    /// Sends `req` and reads one answer frame: (message type, body).
    pub async fn roundtrip(port: u16, req: &[u8]) -> std::io::Result<(u8, Vec<u8>)> {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(req).await?;
        read_frame(&mut s).await
    }

    /// Reads one frame.
    pub async fn read_frame(s: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
        let mut h = [0u8; 8];
        s.read_exact(&mut h).await?;
        let size = (u64::from_be_bytes(h) & 0xFFFF_FFFF_FFFF) as usize;
        let mut body = vec![0u8; size];
        s.read_exact(&mut body).await?;
        Ok((h[1], body))
    }

    /// Result code of an AS_MSG answer body.
    pub fn result_code(body: &[u8]) -> u8 {
        body[5]
    }

    /// Info commands sent straight to one node: `name -> value`.
    pub async fn info(port: u16, cmds: &[&str]) -> std::collections::HashMap<String, String> {
        let text = cmds.iter().map(|c| format!("{c}\n")).collect::<String>();
        let (t, body) = roundtrip(port, &frame(1, text.as_bytes()))
            .await
            .expect("info round trip");
        assert_eq!(t, 1);
        String::from_utf8(body)
            .expect("info answers are text")
            .lines()
            .map(|l| {
                let (k, v) = l.split_once('\t').unwrap_or((l, ""));
                (k.to_string(), v.to_string())
            })
            .collect()
    }
}
