//! Who this client is towards the brokers: registered producer and consumer groups, heartbeats,
//! unregistration at shutdown, and the dispatch of transaction checks to their producer.

use std::collections::BTreeSet;

use sluice_remoting::body::{HeartbeatData, JsonBody, ProducerData};
use sluice_remoting::header::{CheckTransactionStateRequestHeader, UnregisterClientRequestHeader};
use sluice_remoting::message::{decode_messages, property};
use sluice_remoting::net::Channel;
use sluice_remoting::{RemotingCommand, RequestCode};

use sluice_remoting::body::ResetOffsetBody;
use sluice_remoting::header::ResetOffsetRequestHeader;

use super::{lock, ClientInstance, ConsumerDataFn, OffsetResetFn, TransactionCheckFn};

impl ClientInstance {
    pub fn register_producer(&self, group: &str) {
        lock(&self.producer_groups).insert(group.to_string());
    }

    pub fn unregister_producer(&self, group: &str) {
        lock(&self.producer_groups).remove(group);
    }

    /// Registers a consumer group; `data` is asked for the group's entry at every heartbeat.
    pub fn register_consumer(&self, group: &str, data: ConsumerDataFn) {
        lock(&self.consumers).insert(group.to_string(), data);
    }

    pub fn unregister_consumer(&self, group: &str) {
        lock(&self.consumers).remove(group);
    }

    /// Routes RESET_CONSUMER_CLIENT_OFFSET for `group` to `reset`.
    pub fn register_offset_resetter(&self, group: &str, reset: OffsetResetFn) {
        lock(&self.offset_resetters).insert(group.to_string(), reset);
    }

    pub fn unregister_offset_resetter(&self, group: &str) {
        lock(&self.offset_resetters).remove(group);
    }

    pub(super) fn on_reset_offset(&self, request: &RemotingCommand) {
        let header = match request.decode_header::<ResetOffsetRequestHeader>() {
            Ok(header) => header,
            Err(error) => {
                tracing::warn!(%error, "malformed RESET_CONSUMER_CLIENT_OFFSET");
                return;
            }
        };
        let body = match ResetOffsetBody::decode(&request.body.to_bytes()) {
            Ok(body) => body,
            Err(error) => {
                tracing::warn!(%error, group = %header.group, "RESET_CONSUMER_CLIENT_OFFSET with a malformed body");
                return;
            }
        };
        let reset = lock(&self.offset_resetters).get(&header.group).cloned();
        match reset {
            Some(reset) => {
                tracing::info!(group = %header.group, topic = %header.topic, queues = body.offset_table.len(), "offsets reset by the broker");
                reset(header.topic, body.offset_table.into_iter().collect());
            }
            None => {
                tracing::debug!(group = %header.group, "offset reset for a group this client does not consume")
            }
        }
    }

    /// Routes CHECK_TRANSACTION_STATE for half messages of `group` to `check`.
    pub fn register_transaction_checker(&self, group: &str, check: TransactionCheckFn) {
        lock(&self.transaction_checkers).insert(group.to_string(), check);
    }

    pub fn unregister_transaction_checker(&self, group: &str) {
        lock(&self.transaction_checkers).remove(group);
    }

    pub(super) fn on_check_transaction(&self, channel: Channel, request: &RemotingCommand) {
        let peer = channel.remote_addr();
        let header = match request.decode_header::<CheckTransactionStateRequestHeader>() {
            Ok(header) => header,
            Err(error) => {
                tracing::warn!(%peer, %error, "malformed CHECK_TRANSACTION_STATE");
                return;
            }
        };
        let message = match decode_messages(&request.body.to_bytes(), true) {
            Ok(mut messages) if messages.len() == 1 => messages.remove(0),
            Ok(messages) => {
                tracing::warn!(%peer, count = messages.len(), "CHECK_TRANSACTION_STATE must carry one message");
                return;
            }
            Err(error) => {
                tracing::warn!(%peer, %error, "CHECK_TRANSACTION_STATE with a malformed message");
                return;
            }
        };
        let group = message
            .property(property::PGROUP)
            .unwrap_or_default()
            .to_string();
        let check = lock(&self.transaction_checkers).get(&group).cloned();
        match check {
            Some(check) => check(channel, header, message),
            None => {
                tracing::warn!(%peer, %group, "transaction check for a group this client does not produce for")
            }
        }
    }

    /// The HEART_BEAT body for the groups registered now.
    pub fn heartbeat_data(&self) -> HeartbeatData {
        HeartbeatData {
            client_id: self.client_id.clone(),
            producer_data_set: lock(&self.producer_groups)
                .iter()
                .map(|g| ProducerData {
                    group_name: g.clone(),
                })
                .collect(),
            consumer_data_set: lock(&self.consumers).values().map(|f| f()).collect(),
            ..Default::default()
        }
    }

    /// Every known broker address; masters only when no consumer is registered (as Java).
    fn heartbeat_targets(&self, with_consumers: bool) -> BTreeSet<String> {
        lock(&self.tables)
            .brokers
            .values()
            .flat_map(|addrs| {
                addrs
                    .iter()
                    .filter(move |(id, _)| with_consumers || **id == 0)
                    .map(|(_, a)| a.clone())
            })
            .collect()
    }

    /// Sends HEART_BEAT to every known broker at once; returns how many accepted it.
    pub async fn send_heartbeat_to_all(&self) -> usize {
        let data = self.heartbeat_data();
        if data.producer_data_set.is_empty() && data.consumer_data_set.is_empty() {
            return 0;
        }
        let body = data.encode();
        let targets = self.heartbeat_targets(!data.consumer_data_set.is_empty());
        let sends = targets.iter().map(|addr| {
            let request = RemotingCommand::request(RequestCode::HeartBeat).with_body(body.clone());
            async move {
                match self
                    .invoke_ok(addr, request, self.config.request_timeout)
                    .await
                {
                    Ok(_) => true,
                    Err(error) => {
                        tracing::warn!(%addr, %error, "heartbeat failed");
                        false
                    }
                }
            }
        });
        futures::future::join_all(sends)
            .await
            .into_iter()
            .filter(|ok| *ok)
            .count()
    }

    pub(super) async fn unregister_all(&self) {
        let producers: Vec<String> = lock(&self.producer_groups).iter().cloned().collect();
        let consumers: Vec<String> = lock(&self.consumers).keys().cloned().collect();
        if producers.is_empty() && consumers.is_empty() {
            return;
        }
        let targets = self.heartbeat_targets(true);
        let mut sends = Vec::new();
        for addr in &targets {
            let groups = producers
                .iter()
                .map(|g| (Some(g.clone()), None))
                .chain(consumers.iter().map(|g| (None, Some(g.clone()))));
            for (producer_group, consumer_group) in groups {
                let header = UnregisterClientRequestHeader {
                    client_id: self.client_id.clone(),
                    producer_group,
                    consumer_group,
                    ..Default::default()
                };
                let request =
                    RemotingCommand::request(RequestCode::UnregisterClient).with_header(&header);
                sends.push(async move {
                    if let Err(error) = self
                        .invoke_ok(addr, request, self.config.request_timeout)
                        .await
                    {
                        tracing::debug!(%addr, %error, "unregister failed");
                    }
                });
            }
        }
        futures::future::join_all(sends).await;
    }
}
