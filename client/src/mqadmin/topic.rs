//! Topic commands: updateTopic, deleteTopic, topicList, topicRoute, topicStatus,
//! topicClusterList.

use std::collections::BTreeSet;
use std::fmt::Write;

use clap::Args;
use sluice_remoting::body::TopicConfig;

use super::format::format_millis;
use super::{target_brokers, CliError, CliResult, NamesrvArg};

/// Java `PermName.perm2String`: `R`, `W`, `X` (inherit) or `-` in each place.
pub fn perm_string(perm: i32) -> String {
    let mut s = String::with_capacity(3);
    s.push(if perm & 4 != 0 { 'R' } else { '-' });
    s.push(if perm & 2 != 0 { 'W' } else { '-' });
    s.push(if perm & 1 != 0 { 'X' } else { '-' });
    s
}

fn topic_config_line(c: &TopicConfig) -> String {
    format!(
        "TopicConfig [topicName={}, readQueueNums={}, writeQueueNums={}, perm={}, topicFilterType={}, topicSysFlag={}, order={}, attributes={:?}]",
        c.topic_name,
        c.read_queue_nums,
        c.write_queue_nums,
        perm_string(c.perm),
        c.topic_filter_type.name(),
        c.topic_sys_flag,
        c.order,
        c.attributes
    )
}

#[derive(Args, Debug)]
pub struct UpdateTopic {
    #[command(flatten)]
    ns: NamesrvArg,
    /// create topic to which broker
    #[arg(short = 'b', long = "brokerAddr")]
    broker: Option<String>,
    /// create topic to which cluster
    #[arg(short = 'c', long = "clusterName")]
    cluster: Option<String>,
    /// topic name
    #[arg(short = 't', long = "topic")]
    topic: String,
    /// set read queue nums
    #[arg(short = 'r', long = "readQueueNums", default_value_t = 8)]
    read_queue_nums: i32,
    /// set write queue nums
    #[arg(short = 'w', long = "writeQueueNums", default_value_t = 8)]
    write_queue_nums: i32,
    /// set topic's permission(2|4|6), intro[2:W 4:R; 6:RW]
    #[arg(short = 'p', long = "perm", default_value_t = 6)]
    perm: i32,
    /// set topic's order(true|false)
    #[arg(short = 'o', long = "order", default_value_t = false, action = clap::ArgAction::Set)]
    order: bool,
    /// attribute(+a=b,+c=d,-e)
    #[arg(short = 'a', long = "attributes")]
    attributes: Option<String>,
}

