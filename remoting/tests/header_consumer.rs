//! Consumer and query headers against the wire tables (reference §3.3, §3.4).

use std::collections::BTreeSet;

use sluice_remoting::header::*;
use sluice_remoting::{ExtFields, RemotingError};

fn ext(pairs: &[(&str, &str)]) -> ExtFields {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string().into(), v.to_string()))
        .collect()
}

fn written<H: CommandHeader>(h: &H) -> ExtFields {
    let mut e = ExtFields::new();
    h.write_to(&mut e);
    e
}

fn keys(ext: &ExtFields) -> BTreeSet<&str> {
    ext.keys().map(|k| k.as_ref()).collect()
}

fn set<'a>(list: &[&'a str]) -> BTreeSet<&'a str> {
    list.iter().copied().collect()
}

#[test]
fn pull_request_keys_match_the_table() {
    let h = PullMessageRequestHeader {
        consumer_group: "CG".into(),
        topic: "TopicTest".into(),
        queue_id: 1,
        queue_offset: 100,
        max_msg_nums: 32,
        sys_flag: 0x3,
        commit_offset: 99,
        suspend_timeout_millis: 15_000,
        subscription: Some("TagA || TagB".into()),
        sub_version: 1_700_000_000_000,
        expression_type: Some("TAG".into()),
        max_msg_bytes: Some(262_144),
        request_source: Some(-1),
        proxy_forward_client_id: Some("client".into()),
        rpc: RpcFields {
            broker_name: Some("broker-a".into()),
            ..Default::default()
        },
    };
    let e = written(&h);
    assert_eq!(
        keys(&e),
        set(&[
            "consumerGroup",
            "topic",
            "queueId",
            "queueOffset",
            "maxMsgNums",
            "sysFlag",
            "commitOffset",
            "suspendTimeoutMillis",
            "subscription",
            "subVersion",
            "expressionType",
            "maxMsgBytes",
            "requestSource",
            "proxyFrowardClientId",
            "bname",
        ])
    );
    assert_eq!(e["suspendTimeoutMillis"], "15000");
    assert_eq!(e["requestSource"], "-1");
    assert_eq!(PullMessageRequestHeader::read_from(&e).unwrap(), h);
}

#[test]
fn cpp_pull_request_decodes() {
    // C++ push consumer: numbers for queueId/maxMsgNums/sysFlag (turned to text by the frame
    // decoder), strings for the offsets, subscription always, no expressionType.
    let e = ext(&[
        ("AccessKey", ""),
        ("OnsChannel", ""),
        ("Signature", ""),
        ("consumerGroup", "cpp_cg"),
        ("topic", "TopicTest"),
        ("queueId", "0"),
        ("queueOffset", "0"),
        ("maxMsgNums", "32"),
        ("sysFlag", "6"),
        ("commitOffset", "0"),
        ("subVersion", "1700000000000"),
        ("suspendTimeoutMillis", "20000"),
        ("subscription", "*"),
    ]);
    let h = PullMessageRequestHeader::read_from(&e).unwrap();
    assert_eq!(h.max_msg_nums, 32);
    assert_eq!(h.sys_flag, 6);
    assert_eq!(h.subscription.as_deref(), Some("*"));
    assert_eq!(h.expression_type, None);
}

#[test]
fn pull_response_always_carries_the_four_offsets() {
    assert_eq!(
        keys(&written(&PullMessageResponseHeader::default())),
        set(&[
            "suggestWhichBrokerId",
            "nextBeginOffset",
            "minOffset",
            "maxOffset"
        ])
    );
    let h = PullMessageResponseHeader {
        suggest_which_broker_id: 1,
        next_begin_offset: 132,
        min_offset: 0,
        max_offset: 500,
        offset_delta: Some(3),
        topic_sys_flag: Some(0),
        group_sys_flag: Some(0),
        forbidden_type: Some(1),
    };
    let e = written(&h);
    assert_eq!(
        keys(&e),
        set(&[
            "suggestWhichBrokerId",
            "nextBeginOffset",
            "minOffset",
            "maxOffset",
            "offsetDelta",
            "topicSysFlag",
            "groupSysFlag",
            "forbiddenType",
        ])
    );
    assert_eq!(e["nextBeginOffset"], "132");
    assert_eq!(PullMessageResponseHeader::read_from(&e).unwrap(), h);
}

