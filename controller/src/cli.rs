//! The `mqcontroller` command line.
//!
//! ```text
//! mqcontroller [-c controller.conf] [-p] [--listen-port PORT]
//! ```
//! `-c` reads a Java properties file (see [`ControllerConfig`]); `-p` prints the effective
//! configuration and exits. Logging follows `RUST_LOG` (default `info`). SIGINT/SIGTERM stop it.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::config::ControllerConfig;
use crate::service::Controller;

#[derive(Debug, Parser)]
#[command(
    name = "mqcontroller",
    about = "Sluice controller: elects broker-group masters (automatic failover)",
    version
)]
pub struct Args {
    /// Controller config properties file.
    #[arg(short = 'c', long = "configFile", value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// Print all config items and exit.
    #[arg(short = 'p', long = "printConfigItem")]
    pub print_config: bool,
    /// Port to listen on, overriding `listenPort` (0 picks a free port).
    #[arg(long = "listen-port", value_name = "PORT")]
    pub listen_port: Option<u16>,
}

pub fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("mqcontroller: {message}");
            ExitCode::FAILURE
        }
    }
}

pub fn run(args: Args) -> Result<(), String> {
    let mut config = match &args.config_file {
        Some(path) => ControllerConfig::load(path).map_err(|e| e.to_string())?,
        None => ControllerConfig::default(),
    };
    if let Some(port) = args.listen_port {
        config.listen_port = port;
    }
    if args.print_config {
        let mut out = std::io::stdout().lock();
        return out
            .write_all(config.render().as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| format!("cannot print the config: {e}"));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("controller")
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let controller = Controller::start(config)
            .await
            .map_err(|e| format!("cannot start: {e}"))?;
        println!(
            "The Controller boot success, address {}",
            controller.local_addr()
        );
        let _ = std::io::stdout().flush();
        shutdown_signal().await;
        controller.shutdown(Duration::from_secs(3)).await;
        Ok(())
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
