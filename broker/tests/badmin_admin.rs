//! The admin codes mqadmin sends, each answered with the body shape the Java admin expects.

mod badmin_support;

use badmin_support::*;
use sluice_remoting::body::{
    ConsumeStats, DataVersion, GroupList, JsonBody, KVTable, MessageQueue, ResetOffsetBody,
    ResetOffsetBodyForC, SubscriptionGroupWrapper, TopicConfigSerializeWrapper, TopicList,
    TopicStatsTable,
};
use sluice_remoting::header::{
    CreateTopicRequestHeader, DeleteSubscriptionGroupRequestHeader, DeleteTopicRequestHeader,
    GetConsumeStatsRequestHeader, GetTopicStatsInfoRequestHeader, QueryConsumerOffsetRequestHeader,
    QueryTopicConsumeByWhoRequestHeader, QueryTopicsByConsumerRequestHeader,
    ResetOffsetRequestHeader, UpdateConsumerOffsetRequestHeader,
};
use sluice_remoting::net::{Channel, ClientConfig, ProcessorTable, RemotingClient};
use sluice_remoting::{LanguageCode, RemotingCommand, RequestCode, ResponseCode};
use tokio::sync::mpsc;

fn create_topic(topic: &str, queues: i32) -> RemotingCommand {
    RemotingCommand::request(RequestCode::UpdateAndCreateTopic).with_header(
        &CreateTopicRequestHeader {
            topic: topic.into(),
            default_topic: "TBW102".into(),
            read_queue_nums: queues,
            write_queue_nums: queues,
            perm: 6,
            topic_filter_type: "SINGLE_TAG".into(),
            order: false,
            ..Default::default()
        },
    )
}

fn simple(code: RequestCode) -> RemotingCommand {
    RemotingCommand::request(code)
}

async fn ok(c: &RemotingClient, addr: &str, request: RemotingCommand) -> RemotingCommand {
    let r = call(c, addr, request).await;
    assert_eq!(r.code, 0, "{:?}", r.remark);
    r
}

async fn commit(c: &RemotingClient, addr: &str, group: &str, topic: &str, q: i32, offset: i64) {
    ok(
        c,
        addr,
        RemotingCommand::request(RequestCode::UpdateConsumerOffset).with_header(
            &UpdateConsumerOffsetRequestHeader {
                consumer_group: group.into(),
                topic: topic.into(),
                queue_id: q,
                commit_offset: offset,
                ..Default::default()
            },
        ),
    )
    .await;
}

