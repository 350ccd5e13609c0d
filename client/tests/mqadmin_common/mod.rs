//! An in-process cluster for the mqadmin tests: one NameServer and one broker (`broker-a` in
//! `DefaultCluster`) on free loopback ports with temporary data folders, plus helpers to run a
//! command and read its output.

#![allow(dead_code)]

use std::time::Duration;

use sluice_broker::config::BrokerConfig;
use sluice_broker::Broker;
use sluice_client::admin::cli::{run, CliError};
use sluice_nameserver::config::NamesrvConfig;
use sluice_nameserver::NameServer;

pub struct Cluster {
    pub namesrv: NameServer,
    pub broker: Broker,
    pub namesrv_addr: String,
    pub broker_addr: String,
    _dir: tempfile::TempDir,
}

impl Cluster {
    pub async fn start() -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let ns_config = NamesrvConfig {
            listen_port: 0,
            bind_address: "127.0.0.1".into(),
            kv_config_path: dir.path().join("namesrv/kvConfig.json"),
            config_store_path: dir.path().join("namesrv/namesrv.properties"),
            ..Default::default()
        };
        let namesrv = NameServer::start(ns_config).await.expect("NameServer");
        let namesrv_addr = format!("127.0.0.1:{}", namesrv.port());
        let mut config = BrokerConfig {
            broker_name: "broker-a".into(),
            ..Default::default()
        };
        config.auto_create_topic_enable = true;
        config.auto_create_subscription_group = true;
        config.listen_port = 0;
        config.broker_ip1 = "127.0.0.1".into();
        config.broker_ip2 = "127.0.0.1".into();
        config.metrics_prom_exporter_port = 0;
        config.namesrv_addr = Some(namesrv_addr.clone());
        config.store.store_path_root_dir = dir.path().join("broker");
        config.store.mapped_file_size_commit_log = 8 * 1024 * 1024;
        config.store.mapped_file_size_consume_queue = 20 * 1024;
        let broker = Broker::start(config).await.expect("broker");
        broker.register_now().await;
        let broker_addr = broker.broker_addr();
        Cluster {
            namesrv,
            broker,
            namesrv_addr,
            broker_addr,
            _dir: dir,
        }
    }

    /// Runs `mqadmin <args> -n <this NameServer>`; panics with the error if it fails.
    pub async fn ok(&self, args: &[&str]) -> String {
        match self.run(args).await {
            Ok(out) => out,
            Err(e) => panic!("mqadmin {args:?} failed: {e}"),
        }
    }

    /// Runs `mqadmin <args> -n <this NameServer>`.
    pub async fn run(&self, args: &[&str]) -> Result<String, CliError> {
        let mut argv: Vec<&str> = args.to_vec();
        argv.push("-n");
        argv.push(&self.namesrv_addr);
        let mut out = String::new();
        run(&argv, &mut out).await.map(|()| out)
    }

    /// Re-registers the broker so the NameServer sees topic changes now.
    pub async fn register(&self) {
        self.broker.register_now().await;
    }

    /// Runs a command until its output satisfies `done` (the broker indexes and dispatches
    /// asynchronously); returns the last output. Gives up after 10 s.
    pub async fn eventually(&self, args: &[&str], done: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        for _ in 0..200 {
            match self.run(args).await {
                Ok(out) if done(&out) => return out,
                Ok(out) => last = out,
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("mqadmin {args:?} never gave the expected output; last:\n{last}");
    }

    pub async fn shutdown(self) {
        let _ = self.broker.shutdown().await;
        self.namesrv.shutdown(Duration::from_secs(1)).await;
    }
}

/// The column names of a table: the first line starting with `#`, cut before each `#`.
pub fn header(out: &str) -> Vec<String> {
    let Some(line) = out.lines().find(|l| l.starts_with('#')) else {
        return Vec::new();
    };
    let mut names: Vec<String> = Vec::new();
    for word in line.split_whitespace() {
        match names.last_mut() {
            Some(last) if !word.starts_with('#') => {
                last.push(' ');
                last.push_str(word);
            }
            _ => names.push(word.to_string()),
        }
    }
    names
}

/// Data rows of a table (non-empty lines after the header that do not start with `#`).
pub fn rows(out: &str) -> Vec<Vec<&str>> {
    out.lines()
        .skip_while(|l| !l.starts_with('#'))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect())
        .collect()
}
