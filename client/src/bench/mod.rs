//! `mqbench`: producer, consumer and end-to-end benchmarks in the manner of Apache RocketMQ's
//! benchmark tools, on top of this crate's [`Producer`](crate::Producer) and
//! [`PushConsumer`](crate::PushConsumer).
//!
//! [`cli::run`] parses the command line and runs one benchmark; [`run`] runs one from
//! [`BenchOptions`] and returns its [`Report`].
//!
//! ```text
//! mqbench producer -n 127.0.0.1:9876 -t Bench1k -s 1024 -w 8 --mode async --inflight 8 --duration 10
//! mqbench consumer -n 127.0.0.1:9876 -t Bench1k -w 20 --count 500000
//! mqbench e2e      -n 127.0.0.1:9876 -t BenchE2E -s 1024 --mode async --duration 10 --json
//! ```
//!
//! - producer: `-w` workers share one sequence counter, so `--count` is exact; a latency sample
//!   is one send call (a whole batch with `-b`). Async keeps `--inflight` sends open per worker.
//! - consumer: a push consumer in a new group (from the first offset unless `--fromFirst false`);
//!   TPS counts from the first to the last consumed message; latency is born-to-consumed, so on
//!   a backlog it mostly shows the backlog's age. Batches already handed to the listener finish,
//!   so the count may end a little past `--count`.
//! - e2e: bodies carry a run id, a sequence number and the send time (µs); lost = acknowledged
//!   sequence numbers never consumed (after `--drainSecs`), duplicates = repeated deliveries.
//!
//! The consumer and e2e runs make sure the topic has a route first (creating it on every master
//! when the NameServer does not know it), since an auto-created topic reaches the NameServer
//! only at the broker's next registration.

pub mod cli;
pub mod consume;
pub mod histogram;
pub mod produce;
pub mod stats;
pub mod topic;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

pub use cli::BenchOptions;
pub use stats::{Latency, Report, SideReport, Stats};

/// How the producer sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SendMode {
    Sync,
    Async,
    Oneway,
}

/// Which benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenchKind {
    Producer,
    Consumer,
    E2e,
}

impl BenchKind {
    pub fn name(self) -> &'static str {
        match self {
            BenchKind::Producer => "producer",
            BenchKind::Consumer => "consumer",
            BenchKind::E2e => "e2e",
        }
    }
}

/// Runs one benchmark; progress lines go to stderr when `options.progress` is set.
pub async fn run(kind: BenchKind, options: &BenchOptions) -> crate::Result<Report> {
    match kind {
        BenchKind::Producer => produce::run_producer(options).await,
        BenchKind::Consumer => consume::run_consumer(options).await,
        BenchKind::E2e => consume::run_e2e(options).await,
    }
}

/// Prints a progress line every second until `stop` fires: `label` TPS with avg/max RT.
pub(crate) fn spawn_progress(
    sides: Vec<(&'static str, Arc<Stats>)>,
    stop: CancellationToken,
    enabled: bool,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if !enabled {
            return;
        }
        let start = Instant::now();
        let mut last: Vec<u64> = sides.iter().map(|(_, s)| s.ok()).collect();
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let mut line = format!("[{:>4.0}s]", start.elapsed().as_secs_f64());
            for ((label, stats), prev) in sides.iter().zip(last.iter_mut()) {
                let now = stats.ok();
                let (_, avg, max) = stats.take_interval();
                line.push_str(&format!(
                    " {label} TPS {:>7} avgRT {:>7.3}ms maxRT {:>8.3}ms total {} failed {} |",
                    now - *prev,
                    avg / 1000.0,
                    max as f64 / 1000.0,
                    now,
                    stats.failed()
                ));
                *prev = now;
            }
            line.pop();
            eprintln!("{line}");
        }
    })
}

/// Microseconds since the Unix epoch (the e2e body's send timestamp).
pub(crate) fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}
