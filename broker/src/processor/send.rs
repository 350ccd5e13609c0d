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

use sluice_remoting::header::{
    SendMessageRequestHeader, SendMessageResponseHeader, MSG_REGION, TRACE_ON,
};
use sluice_remoting::message::msgid::UniqIdGenerator;
use sluice_remoting::message::MessageRecord;
use sluice_remoting::net::Channel;
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};
use sluice_store::{PutResult, PutStatus};

use super::Processors;
use crate::state::BrokerState;
use crate::topic_config::{
    self, is_not_allowed_send_topic, validate_topic_name, PERM_READ, PERM_WRITE,
    RETRY_GROUP_TOPIC_PREFIX,
};

mod record;

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

    /// `brokerIP1:listenPort`, the STOREHOST of what this broker stores.
    pub(crate) fn store_host(&self) -> SocketAddr {
        self.store_host
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
        if let Some(remark) = self.state.failover.refuse_write() {
            return Err(refuse(request, ResponseCode::ServiceNotAvailable, remark));
        }
        if let Some(remark) = crate::ha::refuse_write_on_slave(&self.state) {
            return Err(refuse(request, ResponseCode::ServiceNotAvailable, remark));
        }
        let store = &self.state.store;
        let result = if records.len() == 1 {
            store.put(&records[0]).await
        } else {
            store.put_batch(&records).await
        };
        // SYNC_MASTER: wait for a slave's acknowledgement.
        let result = crate::ha::after_put(&self.state, &records[0].properties, result).await;
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
            // TopicSysFlag of a unit-mode producer's new topic: bit 0 unit, bit 1 unit-sub.
            let topic_sys_flag = match header.unit_mode {
                Some(true) if topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) => 0b10,
                Some(true) => 0b01,
                _ => 0,
            };
            found = topics
                .create_topic_in_send_message_method(
                    topic,
                    &header.default_topic,
                    header.default_topic_queue_nums,
                    topic_sys_flag,
                )
                .map_err(|e| refuse(request, ResponseCode::InvalidParameter, e.to_string()))?;
            if found.is_none() && topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
                found = Some(
                    topics
                        .create_topic_in_send_message_back_method(
                            topic,
                            1,
                            PERM_WRITE | PERM_READ,
                            topic_sys_flag,
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
