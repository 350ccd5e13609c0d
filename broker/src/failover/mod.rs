//! Controller mode (automatic failover, see the `sluice-controller` crate): the broker side.
//!
//! - [`epoch`]: the replica's epoch history (`epochFileCheckpoint`) and the consistent offset
//!   a rejoining replica truncates to.

pub mod epoch;
