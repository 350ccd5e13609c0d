//! CONSUMER_SEND_MSG_BACK (36): a consumer hands back a message it failed to process
//! (broker-internals §10, reference §7.4).
//!
//! The broker looks the message up by its CommitLog offset and stores a copy for the group's
//! next attempt: in `%RETRY%group` (created on demand with the group's `retryQueueNums` queues,
//! read-write) behind a delay that grows with the attempt count (`delayLevel` 0 → level
//! `3 + reconsumeTimes`, routed through `SCHEDULE_TOPIC_XXXX`), or, once `reconsumeTimes` reached
//! the maximum (the header's `maxReconsumeTimes` for clients ≥ 3.4.9, else the group's
//! `retryMaxTimes`) or when `delayLevel` < 0, in `%DLQ%group` (one queue, read-write as in
//! Apache ≥ 4.9.2). The copy keeps body, flag, sysflag, born time and host, keys, tags and every
//! property (UNIQ_KEY included, so clients see the same msgId), gains `RETRY_TOPIC` (the original
//! topic, when not already set) and `ORIGIN_MESSAGE_ID` (the first delivery's offset msgId), and
//! counts one more reconsume. New topics tick the topic table, so the NameServers learn their
//! routes with the next registration.
//!
//! Answers: SUCCESS (no header), SUBSCRIPTION_GROUP_NOT_EXIST, NO_PERMISSION, and SYSTEM_ERROR
//! with a remark saying what failed (unknown offset, topic creation, the store's put status).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use sluice_remoting::code::version;
use sluice_remoting::header::ConsumerSendMsgBackRequestHeader;
use sluice_remoting::message::msgid::create_offset_msg_id;
use sluice_remoting::message::{property, sysflag, MessageRecord, Properties, MAX_PROPERTIES_LEN};
use sluice_remoting::net::Channel;
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};
use sluice_store::PutStatus;

use super::send::SendProcessor;
use super::Processors;
use crate::state::BrokerState;
use crate::subscription_group::validate_group_name;
use crate::topic_config::{self, dlq_topic, retry_topic, PERM_READ, PERM_WRITE};

/// Queues of a DLQ topic (`MixAll.DLQ_NUMS_PER_GROUP`).
pub const DLQ_NUMS_PER_GROUP: i32 = 1;
/// TopicSysFlag of a unit-mode consumer's retry topic (`buildSysFlag(false, true)`).
const TOPIC_SYS_FLAG_UNIT_SUB: i32 = 0b10;

/// Routes CONSUMER_SEND_MSG_BACK to one [`SendBackProcessor`].
pub fn register(table: &mut Processors, state: Arc<BrokerState>) {
    let processor = Arc::new(SendBackProcessor::new(state));
    table.register(
        RequestCode::ConsumerSendMsgBack,
        Arc::new(move |channel: Channel, request: RemotingCommand| {
            let processor = processor.clone();
            async move { Some(processor.process(&channel, &request).await) }
        }),
    );
}

/// Where a sent-back message went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SentBack {
    /// Stored for another attempt in `%RETRY%group` behind this delay level.
    Retry { delay_level: i32 },
    /// Stored in `%DLQ%group`.
    DeadLetter,
    /// The group has no retry queues: dropped, as Apache does.
    Dropped,
}

/// The send-back processor: the shared state and the send processor whose delay-level routing
/// (`SCHEDULE_TOPIC_XXXX`, clamped to the configured levels) and store host it reuses.
pub struct SendBackProcessor {
    state: Arc<BrokerState>,
    send: SendProcessor,
    /// Spreads retries over the retry topic's queues.
    next_queue: AtomicU32,
}

fn refuse(
    request: &RemotingCommand,
    code: ResponseCode,
    remark: impl Into<String>,
) -> RemotingCommand {
    RemotingCommand::response_to(request, code).with_remark(remark)
}

