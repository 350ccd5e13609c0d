//! Offset requests every consumer needs: the group's stored offset (query, update) and the
//! queue's bounds (max, min, by timestamp), plus where a new queue starts
//! (`consumeFromWhere` when the group has no stored offset).

use std::time::Duration;

use sluice_remoting::body::{ConsumeFromWhere, MessageQueue};
use sluice_remoting::header::{
    CommandHeader, GetMaxOffsetRequestHeader, GetMinOffsetRequestHeader,
    QueryConsumerOffsetRequestHeader, SearchOffsetRequestHeader, UpdateConsumerOffsetRequestHeader,
};
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};

use crate::error::{request_code_name, ClientError, Result};
use crate::instance::ClientInstance;
use crate::producer::RETRY_GROUP_TOPIC_PREFIX;

fn read_offset(
    addr: &str,
    code: RequestCode,
    response: &RemotingCommand,
    key: &str,
) -> Result<i64> {
    let raw = response.ext(key).ok_or_else(|| ClientError::Protocol {
        addr: addr.to_string(),
        request: request_code_name(code.as_i32()),
        reason: format!("header field `{key}` is missing"),
    })?;
    raw.parse().map_err(|_| ClientError::Protocol {
        addr: addr.to_string(),
        request: request_code_name(code.as_i32()),
        reason: format!("header field `{key}` is not a number: {raw:?}"),
    })
}

async fn broker_of(instance: &ClientInstance, queue: &MessageQueue) -> Result<String> {
    instance
        .find_broker_addr(&queue.topic, &queue.broker_name, 0)
        .await
}

/// The group's stored offset of `queue`; `None` when the broker has none (QUERY_NOT_FOUND).
pub async fn query_consumer_offset(
    instance: &ClientInstance,
    group: &str,
    queue: &MessageQueue,
) -> Result<Option<i64>> {
    let addr = broker_of(instance, queue).await?;
    let mut header = QueryConsumerOffsetRequestHeader {
        consumer_group: group.to_string(),
        topic: queue.topic.clone(),
        queue_id: queue.queue_id,
        ..Default::default()
    };
    header.rpc.broker_name = Some(queue.broker_name.clone());
    let code = RequestCode::QueryConsumerOffset;
    let request = RemotingCommand::request(code).with_header(&header);
    let response = instance
        .invoke(&addr, request, instance.config.request_timeout)
        .await?;
    match ResponseCode::from_i32(response.code) {
        Some(ResponseCode::Success) => read_offset(&addr, code, &response, "offset").map(Some),
        Some(ResponseCode::QueryNotFound) => Ok(None),
        _ => Err(ClientError::from_response(&addr, code.as_i32(), &response)),
    }
}

/// Stores `offset` as the group's offset of `queue` (waits for the answer).
pub async fn update_consumer_offset(
    instance: &ClientInstance,
    group: &str,
    queue: &MessageQueue,
    offset: i64,
) -> Result<()> {
    let addr = broker_of(instance, queue).await?;
    let request = update_request(group, queue, offset);
    instance
        .invoke_ok(&addr, request, instance.config.request_timeout)
        .await
        .map(drop)
}

/// [`update_consumer_offset`] sent oneway, as the Java consumer persists offsets.
pub async fn update_consumer_offset_oneway(
    instance: &ClientInstance,
    group: &str,
    queue: &MessageQueue,
    offset: i64,
) -> Result<()> {
    let addr = broker_of(instance, queue).await?;
    let mut request = update_request(group, queue, offset);
    request.mark_oneway();
    instance.invoke_oneway(&addr, request).await
}

fn update_request(group: &str, queue: &MessageQueue, offset: i64) -> RemotingCommand {
    let mut header = UpdateConsumerOffsetRequestHeader {
        consumer_group: group.to_string(),
        topic: queue.topic.clone(),
        queue_id: queue.queue_id,
        commit_offset: offset,
        ..Default::default()
    };
    header.rpc.broker_name = Some(queue.broker_name.clone());
    RemotingCommand::request(RequestCode::UpdateConsumerOffset).with_header(&header)
}

/// The offset after the last message of `queue`.
pub async fn max_offset(instance: &ClientInstance, queue: &MessageQueue) -> Result<i64> {
    let mut header = GetMaxOffsetRequestHeader {
        topic: queue.topic.clone(),
        queue_id: queue.queue_id,
        ..Default::default()
    };
    header.rpc.broker_name = Some(queue.broker_name.clone());
    ask_offset(instance, queue, RequestCode::GetMaxOffset, &header).await
}

/// The offset of the oldest message still stored in `queue`.
pub async fn min_offset(instance: &ClientInstance, queue: &MessageQueue) -> Result<i64> {
    let mut header = GetMinOffsetRequestHeader {
        topic: queue.topic.clone(),
        queue_id: queue.queue_id,
        ..Default::default()
    };
    header.rpc.broker_name = Some(queue.broker_name.clone());
    ask_offset(instance, queue, RequestCode::GetMinOffset, &header).await
}

/// The first offset of `queue` whose message was stored at or after `timestamp_ms`.
pub async fn search_offset(
    instance: &ClientInstance,
    queue: &MessageQueue,
    timestamp_ms: i64,
) -> Result<i64> {
    let mut header = SearchOffsetRequestHeader {
        topic: queue.topic.clone(),
        queue_id: queue.queue_id,
        timestamp: timestamp_ms,
        ..Default::default()
    };
    header.rpc.broker_name = Some(queue.broker_name.clone());
    ask_offset(
        instance,
        queue,
        RequestCode::SearchOffsetByTimestamp,
        &header,
    )
    .await
}

/// One offset round trip to the broker serving `queue`: the response's `offset` field.
async fn ask_offset<H: CommandHeader>(
    instance: &ClientInstance,
    queue: &MessageQueue,
    code: RequestCode,
    header: &H,
) -> Result<i64> {
    let addr = broker_of(instance, queue).await?;
    let request = RemotingCommand::request(code).with_header(header);
    let response = instance
        .invoke_ok(&addr, request, instance.config.request_timeout)
        .await?;
    read_offset(&addr, code, &response, "offset")
}

/// Where the group starts in `queue`: its stored offset, else what `from` says (retry topics
/// always start at 0), as the Java `RebalancePushImpl.computePullFromWhere` decides.
pub async fn initial_offset(
    instance: &ClientInstance,
    group: &str,
    queue: &MessageQueue,
    from: ConsumeFromWhere,
    timestamp_ms: i64,
) -> Result<i64> {
    if let Some(offset) = query_consumer_offset(instance, group, queue).await? {
        if offset >= 0 {
            return Ok(offset);
        }
    }
    if queue.topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
        return Ok(0);
    }
    match from {
        ConsumeFromWhere::ConsumeFromFirstOffset | ConsumeFromWhere::ConsumeFromMinOffset => Ok(0),
        ConsumeFromWhere::ConsumeFromTimestamp => {
            search_offset(instance, queue, timestamp_ms).await
        }
        ConsumeFromWhere::ConsumeFromLastOffset
        | ConsumeFromWhere::ConsumeFromLastOffsetAndFromMinWhenBootFirst
        | ConsumeFromWhere::ConsumeFromMaxOffset => max_offset(instance, queue).await,
    }
}

/// Default `consumeTimestamp`: half an hour ago, as the Java consumer.
pub fn default_consume_timestamp() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    now - Duration::from_secs(30 * 60).as_millis() as i64
}
