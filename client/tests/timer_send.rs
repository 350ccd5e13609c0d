//! The client's timer helpers against an in-process NameServer and broker: a message sent with
//! `with_deliver_time_ms` or `with_delay_time` reaches its queue no sooner than asked and at most
//! 1.5 s later; a bad time is refused with the broker's reason.

use std::time::{Duration, Instant};

use sluice_broker::config::BrokerConfig;
use sluice_broker::Broker;
use sluice_client::consumer::ConsumeFromWhere;
use sluice_client::{Message, MessageExt, MessageQueue, Producer, PullConsumer, SendStatus};
use sluice_nameserver::config::NamesrvConfig;
use sluice_nameserver::NameServer;

const T: Duration = Duration::from_secs(5);

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_sends_timer_messages_that_arrive_on_time() {
    let dir = tempfile::tempdir().unwrap();
    let namesrv = NameServer::start(NamesrvConfig {
        listen_port: 0,
        bind_address: "127.0.0.1".into(),
        kv_config_path: dir.path().join("namesrv/kvConfig.json"),
        config_store_path: dir.path().join("namesrv/namesrv.properties"),
        ..Default::default()
    })
    .await
    .unwrap();
    let ns_addr = format!("127.0.0.1:{}", namesrv.port());
    let mut config = BrokerConfig {
        broker_name: "broker-a".into(),
        listen_port: 0,
        broker_ip1: "127.0.0.1".into(),
        broker_ip2: "127.0.0.1".into(),
        metrics_prom_exporter_port: 0,
        namesrv_addr: Some(ns_addr.clone()),
        ..Default::default()
    };
    config.store.store_path_root_dir = dir.path().join("broker");
    config.store.mapped_file_size_commit_log = 8 * 1024 * 1024;
    config.store.mapped_file_size_consume_queue = 20 * 1024;
    config.default_topic_queue_nums = 1;
    let broker = Broker::start(config).await.unwrap();
    broker.register_now().await;

    let producer = Producer::builder("timer-producer")
        .namesrv_addr(&ns_addr)
        .build()
        .unwrap();
    producer.start().await.unwrap();

    let at = now_ms() + 2_000;
    let msg = Message::new("ClientTimer", "at").with_deliver_time_ms(at);
    assert_eq!(msg.deliver_time_ms(), Some(at));
    let r = producer.send(msg, T).await.unwrap();
    assert_eq!(r.status, SendStatus::SendOk);
    let before = now_ms();
    let r2 = producer
        .send(
            Message::new("ClientTimer", "in").with_delay_time(Duration::from_millis(1_500)),
            T,
        )
        .await
        .unwrap();
    let after = now_ms();
    assert_eq!(r2.status, SendStatus::SendOk);

    // Both land in the topic's single queue, read with the client's pull consumer.
    let consumer = PullConsumer::builder("timer-reader")
        .namesrv_addr(&ns_addr)
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .long_poll(Duration::from_millis(500))
        .build()
        .unwrap();
    consumer.start().await.unwrap();
    consumer
        .assign([MessageQueue::new("ClientTimer", "broker-a", 0)])
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut msgs: Vec<MessageExt> = Vec::new();
    while msgs.len() < 2 {
        assert!(Instant::now() < deadline, "both timer messages delivered");
        match consumer.poll(Duration::from_secs(1)).await {
            Ok(batch) => msgs.extend(batch),
            // The route of the auto-created topic reaches the NameServer with the next
            // registration.
            Err(_) => {
                broker.register_now().await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    consumer.shutdown().await;
    let find = |body: &[u8]| {
        msgs.iter()
            .find(|m| &m.body()[..] == body)
            .unwrap()
            .record
            .clone()
    };
    let m_in = find(b"in");
    assert!(
        m_in.store_timestamp >= before + 1_500,
        "TIMER_DELAY_MS early"
    );
    assert!(
        m_in.store_timestamp <= after + 1_500 + 1_500,
        "TIMER_DELAY_MS late"
    );
    let m_at = find(b"at");
    assert!(m_at.store_timestamp >= at, "TIMER_DELIVER_MS early");
    assert!(m_at.store_timestamp <= at + 1_500, "TIMER_DELIVER_MS late");

    // Beyond timerMaxDelaySec (3 days): refused with the reason.
    let err = producer
        .send(
            Message::new("ClientTimer", "far").with_deliver_time_ms(now_ms() + 4 * 86_400_000),
            T,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("timerMaxDelaySec"), "{err}");
    producer.shutdown().await;
    broker.shutdown().await.unwrap();
    namesrv.shutdown(Duration::from_secs(1)).await;
}
