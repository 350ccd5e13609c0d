//! What a put answers: Apache's `PutMessageStatus` and the offsets, ids and sizes of the stored records.

use crate::error::StoreError;

/// How a put ended (Apache's `PutMessageStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutStatus {
    PutOk,
    /// Stored, but not known durable within `syncFlushTimeout`.
    FlushDiskTimeout,
    FlushSlaveTimeout,
    SlaveNotAvailable,
    /// Shutting down, or the disk is full: nothing stored.
    ServiceNotAvailable,
    CreateMappedFileFailed,
    MessageIllegal,
    PropertiesSizeExceeded,
    OsPageCacheBusy,
    UnknownError,
}

impl PutStatus {
    /// True when the message is in the CommitLog (possibly not yet durable or replicated).
    pub fn is_stored(self) -> bool {
        matches!(
            self,
            PutStatus::PutOk
                | PutStatus::FlushDiskTimeout
                | PutStatus::FlushSlaveTimeout
                | PutStatus::SlaveNotAvailable
        )
    }
}

/// The answer to a put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutResult {
    pub status: PutStatus,
    /// Physical offset of the (first) record; 0 when nothing was stored.
    pub physical_offset: u64,
    /// Queue offset of the (first) record.
    pub queue_offset: i64,
    /// Offset message id(s): comma-joined for a batch.
    pub msg_id: String,
    pub wrote_bytes: u64,
    pub msg_num: u32,
    pub store_timestamp: i64,
    /// Why it failed, for the response remark.
    pub remark: Option<String>,
}

impl PutResult {
    pub(crate) fn failed(status: PutStatus, remark: impl Into<String>) -> Self {
        PutResult {
            status,
            physical_offset: 0,
            queue_offset: 0,
            msg_id: String::new(),
            wrote_bytes: 0,
            msg_num: 0,
            store_timestamp: 0,
            remark: Some(remark.into()),
        }
    }

    pub(crate) fn from_error(e: &StoreError) -> Self {
        let status = match e {
            StoreError::MessageIllegal { .. }
            | StoreError::MessageTooLarge { .. }
            | StoreError::RecordLargerThanSegment { .. } => PutStatus::MessageIllegal,
            StoreError::PropertiesTooLong { .. } => PutStatus::PropertiesSizeExceeded,
            StoreError::DiskFull(_) | StoreError::ShutDown => PutStatus::ServiceNotAvailable,
            StoreError::Io { .. } => PutStatus::CreateMappedFileFailed,
            _ => PutStatus::UnknownError,
        };
        PutResult::failed(status, e.to_string())
    }
}
