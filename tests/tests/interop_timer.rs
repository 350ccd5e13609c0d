//! Timer messages from rocketmq-client-rust against real `mqnamesrv` + `mqbroker` processes: its
//! `delay_secs`, `delay_millis` and `deliver_time_ms` builders (TIMER_DELAY_SEC / TIMER_DELAY_MS /
//! TIMER_DELIVER_MS) and a raw `__STARTDELIVERTIME` property are delivered no sooner than asked
//! and at most 1.5 s later; pending timer messages survive a SIGKILL of the broker.
#![cfg(feature = "broker")]

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rocketmq_client_rust::{
    ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus, DefaultMQProducer, MQPushConsumer,
    MessageListenerConcurrently,
};
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_model::common::message::message_single::Message;
use rocketmq_model::result::SendStatus;
use sluice_tests::{broker_bin, nameserver_bin, BrokerSpec, Cluster};
use support::{error_chain, RustClient};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One delivery: body, the broker's store time of the delivered copy, TIMER_OUT_MS, and when the
/// listener saw it.
#[derive(Debug, Clone)]
struct Seen {
    body: String,
    store_timestamp: i64,
    timer_out_ms: Option<i64>,
    received_at: i64,
}

#[derive(Clone, Default)]
struct Deliveries(Arc<Mutex<Vec<Seen>>>);

impl Deliveries {
    fn snapshot(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }

    fn counts(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for s in self.snapshot() {
            *counts.entry(s.body).or_insert(0) += 1;
        }
        counts
    }

