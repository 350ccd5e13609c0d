//! `sluice-remoting`: Apache RocketMQ's Remoting protocol, wire-compatible with the official clients.
//!
//! Map of the crate:
//! - [`command`]: [`RemotingCommand`], the logical frame (code, opaque, flags, extFields, body).
//! - [`code`]: request/response codes, language codes, version ordinals.
//! - [`codec`]: the length-prefixed frame codec and both header encodings (JSON, ROCKETMQ binary).
//! - [`header`]: typed request/response headers <-> `extFields`.
//! - [`body`]: JSON bodies (route data, heartbeat, register-broker, ...).
//! - [`json`]: the lenient fastjson-compatible JSON reader and writer helpers.
//! - [`message`]: the stored-message record codec, properties string, message ids, batch bodies.
//! - [`net`]: server (accept loop, processor table) and client (multiplexed connections).

pub mod body;
pub mod code;
pub mod codec;
pub mod command;
pub mod error;
pub mod header;
pub mod json;
pub mod message;
pub mod net;

pub use code::{LanguageCode, RequestCode, ResponseCode};
pub use command::{Body, ExtFields, RemotingCommand};
pub use error::{RemotingError, Result};
