//! One plain TCP connection to a node, with the buffer its requests are encoded into and its
//! replies read into (kept across batches), and a small pool of idle connections per node.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::proto::{self, MAX_BODY, PROTO_HEADER, PROTO_VERSION, TYPE_AS_MSG};
use super::reply::{self, ReplyError};

/// Why an exchange failed; the connection is then dropped.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// Connecting, sending or receiving failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// No full answer within the timeout.
    #[error("no answer within {0} ms")]
    Timeout(u64),
    /// The answer is not a batch reply.
    #[error("{0}")]
    Reply(#[from] ReplyError),
    /// A frame of another version or type, or of an absurd size.
    #[error("unexpected reply frame (version {version}, type {ty}, {len} bytes)")]
    Frame {
        /// Protocol version.
        version: u8,
        /// Message type.
        ty: u8,
        /// Body length.
        len: usize,
    },
}

/// Capacity a connection's buffer is given, and kept at most between exchanges: a mixed
/// 128-row batch fits; a batch of large records grows the buffer for its exchange only, so
/// idle connections (up to `--max-async-batches` per node) do not each hold megabytes.
const BUF_KEEP: usize = 128 << 10;

/// A connection and its reused buffer.
pub struct Conn {
    stream: TcpStream,
    /// The request before [`Conn::exchange`], reply bytes during it.
    pub buf: Vec<u8>,
}

impl Conn {
    /// Opens a connection to `host:port`.
    pub async fn connect(
        host: &str,
        port: u16,
        timeout: Option<Duration>,
    ) -> Result<Conn, ExchangeError> {
        let connect = TcpStream::connect((host, port));
        let stream = match timeout {
            Some(t) => tokio::time::timeout(t, connect)
                .await
                .map_err(|_| ExchangeError::Timeout(t.as_millis() as u64))??,
            None => connect.await?,
        };
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(BUF_KEEP),
        })
    }

    /// Sends the request in `buf` and reads the reply, storing each row's result code at its
    /// index in `codes`; returns the batch's own result code.
    pub async fn exchange(&mut self, codes: &mut [Option<u8>]) -> Result<u8, ExchangeError> {
        self.stream.write_all(&self.buf).await?;
        self.buf.clear();
        if self.buf.capacity() > BUF_KEEP {
            self.buf.shrink_to(BUF_KEEP);
        }
        loop {
            self.fill(PROTO_HEADER).await?;
            let mut word = [0u8; PROTO_HEADER];
            word.copy_from_slice(&self.buf[..PROTO_HEADER]);
            let (version, ty, len) = proto::parse_proto_word(word);
            if version != PROTO_VERSION || ty != TYPE_AS_MSG || len > MAX_BODY {
                return Err(ExchangeError::Frame { version, ty, len });
            }
            self.fill(PROTO_HEADER + len).await?;
            let body = &self.buf[PROTO_HEADER..PROTO_HEADER + len];
            if let Some(rc) = reply::parse_frame(body, codes)? {
                let extra = self.buf.len() - PROTO_HEADER - len;
                self.buf.clear();
                if extra > 0 {
                    // Bytes after the end marker: the stream is out of step.
                    return Err(ExchangeError::Frame {
                        version,
                        ty,
                        len: extra,
                    });
                }
                return Ok(rc);
            }
            // Keep only the bytes of frames not parsed yet.
            self.buf.drain(..PROTO_HEADER + len);
        }
    }

    /// Reads until `buf` holds at least `need` bytes.
    async fn fill(&mut self, need: usize) -> Result<(), ExchangeError> {
        while self.buf.len() < need {
            self.buf.reserve(need - self.buf.len());
            let n = self.stream.read_buf(&mut self.buf).await?;
            if n == 0 {
                return Err(ExchangeError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed by the node before the reply ended",
                )));
            }
        }
        Ok(())
    }
}

/// Connections idle longer than this are not reused: a server closes idle client sockets
/// after its `proto-fd-idle-ms` (60 s in older versions' defaults).
pub const MAX_IDLE_TIME: Duration = Duration::from_secs(50);

/// Idle connections to one node, most recently used last.
pub struct Pool {
    host: String,
    port: u16,
    idle: Mutex<Vec<(Conn, Instant)>>,
    max_idle: usize,
}

impl Pool {
    /// A pool for `host:port` keeping at most `max_idle` idle connections.
    pub fn new(host: String, port: u16, max_idle: usize) -> Self {
        Pool {
            host,
            port,
            idle: Mutex::new(Vec::new()),
            max_idle,
        }
    }

