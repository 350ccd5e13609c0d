//! A lock-free log-linear latency histogram (HDR style): exact below 64 µs, then 32 buckets per
//! power of two, so any recorded value is reported within about 3 %.

use std::sync::atomic::{AtomicU64, Ordering};

/// Values below this are counted exactly, one bucket each.
const LINEAR: u64 = 64;
/// Sub-buckets per power of two above [`LINEAR`] (2^5 = 32).
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
/// 64 exact buckets, then octaves 2^6 ..= 2^63.
const BUCKETS: usize = LINEAR as usize + (64 - 6) * SUB as usize;

/// Counts of latencies in microseconds; many tasks record at once without a lock.
pub struct Histogram {
    counts: Box<[AtomicU64]>,
    total: AtomicU64,
    sum: AtomicU64,
    max: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

fn index_of(value: u64) -> usize {
    if value < LINEAR {
        return value as usize;
    }
    let exponent = 63 - value.leading_zeros(); // >= 6
    let sub = (value >> (exponent - SUB_BITS)) & (SUB - 1);
    (LINEAR + (exponent as u64 - 6) * SUB + sub) as usize
}

/// The smallest and largest value that land in bucket `index`.
fn bounds_of(index: usize) -> (u64, u64) {
    let index = index as u64;
    if index < LINEAR {
        return (index, index);
    }
    let exponent = (index - LINEAR) / SUB + 6;
    let sub = (index - LINEAR) % SUB;
    let shift = exponent - SUB_BITS as u64;
    let low = (SUB + sub) << shift;
    (low, low + ((1u64 << shift) - 1))
}

impl Histogram {
    pub fn new() -> Self {
        Histogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            total: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }

    pub fn record(&self, micros: u64) {
        self.counts[index_of(micros)].fetch_add(1, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(micros, Ordering::Relaxed);
        self.max.fetch_max(micros, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    pub fn max(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }

    pub fn mean(&self) -> f64 {
        let n = self.count();
        if n == 0 {
            0.0
        } else {
            self.sum.load(Ordering::Relaxed) as f64 / n as f64
        }
    }

    /// The value at or below which `quantile` (0.0..=1.0) of the recorded values lie: the middle
    /// of the bucket holding that rank, never above the recorded maximum. 0 when empty.
    pub fn value_at(&self, quantile: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let rank = ((quantile.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count.load(Ordering::Relaxed);
            if seen >= rank {
                let (low, high) = bounds_of(index);
                return (low + (high - low) / 2).min(self.max());
            }
        }
        self.max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order() {
        let mut last_high = None;
        for index in 0..BUCKETS {
            let (low, high) = bounds_of(index);
            assert!(low <= high);
            if let Some(prev) = last_high {
                assert_eq!(low, prev + 1, "gap before bucket {index}");
            }
            assert_eq!(index_of(low), index);
            assert_eq!(index_of(high), index);
            last_high = Some(high);
        }
        assert_eq!(last_high, Some(u64::MAX));
    }

    #[test]
    fn percentiles_are_within_the_bucket_precision() {
        let h = Histogram::new();
        for v in 1..=10_000u64 {
            h.record(v);
        }
        assert_eq!(h.count(), 10_000);
        assert_eq!(h.max(), 10_000);
        for (q, exact) in [(0.5, 5_000.0), (0.9, 9_000.0), (0.99, 9_900.0)] {
            let got = h.value_at(q) as f64;
            assert!((got - exact).abs() / exact < 0.04, "q{q}: {got} vs {exact}");
        }
        assert_eq!(h.value_at(1.0), 10_000);
        assert!((h.mean() - 5_000.5).abs() < 1e-9);
    }

    #[test]
    fn small_values_are_exact_and_empty_is_zero() {
        let h = Histogram::new();
        assert_eq!(h.value_at(0.99), 0);
        for v in [3, 3, 3, 40] {
            h.record(v);
        }
        assert_eq!(h.value_at(0.5), 3);
        assert_eq!(h.value_at(0.999), 40);
    }
}
