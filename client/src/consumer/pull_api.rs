//! One PULL_MESSAGE round trip and the client-side tag re-check, shared by the pull and push
//! consumers.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use sluice_remoting::body::{MessageQueue, SubscriptionData};
use sluice_remoting::header::PullMessageRequestHeader;
use sluice_remoting::message::{decode_messages, MessageExt};
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};

use crate::error::{ClientError, Result};
use crate::instance::ClientInstance;

/// PullSysFlag bits (reference §7.1).
pub mod pull_flag {
    pub const COMMIT_OFFSET: i32 = 0x1;
    pub const SUSPEND: i32 = 0x2;
    pub const SUBSCRIPTION: i32 = 0x4;
    pub const CLASS_FILTER: i32 = 0x8;
    pub const LITE_PULL: i32 = 0x10;
}

/// The Java client's pull outcome names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullStatus {
    Found,
    NoNewMsg,
    NoMatchedMsg,
    /// The requested offset is outside the queue; continue from `next_begin_offset`.
    OffsetIllegal,
}

/// What one pull returned.
#[derive(Clone, Debug)]
pub struct PullResult {
    pub status: PullStatus,
    pub next_begin_offset: i64,
    pub min_offset: i64,
    pub max_offset: i64,
    pub suggest_which_broker_id: i64,
    /// Decoded (and inflated) messages that pass the subscription's tags.
    pub messages: Vec<MessageExt>,
}

/// One pull of `queue` from `offset`.
#[derive(Clone, Debug)]
pub struct PullRequest<'a> {
    pub group: &'a str,
    pub queue: &'a MessageQueue,
    pub offset: i64,
    pub subscription: &'a SubscriptionData,
    pub batch_size: i32,
    /// Let the broker hold the request up to this long when nothing is new (`None`: answer at once).
    pub suspend: Option<Duration>,
    /// Ask the broker to store this offset for the group.
    pub commit_offset: Option<i64>,
    /// Which member of the broker group to ask (0 = master).
    pub broker_id: i64,
    /// Deadline of the round trip (must exceed `suspend`).
    pub timeout: Duration,
}

impl PullRequest<'_> {
    fn command(&self) -> RemotingCommand {
        let mut sys_flag = pull_flag::SUBSCRIPTION;
        if self.suspend.is_some() {
            sys_flag |= pull_flag::SUSPEND;
        }
        if self.commit_offset.is_some() {
            sys_flag |= pull_flag::COMMIT_OFFSET;
        }
        let mut header = PullMessageRequestHeader {
            consumer_group: self.group.to_string(),
            topic: self.queue.topic.clone(),
            queue_id: self.queue.queue_id,
            queue_offset: self.offset,
            max_msg_nums: self.batch_size,
            sys_flag,
            commit_offset: self.commit_offset.unwrap_or(0),
            suspend_timeout_millis: self.suspend.map_or(0, |d| d.as_millis() as i64),
            subscription: Some(self.subscription.sub_string.clone()),
            sub_version: self.subscription.sub_version,
            expression_type: Some(self.subscription.expression_type.clone()),
            ..Default::default()
        };
        header.rpc.broker_name = Some(self.queue.broker_name.clone());
        RemotingCommand::request(RequestCode::PullMessage).with_header(&header)
    }
}

/// Apache's `pullFromWhichNodeTable`: the member of the broker group each (group, queue) was last told to pull
/// from (`suggestWhichBrokerId`: a master with `slaveReadEnable` sends consumers that fell behind to a slave).
fn pull_from_which_node() -> &'static Mutex<HashMap<(String, MessageQueue), i64>> {
    static TABLE: OnceLock<Mutex<HashMap<(String, MessageQueue), i64>>> = OnceLock::new();
    TABLE.get_or_init(Mutex::default)
}

