//! The `mqnamesrv` command line, kept in the library so that other packages (the test crate, a
//! single-node launcher) can wrap it in their own binaries.
//!
//! ```text
//! mqnamesrv [-c namesrv.conf] [-p] [--listen-port PORT]
//! ```
//! `-c` reads a Java properties file (Apache keys, see [`NamesrvConfig`]); `-p` prints the
//! effective configuration and exits; `--listen-port` (a Sluice extra) overrides `listenPort`.
//! Logging is configured with `RUST_LOG` (default `info`). SIGINT/SIGTERM shut down gracefully.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::config::NamesrvConfig;
use crate::server::NameServer;

#[derive(Debug, Parser)]
#[command(
    name = "mqnamesrv",
    about = "Sluice NameServer (RocketMQ-compatible)",
    version
)]
pub struct Args {
    /// Name server config properties file.
    #[arg(short = 'c', long = "configFile", value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// Print all config items and exit.
    #[arg(short = 'p', long = "printConfigItem")]
    pub print_config: bool,
    /// Port to listen on, overriding `listenPort` (0 picks a free port). Sluice extra.
    #[arg(long = "listen-port", value_name = "PORT")]
    pub listen_port: Option<u16>,
    /// Accepted for compatibility with Apache's start script; a NameServer has no use for it.
    #[arg(short = 'n', long = "namesrvAddr", hide = true)]
    pub namesrv_addr: Option<String>,
}

/// How long running requests may take to finish on shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Parses the process arguments, runs the NameServer until SIGINT/SIGTERM.
pub fn main() -> ExitCode {
    init_logging();
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("mqnamesrv: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// The effective configuration for `args`.
pub fn effective_config(args: &Args) -> Result<NamesrvConfig, String> {
    let mut config = match &args.config_file {
        Some(path) => {
            let config = NamesrvConfig::load(path).map_err(|e| e.to_string())?;
            tracing::info!(path = %path.display(), "config file loaded");
            config
        }
        None => NamesrvConfig::default(),
    };
    if let Some(port) = args.listen_port {
        config.listen_port = port;
    }
    Ok(config)
}

/// Runs a NameServer for already-parsed `args` until SIGINT/SIGTERM (or prints the config
/// with `-p`). Builds its own runtime: call it from a plain `main`, not from async code.
pub fn run(args: Args) -> Result<(), String> {
    let config = effective_config(&args)?;
    if args.print_config {
        let text = config.to_properties().encode();
        let mut out = std::io::stdout().lock();
        out.write_all(&text)
            .and_then(|()| out.flush())
            .map_err(|e| format!("cannot print the config: {e}"))?;
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("namesrv")
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        // Listen before starting, so a signal that arrives while the server boots still gets a
        // graceful shutdown instead of the default action.
        let stop = shutdown_signal();
        let server = NameServer::start(config)
            .await
            .map_err(|e| format!("cannot start: {e}"))?;
        // Apache prints this line on boot; scripts (and tests) wait for it.
        println!(
            "The Name Server boot success. serializeType=JSON, address {}",
            server.local_addr()
        );
        let _ = std::io::stdout().flush();
        stop.await;
        tracing::info!("shutdown signal received");
        server.shutdown(SHUTDOWN_GRACE).await;
        Ok(())
    })
}

/// Installs the SIGTERM and SIGINT handlers now; the returned future resolves on the first signal.
#[cfg(unix)]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            (term, int) => {
                let error = term.err().or(int.err());
                tracing::warn!(
                    ?error,
                    "cannot listen for SIGTERM/SIGINT; only Ctrl-C stops the server"
                );
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

#[cfg(not(unix))]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_port_flag_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("namesrv.conf");
        std::fs::write(&path, "listenPort=9999\nenableAllTopicList=false\n").unwrap();
        let args = Args::parse_from([
            "mqnamesrv",
            "-c",
            path.to_str().unwrap(),
            "--listen-port",
            "0",
        ]);
        let config = effective_config(&args).unwrap();
        assert_eq!(config.listen_port, 0);
        assert!(!config.enable_all_topic_list);
        let missing = Args::parse_from(["mqnamesrv", "-c", "/nonexistent/namesrv.conf"]);
        assert!(effective_config(&missing)
            .unwrap_err()
            .contains("/nonexistent/namesrv.conf"));
    }
}
