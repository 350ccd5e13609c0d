//! PULL_MESSAGE and LITE_PULL_MESSAGE (reference §3.3, §7.1–7.2).
//!
//! A pull is checked as Apache's `PullMessageProcessor` does (broker readable, subscription group
//! known or auto-created and allowed to consume, topic known and readable, queue id in range, a
//! subscription either carried by the request or registered by heartbeat), then served from the
//! store: records go out as zero-copy slices of the mapped CommitLog in a multi-part body. With
//! nothing new and FLAG_SUSPEND set, the request is held ([`crate::long_polling`]) and run once
//! more without suspension when a message arrives or its hold time ends.

use std::sync::Arc;

use tokio::time::Instant;

use sluice_remoting::body::heartbeat::SubscriptionData;
use sluice_remoting::body::SubscriptionGroupConfig;
use sluice_remoting::header::{PullMessageRequestHeader, PullMessageResponseHeader};
use sluice_remoting::net::Channel;
use sluice_remoting::{Body, RemotingCommand, RequestCode, ResponseCode};
use sluice_store::{GetResult, GetStatus};

use super::Processors;
use crate::client_registry::ClientRegistry;
use crate::filter::{build_subscription, property_filter_disabled, pull_filter, PullFilter};
use crate::long_polling::{hold_time, LongPolling, Wake};
use crate::state::BrokerState;
use crate::topic_config;

/// PullSysFlag bits (reference §7.1).
pub mod pull_flag {
    pub const COMMIT_OFFSET: i32 = 0x1;
    pub const SUSPEND: i32 = 0x2;
    pub const SUBSCRIPTION: i32 = 0x4;
    pub const CLASS_FILTER: i32 = 0x8;
    pub const LITE_PULL: i32 = 0x10;
}

/// Routes PULL_MESSAGE and LITE_PULL_MESSAGE to one [`PullProcessor`].
pub fn register(table: &mut Processors, state: Arc<BrokerState>) {
    let processor = Arc::new(PullProcessor::new(state));
    for code in [RequestCode::PullMessage, RequestCode::LitePullMessage] {
        let processor = processor.clone();
        table.register(
            code,
            Arc::new(move |channel: Channel, request: RemotingCommand| {
                let processor = processor.clone();
                async move { processor.process(&channel, &request).await }
            }),
        );
    }
}

/// The pull processor and its bound on held pulls.
pub struct PullProcessor {
    state: Arc<BrokerState>,
    pub long_polling: LongPolling,
}

/// A pull that passed every check: what serving it needs.
struct Admitted {
    header: PullMessageRequestHeader,
    filter: PullFilter,
    topic_sys_flag: i32,
    group_sys_flag: i32,
}

/// What one pass over the store decided.
enum Pass {
    /// The response, the queue's max offset when it was read, and the next offset to pull.
    Answer(RemotingCommand, u64, u64),
    /// Nothing new and the request may be held.
    Hold,
}

fn refuse(
    request: &RemotingCommand,
    code: ResponseCode,
    remark: impl Into<String>,
) -> RemotingCommand {
    RemotingCommand::response_to(request, code).with_remark(remark)
}

/// What the heartbeat registry knows about a group's subscription to a topic.
enum Registered {
    NoGroup,
    NoSubscription,
    Subscription(SubscriptionData),
}

/// The one place that reads badmin's client registry.
fn registered_subscription(registry: &ClientRegistry, group: &str, topic: &str) -> Registered {
    if registry.consumer_group(group).is_none() {
        return Registered::NoGroup;
    }
    match registry.find_subscription(group, topic) {
        Some(sub) => Registered::Subscription(sub),
        None => Registered::NoSubscription,
    }
}

/// Apache's `GetMessageStatus` name, sent as the response remark.
pub fn status_name(status: GetStatus) -> &'static str {
    match status {
        GetStatus::Found => "FOUND",
        GetStatus::NoMatchedMessage => "NO_MATCHED_MESSAGE",
        GetStatus::MessageWasRemoving => "MESSAGE_WAS_REMOVING",
        GetStatus::OffsetFoundNull => "OFFSET_FOUND_NULL",
        GetStatus::OffsetOverflowBadly => "OFFSET_OVERFLOW_BADLY",
        GetStatus::OffsetOverflowOne => "OFFSET_OVERFLOW_ONE",
        GetStatus::OffsetTooSmall => "OFFSET_TOO_SMALL",
        GetStatus::NoMatchedLogicQueue => "NO_MATCHED_LOGIC_QUEUE",
        GetStatus::NoMessageInQueue => "NO_MESSAGE_IN_QUEUE",
    }
}

