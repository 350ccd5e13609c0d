//! `sluice-broker`: the broker behind `mqbroker`.
pub mod sql92;
