//! `sluice`: a single-node cluster in one process — a NameServer and a broker registered with it,
//! data in one folder. The README's first command:
//!
//! ```text
//! sluice --data ./data          # NameServer on 9876, broker on 10911, autoCreateTopicEnable
//! ```
//!
//! Layout under `--data`: `namesrv/` (KV config) and `broker/` (the broker's
//! `storePathRootDir`: commitlog, consumequeue, index, config/*.json).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use sluice_broker::{Broker, BrokerConfig};
use sluice_nameserver::{NameServer, NamesrvConfig};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "sluice",
    about = "Sluice single-node cluster: NameServer + broker in one process",
    version
)]
pub struct Args {
    /// Folder for all data (created if missing).
    #[arg(long, default_value = "./data")]
    pub data: PathBuf,
    /// NameServer port (0 picks a free one).
    #[arg(long, default_value_t = 9876)]
    pub namesrv_port: u16,
    /// Broker port (0 picks a free one).
    #[arg(long, default_value_t = 10911)]
    pub broker_port: u16,
    /// Address the broker advertises to clients (brokerIP1). The default suits clients on this
    /// machine; give a reachable address for remote clients.
    #[arg(long, default_value = "127.0.0.1")]
    pub broker_ip: String,
    /// Prometheus endpoint port (0 picks a free one).
    #[arg(long, default_value_t = 5557)]
    pub metrics_port: u16,
    /// An optional broker.conf applied over the single-node defaults.
    #[arg(short = 'c', long = "configFile")]
    pub config_file: Option<PathBuf>,
}

/// A running single-node cluster.
pub struct SingleNode {
    pub namesrv: NameServer,
    pub broker: Broker,
}

impl SingleNode {
    /// The NameServer address clients should use.
    pub fn namesrv_addr(&self) -> SocketAddr {
        self.namesrv.local_addr()
    }

    pub async fn shutdown(self) -> Result<(), String> {
        let result = self.broker.shutdown().await.map_err(|e| e.to_string());
        self.namesrv.shutdown(Duration::from_secs(5)).await;
        result
    }
}

/// The broker config of a single node: defaults, then `-c`, then the flags.
pub fn broker_config(args: &Args, namesrv_port: u16) -> Result<BrokerConfig, String> {
    let mut config = match &args.config_file {
        Some(path) => BrokerConfig::load(path).map_err(|e| e.to_string())?,
        None => BrokerConfig {
            broker_name: "broker-a".into(),
            ..Default::default()
        },
    };
    config.auto_create_topic_enable = true;
    config.auto_create_subscription_group = true;
    config.listen_port = args.broker_port;
    config.broker_ip1 = args.broker_ip.clone();
    config.broker_ip2 = args.broker_ip.clone();
    config.metrics_prom_exporter_port = args.metrics_port;
    config.namesrv_addr = Some(format!("127.0.0.1:{namesrv_port}"));
    config.store.store_path_root_dir = args.data.join("broker");
    // Smaller segments than Apache's 1 GiB: a laptop-friendly single node.
    if args.config_file.is_none() {
        config.store.mapped_file_size_commit_log = 128 * 1024 * 1024;
    }
    Ok(config)
}

/// Starts the NameServer, then the broker registered with it.
pub async fn start(args: &Args) -> Result<SingleNode, String> {
    std::fs::create_dir_all(&args.data)
        .map_err(|e| format!("cannot create {}: {e}", args.data.display()))?;
    let ns_config = NamesrvConfig {
        listen_port: args.namesrv_port,
        bind_address: "0.0.0.0".into(),
        kv_config_path: args.data.join("namesrv").join("kvConfig.json"),
        config_store_path: args.data.join("namesrv").join("namesrv.properties"),
        ..Default::default()
    };
    let namesrv = NameServer::start(ns_config).await.map_err(|e| {
        format!(
            "NameServer on port {}: {e} (choose another with --namesrv-port)",
            args.namesrv_port
        )
    })?;
    let config = broker_config(args, namesrv.port())?;
    let broker = match Broker::start(config).await {
        Ok(b) => b,
        Err(e) => {
            namesrv.shutdown(Duration::from_secs(1)).await;
            return Err(format!(
                "broker on port {}: {e} (choose another with --broker-port)",
                args.broker_port
            ));
        }
    };
    Ok(SingleNode { namesrv, broker })
}

/// `sluice`'s entry point.
pub fn main() {
    let args = Args::parse();
    sluice_broker::cli::init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sluice: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(async {
        let signal = sluice_broker::cli::ShutdownSignal::install();
        let node = start(&args).await?;
        println!(
            "Sluice single node up: NameServer {} , broker {} (data in {})",
            node.namesrv_addr(),
            node.broker.broker_addr(),
            args.data.display()
        );
        println!(
            "Point clients at namesrvAddr=127.0.0.1:{}",
            node.namesrv.port()
        );
        signal.wait().await;
        node.shutdown().await
    });
    if let Err(e) = result {
        eprintln!("sluice: {e}");
        std::process::exit(1);
    }
}
