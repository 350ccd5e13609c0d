//! QUERY_CONSUMER_OFFSET / UPDATE_CONSUMER_OFFSET and LOCK_BATCH_MQ / UNLOCK_BATCH_MQ over real
//! sockets.

mod badmin_support;

use std::collections::BTreeSet;

use badmin_support::*;
use sluice_remoting::body::{
    JsonBody, LockBatchRequestBody, LockBatchResponseBody, MessageQueue, UnlockBatchRequestBody,
};
use sluice_remoting::header::{
    CreateTopicRequestHeader, QueryConsumerOffsetRequestHeader, QueryConsumerOffsetResponseHeader,
    UpdateConsumerOffsetRequestHeader,
};
use sluice_remoting::net::RemotingClient;
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};

fn query(group: &str, topic: &str, queue_id: i32) -> RemotingCommand {
    RemotingCommand::request(RequestCode::QueryConsumerOffset).with_header(
        &QueryConsumerOffsetRequestHeader {
            consumer_group: group.into(),
            topic: topic.into(),
            queue_id,
            ..Default::default()
        },
    )
}

fn update(group: &str, topic: &str, queue_id: i32, offset: i64) -> RemotingCommand {
    RemotingCommand::request(RequestCode::UpdateConsumerOffset).with_header(
        &UpdateConsumerOffsetRequestHeader {
            consumer_group: group.into(),
            topic: topic.into(),
            queue_id,
            commit_offset: offset,
            ..Default::default()
        },
    )
}

pub async fn create_topic(c: &RemotingClient, addr: &str, topic: &str, queues: i32) {
    let r = call(
        c,
        addr,
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
        ),
    )
    .await;
    assert_eq!(r.code, 0, "{:?}", r.remark);
}

