//! The slave's side of HA (Apache's `DefaultHAClient`): connect to the master's HA address, report the local
//! CommitLog max offset, append what arrives, report again; reconnect after a failure.
//!
//! A header whose offset is not the local max offset means the two logs disagree: the connection is dropped
//! (Apache does the same) and retried, and the error names both offsets. The appended bytes are dispatched into
//! the slave's ConsumeQueue and IndexFile by its own store.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::now_ms;
use crate::state::BrokerState;

/// Wait between connection attempts (Apache waits 5 s; a shorter wait lets a slave catch up sooner after its
/// master restarts).
const RECONNECT_WAIT: Duration = Duration::from_secs(1);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest body a header may announce (anything bigger is a corrupt stream, not a transfer).
const MAX_BODY: u32 = 64 << 20;

pub fn spawn(state: Arc<BrokerState>, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut last_error = String::new();
        loop {
            if stop.is_cancelled() {
                return;
            }
            let config = state.config();
            let Some(addr) = state.ha.master_ha_address(&config) else {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(RECONNECT_WAIT) => continue,
                }
            };
            let result = tokio::select! {
                _ = stop.cancelled() => return,
                r = run_connection(&state, &addr, &stop) => r,
            };
            *state
                .ha
                .client
                .connected_to
                .write()
                .unwrap_or_else(|p| p.into_inner()) = None;
            if let Err(e) = result {
                // Log a repeated failure once, not every second.
                if e != last_error {
                    tracing::warn!(master = %addr, error = %e, "HA: replication from the master stopped; retrying");
                    last_error = e;
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(RECONNECT_WAIT) => {}
            }
        }
    })
}

async fn run_connection(
    state: &Arc<BrokerState>,
    addr: &str,
    stop: &CancellationToken,
) -> Result<(), String> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| format!("connecting to {addr} timed out"))?
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    tracing::info!(master = %addr, "HA: connected to the master");
    *state
        .ha
        .client
        .connected_to
        .write()
        .unwrap_or_else(|p| p.into_inner()) = Some(addr.to_string());
    let config = state.config();
    let heartbeat = Duration::from_millis(config.ha_send_heartbeat_interval.max(100));
    let housekeeping = Duration::from_millis(config.ha_housekeeping_interval.max(1000));
    let store = state.store.clone();
    let segment = store.config.mapped_file_size_commit_log.max(1);
    let (mut rd, wr) = stream.into_split();
    let (report_tx, report_rx) = watch::channel(store.commit_log.max_offset());
    let done = stop.child_token();
    let reporter = tokio::spawn(report(
        state.clone(),
        wr,
        report_rx,
        heartbeat,
        done.clone(),
    ));
    let result = async {
        let mut header = [0u8; 12];
        loop {
            let read = tokio::select! {
                _ = done.cancelled() => return Err("report stream to the master failed".to_string()),
                r = tokio::time::timeout(housekeeping, rd.read_exact(&mut header)) => r,
            };
            match read {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(format!("the master closed the connection: {e}")),
                Err(_) => {
                    return Err("nothing from the master for haHousekeepingInterval".to_string())
                }
            }
            let offset = u64::from_be_bytes(header[..8].try_into().unwrap_or([0; 8]));
            let size = u32::from_be_bytes(header[8..].try_into().unwrap_or([0; 4]));
            if size > MAX_BODY {
                return Err(format!("the master announced a {size}-byte transfer; stream corrupt"));
            }
            let mut body = vec![0u8; size as usize];
            match tokio::time::timeout(housekeeping, rd.read_exact(&mut body)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(format!("the master closed the connection: {e}")),
                Err(_) => return Err("a transfer from the master stalled".to_string()),
            }
            let client = &state.ha.client;
            client.last_read_ms.store(now_ms(), Ordering::Release);
            client
                .master_offset
                .store((offset + u64::from(size)) as i64, Ordering::Release);
            let local = store.commit_log.max_offset();
            if local != 0 && offset != local {
                return Err(format!(
                    "the master sent data at offset {offset} but this slave's CommitLog ends at {local}; \
                     the logs disagree, reconnecting"
                ));
            }
            if size == 0 {
                continue;
            }
            if local == 0 && offset != 0 {
                return Err(format!(
                    "this slave's store is empty but the master's CommitLog starts at {offset} (its older segments \
                     were deleted by retention); seed the slave with a copy of the master's store directory"
                ));
            }
            // Inside the current tail segment an append is a memcpy into an already mapped, pre-faulted segment
            // (what the master's own put path does on its task); one that starts or crosses a segment may have to
            // create and map a file, so it goes to the blocking pool.
            let in_segment = offset % segment != 0 && offset % segment + u64::from(size) <= segment;
            let appended = if in_segment {
                store.append_replicated(offset, &body)
            } else {
                let s = store.clone();
                tokio::task::spawn_blocking(move || s.append_replicated(offset, &body))
                    .await
                    .map_err(|e| format!("append task failed: {e}"))?
            };
            if let Err(e) = appended {
                return Err(format!("cannot append replicated bytes at {offset}: {e}"));
            }
            client.rate.add(u64::from(size));
            report_tx.send_replace(store.commit_log.max_offset());
        }
    }
    .await;
    done.cancel();
    let _ = reporter.await;
    result
}

/// Sends the local max offset after each append (coalesced) and every `heartbeat`.
async fn report(
    state: Arc<BrokerState>,
    mut wr: OwnedWriteHalf,
    mut offsets: watch::Receiver<u64>,
    heartbeat: Duration,
    done: CancellationToken,
) {
    loop {
        let offset = *offsets.borrow_and_update();
        match tokio::time::timeout(heartbeat * 2, wr.write_all(&offset.to_be_bytes())).await {
            Ok(Ok(())) => {
                state
                    .ha
                    .client
                    .last_write_ms
                    .store(now_ms(), Ordering::Release);
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "HA: report to the master failed");
                break;
            }
            Err(_) => break,
        }
        tokio::select! {
            _ = done.cancelled() => break,
            changed = offsets.changed() => if changed.is_err() { break },
            _ = tokio::time::sleep(heartbeat) => {}
        }
    }
    done.cancel();
}
