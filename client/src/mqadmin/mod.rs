//! `mqadmin`: Apache RocketMQ's admin commands (same names, options and column headers) on top
//! of the [`Admin`](crate::admin::Admin) API.
//!
//! [`run`] takes the arguments after the program name and appends everything the command
//! prints to a `String`, so tests read a command's output exactly as a user would see it.
//!
//! Quick start against a running NameServer:
//!
//! ```text
//! export NAMESRV_ADDR=127.0.0.1:9876
//! mqadmin clusterList
//! mqadmin updateTopic -c DefaultCluster -t Orders -r 8 -w 8
//! mqadmin sendMessage -t Orders -p 'hello' -k order-1
//! mqadmin queryMsgByKey -t Orders -k order-1
//! mqadmin consumerProgress -g OrderConsumers
//! mqadmin resetOffsetByTime -g OrderConsumers -t Orders -s 2026-11-21#00:00:00:000
//! ```
//!
//! Times are printed and parsed in UTC (Apache uses the JVM's local zone).

// Column headers stay literal arguments beside their format string, so each table reads like
// the printf line of the Apache command it mirrors.
#![allow(clippy::write_literal)]

mod broker;
mod controller;
mod format;

pub use format::{format_millis, parse_timestamp};
mod group;
mod ha;
mod message;
mod topic;

use clap::{Args, Parser, Subcommand};

use sluice_remoting::RemotingError;

use crate::admin::{Admin, AdminError};

/// Why a command failed; the binary prints it and exits with status 1.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad or missing options (the message is clap's, with the usage line).
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Admin(#[from] AdminError),
    #[error("{0}")]
    Failed(String),
}

pub type CliResult = Result<(), CliError>;

/// `-n` on every command, or the NAMESRV_ADDR environment variable.
#[derive(Args, Debug, Clone)]
pub struct NamesrvArg {
    /// Name server address list, eg: '192.168.0.1:9876;192.168.0.2:9876'
    #[arg(short = 'n', long = "namesrvAddr", env = "NAMESRV_ADDR")]
    pub namesrv: Option<String>,
}

impl NamesrvArg {
    fn admin(&self) -> Result<Admin, CliError> {
        let addr = self.namesrv.as_deref().ok_or_else(|| {
            CliError::Usage(
                "no NameServer address: pass -n ip:port (e.g. -n 127.0.0.1:9876) or set NAMESRV_ADDR"
                    .into(),
            )
        })?;
        Ok(Admin::new(addr)?)
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "mqadmin",
    about = "RocketMQ-compatible admin tool for Sluice clusters"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    #[command(name = "updateTopic", about = "Update or create topic")]
    UpdateTopic(topic::UpdateTopic),
    #[command(
        name = "deleteTopic",
        about = "Delete topic from broker and NameServer"
    )]
    DeleteTopic(topic::DeleteTopic),
    #[command(name = "topicList", about = "Fetch all topic list from name server")]
    TopicList(topic::TopicListCmd),
    #[command(name = "topicRoute", about = "Examine topic route info")]
    TopicRoute(topic::TopicRoute),
    #[command(name = "topicStatus", about = "Examine topic Status info")]
    TopicStatus(topic::TopicStatus),
    #[command(name = "topicClusterList", about = "Get cluster info for topic")]
    TopicClusterList(topic::TopicClusterList),
    #[command(name = "clusterList", about = "List cluster infos")]
    ClusterList(broker::ClusterList),
    #[command(name = "brokerStatus", about = "Fetch broker runtime status data")]
    BrokerStatus(broker::BrokerStatus),
    #[command(
        name = "getBrokerConfig",
        about = "Get broker config by cluster or special broker"
    )]
    GetBrokerConfig(broker::GetBrokerConfig),
    #[command(name = "updateBrokerConfig", about = "Update broker's config")]
    UpdateBrokerConfig(broker::UpdateBrokerConfig),
    #[command(name = "updateSubGroup", about = "Update or create subscription group")]
    UpdateSubGroup(group::UpdateSubGroup),
    #[command(
        name = "deleteSubGroup",
        about = "Delete subscription group from broker"
    )]
    DeleteSubGroup(group::DeleteSubGroup),
    #[command(name = "consumerProgress", about = "Query consumers's progress, speed")]
    ConsumerProgress(group::ConsumerProgress),
    #[command(
        name = "consumerConnection",
        about = "Query consumer's socket connection, client version and subscription"
    )]
    ConsumerConnection(group::ConsumerConnectionCmd),
    #[command(
        name = "producerConnection",
        about = "Query producer's socket connection and client version"
    )]
    ProducerConnection(group::ProducerConnectionCmd),
    #[command(
        name = "resetOffsetByTime",
        about = "Reset consumer offset by timestamp(without client restart)"
    )]
    ResetOffsetByTime(group::ResetOffsetByTime),
    #[command(name = "queryMsgById", about = "Query Message by Id")]
    QueryMsgById(message::QueryMsgById),
    #[command(name = "queryMsgByKey", about = "Query Message by Key")]
    QueryMsgByKey(message::QueryMsgByKey),
    #[command(name = "queryMsgByUniqueKey", about = "Query Message by Unique key")]
    QueryMsgByUniqueKey(message::QueryMsgByUniqueKey),
    #[command(name = "queryMsgByOffset", about = "Query Message by offset")]
    QueryMsgByOffset(message::QueryMsgByOffset),
    #[command(name = "sendMessage", about = "Send a message")]
    SendMessage(message::SendMessage),
    #[command(name = "consumeMessage", about = "Consume message")]
    ConsumeMessage(message::ConsumeMessage),
    #[command(name = "decodeMessageId", about = "Decode unique message ID")]
    DecodeMessageId(message::DecodeMessageId),
    #[command(name = "haStatus", about = "Fetch ha runtime status data")]
    HaStatus(ha::HaStatus),
    #[command(
        name = "getSyncStateSet",
        about = "Fetch syncStateSet for target brokers"
    )]
    GetSyncStateSet(controller::GetSyncStateSet),
    #[command(
        name = "electMaster",
        about = "Re-elect the specified broker as master."
    )]
    ElectMaster(controller::ElectMaster),
}

