//! Send-path headers against the wire tables (reference §3.2) and real clients' extFields.

use std::collections::BTreeSet;

use sluice_remoting::header::{
    CommandHeader, EndTransactionRequestHeader, RpcFields, SendMessageRequestHeader,
    SendMessageRequestHeaderV2, SendMessageResponseHeader,
};
use sluice_remoting::{ExtFields, RemotingCommand, RemotingError, RequestCode};

fn ext(pairs: &[(&str, &str)]) -> ExtFields {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string().into(), v.to_string()))
        .collect()
}

fn keys(ext: &ExtFields) -> BTreeSet<&str> {
    ext.keys().map(|k| k.as_ref()).collect()
}

fn set<'a>(list: &[&'a str]) -> BTreeSet<&'a str> {
    list.iter().copied().collect()
}

fn field_error(err: RemotingError) -> (&'static str, String) {
    match err {
        RemotingError::HeaderField { field, problem } => (field, problem),
        other => panic!("expected a HeaderField error, got {other:?}"),
    }
}

fn full_v1() -> SendMessageRequestHeader {
    SendMessageRequestHeader {
        producer_group: "PG".into(),
        topic: "TopicTest".into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: 3,
        sys_flag: 8,
        born_timestamp: 1_700_000_000_123,
        flag: 5,
        properties: Some("KEYS\u{1}k1\u{2}".into()),
        reconsume_times: Some(2),
        unit_mode: Some(false),
        batch: Some(true),
        max_reconsume_times: Some(16),
        rpc: RpcFields {
            broker_name: Some("broker-a".into()),
            ..Default::default()
        },
    }
}

#[test]
fn v1_send_header_uses_the_java_field_names() {
    let mut e = ExtFields::new();
    full_v1().write_to(&mut e);
    assert_eq!(
        keys(&e),
        set(&[
            "producerGroup",
            "topic",
            "defaultTopic",
            "defaultTopicQueueNums",
            "queueId",
            "sysFlag",
            "bornTimestamp",
            "flag",
            "properties",
            "reconsumeTimes",
            "unitMode",
            "batch",
            "maxReconsumeTimes",
            "bname",
        ])
    );
    assert_eq!(e["queueId"], "3");
    assert_eq!(e["bornTimestamp"], "1700000000123");
    assert_eq!(e["batch"], "true");
    assert_eq!(e["unitMode"], "false");
    assert_eq!(SendMessageRequestHeader::read_from(&e).unwrap(), full_v1());
}

#[test]
fn v2_send_header_uses_one_letter_keys() {
    let v2 = SendMessageRequestHeaderV2::from(full_v1());
    let mut e = ExtFields::new();
    v2.write_to(&mut e);
    let letters = [
        "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n",
    ];
    // Like the Java client, the broker name travels as `n` only.
    assert_eq!(keys(&e), set(&letters));
    assert_eq!(e["a"], "PG");
    assert_eq!(e["b"], "TopicTest");
    assert_eq!(e["c"], "TBW102");
    assert_eq!(e["d"], "4");
    assert_eq!(e["e"], "3");
    assert_eq!(e["f"], "8");
    assert_eq!(e["g"], "1700000000123");
    assert_eq!(e["h"], "5");
    assert_eq!(e["j"], "2");
    assert_eq!(e["k"], "false");
    assert_eq!(e["l"], "16");
    assert_eq!(e["m"], "true");
    assert_eq!(e["n"], "broker-a");
    assert_eq!(SendMessageRequestHeaderV2::read_from(&e).unwrap(), v2);
}

#[test]
fn v2_to_v1_maps_every_letter_to_its_field() {
    // Every field gets a distinct value so a swapped mapping cannot go unnoticed.
    let e = ext(&[
        ("a", "group-a"),
        ("b", "topic-b"),
        ("c", "default-c"),
        ("d", "11"),
        ("e", "12"),
        ("f", "13"),
        ("g", "14000000000000"),
        ("h", "15"),
        ("i", "props-i"),
        ("j", "16"),
        ("k", "true"),
        ("l", "17"),
        ("m", "TRUE"),
        ("n", "broker-n"),
    ]);
    let v1 = SendMessageRequestHeader::from(SendMessageRequestHeaderV2::read_from(&e).unwrap());
    assert_eq!(v1.producer_group, "group-a");
    assert_eq!(v1.topic, "topic-b");
    assert_eq!(v1.default_topic, "default-c");
    assert_eq!(v1.default_topic_queue_nums, 11);
    assert_eq!(v1.queue_id, 12);
    assert_eq!(v1.sys_flag, 13);
    assert_eq!(v1.born_timestamp, 14_000_000_000_000);
    assert_eq!(v1.flag, 15);
    assert_eq!(v1.properties.as_deref(), Some("props-i"));
    assert_eq!(v1.reconsume_times, Some(16));
    assert_eq!(v1.unit_mode, Some(true));
    assert_eq!(v1.max_reconsume_times, Some(17));
    assert_eq!(v1.batch, Some(true));
    assert_eq!(v1.rpc.broker_name.as_deref(), Some("broker-n"));

    // And back: V1 -> V2 restores the same letters.
    let mut back = ExtFields::new();
    SendMessageRequestHeaderV2::from(v1).write_to(&mut back);
    assert_eq!(back.get("m").map(String::as_str), Some("true"));
    back.insert("m".into(), "TRUE".into());
    assert_eq!(back, e);
}

