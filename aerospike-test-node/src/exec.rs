//! Record semantics of one key: write, read, delete and touch with the server's policies.
//!
//! Used by single-record commands and by every batch row alike.

use bytes::Bytes;

use crate::particle;
use crate::proto::{Op, info1, info2, info3, op};
use crate::result_code as rc;
use crate::store::{Namespace, Record, StoredBin, StoredKey, now_clepoch};

/// Largest TTL a write may carry (10 years), unless it is one of the two special values.
pub const MAX_TTL: u32 = 315_360_000;
/// TTL meaning "never expire".
pub const TTL_NEVER_EXPIRE: u32 = u32::MAX;
/// TTL meaning "do not change the record's expiry".
pub const TTL_DONT_UPDATE: u32 = u32::MAX - 1;
/// Longest set name.
pub const MAX_SET_NAME: usize = 63;
/// Longest bin name.
pub const MAX_BIN_NAME: usize = 15;
/// Most bins a record may hold (the count must fit the 16-bit op count of an answer).
pub const MAX_BINS: usize = 32_767;

/// Namespace-wide settings the semantics depend on.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Records larger than this are rejected with 13.
    pub write_block_size: usize,
    /// TTL applied when a write sends TTL 0 (0 = never expire).
    pub default_ttl: u32,
    /// Keep bin values (false: metadata only, see `ClusterConfig::store_bins`).
    pub store_bins: bool,
}

/// One key's command: the header attributes plus the fields and ops that apply to it.
#[derive(Debug, Clone, Copy)]
pub struct Command<'a> {
    /// Read flags.
    pub info1: u8,
    /// Write flags.
    pub info2: u8,
    /// Other flags.
    pub info3: u8,
    /// Expected generation (generation policies).
    pub generation: u32,
    /// Requested TTL.
    pub ttl: u32,
    /// Set name.
    pub set: Option<&'a Bytes>,
    /// User key sent with the command.
    pub key: Option<&'a StoredKey>,
    /// Operations.
    pub ops: &'a [Op],
}

/// Result of a command on one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Result code.
    pub rc: u8,
    /// Generation of the record after the command.
    pub generation: u32,
    /// Void time of the record after the command.
    pub void_time: u32,
}

impl Outcome {
    fn code(rc: u8) -> Self {
        Outcome {
            rc,
            generation: 0,
            void_time: 0,
        }
    }

    /// A refused write on a record that exists: 8.1.2.0 answers with the stored record's
    /// generation and void time in the header.
    fn refused(rc: u8, existing: Option<&Record>) -> Self {
        Outcome {
            rc,
            generation: existing.map_or(0, |r| u32::from(r.generation)),
            void_time: existing.map_or(0, |r| r.void_time),
        }
    }
}

/// Runs `cmd` on the record `digest` of `ns`; bins to return are pushed to `out_bins`.
///
/// Checks happen in the order the server makes them: op-level checks (no ops, bin names,
/// replace with nil / modify / touch ops) before the record is looked up; then existence,
/// generation, set name, stored key, TTL; then the values, the bin count and the size.
pub fn execute(
    ns: &Namespace,
    limits: &Limits,
    digest: &[u8; 20],
    cmd: &Command<'_>,
    out_bins: &mut Vec<StoredBin>,
) -> Outcome {
    let is_delete = cmd.info2 & info2::DELETE != 0; // clients send WRITE | DELETE
    let is_write = !is_delete && cmd.info2 & info2::WRITE != 0;
    let must_not_create = if is_write {
        match check_ops(cmd) {
            Ok(m) => m,
            Err(code) => return Outcome::code(code),
        }
    } else {
        false
    };
    let now = now_clepoch();
    let mut map = ns.lock(digest);
    if map.get(digest).is_some_and(|r| r.expired(now)) {
        map.remove(digest);
    }
    let existing = map.get(digest);
    if is_write {
        match write(existing, must_not_create, limits, cmd, now, out_bins) {
            Ok(WriteResult::Stored(mut record)) => {
                if !limits.store_bins {
                    ns.strip(&mut record);
                }
                let outcome = Outcome {
                    rc: rc::OK,
                    generation: u32::from(record.generation),
                    void_time: record.void_time,
                };
                map.insert(*digest, record);
                outcome
            }
            Ok(WriteResult::Deleted) => {
                map.remove(digest);
                Outcome::code(rc::OK)
            }
            Err(code) => Outcome::refused(code, existing),
        }
    } else if is_delete {
        let checked = existing
            .ok_or(rc::KEY_NOT_FOUND)
            .and_then(|r| check_generation(Some(r), cmd).map(|()| r))
            .and_then(|r| check_named_set(r, cmd).map(|()| r))
            .and_then(|r| check_key(r, cmd));
        match checked {
            Err(code) => Outcome::code(code),
            Ok(()) => {
                map.remove(digest);
                Outcome::code(rc::OK)
            }
        }
    } else if cmd.info1 & info1::READ != 0 {
        match existing
            .ok_or(rc::KEY_NOT_FOUND)
            .and_then(|r| check_named_set(r, cmd).map(|()| r))
            .and_then(|r| check_key(r, cmd).map(|()| r))
        {
            Err(code) => Outcome::code(code),
            Ok(r) => {
                if cmd.info1 & info1::NOBINDATA == 0 {
                    collect_reads(r, cmd, out_bins);
                }
                Outcome {
                    rc: rc::OK,
                    generation: u32::from(r.generation),
                    void_time: r.void_time,
                }
            }
        }
    } else {
        Outcome::code(rc::PARAMETER)
    }
}

