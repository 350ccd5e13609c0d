//! Long polling: a pull that finds nothing new and carries FLAG_SUSPEND is held until the store
//! dispatches a message to its queue or its hold time passes; the pull processor then runs it again
//! without suspension (reference §7.2).
//!
//! Each request already runs in its own task, so holding is simply awaiting inside the processor:
//! no hold table, no scanner. A held pull costs one parked task and a `Notify` waiter.
//!
//! Bounded: at most `max_held` pulls are held at once. Apache holds without limit; past the bound
//! Sluice answers SYSTEM_BUSY (the house rule for "full"), which Java, Go and C++ push consumers
//! treat as an exception and retry after ~3 s — unlike PULL_NOT_FOUND, which they re-issue at once
//! and which would turn the overload into a hot loop (pitfall 7).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sluice_store::MessageStore;

/// Default bound on pulls held at once.
pub const DEFAULT_MAX_HELD_PULLS: usize = 100_000;

/// Longest a pull is ever held: Java and C++ clients wait 30 s for the RPC and close the
/// connection when it times out (pitfall 8), so the answer must leave them a margin.
pub const MAX_HOLD: Duration = Duration::from_secs(25);

/// Why a held pull was released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// A message at or past the wanted offset reached the queue (or the store shut down).
    NewMessage,
    /// The hold time passed.
    Timeout,
    /// The client's connection closed: nobody is waiting for the answer.
    ChannelClosed,
}

/// The shared bound on held pulls.
#[derive(Debug)]
pub struct LongPolling {
    held: Arc<AtomicUsize>,
    pub max_held: usize,
}

/// One held pull; releases its slot when dropped.
#[derive(Debug)]
pub struct HoldSlot {
    held: Arc<AtomicUsize>,
}

impl Drop for HoldSlot {
    fn drop(&mut self) {
        self.held.fetch_sub(1, Ordering::AcqRel);
    }
}

impl LongPolling {
    pub fn new(max_held: usize) -> Self {
        Self {
            held: Arc::new(AtomicUsize::new(0)),
            max_held,
        }
    }

    /// Pulls held right now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    /// A slot for one more held pull, or `None` when `max_held` are already held.
    pub fn try_hold(&self) -> Option<HoldSlot> {
        let mut now = self.held.load(Ordering::Acquire);
        loop {
            if now >= self.max_held {
                return None;
            }
            match self
                .held
                .compare_exchange_weak(now, now + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    return Some(HoldSlot {
                        held: self.held.clone(),
                    })
                }
                Err(actual) => now = actual,
            }
        }
    }
}

impl HoldSlot {
    /// Waits until `topic`/`queue_id` holds a message at `offset`, `hold` passes, or `closed`
    /// resolves. The slot stays taken until it is dropped, so a pull may wait several times.
    pub async fn wait(
        &self,
        store: &MessageStore,
        topic: &str,
        queue_id: i32,
        offset: u64,
        hold: Duration,
        closed: impl Future<Output = ()>,
    ) -> Wake {
        tokio::select! {
            _ = store.wait_for_new(topic, queue_id, offset) => Wake::NewMessage,
            _ = tokio::time::sleep(hold) => Wake::Timeout,
            _ = closed => Wake::ChannelClosed,
        }
    }
}

impl Default for LongPolling {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_HELD_PULLS)
    }
}

/// How long to hold a pull: the request's `suspendTimeoutMillis` with long polling enabled, else
/// `shortPollingTimeMills`; never negative, never past [`MAX_HOLD`].
pub fn hold_time(
    long_polling_enable: bool,
    suspend_timeout_millis: i64,
    short_polling_time_mills: u64,
) -> Duration {
    let millis = if long_polling_enable {
        suspend_timeout_millis.max(0) as u64
    } else {
        short_polling_time_mills
    };
    Duration::from_millis(millis).min(MAX_HOLD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_time_follows_the_mode_and_is_capped() {
        assert_eq!(hold_time(true, 15_000, 1_000), Duration::from_secs(15));
        assert_eq!(hold_time(false, 15_000, 1_000), Duration::from_secs(1));
        assert_eq!(hold_time(true, -5, 1_000), Duration::ZERO);
        assert_eq!(hold_time(true, 120_000, 1_000), MAX_HOLD);
    }

    #[test]
    fn slots_are_bounded_and_released_on_drop() {
        let lp = LongPolling::new(2);
        let a = lp.try_hold().unwrap();
        let b = lp.try_hold().unwrap();
        assert_eq!(lp.held(), 2);
        assert!(lp.try_hold().is_none());
        drop(a);
        assert_eq!(lp.held(), 1);
        let _c = lp.try_hold().unwrap();
        drop(b);
        assert_eq!(lp.held(), 1);
    }
}
