//! The crate's error vocabulary.

use std::io;

/// Everything that can go wrong in the Remoting layer.
#[derive(Debug, thiserror::Error)]
pub enum RemotingError {
    /// A frame or header that does not follow the protocol. The connection that sent it is closed.
    #[error("malformed frame: {0}")]
    Frame(String),
    /// A frame whose declared length exceeds the limit (16 MiB by default).
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge { len: usize, max: usize },
    /// A header that could not be decoded (invalid JSON, truncated binary header, ...).
    #[error("malformed header: {0}")]
    Header(String),
    /// A typed request/response header is missing a required field or a field has the wrong type.
    #[error("header field `{field}`: {problem}")]
    HeaderField {
        field: &'static str,
        problem: String,
    },
    /// A body that could not be decoded.
    #[error("malformed body: {0}")]
    Body(String),
    /// A stored-message record that could not be decoded.
    #[error("malformed message record: {0}")]
    Record(String),
    /// No response arrived within the request's timeout.
    #[error("request to {addr} timed out after {millis} ms")]
    Timeout { addr: String, millis: u64 },
    /// The connection is closed or could not be established.
    #[error("connection to {addr} failed: {reason}")]
    Connection { addr: String, reason: String },
    /// Too many connections or requests in flight.
    #[error("busy: {0}")]
    Busy(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

pub type Result<T, E = RemotingError> = std::result::Result<T, E>;
