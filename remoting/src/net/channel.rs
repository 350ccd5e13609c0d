//! [`Channel`]: a cheap, clonable handle to one live connection (either side).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::connection::NetStats;
use crate::code::LanguageCode;
use crate::command::{RemotingCommand, FLAG_ONEWAY, FLAG_RESPONSE};
use crate::error::{RemotingError, Result};

/// What the writer task is asked to do.
pub(crate) enum Outbound {
    Frame(RemotingCommand),
    /// Write everything queued before this, then close the connection (graceful shutdown).
    Finish,
}

/// The peer's language and version, known once it has sent its first request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    pub language: LanguageCode,
    pub version: i32,
}

/// A handle to one connection: send requests to the peer, answer later, close, or wait for it to
/// go away. Clones share the connection.
#[derive(Clone)]
pub struct Channel {
    pub(crate) shared: Arc<ChannelShared>,
}

pub(crate) struct ChannelShared {
    pub id: u64,
    pub remote: SocketAddr,
    pub local: SocketAddr,
    pub outbound: mpsc::Sender<Outbound>,
    /// opaque → the task waiting for that response.
    pending: Mutex<HashMap<i32, oneshot::Sender<RemotingCommand>>>,
    max_pending: usize,
    pub closed: CancellationToken,
    close_reason: OnceLock<String>,
    pub peer: OnceLock<PeerInfo>,
    pub activity: Activity,
    stats: Arc<NetStats>,
}

/// Time of the last read or write, for the idle timeout.
pub(crate) struct Activity {
    base: Instant,
    last_millis: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            base: Instant::now(),
            last_millis: AtomicU64::new(0),
        }
    }

    pub fn touch(&self) {
        let now = self.base.elapsed().as_millis() as u64;
        self.last_millis.fetch_max(now, Ordering::Relaxed);
    }

    pub fn last(&self) -> Instant {
        self.base + Duration::from_millis(self.last_millis.load(Ordering::Relaxed))
    }
}

impl ChannelShared {
    pub fn new(
        id: u64,
        remote: SocketAddr,
        local: SocketAddr,
        outbound: mpsc::Sender<Outbound>,
        max_pending: usize,
        stats: Arc<NetStats>,
    ) -> Self {
        Self {
            id,
            remote,
            local,
            outbound,
            pending: Mutex::new(HashMap::new()),
            max_pending,
            closed: CancellationToken::new(),
            close_reason: OnceLock::new(),
            peer: OnceLock::new(),
            activity: Activity::new(),
            stats,
        }
    }

    fn pending(&self) -> MutexGuard<'_, HashMap<i32, oneshot::Sender<RemotingCommand>>> {
        // A panic while holding this lock cannot leave the map half-updated; keep using it.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks the connection closed (first reason wins); both tasks stop and the socket is dropped.
    pub fn close(&self, reason: impl Into<String>) {
        let _ = self.close_reason.set(reason.into());
        self.closed.cancel();
    }

    pub fn connection_error(&self) -> RemotingError {
        let reason = self
            .close_reason
            .get()
            .map_or("connection closed", String::as_str);
        RemotingError::Connection {
            addr: self.remote.to_string(),
            reason: reason.to_string(),
        }
    }

    /// Hands a response to the task waiting for it. A response nobody waits for (timed out) is
    /// dropped.
    pub fn complete(&self, response: RemotingCommand) {
        let waiter = self.pending().remove(&response.opaque);
        match waiter {
            Some(tx) => {
                let _ = tx.send(response);
            }
            None => tracing::debug!(
                peer = %self.remote,
                opaque = response.opaque,
                code = response.code,
                "dropping a response nobody waits for (timed out?)"
            ),
        }
    }

    /// Fails every request waiting on this connection (its senders are dropped; the waiters report
    /// the close reason). Called once the connection is closed.
    pub fn fail_pending(&self) {
        let waiters = std::mem::take(&mut *self.pending());
        drop(waiters);
    }

    pub fn pending_len(&self) -> usize {
        self.pending().len()
    }

    /// Queues a response. A full queue means the peer does not read what it asked for: the
    /// connection is closed rather than buffering without limit.
    pub fn enqueue_response(&self, response: RemotingCommand) -> Result<()> {
        match self.outbound.try_send(Outbound::Frame(response)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(
                    peer = %self.remote,
                    "closing connection: its outbound queue is full (the peer is not reading)"
                );
                self.stats
                    .closed_outbound_full
                    .fetch_add(1, Ordering::Relaxed);
                self.close("outbound queue full: the peer is not reading its responses");
                Err(self.connection_error())
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(self.connection_error()),
        }
    }
}

