//! [`Broker`]: a running broker — store, managers, Remoting server, and background tasks
//! (NameServer registration, metadata persistence, metrics endpoint) — and its orderly shutdown.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use sluice_remoting::net::{RemotingServer, ServerConfig};
use sluice_store::MessageStore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::BrokerConfig;
use crate::error::{BrokerError, Result};
use crate::processor;
use crate::registration::Registrar;
use crate::state::BrokerState;

/// How long in-flight requests get to finish at shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Subscription-group and topic changes are written at most this long after they happen.
const METADATA_PERSIST_TICK: Duration = Duration::from_secs(1);

/// A running broker. Call [`shutdown`](Self::shutdown) to stop it cleanly; dropping it stops the
/// background tasks but skips the final persistence.
pub struct Broker {
    state: Arc<BrokerState>,
    server: RemotingServer,
    registrar: Registrar,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    metrics_addr: Option<SocketAddr>,
    /// Delay-level delivery; masters only.
    schedule: Option<crate::schedule::ScheduleService>,
    /// Transaction check-back; masters only.
    transaction_check: Option<crate::transaction::TransactionCheckService>,
    /// Arbitrary-time delivery; masters with `timerWheelEnable` only.
    timer: Option<crate::timer::TimerService>,
}

/// A free TCP port on `ip` (for `listenPort=0` / `metricsPromExporterPort=0`). The port is chosen
/// before the store and managers exist, because it is part of the broker's identity
/// (`brokerIP1:listenPort` in records, msgIds and registrations).
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind(("0.0.0.0", 0))?.local_addr()?.port())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BrokerError::Config(format!("start-up task failed: {e}")))
}

impl Broker {
    /// Opens the store, loads the managers, starts serving and registering.
    pub async fn start(mut config: BrokerConfig) -> Result<Broker> {
        config.normalize();
        if !config.is_master() && config.broker_id <= 0 {
            return Err(BrokerError::Config(format!(
                "brokerRole=SLAVE needs brokerId > 0 (got {}); 0 is the master's id",
                config.broker_id
            )));
        }
        if config.listen_port == 0 {
            config.listen_port = free_port()?;
            // Tests start many brokers at once: a free HA port too, unless one was chosen.
            if config.ha_listen_port == 10912 {
                config.ha_listen_port = 0;
            }
        } else if config.ha_listen_port == 10912 && config.listen_port != 10911 {
            // Left at its default: listenPort + 1, as Apache does (4.x always, 5.x unless set).
            config.ha_listen_port = config.listen_port.checked_add(1).unwrap_or(0);
        }
        if config.ha_listen_port == 0 {
            config.ha_listen_port = free_port()?;
        }
        config.store.validate()?;
        let store_config = config.store.clone();
        let store: Arc<MessageStore> = blocking(move || MessageStore::open(store_config)).await??;
        let state_store = store.clone();
        let state = match blocking(move || BrokerState::new(config, state_store)).await? {
            Ok(s) => Arc::new(s),
            Err(e) => {
                let _ = store.shutdown();
                return Err(e);
            }
        };
        // The default topics are on disk from the first start on.
        {
            let state = state.clone();
            blocking(move || state.topics.persist()).await??;
        }
        let config = state.config();
        let schedule = if config.is_master() {
            match crate::schedule::ScheduleService::start(state.clone()).await {
                Ok(s) => Some(s),
                Err(e) => {
                    let _ = store.shutdown();
                    return Err(e);
                }
            }
        } else {
            None
        };
        let transaction_check = config
            .is_master()
            .then(|| crate::transaction::TransactionCheckService::start(state.clone()));
        let timer = if config.is_master() && config.timer_wheel_enable {
            match crate::timer::TimerService::start(state.clone()).await {
                Ok(t) => Some(t),
                Err(e) => {
                    let _ = store.shutdown();
                    return Err(e);
                }
            }
        } else {
            None
        };
        let table = processor::build(&state).into_table();
        let bind: SocketAddr = ([0, 0, 0, 0], config.listen_port).into();
        let server = match RemotingServer::start(ServerConfig::new(bind), table).await {
            Ok(s) => s,
            Err(e) => {
                let _ = store.shutdown();
                return Err(e.into());
            }
        };
        tracing::info!(
            broker = %config.broker_name,
            cluster = %config.broker_cluster_name,
            addr = %config.broker_addr(),
            namesrv = ?config.namesrv_addrs(),
            "broker started"
        );

        if config.namesrv_addrs().is_empty() {
            tracing::warn!("no NameServer configured (namesrvAddr, -n or NAMESRV_ADDR): clients cannot find this broker through a route lookup");
        }
        let stop = CancellationToken::new();
        let mut tasks = Vec::new();
        let registrar = Registrar::new(state.clone());
        tasks.push(registrar.clone().spawn(stop.clone()));
        tasks.push(spawn_persistence(state.clone(), stop.clone()));
        match crate::ha::start(&state, stop.clone()).await {
            Ok(t) => tasks.extend(t),
            Err(e) => {
                stop.cancel();
                server.shutdown(SHUTDOWN_GRACE).await;
                if let Some(s) = schedule {
                    let _ = s.shutdown().await;
                }
                let _ = store.shutdown();
                return Err(e);
            }
        }
        let mut metrics_addr = None;
        if config.metrics_exporter_type.eq_ignore_ascii_case("PROM") {
            let port = match config.metrics_prom_exporter_port {
                0 => free_port()?,
                p => p,
            };
            let host = if config.metrics_prom_exporter_host.is_empty() {
                "0.0.0.0"
            } else {
                config.metrics_prom_exporter_host.as_str()
            };
            let addr: SocketAddr = format!("{host}:{port}").parse().map_err(|_| {
                BrokerError::Config(format!(
                    "metricsPromExporterHost `{host}` is not an IP address"
                ))
            })?;
            match crate::metrics_http::start(addr, state.clone(), stop.clone()).await {
                Ok((bound, task)) => {
                    metrics_addr = Some(bound);
                    tasks.push(task);
                }
                // Metrics are not worth refusing to serve messages for.
                Err(e) => tracing::error!(addr = %addr, error = %e, "metrics endpoint not started"),
            }
        }
        Ok(Broker {
            state,
            server,
            registrar,
            stop,
            tasks,
            metrics_addr,
            schedule,
            transaction_check,
            timer,
        })
    }