async fn create_group(c: &RemotingClient, addr: &str, group: &str) {
    let body = format!(r#"{{"groupName":"{group}"}}"#);
    let r = call(
        c,
        addr,
        RemotingCommand::request(RequestCode::UpdateAndCreateSubscriptiongroup)
            .with_body(body.into_bytes()),
    )
    .await;
    assert_eq!(r.code, 0, "{:?}", r.remark);
}

#[tokio::test]
async fn offsets_are_not_found_before_a_commit_and_returned_after() {
    let tb = start_broker().await;
    let c = client();
    create_topic(&c, &tb.addr, "OffT", 4).await;
    create_group(&c, &tb.addr, "OffG").await;

    let r = call(&c, &tb.addr, query("OffG", "OffT", 1)).await;
    assert_eq!(
        r.code,
        ResponseCode::QueryNotFound.as_i32(),
        "pitfall 10: 22, nothing else"
    );
    assert!(r.ext("offset").is_none());

    let r = call(&c, &tb.addr, update("OffG", "OffT", 1, 42)).await;
    assert_eq!(r.code, 0, "{:?}", r.remark);
    let r = call(&c, &tb.addr, query("OffG", "OffT", 1)).await;
    assert_eq!(r.code, 0);
    assert_eq!(r.ext("offset"), Some("42"));
    assert_eq!(
        r.decode_header::<QueryConsumerOffsetResponseHeader>()
            .unwrap()
            .offset,
        42
    );

    // Java sends the update oneway: no answer, and the offset is stored all the same.
    let mut oneway = update("OffG", "OffT", 2, 7);
    oneway.mark_oneway();
    c.invoke_oneway(&tb.addr, oneway).await.unwrap();
    eventually("oneway offset stored", || async {
        call(&c, &tb.addr, query("OffG", "OffT", 2))
            .await
            .ext("offset")
            == Some("7")
    })
    .await;

    // Unknown group or topic on update: Apache's codes.
    let r = call(&c, &tb.addr, update("NoSuchGroup", "OffT", 0, 1)).await;
    assert_eq!(r.code, ResponseCode::SubscriptionGroupNotExist.as_i32());
    let r = call(&c, &tb.addr, update("OffG", "NoSuchTopic", 0, 1)).await;
    assert_eq!(r.code, ResponseCode::TopicNotExist.as_i32());
    // A header without the required queueId is an error with a remark, not a dropped connection.
    let bad = RemotingCommand::request(RequestCode::QueryConsumerOffset)
        .with_ext("consumerGroup", "OffG")
        .with_ext("topic", "OffT");
    let r = call(&c, &tb.addr, bad).await;
    assert_eq!(r.code, ResponseCode::SystemError.as_i32());
    assert!(r.remark.unwrap().contains("queueId"));
    tb.broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_queue_still_holding_its_first_message_answers_zero_unless_told_not_to() {
    let tb = start_broker().await;
    let c = client();
    create_topic(&c, &tb.addr, "ZeroT", 1).await;
    put_messages(&tb, "ZeroT", 0, 3).await;
    let r = call(&c, &tb.addr, query("NewGroup", "ZeroT", 0)).await;
    assert_eq!(r.code, 0);
    assert_eq!(r.ext("offset"), Some("0"));
    let mut no_zero = query("NewGroup", "ZeroT", 0);
    no_zero
        .ext_fields
        .insert("setZeroIfNotFound".into(), "false".into());
    let r = call(&c, &tb.addr, no_zero).await;
    assert_eq!(r.code, ResponseCode::QueryNotFound.as_i32());
    tb.broker.shutdown().await.unwrap();
}

fn queues(ids: &[i32]) -> BTreeSet<MessageQueue> {
    ids.iter()
        .map(|&q| MessageQueue::new("LockT", "broker-a", q))
        .collect()
}

pub fn lock(client_id: &str, ids: &[i32]) -> RemotingCommand {
    let body = LockBatchRequestBody {
        client_id: client_id.into(),
        consumer_group: "LockG".into(),
        mq_set: queues(ids),
        only_this_broker: false,
    };
    RemotingCommand::request(RequestCode::LockBatchMq).with_body(body.encode())
}

pub async fn locked(c: &RemotingClient, addr: &str, client_id: &str, ids: &[i32]) -> Vec<i32> {
    let r = call(c, addr, lock(client_id, ids)).await;
    assert_eq!(r.code, 0, "{:?}", r.remark);
    assert!(
        body_text(&r).starts_with("{\"lockOKMQSet\":["),
        "{}",
        body_text(&r)
    );
    LockBatchResponseBody::decode(&r.body.to_bytes())
        .unwrap()
        .lock_ok_mq_set
        .iter()
        .map(|mq| mq.queue_id)
        .collect()
}

#[tokio::test]
async fn locks_are_granted_when_free_refused_to_others_and_released_by_unlock() {
    let tb = start_broker().await;
    let (a, b) = (client(), client());
    assert_eq!(locked(&a, &tb.addr, "client-a", &[0, 1]).await, vec![0, 1]);
    assert_eq!(locked(&b, &tb.addr, "client-b", &[1, 2]).await, vec![2]);
    // The holder renews.
    assert_eq!(locked(&a, &tb.addr, "client-a", &[0, 1]).await, vec![0, 1]);

    let unlock = UnlockBatchRequestBody {
        client_id: "client-a".into(),
        consumer_group: "LockG".into(),
        mq_set: queues(&[1]),
        only_this_broker: false,
    };
    let r = call(
        &a,
        &tb.addr,
        RemotingCommand::request(RequestCode::UnlockBatchMq).with_body(unlock.encode()),
    )
    .await;
    assert_eq!(r.code, 0);
    assert_eq!(locked(&b, &tb.addr, "client-b", &[1]).await, vec![1]);

    let r = call(
        &a,
        &tb.addr,
        RemotingCommand::request(RequestCode::LockBatchMq).with_body(b"[1,2".to_vec()),
    )
    .await;
    assert_eq!(r.code, ResponseCode::SystemError.as_i32());
    tb.broker.shutdown().await.unwrap();
}
