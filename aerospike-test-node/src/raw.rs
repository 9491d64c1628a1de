//! A minimal raw wire-protocol client, for tests that must see what a server stored byte for
//! byte (the `aerospike` client decodes values and refuses some, such as strings that are not
//! UTF-8) or send what the client cannot.
//!
//! It works the same against the test node and a real server: [`get`] reads every bin of one
//! record by digest with a plain AS_MSG read, [`exchange`] and [`exchange_batch`] send any
//! frame (see [`frame`]) and return the decoded answers. One connection per call, to the
//! first seed of the host list (a real server proxies a read to the partition's master).

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::proto::{MAX_PROTO_BODY, MSG_HEADER_SIZE, PROTO_VERSION, TYPE_MSG, field, info1};
use crate::result_code as rc;
use crate::store::now_clepoch;

/// How long one exchange may take before it fails with [`io::ErrorKind::TimedOut`].
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// One bin as the server returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawBin {
    /// Bin name bytes.
    pub name: Vec<u8>,
    /// Particle type code (1 int, 2 double, 3 string, 4 blob, 17 bool, 19 map, 20 list...).
    pub particle_type: u8,
    /// The particle bytes, undecoded.
    pub value: Vec<u8>,
}

impl RawBin {
    /// Bin name as text (lossy).
    pub fn name_str(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// A record read with [`get`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// Generation.
    pub generation: u32,
    /// Void time in seconds since 2010-01-01 UTC; 0 = never expires.
    pub void_time: u32,
    /// Bins in the order the server sent them.
    pub bins: Vec<RawBin>,
}

impl RawRecord {
    /// The bin named `name`.
    pub fn bin(&self, name: &str) -> Option<&RawBin> {
        self.bins.iter().find(|b| b.name == name.as_bytes())
    }

    /// `(particle type, bytes)` of the bin named `name`.
    pub fn particle(&self, name: &str) -> Option<(u8, &[u8])> {
        self.bin(name)
            .map(|b| (b.particle_type, b.value.as_slice()))
    }

    /// Seconds left to live; `None` when the record never expires.
    pub fn ttl(&self) -> Option<u32> {
        (self.void_time != 0).then(|| self.void_time.saturating_sub(now_clepoch()))
    }
}

/// One AS_MSG answer: a single-record answer, or one row (or the closing message) of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAnswer {
    /// `info3` flags (bit 0: last message of a batch).
    pub info3: u8,
    /// Result code.
    pub result_code: u8,
    /// Generation in the header.
    pub generation: u32,
    /// Void time in the header.
    pub void_time: u32,
    /// The transaction-ttl slot: the row index in batch answers.
    pub index: u32,
    /// Bins (operations) of the answer.
    pub bins: Vec<RawBin>,
}

impl RawAnswer {
    /// Whether this is the closing message of a batch answer.
    pub fn is_last(&self) -> bool {
        self.info3 & 1 != 0
    }
}

/// Reads every bin of the record `digest` in `namespace`. `set` is sent when given (a server
/// answers 4 when it names another set than the record's). `Ok(None)` when there is no such
/// record (result code 2); another result code is an error of kind `Other`.
pub async fn get(
    hosts: &str,
    namespace: &str,
    set: Option<&str>,
    digest: &[u8; 20],
) -> io::Result<Option<RawRecord>> {
    let mut fields = vec![field_bytes(field::NAMESPACE, namespace.as_bytes())];
    if let Some(set) = set {
        fields.push(field_bytes(field::SET, set.as_bytes()));
    }
    fields.push(field_bytes(field::DIGEST, digest));
    let req = frame(&msg(info1::READ | info1::GET_ALL, 0, 0, &fields, &[]));
    let answers = exchange(hosts, &req).await?;
    let a = answers
        .into_iter()
        .next()
        .ok_or_else(|| bad("empty answer"))?;
    match a.result_code {
        rc::OK => Ok(Some(RawRecord {
            generation: a.generation,
            void_time: a.void_time,
            bins: a.bins,
        })),
        rc::KEY_NOT_FOUND => Ok(None),
        code => Err(io::Error::other(format!(
            "read of {} in {namespace} answered {code}",
            hex(digest)
        ))),
    }
}

/// Sends one request frame and returns the messages of the one answer frame.
pub async fn exchange(hosts: &str, request: &[u8]) -> io::Result<Vec<RawAnswer>> {
    with_timeout(async {
        let mut s = connect(hosts).await?;
        s.write_all(request).await?;
        let body = read_frame(&mut s).await?;
        parse_messages(&body)
    })
    .await
}

