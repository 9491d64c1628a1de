//! Support for the restorer's end-to-end tests: building `.asb` text, running the `restorer`
//! binary, reading its termination message, and reading records back through the client
//! (or, byte for byte, with `aerospike_test_node::raw`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicU64, Ordering};

use aerospike::{Bins, Client, ClientPolicy, Key, ReadPolicy, Record};
use base64::Engine as _;
use serde_json::Value as Json;

/// Seconds from the Unix epoch to 2010-01-01.
pub const CITRUSLEAF_EPOCH: u64 = 1_262_304_000;

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A fresh, empty directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    let n = SEQ.fetch_add(1, Ordering::SeqCst);
    let d = std::env::temp_dir().join(format!("rcore-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create temp dir");
    d
}

/// A set name no other test, run or process uses (a long-lived server keeps what earlier
/// runs wrote): the tag, a sequence number, the process id and the time in microseconds.
/// At most 40 characters for tags up to 8, so `<set>_x` index names and `<set>.lua` UDF
/// names stay within the server's limits.
pub fn unique_set(tag: &str) -> String {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    format!(
        "{tag}{}x{}x{micros}",
        SEQ.fetch_add(1, Ordering::SeqCst),
        std::process::id()
    )
}

/// A copy of the shipped sample `testdata/asb/<name>` in `dir`, with every record digest
/// XORed with a salt unique to this call, so a restore of it into a long-lived server counts
/// its records as new every time and never meets another run's. Returns the copy and the
/// new digests in file order.
pub fn unique_sample(name: &str, dir: &Path) -> (PathBuf, Vec<[u8; 20]>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/asb")
        .join(name);
    let data = std::fs::read(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    let salt = digest(&unique_set("smp"), 0);
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = Vec::with_capacity(data.len());
    let mut digests = Vec::new();
    let mut rest = &data[..];
    const MARK: &[u8] = b"\n+ d ";
    while let Some(at) = rest.windows(MARK.len()).position(|w| w == MARK) {
        let start = at + MARK.len();
        let end = start
            + rest[start..]
                .iter()
                .position(|&b| b == b'\n')
                .expect("digest line ends");
        let mut d: [u8; 20] = b64
            .decode(&rest[start..end])
            .ok()
            .and_then(|v| v.try_into().ok())
            .unwrap_or_else(|| panic!("{name}: bad digest line"));
        for (x, s) in d.iter_mut().zip(salt) {
            *x ^= s;
        }
        out.extend_from_slice(&rest[..start]);
        out.extend_from_slice(b64.encode(d).as_bytes());
        digests.push(d);
        rest = &rest[end..];
    }
    out.extend_from_slice(rest);
    assert!(!digests.is_empty(), "{name} has no records");
    (write_file(dir, name, &out), digests)
}

/// Seconds since 2010-01-01 now.
pub fn now_clepoch() -> u32 {
    (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        - CITRUSLEAF_EPOCH) as u32
}

/// One record of a generated backup.
#[derive(Debug, Clone)]
pub struct Rec {
    /// Namespace.
    pub ns: String,
    /// Set.
    pub set: Option<String>,
    /// Digest.
    pub digest: [u8; 20],
    /// `+ k S` key.
    pub key: Option<String>,
    /// Generation.
    pub generation: u16,
    /// Void time.
    pub void_time: u32,
    /// Bin lines without the leading `- ` (e.g. `I a 1`).
    pub bins: Vec<String>,
}

/// A digest unique to (tag, i).
pub fn digest(tag: &str, i: u32) -> [u8; 20] {
    let mut d = [0u8; 20];
    let h = tag.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    d[..8].copy_from_slice(&h.to_be_bytes());
    d[8..12].copy_from_slice(&i.to_be_bytes());
    d[19] = 0x5a;
    d
}

impl Rec {
    /// A record with an int bin `i` = index and a string bin `s`.
    pub fn simple(ns: &str, set: &str, tag: &str, i: u32) -> Rec {
        Rec {
            ns: ns.into(),
            set: Some(set.into()),
            digest: digest(tag, i),
            key: None,
            generation: 1,
            void_time: 0,
            bins: vec![
                format!("I i {i}"),
                format!("S s {} v{i}", format!("v{i}").len()),
            ],
        }
    }

    /// The client key of this record (digest only) in `ns`.
    pub fn key_in(&self, ns: &str) -> Key {
        Key::with_digest(ns, self.set.clone().unwrap_or_default(), None, self.digest)
    }
}

/// `.asb` 3.1 text: header, optional `# namespace`, `# first-file`, extra global lines, records.
pub fn asb(meta_ns: Option<&str>, globals: &[&str], recs: &[Rec]) -> Vec<u8> {
    let mut s = String::from("Version 3.1\n");
    if let Some(ns) = meta_ns {
        s.push_str(&format!("# namespace {ns}\n"));
    }
    s.push_str("# first-file\n");
    for g in globals {
        s.push_str(g);
        s.push('\n');
    }
    for r in recs {
        if let Some(k) = &r.key {
            s.push_str(&format!("+ k S {} {k}\n", k.len()));
        }
        s.push_str(&format!("+ n {}\n", r.ns));
        s.push_str(&format!(
            "+ d {}\n",
            base64::engine::general_purpose::STANDARD.encode(r.digest)
        ));
        if let Some(set) = &r.set {
            s.push_str(&format!("+ s {set}\n"));
        }
        s.push_str(&format!(
            "+ g {}\n+ t {}\n+ b {}\n",
            r.generation,
            r.void_time,
            r.bins.len()
        ));
        for b in &r.bins {
            s.push_str(&format!("- {b}\n"));
        }
    }
    s.into_bytes()
}

/// Writes `data` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).expect("write test file");
    p
}

