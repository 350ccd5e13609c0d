//! Errors of the controller process.

/// Why the controller cannot start or keep its state.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("{key}: {problem}")]
    Config { key: String, problem: String },
    #[error("{doing}: {source}")]
    Io {
        doing: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Remoting(#[from] sluice_remoting::RemotingError),
}

pub type Result<T, E = ControllerError> = std::result::Result<T, E>;