/// Removes a pending entry when the request finishes in any way (answered, timed out, cancelled).
struct PendingGuard<'a> {
    shared: &'a ChannelShared,
    opaque: i32,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.shared.pending().remove(&self.opaque);
    }
}

impl Channel {
    /// Connection id, unique within the process.
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    pub fn remote_addr(&self) -> SocketAddr {
        self.shared.remote
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local
    }

    /// The peer's language and version from its first request, if it has sent one.
    pub fn peer(&self) -> Option<PeerInfo> {
        self.shared.peer.get().copied()
    }

    /// Sends a request to the peer over this connection and waits up to `timeout` for the answer.
    /// The opaque is assigned here. On timeout the request is forgotten and a late answer dropped;
    /// the connection stays open.
    pub async fn send_request(
        &self,
        mut request: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand> {
        let shared = &*self.shared;
        request.flag &= !(FLAG_RESPONSE | FLAG_ONEWAY);
        let (tx, rx) = oneshot::channel();
        let opaque = {
            let mut pending = shared.pending();
            if pending.len() >= shared.max_pending {
                return Err(RemotingError::Busy(format!(
                    "{} requests already waiting on the connection to {}; retry later",
                    pending.len(),
                    shared.remote
                )));
            }
            // Skip an id still in use after the counter wrapped.
            let mut opaque = super::next_opaque();
            while pending.contains_key(&opaque) {
                opaque = super::next_opaque();
            }
            pending.insert(opaque, tx);
            opaque
        };
        let _guard = PendingGuard { shared, opaque };
        if shared.closed.is_cancelled() {
            return Err(shared.connection_error());
        }
        request.opaque = opaque;
        let exchange = async {
            shared
                .outbound
                .send(Outbound::Frame(request))
                .await
                .map_err(|_| shared.connection_error())?;
            rx.await.map_err(|_| shared.connection_error())
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(RemotingError::Timeout {
                addr: shared.remote.to_string(),
                millis: timeout.as_millis() as u64,
            }),
        }
    }

    /// Sends a oneway request (no answer expected). Fails with `Busy` rather than waiting when the
    /// outbound queue is full.
    pub fn send_oneway(&self, mut request: RemotingCommand) -> Result<()> {
        let shared = &*self.shared;
        if shared.closed.is_cancelled() {
            return Err(shared.connection_error());
        }
        request.flag = (request.flag & !FLAG_RESPONSE) | FLAG_ONEWAY;
        request.opaque = super::next_opaque();
        match shared.outbound.try_send(Outbound::Frame(request)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(RemotingError::Busy(format!(
                "outbound queue to {} is full; retry later",
                shared.remote
            ))),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(shared.connection_error()),
        }
    }

    /// Sends the answer to a request whose processor returned `None` (e.g. a held pull answered
    /// when messages arrive). The caller keeps the request's opaque in `response.opaque`; the
    /// RESPONSE flag is set here.
    pub fn send_response(&self, mut response: RemotingCommand) -> Result<()> {
        response.flag = (response.flag | FLAG_RESPONSE) & !FLAG_ONEWAY;
        response.serialize_type = crate::command::SerializeType::Json;
        self.shared.enqueue_response(response)
    }

    /// Closes the connection now; queued frames are dropped and pending requests fail.
    pub fn close(&self) {
        self.shared.close("closed locally");
    }

    pub fn is_closed(&self) -> bool {
        self.shared.closed.is_cancelled()
    }

    /// Completes when the connection is closed, for whatever reason.
    pub fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        self.shared.closed.clone().cancelled_owned()
    }

    /// Number of requests sent on this connection still waiting for their answer.
    pub fn pending_requests(&self) -> usize {
        self.shared.pending_len()
    }

    /// Asks the writer to send what is queued and then close (used by graceful shutdown). Closes at
    /// once if even that marker does not fit.
    pub(crate) fn finish(&self) {
        if self.shared.outbound.try_send(Outbound::Finish).is_err() {
            self.shared.close("shutting down");
        }
    }
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("id", &self.shared.id)
            .field("remote", &self.shared.remote)
            .field("closed", &self.is_closed())
            .finish()
    }
}