impl UpdateTopic {
    pub async fn run(self, out: &mut String) -> CliResult {
        if ![2, 4, 6].contains(&self.perm) {
            return Err(CliError::Usage(format!(
                "-p {} is not a permission: use 2 (W), 4 (R) or 6 (RW)",
                self.perm
            )));
        }
        let mut config = TopicConfig::new(self.topic.clone());
        config.read_queue_nums = self.read_queue_nums;
        config.write_queue_nums = self.write_queue_nums;
        config.perm = self.perm;
        config.order = self.order;
        if let Some(attrs) = &self.attributes {
            for item in attrs.split(',').filter(|s| !s.is_empty()) {
                let item = item.strip_prefix('+').unwrap_or(item);
                let (k, v) = item.split_once('=').ok_or_else(|| {
                    CliError::Usage(format!("attribute {item:?} is not +key=value"))
                })?;
                config.attributes.insert(k.to_string(), v.to_string());
            }
        }
        let admin = self.ns.admin()?;
        let brokers =
            target_brokers(&admin, self.broker.as_deref(), self.cluster.as_deref()).await?;
        for addr in &brokers {
            admin.create_topic(addr, &config).await?;
            let _ = writeln!(out, "create topic to {addr} success.");
        }
        let _ = writeln!(out, "{}", topic_config_line(&config));
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct DeleteTopic {
    #[command(flatten)]
    ns: NamesrvArg,
    /// topic name
    #[arg(short = 't', long = "topic")]
    topic: String,
    /// delete topic from which cluster
    #[arg(short = 'c', long = "clusterName")]
    cluster: String,
}

impl DeleteTopic {
    pub async fn run(self, out: &mut String) -> CliResult {
        let admin = self.ns.admin()?;
        for broker in admin.cluster_masters(&self.cluster).await? {
            admin
                .delete_topic_in_broker(&broker.addr, &self.topic)
                .await?;
        }
        let _ = writeln!(
            out,
            "delete topic [{}] from cluster [{}] success.",
            self.topic, self.cluster
        );
        admin
            .delete_topic_in_namesrv(&self.topic, Some(&self.cluster))
            .await?;
        let _ = writeln!(
            out,
            "delete topic [{}] from NameServer success.",
            self.topic
        );
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct TopicListCmd {
    #[command(flatten)]
    ns: NamesrvArg,
    /// print cluster and consumer group of each topic
    #[arg(short = 'c', long = "clusterModel")]
    cluster_model: bool,
}

impl TopicListCmd {
    pub async fn run(self, out: &mut String) -> CliResult {
        let admin = self.ns.admin()?;
        let topics = admin.topic_list().await?;
        if !self.cluster_model {
            for topic in &topics.topic_list {
                let _ = writeln!(out, "{topic}");
            }
            return Ok(());
        }
        let info = admin.cluster_info().await?;
        let _ = writeln!(
            out,
            "{:<20}  {:<48}  {:<48}",
            "#Cluster Name", "#Topic", "#Consumer Group"
        );
        for topic in &topics.topic_list {
            // Retry and DLQ topics belong to their groups; Apache lists only user topics here.
            if topic.starts_with("%RETRY%") || topic.starts_with("%DLQ%") {
                continue;
            }
            let clusters = match admin.topic_route(topic).await {
                Ok(route) => route
                    .broker_datas
                    .iter()
                    .map(|b| b.cluster.clone())
                    .collect::<BTreeSet<_>>(),
                Err(_) => BTreeSet::new(),
            };
            let cluster = clusters.into_iter().next().unwrap_or_default();
            let mut groups = BTreeSet::new();
            if let Some(names) = info.cluster_addr_table.get(&cluster) {
                for name in names {
                    let addr = info
                        .broker_addr_table
                        .get(name)
                        .and_then(|b| b.master_addr());
                    if let Some(addr) = addr {
                        if let Ok(found) = admin.topic_consumers(addr, topic).await {
                            groups.extend(found);
                        }
                    }
                }
            }
            if groups.is_empty() {
                let _ = writeln!(out, "{cluster:<20}  {topic:<64}  {:<64}", "");
            }
            for group in groups {
                let _ = writeln!(out, "{cluster:<20}  {topic:<64}  {group:<64}");
            }
        }
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct TopicRoute {
    #[command(flatten)]
    ns: NamesrvArg,
    /// topic name
    #[arg(short = 't', long = "topic")]
    topic: String,
    /// Use list format to print data
    #[arg(short = 'l', long = "list")]
    list: bool,
}

impl TopicRoute {
    pub async fn run(self, out: &mut String) -> CliResult {
        let admin = self.ns.admin()?;
        let route = admin.topic_route(&self.topic).await?;
        if !self.list {
            let json = serde_json::to_string_pretty(&route)
                .map_err(|e| CliError::Failed(format!("cannot print the route: {e}")))?;
            let _ = writeln!(out, "{json}");
            return Ok(());
        }
        let _ = writeln!(
            out,
            "{:<45} {:<32} {:<50} {:<10} {:<11} {:<5}",
            "#ClusterName", "#BrokerName", "#BrokerAddrs", "#ReadQueue", "#WriteQueue", "#Perm"
        );
        let (mut reads, mut writes) = (0, 0);
        for broker in &route.broker_datas {
            let Some(queue) = route
                .queue_datas
                .iter()
                .find(|q| q.broker_name == broker.broker_name)
            else {
                continue;
            };
            reads += queue.read_queue_nums;
            writes += queue.write_queue_nums;
            // Java's Map.toString, as Apache prints it.
            let addrs = format!(
                "{{{}}}",
                broker
                    .broker_addrs
                    .iter()
                    .map(|(id, a)| format!("{id}={a}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let _ = writeln!(
                out,
                "{:<45} {:<32} {:<50} {:<10} {:<11} {:<5}",
                broker.cluster,
                broker.broker_name,
                addrs,
                queue.read_queue_nums,
                queue.write_queue_nums,
                queue.perm
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<45} {:<32} {:<50} {:<10} {:<11}",
            "Total:",
            route.broker_datas.len(),
            "",
            reads,
            writes
        );
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct TopicStatus {
    #[command(flatten)]
    ns: NamesrvArg,
    /// topic name
    #[arg(short = 't', long = "topic")]
    topic: String,
    /// cluster name or lmq parent topic, lmq is used to find the route.
    #[arg(short = 'c', long = "cluster")]
    cluster: Option<String>,
}

impl TopicStatus {
    pub async fn run(self, out: &mut String) -> CliResult {
        let admin = self.ns.admin()?;
        let route = admin.topic_route(&self.topic).await?;
        let mut table = std::collections::BTreeMap::new();
        let mut tps = 0.0;
        for broker in &route.broker_datas {
            if self.cluster.as_deref().is_some_and(|c| c != broker.cluster) {
                continue;
            }
            if let Some(addr) = broker.master_addr() {
                let stats = admin.topic_stats(addr, &self.topic).await?;
                tps += stats.topic_put_tps;
                table.extend(stats.offset_table);
            }
        }
        let _ = writeln!(
            out,
            "{:<32}  {:<4}  {:<20}  {:<20}    {}",
            "#Broker Name", "#QID", "#Min Offset", "#Max Offset", "#Last Updated"
        );
        for (mq, offset) in &table {
            let updated = if offset.last_update_timestamp > 0 {
                format_millis(offset.last_update_timestamp)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "{:<32}  {:<4}  {:<20}  {:<20}    {}",
                mq.broker_name, mq.queue_id, offset.min_offset, offset.max_offset, updated
            );
        }
        let _ = writeln!(out, "\nTopic Put TPS: {tps:.2}");
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct TopicClusterList {
    #[command(flatten)]
    ns: NamesrvArg,
    /// topic name
    #[arg(short = 't', long = "topic")]
    topic: String,
}

impl TopicClusterList {
    pub async fn run(self, out: &mut String) -> CliResult {
        let admin = self.ns.admin()?;
        let route = admin.topic_route(&self.topic).await?;
        let clusters: BTreeSet<&str> = route
            .broker_datas
            .iter()
            .map(|b| b.cluster.as_str())
            .collect();
        for cluster in clusters {
            let _ = writeln!(out, "{cluster}");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perm_strings_as_java_prints_them() {
        assert_eq!(perm_string(6), "RW-");
        assert_eq!(perm_string(4), "R--");
        assert_eq!(perm_string(2), "-W-");
        assert_eq!(perm_string(7), "RWX");
    }
}
