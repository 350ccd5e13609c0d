//! `sluice-store`: RocketMQ-format storage (CommitLog, ConsumeQueue, IndexFile).
//!
//! Map of the crate:
//! - [`error`]: [`StoreError`], the one error enum.
//! - [`config`]: [`MessageStoreConfig`], Apache's store keys and defaults.
//! - [`fs`]: the file-system seam ([`StoreFs`]) through which tests inject ENOSPC and failed syncs.
//! - [`mapped_file`]: one memory-mapped segment, zero-copy reads of published bytes.
//! - [`mapped_file_queue`]: a directory of segments as one log: append, roll-over with a pre-faulted next segment,
//!   read, flush, truncate, delete oldest.
//! - [`commit_log`]: appends encoded records (queue and physical offsets assigned under one lock, BLANK rule,
//!   batches), reads by physical offset, raw read/append for replication.
//! - [`flush`]: the flush thread: ASYNC_FLUSH periodic flush, SYNC_FLUSH group commit with oneshot waiters.
//! - [`dispatch`]: the thread that tails the CommitLog into the [`dispatch::Dispatcher`]s and wakes long polls;
//!   [`store_dispatchers`]: the ConsumeQueue and IndexFile builders.
//! - [`recovery`]: the CRC-checked scan that finds the valid end, truncates a torn tail, refuses mid-log damage.
//! - [`truncate`]: cutting a closed store back to an offset (a replica rejoining with a diverged tail).
//! - [`message_store`] / [`message_store_read`]: [`MessageStore`], the API the broker uses (open, put,
//!   put_batch, get_messages, lookups, key queries, offsets by time, wait_for_new, stats, shutdown).
//!
//! Typical use (the broker):
//! ```no_run
//! # async fn demo(msg: sluice_remoting::message::MessageRecord) -> sluice_store::Result<()> {
//! use sluice_store::{AcceptAll, MessageStore, MessageStoreConfig, PutStatus};
//! // Blocking (recovery): before the runtime starts, or in spawn_blocking.
//! let store = MessageStore::open(MessageStoreConfig::with_root("/data/store"))?;
//! let put = store.put(&msg).await;
//! assert_eq!(put.status, PutStatus::PutOk);
//! let pulled = store.get_messages(&msg.topic, msg.queue_id, 0, 32, &AcceptAll);
//! // `pulled.records` are slices of the mapped CommitLog: send them as the pull body without copying.
//! # let _ = pulled;
//! store.shutdown()?;
//! # Ok(())
//! # }
//! ```

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
mod put_checks;
pub mod put_result;
pub mod recovery;
mod segment_allocator;
pub mod store_dispatchers;
pub mod truncate;

pub use config::{FlushDiskType, MessageStoreConfig};
pub use error::{Result, StoreError};
pub use fs::{FaultyFs, OsFs, StoreFs};
pub use mapped_file::MappedFile;
pub use mapped_file_queue::{EndOfSegment, MappedFileQueue};
pub use message_store::{MessageStore, PutResult, PutStatus, RecoveryReport};
pub use message_store_read::{
    AcceptAll, GetResult, GetStatus, MessageFilter, QueryResult, StoreStats, TagCodes,
};
pub use truncate::{truncate_commit_log, Truncation};

// ConsumeQueue, IndexFile, checkpoint and retention (idx).
pub mod checkpoint;
pub mod cleanup;
pub mod consume_queue;
pub mod consume_queue_store;
pub mod disk;
pub mod index_file;
pub mod index_service;
pub mod local_time;
