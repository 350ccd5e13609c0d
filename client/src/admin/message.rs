//! Message calls of the Admin API: send one message, pull a range, look messages up by offset
//! id, key or unique key.

use bytes::Bytes;
use sluice_remoting::header::{
    PullMessageRequestHeader, PullMessageResponseHeader, QueryMessageRequestHeader,
    SendMessageRequestHeaderV2, SendMessageResponseHeader, ViewMessageRequestHeader,
    UNIQUE_KEY_QUERY,
};
use sluice_remoting::message::msgid::{decode_offset_msg_id, UniqIdGenerator};
use sluice_remoting::message::property;
use sluice_remoting::message::{decode_messages, MessageExt};
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};

use super::{refused, Admin, AdminError, Result};

/// PULL_MESSAGE sysFlag bit: the request carries its own subscription expression.
const FLAG_SUBSCRIPTION: i32 = 0x4;

/// A stored message as SEND_MESSAGE_V2 reported it.
#[derive(Clone, Debug)]
pub struct SendOutcome {
    /// `SEND_OK`, `FLUSH_DISK_TIMEOUT`, `FLUSH_SLAVE_TIMEOUT` or `SLAVE_NOT_AVAILABLE`.
    pub status: &'static str,
    /// The client-side unique id (UNIQ_KEY).
    pub msg_id: String,
    /// The offset msgId (store host + physical offset).
    pub offset_msg_id: String,
    pub queue_id: i32,
    pub queue_offset: i64,
}

/// What one PULL_MESSAGE answered.
#[derive(Clone, Debug)]
pub struct PullOutcome {
    pub messages: Vec<MessageExt>,
    pub next_begin_offset: i64,
    pub min_offset: i64,
    pub max_offset: i64,
    /// `FOUND`, `NO_NEW_MSG`, `NO_MATCHED_MSG` or `OFFSET_ILLEGAL`.
    pub status: &'static str,
}

/// An index lookup (QUERY_MESSAGE): messages of `topic` whose key is `key`, stored between
/// `begin` and `end` (ms), at most `max` per broker.
#[derive(Clone, Debug)]
pub struct MessageQuery<'a> {
    pub topic: &'a str,
    pub key: &'a str,
    pub max: i32,
    pub begin: i64,
    pub end: i64,
    /// Look up the UNIQ_KEY (client msgId) instead of business keys.
    pub unique: bool,
}

/// One message to send with [`Admin::send_message`].
#[derive(Clone, Debug, Default)]
pub struct OutgoingMessage {
    pub topic: String,
    pub body: Bytes,
    pub keys: Option<String>,
    pub tags: Option<String>,
}

impl Admin {
    /// Sends one message to `queue_id` of the broker at `broker_addr` (producer group
    /// `PID_MQADMIN`).
    pub async fn send_message(
        &self,
        broker_addr: &str,
        broker_name: &str,
        queue_id: i32,
        message: &OutgoingMessage,
    ) -> Result<SendOutcome> {
        let uniq = UniqIdGenerator::for_local_host().next();
        let mut properties = String::new();
        let mut put = |k: &str, v: &str| {
            properties.push_str(k);
            properties.push(property::NAME_VALUE_SEPARATOR);
            properties.push_str(v);
            properties.push(property::PROPERTY_SEPARATOR);
        };
        if let Some(keys) = &message.keys {
            put(property::KEYS, keys);
        }
        if let Some(tags) = &message.tags {
            put(property::TAGS, tags);
        }
        put(property::WAIT, "true");
        put(property::UNIQ_KEY, &uniq);
        let header = SendMessageRequestHeaderV2 {
            a: "PID_MQADMIN".into(),
            b: message.topic.clone(),
            c: "TBW102".into(),
            d: 4,
            e: queue_id,
            f: 0,
            g: now_millis(),
            h: 0,
            i: Some(properties),
            j: Some(0),
            k: Some(false),
            m: Some(false),
            n: Some(broker_name.to_string()),
            ..Default::default()
        };
        let request = RemotingCommand::request(RequestCode::SendMessageV2)
            .with_header(&header)
            .with_body(message.body.clone());
        let code = request.code;
        let response = self.invoke_raw(broker_addr, request).await?;
        let status = match ResponseCode::from_i32(response.code) {
            Some(ResponseCode::Success) => "SEND_OK",
            Some(ResponseCode::FlushDiskTimeout) => "FLUSH_DISK_TIMEOUT",
            Some(ResponseCode::FlushSlaveTimeout) => "FLUSH_SLAVE_TIMEOUT",
            Some(ResponseCode::SlaveNotAvailable) => "SLAVE_NOT_AVAILABLE",
            _ => return Err(refused(broker_addr, code, &response)),
        };
        let h: SendMessageResponseHeader = response.decode_header()?;
        Ok(SendOutcome {
            status,
            msg_id: h.transaction_id.unwrap_or(uniq),
            offset_msg_id: h.msg_id,
            queue_id: h.queue_id,
            queue_offset: h.queue_offset,
        })
    }

