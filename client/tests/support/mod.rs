//! In-process fake NameServer and brokers built on `RemotingServer`, for client tests. The
//! brokers store what they are sent per queue, so a consumer can pull it back.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use sluice_remoting::body::{
    BrokerData, ClusterInfo, GetConsumerListByGroupResponseBody, JsonBody, LockBatchRequestBody,
    LockBatchResponseBody, MessageQueue, QueueData, TopicOffset, TopicRouteData, TopicStatsTable,
};
use sluice_remoting::header::{
    CreateTopicRequestHeader, GetTopicStatsInfoRequestHeader, QueryMessageRequestHeader,
    ViewMessageRequestHeader,
};
use sluice_remoting::header::{
    GetConsumerListByGroupRequestHeader, GetMaxOffsetRequestHeader, PullMessageRequestHeader,
    QueryConsumerOffsetRequestHeader, SendMessageRequestHeader, UpdateConsumerOffsetRequestHeader,
};
use sluice_remoting::message::batch::decode_batch;
use sluice_remoting::message::msgid::create_offset_msg_id;
use sluice_remoting::message::{MessageRecord, Properties};
use sluice_remoting::net::{Channel, ProcessorTable, RemotingServer, ServerConfig};
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};
use tokio::sync::Notify;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap()
}

/// A NameServer that serves the routes put into `routes`.
pub struct FakeNameServer {
    pub server: RemotingServer,
    pub routes: Arc<Mutex<HashMap<String, TopicRouteData>>>,
    pub lookups: Arc<Mutex<Vec<String>>>,
}

impl FakeNameServer {
    pub async fn start() -> Self {
        let routes: Arc<Mutex<HashMap<String, TopicRouteData>>> = Arc::default();
        let lookups: Arc<Mutex<Vec<String>>> = Arc::default();
        let (r, l) = (routes.clone(), lookups.clone());
        let table = ProcessorTable::new().with(
            RequestCode::GetRouteinfoByTopic,
            move |_c: Channel, req: RemotingCommand| {
                let (r, l) = (r.clone(), l.clone());
                async move {
                    let topic = req.ext("topic").unwrap_or_default().to_string();
                    lock(&l).push(topic.clone());
                    let route = lock(&r).get(&topic).cloned();
                    Some(match route {
                        Some(route) => RemotingCommand::response_to(&req, ResponseCode::Success)
                            .with_body(route.encode_for(req.version, false)),
                        None => RemotingCommand::response_to(&req, ResponseCode::TopicNotExist)
                            .with_remark(format!(
                                "No topic route info in name server for the topic: {topic}"
                            )),
                    })
                }
            },
        );
        let r = routes.clone();
        let table = table.with(
            RequestCode::GetBrokerClusterInfo,
            move |_c: Channel, req: RemotingCommand| {
                let r = r.clone();
                async move {
                    let mut info = ClusterInfo::default();
                    for route in lock(&r).values() {
                        for b in &route.broker_datas {
                            info.broker_addr_table
                                .insert(b.broker_name.clone(), b.clone());
                            info.cluster_addr_table
                                .entry(b.cluster.clone())
                                .or_default()
                                .insert(b.broker_name.clone());
                        }
                    }
                    Some(
                        RemotingCommand::response_to(&req, ResponseCode::Success)
                            .with_body(info.encode()),
                    )
                }
            },
        );
        let server = RemotingServer::start(ServerConfig::new(([127, 0, 0, 1], 0).into()), table)
            .await
            .unwrap();
        Self {
            server,
            routes,
            lookups,
        }
    }

    pub fn addr(&self) -> String {
        self.server.local_addr().to_string()
    }

    /// Routes `topic` to `brokers` (name, master address) with `queues` read/write queues each.
    pub fn set_route(&self, topic: &str, brokers: &[(&str, &str)], queues: i32) {
        let mut route = TopicRouteData::default();
        for (name, addr) in brokers {
            route.queue_datas.push(QueueData {
                broker_name: name.to_string(),
                perm: 6,
                read_queue_nums: queues,
                write_queue_nums: queues,
                topic_sys_flag: 0,
            });
            let mut bd = BrokerData {
                broker_name: name.to_string(),
                cluster: "DefaultCluster".into(),
                ..Default::default()
            };
            bd.broker_addrs.insert(0, addr.to_string());
            route.broker_datas.push(bd);
        }
        lock(&self.routes).insert(topic.to_string(), route);
    }

    pub fn lookups_of(&self, topic: &str) -> usize {
        lock(&self.lookups).iter().filter(|t| *t == topic).count()
    }
}

