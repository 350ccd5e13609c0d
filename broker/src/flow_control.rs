//! Send admission: the async form of Apache's bounded send thread-pool queue.
//!
//! At most `max_in_flight` sends are processed at once; others wait in a queue of at most
//! `sendThreadPoolQueueCapacity`. A send that finds the queue full, or that waited longer than
//! `waitTimeMillsInSendQueue`, is refused with SYSTEM_BUSY and a remark clients recognise (Java
//! 4.9.x+/5.x clients retry SYSTEM_BUSY on another broker). Each refusal is counted in
//! `rocketmq_system_busy_total`.
//!
//! ```ignore
//! let _permit = match state.send_flow_control.admit().await {
//!     Ok(p) => p,
//!     Err(rejected) => return Some(rejected.response_to(&request)),
//! };
//! // ... append the message; the permit is released when dropped.
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sluice_remoting::{RemotingCommand, ResponseCode};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::metrics::BrokerMetrics;

/// Sends processed at once. Puts await their flush (SYNC_FLUSH) while holding a permit, so this
/// must be large enough for group commit to batch well; it bounds memory, not CPU.
pub const DEFAULT_MAX_IN_FLIGHT_SENDS: usize = 1024;

/// Why a send was not admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// The wait queue already held `capacity` sends.
    QueueFull { capacity: usize },
    /// The send waited `waited_ms` for its turn, longer than allowed.
    WaitedTooLong { waited_ms: u64, queued: usize },
}

impl Rejected {
    /// The remark, worded as Apache's broker words it.
    pub fn remark(&self) -> String {
        match self {
            Rejected::QueueFull { capacity } => format!(
                "[REJECTREQUEST]system busy, start flow control for a while (send queue of {capacity} is full)"
            ),
            Rejected::WaitedTooLong { waited_ms, queued } => format!(
                "[TIMEOUT_CLEAN_QUEUE]broker busy, start flow control for a while, period in queue: {waited_ms}ms, size of queue: {queued}"
            ),
        }
    }

    /// SYSTEM_BUSY with the remark.
    pub fn response_to(&self, request: &RemotingCommand) -> RemotingCommand {
        RemotingCommand::response_to(request, ResponseCode::SystemBusy).with_remark(self.remark())
    }
}

/// Held while a send is processed.
#[derive(Debug)]
pub struct SendPermit {
    _permit: OwnedSemaphorePermit,
}

pub struct SendFlowControl {
    in_flight: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue_capacity: usize,
    max_wait: Duration,
    metrics: Arc<BrokerMetrics>,
}

impl SendFlowControl {
    pub fn new(
        max_in_flight: usize,
        queue_capacity: usize,
        max_wait: Duration,
        metrics: Arc<BrokerMetrics>,
    ) -> SendFlowControl {
        SendFlowControl {
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
            waiting: AtomicUsize::new(0),
            queue_capacity,
            max_wait,
            metrics,
        }
    }

    /// Sends waiting for their turn now.
    pub fn queued(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Waits for a turn; refuses when the queue is full or the wait exceeds the limit.
    pub async fn admit(&self) -> Result<SendPermit, Rejected> {
        if let Ok(permit) = self.in_flight.clone().try_acquire_owned() {
            return Ok(SendPermit { _permit: permit });
        }
        let queued = self.waiting.fetch_add(1, Ordering::AcqRel);
        let _leave = WaitGuard(&self.waiting);
        if queued >= self.queue_capacity {
            self.metrics.record_system_busy();
            return Err(Rejected::QueueFull {
                capacity: self.queue_capacity,
            });
        }
        let start = Instant::now();
        match tokio::time::timeout(self.max_wait, self.in_flight.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(SendPermit { _permit: permit }),
            // The semaphore is never closed; treat it as a wait that timed out anyway.
            Ok(Err(_)) | Err(_) => {
                self.metrics.record_system_busy();
                Err(Rejected::WaitedTooLong {
                    waited_ms: start.elapsed().as_millis() as u64,
                    queued: self.queued(),
                })
            }
        }
    }
}

struct WaitGuard<'a>(&'a AtomicUsize);

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waits_then_refuses_with_system_busy() {
        let metrics = Arc::new(BrokerMetrics::default());
        let fc = SendFlowControl::new(1, 10, Duration::from_millis(200), metrics.clone());
        let held = fc.admit().await.unwrap();
        let rejected = fc.admit().await.unwrap_err();
        assert!(matches!(rejected, Rejected::WaitedTooLong { .. }));
        let response = rejected.response_to(&RemotingCommand::request(10));
        assert_eq!(response.code, ResponseCode::SystemBusy.as_i32());
        assert!(response
            .remark
            .unwrap()
            .starts_with("[TIMEOUT_CLEAN_QUEUE]"));
        assert_eq!(metrics.system_busy_total.load(Ordering::Relaxed), 1);
        drop(held);
        assert!(fc.admit().await.is_ok());
        assert_eq!(fc.queued(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn full_queue_refuses_at_once() {
        let metrics = Arc::new(BrokerMetrics::default());
        let fc = Arc::new(SendFlowControl::new(
            1,
            1,
            Duration::from_secs(60),
            metrics.clone(),
        ));
        let held = fc.admit().await.unwrap();
        let fc2 = fc.clone();
        let waiter = tokio::spawn(async move { fc2.admit().await.map(|_| ()) });
        tokio::task::yield_now().await;
        assert_eq!(fc.queued(), 1);
        let rejected = fc.admit().await.unwrap_err();
        assert!(rejected.remark().starts_with("[REJECTREQUEST]"));
        drop(held);
        assert!(waiter.await.unwrap().is_ok());
    }
}
