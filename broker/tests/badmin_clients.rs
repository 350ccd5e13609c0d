//! HEART_BEAT in every client dialect, consumer lists and connections, NOTIFY_CONSUMER_IDS_CHANGED,
//! removal on close and on UNREGISTER_CLIENT, CHECK_CLIENT_CONFIG — over real sockets.

mod badmin_support;

use badmin_support::*;
use sluice_remoting::body::{
    ConsumeType, ConsumerConnection, GetConsumerListByGroupResponseBody, JsonBody, MessageModel,
    ProducerConnection,
};
use sluice_remoting::code::version;
use sluice_remoting::header::{
    GetConsumerConnectionListRequestHeader, GetConsumerListByGroupRequestHeader,
    GetProducerConnectionListRequestHeader, UnregisterClientRequestHeader,
};
use sluice_remoting::net::{Channel, ClientConfig, ProcessorTable, RemotingClient};
use sluice_remoting::{LanguageCode, RemotingCommand, RequestCode, ResponseCode};
use tokio::sync::mpsc;

const JAVA_BODY: &str = r#"{"clientID":"127.0.0.1@java1","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"GID","messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[2598919],"expressionType":"TAG","subString":"TagA","subVersion":1700000000000,"tagsSet":["TagA"],"topic":"TopicT"}],"unitMode":false}],"heartbeatFingerprint":0,"producerDataSet":[{"groupName":"PGID"}]}"#;
/// C++: enum ordinals, string subVersion, atoi codeSet, no expressionType, omitted empty sets, trailing newline.
const CPP_BODY: &str = "{\"clientID\":\"127.0.0.1@cpp1\",\"consumerDataSet\":[{\"consumeFromWhere\":4,\"consumeType\":1,\"groupName\":\"GID\",\"messageModel\":1,\"subscriptionDataSet\":[{\"codeSet\":[0],\"subString\":\"TagA\",\"subVersion\":\"1700000000000\",\"tagsSet\":[\"TagA\"],\"topic\":\"TopicT\"}]}]}\n";
/// Go: its own field order, string codeSet.
const GO_BODY: &str = r#"{"clientID":"127.0.0.1@go1","producerDataSet":[],"consumerDataSet":[{"groupName":"GID","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","subscriptionDataSet":[{"classFilterMode":false,"topic":"TopicT","subString":"TagA","tagsSet":["TagA"],"codeSet":["2598919"],"subVersion":1700000000000,"expressionType":"TAG"}],"unitMode":false}]}"#;

fn heartbeat(body: &str, language: LanguageCode, version: i32) -> RemotingCommand {
    as_client(
        RemotingCommand::request(RequestCode::HeartBeat).with_body(body.as_bytes().to_vec()),
        language,
        version,
    )
}

fn consumer_list(group: &str) -> RemotingCommand {
    RemotingCommand::request(RequestCode::GetConsumerListByGroup).with_header(
        &GetConsumerListByGroupRequestHeader {
            consumer_group: group.into(),
            ..Default::default()
        },
    )
}

async fn consumer_ids(c: &RemotingClient, addr: &str, group: &str) -> Option<Vec<String>> {
    let r = call(c, addr, consumer_list(group)).await;
    if r.code != 0 {
        return None;
    }
    Some(
        GetConsumerListByGroupResponseBody::decode(&r.body.to_bytes())
            .unwrap()
            .consumer_id_list,
    )
}

async fn connections(c: &RemotingClient, addr: &str, group: &str) -> RemotingCommand {
    call(
        c,
        addr,
        RemotingCommand::request(RequestCode::GetConsumerConnectionList).with_header(
            &GetConsumerConnectionListRequestHeader {
                consumer_group: group.into(),
                ..Default::default()
            },
        ),
    )
    .await
}

