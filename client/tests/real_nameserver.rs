//! The client against the real NameServer (the `mqnamesrv` server, started in this process) and
//! a fake broker registered with it.

mod support;

use std::time::Duration;

use sluice_client::consumer::ConsumeFromWhere;
use sluice_client::{Message, Producer, PullConsumer, SendStatus};
use sluice_nameserver::{NameServer, NamesrvConfig};
use sluice_remoting::body::{JsonBody, RegisterBrokerBody, TopicConfig};
use sluice_remoting::header::RegisterBrokerRequestHeader;
use sluice_remoting::net::{ClientConfig, ProcessorTable, RemotingClient};
use sluice_remoting::{RemotingCommand, RequestCode};
use support::FakeBroker;

/// A real NameServer (the `mqnamesrv` server, in this process) with its KV file in a temp dir.
struct RealNameServer {
    server: Option<NameServer>,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for RealNameServer {
    fn drop(&mut self) {
        drop(self.server.take());
    }
}

async fn start_nameserver() -> RealNameServer {
    let dir = tempfile::tempdir().unwrap();
    let config = NamesrvConfig {
        listen_port: 0,
        bind_address: "127.0.0.1".into(),
        kv_config_path: dir.path().join("kvConfig.json"),
        config_store_path: dir.path().join("namesrv.properties"),
        ..NamesrvConfig::default()
    };
    let server = NameServer::start(config)
        .await
        .expect("start the NameServer");
    RealNameServer {
        addr: server.local_addr().to_string(),
        server: Some(server),
        _dir: dir,
    }
}

/// Registers `broker` like a broker process would; the returned connection must stay open (the
/// NameServer forgets a broker whose registration channel closes).
async fn register(ns: &str, broker: &FakeBroker, topics: &[(&str, i32, i32)]) -> RemotingClient {
    let mut body = RegisterBrokerBody::default();
    let table = &mut body.topic_config_serialize_wrapper.topic_config_table;
    for (name, queues, perm) in topics {
        table.insert(
            name.to_string(),
            TopicConfig {
                topic_name: name.to_string(),
                read_queue_nums: *queues,
                write_queue_nums: *queues,
                perm: *perm,
                ..Default::default()
            },
        );
    }
    let header = RegisterBrokerRequestHeader {
        broker_name: "broker-a".into(),
        broker_addr: broker.addr(),
        cluster_name: "DefaultCluster".into(),
        ha_server_addr: "127.0.0.1:1".into(),
        broker_id: 0,
        ..Default::default()
    };
    let request = RemotingCommand::request(RequestCode::RegisterBroker)
        .with_header(&header)
        .with_body(body.encode());
    let client = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
    let response = client
        .invoke(ns, request, Duration::from_secs(3))
        .await
        .unwrap();
    assert_eq!(response.code, 0, "{:?}", response.remark);
    client
}

#[tokio::test]
async fn produce_and_consume_through_the_real_nameserver() {
    let ns = start_nameserver().await;
    let broker = FakeBroker::start("broker-a").await;
    let _registration = register(&ns.addr, &broker, &[("T", 4, 6), ("TBW102", 8, 7)]).await;

    let producer = Producer::builder("real-ns-producer")
        .namesrv_addr(ns.addr.as_str())
        .build()
        .unwrap();
    producer.start().await.unwrap();
    for i in 0..8 {
        let r = producer
            .send(Message::new("T", format!("m{i}")), Duration::from_secs(3))
            .await
            .unwrap();
        assert_eq!(r.status, SendStatus::SendOk);
        assert_eq!(r.queue.broker_name, "broker-a");
    }
    assert_eq!(broker.state.stored_total("T"), 8);
    // A topic the NameServer does not know goes out through TBW102's route.
    let r = producer
        .send(Message::new("Fresh", "x"), Duration::from_secs(3))
        .await
        .unwrap();
    assert!(r.queue.queue_id < 4);
    assert_eq!(broker.state.stored_total("Fresh"), 1);

    let consumer = PullConsumer::builder("real-ns-consumer")
        .namesrv_addr(ns.addr.as_str())
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .long_poll(Duration::from_millis(500))
        .build()
        .unwrap();
    consumer.start().await.unwrap();
    *broker.state.consumer_ids.lock().unwrap() = vec![consumer.instance().client_id.clone()];
    consumer.subscribe("T", "*").unwrap();
    let mut got = 0;
    for _ in 0..20 {
        got += consumer
            .poll(Duration::from_millis(500))
            .await
            .unwrap()
            .len();
        if got == 8 {
            break;
        }
    }
    assert_eq!(got, 8);
    assert_eq!(consumer.assignment().len(), 4);
    consumer.shutdown().await;
    producer.shutdown().await;
}
