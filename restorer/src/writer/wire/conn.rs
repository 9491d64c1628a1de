//! One plain TCP connection to a node, with the buffer its requests are encoded into and its
//! replies read into (kept across batches), and a small pool of idle connections per node.

use std::sync::Mutex;
use std::time::Duration;

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
            buf: Vec::with_capacity(64 << 10),
        })
    }

    /// Sends the request in `buf` and reads the reply, storing each row's result code at its
    /// index in `codes`; returns the batch's own result code.
    pub async fn exchange(&mut self, codes: &mut [Option<u8>]) -> Result<u8, ExchangeError> {
        self.stream.write_all(&self.buf).await?;
        self.buf.clear();
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

/// Idle connections to one node.
pub struct Pool {
    host: String,
    port: u16,
    idle: Mutex<Vec<Conn>>,
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

    /// `host:port`, for messages.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// An idle connection, or a new one.
    pub async fn get(&self, timeout: Option<Duration>) -> Result<Conn, ExchangeError> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(c) => Ok(c),
            None => Conn::connect(&self.host, self.port, timeout).await,
        }
    }

    /// Returns a connection whose last exchange completed.
    pub fn put(&self, c: Conn) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.max_idle {
            idle.push(c);
        }
    }
}
