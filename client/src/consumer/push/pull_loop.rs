//! The pull loop of one assigned queue: long-polled pulls, one at a time, throttled while too
//! many pulled messages wait for the listener.

use std::sync::Arc;
use std::time::Duration;

use sluice_remoting::body::MessageQueue;

use super::consume::submit;
use super::orderly::consume_in_order;
use super::process_queue::ProcessQueue;
use super::PushShared;
use crate::consumer::pull_api::{pull, PullRequest, PullStatus};

/// Pause after a failed pull (`pullTimeDelayMillsWhenException`).
const PULL_DELAY_ON_ERROR: Duration = Duration::from_secs(3);
/// Pause before asking again for a queue lock another member holds.
const LOCK_RETRY: Duration = Duration::from_secs(1);
/// Pause while the queue is over its flow-control thresholds (Java re-checks after 50 ms).
const FLOW_CONTROL_RECHECK: Duration = Duration::from_millis(50);

/// Pulls `queue` from `offset` until the queue is dropped.
pub async fn run(
    shared: Arc<PushShared>,
    queue: MessageQueue,
    pq: Arc<ProcessQueue>,
    mut offset: i64,
) {
    let options = &shared.options;
    let subscription = shared.subscription_for(&queue.topic);
    loop {
        if pq.dropped.is_cancelled() {
            return;
        }
        let (count, bytes) = pq.backlog();
        if count >= options.pull_threshold_for_queue
            || bytes >= options.pull_threshold_size_for_queue
            || pq.span() >= options.consume_concurrently_max_span
        {
            tokio::select! {
                _ = pq.dropped.cancelled() => return,
                _ = pq.room.notified() => {}
                _ = tokio::time::sleep(FLOW_CONTROL_RECHECK) => {}
            }
            continue;
        }
        if shared.orderly.is_some() && !pq.is_locked() {
            // Orderly: pull only what this client may consume (the lock is renewed by rebalance).
            shared.relock_queue(&queue, &pq).await;
            if !pq.is_locked() {
                tokio::select! {
                    _ = pq.dropped.cancelled() => return,
                    _ = tokio::time::sleep(LOCK_RETRY) => {}
                }
                continue;
            }
        }
        let commit = shared.offsets.get(&queue).filter(|o| *o > 0);
        let request = PullRequest {
            group: &shared.group,
            queue: &queue,
            offset,
            subscription: &subscription,
            batch_size: options.pull_batch_size,
            suspend: Some(options.long_poll),
            commit_offset: commit,
            broker_id: 0,
            timeout: options.pull_timeout,
        };
        let result = tokio::select! {
            _ = pq.dropped.cancelled() => return,
            result = pull(&shared.instance, &request) => result,
        };
        match result {
            Ok(result) => match result.status {
                PullStatus::Found => {
                    offset = result.next_begin_offset;
                    if result.messages.is_empty() {
                        pq.skip_to(offset);
                        if pq.backlog().0 == 0 {
                            shared.offsets.update(&queue, offset, false);
                        }
                    } else {
                        pq.put(
                            result
                                .messages
                                .iter()
                                .map(|m| (m.record.queue_offset, m.record.body.len())),
                            offset,
                        );
                        match &shared.orderly {
                            Some(listener) => {
                                consume_in_order(&shared, listener, &queue, &pq, result.messages)
                                    .await
                            }
                            None => submit(&shared, &queue, &pq, result.messages),
                        }
                    }
                }
                PullStatus::NoNewMsg | PullStatus::NoMatchedMsg => {
                    offset = result.next_begin_offset;
                    pq.skip_to(offset);
                    if pq.backlog().0 == 0 {
                        shared.offsets.update(&queue, offset, false);
                    }
                }
                PullStatus::OffsetIllegal => {
                    tracing::warn!(%queue, from = offset, to = result.next_begin_offset, "pull offset out of range; moving to the broker's offset");
                    offset = result.next_begin_offset;
                    pq.skip_to(offset);
                    shared.offsets.update(&queue, offset, true);
                }
            },
            Err(error) => {
                tracing::warn!(%queue, %error, "pull failed; retrying in 3 s");
                shared.instance.refresh_route_soon(&queue.topic);
                tokio::select! {
                    _ = pq.dropped.cancelled() => return,
                    _ = tokio::time::sleep(PULL_DELAY_ON_ERROR) => {}
                }
            }
        }
    }
}
