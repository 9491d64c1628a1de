//! Memory bounds of a restore, in bytes: how large one batch may grow and how many bytes of
//! records may be queued for or in flight to the writers at once (every file together).
//!
//! Counting records alone bounds nothing when records are large: 128-row batches of 64 KiB
//! blobs, 32 in flight and 32 queued, hold half a gigabyte. So a batch is closed early when
//! its records reach [`BATCH_BYTES`], and a parse thread waits before queueing a batch until
//! the batches queued and in flight leave room for it under [`IN_FLIGHT_BYTES`]. A record's
//! size is [`WriteRecord::heap_size`]: the input text it keeps alive, its decoded values and
//! its bin table.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::transform::WriteRecord;

/// A batch is sent as soon as its records reach this many bytes (or `--batch-size` rows).
pub const BATCH_BYTES: usize = 1 << 20;
/// Bytes of records queued for and in flight to the writers, at most (a single batch larger
/// than this still goes, alone).
pub const IN_FLIGHT_BYTES: usize = 8 << 20;

/// Bytes of a [`ByteBudget`] held until dropped.
#[derive(Debug)]
pub struct BytePermit {
    budget: Arc<ByteBudget>,
    n: usize,
}

impl BytePermit {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.n
    }
}

impl Drop for BytePermit {
    fn drop(&mut self) {
        self.budget.release(self.n);
    }
}

/// Bytes of memory a record about to be written keeps alive.
pub fn record_bytes(w: &WriteRecord) -> usize {
    std::mem::size_of::<WriteRecord>() + std::mem::size_of_val(&*w.record) + w.record.heap_size()
}

/// The shared allowance of bytes queued and in flight.
#[derive(Debug)]
pub struct ByteBudget {
    cap: usize,
    used: Mutex<usize>,
    freed: Condvar,
    /// Highest `used` seen, for tests and statistics.
    peak: AtomicU64,
}

impl ByteBudget {
    /// A budget of `cap` bytes.
    pub fn new(cap: usize) -> Self {
        ByteBudget {
            cap: cap.max(1),
            used: Mutex::new(0),
            freed: Condvar::new(),
            peak: AtomicU64::new(0),
        }
    }

    /// Takes `n` bytes, blocking the calling (non-async) thread while they do not fit. While
    /// it waits, `idle` runs every few milliseconds (the parse thread drops the batches the
    /// writers are done with) and says whether to go on waiting: `None` when it gives up.
    /// A request larger than the whole budget is granted when nothing else is held. The
    /// permit gives the bytes back when dropped; `waited` tells whether it had to wait.
    pub fn acquire_blocking(
        self: &Arc<Self>,
        n: usize,
        mut idle: impl FnMut() -> bool,
    ) -> Option<(BytePermit, bool)> {
        let mut waited = false;
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if *used == 0 || *used + n <= self.cap {
                *used += n;
                self.peak.fetch_max(*used as u64, Relaxed);
                let permit = BytePermit {
                    budget: self.clone(),
                    n,
                };
                return Some((permit, waited));
            }
            waited = true;
            drop(used);
            if !idle() {
                return None;
            }
            used = self.used.lock().unwrap_or_else(|p| p.into_inner());
            if *used == 0 || *used + n <= self.cap {
                continue;
            }
            used = self
                .freed
                .wait_timeout(used, Duration::from_millis(20))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn release(&self, n: usize) {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        *used = used.saturating_sub(n);
        drop(used);
        self.freed.notify_all();
    }

    /// The most bytes held at once so far.
    pub fn peak(&self) -> u64 {
        self.peak.load(Relaxed)
    }

    /// The budget.
    pub fn cap(&self) -> usize {
        self.cap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_until_released_and_lets_an_oversized_request_go_alone() {
        let b = Arc::new(ByteBudget::new(100));
        let (p60, w) = b.acquire_blocking(60, || true).unwrap();
        assert!(!w);
        let (p40, _) = b.acquire_blocking(40, || true).unwrap();
        let t = std::thread::spawn({
            let b = b.clone();
            move || b.acquire_blocking(10, || true).map(|(p, w)| (p.bytes(), w))
        });
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            !t.is_finished(),
            "100 of 100 bytes are held: the request must wait"
        );
        drop(p60);
        assert_eq!(
            t.join().unwrap(),
            Some((10, true)),
            "it waited, then got its bytes"
        );
        assert_eq!(b.peak(), 100);
        // Giving up while waiting.
        let (p60, _) = b.acquire_blocking(60, || true).unwrap();
        assert!(b.acquire_blocking(10, || false).is_none());
        drop((p40, p60));
        // Nothing held: a request beyond the budget goes.
        let (big, w) = b.acquire_blocking(500, || true).unwrap();
        assert!(!w);
        assert_eq!((big.bytes(), b.peak()), (500, 500));
    }
}
