//! The Remoting transport: a server (accept loop, processor table, connection limit, idle timeout,
//! graceful shutdown) and a client (one multiplexed connection per address, requests matched by
//! `opaque`, timeouts, oneway, reconnect on next use).
//!
//! Both sides share one connection engine ([`connection`]): per TCP connection a reader task that
//! decodes frames, completes pending requests and runs processors concurrently, and a writer task
//! that drains a bounded queue and writes each frame's head followed by its body parts with
//! vectored writes (bodies are never copied, so pull responses can carry mapped CommitLog slices).
//! A [`Channel`] is the cheap handle to one such connection, on either side.
//!
//! Limits, all configurable: connections per server (beyond: closed at once), requests in flight
//! per connection (beyond: SYSTEM_BUSY `[OVERLOAD]`), frames queued for the writer (a response that
//! does not fit closes the connection: its peer is not reading), requests waiting for an answer
//! (beyond: `Busy`), frame size (16 MiB), idle time (120 s without a read or a write).
//!
//! ```no_run
//! use std::time::Duration;
//! use sluice_remoting::net::{Channel, ClientConfig, ProcessorTable, RemotingClient, RemotingServer, ServerConfig};
//! use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};
//!
//! # async fn demo() -> sluice_remoting::Result<()> {
//! // Closures are processors; their argument types must be written out.
//! let table = ProcessorTable::new().with(
//!     RequestCode::HeartBeat,
//!     |_channel: Channel, request: RemotingCommand| async move {
//!         Some(RemotingCommand::response_to(&request, ResponseCode::Success))
//!     },
//! );
//! let server = RemotingServer::start(ServerConfig::new(([127, 0, 0, 1], 0).into()), table).await?;
//!
//! let client = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
//! let addr = server.local_addr().to_string();
//! let response = client
//!     .invoke(&addr, RemotingCommand::request(RequestCode::HeartBeat), Duration::from_secs(3))
//!     .await?;
//! assert_eq!(response.code, ResponseCode::Success.as_i32());
//! server.shutdown(Duration::from_secs(5)).await;
//! # Ok(())
//! # }
//! ```

mod channel;
mod client;
mod connection;
mod processor;
mod server;

pub use channel::{Channel, PeerInfo};
pub use client::{ClientConfig, RemotingClient};
pub use connection::NetStats;
pub use processor::{ProcessorTable, RequestProcessor};
pub use server::{RemotingServer, ServerConfig};

use crate::codec;
use std::sync::atomic::{AtomicI32, Ordering};

/// Process-global request id, like Java's `RemotingCommand.requestId` (starts at 0, wraps).
static NEXT_OPAQUE: AtomicI32 = AtomicI32::new(0);

fn next_opaque() -> i32 {
    NEXT_OPAQUE.fetch_add(1, Ordering::Relaxed)
}
