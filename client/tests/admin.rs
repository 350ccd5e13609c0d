//! Admin API against in-process fake servers.

mod support;

use std::time::Duration;

use sluice_client::{Admin, Message, Producer};
use sluice_remoting::body::TopicConfig;
use support::{FakeBroker, FakeNameServer};

#[tokio::test]
async fn cluster_topics_stats_and_message_queries() {
    let ns = FakeNameServer::start().await;
    let a = FakeBroker::start("broker-a").await;
    let b = FakeBroker::start("broker-b").await;
    ns.set_route("T", &[("broker-a", &a.addr()), ("broker-b", &b.addr())], 2);
    let admin = Admin::connect(&ns.addr()).unwrap();

    let info = admin.cluster_info().await.unwrap();
    assert_eq!(info.broker_addr_table.len(), 2);
    let mut masters = admin.cluster_masters("DefaultCluster").await.unwrap();
    masters.sort();
    let mut want = vec![a.addr(), b.addr()];
    want.sort();
    assert_eq!(masters, want);
    let err = admin.cluster_masters("Nope").await.unwrap_err().to_string();
    assert!(err.contains("Nope"), "{err}");

    let created = admin
        .create_topic_in_cluster("DefaultCluster", &TopicConfig::new("Orders"))
        .await
        .unwrap();
    assert_eq!(created.len(), 2);
    assert_eq!(*a.state.created_topics.lock().unwrap(), ["Orders"]);
    assert!(admin
        .create_topic(&a.addr(), &TopicConfig::new("bad topic"))
        .await
        .is_err());

    let route = admin.topic_route("T").await.unwrap();
    assert_eq!(route.queue_datas.len(), 2);
    assert!(admin.topic_route("Unknown").await.is_err());

    let producer = Producer::builder("p")
        .namesrv_addr(ns.addr())
        .build()
        .unwrap();
    producer.start().await.unwrap();
    let sent = producer
        .send(
            Message::new("T", "findme").with_keys(["k-42"]),
            Duration::from_secs(3),
        )
        .await
        .unwrap();
    let broker_addr = if sent.queue.broker_name == "broker-a" {
        a.addr()
    } else {
        b.addr()
    };
    let stats = admin.topic_stats(&broker_addr, "T").await.unwrap();
    let total: i64 = stats.offset_table.values().map(|o| o.max_offset).sum();
    assert_eq!(total, 1);

    let viewed = admin.view_message(&sent.offset_msg_id).await.unwrap();
    assert_eq!(viewed.body().as_ref(), b"findme");
    assert_eq!(viewed.msg_id, sent.msg_id);
    let by_key = admin
        .query_messages("T", "k-42", 32, 0, i64::MAX, false)
        .await
        .unwrap();
    assert_eq!(by_key.len(), 1);
    assert!(admin
        .query_messages("T", "missing", 32, 0, i64::MAX, false)
        .await
        .unwrap()
        .is_empty());
    let err = admin
        .view_message("not-an-id")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not-an-id"), "{err}");
    producer.shutdown().await;
    admin.shutdown().await;
}
