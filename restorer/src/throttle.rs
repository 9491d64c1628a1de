//! Read-bandwidth throttle (`-N BANDWIDTH,TPS`'s first half, `--bandwidth`): the parse threads
//! pause whenever more backup bytes were read than the budget allows so far. The records-per-
//! second half is [`crate::pipeline::RateLimiter`], which spaces out the written batches.

use std::time::{Duration, Instant};

/// A budget of bytes per second from the moment it is created, shared by every file.
#[derive(Debug)]
pub struct Bandwidth {
    start: Instant,
    bytes_per_sec: f64,
}

impl Bandwidth {
    /// A budget of `bytes_per_sec` (at least 1).
    pub fn new(bytes_per_sec: u64) -> Self {
        Bandwidth {
            start: Instant::now(),
            bytes_per_sec: bytes_per_sec.max(1) as f64,
        }
    }

    /// How long to wait, now, once `total` bytes have been read in all.
    pub fn delay(&self, total: u64) -> Duration {
        let due = self.start + Duration::from_secs_f64(total as f64 / self.bytes_per_sec);
        due.saturating_duration_since(Instant::now())
    }

    /// Blocks the calling (parse) thread until `total` bytes are within the budget.
    pub fn pause_blocking(&self, total: u64) {
        let d = self.delay(total);
        if !d.is_zero() {
            std::thread::sleep(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_follows_the_budget() {
        let b = Bandwidth::new(1000);
        assert!(b.delay(0).is_zero());
        let d = b.delay(2000);
        assert!(
            d > Duration::from_millis(1900) && d <= Duration::from_secs(2),
            "{d:?}"
        );
    }
}
