//! The engine of one connection, shared by server and client: a reader task (decode, route
//! responses to their waiters, run processors concurrently, idle timeout) and a writer task (drain
//! the bounded outbound queue, write heads and body parts with vectored writes, no body copies).

use std::io::{self, IoSlice};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{FutureExt, StreamExt};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use super::channel::{Channel, ChannelShared, Outbound, PeerInfo};
use super::codec::{encode_head, RemotingCodec};
use super::processor::{code_not_supported, ProcessorTable};
use crate::code::ResponseCode;
use crate::command::{RemotingCommand, SerializeType, FLAG_ONEWAY, FLAG_RESPONSE};

/// Frames gathered into one vectored write at most (bounded by `MAX_IOVECS` slices per syscall).
const MAX_BATCH_FRAMES: usize = 64;
const MAX_BATCH_BYTES: usize = 1 << 20;
const MAX_IOVECS: usize = 64;

/// Limits of one connection.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionConfig {
    pub idle_timeout: Duration,
    pub max_frame: usize,
    /// Requests from the peer being processed at once; the reader stops reading beyond this.
    pub max_in_flight: usize,
    /// Frames waiting for the writer. A response that does not fit closes the connection.
    pub outbound_queue: usize,
    /// Requests we sent that still wait for their response.
    pub max_pending: usize,
}

/// Counters readable at any time (e.g. by the broker's metrics).
#[derive(Debug, Default)]
pub struct NetStats {
    pub connections_accepted: AtomicU64,
    /// Connections closed at once because the connection limit was reached.
    pub connections_rejected: AtomicU64,
    /// Connections closed because the peer sent an undecodable or oversized frame.
    pub closed_malformed: AtomicU64,
    /// Connections closed because their outbound queue was full (the peer did not read).
    pub closed_outbound_full: AtomicU64,
    /// Connections closed after the idle timeout.
    pub closed_idle: AtomicU64,
    /// Requests refused with SYSTEM_BUSY because their connection had too many in flight.
    pub requests_overloaded: AtomicU64,
}

/// A count that can be awaited down to zero (connections open, requests being processed).
#[derive(Debug, Default)]
pub(crate) struct Gauge {
    value: AtomicUsize,
    zero: Notify,
}

pub(crate) struct GaugeGuard(Arc<Gauge>);

impl Gauge {
    pub fn enter(self: &Arc<Self>) -> GaugeGuard {
        self.value.fetch_add(1, Ordering::AcqRel);
        GaugeGuard(self.clone())
    }

    pub fn get(&self) -> usize {
        self.value.load(Ordering::Acquire)
    }

    pub async fn wait_zero(&self) {
        loop {
            let notified = self.zero.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.get() == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        if self.0.value.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.zero.notify_waiters();
        }
    }
}

/// What every connection of one server (or one client) shares.
pub(crate) struct Context {
    pub processors: Arc<ProcessorTable>,
    /// Requests from peers being processed, across all connections.
    pub in_flight: Arc<Gauge>,
    /// Cancelled when the server shuts down: new requests are refused with SYSTEM_BUSY.
    pub draining: CancellationToken,
    pub stats: Arc<NetStats>,
}

static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

/// Starts the reader and writer tasks of `stream`. `on_end` gets the connection id once both
/// have stopped.
pub(crate) fn start(
    stream: TcpStream,
    config: &ConnectionConfig,
    context: Arc<Context>,
    on_end: impl FnOnce(u64) + Send + 'static,
) -> io::Result<Channel> {
    let remote = stream.peer_addr()?;
    let local = stream.local_addr()?;
    // Requests and responses are small and latency-bound; never wait for Nagle.
    stream.set_nodelay(true)?;
    let (read_half, write_half) = stream.into_split();
    let (tx, rx) = mpsc::channel(config.outbound_queue.max(1));
    let id = NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed);
    let shared = Arc::new(ChannelShared::new(
        id,
        remote,
        local,
        tx,
        config.max_pending.max(1),
        context.stats.clone(),
    ));
    let channel = Channel { shared };
    let writer = tokio::spawn(write_loop(write_half, rx, channel.shared.clone()));
    let reader_channel = channel.clone();
    let config = config.clone();
    tokio::spawn(async move {
        read_loop(read_half, &config, &context, &reader_channel).await;
        reader_channel.shared.fail_pending();
        let _ = writer.await;
        tracing::debug!(peer = %remote, id, "connection closed");
        on_end(id);
    });
    Ok(channel)
}

