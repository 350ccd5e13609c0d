//! Helpers shared by the bcore integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_broker::BrokerConfig;
use sluice_remoting::net::{Channel, ProcessorTable, RemotingServer, ServerConfig};
use sluice_remoting::{RemotingCommand, ResponseCode};

/// A broker config for tests: free ports, loopback address, small files under `dir`.
pub fn test_config(dir: &Path, namesrv: Option<String>) -> BrokerConfig {
    let mut c = BrokerConfig {
        broker_cluster_name: "TestCluster".into(),
        broker_name: "broker-t".into(),
        listen_port: 0,
        broker_ip1: "127.0.0.1".into(),
        broker_ip2: "127.0.0.1".into(),
        metrics_prom_exporter_port: 0,
        metrics_prom_exporter_host: "127.0.0.1".into(),
        namesrv_addr: namesrv,
        ..Default::default()
    };
    c.store.store_path_root_dir = dir.to_path_buf();
    c.store.mapped_file_size_commit_log = 1024 * 1024;
    c.store.mapped_file_size_consume_queue = 20 * 1000;
    c
}

/// A NameServer stand-in that records every request and answers SUCCESS.
pub struct FakeNameServer {
    pub server: RemotingServer,
    pub seen: Arc<Mutex<Vec<RemotingCommand>>>,
}

impl FakeNameServer {
    pub async fn start() -> FakeNameServer {
        let seen: Arc<Mutex<Vec<RemotingCommand>>> = Arc::default();
        let record = seen.clone();
        let table =
            ProcessorTable::new().with_default(move |_c: Channel, request: RemotingCommand| {
                let record = record.clone();
                async move {
                    let response = RemotingCommand::response_to(&request, ResponseCode::Success);
                    record.lock().unwrap().push(request);
                    Some(response)
                }
            });
        let server = RemotingServer::start(ServerConfig::new(([127, 0, 0, 1], 0).into()), table)
            .await
            .unwrap();
        FakeNameServer { server, seen }
    }

    pub fn addr(&self) -> String {
        self.server.local_addr().to_string()
    }

    pub fn codes(&self) -> Vec<i32> {
        self.seen.lock().unwrap().iter().map(|c| c.code).collect()
    }

    pub fn requests(&self, code: i32) -> Vec<RemotingCommand> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.code == code)
            .cloned()
            .collect()
    }

    /// Polls until `pred` holds over the recorded requests, up to 20 s (a liveness bound, not a
    /// timing assertion).
    pub async fn wait_until(&self, what: &str, pred: impl Fn(&[RemotingCommand]) -> bool) {
        for _ in 0..400 {
            if pred(&self.seen.lock().unwrap()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{what}: not seen; got codes {:?}", self.codes());
    }
}
