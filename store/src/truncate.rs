//! Cutting a closed store back to a CommitLog offset: what a replica does when it rejoins its
//! group and finds that its log goes further than the new master's history (the tail written
//! while it was a master that lost its role, or that the new master never received).
//!
//! [`truncate_commit_log`] works on a store that is not open (it takes the directory lock):
//! the CommitLog is cut at `offset` (later segments deleted, stale bytes zeroed), the
//! checkpoint's durable offset lowered so recovery does not take the cut for damage, and the
//! abort file created so that the next [`MessageStore::open`](crate::MessageStore::open) runs
//! the abnormal recovery: ConsumeQueues cut to the new end and the index rebuilt from the
//! checkpoint.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::checkpoint::{self, StoreCheckpoint, StoreLock};
use crate::commit_log::CommitLog;
use crate::config::MessageStoreConfig;
use crate::error::{Result, StoreError};
use crate::fs::OsFs;
use crate::mapped_file_queue::MappedFileQueue;
use crate::recovery::{self, CrcCheck, ScanStart};

/// What a truncation removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncation {
    /// The CommitLog's max offset before.
    pub old_max_offset: u64,
    /// Its max offset now (the requested offset, or the old max when it was already shorter).
    pub new_max_offset: u64,
}

/// Cuts the CommitLog of the (closed) store described by `config` at `offset`. `offset` must be
/// a record boundary; the caller knows it from the replicas' epoch histories. Cutting below the
/// oldest retained byte is refused (the replica must be rebuilt from scratch instead).
pub fn truncate_commit_log(config: &MessageStoreConfig, offset: u64) -> Result<Truncation> {
    let root = &config.store_path_root_dir;
    let _lock = StoreLock::acquire(root).map_err(|e| {
        if e.kind() == std::io::ErrorKind::WouldBlock {
            StoreError::Locked(root.clone())
        } else {
            StoreError::io(format!("locking {}", root.display()), e)
        }
    })?;
    let log = Arc::new(MappedFileQueue::open(
        config.commit_log_dir(),
        config.mapped_file_size_commit_log,
        Arc::new(OsFs),
        false,
    )?);
    // Where the records really end (an unrecovered segment reports its full size).
    let commit_log = CommitLog::new(log.clone());
    let old_max = recovery::scan(&commit_log, ScanStart::Normal, CrcCheck::None).end_offset;
    if offset >= old_max {
        return Ok(Truncation {
            old_max_offset: old_max,
            new_max_offset: old_max,
        });
    }
    if offset < log.min_offset() {
        return Err(StoreError::Corrupt {
            file: log.segment_path(log.min_offset()),
            offset,
            reason: format!(
                "cannot truncate to {offset}: the oldest retained CommitLog byte is at {}; rebuild this replica from an empty store",
                log.min_offset()
            ),
        });
    }
    // Abort file first: if we die half-way, the next start still recovers abnormally.
    checkpoint::create_abort_file(root)
        .map_err(|e| StoreError::io("creating the abort file", e))?;
    let cp = StoreCheckpoint::open(config.checkpoint_path())
        .map_err(|e| StoreError::io("opening the checkpoint", e))?;
    let durable = cp.master_flushed_offset.load(Ordering::Acquire);
    if durable > offset as i64 {
        cp.master_flushed_offset
            .store(offset as i64, Ordering::Release);
    }
    if cp.confirm_phy_offset.load(Ordering::Acquire) > offset as i64 {
        cp.confirm_phy_offset
            .store(offset as i64, Ordering::Release);
    }
    cp.flush()
        .map_err(|e| StoreError::io("writing the checkpoint", e))?;
    log.truncate_dirty(offset)?;
    log.flush(0)?;
    tracing::warn!(
        from = old_max,
        to = offset,
        removed = old_max - offset,
        "CommitLog truncated to rejoin the replica group"
    );
    Ok(Truncation {
        old_max_offset: old_max,
        new_max_offset: offset,
    })
}
