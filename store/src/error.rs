//! The store's error vocabulary: one enum, each variant saying what went wrong and where.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong inside `sluice-store`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An operating-system I/O failure; `context` says what the store was doing.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// On-disk data that cannot be trusted. Recovery refuses to start rather than silently dropping it.
    #[error("corrupt data in {} at offset {offset}: {reason}; restore the file from a replica or backup, or move the damaged files away to start with less data", file.display())]
    Corrupt {
        file: PathBuf,
        offset: u64,
        reason: String,
    },
    /// No room left on the device (or the usage is above the hard limit): writes are refused, reads continue.
    #[error(
        "disk full: {0}; free space or lower fileReservedTime so retention can delete old files"
    )]
    DiskFull(String),
    /// A message that the store must not accept (bad topic, wrong sysflag for a batch, malformed record...).
    #[error("illegal message: {reason}")]
    MessageIllegal { reason: String },
    /// The encoded properties do not fit in a signed 16-bit length.
    #[error("message properties are {len} bytes, more than the 32767 the record format allows")]
    PropertiesTooLong { len: usize },
    /// The body (or whole record) exceeds `maxMessageSize`.
    #[error("message of {size} bytes exceeds maxMessageSize {max}")]
    MessageTooLarge { size: usize, max: usize },
    /// A record that does not fit in one segment file at all.
    #[error("record of {len} bytes cannot fit in a segment of {segment} bytes; raise the mapped file size")]
    RecordLargerThanSegment { len: usize, segment: u64 },
    /// Offsets or state that do not line up (an internal contract was broken by the caller).
    #[error("invalid offset: {0}")]
    InvalidOffset(String),
    /// A configuration value the store cannot work with.
    #[error("bad store configuration: {0}")]
    BadConfig(String),
    /// Another process holds the store directory.
    #[error("store directory {} is locked by another process; stop it first", .0.display())]
    Locked(PathBuf),
    /// The store is shutting down or was never started.
    #[error("the store is shut down")]
    ShutDown,
}

impl StoreError {
    /// Wraps an `io::Error` with what the store was doing when it happened.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        if source.raw_os_error() == Some(libc::ENOSPC) {
            return StoreError::DiskFull(format!("{}: {source}", context.into()));
        }
        StoreError::Io {
            context: context.into(),
            source,
        }
    }

    /// True when the error means the disk has no room, so writes should be refused but reads continue.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, StoreError::DiskFull(_))
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
