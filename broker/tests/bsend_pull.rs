//! Pull, long polling, tag filtering, query and offset processors over a real socket.

mod bsend_common;

use std::time::Duration;

use bsend_common::*;
use sluice_remoting::header::{
    GetEarliestMsgStoretimeRequestHeader, GetEarliestMsgStoretimeResponseHeader,
    GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader, GetMinOffsetRequestHeader,
    GetMinOffsetResponseHeader, PullMessageResponseHeader, QueryMessageRequestHeader,
    QueryMessageResponseHeader, SearchOffsetRequestHeader, SearchOffsetResponseHeader,
    SendMessageResponseHeader,
};
use sluice_remoting::message::decode_messages;
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};

/// Sends `n` messages with tags alternating A/B to queue 0 and waits until they are pullable.
async fn fill(b: &TestBroker, topic: &str, n: usize) -> Vec<SendMessageResponseHeader> {
    let mut out = Vec::new();
    for i in 0..n {
        let tag = if i % 2 == 0 { "TagA" } else { "TagB" };
        let p = props(&[("TAGS", tag), ("KEYS", &format!("key-{i}"))]);
        let r = b
            .invoke(send_v2(topic, 0, &p, format!("body-{i}").as_bytes()))
            .await;
        assert_eq!(r.code, 0, "{r:?}");
        out.push(r.decode_header().unwrap());
    }
    wait_max_offset(b, topic, 0, n as i64).await;
    out
}

/// Waits until dispatch made `max` messages of the queue visible.
async fn wait_max_offset(b: &TestBroker, topic: &str, queue_id: i32, max: i64) {
    for _ in 0..500 {
        if max_offset(b, topic, queue_id).await >= max {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("queue {topic}/{queue_id} never reached {max}");
}

async fn max_offset(b: &TestBroker, topic: &str, queue_id: i32) -> i64 {
    let r = b
        .invoke(
            RemotingCommand::request(RequestCode::GetMaxOffset).with_header(
                &GetMaxOffsetRequestHeader {
                    topic: topic.into(),
                    queue_id,
                    committed: None,
                    rpc: Default::default(),
                },
            ),
        )
        .await;
    assert_eq!(r.code, 0, "{r:?}");
    r.decode_header::<GetMaxOffsetResponseHeader>()
        .unwrap()
        .offset
}

fn offsets_of(r: &RemotingCommand) -> PullMessageResponseHeader {
    for key in [
        "suggestWhichBrokerId",
        "nextBeginOffset",
        "minOffset",
        "maxOffset",
    ] {
        assert!(r.ext(key).is_some(), "{key} missing in {r:?}");
    }
    r.decode_header().unwrap()
}

#[tokio::test]
async fn pull_returns_exactly_the_records_sent() {
    let b = start_broker(|_| {}).await;
    let sent = fill(&b, "TopicPull", 5).await;
    let h = pull_header("G1", "TopicPull", 0, 0, FLAG_SUBSCRIPTION, "*", 0);
    let r = b.invoke(pull(&h)).await;
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.remark.as_deref(), Some("FOUND"));
    let ph = offsets_of(&r);
    assert_eq!(ph.next_begin_offset, 5);
    assert_eq!(ph.min_offset, 0);
    assert_eq!(ph.max_offset, 5);
    assert_eq!(ph.suggest_which_broker_id, 0);
    let msgs = decode_messages(&r.body.to_bytes(), true).unwrap();
    assert_eq!(msgs.len(), 5);
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(&m.body()[..], format!("body-{i}").as_bytes());
        assert_eq!(m.record.queue_offset, i as i64);
        assert_eq!(m.offset_msg_id, sent[i].msg_id);
    }
    // From the middle, at most maxMsgNums.
    let mut h = pull_header("G1", "TopicPull", 0, 3, FLAG_SUBSCRIPTION, "*", 0);
    h.max_msg_nums = 1;
    let r = b.invoke(pull(&h)).await;
    let msgs = decode_messages(&r.body.to_bytes(), true).unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(&msgs[0].body()[..], b"body-3");
    assert_eq!(offsets_of(&r).next_begin_offset, 4);
    // LITE_PULL_MESSAGE is served the same way.
    let h = pull_header("G1", "TopicPull", 0, 4, FLAG_SUBSCRIPTION, "*", 0);
    let lite = RemotingCommand::request(RequestCode::LitePullMessage).with_header(&h);
    let r = b.invoke(lite).await;
    assert_eq!(r.code, 0, "{r:?}");
    let msgs = decode_messages(&r.body.to_bytes(), true).unwrap();
    assert_eq!(&msgs[0].body()[..], b"body-4");
    b.stop().await;
}