async fn create_group(c: &RemotingClient, addr: &str, group: &str) {
    let body =
        format!(r#"{{"groupName":"{group}","retryMaxTimes":3,"consumeBroadcastEnable":true}}"#);
    ok(
        c,
        addr,
        RemotingCommand::request(RequestCode::UpdateAndCreateSubscriptiongroup)
            .with_body(body.into_bytes()),
    )
    .await;
}

#[tokio::test]
async fn topics_are_created_listed_and_deleted() {
    let tb = start_broker().await;
    let c = client();
    ok(&c, &tb.addr, create_topic("AdminT", 3)).await;
    // Idempotent.
    ok(&c, &tb.addr, create_topic("AdminT", 3)).await;

    let r = ok(&c, &tb.addr, simple(RequestCode::GetAllTopicConfig)).await;
    assert!(
        r.ext("totalTopicNum").is_none(),
        "J5 clients would keep paging"
    );
    let text = body_text(&r);
    assert!(text.contains("\"topicConfigTable\":{"), "{text}");
    assert!(text.contains("\"dataVersion\":{"), "{text}");
    let all = TopicConfigSerializeWrapper::decode(text.as_bytes()).unwrap();
    let t = &all.topic_config_table["AdminT"];
    assert_eq!((t.read_queue_nums, t.write_queue_nums, t.perm), (3, 3, 6));
    assert!(all.topic_config_table.contains_key("TBW102"));

    // One topic's config.
    let r = ok(
        &c,
        &tb.addr,
        simple(RequestCode::GetTopicConfig).with_ext("topic", "AdminT"),
    )
    .await;
    let one = sluice_remoting::body::TopicConfig::decode(&r.body.to_bytes()).unwrap();
    assert_eq!(
        (one.topic_name.as_str(), one.write_queue_nums),
        ("AdminT", 3)
    );
    let r = call(
        &c,
        &tb.addr,
        simple(RequestCode::GetTopicConfig).with_ext("topic", "Nope"),
    )
    .await;
    assert_eq!(r.code, ResponseCode::TopicNotExist.as_i32());

    // Refusals with remarks.
    let r = call(&c, &tb.addr, create_topic("SCHEDULE_TOPIC_XXXX", 1)).await;
    assert_eq!(r.code, ResponseCode::InvalidParameter.as_i32());
    assert_eq!(
        r.remark.as_deref(),
        Some("The topic[SCHEDULE_TOPIC_XXXX] is conflict with system topic.")
    );
    let r = call(&c, &tb.addr, create_topic("bad topic!", 1)).await;
    assert_eq!(r.code, ResponseCode::InvalidParameter.as_i32());
    assert!(r.remark.unwrap().contains("illegal characters"));

    // Delete drops the config, the queues' data and the offsets.
    create_group(&c, &tb.addr, "AdminG").await;
    put_messages(&tb, "AdminT", 0, 2).await;
    commit(&c, &tb.addr, "AdminG", "AdminT", 0, 1).await;
    ok(
        &c,
        &tb.addr,
        RemotingCommand::request(RequestCode::DeleteTopicInBroker).with_header(
            &DeleteTopicRequestHeader {
                topic: "AdminT".into(),
                ..Default::default()
            },
        ),
    )
    .await;
    let state = tb.broker.state();
    assert!(!state.topics.contains("AdminT"));
    assert_eq!(state.store.max_offset("AdminT", 0), 0);
    assert_eq!(
        state.consumer_offsets.query_offset("AdminG", "AdminT", 0),
        -1
    );
    let r = call(
        &c,
        &tb.addr,
        RemotingCommand::request(RequestCode::GetTopicStatsInfo).with_header(
            &GetTopicStatsInfoRequestHeader {
                topic: "AdminT".into(),
                ..Default::default()
            },
        ),
    )
    .await;
    assert_eq!(r.code, ResponseCode::TopicNotExist.as_i32());
    tb.broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn subscription_groups_are_created_listed_and_deleted_with_offsets() {
    let tb = start_broker().await;
    let c = client();
    create_group(&c, &tb.addr, "SubG").await;
    let r = ok(
        &c,
        &tb.addr,
        simple(RequestCode::GetAllSubscriptiongroupConfig),
    )
    .await;
    assert!(r.ext("totalGroupNum").is_none());
    let text = body_text(&r);
    assert!(text.contains("\"subscriptionGroupTable\":{"), "{text}");
    let all = SubscriptionGroupWrapper::decode(text.as_bytes()).unwrap();
    assert_eq!(all.subscription_group_table["SubG"].retry_max_times, 3);

    let r = ok(
        &c,
        &tb.addr,
        simple(RequestCode::GetSubscriptiongroupConfig).with_ext("group", "SubG"),
    )
    .await;
    let text = body_text(&r);
    assert!(text.contains("\"groupName\":\"SubG\""), "{text}");
    assert!(text.contains("\"retryMaxTimes\":3"), "{text}");

    ok(&c, &tb.addr, create_topic("SubT", 1)).await;
    commit(&c, &tb.addr, "SubG", "SubT", 0, 5).await;
    ok(
        &c,
        &tb.addr,
        RemotingCommand::request(RequestCode::DeleteSubscriptiongroup).with_header(
            &DeleteSubscriptionGroupRequestHeader {
                group_name: "SubG".into(),
                clean_offset: Some(true),
                ..Default::default()
            },
        ),
    )
    .await;
    let state = tb.broker.state();
    assert!(!state.subscription_groups.contains("SubG"));
    assert_eq!(state.consumer_offsets.query_offset("SubG", "SubT", 0), -1);

    let r = call(
        &c,
        &tb.addr,
        RemotingCommand::request(RequestCode::UpdateAndCreateSubscriptiongroup)
            .with_body(br#"{"groupName":"bad group"}"#.to_vec()),
    )
    .await;
    assert_eq!(r.code, ResponseCode::InvalidParameter.as_i32());
    tb.broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn runtime_info_has_every_key_cluster_list_parses() {
    let tb = start_broker().await;
    let c = client();
    ok(&c, &tb.addr, create_topic("RtT", 1)).await;
    put_messages(&tb, "RtT", 0, 4).await;
    let r = ok(&c, &tb.addr, simple(RequestCode::GetBrokerRuntimeInfo)).await;
    assert!(body_text(&r).starts_with("{\"table\":{"));
    let kv = KVTable::decode(&r.body.to_bytes()).unwrap().table;
    for key in [
        "brokerVersionDesc",
        "msgPutTotalYesterdayMorning",
        "msgPutTotalTodayMorning",
        "msgPutTotalTodayNow",
        "msgGetTotalYesterdayMorning",
        "msgGetTotalTodayMorning",
        "msgGetTotalTodayNow",
        "putTps",
        "getTransferredTps",
        "sendThreadPoolQueueSize",
        "pullThreadPoolQueueSize",
        "sendThreadPoolQueueHeadWaitTimeMills",
        "pullThreadPoolQueueHeadWaitTimeMills",
        "pageCacheLockTimeMills",
        "earliestMessageTimeStamp",
        "commitLogDiskRatio",
        "brokerActive",
        "timerReadBehind",
        "timerOffsetBehind",
        "timerCongestNum",
        "timerEnqueueTps",
        "timerDequeueTps",
    ] {
        assert!(kv.contains_key(key), "{key} missing: {kv:?}");
    }
    for key in [
        "msgPutTotalYesterdayMorning",
        "msgPutTotalTodayMorning",
        "msgGetTotalYesterdayMorning",
        "msgGetTotalTodayMorning",
        "msgGetTotalTodayNow",
        "timerReadBehind",
        "timerOffsetBehind",
        "timerCongestNum",
        "earliestMessageTimeStamp",
    ] {
        kv[key]
            .parse::<i64>()
            .unwrap_or_else(|_| panic!("{key}={} is not a long", kv[key]));
    }
    assert_eq!(kv["msgPutTotalTodayNow"].parse::<i64>().unwrap(), 4);
    for key in ["putTps", "getTransferredTps"] {
        let tps: Vec<&str> = kv[key].split(' ').collect();
        assert_eq!(tps.len(), 3, "{key}={}", kv[key]);
        for t in tps {
            t.parse::<f64>().unwrap();
        }
    }
    kv["commitLogDiskRatio"].parse::<f64>().unwrap();
    assert_eq!(kv["brokerActive"], "true");
    assert_eq!(kv["brokerVersionDesc"], "V5_3_3");
    assert!(kv["earliestMessageTimeStamp"].parse::<i64>().unwrap() > 1_600_000_000_000);
    tb.broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn topic_and_consume_stats_use_message_queue_object_keys() {
    let tb = start_broker().await;
    let c = client();
    ok(&c, &tb.addr, create_topic("StatT", 2)).await;
    create_group(&c, &tb.addr, "StatG").await;
    put_messages(&tb, "StatT", 0, 3).await;
    commit(&c, &tb.addr, "StatG", "StatT", 0, 2).await;

    let r = ok(
        &c,
        &tb.addr,
        RemotingCommand::request(RequestCode::GetTopicStatsInfo).with_header(
            &GetTopicStatsInfoRequestHeader {
                topic: "StatT".into(),
                ..Default::default()
            },
        ),
    )
    .await;
    let text = body_text(&r);
    assert!(
        text.contains(
            r#"{"brokerName":"broker-a","queueId":0,"topic":"StatT"}:{"lastUpdateTimestamp":"#
        ),
        "{text}"
    );
    let stats = TopicStatsTable::decode(text.as_bytes()).unwrap();
    let q0 = stats.offset_table[&MessageQueue::new("StatT", "broker-a", 0)];
    assert_eq!((q0.min_offset, q0.max_offset), (0, 3));
    assert!(q0.last_update_timestamp > 0);
    assert_eq!(stats.offset_table.len(), 2);

    let r = ok(
        &c,
        &tb.addr,
        RemotingCommand::request(RequestCode::GetConsumeStats).with_header(
            &GetConsumeStatsRequestHeader {
                consumer_group: "StatG".into(),
                topic: Some("StatT".into()),
                ..Default::default()
            },
        ),
    )
    .await;
    let text = body_text(&r);
    for key in [
        "\"brokerOffset\":3",
        "\"consumerOffset\":2",
        "\"lastTimestamp\":",
        "\"pullOffset\":2",
        "\"consumeTps\":",
    ] {
        assert!(text.contains(key), "{key} missing in {text}");
    }
    assert!(
        text.contains(r#"{"brokerName":"broker-a","queueId":0,"topic":"StatT"}:{"#),
        "{text}"
    );
    let cs = ConsumeStats::decode(text.as_bytes()).unwrap();
    assert_eq!(cs.diff_total(), 1);
    // Without a topic: every topic the group has offsets on.
    let r = ok(
        &c,
        &tb.addr,
        RemotingCommand::request(RequestCode::GetConsumeStats).with_header(
            &GetConsumeStatsRequestHeader {
                consumer_group: "StatG".into(),
                ..Default::default()
            },
        ),
    )
    .await;
    assert_eq!(
        ConsumeStats::decode(&r.body.to_bytes())
            .unwrap()
            .offset_table
            .len(),
        2
    );

    // Who consumes what.
    let r = ok(
        &c,
        &tb.addr,
        RemotingCommand::request(RequestCode::QueryTopicConsumeByWho).with_header(
            &QueryTopicConsumeByWhoRequestHeader {
                topic: "StatT".into(),
                ..Default::default()
            },
        ),
    )
    .await;
    assert_eq!(body_text(&r), r#"{"groupList":["StatG"]}"#);
    assert!(GroupList::decode(&r.body.to_bytes())
        .unwrap()
        .group_list
        .contains("StatG"));
    let r = ok(
        &c,
        &tb.addr,
        RemotingCommand::request(RequestCode::QueryTopicsByConsumer).with_header(
            &QueryTopicsByConsumerRequestHeader {
                group: "StatG".into(),
                ..Default::default()
            },
        ),
    )
    .await;
    let topics = TopicList::decode(&r.body.to_bytes()).unwrap();
    assert_eq!(
        topics.topic_list.into_iter().collect::<Vec<_>>(),
        vec!["StatT"]
    );
    assert_eq!(
        topics.broker_addr.as_deref(),
        Some(tb.broker.broker_addr().as_str())
    );
    tb.broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn broker_config_is_read_updated_and_persisted() {
    let tb = start_broker().await;
    let c = client();
    let r = ok(&c, &tb.addr, simple(RequestCode::GetBrokerConfig)).await;
    let text = body_text(&r);
    assert!(text.lines().any(|l| l == "brokerName=broker-a"), "{text}");
    assert!(
        text.lines().any(|l| l == "autoCreateTopicEnable=true"),
        "{text}"
    );
    let v1 = DataVersion::decode(r.ext("version").unwrap().as_bytes()).unwrap();

    ok(
        &c,
        &tb.addr,
        simple(RequestCode::UpdateBrokerConfig)
            .with_body(b"autoCreateTopicEnable=false\ndefaultTopicQueueNums=4\n".to_vec()),
    )
    .await;
    let r = ok(&c, &tb.addr, simple(RequestCode::GetBrokerConfig)).await;
    let text = body_text(&r);
    assert!(
        text.lines().any(|l| l == "autoCreateTopicEnable=false"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l == "defaultTopicQueueNums=4"),
        "{text}"
    );
    let v2 = DataVersion::decode(r.ext("version").unwrap().as_bytes()).unwrap();
    assert_eq!(v2.counter, v1.counter + 1);
    assert!(!tb.broker.state().config().auto_create_topic_enable);
    let saved = std::fs::read_to_string(
        tb.broker
            .state()
            .config()
            .config_dir()
            .join("broker.properties"),
    )
    .unwrap();
    assert!(
        saved.lines().any(|l| l == "defaultTopicQueueNums=4"),
        "{saved}"
    );

    let r = call(
        &c,
        &tb.addr,
        simple(RequestCode::UpdateBrokerConfig).with_body(b"brokerConfigPath=/tmp/x\n".to_vec()),
    )
    .await;
    assert_eq!(r.code, ResponseCode::NoPermission.as_i32());
    let r = call(
        &c,
        &tb.addr,
        simple(RequestCode::UpdateBrokerConfig).with_body(b"listenPort=notaport\n".to_vec()),
    )
    .await;
    assert_eq!(r.code, ResponseCode::SystemError.as_i32());
    assert!(r.remark.is_some());
    tb.broker.shutdown().await.unwrap();
}

/// A consumer whose RESET_CONSUMER_CLIENT_OFFSET handler forwards the request it got.
fn resettable_consumer() -> (RemotingClient, mpsc::UnboundedReceiver<RemotingCommand>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let table = ProcessorTable::new()
        .with(
            RequestCode::ResetConsumerClientOffset,
            move |_c: Channel, req: RemotingCommand| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(req);
                    None
                }
            },
        )
        .with(
            RequestCode::NotifyConsumerIdsChanged,
            |_c: Channel, _req: RemotingCommand| async move { None },
        );
    (RemotingClient::new(ClientConfig::default(), table), rx)
}

fn reset(topic: &str, group: &str, timestamp: i64) -> RemotingCommand {
    RemotingCommand::request(RequestCode::InvokeBrokerToResetOffset).with_header(
        &ResetOffsetRequestHeader {
            topic: topic.into(),
            group: group.into(),
            timestamp,
            is_force: true,
            ..Default::default()
        },
    )
}

#[tokio::test]
async fn reset_offset_stores_offsets_and_tells_online_consumers() {
    let tb = start_broker().await;
    let admin = client();
    ok(&admin, &tb.addr, create_topic("ResetT", 1)).await;
    put_messages(&tb, "ResetT", 0, 5).await;
    let (consumer, mut resets) = resettable_consumer();
    let hb = r#"{"clientID":"127.0.0.1@r1","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"ResetG","messageModel":"CLUSTERING","subscriptionDataSet":[{"subString":"*","subVersion":1,"topic":"ResetT"}],"unitMode":false}],"producerDataSet":[]}"#;
    ok(
        &consumer,
        &tb.addr,
        RemotingCommand::request(RequestCode::HeartBeat).with_body(hb.as_bytes().to_vec()),
    )
    .await;
    commit(&admin, &tb.addr, "ResetG", "ResetT", 0, 5).await;

    // Back to the beginning (timestamp 0 = before every message).
    let r = ok(&admin, &tb.addr, reset("ResetT", "ResetG", 0)).await;
    assert_eq!(
        body_text(&r),
        r#"{"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"ResetT"}:0}}"#
    );
    let body = ResetOffsetBody::decode(&r.body.to_bytes()).unwrap();
    assert_eq!(
        body.offset_table[&MessageQueue::new("ResetT", "broker-a", 0)],
        0
    );
    let q = ok(
        &admin,
        &tb.addr,
        RemotingCommand::request(RequestCode::QueryConsumerOffset).with_header(
            &QueryConsumerOffsetRequestHeader {
                consumer_group: "ResetG".into(),
                topic: "ResetT".into(),
                queue_id: 0,
                ..Default::default()
            },
        ),
    )
    .await;
    assert_eq!(q.ext("offset"), Some("0"));
    let told = tokio::time::timeout(TIMEOUT, resets.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(told.is_oneway());
    assert_eq!(told.ext("topic"), Some("ResetT"));
    assert_eq!(told.ext("group"), Some("ResetG"));
    assert_eq!(
        ResetOffsetBody::decode(&told.body.to_bytes()).unwrap(),
        body
    );

    // A C++ admin: the consumers get the array form; timestamp -1 = the end of the queue.
    let mut from_cpp = reset("ResetT", "ResetG", -1);
    from_cpp.language = LanguageCode::Cpp;
    let r = ok(&admin, &tb.addr, from_cpp).await;
    let body = ResetOffsetBody::decode(&r.body.to_bytes()).unwrap();
    assert_eq!(
        body.offset_table[&MessageQueue::new("ResetT", "broker-a", 0)],
        5
    );
    let told = tokio::time::timeout(TIMEOUT, resets.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        String::from_utf8(told.body.to_bytes().to_vec()).unwrap(),
        r#"{"offsetTable":[{"brokerName":"broker-a","offset":5,"queueId":0,"topic":"ResetT"}]}"#
    );
    assert_eq!(
        ResetOffsetBodyForC::decode(&told.body.to_bytes())
            .unwrap()
            .offset_table
            .len(),
        1
    );

    // One queue to an explicit offset (J5 admin), checked against the queue's range.
    let mut to_offset = reset("ResetT", "ResetG", 0);
    to_offset.ext_fields.insert("queueId".into(), "0".into());
    to_offset.ext_fields.insert("offset".into(), "3".into());
    let r = ok(&admin, &tb.addr, to_offset.clone()).await;
    let body = ResetOffsetBody::decode(&r.body.to_bytes()).unwrap();
    assert_eq!(
        body.offset_table[&MessageQueue::new("ResetT", "broker-a", 0)],
        3
    );
    assert_eq!(
        tb.broker
            .state()
            .consumer_offsets
            .query_offset("ResetG", "ResetT", 0),
        3
    );
    to_offset.ext_fields.insert("offset".into(), "100".into());
    let r = call(&admin, &tb.addr, to_offset).await;
    assert_eq!(r.code, ResponseCode::SystemError.as_i32());
    assert_eq!(
        r.remark.as_deref(),
        Some("Target offset 100 not in consume queue range [0-5]")
    );

    let r = call(&admin, &tb.addr, reset("NoSuchTopic", "ResetG", 0)).await;
    assert_eq!(r.code, ResponseCode::TopicNotExist.as_i32());
    tb.broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn admin_codes_not_served_yet_get_the_standard_answer() {
    let tb = start_broker().await;
    let c = client();
    let r = call(&c, &tb.addr, simple(RequestCode::CloneGroupOffset)).await;
    assert_eq!(r.code, ResponseCode::RequestCodeNotSupported.as_i32());
    assert_eq!(r.remark.as_deref(), Some(" request type 314 not supported"));
    tb.broker.shutdown().await.unwrap();
}
