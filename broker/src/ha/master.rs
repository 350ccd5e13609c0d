//! The master's side of HA: accept slaves on `haListenPort`, read their 8-byte offset reports, stream CommitLog
//! bytes to them (Apache's `AcceptSocketService` / `DefaultHAConnection`).
//!
//! Wire facts (identical to Apache's classic HA, so the two interoperate): slave → master, an 8-byte big-endian
//! "max physical offset I have", on connect, after each append and every `haSendHeartbeatInterval`; master →
//! slave, a 12-byte header (8-byte physical offset, 4-byte body size) followed by that many raw CommitLog bytes,
//! at most `haTransferBatchSize` and never across a segment; an empty body is a heartbeat.
//!
//! Where the transfer starts: the slave's first report. A slave reporting 0 (an empty store) gets the master's
//! whole retained CommitLog, from its first segment (Apache starts at the last segment; a full copy keeps the
//! slave's files byte-identical to the master's, see `docs/replication.md`). A slave reporting more than the master
//! has is refused: it holds data the master does not (a diverged tail), and nothing here may guess which is right.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{HaService, RateMeter, SlaveConnection};
use crate::error::{BrokerError, Result};
use crate::state::BrokerState;

/// Longest wait for new CommitLog data before looking again (writers other than sends do not wake transfers).
const IDLE_POLL: Duration = Duration::from_millis(5);

