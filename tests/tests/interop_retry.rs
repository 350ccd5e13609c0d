//! rocketmq-client-rust's push consumer against real `mqnamesrv` + `mqbroker` processes: a
//! listener that always answers RECONSUME_LATER sees a message `maxReconsumeTimes + 1` times
//! (reconsume count 0, 1, 2), each retry coming back through the broker's CONSUMER_SEND_MSG_BACK
//! and `%RETRY%group`, and the message then sits in `%DLQ%group` with its body and keys. The
//! broker runs with 1 s delay levels so the retries take seconds.
#![cfg(feature = "broker")]

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rocketmq_client_rust::{
    ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus, DefaultMQPushConsumer, MQPushConsumer,
    MessageListenerConcurrently,
};
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_model::common::message::message_single::Message;
use sluice_tests::raw::{java_header, RawConnection, RawFrame};
use sluice_tests::{broker_bin, nameserver_bin, BrokerSpec, Cluster};
use support::{error_chain, RustClient};

const TOPIC: &str = "InteropRetryTopic";
const GROUP: &str = "it-retry-group";
const MAX_RECONSUME: i32 = 2;

#[derive(Debug, Clone)]
struct Delivery {
    topic: String,
    body: Vec<u8>,
    keys: Option<String>,
    reconsume_times: i32,
    at: Instant,
}

/// Records every delivery and always asks for a later retry.
struct AlwaysFail {
    log: Arc<Mutex<Vec<Delivery>>>,
}

impl MessageListenerConcurrently for AlwaysFail {
    fn consume_message(
        &self,
        msgs: &[&MessageExt],
        _context: &ConsumeConcurrentlyContext,
    ) -> rocketmq_client_rust::ClientResult<ConsumeConcurrentlyStatus> {
        let mut log = self.log.lock().unwrap();
        for m in msgs {
            log.push(Delivery {
                topic: m.topic().to_string(),
                body: m.body().map(|b| b.to_vec()).unwrap_or_default(),
                keys: m.message_inner().keys().map(|k| k.join(" ")),
                reconsume_times: m.reconsume_times(),
                at: Instant::now(),
            });
        }
        Ok(ConsumeConcurrentlyStatus::ReconsumeLater)
    }
}

fn ext_i64(frame: &RawFrame, key: &str) -> i64 {
    match frame.ext(key) {
        Some(serde_json::Value::String(s)) => s.parse().unwrap(),
        Some(v) => v.as_i64().unwrap(),
        None => panic!("no {key} in {:?}", frame.header),
    }
}

/// GET_MAX_OFFSET of `topic` queue 0, and QUERY_MESSAGE by key on it (records as raw bytes).
async fn dlq_state(conn: &mut RawConnection, topic: &str, key: &str) -> (i64, RawFrame) {
    let max = conn
        .request(
            &java_header(30, 479, 1, &[("topic", topic), ("queueId", "0")]),
            b"",
        )
        .await
        .unwrap();
    let found = conn
        .request(
            &java_header(
                12,
                479,
                2,
                &[
                    ("topic", topic),
                    ("key", key),
                    ("maxNum", "32"),
                    ("beginTimestamp", "0"),
                    ("endTimestamp", "9223372036854775807"),
                ],
            ),
            b"",
        )
        .await
        .unwrap();
    let offset = if max.code() == Some(0) {
        ext_i64(&max, "offset")
    } else {
        0
    };
    (offset, found)
}

/// The broker's Prometheus text (`/metrics`).
async fn broker_metrics(config_path: &std::path::Path) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let conf = std::fs::read_to_string(config_path).unwrap();
    let port = conf
        .lines()
        .find_map(|l| l.strip_prefix("metricsPromExporterPort="))
        .expect("metrics port in broker.conf")
        .trim()
        .to_string();
    let mut stream = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    text
}

