//! One task per connection: read frames, answer them in order, write the answers back.
//!
//! Pipelined requests are handled as they arrive: every complete frame in the read buffer is
//! answered before the answers are written out in one go.

use std::io::Read as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cluster::Shared;
use crate::msg::{self, Scratch};
use crate::proto::{
    MAX_PROTO_BODY, PROTO_VERSION, TYPE_INFO, TYPE_MSG, TYPE_MSG_COMPRESSED, proto_header,
};

const READ_CHUNK: usize = 64 * 1024;

enum Next {
    Continue,
    /// Close the connection after writing what is in the output buffer.
    Close,
}

/// Serves one client connection until it closes or misbehaves.
pub(crate) async fn serve_conn(shared: Arc<Shared>, node: usize, mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut inbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut out = BytesMut::with_capacity(READ_CHUNK);
    let mut scratch = Scratch::default();
    loop {
        let mut close = false;
        while inbuf.len() >= 8 {
            let h = proto_header(&inbuf[..8]);
            if h.version != PROTO_VERSION || h.size > MAX_PROTO_BODY {
                return;
            }
            let total = 8 + h.size;
            if inbuf.len() < total {
                // Grow towards the declared size only as the bytes actually arrive.
                inbuf.reserve((total - inbuf.len()).min(READ_CHUNK));
                break;
            }
            let frame = inbuf.split_to(total).freeze();
            if let Next::Close =
                handle_frame(&shared, node, h.msg_type, frame, &mut out, &mut scratch).await
            {
                close = true;
                break;
            }
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        if close {
            return;
        }
        if inbuf.capacity() - inbuf.len() < 1024 {
            inbuf.reserve(READ_CHUNK);
        }
        match stream.read_buf(&mut inbuf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

async fn handle_frame(
    shared: &Shared,
    node: usize,
    msg_type: u8,
    frame: Bytes,
    out: &mut BytesMut,
    scratch: &mut Scratch,
) -> Next {
    match msg_type {
        TYPE_INFO => {
            crate::info::handle(shared, node, &frame[8..], out);
            Next::Continue
        }
        TYPE_MSG => handle_data(shared, node, frame, out, scratch).await,
        TYPE_MSG_COMPRESSED if !shared.cfg.compression => {
            msg::put_enterprise_only(out);
            Next::Continue
        }
        TYPE_MSG_COMPRESSED => match decompress(&frame[8..]) {
            Some(inner) => handle_data(shared, node, inner, out, scratch).await,
            None => {
                msg::put_parameter_error(out);
                Next::Close
            }
        },
        _ => Next::Close,
    }
}

/// A data request, with the fault rules applied.
async fn handle_data(
    shared: &Shared,
    node: usize,
    frame: Bytes,
    out: &mut BytesMut,
    scratch: &mut Scratch,
) -> Next {
    shared.nodes[node].requests.fetch_add(1, Ordering::SeqCst);
    let decision = shared.faults.on_request(node);
    if let Some(d) = decision.delay {
        tokio::time::sleep(d).await;
    }
    if decision.drop {
        return Next::Close;
    }
    let start = out.len();
    msg::handle(shared, &frame, out, scratch, decision.answer);
    if decision.drop_mid_response {
        let half = start + (out.len() - start) / 2;
        out.truncate(half);
        return Next::Close;
    }
    Next::Continue
}

/// Body of a compressed message: 8-byte uncompressed size, then zlib data holding a whole
/// proto frame. The declared size is only a bound, never an allocation size.
fn decompress(body: &[u8]) -> Option<Bytes> {
    let declared = u64::from_be_bytes(body.get(..8)?.try_into().ok()?);
    let limit = (declared as usize).min(MAX_PROTO_BODY + 8);
    let mut inflated = Vec::with_capacity(limit.min(READ_CHUNK));
    let mut dec = flate2::read::ZlibDecoder::new(&body[8..]).take(limit as u64 + 1);
    dec.read_to_end(&mut inflated).ok()?;
    if inflated.len() != declared as usize || inflated.len() < 8 {
        return None;
    }
    let h = proto_header(&inflated[..8]);
    if h.msg_type != TYPE_MSG || 8 + h.size != inflated.len() {
        return None;
    }
    Some(Bytes::from(inflated))
}
