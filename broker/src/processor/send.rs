//! SEND_MESSAGE (V1 header), SEND_MESSAGE_V2 (one-letter header), SEND_BATCH_MESSAGE and
//! SEND_REPLY_MESSAGE(_V2) (stored like plain sends). Reference §3.2, broker-internals §5.4, §8, §10.
//!
//! The path: decode the header (V1 or V2 by request code) → check it as Apache's `msgCheck` does
//! (broker/topic permission, topic name, forbidden system topics, topic lookup or auto-creation,
//! queue id) → check sizes → build the stored record(s) (born host = the peer, store host =
//! `brokerIP1:listenPort`, `CLUSTER` and `UNIQ_KEY` properties, MULTI_TAGS sysflag, `%RETRY%` →
//! `%DLQ%` redirection, DELAY → `SCHEDULE_TOPIC_XXXX`) → put → map the put status.
//!
//! Every response, failures included, carries the `MSG_REGION` and `TRACE_ON` ext fields: the Java
//! client reads `MSG_REGION` on every send answer (pitfall 9).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use sluice_remoting::body::TopicFilterType;
use sluice_remoting::code::version;
use sluice_remoting::header::{
    SendMessageRequestHeader, SendMessageResponseHeader, MSG_REGION, TRACE_ON,
};
use sluice_remoting::message::batch::decode_batch;
use sluice_remoting::message::msgid::UniqIdGenerator;
use sluice_remoting::message::{property, sysflag, MessageRecord, Properties, MAX_PROPERTIES_LEN};
use sluice_remoting::net::Channel;
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};
use sluice_store::{PutResult, PutStatus};

use super::Processors;
use crate::state::BrokerState;
use crate::topic_config::{
    self, dlq_topic, is_not_allowed_send_topic, validate_topic_name, DLQ_GROUP_TOPIC_PREFIX,
    PERM_READ, PERM_WRITE, RETRY_GROUP_TOPIC_PREFIX, SCHEDULE_TOPIC, TRANS_HALF_TOPIC,
};

/// Region reported in `MSG_REGION` (Apache `regionId` default).
pub const DEFAULT_REGION_ID: &str = "DefaultRegion";
/// Apache `traceOn` default.
pub const DEFAULT_TRACE_ON: bool = true;
/// Queues of a DLQ topic (`DLQ_NUMS_PER_GROUP`).
const DLQ_NUMS_PER_GROUP: i32 = 1;
/// Longest topic a batch may go to (its records are always V1).
const BATCH_TOPIC_MAX_LEN: usize = 127;

/// Every send request code; all are served by the same processor.
pub const SEND_CODES: [RequestCode; 5] = [
    RequestCode::SendMessage,
    RequestCode::SendMessageV2,
    RequestCode::SendBatchMessage,
    RequestCode::SendReplyMessage,
    RequestCode::SendReplyMessageV2,
];

/// Routes every send request code to one [`SendProcessor`].
pub fn register(table: &mut Processors, state: Arc<BrokerState>) {
    let processor = Arc::new(SendProcessor::new(state));
    for code in SEND_CODES {
        let processor = processor.clone();
        table.register(
            code,
            Arc::new(move |channel: Channel, request: RemotingCommand| {
                let processor = processor.clone();
                async move { Some(processor.process(&channel, &request).await) }
            }),
        );
    }
}

/// The send processor: the shared state plus what is computed once (store host, id generator).
pub struct SendProcessor {
    state: Arc<BrokerState>,
    /// `brokerIP1:listenPort`, written as STOREHOST (and so into every offset msgId).
    store_host: SocketAddr,
    /// Generates UNIQ_KEY for messages that arrive without one, with the broker's IP.
    uniq_ids: UniqIdGenerator,
    /// Spreads `queueId < 0` sends over the write queues.
    next_queue: AtomicU32,
}

/// A send that cannot go on: the response to answer with.
type Refused = RemotingCommand;

/// The DELAY property's level (0 when absent or not a number).
fn delay_level(props: &Properties) -> i32 {
    props
        .get(property::DELAY)
        .and_then(|d| d.trim().parse::<i32>().ok())
        .unwrap_or(0)
}

fn refuse(request: &RemotingCommand, code: ResponseCode, remark: impl Into<String>) -> Refused {
    RemotingCommand::response_to(request, code).with_remark(remark)
}

/// The broker's client-facing address as a socket address. `brokerIP1` is normally an IP; when
/// it is a name that does not parse, the listen port on the unspecified address is used.
fn store_host_of(ip: &str, port: u16) -> SocketAddr {
    let ip: IpAddr = ip
        .parse()
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    SocketAddr::new(ip, port)
}