/// A put status as Apache names it in the remark (`PutMessageStatus.name()`).
fn put_status_name(status: PutStatus) -> String {
    let debug = format!("{status:?}");
    let mut name = String::with_capacity(debug.len() + 4);
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

impl SendBackProcessor {
    pub fn new(state: Arc<BrokerState>) -> Self {
        Self {
            send: SendProcessor::new(state.clone()),
            state,
            next_queue: AtomicU32::new(0),
        }
    }

    /// Answers one CONSUMER_SEND_MSG_BACK; every failure becomes a response code and remark.
    pub async fn process(&self, _channel: &Channel, request: &RemotingCommand) -> RemotingCommand {
        // Stored like a send, so it waits for a send turn like one.
        let _permit = match self.state.send_flow_control.admit().await {
            Ok(permit) => permit,
            Err(rejected) => return rejected.response_to(request),
        };
        match self.send_back(request).await {
            Ok(_) => RemotingCommand::response_to(request, ResponseCode::Success),
            Err(response) => response,
        }
    }

    /// Stores the retry (or dead-letter) copy of the message the request names.
    pub async fn send_back(&self, request: &RemotingCommand) -> Result<SentBack, RemotingCommand> {
        let header: ConsumerSendMsgBackRequestHeader = request.decode_header().map_err(|e| {
            refuse(
                request,
                ResponseCode::SystemError,
                format!("bad CONSUMER_SEND_MSG_BACK request header: {e}"),
            )
        })?;
        let group = header.group.as_str();
        let Some(group_cfg) = self.state.subscription_groups.find_or_create(group) else {
            let why = match validate_group_name(group) {
                Err(problem) => problem,
                Ok(()) => {
                    "autoCreateSubscriptionGroup is off; create it with mqadmin updateSubGroup"
                        .to_string()
                }
            };
            return Err(refuse(
                request,
                ResponseCode::SubscriptionGroupNotExist,
                format!("subscription group not exist, {group} ({why})"),
            ));
        };
        let config = self.state.config();
        if !config.is_master() {
            // Only a master stores retries; clients send them back to the master.
            return Err(refuse(
                request,
                ResponseCode::SystemError,
                format!("no master available along with {}", config.broker_ip1),
            ));
        }
        if !topic_config::is_writeable(config.broker_permission) {
            return Err(refuse(
                request,
                ResponseCode::NoPermission,
                format!(
                    "the broker[{}] sending message is forbidden",
                    config.broker_ip1
                ),
            ));
        }
        if group_cfg.retry_queue_nums <= 0 {
            tracing::debug!(group, "send-back dropped: the group has no retry queues");
            return Ok(SentBack::Dropped);
        }

        let mut topic = retry_topic(group);
        let topic_sys_flag = if header.unit_mode == Some(true) {
            TOPIC_SYS_FLAG_UNIT_SUB
        } else {
            0
        };
        let retry_cfg = self
            .state
            .topics
            .create_topic_in_send_message_back_method(
                &topic,
                group_cfg.retry_queue_nums,
                PERM_WRITE | PERM_READ,
                topic_sys_flag,
            )
            .map_err(|e| {
                refuse(
                    request,
                    ResponseCode::SystemError,
                    format!("topic[{topic}] not exist: {e}"),
                )
            })?;
        if !topic_config::is_writeable(retry_cfg.perm) {
            return Err(refuse(
                request,
                ResponseCode::NoPermission,
                format!("the topic[{topic}] sending message is forbidden"),
            ));
        }
        let queues = retry_cfg
            .write_queue_nums
            .clamp(1, group_cfg.retry_queue_nums);
        let mut queue_id = (self.next_queue.fetch_add(1, Ordering::Relaxed) % queues as u32) as i32;

        let original = self.look_up(request, header.offset)?;
        let mut props = Properties::decode(&original.properties);
        if !props.contains(property::RETRY_TOPIC) {
            props.insert(property::RETRY_TOPIC, original.topic.as_str());
        }
        props.insert(property::WAIT, "false");

        let mut max_reconsume = group_cfg.retry_max_times;
        if request.version >= version::V3_4_9 {
            if let Some(m) = header.max_reconsume_times {
                max_reconsume = m;
            }
        }
        let outcome = if original.reconsume_times >= max_reconsume || header.delay_level < 0 {
            topic = dlq_topic(group);
            queue_id = 0;
            self.state
                .topics
                .create_topic_in_send_message_back_method(
                    &topic,
                    DLQ_NUMS_PER_GROUP,
                    PERM_WRITE | PERM_READ,
                    0,
                )
                .map_err(|e| {
                    refuse(
                        request,
                        ResponseCode::SystemError,
                        format!("topic[{topic}] not exist: {e}"),
                    )
                })?;
            props.insert(property::DELAY, "0");
            SentBack::DeadLetter
        } else {
            let delay_level = if header.delay_level == 0 {
                3 + original.reconsume_times
            } else {
                header.delay_level
            };
            props.insert(property::DELAY, delay_level.to_string());
            SentBack::Retry { delay_level }
        };

        let origin_id = match props.get(property::ORIGIN_MESSAGE_ID) {
            Some(id) if !id.trim().is_empty() => id.to_owned(),
            _ => create_offset_msg_id(original.store_host, original.physical_offset),
        };
        props.insert(property::ORIGIN_MESSAGE_ID, origin_id);

        // Committed transactional and plain messages go through the delay levels; the store
        // path does the same for sends.
        if matches!(
            sysflag::transaction_type(original.sysflag),
            sysflag::TRANSACTION_NOT | sysflag::TRANSACTION_COMMIT
        ) {
            self.send
                .schedule_if_delayed(&mut topic, &mut queue_id, &mut props);
        }
        let properties = props.encode();
        if properties.len() > MAX_PROPERTIES_LEN {
            return Err(refuse(
                request,
                ResponseCode::MessageIllegal,
                format!(
                    "the message properties length {} bytes exceeds the properties length limit 32KB ({MAX_PROPERTIES_LEN} bytes) once RETRY_TOPIC and ORIGIN_MESSAGE_ID are added",
                    properties.len()
                ),
            ));
        }
        let reconsume_times = original.reconsume_times.saturating_add(1);
        let record = MessageRecord {
            queue_id,
            flag: original.flag,
            sysflag: original.sysflag,
            born_timestamp: original.born_timestamp,
            born_host: original.born_host,
            store_host: self.send.store_host(),
            reconsume_times,
            body: original.body,
            topic,
            properties,
            ..Default::default()
        };
        let result = self.state.store.put(&record).await;
        match result.status {
            PutStatus::PutOk
            | PutStatus::FlushDiskTimeout
            | PutStatus::FlushSlaveTimeout
            | PutStatus::SlaveNotAvailable => {}
            status => {
                return Err(refuse(
                    request,
                    ResponseCode::SystemError,
                    match result.remark {
                        Some(why) => format!("{} ({why})", put_status_name(status)),
                        None => put_status_name(status),
                    },
                ));
            }
        }
        let origin_topic = header
            .origin_topic
            .as_deref()
            .or_else(|| props.get(property::RETRY_TOPIC))
            .unwrap_or("");
        if outcome == SentBack::DeadLetter {
            self.state.metrics.record_send_to_dlq(group, origin_topic);
            tracing::info!(
                group,
                origin_topic,
                reconsume_times,
                max_reconsume,
                msg_id = %result.msg_id,
                "send-back: message moved to the DLQ"
            );
        } else {
            tracing::debug!(
                group,
                origin_topic,
                reconsume_times,
                msg_id = %result.msg_id,
                "send-back: message stored for retry"
            );
        }
        Ok(outcome)
    }

    /// The message stored at CommitLog `offset` (`lookMessageByOffset`).
    fn look_up(
        &self,
        request: &RemotingCommand,
        offset: i64,
    ) -> Result<MessageRecord, RemotingCommand> {
        let failed = || {
            refuse(
                request,
                ResponseCode::SystemError,
                format!("look message by offset failed, {offset}"),
            )
        };
        let bytes = u64::try_from(offset)
            .ok()
            .and_then(|o| self.state.store.lookup_by_physical_offset(o))
            .ok_or_else(failed)?;
        let (record, _) = MessageRecord::decode(&bytes).map_err(|_| failed())?;
        // A record found at `offset` always starts there; anything else is not the consumer's message.
        if record.physical_offset != offset {
            return Err(failed());
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_status_names_are_apaches() {
        assert_eq!(put_status_name(PutStatus::PutOk), "PUT_OK");
        assert_eq!(
            put_status_name(PutStatus::CreateMappedFileFailed),
            "CREATE_MAPPED_FILE_FAILED"
        );
        assert_eq!(
            put_status_name(PutStatus::ServiceNotAvailable),
            "SERVICE_NOT_AVAILABLE"
        );
    }
}
