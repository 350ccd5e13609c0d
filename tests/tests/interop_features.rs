//! Consumer features against real `mqnamesrv` + `mqbroker` processes (issue 6), each driven by
//! both rocketmq-client-rust and the Sluice client:
//!
//! - SQL92 filtering (`enablePropertyFilter=true`): `a > 5 AND b = 'x'` delivers exactly the
//!   matching messages, with missing properties and non-numeric `a` among them;
//! - orderly consumption: a group of consumers with a member added and one stopped while
//!   messages flow; messages are routed to queues by key, and no key's message is ever delivered
//!   before an earlier message of the same key;
//! - broadcasting: each of three consumers of one group receives every message;
//! - reset by time: the broker rewinds a running group to a point in time and its consumers
//!   receive the messages stored since then again (and not the older ones);
//! - delay level 2 (5 s): delivered no sooner than 5 s and no later than 6 s after the send.
//!
//! Each test starts its own cluster; they run one at a time (one lock) so that the timing of the
//! delay test is not disturbed by the others on a 2-core machine.
#![cfg(feature = "broker")]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rocketmq_client_rust::{
    ClientConfig as RustClientConfig, ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus,
    ConsumeOrderlyContext, ConsumeOrderlyStatus, DefaultMQProducer, DefaultMQPushConsumer,
    MQPushConsumer, MessageListenerConcurrently, MessageListenerOrderly, MessageSelector,
};
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere as RustFrom;
use rocketmq_model::common::message::message_ext::MessageExt as RustMessageExt;
use rocketmq_model::common::message::message_queue::MessageQueue as RustQueue;
use rocketmq_model::common::message::message_single::Message as RustMessage;
use rocketmq_protocol::protocol::heartbeat::message_model::MessageModel as RustModel;
use sluice_client::consumer::push::PushOptions;
use sluice_client::consumer::{ConsumeFromWhere, MessageModel};
use sluice_client::{
    Admin, ConsumeContext, ConsumeStatus, Message, MessageExt, OrderlyFn, OrderlyStatus, Producer,
    PushConsumer,
};
use sluice_remoting::body::TopicConfig;
use sluice_tests::{broker_bin, nameserver_bin, BrokerSpec, Cluster};
use support::{error_chain, RustClient};

/// One test at a time (see the module docs).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const SEND_TIMEOUT: Duration = Duration::from_secs(10);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One delivery as a listener saw it.
#[derive(Debug, Clone)]
struct Got {
    consumer: String,
    body: String,
    queue_id: i32,
    at: Instant,
}

/// Deliveries shared by every consumer of one scenario, in arrival order.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Got>>>);

impl Log {
    fn push(&self, consumer: &str, body: String, queue_id: i32) {
        let got = Got {
            consumer: consumer.to_string(),
            body,
            queue_id,
            at: Instant::now(),
        };
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(got);
    }

    fn snapshot(&self) -> Vec<Got> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn bodies_of(&self, consumer: &str) -> Vec<String> {
        self.snapshot()
            .into_iter()
            .filter(|g| g.consumer == consumer)
            .map(|g| g.body)
            .collect()
    }