#[test]
fn v1_to_v2_and_back_is_lossless() {
    let v1 = full_v1();
    let v2 = SendMessageRequestHeaderV2::from(v1.clone());
    assert_eq!(SendMessageRequestHeader::from(v2), v1);
}

#[test]
fn cpp_send_message_v2_decodes() {
    // What rocketmq-client-cpp 2.x sends: d/e/f/h/l were JSON numbers (the frame decoder turns
    // them into their text), g/j/k/m strings, booleans via ostream as "0"/"1", the three ACL
    // keys always present and empty, and no `n`.
    let e = ext(&[
        ("AccessKey", ""),
        ("OnsChannel", ""),
        ("Signature", ""),
        ("a", "cpp_producer"),
        ("b", "TopicTest"),
        ("c", "TBW102"),
        ("d", "4"),
        ("e", "0"),
        ("f", "0"),
        ("g", "1700000000000"),
        ("h", "0"),
        ("i", "UNIQ_KEY\u{1}0A0B0C0D\u{2}WAIT\u{1}true\u{2}"),
        ("j", "0"),
        ("k", "0"),
        ("l", "32"),
        ("m", "0"),
    ]);
    let cmd = RemotingCommand::request(RequestCode::SendMessageV2);
    let cmd = RemotingCommand {
        ext_fields: e,
        ..cmd
    };
    let v1 = SendMessageRequestHeader::decode_from(&cmd).unwrap();
    assert_eq!(v1.producer_group, "cpp_producer");
    assert_eq!(v1.topic, "TopicTest");
    assert_eq!(v1.default_topic_queue_nums, 4);
    assert_eq!(v1.queue_id, 0);
    assert_eq!(v1.born_timestamp, 1_700_000_000_000);
    assert_eq!(v1.max_reconsume_times, Some(32));
    assert_eq!(v1.unit_mode, Some(false));
    assert_eq!(v1.batch, Some(false));
    assert_eq!(v1.rpc, RpcFields::default());
}

#[test]
fn go_v1_send_header_with_bname_decodes() {
    // rocketmq-client-go v2 SEND_MESSAGE: V1 keys, all strings, plus `bname`.
    let e = ext(&[
        ("producerGroup", "go_group"),
        ("topic", "TopicTest"),
        ("queueId", "2"),
        ("sysFlag", "0"),
        ("bornTimestamp", "1700000000001"),
        ("flag", "0"),
        ("properties", "TAGS\u{1}TagA\u{2}"),
        ("reconsumeTimes", "0"),
        ("unitMode", "false"),
        ("maxReconsumeTimes", "0"),
        ("batch", "false"),
        ("defaultTopic", "TBW102"),
        ("defaultTopicQueueNums", "4"),
        ("bname", "broker-a"),
    ]);
    let cmd = RemotingCommand {
        ext_fields: e,
        ..RemotingCommand::request(RequestCode::SendMessage)
    };
    let h = SendMessageRequestHeader::decode_from(&cmd).unwrap();
    assert_eq!(h.producer_group, "go_group");
    assert_eq!(h.queue_id, 2);
    assert_eq!(h.batch, Some(false));
    assert_eq!(h.rpc.broker_name.as_deref(), Some("broker-a"));
}

#[test]
fn decode_from_rejects_non_send_codes() {
    let cmd = RemotingCommand::request(RequestCode::PullMessage);
    assert!(matches!(
        SendMessageRequestHeader::decode_from(&cmd),
        Err(RemotingError::Header(_))
    ));
}

#[test]
fn missing_required_send_fields_are_named() {
    let mut e = ExtFields::new();
    full_v1().write_to(&mut e);
    for required in [
        "producerGroup",
        "topic",
        "defaultTopic",
        "defaultTopicQueueNums",
        "queueId",
        "sysFlag",
        "bornTimestamp",
        "flag",
    ] {
        let mut partial = e.clone();
        partial.remove(required);
        let (field, problem) =
            field_error(SendMessageRequestHeader::read_from(&partial).unwrap_err());
        assert_eq!(field, required);
        assert!(problem.contains("missing"), "{problem}");
    }
    // Optional fields may be absent.
    for optional in ["properties", "reconsumeTimes", "unitMode", "batch", "bname"] {
        let mut partial = e.clone();
        partial.remove(optional);
        SendMessageRequestHeader::read_from(&partial).unwrap();
    }
}

