//! The Sluice controller (`mqcontroller`): automatic failover for master/slave broker groups,
//! in the spirit of RocketMQ 5's controller mode.
//!
//! Brokers in controller mode register with it (CONTROLLER_REGISTER_BROKER), heartbeat every
//! second (BROKER_HEARTBEAT with their epoch and max offset), poll their group's state
//! (CONTROLLER_GET_REPLICA_INFO), and the master reports which replicas are in sync
//! (CONTROLLER_ALTER_SYNC_STATE_SET). When a master stops heartbeating for
//! `brokerNotActiveTimeoutMillis`, the controller elects the most advanced live in-sync replica,
//! bumps the group's epoch and pushes NOTIFY_BROKER_ROLE_CHANGED.
//!
//! - [`replicas`]: the deterministic state machine (groups, masters, epochs, SyncStateSets).
//! - [`store`]: the table on disk, saved before a change is answered.
//! - [`service`]: the Remoting server, liveness, the dead-master scan, notifications.
//!
//! One controller process holds the table; it is not replicated (no consensus), so it is a
//! single point of failure for *elections* (not for serving messages). A replicated controller
//! would drive [`replicas::ReplicaTable`] from a Raft log (e.g. openraft).

pub mod cli;
pub mod config;
pub mod error;
pub mod replicas;
pub mod service;
pub mod store;

pub use config::ControllerConfig;
pub use error::{ControllerError, Result};
pub use service::Controller;
