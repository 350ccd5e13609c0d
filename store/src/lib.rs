//! `sluice-store`: RocketMQ-format storage (CommitLog, ConsumeQueue, IndexFile).

// ConsumeQueue, IndexFile, checkpoint and retention (idx).
pub mod checkpoint;
pub mod index_file;
pub mod index_service;
pub mod local_time;