/// Binds `haListenPort` and accepts slaves until `stop`.
pub async fn start(state: Arc<BrokerState>, stop: CancellationToken) -> Result<JoinHandle<()>> {
    let config = state.config();
    let bind: SocketAddr = ([0, 0, 0, 0], config.ha_listen_port).into();
    let listener = TcpListener::bind(bind).await.map_err(|e| {
        BrokerError::Config(format!(
            "cannot listen on haListenPort {} for slaves: {e}",
            config.ha_listen_port
        ))
    })?;
    tracing::info!(addr = %bind, "HA: listening for slaves");
    Ok(tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = stop.cancelled() => return,
                a = listener.accept() => a,
            };
            match accepted {
                Ok((stream, peer)) => {
                    tracing::info!(slave = %peer, "HA: slave connected");
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve(state.clone(), stream, peer, stop.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "HA: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }))
}

async fn serve(
    state: Arc<BrokerState>,
    stream: TcpStream,
    peer: SocketAddr,
    stop: CancellationToken,
) {
    let ha = state.ha.clone();
    let conn = Arc::new(SlaveConnection {
        addr: peer.to_string(),
        ack_offset: (-1i64).into(),
        transfer_from: (-1i64).into(),
        rate: RateMeter::default(),
    });
    ha.add_connection(conn.clone());
    let (rd, wr) = stream.into_split();
    let (first_tx, first_rx) = watch::channel(None::<u64>);
    let done = stop.child_token();
    let reader = tokio::spawn(read_reports(
        state.clone(),
        rd,
        conn.clone(),
        first_tx,
        done.clone(),
    ));
    let outcome = transfer(&state, wr, &conn, first_rx, &done).await;
    done.cancel();
    let _ = reader.await;
    ha.remove_connection(&conn);
    match outcome {
        Ok(()) => tracing::info!(slave = %peer, "HA: slave connection closed"),
        Err(e) => tracing::warn!(slave = %peer, error = %e, "HA: slave connection closed"),
    }
}

/// Reads the slave's 8-byte reports; the first one is where the transfer starts, each one is an acknowledgement.
async fn read_reports(
    state: Arc<BrokerState>,
    mut rd: OwnedReadHalf,
    conn: Arc<SlaveConnection>,
    first: watch::Sender<Option<u64>>,
    done: CancellationToken,
) {
    let ha: &HaService = &state.ha;
    let housekeeping = Duration::from_millis(state.config().ha_housekeeping_interval.max(1000));
    let mut buf = [0u8; 8];
    loop {
        let read = tokio::select! {
            _ = done.cancelled() => break,
            r = tokio::time::timeout(housekeeping, rd.read_exact(&mut buf)) => r,
        };
        match read {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::debug!(slave = %conn.addr, error = %e, "HA: slave report stream ended");
                break;
            }
            Err(_) => {
                tracing::warn!(slave = %conn.addr, "HA: nothing from the slave for haHousekeepingInterval; closing");
                break;
            }
        }
        let offset = u64::from_be_bytes(buf);
        if first.borrow().is_none() {
            first.send_replace(Some(offset));
        }
        conn.ack_offset.store(offset as i64, Ordering::Release);
        ha.record_ack(offset);
    }
    done.cancel();
}

/// Streams CommitLog bytes to the slave from its first report on.
async fn transfer(
    state: &BrokerState,
    mut wr: OwnedWriteHalf,
    conn: &SlaveConnection,
    mut first: watch::Receiver<Option<u64>>,
    done: &CancellationToken,
) -> std::result::Result<(), String> {
    let config = state.config();
    let batch = config.ha_transfer_batch_size.max(1);
    let heartbeat = Duration::from_millis(config.ha_send_heartbeat_interval.max(100));
    let write_timeout = Duration::from_millis(config.ha_housekeeping_interval.max(1000));
    let log = &state.store.commit_log;
    let requested = tokio::select! {
        _ = done.cancelled() => return Ok(()),
        r = first.wait_for(|v| v.is_some()) => match r {
            Ok(v) => v.unwrap_or(0),
            Err(_) => return Ok(()),
        },
    };
    let master_max = log.max_offset();
    let mut next = if requested == 0 {
        log.min_offset()
    } else {
        requested
    };
    if next > master_max {
        return Err(format!(
            "the slave has CommitLog data up to offset {next} but this master only up to {master_max}: \
             it holds a tail the master does not have; refusing to replicate (empty the slave's store, or \
             truncate its CommitLog to {master_max}, and restart it)"
        ));
    }
    if next < log.min_offset() {
        return Err(format!(
            "the slave asks for offset {next} but this master's CommitLog starts at {}: the data in between \
             was deleted by retention; rebuild the slave from an empty store",
            log.min_offset()
        ));
    }
    conn.transfer_from.store(next as i64, Ordering::Release);
    tracing::info!(slave = %conn.addr, from = next, "HA: transfer starts");
    let mut last_write = Instant::now();
    let mut frame = Vec::with_capacity(12 + batch);
    loop {
        if done.is_cancelled() {
            return Ok(());
        }
        // Register for the wake-up before looking, so an append in between is not missed.
        let notified = state.ha.new_data.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let chunk = log.read_raw(next, batch).filter(|b| !b.is_empty());
        match chunk {
            Some(body) => {
                // One write per transfer (header and body together): with TCP_NODELAY two writes would be two
                // segments and, for small transfers, twice the wake-ups on the slave.
                frame.clear();
                frame.extend_from_slice(&next.to_be_bytes());
                frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
                frame.extend_from_slice(&body);
                match tokio::time::timeout(write_timeout, wr.write_all(&frame)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(format!("write failed: {e}")),
                    Err(_) => return Err("the slave stopped reading".into()),
                }
                next += body.len() as u64;
                conn.rate.add(body.len() as u64);
                last_write = Instant::now();
            }
            None => {
                if last_write.elapsed() >= heartbeat {
                    let mut header = [0u8; 12];
                    header[..8].copy_from_slice(&next.to_be_bytes());
                    match tokio::time::timeout(write_timeout, wr.write_all(&header)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return Err(format!("heartbeat write failed: {e}")),
                        Err(_) => return Err("the slave stopped reading".into()),
                    }
                    last_write = Instant::now();
                }
                tokio::select! {
                    _ = done.cancelled() => return Ok(()),
                    _ = &mut notified => {}
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                }
            }
        }
    }
}
