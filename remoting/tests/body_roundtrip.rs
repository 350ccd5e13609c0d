//! Every body type reads back what it writes, in the compact and the pretty layout, starting
//! from Java's defaults.

use std::fmt::Debug;

use sluice_remoting::body::broker_status::QueueTimeSpan;
use sluice_remoting::body::config_files::{ConsumerOffsetFile, DelayOffsetFile};
use sluice_remoting::body::consumer_info::PopProcessQueueInfo;
use sluice_remoting::body::*;
use sluice_remoting::json;

fn round_trip<T: JsonBody + PartialEq + Debug>(value: T) {
    let compact = value.encode();
    assert!(!compact.is_empty(), "{value:?} encoded to nothing");
    assert_eq!(
        T::decode(&compact).unwrap(),
        value,
        "compact {:?}",
        String::from_utf8_lossy(&compact)
    );
    let pretty = value.encode_pretty();
    assert_eq!(
        T::decode(&pretty).unwrap(),
        value,
        "pretty {:?}",
        String::from_utf8_lossy(&pretty)
    );
    // What we write is what fastjson writes: after the quirk rewrite it is strict JSON.
    let strict = json::reader::to_strict(&compact).unwrap();
    serde_json::from_slice::<serde_json::Value>(&strict).unwrap();
}

#[test]
fn defaults_round_trip() {
    round_trip(TopicRouteData::default());
    round_trip(ClusterInfo::default());
    round_trip(DataVersion::default());
    round_trip(TopicConfig::default());
    round_trip(TopicConfigSerializeWrapper::default());
    round_trip(CreateTopicListRequestBody::default());
    round_trip(RegisterBrokerBody::default());
    round_trip(HeartbeatData::default());
    round_trip(MessageQueue::default());
    round_trip(LockBatchRequestBody::default());
    round_trip(LockBatchResponseBody::default());
    round_trip(UnlockBatchRequestBody::default());
    round_trip(TopicList::default());
    round_trip(KVTable::default());
    round_trip(GetConsumerListByGroupResponseBody::default());
    round_trip(GroupList::default());
    round_trip(ConsumerConnection::default());
    round_trip(ProducerConnection::default());
    round_trip(ConsumeStats::default());
    round_trip(TopicStatsTable::default());
    round_trip(ResetOffsetBody::default());
    round_trip(ResetOffsetBodyForC::default());
    round_trip(GetConsumerStatusBody::default());
    round_trip(SubscriptionGroupConfig::default());
    round_trip(SubscriptionGroupWrapper::default());
    round_trip(SubscriptionGroupList::default());
    round_trip(ConsumerOffsetFile::default());
    round_trip(DelayOffsetFile::default());
    round_trip(ConsumerRunningInfo::default());
    round_trip(ConsumeMessageDirectlyResult::default());
    round_trip(CheckClientRequestBody::default());
    round_trip(QueryCorrectionOffsetBody::default());
    round_trip(HARuntimeInfo::default());
    round_trip(BrokerStatsData::default());
    round_trip(QueryConsumeTimeSpanBody::default());
}

#[test]
fn populated_bodies_round_trip() {
    let mq = MessageQueue::new("T", "broker-a", 3);
    let sub = SubscriptionData::by_tags("T", "A || B", 17);
    round_trip(ConsumerConnection {
        connection_set: vec![Connection {
            client_addr: "10.0.0.5:1".into(),
            client_id: "10.0.0.5@1".into(),
            language: sluice_remoting::LanguageCode::Go,
            version: 317,
        }],
        consume_from_where: ConsumeFromWhere::ConsumeFromTimestamp,
        consume_type: ConsumeType::ConsumeActively,
        message_model: MessageModel::Broadcasting,
        subscription_table: [("T".to_string(), sub.clone())].into(),
    });
    let mut running = ConsumerRunningInfo::default();
    running.mq_table.insert(
        mq.clone(),
        ProcessQueueInfo {
            commit_offset: 9,
            locked: true,
            ..Default::default()
        },
    );
    running.mq_pop_table.insert(
        mq.clone(),
        PopProcessQueueInfo {
            wait_ack_count: 2,
            ..Default::default()
        },
    );
    running.subscription_set.push(sub.clone());
    running
        .properties
        .insert("PROP_CONSUME_TYPE".into(), "CONSUME_PASSIVELY".into());
    running.jstack = Some("thread \"main\"\n\tat x".into());
    round_trip(running);
    round_trip(CheckClientRequestBody {
        client_id: "c".into(),
        group: "g".into(),
        namespace: None,
        subscription_data: Some(sub),
    });
    round_trip(QueryConsumeTimeSpanBody {
        consume_time_span_set: vec![QueueTimeSpan {
            message_queue: Some(mq.clone()),
            delay_time: 5,
            ..Default::default()
        }],
    });
    let mut offsets = ConsumerOffsetFile::default();
    offsets
        .offset_table
        .insert(ConsumerOffsetFile::key("T", "g"), [(0, 10), (1, 11)].into());
    offsets.data_version = Some(DataVersion::new(1));
    round_trip(offsets);
    round_trip(DelayOffsetFile {
        data_version: None,
        offset_table: [(1, 4), (18, 0)].into(),
    });
}