impl SendProcessor {
    pub fn new(state: Arc<BrokerState>) -> Self {
        let config = state.config();
        let store_host = store_host_of(&config.broker_ip1, config.listen_port);
        let uniq_ids = if store_host.ip().is_unspecified() {
            UniqIdGenerator::for_local_host()
        } else {
            UniqIdGenerator::new(store_host.ip())
        };
        Self {
            state,
            store_host,
            uniq_ids,
            next_queue: AtomicU32::new(0),
        }
    }

    /// Answers one send request. Never fails: every problem becomes a response code and remark.
    pub async fn process(&self, channel: &Channel, request: &RemotingCommand) -> RemotingCommand {
        let response = match self.state.send_flow_control.admit().await {
            Ok(_permit) => match self.send(channel, request).await {
                Ok(r) | Err(r) => r,
            },
            Err(rejected) => rejected.response_to(request),
        };
        response
            .with_ext(MSG_REGION, DEFAULT_REGION_ID)
            .with_ext(TRACE_ON, DEFAULT_TRACE_ON.to_string())
    }

    async fn send(
        &self,
        channel: &Channel,
        request: &RemotingCommand,
    ) -> Result<RemotingCommand, Refused> {
        let header = SendMessageRequestHeader::decode_from(request).map_err(|e| {
            refuse(
                request,
                ResponseCode::SystemError,
                format!("bad send request header: {e}"),
            )
        })?;
        let topic_cfg = self.check(channel, request, &header)?;
        let mut queue_id = header.queue_id;
        if queue_id < 0 {
            if topic_cfg.write_queue_nums <= 0 {
                return Err(refuse(
                    request,
                    ResponseCode::NoPermission,
                    format!("topic[{}] has no write queue", header.topic),
                ));
            }
            let n = self.next_queue.fetch_add(1, Ordering::Relaxed);
            queue_id = (n % topic_cfg.write_queue_nums as u32) as i32;
        }
        let batch = request.code == RequestCode::SendBatchMessage.as_i32();
        let (records, uniq_key) = if batch {
            self.build_batch(channel, request, &header, &topic_cfg, queue_id)?
        } else {
            let (record, uniq) =
                self.build_single(channel, request, &header, &topic_cfg, queue_id)?;
            (vec![record], Some(uniq))
        };
        let store = &self.state.store;
        let result = if records.len() == 1 {
            store.put(&records[0]).await
        } else {
            store.put_batch(&records).await
        };
        Ok(self.answer(request, &header.topic, &records, result, queue_id, uniq_key))
    }