/// The response code for a store status (§7.2 table, master broker).
pub fn response_code(status: GetStatus, requested_offset: i64) -> ResponseCode {
    match status {
        GetStatus::Found => ResponseCode::Success,
        GetStatus::NoMatchedMessage | GetStatus::MessageWasRemoving => {
            ResponseCode::PullRetryImmediately
        }
        GetStatus::NoMessageInQueue | GetStatus::NoMatchedLogicQueue => {
            if requested_offset != 0 {
                ResponseCode::PullOffsetMoved
            } else {
                ResponseCode::PullNotFound
            }
        }
        GetStatus::OffsetFoundNull | GetStatus::OffsetOverflowOne => ResponseCode::PullNotFound,
        GetStatus::OffsetOverflowBadly | GetStatus::OffsetTooSmall => ResponseCode::PullOffsetMoved,
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl PullProcessor {
    pub fn new(state: Arc<BrokerState>) -> Self {
        let max_held = state.config().max_hold_pull_requests;
        Self {
            state,
            long_polling: LongPolling::new(max_held),
        }
    }

    /// Answers one pull; `None` when the client went away while its pull was held.
    pub async fn process(
        &self,
        channel: &Channel,
        request: &RemotingCommand,
    ) -> Option<RemotingCommand> {
        let admitted = match self.admit(channel, request) {
            Ok(a) => a,
            Err(response) => return Some(response),
        };
        match self.pass(channel, request, &admitted, true) {
            Pass::Answer(response, ..) => Some(response),
            Pass::Hold => self.hold(channel, request, &admitted).await,
        }
    }

    /// Holds the pull until its queue gets a message at the wanted offset or the hold time ends,
    /// then serves it without suspension.
    async fn hold(
        &self,
        channel: &Channel,
        request: &RemotingCommand,
        admitted: &Admitted,
    ) -> Option<RemotingCommand> {
        let Some(slot) = self.long_polling.try_hold() else {
            return Some(refuse(
                request,
                ResponseCode::SystemBusy,
                format!(
                    "[PULL_HOLD_FULL]{} pulls are already held (maxHoldPullRequests); retry later",
                    self.long_polling.max_held
                ),
            ));
        };
        let (long_polling_enable, short_polling) = {
            let config = self.state.config();
            (config.long_polling_enable, config.short_polling_time_mills)
        };
        let header = &admitted.header;
        let hold = hold_time(
            long_polling_enable,
            header.suspend_timeout_millis,
            short_polling,
        );
        let deadline = Instant::now() + hold;
        let mut wait_from = header.queue_offset.max(0) as u64;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let wake = slot
                .wait(
                    &self.state.store,
                    &header.topic,
                    header.queue_id,
                    wait_from,
                    left,
                    channel.closed(),
                )
                .await;
            if wake == Wake::ChannelClosed {
                return None;
            }
            let (response, max_offset, next) = match self.pass(channel, request, admitted, false) {
                Pass::Answer(response, max_offset, next) => (response, max_offset, next),
                // Not reachable (suspension is off), but answer rather than hold twice.
                Pass::Hold => {
                    return Some(refuse(
                        request,
                        ResponseCode::PullNotFound,
                        "OFFSET_FOUND_NULL",
                    ))
                }
            };
            // Woken by messages the subscription filters out: keep holding for a matching
            // one, as Apache only wakes a held pull when the new message's tag code matches. Not
            // when the scan stopped short of the queue's end: the client must move on first.
            let unmatched = response.code == ResponseCode::PullRetryImmediately.as_i32();
            if wake == Wake::NewMessage
                && unmatched
                && next >= max_offset
                && max_offset > wait_from
                && Instant::now() < deadline
            {
                wait_from = max_offset;
                continue;
            }
            return Some(response);
        }
    }

    /// Every check Apache makes before reading the store.
    fn admit(
        &self,
        channel: &Channel,
        request: &RemotingCommand,
    ) -> Result<Admitted, RemotingCommand> {
        let header = request
            .decode_header::<PullMessageRequestHeader>()
            .map_err(|e| {
                refuse(
                    request,
                    ResponseCode::SystemError,
                    format!("bad pull request header: {e}"),
                )
            })?;
        let (broker_permission, broker_ip, property_filter, filter_support_retry) = {
            let config = self.state.config();
            (
                config.broker_permission,
                config.broker_ip1.clone(),
                config.enable_property_filter,
                config.filter_support_retry,
            )
        };
        if !topic_config::is_readable(broker_permission) {
            return Err(refuse(
                request,
                ResponseCode::NoPermission,
                format!("the broker[{broker_ip}] pulling message is forbidden"),
            ));
        }
        let group = header.consumer_group.as_str();
        let Some(group_cfg) = self.state.subscription_groups.find_or_create(group) else {
            return Err(refuse(
                request,
                ResponseCode::SubscriptionGroupNotExist,
                format!(
                    "subscription group [{group}] does not exist (autoCreateSubscriptionGroup is off; create it with mqadmin updateSubGroup)"
                ),
            ));
        };
        if !group_cfg.consume_enable {
            return Err(refuse(
                request,
                ResponseCode::NoPermission,
                format!("subscription group no permission, {group}"),
            ));
        }
        let topic = header.topic.as_str();
        let Some(topic_cfg) = self.state.topics.get(topic) else {
            return Err(refuse(
                request,
                ResponseCode::TopicNotExist,
                format!("topic[{topic}] not exist, apply first please!"),
            ));
        };
        if !topic_config::is_readable(topic_cfg.perm) {
            return Err(refuse(
                request,
                ResponseCode::NoPermission,
                format!("the topic[{topic}] pulling message is forbidden"),
            ));
        }
        if header.queue_id < 0 || header.queue_id >= topic_cfg.read_queue_nums {
            return Err(refuse(
                request,
                ResponseCode::InvalidParameter,
                format!(
                    "queueId[{}] is illegal, topic:[{topic}] topicConfig.readQueueNums:[{}] consumer:[{}]",
                    header.queue_id,
                    topic_cfg.read_queue_nums,
                    channel.remote_addr()
                ),
            ));
        }
        let subscription = self.subscription(request, &header, &group_cfg)?;
        if !subscription.is_tag_type() && !property_filter {
            let r = property_filter_disabled(&subscription.expression_type);
            return Err(refuse(request, r.code, r.remark));
        }
        let filter = pull_filter(
            group,
            &subscription,
            &self.state.filters,
            filter_support_retry,
        )
        .map_err(|r| refuse(request, r.code, r.remark))?;
        Ok(Admitted {
            filter,
            topic_sys_flag: topic_cfg.topic_sys_flag,
            group_sys_flag: group_cfg.group_sys_flag,
            header,
        })
    }

    /// The subscription to filter with: the request's own with FLAG_SUBSCRIPTION, else the one
    /// the group registered by heartbeat (pitfall 6).
    fn subscription(
        &self,
        request: &RemotingCommand,
        header: &PullMessageRequestHeader,
        _group_cfg: &SubscriptionGroupConfig,
    ) -> Result<SubscriptionData, RemotingCommand> {
        if header.sys_flag & pull_flag::SUBSCRIPTION != 0 {
            return build_subscription(
                &header.topic,
                header.subscription.as_deref(),
                header.expression_type.as_deref(),
                header.sub_version,
            )
            .map_err(|r| refuse(request, r.code, r.remark));
        }
        let group = header.consumer_group.as_str();
        let sub = match registered_subscription(&self.state.clients, group, &header.topic) {
            Registered::Subscription(sub) => sub,
            Registered::NoGroup => {
                return Err(refuse(
                    request,
                    ResponseCode::SubscriptionNotExist,
                    format!("the consumer's group info not exist: group {group} has sent no heartbeat to this broker"),
                ))
            }
            Registered::NoSubscription => {
                return Err(refuse(
                    request,
                    ResponseCode::SubscriptionNotExist,
                    format!(
                        "the consumer's subscription not exist: group {group} has not subscribed topic {}",
                        header.topic
                    ),
                ))
            }
        };
        if sub.sub_version < header.sub_version {
            return Err(refuse(
                request,
                ResponseCode::SubscriptionNotLatest,
                "the consumer's subscription not latest",
            ));
        }
        Ok(sub)
    }

    /// One read of the store and its answer. `first` is the request's first processing: only
    /// then may it be held or commit the consumer's offset.
    fn pass(
        &self,
        channel: &Channel,
        request: &RemotingCommand,
        admitted: &Admitted,
        first: bool,
    ) -> Pass {
        let header = &admitted.header;
        let store = &self.state.store;
        let result: GetResult = if header.queue_offset < 0 {
            // A negative offset is below every queue's minimum.
            let min = store.min_offset(&header.topic, header.queue_id);
            GetResult {
                status: GetStatus::OffsetTooSmall,
                records: Vec::new(),
                next_begin_offset: min,
                min_offset: min,
                max_offset: store.max_offset(&header.topic, header.queue_id),
                total_bytes: 0,
            }
        } else {
            store.get_messages(
                &header.topic,
                header.queue_id,
                header.queue_offset as u64,
                header.max_msg_nums.max(1) as usize,
                &admitted.filter,
            )
        };
        let code = response_code(result.status, header.queue_offset);
        let offsets = &self.state.consumer_offsets;
        offsets.commit_pull_offset(
            &header.consumer_group,
            &header.topic,
            header.queue_id,
            to_i64(result.next_begin_offset),
        );
        if first
            && header.sys_flag & pull_flag::COMMIT_OFFSET != 0
            && self.state.config().is_master()
        {
            offsets.commit_offset(
                &channel.remote_addr().to_string(),
                &header.consumer_group,
                &header.topic,
                header.queue_id,
                header.commit_offset,
            );
        }
        if code == ResponseCode::PullNotFound && first && header.sys_flag & pull_flag::SUSPEND != 0
        {
            return Pass::Hold;
        }
        let response_header = PullMessageResponseHeader {
            suggest_which_broker_id: crate::ha::suggest_broker_id(
                &self.state,
                &header.consumer_group,
                &result.records,
            ),
            next_begin_offset: to_i64(result.next_begin_offset),
            min_offset: to_i64(result.min_offset),
            max_offset: to_i64(result.max_offset),
            offset_delta: None,
            topic_sys_flag: Some(admitted.topic_sys_flag),
            group_sys_flag: Some(admitted.group_sys_flag),
            forbidden_type: None,
        };
        let (max_offset, next) = (result.max_offset, result.next_begin_offset);
        let mut response = RemotingCommand::response_to(request, code)
            .with_header(&response_header)
            .with_remark(status_name(result.status));
        if code == ResponseCode::Success {
            self.state.metrics.record_messages_out(
                &header.topic,
                &header.consumer_group,
                result.records.len() as u64,
                result.total_bytes as u64,
            );
            response.body = Body::from_parts(result.records);
        }
        Pass::Answer(response, max_offset, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_mapping_follows_the_reference_table() {
        assert_eq!(response_code(GetStatus::Found, 3), ResponseCode::Success);
        assert_eq!(
            response_code(GetStatus::NoMatchedMessage, 3),
            ResponseCode::PullRetryImmediately
        );
        assert_eq!(
            response_code(GetStatus::MessageWasRemoving, 3),
            ResponseCode::PullRetryImmediately
        );
        assert_eq!(
            response_code(GetStatus::NoMessageInQueue, 0),
            ResponseCode::PullNotFound
        );
        assert_eq!(
            response_code(GetStatus::NoMessageInQueue, 5),
            ResponseCode::PullOffsetMoved
        );
        assert_eq!(
            response_code(GetStatus::OffsetOverflowOne, 5),
            ResponseCode::PullNotFound
        );
        assert_eq!(
            response_code(GetStatus::OffsetFoundNull, 5),
            ResponseCode::PullNotFound
        );
        assert_eq!(
            response_code(GetStatus::OffsetOverflowBadly, 50),
            ResponseCode::PullOffsetMoved
        );
        assert_eq!(
            response_code(GetStatus::OffsetTooSmall, 0),
            ResponseCode::PullOffsetMoved
        );
        assert_eq!(
            status_name(GetStatus::OffsetOverflowOne),
            "OFFSET_OVERFLOW_ONE"
        );
    }
}
