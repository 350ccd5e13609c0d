//! Queue selection: round-robin over the writable queues, skipping brokers that fault
//! avoidance marks as slow or failing and, on a retry, the broker that just failed.

use std::sync::atomic::{AtomicUsize, Ordering};

use sluice_remoting::body::MessageQueue;

use crate::fault::FaultTolerance;

/// The next queue: round-robin from `next`, preferring available brokers other than
/// `last_broker`; when every broker is avoided, a queue of the broker expected to recover
/// first (still another one than `last_broker` if there is one).
pub fn select_queue(
    queues: &[MessageQueue],
    next: &AtomicUsize,
    faults: &FaultTolerance,
    last_broker: Option<&str>,
) -> Option<MessageQueue> {
    if queues.is_empty() {
        return None;
    }
    let start = next.fetch_add(1, Ordering::Relaxed);
    let at = |i: usize| &queues[(start + i) % queues.len()];
    let not_last = |q: &MessageQueue| last_broker != Some(q.broker_name.as_str());
    if let Some(q) = (0..queues.len())
        .map(at)
        .find(|q| not_last(q) && faults.is_available(&q.broker_name))
    {
        return Some(q.clone());
    }
    let others: Vec<&str> = queues
        .iter()
        .filter(|q| not_last(q))
        .map(|q| q.broker_name.as_str())
        .collect();
    if let Some(broker) = faults.least_bad(others) {
        return (0..queues.len())
            .map(at)
            .find(|q| q.broker_name == broker)
            .cloned();
    }
    Some(at(0).clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::FAILURE_LATENCY;
    use std::time::Duration;

    fn queues() -> Vec<MessageQueue> {
        let mut v = Vec::new();
        for b in ["a", "b"] {
            for id in 0..2 {
                v.push(MessageQueue::new("T", b, id));
            }
        }
        v
    }

    #[tokio::test]
    async fn round_robin_then_avoidance() {
        let qs = queues();
        let next = AtomicUsize::new(0);
        let faults = FaultTolerance::new();
        let picked: Vec<_> = (0..4)
            .map(|_| select_queue(&qs, &next, &faults, None).unwrap())
            .collect();
        assert_eq!(picked, qs);
        faults.update("a", FAILURE_LATENCY);
        for _ in 0..8 {
            assert_eq!(
                select_queue(&qs, &next, &faults, None).unwrap().broker_name,
                "b"
            );
        }
        // A retry after b failed goes elsewhere even though a is avoided.
        assert_eq!(
            select_queue(&qs, &next, &faults, Some("b"))
                .unwrap()
                .broker_name,
            "a"
        );
        // Both avoided: the one with the lower latency wins.
        faults.update("a", Duration::from_secs(2));
        faults.update("b", FAILURE_LATENCY);
        assert_eq!(
            select_queue(&qs, &next, &faults, None).unwrap().broker_name,
            "a"
        );
        // One broker only: a retry has to reuse it.
        let single = vec![MessageQueue::new("T", "a", 0)];
        assert!(select_queue(&single, &next, &faults, Some("a")).is_some());
        assert!(select_queue(&[], &next, &faults, None).is_none());
    }
}
