//! Per-record decisions in asrestore's order (format §4.2): namespace check and rename, bin
//! filter, expiry (format §3), empty / set filter, then conversion into what the writer sends.
//!
//! Every value is converted so that its bytes reach the server unchanged: strings (UTF-8 or
//! not), doubles (NaN payloads included), blobs of every subtype, GeoJSON, HLL, lists and maps
//! travel as `Value::Unknown(particle type, bytes)`, which the client writes verbatim.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aerospike::{Bin as AsBin, Expiration, Key as AsKey, Value as AsValue};
use asb_format::{Key, Record, SecondaryIndex, Value};
use bytes::Bytes;

/// Seconds from the Unix epoch to the Aerospike ("citrusleaf") epoch, 2010-01-01T00:00:00Z.
pub const CITRUSLEAF_EPOCH: u64 = 1_262_304_000;

/// GeoJSON particle prefix: flags (1 byte) and cell count (2 bytes), all zero.
const GEOJSON_HEADER: [u8; 3] = [0, 0, 0];

/// Particle types used for scalar values.
mod particle {
    pub const FLOAT: u8 = 2;
    pub const STRING: u8 = 3;
    pub const GEOJSON: u8 = 23;
}

/// The namespace rule in force for one file (DESIGN §3, §5, format §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NamespaceRule {
    /// No option: records go to their own namespace.
    #[default]
    Keep,
    /// `-n SRC`: every record must be in SRC.
    Require(String),
    /// `-n SRC,DST` or `--target-namespace` (SRC from metadata or `# namespace`): records must
    /// be in SRC and are written to DST; index lines are renamed too.
    Rename {
        /// Namespace in the backup.
        src: String,
        /// Namespace written to.
        dst: String,
    },
    /// `--target-namespace DST` whose source comes from the file's `# namespace` line; resolved
    /// into [`NamespaceRule::Rename`] when that line is seen.
    RenameFromFile {
        /// Namespace written to.
        dst: String,
    },
}

/// Transform settings (shared by every file).
#[derive(Debug, Clone, Default)]
pub struct TransformOptions {
    /// `--bin-list`.
    pub bin_list: Option<HashSet<Bytes>>,
    /// `--set-list`.
    pub set_list: Option<HashSet<Bytes>>,
    /// `--extra-ttl`.
    pub extra_ttl: u32,
}

/// A record decided for writing: namespace mapped, bins filtered, TTL computed. It is turned
/// into the client's types by [`WriteRecord::to_client`] on the writer's side, so that the
/// parse thread only parses and decides. The record's buffers are shared with the parser's
/// input chunks, so the writer hands spent records back to the parse thread to be dropped
/// there (see `pipeline`): reference counts then never bounce between cores.
#[derive(Debug, Clone)]
pub struct WriteRecord {
    /// Namespace written to.
    pub namespace: Arc<str>,
    /// The record (bins already filtered).
    pub record: Box<Record>,
    /// TTL to send.
    pub expiration: Expiration,
    /// 1-based line of the record's first line, for messages.
    pub line: u64,
}

/// A record in the client's types, ready to send.
#[derive(Debug, Clone)]
pub struct ClientRecord {
    /// Namespace, set, digest and (only when the file had `+ k`) the user key.
    pub key: AsKey,
    /// Whether the user key is sent (the file had a `+ k` line the client can carry).
    pub send_key: bool,
    /// The bins, in file order after filtering.
    pub bins: Vec<AsBin>,
    /// The backup generation (write condition).
    pub generation: u16,
    /// TTL to send.
    pub expiration: Expiration,
    /// 1-based line of the record's first line, for messages.
    pub line: u64,
}