/// The `mqadmin` process: runs the command in `std::env::args`, prints what it printed, or the
/// error on stderr with exit status 1. Both the `mqadmin` binary and the test harness's
/// `it-mqadmin` call it.
pub fn main() -> std::process::ExitCode {
    use std::io::Write;
    use std::process::ExitCode;
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        eprintln!("usage: mqadmin <command> [options]; mqadmin --help lists the commands");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mqadmin: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = String::new();
    let result = runtime.block_on(run(&args, &mut out));
    let _ = std::io::stdout().write_all(out.as_bytes());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", e.to_string().trim_end());
            ExitCode::FAILURE
        }
    }
}

/// Runs one command (`args` without the program name), appending its output to `out`.
/// `-h` prints the help into `out` and succeeds.
pub async fn run<S: AsRef<str>>(args: &[S], out: &mut String) -> CliResult {
    // Apache's two-letter short option `-bn` (electMaster) is `--brokerName` here.
    let argv = std::iter::once("mqadmin").chain(args.iter().map(AsRef::as_ref).map(|a| {
        if a == "-bn" {
            "--brokerName"
        } else {
            a
        }
    }));
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                out.push_str(&e.render().to_string());
                return Ok(());
            }
            return Err(CliError::Usage(e.render().to_string()));
        }
    };
    let result = dispatch(cli.command, out).await;
    // A connection failure is most often a wrong -n or a stopped server: say so.
    match result {
        Err(CliError::Admin(AdminError::Remoting(e @ RemotingError::Connection { .. }))) => {
            Err(CliError::Failed(format!(
                "{e}; check that the server is running and that -n (or NAMESRV_ADDR) names the NameServer"
            )))
        }
        other => other,
    }
}

async fn dispatch(command: Command, out: &mut String) -> CliResult {
    match command {
        Command::UpdateTopic(c) => c.run(out).await,
        Command::DeleteTopic(c) => c.run(out).await,
        Command::TopicList(c) => c.run(out).await,
        Command::TopicRoute(c) => c.run(out).await,
        Command::TopicStatus(c) => c.run(out).await,
        Command::TopicClusterList(c) => c.run(out).await,
        Command::ClusterList(c) => c.run(out).await,
        Command::BrokerStatus(c) => c.run(out).await,
        Command::GetBrokerConfig(c) => c.run(out).await,
        Command::UpdateBrokerConfig(c) => c.run(out).await,
        Command::UpdateSubGroup(c) => c.run(out).await,
        Command::DeleteSubGroup(c) => c.run(out).await,
        Command::ConsumerProgress(c) => c.run(out).await,
        Command::ConsumerConnection(c) => c.run(out).await,
        Command::ProducerConnection(c) => c.run(out).await,
        Command::ResetOffsetByTime(c) => c.run(out).await,
        Command::QueryMsgById(c) => c.run(out).await,
        Command::QueryMsgByKey(c) => c.run(out).await,
        Command::QueryMsgByUniqueKey(c) => c.run(out).await,
        Command::QueryMsgByOffset(c) => c.run(out).await,
        Command::SendMessage(c) => c.run(out).await,
        Command::ConsumeMessage(c) => c.run(out).await,
        Command::DecodeMessageId(c) => c.run(out).await,
        Command::HaStatus(c) => c.run(out).await,
        Command::GetSyncStateSet(c) => c.run(out).await,
        Command::ElectMaster(c) => c.run(out).await,
    }
}

/// Brokers a command acts on: `-b` wins over `-c`; with neither it is a usage error.
async fn target_brokers(
    admin: &Admin,
    broker: Option<&str>,
    cluster: Option<&str>,
) -> Result<Vec<String>, CliError> {
    if let Some(b) = broker {
        return Ok(vec![b.to_string()]);
    }
    if let Some(c) = cluster {
        let masters = admin.cluster_masters(c).await?;
        if masters.is_empty() {
            return Err(CliError::Failed(format!(
                "cluster {c} has no master broker"
            )));
        }
        return Ok(masters.into_iter().map(|m| m.addr).collect());
    }
    Err(CliError::Usage(
        "one of -b brokerAddr or -c clusterName is required".into(),
    ))
}