    /// Drops every idle connection (after one failed: the others may be dead too).
    pub fn clear(&self) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// `host:port`, for messages.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// An idle connection, or a new one.
    pub async fn get(&self, timeout: Option<Duration>) -> Result<Conn, ExchangeError> {
        let idle = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            // The least recently used come first: drop those idle too long.
            let fresh = idle.partition_point(|(_, at)| at.elapsed() > MAX_IDLE_TIME);
            idle.drain(..fresh);
            idle.pop()
        };
        match idle {
            Some((c, _)) => Ok(c),
            None => Conn::connect(&self.host, self.port, timeout).await,
        }
    }

    /// Returns a connection whose last exchange completed.
    pub fn put(&self, c: Conn) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.max_idle {
            idle.push((c, Instant::now()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::proto::INFO3_LAST;
    use super::*;
    use tokio::net::TcpListener;

    fn row(info3: u8, rc: u8, index: u32) -> Vec<u8> {
        let mut h = vec![22, 0, 0, info3, 0, rc, 0, 0, 0, 1, 0, 0, 0, 0];
        h.extend_from_slice(&index.to_be_bytes());
        h.extend_from_slice(&[0, 0, 0, 0]);
        h
    }

    fn frame(rows: &[Vec<u8>]) -> Vec<u8> {
        let body: Vec<u8> = rows.concat();
        let mut f = proto::proto_word(TYPE_AS_MSG, body.len()).to_vec();
        f.extend(body);
        f
    }

    /// A one-connection server that reads `request_len` bytes, then writes `reply` in pieces
    /// of `piece` bytes (and closes).
    async fn server(request_len: usize, reply: Vec<u8>, piece: usize) -> (String, u16) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut req = vec![0u8; request_len];
            s.read_exact(&mut req).await.unwrap();
            for p in reply.chunks(piece) {
                s.write_all(p).await.unwrap();
                s.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
        ("127.0.0.1".to_string(), port)
    }

    #[tokio::test]
    async fn frames_split_anywhere_are_reassembled() {
        let mut reply = frame(&[row(0, 0, 1), row(0, 5, 0)]);
        reply.extend(frame(&[row(0, 13, 2)]));
        reply.extend(frame(&[row(INFO3_LAST, 0, 0)]));
        for piece in [1, 7, 30, 1000] {
            let (host, port) = server(3, reply.clone(), piece).await;
            let mut c = Conn::connect(&host, port, None).await.unwrap();
            c.buf.extend_from_slice(b"req");
            let mut codes = [None; 3];
            assert_eq!(c.exchange(&mut codes).await.unwrap(), 0, "piece {piece}");
            assert_eq!(codes, [Some(5), Some(0), Some(13)]);
            assert!(c.buf.is_empty());
        }
    }

    #[tokio::test]
    async fn a_reply_cut_short_is_an_error_and_keeps_the_rows_before_it() {
        let mut reply = frame(&[row(0, 0, 0)]);
        let last = frame(&[row(0, 0, 1), row(INFO3_LAST, 0, 0)]);
        reply.extend_from_slice(&last[..last.len() - 5]);
        let (host, port) = server(1, reply, 1000).await;
        let mut c = Conn::connect(&host, port, None).await.unwrap();
        c.buf.push(0);
        let mut codes = [None; 2];
        let e = c.exchange(&mut codes).await.unwrap_err();
        assert!(matches!(e, ExchangeError::Io(_)), "{e}");
        assert_eq!(codes, [Some(0), None]);
    }

    #[tokio::test]
    async fn other_frames_and_trailing_bytes_are_errors() {
        let mut info = proto::proto_word(1, 2).to_vec();
        info.extend_from_slice(b"ok");
        let (host, port) = server(1, info, 1000).await;
        let mut c = Conn::connect(&host, port, None).await.unwrap();
        c.buf.push(0);
        let e = c.exchange(&mut [None; 1]).await.unwrap_err();
        assert!(matches!(e, ExchangeError::Frame { ty: 1, .. }), "{e}");

        let mut reply = frame(&[row(INFO3_LAST, 4, 0)]);
        reply.extend_from_slice(&[0; 3]);
        let (host, port) = server(1, reply, 1000).await;
        let mut c = Conn::connect(&host, port, None).await.unwrap();
        c.buf.push(0);
        assert!(c.exchange(&mut [None; 1]).await.is_err());

        let reply = frame(&[row(INFO3_LAST, 4, 0)]);
        let (host, port) = server(1, reply, 1000).await;
        let mut c = Conn::connect(&host, port, None).await.unwrap();
        c.buf.push(0);
        assert_eq!(
            c.exchange(&mut [None; 1]).await.unwrap(),
            4,
            "the batch's own code"
        );
    }

    #[tokio::test]
    async fn the_pool_reuses_connections_until_cleared() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let n = accepted.clone();
        tokio::spawn(async move {
            let mut keep = Vec::new();
            while let Ok((s, _)) = l.accept().await {
                n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                keep.push(s);
            }
        });
        let pool = Pool::new("127.0.0.1".into(), port, 1);
        let a = pool.get(None).await.unwrap();
        let b = pool.get(None).await.unwrap();
        pool.put(a);
        pool.put(b); // over max_idle: dropped
        let _c = pool.get(None).await.unwrap();
        let d = pool.get(None).await.unwrap();
        pool.put(d);
        pool.clear();
        let _e = pool.get(None).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 4);
    }
}
