//! Time and randomness as the core sees them. They reach the core through [`Sources`], so its
//! rules (expiry, deadlines, entry time stamps, session passwords) can be driven by a test
//! without waiting or guessing; the running server uses [`SystemSources`].

use std::time::Instant;

/// Where the core's clock readings and random numbers come from.
pub(crate) trait Sources: Send {
    /// The monotonic clock: session deadlines.
    fn now(&self) -> Instant;
    /// Milliseconds since the Unix epoch: the time stamped on entries (ctime, mtime, TTLs).
    fn wall_ms(&self) -> i64;
    /// Random bytes: session passwords.
    fn fill_random(&mut self, out: &mut [u8]);
}

/// The machine's clocks and the thread-local random generator.
pub(crate) struct SystemSources;

/// Milliseconds since the Unix epoch by the system clock.
pub(crate) fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Sources for SystemSources {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn wall_ms(&self) -> i64 {
        wall_clock_ms()
    }

    fn fill_random(&mut self, out: &mut [u8]) {
        rand::fill(out);
    }
}
