//! Shared helpers of the bsend integration tests: an in-process broker on a free loopback port,
//! a Remoting client, and builders for raw send / pull requests with the typed headers.

#![allow(dead_code)]

use std::time::Duration;

use sluice_broker::{Broker, BrokerConfig};
use sluice_remoting::header::{
    PullMessageRequestHeader, SendMessageRequestHeader, SendMessageRequestHeaderV2,
};
use sluice_remoting::message::Properties;
use sluice_remoting::net::{ClientConfig, ProcessorTable, RemotingClient};
use sluice_remoting::{RemotingCommand, RequestCode};

pub const TIMEOUT: Duration = Duration::from_secs(10);

pub struct TestBroker {
    pub broker: Broker,
    pub addr: String,
    pub client: RemotingClient,
    _dir: tempfile::TempDir,
}

/// Starts a broker with a temporary store; `tweak` adjusts the config first.
pub async fn start_broker(tweak: impl FnOnce(&mut BrokerConfig)) -> TestBroker {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = BrokerConfig {
        broker_name: "broker-test".into(),
        broker_ip1: "127.0.0.1".into(),
        broker_ip2: "127.0.0.1".into(),
        listen_port: 0,
        namesrv_addr: None,
        metrics_prom_exporter_port: 0,
        store: sluice_store::MessageStoreConfig::with_root(dir.path()),
        ..BrokerConfig::default()
    };
    config.store.mapped_file_size_commit_log = 16 * 1024 * 1024;
    config.store.mapped_file_size_consume_queue = 60_000;
    tweak(&mut config);
    let broker = Broker::start(config).await.expect("broker starts");
    let addr = broker.broker_addr();
    let client = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
    TestBroker {
        broker,
        addr,
        client,
        _dir: dir,
    }
}

impl TestBroker {
    pub async fn invoke(&self, request: RemotingCommand) -> RemotingCommand {
        self.client
            .invoke(&self.addr, request, TIMEOUT)
            .await
            .expect("the broker answers")
    }

    pub async fn stop(self) {
        self.client.close_all();
        self.broker.shutdown().await.expect("clean shutdown");
    }
}

/// A properties string from pairs.
pub fn props(pairs: &[(&str, &str)]) -> String {
    pairs.iter().copied().collect::<Properties>().encode()
}

pub fn send_header(topic: &str, queue_id: i32, properties: &str) -> SendMessageRequestHeader {
    SendMessageRequestHeader {
        producer_group: "PG_TEST".into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        flag: 0,
        properties: Some(properties.to_owned()),
        reconsume_times: Some(0),
        unit_mode: Some(false),
        batch: Some(false),
        max_reconsume_times: None,
        rpc: Default::default(),
    }
}

/// SEND_MESSAGE (V1 header).
pub fn send_v1(topic: &str, queue_id: i32, properties: &str, body: &[u8]) -> RemotingCommand {
    RemotingCommand::request(RequestCode::SendMessage)
        .with_header(&send_header(topic, queue_id, properties))
        .with_body(body.to_vec())
}

/// SEND_MESSAGE_V2 (one-letter header).
pub fn send_v2(topic: &str, queue_id: i32, properties: &str, body: &[u8]) -> RemotingCommand {
    let v2: SendMessageRequestHeaderV2 = send_header(topic, queue_id, properties).into();
    RemotingCommand::request(RequestCode::SendMessageV2)
        .with_header(&v2)
        .with_body(body.to_vec())
}

pub const FLAG_COMMIT_OFFSET: i32 = 0x1;
pub const FLAG_SUSPEND: i32 = 0x2;
pub const FLAG_SUBSCRIPTION: i32 = 0x4;

pub fn pull_header(
    group: &str,
    topic: &str,
    queue_id: i32,
    offset: i64,
    sys_flag: i32,
    subscription: &str,
    suspend_ms: i64,
) -> PullMessageRequestHeader {
    PullMessageRequestHeader {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id,
        queue_offset: offset,
        max_msg_nums: 32,
        sys_flag,
        commit_offset: 0,
        suspend_timeout_millis: suspend_ms,
        subscription: Some(subscription.into()),
        sub_version: 1,
        expression_type: Some("TAG".into()),
        max_msg_bytes: None,
        request_source: None,
        proxy_forward_client_id: None,
        rpc: Default::default(),
    }
}

pub fn pull(header: &PullMessageRequestHeader) -> RemotingCommand {
    RemotingCommand::request(RequestCode::PullMessage).with_header(header)
}
