//! `MessageQueue` and the LOCK_BATCH_MQ / UNLOCK_BATCH_MQ bodies of orderly consumers.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::JsonBody;
use crate::json::lenient;

/// One queue of a topic on one broker group. Ordered as Java's `compareTo`: topic, broker
/// name, queue id. (Members are declared in their JSON order so that writing needs no sort.)
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MessageQueue {
    #[serde(deserialize_with = "lenient::string")]
    pub broker_name: String,
    #[serde(deserialize_with = "lenient::i32")]
    pub queue_id: i32,
    #[serde(deserialize_with = "lenient::string")]
    pub topic: String,
}

impl Ord for MessageQueue {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.topic
            .cmp(&other.topic)
            .then_with(|| self.broker_name.cmp(&other.broker_name))
            .then_with(|| self.queue_id.cmp(&other.queue_id))
    }
}

impl PartialOrd for MessageQueue {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl MessageQueue {
    pub fn new(topic: impl Into<String>, broker_name: impl Into<String>, queue_id: i32) -> Self {
        MessageQueue {
            topic: topic.into(),
            broker_name: broker_name.into(),
            queue_id,
        }
    }
}

impl fmt::Display for MessageQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MessageQueue [topic={}, brokerName={}, queueId={}]",
            self.topic, self.broker_name, self.queue_id
        )
    }
}

impl JsonBody for MessageQueue {}

/// LOCK_BATCH_MQ request: lock these queues for `client_id` in `consumer_group`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LockBatchRequestBody {
    #[serde(deserialize_with = "lenient::string")]
    pub client_id: String,
    #[serde(deserialize_with = "lenient::string")]
    pub consumer_group: String,
    #[serde(deserialize_with = "lenient::or_default")]
    pub mq_set: BTreeSet<MessageQueue>,
    /// J5: do not forward the lock to the other replicas.
    #[serde(deserialize_with = "lenient::bool")]
    pub only_this_broker: bool,
}

impl JsonBody for LockBatchRequestBody {}

/// LOCK_BATCH_MQ response: the queues now locked by the requester.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockBatchResponseBody {
    #[serde(
        rename = "lockOKMQSet",
        default,
        deserialize_with = "lenient::or_default"
    )]
    pub lock_ok_mq_set: BTreeSet<MessageQueue>,
}

impl JsonBody for LockBatchResponseBody {}

/// UNLOCK_BATCH_MQ request (oneway or not).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UnlockBatchRequestBody {
    #[serde(deserialize_with = "lenient::string")]
    pub client_id: String,
    #[serde(deserialize_with = "lenient::string")]
    pub consumer_group: String,
    #[serde(deserialize_with = "lenient::or_default")]
    pub mq_set: BTreeSet<MessageQueue>,
    #[serde(deserialize_with = "lenient::bool")]
    pub only_this_broker: bool,
}

impl JsonBody for UnlockBatchRequestBody {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_bodies_have_the_documented_shape() {
        let req = LockBatchRequestBody {
            client_id: "c1".into(),
            consumer_group: "g".into(),
            mq_set: [
                MessageQueue::new("T", "b", 1),
                MessageQueue::new("T", "b", 0),
            ]
            .into(),
            only_this_broker: false,
        };
        assert_eq!(
            String::from_utf8(req.encode()).unwrap(),
            r#"{"clientId":"c1","consumerGroup":"g","mqSet":[{"brokerName":"b","queueId":0,"topic":"T"},{"brokerName":"b","queueId":1,"topic":"T"}],"onlyThisBroker":false}"#
        );
        assert_eq!(LockBatchRequestBody::decode(&req.encode()).unwrap(), req);
        let resp = LockBatchResponseBody {
            lock_ok_mq_set: req.mq_set.clone(),
        };
        let text = String::from_utf8(resp.encode()).unwrap();
        assert!(
            text.starts_with(r#"{"lockOKMQSet":[{"brokerName""#),
            "{text}"
        );
        assert_eq!(
            LockBatchResponseBody::decode(text.as_bytes()).unwrap(),
            resp
        );
        // Older clients omit onlyThisBroker.
        let un = UnlockBatchRequestBody::decode(
            br#"{"clientId":"c","consumerGroup":"g","mqSet":[{"topic":"T","brokerName":"b","queueId":"2"}]}"#,
        )
        .unwrap();
        assert_eq!(un.mq_set.iter().next().unwrap().queue_id, 2);
    }
}
