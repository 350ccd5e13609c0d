//! Helpers shared by the NameServer integration tests: a NameServer on a free loopback port,
//! a broker registration, route queries.
#![allow(dead_code)]

use std::time::Duration;

use sluice_nameserver::{NameServer, NamesrvConfig};
use sluice_remoting::body::{body_crc32, JsonBody, RegisterBrokerBody, TopicConfig};
use sluice_remoting::header::{GetRouteInfoRequestHeader, RegisterBrokerRequestHeader};
use sluice_remoting::net::{ClientConfig, ProcessorTable, RemotingClient};
use sluice_remoting::{RemotingCommand, RequestCode};

pub const TIMEOUT: Duration = Duration::from_secs(5);

pub struct TestNamesrv {
    pub server: NameServer,
    pub addr: String,
    pub dir: tempfile::TempDir,
}

/// A NameServer on 127.0.0.1:<free port> with its KV file in a temp dir.
pub async fn start_namesrv(tweak: impl FnOnce(&mut NamesrvConfig)) -> TestNamesrv {
    let dir = tempfile::tempdir().unwrap();
    let mut config = NamesrvConfig {
        listen_port: 0,
        bind_address: "127.0.0.1".into(),
        kv_config_path: dir.path().join("kvConfig.json"),
        ..Default::default()
    };
    tweak(&mut config);
    let server = NameServer::start(config).await.unwrap();
    let addr = server.local_addr().to_string();
    TestNamesrv { server, addr, dir }
}

pub fn client() -> RemotingClient {
    RemotingClient::new(ClientConfig::default(), ProcessorTable::new())
}

/// What a broker says about itself in REGISTER_BROKER.
#[derive(Clone)]
pub struct Broker {
    pub cluster: String,
    pub name: String,
    pub addr: String,
    pub id: i64,
    pub ha_addr: String,
    pub version_counter: i64,
    /// (topic, queue count)
    pub topics: Vec<(String, i32)>,
    pub compressed: bool,
}

impl Broker {
    pub fn master(name: &str, addr: &str, topics: &[(&str, i32)]) -> Self {
        Broker {
            cluster: "DefaultCluster".into(),
            name: name.into(),
            addr: addr.into(),
            id: 0,
            ha_addr: format!("{}:10912", addr.split(':').next().unwrap_or("127.0.0.1")),
            version_counter: 1,
            topics: topics.iter().map(|&(t, q)| (t.to_string(), q)).collect(),
            compressed: false,
        }
    }

    pub fn body(&self) -> RegisterBrokerBody {
        let mut body = RegisterBrokerBody::default();
        let w = &mut body.topic_config_serialize_wrapper;
        w.data_version.counter = self.version_counter;
        w.data_version.timestamp = 1_700_000_000_000 + self.version_counter;
        for (topic, queues) in &self.topics {
            let mut t = TopicConfig::new(topic.clone());
            t.read_queue_nums = *queues;
            t.write_queue_nums = *queues;
            w.topic_config_table.insert(topic.clone(), t);
        }
        body
    }

    pub fn register_request(&self) -> RemotingCommand {
        let body = if self.compressed {
            self.body().encode_compressed().unwrap()
        } else {
            self.body().encode()
        };
        RemotingCommand::request(RequestCode::RegisterBroker)
            .with_header(&RegisterBrokerRequestHeader {
                broker_name: self.name.clone(),
                broker_addr: self.addr.clone(),
                cluster_name: self.cluster.clone(),
                ha_server_addr: self.ha_addr.clone(),
                broker_id: self.id,
                compressed: Some(self.compressed),
                body_crc32: Some(body_crc32(&body)),
                ..Default::default()
            })
            .with_body(body)
    }
}

pub async fn register(client: &RemotingClient, namesrv: &str, broker: &Broker) -> RemotingCommand {
    client
        .invoke(namesrv, broker.register_request(), TIMEOUT)
        .await
        .unwrap()
}

/// GET_ROUTEINFO_BY_TOPIC sent with request `version`.
pub async fn route(
    client: &RemotingClient,
    namesrv: &str,
    topic: &str,
    version: i32,
) -> RemotingCommand {
    let mut request = RemotingCommand::request(RequestCode::GetRouteinfoByTopic).with_header(
        &GetRouteInfoRequestHeader {
            topic: topic.into(),
            ..Default::default()
        },
    );
    request.version = version;
    client.invoke(namesrv, request, TIMEOUT).await.unwrap()
}

pub fn body_text(cmd: &RemotingCommand) -> String {
    String::from_utf8(cmd.body.to_bytes().to_vec()).unwrap()
}

/// Polls `check` every 50 ms until it holds; fails after 20 s (a generous bound, not a timing
/// assertion: the events awaited normally take milliseconds).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Decodes a body with the lenient reader (accepts the legacy `{0:"..."}` form).
pub fn decode<T: JsonBody>(cmd: &RemotingCommand) -> T {
    T::decode(&cmd.body.to_bytes()).unwrap()
}
