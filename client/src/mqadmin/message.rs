//! Message commands: queryMsgById, queryMsgByKey, queryMsgByUniqueKey, queryMsgByOffset,
//! sendMessage, consumeMessage, decodeMessageId; `queryMsgById -s true` re-sends (DLQ messages to
//! their group's retry topic).

use std::fmt::Write;

use bytes::Bytes;
use clap::Args;
use sluice_remoting::message::msgid::{decode_offset_msg_id, uniq_id_ip};
use sluice_remoting::message::{property, MessageExt};

use super::format::{format_millis, uniq_id_time};
use super::{CliError, CliResult, NamesrvArg};
use crate::admin::{now_millis, Admin, MessageQuery, OutgoingMessage};
use crate::message::Message;
use crate::producer::Producer;

const DLQ_PREFIX: &str = "%DLQ%";
const RETRY_PREFIX: &str = "%RETRY%";

/// Writes the body where Apache's tools do (`<tmp>/rocketmq/msgbodys/<msgId>`), so scripts that
/// read "Message Body Path:" keep working; `None` if it cannot be written.
async fn save_body(m: &MessageExt) -> Option<String> {
    let dir = std::env::temp_dir().join("rocketmq").join("msgbodys");
    tokio::fs::create_dir_all(&dir).await.ok()?;
    let path = dir.join(&m.msg_id);
    tokio::fs::write(&path, m.body()).await.ok()?;
    Some(path.display().to_string())
}

/// The detail block Apache's query commands print for one message.
async fn print_message(out: &mut String, m: &MessageExt) {
    let body_path = save_body(m).await;
    let r = &m.record;
    let keys: Vec<&str> = m.keys().collect();
    let rows: [(&str, String); 14] = [
        ("OffsetID:", m.offset_msg_id.clone()),
        ("Topic:", r.topic.clone()),
        ("Tags:", format!("[{}]", m.tags().unwrap_or("null"))),
        ("Keys:", format!("[{}]", keys.join(" "))),
        ("Queue ID:", r.queue_id.to_string()),
        ("Queue Offset:", r.queue_offset.to_string()),
        ("CommitLog Offset:", r.physical_offset.to_string()),
        ("Reconsume Times:", r.reconsume_times.to_string()),
        ("Born Timestamp:", format_millis(r.born_timestamp)),
        ("Store Timestamp:", format_millis(r.store_timestamp)),
        ("Born Host:", r.born_host.to_string()),
        ("Store Host:", r.store_host.to_string()),
        ("System Flag:", r.sysflag.to_string()),
        (
            "Properties:",
            r.properties
                .replace(['\u{1}', '\u{2}'], " ")
                .trim()
                .to_string(),
        ),
    ];
    for (label, value) in rows {
        let _ = writeln!(out, "{label:<20} {value}");
    }
    if let Some(path) = body_path {
        let _ = writeln!(out, "{:<20} {path}", "Message Body Path:");
    }
    let body = String::from_utf8_lossy(m.body());
    let _ = writeln!(out, "{:<20} {body}", "Message Body:");
    let _ = writeln!(out);
}

#[derive(Args, Debug)]
pub struct QueryMsgById {
    #[command(flatten)]
    ns: NamesrvArg,
    /// Message Id (offset msgId; several separated by commas)
    #[arg(short = 'i', long = "msgId")]
    msg_id: String,
    /// topic name; lets a unique key (client msgId) be found when it is not an offset msgId
    #[arg(short = 't', long = "topic")]
    topic: Option<String>,
    /// resend message: `-s true` sends each message again instead of printing it. A message of
    /// `%DLQ%group` goes to `%RETRY%group` (only that group consumes it again, with a fresh
    /// retry count, under its original topic); any other message goes to its own topic
    #[arg(short = 's', long = "sendMessage", value_name = "true|false")]
    send_message: Option<String>,
}