#[test]
fn non_numeric_queue_id_names_the_field_and_the_value() {
    let mut e = ExtFields::new();
    full_v1().write_to(&mut e);
    e.insert("queueId".into(), "three".into());
    let err = SendMessageRequestHeader::read_from(&e).unwrap_err();
    let text = err.to_string();
    let (field, problem) = field_error(err);
    assert_eq!(field, "queueId");
    assert!(problem.contains("three"), "{problem}");
    assert!(text.contains("queueId") && text.contains("three"), "{text}");

    let mut e2 = ExtFields::new();
    SendMessageRequestHeaderV2::from(full_v1()).write_to(&mut e2);
    e2.insert("e".into(), " 1".into());
    let (field, problem) = field_error(SendMessageRequestHeaderV2::read_from(&e2).unwrap_err());
    assert_eq!(field, "e");
    assert!(problem.contains("\" 1\""), "{problem}");
    e2.insert("e".into(), "abc".into());
    let err = SendMessageRequestHeaderV2::read_from(&e2).unwrap_err();
    assert!(err.to_string().contains("`e`"), "{err}");
    assert!(err.to_string().contains("abc"), "{err}");
}

#[test]
fn send_response_always_carries_what_clients_unbox() {
    let mut e = ExtFields::new();
    SendMessageResponseHeader::default().write_to(&mut e);
    assert_eq!(
        keys(&e),
        set(&["msgId", "queueId", "queueOffset", "MSG_REGION", "TRACE_ON"])
    );

    let full = SendMessageResponseHeader {
        msg_id: "0A0000010000A9A20000000000000000".into(),
        queue_id: 1,
        queue_offset: 42,
        transaction_id: Some("UNIQ".into()),
        batch_uniq_id: Some("B".into()),
        recall_handle: None,
        msg_region: "DefaultRegion".into(),
        trace_on: true,
    };
    let resp = RemotingCommand::request(RequestCode::SendMessage);
    let resp = RemotingCommand::response_to(&resp, 0).with_header(&full);
    assert_eq!(resp.ext("queueOffset"), Some("42"));
    assert_eq!(resp.ext("MSG_REGION"), Some("DefaultRegion"));
    assert_eq!(resp.ext("TRACE_ON"), Some("true"));
    assert_eq!(resp.ext("transactionId"), Some("UNIQ"));
    assert_eq!(resp.ext("batchUniqId"), Some("B"));
    assert_eq!(resp.ext("recallHandle"), None);
    assert_eq!(
        resp.decode_header::<SendMessageResponseHeader>().unwrap(),
        full
    );
}

#[test]
fn end_transaction_uses_the_java_field_names() {
    let h = EndTransactionRequestHeader {
        topic: Some("TopicTest".into()),
        producer_group: "PG".into(),
        tran_state_table_offset: 7,
        commit_log_offset: 123_456,
        commit_or_rollback: 8,
        from_transaction_check: Some(true),
        msg_id: "UNIQ".into(),
        transaction_id: Some("UNIQ".into()),
        rpc: RpcFields {
            broker_name: Some("broker-a".into()),
            ..Default::default()
        },
    };
    let mut e = ExtFields::new();
    h.write_to(&mut e);
    assert_eq!(
        keys(&e),
        set(&[
            "topic",
            "producerGroup",
            "tranStateTableOffset",
            "commitLogOffset",
            "commitOrRollback",
            "fromTransactionCheck",
            "msgId",
            "transactionId",
            "bname",
        ])
    );
    assert_eq!(e["commitOrRollback"], "8");
    assert_eq!(e["fromTransactionCheck"], "true");
    assert_eq!(EndTransactionRequestHeader::read_from(&e).unwrap(), h);

    // C++ writes the check flag through an ostream: "1"/"0". Java's Boolean.parseBoolean
    // reads both as false, and so does Sluice.
    let cpp = ext(&[
        ("msgId", "UNIQ"),
        ("transactionId", "UNIQ"),
        ("producerGroup", "PG"),
        ("tranStateTableOffset", "7"),
        ("commitLogOffset", "123456"),
        ("commitOrRollback", "12"),
        ("fromTransactionCheck", "1"),
    ]);
    let h = EndTransactionRequestHeader::read_from(&cpp).unwrap();
    assert_eq!(h.commit_or_rollback, 12);
    assert_eq!(h.from_transaction_check, Some(false));
    assert_eq!(h.topic, None);
}
