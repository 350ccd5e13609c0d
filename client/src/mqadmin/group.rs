//! Consumer group commands: updateSubGroup, deleteSubGroup, consumerProgress,
//! consumerConnection, producerConnection, resetOffsetByTime.

use std::collections::BTreeMap;
use std::fmt::Write;

use clap::Args;
use sluice_remoting::body::{
    ConsumeStats, ConsumeType, MessageQueue, OffsetWrapper, SubscriptionGroupConfig,
};
use sluice_remoting::code::version;

use super::format::{format_millis, parse_timestamp};
use super::{target_brokers, CliError, CliResult, NamesrvArg};
use crate::admin::{now_millis, Admin, AdminError};

#[derive(Args, Debug)]
pub struct UpdateSubGroup {
    #[command(flatten)]
    ns: NamesrvArg,
    /// create subscription group to which broker
    #[arg(short = 'b', long = "brokerAddr")]
    broker: Option<String>,
    /// create subscription group to which cluster
    #[arg(short = 'c', long = "clusterName")]
    cluster: Option<String>,
    /// consumer group name
    #[arg(short = 'g', long = "groupName")]
    group: String,
    /// consume enable
    #[arg(short = 's', long = "consumeEnable", action = clap::ArgAction::Set)]
    consume_enable: Option<bool>,
    /// from min offset
    #[arg(short = 'm', long = "consumeFromMinEnable", action = clap::ArgAction::Set)]
    consume_from_min_enable: Option<bool>,
    /// broadcast
    #[arg(short = 'd', long = "consumeBroadcastEnable", action = clap::ArgAction::Set)]
    consume_broadcast_enable: Option<bool>,
    /// consume message orderly
    #[arg(short = 'o', long = "consumeMessageOrderly", action = clap::ArgAction::Set)]
    consume_message_orderly: Option<bool>,
    /// retry queue nums
    #[arg(short = 'q', long = "retryQueueNums")]
    retry_queue_nums: Option<i32>,
    /// retry max times
    #[arg(short = 'r', long = "retryMaxTimes")]
    retry_max_times: Option<i32>,
    /// consumer from which broker id
    #[arg(short = 'i', long = "brokerId")]
    broker_id: Option<i64>,
    /// which broker id when consume slowly
    #[arg(short = 'w', long = "whichBrokerWhenConsumeSlowly")]
    which_broker_when_consume_slowly: Option<i64>,
    /// notify consumerId changed
    #[arg(short = 'a', long = "notifyConsumerIdsChanged", action = clap::ArgAction::Set)]
    notify_consumer_ids_changed: Option<bool>,
}