async fn read_loop(
    read_half: OwnedReadHalf,
    config: &ConnectionConfig,
    context: &Arc<Context>,
    channel: &Channel,
) {
    let shared = &*channel.shared;
    let mut frames = FramedRead::new(read_half, RemotingCodec::with_max_frame(config.max_frame));
    let permits = Arc::new(Semaphore::new(config.max_in_flight.max(1)));
    // One timer for the whole connection: when it fires, re-arm it from the last activity.
    let idle = tokio::time::sleep(config.idle_timeout);
    tokio::pin!(idle);
    // Registered once, not per frame.
    let closed = shared.closed.cancelled();
    tokio::pin!(closed);
    loop {
        let next = tokio::select! {
            biased;
            _ = closed.as_mut() => return,
            _ = idle.as_mut() => {
                let deadline = shared.activity.last() + config.idle_timeout;
                if deadline <= Instant::now() {
                    tracing::info!(peer = %shared.remote, "closing idle connection");
                    context.stats.closed_idle.fetch_add(1, Ordering::Relaxed);
                    shared.close(format!("idle for {:?}", config.idle_timeout));
                    return;
                }
                idle.as_mut().reset(deadline);
                continue;
            }
            next = frames.next() => next,
        };
        let command = match next {
            None => {
                shared.close("closed by the peer");
                return;
            }
            Some(Err(error)) => {
                tracing::warn!(peer = %shared.remote, %error, "closing connection: bad frame");
                context
                    .stats
                    .closed_malformed
                    .fetch_add(1, Ordering::Relaxed);
                shared.close(format!("protocol error: {error}"));
                return;
            }
            Some(Ok(command)) => command,
        };
        shared.activity.touch();
        if command.is_response() {
            shared.complete(command);
            continue;
        }
        if shared.peer.get().is_none() {
            let _ = shared.peer.set(PeerInfo {
                language: command.language,
                version: command.version,
            });
        }
        // Refuse rather than stop reading: the reader must keep reading so that answers to
        // our own requests (which held processors may be waiting for) still get through.
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            context
                .stats
                .requests_overloaded
                .fetch_add(1, Ordering::Relaxed);
            tracing::debug!(peer = %shared.remote, code = command.code, "too many requests in flight");
            if !command.is_oneway() {
                let busy = RemotingCommand::response_to(&command, ResponseCode::SystemBusy)
                    .with_remark(format!(
                        "[OVERLOAD] {} requests already in flight on this connection; retry later",
                        config.max_in_flight
                    ));
                let _ = shared.enqueue_response(busy);
            }
            continue;
        };
        dispatch(context, channel, command, permit);
    }
}

/// Runs the request's processor in its own task so that a slow one (a held pull) does not delay
/// the requests behind it.
fn dispatch(
    context: &Arc<Context>,
    channel: &Channel,
    request: RemotingCommand,
    permit: OwnedSemaphorePermit,
) {
    let oneway = request.is_oneway();
    if context.draining.is_cancelled() {
        if !oneway {
            let busy = RemotingCommand::response_to(&request, ResponseCode::SystemBusy)
                .with_remark("[SHUTDOWN] the server is shutting down; retry on another server");
            let _ = channel.shared.enqueue_response(busy);
        }
        return;
    }
    let Some(processor) = context.processors.get(request.code).cloned() else {
        tracing::debug!(peer = %channel.shared.remote, code = request.code, "request code not supported");
        if !oneway {
            let _ = channel
                .shared
                .enqueue_response(code_not_supported(&request));
        }
        return;
    };
    let in_flight = context.in_flight.enter();
    let channel = channel.clone();
    tokio::spawn(async move {
        let opaque = request.opaque;
        let code = request.code;
        // `process` itself is called inside the guarded future, so a processor that panics
        // before returning its future is caught too.
        let call = async { processor.process(channel.clone(), request).await };
        let outcome = AssertUnwindSafe(call).catch_unwind().await;
        let response = outcome.unwrap_or_else(|_| {
            tracing::error!(peer = %channel.shared.remote, code, "request processor panicked");
            let mut error = RemotingCommand::response_to(
                &RemotingCommand::default(),
                ResponseCode::SystemError,
            );
            error.remark = Some(format!(
                "internal error while processing request code {code}"
            ));
            Some(error)
        });
        if let (false, Some(mut response)) = (oneway, response) {
            response.opaque = opaque;
            response.flag = (response.flag | FLAG_RESPONSE) & !FLAG_ONEWAY;
            // C++ clients read nothing but JSON headers.
            response.serialize_type = SerializeType::Json;
            let _ = channel.shared.enqueue_response(response);
        }
        drop(permit);
        drop(in_flight);
    });
}