    /// Pulls up to `max` messages of one queue from `offset`, without committing any offset.
    pub async fn pull(
        &self,
        broker_addr: &str,
        group: &str,
        topic: &str,
        queue_id: i32,
        offset: i64,
        max: i32,
    ) -> Result<PullOutcome> {
        let header = PullMessageRequestHeader {
            consumer_group: group.into(),
            topic: topic.into(),
            queue_id,
            queue_offset: offset,
            max_msg_nums: max,
            sys_flag: FLAG_SUBSCRIPTION,
            commit_offset: 0,
            suspend_timeout_millis: 0,
            subscription: Some("*".into()),
            sub_version: 0,
            expression_type: Some("TAG".into()),
            ..Default::default()
        };
        let request = RemotingCommand::request(RequestCode::PullMessage).with_header(&header);
        let code = request.code;
        let response = self.invoke_raw(broker_addr, request).await?;
        let status = match ResponseCode::from_i32(response.code) {
            Some(ResponseCode::Success) => "FOUND",
            Some(ResponseCode::PullNotFound) => "NO_NEW_MSG",
            Some(ResponseCode::PullRetryImmediately) => "NO_MATCHED_MSG",
            Some(ResponseCode::PullOffsetMoved) => "OFFSET_ILLEGAL",
            _ => return Err(refused(broker_addr, code, &response)),
        };
        let h: PullMessageResponseHeader = response.decode_header()?;
        let messages = if status == "FOUND" {
            decode_messages(&response.body.to_bytes(), true)?
        } else {
            Vec::new()
        };
        Ok(PullOutcome {
            messages,
            next_begin_offset: h.next_begin_offset,
            min_offset: h.min_offset,
            max_offset: h.max_offset,
            status,
        })
    }

    /// The message an offset msgId points at (the id names the broker that stored it).
    pub async fn view_message(&self, offset_msg_id: &str) -> Result<MessageExt> {
        let (host, offset) = decode_offset_msg_id(offset_msg_id).map_err(|e| {
            AdminError::Invalid(format!("{offset_msg_id} is not an offset msgId: {e}"))
        })?;
        let header = ViewMessageRequestHeader {
            offset,
            ..Default::default()
        };
        let request = RemotingCommand::request(RequestCode::ViewMessageById).with_header(&header);
        let response = self.invoke(&host.to_string(), request).await?;
        decode_messages(&response.body.to_bytes(), true)?
            .into_iter()
            .next()
            .ok_or_else(|| AdminError::NotFound(format!("no message at {offset_msg_id}")))
    }

    /// Index lookup on one broker: business keys, or UNIQ_KEY when `query.unique`.
    pub async fn query_message(
        &self,
        broker_addr: &str,
        query: &MessageQuery<'_>,
    ) -> Result<Vec<MessageExt>> {
        let header = QueryMessageRequestHeader {
            topic: query.topic.into(),
            key: query.key.into(),
            max_num: query.max,
            begin_timestamp: query.begin,
            end_timestamp: query.end,
            ..Default::default()
        };
        let mut request = RemotingCommand::request(RequestCode::QueryMessage).with_header(&header);
        if query.unique {
            request = request.with_ext(UNIQUE_KEY_QUERY, "true");
        }
        let code = request.code;
        let response = self.invoke_raw(broker_addr, request).await?;
        if response.code == ResponseCode::QueryNotFound.as_i32() {
            return Ok(Vec::new());
        }
        if response.code != ResponseCode::Success.as_i32() {
            return Err(refused(broker_addr, code, &response));
        }
        let mut found = decode_messages(&response.body.to_bytes(), true)?;
        // The index is hashed: keep only true matches.
        found.retain(|m| {
            m.topic() == query.topic
                && if query.unique {
                    m.property(property::UNIQ_KEY) == Some(query.key)
                } else {
                    m.keys().any(|k| k == query.key)
                }
        });
        Ok(found)
    }

    /// Runs `query` on every master serving its topic.
    pub async fn query_message_everywhere(
        &self,
        query: &MessageQuery<'_>,
    ) -> Result<Vec<MessageExt>> {
        let route = self.topic_route(query.topic).await?;
        let mut all = Vec::new();
        for broker in &route.broker_datas {
            if let Some(addr) = broker.master_addr() {
                all.extend(self.query_message(addr, query).await?);
            }
        }
        Ok(all)
    }
}

pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