#[tokio::test]
async fn tag_subscription_returns_only_that_tag() {
    let b = start_broker(|_| {}).await;
    fill(&b, "TopicTags", 6).await;
    let h = pull_header("G2", "TopicTags", 0, 0, FLAG_SUBSCRIPTION, "TagB", 0);
    let r = b.invoke(pull(&h)).await;
    assert_eq!(r.code, 0, "{r:?}");
    let msgs = decode_messages(&r.body.to_bytes(), true).unwrap();
    let bodies: Vec<_> = msgs.iter().map(|m| m.body().to_vec()).collect();
    assert_eq!(
        bodies,
        vec![b"body-1".to_vec(), b"body-3".to_vec(), b"body-5".to_vec()]
    );
    assert!(msgs.iter().all(|m| m.tags() == Some("TagB")));
    assert_eq!(offsets_of(&r).next_begin_offset, 6);
    // Nothing matches: PULL_RETRY_IMMEDIATELY, and the offset still advances.
    let h = pull_header("G2", "TopicTags", 0, 0, FLAG_SUBSCRIPTION, "TagZ", 0);
    let r = b.invoke(pull(&h)).await;
    assert_eq!(r.code, ResponseCode::PullRetryImmediately.as_i32(), "{r:?}");
    assert_eq!(r.remark.as_deref(), Some("NO_MATCHED_MESSAGE"));
    assert_eq!(offsets_of(&r).next_begin_offset, 6);
    b.stop().await;
}

#[tokio::test]
async fn pull_beyond_max_is_offset_moved_and_at_max_is_not_found() {
    let b = start_broker(|_| {}).await;
    fill(&b, "TopicMoved", 3).await;
    let h = pull_header("G3", "TopicMoved", 0, 100, FLAG_SUBSCRIPTION, "*", 0);
    let r = b.invoke(pull(&h)).await;
    assert_eq!(r.code, ResponseCode::PullOffsetMoved.as_i32(), "{r:?}");
    assert_eq!(r.remark.as_deref(), Some("OFFSET_OVERFLOW_BADLY"));
    let ph = offsets_of(&r);
    assert_eq!(ph.max_offset, 3);
    // min offset is 0, so Apache corrects to it.
    assert_eq!(ph.next_begin_offset, 0);
    // offset == max, no suspend flag: answered at once.
    let h = pull_header("G3", "TopicMoved", 0, 3, FLAG_SUBSCRIPTION, "*", 0);
    let r = b.invoke(pull(&h)).await;
    assert_eq!(r.code, ResponseCode::PullNotFound.as_i32(), "{r:?}");
    assert_eq!(r.remark.as_deref(), Some("OFFSET_OVERFLOW_ONE"));
    assert_eq!(offsets_of(&r).next_begin_offset, 3);
    // offset == max with suspension: held for its suspend time, then PULL_NOT_FOUND.
    let h = pull_header(
        "G3",
        "TopicMoved",
        0,
        3,
        FLAG_SUBSCRIPTION | FLAG_SUSPEND,
        "*",
        300,
    );
    let r = b.invoke(pull(&h)).await;
    assert_eq!(r.code, ResponseCode::PullNotFound.as_i32(), "{r:?}");
    assert_eq!(offsets_of(&r).next_begin_offset, 3);
    b.stop().await;
}