    /// Apache's `msgCheck`: permissions, topic name, the topic itself (auto-created when
    /// allowed), queue id range.
    fn check(
        &self,
        channel: &Channel,
        request: &RemotingCommand,
        header: &SendMessageRequestHeader,
    ) -> Result<Arc<sluice_remoting::body::TopicConfig>, Refused> {
        let config = self.state.config();
        let topic = header.topic.as_str();
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
        validate_topic_name(topic)
            .map_err(|remark| refuse(request, ResponseCode::InvalidParameter, remark))?;
        if is_not_allowed_send_topic(topic) {
            return Err(refuse(
                request,
                ResponseCode::NoPermission,
                format!("Sending message to topic[{topic}] is forbidden."),
            ));
        }
        let topics = &self.state.topics;
        let mut found = topics.get(topic);
        if found.is_none() {
            tracing::warn!(topic, producer = %channel.remote_addr(), "send to a topic that does not exist");
            found = topics
                .create_topic_in_send_message_method(
                    topic,
                    &header.default_topic,
                    header.default_topic_queue_nums,
                    0,
                )
                .map_err(|e| refuse(request, ResponseCode::InvalidParameter, e.to_string()))?;
            if found.is_none() && topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
                found = Some(
                    topics
                        .create_topic_in_send_message_back_method(
                            topic,
                            1,
                            PERM_WRITE | PERM_READ,
                            0,
                        )
                        .map_err(|e| {
                            refuse(request, ResponseCode::InvalidParameter, e.to_string())
                        })?,
                );
            }
        }
        let Some(topic_cfg) = found else {
            return Err(refuse(
                request,
                ResponseCode::TopicNotExist,
                format!(
                    "topic[{topic}] not exist, apply first please! (autoCreateTopicEnable={}; create it with mqadmin updateTopic)",
                    config.auto_create_topic_enable
                ),
            ));
        };
        if !topic_config::is_writeable(topic_cfg.perm) {
            return Err(refuse(
                request,
                ResponseCode::NoPermission,
                format!("the topic[{topic}] sending message is forbidden"),
            ));
        }
        let valid = topic_cfg.write_queue_nums.max(topic_cfg.read_queue_nums);
        if header.queue_id >= valid {
            return Err(refuse(
                request,
                ResponseCode::InvalidParameter,
                format!(
                    "request queueId[{}] is illegal, topic[{topic}] has {} write and {} read queues, Producer: {}",
                    header.queue_id,
                    topic_cfg.write_queue_nums,
                    topic_cfg.read_queue_nums,
                    channel.remote_addr()
                ),
            ));
        }
        Ok(topic_cfg)
    }

    fn check_body_size(&self, request: &RemotingCommand, len: usize) -> Result<(), Refused> {
        let max = self.state.store.config.max_message_size;
        if len > max {
            return Err(refuse(
                request,
                ResponseCode::MessageIllegal,
                format!("the message body size {len} bytes exceeds the limit of {max} bytes (maxMessageSize)"),
            ));
        }
        Ok(())
    }

    fn check_properties_len(&self, request: &RemotingCommand, len: usize) -> Result<(), Refused> {
        if len > MAX_PROPERTIES_LEN {
            return Err(refuse(
                request,
                ResponseCode::MessageIllegal,
                format!(
                    "the message properties length {len} bytes exceeds the properties length limit 32KB ({MAX_PROPERTIES_LEN} bytes)"
                ),
            ));
        }
        Ok(())
    }

    /// The record of a single send, and its UNIQ_KEY.
    fn build_single(
        &self,
        channel: &Channel,
        request: &RemotingCommand,
        header: &SendMessageRequestHeader,
        topic_cfg: &sluice_remoting::body::TopicConfig,
        queue_id: i32,
    ) -> Result<(MessageRecord, String), Refused> {
        let body = request.body.to_bytes();
        self.check_body_size(request, body.len())?;
        let raw_props = header.properties.as_deref().unwrap_or("");
        self.check_properties_len(request, raw_props.len())?;
        let mut props = Properties::decode(raw_props);
        let mut topic = header.topic.clone();
        let mut queue_id = queue_id;
        if topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
            self.redirect_to_dlq(request, header, &mut topic, &mut queue_id, &mut props)?;
        }
        let mut sys_flag = header.sys_flag;
        if topic_cfg.topic_filter_type == TopicFilterType::MultiTag {
            sys_flag |= sysflag::MULTI_TAGS;
        }
        let uniq = self.ensure_uniq_key(&mut props);
        let config = self.state.config();
        props.insert(property::CLUSTER, &config.broker_cluster_name);
        let reconsume_times = header.reconsume_times.unwrap_or(0);
        // Old clients (< 4.6.1) resend retried transactional messages with TRAN_MSG still set.
        let half = props
            .get(property::TRAN_MSG)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
            && !(reconsume_times > 0 && delay_level(&props) > 0);
        if half {
            if config.reject_transaction_message {
                return Err(refuse(
                    request,
                    ResponseCode::NoPermission,
                    format!(
                        "the broker[{}] sending transaction message is forbidden",
                        config.broker_ip1
                    ),
                ));
            }
            // Stored as Apache's transactional service stores a half message: in the half
            // topic's only queue, invisible to consumers until END_TRANSACTION commits it.
            props.insert(property::REAL_TOPIC, topic.as_str());
            props.insert(property::REAL_QID, queue_id.to_string());
            sys_flag = sysflag::reset_transaction(sys_flag, sysflag::TRANSACTION_NOT);
            topic = TRANS_HALF_TOPIC.to_owned();
            queue_id = 0;
        } else if matches!(
            sysflag::transaction_type(sys_flag),
            sysflag::TRANSACTION_NOT | sysflag::TRANSACTION_COMMIT
        ) {
            self.schedule_if_delayed(&mut topic, &mut queue_id, &mut props);
        }
        let properties = props.encode();
        self.check_properties_len(request, properties.len())?;
        let record = MessageRecord {
            queue_id,
            flag: header.flag,
            sysflag: sys_flag,
            born_timestamp: header.born_timestamp,
            born_host: channel.remote_addr(),
            store_host: self.store_host,
            reconsume_times,
            body,
            topic,
            properties,
            ..Default::default()
        };
        Ok((record, uniq))
    }

    /// The records of a SEND_BATCH_MESSAGE: each blob keeps its own flag, body and properties;
    /// batch-level properties (`WAIT`, ...) fill in what an item lacks, except the UNIQ_KEY.
    fn build_batch(
        &self,
        channel: &Channel,
        request: &RemotingCommand,
        header: &SendMessageRequestHeader,
        topic_cfg: &sluice_remoting::body::TopicConfig,
        queue_id: i32,
    ) -> Result<(Vec<MessageRecord>, Option<String>), Refused> {
        let topic = &header.topic;
        if topic.len() > BATCH_TOPIC_MAX_LEN {
            return Err(refuse(
                request,
                ResponseCode::MessageIllegal,
                format!("message topic length too long {} (a batch topic has at most {BATCH_TOPIC_MAX_LEN} bytes)", topic.len()),
            ));
        }
        if topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) || topic.starts_with(DLQ_GROUP_TOPIC_PREFIX)
        {
            return Err(refuse(
                request,
                ResponseCode::MessageIllegal,
                "batch request does not support retry group",
            ));
        }
        let body = request.body.to_bytes();
        self.check_body_size(request, body.len())?;
        let items = decode_batch(&body).map_err(|e| {
            refuse(
                request,
                ResponseCode::MessageIllegal,
                format!("malformed batch body: {e}"),
            )
        })?;
        if items.is_empty() {
            return Err(refuse(
                request,
                ResponseCode::MessageIllegal,
                "the batch holds no message",
            ));
        }
        let batch_props = Properties::decode(header.properties.as_deref().unwrap_or(""));
        let batch_uniq = batch_props.get(property::UNIQ_KEY).map(str::to_owned);
        let mut sys_flag = header.sys_flag;
        if topic_cfg.topic_filter_type == TopicFilterType::MultiTag {
            sys_flag |= sysflag::MULTI_TAGS;
        }
        let cluster = self.state.config().broker_cluster_name.clone();
        let mut records = Vec::with_capacity(items.len());
        for item in items {
            let mut props = Properties::decode(&item.properties);
            for (name, value) in batch_props.iter() {
                if name != property::UNIQ_KEY && !props.contains(name) {
                    props.insert(name, value);
                }
            }
            if delay_level(&props) > 0 {
                return Err(refuse(
                    request,
                    ResponseCode::MessageIllegal,
                    "batch messages cannot be delayed (DELAY property set)",
                ));
            }
            self.ensure_uniq_key(&mut props);
            props.insert(property::CLUSTER, &cluster);
            let properties = props.encode();
            self.check_properties_len(request, properties.len())?;
            records.push(MessageRecord {
                queue_id,
                flag: item.flag,
                sysflag: sys_flag,
                born_timestamp: header.born_timestamp,
                born_host: channel.remote_addr(),
                store_host: self.store_host,
                reconsume_times: header.reconsume_times.unwrap_or(0),
                body: item.body,
                topic: topic.clone(),
                properties,
                ..Default::default()
            });
        }
        Ok((records, batch_uniq))
    }

    /// The message's UNIQ_KEY, generated (with the broker's IP) when the producer sent none.
    fn ensure_uniq_key(&self, props: &mut Properties) -> String {
        match props.get(property::UNIQ_KEY) {
            Some(k) if !k.is_empty() => k.to_owned(),
            _ => {
                let id = self.uniq_ids.next();
                props.insert(property::UNIQ_KEY, &id);
                id
            }
        }
    }

    /// A send to `%RETRY%group` whose reconsume count reached the group's maximum goes to
    /// `%DLQ%group` (one queue) instead (Apache `handleRetryAndDLQ`).
    fn redirect_to_dlq(
        &self,
        request: &RemotingCommand,
        header: &SendMessageRequestHeader,
        topic: &mut String,
        queue_id: &mut i32,
        props: &mut Properties,
    ) -> Result<(), Refused> {
        let group = &topic[RETRY_GROUP_TOPIC_PREFIX.len()..];
        let Some(group_cfg) = self.state.subscription_groups.find_or_create(group) else {
            return Err(refuse(
                request,
                ResponseCode::SubscriptionGroupNotExist,
                format!("subscription group not exist, {group}"),
            ));
        };
        let mut max_reconsume = group_cfg.retry_max_times;
        if request.version >= version::V3_4_9 {
            if let Some(m) = header.max_reconsume_times {
                max_reconsume = m;
            }
        }
        let reconsume = header.reconsume_times.unwrap_or(0);
        if reconsume < max_reconsume {
            return Ok(());
        }
        let dlq = dlq_topic(group);
        self.state
            .topics
            .create_topic_in_send_message_back_method(
                &dlq,
                DLQ_NUMS_PER_GROUP,
                PERM_WRITE | PERM_READ,
                0,
            )
            .map_err(|e| {
                refuse(
                    request,
                    ResponseCode::SystemError,
                    format!("topic[{dlq}] not exist: {e}"),
                )
            })?;
        tracing::info!(
            group,
            reconsume,
            max_reconsume,
            "retry message sent to the DLQ"
        );
        props.insert(property::DELAY, "0");
        *topic = dlq;
        *queue_id = 0;
        Ok(())
    }

    /// DELAY level > 0: store in `SCHEDULE_TOPIC_XXXX`, queue level−1 (level clamped to the
    /// configured levels), remembering the real topic and queue in REAL_TOPIC / REAL_QID.
    fn schedule_if_delayed(&self, topic: &mut String, queue_id: &mut i32, props: &mut Properties) {
        let level = delay_level(props);
        if level <= 0 {
            return;
        }
        let max_level = self
            .state
            .store
            .config
            .message_delay_level
            .split_whitespace()
            .count()
            .max(1) as i32;
        let level = level.min(max_level);
        if level.to_string() != props.get(property::DELAY).unwrap_or("") {
            props.insert(property::DELAY, level.to_string());
        }
        props.insert(property::REAL_TOPIC, topic.as_str());
        props.insert(property::REAL_QID, queue_id.to_string());
        *topic = SCHEDULE_TOPIC.to_owned();
        *queue_id = level - 1;
    }

    /// Maps the put result to the response (broker-internals §5.4). The three "stored but not
    /// durable/replicated" codes still carry the full header.
    fn answer(
        &self,
        request: &RemotingCommand,
        topic: &str,
        records: &[MessageRecord],
        result: PutResult,
        queue_id: i32,
        uniq_key: Option<String>,
    ) -> RemotingCommand {
        let code = match result.status {
            PutStatus::PutOk => ResponseCode::Success,
            PutStatus::FlushDiskTimeout => ResponseCode::FlushDiskTimeout,
            PutStatus::FlushSlaveTimeout => ResponseCode::FlushSlaveTimeout,
            PutStatus::SlaveNotAvailable => ResponseCode::SlaveNotAvailable,
            PutStatus::MessageIllegal | PutStatus::PropertiesSizeExceeded => {
                return refuse(
                    request,
                    ResponseCode::MessageIllegal,
                    format!(
                        "the message is illegal, maybe msg body or properties length not matched. msg body length limit {}B, msg properties length limit 32KB. ({})",
                        self.state.store.config.max_message_size,
                        result.remark.unwrap_or_default()
                    ),
                );
            }
            PutStatus::ServiceNotAvailable => {
                return refuse(
                    request,
                    ResponseCode::ServiceNotAvailable,
                    format!(
                        "service not available now: the broker's disk may be full or the store is shutting down ({})",
                        result.remark.unwrap_or_default()
                    ),
                );
            }
            PutStatus::OsPageCacheBusy => {
                return refuse(
                    request,
                    ResponseCode::SystemBusy,
                    "[PC_SYNCHRONIZED]broker busy, start flow control for a while",
                );
            }
            PutStatus::CreateMappedFileFailed => {
                return refuse(
                    request,
                    ResponseCode::SystemError,
                    format!(
                        "create mapped file failed, server is busy or broken. ({})",
                        result.remark.unwrap_or_default()
                    ),
                );
            }
            PutStatus::UnknownError => {
                return refuse(
                    request,
                    ResponseCode::SystemError,
                    format!("UNKNOWN_ERROR {}", result.remark.unwrap_or_default()),
                );
            }
        };
        // Apache counts body bytes for `rocketmq_throughput_in`.
        let body_bytes: usize = records.iter().map(|r| r.body.len()).sum();
        self.state
            .metrics
            .record_messages_in(topic, u64::from(result.msg_num), body_bytes as u64);
        RemotingCommand::response_to(request, code).with_header(&SendMessageResponseHeader {
            msg_id: result.msg_id,
            queue_id,
            queue_offset: result.queue_offset,
            transaction_id: uniq_key,
            batch_uniq_id: None,
            recall_handle: None,
            msg_region: DEFAULT_REGION_ID.to_owned(),
            trace_on: DEFAULT_TRACE_ON,
        })
    }
}