/// gzip of `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

/// The outcome of one `restorer` run.
#[derive(Debug)]
pub struct Run {
    /// Exit status code.
    pub code: i32,
    /// Everything written to stderr.
    pub stderr: String,
    /// Everything written to stdout.
    pub stdout: String,
    /// The termination message, when one was written.
    pub term: Option<Json>,
}

impl Run {
    /// A counter from the termination message.
    pub fn counter(&self, name: &str) -> u64 {
        let term = self
            .term
            .as_ref()
            .unwrap_or_else(|| panic!("no termination message; stderr:\n{}", self.stderr));
        term[name]
            .as_u64()
            .unwrap_or_else(|| panic!("counter {name} missing in {term}"))
    }

    /// The error of the termination message.
    pub fn error(&self) -> Option<String> {
        self.term
            .as_ref()
            .and_then(|t| t["error"].as_str().map(str::to_string))
    }

    /// Asserts success and returns self.
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "restorer failed:\n{}", self.stderr);
        self
    }

    /// Asserts failure (exit status 1) and returns self.
    pub fn failed(self) -> Self {
        assert_eq!(
            self.code, 1,
            "restorer should have failed:\n{}",
            self.stderr
        );
        self
    }
}

/// Runs the `restorer` binary with `args` (blocking; call from `spawn_blocking` or use
/// [`restorer_async`]). A termination-log path in a temp dir is always passed.
pub fn restorer(args: &[&str], stdin: Option<Vec<u8>>) -> Run {
    restorer_with_env(args, stdin, &[])
}

/// [`restorer`] with extra environment variables.
pub fn restorer_with_env(args: &[&str], stdin: Option<Vec<u8>>, env: &[(String, String)]) -> Run {
    let dir = temp_dir("term");
    let term = dir.join("termination-log");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_restorer"));
    cmd.args(args)
        .env("RESTORER_TERMINATION_LOG", &term)
        .env_remove("AEROSPIKE_PASSWORD")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out: Output = match stdin {
        None => cmd
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run restorer"),
        Some(data) => {
            use std::io::Write;
            cmd.stdin(std::process::Stdio::piped());
            let mut child = cmd.spawn().expect("spawn restorer");
            let mut pipe = child.stdin.take().expect("stdin pipe");
            let writer = std::thread::spawn(move || {
                let _ = pipe.write_all(&data);
            });
            let out = child.wait_with_output().expect("wait restorer");
            writer.join().expect("stdin writer");
            out
        }
    };
    let term = std::fs::read_to_string(&term)
        .ok()
        .map(|s| serde_json::from_str(&s).expect("termination message is JSON"));
    let _ = std::fs::remove_dir_all(&dir);
    Run {
        code: out.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        term,
    }
}

/// [`restorer`] on a blocking thread.
pub async fn restorer_async(args: Vec<String>) -> Run {
    restorer_async_env(args, Vec::new()).await
}

/// [`restorer_with_env`] on a blocking thread.
pub async fn restorer_async_env(args: Vec<String>, env: Vec<(String, String)>) -> Run {
    tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        restorer_with_env(&a, None, &env)
    })
    .await
    .expect("restorer thread")
}

/// Restores `file` into `hosts` with extra `args`.
pub async fn restore(hosts: &str, file: &Path, args: &[&str]) -> Run {
    let mut a = vec![
        "-h".to_string(),
        hosts.to_string(),
        "-i".to_string(),
        file.display().to_string(),
        "--log-format".to_string(),
        "logfmt".to_string(),
    ];
    a.extend(args.iter().map(|s| s.to_string()));
    restorer_async(a).await
}

/// A client for reading back.
pub async fn client(hosts: &str) -> Client {
    Client::new(&ClientPolicy::default(), &hosts.to_string())
        .await
        .expect("connect test client")
}

/// Reads a record, `None` when absent.
pub async fn get(c: &Client, key: &Key) -> Option<Record> {
    match c.get(&ReadPolicy::default(), key, Bins::All).await {
        Ok(r) => Some(r),
        Err(e) if e.matches(&[aerospike::ResultCode::KeyNotFoundError]) => None,
        Err(e) => panic!("read failed: {e}"),
    }
}
