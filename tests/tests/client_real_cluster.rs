//! The Sluice client against real `mqnamesrv` and `mqbroker` processes (this package's wrapper
//! binaries): produce/consume in every mode, a producer that keeps sending across a broker
//! restart, and a push group that rebalances as members join and leave. Each broker keeps its
//! store (64 MiB CommitLog segments) in a temporary directory.
#![cfg(feature = "broker")]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sluice_client::admin::MessageQuery;
use sluice_client::consumer::ConsumeFromWhere;
use sluice_client::{
    Admin, ConsumeContext, ConsumeStatus, Message, MessageExt, OrderlyFn, OrderlyStatus, Producer,
    PullConsumer, PushConsumer, SendStatus,
};
use sluice_remoting::body::TopicConfig;

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn binary(name: &str) -> PathBuf {
    PathBuf::from(match name {
        "mqnamesrv" => sluice_tests::nameserver_bin!(),
        _ => sluice_tests::broker_bin!(),
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_listening(addr: &str) {
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("nothing listens on {addr}");
}

fn body_text(m: &MessageExt) -> String {
    String::from_utf8_lossy(m.body()).into_owned()
}

struct Cluster {
    dir: tempfile::TempDir,
    ns_addr: String,
    broker_addr: String,
    broker_port: u16,
    _ns: Process,
    broker: Option<Process>,
}

impl Cluster {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ns_port = free_port();
        let ns_addr = format!("127.0.0.1:{ns_port}");
        let ns = Process(
            Command::new(binary("mqnamesrv"))
                .args(["--listen-port", &ns_port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        wait_listening(&ns_addr).await;
        let broker_port = free_port();
        let mut cluster = Cluster {
            dir,
            broker_addr: format!("127.0.0.1:{broker_port}"),
            ns_addr,
            broker_port,
            _ns: ns,
            broker: None,
        };
        cluster.start_broker().await;
        cluster
    }

    async fn start_broker(&mut self) {
        let conf = self.dir.path().join("broker.conf");
        std::fs::write(
            &conf,
            format!(
                "brokerClusterName=DefaultCluster\nbrokerName=broker-a\nbrokerId=0\nnamesrvAddr={}\n\
                 brokerIP1=127.0.0.1\nlistenPort={}\nstorePathRootDir={}\nflushDiskType=ASYNC_FLUSH\n\
                 autoCreateTopicEnable=true\nmappedFileSizeCommitLog=67108864\nmappedFileSizeConsumeQueue=600000\n",
                self.ns_addr,
                self.broker_port,
                self.dir.path().join("store").display()
            ),
        )
        .unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("broker.log"))
            .unwrap();
        self.broker = Some(Process(
            Command::new(binary("mqbroker"))
                .arg("-c")
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        ));
        wait_listening(&self.broker_addr).await;
    }

    fn kill_broker(&mut self) {
        self.broker = None;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_and_consume_against_real_processes() {
    let cluster = Cluster::start().await;
    let (ns_addr, broker_addr) = (cluster.ns_addr.clone(), cluster.broker_addr.clone());
    let admin = Admin::new(&ns_addr).unwrap();
    let mut registered = false;
    for _ in 0..250 {
        if admin.topic_route("TBW102").await.is_ok() {
            registered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(registered, "the broker never registered TBW102");
    let mut topic = TopicConfig::new("E2E");
    topic.read_queue_nums = 4;
    topic.write_queue_nums = 4;
    admin.create_topic(&broker_addr, &topic).await.unwrap();

    let producer = Producer::builder("e2e-producer")
        .namesrv_addr(ns_addr.as_str())
        .build()
        .unwrap();
    producer.start().await.unwrap();
    let t = Duration::from_secs(5);
    let mut sent = BTreeSet::new();
    // The topic reaches the NameServer with the broker's next registration; until then the
    // producer goes through TBW102's route and the broker already has the topic.
    for i in 0..40 {
        let body = format!("sync-{i}");
        let r = producer
            .send(
                Message::new("E2E", body.clone())
                    .with_tags(if i % 2 == 0 { "A" } else { "B" })
                    .with_keys([format!("key-{i}")]),
                t,
            )
            .await
            .unwrap_or_else(|e| panic!("send {i}: {e}"));
        assert_eq!(r.status, SendStatus::SendOk);
        sent.insert(body);
    }
    let batch: Vec<Message> = (0..10)
        .map(|i| Message::new("E2E", format!("batch-{i}")))
        .collect();
    let r = producer.send_batch(batch, t).await.unwrap();
    assert_eq!(r.offset_msg_id.split(',').count(), 10);
    sent.extend((0..10).map(|i| format!("batch-{i}")));
    let futures: Vec<_> = (0..20)
        .map(|i| producer.send_async(Message::new("E2E", format!("async-{i}")), t))
        .collect();
    for f in futures {
        f.await.unwrap();
    }
    sent.extend((0..20).map(|i| format!("async-{i}")));
    let big = "z".repeat(10_000);
    let r = producer
        .send(Message::new("E2E", big.clone()), t)
        .await
        .unwrap();
    sent.insert(big.clone());
    let viewed = admin.view_message(&r.offset_msg_id).await.unwrap();
    assert_eq!(
        body_text(&viewed),
        big,
        "compressed body inflated on the way back"
    );

    // Consumers need the topic in the NameServer (the broker's next registration, at most 30 s).
    let mut routed = false;
    for _ in 0..400 {
        if admin.topic_route("E2E").await.is_ok() {
            routed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        routed,
        "the broker never registered topic E2E with the NameServer"
    );

    // The index is built asynchronously after the store: ask until it has caught up.
    let mut by_key = Vec::new();
    let mut by_id = Vec::new();
    for _ in 0..100 {
        by_key = admin
            .query_message_everywhere(&MessageQuery {
                topic: "E2E",
                key: "key-7",
                max: 32,
                begin: 0,
                end: i64::MAX,
                unique: false,
            })
            .await
            .unwrap();
        by_id = admin
            .query_message_everywhere(&MessageQuery {
                topic: "E2E",
                key: &r.msg_id,
                max: 32,
                begin: 0,
                end: i64::MAX,
                unique: true,
            })
            .await
            .unwrap();
        if !by_key.is_empty() && !by_id.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(by_key.iter().map(body_text).collect::<Vec<_>>(), ["sync-7"]);
    assert_eq!(by_id.len(), 1);
    assert_eq!(body_text(&by_id[0]), big);

    // Pull consumer: everything, once.
    let pull = PullConsumer::builder("e2e-pull")
        .namesrv_addr(ns_addr.as_str())
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .long_poll(Duration::from_secs(1))
        .build()
        .unwrap();
    pull.start().await.unwrap();
    pull.subscribe("E2E", "*").unwrap();
    let mut got = BTreeSet::new();
    let mut duplicates = 0;
    for _ in 0..200 {
        for m in pull.poll(Duration::from_millis(500)).await.unwrap() {
            if !got.insert(body_text(&m)) {
                duplicates += 1;
            }
        }
        if got.len() == sent.len() {
            break;
        }
    }
    assert_eq!(got, sent);
    assert_eq!(duplicates, 0);
    pull.commit().await.unwrap();
    pull.shutdown().await;

    // Push consumer with a tag filter: only the A messages.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let push = PushConsumer::builder("e2e-push")
        .namesrv_addr(ns_addr.as_str())
        .subscribe("E2E", "A")
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
            let tx = tx.clone();
            async move {
                for m in msgs {
                    let _ = tx.send(body_text(&m));
                }
                ConsumeStatus::ConsumeSuccess
            }
        })
        .build()
        .unwrap();
    push.start().await.unwrap();
    let mut tagged = BTreeSet::new();
    while tagged.len() < 20 {
        let body = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("push consumer stalled")
            .unwrap();
        assert!(
            body.starts_with("sync-"),
            "untagged message {body} passed the filter"
        );
        tagged.insert(body);
    }
    push.shutdown().await;

    // Orderly consumer: per queue, offsets arrive strictly in order (the broker grants the locks).
    let (otx, mut orx) = tokio::sync::mpsc::unbounded_channel();
    let orderly = PushConsumer::builder("e2e-orderly")
        .namesrv_addr(ns_addr.as_str())
        .subscribe("E2E", "*")
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .orderly_listener(OrderlyFn(
            move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
                let otx = otx.clone();
                async move {
                    for m in msgs {
                        let _ = otx.send((m.record.queue_id, m.record.queue_offset));
                    }
                    OrderlyStatus::Success
                }
            },
        ))
        .build()
        .unwrap();
    orderly.start().await.unwrap();
    let mut last: std::collections::BTreeMap<i32, i64> = Default::default();
    let mut count = 0;
    while count < sent.len() {
        let (queue, offset) = tokio::time::timeout(Duration::from_secs(30), orx.recv())
            .await
            .expect("orderly consumer stalled")
            .unwrap();
        if let Some(prev) = last.insert(queue, offset) {
            assert!(offset > prev, "queue {queue}: offset {offset} after {prev}");
        }
        count += 1;
    }
    orderly.shutdown().await;
    producer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_fail_cleanly_while_the_broker_is_down_and_resume_after_restart() {
    let mut cluster = Cluster::start().await;
    let admin = Admin::new(&cluster.ns_addr).unwrap();
    let mut topic = TopicConfig::new("Restart");
    topic.read_queue_nums = 2;
    topic.write_queue_nums = 2;
    admin
        .create_topic(&cluster.broker_addr, &topic)
        .await
        .unwrap();
    for _ in 0..400 {
        if admin.topic_route("Restart").await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let producer = Producer::builder("restart-producer")
        .namesrv_addr(cluster.ns_addr.as_str())
        .build()
        .unwrap();
    producer.start().await.unwrap();
    let t = Duration::from_secs(3);
    let mut acknowledged = BTreeSet::new();
    for i in 0..20 {
        let body = format!("before-{i}");
        producer
            .send(Message::new("Restart", body.clone()), t)
            .await
            .unwrap();
        acknowledged.insert(body);
    }
    cluster.kill_broker();
    let mut failures = 0;
    for i in 0..5 {
        // A generous liveness bound: the send must end (here: fail), not hang.
        let outcome = tokio::time::timeout(
            Duration::from_secs(60),
            producer.send(Message::new("Restart", format!("down-{i}")), t),
        )
        .await
        .expect("a send hung while the broker was down");
        match outcome {
            Ok(_) => panic!("a send succeeded with the broker down"),
            Err(error) => {
                failures += 1;
                let text = error.to_string();
                assert!(text.contains(&cluster.broker_addr), "{text}");
            }
        }
    }
    assert_eq!(failures, 5);
    cluster.start_broker().await;
    let mut resumed = false;
    for i in 0..100 {
        let body = format!("after-{i}");
        if producer
            .send(Message::new("Restart", body.clone()), t)
            .await
            .is_ok()
        {
            acknowledged.insert(body);
            resumed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(resumed, "sends did not resume after the broker restarted");
    // Every acknowledged message survived the restart.
    let pull = PullConsumer::builder("restart-check")
        .namesrv_addr(cluster.ns_addr.as_str())
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .long_poll(Duration::from_millis(500))
        .build()
        .unwrap();
    pull.start().await.unwrap();
    let queues: Vec<_> = (0..2)
        .map(|q| sluice_client::MessageQueue::new("Restart", "broker-a", q))
        .collect();
    pull.assign(queues).unwrap();
    let mut got = BTreeSet::new();
    for _ in 0..100 {
        for m in pull
            .poll(Duration::from_millis(300))
            .await
            .unwrap_or_default()
        {
            got.insert(body_text(&m));
        }
        if acknowledged.is_subset(&got) {
            break;
        }
    }
    let lost: Vec<_> = acknowledged.difference(&got).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    pull.shutdown().await;
    producer.shutdown().await;
}

async fn wait_route(admin: &Admin, topic: &str) {
    for _ in 0..400 {
        if admin.topic_route(topic).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("topic {topic} never reached the NameServer");
}

fn push_member(
    ns_addr: &str,
    tx: tokio::sync::mpsc::UnboundedSender<(String, i32)>,
    fail_once: Option<String>,
) -> PushConsumer {
    let failed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    PushConsumer::builder("e2e-group")
        .namesrv_addr(ns_addr)
        .subscribe("Group", "*")
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
            let tx = tx.clone();
            let failed = failed.clone();
            let fail_once = fail_once.clone();
            async move {
                for m in &msgs {
                    let body = body_text(m);
                    if fail_once.as_deref() == Some(body.as_str())
                        && !failed.swap(true, std::sync::atomic::Ordering::SeqCst)
                    {
                        return ConsumeStatus::ReconsumeLater;
                    }
                }
                for m in msgs {
                    let _ = tx.send((body_text(&m), m.record.reconsume_times));
                }
                ConsumeStatus::ConsumeSuccess
            }
        })
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_rebalances_as_members_join_and_leave_without_losing_messages() {
    let cluster = Cluster::start().await;
    let admin = Admin::new(&cluster.ns_addr).unwrap();
    let mut topic = TopicConfig::new("Group");
    topic.read_queue_nums = 4;
    topic.write_queue_nums = 4;
    admin
        .create_topic(&cluster.broker_addr, &topic)
        .await
        .unwrap();
    wait_route(&admin, "Group").await;
    let producer = Producer::builder("group-producer")
        .namesrv_addr(cluster.ns_addr.as_str())
        .build()
        .unwrap();
    producer.start().await.unwrap();
    let t = Duration::from_secs(3);
    let send_round = |round: &'static str| {
        let producer = producer.clone();
        async move {
            for i in 0..50 {
                producer
                    .send(Message::new("Group", format!("{round}-{i}")), t)
                    .await
                    .unwrap();
            }
        }
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let c1 = push_member(&cluster.ns_addr, tx.clone(), Some("one-7".into()));
    c1.start().await.unwrap();
    send_round("one").await;
    let c2 = push_member(&cluster.ns_addr, tx.clone(), None);
    c2.start().await.unwrap();
    send_round("two").await;
    c1.shutdown().await;
    send_round("three").await;

    let want: BTreeSet<String> = ["one", "two", "three"]
        .iter()
        .flat_map(|r| (0..50).map(move |i| format!("{r}-{i}")))
        .collect();
    let mut got = BTreeSet::new();
    let mut deliveries = 0;
    let mut retried = None;
    // Bounded only to turn a stall into a failure.
    while got.len() < want.len() {
        let (body, reconsume) = tokio::time::timeout(Duration::from_secs(120), rx.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "stalled with {} of {} messages; missing {:?}",
                    got.len(),
                    want.len(),
                    want.difference(&got).take(5).collect::<Vec<_>>()
                )
            })
            .unwrap();
        deliveries += 1;
        if body == "one-7" {
            retried = Some(reconsume);
        }
        got.insert(body);
    }
    // "one-7" failed once: it comes back through %RETRY% (reconsume 1) when the broker takes
    // CONSUMER_SEND_MSG_BACK, else it is consumed again locally (reconsume 0); either way it
    // is not lost.
    assert_eq!(got, want);
    eprintln!(
        "{} messages, {} deliveries, {} duplicates; the failed message came back with reconsume count {:?}",
        want.len(),
        deliveries,
        deliveries - want.len(),
        retried
    );
    c2.shutdown().await;
    producer.shutdown().await;
}