#[tokio::test]
async fn held_pull_is_answered_when_a_message_arrives() {
    let b = start_broker(|_| {}).await;
    fill(&b, "TopicHold", 1).await;
    let h = pull_header(
        "G4",
        "TopicHold",
        0,
        1,
        FLAG_SUBSCRIPTION | FLAG_SUSPEND,
        "*",
        20_000,
    );
    let client = b.client.clone();
    let addr = b.addr.clone();
    let held = tokio::spawn(async move { client.invoke(&addr, pull(&h), TIMEOUT).await });
    // Let the pull reach the broker and be held, then send.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!held.is_finished(), "the pull should be held");
    let r = b
        .invoke(send_v1(
            "TopicHold",
            0,
            &props(&[("TAGS", "x")]),
            b"wake up",
        ))
        .await;
    assert_eq!(r.code, 0);
    // Answered well before the 20 s hold ends (the test's RPC timeout is 10 s).
    let r = held.await.unwrap().expect("held pull answered");
    assert_eq!(r.code, 0, "{r:?}");
    let msgs = decode_messages(&r.body.to_bytes(), true).unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(&msgs[0].body()[..], b"wake up");
    assert_eq!(offsets_of(&r).next_begin_offset, 2);
    b.stop().await;
}

#[tokio::test]
async fn held_pull_on_an_empty_new_queue_wakes_on_first_message() {
    let b = start_broker(|_| {}).await;
    // Create the topic (auto-create on send) on queue 0, then hold on queue 1, still empty.
    fill(&b, "TopicEmptyQ", 1).await;
    let h = pull_header(
        "G5",
        "TopicEmptyQ",
        1,
        0,
        FLAG_SUBSCRIPTION | FLAG_SUSPEND,
        "*",
        20_000,
    );
    let client = b.client.clone();
    let addr = b.addr.clone();
    let held = tokio::spawn(async move { client.invoke(&addr, pull(&h), TIMEOUT).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!held.is_finished(), "the pull should be held");
    let r = b.invoke(send_v1("TopicEmptyQ", 1, "", b"first")).await;
    assert_eq!(r.code, 0);
    let r = held.await.unwrap().expect("held pull answered");
    assert_eq!(r.code, 0, "{r:?}");
    let msgs = decode_messages(&r.body.to_bytes(), true).unwrap();
    assert_eq!(&msgs[0].body()[..], b"first");
    b.stop().await;
}

#[tokio::test]
async fn too_many_held_pulls_get_system_busy() {
    let b = start_broker(|c| c.max_hold_pull_requests = 1).await;
    fill(&b, "TopicBusy", 1).await;
    let h = pull_header(
        "G6",
        "TopicBusy",
        0,
        1,
        FLAG_SUBSCRIPTION | FLAG_SUSPEND,
        "*",
        5_000,
    );
    let client = b.client.clone();
    let addr = b.addr.clone();
    let h1 = h.clone();
    let first = tokio::spawn(async move { client.invoke(&addr, pull(&h1), TIMEOUT).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = b.invoke(pull(&h)).await;
    assert_eq!(r.code, ResponseCode::SystemBusy.as_i32(), "{r:?}");
    assert!(r.remark.as_deref().unwrap_or("").contains("held"));
    b.invoke(send_v1("TopicBusy", 0, "", b"release")).await;
    let r = first.await.unwrap().unwrap();
    assert_eq!(r.code, 0, "{r:?}");
    b.stop().await;
}

#[tokio::test]
async fn commit_offset_flag_stores_the_consumer_offset() {
    let b = start_broker(|_| {}).await;
    fill(&b, "TopicCommit", 4).await;
    let mut h = pull_header(
        "G7",
        "TopicCommit",
        0,
        2,
        FLAG_SUBSCRIPTION | FLAG_COMMIT_OFFSET,
        "*",
        0,
    );
    h.commit_offset = 2;
    let r = b.invoke(pull(&h)).await;
    assert_eq!(r.code, 0, "{r:?}");
    let state = b.broker.state();
    assert_eq!(
        state.consumer_offsets.query_offset("G7", "TopicCommit", 0),
        2
    );
    // Without the flag nothing is stored.
    let mut h = pull_header("G7b", "TopicCommit", 0, 2, FLAG_SUBSCRIPTION, "*", 0);
    h.commit_offset = 3;
    b.invoke(pull(&h)).await;
    assert!(state.consumer_offsets.query_offset("G7b", "TopicCommit", 0) < 0);
    b.stop().await;
}

#[tokio::test]
async fn pull_without_registered_subscription_is_subscription_not_exist() {
    let b = start_broker(|_| {}).await;
    fill(&b, "TopicNoSub", 1).await;
    let h = pull_header("G8", "TopicNoSub", 0, 0, FLAG_SUSPEND, "*", 1000);
    let r = b.invoke(pull(&h)).await;
    assert_eq!(r.code, ResponseCode::SubscriptionNotExist.as_i32(), "{r:?}");
    b.stop().await;
}

#[tokio::test]
async fn pull_bad_inputs_are_answered_not_panicked() {
    let b = start_broker(|_| {}).await;
    fill(&b, "TopicBad", 1).await;
    // Unknown topic.
    let h = pull_header("G9", "NoSuchTopic", 0, 0, FLAG_SUBSCRIPTION, "*", 0);
    let r = b.invoke(pull(&h)).await;
    assert_eq!(r.code, ResponseCode::TopicNotExist.as_i32(), "{r:?}");
    // Queue out of range.
    let h = pull_header("G9", "TopicBad", 99, 0, FLAG_SUBSCRIPTION, "*", 0);
    let r = b.invoke(pull(&h)).await;
    assert_eq!(r.code, ResponseCode::InvalidParameter.as_i32(), "{r:?}");
    // SQL92 without the property filter.
    let mut h = pull_header("G9", "TopicBad", 0, 0, FLAG_SUBSCRIPTION, "a > 1", 0);
    h.expression_type = Some("SQL92".into());
    let r = b.invoke(pull(&h)).await;
    assert_eq!(r.code, ResponseCode::SystemError.as_i32(), "{r:?}");
    assert!(r.remark.as_deref().unwrap_or("").contains("SQL92"));
    // Negative offset.
    let h = pull_header("G9", "TopicBad", 0, -5, FLAG_SUBSCRIPTION, "*", 0);
    let r = b.invoke(pull(&h)).await;
    assert_eq!(r.code, ResponseCode::PullOffsetMoved.as_i32(), "{r:?}");
    assert_eq!(offsets_of(&r).next_begin_offset, 0);
    // Missing required header field.
    let mut bad = pull(&pull_header(
        "G9",
        "TopicBad",
        0,
        0,
        FLAG_SUBSCRIPTION,
        "*",
        0,
    ));
    bad.ext_fields.remove("queueOffset");
    let r = b.invoke(bad).await;
    assert_eq!(r.code, ResponseCode::SystemError.as_i32(), "{r:?}");
    assert!(r.remark.as_deref().unwrap_or("").contains("queueOffset"));
    b.stop().await;
}

fn query(topic: &str, key: &str, unique: bool) -> RemotingCommand {
    RemotingCommand::request(RequestCode::QueryMessage)
        .with_header(&QueryMessageRequestHeader {
            topic: topic.into(),
            key: key.into(),
            max_num: 32,
            begin_timestamp: 0,
            end_timestamp: i64::MAX,
            rpc: Default::default(),
        })
        .with_ext("_UNIQUE_KEY_QUERY", unique.to_string())
}

#[tokio::test]
async fn query_by_key_and_unique_key_find_the_message() {
    let b = start_broker(|_| {}).await;
    let sent = fill(&b, "TopicQuery", 4).await;
    // The index is built by dispatch too; retry briefly until it is visible.
    let mut r = b.invoke(query("TopicQuery", "key-2", false)).await;
    for _ in 0..200 {
        if r.code == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        r = b.invoke(query("TopicQuery", "key-2", false)).await;
    }
    assert_eq!(r.code, 0, "{r:?}");
    let qh: QueryMessageResponseHeader = r.decode_header().unwrap();
    assert!(qh.index_last_update_timestamp > 0);
    let msgs = decode_messages(&r.body.to_bytes(), true).unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(&msgs[0].body()[..], b"body-2");
    let uniq = sent[3].transaction_id.clone().unwrap();
    let r = b.invoke(query("TopicQuery", &uniq, true)).await;
    assert_eq!(r.code, 0, "{r:?}");
    let msgs = decode_messages(&r.body.to_bytes(), true).unwrap();
    assert_eq!(&msgs[0].body()[..], b"body-3");
    let r = b.invoke(query("TopicQuery", "no-such-key", false)).await;
    assert_eq!(r.code, ResponseCode::QueryNotFound.as_i32(), "{r:?}");
    assert!(r.ext("indexLastUpdateTimestamp").is_some());
    b.stop().await;
}

#[tokio::test]
async fn offset_queries_answer_min_max_time_and_earliest() {
    let b = start_broker(|_| {}).await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    fill(&b, "TopicOffsets", 3).await;
    assert_eq!(max_offset(&b, "TopicOffsets", 0).await, 3);
    assert_eq!(max_offset(&b, "NoSuchTopic", 0).await, 0);
    let r = b
        .invoke(
            RemotingCommand::request(RequestCode::GetMinOffset).with_header(
                &GetMinOffsetRequestHeader {
                    topic: "TopicOffsets".into(),
                    queue_id: 0,
                    rpc: Default::default(),
                },
            ),
        )
        .await;
    assert_eq!(
        r.decode_header::<GetMinOffsetResponseHeader>()
            .unwrap()
            .offset,
        0
    );
    let r = b
        .invoke(
            RemotingCommand::request(RequestCode::GetEarliestMsgStoretime).with_header(
                &GetEarliestMsgStoretimeRequestHeader {
                    topic: "TopicOffsets".into(),
                    queue_id: 0,
                    rpc: Default::default(),
                },
            ),
        )
        .await;
    let earliest = r
        .decode_header::<GetEarliestMsgStoretimeResponseHeader>()
        .unwrap()
        .timestamp;
    assert!(earliest >= before, "{earliest} < {before}");
    let search = |ts: i64| {
        RemotingCommand::request(RequestCode::SearchOffsetByTimestamp).with_header(
            &SearchOffsetRequestHeader {
                topic: "TopicOffsets".into(),
                queue_id: 0,
                timestamp: ts,
                boundary_type: None,
                rpc: Default::default(),
            },
        )
    };
    let r = b.invoke(search(before - 60_000)).await;
    assert_eq!(
        r.decode_header::<SearchOffsetResponseHeader>()
            .unwrap()
            .offset,
        0
    );
    let r = b.invoke(search(i64::MAX / 2)).await;
    assert_eq!(
        r.decode_header::<SearchOffsetResponseHeader>()
            .unwrap()
            .offset,
        3
    );
    // UPPER: the last message stored at or before the time.
    let mut upper = search(i64::MAX / 2);
    upper
        .ext_fields
        .insert("boundaryType".into(), "UPPER".into());
    let r = b.invoke(upper).await;
    assert_eq!(
        r.decode_header::<SearchOffsetResponseHeader>()
            .unwrap()
            .offset,
        2
    );
    b.stop().await;
}

fn heartbeat(group: &str, topic: &str, expression: &str, sub_version: i64) -> RemotingCommand {
    use sluice_remoting::body::heartbeat::{ConsumerData, HeartbeatData, SubscriptionData};
    use sluice_remoting::body::JsonBody;
    let data = HeartbeatData {
        client_id: "127.0.0.1@bsend-test".into(),
        consumer_data_set: vec![ConsumerData {
            group_name: group.into(),
            subscription_data_set: vec![SubscriptionData::by_tags(topic, expression, sub_version)],
            ..Default::default()
        }],
        ..Default::default()
    };
    RemotingCommand::request(RequestCode::HeartBeat).with_body(data.encode())
}

#[tokio::test]
async fn pull_uses_the_subscription_registered_by_heartbeat() {
    let b = start_broker(|_| {}).await;
    fill(&b, "TopicHb", 4).await;
    let r = b.invoke(heartbeat("G_HB", "TopicHb", "TagA", 10)).await;
    assert_eq!(r.code, 0, "{r:?}");
    // Java push consumers do not send their subscription on pull (pitfall 6).
    let mut h = pull_header("G_HB", "TopicHb", 0, 0, FLAG_SUSPEND, "", 1000);
    h.subscription = None;
    h.sub_version = 10;
    let r = b.invoke(pull(&h)).await;
    assert_eq!(r.code, 0, "{r:?}");
    let msgs = decode_messages(&r.body.to_bytes(), true).unwrap();
    let bodies: Vec<_> = msgs.iter().map(|m| m.body().to_vec()).collect();
    assert_eq!(bodies, vec![b"body-0".to_vec(), b"body-2".to_vec()]);
    // A client that subscribed again more recently than the broker knows.
    h.sub_version = 11;
    let r = b.invoke(pull(&h)).await;
    assert_eq!(
        r.code,
        ResponseCode::SubscriptionNotLatest.as_i32(),
        "{r:?}"
    );
    // A topic the group never subscribed.
    fill(&b, "TopicOther", 1).await;
    let mut h = pull_header("G_HB", "TopicOther", 0, 0, 0, "", 0);
    h.subscription = None;
    let r = b.invoke(pull(&h)).await;
    assert_eq!(r.code, ResponseCode::SubscriptionNotExist.as_i32(), "{r:?}");
    b.stop().await;
}

#[tokio::test]
async fn held_tag_pull_ignores_other_tags_and_wakes_on_its_own() {
    let b = start_broker(|_| {}).await;
    fill(&b, "TopicHoldTag", 2).await;
    let h = pull_header(
        "G_HT",
        "TopicHoldTag",
        0,
        2,
        FLAG_SUBSCRIPTION | FLAG_SUSPEND,
        "TagA",
        20_000,
    );
    let client = b.client.clone();
    let addr = b.addr.clone();
    let held = tokio::spawn(async move { client.invoke(&addr, pull(&h), TIMEOUT).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = b
        .invoke(send_v1(
            "TopicHoldTag",
            0,
            &props(&[("TAGS", "TagB")]),
            b"other",
        ))
        .await;
    assert_eq!(r.code, 0);
    wait_max_offset(&b, "TopicHoldTag", 0, 3).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !held.is_finished(),
        "a TagB message must not answer a TagA pull"
    );
    let r = b
        .invoke(send_v1(
            "TopicHoldTag",
            0,
            &props(&[("TAGS", "TagA")]),
            b"mine",
        ))
        .await;
    assert_eq!(r.code, 0);
    let r = held.await.unwrap().expect("held pull answered");
    assert_eq!(r.code, 0, "{r:?}");
    let msgs = decode_messages(&r.body.to_bytes(), true).unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(&msgs[0].body()[..], b"mine");
    assert_eq!(offsets_of(&r).next_begin_offset, 4);
    b.stop().await;
}

#[tokio::test]
async fn a_closed_connection_frees_its_held_pull_slot() {
    use sluice_remoting::net::{ClientConfig, ProcessorTable, RemotingClient};
    let b = start_broker(|c| c.max_hold_pull_requests = 1).await;
    fill(&b, "TopicClose", 1).await;
    let h = pull_header(
        "G_C",
        "TopicClose",
        0,
        1,
        FLAG_SUBSCRIPTION | FLAG_SUSPEND,
        "*",
        20_000,
    );
    let other = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
    let (o, addr, h1) = (other.clone(), b.addr.clone(), h.clone());
    let held = tokio::spawn(async move { o.invoke(&addr, pull(&h1), TIMEOUT).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let busy = b.invoke(pull(&h)).await;
    assert_eq!(busy.code, ResponseCode::SystemBusy.as_i32(), "{busy:?}");
    other.close_all();
    assert!(
        held.await.unwrap().is_err(),
        "the closed client gets no answer"
    );
    // The broker notices the close and releases the slot: a new pull may be held again.
    let mut short = h.clone();
    short.suspend_timeout_millis = 50;
    let mut code = ResponseCode::SystemBusy.as_i32();
    for _ in 0..200 {
        code = b.invoke(pull(&short)).await.code;
        if code != ResponseCode::SystemBusy.as_i32() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(code, ResponseCode::PullNotFound.as_i32());
    b.stop().await;
}

#[tokio::test]
async fn unknown_group_without_auto_create_is_subscription_group_not_exist() {
    let b = start_broker(|c| c.auto_create_subscription_group = false).await;
    fill(&b, "TopicNoGroup", 1).await;
    let h = pull_header("G_UNKNOWN", "TopicNoGroup", 0, 0, FLAG_SUBSCRIPTION, "*", 0);
    let r = b.invoke(pull(&h)).await;
    assert_eq!(
        r.code,
        ResponseCode::SubscriptionGroupNotExist.as_i32(),
        "{r:?}"
    );
    assert!(r.remark.as_deref().unwrap_or("").contains("G_UNKNOWN"));
    b.stop().await;
}