    /// Waits until `done` holds for the deliveries, panicking with `what` after `limit`.
    async fn wait_until(&self, what: &str, limit: Duration, done: impl Fn(&[Got]) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            let seen = self.snapshot();
            if done(&seen) {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{what}: not reached after {limit:?}; {} deliveries",
                    seen.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until no delivery arrived for `quiet` (bounded by `limit`).
    async fn settle(&self, quiet: Duration, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut last = self.len();
        let mut since = Instant::now();
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let n = self.len();
            if n != last {
                last = n;
                since = Instant::now();
            } else if since.elapsed() >= quiet {
                return;
            }
        }
    }
}

fn body_of(m: &RustMessageExt) -> String {
    m.body()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn sluice_body(m: &MessageExt) -> String {
    String::from_utf8_lossy(m.body()).into_owned()
}

/// A rocketmq-client-rust concurrent listener writing to a [`Log`].
struct RustConcurrent {
    name: String,
    log: Log,
}

impl MessageListenerConcurrently for RustConcurrent {
    fn consume_message(
        &self,
        msgs: &[&RustMessageExt],
        _context: &ConsumeConcurrentlyContext,
    ) -> rocketmq_client_rust::ClientResult<ConsumeConcurrentlyStatus> {
        for m in msgs {
            self.log.push(&self.name, body_of(m), m.queue_id());
        }
        Ok(ConsumeConcurrentlyStatus::ConsumeSuccess)
    }
}

/// A rocketmq-client-rust orderly listener writing to a [`Log`].
struct RustOrderly {
    name: String,
    log: Log,
}

impl MessageListenerOrderly for RustOrderly {
    fn consume_message(
        &self,
        msgs: &[&RustMessageExt],
        _context: &mut ConsumeOrderlyContext,
    ) -> rocketmq_client_rust::ClientResult<ConsumeOrderlyStatus> {
        for m in msgs {
            self.log.push(&self.name, body_of(m), m.queue_id());
        }
        // A little work per batch, so that queues are busy when the group changes.
        std::thread::sleep(Duration::from_millis(2));
        Ok(ConsumeOrderlyStatus::Success)
    }
}

/// How a rocketmq-client-rust push consumer is set up.
struct RustPush<'a> {
    group: &'a str,
    /// Its own client instance name: two consumers of one group in one process need two.
    instance: &'a str,
    topic: &'a str,
    selector: MessageSelector,
    model: RustModel,
    orderly: bool,
}

async fn rust_push(
    client: &RustClient,
    cluster: &Cluster,
    spec: RustPush<'_>,
    log: &Log,
) -> DefaultMQPushConsumer {
    let who = format!("{}/{}", spec.group, spec.instance);
    try_rust_push(client, cluster, spec, log)
        .await
        .unwrap_or_else(|e| panic!("consumer {who}: {e}\n{}", cluster.log_tails()))
}

/// A started rocketmq-client-rust push consumer, or why it could not start.
async fn try_rust_push(
    client: &RustClient,
    cluster: &Cluster,
    spec: RustPush<'_>,
    log: &Log,
) -> Result<DefaultMQPushConsumer, String> {
    let ns = cluster.namesrv_addr();
    let mut config = RustClientConfig::default();
    // Unique in the process: rocketmq-client-rust shares client instances by client id.
    config.set_instance_name(
        format!("{}-{}-{}", spec.group, spec.instance, std::process::id()).into(),
    );
    let mut consumer = DefaultMQPushConsumer::builder(client.runtime.clone())
        .client_config(config)
        .consumer_group(spec.group.to_string())
        .name_server_addr(ns.to_string())
        .message_model(spec.model)
        .consume_from_where(RustFrom::ConsumeFromFirstOffset)
        .build();
    if let Err(e) = consumer
        .subscribe_with_selector(spec.topic, Some(spec.selector))
        .await
    {
        return Err(format!("could not subscribe: {}", error_chain(&e)));
    }
    let name = spec.instance.to_string();
    if spec.orderly {
        consumer.register_message_listener_orderly(RustOrderly {
            name,
            log: log.clone(),
        });
    } else {
        consumer.register_message_listener_concurrently(RustConcurrent {
            name,
            log: log.clone(),
        });
    }
    if let Err(e) = consumer.start().await {
        return Err(format!("did not start: {}", error_chain(&e)));
    }
    Ok(consumer)
}

/// How a Sluice push consumer is set up.
struct SluicePush<'a> {
    group: &'a str,
    name: &'a str,
    topic: &'a str,
    /// `Some(expr)`: a SQL92 subscription; `None`: every message.
    sql: Option<&'a str>,
    model: MessageModel,
    orderly: bool,
    local_offset_dir: Option<std::path::PathBuf>,
}

async fn sluice_push(ns: &str, spec: SluicePush<'_>, log: &Log) -> PushConsumer {
    let mut options = PushOptions {
        message_model: spec.model,
        consume_from_where: ConsumeFromWhere::ConsumeFromFirstOffset,
        rebalance_interval: Duration::from_secs(5),
        ..PushOptions::default()
    };
    if let Some(dir) = spec.local_offset_dir {
        options.local_offset_dir = dir;
    }
    let builder = PushConsumer::builder(spec.group)
        .namesrv_addr(ns)
        .options(options);
    let builder = match spec.sql {
        Some(sql) => builder.subscribe_sql92(spec.topic, sql),
        None => builder.subscribe(spec.topic, "*"),
    };
    let (name, log) = (spec.name.to_string(), log.clone());
    let builder = if spec.orderly {
        builder.orderly_listener(OrderlyFn(
            move |msgs: Vec<MessageExt>, _c: ConsumeContext| {
                for m in &msgs {
                    log.push(&name, sluice_body(m), m.record.queue_id);
                }
                async {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    OrderlyStatus::Success
                }
            },
        ))
    } else {
        builder.listener(move |msgs: Vec<MessageExt>, _c: ConsumeContext| {
            for m in &msgs {
                log.push(&name, sluice_body(m), m.record.queue_id);
            }
            async { ConsumeStatus::ConsumeSuccess }
        })
    };
    let consumer = builder
        .build()
        .unwrap_or_else(|e| panic!("Sluice consumer {}: {e}", spec.name));
    consumer
        .start()
        .await
        .unwrap_or_else(|e| panic!("Sluice consumer {} did not start: {e}", spec.name));
    consumer
}