/// Sends a batch request frame and returns every message up to and including the one
/// marked last (it may span several answer frames).
pub async fn exchange_batch(hosts: &str, request: &[u8]) -> io::Result<Vec<RawAnswer>> {
    with_timeout(async {
        let mut s = connect(hosts).await?;
        s.write_all(request).await?;
        let mut all = Vec::new();
        loop {
            let body = read_frame(&mut s).await?;
            let msgs = parse_messages(&body)?;
            let done = msgs.iter().any(RawAnswer::is_last);
            all.extend(msgs);
            if done {
                return Ok(all);
            }
        }
    })
    .await
}

/// An AS_MSG body: the 22-byte header, then `fields` and `ops` (already encoded with
/// [`field_bytes`] and [`op_bytes`]).
pub fn msg(info1: u8, info2: u8, info3: u8, fields: &[Vec<u8>], ops: &[Vec<u8>]) -> Vec<u8> {
    msg_with(info1, info2, info3, 0, 0, fields, ops)
}

/// [`msg`] with a generation and a record TTL.
pub fn msg_with(
    info1: u8,
    info2: u8,
    info3: u8,
    generation: u32,
    ttl: u32,
    fields: &[Vec<u8>],
    ops: &[Vec<u8>],
) -> Vec<u8> {
    let mut b = vec![MSG_HEADER_SIZE as u8, info1, info2, info3, 0, 0];
    b.extend_from_slice(&generation.to_be_bytes());
    b.extend_from_slice(&ttl.to_be_bytes());
    b.extend_from_slice(&1000u32.to_be_bytes()); // transaction timeout, ms
    b.extend_from_slice(&(fields.len() as u16).to_be_bytes());
    b.extend_from_slice(&(ops.len() as u16).to_be_bytes());
    for part in fields.iter().chain(ops) {
        b.extend_from_slice(part);
    }
    b
}

/// A field: size (type byte included), type, data.
pub fn field_bytes(ftype: u8, data: &[u8]) -> Vec<u8> {
    let mut v = ((data.len() + 1) as u32).to_be_bytes().to_vec();
    v.push(ftype);
    v.extend_from_slice(data);
    v
}

/// An operation: size, op, particle type, version 0, name length, name, value.
pub fn op_bytes(op: u8, particle_type: u8, name: &[u8], value: &[u8]) -> Vec<u8> {
    let mut v = ((4 + name.len() + value.len()) as u32)
        .to_be_bytes()
        .to_vec();
    v.extend_from_slice(&[op, particle_type, 0, name.len() as u8]);
    v.extend_from_slice(name);
    v.extend_from_slice(value);
    v
}

/// An AS_MSG proto frame (version 2, type 3) around `body`.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let header =
        (body.len() as u64) | (u64::from(PROTO_VERSION) << 56) | (u64::from(TYPE_MSG) << 48);
    let mut v = header.to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

async fn with_timeout<T>(f: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer within 30 s"))?
}

/// The first seed of a host list: `host[:port][,...]`, IPv6 in brackets, port 3000 by default.
fn first_seed(hosts: &str) -> io::Result<(String, u16)> {
    let seed = hosts
        .split(',')
        .map(str::trim)
        .find(|s| !s.is_empty())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no host given"))?;
    let (host, port) = match seed.strip_prefix('[') {
        Some(rest) => {
            let (h, tail) = rest
                .split_once(']')
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "unclosed '['"))?;
            (h, tail.strip_prefix(':'))
        }
        None => match seed.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (seed, None),
        },
    };
    let port = match port {
        None => 3000,
        Some(p) => p.parse().map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("bad port in {seed:?}"))
        })?,
    };
    Ok((host.to_string(), port))
}

async fn connect(hosts: &str) -> io::Result<TcpStream> {
    let (host, port) = first_seed(hosts)?;
    let s = TcpStream::connect((host.as_str(), port)).await?;
    s.set_nodelay(true)?;
    Ok(s)
}

async fn read_frame(s: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut h = [0u8; 8];
    s.read_exact(&mut h).await?;
    if h[0] != PROTO_VERSION || h[1] != TYPE_MSG {
        return Err(bad(&format!(
            "answer frame version {} type {} (want {PROTO_VERSION}, {TYPE_MSG})",
            h[0], h[1]
        )));
    }
    let size = (u64::from_be_bytes(h) & 0xFFFF_FFFF_FFFF) as usize;
    if size > MAX_PROTO_BODY {
        return Err(bad("answer frame too large"));
    }
    let mut body = vec![0u8; size];
    s.read_exact(&mut body).await?;
    Ok(body)
}

