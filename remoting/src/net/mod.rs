//! The Remoting transport: a server (accept loop, processor table, connection limit, idle timeout,
//! graceful shutdown) and a client (one multiplexed connection per address, requests matched by
//! `opaque`, timeouts, oneway, reconnect on next use).
//!
//! Both sides share one connection engine ([`connection`]): per TCP connection a reader task that
//! decodes frames, completes pending requests and runs processors concurrently, and a writer task
//! that drains a bounded queue and writes each frame's head followed by its body parts with
//! vectored writes (bodies are never copied, so pull responses can carry mapped CommitLog slices).
//! A [`Channel`] is the cheap handle to one such connection, on either side.

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
