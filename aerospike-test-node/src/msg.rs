//! AS_MSG requests: single-record commands and batch-index requests.

use bytes::{Bytes, BytesMut};

use crate::cluster::Shared;
use crate::exec::{self, Command, Outcome};
use crate::proto::{
    self, Fields, Op, Reader, TYPE_MSG, Truncated, begin_proto, end_proto, info1, info3, put_bin,
    put_msg_header, put_simple_response,
};
use crate::result_code as rc;
use crate::store::StoredBin;

/// Buffers reused across the requests of one connection.
#[derive(Default)]
pub(crate) struct Scratch {
    ops: Vec<Op>,
    bins: Vec<StoredBin>,
}

/// Handles one AS_MSG frame (proto header included). `forced` answers every record with that
/// result code without applying anything (fault injection).
pub(crate) fn handle(
    shared: &Shared,
    frame: &Bytes,
    out: &mut BytesMut,
    scratch: &mut Scratch,
    forced: Option<u8>,
) {
    let mut r = Reader::new(frame, 8);
    let mut fields = Fields::default();
    let header = match r
        .msg_header()
        .and_then(|h| r.fields(h.n_fields, &mut fields).map(|()| h))
    {
        Ok(h) => h,
        Err(Truncated) => return put_simple_response(out, rc::PARAMETER, 0, 0),
    };
    if header.info1 & info1::BATCH != 0 {
        return batch(shared, fields.batch.as_ref(), out, scratch, forced);
    }
    scratch.ops.clear();
    if r.ops(header.n_ops, &mut scratch.ops).is_err() {
        return put_simple_response(out, rc::PARAMETER, 0, 0);
    }
    if let Some(code) = forced {
        return put_simple_response(out, code, 0, 0);
    }
    let Some(ns) = fields
        .namespace
        .as_ref()
        .and_then(|n| shared.store.namespace(n))
    else {
        return put_simple_response(out, rc::NAMESPACE_NOT_FOUND, 0, 0);
    };
    let Some(digest) = fields.digest else {
        return put_simple_response(out, rc::PARAMETER, 0, 0);
    };
    if let Some(code) = shared.faults.record_code(&digest) {
        return put_simple_response(out, code, 0, 0);
    }
    if fields.filter {
        return put_simple_response(out, rc::UNSUPPORTED_FEATURE, 0, 0);
    }
    let cmd = Command {
        info1: header.info1,
        info2: header.info2,
        info3: header.info3,
        generation: header.generation,
        ttl: header.record_ttl,
        set: fields.set.as_ref(),
        key: fields.key.as_ref(),
        ops: &scratch.ops,
    };
    scratch.bins.clear();
    let outcome = exec::execute(ns, &shared.limits, &digest, &cmd, &mut scratch.bins);
    let at = begin_proto(out);
    put_record(out, 0, &outcome, 0, &scratch.bins);
    end_proto(out, at, TYPE_MSG);
}

fn put_record(out: &mut BytesMut, info3: u8, o: &Outcome, index: u32, bins: &[StoredBin]) {
    let bins = if o.rc == rc::OK { bins } else { &[] };
    put_msg_header(
        out,
        info3,
        o.rc,
        o.generation,
        o.void_time,
        index,
        0,
        bins.len() as u16,
    );
    for b in bins {
        put_bin(out, b);
    }
}

/// Batch row flags.
mod row {
    pub const REPEAT: u8 = 0x1;
    pub const INFO: u8 = 0x2;
    pub const GEN: u8 = 0x4;
    pub const TTL: u8 = 0x8;
    pub const INFO4: u8 = 0x10;
}

/// The header part of a batch row that a REPEAT row reuses.
#[derive(Default)]
struct RowTemplate {
    info1: u8,
    info2: u8,
    info3: u8,
    generation: u32,
    ttl: u32,
    fields: Fields,
}

