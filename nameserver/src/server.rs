//! [`NameServer`]: the embeddable NameServer (remoting server + route table + expiry scan).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use sluice_remoting::net::{RemotingServer, ServerConfig};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::NamesrvConfig;
use crate::error::{NamesrvError, Result};
use crate::kv::KvConfigManager;
use crate::processor::processor_table;
use crate::state::NamesrvState;

/// A running NameServer. Dropping it closes every connection; [`shutdown`](Self::shutdown)
/// lets in-flight requests finish first.
pub struct NameServer {
    server: RemotingServer,
    state: Arc<NamesrvState>,
    stop: CancellationToken,
    scan_task: Option<JoinHandle<()>>,
}

impl NameServer {
    /// Loads the KV config, binds `bindAddress:listenPort` (port 0 picks a free one) and
    /// starts the expiry scan.
    pub async fn start(config: NamesrvConfig) -> Result<Self> {
        let ip: IpAddr = config
            .bind_address
            .parse()
            .map_err(|_| NamesrvError::Config {
                key: "bindAddress".into(),
                problem: format!("`{}` is not an IP address", config.bind_address),
            })?;
        let kv = KvConfigManager::load(&config.kv_config_path)?;
        let mut server_config = ServerConfig::new(SocketAddr::new(ip, config.listen_port));
        server_config.idle_timeout =
            Duration::from_secs(config.server_channel_max_idle_time_seconds.max(1));
        let state = Arc::new(NamesrvState::new(config, kv));
        let server = RemotingServer::start(server_config, processor_table(state.clone())).await?;
        let stop = CancellationToken::new();
        let scan_task = tokio::spawn(scan_not_active_brokers(state.clone(), stop.clone()));
        tracing::info!(addr = %server.local_addr(), "NameServer started");
        Ok(Self {
            server,
            state,
            stop,
            scan_task: Some(scan_task),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The port it listens on (useful after binding port 0).
    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// The route table, KV config and configuration (for an embedding process and tests).
    pub fn state(&self) -> &Arc<NamesrvState> {
        &self.state
    }

    /// Stops the scan, lets running requests finish for up to `grace`, closes everything.
    pub async fn shutdown(mut self, grace: Duration) {
        self.stop.cancel();
        self.server.shutdown(grace).await;
        if let Some(task) = self.scan_task.take() {
            let _ = task.await;
        }
        tracing::info!("NameServer stopped");
    }
}

impl Drop for NameServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Every `scanNotActiveBrokerInterval`, drops brokers silent for longer than their timeout.
async fn scan_not_active_brokers(state: Arc<NamesrvState>, stop: CancellationToken) {
    loop {
        let interval = state.config().scan_interval();
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let removed = state.routes.scan_not_active_brokers(Instant::now());
        if removed > 0 {
            tracing::info!(removed, "expired brokers removed");
        }
    }
}