#[test]
fn offset_headers_match_the_table() {
    let q = QueryConsumerOffsetRequestHeader {
        consumer_group: "CG".into(),
        topic: "T".into(),
        queue_id: 2,
        set_zero_if_not_found: Some(false),
        rpc: RpcFields::default(),
    };
    let e = written(&q);
    assert_eq!(
        keys(&e),
        set(&["consumerGroup", "topic", "queueId", "setZeroIfNotFound"])
    );
    assert_eq!(QueryConsumerOffsetRequestHeader::read_from(&e).unwrap(), q);

    let u = UpdateConsumerOffsetRequestHeader {
        consumer_group: "CG".into(),
        topic: "T".into(),
        queue_id: 2,
        commit_offset: 77,
        rpc: RpcFields::default(),
    };
    let e = written(&u);
    assert_eq!(
        keys(&e),
        set(&["consumerGroup", "topic", "queueId", "commitOffset"])
    );
    assert_eq!(e["commitOffset"], "77");
    assert_eq!(UpdateConsumerOffsetRequestHeader::read_from(&e).unwrap(), u);

    let r = written(&QueryConsumerOffsetResponseHeader { offset: -1 });
    assert_eq!(r, ext(&[("offset", "-1")]));
    assert_eq!(
        written(&GetMaxOffsetResponseHeader { offset: 9 }),
        ext(&[("offset", "9")])
    );
    assert_eq!(
        written(&GetMinOffsetResponseHeader { offset: 0 }),
        ext(&[("offset", "0")])
    );
    assert_eq!(
        written(&SearchOffsetResponseHeader { offset: 5 }),
        ext(&[("offset", "5")])
    );
    assert_eq!(
        written(&GetEarliestMsgStoretimeResponseHeader { timestamp: 8 }),
        ext(&[("timestamp", "8")])
    );

    let s = SearchOffsetRequestHeader::read_from(&ext(&[
        ("topic", "T"),
        ("queueId", "0"),
        ("timestamp", "1700000000000"),
        ("boundaryType", "upper"),
    ]))
    .unwrap();
    assert_eq!(s.boundary_type, Some(BoundaryType::Upper));
    assert_eq!(written(&s)["boundaryType"], "UPPER");
}

#[test]
fn query_message_headers_match_the_table() {
    let h = QueryMessageRequestHeader {
        topic: "T".into(),
        key: "order-1".into(),
        max_num: 64,
        begin_timestamp: 0,
        end_timestamp: i64::MAX,
        rpc: RpcFields::default(),
    };
    let mut e = written(&h);
    assert_eq!(
        keys(&e),
        set(&["topic", "key", "maxNum", "beginTimestamp", "endTimestamp"])
    );
    assert_eq!(e["endTimestamp"], "9223372036854775807");
    assert!(!QueryMessageRequestHeader::is_unique_key_query(&e));
    e.insert(UNIQUE_KEY_QUERY.into(), "true".into());
    assert!(QueryMessageRequestHeader::is_unique_key_query(&e));
    assert_eq!(QueryMessageRequestHeader::read_from(&e).unwrap(), h);

    let r = QueryMessageResponseHeader {
        index_last_update_timestamp: 1,
        index_last_update_phyoffset: 2,
    };
    assert_eq!(
        written(&r),
        ext(&[
            ("indexLastUpdateTimestamp", "1"),
            ("indexLastUpdatePhyoffset", "2")
        ])
    );

    let v = ViewMessageRequestHeader::read_from(&ext(&[("offset", "4096")])).unwrap();
    assert_eq!(v.offset, 4096);
    assert_eq!(v.topic, None);
}

#[test]
fn non_numeric_pull_offset_is_rejected_with_field_and_value() {
    let mut e = written(&PullMessageRequestHeader::default());
    e.insert("queueOffset".into(), "12a".into());
    match PullMessageRequestHeader::read_from(&e).unwrap_err() {
        RemotingError::HeaderField { field, problem } => {
            assert_eq!(field, "queueOffset");
            assert!(problem.contains("12a"), "{problem}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn delete_subscription_group_accepts_both_offset_flag_names() {
    let j5 = DeleteSubscriptionGroupRequestHeader::read_from(&ext(&[
        ("groupName", "G"),
        ("cleanOffset", "true"),
    ]))
    .unwrap();
    assert!(j5.delete_offsets());
    let j49 = DeleteSubscriptionGroupRequestHeader::read_from(&ext(&[
        ("groupName", "G"),
        ("removeOffset", "true"),
    ]))
    .unwrap();
    assert!(j49.delete_offsets());
    let neither =
        DeleteSubscriptionGroupRequestHeader::read_from(&ext(&[("groupName", "G")])).unwrap();
    assert!(!neither.delete_offsets());
}
