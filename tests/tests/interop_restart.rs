//! A broker restart loses nothing (issue 4, "Done when"): after a graceful restart the group
//! resumes from its committed offset (no old message again, every new one once), and every
//! message sent before the restart is still there for a new group.
#![cfg(feature = "broker")]

mod support;

use std::collections::HashSet;
use std::time::Duration;

use rocketmq_model::common::message::message_single::Message;
use sluice_tests::{broker_bin, nameserver_bin, BrokerSpec, Cluster};
use support::{error_chain, Received, RustClient};

const TOPIC: &str = "RestartTopic";
const PER_ROUND: usize = 1_000;
const GROUP: &str = "it-restart-group";

async fn send_round(
    producer: &rocketmq_client_rust::DefaultMQProducer,
    round: usize,
) -> HashSet<Vec<u8>> {
    let mut bodies = HashSet::new();
    for i in 0..PER_ROUND {
        let body = format!("round-{round}-msg-{i:04}").into_bytes();
        let message = Message::builder()
            .topic(TOPIC)
            .tags("TagA")
            .key(format!("r{round}-{i}"))
            .body(body.clone())
            .build_unchecked();
        match producer.send(message).await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("round {round} message {i}: no send result"),
            Err(e) => panic!("round {round} message {i}: {}", error_chain(&e)),
        }
        bodies.insert(body);
    }
    bodies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_resumes_from_its_committed_offset_after_a_broker_restart() {
    let mut cluster = Cluster::start(
        nameserver_bin!(),
        broker_bin!(),
        1,
        vec![BrokerSpec::default()],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let ns = cluster.namesrv_addr();
    support::init_logging();
    let client = RustClient::new("interop-restart");
    let mut producer = client.producer("it-restart-producer", &ns).await;
    producer
        .create_topic("TBW102", TOPIC, 4, Default::default())
        .await
        .unwrap_or_else(|e| panic!("create_topic failed: {}", error_chain(&e)));
    cluster.nameservers[0]
        .wait_for_route(TOPIC, Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let first = send_round(&producer, 1).await;
    let before = Received::new();
    let mut consumer = client.push_consumer(GROUP, &ns, TOPIC, "*", &before).await;
    before
        .wait_for(PER_ROUND, Duration::from_secs(120), "before restart")
        .await;
    // Shutting the consumer down commits its offsets to the broker (UPDATE_CONSUMER_OFFSET).
    consumer.shutdown().await;
    assert_eq!(
        before.counts_by_body().into_keys().collect::<HashSet<_>>(),
        first
    );

    // Graceful restart on the same store and port: offsets are persisted at shutdown.
    cluster
        .broker_mut()
        .restart()
        .await
        .unwrap_or_else(|e| panic!("broker restart: {e}"));
    cluster
        .wait_registered()
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let second = send_round(&producer, 2).await;
    let after = Received::new();
    let mut consumer = client.push_consumer(GROUP, &ns, TOPIC, "*", &after).await;
    after
        .wait_for(PER_ROUND, Duration::from_secs(120), "after restart")
        .await;
    after
        .settle(Duration::from_secs(3), Duration::from_secs(30))
        .await;
    let got = after.counts_by_body();
    let replayed = got.keys().filter(|b| first.contains(*b)).count();
    assert_eq!(
        replayed, 0,
        "the group re-received {replayed} messages it had committed before the restart"
    );
    assert_eq!(
        got.keys().cloned().collect::<HashSet<_>>(),
        second,
        "every new message once"
    );
    assert!(got.values().all(|n| *n == 1), "duplicates after restart");
    consumer.shutdown().await;

    // Nothing sent before the restart was lost: a new group reads both rounds.
    let everything = Received::new();
    let mut fresh = client
        .push_consumer("it-restart-fresh-group", &ns, TOPIC, "*", &everything)
        .await;
    everything
        .wait_for(2 * PER_ROUND, Duration::from_secs(120), "fresh group")
        .await;
    let all: HashSet<Vec<u8>> = everything.counts_by_body().into_keys().collect();
    assert_eq!(all, first.union(&second).cloned().collect::<HashSet<_>>());
    fresh.shutdown().await;
    producer.shutdown().await;
    client.shutdown().await;
}