/// Every AS_MSG in one frame body.
fn parse_messages(b: &[u8]) -> io::Result<Vec<RawAnswer>> {
    let mut out = Vec::new();
    let mut c = Cursor { b, pos: 0 };
    while c.pos < b.len() {
        let h = c.take(MSG_HEADER_SIZE)?;
        let be32 = |i: usize| u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let n_fields = u16::from_be_bytes([h[18], h[19]]);
        let n_ops = u16::from_be_bytes([h[20], h[21]]);
        let mut a = RawAnswer {
            info3: h[3],
            result_code: h[5],
            generation: be32(6),
            void_time: be32(10),
            index: be32(14),
            bins: Vec::with_capacity(usize::from(n_ops)),
        };
        for _ in 0..n_fields {
            let size = c.u32()? as usize;
            c.take(size)?;
        }
        for _ in 0..n_ops {
            let size = c.u32()? as usize;
            let o = c.take(size)?;
            let name_len = usize::from(*o.get(3).ok_or_else(|| bad("short operation"))?);
            let name = o
                .get(4..4 + name_len)
                .ok_or_else(|| bad("short bin name"))?;
            a.bins.push(RawBin {
                name: name.to_vec(),
                particle_type: o[1],
                value: o[4 + name_len..].to_vec(),
            });
        }
        out.push(a);
    }
    Ok(out)
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or_else(|| bad("answer shorter than its lengths"))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self) -> io::Result<u32> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClusterConfig, TestCluster};

    #[test]
    fn seeds_parse() {
        let p = |h: &str| first_seed(h).unwrap();
        assert_eq!(p("127.0.0.1:3000"), ("127.0.0.1".into(), 3000));
        assert_eq!(p(" a:1 , b:2"), ("a".into(), 1));
        assert_eq!(p("host"), ("host".into(), 3000));
        assert_eq!(p("[::1]:4000"), ("::1".into(), 4000));
        assert!(first_seed("").is_err());
        assert!(first_seed("h:x").is_err());
    }

    #[test]
    fn answers_decode_and_truncation_is_an_error() {
        let mut b = vec![22, 0, 0, 1, 0, 2];
        b.extend_from_slice(&7u32.to_be_bytes());
        b.extend_from_slice(&9u32.to_be_bytes());
        b.extend_from_slice(&3u32.to_be_bytes());
        b.extend_from_slice(&1u16.to_be_bytes());
        b.extend_from_slice(&1u16.to_be_bytes());
        b.extend(field_bytes(4, &[1; 20]));
        b.extend(op_bytes(1, 3, b"s", b"\xff\x00"));
        let a = parse_messages(&b).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(
            (
                a[0].result_code,
                a[0].generation,
                a[0].void_time,
                a[0].index
            ),
            (2, 7, 9, 3)
        );
        assert!(a[0].is_last());
        assert_eq!(a[0].bins[0].value, b"\xff\x00");
        assert!(parse_messages(&b[..b.len() - 1]).is_err());
    }

    #[tokio::test]
    async fn get_reads_raw_particles_from_the_node() {
        let tc = TestCluster::start(ClusterConfig::default()).await.unwrap();
        let d = [3u8; 20];
        let ns = field_bytes(field::NAMESPACE, b"test");
        let set = field_bytes(field::SET, b"s");
        let dg = field_bytes(field::DIGEST, &d);
        let w = frame(&msg_with(
            0,
            1,
            0,
            0,
            100,
            &[ns, set, dg],
            &[op_bytes(2, 3, b"bad", b"\xff\x00\na")],
        ));
        let a = exchange(&tc.seeds(), &w).await.unwrap();
        assert_eq!(a[0].result_code, 0);
        let r = get(&tc.seeds(), "test", Some("s"), &d)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.generation, 1);
        assert_eq!(r.particle("bad"), Some((3, &b"\xff\x00\na"[..])));
        assert!((95..=100).contains(&r.ttl().unwrap()));
        assert_eq!(
            get(&tc.seeds(), "test", None, &[4; 20]).await.unwrap(),
            None
        );
        let e = get(&tc.seeds(), "test", Some("other"), &d)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("answered 4"), "{e}");
    }
}