impl QueryMsgById {
    pub async fn run(self, out: &mut String) -> CliResult {
        let admin = self.ns.admin()?;
        let resend = match self.send_message.as_deref().map(str::trim) {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => {
                return Err(CliError::Usage(format!(
                    "-s (sendMessage) takes true or false, not {v:?}"
                )))
            }
        };
        let mut resender = None;
        for id in self
            .msg_id
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let m = match (admin.view_message(id).await, &self.topic) {
                (Ok(m), _) => m,
                // Like Apache's admin: an id that is not a readable offset msgId may be a
                // unique key; with the topic known, look it up in the index.
                (Err(first), Some(topic)) => {
                    let found = admin
                        .query_message_everywhere(&MessageQuery {
                            topic,
                            key: id,
                            max: 1,
                            begin: 0,
                            end: i64::MAX,
                            unique: true,
                        })
                        .await?;
                    found.into_iter().next().ok_or_else(|| {
                        CliError::Failed(format!(
                            "message {id} not found: not an offset msgId ({first}) and no message of topic {topic} has it as unique key"
                        ))
                    })?
                }
                (Err(e), None) => return Err(e.into()),
            };
            if resend {
                let producer = match &resender {
                    Some(p) => p,
                    None => resender.insert(self.resend_producer().await?),
                };
                let result = resend_message(producer, &m).await;
                if result.is_err() {
                    producer.shutdown().await;
                }
                let _ = writeln!(out, "{}", result?);
            } else {
                print_message(out, &m).await;
            }
        }
        if let Some(producer) = resender {
            producer.shutdown().await;
        }
        Ok(())
    }

    /// The producer re-sends go through (group `ReSendMsgById`, as in Apache's tool).
    async fn resend_producer(&self) -> Result<Producer, CliError> {
        let addr = self.ns.namesrv.as_deref().unwrap_or_default();
        let producer = Producer::builder("ReSendMsgById")
            .namesrv_addr(addr)
            .build()
            .map_err(|e| CliError::Failed(format!("cannot create the re-send producer: {e}")))?;
        producer
            .start()
            .await
            .map_err(|e| CliError::Failed(format!("cannot start the re-send producer: {e}")))?;
        Ok(producer)
    }
}

/// Properties the broker or a consumer adds that a re-sent message must not carry again
/// (TRAN_MSG would make it a half message, DELAY would delay it, REAL_* would redirect it).
const NOT_RESENT: [&str; 11] = [
    property::CLUSTER,
    property::DELAY,
    property::REAL_TOPIC,
    property::REAL_QID,
    property::WAIT,
    property::TRAN_MSG,
    property::PGROUP,
    property::RECONSUME_TIME,
    property::MAX_RECONSUME_TIMES,
    property::MIN_OFFSET,
    property::MAX_OFFSET,
];

/// Where `queryMsgById -s true` sends `m`: a dead letter back to its group's retry topic, any
/// other message to its own topic.
pub fn resend_target(m: &MessageExt) -> String {
    match m.record.topic.strip_prefix(DLQ_PREFIX) {
        Some(group) if !group.is_empty() => format!("{RETRY_PREFIX}{group}"),
        _ => m.record.topic.clone(),
    }
}

/// Sends a copy of `m` (body, flag, keys, tags, user properties, UNIQ_KEY) to
/// [`resend_target`]; the line to print.
async fn resend_message(producer: &Producer, m: &MessageExt) -> Result<String, CliError> {
    let target = resend_target(m);
    let mut msg = Message::new(target.clone(), m.body().clone()).with_flag(m.record.flag);
    for (name, value) in m.properties.iter() {
        if !NOT_RESENT.contains(&name) {
            msg.properties.insert(name, value);
        }
    }
    // A message re-sent to a retry topic must still reach the listener under its original
    // topic: RETRY_TOPIC is what the consumer restores it from.
    if target.starts_with(RETRY_PREFIX) && !msg.properties.contains(property::RETRY_TOPIC) {
        return Err(CliError::Failed(format!(
            "message {} in {} has no RETRY_TOPIC property: its original topic is unknown, re-send its body with sendMessage instead",
            m.offset_msg_id, m.record.topic
        )));
    }
    let sent = producer
        .send(msg, std::time::Duration::from_secs(5))
        .await
        .map_err(|e| {
            CliError::Failed(format!(
                "re-sending {} to {target} failed: {e}",
                m.offset_msg_id
            ))
        })?;
    Ok(format!(
        "prepare resend msg. originalMsgId={} topic={target} SendResult [sendStatus={}, msgId={}, offsetMsgId={}, brokerName={}, queueId={}, queueOffset={}]",
        m.offset_msg_id,
        sent.status.name(),
        sent.msg_id,
        sent.offset_msg_id,
        sent.queue.broker_name,
        sent.queue.queue_id,
        sent.queue_offset
    ))
}