/// Sends `request` and reads the answer; errors name the broker, the code and the remark.
pub async fn pull(instance: &ClientInstance, request: &PullRequest<'_>) -> Result<PullResult> {
    let queue = request.queue;
    let key = (request.group.to_string(), queue.clone());
    let broker_id = match request.broker_id {
        0 => pull_from_which_node()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .copied()
            .unwrap_or(0),
        id => id,
    };
    // A member missing from the route falls back to the master, else any member (`broker_addr`).
    let addr = instance
        .find_broker_addr(&queue.topic, &queue.broker_name, broker_id)
        .await?;
    let response = instance
        .invoke(&addr, request.command(), request.timeout)
        .await?;
    let status = match ResponseCode::from_i32(response.code) {
        Some(ResponseCode::Success) => PullStatus::Found,
        Some(ResponseCode::PullNotFound) => PullStatus::NoNewMsg,
        Some(ResponseCode::PullRetryImmediately) => PullStatus::NoMatchedMsg,
        Some(ResponseCode::PullOffsetMoved) => PullStatus::OffsetIllegal,
        _ => {
            return Err(ClientError::from_response(
                &addr,
                RequestCode::PullMessage.as_i32(),
                &response,
            ))
        }
    };
    let bad = |reason: String| ClientError::Protocol {
        addr: addr.clone(),
        request: "PULL_MESSAGE",
        reason,
    };
    let number = |key: &str| -> Result<i64> {
        let raw = response
            .ext(key)
            .ok_or_else(|| bad(format!("header field `{key}` is missing")))?;
        raw.parse()
            .map_err(|_| bad(format!("header field `{key}` is not a number: {raw:?}")))
    };
    let mut messages = Vec::new();
    if status == PullStatus::Found {
        messages =
            decode_messages(&response.body.to_bytes(), true).map_err(|e| bad(e.to_string()))?;
        messages.retain(|m| matches_tags(request.subscription, m));
    }
    let suggest_which_broker_id = response
        .ext("suggestWhichBrokerId")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pull_from_which_node()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, suggest_which_broker_id);
    Ok(PullResult {
        status,
        next_begin_offset: number("nextBeginOffset")?,
        min_offset: number("minOffset")?,
        max_offset: number("maxOffset")?,
        suggest_which_broker_id,
        messages,
    })
}

/// The client-side tag re-check: the broker filters by tag hash, which can collide.
pub fn matches_tags(subscription: &SubscriptionData, message: &MessageExt) -> bool {
    if subscription.is_all() || !subscription.is_tag_type() {
        return true;
    }
    message
        .tags()
        .is_some_and(|tag| subscription.tags_set.iter().any(|t| t == tag))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use sluice_remoting::header::CommandHeader;
    use sluice_remoting::message::MessageRecord;

    fn message(tags: Option<&str>) -> MessageExt {
        let properties = tags.map_or(String::new(), |t| format!("TAGS\u{1}{t}\u{2}"));
        let mut buf = BytesMut::new();
        MessageRecord {
            topic: "T".into(),
            body: Bytes::from_static(b"x"),
            properties,
            ..Default::default()
        }
        .encode(&mut buf);
        decode_messages(&buf.freeze(), false).unwrap().remove(0)
    }

    #[test]
    fn tag_recheck_keeps_only_subscribed_tags() {
        let sub = SubscriptionData::by_tags("T", "A || B", 1);
        assert!(matches_tags(&sub, &message(Some("A"))));
        assert!(matches_tags(&sub, &message(Some("B"))));
        assert!(!matches_tags(&sub, &message(Some("C"))));
        assert!(!matches_tags(&sub, &message(None)));
        let all = SubscriptionData::by_tags("T", "*", 1);
        assert!(matches_tags(&all, &message(None)));
        // SQL92 is the broker's business: nothing is re-checked here.
        let sql = crate::consumer::group::sql92_subscription("T", "a > 1", 1);
        assert!(matches_tags(&sql, &message(Some("C"))));
    }

    #[test]
    fn request_carries_flags_and_subscription() {
        let queue = MessageQueue::new("T", "broker-a", 2);
        let sub = SubscriptionData::by_tags("T", "A", 9);
        let request = PullRequest {
            group: "G",
            queue: &queue,
            offset: 40,
            subscription: &sub,
            batch_size: 32,
            suspend: Some(Duration::from_secs(15)),
            commit_offset: Some(38),
            broker_id: 0,
            timeout: Duration::from_secs(30),
        };
        let h = PullMessageRequestHeader::read_from(&request.command().ext_fields).unwrap();
        assert_eq!(h.sys_flag, 0x7);
        assert_eq!(
            (h.queue_offset, h.commit_offset, h.max_msg_nums),
            (40, 38, 32)
        );
        assert_eq!(h.suspend_timeout_millis, 15_000);
        assert_eq!(h.subscription.as_deref(), Some("A"));
        assert_eq!(h.sub_version, 9);
        assert_eq!(h.rpc.broker_name.as_deref(), Some("broker-a"));
        assert_eq!(h.expression_type.as_deref(), Some("TAG"));
        let sql = crate::consumer::group::sql92_subscription("T", " a > 1 ", 9);
        let request = PullRequest {
            subscription: &sql,
            ..request
        };
        let h = PullMessageRequestHeader::read_from(&request.command().ext_fields).unwrap();
        assert_eq!(h.expression_type.as_deref(), Some("SQL92"));
        assert_eq!(h.subscription.as_deref(), Some("a > 1"));
    }
}