impl UpdateSubGroup {
    pub async fn run(self, out: &mut String) -> CliResult {
        let mut config = SubscriptionGroupConfig::new(self.group.clone());
        if let Some(v) = self.consume_enable {
            config.consume_enable = v;
        }
        if let Some(v) = self.consume_from_min_enable {
            config.consume_from_min_enable = v;
        }
        if let Some(v) = self.consume_broadcast_enable {
            config.consume_broadcast_enable = v;
        }
        if let Some(v) = self.consume_message_orderly {
            config.consume_message_orderly = v;
        }
        if let Some(v) = self.retry_queue_nums {
            config.retry_queue_nums = v;
        }
        if let Some(v) = self.retry_max_times {
            config.retry_max_times = v;
        }
        if let Some(v) = self.broker_id {
            config.broker_id = v;
        }
        if let Some(v) = self.which_broker_when_consume_slowly {
            config.which_broker_when_consume_slowly = v;
        }
        if let Some(v) = self.notify_consumer_ids_changed {
            config.notify_consumer_ids_changed_enable = v;
        }
        let admin = self.ns.admin()?;
        let brokers =
            target_brokers(&admin, self.broker.as_deref(), self.cluster.as_deref()).await?;
        for addr in brokers {
            admin.create_subscription_group(&addr, &config).await?;
            let _ = writeln!(out, "create subscription group to {addr} success.");
        }
        let _ = writeln!(
            out,
            "SubscriptionGroupConfig [groupName={}, consumeEnable={}, consumeFromMinEnable={}, consumeBroadcastEnable={}, consumeMessageOrderly={}, retryQueueNums={}, retryMaxTimes={}, brokerId={}, whichBrokerWhenConsumeSlowly={}, notifyConsumerIdsChangedEnable={}]",
            config.group_name,
            config.consume_enable,
            config.consume_from_min_enable,
            config.consume_broadcast_enable,
            config.consume_message_orderly,
            config.retry_queue_nums,
            config.retry_max_times,
            config.broker_id,
            config.which_broker_when_consume_slowly,
            config.notify_consumer_ids_changed_enable
        );
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct DeleteSubGroup {
    #[command(flatten)]
    ns: NamesrvArg,
    /// delete subscription group from which broker
    #[arg(short = 'b', long = "brokerAddr")]
    broker: Option<String>,
    /// delete subscription group from which cluster
    #[arg(short = 'c', long = "clusterName")]
    cluster: Option<String>,
    /// subscription group name
    #[arg(short = 'g', long = "groupName")]
    group: String,
    /// remove offset
    #[arg(short = 'r', long = "removeOffset", action = clap::ArgAction::Set, default_value_t = false)]
    remove_offset: bool,
}

impl DeleteSubGroup {
    pub async fn run(self, out: &mut String) -> CliResult {
        let admin = self.ns.admin()?;
        let brokers =
            target_brokers(&admin, self.broker.as_deref(), self.cluster.as_deref()).await?;
        for addr in brokers {
            admin
                .delete_subscription_group(&addr, &self.group, self.remove_offset)
                .await?;
            match &self.cluster {
                Some(cluster) if self.broker.is_none() => {
                    let _ = writeln!(
                        out,
                        "delete subscription group [{}] from broker [{addr}] in cluster [{cluster}] success.",
                        self.group
                    );
                }
                _ => {
                    let _ = writeln!(
                        out,
                        "delete subscription group [{}] from broker [{addr}] success.",
                        self.group
                    );
                }
            }
        }
        Ok(())
    }
}

/// Consume stats of `group` merged over every master; a broker that does not know the group
/// contributes nothing, and a group no broker knows is an error.
async fn merged_consume_stats(
    admin: &Admin,
    group: &str,
    topic: Option<&str>,
) -> Result<ConsumeStats, CliError> {
    let info = admin.cluster_info().await?;
    let mut merged = ConsumeStats::default();
    let mut known = false;
    for broker in info.broker_addr_table.values() {
        let Some(addr) = broker.master_addr() else {
            continue;
        };
        match admin.consume_stats(addr, group, topic).await {
            Ok(stats) => {
                known = true;
                merged.consume_tps += stats.consume_tps;
                merged.offset_table.extend(stats.offset_table);
            }
            Err(AdminError::Refused { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if !known {
        return Err(CliError::Failed(format!(
            "no broker has consume stats for group {group}: create it with mqadmin updateSubGroup \
             or start a consumer in that group"
        )));
    }
    Ok(merged)
}

#[derive(Args, Debug)]
pub struct ConsumerProgress {
    #[command(flatten)]
    ns: NamesrvArg,
    /// consumer group name (without it: every group's summary)
    #[arg(short = 'g', long = "groupName")]
    group: Option<String>,
    /// topic name
    #[arg(short = 't', long = "topicName")]
    topic: Option<String>,
    /// Show client ip
    #[arg(short = 's', long = "showClientIP", action = clap::ArgAction::Set, default_value_t = false)]
    show_client_ip: bool,
}

impl ConsumerProgress {
    pub async fn run(self, out: &mut String) -> CliResult {
        let admin = self.ns.admin()?;
        let Some(group) = &self.group else {
            return all_groups(&admin, out).await;
        };
        let stats = merged_consume_stats(&admin, group, self.topic.as_deref()).await?;
        // Apache sorts by topic, then broker name, then queue id: the MessageQueue order.
        let rows: BTreeMap<&MessageQueue, &OffsetWrapper> = stats.offset_table.iter().collect();
        if self.show_client_ip {
            let _ = writeln!(
                out,
                "{:<64}  {:<32}  {:<4}  {:<20}  {:<20}  {:<20} {:<20} {:<20}{}",
                "#Topic",
                "#Broker Name",
                "#QID",
                "#Broker Offset",
                "#Consumer Offset",
                "#Client IP",
                "#Diff",
                "#Inflight",
                "#LastTime"
            );
        } else {
            let _ = writeln!(
                out,
                "{:<64}  {:<32}  {:<4}  {:<20}  {:<20}  {:<20} {:<20}{}",
                "#Topic",
                "#Broker Name",
                "#QID",
                "#Broker Offset",
                "#Consumer Offset",
                "#Diff",
                "#Inflight",
                "#LastTime"
            );
        }
        let (mut diff_total, mut inflight_total) = (0i64, 0i64);
        for (mq, o) in rows {
            let diff = o.broker_offset - o.consumer_offset;
            let inflight = (o.pull_offset - o.consumer_offset).max(0);
            diff_total += diff;
            inflight_total += inflight;
            let last = if o.last_timestamp > 0 {
                format_millis(o.last_timestamp)
            } else {
                "N/A".to_string()
            };
            if self.show_client_ip {
                let _ = writeln!(
                    out,
                    "{:<64}  {:<32}  {:<4}  {:<20}  {:<20}  {:<20} {:<20} {:<20} {}",
                    mq.topic,
                    mq.broker_name,
                    mq.queue_id,
                    o.broker_offset,
                    o.consumer_offset,
                    "N/A",
                    diff,
                    inflight,
                    last
                );
            } else {
                let _ = writeln!(
                    out,
                    "{:<64}  {:<32}  {:<4}  {:<20}  {:<20}  {:<20} {:<20} {}",
                    mq.topic,
                    mq.broker_name,
                    mq.queue_id,
                    o.broker_offset,
                    o.consumer_offset,
                    diff,
                    inflight,
                    last
                );
            }
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "Consume TPS: {:.2}", stats.consume_tps);
        let _ = writeln!(out, "Consume Diff Total: {diff_total}");
        let _ = writeln!(out, "Consume Inflight Total: {inflight_total}");
        Ok(())
    }
}

/// consumerProgress without `-g`: one summary row per group, the groups found (as Apache does)
/// through their `%RETRY%` topics.
async fn all_groups(admin: &Admin, out: &mut String) -> CliResult {
    let _ = writeln!(
        out,
        "{:<64}  {:<6}  {:<24} {:<5}  {:<14}  {:<7}  {}",
        "#Group", "#Count", "#Version", "#Type", "#Model", "#TPS", "#Diff Total"
    );
    let topics = admin.topic_list().await?;
    let info = admin.cluster_info().await?;
    let masters: Vec<&str> = info
        .broker_addr_table
        .values()
        .filter_map(|b| b.master_addr())
        .collect();
    for topic in &topics.topic_list {
        let Some(group) = topic.strip_prefix("%RETRY%") else {
            continue;
        };
        let (mut tps, mut diff) = (0.0, 0i64);
        let (mut count, mut min_version) = (0usize, None::<i32>);
        let (mut kind, mut model) = ("", "");
        for addr in &masters {
            if let Ok(stats) = admin.consume_stats(addr, group, None).await {
                tps += stats.consume_tps;
                diff += stats.diff_total();
            }
            if let Ok(cc) = admin.consumer_connection(addr, group).await {
                if count == 0 && !cc.connection_set.is_empty() {
                    kind = match cc.consume_type {
                        ConsumeType::ConsumeActively => "PULL",
                        ConsumeType::ConsumePassively => "PUSH",
                        ConsumeType::ConsumePop => "POP",
                    };
                    model = cc.message_model.name();
                }
                count = count.max(cc.connection_set.len());
                for c in &cc.connection_set {
                    min_version = Some(min_version.map_or(c.version, |v| v.min(c.version)));
                }
            }
        }
        let version = match (count, min_version) {
            (0, _) | (_, None) => "OFFLINE".to_string(),
            (_, Some(v)) => version::name(v),
        };
        let _ = writeln!(
            out,
            "{:<64}  {:<6}  {:<24} {:<5}  {:<14}  {:<7}  {}",
            group, count, version, kind, model, tps as i64, diff
        );
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct ConsumerConnectionCmd {
    #[command(flatten)]
    ns: NamesrvArg,
    /// consumer group name
    #[arg(short = 'g', long = "consumerGroup")]
    group: String,
    /// broker address
    #[arg(short = 'b', long = "brokerAddr")]
    broker: Option<String>,
}

/// A broker to ask about client connections: `-b`, else the first master that answers.
async fn connection_brokers(admin: &Admin, broker: Option<&str>) -> Result<Vec<String>, CliError> {
    if let Some(b) = broker {
        return Ok(vec![b.to_string()]);
    }
    let info = admin.cluster_info().await?;
    Ok(info
        .broker_addr_table
        .values()
        .filter_map(|b| b.master_addr().map(str::to_owned))
        .collect())
}

impl ConsumerConnectionCmd {
    pub async fn run(self, out: &mut String) -> CliResult {
        let admin = self.ns.admin()?;
        let mut last_error = None;
        for addr in connection_brokers(&admin, self.broker.as_deref()).await? {
            let cc = match admin.consumer_connection(&addr, &self.group).await {
                Ok(cc) => cc,
                Err(e) => {
                    last_error = Some(e);
                    continue;
                }
            };
            let _ = writeln!(
                out,
                "{:<36} {:<22} {:<10} {}",
                "#ClientId", "#ClientAddr", "#Language", "#Version"
            );
            for c in &cc.connection_set {
                let _ = writeln!(
                    out,
                    "{:<36} {:<22} {:<10} {}",
                    c.client_id,
                    c.client_addr,
                    c.language.to_string(),
                    version::name(c.version)
                );
            }
            let _ = writeln!(out, "\nBelow is subscription:");
            let _ = writeln!(out, "{:<20} {}", "#Topic", "#SubExpression");
            for sub in cc.subscription_table.values() {
                let _ = writeln!(out, "{:<20} {}", sub.topic, sub.sub_string);
            }
            let _ = writeln!(out);
            let _ = writeln!(out, "ConsumeType: {}", cc.consume_type.name());
            let _ = writeln!(out, "MessageModel: {}", cc.message_model.name());
            let _ = writeln!(out, "ConsumeFromWhere: {}", cc.consume_from_where.name());
            return Ok(());
        }
        Err(match last_error {
            Some(e) => CliError::Failed(format!(
                "the consumer group {} has no online consumer ({e})",
                self.group
            )),
            None => CliError::Failed("no broker is registered with the NameServer".into()),
        })
    }
}

#[derive(Args, Debug)]
pub struct ProducerConnectionCmd {
    #[command(flatten)]
    ns: NamesrvArg,
    /// producer group name
    #[arg(short = 'g', long = "producerGroup")]
    group: String,
    /// topic name
    #[arg(short = 't', long = "topic")]
    topic: String,
}

impl ProducerConnectionCmd {
    pub async fn run(self, out: &mut String) -> CliResult {
        let admin = self.ns.admin()?;
        let route = admin.topic_route(&self.topic).await?;
        let mut last_error = None;
        for broker in &route.broker_datas {
            let Some(addr) = broker.master_addr() else {
                continue;
            };
            match admin.producer_connection(addr, &self.group).await {
                Ok(pc) => {
                    for (i, c) in pc.connection_set.iter().enumerate() {
                        let _ = writeln!(
                            out,
                            "{:04}  {:<32} {:<22} {:<8} {}",
                            i + 1,
                            c.client_id,
                            c.client_addr,
                            c.language.to_string(),
                            version::name(c.version)
                        );
                    }
                    return Ok(());
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(match last_error {
            Some(e) => CliError::Failed(format!(
                "the producer group {} has no online producer ({e})",
                self.group
            )),
            None => CliError::Failed(format!("topic {} has no master broker", self.topic)),
        })
    }
}

#[derive(Args, Debug)]
pub struct ResetOffsetByTime {
    #[command(flatten)]
    ns: NamesrvArg,
    /// set the consumer group
    #[arg(short = 'g', long = "group")]
    group: String,
    /// set the topic
    #[arg(short = 't', long = "topic")]
    topic: String,
    /// set the timestamp[now|currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]
    #[arg(short = 's', long = "timestamp")]
    timestamp: String,
    /// set the force rollback by timestamp switch[true|false]. Deprecated.
    #[arg(short = 'f', long = "force", action = clap::ArgAction::Set, default_value_t = true)]
    force: bool,
    /// broker addr
    #[arg(short = 'b', long = "broker")]
    broker: Option<String>,
    /// queue id
    #[arg(short = 'q', long = "queue")]
    queue: Option<i32>,
    /// Expect queue offset, not support old version broker
    #[arg(short = 'o', long = "offset")]
    offset: Option<i64>,
    /// Cluster name or lmq parent topic, lmq is used to find the route.
    #[arg(short = 'c', long = "cluster")]
    cluster: Option<String>,
}

impl ResetOffsetByTime {
    pub async fn run(self, out: &mut String) -> CliResult {
        let timestamp = parse_timestamp(&self.timestamp, now_millis()).ok_or_else(|| {
            CliError::Usage(format!(
                "-s {:?} is not a time: use now, epoch milliseconds or yyyy-MM-dd#HH:mm:ss:SSS",
                self.timestamp
            ))
        })?;
        let admin = self.ns.admin()?;
        if let (Some(addr), Some(queue)) = (&self.broker, self.queue) {
            let _ = writeln!(
                out,
                "start reset consumer offset by specified, group[{}], topic[{}], queueId[{queue}], broker[{addr}], timestamp(string)[{}], timestamp(long)[{timestamp}]",
                self.group, self.topic, self.timestamp
            );
            let target = match self.offset {
                Some(o) => o,
                None => {
                    admin
                        .search_offset(addr, &self.topic, queue, timestamp)
                        .await?
                }
            };
            admin
                .reset_offset(
                    addr,
                    &self.topic,
                    &self.group,
                    timestamp,
                    true,
                    Some((queue, Some(target))),
                )
                .await?;
            let _ = writeln!(out, "reset consumer offset to {target}");
            return Ok(());
        }
        let route = admin.topic_route(&self.topic).await?;
        let mut table = BTreeMap::new();
        for broker in &route.broker_datas {
            if self.cluster.as_deref().is_some_and(|c| c != broker.cluster) {
                continue;
            }
            if let Some(addr) = broker.master_addr() {
                let body = admin
                    .reset_offset(addr, &self.topic, &self.group, timestamp, self.force, None)
                    .await?;
                table.extend(body.offset_table);
            }
        }
        let _ = writeln!(
            out,
            "start reset consumer offset by specified, group[{}], topic[{}], force[{}], timestamp(string)[{}], timestamp(long)[{}]",
            self.group, self.topic, self.force, self.timestamp, timestamp
        );
        let _ = writeln!(
            out,
            "{:<40}  {:<40}  {:<40}",
            "#brokerName", "#queueId", "#offset"
        );
        for (mq, offset) in &table {
            let _ = writeln!(
                out,
                "{:<40}  {:<40}  {:<40}",
                mq.broker_name, mq.queue_id, offset
            );
        }
        Ok(())
    }
}
