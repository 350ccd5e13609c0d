//! One consumer/producer setup as each client dialect sends it in HEART_BEAT
//! (remoting-protocol.md §4.5): all three decode to the same `HeartbeatData`.

use sluice_remoting::body::heartbeat::java_string_hash;
use sluice_remoting::body::{
    ConsumeFromWhere, ConsumeType, ConsumerData, HeartbeatData, JsonBody, MessageModel,
    ProducerData, SubscriptionData,
};

/// Java (fastjson): enum names, Java hash codes, every member present.
const JAVA: &str = r#"{"clientID":"10.0.0.5@12345#1700000000000","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"G1","messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[2598919,2598920],"expressionType":"TAG","subString":"TagA || TagB","subVersion":1700000000123,"tagsSet":["TagA","TagB"],"topic":"T1"},{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1700000000124,"tagsSet":[],"topic":"%RETRY%G1"}],"unitMode":false}],"heartbeatFingerprint":0,"producerDataSet":[{"groupName":"P1"},{"groupName":"CLIENT_INNER_PRODUCER"}],"withoutSub":false}"#;

/// C++/Python (jsoncpp FastWriter): ordinals, string subVersion, no expressionType /
/// classFilterMode / unitMode, empty sets omitted, codeSet = atoi(tag) per tag (a vector, so
/// `[0,0]` for two non-numeric tags), trailing newline.
const CPP: &str = "{\"clientID\":\"10.0.0.5@12345#1700000000000\",\"consumerDataSet\":[{\"consumeFromWhere\":4,\"consumeType\":1,\"groupName\":\"G1\",\"messageModel\":1,\"subscriptionDataSet\":[{\"codeSet\":[0,0],\"subString\":\"TagA || TagB\",\"subVersion\":\"1700000000123\",\"tagsSet\":[\"TagA\",\"TagB\"],\"topic\":\"T1\"},{\"subString\":\"*\",\"subVersion\":\"1700000000124\",\"topic\":\"%RETRY%G1\"}]}],\"producerDataSet\":[{\"groupName\":\"P1\"},{\"groupName\":\"CLIENT_INNER_PRODUCER\"}]}\n";

/// Go (encoding/json in struct order): enum names, codeSet as strings, no J5 members.
const GO: &str = r#"{"clientID":"10.0.0.5@12345#1700000000000","producerDataSet":[{"groupName":"P1"},{"groupName":"CLIENT_INNER_PRODUCER"}],"consumerDataSet":[{"groupName":"G1","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","subscriptionDataSet":[{"classFilterMode":false,"topic":"T1","subString":"TagA || TagB","tagsSet":["TagA","TagB"],"codeSet":["2598919","2598920"],"subVersion":1700000000123,"expressionType":"TAG"},{"classFilterMode":false,"topic":"%RETRY%G1","subString":"*","tagsSet":[],"codeSet":null,"subVersion":1700000000124,"expressionType":"TAG"}],"unitMode":false}]}"#;

fn expected() -> HeartbeatData {
    HeartbeatData {
        client_id: "10.0.0.5@12345#1700000000000".into(),
        consumer_data_set: vec![ConsumerData {
            consume_from_where: ConsumeFromWhere::ConsumeFromFirstOffset,
            consume_type: ConsumeType::ConsumePassively,
            group_name: "G1".into(),
            message_model: MessageModel::Clustering,
            subscription_data_set: vec![
                SubscriptionData::by_tags("T1", "TagA || TagB", 1_700_000_000_123),
                SubscriptionData::by_tags("%RETRY%G1", "*", 1_700_000_000_124),
            ],
            unit_mode: false,
        }],
        heartbeat_fingerprint: 0,
        producer_data_set: vec![
            ProducerData {
                group_name: "P1".into(),
            },
            ProducerData {
                group_name: "CLIENT_INNER_PRODUCER".into(),
            },
        ],
        without_sub: false,
    }
}

#[test]
fn java_heartbeat_decodes_and_encodes_byte_exact() {
    let hb = HeartbeatData::decode(JAVA.as_bytes()).unwrap();
    assert_eq!(hb, expected());
    assert_eq!(String::from_utf8(hb.encode()).unwrap(), JAVA);
}

#[test]
fn go_heartbeat_decodes_to_the_same_data() {
    // Go's string codes are Java hash codes for ASCII tags: equal without any fix-up.
    assert_eq!(HeartbeatData::decode(GO.as_bytes()).unwrap(), expected());
}

#[test]
fn cpp_heartbeat_decodes_to_the_same_data_once_tag_codes_are_rebuilt() {
    let hb = HeartbeatData::decode(CPP.as_bytes()).unwrap();
    // Everything but the atoi() codes already matches.
    assert_eq!(
        hb.consumer_data_set[0].subscription_data_set[0].code_set,
        vec![0, 0]
    );
    assert_eq!(
        hb.consumer_data_set[0].subscription_data_set[1].expression_type,
        "TAG"
    );
    assert_eq!(hb.clone().with_java_tag_codes(), expected());
    for text in [JAVA, GO] {
        let other = HeartbeatData::decode(text.as_bytes()).unwrap();
        assert_eq!(
            other.with_java_tag_codes(),
            hb.clone().with_java_tag_codes()
        );
    }
}

#[test]
fn cpp_versions_writing_enum_names_decode_the_same() {
    // Other rocketmq-client-cpp versions write the enum names instead of ordinals.
    let names = CPP
        .replace(
            r#""consumeFromWhere":4"#,
            r#""consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET""#,
        )
        .replace(r#""consumeType":1"#, r#""consumeType":"CONSUME_PASSIVELY""#)
        .replace(r#""messageModel":1"#, r#""messageModel":"CLUSTERING""#);
    assert_ne!(names, CPP);
    let hb = HeartbeatData::decode(names.as_bytes()).unwrap();
    assert_eq!(hb.with_java_tag_codes(), expected());
}

#[test]
fn tag_codes_are_java_hash_codes() {
    assert_eq!(java_string_hash("TagA"), 2598919);
    assert_eq!(java_string_hash("TagB"), 2598920);
}

#[test]
fn malformed_heartbeats_are_errors() {
    for bad in [
        "",
        "{",
        r#"{"consumerDataSet":[{"consumeType":7}]}"#,
        r#"{"consumerDataSet":{"groupName":"G"}}"#,
        r#"{"consumerDataSet":[{"subscriptionDataSet":[{"subVersion":"soon"}]}]}"#,
    ] {
        assert!(
            HeartbeatData::decode(bad.as_bytes()).is_err(),
            "accepted {bad:?}"
        );
    }
}
