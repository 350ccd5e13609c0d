//! QUERY_CONSUMER_OFFSET and UPDATE_CONSUMER_OFFSET (Apache `ConsumerManageProcessor`).
//!
//! "No offset yet" must be QUERY_NOT_FOUND (22): that is what makes a Java consumer apply its
//! `consumeFromWhere`; any other error code leaves the queue unconsumed.

use std::sync::Arc;

use sluice_remoting::header::{
    QueryConsumerOffsetRequestHeader, QueryConsumerOffsetResponseHeader,
    UpdateConsumerOffsetRequestHeader,
};
use sluice_remoting::net::Channel;
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};

use super::Processors;
use crate::state::BrokerState;

pub fn register(table: &mut Processors, state: Arc<BrokerState>) {
    let s = state.clone();
    table.register(
        RequestCode::QueryConsumerOffset,
        Arc::new(move |_channel: Channel, request: RemotingCommand| {
            let s = s.clone();
            async move { Some(query_consumer_offset(&s, &request)) }
        }),
    );
    table.register(
        RequestCode::UpdateConsumerOffset,
        Arc::new(move |channel: Channel, request: RemotingCommand| {
            let s = state.clone();
            async move { Some(update_consumer_offset(&s, &channel, &request)) }
        }),
    );
}

fn bad_request(request: &RemotingCommand, what: impl std::fmt::Display) -> RemotingCommand {
    RemotingCommand::response_to(request, ResponseCode::SystemError).with_remark(what.to_string())
}

/// The committed offset; without one, Apache answers 0 when the queue still holds its very
/// first message (a new group then reads the queue from its start) unless the client asked
/// not to, and QUERY_NOT_FOUND otherwise.
pub fn query_consumer_offset(state: &BrokerState, request: &RemotingCommand) -> RemotingCommand {
    let h: QueryConsumerOffsetRequestHeader = match request.decode_header() {
        Ok(h) => h,
        Err(e) => return bad_request(request, e),
    };
    let offset = state
        .consumer_offsets
        .query_offset(&h.consumer_group, &h.topic, h.queue_id);
    let found = |offset: i64| {
        RemotingCommand::response_to(request, ResponseCode::Success)
            .with_header(&QueryConsumerOffsetResponseHeader { offset })
    };
    if offset >= 0 {
        return found(offset);
    }
    if h.set_zero_if_not_found == Some(false) {
        return RemotingCommand::response_to(request, ResponseCode::QueryNotFound)
            .with_remark("Not found, do not set to zero, maybe this group boot first");
    }
    let min = state.store.min_offset(&h.topic, h.queue_id);
    let first_message_present = min == 0 && state.store.max_offset(&h.topic, h.queue_id) > 0;
    if first_message_present {
        return found(0);
    }
    RemotingCommand::response_to(request, ResponseCode::QueryNotFound)
        .with_remark("Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first")
}

/// Stores the offset (Java clients send this oneway every 5 s; the transport drops the answer
/// of a oneway request).
pub fn update_consumer_offset(
    state: &BrokerState,
    channel: &Channel,
    request: &RemotingCommand,
) -> RemotingCommand {
    let h: UpdateConsumerOffsetRequestHeader = match request.decode_header() {
        Ok(h) => h,
        Err(e) => return bad_request(request, e),
    };
    if !state.subscription_groups.contains(&h.consumer_group) {
        return RemotingCommand::response_to(request, ResponseCode::SubscriptionGroupNotExist)
            .with_remark(format!("Group {} not exist!", h.consumer_group));
    }
    if !state.topics.contains(&h.topic) {
        return RemotingCommand::response_to(request, ResponseCode::TopicNotExist)
            .with_remark(format!("Topic {} not exist!", h.topic));
    }
    if h.queue_id < 0 {
        return RemotingCommand::response_to(request, ResponseCode::InvalidParameter).with_remark(
            format!("queueId {} is negative, topic is {}", h.queue_id, h.topic),
        );
    }
    state.consumer_offsets.commit_offset(
        &channel.remote_addr().to_string(),
        &h.consumer_group,
        &h.topic,
        h.queue_id,
        h.commit_offset,
    );
    RemotingCommand::response_to(request, ResponseCode::Success)
}
