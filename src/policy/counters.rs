//! What the policy counts as it decides: requests served by workers that are gone, recycles by
//! reason, crashes, reloads, lost work, and how long drains and replacements took. The stats,
//! metrics and `ebb status` render these; nothing here reads the clock.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::Reason;

/// Bucket bounds, in seconds, for drain durations and replacement latencies: from a fast
/// worker (tens of ms) to the drain timeout's order (minutes).
pub const BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// A cumulative histogram with fixed bounds (Prometheus' shape: `le` buckets, sum, count).
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// `counts[i]`: observations ≤ `BUCKETS[i]` (not cumulative; rendering sums them).
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS.len()],
            sum: 0.0,
            count: 0,
        }
    }
}

impl Histogram {
    pub fn observe(&mut self, d: Duration) {
        let s = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|&b| s <= b) {
            self.counts[i] += 1;
        }
        self.sum += s;
        self.count += 1;
    }

    /// Cumulative counts per bound, then the `+Inf` count.
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut acc = 0;
        let mut out: Vec<(f64, u64)> = BUCKETS
            .iter()
            .zip(&self.counts)
            .map(|(&b, &c)| {
                acc += c;
                (b, acc)
            })
            .collect();
        out.push((f64::INFINITY, self.count));
        out
    }
}

/// The last recycle of a slot: why, and when it was decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LastRecycle {
    pub reason: Reason,
    pub at: Instant,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    /// Requests reported by workers that have exited (the live ones add theirs).
    pub requests_retired: u64,
    /// Response bytes reported by workers that have exited.
    pub tx_retired: u64,
    /// Recycles decided, by reason (`max-requests`, `reload`, `command`, …).
    pub recycles: BTreeMap<&'static str, u64>,
    /// Workers that exited unexpectedly (before ready, while serving, or uncleanly while
    /// draining).
    pub crashes: u64,
    /// Reloads applied (SIGHUP, `ebb reload`, the fifo).
    pub reloads: u64,
    /// Background jobs and requests lost to kills and crashes.
    pub jobs_lost: u64,
    pub requests_lost: u64,
    /// Drain signal to exit, per drained worker.
    pub drain_seconds: Histogram,
    /// Recycle decided to replacement ready (it took over the slot), per recycle.
    pub replace_seconds: Histogram,
}

impl Counters {
    pub(super) fn recycled(&mut self, reason: Reason) {
        *self.recycles.entry(reason.as_str()).or_default() += 1;
    }
}
