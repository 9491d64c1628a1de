//! Reads a batch reply's per-row result codes without building records.
//!
//! A reply is one or more AS_MSG frames; each holds whole rows (22-byte header, then fields
//! and operations, which are skipped by their sizes). A row's header carries its result code
//! and, in the transaction-TTL slot, the row's index in the request. The last row of the last
//! frame has `INFO3_LAST` set and no index; its result code is the batch's own (0, or an error
//! that stopped the batch).

use super::proto::{INFO3_LAST, MSG_HEADER, msg};

/// A reply that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// A row or one of its parts runs past the end of its frame.
    #[error("batch reply truncated inside a row")]
    Truncated,
    /// A header length other than 22.
    #[error("batch reply row header of {0} bytes (expected 22)")]
    BadHeader(u8),
    /// A row index outside the request.
    #[error("batch reply names row {index} of a request of {rows}")]
    BadIndex {
        /// The index answered.
        index: u32,
        /// Rows in the request.
        rows: usize,
    },
}

fn be_u16(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_be_bytes([b[at], b[at + 1]]))
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parses one frame body. Each answered row's code is stored at its index in `codes`
/// (`rows.len()` is the request's row count). Returns the batch's own result code when the
/// frame ends the reply, `None` when more frames follow.
pub fn parse_frame(body: &[u8], codes: &mut [Option<u8>]) -> Result<Option<u8>, ReplyError> {
    let mut at = 0;
    while at < body.len() {
        let h = body.get(at..at + MSG_HEADER).ok_or(ReplyError::Truncated)?;
        if usize::from(h[msg::HEADER_SIZE]) != MSG_HEADER {
            return Err(ReplyError::BadHeader(h[msg::HEADER_SIZE]));
        }
        let rc = h[msg::RESULT_CODE];
        let last = h[msg::INFO3] & INFO3_LAST != 0;
        let index = be_u32(h, msg::TRANSACTION_TTL);
        let n_fields = be_u16(h, msg::N_FIELDS);
        let n_ops = be_u16(h, msg::N_OPS);
        at += MSG_HEADER;
        for _ in 0..n_fields + n_ops {
            let size = body.get(at..at + 4).ok_or(ReplyError::Truncated)?;
            let size = be_u32(size, 0) as usize;
            at = at
                .checked_add(4 + size)
                .filter(|&end| end <= body.len())
                .ok_or(ReplyError::Truncated)?;
        }
        if last {
            return Ok(Some(rc));
        }
        let rows = codes.len();
        let slot = codes
            .get_mut(index as usize)
            .ok_or(ReplyError::BadIndex { index, rows })?;
        *slot = Some(rc);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(info3: u8, rc: u8, index: u32, n_fields: u16, n_ops: u16) -> Vec<u8> {
        let mut h = vec![22, 0, 0, info3, 0, rc, 0, 0, 0, 1, 0, 0, 0, 0];
        h.extend_from_slice(&index.to_be_bytes());
        h.extend_from_slice(&n_fields.to_be_bytes());
        h.extend_from_slice(&n_ops.to_be_bytes());
        h
    }

    #[test]
    fn rows_in_any_order_then_the_end_marker() {
        let mut body = header(0, 0, 1, 0, 0);
        body.extend(header(0, 3, 0, 0, 2));
        // Two echoed ops (bin names without values), as with RESPOND_ALL_OPS.
        body.extend_from_slice(&[0, 0, 0, 5, 2, 0, 0, 1, b'a']);
        body.extend_from_slice(&[0, 0, 0, 5, 2, 0, 0, 1, b'b']);
        body.extend(header(0, 21, 2, 1, 0));
        body.extend_from_slice(&[0, 0, 0, 3, 45, 0x80, 0]);
        let mut codes = vec![None; 3];
        assert_eq!(parse_frame(&body, &mut codes), Ok(None));
        assert_eq!(codes, [Some(3), Some(0), Some(21)]);
        let mut end = header(INFO3_LAST, 0, 0, 0, 0);
        assert_eq!(parse_frame(&end, &mut codes), Ok(Some(0)));
        end[5] = 4;
        assert_eq!(parse_frame(&end, &mut codes), Ok(Some(4)));
    }

    #[test]
    fn bad_replies_are_errors() {
        let mut codes = vec![None; 1];
        let body = header(0, 0, 1, 0, 0);
        assert_eq!(
            parse_frame(&body, &mut codes),
            Err(ReplyError::BadIndex { index: 1, rows: 1 })
        );
        let body = header(0, 0, 0, 0, 1);
        assert_eq!(parse_frame(&body, &mut codes), Err(ReplyError::Truncated));
        let mut body = header(0, 0, 0, 0, 1);
        body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(parse_frame(&body, &mut codes), Err(ReplyError::Truncated));
        assert_eq!(
            parse_frame(&body[..10], &mut codes),
            Err(ReplyError::Truncated)
        );
        let mut body = header(0, 0, 0, 0, 0);
        body[0] = 21;
        assert_eq!(
            parse_frame(&body, &mut codes),
            Err(ReplyError::BadHeader(21))
        );
    }
}
