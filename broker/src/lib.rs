//! `sluice-broker`: the broker behind `mqbroker`.

pub mod client_registry;
pub mod rebalance_lock;
