//! Running the listener on pulled messages and sending failed ones back to the broker.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use sluice_remoting::body::{MessageModel, MessageQueue};
use sluice_remoting::header::ConsumerSendMsgBackRequestHeader;
use sluice_remoting::message::{property, MessageExt};
use sluice_remoting::{RemotingCommand, RequestCode};

use super::listener::{ConsumeContext, ConsumeStatus};
use super::process_queue::ProcessQueue;
use super::PushShared;
use crate::error::Result;
use crate::producer::RETRY_GROUP_TOPIC_PREFIX;

/// How long messages whose send-back failed wait before they are consumed again locally.
const CONSUME_LATER_DELAY: Duration = Duration::from_secs(5);

/// Messages read from the group's retry topic get their original topic back before the
/// listener sees them (`resetRetryAndNamespace`).
pub fn restore_retry_topic(group: &str, messages: &mut [MessageExt]) {
    let retry_topic = format!("{RETRY_GROUP_TOPIC_PREFIX}{group}");
    for msg in messages {
        if let Some(original) = msg.properties.get(property::RETRY_TOPIC) {
            if msg.record.topic == retry_topic {
                msg.record.topic = original.to_string();
            }
        }
    }
}

/// Hands `messages` of `queue` to the listener in batches, each batch in a task of its own
/// under the consumer's concurrency limit.
pub fn submit(
    shared: &Arc<PushShared>,
    queue: &MessageQueue,
    pq: &Arc<ProcessQueue>,
    mut messages: Vec<MessageExt>,
) {
    restore_retry_topic(&shared.group, &mut messages);
    let batch = shared.options.consume_batch_size.max(1);
    while !messages.is_empty() {
        let rest = messages.split_off(batch.min(messages.len()));
        let chunk = std::mem::replace(&mut messages, rest);
        spawn_consume(
            shared.clone(),
            queue.clone(),
            pq.clone(),
            chunk,
            Duration::ZERO,
        );
    }
}

fn spawn_consume(
    shared: Arc<PushShared>,
    queue: MessageQueue,
    pq: Arc<ProcessQueue>,
    messages: Vec<MessageExt>,
    delay: Duration,
) {
    tokio::spawn(async move {
        if !delay.is_zero() {
            tokio::select! {
                _ = pq.dropped.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
        }
        let Some(listener) = shared.listener.clone() else {
            return;
        };
        let Ok(_permit) = shared.permits.clone().acquire_owned().await else {
            return;
        };
        if pq.dropped.is_cancelled() {
            return;
        }
        let context = ConsumeContext {
            queue: queue.clone(),
        };
        // A panicking listener counts as a failed consumption, not a lost message.
        let status = std::panic::AssertUnwindSafe(
            listener.consume(messages.clone(), context),
        )
        .catch_unwind()
        .await
        .unwrap_or_else(|_| {
            tracing::error!(%queue, "message listener panicked; the batch will be consumed again");
            ConsumeStatus::ReconsumeLater
        });
        let mut later = Vec::new();
        let broadcasting = shared.options.message_model == MessageModel::Broadcasting;
        if status == ConsumeStatus::ReconsumeLater && broadcasting {
            // As in Java: a broadcast message is this client's alone; there is no retry topic.
            tracing::warn!(%queue, count = messages.len(), "broadcast messages failed and are dropped");
        }
        if status == ConsumeStatus::ReconsumeLater && !broadcasting && !pq.dropped.is_cancelled() {
            for msg in &messages {
                if let Err(error) = send_back(&shared, &queue, msg, 0).await {
                    tracing::warn!(%queue, msg_id = %msg.msg_id, %error, "send-back failed; consuming again locally later");
                    later.push(msg.clone());
                }
            }
        }
        let done: Vec<i64> = messages
            .iter()
            .filter(|m| {
                !later
                    .iter()
                    .any(|l| l.record.queue_offset == m.record.queue_offset)
            })
            .map(|m| m.record.queue_offset)
            .collect();
        let safe = pq.remove(done);
        if !pq.dropped.is_cancelled() {
            shared.offsets.update(&queue, safe, false);
        }
        if !later.is_empty() {
            spawn_consume(shared.clone(), queue, pq, later, CONSUME_LATER_DELAY);
        }
    });
}

/// CONSUMER_SEND_MSG_BACK: the broker stores the message again in the group's retry topic with
/// a delay that grows with its reconsume count (`delay_level` 0), or in the DLQ past the
/// maximum or when `delay_level` < 0.
pub(super) async fn send_back(
    shared: &PushShared,
    queue: &MessageQueue,
    msg: &MessageExt,
    delay_level: i32,
) -> Result<()> {
    let instance = &shared.instance;
    let addr = instance
        .find_master_addr(&queue.topic, &queue.broker_name)
        .await?;
    let mut header = ConsumerSendMsgBackRequestHeader {
        offset: msg.record.physical_offset,
        group: shared.group.clone(),
        delay_level,
        origin_msg_id: Some(
            msg.property(property::ORIGIN_MESSAGE_ID)
                .unwrap_or(&msg.msg_id)
                .to_string(),
        ),
        origin_topic: Some(msg.record.topic.clone()),
        unit_mode: Some(false),
        max_reconsume_times: Some(shared.options.max_reconsume_times),
        ..Default::default()
    };
    header.rpc.broker_name = Some(queue.broker_name.clone());
    let request = RemotingCommand::request(RequestCode::ConsumerSendMsgBack).with_header(&header);
    instance
        .invoke_ok(&addr, request, instance.config.request_timeout)
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use sluice_remoting::message::{decode_messages, MessageRecord};

    #[test]
    fn retry_messages_get_their_original_topic_back() {
        let mut buf = BytesMut::new();
        MessageRecord {
            topic: "%RETRY%G".into(),
            body: Bytes::from_static(b"x"),
            properties: "RETRY_TOPIC\u{1}Orders\u{2}".into(),
            ..Default::default()
        }
        .encode(&mut buf);
        MessageRecord {
            topic: "Orders".into(),
            body: Bytes::from_static(b"y"),
            ..Default::default()
        }
        .encode(&mut buf);
        let mut msgs = decode_messages(&buf.freeze(), false).unwrap();
        restore_retry_topic("G", &mut msgs);
        assert_eq!(msgs[0].topic(), "Orders");
        assert_eq!(msgs[1].topic(), "Orders");
    }
}