impl WriteRecord {
    /// Converts to the client's key and bins (copies); every value keeps its bytes.
    pub fn to_client(&self) -> Result<ClientRecord, TransformError> {
        let rec = &self.record;
        let set = match rec.set() {
            Some(s) => utf8("set", s)?,
            None => String::new(),
        };
        let user_key = rec.key().and_then(convert_key);
        let send_key = user_key.is_some();
        let key = AsKey::with_digest(&*self.namespace, set, user_key, rec.digest);
        let mut bins = Vec::with_capacity(rec.bin_count());
        for b in rec.bins() {
            bins.push(AsBin::new(
                utf8("bin name", b.name)?,
                convert_value(b.value),
            ));
        }
        Ok(ClientRecord {
            key,
            send_key,
            bins,
            generation: rec.generation,
            expiration: self.expiration,
            line: self.line,
        })
    }
}

/// What happens to one record.
#[derive(Debug)]
pub enum Decision {
    /// Void time passed: counted as expired, dropped.
    Expired,
    /// No bins left or set filtered out: counted as skipped, dropped.
    Skipped,
    /// Queue for writing.
    Write(WriteRecord),
}

/// A record that stops the restore.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransformError {
    /// The record's namespace is not the one `-n` / metadata says.
    #[error("record namespace {found:?} does not match the expected namespace {expected:?}")]
    WrongNamespace {
        /// Expected namespace.
        expected: String,
        /// Namespace in the file.
        found: String,
    },
    /// `# namespace` line differs from the expected one.
    #[error("the file's `# namespace` line says {found:?}, expected {expected:?}")]
    WrongMetaNamespace {
        /// Expected namespace.
        expected: String,
        /// Namespace in the file.
        found: String,
    },
    /// `--target-namespace` without metadata and the record came before any `# namespace` line.
    #[error(
        "--target-namespace needs the backup's namespace, but neither the metadata nor a \
         `# namespace` line gave it"
    )]
    NoSourceNamespace,
    /// A name the client can only carry as UTF-8 is not UTF-8.
    #[error("{what} {name:?} is not valid UTF-8, which the Aerospike client cannot send")]
    NotUtf8 {
        /// Which name.
        what: &'static str,
        /// Lossy rendering.
        name: String,
    },
}

/// Decides records of one file.
#[derive(Debug, Clone)]
pub struct Transformer {
    rule: NamespaceRule,
    opts: Arc<TransformOptions>,
    /// Cached target namespace for the current source namespace.
    dst: Option<(Box<[u8]>, Arc<str>)>,
    now: u32,
}

/// Seconds since the Aerospike epoch, as asrestore computes it (wall clock).
pub fn now_clepoch() -> u32 {
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    unix.saturating_sub(CITRUSLEAF_EPOCH) as u32
}

/// TTL for a void time (format §3): `None` = expired.
pub fn expiration(void_time: u32, extra_ttl: u32, now: u32) -> Option<Expiration> {
    if void_time == 0 {
        return Some(Expiration::Never);
    }
    let v = void_time.wrapping_add(extra_ttl);
    if now >= v {
        None
    } else {
        Some(Expiration::Seconds(v - now))
    }
}

fn utf8(what: &'static str, b: &[u8]) -> Result<String, TransformError> {
    std::str::from_utf8(b)
        .map(str::to_owned)
        .map_err(|_| TransformError::NotUtf8 {
            what,
            name: String::from_utf8_lossy(b).into_owned(),
        })
}

/// The value as the client will send it, byte for byte.
pub fn convert_value(v: Value<'_>) -> AsValue {
    match v {
        Value::Nil => AsValue::Nil,
        Value::Bool(b) => AsValue::Bool(b),
        Value::Int(i) => AsValue::Int(i),
        Value::Float(f) => AsValue::Unknown(particle::FLOAT, f.to_bits().to_be_bytes().to_vec()),
        Value::String(s) => AsValue::Unknown(particle::STRING, s.to_vec()),
        Value::GeoJson(g) => {
            let mut b = Vec::with_capacity(GEOJSON_HEADER.len() + g.len());
            b.extend_from_slice(&GEOJSON_HEADER);
            b.extend_from_slice(g);
            AsValue::Unknown(particle::GEOJSON, b)
        }
        Value::Bytes(t, b) => AsValue::Unknown(t.particle_type(), b.to_vec()),
    }
}