/// Shared state of a fake broker.
#[derive(Default)]
pub struct BrokerState {
    pub name: String,
    /// Codes to answer the next sends with (front first); empty → store and answer SUCCESS.
    pub scripted: Mutex<VecDeque<i32>>,
    /// Answer every send with this code (after the scripted ones), if set.
    pub always: Mutex<Option<i32>>,
    /// Every request received, in order.
    pub received: Mutex<Vec<RemotingCommand>>,
    /// Stored messages per (topic, queue id).
    pub queues: Mutex<HashMap<(String, i32), Vec<MessageRecord>>>,
    /// Committed offsets per (group, topic, queue id).
    pub offsets: Mutex<HashMap<(String, String, i32), i64>>,
    /// What GET_CONSUMER_LIST_BY_GROUP answers.
    pub consumer_ids: Mutex<Vec<String>>,
    pub arrived: Notify,
    /// Topics created with UPDATE_AND_CREATE_TOPIC.
    pub created_topics: Mutex<Vec<String>>,
    pub store_host: Mutex<Option<SocketAddr>>,
}

impl BrokerState {
    pub fn count(&self, code: RequestCode) -> usize {
        lock(&self.received)
            .iter()
            .filter(|r| r.code == code.as_i32())
            .count()
    }

    pub fn requests(&self, code: RequestCode) -> Vec<RemotingCommand> {
        lock(&self.received)
            .iter()
            .filter(|r| r.code == code.as_i32())
            .cloned()
            .collect()
    }

    pub fn stored(&self, topic: &str, queue_id: i32) -> Vec<MessageRecord> {
        lock(&self.queues)
            .get(&(topic.to_string(), queue_id))
            .cloned()
            .unwrap_or_default()
    }

    pub fn stored_total(&self, topic: &str) -> usize {
        lock(&self.queues)
            .iter()
            .filter(|((t, _), _)| t == topic)
            .map(|(_, v)| v.len())
            .sum()
    }

    /// Appends a message as if a producer had sent it.
    pub fn put(&self, topic: &str, queue_id: i32, body: &[u8], properties: &str) -> i64 {
        let mut queues = lock(&self.queues);
        let q = queues.entry((topic.to_string(), queue_id)).or_default();
        let offset = q.len() as i64;
        q.push(MessageRecord {
            topic: topic.to_string(),
            queue_id,
            queue_offset: offset,
            physical_offset: offset * 1000 + i64::from(queue_id),
            body: bytes::Bytes::copy_from_slice(body),
            properties: properties.to_string(),
            store_host: lock(&self.store_host).unwrap_or(([127, 0, 0, 1], 10911).into()),
            born_host: ([127, 0, 0, 1], 5555).into(),
            ..Default::default()
        });
        drop(queues);
        self.arrived.notify_waiters();
        offset
    }

    fn next_send_code(&self) -> i32 {
        lock(&self.scripted)
            .pop_front()
            .or(*lock(&self.always))
            .unwrap_or(0)
    }

    fn handle_send(&self, req: &RemotingCommand) -> RemotingCommand {
        let code = self.next_send_code();
        let stored = SendStatusCode::stores(code);
        if !stored {
            return RemotingCommand::response_to(req, code)
                .with_remark(format!("scripted failure {code}"))
                .with_ext("MSG_REGION", "DefaultRegion")
                .with_ext("TRACE_ON", "true");
        }
        let header = match SendMessageRequestHeader::decode_from(req) {
            Ok(h) => h,
            Err(e) => {
                return RemotingCommand::response_to(req, ResponseCode::SystemError)
                    .with_remark(e.to_string())
            }
        };
        let queue_id = header.queue_id.max(0);
        let body = req.body.to_bytes();
        let mut first = None;
        let mut ids = Vec::new();
        let store_host = lock(&self.store_host).unwrap_or(([127, 0, 0, 1], 10911).into());
        let items: Vec<(Vec<u8>, String)> = if req.code == RequestCode::SendBatchMessage.as_i32() {
            decode_batch(&body)
                .unwrap()
                .into_iter()
                .map(|i| (i.body.to_vec(), i.properties))
                .collect()
        } else {
            vec![(body.to_vec(), header.properties.clone().unwrap_or_default())]
        };
        for (body, props) in items {
            let offset = self.put(&header.topic, queue_id, &body, &props);
            if let Some(rec) = lock(&self.queues)
                .get_mut(&(header.topic.clone(), queue_id))
                .and_then(|q| q.last_mut())
            {
                rec.sysflag = header.sys_flag;
                rec.flag = header.flag;
                ids.push(create_offset_msg_id(store_host, rec.physical_offset));
            }
            first.get_or_insert(offset);
        }
        RemotingCommand::response_to(req, code)
            .with_ext("msgId", ids.join(","))
            .with_ext("queueId", queue_id.to_string())
            .with_ext("queueOffset", first.unwrap_or(0).to_string())
            .with_ext("MSG_REGION", "DefaultRegion")
            .with_ext("TRACE_ON", "true")
    }

