//! The `mqbroker` command line: `-c broker.conf`, `-n namesrvAddr`, `-p` (print the effective
//! config and exit). Logs go to stderr, filtered by `RUST_LOG` (default `info`).
//! SIGINT/SIGTERM shut the broker down gracefully.

use std::path::PathBuf;

use clap::Parser;

use crate::broker::Broker;
use crate::config::BrokerConfig;

#[derive(Parser, Debug)]
#[command(
    name = "mqbroker",
    about = "Sluice broker (RocketMQ-compatible)",
    version
)]
pub struct Args {
    /// Broker config file (Java properties with Apache RocketMQ's keys).
    #[arg(short = 'c', long = "configFile")]
    pub config_file: Option<PathBuf>,
    /// NameServer addresses, `;`-separated (overrides the file and NAMESRV_ADDR).
    #[arg(short = 'n', long = "namesrvAddr")]
    pub namesrv_addr: Option<String>,
    /// Print the effective config and exit.
    #[arg(short = 'p', long = "printConfigItem")]
    pub print_config: bool,
    /// `key=value` settings applied over the file (e.g. `listenPort=20911 brokerIP1=10.0.0.5`).
    #[arg(value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

/// The effective config of `args`: defaults, then the file, then `key=value` arguments, then `-n`.
pub fn effective_config(args: &Args) -> Result<BrokerConfig, String> {
    let mut config = match &args.config_file {
        Some(path) => BrokerConfig::load(path).map_err(|e| e.to_string())?,
        None => BrokerConfig::default(),
    };
    for o in &args.overrides {
        let Some((key, value)) = o.split_once('=') else {
            return Err(format!("argument `{o}`: expected key=value"));
        };
        match config.set(key.trim(), value) {
            Ok(true) => {}
            Ok(false) => tracing::warn!(key = %key.trim(), "unknown broker config key ignored"),
            Err(e) => return Err(format!("argument `{o}`: {e}")),
        }
    }
    if let Some(n) = &args.namesrv_addr {
        config.namesrv_addr = Some(n.clone());
    }
    config.normalize();
    Ok(config)
}

/// Installs the `tracing` subscriber (RUST_LOG, default `info`); a second call does nothing.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour codes only for a person at a terminal, not in log files.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

/// SIGINT/SIGTERM listeners. Install them before announcing readiness: a signal that arrives
/// before its listener exists kills the process with the default action instead of shutting
/// down gracefully.
pub struct ShutdownSignal {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignal {
    /// Installs the listeners (needs a running Tokio runtime).
    pub fn install() -> ShutdownSignal {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            ShutdownSignal {
                term: signal(SignalKind::terminate()).ok(),
                int: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        {
            ShutdownSignal {}
        }
    }

    /// Resolves on the first SIGINT or SIGTERM.
    pub async fn wait(mut self) {
        #[cfg(unix)]
        {
            async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                _ = recv(&mut self.term) => {}
                _ = recv(&mut self.int) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Resolves on SIGINT or SIGTERM (listeners installed on the call; prefer
/// [`ShutdownSignal::install`] before announcing readiness).
pub async fn shutdown_signal() {
    ShutdownSignal::install().wait().await
}

/// Runs `mqbroker` with `args` until a signal; returns a message on failure.
pub fn run(args: Args) -> Result<(), String> {
    // Before loading the config, so that its unknown-key warnings are seen (on stderr).
    init_logging();
    let config = effective_config(&args)?;
    if args.print_config {
        print!("{}", config.to_properties_text());
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    if config.enable_controller_mode {
        return runtime.block_on(async move {
            let signal = ShutdownSignal::install();
            let stop = tokio_util::sync::CancellationToken::new();
            let on_signal = stop.clone();
            tokio::spawn(async move {
                signal.wait().await;
                on_signal.cancel();
            });
            crate::failover::supervisor::run(config, stop, |broker| {
                println!(
                    "The broker[{}, {}] boot success ({} in controller mode).",
                    broker.state().config().broker_name,
                    broker.broker_addr(),
                    broker.state().config().broker_role.name()
                );
            })
            .await
            .map_err(|e| e.to_string())
        });
    }
    runtime.block_on(async move {
        let signal = ShutdownSignal::install();
        let broker = Broker::start(config).await.map_err(|e| e.to_string())?;
        println!(
            "The broker[{}, {}] boot success.",
            broker.state().config().broker_name,
            broker.broker_addr()
        );
        signal.wait().await;
        broker.shutdown().await.map_err(|e| e.to_string())
    })
}

/// `mqbroker`'s entry point: parses `std::env::args`, runs, exits with 1 on failure.
pub fn main() {
    let args = Args::parse();
    if let Err(e) = run(args) {
        eprintln!("mqbroker: {e}");
        std::process::exit(1);
    }
}
