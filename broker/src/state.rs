//! [`BrokerState`]: what every processor and background task of one broker shares.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use sluice_store::MessageStore;

use crate::client_registry::ClientRegistry;
use crate::config::BrokerConfig;
use crate::consumer_offset::ConsumerOffsetManager;
use crate::error::Result;
use crate::flow_control::{SendFlowControl, DEFAULT_MAX_IN_FLIGHT_SENDS};
use crate::metrics::BrokerMetrics;
use crate::subscription_group::SubscriptionGroupManager;
use crate::topic_config::TopicConfigManager;

/// One broker's shared state. Built by [`crate::Broker::start`]; processors get an
/// `Arc<BrokerState>`.
pub struct BrokerState {
    /// The effective config; swapped as a whole by UPDATE_BROKER_CONFIG (read it with [`config`](Self::config)).
    config: RwLock<Arc<BrokerConfig>>,
    pub store: Arc<MessageStore>,
    pub topics: TopicConfigManager,
    pub subscription_groups: SubscriptionGroupManager,
    pub consumer_offsets: ConsumerOffsetManager,
    /// Producer and consumer groups with their connections.
    pub clients: Arc<ClientRegistry>,
    /// Compiled SQL92 filters per consumer group and topic.
    pub filters: Arc<crate::filter::ConsumerFilters>,
    pub metrics: Arc<BrokerMetrics>,
    pub send_flow_control: SendFlowControl,
    /// When this broker started (ms since the epoch; GET_BROKER_RUNTIME_INFO's `bootTimestamp`).
    pub boot_timestamp: i64,
    /// Queue locks of orderly consumers (LOCK_BATCH_MQ / UNLOCK_BATCH_MQ).
    pub rebalance_locks: Arc<crate::rebalance_lock::RebalanceLockManager>,
    /// Controller mode: the master's write lease and the epoch history.
    pub failover: Arc<crate::failover::FailoverGate>,
    /// Transactions committed or rolled back since start (END_TRANSACTION, check-back).
    pub transactions: crate::transaction::ResolvedTransactions,
    /// Master/slave replication.
    pub ha: Arc<crate::ha::HaService>,
}

impl BrokerState {
    /// Loads the managers' files (blocking) around an open store.
    pub fn new(config: BrokerConfig, store: Arc<MessageStore>) -> Result<BrokerState> {
        let topics = TopicConfigManager::load(&config)?;
        let subscription_groups = SubscriptionGroupManager::load(&config)?;
        let consumer_offsets = ConsumerOffsetManager::load(&config)?;
        let metrics = Arc::new(BrokerMetrics::default());
        let send_flow_control = SendFlowControl::new(
            DEFAULT_MAX_IN_FLIGHT_SENDS,
            config.send_thread_pool_queue_capacity,
            Duration::from_millis(config.wait_time_mills_in_send_queue),
            metrics.clone(),
        );
        let failover = Arc::new(crate::failover::FailoverGate::new(
            config.enable_controller_mode,
            config.is_master(),
        ));
        let ha = Arc::new(crate::ha::HaService::new(&config, store.clone()));
        Ok(BrokerState {
            rebalance_locks: Arc::new(crate::rebalance_lock::RebalanceLockManager::new(
                crate::processor::lock::lock_max_live_time(),
            )),
            failover,
            ha,
            clients: Arc::new(ClientRegistry::new(&config)),
            filters: Arc::new(crate::filter::ConsumerFilters::new()),
            config: RwLock::new(Arc::new(config)),
            store,
            topics,
            subscription_groups,
            consumer_offsets,
            metrics,
            send_flow_control,
            boot_timestamp: crate::topic_config::now_ms(),
            transactions: Default::default(),
        })
    }

    /// The current config (cheap: an `Arc` clone under a read lock).
    pub fn config(&self) -> Arc<BrokerConfig> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Applies `key=value` properties to the running config (UPDATE_BROKER_CONFIG). Returns the
    /// keys nobody knows; a bad value changes nothing. Keys read only at start (ports, paths)
    /// take effect at the next start.
    pub fn update_config(&self, properties: &str) -> Result<Vec<String>> {
        let mut guard = self.config.write().unwrap_or_else(|e| e.into_inner());
        let mut next = BrokerConfig::clone(&guard);
        let unknown = next.apply_properties(properties)?;
        *guard = Arc::new(next);
        Ok(unknown)
    }
}
