//! The NameServer's error vocabulary.

use std::path::PathBuf;

use sluice_remoting::RemotingError;

#[derive(Debug, thiserror::Error)]
pub enum NamesrvError {
    /// A configuration key with a value that cannot be used.
    #[error("config key `{key}`: {problem}")]
    Config { key: String, problem: String },
    /// A file (config, KV store) that could not be read or written.
    #[error("{}: {source}", path.display())]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file whose content is not what it should be.
    #[error("{}: {problem}", path.display())]
    Corrupt { path: PathBuf, problem: String },
    #[error(transparent)]
    Remoting(#[from] RemotingError),
}

pub type Result<T, E = NamesrvError> = std::result::Result<T, E>;