#[tokio::test]
async fn heartbeats_of_every_dialect_register_consumers_with_language_and_version() {
    let tb = start_broker().await;
    let (java, cpp, go, admin) = (client(), client(), client(), client());
    for (c, hb) in [
        (
            &java,
            heartbeat(JAVA_BODY, LanguageCode::Java, version::V5_3_3),
        ),
        (
            &cpp,
            heartbeat(CPP_BODY, LanguageCode::Cpp, version::V4_6_0),
        ),
        (&go, heartbeat(GO_BODY, LanguageCode::Go, version::V4_5_2)),
    ] {
        let r = call(c, &tb.addr, hb).await;
        assert_eq!(r.code, 0, "{:?}", r.remark);
        // Java reads the response version as the broker's (SQL92 needs >= 232).
        assert!(r.version >= version::V4_1_0_SNAPSHOT);
        assert_eq!(r.ext("IS_SUPPORT_HEART_BEAT_V2"), Some("true"));
    }
    assert_eq!(
        consumer_ids(&admin, &tb.addr, "GID").await.unwrap(),
        vec!["127.0.0.1@cpp1", "127.0.0.1@go1", "127.0.0.1@java1"]
    );

    let r = connections(&admin, &tb.addr, "GID").await;
    assert_eq!(r.code, 0);
    let text = body_text(&r);
    for key in [
        "\"connectionSet\"",
        "\"consumeFromWhere\"",
        "\"consumeType\":\"CONSUME_PASSIVELY\"",
        "\"messageModel\":\"CLUSTERING\"",
        "\"subscriptionTable\":{\"TopicT\":",
        "\"language\":\"CPP\"",
    ] {
        assert!(text.contains(key), "{key} missing in {text}");
    }
    let conn = ConsumerConnection::decode(text.as_bytes()).unwrap();
    assert_eq!(conn.consume_type, ConsumeType::ConsumePassively);
    assert_eq!(conn.message_model, MessageModel::Clustering);
    let by_id = |id: &str| {
        conn.connection_set
            .iter()
            .find(|c| c.client_id == id)
            .unwrap_or_else(|| panic!("{id} not listed"))
            .clone()
    };
    assert_eq!(by_id("127.0.0.1@cpp1").language, LanguageCode::Cpp);
    assert_eq!(by_id("127.0.0.1@cpp1").version, version::V4_6_0);
    assert_eq!(by_id("127.0.0.1@go1").language, LanguageCode::Go);
    assert_eq!(by_id("127.0.0.1@java1").version, version::V5_3_3);
    assert!(by_id("127.0.0.1@java1")
        .client_addr
        .starts_with("127.0.0.1:"));
    // Whatever dialect registered it last, the tag codes are Java hash codes.
    assert_eq!(conn.subscription_table["TopicT"].code_set, vec![2598919]);

    // The Java client's producer group.
    let r = call(
        &admin,
        &tb.addr,
        RemotingCommand::request(RequestCode::GetProducerConnectionList).with_header(
            &GetProducerConnectionListRequestHeader {
                producer_group: "PGID".into(),
                ..Default::default()
            },
        ),
    )
    .await;
    assert_eq!(r.code, 0);
    let producers = ProducerConnection::decode(&r.body.to_bytes()).unwrap();
    assert_eq!(producers.connection_set.len(), 1);
    assert_eq!(producers.connection_set[0].client_id, "127.0.0.1@java1");
    assert_eq!(producers.connection_set[0].language, LanguageCode::Java);

    // An online subscriber consumes the topic even before it commits an offset.
    let r = call(
        &admin,
        &tb.addr,
        RemotingCommand::request(RequestCode::QueryTopicConsumeByWho).with_header(
            &sluice_remoting::header::QueryTopicConsumeByWhoRequestHeader {
                topic: "TopicT".into(),
                ..Default::default()
            },
        ),
    )
    .await;
    assert_eq!(body_text(&r), r#"{"groupList":["GID"]}"#);

    // The group and its retry topic now exist.
    let state = tb.broker.state();
    assert!(state.subscription_groups.contains("GID"));
    assert!(state.topics.contains("%RETRY%GID"));
    tb.broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn unknown_group_has_no_consumers_and_no_connections() {
    let tb = start_broker().await;
    let admin = client();
    let r = call(&admin, &tb.addr, consumer_list("NOBODY")).await;
    assert_eq!(r.code, ResponseCode::SystemError.as_i32());
    assert_eq!(
        r.remark.as_deref(),
        Some("no consumer for this group, NOBODY")
    );
    let r = connections(&admin, &tb.addr, "NOBODY").await;
    assert_eq!(r.code, ResponseCode::ConsumerNotOnline.as_i32());
    let r = call(
        &admin,
        &tb.addr,
        RemotingCommand::request(RequestCode::GetProducerConnectionList).with_header(
            &GetProducerConnectionListRequestHeader {
                producer_group: "NOBODY".into(),
                ..Default::default()
            },
        ),
    )
    .await;
    assert_eq!(r.code, ResponseCode::SystemError.as_i32());
    // A heartbeat whose body is not JSON is refused, not a dropped connection.
    let r = call(
        &admin,
        &tb.addr,
        heartbeat("{nope", LanguageCode::Java, 479),
    )
    .await;
    assert_eq!(r.code, ResponseCode::SystemError.as_i32());
    assert!(r.remark.unwrap().contains("HEART_BEAT"));
    tb.broker.shutdown().await.unwrap();
}

/// A client whose NOTIFY_CONSUMER_IDS_CHANGED handler reports the group it was told about.
fn notified_client() -> (RemotingClient, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let table = ProcessorTable::new().with(
        RequestCode::NotifyConsumerIdsChanged,
        move |_c: Channel, req: RemotingCommand| {
            let tx = tx.clone();
            async move {
                assert!(req.is_oneway());
                let _ = tx.send(req.ext("consumerGroup").unwrap_or("").to_string());
                None
            }
        },
    );
    (RemotingClient::new(ClientConfig::default(), table), rx)
}

fn group_body(client_id: &str) -> String {
    JAVA_BODY.replace("127.0.0.1@java1", client_id).replace(
        r#""producerDataSet":[{"groupName":"PGID"}]"#,
        r#""producerDataSet":[]"#,
    )
}

#[tokio::test]
async fn joining_notifies_members_and_leaving_by_close_or_unregister_removes_at_once() {
    let tb = start_broker().await;
    let (first, mut first_notes) = notified_client();
    let (second, _second_notes) = notified_client();
    let third = client();
    let admin = client();

    let r = call(
        &first,
        &tb.addr,
        heartbeat(&group_body("c1"), LanguageCode::Java, 479),
    )
    .await;
    assert_eq!(r.code, 0);
    // The group changed (first member): its member is told.
    let note = tokio::time::timeout(TIMEOUT, first_notes.recv())
        .await
        .unwrap();
    assert_eq!(note.as_deref(), Some("GID"));
    // A repeated heartbeat changes nothing and notifies nobody.
    call(
        &first,
        &tb.addr,
        heartbeat(&group_body("c1"), LanguageCode::Java, 479),
    )
    .await;

    call(
        &second,
        &tb.addr,
        heartbeat(&group_body("c2"), LanguageCode::Java, 479),
    )
    .await;
    let note = tokio::time::timeout(TIMEOUT, first_notes.recv())
        .await
        .unwrap();
    assert_eq!(
        note.as_deref(),
        Some("GID"),
        "the first consumer is told about the second"
    );
    assert_eq!(
        consumer_ids(&admin, &tb.addr, "GID").await.unwrap(),
        vec!["c1", "c2"]
    );

    // Closing the second consumer's connection removes it, and the first hears of it.
    second.close_all();
    eventually("closed consumer removed", || async {
        consumer_ids(&admin, &tb.addr, "GID").await == Some(vec!["c1".to_string()])
    })
    .await;
    let note = tokio::time::timeout(TIMEOUT, first_notes.recv())
        .await
        .unwrap();
    assert_eq!(note.as_deref(), Some("GID"));

    // UNREGISTER_CLIENT removes a member at once.
    call(
        &third,
        &tb.addr,
        heartbeat(&group_body("c3"), LanguageCode::Java, 479),
    )
    .await;
    assert_eq!(
        consumer_ids(&admin, &tb.addr, "GID").await.unwrap(),
        vec!["c1", "c3"]
    );
    let r = call(
        &third,
        &tb.addr,
        RemotingCommand::request(RequestCode::UnregisterClient).with_header(
            &UnregisterClientRequestHeader {
                client_id: "c3".into(),
                consumer_group: Some("GID".into()),
                producer_group: None,
                ..Default::default()
            },
        ),
    )
    .await;
    assert_eq!(r.code, 0);
    assert_eq!(
        consumer_ids(&admin, &tb.addr, "GID").await.unwrap(),
        vec!["c1"]
    );
    // The last member leaving removes the group.
    call(
        &first,
        &tb.addr,
        RemotingCommand::request(RequestCode::UnregisterClient).with_header(
            &UnregisterClientRequestHeader {
                client_id: "c1".into(),
                consumer_group: Some("GID".into()),
                producer_group: None,
                ..Default::default()
            },
        ),
    )
    .await;
    assert_eq!(consumer_ids(&admin, &tb.addr, "GID").await, None);
    tb.broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn check_client_config_accepts_tags_and_refuses_sql92() {
    let tb = start_broker().await;
    let c = client();
    let tag = r#"{"clientId":"c","group":"GID","subscriptionData":{"topic":"T","subString":"TagA","expressionType":"TAG"}}"#;
    let r = call(
        &c,
        &tb.addr,
        RemotingCommand::request(RequestCode::CheckClientConfig).with_body(tag.as_bytes().to_vec()),
    )
    .await;
    assert_eq!(r.code, 0);
    let sql = tag.replace("\"TAG\"", "\"SQL92\"").replace("TagA", "a > 5");
    let r = call(
        &c,
        &tb.addr,
        RemotingCommand::request(RequestCode::CheckClientConfig).with_body(sql.into_bytes()),
    )
    .await;
    assert_eq!(r.code, ResponseCode::SystemError.as_i32());
    assert_eq!(
        r.remark.as_deref(),
        Some("The broker does not support consumer to filter message by SQL92")
    );
    tb.broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn without_auto_created_groups_only_known_groups_register() {
    let tb = start_broker_with(|c| c.auto_create_subscription_group = false).await;
    let (consumer, admin) = (client(), client());
    let r = call(
        &consumer,
        &tb.addr,
        heartbeat(JAVA_BODY, LanguageCode::Java, 479),
    )
    .await;
    assert_eq!(r.code, 0);
    // The consumer of an unknown group is ignored; its producer group is not.
    assert_eq!(consumer_ids(&admin, &tb.addr, "GID").await, None);
    assert!(!tb.broker.state().subscription_groups.contains("GID"));
    let r = call(
        &admin,
        &tb.addr,
        RemotingCommand::request(RequestCode::GetProducerConnectionList).with_header(
            &GetProducerConnectionListRequestHeader {
                producer_group: "PGID".into(),
                ..Default::default()
            },
        ),
    )
    .await;
    assert_eq!(r.code, 0);

    let created = call(
        &admin,
        &tb.addr,
        RemotingCommand::request(RequestCode::UpdateAndCreateSubscriptiongroup)
            .with_body(br#"{"groupName":"GID"}"#.to_vec()),
    )
    .await;
    assert_eq!(created.code, 0);
    call(
        &consumer,
        &tb.addr,
        heartbeat(JAVA_BODY, LanguageCode::Java, 479),
    )
    .await;
    assert_eq!(
        consumer_ids(&admin, &tb.addr, "GID").await.unwrap(),
        vec!["127.0.0.1@java1"]
    );
    tb.broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn fingerprint_heartbeats_report_subscription_changes_and_keep_subscriptions_without_sub() {
    let tb = start_broker().await;
    let (consumer, admin) = (client(), client());
    let v2 = |fingerprint: i32, without_sub: bool| {
        let body = JAVA_BODY.replace(
            "\"heartbeatFingerprint\":0",
            &format!("\"heartbeatFingerprint\":{fingerprint},\"withoutSub\":{without_sub}"),
        );
        heartbeat(&body, LanguageCode::Java, 479)
    };
    let r = call(&consumer, &tb.addr, v2(11, false)).await;
    assert_eq!(r.ext("IS_SUB_CHANGE"), Some("false"));
    // Same fingerprint, subscriptions left out: nothing changed, the subscription stays.
    let no_subs = |fingerprint: i32| {
        let body = JAVA_BODY
            .replace(
                "\"heartbeatFingerprint\":0",
                &format!("\"heartbeatFingerprint\":{fingerprint},\"withoutSub\":true"),
            )
            .replace(
                r#""subscriptionDataSet":[{"classFilterMode":false,"codeSet":[2598919],"expressionType":"TAG","subString":"TagA","subVersion":1700000000000,"tagsSet":["TagA"],"topic":"TopicT"}]"#,
                r#""subscriptionDataSet":[]"#,
            );
        heartbeat(&body, LanguageCode::Java, 479)
    };
    let r = call(&consumer, &tb.addr, no_subs(11)).await;
    assert_eq!(r.ext("IS_SUB_CHANGE"), Some("false"));
    let conn =
        ConsumerConnection::decode(&connections(&admin, &tb.addr, "GID").await.body.to_bytes())
            .unwrap();
    assert!(conn.subscription_table.contains_key("TopicT"));
    // A new fingerprint tells the client to send its subscriptions again.
    let r = call(&consumer, &tb.addr, v2(12, false)).await;
    assert_eq!(r.ext("IS_SUB_CHANGE"), Some("true"));
    tb.broker.shutdown().await.unwrap();
}
