//! [`ClientError`]: everything a client call can fail with, each variant saying what happened and
//! where (broker address, response code name, remark).

use sluice_remoting::{RemotingCommand, RemotingError, ResponseCode};

/// The crate's one error type.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A configuration value is unusable (no NameServer address, bad `host:port`, ...).
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// The message cannot be sent as it is (bad topic, empty or oversized body, ...).
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    /// A server answered with an error code.
    #[error("{addr} answered {code_name}({code}) to {request}: {remark}")]
    Broker {
        addr: String,
        /// The request code name (`SEND_MESSAGE_V2`, ...).
        request: &'static str,
        code: i32,
        code_name: &'static str,
        remark: String,
    },
    /// No NameServer knows the topic, or its route has no usable queue.
    #[error("no route for topic {topic}: {reason}")]
    NoRoute { topic: String, reason: String },
    /// No address is known for a broker name (its route has no master, or was never fetched).
    #[error("no address known for broker {broker_name}")]
    BrokerNotFound { broker_name: String },
    /// Transport failure: connection refused or lost, timeout, busy. The inner error names the
    /// address.
    #[error(transparent)]
    Remoting(#[from] RemotingError),
    /// A response that does not follow the protocol (missing header field, bad body).
    #[error("malformed {request} response from {addr}: {reason}")]
    Protocol {
        addr: String,
        request: &'static str,
        reason: String,
    },
    /// Every attempt of a send failed; `last` is the final attempt's error.
    #[error("send to topic {topic} failed after {attempts} attempt(s): {last}")]
    SendFailed {
        topic: String,
        attempts: u32,
        last: Box<ClientError>,
    },
    /// The call's time budget ran out before an attempt could be made.
    #[error("{what} timed out after {millis} ms")]
    Timeout { what: String, millis: u64 },
    /// The producer or consumer is not started, or already shut down.
    #[error("{0}")]
    NotRunning(&'static str),
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// The Java constant name of a response code, or `UNKNOWN` for codes this crate does not know.
pub fn response_code_name(code: i32) -> &'static str {
    ResponseCode::from_i32(code).map_or("UNKNOWN", ResponseCode::name)
}

/// The Java constant name of a request code, or `UNKNOWN`.
pub fn request_code_name(code: i32) -> &'static str {
    sluice_remoting::RequestCode::from_i32(code).map_or("UNKNOWN", |c| c.name())
}

impl ClientError {
    /// The error for a response with a failure code.
    pub fn from_response(addr: &str, request_code: i32, response: &RemotingCommand) -> Self {
        ClientError::Broker {
            addr: addr.to_string(),
            request: request_code_name(request_code),
            code: response.code,
            code_name: response_code_name(response.code),
            remark: response.remark.clone().unwrap_or_default(),
        }
    }

    /// The response code, when a server answered with an error.
    pub fn response_code(&self) -> Option<i32> {
        match self {
            ClientError::Broker { code, .. } => Some(*code),
            ClientError::SendFailed { last, .. } => last.response_code(),
            _ => None,
        }
    }

    /// Whether the error came from the transport (connection or timeout) rather than an answer.
    pub fn is_transport(&self) -> bool {
        matches!(self, ClientError::Remoting(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_errors_name_address_code_and_remark() {
        let request = RemotingCommand::request(310);
        let response = RemotingCommand::response_to(&request, ResponseCode::ServiceNotAvailable)
            .with_remark("disk full");
        let err = ClientError::from_response("10.0.0.1:10911", 310, &response);
        let text = err.to_string();
        assert!(text.contains("10.0.0.1:10911"), "{text}");
        assert!(text.contains("SERVICE_NOT_AVAILABLE(14)"), "{text}");
        assert!(text.contains("SEND_MESSAGE_V2"), "{text}");
        assert!(text.contains("disk full"), "{text}");
        assert_eq!(err.response_code(), Some(14));
        let unknown = RemotingCommand::response_to(&request, 4242);
        let text = ClientError::from_response("a:1", 310, &unknown).to_string();
        assert!(text.contains("UNKNOWN(4242)"), "{text}");
    }
}