    async fn handle_pull(&self, req: &RemotingCommand) -> RemotingCommand {
        let h: PullMessageRequestHeader = req.decode_header().unwrap();
        let key = (h.topic.clone(), h.queue_id);
        let suspend = h.sys_flag & 0x2 != 0;
        if h.sys_flag & 0x1 != 0 {
            lock(&self.offsets).insert(
                (h.consumer_group.clone(), h.topic.clone(), h.queue_id),
                h.commit_offset,
            );
        }
        let deadline = tokio::time::Instant::now()
            + Duration::from_millis(h.suspend_timeout_millis.max(0) as u64);
        loop {
            let arrived = self.arrived.notified();
            let (max, body, next) = {
                let queues = lock(&self.queues);
                let msgs = queues.get(&key).map(Vec::as_slice).unwrap_or(&[]);
                let max = msgs.len() as i64;
                let start = h.queue_offset.clamp(0, max) as usize;
                let end = (start + h.max_msg_nums.max(1) as usize).min(msgs.len());
                let mut buf = BytesMut::new();
                for m in &msgs[start..end] {
                    m.encode(&mut buf);
                }
                (max, buf.freeze(), end as i64)
            };
            let header = |code: ResponseCode, next: i64| {
                RemotingCommand::response_to(req, code)
                    .with_ext("suggestWhichBrokerId", "0")
                    .with_ext("nextBeginOffset", next.to_string())
                    .with_ext("minOffset", "0")
                    .with_ext("maxOffset", max.to_string())
            };
            if h.queue_offset > max || h.queue_offset < 0 {
                return header(ResponseCode::PullOffsetMoved, max);
            }
            if !body.is_empty() {
                return header(ResponseCode::Success, next).with_body(body);
            }
            if !suspend || tokio::time::Instant::now() >= deadline {
                return header(ResponseCode::PullNotFound, h.queue_offset);
            }
            let _ = tokio::time::timeout_at(deadline, arrived).await;
        }
    }

