//! The harness's error: what went wrong, with enough context (the child's log tail) to debug a CI
//! failure without re-running it.

use std::fmt;

/// A harness failure: a process that would not start, a port that never opened, a bad frame.
#[derive(Debug)]
pub struct HarnessError {
    pub message: String,
}

impl HarnessError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// Wraps an I/O error with what the harness was doing when it happened.
    pub fn io(doing: impl fmt::Display, err: std::io::Error) -> Self {
        Self::new(format!("{doing}: {err}"))
    }
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HarnessError {}

pub type Result<T> = std::result::Result<T, HarnessError>;
