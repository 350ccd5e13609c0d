//! PullConsumer behaviour against in-process fake servers.

mod support;

use std::time::Duration;

use sluice_client::consumer::ConsumeFromWhere;
use sluice_client::{MessageQueue, PullConsumer};
use sluice_remoting::RequestCode;
use support::{FakeBroker, FakeNameServer};

const WAIT: Duration = Duration::from_secs(5);

async fn setup(queues: i32) -> (FakeNameServer, FakeBroker) {
    let ns = FakeNameServer::start().await;
    let broker = FakeBroker::start("broker-a").await;
    ns.set_route("T", &[("broker-a", &broker.addr())], queues);
    (ns, broker)
}

fn consumer(ns: &FakeNameServer, from: ConsumeFromWhere) -> PullConsumer {
    PullConsumer::builder("G")
        .namesrv_addr(ns.addr())
        .consume_from_where(from)
        .long_poll(Duration::from_secs(2))
        .build()
        .unwrap()
}

fn bodies(msgs: &[sluice_client::MessageExt]) -> Vec<String> {
    msgs.iter()
        .map(|m| String::from_utf8_lossy(m.body()).into_owned())
        .collect()
}

#[tokio::test]
async fn assigned_queue_is_read_from_the_first_offset_and_committed() {
    let (ns, broker) = setup(1).await;
    for i in 0..3 {
        broker
            .state
            .put("T", 0, format!("m{i}").as_bytes(), "TAGS\u{1}A\u{2}");
    }
    let c = consumer(&ns, ConsumeFromWhere::ConsumeFromFirstOffset);
    c.start().await.unwrap();
    let q = MessageQueue::new("T", "broker-a", 0);
    c.assign([q.clone()]).unwrap();
    let msgs = c.poll(WAIT).await.unwrap();
    assert_eq!(bodies(&msgs), ["m0", "m1", "m2"]);
    assert_eq!(msgs[2].record.queue_offset, 2);
    assert_eq!(c.position(&q), Some(3));
    // No offset was stored: QUERY_CONSUMER_OFFSET answered QUERY_NOT_FOUND and FIRST applied.
    assert_eq!(c.committed(&q).await.unwrap(), None);
    c.commit().await.unwrap();
    assert_eq!(c.committed(&q).await.unwrap(), Some(3));
    // A message arriving while a pull is held is delivered by that pull.
    let state = broker.state.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        state.put("T", 0, b"late", "");
    });
    assert_eq!(bodies(&c.poll(WAIT).await.unwrap()), ["late"]);
    c.shutdown().await;
}

#[tokio::test]
async fn stored_offset_wins_and_last_offset_skips_history() {
    let (ns, broker) = setup(1).await;
    for i in 0..5 {
        broker.state.put("T", 0, format!("m{i}").as_bytes(), "");
    }
    let q = MessageQueue::new("T", "broker-a", 0);
    // Group without an offset, consuming from the last offset: history is skipped.
    let c = consumer(&ns, ConsumeFromWhere::ConsumeFromLastOffset);
    c.start().await.unwrap();
    c.assign([q.clone()]).unwrap();
    assert!(c.poll(Duration::from_millis(300)).await.unwrap().is_empty());
    assert_eq!(c.position(&q), Some(5));
    c.shutdown().await;
    // A stored offset is used whatever consume-from-where says.
    broker
        .state
        .offsets
        .lock()
        .unwrap()
        .insert(("G".into(), "T".into(), 0), 3);
    let c = consumer(&ns, ConsumeFromWhere::ConsumeFromLastOffset);
    c.start().await.unwrap();
    c.assign([q.clone()]).unwrap();
    assert_eq!(bodies(&c.poll(WAIT).await.unwrap()), ["m3", "m4"]);
    c.shutdown().await;
}