    pub fn state(&self) -> &Arc<BrokerState> {
        &self.state
    }

    /// The address the Remoting server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// `brokerIP1:listenPort`, the address clients are told.
    pub fn broker_addr(&self) -> String {
        self.state.config().broker_addr()
    }

    /// The Prometheus endpoint's address, when it runs.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The timer (arbitrary-time delivery), when it runs.
    pub fn timer(&self) -> Option<&crate::timer::TimerService> {
        self.timer.as_ref()
    }

    /// Registers with every NameServer now (also done periodically and on topic changes).
    pub async fn register_now(&self) {
        self.registrar.register_all().await;
    }

    /// Unregisters from the NameServers, lets in-flight requests finish, writes the metadata
    /// files and closes the store.
    pub async fn shutdown(self) -> Result<()> {
        self.shutdown_within(SHUTDOWN_GRACE).await
    }

    /// [`shutdown`](Self::shutdown) giving in-flight requests `grace` to finish (a role change
    /// under controller mode wants to be quick).
    pub async fn shutdown_within(mut self, grace: Duration) -> Result<()> {
        tracing::info!("broker shutting down");
        self.stop.cancel();
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        self.registrar.unregister_all().await;
        self.server.shutdown(grace).await;
        if let Some(check) = self.transaction_check.take() {
            check.shutdown().await;
        }
        if let Some(schedule) = self.schedule.take() {
            if let Err(e) = schedule.shutdown().await {
                tracing::error!(error = %e, "cannot write delayOffset.json at shutdown");
            }
        }
        if let Some(timer) = self.timer.take() {
            if let Err(e) = timer.shutdown().await {
                tracing::error!(error = %e, "cannot write the timer checkpoint at shutdown");
            }
        }
        let state = self.state.clone();
        blocking(move || -> Result<()> {
            persist_all(&state, true);
            state.store.shutdown()?;
            Ok(())
        })
        .await??;
        tracing::info!("broker stopped");
        Ok(())
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Writes every metadata file (blocking). Errors are logged: the next round retries.
fn persist_all(state: &BrokerState, force: bool) {
    if let Err(e) = state.consumer_offsets.persist(force) {
        tracing::error!(file = %state.consumer_offsets.path().display(), error = %e, "cannot write consumer offsets");
    }
    if let Err(e) = state.subscription_groups.persist_if_dirty() {
        tracing::error!(file = %state.subscription_groups.path().display(), error = %e, "cannot write subscription groups");
    }
    if force {
        if let Err(e) = state.topics.persist() {
            tracing::error!(file = %state.topics.path().display(), error = %e, "cannot write topics");
        }
    }
}

/// Offsets every `flushConsumerOffsetInterval`; topics when they change; groups when dirty.
fn spawn_persistence(state: Arc<BrokerState>, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut topic_changes = state.topics.changes();
        let offsets_every =
            Duration::from_millis(state.config().flush_consumer_offset_interval.max(100));
        let mut offsets_tick = tokio::time::interval(offsets_every);
        offsets_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        offsets_tick.tick().await;
        let mut meta_tick = tokio::time::interval(METADATA_PERSIST_TICK);
        meta_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut topics_dirty = false;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = offsets_tick.tick() => {
                    let s = state.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        if let Err(e) = s.consumer_offsets.persist(false) {
                            tracing::error!(error = %e, "cannot write consumerOffset.json; will retry");
                        }
                    }).await;
                }
                changed = topic_changes.changed() => {
                    if changed.is_err() { return; }
                    topics_dirty = true;
                }
                _ = meta_tick.tick() => {
                    let s = state.clone();
                    let write_topics = std::mem::take(&mut topics_dirty);
                    let failed = tokio::task::spawn_blocking(move || {
                        if let Err(e) = s.subscription_groups.persist_if_dirty() {
                            tracing::error!(error = %e, "cannot write subscriptionGroup.json; will retry");
                        }
                        if write_topics {
                            if let Err(e) = s.topics.persist() {
                                tracing::error!(error = %e, "cannot write topics.json; will retry");
                                return true;
                            }
                        }
                        false
                    }).await.unwrap_or(true);
                    topics_dirty |= failed && write_topics;
                }
            }
        }
    })
}
