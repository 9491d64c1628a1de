//! In-memory record storage: one map per partition per namespace, each behind its own lock.
//!
//! Values are `Bytes` slices of the request buffer they arrived in, so storing a record copies
//! no bin data.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

/// Number of partitions of every namespace.
pub const PARTITIONS: usize = 4096;

/// Seconds between the Unix epoch and the Aerospike ("citrusleaf") epoch, 2010-01-01.
pub const CITRUSLEAF_EPOCH: u64 = 1_262_304_000;

/// Current time in seconds since the Aerospike epoch.
pub fn now_clepoch() -> u32 {
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(CITRUSLEAF_EPOCH);
    u32::try_from(unix.saturating_sub(CITRUSLEAF_EPOCH)).unwrap_or(u32::MAX)
}

/// Partition of a digest, as the client computes it.
pub fn partition_of(digest: &[u8; 20]) -> usize {
    (usize::from(digest[0]) | (usize::from(digest[1]) << 8)) & (PARTITIONS - 1)
}

/// A stored user key: its particle type (1 int, 2 double, 3 string, 4 blob) and value bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// Particle type of the key value.
    pub particle_type: u8,
    /// Value bytes as sent on the wire (8 big-endian bytes for int/double).
    pub value: Bytes,
}

/// One bin of a stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBin {
    /// Bin name (at most 15 bytes).
    pub name: Bytes,
    /// Particle type (1 int, 2 double, 3 string, 4 and 7..=12 blobs, 17 bool, 18 HLL, 19 map,
    /// 20 list, 23 GeoJSON).
    pub particle_type: u8,
    /// Value bytes exactly as the client sent them.
    pub value: Bytes,
}

impl StoredBin {
    /// Bin name as text (lossy for non-UTF-8 names).
    pub fn name_str(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// A record as held by the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Set name, if any.
    pub set: Option<Bytes>,
    /// User key stored with the record (sent with `send_key`).
    pub key: Option<StoredKey>,
    /// Generation: 1 for a new record, +1 per update.
    pub generation: u16,
    /// Absolute expiry in seconds since the Aerospike epoch; 0 = never expires.
    pub void_time: u32,
    /// Bins in write order.
    pub bins: Vec<StoredBin>,
}

impl Record {
    /// Whether the record has expired at `now` (Aerospike epoch seconds).
    pub fn expired(&self, now: u32) -> bool {
        self.void_time != 0 && self.void_time <= now
    }

    /// Index of the bin named `name`.
    pub fn bin_index(&self, name: &[u8]) -> Option<usize> {
        self.bins.iter().position(|b| b.name.as_ref() == name)
    }

    /// Size of the record in the server's flat format, which `max-record-size` limits:
    /// a 39-byte header, the bin count (varint), the set name (length byte + name), the
    /// stored key (varint length + particle type + value), the void time (4 bytes, only when
    /// the record expires), then per bin a length byte, the name and the value
    /// ([`particle::stored_size`](crate::particle::stored_size)). Measured against 8.1.2.0,
    /// where it is exact except for GeoJSON regions.
    pub fn storage_size(&self) -> usize {
        let mut size = 39 + varint_len(self.bins.len());
        if let Some(s) = &self.set {
            size += 1 + s.len();
        }
        if let Some(k) = &self.key {
            let n = 1 + k.value.len();
            size += varint_len(n) + n;
        }
        if self.void_time != 0 {
            size += 4;
        }
        for b in &self.bins {
            size += 1 + b.name.len() + crate::particle::stored_size(b.particle_type, &b.value);
        }
        size
    }
}

/// Bytes of `n` as an unsigned LEB128 varint.
fn varint_len(n: usize) -> usize {
    let mut len = 1;
    let mut n = n >> 7;
    while n != 0 {
        len += 1;
        n >>= 7;
    }
    len
}

/// Hasher for digests: they are RIPEMD-160 output, so a slice of them is already uniform.
#[derive(Default)]
pub struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(b);
        }
    }
}

/// Map of one partition.
pub type PartitionMap = HashMap<[u8; 20], Record, BuildHasherDefault<DigestHasher>>;

