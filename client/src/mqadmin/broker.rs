//! Cluster and broker commands: clusterList, brokerStatus, getBrokerConfig,
//! updateBrokerConfig.

use std::fmt::Write;

use clap::Args;
use sluice_remoting::body::KVTable;

use super::{target_brokers, CliResult, NamesrvArg};
use crate::admin::Admin;

#[derive(Args, Debug)]
pub struct ClusterList {
    #[command(flatten)]
    ns: NamesrvArg,
    /// which cluster
    #[arg(short = 'c', long = "clusterName")]
    cluster: Option<String>,
    /// Print more stats
    #[arg(short = 'm', long = "moreStats")]
    more_stats: bool,
}

/// The first number of a broker stats value such as `putTps` ("12.5 11.0 10.2").
fn first_number(table: &KVTable, key: &str) -> f64 {
    table
        .table
        .get(key)
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn value<'a>(table: &'a KVTable, key: &str, default: &'a str) -> &'a str {
    table.table.get(key).map_or(default, String::as_str)
}

impl ClusterList {
    pub async fn run(self, out: &mut String) -> CliResult {
        let admin = self.ns.admin()?;
        let info = admin.cluster_info().await?;
        if self.more_stats {
            let _ = writeln!(
                out,
                "{:<16}  {:<32} {:>14} {:>14} {:>14} {:>14}",
                "#Cluster Name",
                "#Broker Name",
                "#InTotalYest",
                "#OutTotalYest",
                "#InTotalToday",
                "#OutTotalToday"
            );
        } else {
            let _ = writeln!(
                out,
                "{:<22}  {:<22}  {:<4}  {:<22} {:<16}  {:>16}  {:>30}  {:<22}  {:<11}  {:<12}  {:<8}  {:<10}",
            "#Cluster Name", "#Broker Name", "#BID", "#Addr", "#Version", "#InTPS(LOAD)",
            "#OutTPS(LOAD)", "#Timer(Progress)", "#PCWait(ms)", "#Hour", "#SPACE", "#ACTIVATED"
            );
        }
        for (cluster, names) in &info.cluster_addr_table {
            if self.cluster.as_deref().is_some_and(|c| c != cluster) {
                continue;
            }
            for name in names {
                let Some(broker) = info.broker_addr_table.get(name) else {
                    continue;
                };
                for (id, addr) in &broker.broker_addrs {
                    // A broker that cannot answer still gets its row, with empty statistics.
                    let stats = admin.broker_runtime_info(addr).await.unwrap_or_default();
                    if self.more_stats {
                        let n = |k: &str| -> i64 { value(&stats, k, "0").parse().unwrap_or(0) };
                        let _ = writeln!(
                            out,
                            "{:<16}  {:<32} {:>14} {:>14} {:>14} {:>14}",
                            cluster,
                            name,
                            n("msgPutTotalTodayMorning") - n("msgPutTotalYesterdayMorning"),
                            n("msgGetTotalTodayMorning") - n("msgGetTotalYesterdayMorning"),
                            n("msgPutTotalTodayNow") - n("msgPutTotalTodayMorning"),
                            n("msgGetTotalTodayNow") - n("msgGetTotalTodayMorning"),
                        );
                        continue;
                    }
                    let in_tps = format!(
                        "{:9.2}({},{}ms)",
                        first_number(&stats, "putTps"),
                        value(&stats, "sendThreadPoolQueueSize", "0"),
                        value(&stats, "sendThreadPoolQueueHeadWaitTimeMills", "0")
                    );
                    let out_tps = format!(
                        "{:9.2}({},{}ms|{},{}ms)",
                        first_number(&stats, "getTransferredTps"),
                        value(&stats, "pullThreadPoolQueueSize", "0"),
                        value(&stats, "pullThreadPoolQueueHeadWaitTimeMills", "0"),
                        value(&stats, "ackThreadPoolQueueSize", "N"),
                        value(&stats, "ackThreadPoolQueueHeadWaitTimeMills", "N")
                    );
                    let timer = format!(
                        "{}-{}({:.1}w, {:.1}, {:.1})",
                        value(&stats, "timerReadBehind", "0"),
                        value(&stats, "timerOffsetBehind", "0"),
                        first_number(&stats, "timerCongestNum") / 10000.0,
                        first_number(&stats, "timerEnqueueTps"),
                        first_number(&stats, "timerDequeueTps")
                    );
                    let earliest = first_number(&stats, "earliestMessageTimeStamp");
                    let hours = if earliest > 0.0 {
                        (crate::admin::now_millis() as f64 - earliest) / 3_600_000.0
                    } else {
                        0.0
                    };
                    let space = first_number(&stats, "commitLogDiskRatio");
                    let _ = writeln!(
                        out,
                        "{:<22}  {:<22}  {:<4}  {:<22} {:<16}  {:>16}  {:>30}  {:<22}  {:>11}  {:<12}  {:<8}  {:>10}",
                        cluster,
                        name,
                        id,
                        addr,
                        value(&stats, "brokerVersionDesc", ""),
                        in_tps,
                        out_tps,
                        timer,
                        value(&stats, "pageCacheLockTimeMills", "0"),
                        format!("{hours:.2}"),
                        format!("{space:.4}"),
                        value(&stats, "brokerActive", "false")
                    );
                }
            }
        }
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct BrokerStatus {
    #[command(flatten)]
    ns: NamesrvArg,
    /// Broker address
    #[arg(short = 'b', long = "brokerAddr")]
    broker: Option<String>,
    /// which cluster
    #[arg(short = 'c', long = "clusterName")]
    cluster: Option<String>,
}

impl BrokerStatus {
    pub async fn run(self, out: &mut String) -> CliResult {
        let admin = self.ns.admin()?;
        let brokers =
            target_brokers(&admin, self.broker.as_deref(), self.cluster.as_deref()).await?;
        let with_addr = self.broker.is_none();
        for addr in brokers {
            let stats = admin.broker_runtime_info(&addr).await?;
            for (k, v) in &stats.table {
                if with_addr {
                    let _ = writeln!(out, "{addr:<24} {k:<32}: {v}");
                } else {
                    let _ = writeln!(out, "{k:<32}: {v}");
                }
            }
        }
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct GetBrokerConfig {
    #[command(flatten)]
    ns: NamesrvArg,
    /// get which broker
    #[arg(short = 'b', long = "brokerAddr")]
    broker: Option<String>,
    /// get which cluster
    #[arg(short = 'c', long = "clusterName")]
    cluster: Option<String>,
}

impl GetBrokerConfig {
    pub async fn run(self, out: &mut String) -> CliResult {
        let admin = self.ns.admin()?;
        let brokers =
            target_brokers(&admin, self.broker.as_deref(), self.cluster.as_deref()).await?;
        let prefix = if self.broker.is_some() {
            ""
        } else {
            "Master: "
        };
        for addr in brokers {
            print_config(&admin, &format!("{prefix}{addr}"), &addr, out).await?;
        }
        Ok(())
    }
}

async fn print_config(admin: &Admin, title: &str, addr: &str, out: &mut String) -> CliResult {
    let config = admin.broker_config(addr).await?;
    let _ = writeln!(out, "============{title}============");
    if config.is_empty() {
        let _ = writeln!(out, "Broker[{addr}] has no config property!");
        return Ok(());
    }
    for (k, v) in config {
        let _ = writeln!(out, "{k:<50}=  {v}");
    }
    let _ = writeln!(out);
    Ok(())
}

#[derive(Args, Debug)]
pub struct UpdateBrokerConfig {
    #[command(flatten)]
    ns: NamesrvArg,
    /// update which broker
    #[arg(short = 'b', long = "brokerAddr")]
    broker: Option<String>,
    /// update which cluster
    #[arg(short = 'c', long = "clusterName")]
    cluster: Option<String>,
    /// config key
    #[arg(short = 'k', long = "key")]
    key: String,
    /// config value
    #[arg(short = 'v', long = "value")]
    value: String,
}

impl UpdateBrokerConfig {
    pub async fn run(self, out: &mut String) -> CliResult {
        let admin = self.ns.admin()?;
        let brokers =
            target_brokers(&admin, self.broker.as_deref(), self.cluster.as_deref()).await?;
        for addr in brokers {
            admin
                .update_broker_config(&addr, &self.key, &self.value)
                .await?;
            let _ = writeln!(out, "update broker config success, {addr}");
        }
        Ok(())
    }
}
