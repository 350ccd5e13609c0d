//! ConsumeStats / TopicStatsTable / ResetOffsetBody: maps keyed by MessageQueue, written with
//! object literals as keys (remoting-protocol.md §4.1, §4.10).

use sluice_remoting::body::{
    ConsumeStats, JsonBody, MessageQueue, OffsetWrapper, ResetOffsetBody, TopicOffset,
    TopicStatsTable,
};

fn consume_stats() -> ConsumeStats {
    let mut stats = ConsumeStats {
        consume_tps: 12.5,
        ..Default::default()
    };
    for q in 0..2 {
        stats.offset_table.insert(
            MessageQueue::new("TopicTest", "broker-a", q),
            OffsetWrapper {
                broker_offset: 100 + i64::from(q),
                consumer_offset: 90,
                last_timestamp: 1_700_000_000_000,
                pull_offset: 95,
            },
        );
    }
    stats
}

#[test]
fn consume_stats_uses_object_keys_and_round_trips() {
    let stats = consume_stats();
    let text = String::from_utf8(stats.encode()).unwrap();
    assert_eq!(
        text,
        concat!(
            r#"{"consumeTps":12.5,"offsetTable":{"#,
            r#"{"brokerName":"broker-a","queueId":0,"topic":"TopicTest"}:{"brokerOffset":100,"consumerOffset":90,"lastTimestamp":1700000000000,"pullOffset":95},"#,
            r#"{"brokerName":"broker-a","queueId":1,"topic":"TopicTest"}:{"brokerOffset":101,"consumerOffset":90,"lastTimestamp":1700000000000,"pullOffset":95}}}"#
        )
    );
    assert_eq!(ConsumeStats::decode(text.as_bytes()).unwrap(), stats);
    assert_eq!(stats.diff_total(), 21);
}

#[test]
fn topic_stats_table_uses_object_keys_and_round_trips() {
    let mut table = TopicStatsTable::default();
    table.offset_table.insert(
        MessageQueue::new("T", "b", 0),
        TopicOffset {
            last_update_timestamp: 0,
            max_offset: 0,
            min_offset: 0,
        },
    );
    let text = String::from_utf8(table.encode()).unwrap();
    // The §4.1 sample, plus J5's topicPutTps.
    assert_eq!(
        text,
        r#"{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"lastUpdateTimestamp":0,"maxOffset":0,"minOffset":0}},"topicPutTps":0.0}"#
    );
    assert_eq!(TopicStatsTable::decode(text.as_bytes()).unwrap(), table);
}

#[test]
fn java_output_with_other_member_order_and_whitespace_decodes() {
    // Java's HashMap order, J49 (no topicPutTps), pretty-printed by an admin tool.
    let text = "{\n\t\"offsetTable\":{\n\t\t{\"topic\":\"T\",\"brokerName\":\"b\",\"queueId\":3}:{\"maxOffset\":\"7\",\"minOffset\":1,\"lastUpdateTimestamp\":5},\n\t\t{\"queueId\":1,\"brokerName\":\"b\",\"topic\":\"T\"}:{\"maxOffset\":2}\n\t}\n}\n";
    let table = TopicStatsTable::decode(text.as_bytes()).unwrap();
    assert_eq!(table.offset_table.len(), 2);
    assert_eq!(
        table.offset_table[&MessageQueue::new("T", "b", 3)].max_offset,
        7
    );
    assert_eq!(
        table.offset_table[&MessageQueue::new("T", "b", 1)].max_offset,
        2
    );
}

#[test]
fn reset_offset_body_round_trips_with_object_keys() {
    let body = ResetOffsetBody {
        offset_table: [
            (MessageQueue::new("T", "broker-a", 0), 10),
            (MessageQueue::new("T", "broker-b", 0), -1),
        ]
        .into(),
    };
    let text = String::from_utf8(body.encode()).unwrap();
    assert!(
        text.starts_with(
            r#"{"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:10,"#
        ),
        "{text}"
    );
    assert_eq!(ResetOffsetBody::decode(text.as_bytes()).unwrap(), body);
}

#[test]
fn bad_object_keys_are_errors() {
    for bad in [
        r#"{"offsetTable":{{"queueId":"x"}:1}}"#,
        r#"{"offsetTable":{"plain":1}}"#,
        r#"{"offsetTable":{{"queueId":1}:}}"#,
    ] {
        assert!(
            ResetOffsetBody::decode(bad.as_bytes()).is_err(),
            "accepted {bad:?}"
        );
    }
}