/// The broker binary: `SLUICE_IT_MQBROKER` when set, else this package's `it-mqbroker`.
/// Worktrees that share one `CARGO_TARGET_DIR` overwrite each other's `target/debug/it-mqbroker`
/// (the uplifted copy); pointing this at `target/debug/deps/it_mqbroker-<hash>` pins the build
/// of this checkout.
fn broker_binary() -> std::path::PathBuf {
    std::env::var_os("SLUICE_IT_MQBROKER")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| broker_bin!().into())
}

/// A cluster of one NameServer and one broker with `extra` broker.conf entries, and `topics`
/// with `queues` queues each, routed by the NameServer.
async fn cluster_with_topics(
    extra: &[(&str, &str)],
    topics: &[&str],
    queues: i32,
) -> (Cluster, Admin) {
    support::init_logging();
    let mut spec = BrokerSpec::default();
    for (k, v) in extra {
        spec = spec.with(k, v);
    }
    let cluster = Cluster::start(nameserver_bin!(), broker_binary(), 1, vec![spec])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let admin = Admin::new(&cluster.namesrv_addr()).expect("admin client");
    for topic in topics {
        let mut config = TopicConfig::new(*topic);
        config.read_queue_nums = queues;
        config.write_queue_nums = queues;
        admin
            .create_topic(&cluster.broker().addr(), &config)
            .await
            .unwrap_or_else(|e| panic!("create topic {topic}: {e}"));
    }
    for topic in topics {
        cluster.nameservers[0]
            .wait_for_route(topic, Duration::from_secs(60))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    (cluster, admin)
}

async fn sluice_producer(ns: &str, group: &str) -> Producer {
    let producer = Producer::builder(group)
        .namesrv_addr(ns)
        .build()
        .expect("producer builds");
    producer.start().await.expect("producer starts");
    producer
}

async fn rust_send(producer: &DefaultMQProducer, message: RustMessage) {
    match producer.send(message).await {
        Ok(Some(_)) => {}
        Ok(None) => panic!("sync send returned no result"),
        Err(e) => panic!("send failed: {}", error_chain(&e)),
    }
}

// ---------------------------------------------------------------------------------------------
// SQL92

const FILTER: &str = "a > 5 AND b = 'x'";

/// Message `i`'s properties `a` and `b` (either may be missing) and whether it matches
/// [`FILTER`]: `a` is compared as a Java int, so `abc` and `7.5` never match.
fn sql_case(i: usize) -> (Option<String>, Option<String>, bool) {
    let a = match i % 6 {
        0 => None,
        1 => Some("abc".to_string()),
        2 => Some("7.5".to_string()),
        _ => Some((i % 13).to_string()),
    };
    let b = match i % 4 {
        0 => None,
        1 => Some("y".to_string()),
        _ => Some("x".to_string()),
    };
    let matches = b.as_deref() == Some("x")
        && a.as_deref()
            .and_then(|a| a.parse::<i32>().ok())
            .is_some_and(|a| a > 5);
    (a, b, matches)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql92_filter_delivers_exactly_the_matching_messages() {
    let _serial = SERIAL.lock().await;
    const TOPIC: &str = "FeatSql";
    const N: usize = 60;
    let (cluster, _admin) =
        cluster_with_topics(&[("enablePropertyFilter", "true")], &[TOPIC], 4).await;
    let ns = cluster.namesrv_addr();
    let client = RustClient::new("feat-sql");
    let log = Log::default();
    let mut rust_consumer = rust_push(
        &client,
        &cluster,
        RustPush {
            group: "feat-sql-rust",
            instance: "rust",
            topic: TOPIC,
            selector: MessageSelector::by_sql(FILTER),
            model: RustModel::Clustering,
            orderly: false,
        },
        &log,
    )
    .await;
    let sluice_consumer = sluice_push(
        &ns,
        SluicePush {
            group: "feat-sql-sluice",
            name: "sluice",
            topic: TOPIC,
            sql: Some(FILTER),
            model: MessageModel::Clustering,
            orderly: false,
            local_offset_dir: None,
        },
        &log,
    )
    .await;

    // Half the messages from each client.
    let sluice = sluice_producer(&ns, "feat-sql-producer").await;
    let rust = client.producer("feat-sql-rust-producer", &ns).await;
    let mut expected = BTreeSet::new();
    for i in 0..N {
        let (a, b, matches) = sql_case(i);
        let body = format!("sql-{i:02}");
        if matches {
            expected.insert(body.clone());
        }
        if i % 2 == 0 {
            let mut m = Message::new(TOPIC, body.clone()).with_tags("T");
            if let Some(a) = &a {
                m = m.with_property("a", a);
            }
            if let Some(b) = &b {
                m = m.with_property("b", b);
            }
            sluice.send(m, SEND_TIMEOUT).await.expect("send");
        } else {
            let mut builder = RustMessage::builder()
                .topic(TOPIC)
                .tags("T")
                .body(body.into_bytes());
            if let Some(a) = &a {
                builder = builder.raw_property("a", a.as_str()).expect("property a");
            }
            if let Some(b) = &b {
                builder = builder.raw_property("b", b.as_str()).expect("property b");
            }
            rust_send(&rust, builder.build_unchecked()).await;
        }
    }
    assert!(
        expected.len() >= 8 && expected.len() < N / 2,
        "{expected:?}"
    );

    for who in ["rust", "sluice"] {
        log.wait_until(who, Duration::from_secs(40), |seen| {
            seen.iter().filter(|g| g.consumer == who).count() >= expected.len()
        })
        .await;
    }
    log.settle(Duration::from_secs(3), Duration::from_secs(20))
        .await;
    for who in ["rust", "sluice"] {
        let bodies = log.bodies_of(who);
        let got: BTreeSet<String> = bodies.iter().cloned().collect();
        assert_eq!(got, expected, "{who} consumer: wrong set");
        assert_eq!(bodies.len(), expected.len(), "{who} consumer: duplicates");
    }
    // The Sluice pull consumer carries its SQL92 subscription in each pull (FLAG_SUBSCRIPTION).
    let pull = sluice_client::PullConsumer::builder("feat-sql-pull")
        .namesrv_addr(ns.as_str())
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .long_poll(Duration::from_secs(1))
        .build()
        .expect("pull consumer builds");
    pull.start().await.expect("pull consumer starts");
    pull.subscribe_sql92(TOPIC, FILTER).expect("subscribe");
    let mut pulled = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while pulled.len() < expected.len() && Instant::now() < deadline {
        for m in pull.poll(Duration::from_millis(500)).await.expect("poll") {
            pulled.push(sluice_body(&m));
        }
    }
    // Nothing more arrives.
    for m in pull.poll(Duration::from_secs(2)).await.expect("poll") {
        pulled.push(sluice_body(&m));
    }
    pulled.sort();
    assert_eq!(
        pulled,
        expected.iter().cloned().collect::<Vec<_>>(),
        "Sluice pull consumer"
    );
    pull.shutdown().await;

    // A malformed expression: the broker's CHECK_CLIENT_CONFIG answer stops the start of a
    // rocketmq-client-rust consumer, with the parse error.
    let refused = try_rust_push(
        &client,
        &cluster,
        RustPush {
            group: "feat-sql-bad",
            instance: "bad",
            topic: TOPIC,
            selector: MessageSelector::by_sql("a > AND b = 'x'"),
            model: RustModel::Clustering,
            orderly: false,
        },
        &log,
    )
    .await;
    match refused {
        Ok(mut c) => {
            c.shutdown().await;
            panic!("a consumer with a malformed SQL92 expression started");
        }
        Err(e) => assert!(e.contains("invalid SQL92 filter"), "{e}"),
    }
    rust_consumer.shutdown().await;
    sluice_consumer.shutdown().await;
    sluice.shutdown().await;
    client.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Orderly

const ORDER_KEYS: usize = 12;
const ORDER_MESSAGES: usize = 360;

fn order_body(key: usize, seq: usize) -> String {
    format!("k{key:02}-{seq:04}")
}

fn parse_order_body(body: &str) -> (usize, usize) {
    let (k, s) = body.split_once('-').expect("key-seq body");
    (k[1..].parse().unwrap(), s.parse().unwrap())
}

/// The per-key order check over the whole group's deliveries (in arrival order): a key's
/// message is never delivered before every earlier message of that key has been (a rebalance may
/// deliver a message again, never skip ahead); every message is delivered. Returns the number of
/// repeated deliveries.
fn check_key_order(deliveries: &[Got], queues: i32) -> usize {
    let mut next: BTreeMap<usize, usize> = BTreeMap::new();
    let mut repeats = 0;
    for g in deliveries {
        let (key, seq) = parse_order_body(&g.body);
        assert_eq!(
            g.queue_id,
            (key % queues as usize) as i32,
            "message {} was sent to its key's queue",
            g.body
        );
        let want = next.entry(key).or_insert(0);
        assert!(
            seq <= *want,
            "key {key}: {} delivered (by {}) before seq {want}",
            g.body,
            g.consumer
        );
        if seq == *want {
            *want += 1;
        } else {
            repeats += 1;
        }
    }
    let per_key = ORDER_MESSAGES / ORDER_KEYS;
    for key in 0..ORDER_KEYS {
        assert_eq!(
            next.get(&key).copied(),
            Some(per_key),
            "key {key} incomplete"
        );
    }
    repeats
}

/// Sends `ORDER_MESSAGES` (key i % 12, its per-key sequence) spread over a few seconds,
/// calling `phase(k)` after each third.
async fn send_ordered<F, SendFut, P, PhaseFut>(mut send: F, mut phase: P)
where
    F: FnMut(usize, usize) -> SendFut,
    SendFut: std::future::Future<Output = ()>,
    P: FnMut(usize) -> PhaseFut,
    PhaseFut: std::future::Future<Output = ()>,
{
    for i in 0..ORDER_MESSAGES {
        let key = i % ORDER_KEYS;
        send(key, i / ORDER_KEYS).await;
        if i % 20 == 19 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if (i + 1) % (ORDER_MESSAGES / 3) == 0 && i + 1 < ORDER_MESSAGES {
            phase((i + 1) / (ORDER_MESSAGES / 3)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orderly_group_keeps_per_key_order_through_a_rebalance() {
    let _serial = SERIAL.lock().await;
    const QUEUES: i32 = 6;
    // One topic per client: both groups read from the first offset.
    const TOPIC: &str = "FeatOrderRust";
    const SLUICE_TOPIC: &str = "FeatOrderSluice";
    let (cluster, _admin) = cluster_with_topics(&[], &[TOPIC, SLUICE_TOPIC], QUEUES).await;
    let ns = cluster.namesrv_addr();
    let per_run = Duration::from_secs(60);

    // rocketmq-client-rust: start two members, add a third after a third of the messages,
    // stop the first after two thirds.
    let client = RustClient::new("feat-order");
    let producer = client.producer("feat-order-producer", &ns).await;
    let log = Log::default();
    let member = |instance: &'static str| RustPush {
        group: "feat-order-rust",
        instance,
        topic: TOPIC,
        selector: MessageSelector::by_tag("*"),
        model: RustModel::Clustering,
        orderly: true,
    };
    let members = Arc::new(tokio::sync::Mutex::new(vec![
        rust_push(&client, &cluster, member("r1"), &log).await,
        rust_push(&client, &cluster, member("r2"), &log).await,
    ]));
    let producer_ref = &producer;
    send_ordered(
        |key, seq| async move {
            let m = RustMessage::builder()
                .topic(TOPIC)
                .key(format!("order-{key}"))
                .body(order_body(key, seq).into_bytes())
                .build_unchecked();
            let selector = |queues: &[RustQueue], _m: &RustMessage, key: &usize| {
                queues
                    .iter()
                    .find(|q| q.queue_id() as usize == key % QUEUES as usize)
                    .cloned()
            };
            match producer_ref.send_with_selector(m, selector, key).await {
                Ok(Some(_)) => {}
                other => panic!(
                    "ordered send of key {key}: {:?}",
                    other.err().map(|e| error_chain(&e))
                ),
            }
        },
        |phase| {
            let (members, client, cluster, log) = (members.clone(), &client, &cluster, log.clone());
            async move {
                let mut members = members.lock().await;
                if phase == 1 {
                    members.push(rust_push(client, cluster, member("r3"), &log).await);
                } else {
                    let mut first = members.remove(0);
                    first.shutdown().await;
                }
            }
        },
    )
    .await;
    log.wait_until("rust orderly group", per_run, |seen| {
        seen.iter()
            .map(|g| g.body.clone())
            .collect::<BTreeSet<_>>()
            .len()
            == ORDER_MESSAGES
    })
    .await;
    log.settle(Duration::from_secs(2), Duration::from_secs(20))
        .await;
    let rust_log = log.snapshot();
    let repeats = check_key_order(&rust_log, QUEUES);
    let r3 = rust_log.iter().filter(|g| g.consumer == "r3").count();
    assert!(r3 > 0, "the member added during the run got queues");
    eprintln!(
        "rocketmq-client-rust orderly: {} deliveries, {repeats} repeated, r3 took {r3}",
        rust_log.len()
    );
    for mut m in members.lock().await.drain(..) {
        m.shutdown().await;
    }

    // The Sluice client: the same scenario with its own group.
    let sluice = sluice_producer(&ns, "feat-order-sluice-producer").await;
    let log = Log::default();
    let member = |name: &'static str| SluicePush {
        group: "feat-order-sluice",
        name,
        topic: SLUICE_TOPIC,
        sql: None,
        model: MessageModel::Clustering,
        orderly: true,
        local_offset_dir: None,
    };
    let members = Arc::new(tokio::sync::Mutex::new(vec![
        sluice_push(&ns, member("s1"), &log).await,
        sluice_push(&ns, member("s2"), &log).await,
    ]));
    let sluice_ref = &sluice;
    send_ordered(
        |key, seq| async move {
            let m = Message::new(SLUICE_TOPIC, order_body(key, seq))
                .with_keys([format!("order-{key}")]);
            sluice_ref
                .send_with_selector(
                    m,
                    |queues: &[sluice_client::MessageQueue], _m: &Message| {
                        queues
                            .iter()
                            .find(|q| q.queue_id as usize == key % QUEUES as usize)
                            .cloned()
                    },
                    SEND_TIMEOUT,
                )
                .await
                .unwrap_or_else(|e| panic!("ordered send of key {key}: {e}"));
        },
        |phase| {
            let (members, ns, log) = (members.clone(), ns.clone(), log.clone());
            async move {
                let mut members = members.lock().await;
                if phase == 1 {
                    members.push(sluice_push(&ns, member("s3"), &log).await);
                } else {
                    let first = members.remove(0);
                    first.shutdown().await;
                }
            }
        },
    )
    .await;
    log.wait_until("sluice orderly group", per_run, |seen| {
        seen.iter()
            .map(|g| g.body.clone())
            .collect::<BTreeSet<_>>()
            .len()
            == ORDER_MESSAGES
    })
    .await;
    log.settle(Duration::from_secs(2), Duration::from_secs(20))
        .await;
    let sluice_log = log.snapshot();
    let repeats = check_key_order(&sluice_log, QUEUES);
    let s3 = sluice_log.iter().filter(|g| g.consumer == "s3").count();
    assert!(s3 > 0, "the member added during the run got queues");
    eprintln!(
        "Sluice orderly: {} deliveries, {repeats} repeated, s3 took {s3}",
        sluice_log.len()
    );
    for m in members.lock().await.drain(..) {
        m.shutdown().await;
    }
    sluice.shutdown().await;
    drop(producer);
    client.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Broadcasting

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasting_consumers_each_receive_every_message() {
    let _serial = SERIAL.lock().await;
    const TOPIC: &str = "FeatBroadcast";
    const N: usize = 40;
    let (cluster, _admin) = cluster_with_topics(&[], &[TOPIC], 4).await;
    let ns = cluster.namesrv_addr();
    let client = RustClient::new("feat-bc");
    let offsets_dir = tempfile::tempdir().expect("temp dir");
    let log = Log::default();
    let mut rust_consumers = Vec::new();
    for instance in ["r1", "r2", "r3"] {
        rust_consumers.push(
            rust_push(
                &client,
                &cluster,
                RustPush {
                    group: "feat-bc-rust",
                    instance,
                    topic: TOPIC,
                    selector: MessageSelector::by_tag("*"),
                    model: RustModel::Broadcasting,
                    orderly: false,
                },
                &log,
            )
            .await,
        );
    }
    let mut sluice_consumers = Vec::new();
    for name in ["s1", "s2", "s3"] {
        sluice_consumers.push(
            sluice_push(
                &ns,
                SluicePush {
                    group: "feat-bc-sluice",
                    name,
                    topic: TOPIC,
                    sql: None,
                    model: MessageModel::Broadcasting,
                    orderly: false,
                    local_offset_dir: Some(offsets_dir.path().join(name)),
                },
                &log,
            )
            .await,
        );
    }
    let sluice = sluice_producer(&ns, "feat-bc-producer").await;
    let rust = client.producer("feat-bc-rust-producer", &ns).await;
    let mut expected = BTreeSet::new();
    for i in 0..N {
        let body = format!("bc-{i:02}");
        expected.insert(body.clone());
        if i % 2 == 0 {
            sluice
                .send(Message::new(TOPIC, body), SEND_TIMEOUT)
                .await
                .expect("send");
        } else {
            let m = RustMessage::builder()
                .topic(TOPIC)
                .body(body.into_bytes())
                .build_unchecked();
            rust_send(&rust, m).await;
        }
    }
    let consumers = ["r1", "r2", "r3", "s1", "s2", "s3"];
    log.wait_until(
        "every broadcasting consumer",
        Duration::from_secs(40),
        |seen| {
            consumers
                .iter()
                .all(|c| seen.iter().filter(|g| g.consumer == *c).count() >= N)
        },
    )
    .await;
    log.settle(Duration::from_secs(3), Duration::from_secs(20))
        .await;
    for c in consumers {
        let bodies = log.bodies_of(c);
        let got: BTreeSet<String> = bodies.iter().cloned().collect();
        assert_eq!(got, expected, "{c}: wrong set");
        assert_eq!(bodies.len(), N, "{c}: duplicates");
    }
    // Broadcasting members each read every queue: the broker sees each group's members.
    for mut c in rust_consumers {
        c.shutdown().await;
    }
    for c in sluice_consumers {
        c.shutdown().await;
    }
    sluice.shutdown().await;
    client.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Reset by time

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_by_time_rewinds_a_running_group() {
    let _serial = SERIAL.lock().await;
    const TOPIC: &str = "FeatReset";
    const N: usize = 12;
    let (cluster, admin) = cluster_with_topics(&[], &[TOPIC], 4).await;
    let ns = cluster.namesrv_addr();
    let broker = cluster.broker().addr();
    let client = RustClient::new("feat-reset");
    let log = Log::default();
    let mut rust_consumer = rust_push(
        &client,
        &cluster,
        RustPush {
            group: "feat-reset-rust",
            instance: "rust",
            topic: TOPIC,
            selector: MessageSelector::by_tag("*"),
            model: RustModel::Clustering,
            orderly: false,
        },
        &log,
    )
    .await;
    let sluice_consumer = sluice_push(
        &ns,
        SluicePush {
            group: "feat-reset-sluice",
            name: "sluice",
            topic: TOPIC,
            sql: None,
            model: MessageModel::Clustering,
            orderly: false,
            local_offset_dir: None,
        },
        &log,
    )
    .await;
    let producer = sluice_producer(&ns, "feat-reset-producer").await;
    let send_batch = |prefix: &'static str| {
        let producer = &producer;
        async move {
            for i in 0..N {
                producer
                    .send(
                        Message::new(TOPIC, format!("{prefix}-{i:02}")),
                        SEND_TIMEOUT,
                    )
                    .await
                    .expect("send");
            }
        }
    };
    let count = |seen: &[Got], who: &str, prefix: &str| {
        seen.iter()
            .filter(|g| g.consumer == who && g.body.starts_with(prefix))
            .count()
    };
    send_batch("old").await;
    for who in ["rust", "sluice"] {
        log.wait_until("old batch", Duration::from_secs(40), |seen| {
            count(seen, who, "old-") >= N
        })
        .await;
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let since = now_ms();
    tokio::time::sleep(Duration::from_millis(200)).await;
    send_batch("new").await;
    for who in ["rust", "sluice"] {
        log.wait_until("new batch", Duration::from_secs(40), |seen| {
            count(seen, who, "new-") >= N
        })
        .await;
    }
    log.settle(Duration::from_secs(1), Duration::from_secs(10))
        .await;

    for group in ["feat-reset-rust", "feat-reset-sluice"] {
        let body = admin
            .reset_offset(&broker, TOPIC, group, since, true, None)
            .await
            .unwrap_or_else(|e| panic!("reset {group}: {e}"));
        let rewound: i64 = body.offset_table.values().sum();
        // Every queue moved to its first "new" message: N "old" ones stay behind.
        assert_eq!(rewound, N as i64, "{group}: {body:?}");
    }
    for who in ["rust", "sluice"] {
        log.wait_until(
            &format!("{who} consumer receives the new batch again"),
            Duration::from_secs(40),
            |seen| count(seen, who, "new-") >= 2 * N,
        )
        .await;
    }
    log.settle(Duration::from_secs(3), Duration::from_secs(20))
        .await;
    let seen = log.snapshot();
    for who in ["rust", "sluice"] {
        assert_eq!(
            count(&seen, who, "old-"),
            N,
            "{who}: older messages replayed"
        );
        assert_eq!(count(&seen, who, "new-"), 2 * N, "{who}: replay count");
    }
    rust_consumer.shutdown().await;
    sluice_consumer.shutdown().await;
    producer.shutdown().await;
    client.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Delay level 2

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_level_two_arrives_between_five_and_six_seconds() {
    let _serial = SERIAL.lock().await;
    const TOPIC: &str = "FeatDelay";
    let (cluster, _admin) = cluster_with_topics(&[], &[TOPIC], 2).await;
    let ns = cluster.namesrv_addr();
    let client = RustClient::new("feat-delay");
    let log = Log::default();
    let mut rust_consumer = rust_push(
        &client,
        &cluster,
        RustPush {
            group: "feat-delay-rust",
            instance: "rust",
            topic: TOPIC,
            selector: MessageSelector::by_tag("*"),
            model: RustModel::Clustering,
            orderly: false,
        },
        &log,
    )
    .await;
    let sluice_consumer = sluice_push(
        &ns,
        SluicePush {
            group: "feat-delay-sluice",
            name: "sluice",
            topic: TOPIC,
            sql: None,
            model: MessageModel::Clustering,
            orderly: false,
            local_offset_dir: None,
        },
        &log,
    )
    .await;
    let sluice = sluice_producer(&ns, "feat-delay-producer").await;
    let rust = client.producer("feat-delay-rust-producer", &ns).await;
    // Warm up: both consumers own their queues and have pulls in flight.
    sluice
        .send(Message::new(TOPIC, "warm-up"), SEND_TIMEOUT)
        .await
        .expect("send");
    for who in ["rust", "sluice"] {
        log.wait_until("warm-up message", Duration::from_secs(40), |seen| {
            seen.iter()
                .any(|g| g.consumer == who && g.body == "warm-up")
        })
        .await;
    }

    let started = Instant::now();
    sluice
        .send(
            Message::new(TOPIC, "delayed-by-sluice").with_delay_level(2),
            SEND_TIMEOUT,
        )
        .await
        .expect("send");
    let sluice_sent = Instant::now();
    let m = RustMessage::builder()
        .topic(TOPIC)
        .body(b"delayed-by-rust".to_vec())
        .delay_level(2)
        .build_unchecked();
    let rust_started = Instant::now();
    rust_send(&rust, m).await;
    let rust_sent = Instant::now();
    let sends = [
        ("delayed-by-sluice", started, sluice_sent),
        ("delayed-by-rust", rust_started, rust_sent),
    ];
    for who in ["rust", "sluice"] {
        log.wait_until("delayed messages", Duration::from_secs(20), |seen| {
            seen.iter()
                .filter(|g| g.consumer == who && g.body.starts_with("delayed-"))
                .count()
                >= 2
        })
        .await;
    }
    for g in log
        .snapshot()
        .iter()
        .filter(|g| g.body.starts_with("delayed-"))
    {
        let (_, before, after) = sends
            .iter()
            .find(|(body, ..)| *body == g.body)
            .expect("known body");
        let earliest = g.at.duration_since(*before);
        let latest = g.at.saturating_duration_since(*after);
        assert!(
            earliest >= Duration::from_secs(5),
            "{} reached the {} consumer {earliest:?} after its send began",
            g.body,
            g.consumer
        );
        assert!(
            latest <= Duration::from_secs(6),
            "{} reached the {} consumer {latest:?} after its send ended",
            g.body,
            g.consumer
        );
        eprintln!("{} -> {}: {earliest:?}", g.body, g.consumer);
    }
    rust_consumer.shutdown().await;
    sluice_consumer.shutdown().await;
    sluice.shutdown().await;
    client.shutdown().await;
}
