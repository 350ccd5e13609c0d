//! The `mqbench` command line (clap), in the manner of Apache's benchmark scripts.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use super::{BenchKind, Report, SendMode};

#[derive(Parser, Debug)]
#[command(name = "mqbench", about = "Benchmark a RocketMQ-compatible cluster")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Send messages as fast as the concurrency allows.
    Producer(BenchOptions),
    /// Consume a topic with a push consumer.
    Consumer(BenchOptions),
    /// Produce and consume at once; end-to-end latency, lost and duplicate counts.
    E2e(BenchOptions),
}

/// Everything a run needs.
#[derive(Args, Clone, Debug)]
pub struct BenchOptions {
    /// NameServer address(es), `host:port;host:port`.
    #[arg(
        short = 'n',
        long = "namesrvAddr",
        env = "NAMESRV_ADDR",
        default_value = "127.0.0.1:9876"
    )]
    pub namesrv: String,
    #[arg(short = 't', long = "topic", default_value = "BenchmarkTest")]
    pub topic: String,
    /// Concurrent senders (producer) or listener calls at once (consumer).
    #[arg(short = 'w', long = "threadCount", default_value_t = 16)]
    pub concurrency: usize,
    /// Message body size in bytes.
    #[arg(short = 's', long = "messageSize", default_value_t = 128)]
    pub size: usize,
    /// Give every message a key.
    #[arg(short = 'k', long = "keyEnable", default_value_t = false, action = clap::ArgAction::Set)]
    pub keys: bool,
    #[arg(long = "mode", value_enum, default_value_t = SendMode::Sync)]
    pub mode: SendMode,
    /// Messages per send (1: single sends; more: SEND_BATCH_MESSAGE).
    #[arg(short = 'b', long = "batchSize", default_value_t = 1)]
    pub batch: usize,
    /// Async sends in flight per sender (`--mode async`).
    #[arg(long = "inflight", default_value_t = 32)]
    pub inflight: usize,
    /// Stop after this many messages (sent, or consumed).
    #[arg(long = "count")]
    pub count: Option<u64>,
    /// Stop after this many seconds (default 10 when no --count).
    #[arg(long = "duration")]
    pub duration_secs: Option<f64>,
    /// Tag on sent messages.
    #[arg(long = "tag", default_value = "BenchTag")]
    pub tag: String,
    /// Consumer group (default `benchmark_consumer_<pid>_<millis>`).
    #[arg(short = 'g', long = "group")]
    pub group: Option<String>,
    /// Consumer: start from the first offset instead of the last.
    #[arg(long = "fromFirst", default_value_t = true, action = clap::ArgAction::Set)]
    pub from_first: bool,
    /// e2e: how long to wait for the last messages after sending stops.
    #[arg(long = "drainSecs", default_value_t = 10.0)]
    pub drain_secs: f64,
    /// Print the final report as JSON.
    #[arg(long = "json")]
    pub json: bool,
    /// No progress lines.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Worker threads of mqbench's own runtime. Default: half the CPUs, at least one, so that a
    /// broker on the same machine keeps the rest (on 2 cores, a second client thread mostly adds
    /// cross-thread wake-ups: 38k msg/s with two, 47k with one, same broker).
    #[arg(long = "ioThreads")]
    pub io_threads: Option<usize>,
}

impl BenchOptions {
    /// Options for the given NameServer and topic with the defaults above (used by tests).
    pub fn new(namesrv: impl Into<String>, topic: impl Into<String>) -> BenchOptions {
        let mut options = match Cli::try_parse_from(["mqbench", "producer"]) {
            Ok(Cli {
                command: Command::Producer(o),
            }) => o,
            _ => unreachable!("the defaults always parse"),
        };
        options.namesrv = namesrv.into();
        options.topic = topic.into();
        options
    }

    /// The time limit: `--duration`, or 10 s when neither limit is given.
    pub fn duration(&self) -> Option<Duration> {
        match (self.duration_secs, self.count) {
            (Some(secs), _) => Some(Duration::from_secs_f64(secs.max(0.0))),
            (None, None) => Some(Duration::from_secs(10)),
            (None, Some(_)) => None,
        }
    }

    pub fn group(&self) -> String {
        self.group.clone().unwrap_or_else(|| {
            format!(
                "benchmark_consumer_{}_{}",
                std::process::id(),
                super::now_micros() / 1000
            )
        })
    }
}

/// Error from [`run`]: bad arguments (with clap's message) or a failed run.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    /// `--help` or `--version`: the text to print, not an error.
    #[error("{0}")]
    Help(String),
    #[error("mqbench: {0}")]
    Run(#[from] crate::ClientError),
}

/// Parses `args` (without the program name) and runs the benchmark; returns the text to print
/// (the report, or JSON with `--json`).
pub async fn run(args: &[String]) -> Result<(Report, String), CliError> {
    let (kind, options) = parse(args)?;
    run_parsed(kind, &options).await
}

/// Parses and checks `args` (without the program name).
pub fn parse(args: &[String]) -> Result<(BenchKind, BenchOptions), CliError> {
    let cli =
        Cli::try_parse_from(std::iter::once("mqbench".to_string()).chain(args.iter().cloned()))
            .map_err(|e| match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    CliError::Help(e.to_string())
                }
                _ => CliError::Usage(e.to_string()),
            })?;
    let (kind, options) = match cli.command {
        Command::Producer(o) => (BenchKind::Producer, o),
        Command::Consumer(o) => (BenchKind::Consumer, o),
        Command::E2e(o) => (BenchKind::E2e, o),
    };
    if options.size == 0
        || options.batch == 0
        || options.concurrency == 0
        || options.inflight == 0
        || options.io_threads == Some(0)
    {
        return Err(CliError::Usage(
            "--messageSize, --batchSize, --threadCount, --inflight and --ioThreads must be at least 1"
                .into(),
        ));
    }
    if kind == BenchKind::E2e && options.size < super::produce::E2E_HEADER {
        return Err(CliError::Usage(format!(
            "e2e needs --messageSize of at least {} bytes (sequence number and timestamp)",
            super::produce::E2E_HEADER
        )));
    }
    Ok((kind, options))
}

/// Runs an already parsed benchmark.
pub async fn run_parsed(
    kind: BenchKind,
    options: &BenchOptions,
) -> Result<(Report, String), CliError> {
    let report = super::run(kind, options).await?;
    let text = if options.json {
        report.to_json()
    } else {
        report.to_string()
    };
    Ok((report, text))
}

impl BenchOptions {
    /// `--ioThreads`, or half the CPUs (at least one).
    pub fn runtime_threads(&self) -> usize {
        self.io_threads.unwrap_or_else(|| {
            let cpus = std::thread::available_parallelism().map_or(2, usize::from);
            (cpus / 2).max(1)
        })
    }
}
