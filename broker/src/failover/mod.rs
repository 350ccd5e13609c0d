//! Controller mode (automatic failover, see the `sluice-controller` crate): the broker side.
//!
//! With `enableControllerMode=true` the `mqbroker` process runs [`supervisor::run`]: it asks the
//! controller which replica of the group leads, starts the broker as master or as a slave of
//! that master (after cutting any diverged tail, see [`epoch`]), keeps a session with the
//! controller (heartbeats, replica state, the master's SyncStateSet), and restarts the broker in
//! its new role when the controller names another master.
//!
//! - [`epoch`]: the replica's epoch history (`epochFileCheckpoint`) and the consistent offset.
//! - [`gate`]: the master's write lease (writes stop when the controller stops answering, before
//!   the controller may elect another master) and the history served to replicas.
//! - [`link`]: requests to the controller and to the master.
//! - [`processor`] answers GET_BROKER_EPOCH_CACHE.
//! - [`supervisor`]: the role loop and the controller session.

pub mod epoch;
pub mod gate;
pub mod link;
pub mod processor;
pub mod supervisor;

pub use gate::FailoverGate;
