//! The Prometheus endpoint: a minimal HTTP/1.1 server answering `GET /metrics` on
//! `metricsPromExporterPort`. One request per connection (`Connection: close`); request heads are
//! bounded in size and time so a slow or hostile scraper cannot pin resources.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::metrics::{self, Gauges, NodeLabels};
use crate::state::BrokerState;

const MAX_HEAD: usize = 8 * 1024;
const READ_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_CONCURRENT_SCRAPES: usize = 64;

/// The gauges read from the broker at scrape time.
pub fn gauges(state: &BrokerState) -> Gauges {
    let stats = state.store.stats();
    Gauges {
        producer_connections: state.clients.producer_connection_count() as u64,
        consumer_connections: state.clients.consumer_connection_count() as u64,
        topic_number: state.topics.len() as u64,
        consumer_group_number: state.subscription_groups.len() as u64,
        storage_size: stats
            .commit_log_max_offset
            .saturating_sub(stats.commit_log_min_offset),
        storage_flush_behind_bytes: stats
            .commit_log_max_offset
            .saturating_sub(stats.commit_log_flushed_offset),
        storage_dispatch_behind_bytes: stats.dispatch_behind_bytes,
        broker_permission: state.config().broker_permission as i64,
    }
}

/// The whole `/metrics` page.
pub fn scrape(state: &BrokerState) -> String {
    let config = state.config();
    let node = NodeLabels {
        cluster: config.broker_cluster_name.clone(),
        // Apache 5.x: node_id is the broker name.
        node_id: config.broker_name.clone(),
    };
    metrics::render(&state.metrics, &gauges(state), &node)
}

/// Binds `addr` and serves until `stop`. Returns the bound address.
pub async fn start(
    addr: SocketAddr,
    state: Arc<BrokerState>,
    stop: CancellationToken,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, "metrics endpoint listening");
    let limit = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_SCRAPES));
    let task = tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = stop.cancelled() => return,
                a = listener.accept() => a,
            };
            let Ok((stream, _)) = accepted else { continue };
            let Ok(permit) = limit.clone().try_acquire_owned() else {
                continue; // too many scrapes at once: drop the connection
            };
            let state = state.clone();
            tokio::spawn(async move {
                let _permit = permit;
                if let Err(e) = serve(stream, &state).await {
                    tracing::debug!(error = %e, "metrics connection failed");
                }
            });
        }
    });
    Ok((local, task))
}

async fn serve(mut stream: TcpStream, state: &BrokerState) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let complete = tokio::time::timeout(READ_TIMEOUT, async {
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Ok::<bool, std::io::Error>(false);
            }
            head.extend_from_slice(&buf[..n]);
            if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
                return Ok(true);
            }
            if head.len() > MAX_HEAD {
                return Ok(false);
            }
        }
    })
    .await
    .unwrap_or(Ok(false))?;
    if !complete {
        return respond(
            &mut stream,
            "400 Bad Request",
            "text/plain",
            b"bad request\n",
        )
        .await;
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET", "/metrics") | ("GET", "/") => {
            let body = scrape(state);
            respond(
                &mut stream,
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                body.as_bytes(),
            )
            .await
        }
        ("GET", _) => {
            respond(
                &mut stream,
                "404 Not Found",
                "text/plain",
                b"try /metrics\n",
            )
            .await
        }
        _ => {
            respond(
                &mut stream,
                "405 Method Not Allowed",
                "text/plain",
                b"GET only\n",
            )
            .await
        }
    }
}

async fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.shutdown().await
}
