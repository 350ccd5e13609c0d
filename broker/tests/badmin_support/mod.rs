//! Shared by the badmin_* integration tests: an in-process broker on a free loopback port and
//! raw Remoting requests to it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use sluice_broker::{Broker, BrokerConfig};
use sluice_remoting::message::MessageRecord;
use sluice_remoting::net::{ClientConfig, ProcessorTable, RemotingClient};
use sluice_remoting::{LanguageCode, RemotingCommand};

pub const TIMEOUT: Duration = Duration::from_secs(5);

pub struct TestBroker {
    pub broker: Broker,
    pub addr: String,
    pub _dir: tempfile::TempDir,
}

/// A broker named `broker-a` in a temporary store, without NameServers or metrics endpoint.
pub async fn start_broker() -> TestBroker {
    start_broker_with(|_| {}).await
}

/// [`start_broker`] with some config changed first.
pub async fn start_broker_with(adjust: impl FnOnce(&mut BrokerConfig)) -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    let mut c = BrokerConfig {
        broker_name: "broker-a".into(),
        broker_ip1: "127.0.0.1".into(),
        listen_port: 0,
        namesrv_addr: None,
        metrics_exporter_type: "NONE".into(),
        ..Default::default()
    };
    c.set("storePathRootDir", dir.path().to_str().unwrap())
        .unwrap();
    c.set("mappedFileSizeCommitLog", "4194304").unwrap();
    c.set("mappedFileSizeConsumeQueue", "60000").unwrap();
    adjust(&mut c);
    let broker = Broker::start(c).await.unwrap();
    let addr = format!("127.0.0.1:{}", broker.local_addr().port());
    TestBroker {
        broker,
        addr,
        _dir: dir,
    }
}

pub fn client() -> RemotingClient {
    RemotingClient::new(ClientConfig::default(), ProcessorTable::new())
}

pub async fn call(
    client: &RemotingClient,
    addr: &str,
    request: RemotingCommand,
) -> RemotingCommand {
    client.invoke(addr, request, TIMEOUT).await.unwrap()
}

/// A request as a client of `language`/`version` sends it.
pub fn as_client(
    mut request: RemotingCommand,
    language: LanguageCode,
    version: i32,
) -> RemotingCommand {
    request.language = language;
    request.version = version;
    request
}

pub fn body_text(response: &RemotingCommand) -> String {
    String::from_utf8(response.body.to_bytes().to_vec()).unwrap()
}

/// Stores `n` messages in `topic`/`queue_id` straight through the store.
pub async fn put_messages(tb: &TestBroker, topic: &str, queue_id: i32, n: usize) {
    let store = &tb.broker.state().store;
    let host: SocketAddr = tb.addr.parse().unwrap();
    for i in 0..n {
        let record = MessageRecord {
            queue_id,
            born_timestamp: 1_700_000_000_000,
            born_host: host,
            store_host: host,
            body: Bytes::from(format!("message {i}")),
            topic: topic.to_string(),
            properties: String::new(),
            ..Default::default()
        };
        let r = store.put(&record).await;
        assert!(r.status.is_stored(), "{:?}", r.status);
    }
    for _ in 0..500 {
        if store.dispatch_caught_up() && store.max_offset(topic, queue_id) as usize >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("messages not dispatched");
}

/// Polls `check` until it holds (up to 5 s); for effects that happen on another task.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..500 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}
