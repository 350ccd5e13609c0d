//! Producer and consumer group tables (owned by badmin; placeholder so the crate compiles).

use crate::config::BrokerConfig;

/// Producer and consumer groups with their live connections.
#[derive(Debug, Default)]
pub struct ClientRegistry {}

impl ClientRegistry {
    /// `BrokerState::new` calls this; keep the signature.
    pub fn new(_config: &BrokerConfig) -> ClientRegistry {
        ClientRegistry::default()
    }

    /// Producer connections now (`rocketmq_producer_connections`); keep the signature.
    pub fn producer_connection_count(&self) -> usize {
        0
    }

    /// Consumer connections now (`rocketmq_consumer_connections`); keep the signature.
    pub fn consumer_connection_count(&self) -> usize {
        0
    }
}
