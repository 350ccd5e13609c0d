//! `sluice-client`: a Rust client for RocketMQ-compatible clusters.