#[derive(Args, Debug)]
pub struct QueryMsgByKey {
    #[command(flatten)]
    ns: NamesrvArg,
    /// Topic name
    #[arg(short = 't', long = "topic")]
    topic: String,
    /// Message Key
    #[arg(short = 'k', long = "msgKey")]
    key: String,
    /// Begin timestamp(ms). default:0
    #[arg(short = 'b', long = "beginTimestamp", default_value_t = 0)]
    begin: i64,
    /// End timestamp(ms). default:Long.MAX_VALUE
    #[arg(short = 'e', long = "endTimestamp", default_value_t = i64::MAX)]
    end: i64,
    /// The maximum number of messages returned by the query, default:64
    #[arg(short = 'm', long = "maxNum", default_value_t = 64)]
    max: i32,
}

impl QueryMsgByKey {
    pub async fn run(self, out: &mut String) -> CliResult {
        let admin = self.ns.admin()?;
        let found = admin
            .query_message_everywhere(&MessageQuery {
                topic: &self.topic,
                key: &self.key,
                max: self.max,
                begin: self.begin,
                end: self.end,
                unique: false,
            })
            .await?;
        let _ = writeln!(out, "{:<50} {:>4} {:>40}", "#Message ID", "#QID", "#Offset");
        for m in &found {
            let _ = writeln!(
                out,
                "{:<50} {:>4} {:>40}",
                m.msg_id, m.record.queue_id, m.record.queue_offset
            );
        }
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct QueryMsgByUniqueKey {
    #[command(flatten)]
    ns: NamesrvArg,
    /// Message Id (the client-side unique key)
    #[arg(short = 'i', long = "msgId")]
    msg_id: String,
    /// The topic of msg
    #[arg(short = 't', long = "topic")]
    topic: String,
    /// Print all message, the limit is 32
    #[arg(short = 'a', long = "showAll")]
    show_all: bool,
}

impl QueryMsgByUniqueKey {
    pub async fn run(self, out: &mut String) -> CliResult {
        let admin = self.ns.admin()?;
        let found = admin
            .query_message_everywhere(&MessageQuery {
                topic: &self.topic,
                key: &self.msg_id,
                max: 32,
                begin: 0,
                end: i64::MAX,
                unique: true,
            })
            .await?;
        if found.is_empty() {
            return Err(CliError::Failed(format!(
                "no message with unique key {} in topic {} (is it the UNIQ_KEY msgId the producer printed?)",
                self.msg_id, self.topic
            )));
        }
        let shown = if self.show_all { found.len() } else { 1 };
        for m in found.iter().take(shown) {
            print_message(out, m).await;
        }
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct QueryMsgByOffset {
    #[command(flatten)]
    ns: NamesrvArg,
    /// topic name
    #[arg(short = 't', long = "topic")]
    topic: String,
    /// Broker Name
    #[arg(short = 'b', long = "brokerName")]
    broker_name: String,
    /// Queue Id
    #[arg(short = 'i', long = "queueId")]
    queue_id: i32,
    /// Queue Offset
    #[arg(short = 'o', long = "offset")]
    offset: i64,
}

impl QueryMsgByOffset {
    pub async fn run(self, out: &mut String) -> CliResult {
        let admin = self.ns.admin()?;
        let addr = admin.broker_addr_by_name(&self.broker_name).await?;
        let pulled = admin
            .pull(
                &addr,
                "TOOLS_CONSUMER",
                &self.topic,
                self.queue_id,
                self.offset,
                1,
            )
            .await?;
        let m = pulled.messages.into_iter().next().ok_or_else(|| {
            CliError::Failed(format!(
                "no message at offset {} of {}:{}:{} ({}; the queue holds [{}, {}))",
                self.offset,
                self.topic,
                self.broker_name,
                self.queue_id,
                pulled.status,
                pulled.min_offset,
                pulled.max_offset
            ))
        })?;
        print_message(out, &m).await;
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct SendMessage {
    #[command(flatten)]
    ns: NamesrvArg,
    /// Topic name
    #[arg(short = 't', long = "topic")]
    topic: String,
    /// UTF-8 string format of the message body
    #[arg(short = 'p', long = "body")]
    body: String,
    /// Message keys
    #[arg(short = 'k', long = "key")]
    key: Option<String>,
    /// Message tags
    #[arg(short = 'c', long = "tags")]
    tags: Option<String>,
    /// Send message to target broker
    #[arg(short = 'b', long = "broker")]
    broker_name: Option<String>,
    /// Send message to target queue
    #[arg(short = 'i', long = "qid")]
    queue_id: Option<i32>,
}

impl SendMessage {
    pub async fn run(self, out: &mut String) -> CliResult {
        let admin = self.ns.admin()?;
        let route = admin
            .wait_topic_route(&self.topic, std::time::Duration::from_secs(3))
            .await?;
        let broker = match &self.broker_name {
            Some(name) => route
                .broker_datas
                .iter()
                .find(|b| &b.broker_name == name)
                .ok_or_else(|| {
                    CliError::Failed(format!("broker {name} does not serve topic {}", self.topic))
                })?,
            None => route
                .broker_datas
                .iter()
                .find(|b| {
                    route
                        .queue_datas
                        .iter()
                        .any(|q| q.broker_name == b.broker_name && q.perm & 2 != 0)
                })
                .ok_or_else(|| {
                    CliError::Failed(format!("no writable broker serves topic {}", self.topic))
                })?,
        };
        let addr = broker.master_addr().ok_or_else(|| {
            CliError::Failed(format!("broker {} has no master", broker.broker_name))
        })?;
        let message = OutgoingMessage {
            topic: self.topic.clone(),
            body: Bytes::from(self.body.into_bytes()),
            keys: self.key,
            tags: self.tags,
        };
        // Without -i, spread like a producer does: a queue picked from the clock among the
        // broker's write queues (Apache's producer starts its round robin at a random index).
        let write_queues = route
            .queue_datas
            .iter()
            .find(|q| q.broker_name == broker.broker_name)
            .map_or(1, |q| q.write_queue_nums.max(1));
        let queue_id = self
            .queue_id
            .unwrap_or((now_millis() % i64::from(write_queues)) as i32);
        let sent = admin
            .send_message(addr, &broker.broker_name, queue_id, &message)
            .await?;
        let _ = writeln!(
            out,
            "{:<32}  {:<4}  {:<20}    {}",
            "#Broker Name", "#QID", "#Send Result", "#MsgId"
        );
        let _ = writeln!(
            out,
            "{:<32}  {:<4}  {:<20}    {}",
            broker.broker_name, sent.queue_id, sent.status, sent.msg_id
        );
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct ConsumeMessage {
    #[command(flatten)]
    ns: NamesrvArg,
    /// Topic name
    #[arg(short = 't', long = "topic")]
    topic: String,
    /// Broker name
    #[arg(short = 'b', long = "brokerName")]
    broker_name: Option<String>,
    /// Queue Id
    #[arg(short = 'i', long = "queueId")]
    queue_id: Option<i32>,
    /// Queue Offset
    #[arg(short = 'o', long = "offset")]
    offset: Option<i64>,
    /// Consumer group name
    #[arg(short = 'g', long = "consumerGroup", default_value = "TOOLS_CONSUMER")]
    group: String,
    /// Begin timestamp(ms)
    #[arg(short = 's', long = "beginTimestamp")]
    begin: Option<i64>,
    /// End timestamp(ms)
    #[arg(short = 'e', long = "endTimestamp")]
    end: Option<i64>,
    /// Message count
    #[arg(short = 'c', long = "MessageNumber", default_value_t = 128)]
    count: i64,
}

impl ConsumeMessage {
    pub async fn run(self, out: &mut String) -> CliResult {
        if self.offset.is_some() && (self.broker_name.is_none() || self.queue_id.is_none()) {
            return Err(CliError::Usage(
                "-o offset needs -b brokerName and -i queueId".into(),
            ));
        }
        let admin = self.ns.admin()?;
        let route = admin.topic_route(&self.topic).await?;
        let mut left = self.count;
        let mut printed = 0;
        for broker in &route.broker_datas {
            if self
                .broker_name
                .as_deref()
                .is_some_and(|b| b != broker.broker_name)
            {
                continue;
            }
            let Some(addr) = broker.master_addr() else {
                continue;
            };
            let queues = route
                .queue_datas
                .iter()
                .find(|q| q.broker_name == broker.broker_name)
                .map_or(0, |q| q.read_queue_nums);
            for qid in 0..queues {
                if self.queue_id.is_some_and(|q| q != qid) {
                    continue;
                }
                printed += self
                    .consume_queue(&admin, addr, &broker.broker_name, qid, &mut left, out)
                    .await?;
                if left <= 0 {
                    break;
                }
            }
        }
        let _ = writeln!(out, "{printed} message(s) consumed");
        Ok(())
    }

    /// Prints the messages of one queue within the time range; returns how many.
    async fn consume_queue(
        &self,
        admin: &Admin,
        addr: &str,
        broker_name: &str,
        qid: i32,
        left: &mut i64,
        out: &mut String,
    ) -> Result<usize, CliError> {
        let mut offset = match (self.offset, self.begin) {
            (Some(o), _) => o,
            (None, Some(ts)) => admin.search_offset(addr, &self.topic, qid, ts).await?,
            (None, None) => admin.min_offset(addr, &self.topic, qid).await?,
        };
        let end = self.end.unwrap_or(i64::MAX);
        let mut printed = 0;
        let mq = format!(
            "MessageQueue [topic={}, brokerName={broker_name}, queueId={qid}]",
            self.topic
        );
        while *left > 0 {
            let batch = (*left).min(32) as i32;
            let pulled = admin
                .pull(addr, &self.group, &self.topic, qid, offset, batch)
                .await?;
            if pulled.messages.is_empty() {
                let _ = writeln!(
                    out,
                    "{mq} print msg finished. status={}, offset={offset}",
                    pulled.status
                );
                break;
            }
            let _ = writeln!(out, "Consume ok");
            for m in &pulled.messages {
                if m.record.store_timestamp > end || *left <= 0 {
                    return Ok(printed);
                }
                let r = &m.record;
                let _ = writeln!(
                    out,
                    "MSGID: {} MessageExt [brokerName={broker_name}, queueId={}, queueOffset={}, sysFlag={}, bornTimestamp={}, bornHost={}, storeTimestamp={}, storeHost={}, msgId={}, commitLogOffset={}, reconsumeTimes={}, topic={}, properties={}] BODY: {}",
                    m.msg_id,
                    r.queue_id,
                    r.queue_offset,
                    r.sysflag,
                    r.born_timestamp,
                    r.born_host,
                    r.store_timestamp,
                    r.store_host,
                    m.offset_msg_id,
                    r.physical_offset,
                    r.reconsume_times,
                    r.topic,
                    r.properties.replace(['\u{1}', '\u{2}'], " ").trim(),
                    String::from_utf8_lossy(m.body())
                );
                *left -= 1;
                printed += 1;
            }
            offset = pulled.next_begin_offset;
        }
        Ok(printed)
    }
}

#[derive(Args, Debug)]
pub struct DecodeMessageId {
    #[command(flatten)]
    ns: NamesrvArg,
    /// unique message ID
    #[arg(short = 'i', long = "messageId")]
    msg_id: String,
}

impl DecodeMessageId {
    pub async fn run(self, out: &mut String) -> CliResult {
        let _ = &self.ns;
        let id = self.msg_id.trim();
        let ip = uniq_id_ip(id).map_err(|_| {
            CliError::Failed(format!(
                "{id} is not a message id: a unique message id (UNIQ_KEY) has 32 or 56 hex characters"
            ))
        })?;
        let _ = writeln!(out, "ip={ip}");
        if let Some(t) = uniq_id_time(id, now_millis()) {
            let _ = writeln!(out, "date={}", format_millis(t));
        }
        // Offset msgIds (what queryMsgById takes) have the same length: show that reading too.
        if let Ok((host, offset)) = decode_offset_msg_id(id) {
            let _ = writeln!(
                out,
                "as an offset msgId: storeHost={host} commitLogOffset={offset}"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_remoting::message::{decode_messages, MessageRecord};

    fn stored(topic: &str, properties: &str) -> MessageExt {
        let mut buf = bytes::BytesMut::new();
        MessageRecord {
            topic: topic.into(),
            body: Bytes::from_static(b"b"),
            properties: properties.into(),
            ..Default::default()
        }
        .encode(&mut buf);
        decode_messages(&buf.freeze(), false).unwrap().remove(0)
    }

    #[test]
    fn dead_letters_go_back_to_their_groups_retry_topic() {
        let dead = stored("%DLQ%G1", "RETRY_TOPIC\u{1}Orders\u{2}");
        assert_eq!(resend_target(&dead), "%RETRY%G1");
        assert_eq!(resend_target(&stored("Orders", "")), "Orders");
        assert_eq!(resend_target(&stored("%RETRY%G1", "")), "%RETRY%G1");
    }
}
