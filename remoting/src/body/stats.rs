//! Offset statistics and offset resets keyed by `MessageQueue`, which fastjson writes with
//! object literals as map keys: `{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{...}}}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::queue::MessageQueue;
use super::JsonBody;
use crate::json::{lenient, object_keys};

/// One queue's offsets as seen by a consumer group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OffsetWrapper {
    /// The queue's max offset on the broker.
    #[serde(deserialize_with = "lenient::i64")]
    pub broker_offset: i64,
    /// The group's committed offset.
    #[serde(deserialize_with = "lenient::i64")]
    pub consumer_offset: i64,
    /// Store time of the last consumed message (ms).
    #[serde(deserialize_with = "lenient::i64")]
    pub last_timestamp: i64,
    /// J5: the group's pull offset.
    #[serde(deserialize_with = "lenient::i64")]
    pub pull_offset: i64,
}

/// GET_CONSUME_STATS response.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumeStats {
    #[serde(deserialize_with = "lenient::f64")]
    pub consume_tps: f64,
    #[serde(with = "object_keys")]
    pub offset_table: BTreeMap<MessageQueue, OffsetWrapper>,
}

impl ConsumeStats {
    /// Messages not yet consumed: sum of brokerOffset - consumerOffset over queues.
    pub fn diff_total(&self) -> i64 {
        self.offset_table
            .values()
            .map(|o| o.broker_offset.saturating_sub(o.consumer_offset))
            .sum()
    }
}

impl JsonBody for ConsumeStats {}

/// One queue's offset range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicOffset {
    #[serde(deserialize_with = "lenient::i64")]
    pub last_update_timestamp: i64,
    #[serde(deserialize_with = "lenient::i64")]
    pub max_offset: i64,
    #[serde(deserialize_with = "lenient::i64")]
    pub min_offset: i64,
}

/// GET_TOPIC_STATS_INFO response.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicStatsTable {
    #[serde(with = "object_keys")]
    pub offset_table: BTreeMap<MessageQueue, TopicOffset>,
    /// J5 member.
    #[serde(deserialize_with = "lenient::f64")]
    pub topic_put_tps: f64,
}

impl JsonBody for TopicStatsTable {}

/// INVOKE_BROKER_TO_RESET_OFFSET response and RESET_CONSUMER_CLIENT_OFFSET request body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResetOffsetBody {
    #[serde(with = "object_keys")]
    pub offset_table: BTreeMap<MessageQueue, i64>,
}

impl JsonBody for ResetOffsetBody {}

/// A queue with an offset, the array element of [`ResetOffsetBodyForC`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MessageQueueForC {
    #[serde(deserialize_with = "lenient::string")]
    pub broker_name: String,
    #[serde(deserialize_with = "lenient::i64")]
    pub offset: i64,
    #[serde(deserialize_with = "lenient::i32")]
    pub queue_id: i32,
    #[serde(deserialize_with = "lenient::string")]
    pub topic: String,
}

/// The reset-offset body sent to C++ clients, which cannot read object keys: an array.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResetOffsetBodyForC {
    #[serde(deserialize_with = "lenient::or_default")]
    pub offset_table: Vec<MessageQueueForC>,
}

impl JsonBody for ResetOffsetBodyForC {}

impl From<&ResetOffsetBody> for ResetOffsetBodyForC {
    fn from(body: &ResetOffsetBody) -> Self {
        ResetOffsetBodyForC {
            offset_table: body
                .offset_table
                .iter()
                .map(|(mq, &offset)| MessageQueueForC {
                    broker_name: mq.broker_name.clone(),
                    offset,
                    queue_id: mq.queue_id,
                    topic: mq.topic.clone(),
                })
                .collect(),
        }
    }
}

/// Offsets per queue, the value type of [`GetConsumerStatusBody::consumer_table`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct QueueOffsets(#[serde(with = "object_keys")] pub BTreeMap<MessageQueue, i64>);

/// GET_CONSUMER_STATUS_FROM_CLIENT response (one client) and INVOKE_BROKER_TO_GET_CONSUMER_STATUS
/// response (client id -> that client's offsets).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetConsumerStatusBody {
    #[serde(deserialize_with = "lenient::or_default")]
    pub consumer_table: BTreeMap<String, QueueOffsets>,
    #[serde(with = "object_keys")]
    pub message_queue_table: BTreeMap<MessageQueue, i64>,
}

impl JsonBody for GetConsumerStatusBody {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_offset_forms() {
        let body = ResetOffsetBody {
            offset_table: [(MessageQueue::new("T", "b", 0), 42)].into(),
        };
        let text = String::from_utf8(body.encode()).unwrap();
        assert_eq!(
            text,
            r#"{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:42}}"#
        );
        assert_eq!(ResetOffsetBody::decode(text.as_bytes()).unwrap(), body);
        let for_c = ResetOffsetBodyForC::from(&body);
        assert_eq!(
            String::from_utf8(for_c.encode()).unwrap(),
            r#"{"offsetTable":[{"brokerName":"b","offset":42,"queueId":0,"topic":"T"}]}"#
        );
        assert_eq!(ResetOffsetBodyForC::decode(&for_c.encode()).unwrap(), for_c);
    }

    #[test]
    fn consumer_status_nested_object_keys() {
        // Go's ConsumerStatus.Encode output.
        let go = r#"{"messageQueueTable":{{"topic":"T","brokerName":"b","queueId":1}:12}}"#;
        let one = GetConsumerStatusBody::decode(go.as_bytes()).unwrap();
        assert_eq!(one.message_queue_table[&MessageQueue::new("T", "b", 1)], 12);
        let all = GetConsumerStatusBody {
            consumer_table: [(
                "c1".to_string(),
                QueueOffsets(one.message_queue_table.clone()),
            )]
            .into(),
            ..Default::default()
        };
        let text = String::from_utf8(all.encode()).unwrap();
        assert_eq!(
            text,
            r#"{"consumerTable":{"c1":{{"brokerName":"b","queueId":1,"topic":"T"}:12}},"messageQueueTable":{}}"#
        );
        assert_eq!(GetConsumerStatusBody::decode(text.as_bytes()).unwrap(), all);
    }

    #[test]
    fn consume_stats_diff_total() {
        let mut s = ConsumeStats::default();
        for q in 0..2 {
            s.offset_table.insert(
                MessageQueue::new("T", "b", q),
                OffsetWrapper {
                    broker_offset: 10,
                    consumer_offset: 7,
                    ..Default::default()
                },
            );
        }
        assert_eq!(s.diff_total(), 6);
    }
}