/// How many CONSUMER_SEND_MSG_BACK requests the broker answered with SUCCESS
/// (`rocketmq_rpc_latency`): proves the client's retries went through the broker's send-back,
/// not the client's fallback of a plain send to %RETRY%group.
fn send_backs_answered(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("rocketmq_rpc_latency_bucket{")
                && l.contains("request_code=\"consumer_send_msg_back\"")
                && l.contains("response_code=\"success\"")
                && l.contains("le=\"+Inf\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// `rocketmq_send_to_dlq_messages_total` of `group` and `topic`.
fn sent_to_dlq(metrics: &str, group: &str, topic: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("rocketmq_send_to_dlq_messages_total{")
                && l.contains(&format!("consumer_group=\"{group}\""))
                && l.contains(&format!("topic=\"{topic}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_failing_rust_listener_ends_in_the_dlq() {
    support::init_logging();
    let spec = BrokerSpec::default().with("messageDelayLevel", &vec!["1s"; 18].join(" "));
    let cluster = Cluster::start(nameserver_bin!(), broker_bin!(), 1, vec![spec])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ns = cluster.namesrv_addr();
    let client = RustClient::new("interop-retry");
    let mut producer = client.producer("it-retry-producer", &ns).await;
    producer
        .create_topic("TBW102", TOPIC, 2, HashMap::new())
        .await
        .unwrap_or_else(|e| panic!("create_topic failed: {}", error_chain(&e)));
    cluster.nameservers[0]
        .wait_for_route(TOPIC, Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let body = format!("interop-retry-{}", now_millis()).into_bytes();
    let message = Message::builder()
        .topic(TOPIC)
        .tags("TagR")
        .key("retry-key-1")
        .body(body.clone())
        .build_unchecked();
    match producer.send(message).await {
        Ok(Some(_)) => {}
        other => panic!("send failed: {other:?}"),
    }

    let log = Arc::new(Mutex::new(Vec::new()));
    let mut consumer = DefaultMQPushConsumer::builder(client.runtime.clone())
        .consumer_group(GROUP.to_string())
        .name_server_addr(ns.clone())
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .max_reconsume_times(MAX_RECONSUME)
        .build();
    consumer
        .subscribe(TOPIC, "*")
        .await
        .unwrap_or_else(|e| panic!("subscribe: {}", error_chain(&e)));
    consumer.register_message_listener_concurrently(AlwaysFail { log: log.clone() });
    consumer
        .start()
        .await
        .unwrap_or_else(|e| panic!("consumer start: {}", error_chain(&e)));

    let expected = (MAX_RECONSUME + 1) as usize;
    let dlq = format!("%DLQ%{GROUP}");
    let mut conn = RawConnection::connect(cluster.broker().socket_addr())
        .await
        .unwrap();
    // The client's route refresh (30 s) decides when it first reads %RETRY%group.
    let deadline = Instant::now() + Duration::from_secs(120);
    let (dlq_count, found) = loop {
        let state = dlq_state(&mut conn, &dlq, "retry-key-1").await;
        if (state.0 >= 1 && state.1.code() == Some(0)) || Instant::now() >= deadline {
            break state;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // No delivery may follow the move to the DLQ.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let deliveries = log.lock().unwrap().clone();
    assert_eq!(
        dlq_count,
        1,
        "one message in {dlq}; deliveries so far: {deliveries:?}\n{}",
        cluster.log_tails()
    );
    assert_eq!(
        deliveries.len(),
        expected,
        "delivered {} times, expected maxReconsumeTimes + 1 = {expected}: {deliveries:?}",
        deliveries.len()
    );
    let counts: Vec<i32> = deliveries.iter().map(|d| d.reconsume_times).collect();
    assert_eq!(
        counts,
        (0..=MAX_RECONSUME).collect::<Vec<_>>(),
        "{deliveries:?}"
    );
    for d in &deliveries {
        assert_eq!(d.topic, TOPIC, "{d:?}");
        assert_eq!(d.body, body, "{d:?}");
        assert_eq!(d.keys.as_deref(), Some("retry-key-1"), "{d:?}");
    }
    for pair in deliveries.windows(2) {
        assert!(
            pair[1].at.duration_since(pair[0].at) >= Duration::from_millis(900),
            "a retry came back sooner than its 1 s delay: {deliveries:?}"
        );
    }
    let metrics = broker_metrics(&cluster.broker().config_path).await;
    assert_eq!(
        send_backs_answered(&metrics),
        expected as u64,
        "every failed delivery was handed back with CONSUMER_SEND_MSG_BACK"
    );
    assert_eq!(
        sent_to_dlq(&metrics, GROUP, TOPIC),
        1,
        "the message's move to the DLQ is counted once"
    );
    assert_eq!(found.code(), Some(0), "{:?}", found.header);
    let contains = |needle: &[u8]| found.body.windows(needle.len()).any(|w| w == needle);
    assert!(contains(&body), "DLQ copy keeps the body");
    assert!(contains(b"KEYS\x01retry-key-1\x02") || contains(b"KEYS\x01retry-key-1"));
    assert!(contains(format!("RETRY_TOPIC\u{1}{TOPIC}").as_bytes()));

    consumer.shutdown().await;
    producer.shutdown().await;
    client.shutdown().await;
}