    async fn wait_for_distinct(&self, n: usize, limit: Duration, what: &str) {
        let deadline = std::time::Instant::now() + limit;
        while self.counts().len() < n {
            assert!(
                std::time::Instant::now() < deadline,
                "{what}: {} of {n} distinct messages after {limit:?}",
                self.counts().len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl MessageListenerConcurrently for Deliveries {
    fn consume_message(
        &self,
        msgs: &[&MessageExt],
        _context: &ConsumeConcurrentlyContext,
    ) -> rocketmq_client_rust::ClientResult<ConsumeConcurrentlyStatus> {
        let received_at = now_ms();
        let batch: Vec<Seen> = msgs
            .iter()
            .map(|m| Seen {
                body: String::from_utf8_lossy(&m.body().map(|b| b.to_vec()).unwrap_or_default())
                    .into_owned(),
                store_timestamp: m.store_timestamp(),
                timer_out_ms: m
                    .message_inner()
                    .property("TIMER_OUT_MS")
                    .and_then(|v| v.parse().ok()),
                received_at,
            })
            .collect();
        self.0.lock().unwrap().extend(batch);
        Ok(ConsumeConcurrentlyStatus::ConsumeSuccess)
    }
}

async fn consumer(
    client: &RustClient,
    group: &str,
    ns: &str,
    topic: &str,
    deliveries: &Deliveries,
) -> rocketmq_client_rust::DefaultMQPushConsumer {
    let mut consumer = rocketmq_client_rust::DefaultMQPushConsumer::builder(client.runtime.clone())
        .consumer_group(group.to_string())
        .name_server_addr(ns.to_string())
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .build();
    consumer
        .subscribe(topic, "*")
        .await
        .unwrap_or_else(|e| panic!("subscribe: {}", error_chain(&e)));
    consumer.register_message_listener_concurrently(deliveries.clone());
    consumer
        .start()
        .await
        .unwrap_or_else(|e| panic!("consumer start: {}", error_chain(&e)));
    consumer
}

async fn send(producer: &DefaultMQProducer, message: Message, what: &str) {
    match producer.send(message).await {
        Ok(Some(r)) => assert_eq!(r.send_status, SendStatus::SendOk, "{what}: {r:?}"),
        Ok(None) => panic!("{what}: no send result"),
        Err(e) => panic!("{what}: {}", error_chain(&e)),
    }
}

async fn cluster_with_topic(topic: &str, client: &RustClient) -> (Cluster, DefaultMQProducer) {
    let cluster = Cluster::start(
        nameserver_bin!(),
        broker_bin!(),
        1,
        vec![BrokerSpec::default()],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let ns = cluster.namesrv_addr();
    let mut producer = client.producer("it-timer-producer", &ns).await;
    producer
        .create_topic("TBW102", topic, 2, HashMap::new())
        .await
        .unwrap_or_else(|e| panic!("create_topic failed: {}", error_chain(&e)));
    cluster.nameservers[0]
        .wait_for_route(topic, Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (cluster, producer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_timer_messages_arrive_on_time() {
    support::init_logging();
    const TOPIC: &str = "InteropTimer";
    let client = RustClient::new("interop-timer");
    let (cluster, mut producer) = cluster_with_topic(TOPIC, &client).await;
    let deliveries = Deliveries::default();
    let mut consumer = consumer(
        &client,
        "it-timer-group",
        &cluster.namesrv_addr(),
        TOPIC,
        &deliveries,
    )
    .await;

    // (body, earliest due, latest due): a relative delay is due between the send's start and end.
    let mut due: Vec<(&str, i64, i64)> = Vec::new();
    let t0 = now_ms();
    let m = Message::builder()
        .topic(TOPIC)
        .body(&b"by-sec"[..])
        .delay_secs(3)
        .build_unchecked();
    send(&producer, m, "delay_secs").await;
    let t1 = now_ms();
    due.push(("by-sec", t0 + 3_000, t1 + 3_000));
    let m = Message::builder()
        .topic(TOPIC)
        .body(&b"by-ms"[..])
        .delay_millis(2_200)
        .build_unchecked();
    send(&producer, m, "delay_millis").await;
    let t2 = now_ms();
    due.push(("by-ms", t1 + 2_200, t2 + 2_200));
    let at = t2 + 2_600;
    let m = Message::builder()
        .topic(TOPIC)
        .body(&b"at"[..])
        .deliver_time_ms(at as u64)
        .build_unchecked();
    send(&producer, m, "deliver_time_ms").await;
    due.push(("at", at, at));
    let legacy = t2 + 1_800;
    let m = Message::builder()
        .topic(TOPIC)
        .body(&b"legacy"[..])
        .raw_property("__STARTDELIVERTIME", legacy.to_string())
        .expect("__STARTDELIVERTIME is a user property for this client")
        .build_unchecked();
    send(&producer, m, "__STARTDELIVERTIME").await;
    due.push(("legacy", legacy, legacy));

    deliveries
        .wait_for_distinct(due.len(), Duration::from_secs(60), "timer messages")
        .await;
    // Settle: nothing arrives twice.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let seen = deliveries.snapshot();
    assert_eq!(seen.len(), due.len(), "each once: {seen:?}");
    for (body, earliest, latest) in due {
        let s = seen.iter().find(|s| s.body == body).unwrap();
        println!(
            "{body}: stored {} ms after its latest due time, consumed {} ms after",
            s.store_timestamp - latest,
            s.received_at - latest
        );
        assert!(
            s.store_timestamp >= earliest && s.received_at >= earliest,
            "{body}: delivered {} ms early",
            earliest - s.store_timestamp
        );
        assert!(
            s.store_timestamp <= latest + 1_500,
            "{body}: delivered {} ms late",
            s.store_timestamp - latest
        );
        let out = s
            .timer_out_ms
            .expect("TIMER_OUT_MS on the delivered message");
        assert!(
            out >= earliest && out <= latest,
            "{body}: TIMER_OUT_MS {out}"
        );
    }

    // Beyond timerMaxDelaySec (3 days): refused (this client redacts the broker's remark, which
    // the broker tests check) and never delivered.
    let far = Message::builder()
        .topic(TOPIC)
        .body(&b"far"[..])
        .deliver_time_ms((now_ms() + 4 * 86_400_000) as u64)
        .build_unchecked();
    let err = producer
        .send(far)
        .await
        .expect_err("a delivery time 4 days ahead is refused");
    assert!(
        error_chain(&err).contains("broker.operation.failed"),
        "{}",
        error_chain(&err)
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        deliveries.snapshot().len(),
        4,
        "the refused one is not delivered"
    );

    consumer.shutdown().await;
    producer.shutdown().await;
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_timer_messages_survive_sigkill() {
    support::init_logging();
    const TOPIC: &str = "InteropTimerCrash";
    let client = RustClient::new("interop-timer-crash");
    let (mut cluster, mut producer) = cluster_with_topic(TOPIC, &client).await;

    // Ten due in 1 s (delivered before the kill), twenty due 6–8 s after the sends, five sent
    // just before the kill.
    let base = now_ms();
    let mut due = HashMap::new();
    for i in 0..10 {
        let body = format!("soon-{i}");
        let m = Message::builder()
            .topic(TOPIC)
            .body(body.clone().into_bytes())
            .delay_secs(1)
            .build_unchecked();
        send(&producer, m, &body).await;
        due.insert(body, base + 1_000);
    }
    for i in 0..20 {
        let body = format!("later-{i}");
        let at = base + 6_000 + i * 100;
        let m = Message::builder()
            .topic(TOPIC)
            .body(body.clone().into_bytes())
            .deliver_time_ms(at as u64)
            .build_unchecked();
        send(&producer, m, &body).await;
        due.insert(body, at);
    }
    // The 1 s ones are delivered and checkpointed (timerFlushIntervalMs 1 s) by then.
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    // Five more right before the kill: acknowledged, but most likely not yet in the synced timer
    // log, so the restarted broker finds them by re-reading the timer queue.
    for i in 0..5 {
        let body = format!("last-{i}");
        let m = Message::builder()
            .topic(TOPIC)
            .body(body.clone().into_bytes())
            .delay_secs(4)
            .build_unchecked();
        let sent = now_ms();
        send(&producer, m, &body).await;
        due.insert(body, sent + 4_000);
    }
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

    let deliveries = Deliveries::default();
    let mut consumer = consumer(
        &client,
        "it-timer-crash-group",
        &cluster.namesrv_addr(),
        TOPIC,
        &deliveries,
    )
    .await;
    let what = format!("after SIGKILL\n{}", cluster.log_tails());
    deliveries
        .wait_for_distinct(due.len(), Duration::from_secs(60), &what)
        .await;
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let counts = deliveries.counts();
    let dups: usize = counts.values().map(|c| c - 1).sum();
    println!(
        "after SIGKILL: {} messages, {dups} delivered more than once",
        counts.len()
    );
    for s in deliveries.snapshot() {
        let at = due[&s.body];
        assert!(
            s.store_timestamp >= at,
            "{}: delivered {} ms early",
            s.body,
            at - s.store_timestamp
        );
    }
    assert_eq!(counts.len(), 35, "none lost");
    consumer.shutdown().await;
    producer.shutdown().await;
    client.shutdown().await;
}