/// One namespace: 4096 independently locked partitions.
pub struct Namespace {
    name: String,
    partitions: Box<[Mutex<PartitionMap>]>,
    /// Set names, shared by the records of metadata-only namespaces.
    sets: Mutex<Vec<Bytes>>,
}

impl Namespace {
    fn new(name: &str) -> Self {
        Namespace {
            name: name.to_string(),
            partitions: (0..PARTITIONS)
                .map(|_| Mutex::new(PartitionMap::default()))
                .collect(),
            sets: Mutex::new(Vec::new()),
        }
    }

    /// Drops the bin values of `record` and makes its set and key own their bytes, so the
    /// request buffer they came in is not kept alive.
    pub fn strip(&self, record: &mut Record) {
        record.bins = Vec::new();
        if let Some(k) = &mut record.key {
            k.value = Bytes::copy_from_slice(&k.value);
        }
        if let Some(set) = &mut record.set {
            let mut sets = lock(&self.sets);
            match sets.iter().find(|s| *s == set) {
                Some(shared) => *set = shared.clone(),
                None => {
                    *set = Bytes::copy_from_slice(set);
                    sets.push(set.clone());
                }
            }
        }
    }

    /// Locks the partition holding `digest`.
    pub fn lock(&self, digest: &[u8; 20]) -> MutexGuard<'_, PartitionMap> {
        lock(&self.partitions[partition_of(digest)])
    }

    /// Visits every live (unexpired) record.
    pub fn for_each(&self, mut f: impl FnMut(&[u8; 20], &Record)) {
        let now = now_clepoch();
        for p in self.partitions.iter() {
            let map = lock(p);
            for (d, r) in map.iter() {
                if !r.expired(now) {
                    f(d, r);
                }
            }
        }
    }

    /// Removes every record (of one set when `set` is given).
    pub fn truncate(&self, set: Option<&[u8]>) {
        for p in self.partitions.iter() {
            let mut map = lock(p);
            match set {
                None => map.clear(),
                Some(s) => map.retain(|_, r| r.set.as_deref() != Some(s)),
            }
        }
    }
}

/// Locks a mutex, ignoring poisoning (a panicking test thread must not wedge the node).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// All namespaces of a cluster (shared by its nodes, as if fully replicated).
pub struct Store {
    namespaces: Vec<Namespace>,
}

impl Store {
    /// Creates empty namespaces.
    pub fn new(names: &[String]) -> Self {
        Store {
            namespaces: names.iter().map(|n| Namespace::new(n)).collect(),
        }
    }

    /// Namespace by name.
    pub fn namespace(&self, name: &[u8]) -> Option<&Namespace> {
        self.namespaces.iter().find(|n| n.name.as_bytes() == name)
    }

    /// All namespaces.
    pub fn namespaces(&self) -> &[Namespace] {
        &self.namespaces
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob_record(len: usize) -> Record {
        Record {
            set: None,
            key: None,
            generation: 1,
            void_time: 0,
            bins: vec![StoredBin {
                name: Bytes::from_static(b"b"),
                particle_type: 4,
                value: Bytes::from(vec![7; len]),
            }],
        }
    }

    #[test]
    fn storage_size_matches_the_server() {
        // The largest one-blob records 8.1.2.0 takes under max-record-size 1048576.
        let mut r = blob_record(1_048_529);
        assert_eq!(r.storage_size(), 1 << 20);
        r.set = Some(Bytes::from_static(b"probe"));
        assert_eq!(r.storage_size(), (1 << 20) + 6);
        r.void_time = 1;
        assert_eq!(r.storage_size(), (1 << 20) + 10);
        let mut r = blob_record(0);
        let base = r.storage_size();
        r.key = Some(StoredKey {
            particle_type: 3,
            value: Bytes::from(vec![b'k'; 127]),
        });
        assert_eq!(r.storage_size() - base, 130);
        r.key = Some(StoredKey {
            particle_type: 1,
            value: Bytes::from_static(&[0; 8]),
        });
        assert_eq!(r.storage_size() - base, 10);
        assert_eq!(
            [varint_len(127), varint_len(128), varint_len(16384)],
            [1, 2, 3]
        );
    }
}