/// The user key as the client sends it; `None` when the client cannot carry it (a string key
/// that is not UTF-8: the record is then written by digest only).
pub fn convert_key(k: Key<'_>) -> Option<AsValue> {
    match k {
        Key::Int(i) => Some(AsValue::Int(i)),
        Key::Float(f) => Some(AsValue::Float(f.into())),
        Key::String(s) => std::str::from_utf8(s)
            .ok()
            .map(|s| AsValue::String(s.into())),
        Key::Bytes(b) => Some(AsValue::Blob(b.to_vec())),
    }
}

impl Transformer {
    /// A transformer for one file. `now` is seconds since the Aerospike epoch.
    pub fn new(rule: NamespaceRule, opts: Arc<TransformOptions>, now: u32) -> Self {
        Transformer {
            rule,
            opts,
            dst: None,
            now,
        }
    }

    /// The rule in force.
    pub fn rule(&self) -> &NamespaceRule {
        &self.rule
    }

    /// Handles the file's `# namespace` line.
    pub fn on_meta_namespace(&mut self, ns: &Bytes) -> Result<(), TransformError> {
        match &self.rule {
            NamespaceRule::Rename { src, .. } if src.as_bytes() != ns.as_ref() => {
                Err(TransformError::WrongMetaNamespace {
                    expected: src.clone(),
                    found: String::from_utf8_lossy(ns).into_owned(),
                })
            }
            NamespaceRule::RenameFromFile { dst } => {
                self.rule = NamespaceRule::Rename {
                    src: utf8("namespace", ns)?,
                    dst: dst.clone(),
                };
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Renames an index line's namespace (only when renaming, as asrestore does).
    pub fn index_namespace(&self, idx: &SecondaryIndex) -> Result<String, TransformError> {
        match &self.rule {
            NamespaceRule::Rename { src, dst } if src.as_bytes() == idx.namespace.as_ref() => {
                Ok(dst.clone())
            }
            NamespaceRule::Rename { src, .. } => Err(TransformError::WrongNamespace {
                expected: src.clone(),
                found: String::from_utf8_lossy(&idx.namespace).into_owned(),
            }),
            NamespaceRule::RenameFromFile { .. } => Err(TransformError::NoSourceNamespace),
            _ => utf8("namespace", &idx.namespace),
        }
    }

    /// Whether an index passes `--set-list`.
    pub fn index_wanted(&self, idx: &SecondaryIndex) -> bool {
        match &self.opts.set_list {
            Some(sets) => sets.contains(&idx.set),
            None => true,
        }
    }

    fn target_namespace(&mut self, ns: &[u8]) -> Result<Arc<str>, TransformError> {
        if let Some((src, dst)) = &self.dst
            && src[..] == *ns
        {
            return Ok(dst.clone());
        }
        let dst: Arc<str> = match &self.rule {
            NamespaceRule::Keep => utf8("namespace", ns)?.into(),
            NamespaceRule::Require(src) | NamespaceRule::Rename { src, .. }
                if src.as_bytes() != ns =>
            {
                return Err(TransformError::WrongNamespace {
                    expected: src.clone(),
                    found: String::from_utf8_lossy(ns).into_owned(),
                });
            }
            NamespaceRule::Require(src) => src.as_str().into(),
            NamespaceRule::Rename { dst, .. } => dst.as_str().into(),
            NamespaceRule::RenameFromFile { .. } => return Err(TransformError::NoSourceNamespace),
        };
        self.dst = Some((ns.into(), dst.clone()));
        Ok(dst)
    }

    /// Decides one record (format §4.2 steps 1-5). `line` is for messages.
    pub fn decide(&mut self, mut rec: Box<Record>, line: u64) -> Result<Decision, TransformError> {
        let namespace = self.target_namespace(rec.namespace())?;
        if let Some(list) = &self.opts.bin_list {
            rec.retain_bins(|b| list.contains(b.name));
        }
        let Some(expiration) = expiration(rec.void_time, self.opts.extra_ttl, self.now) else {
            return Ok(Decision::Expired);
        };
        let set_ok = match (&self.opts.set_list, rec.set()) {
            (None, _) => true,
            (Some(sets), Some(set)) => sets.contains(set),
            (Some(_), None) => false,
        };
        if !set_ok || rec.bin_count() == 0 {
            return Ok(Decision::Skipped);
        }
        Ok(Decision::Write(WriteRecord {
            namespace,
            record: rec,
            expiration,
            line,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asb_format::{Bin, BytesType};

    fn rec(ns: &str, set: Option<&str>, void_time: u32, bins: &[(&str, Value)]) -> Box<Record> {
        let mut r = Record::builder(ns, [7; 20])
            .generation(3)
            .void_time(void_time);
        if let Some(set) = set {
            r = r.set(set);
        }
        Box::new(r.bins(bins.iter().map(|&(n, v)| Bin::new(n, v))).build())
    }

    fn opts(f: impl FnOnce(&mut TransformOptions)) -> Arc<TransformOptions> {
        let mut o = TransformOptions::default();
        f(&mut o);
        Arc::new(o)
    }

    fn set_of(items: &[&str]) -> HashSet<Bytes> {
        items
            .iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    const NOW: u32 = 500_000_000;

    #[test]
    fn expiry_rules_of_format_section_3() {
        assert_eq!(expiration(0, 100, NOW), Some(Expiration::Never));
        assert_eq!(expiration(NOW, 0, NOW), None, "void time == now is expired");
        assert_eq!(expiration(NOW - 1, 0, NOW), None);
        assert_eq!(expiration(NOW + 1, 0, NOW), Some(Expiration::Seconds(1)));
        assert_eq!(expiration(NOW - 10, 11, NOW), Some(Expiration::Seconds(1)));
        assert_eq!(expiration(NOW - 10, 10, NOW), None);
    }

    #[test]
    fn decision_order_and_counters() {
        let mut t = Transformer::new(
            NamespaceRule::Keep,
            opts(|o| {
                o.bin_list = Some(set_of(&["a"]));
                o.set_list = Some(set_of(&["s1"]));
            }),
            NOW,
        );
        // Expired wins over "no bins left".
        let r = rec("test", Some("s1"), NOW - 1, &[("b", Value::Int(1))]);
        assert!(matches!(t.decide(r, 1).unwrap(), Decision::Expired));
        // Bin filter leaves nothing: skipped.
        let r = rec("test", Some("s1"), 0, &[("b", Value::Int(1))]);
        assert!(matches!(t.decide(r, 1).unwrap(), Decision::Skipped));
        // Set not in list, and set-less records never match.
        let r = rec("test", Some("s2"), 0, &[("a", Value::Int(1))]);
        assert!(matches!(t.decide(r, 1).unwrap(), Decision::Skipped));
        let r = rec("test", None, 0, &[("a", Value::Int(1))]);
        assert!(matches!(t.decide(r, 1).unwrap(), Decision::Skipped));
        // Nil counts as a bin.
        let r = rec(
            "test",
            Some("s1"),
            0,
            &[("a", Value::Nil), ("b", Value::Int(2))],
        );
        let Decision::Write(w) = t.decide(r, 9).unwrap() else {
            panic!("expected a write")
        };
        let w = w.to_client().unwrap();
        assert_eq!(w.bins.len(), 1);
        assert_eq!(w.bins[0].name, "a");
        assert_eq!(w.bins[0].value, AsValue::Nil);
        assert_eq!(w.generation, 3);
        assert_eq!(w.line, 9);
        assert_eq!(w.expiration, Expiration::Never);
        assert_eq!(w.key.namespace(), "test");
        assert_eq!(w.key.set_name(), "s1");
        assert_eq!(w.key.digest(), [7; 20]);
        assert!(!w.send_key);
    }

    #[test]
    fn zero_bins_is_skipped() {
        let mut t = Transformer::new(NamespaceRule::Keep, opts(|_| ()), NOW);
        let r = rec("test", None, 0, &[]);
        assert!(matches!(t.decide(r, 1).unwrap(), Decision::Skipped));
    }

    #[test]
    fn namespace_require_and_rename() {
        let mut t = Transformer::new(NamespaceRule::Require("a".into()), opts(|_| ()), NOW);
        let r = rec("b", None, 0, &[("x", Value::Int(1))]);
        assert_eq!(
            t.decide(r, 1).unwrap_err(),
            TransformError::WrongNamespace {
                expected: "a".into(),
                found: "b".into()
            }
        );
        let rule = NamespaceRule::Rename {
            src: "a".into(),
            dst: "z".into(),
        };
        let mut t = Transformer::new(rule, opts(|_| ()), NOW);
        let Decision::Write(w) = t
            .decide(rec("a", None, 0, &[("x", Value::Int(1))]), 1)
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(w.to_client().unwrap().key.namespace(), "z");
        assert!(
            t.decide(rec("b", None, 0, &[("x", Value::Int(1))]), 2)
                .is_err()
        );
        assert!(t.on_meta_namespace(&Bytes::from_static(b"b")).is_err());
        assert!(t.on_meta_namespace(&Bytes::from_static(b"a")).is_ok());
    }

    #[test]
    fn target_namespace_from_the_file() {
        let rule = NamespaceRule::RenameFromFile { dst: "z".into() };
        let mut t = Transformer::new(rule.clone(), opts(|_| ()), NOW);
        assert_eq!(
            t.decide(rec("a", None, 0, &[("x", Value::Int(1))]), 1)
                .unwrap_err(),
            TransformError::NoSourceNamespace
        );
        let mut t = Transformer::new(rule, opts(|_| ()), NOW);
        t.on_meta_namespace(&Bytes::from_static(b"a")).unwrap();
        let Decision::Write(w) = t
            .decide(rec("a", None, 0, &[("x", Value::Int(1))]), 1)
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(w.to_client().unwrap().key.namespace(), "z");
    }

    #[test]
    fn values_keep_their_bytes() {
        let bad_utf8: &[u8] = b"\xff\x00a\n";
        assert_eq!(
            convert_value(Value::String(bad_utf8)),
            AsValue::Unknown(3, bad_utf8.to_vec())
        );
        let nan = f64::from_bits(0x7ff8_0000_0000_1234);
        assert_eq!(
            convert_value(Value::Float(nan)),
            AsValue::Unknown(2, 0x7ff8_0000_0000_1234u64.to_be_bytes().to_vec())
        );
        assert_eq!(
            convert_value(Value::GeoJson(b"{}")),
            AsValue::Unknown(23, vec![0, 0, 0, b'{', b'}'])
        );
        for t in [
            BytesType::Java,
            BytesType::Erlang,
            BytesType::Hll,
            BytesType::List,
        ] {
            assert_eq!(
                convert_value(Value::Bytes(t, b"\x93\x01")),
                AsValue::Unknown(t as u8, vec![0x93, 1])
            );
        }
        assert_eq!(convert_value(Value::Bool(true)), AsValue::Bool(true));
        assert_eq!(convert_value(Value::Int(-5)), AsValue::Int(-5));
    }

    #[test]
    fn keys() {
        assert_eq!(convert_key(Key::Int(4)), Some(AsValue::Int(4)));
        assert_eq!(
            convert_key(Key::String(b"k")),
            Some(AsValue::String("k".into()))
        );
        assert_eq!(convert_key(Key::String(b"\xff")), None);
        assert_eq!(
            convert_key(Key::Bytes(b"\xff")),
            Some(AsValue::Blob(vec![0xff]))
        );
    }
}
