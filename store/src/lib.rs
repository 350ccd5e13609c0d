//! `sluice-store`: RocketMQ-format storage (CommitLog, ConsumeQueue, IndexFile).
//!
//! Map of the crate:
//! - [`error`]: [`StoreError`], the one error enum.
//! - [`config`]: [`MessageStoreConfig`], Apache's store keys and defaults.
//! - [`fs`]: the file-system seam ([`StoreFs`]) through which tests inject ENOSPC and failed syncs.
//! - [`mapped_file`]: one memory-mapped segment, zero-copy reads of published bytes.
//! - [`mapped_file_queue`]: a directory of segments as one log: append, roll-over with a pre-faulted next segment,
//!   read, flush, truncate, delete oldest.

pub mod commit_log;
pub mod config;
pub mod dispatch;
pub mod error;
pub mod flush;
pub mod fs;
pub mod mapped_file;
pub mod mapped_file_queue;
pub mod message_store;
pub mod message_store_read;
pub mod recovery;
pub mod store_dispatchers;

pub use config::{FlushDiskType, MessageStoreConfig};
pub use error::{Result, StoreError};
pub use fs::{FaultyFs, OsFs, StoreFs};
pub use mapped_file::MappedFile;
pub use mapped_file_queue::{EndOfSegment, MappedFileQueue};
pub use message_store::{MessageStore, PutResult, PutStatus, RecoveryReport};
pub use message_store_read::{
    AcceptAll, GetResult, GetStatus, MessageFilter, QueryResult, StoreStats, TagCodes,
};

// ConsumeQueue, IndexFile, checkpoint and retention (idx).
pub mod checkpoint;
pub mod cleanup;
pub mod consume_queue;
pub mod consume_queue_store;
pub mod disk;
pub mod index_file;
pub mod index_service;
pub mod local_time;
