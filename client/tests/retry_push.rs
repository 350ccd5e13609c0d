//! Retry and dead-letter delivery with the Sluice push consumer against an in-process NameServer
//! and broker: a listener that always asks to reconsume sees a message `maxReconsumeTimes + 1`
//! times (reconsume count 0, 1, …) and the message then sits in `%DLQ%group` with its body and
//! keys; a listener that fails once sees it twice and nothing reaches the DLQ; a DLQ message is
//! found with mqadmin and re-sent to its original topic with `queryMsgById -s true`.
//!
//! The broker runs with `messageDelayLevel` = 1 s at every level, so each retry waits about a
//! second instead of Apache's 10 s, 30 s, 1 min, ...

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sluice_broker::config::BrokerConfig;
use sluice_broker::Broker;
use sluice_client::admin::cli::run;
use sluice_client::admin::MessageQuery;
use sluice_client::consumer::push::PushOptions;
use sluice_client::{
    Admin, ConsumeContext, ConsumeFromWhere, ConsumeStatus, Message, MessageExt, Producer,
    PushConsumer, SendStatus,
};
use sluice_nameserver::config::NamesrvConfig;
use sluice_nameserver::NameServer;
use sluice_remoting::body::TopicConfig;
use sluice_remoting::message::property;

const MAX_RECONSUME: i32 = 2;

struct Cluster {
    namesrv: NameServer,
    broker: Broker,
    ns_addr: String,
    broker_addr: String,
    _dir: tempfile::TempDir,
}

impl Cluster {
    async fn start() -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let namesrv = NameServer::start(NamesrvConfig {
            listen_port: 0,
            bind_address: "127.0.0.1".into(),
            kv_config_path: dir.path().join("namesrv/kvConfig.json"),
            config_store_path: dir.path().join("namesrv/namesrv.properties"),
            ..Default::default()
        })
        .await
        .expect("NameServer");
        let ns_addr = format!("127.0.0.1:{}", namesrv.port());
        let mut config = BrokerConfig {
            broker_name: "broker-a".into(),
            ..Default::default()
        };
        config.listen_port = 0;
        config.broker_ip1 = "127.0.0.1".into();
        config.broker_ip2 = "127.0.0.1".into();
        config.metrics_prom_exporter_port = 0;
        config.namesrv_addr = Some(ns_addr.clone());
        config.store.store_path_root_dir = dir.path().join("broker");
        config.store.mapped_file_size_commit_log = 8 * 1024 * 1024;
        config.store.mapped_file_size_consume_queue = 20 * 1024;
        config.store.message_delay_level = vec!["1s"; 18].join(" ");
        let broker = Broker::start(config).await.expect("broker");
        broker.register_now().await;
        let broker_addr = broker.broker_addr();
        Cluster {
            namesrv,
            broker,
            ns_addr,
            broker_addr,
            _dir: dir,
        }
    }

    async fn create_topic(&self, admin: &Admin, name: &str) {
        let mut topic = TopicConfig::new(name);
        topic.read_queue_nums = 2;
        topic.write_queue_nums = 2;
        admin.create_topic(&self.broker_addr, &topic).await.unwrap();
        self.broker.register_now().await;
    }

    async fn producer(&self) -> Producer {
        let producer = Producer::builder("retry-producer")
            .namesrv_addr(self.ns_addr.as_str())
            .build()
            .unwrap();
        producer.start().await.unwrap();
        producer
    }

    async fn mqadmin(&self, args: &[&str]) -> String {
        let mut argv: Vec<&str> = args.to_vec();
        argv.extend(["-n", self.ns_addr.as_str()]);
        let mut out = String::new();
        match run(&argv, &mut out).await {
            Ok(()) => out,
            Err(e) => panic!("mqadmin {args:?} failed: {e}\n{out}"),
        }
    }

    async fn shutdown(self) {
        let _ = self.broker.shutdown().await;
        self.namesrv.shutdown(Duration::from_secs(1)).await;
    }
}

/// One delivery as the listener saw it.
#[derive(Clone, Debug)]
struct Delivery {
    topic: String,
    body: String,
    keys: Vec<String>,
    reconsume_times: i32,
    msg_id: String,
    at: Instant,
}

type Log = Arc<Mutex<Vec<Delivery>>>;

fn record(log: &Log, m: &MessageExt) {
    log.lock().unwrap().push(Delivery {
        topic: m.record.topic.clone(),
        body: String::from_utf8_lossy(m.body()).into_owned(),
        keys: m.keys().map(str::to_owned).collect(),
        reconsume_times: m.record.reconsume_times,
        msg_id: m.msg_id.clone(),
        at: Instant::now(),
    });
}

