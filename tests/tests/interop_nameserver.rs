//! rocketmq-client-rust against real NameServer processes, no broker: route lookups the way the
//! client does them (standard-JSON route form, TOPIC_NOT_EXIST handling), and several independent
//! NameServers.
#![cfg(feature = "nameserver")]

mod support;

use std::time::Duration;

use sluice_tests::raw::{register_broker, RawConnection};
use sluice_tests::{nameserver_bin, NameServerProcess};
use support::{error_chain, RustClient};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_to_a_topic_no_broker_serves_fails_with_no_route() {
    let ns = NameServerProcess::start(nameserver_bin!())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    support::init_logging();
    let client = RustClient::new("ns-no-route");
    let mut producer = client.producer("it-no-route-producer", &ns.addr()).await;
    let message = rocketmq_model::common::message::message_single::Message::builder()
        .topic("NoBrokerTopic")
        .tags("TagA")
        .body_slice(b"nobody will store this")
        .build_unchecked();
    // The client asks the NameServer (TOPIC_NOT_EXIST), then falls back to TBW102 (also unknown);
    // it must give up with the NameServer's TOPIC_NOT_EXIST (17) rather than hang or succeed.
    let outcome = tokio::time::timeout(Duration::from_secs(60), producer.send(message))
        .await
        .expect("send to an unroutable topic must fail, not hang");
    let err = match outcome {
        Ok(result) => panic!("send to an unroutable topic succeeded: {result:?}"),
        Err(e) => error_chain(&e),
    };
    assert!(
        err.contains("CODE: 17") || err.contains("No route info"),
        "expected TOPIC_NOT_EXIST / no route: {err}"
    );
    producer.shutdown().await;
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_reads_the_route_of_a_registered_broker() {
    let ns = NameServerProcess::start(nameserver_bin!())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let broker_addr = format!("127.0.0.1:{}", sluice_tests::ports::free_port().unwrap());
    let mut registration = RawConnection::connect(ns.socket_addr()).await.unwrap();
    let answer = register_broker(
        &mut registration,
        "DefaultCluster",
        "broker-route",
        &broker_addr,
        &[("RoutedTopic", 6)],
    )
    .await
    .unwrap();
    assert_eq!(
        answer.code(),
        Some(0),
        "REGISTER_BROKER refused: {:?}",
        answer.header
    );

    support::init_logging();
    let client = RustClient::new("ns-route");
    let mut producer = client.producer("it-route-producer", &ns.addr()).await;
    let queues = producer
        .fetch_publish_message_queues("RoutedTopic")
        .await
        .unwrap_or_else(|e| panic!("route lookup failed: {}", error_chain(&e)));
    let mut ids: Vec<i32> = queues.iter().map(|q| q.queue_id()).collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..6).collect::<Vec<_>>(), "{queues:?}");
    assert!(
        queues
            .iter()
            .all(|q| q.broker_name().as_str() == "broker-route"
                && q.topic().as_str() == "RoutedTopic"),
        "{queues:?}"
    );

    let missing = producer
        .fetch_publish_message_queues("NotRegisteredTopic")
        .await;
    assert!(
        missing.is_err(),
        "unknown topic must not yield queues: {missing:?}"
    );
    producer.shutdown().await;
    client.shutdown().await;
    drop(registration);
}

#[tokio::test]
async fn nameservers_are_independent() {
    let first = NameServerProcess::start(nameserver_bin!())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let second = NameServerProcess::start(nameserver_bin!())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut registration = RawConnection::connect(first.socket_addr()).await.unwrap();
    let answer = register_broker(
        &mut registration,
        "DefaultCluster",
        "broker-one",
        "127.0.0.1:1",
        &[("OnlyOnFirst", 4)],
    )
    .await
    .unwrap();
    assert_eq!(answer.code(), Some(0));
    first
        .wait_for_route("OnlyOnFirst", Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (code, _) = second.route_of("OnlyOnFirst").await.unwrap();
    assert_eq!(
        code, 17,
        "the second NameServer must not know a broker that registered only with the first"
    );

    // A broker's routes disappear when its registration connection closes.
    drop(registration);
    first
        .wait_for_no_route("OnlyOnFirst", Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}
