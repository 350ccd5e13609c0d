//! A broker killed with SIGKILL (no flush, no shutdown hook) and started again on the same store:
//! every message acknowledged SEND_OK before the kill is still delivered, and new sends continue
//! each queue's offsets instead of reusing them.
#![cfg(feature = "broker")]

mod support;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use rocketmq_client_rust::DefaultMQProducer;
use rocketmq_model::common::message::message_single::Message;
use sluice_tests::{broker_bin, nameserver_bin, BrokerSpec, Cluster};
use support::{error_chain, Received, RustClient};

const TOPIC: &str = "CrashTopic";
const PER_ROUND: usize = 1_000;

/// Sends one round; returns the bodies and the highest offset acknowledged per queue.
async fn send_round(
    producer: &DefaultMQProducer,
    round: usize,
) -> (HashSet<Vec<u8>>, BTreeMap<i32, u64>) {
    let mut bodies = HashSet::new();
    let mut max_offsets = BTreeMap::new();
    for i in 0..PER_ROUND {
        let body = format!("crash-round-{round}-{i:04}").into_bytes();
        let message = Message::builder()
            .topic(TOPIC)
            .tags("TagA")
            .body(body.clone())
            .build_unchecked();
        let result = match producer.send(message).await {
            Ok(Some(result)) => result,
            Ok(None) => panic!("round {round} message {i}: no send result"),
            Err(e) => panic!("round {round} message {i}: {}", error_chain(&e)),
        };
        let queue = result
            .message_queue
            .as_ref()
            .map(|q| q.queue_id())
            .unwrap_or(-1);
        let entry = max_offsets.entry(queue).or_insert(0);
        *entry = (*entry).max(result.queue_offset);
        bodies.insert(body);
    }
    (bodies, max_offsets)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_sigkill() {
    support::init_logging();
    let mut cluster = Cluster::start(
        nameserver_bin!(),
        broker_bin!(),
        1,
        vec![BrokerSpec::default()],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let ns = cluster.namesrv_addr();
    let client = RustClient::new("interop-crash");
    let mut producer = client.producer("it-crash-producer", &ns).await;
    producer
        .create_topic("TBW102", TOPIC, 4, Default::default())
        .await
        .unwrap_or_else(|e| panic!("create_topic failed: {}", error_chain(&e)));
    cluster.nameservers[0]
        .wait_for_route(TOPIC, Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let (first, first_max) = send_round(&producer, 1).await;
    cluster
        .broker_mut()
        .kill()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    cluster
        .broker_mut()
        .restart()
        .await
        .unwrap_or_else(|e| panic!("restart after SIGKILL: {e}\n{}", cluster.log_tails()));
    cluster
        .wait_registered()
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let (second, second_max) = send_round(&producer, 2).await;
    for (queue, before) in &first_max {
        if let Some(after) = second_max.get(queue) {
            assert!(
                after > before,
                "queue {queue}: offset {after} after the crash reuses one up to {before}"
            );
        }
    }

    let received = Received::new();
    let mut consumer = client
        .push_consumer("it-crash-group", &ns, TOPIC, "*", &received)
        .await;
    received
        .wait_for(2 * PER_ROUND, Duration::from_secs(180), "after SIGKILL")
        .await;
    let got: HashSet<Vec<u8>> = received.counts_by_body().into_keys().collect();
    let lost: Vec<_> = first
        .difference(&got)
        .take(5)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged before SIGKILL but lost: {lost:?}"
    );
    assert!(
        second.is_subset(&got),
        "messages sent after the restart missing"
    );
    consumer.shutdown().await;
    producer.shutdown().await;
    client.shutdown().await;
}