fn batch(
    shared: &Shared,
    body: Option<&Bytes>,
    out: &mut BytesMut,
    scratch: &mut Scratch,
    forced: Option<u8>,
) {
    let at = begin_proto(out);
    let rows_start = out.len();
    let code = if !shared.cfg.batch_writes {
        rc::BATCH_DISABLED
    } else {
        match body {
            None => rc::PARAMETER,
            Some(body) => {
                let Scratch { ops, bins } = scratch;
                let mut rows = 0u32;
                let walked = walk_rows(body, ops, |t, index, digest, ops| {
                    let known = t
                        .fields
                        .namespace
                        .as_ref()
                        .is_some_and(|n| shared.store.namespace(n).is_some());
                    if !known {
                        return false;
                    }
                    rows += 1;
                    let outcome = match forced.or_else(|| shared.faults.record_code(digest)) {
                        Some(code) => {
                            bins.clear();
                            Outcome {
                                rc: code,
                                generation: 0,
                                void_time: 0,
                            }
                        }
                        None => row_outcome(shared, t, digest, ops, bins),
                    };
                    put_record(out, 0, &outcome, index, bins);
                    true
                });
                match (walked, forced) {
                    // As 8.1.2.0 does: a batch that turns out malformed or empty, or reaches a
                    // row naming no namespace or an unknown one, is answered with one 4 and
                    // no rows, though the rows before that point were applied.
                    (Err(Truncated), _) => rc::PARAMETER,
                    (Ok(()), _) if rows == 0 => rc::PARAMETER,
                    // A batch past its timeout answers its rows 9 and ends with 9 too
                    // (8.1.2.0); other whole-request codes (overload, busy key) are per row.
                    (Ok(()), Some(rc::TIMEOUT)) => rc::TIMEOUT,
                    (Ok(()), _) => rc::OK,
                }
            }
        }
    };
    if code == rc::PARAMETER {
        out.truncate(rows_start);
    }
    put_msg_header(out, info3::LAST, code, 0, 0, 0, 0, 0);
    end_proto(out, at, TYPE_MSG);
}

/// Parses the rows of a batch body, calling `row` for each (with the header it uses, a
/// REPEAT row reusing the previous one) until `row` returns false or the rows end.
fn walk_rows(
    body: &Bytes,
    ops: &mut Vec<Op>,
    mut row: impl FnMut(&RowTemplate, u32, &[u8; 20], &[Op]) -> bool,
) -> Result<(), Truncated> {
    let mut r = Reader::new(body, 0);
    let count = r.u32()?;
    let _flags = r.u8()?;
    let mut t = RowTemplate::default();
    let mut have_template = false;
    for _ in 0..count {
        let index = r.u32()?;
        let digest = r.digest()?;
        let flags = r.u8()?;
        if flags & row::REPEAT == 0 {
            // info1 is always there; info2 and info3 only with the INFO flag (old clients
            // send reads without it).
            t.info1 = r.u8()?;
            t.info2 = 0;
            t.info3 = 0;
            t.generation = 0;
            t.ttl = 0;
            if flags & row::INFO != 0 {
                t.info2 = r.u8()?;
                t.info3 = r.u8()?;
            }
            if flags & row::INFO4 != 0 {
                r.u8()?;
            }
            if flags & row::GEN != 0 {
                t.generation = u32::from(r.u16()?);
            }
            if flags & row::TTL != 0 {
                t.ttl = r.u32()?;
            }
            let n_fields = r.u16()?;
            let n_ops = r.u16()?;
            t.fields = Fields::default();
            // Old clients sent 0 fields but always the namespace.
            r.fields(n_fields.max(1), &mut t.fields)?;
            ops.clear();
            r.ops(n_ops, ops)?;
            have_template = true;
        } else if !have_template {
            return Err(Truncated);
        }
        if !row(&t, index, &digest, ops) {
            return Err(Truncated);
        }
    }
    Ok(())
}

fn row_outcome(
    shared: &Shared,
    t: &RowTemplate,
    digest: &[u8; 20],
    ops: &[Op],
    bins: &mut Vec<StoredBin>,
) -> Outcome {
    bins.clear();
    let code = |rc| Outcome {
        rc,
        generation: 0,
        void_time: 0,
    };
    let Some(ns) = t
        .fields
        .namespace
        .as_ref()
        .and_then(|n| shared.store.namespace(n))
    else {
        return code(rc::NAMESPACE_NOT_FOUND);
    };
    if t.fields.filter {
        return code(rc::UNSUPPORTED_FEATURE);
    }
    let mut info1 = t.info1;
    if t.info2 & (proto::info2::WRITE | proto::info2::DELETE) == 0 {
        info1 |= info1::READ;
    }
    let cmd = Command {
        info1,
        info2: t.info2,
        info3: t.info3,
        generation: t.generation,
        ttl: t.ttl,
        set: t.fields.set.as_ref(),
        key: t.fields.key.as_ref(),
        ops,
    };
    exec::execute(ns, &shared.limits, digest, &cmd, bins)
}

/// Answers a compressed request when compression is off (Community Edition).
pub(crate) fn put_enterprise_only(out: &mut BytesMut) {
    put_simple_response(out, rc::ENTERPRISE_ONLY, 0, 0);
}

/// Answers a frame that cannot be decoded at all.
pub(crate) fn put_parameter_error(out: &mut BytesMut) {
    put_simple_response(out, rc::PARAMETER, 0, 0);
}
