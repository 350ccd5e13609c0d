//! The client against the real `mqnamesrv` process (from the nameserver crate) and a fake
//! broker registered with it. Needs the binary in this target directory:
//! `cargo build -p sluice-nameserver && cargo test -p sluice-client --test real_nameserver -- --ignored`.

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sluice_client::consumer::ConsumeFromWhere;
use sluice_client::{Message, Producer, PullConsumer, SendStatus};
use sluice_remoting::body::{JsonBody, RegisterBrokerBody, TopicConfig};
use sluice_remoting::header::RegisterBrokerRequestHeader;
use sluice_remoting::net::{ClientConfig, ProcessorTable, RemotingClient};
use sluice_remoting::{RemotingCommand, RequestCode};
use support::FakeBroker;

struct NameServerProcess {
    child: Child,
    addr: String,
}

impl Drop for NameServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mqnamesrv_path() -> PathBuf {
    if let Ok(path) = std::env::var("SLUICE_MQNAMESRV") {
        return PathBuf::from(path);
    }
    // target/<profile>/deps/<this test> → target/<profile>/mqnamesrv
    let exe = std::env::current_exe().expect("test executable path");
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("mqnamesrv"))
        .expect("target directory");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p sluice-nameserver` first (or set SLUICE_MQNAMESRV)",
        path.display()
    );
    path
}

async fn start_nameserver() -> NameServerProcess {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Owned by the guard at once, so that every path kills and reaps it.
    let process = NameServerProcess {
        child: Command::new(mqnamesrv_path())
            .args(["--listen-port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mqnamesrv"),
        addr: format!("127.0.0.1:{port}"),
    };
    let addr = process.addr.clone();
    for _ in 0..250 {
        if tokio::net::TcpStream::connect(&addr).await.is_ok() {
            return process;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("mqnamesrv did not listen on {addr}");
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
#[ignore = "needs the mqnamesrv binary: cargo build -p sluice-nameserver, then run with --ignored"]
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
