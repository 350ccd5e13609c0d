//! INVOKE_BROKER_TO_RESET_OFFSET: move a consumer group's offsets on a topic to a point in time
//! (or to an explicit offset of one queue), store them, and tell every online member with a
//! oneway RESET_CONSUMER_CLIENT_OFFSET so that it drops its in-memory offsets.
//!
//! The body sent to the clients is the object-keyed ResetOffsetBody, or its array form
//! (`ResetOffsetBodyForC`) when the admin request came from a C++ tool, as Apache's
//! `Broker2Client.resetOffset` does.

use std::collections::BTreeMap;

use sluice_remoting::body::{JsonBody, MessageQueue, ResetOffsetBody, ResetOffsetBodyForC};
use sluice_remoting::code::version;
use sluice_remoting::header::ResetOffsetRequestHeader;
use sluice_remoting::{LanguageCode, RemotingCommand, RequestCode, ResponseCode};

use super::{answer, bad_request, AdminProcessor};

impl AdminProcessor {
    pub(super) fn reset_offset(&self, request: &RemotingCommand) -> RemotingCommand {
        let h: ResetOffsetRequestHeader = match request.decode_header() {
            Ok(h) => h,
            Err(e) => return bad_request(request, e),
        };
        let state = &self.state;
        let (topic, group) = (h.topic.as_str(), h.group.as_str());
        let Some(topic_config) = state.topics.get(topic) else {
            return answer(
                request,
                ResponseCode::TopicNotExist,
                format!(
                    "[reset-offset] reset offset failed, no topic in this broker. topic={topic}"
                ),
            );
        };
        if !state.subscription_groups.contains(group) {
            return answer(
                request,
                ResponseCode::SubscriptionGroupNotExist,
                format!("Group {group} does not exist"),
            );
        }
        let store = &state.store;
        // A timestamp of -1 means "the end of the queue".
        let target_of = |q: i32| -> i64 {
            if h.timestamp < 0 {
                store.max_offset(topic, q) as i64
            } else {
                store.offset_by_time(topic, q, h.timestamp) as i64
            }
        };
        let mut offsets: BTreeMap<i32, i64> = BTreeMap::new();
        match h.queue_id.filter(|q| *q >= 0) {
            Some(q) => {
                let target = match h.offset.filter(|o| *o != -1) {
                    Some(o) => {
                        let (min, max) = (
                            store.min_offset(topic, q) as i64,
                            store.max_offset(topic, q) as i64,
                        );
                        // Apache's bounds, one past the max included.
                        if o < min || o > max + 1 {
                            return answer(
                                request,
                                ResponseCode::SystemError,
                                format!(
                                    "Target offset {o} not in consume queue range [{min}-{max}]"
                                ),
                            );
                        }
                        o
                    }
                    None => target_of(q),
                };
                offsets.insert(q, target);
            }
            None => {
                for q in 0..topic_config.read_queue_nums.max(0) {
                    let target = target_of(q).max(0);
                    let current = state.consumer_offsets.query_offset(group, topic, q);
                    // Without isForce a reset only moves a group back, as Apache's client path.
                    let offset = if h.is_force || current < 0 || target < current {
                        target
                    } else {
                        current
                    };
                    offsets.insert(q, offset);
                }
            }
        }
        if offsets.is_empty() {
            return answer(request, ResponseCode::SystemError, "No queues to reset.");
        }
        state.consumer_offsets.reset_offsets(group, topic, &offsets);

        let broker_name = state.config().broker_name.clone();
        let body = ResetOffsetBody {
            offset_table: offsets
                .iter()
                .map(|(&q, &o)| (MessageQueue::new(topic, broker_name.clone(), q), o))
                .collect(),
        };
        let client_body = if request.language == LanguageCode::Cpp {
            ResetOffsetBodyForC::from(&body).encode()
        } else {
            body.encode()
        };
        let client_header = ResetOffsetRequestHeader {
            topic: topic.to_string(),
            group: group.to_string(),
            timestamp: h.timestamp,
            is_force: h.is_force,
            queue_id: h.queue_id,
            offset: h.offset,
            ..Default::default()
        };
        let mut notified = 0;
        for member in state.clients.consumer_channels(group) {
            if member.version < version::V3_0_7_SNAPSHOT {
                tracing::warn!(client = %member.client_id, version = member.version, "client too old for offset reset");
                continue;
            }
            let notice = RemotingCommand::request(RequestCode::ResetConsumerClientOffset)
                .with_header(&client_header)
                .with_body(client_body.clone());
            match member.channel.send_oneway(notice) {
                Ok(()) => notified += 1,
                Err(e) => {
                    tracing::warn!(client = %member.client_id, error = %e, "cannot send offset reset to client")
                }
            }
        }
        tracing::info!(
            topic,
            group,
            queues = offsets.len(),
            notified,
            "consumer offsets reset"
        );
        RemotingCommand::response_to(request, ResponseCode::Success).with_body(body.encode())
    }
}