    async fn handle(&self, req: RemotingCommand) -> Option<RemotingCommand> {
        lock(&self.received).push(req.clone());
        let code = RequestCode::from_i32(req.code)?;
        Some(match code {
            RequestCode::SendMessageV2
            | RequestCode::SendBatchMessage
            | RequestCode::SendMessage => self.handle_send(&req),
            RequestCode::PullMessage => self.handle_pull(&req).await,
            RequestCode::QueryConsumerOffset => {
                let h: QueryConsumerOffsetRequestHeader = req.decode_header().unwrap();
                match lock(&self.offsets).get(&(h.consumer_group, h.topic, h.queue_id)) {
                    Some(o) => RemotingCommand::response_to(&req, ResponseCode::Success)
                        .with_ext("offset", o.to_string()),
                    None => RemotingCommand::response_to(&req, ResponseCode::QueryNotFound)
                        .with_remark(
                            "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first",
                        ),
                }
            }
            RequestCode::UpdateConsumerOffset => {
                let h: UpdateConsumerOffsetRequestHeader = req.decode_header().unwrap();
                lock(&self.offsets)
                    .insert((h.consumer_group, h.topic, h.queue_id), h.commit_offset);
                if req.is_oneway() {
                    return None;
                }
                RemotingCommand::response_to(&req, ResponseCode::Success)
            }
            RequestCode::GetMaxOffset => {
                let h: GetMaxOffsetRequestHeader = req.decode_header().unwrap();
                let max = lock(&self.queues)
                    .get(&(h.topic, h.queue_id))
                    .map_or(0, |q| q.len() as i64);
                RemotingCommand::response_to(&req, ResponseCode::Success)
                    .with_ext("offset", max.to_string())
            }
            RequestCode::GetConsumerListByGroup => {
                let _h: GetConsumerListByGroupRequestHeader = req.decode_header().unwrap();
                let body = GetConsumerListByGroupResponseBody {
                    consumer_id_list: lock(&self.consumer_ids).clone(),
                };
                RemotingCommand::response_to(&req, ResponseCode::Success).with_body(body.encode())
            }
            RequestCode::LockBatchMq => {
                let body = LockBatchRequestBody::decode(&req.body.to_bytes()).unwrap();
                let answer = LockBatchResponseBody {
                    lock_ok_mq_set: body.mq_set,
                };
                RemotingCommand::response_to(&req, ResponseCode::Success).with_body(answer.encode())
            }
            RequestCode::UnlockBatchMq => {
                if req.is_oneway() {
                    return None;
                }
                RemotingCommand::response_to(&req, ResponseCode::Success)
            }
            RequestCode::EndTransaction => {
                self.arrived.notify_waiters();
                return None;
            }
            RequestCode::UpdateAndCreateTopic => {
                let h: CreateTopicRequestHeader = req.decode_header().unwrap();
                lock(&self.created_topics).push(h.topic);
                RemotingCommand::response_to(&req, ResponseCode::Success)
            }
            RequestCode::GetTopicStatsInfo => {
                let h: GetTopicStatsInfoRequestHeader = req.decode_header().unwrap();
                let mut table = TopicStatsTable::default();
                for ((topic, qid), msgs) in lock(&self.queues).iter() {
                    if *topic == h.topic {
                        table.offset_table.insert(
                            MessageQueue::new(topic, &self.name, *qid),
                            TopicOffset {
                                min_offset: 0,
                                max_offset: msgs.len() as i64,
                                last_update_timestamp: 0,
                            },
                        );
                    }
                }
                RemotingCommand::response_to(&req, ResponseCode::Success).with_body(table.encode())
            }
            RequestCode::ViewMessageById => {
                let h: ViewMessageRequestHeader = req.decode_header().unwrap();
                let found = lock(&self.queues)
                    .values()
                    .flatten()
                    .find(|m| m.physical_offset == h.offset)
                    .cloned();
                match found {
                    Some(m) => {
                        let mut buf = BytesMut::new();
                        m.encode(&mut buf);
                        RemotingCommand::response_to(&req, ResponseCode::Success)
                            .with_body(buf.freeze())
                    }
                    None => RemotingCommand::response_to(&req, ResponseCode::SystemError)
                        .with_remark(format!("no message at offset {}", h.offset)),
                }
            }
            RequestCode::QueryMessage => {
                let h: QueryMessageRequestHeader = req.decode_header().unwrap();
                let mut buf = BytesMut::new();
                for m in lock(&self.queues).values().flatten() {
                    let props = Properties::decode(&m.properties);
                    if m.topic == h.topic && props.keys().any(|k| k == h.key) {
                        m.encode(&mut buf);
                    }
                }
                if buf.is_empty() {
                    RemotingCommand::response_to(&req, ResponseCode::QueryNotFound)
                } else {
                    RemotingCommand::response_to(&req, ResponseCode::Success)
                        .with_ext("indexLastUpdateTimestamp", "0")
                        .with_ext("indexLastUpdatePhyoffset", "0")
                        .with_body(buf.freeze())
                }
            }
            RequestCode::HeartBeat
            | RequestCode::UnregisterClient
            | RequestCode::ConsumerSendMsgBack => {
                RemotingCommand::response_to(&req, ResponseCode::Success)
            }
            _ => RemotingCommand::response_to(&req, ResponseCode::RequestCodeNotSupported),
        })
    }
}

struct SendStatusCode;
impl SendStatusCode {
    fn stores(code: i32) -> bool {
        matches!(code, 0 | 10 | 11 | 12)
    }
}

/// A broker answering send, pull, offset, heartbeat and consumer-list requests from memory.
pub struct FakeBroker {
    pub server: RemotingServer,
    pub state: Arc<BrokerState>,
}

impl FakeBroker {
    pub async fn start(name: &str) -> Self {
        let state = Arc::new(BrokerState {
            name: name.to_string(),
            ..Default::default()
        });
        let s = state.clone();
        let table = ProcessorTable::new().with_default(move |_c: Channel, req: RemotingCommand| {
            let s = s.clone();
            async move { s.handle(req).await }
        });
        let server = RemotingServer::start(ServerConfig::new(([127, 0, 0, 1], 0).into()), table)
            .await
            .unwrap();
        *lock(&state.store_host) = Some(server.local_addr());
        Self { server, state }
    }

    pub fn addr(&self) -> String {
        self.server.local_addr().to_string()
    }

    pub fn script(&self, codes: &[ResponseCode]) {
        lock(&self.state.scripted).extend(codes.iter().map(|c| c.as_i32()));
    }

    pub fn always(&self, code: Option<ResponseCode>) {
        *lock(&self.state.always) = code.map(ResponseCode::as_i32);
    }
}

/// Decodes the properties string of a send request (V2 key `i`).
pub fn request_properties(req: &RemotingCommand) -> Properties {
    Properties::decode(req.ext("i").unwrap_or_default())
}
