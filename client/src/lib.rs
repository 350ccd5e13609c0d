//! `sluice-client`: a Rust client for RocketMQ-compatible clusters.
pub mod admin;