async fn write_loop(
    mut write_half: OwnedWriteHalf,
    mut outbound: mpsc::Receiver<Outbound>,
    shared: Arc<ChannelShared>,
) {
    let mut heads = BytesMut::with_capacity(8 * 1024);
    let mut chunks: Vec<Bytes> = Vec::with_capacity(MAX_BATCH_FRAMES * 2);
    let closed = shared.closed.cancelled();
    tokio::pin!(closed);
    loop {
        let first = tokio::select! {
            biased;
            _ = closed.as_mut() => return,
            first = outbound.recv() => first,
        };
        let Some(mut next) = first else { return };
        // Gather what is already queued into one vectored write.
        let mut finish = false;
        let mut frames = 0;
        let mut bytes = 0;
        loop {
            match next {
                Outbound::Finish => {
                    finish = true;
                    break;
                }
                Outbound::Frame(command) => {
                    if let Some(len) = push_frame(command, &mut heads, &mut chunks, &shared) {
                        bytes += len;
                        frames += 1;
                    }
                }
            }
            if frames >= MAX_BATCH_FRAMES || bytes >= MAX_BATCH_BYTES {
                break;
            }
            match outbound.try_recv() {
                Ok(more) => next = more,
                Err(_) => break,
            }
        }
        if !chunks.is_empty() {
            let written = tokio::select! {
                biased;
                _ = closed.as_mut() => return,
                written = write_all_chunks(&mut write_half, &chunks) => written,
            };
            chunks.clear();
            if let Err(error) = written {
                tracing::debug!(peer = %shared.remote, %error, "write failed");
                shared.close(format!("write failed: {error}"));
                return;
            }
            shared.activity.touch();
        }
        if finish {
            tokio::select! {
                biased;
                _ = closed.as_mut() => {}
                _ = write_half.shutdown() => {}
            }
            shared.close("connection finished (server shutting down)");
            return;
        }
    }
}

/// Encodes `command`'s head into `heads` and appends it and the body parts (shared, not copied)
/// to `chunks`. Returns the frame's size, or `None` if it could not be encoded at all.
fn push_frame(
    command: RemotingCommand,
    heads: &mut BytesMut,
    chunks: &mut Vec<Bytes>,
    shared: &ChannelShared,
) -> Option<usize> {
    let command = match encode_head(&command, heads) {
        Ok(()) => command,
        Err(error) => {
            tracing::warn!(
                peer = %shared.remote,
                code = command.code,
                opaque = command.opaque,
                %error,
                "outbound frame cannot be encoded"
            );
            // A response too large to send: tell the requester now rather than let it time out.
            if !command.is_response() {
                return None;
            }
            let mut substitute = RemotingCommand::response_to(&command, ResponseCode::SystemError);
            substitute.remark = Some(format!("the response could not be sent: {error}"));
            encode_head(&substitute, heads).ok()?;
            substitute
        }
    };
    let head = heads.split().freeze();
    let len = head.len() + command.body.len();
    chunks.push(head);
    chunks.extend(command.body.parts().iter().cloned());
    Some(len)
}

/// Writes every chunk in order, as few syscalls as the kernel allows, without copying them.
async fn write_all_chunks<W: AsyncWrite + Unpin>(out: &mut W, chunks: &[Bytes]) -> io::Result<()> {
    let mut index = 0;
    let mut offset = 0;
    while index < chunks.len() {
        let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
        let mut count = 0;
        for (i, chunk) in chunks[index..].iter().take(MAX_IOVECS).enumerate() {
            slices[i] = IoSlice::new(if i == 0 { &chunk[offset..] } else { chunk });
            count += 1;
        }
        let mut written = out.write_vectored(&slices[..count]).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        while written > 0 {
            let left = chunks[index].len() - offset;
            if written >= left {
                written -= left;
                index += 1;
                offset = 0;
            } else {
                offset += written;
                written = 0;
            }
        }
        // Skip empty chunks so that the loop never issues an all-empty write.
        while index < chunks.len() && chunks[index].len() == offset {
            index += 1;
            offset = 0;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context as TaskContext, Poll};

    use super::*;

    /// Accepts at most `per_call` bytes per write, across slices, like a congested socket.
    struct Trickle {
        per_call: usize,
        written: Vec<u8>,
        calls: usize,
    }

    impl Trickle {
        fn accept(&mut self, bufs: &[IoSlice<'_>]) -> usize {
            self.calls += 1;
            let mut budget = self.per_call;
            for buf in bufs {
                let n = buf.len().min(budget);
                self.written.extend_from_slice(&buf[..n]);
                budget -= n;
                if budget == 0 {
                    break;
                }
            }
            self.per_call - budget
        }
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut TaskContext<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(self.accept(&[IoSlice::new(buf)])))
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut TaskContext<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(self.accept(bufs)))
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn partial_vectored_writes_resume_at_the_right_byte() {
        let chunks: Vec<Bytes> = (0..150u8)
            .map(|i| Bytes::from(vec![i; (i as usize % 13) + 1]))
            .collect();
        let expected: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        for per_call in [1, 5, 64, 100_000] {
            let mut out = Trickle {
                per_call,
                written: Vec::new(),
                calls: 0,
            };
            write_all_chunks(&mut out, &chunks).await.unwrap();
            assert_eq!(out.written, expected, "per_call {per_call}");
            if per_call == 100_000 {
                // 150 chunks at most 64 slices per call.
                assert_eq!(out.calls, 3);
            }
        }
    }

    #[tokio::test]
    async fn gauge_wakes_waiters_at_zero() {
        let gauge = Arc::new(Gauge::default());
        let a = gauge.enter();
        let b = gauge.enter();
        assert_eq!(gauge.get(), 2);
        let waiter = tokio::spawn({
            let gauge = gauge.clone();
            async move { gauge.wait_zero().await }
        });
        drop(a);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(b);
        waiter.await.unwrap();
        assert_eq!(gauge.get(), 0);
    }
}
