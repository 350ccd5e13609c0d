//! Group membership as brokers see it, and the heartbeat entry of a consumer.

use sluice_remoting::body::{
    ConsumeFromWhere, ConsumeType, ConsumerData, GetConsumerListByGroupResponseBody, JsonBody,
    MessageModel, SubscriptionData,
};
use sluice_remoting::header::GetConsumerListByGroupRequestHeader;
use sluice_remoting::{RemotingCommand, RequestCode};

use crate::error::{ClientError, Result};
use crate::instance::ClientInstance;

/// The client ids of `group`'s live members, asked from a broker serving `topic`, sorted.
pub async fn consumer_ids(
    instance: &ClientInstance,
    topic: &str,
    group: &str,
) -> Result<Vec<String>> {
    let route = instance.route(topic).await?;
    let addr = route
        .broker_datas
        .iter()
        .find_map(|b| {
            b.master_addr()
                .map(str::to_string)
                .or_else(|| b.broker_addrs.values().next().cloned())
        })
        .ok_or_else(|| ClientError::NoRoute {
            topic: topic.to_string(),
            reason: "no broker address in the route".into(),
        })?;
    let header = GetConsumerListByGroupRequestHeader {
        consumer_group: group.to_string(),
        ..Default::default()
    };
    let request =
        RemotingCommand::request(RequestCode::GetConsumerListByGroup).with_header(&header);
    let response = instance
        .invoke_ok(&addr, request, instance.config.request_timeout)
        .await?;
    let body =
        GetConsumerListByGroupResponseBody::decode(&response.body.to_bytes()).map_err(|e| {
            ClientError::Protocol {
                addr: addr.clone(),
                request: "GET_CONSUMER_LIST_BY_GROUP",
                reason: e.to_string(),
            }
        })?;
    let mut ids = body.consumer_id_list;
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// An SQL92 subscription (`a > 5 AND b = 'x'`); the broker evaluates it on the message
/// properties (it must have `enablePropertyFilter`).
pub fn sql92_subscription(topic: &str, expression: &str, sub_version: i64) -> SubscriptionData {
    SubscriptionData {
        topic: topic.to_string(),
        sub_string: expression.trim().to_string(),
        expression_type: sluice_remoting::body::heartbeat::EXPRESSION_SQL92.to_string(),
        sub_version,
        ..Default::default()
    }
}

/// The heartbeat entry of a consumer group.
pub fn consumer_data(
    group: &str,
    consume_type: ConsumeType,
    model: MessageModel,
    from: ConsumeFromWhere,
    subscriptions: Vec<SubscriptionData>,
) -> ConsumerData {
    ConsumerData {
        group_name: group.to_string(),
        consume_type,
        message_model: model,
        consume_from_where: from,
        subscription_data_set: subscriptions,
        unit_mode: false,
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
