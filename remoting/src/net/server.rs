//! [`RemotingServer`]: accept loop, connection limit, processor dispatch, graceful shutdown.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dashmap::DashMap;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::channel::Channel;
use super::codec::MAX_FRAME_LENGTH;
use super::connection::{self, ConnectionConfig, Context, Gauge, NetStats};
use super::processor::ProcessorTable;
use crate::error::Result;

/// Server limits. Defaults follow the Java server (`NettyServerConfig`) where it has one.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port (see [`RemotingServer::local_addr`]).
    pub bind_addr: SocketAddr,
    /// Connections beyond this are closed as soon as they are accepted.
    pub max_connections: usize,
    /// A connection with no read and no write for this long is closed (`serverChannelMaxIdleTimeSeconds`).
    pub idle_timeout: Duration,
    /// Largest accepted value of a frame's length field.
    pub max_frame: usize,
    /// Requests of one connection processed at once; beyond it they are refused with
    /// SYSTEM_BUSY `[OVERLOAD]` (a held pull counts until it is answered or handed off).
    pub max_in_flight_per_connection: usize,
    /// Frames waiting to be written to one connection; a response that does not fit closes it.
    pub outbound_queue: usize,
    /// Server-initiated requests waiting for their answer on one connection.
    pub max_pending_per_connection: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind_addr: SocketAddr::from(([0, 0, 0, 0], 10911)),
            max_connections: 10_000,
            idle_timeout: Duration::from_secs(120),
            max_frame: MAX_FRAME_LENGTH,
            max_in_flight_per_connection: 4096,
            outbound_queue: 4096,
            max_pending_per_connection: 1024,
        }
    }
}

impl ServerConfig {
    /// Defaults, listening on `bind_addr`.
    pub fn new(bind_addr: SocketAddr) -> Self {
        Self {
            bind_addr,
            ..Self::default()
        }
    }

    fn connection(&self) -> ConnectionConfig {
        ConnectionConfig {
            idle_timeout: self.idle_timeout,
            max_frame: self.max_frame,
            max_in_flight: self.max_in_flight_per_connection,
            outbound_queue: self.outbound_queue,
            max_pending: self.max_pending_per_connection,
        }
    }
}

/// A running server. Dropping it stops accepting and closes every connection at once; call
/// [`shutdown`](Self::shutdown) to let in-flight requests finish first.
pub struct RemotingServer {
    local_addr: SocketAddr,
    shared: Arc<ServerShared>,
    accept_task: Mutex<Option<JoinHandle<()>>>,
}

struct ServerShared {
    config: ServerConfig,
    context: Arc<Context>,
    stop_accepting: CancellationToken,
    connections: Arc<Gauge>,
    channels: DashMap<u64, Channel>,
}

impl RemotingServer {
    /// Binds `config.bind_addr` and starts accepting connections.
    pub async fn start(config: ServerConfig, processors: ProcessorTable) -> Result<Self> {
        let listener = TcpListener::bind(config.bind_addr).await?;
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(ServerShared {
            context: Arc::new(Context {
                processors: Arc::new(processors),
                in_flight: Arc::default(),
                draining: CancellationToken::new(),
                stats: Arc::default(),
            }),
            config,
            stop_accepting: CancellationToken::new(),
            connections: Arc::default(),
            channels: DashMap::new(),
        });
        let accept_task = tokio::spawn(accept_loop(listener, shared.clone()));
        tracing::info!(addr = %local_addr, "remoting server listening");
        Ok(Self {
            local_addr,
            shared,
            accept_task: Mutex::new(Some(accept_task)),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn stats(&self) -> &NetStats {
        &self.shared.context.stats
    }

    pub fn active_connections(&self) -> usize {
        self.shared.connections.get()
    }

    /// Requests whose processor is still running, across all connections.
    pub fn in_flight_requests(&self) -> usize {
        self.shared.context.in_flight.get()
    }

    /// The connection with this id, if it is still open.
    pub fn channel(&self, id: u64) -> Option<Channel> {
        self.shared.channels.get(&id).map(|c| c.clone())
    }

    /// Every open connection (a snapshot).
    pub fn channels(&self) -> Vec<Channel> {
        self.shared.channels.iter().map(|c| c.clone()).collect()
    }

    /// Graceful shutdown: stop accepting, refuse new requests with SYSTEM_BUSY, let the running
    /// ones finish and their responses go out until `grace` has passed, then close everything.
    pub async fn shutdown(&self, grace: Duration) {
        let deadline = Instant::now() + grace;
        let shared = &self.shared;
        shared.stop_accepting.cancel();
        shared.context.draining.cancel();
        let accept_task = self
            .accept_task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(task) = accept_task {
            let _ = task.await;
        }
        let drained = tokio::time::timeout_at(deadline, shared.context.in_flight.wait_zero())
            .await
            .is_ok();
        if !drained {
            tracing::warn!(
                in_flight = shared.context.in_flight.get(),
                "shutdown grace period over with requests still running"
            );
        }
        for channel in self.channels() {
            channel.finish();
        }
        if tokio::time::timeout_at(deadline, shared.connections.wait_zero())
            .await
            .is_err()
        {
            for channel in self.channels() {
                channel.close();
            }
            shared.connections.wait_zero().await;
        }
        tracing::info!(addr = %self.local_addr, "remoting server stopped");
    }
}

impl Drop for RemotingServer {
    fn drop(&mut self) {
        self.shared.stop_accepting.cancel();
        for channel in self.channels() {
            channel.close();
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<ServerShared>) {
    let connection_config = shared.config.connection();
    loop {
        let accepted = tokio::select! {
            biased;
            _ = shared.stop_accepting.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Usually out of file descriptors: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::select! {
                    _ = shared.stop_accepting.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        let stats = &shared.context.stats;
        if shared.connections.get() >= shared.config.max_connections {
            stats.connections_rejected.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                %peer,
                limit = shared.config.max_connections,
                "connection limit reached; closing new connection"
            );
            drop(stream);
            continue;
        }
        stats.connections_accepted.fetch_add(1, Ordering::Relaxed);
        let open = shared.connections.enter();
        let registry = Arc::downgrade(&shared);
        let started = connection::start(
            stream,
            &connection_config,
            shared.context.clone(),
            move |id| {
                if let Some(shared) = registry.upgrade() {
                    shared.channels.remove(&id);
                }
                drop(open);
            },
        );
        match started {
            Ok(channel) => {
                tracing::debug!(%peer, id = channel.id(), "connection accepted");
                shared.channels.insert(channel.id(), channel.clone());
                // The connection may have ended before it was registered.
                if channel.is_closed() {
                    shared.channels.remove(&channel.id());
                }
            }
            Err(error) => tracing::debug!(%peer, %error, "could not set up connection"),
        }
    }
}
