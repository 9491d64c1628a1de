//! Fixed-size byte buffers that are reused once every reader downstream has dropped them.
//!
//! The source reader and the decompressor each fill a megabyte at a time and hand it on as
//! [`Bytes`]; the parser and the records it makes keep slices of it for a while. Allocating a
//! fresh zeroed buffer for every chunk costs a megabyte of memset (and page faults) on the
//! busiest threads of a restore, so the producer keeps a handle to the chunks it sent and takes
//! the oldest one back when nobody else refers to it any more.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

/// Chunk buffers of one size.
#[derive(Debug)]
pub(crate) struct ChunkPool {
    size: usize,
    /// Handles to the most recent full chunks sent, oldest first.
    sent: VecDeque<Bytes>,
}

impl ChunkPool {
    /// Handles kept at most; older chunks are simply freed by their last user.
    const KEEP: usize = 16;

    /// A pool of `size`-byte buffers.
    pub(crate) fn new(size: usize) -> Self {
        ChunkPool {
            size,
            sent: VecDeque::new(),
        }
    }

    /// A buffer of `size` initialized bytes: the oldest chunk sent that nothing else refers to
    /// any more, otherwise a new one. Records are written (and release their chunks) out of
    /// order, so any released chunk is taken, not only the oldest: a chunk still pinned by one
    /// slow batch does not make the pool allocate while it holds released ones.
    pub(crate) fn take(&mut self) -> BytesMut {
        if let Some(i) = self.sent.iter().position(Bytes::is_unique)
            && let Some(Ok(reused)) = self.sent.remove(i).map(Bytes::try_into_mut)
        {
            return reused;
        }
        BytesMut::zeroed(self.size)
    }

    /// Remembers a chunk that is about to be sent, if it is a whole buffer of the pool.
    pub(crate) fn sent(&mut self, chunk: &Bytes) {
        if chunk.len() != self.size {
            return;
        }
        self.sent.push_back(chunk.clone());
        if self.sent.len() > Self::KEEP {
            self.sent.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_only_chunks_nobody_holds() {
        let mut pool = ChunkPool::new(1 << 16);
        let first = pool.take();
        assert_eq!(first.len(), 1 << 16);
        let first = first.freeze();
        let addr = first.as_ptr();
        pool.sent(&first);
        // Still held downstream (a parser slice): a new buffer.
        let slice = first.slice(10..20);
        drop(first);
        let second = pool.take();
        assert_ne!(second.as_ptr(), addr);
        // Released: the same memory comes back, full length.
        drop(slice);
        let third = pool.take();
        assert_eq!((third.as_ptr(), third.len()), (addr, 1 << 16));
        // A short final chunk is never kept.
        pool.sent(&Bytes::from_static(b"tail"));
        assert!(pool.sent.is_empty());
    }

    #[test]
    fn a_released_chunk_is_reused_while_an_older_one_is_pinned() {
        let mut pool = ChunkPool::new(1 << 12);
        let old = pool.take().freeze();
        pool.sent(&old);
        let newer = pool.take().freeze();
        let newer_addr = newer.as_ptr();
        pool.sent(&newer);
        // The oldest chunk is still pinned by a record; the newer one was released.
        let pinned = old.slice(0..8);
        drop((old, newer));
        let reused = pool.take();
        assert_eq!(reused.as_ptr(), newer_addr);
        assert_eq!(pool.sent.len(), 1);
        drop(pinned);
        // Now the oldest is free too and comes back next.
        let again = pool.take();
        assert_eq!(again.len(), 1 << 12);
        assert!(pool.sent.is_empty());
    }
}
