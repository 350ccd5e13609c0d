//! `sluice-store`: RocketMQ-format storage (CommitLog, ConsumeQueue, IndexFile).