fn is_replace(cmd: &Command<'_>) -> bool {
    cmd.info3 & (info3::CREATE_OR_REPLACE | info3::REPLACE_ONLY) != 0
}

/// Checks made before the record is looked up; returns whether the write must not create
/// the record (update-only, replace-only, touch).
fn check_ops(cmd: &Command<'_>) -> Result<bool, u8> {
    if cmd.ops.is_empty() {
        return Err(rc::PARAMETER);
    }
    if cmd.set.is_some_and(|s| s.len() > MAX_SET_NAME) {
        return Err(rc::PARAMETER);
    }
    // 8.1.2.0 refuses an integer key that is not 8 bytes with 16 and stores any other key
    // as sent, whatever its particle type.
    if let Some(k) = cmd.key
        && k.particle_type == particle::ptype::INTEGER
        && k.value.len() != 8
    {
        return Err(rc::UNSUPPORTED_FEATURE);
    }
    let replace = is_replace(cmd);
    let mut must_not_create = cmd.info3 & (info3::UPDATE_ONLY | info3::REPLACE_ONLY) != 0;
    for o in cmd.ops {
        if o.op == op::TOUCH {
            if replace {
                return Err(rc::PARAMETER);
            }
            must_not_create = true;
            continue;
        }
        if o.name.len() > MAX_BIN_NAME || o.name.contains(&0) {
            return Err(rc::BIN_NAME);
        }
        let conflicts_with_replace = match o.op {
            op::WRITE => o.ptype == particle::ptype::NIL,
            op::INCR | op::APPEND | op::PREPEND | op::DELETE => true,
            // A read among writes needs the READ flag (clients set it).
            op::READ if cmd.info1 & info1::READ == 0 => return Err(rc::PARAMETER),
            op::READ => false,
            // Refused once the record is looked up (see `apply_op`), as the server does.
            _ => false,
        };
        if replace && conflicts_with_replace {
            return Err(rc::PARAMETER);
        }
    }
    Ok(must_not_create)
}

/// Generation policies; a record that does not exist has generation 0.
fn check_generation(r: Option<&Record>, cmd: &Command<'_>) -> Result<(), u8> {
    let stored = r.map_or(0, |r| u32::from(r.generation));
    if cmd.info2 & info2::GENERATION != 0 && cmd.generation != stored {
        return Err(rc::GENERATION);
    }
    if cmd.info2 & info2::GENERATION_GT != 0 && cmd.generation <= stored {
        return Err(rc::GENERATION);
    }
    Ok(())
}

/// A key sent with the command must match the key stored with the record.
fn check_key(r: &Record, cmd: &Command<'_>) -> Result<(), u8> {
    match (&r.key, cmd.key) {
        (Some(stored), Some(sent)) if stored != sent => Err(rc::KEY_MISMATCH),
        _ => Ok(()),
    }
}

