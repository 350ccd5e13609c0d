//! rocketmq-client-rust against real `mqnamesrv` + `mqbroker` processes (issue 4, "Done when"):
//! create a topic, sync-send 10,000 messages with keys and tags, two push consumer groups each
//! receive all of them exactly once, a tag-filtered group receives only its tag, and a query by
//! key finds the message. One cluster for the whole file, one scenario in order.
#![cfg(feature = "broker")]

mod support;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rocketmq_model::common::message::message_single::Message;
use rocketmq_model::result::SendStatus;
use sluice_tests::{broker_bin, nameserver_bin, BrokerSpec, Cluster};
use support::{error_chain, Received, RustClient};

const TOPIC: &str = "InteropTopic";
const QUEUES: i32 = 4;
const MESSAGES: usize = 10_000;
/// Every fourth message is tagged TagB, the rest TagA.
fn tag_of(i: usize) -> &'static str {
    if i % 4 == 3 {
        "TagB"
    } else {
        "TagA"
    }
}

fn body_of(i: usize) -> Vec<u8> {
    format!("interop-body-{i:05}").into_bytes()
}

fn key_of(i: usize) -> String {
    format!("order-{i:05}")
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_send_consume_filter_and_query() {
    support::init_logging();
    let cluster = Cluster::start(
        nameserver_bin!(),
        broker_bin!(),
        1,
        vec![BrokerSpec::default()],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let ns = cluster.namesrv_addr();
    let client = RustClient::new("interop-broker");
    let mut producer = client.producer("it-interop-producer", &ns).await;

    // 1. Create the topic through the client's admin path (UPDATE_AND_CREATE_TOPIC on every
    //    master that serves the TBW102 key topic); the route then reaches the NameServer.
    producer
        .create_topic("TBW102", TOPIC, QUEUES, HashMap::new())
        .await
        .unwrap_or_else(|e| panic!("create_topic failed: {}", error_chain(&e)));
    let route = cluster.nameservers[0]
        .wait_for_route(TOPIC, Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        route.contains(&cluster.broker().addr()),
        "route should point at the broker: {route}"
    );

    // 2. Sync-send 10,000 messages with keys and tags; each is SEND_OK with a msgId, a queue and
    //    an offset, and the offsets of each queue are exactly 0, 1, 2, … in send order.
    let started = std::time::Instant::now();
    let mut offsets: BTreeMap<i32, Vec<u64>> = BTreeMap::new();
    let mut msg_ids = std::collections::HashSet::new();
    for i in 0..MESSAGES {
        let message = Message::builder()
            .topic(TOPIC)
            .tags(tag_of(i))
            .key(key_of(i))
            .body(body_of(i))
            .build_unchecked();
        let result = match producer.send(message).await {
            Ok(Some(result)) => result,
            Ok(None) => panic!("message {i}: sync send returned no result"),
            Err(e) => panic!(
                "message {i}: send failed: {}\n{}",
                error_chain(&e),
                cluster.log_tails()
            ),
        };
        assert_eq!(
            result.send_status,
            SendStatus::SendOk,
            "message {i}: {result:?}"
        );
        let msg_id = result
            .msg_id
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_default();
        assert!(!msg_id.is_empty(), "message {i}: no msgId in {result:?}");
        assert!(
            msg_ids.insert(msg_id.clone()),
            "message {i}: msgId {msg_id} repeated"
        );
        let queue = result
            .message_queue
            .as_ref()
            .unwrap_or_else(|| panic!("message {i}: no queue in {result:?}"));
        assert_eq!(queue.topic().as_str(), TOPIC);
        assert_eq!(queue.broker_name().as_str(), "broker-a");
        assert!(
            (0..QUEUES).contains(&queue.queue_id()),
            "message {i}: {result:?}"
        );
        offsets
            .entry(queue.queue_id())
            .or_default()
            .push(result.queue_offset);
    }
    eprintln!("sent {MESSAGES} messages in {:?}", started.elapsed());
    for (queue, seen) in &offsets {
        let expected: Vec<u64> = (0..seen.len() as u64).collect();
        assert_eq!(
            seen, &expected,
            "queue {queue}: offsets must be 0.. in send order"
        );
    }
    assert_eq!(offsets.values().map(Vec::len).sum::<usize>(), MESSAGES);

    // 3-5. Three groups at once: two read everything, one only TagB.
    let all_a = Received::new();
    let all_b = Received::new();
    let only_tag_b = Received::new();
    let mut group_a = client
        .push_consumer("it-group-a", &ns, TOPIC, "*", &all_a)
        .await;
    let mut group_b = client
        .push_consumer("it-group-b", &ns, TOPIC, "*", &all_b)
        .await;
    let mut group_tag = client
        .push_consumer("it-group-tag-b", &ns, TOPIC, "TagB", &only_tag_b)
        .await;
    let tag_b_count = (0..MESSAGES).filter(|i| tag_of(*i) == "TagB").count();

    let limit = Duration::from_secs(180);
    all_a.wait_for(MESSAGES, limit, "group A").await;
    all_b.wait_for(MESSAGES, limit, "group B").await;
    only_tag_b.wait_for(tag_b_count, limit, "TagB group").await;
    // Let stragglers (duplicates, leaked tags) show up before judging.
    for received in [&all_a, &all_b, &only_tag_b] {
        received
            .settle(Duration::from_secs(3), Duration::from_secs(30))
            .await;
    }

    let expected_bodies: std::collections::HashSet<Vec<u8>> = (0..MESSAGES).map(body_of).collect();
    for (name, received) in [("group A", &all_a), ("group B", &all_b)] {
        let counts = received.counts_by_body();
        let duplicated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).take(5).collect();
        assert!(
            duplicated.is_empty(),
            "{name} received duplicates, e.g. {duplicated:?}"
        );
        assert_eq!(
            received.len(),
            MESSAGES,
            "{name} must receive each message exactly once"
        );
        let got: std::collections::HashSet<Vec<u8>> = counts.into_keys().collect();
        assert_eq!(got, expected_bodies, "{name} received the wrong set");
        let redelivered = received
            .snapshot()
            .iter()
            .filter(|d| d.reconsume_times > 0)
            .count();
        assert_eq!(
            redelivered, 0,
            "{name}: nothing should have gone through %RETRY%"
        );
    }
    let tagged = only_tag_b.snapshot();
    assert_eq!(tagged.len(), tag_b_count, "TagB group count");
    for d in &tagged {
        assert_eq!(d.tags.as_deref(), Some("TagB"), "TagB group got {d:?}");
    }
    let keys_ok = all_a
        .snapshot()
        .iter()
        .all(|d| d.keys.as_deref().is_some_and(|k| k.starts_with("order-")));
    assert!(keys_ok, "every delivered message carries its key");

    // 6. Query by key (QUERY_MESSAGE through the IndexFile); the index may trail the send.
    let wanted = 1234;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let found = producer
            .query_message(TOPIC, &key_of(wanted), 32, 0, now_millis() + 60_000)
            .await;
        match found {
            Ok(result) if !result.message_list().is_empty() => {
                let bodies: Vec<Vec<u8>> = result
                    .message_list()
                    .iter()
                    .map(|m| m.body().map(|b| b.to_vec()).unwrap_or_default())
                    .collect();
                assert!(
                    bodies.contains(&body_of(wanted)),
                    "query by key returned {bodies:?}"
                );
                break;
            }
            other => {
                if std::time::Instant::now() >= deadline {
                    let shown = other
                        .map(|r| r.message_list().len())
                        .map_err(|e| error_chain(&e));
                    panic!(
                        "query by key {} found nothing within 30 s: {shown:?}",
                        key_of(wanted)
                    );
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    group_a.shutdown().await;
    group_b.shutdown().await;
    group_tag.shutdown().await;
    producer.shutdown().await;
    client.shutdown().await;
}