#[tokio::test]
async fn seek_rereads_and_out_of_range_offsets_are_corrected() {
    let (ns, broker) = setup(1).await;
    for i in 0..4 {
        broker.state.put("T", 0, format!("m{i}").as_bytes(), "");
    }
    let c = consumer(&ns, ConsumeFromWhere::ConsumeFromFirstOffset);
    c.start().await.unwrap();
    let q = MessageQueue::new("T", "broker-a", 0);
    c.assign([q.clone()]).unwrap();
    assert_eq!(c.poll(WAIT).await.unwrap().len(), 4);
    c.seek(&q, 2).unwrap();
    assert_eq!(bodies(&c.poll(WAIT).await.unwrap()), ["m2", "m3"]);
    c.seek(&q, 100).unwrap();
    assert!(c.poll(Duration::from_millis(300)).await.unwrap().is_empty());
    assert_eq!(
        c.position(&q),
        Some(4),
        "PULL_OFFSET_MOVED adopts nextBeginOffset"
    );
    let err = c
        .seek(&MessageQueue::new("T", "broker-a", 9), 0)
        .unwrap_err();
    assert!(err.to_string().contains("not assigned"), "{err}");
    c.shutdown().await;
}

#[tokio::test]
async fn subscription_tags_are_rechecked_on_the_client() {
    let (ns, broker) = setup(2).await;
    broker.state.put("T", 0, b"a", "TAGS\u{1}A\u{2}");
    broker.state.put("T", 0, b"c", "TAGS\u{1}C\u{2}");
    broker.state.put("T", 1, b"b", "TAGS\u{1}B\u{2}");
    let c = consumer(&ns, ConsumeFromWhere::ConsumeFromFirstOffset);
    c.start().await.unwrap();
    *broker.state.consumer_ids.lock().unwrap() = vec![c.instance().client_id.clone()];
    c.subscribe("T", "A || B").unwrap();
    let mut got = Vec::new();
    for _ in 0..4 {
        got.extend(bodies(&c.poll(Duration::from_millis(500)).await.unwrap()));
    }
    got.sort();
    assert_eq!(got, ["a", "b"]);
    assert_eq!(c.assignment().len(), 2);
    // The fake broker does not filter, so "c" reached the client and was dropped there; the
    // pull carried the subscription and the heartbeat registered it.
    let pulls = broker.state.requests(RequestCode::PullMessage);
    assert!(pulls
        .iter()
        .all(|p| p.ext("subscription") == Some("A || B")));
    let heartbeats = broker.state.requests(RequestCode::HeartBeat);
    let body = String::from_utf8(heartbeats.last().unwrap().body.to_bytes().to_vec()).unwrap();
    assert!(body.contains("\"subString\":\"A || B\""), "{body}");
    assert!(body.contains("CONSUME_ACTIVELY"), "{body}");
    c.shutdown().await;
}

#[tokio::test]
async fn subscribed_queues_are_split_between_members() {
    let (ns, broker) = setup(4).await;
    let c1 = consumer(&ns, ConsumeFromWhere::ConsumeFromFirstOffset);
    let c2 = consumer(&ns, ConsumeFromWhere::ConsumeFromFirstOffset);
    c1.start().await.unwrap();
    c2.start().await.unwrap();
    let mut ids = vec![
        c1.instance().client_id.clone(),
        c2.instance().client_id.clone(),
    ];
    ids.sort();
    *broker.state.consumer_ids.lock().unwrap() = ids;
    c1.subscribe("T", "*").unwrap();
    c2.subscribe("T", "*").unwrap();
    c1.poll(Duration::from_millis(100)).await.unwrap();
    c2.poll(Duration::from_millis(100)).await.unwrap();
    let (a1, a2) = (c1.assignment(), c2.assignment());
    assert_eq!(a1.len(), 2);
    assert_eq!(a2.len(), 2);
    assert!(a1.iter().all(|q| !a2.contains(q)));
    // c2 leaves: after the membership change c1 takes every queue.
    c2.shutdown().await;
    *broker.state.consumer_ids.lock().unwrap() = vec![c1.instance().client_id.clone()];
    c1.rebalance(false).await.unwrap();
    assert_eq!(c1.assignment().len(), 4);
    c1.shutdown().await;
}

#[tokio::test]
async fn a_dead_broker_is_reported_not_hung_on() {
    let ns = FakeNameServer::start().await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap().to_string();
    drop(dead);
    ns.set_route("T", &[("broker-a", &dead_addr)], 1);
    let c = consumer(&ns, ConsumeFromWhere::ConsumeFromFirstOffset);
    c.start().await.unwrap();
    c.assign([MessageQueue::new("T", "broker-a", 0)]).unwrap();
    let err = c
        .poll(Duration::from_millis(500))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&dead_addr), "{err}");
    c.shutdown().await;
    assert!(c.poll(Duration::from_millis(10)).await.is_err());
}
