//! Orderly consumption: a queue is consumed only while this client holds its broker lock
//! (LOCK_BATCH_MQ, renewed with every rebalance, released with UNLOCK_BATCH_MQ), one batch at a
//! time in queue order; a suspended batch is retried after a pause, and past the maximum
//! reconsume times it is sent back (to the DLQ) so the queue can move on.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use sluice_remoting::body::{
    JsonBody, LockBatchRequestBody, LockBatchResponseBody, MessageQueue, UnlockBatchRequestBody,
};
use sluice_remoting::message::MessageExt;
use sluice_remoting::{RemotingCommand, RequestCode};

use super::consume::{restore_retry_topic, send_back};
use super::listener::{ConsumeContext, MessageListenerOrderly, OrderlyStatus};
use super::process_queue::ProcessQueue;
use super::PushShared;
use crate::error::{ClientError, Result};

/// How long a suspended queue pauses (`suspendCurrentQueueTimeMillis`).
const SUSPEND_PAUSE: Duration = Duration::from_secs(1);

fn by_broker(queues: &[MessageQueue]) -> BTreeMap<String, BTreeSet<MessageQueue>> {
    let mut map: BTreeMap<String, BTreeSet<MessageQueue>> = BTreeMap::new();
    for q in queues {
        map.entry(q.broker_name.clone())
            .or_default()
            .insert(q.clone());
    }
    map
}

/// Locks `queues` at their brokers; returns the ones now locked by this client.
pub async fn lock(shared: &PushShared, queues: &[MessageQueue]) -> BTreeSet<MessageQueue> {
    let mut locked = BTreeSet::new();
    for (broker, mq_set) in by_broker(queues) {
        let Some(topic) = mq_set.iter().next().map(|q| q.topic.clone()) else {
            continue;
        };
        let result: Result<BTreeSet<MessageQueue>> = async {
            let addr = shared.instance.find_master_addr(&topic, &broker).await?;
            let body = LockBatchRequestBody {
                client_id: shared.instance.client_id.clone(),
                consumer_group: shared.group.clone(),
                mq_set,
                only_this_broker: false,
            };
            let request =
                RemotingCommand::request(RequestCode::LockBatchMq).with_body(body.encode());
            let response = shared
                .instance
                .invoke_ok(&addr, request, shared.instance.config.request_timeout)
                .await?;
            LockBatchResponseBody::decode(&response.body.to_bytes())
                .map(|b| b.lock_ok_mq_set)
                .map_err(|e| ClientError::Protocol {
                    addr,
                    request: "LOCK_BATCH_MQ",
                    reason: e.to_string(),
                })
        }
        .await;
        match result {
            Ok(ok) => locked.extend(ok),
            Err(error) => tracing::warn!(%broker, %error, "locking queues failed"),
        }
    }
    locked
}

/// Releases the locks of `queues` (oneway, as Java does at rebalance and shutdown).
pub async fn unlock(shared: &PushShared, queues: &[MessageQueue]) {
    for (broker, mq_set) in by_broker(queues) {
        let Some(addr) = shared.instance.master_addr(&broker) else {
            continue;
        };
        let body = UnlockBatchRequestBody {
            client_id: shared.instance.client_id.clone(),
            consumer_group: shared.group.clone(),
            mq_set,
            only_this_broker: false,
        };
        let mut request =
            RemotingCommand::request(RequestCode::UnlockBatchMq).with_body(body.encode());
        request.mark_oneway();
        if let Err(error) = shared.instance.invoke_oneway(&addr, request).await {
            tracing::debug!(%broker, %error, "unlocking queues failed");
        }
    }
}

/// Consumes `messages` of `queue` in order, one batch at a time; returns when all are done or
/// the queue was dropped.
pub async fn consume_in_order(
    shared: &Arc<PushShared>,
    listener: &Arc<dyn MessageListenerOrderly>,
    queue: &MessageQueue,
    pq: &Arc<ProcessQueue>,
    mut messages: Vec<MessageExt>,
) {
    restore_retry_topic(&shared.group, &mut messages);
    let batch = shared.options.consume_batch_size.max(1);
    let mut rest = messages.into_iter().peekable();
    while rest.peek().is_some() {
        let chunk: Vec<MessageExt> = rest.by_ref().take(batch).collect();
        let mut attempts = 0;
        loop {
            if pq.dropped.is_cancelled() || !pq.is_locked() {
                // Someone else may own the queue now: stop without committing.
                return;
            }
            let context = ConsumeContext {
                queue: queue.clone(),
            };
            let status = std::panic::AssertUnwindSafe(listener.consume(chunk.clone(), context))
                .catch_unwind()
                .await
                .unwrap_or(OrderlyStatus::SuspendCurrentQueueAMoment);
            attempts += 1;
            if status == OrderlyStatus::Success {
                break;
            }
            let delivered = chunk
                .iter()
                .map(|m| m.record.reconsume_times)
                .max()
                .unwrap_or(0)
                + attempts;
            if delivered >= shared.options.max_reconsume_times {
                // Give up on the batch without blocking the queue forever: to the DLQ.
                for msg in &chunk {
                    if let Err(error) = send_back(shared, queue, msg, -1).await {
                        tracing::warn!(%queue, msg_id = %msg.msg_id, %error, "sending an orderly message to the DLQ failed");
                    }
                }
                break;
            }
            tokio::select! {
                _ = pq.dropped.cancelled() => return,
                _ = tokio::time::sleep(SUSPEND_PAUSE) => {}
            }
        }
        let safe = pq.remove(chunk.iter().map(|m| m.record.queue_offset));
        shared.offsets.update(queue, safe, false);
    }
}