/// A read or delete that names a set (not empty) must name the record's set; one that names
/// none reaches the record wherever it is (checked against 8.1.2.0).
fn check_named_set(r: &Record, cmd: &Command<'_>) -> Result<(), u8> {
    match cmd.set.filter(|s| !s.is_empty()) {
        Some(s) if Some(s.as_ref()) != r.set.as_deref() => Err(rc::PARAMETER),
        _ => Ok(()),
    }
}

/// An update must name the set the record is in (or none when it is in none).
fn check_set(r: &Record, cmd: &Command<'_>) -> Result<(), u8> {
    let sent = cmd.set.filter(|s| !s.is_empty());
    if sent.map(|s| s.as_ref()) == r.set.as_deref() {
        Ok(())
    } else {
        Err(rc::PARAMETER)
    }
}

enum WriteResult {
    Stored(Record),
    Deleted,
}

fn write(
    existing: Option<&Record>,
    must_not_create: bool,
    limits: &Limits,
    cmd: &Command<'_>,
    now: u32,
    out_bins: &mut Vec<StoredBin>,
) -> Result<WriteResult, u8> {
    match existing {
        None if must_not_create => return Err(rc::KEY_NOT_FOUND),
        Some(_) if cmd.info2 & info2::CREATE_ONLY != 0 => return Err(rc::KEY_EXISTS),
        _ => {}
    }
    check_generation(existing, cmd)?;
    if let Some(r) = existing {
        check_set(r, cmd)?;
        check_key(r, cmd)?;
    }
    let ttl = match (cmd.ttl, existing) {
        (TTL_DONT_UPDATE, None) => 0,
        (ttl, _) => ttl,
    };
    if ttl > MAX_TTL && ttl != TTL_NEVER_EXPIRE && ttl != TTL_DONT_UPDATE {
        return Err(rc::PARAMETER);
    }

    let mut record = match existing {
        Some(r) if !is_replace(cmd) => r.clone(),
        Some(r) => Record {
            bins: Vec::with_capacity(cmd.ops.len()),
            ..r.clone()
        },
        None => Record {
            set: None,
            key: None,
            generation: 0,
            void_time: 0,
            bins: Vec::with_capacity(cmd.ops.len()),
        },
    };
    for o in cmd.ops {
        apply_op(&mut record, o)?;
    }
    if record.bins.is_empty() {
        return match existing {
            Some(_) => Ok(WriteResult::Deleted),
            // A write that leaves a new record without bins (only nil bins, or a delete op
            // last): 8.1.2.0 answers 2 (not found) and creates nothing.
            None => Err(rc::KEY_NOT_FOUND),
        };
    }
    if record.bins.len() > MAX_BINS {
        return Err(rc::PARAMETER);
    }
    record.generation = match existing {
        Some(r) if r.generation == u16::MAX => 1,
        Some(r) => r.generation + 1,
        None => 1,
    };
    record.void_time = match ttl {
        0 => expiry(now, limits.default_ttl),
        TTL_NEVER_EXPIRE => 0,
        TTL_DONT_UPDATE => existing.map_or(0, |r| r.void_time),
        ttl => expiry(now, ttl),
    };
    if let Some(k) = cmd.key {
        record.key = Some(k.clone());
    }
    if let Some(s) = cmd.set
        && !s.is_empty()
    {
        record.set = Some(s.clone());
    }
    if record.storage_size() > limits.write_block_size {
        return Err(rc::RECORD_TOO_BIG);
    }
    collect_reads(&record, cmd, out_bins);
    Ok(WriteResult::Stored(record))
}

fn expiry(now: u32, ttl: u32) -> u32 {
    if ttl == 0 { 0 } else { now.saturating_add(ttl) }
}

