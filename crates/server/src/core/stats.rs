//! Server-wide counters for `srvr`, `stat`, `mntr` and `cons`.

use std::time::Instant;

use super::{ConnId, Core};

#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub packets_received: u64,
    pub packets_sent: u64,
    pub notifications_sent: u64,
    pub latency_count: u64,
    pub latency_total_ms: u64,
    pub latency_min_ms: Option<u64>,
    pub latency_max_ms: u64,
}

impl Stats {
    pub(crate) fn record(&mut self, ms: u64) {
        self.latency_count += 1;
        self.latency_total_ms += ms;
        self.latency_min_ms = Some(self.latency_min_ms.map_or(ms, |m| m.min(ms)));
        self.latency_max_ms = self.latency_max_ms.max(ms);
    }

    pub(crate) fn avg_latency(&self) -> f64 {
        if self.latency_count == 0 {
            0.0
        } else {
            self.latency_total_ms as f64 / self.latency_count as f64
        }
    }

    /// `srst`: counters back to zero.
    pub(crate) fn reset(&mut self) {
        *self = Stats::default();
    }
}

impl Core {
    pub(super) fn record_latency(&mut self, conn: ConnId, received: Instant) {
        let ms = received.elapsed().as_millis() as u64;
        self.stats.record(ms);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.last_latency_ms = ms;
        }
    }
}