/// A clustering push consumer of `topic` whose listener records every delivery and answers
/// ReconsumeLater for the first `fail_first` deliveries of each message (usize::MAX: always).
fn consumer(
    cluster: &Cluster,
    group: &str,
    topic: &str,
    fail_first: usize,
    log: Log,
) -> PushConsumer {
    let attempts = Arc::new(Mutex::new(std::collections::HashMap::<String, usize>::new()));
    PushConsumer::builder(group)
        .namesrv_addr(cluster.ns_addr.as_str())
        .options(PushOptions {
            max_reconsume_times: MAX_RECONSUME,
            ..Default::default()
        })
        .subscribe(topic, "*")
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
            let log = log.clone();
            let attempts = attempts.clone();
            async move {
                let mut fail = false;
                for m in &msgs {
                    record(&log, m);
                    let mut a = attempts.lock().unwrap();
                    let n = a.entry(m.msg_id.clone()).or_insert(0);
                    *n += 1;
                    fail |= *n <= fail_first;
                }
                if fail {
                    ConsumeStatus::ReconsumeLater
                } else {
                    ConsumeStatus::ConsumeSuccess
                }
            }
        })
        .build()
        .unwrap()
}

async fn wait_for(log: &Log, n: usize, limit: Duration, what: &str) {
    let deadline = Instant::now() + limit;
    while log.lock().unwrap().len() < n {
        assert!(
            Instant::now() < deadline,
            "{what}: {} of {n} deliveries after {limit:?}: {:?}",
            log.lock().unwrap().len(),
            log.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Messages of `topic` with key `key` (index lookup, all brokers).
async fn query(admin: &Admin, topic: &str, key: &str) -> Vec<MessageExt> {
    admin
        .query_message_everywhere(&MessageQuery {
            topic,
            key,
            max: 32,
            begin: 0,
            end: i64::MAX,
            unique: false,
        })
        .await
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_failing_listener_sends_the_message_to_the_dlq() {
    let cluster = Cluster::start().await;
    let admin = Admin::new(&cluster.ns_addr).unwrap();
    cluster.create_topic(&admin, "RetryOrders").await;
    let producer = cluster.producer().await;
    let sent = producer
        .send(
            Message::new("RetryOrders", "order #1 body")
                .with_tags("TagA")
                .with_keys(["order-1"])
                .with_flag(7),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(sent.status, SendStatus::SendOk);

    let log: Log = Arc::default();
    let push = consumer(
        &cluster,
        "G_ALWAYS_FAIL",
        "RetryOrders",
        usize::MAX,
        log.clone(),
    );
    let started = Instant::now();
    push.start().await.unwrap();

    let expected = (MAX_RECONSUME + 1) as usize;
    wait_for(
        &log,
        expected,
        Duration::from_secs(60),
        "always-failing listener",
    )
    .await;
    // The message must now sit in the DLQ.
    let mut dlq = Vec::new();
    for _ in 0..100 {
        dlq = query(&admin, "%DLQ%G_ALWAYS_FAIL", "order-1").await;
        if !dlq.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And no further delivery comes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let deliveries = log.lock().unwrap().clone();
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
        assert_eq!(
            d.topic, "RetryOrders",
            "the listener sees the original topic: {d:?}"
        );
        assert_eq!(d.body, "order #1 body");
        assert_eq!(d.keys, ["order-1"]);
        assert_eq!(
            d.msg_id, sent.msg_id,
            "a retry keeps the client msgId: {d:?}"
        );
    }
    // Retries wait at least their delay level (1 s here).
    for pair in deliveries.windows(2) {
        assert!(
            pair[1].at.duration_since(pair[0].at) >= Duration::from_millis(900),
            "retry came back sooner than its 1 s delay: {deliveries:?}"
        );
    }

    assert_eq!(dlq.len(), 1, "one copy in the DLQ: {dlq:?}");
    let dead = &dlq[0];
    assert_eq!(dead.record.topic, "%DLQ%G_ALWAYS_FAIL");
    assert_eq!(&dead.body()[..], b"order #1 body");
    assert_eq!(dead.keys().collect::<Vec<_>>(), ["order-1"]);
    assert_eq!(dead.tags(), Some("TagA"));
    assert_eq!(dead.record.flag, 7);
    assert_eq!(dead.record.reconsume_times, MAX_RECONSUME + 1);
    assert_eq!(dead.property(property::RETRY_TOPIC), Some("RetryOrders"));
    assert_eq!(
        dead.property(property::ORIGIN_MESSAGE_ID),
        Some(sent.offset_msg_id.as_str()),
        "ORIGIN_MESSAGE_ID is the first delivery's offset msgId"
    );
    assert_eq!(dead.msg_id, sent.msg_id, "UNIQ_KEY kept");
    assert_ne!(
        dead.offset_msg_id, sent.offset_msg_id,
        "a new stored message"
    );

    // The DLQ topic is routable and readable: a pull from it returns the message.
    let pulled = admin
        .pull(
            &cluster.broker_addr,
            "TOOLS_CONSUMER",
            "%DLQ%G_ALWAYS_FAIL",
            0,
            0,
            32,
        )
        .await
        .unwrap();
    assert_eq!(pulled.messages.len(), 1, "{}", pulled.status);
    assert_eq!(&pulled.messages[0].body()[..], b"order #1 body");

    // mqadmin finds it by key, by unique key and by offset id on the DLQ topic.
    let out = cluster
        .mqadmin(&["queryMsgByKey", "-t", "%DLQ%G_ALWAYS_FAIL", "-k", "order-1"])
        .await;
    assert!(out.contains(&dead.msg_id), "{out}");
    let out = cluster
        .mqadmin(&[
            "queryMsgByUniqueKey",
            "-t",
            "%DLQ%G_ALWAYS_FAIL",
            "-i",
            &sent.msg_id,
        ])
        .await;
    assert!(
        out.contains("%DLQ%G_ALWAYS_FAIL") && out.contains("order #1 body"),
        "{out}"
    );
    let out = cluster
        .mqadmin(&[
            "queryMsgById",
            "-t",
            "%DLQ%G_ALWAYS_FAIL",
            "-i",
            &dead.offset_msg_id,
        ])
        .await;
    assert!(
        out.contains("order #1 body") && out.contains("RETRY_TOPIC"),
        "{out}"
    );

    // Re-sending the dead letter hands it back to its group alone (through %RETRY%group):
    // the group, its listener fixed, consumes it once more under the original topic.
    push.shutdown().await;
    let out = cluster
        .mqadmin(&[
            "queryMsgById",
            "-t",
            "%DLQ%G_ALWAYS_FAIL",
            "-i",
            &dead.offset_msg_id,
            "-s",
            "true",
        ])
        .await;
    assert!(
        out.contains("sendStatus=SEND_OK") && out.contains("%RETRY%G_ALWAYS_FAIL"),
        "{out}"
    );
    let healthy: Log = Arc::default();
    let fixed = consumer(&cluster, "G_ALWAYS_FAIL", "RetryOrders", 0, healthy.clone());
    fixed.start().await.unwrap();
    wait_for(&healthy, 1, Duration::from_secs(30), "re-sent dead letter").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = healthy.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "only the re-sent copy, once: {got:?}");
    assert_eq!(
        (
            got[0].topic.as_str(),
            got[0].body.as_str(),
            got[0].keys.clone(),
            got[0].reconsume_times
        ),
        (
            "RetryOrders",
            "order #1 body",
            vec!["order-1".to_string()],
            0
        ),
        "{got:?}"
    );
    fixed.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the retry scenario took {:?}",
        started.elapsed()
    );
    producer.shutdown().await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_that_fails_once_sees_the_message_twice_and_no_dlq() {
    let cluster = Cluster::start().await;
    let admin = Admin::new(&cluster.ns_addr).unwrap();
    cluster.create_topic(&admin, "RetryOnce").await;
    let producer = cluster.producer().await;
    for i in 0..3 {
        producer
            .send(
                Message::new("RetryOnce", format!("once-{i}")).with_keys([format!("once-key-{i}")]),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
    }
    let log: Log = Arc::default();
    let push = consumer(&cluster, "G_FAIL_ONCE", "RetryOnce", 1, log.clone());
    push.start().await.unwrap();
    wait_for(&log, 6, Duration::from_secs(60), "fail-once listener").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let deliveries = log.lock().unwrap().clone();
    assert_eq!(deliveries.len(), 6, "{deliveries:?}");
    for i in 0..3 {
        let body = format!("once-{i}");
        let mut counts: Vec<i32> = deliveries
            .iter()
            .filter(|d| d.body == body)
            .map(|d| d.reconsume_times)
            .collect();
        counts.sort_unstable();
        assert_eq!(counts, [0, 1], "{body}: {deliveries:?}");
    }
    for i in 0..3 {
        let found = query(&admin, "%DLQ%G_FAIL_ONCE", &format!("once-key-{i}")).await;
        assert!(found.is_empty(), "nothing goes to the DLQ: {found:?}");
    }
    // The retry copies went through the group's retry topic.
    let retried = query(&admin, "%RETRY%G_FAIL_ONCE", "once-key-0").await;
    assert_eq!(retried.len(), 1, "{retried:?}");
    assert_eq!(retried[0].record.reconsume_times, 1);
    push.shutdown().await;
    producer.shutdown().await;
    cluster.shutdown().await;
}
