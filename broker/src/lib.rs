//! `sluice-broker`: the broker behind `mqbroker`.
//!
//! Map of the crate:
//! - [`config`]: [`BrokerConfig`], `broker.conf` with Apache's keys and defaults.
//! - [`state`]: [`BrokerState`], what every processor shares (config, store, managers, metrics).
//! - [`topic_config`], [`subscription_group`], [`consumer_offset`]: the metadata managers and their
//!   JSON files under `{storePathRootDir}/config/`, written through [`persist`].
//! - [`registration`]: REGISTER_BROKER / UNREGISTER_BROKER with every NameServer.
//! - [`flow_control`]: send admission (SYSTEM_BUSY when a send waited too long).
//! - [`metrics`]: counters and the Prometheus endpoint.
//! - [`processor`]: the request-code table, one module per request family.
//! - [`ha`]: master/slave replication (HA port, SYNC_MASTER waits, slave config sync, haStatus).
//! - [`schedule`]: delay-level delivery from `SCHEDULE_TOPIC_XXXX` and `delayOffset.json`.
//! - [`transaction`]: END_TRANSACTION and the check-back of undecided half messages.
//! - [`timer`]: arbitrary-time delivery from `rmq_sys_wheel_timer` (timer log + wheel).
//! - [`broker`]: [`Broker::start`] / [`Broker::shutdown`]; [`cli`]: the `mqbroker` command line.

pub mod broker;
pub mod cli;
pub mod client_registry;
pub mod config;
pub mod consumer_offset;
pub mod error;
pub mod failover;
pub mod filter;
pub mod flow_control;
pub mod ha;
pub mod long_polling;
pub mod metrics;
pub mod metrics_http;
pub mod persist;
pub mod processor;
pub mod rebalance_lock;
pub mod registration;
pub mod schedule;
pub mod sql92;
pub mod state;
pub mod subscription_group;
pub mod timer;
pub mod topic_config;
pub mod transaction;

pub use broker::Broker;
pub use config::BrokerConfig;
pub use error::BrokerError;
pub use state::BrokerState;
