//! The crate's error vocabulary.

use sluice_remoting::RemotingError;
use sluice_store::StoreError;

/// Everything that can go wrong in the broker outside a single request's answer.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// A `broker.conf` key with a value the broker cannot use.
    #[error("bad config: {0}")]
    Config(String),
    /// A topic or group name that breaks the naming rules (the message is the remark clients see).
    #[error("{0}")]
    IllegalName(String),
    /// A metadata file (`topics.json`, ...) that cannot be read or written.
    #[error("{path}: {problem}")]
    MetadataFile { path: String, problem: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Remoting(#[from] RemotingError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = BrokerError> = std::result::Result<T, E>;
