//! NameServer registration (broker-internals §12): REGISTER_BROKER to every NameServer at start,
//! every `registerNameServerPeriod` (clamped to [10 s, 60 s]) and shortly after each topic change;
//! UNREGISTER_BROKER at shutdown. Failures are logged and retried on the next round, never fatal.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use sluice_remoting::body::{body_crc32, JsonBody, RegisterBrokerBody};
use sluice_remoting::header::{RegisterBrokerRequestHeader, UnregisterBrokerRequestHeader};
use sluice_remoting::net::{ClientConfig, ProcessorTable, RemotingClient};
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::state::BrokerState;
use crate::topic_config::{PERM_READ, PERM_WRITE};

/// Topic changes arriving within this window are reported in one registration.
pub const CHANGE_DEBOUNCE: Duration = Duration::from_millis(200);

/// The result of one REGISTER_BROKER / UNREGISTER_BROKER to one NameServer.
#[derive(Debug)]
pub struct Outcome {
    pub namesrv: String,
    pub result: Result<(), String>,
}

/// Talks to the NameServers on behalf of one broker.
#[derive(Clone)]
pub struct Registrar {
    state: Arc<BrokerState>,
    client: RemotingClient,
}

impl Registrar {
    pub fn new(state: Arc<BrokerState>) -> Registrar {
        Registrar {
            state,
            client: RemotingClient::new(ClientConfig::default(), ProcessorTable::new()),
        }
    }

    fn register_request(&self) -> Result<RemotingCommand, String> {
        let config = self.state.config();
        let mut wrapper = self.state.topics.snapshot();
        let broker_perm = config.broker_permission;
        // A broker that is not read-write reports every topic with its own restriction.
        if broker_perm & (PERM_READ | PERM_WRITE) != PERM_READ | PERM_WRITE {
            for t in wrapper.topic_config_table.values_mut() {
                t.perm &= broker_perm;
            }
        }
        let body = RegisterBrokerBody {
            filter_server_list: Vec::new(),
            topic_config_serialize_wrapper: wrapper,
        };
        let bytes = if config.compressed_register {
            body.encode_compressed().map_err(|e| e.to_string())?
        } else {
            body.encode()
        };
        let header = RegisterBrokerRequestHeader {
            broker_name: config.broker_name.clone(),
            broker_addr: config.broker_addr(),
            cluster_name: config.broker_cluster_name.clone(),
            ha_server_addr: config.ha_server_addr(),
            broker_id: config.broker_id,
            heartbeat_timeout_millis: None,
            enable_acting_master: None,
            compressed: Some(config.compressed_register),
            body_crc32: Some(body_crc32(&bytes)),
        };
        Ok(RemotingCommand::request(RequestCode::RegisterBroker)
            .with_header(&header)
            .with_body(bytes))
    }

    async fn send_to_all(&self, request: RemotingCommand, what: &str) -> Vec<Outcome> {
        let config = self.state.config();
        let timeout = Duration::from_millis(config.register_broker_timeout_mills.max(1));
        let calls = config.namesrv_addrs().into_iter().map(|addr| {
            let request = request.clone();
            let client = self.client.clone();
            let state = self.state.clone();
            async move {
                let register = request.code == RequestCode::RegisterBroker.as_i32();
                let result = match client.invoke(&addr, request, timeout).await {
                    Ok(r) if r.code == ResponseCode::Success.as_i32() => {
                        if register {
                            // A slave learns its master's addresses here.
                            state.ha.note_register_response(&r);
                        }
                        Ok(())
                    }
                    Ok(r) => Err(format!(
                        "answered code {} ({})",
                        r.code,
                        r.remark.unwrap_or_default()
                    )),
                    Err(e) => Err(e.to_string()),
                };
                Outcome {
                    namesrv: addr,
                    result,
                }
            }
        });
        let outcomes = join_all(calls).await;
        for o in &outcomes {
            match &o.result {
                Ok(()) => tracing::debug!(namesrv = %o.namesrv, "{what} done"),
                Err(e) => {
                    tracing::warn!(namesrv = %o.namesrv, error = %e, "{what} failed; will retry")
                }
            }
        }
        outcomes
    }

    /// REGISTER_BROKER with the current topic table to every NameServer, concurrently.
    pub async fn register_all(&self) -> Vec<Outcome> {
        match self.register_request() {
            Ok(request) => self.send_to_all(request, "register broker").await,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the registration body");
                Vec::new()
            }
        }
    }

    /// UNREGISTER_BROKER to every NameServer, concurrently.
    pub async fn unregister_all(&self) -> Vec<Outcome> {
        let config = self.state.config();
        let header = UnregisterBrokerRequestHeader {
            broker_name: config.broker_name.clone(),
            broker_addr: config.broker_addr(),
            cluster_name: config.broker_cluster_name.clone(),
            broker_id: config.broker_id,
        };
        let request = RemotingCommand::request(RequestCode::UnregisterBroker).with_header(&header);
        let outcomes = self.send_to_all(request, "unregister broker").await;
        self.client.close_all();
        outcomes
    }

    /// Registers now, then periodically and after topic changes, until `stop` is cancelled.
    pub fn spawn(self, stop: CancellationToken) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut changes = self.state.topics.changes();
            changes.borrow_and_update();
            // A slow or unreachable NameServer must not hold up shutdown.
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.register_all() => {}
            }
            loop {
                let period = Duration::from_millis(
                    self.state
                        .config()
                        .register_name_server_period
                        .clamp(10_000, 60_000),
                );
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(period) => {}
                    changed = changes.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        // Let a burst of creations settle into one registration.
                        tokio::select! {
                            _ = stop.cancelled() => return,
                            _ = tokio::time::sleep(CHANGE_DEBOUNCE) => {}
                        }
                    }
                }
                changes.borrow_and_update();
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = self.register_all() => {}
                }
            }
        })
    }
}
