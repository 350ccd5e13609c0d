//! Latency-based fault avoidance (the Java client's `MQFaultStrategy` /
//! `LatencyFaultToleranceImpl`): a broker whose send took long or failed is avoided for a while,
//! the longer the slower it was.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Latency thresholds (ms) and how long a broker is avoided once a send took at least that long.
const LATENCY_MAX_MS: [u64; 7] = [50, 100, 550, 1_000, 2_000, 3_000, 15_000];
const NOT_AVAILABLE_MS: [u64; 7] = [0, 0, 30_000, 60_000, 120_000, 180_000, 600_000];

/// The latency a failed send counts as (Java 5 uses 10 s: the broker is avoided for 3 minutes,
/// unless every broker is avoided).
pub const FAILURE_LATENCY: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug)]
struct FaultItem {
    latency: Duration,
    available_from: Instant,
}

/// Per-broker-name avoidance state. Thread-safe.
#[derive(Debug, Default)]
pub struct FaultTolerance {
    items: Mutex<HashMap<String, FaultItem>>,
}

/// How long a broker whose send took `latency` is avoided.
pub fn not_available_duration(latency: Duration) -> Duration {
    let ms = latency.as_millis() as u64;
    LATENCY_MAX_MS
        .iter()
        .zip(NOT_AVAILABLE_MS)
        .rev()
        .find(|(max, _)| ms >= **max)
        .map_or(Duration::ZERO, |(_, avoid)| Duration::from_millis(avoid))
}

impl FaultTolerance {
    pub fn new() -> Self {
        Self::default()
    }

    fn items(&self) -> std::sync::MutexGuard<'_, HashMap<String, FaultItem>> {
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a send to `broker` that took `latency` (or failed: pass [`FAILURE_LATENCY`]).
    pub fn update(&self, broker: &str, latency: Duration) {
        let avoid = not_available_duration(latency);
        let item = FaultItem {
            latency,
            available_from: Instant::now() + avoid,
        };
        let mut items = self.items();
        // Called after every send: no key allocation once the broker is known.
        match items.get_mut(broker) {
            Some(existing) => *existing = item,
            None => {
                items.insert(broker.to_string(), item);
            }
        }
    }

    /// Whether `broker` may be chosen now.
    pub fn is_available(&self, broker: &str) -> bool {
        self.items()
            .get(broker)
            .is_none_or(|item| Instant::now() >= item.available_from)
    }

    /// Among `brokers`, the one expected to recover first (lowest latency, then earliest end of
    /// avoidance): used when every broker is avoided.
    pub fn least_bad<'a>(&self, brokers: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
        let items = self.items();
        brokers.into_iter().min_by_key(|b| {
            items.get(*b).map_or((Duration::ZERO, None), |i| {
                (i.latency, Some(i.available_from))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_follow_the_java_table() {
        assert_eq!(
            not_available_duration(Duration::from_millis(10)),
            Duration::ZERO
        );
        assert_eq!(
            not_available_duration(Duration::from_millis(549)),
            Duration::ZERO
        );
        assert_eq!(
            not_available_duration(Duration::from_millis(550)),
            Duration::from_secs(30)
        );
        assert_eq!(
            not_available_duration(FAILURE_LATENCY),
            Duration::from_secs(180)
        );
        assert_eq!(
            not_available_duration(Duration::from_secs(60)),
            Duration::from_secs(600)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_broker_is_avoided_until_its_time_is_up() {
        let faults = FaultTolerance::new();
        faults.update("a", Duration::from_millis(3));
        assert!(faults.is_available("a"));
        faults.update("b", FAILURE_LATENCY);
        assert!(!faults.is_available("b"));
        assert!(faults.is_available("never-seen"));
        assert_eq!(faults.least_bad(["b", "a"]), Some("a"));
        tokio::time::advance(Duration::from_secs(181)).await;
        assert!(faults.is_available("b"));
    }
}