fn apply_op(record: &mut Record, o: &Op) -> Result<(), u8> {
    if o.op == op::DELETE {
        record.bins.clear();
        return Ok(());
    }
    let idx = record.bin_index(&o.name);
    match o.op {
        op::WRITE if o.ptype == particle::ptype::NIL => {
            if let Some(i) = idx {
                record.bins.remove(i);
            }
        }
        op::WRITE => {
            particle::validate(o.ptype, &o.value)?;
            let value = match particle::normalize_integer(&o.value) {
                Some(v) if o.ptype == particle::ptype::INTEGER && o.value.len() != 8 => {
                    Bytes::copy_from_slice(&v)
                }
                _ => o.value.clone(),
            };
            let bin = StoredBin {
                name: o.name.clone(),
                particle_type: o.ptype,
                value,
            };
            match idx {
                Some(i) => record.bins[i] = bin,
                None => record.bins.push(bin),
            }
        }
        op::INCR => {
            let add = number(o.ptype, &o.value)?;
            match idx {
                None => record.bins.push(StoredBin {
                    name: o.name.clone(),
                    particle_type: o.ptype,
                    value: Bytes::copy_from_slice(&add.to_be_bytes()),
                }),
                Some(i) => {
                    let b = &mut record.bins[i];
                    let sum = match (number(b.particle_type, &b.value), add) {
                        (Ok(Number::Int(cur)), Number::Int(add)) => {
                            Number::Int(cur.wrapping_add(add))
                        }
                        (Ok(Number::Float(cur)), Number::Float(add)) => Number::Float(cur + add),
                        // An int onto a float bin, a float onto an int bin, or onto a bin
                        // that is not a number.
                        _ => return Err(rc::BIN_TYPE),
                    };
                    b.value = Bytes::copy_from_slice(&sum.to_be_bytes());
                }
            }
        }
        op::APPEND | op::PREPEND => match idx {
            None => record.bins.push(StoredBin {
                name: o.name.clone(),
                particle_type: o.ptype,
                value: o.value.clone(),
            }),
            Some(i) => {
                let b = &mut record.bins[i];
                if b.particle_type != o.ptype {
                    return Err(rc::BIN_TYPE);
                }
                let mut v = Vec::with_capacity(b.value.len() + o.value.len());
                if o.op == op::APPEND {
                    v.extend_from_slice(&b.value);
                    v.extend_from_slice(&o.value);
                } else {
                    v.extend_from_slice(&o.value);
                    v.extend_from_slice(&b.value);
                }
                b.value = Bytes::from(v);
            }
        },
        op::READ | op::TOUCH => {}
        // An operation the node does not know: refused after the record is looked up (the
        // answer carries the stored generation), as 8.1.2.0 does.
        _ => return Err(rc::PARAMETER),
    }
    Ok(())
}

/// The operand or the bin of an increment.
#[derive(Debug, Clone, Copy)]
enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    fn to_be_bytes(self) -> [u8; 8] {
        match self {
            Number::Int(v) => v.to_be_bytes(),
            Number::Float(v) => v.to_be_bytes(),
        }
    }
}

/// An integer (1, 2, 4 or 8 bytes) or a double (8 bytes). A number of another size is a
/// parameter error (4); another particle type cannot be added (12), as 8.1.2.0 answers.
fn number(ptype: u8, v: &[u8]) -> Result<Number, u8> {
    match ptype {
        particle::ptype::INTEGER => particle::normalize_integer(v)
            .map(|b| Number::Int(i64::from_be_bytes(b)))
            .ok_or(rc::PARAMETER),
        particle::ptype::FLOAT => <[u8; 8]>::try_from(v)
            .map(|b| Number::Float(f64::from_be_bytes(b)))
            .map_err(|_| rc::PARAMETER),
        _ => Err(rc::BIN_TYPE),
    }
}

/// Bins a command asks for: all of them (GET_ALL, or a READ op without a name) or by name.
fn collect_reads(r: &Record, cmd: &Command<'_>, out: &mut Vec<StoredBin>) {
    let all = cmd.info1 & info1::GET_ALL != 0
        || (cmd.info2 & info2::WRITE == 0 && cmd.ops.is_empty())
        || cmd
            .ops
            .iter()
            .any(|o| o.op == op::READ && o.name.is_empty());
    if all {
        out.extend(r.bins.iter().cloned());
        return;
    }
    // With RESPOND_ALL_OPS every op answers in order: reads with the bin (nil when absent),
    // writes with a nil value under their bin name.
    let every_op = cmd.info2 & info2::RESPOND_ALL_OPS != 0;
    for o in cmd.ops {
        let found = (o.op == op::READ)
            .then(|| r.bin_index(&o.name))
            .flatten()
            .map(|i| r.bins[i].clone());
        match found {
            Some(bin) => out.push(bin),
            None if every_op => out.push(StoredBin {
                name: o.name.clone(),
                particle_type: particle::ptype::NIL,
                value: Bytes::new(),
            }),
            None => {}
        }
    }
}
