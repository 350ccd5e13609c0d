//! [`RemotingClient`]: one multiplexed connection per server address, connected on first use and
//! reconnected on the next use after it failed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::channel::Channel;
use super::codec::MAX_FRAME_LENGTH;
use super::connection::{self, ConnectionConfig, Context, NetStats};
use super::processor::ProcessorTable;
use crate::command::RemotingCommand;
use crate::error::{RemotingError, Result};

/// Client limits. Defaults follow the Java client (`NettyClientConfig`) where it has one.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub connect_timeout: Duration,
    /// A connection with no read and no write for this long is closed (`clientChannelMaxIdleTimeSeconds`).
    pub idle_timeout: Duration,
    pub max_frame: usize,
    /// Requests waiting for their answer on one connection; beyond it `invoke` fails with `Busy`.
    pub max_pending_per_connection: usize,
    /// Frames waiting to be written to one connection (`invoke` waits for room).
    pub outbound_queue: usize,
    /// Server-initiated requests processed at once per connection.
    pub max_in_flight_per_connection: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(3),
            idle_timeout: Duration::from_secs(120),
            max_frame: MAX_FRAME_LENGTH,
            max_pending_per_connection: 65_536,
            outbound_queue: 4096,
            max_in_flight_per_connection: 256,
        }
    }
}

impl ClientConfig {
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

/// A Remoting client. Cheap to clone; clones share the connections. Dropping the last clone closes
/// them.
#[derive(Clone)]
pub struct RemotingClient {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    config: ClientConfig,
    context: Arc<Context>,
    slots: Mutex<HashMap<String, Arc<AddrSlot>>>,
}

/// The connection to one address, and a lock so that concurrent first uses connect only once.
#[derive(Default)]
struct AddrSlot {
    channel: Mutex<Option<Channel>>,
    connecting: tokio::sync::Mutex<()>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing here is left half-updated by a panic; keep going.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl AddrSlot {
    fn live(&self) -> Option<Channel> {
        lock(&self.channel)
            .as_ref()
            .filter(|c| !c.is_closed())
            .cloned()
    }
}

impl RemotingClient {
    /// A client whose connections answer server-initiated requests with `processors`
    /// (NOTIFY_CONSUMER_IDS_CHANGED, CHECK_TRANSACTION_STATE, ...).
    pub fn new(config: ClientConfig, processors: ProcessorTable) -> Self {
        Self {
            inner: Arc::new(ClientInner {
                config,
                context: Arc::new(Context {
                    processors: Arc::new(processors),
                    in_flight: Arc::default(),
                    draining: CancellationToken::new(),
                    stats: Arc::default(),
                }),
                slots: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn stats(&self) -> &NetStats {
        &self.inner.context.stats
    }

    fn slot(&self, addr: &str) -> Arc<AddrSlot> {
        let mut slots = lock(&self.inner.slots);
        if let Some(slot) = slots.get(addr) {
            return slot.clone();
        }
        let slot = Arc::new(AddrSlot::default());
        slots.insert(addr.to_string(), slot.clone());
        slot
    }

    /// The open connection to `addr` ("host:port"), connecting first if there is none or the last
    /// one failed.
    pub async fn channel(&self, addr: &str) -> Result<Channel> {
        let slot = self.slot(addr);
        if let Some(channel) = slot.live() {
            return Ok(channel);
        }
        let _connecting = slot.connecting.lock().await;
        if let Some(channel) = slot.live() {
            return Ok(channel);
        }
        let config = &self.inner.config;
        let stream =
            match tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    return Err(RemotingError::Connection {
                        addr: addr.to_string(),
                        reason: format!("connect failed: {error}"),
                    })
                }
                Err(_) => {
                    return Err(RemotingError::Connection {
                        addr: addr.to_string(),
                        reason: format!("connect timed out after {:?}", config.connect_timeout),
                    })
                }
            };
        let channel = connection::start(
            stream,
            &config.connection(),
            self.inner.context.clone(),
            |_| {},
        )
        .map_err(|error| RemotingError::Connection {
            addr: addr.to_string(),
            reason: format!("connection setup failed: {error}"),
        })?;
        tracing::debug!(addr, id = channel.id(), "connected");
        *lock(&slot.channel) = Some(channel.clone());
        Ok(channel)
    }

    /// Whether an open connection to `addr` exists (no connection attempt is made).
    pub fn is_connected(&self, addr: &str) -> bool {
        let slot = lock(&self.inner.slots).get(addr).cloned();
        slot.is_some_and(|s| s.live().is_some())
    }

    /// Sends `request` to `addr` and waits up to `timeout` (connecting included) for its response.
    pub async fn invoke(
        &self,
        addr: &str,
        request: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand> {
        let start = Instant::now();
        let timed_out = || RemotingError::Timeout {
            addr: addr.to_string(),
            millis: timeout.as_millis() as u64,
        };
        let channel = tokio::time::timeout(timeout, self.channel(addr))
            .await
            .map_err(|_| timed_out())??;
        let left = timeout.checked_sub(start.elapsed()).ok_or_else(timed_out)?;
        channel
            .send_request(request, left)
            .await
            .map_err(|error| match error {
                // Report the timeout as the caller set it, not what was left after connecting.
                RemotingError::Timeout { .. } => timed_out(),
                other => other,
            })
    }

    /// Sends a oneway request to `addr` (no response; fails with `Busy` if the queue is full).
    pub async fn invoke_oneway(&self, addr: &str, request: RemotingCommand) -> Result<()> {
        self.channel(addr).await?.send_oneway(request)
    }

    /// Closes the connection to `addr`, if any; the next use reconnects.
    pub fn close(&self, addr: &str) {
        let slot = lock(&self.inner.slots).remove(addr);
        if let Some(channel) = slot.and_then(|s| lock(&s.channel).take()) {
            channel.close();
        }
    }

    /// Closes every connection; requests waiting on them fail with `Connection`. The client stays
    /// usable: the next use reconnects.
    pub fn close_all(&self) {
        self.inner.close_all();
    }
}

impl ClientInner {
    fn close_all(&self) {
        let slots: Vec<Arc<AddrSlot>> = lock(&self.slots).drain().map(|(_, s)| s).collect();
        for slot in slots {
            if let Some(channel) = lock(&slot.channel).take() {
                channel.close();
            }
        }
    }
}

impl Drop for ClientInner {
    fn drop(&mut self) {
        self.close_all();
    }
}
