//! [`ControllerLink`]: a broker's requests to the controller (register, heartbeat, replica info,
//! SyncStateSet changes) and to its group's master (epoch history), and the role-change pushes
//! it receives.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use sluice_remoting::body::{
    BrokerReplicasInfo, EpochEntryCache, JsonBody, ReplicaIdentity, SyncStateSet,
};
use sluice_remoting::header::{
    AlterSyncStateSetRequestHeader, AlterSyncStateSetResponseHeader, BrokerHeartbeatRequestHeader,
    GetReplicaInfoRequestHeader, GetReplicaInfoResponseHeader,
    RegisterBrokerToControllerRequestHeader, RegisterBrokerToControllerResponseHeader,
};
use sluice_remoting::net::{Channel, ClientConfig, ProcessorTable, RemotingClient};
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};
use tokio::sync::Notify;

use crate::config::BrokerConfig;

/// A group's state as the controller tells it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupView {
    pub master_id: Option<i64>,
    pub master_address: Option<String>,
    pub master_epoch: i32,
    pub sync_state_set: BTreeSet<i64>,
    pub sync_state_set_epoch: i32,
}

/// The controller connection(s) of one broker.
pub struct ControllerLink {
    client: RemotingClient,
    addrs: Vec<String>,
    timeout: Duration,
    notified: Arc<Notify>,
}

fn failed(what: &str, r: &RemotingCommand) -> String {
    format!(
        "{what}: code {} ({})",
        r.code,
        r.remark.as_deref().unwrap_or("no remark")
    )
}

fn ok(r: &RemotingCommand) -> bool {
    r.code == ResponseCode::Success.as_i32()
}

impl ControllerLink {
    pub fn new(config: &BrokerConfig) -> ControllerLink {
        let notified = Arc::new(Notify::new());
        let n = notified.clone();
        let table = ProcessorTable::new().with(
            RequestCode::NotifyBrokerRoleChanged,
            move |_c: Channel, _r: RemotingCommand| {
                let n = n.clone();
                async move {
                    n.notify_one();
                    None
                }
            },
        );
        ControllerLink {
            client: RemotingClient::new(ClientConfig::default(), table),
            addrs: config
                .controller_addr
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            timeout: Duration::from_millis(3_000),
            notified,
        }
    }

    /// Resolves when the controller pushes a role change.
    pub async fn role_change_pushed(&self) {
        self.notified.notified().await
    }

    /// Sends to the first controller that answers.
    async fn invoke(&self, request: RemotingCommand) -> Result<RemotingCommand, String> {
        let mut last = "no controllerAddr configured".to_string();
        for addr in &self.addrs {
            match self
                .client
                .invoke(addr, request.clone(), self.timeout)
                .await
            {
                Ok(r) if r.code == ResponseCode::ControllerNotLeader.as_i32() => {
                    last = format!("{addr} is not the leading controller")
                }
                Ok(r) => return Ok(r),
                Err(e) => last = format!("{addr}: {e}"),
            }
        }
        Err(last)
    }

    pub async fn register(
        &self,
        config: &BrokerConfig,
        replica_id: i64,
    ) -> Result<GroupView, String> {
        let h = RegisterBrokerToControllerRequestHeader {
            cluster_name: config.broker_cluster_name.clone(),
            broker_name: config.broker_name.clone(),
            broker_id: replica_id,
            broker_address: config.broker_addr(),
            invoke_time: Some(crate::topic_config::now_ms()),
        };
        let r = self
            .invoke(RemotingCommand::request(RequestCode::ControllerRegisterBroker).with_header(&h))
            .await?;
        if !ok(&r) {
            return Err(failed("register with the controller", &r));
        }
        let h: RegisterBrokerToControllerResponseHeader =
            r.decode_header().map_err(|e| e.to_string())?;
        let set = SyncStateSet::decode(&r.body.to_bytes()).unwrap_or_default();
        Ok(GroupView {
            master_id: h.master_broker_id,
            master_address: h.master_address,
            master_epoch: h.master_epoch.unwrap_or(0),
            sync_state_set: set.sync_state_set,
            sync_state_set_epoch: h.sync_state_set_epoch.unwrap_or(set.sync_state_set_epoch),
        })
    }

    pub async fn replica_info(&self, broker_name: &str) -> Result<GroupView, String> {
        let h = GetReplicaInfoRequestHeader {
            broker_name: broker_name.to_string(),
        };
        let r = self
            .invoke(RemotingCommand::request(RequestCode::ControllerGetReplicaInfo).with_header(&h))
            .await?;
        if !ok(&r) {
            return Err(failed("replica info", &r));
        }
        let h: GetReplicaInfoResponseHeader = r.decode_header().map_err(|e| e.to_string())?;
        let set = SyncStateSet::decode(&r.body.to_bytes()).unwrap_or_default();
        Ok(GroupView {
            master_id: h.master_broker_id,
            master_address: h.master_address,
            master_epoch: h.master_epoch.unwrap_or(0),
            sync_state_set: set.sync_state_set,
            sync_state_set_epoch: set.sync_state_set_epoch,
        })
    }

    pub async fn heartbeat(
        &self,
        config: &BrokerConfig,
        replica_id: i64,
        epoch: i32,
        max_offset: i64,
    ) -> Result<(), String> {
        let h = BrokerHeartbeatRequestHeader {
            cluster_name: config.broker_cluster_name.clone(),
            broker_addr: config.broker_addr(),
            broker_name: config.broker_name.clone(),
            broker_id: Some(replica_id),
            epoch: Some(epoch),
            max_offset: Some(max_offset),
            confirm_offset: Some(max_offset),
            heartbeat_timeout_millis: Some(config.controller_heart_beat_timeout_mills as i64),
            election_priority: None,
        };
        let r = self
            .invoke(RemotingCommand::request(RequestCode::BrokerHeartbeat).with_header(&h))
            .await?;
        if ok(&r) {
            Ok(())
        } else {
            Err(failed("heartbeat", &r))
        }
    }

    /// The controller's view of every replica of `broker_name`.
    pub async fn replicas(&self, broker_name: &str) -> Result<Vec<ReplicaIdentity>, String> {
        let body = serde_json::to_vec(&[broker_name]).expect("plain data");
        let r = self
            .invoke(
                RemotingCommand::request(RequestCode::ControllerGetSyncStateData).with_body(body),
            )
            .await?;
        if !ok(&r) {
            return Err(failed("sync state data", &r));
        }
        let mut info = BrokerReplicasInfo::decode(&r.body.to_bytes()).map_err(|e| e.to_string())?;
        let g = info
            .replicas_info_table
            .remove(broker_name)
            .unwrap_or_default();
        Ok(g.in_sync_replicas
            .into_iter()
            .chain(g.not_in_sync_replicas)
            .collect())
    }

    pub async fn alter_sync_state_set(
        &self,
        broker_name: &str,
        master_id: i64,
        master_epoch: i32,
        set: BTreeSet<i64>,
        set_epoch: i32,
    ) -> Result<i32, String> {
        let h = AlterSyncStateSetRequestHeader {
            broker_name: broker_name.to_string(),
            master_broker_id: master_id,
            master_epoch,
            invoke_time: Some(crate::topic_config::now_ms()),
        };
        let body = SyncStateSet {
            sync_state_set: set,
            sync_state_set_epoch: set_epoch,
        };
        let r = self
            .invoke(
                RemotingCommand::request(RequestCode::ControllerAlterSyncStateSet)
                    .with_header(&h)
                    .with_body(body.encode()),
            )
            .await?;
        if !ok(&r) {
            return Err(failed("alter SyncStateSet", &r));
        }
        let h: AlterSyncStateSetResponseHeader = r.decode_header().map_err(|e| e.to_string())?;
        Ok(h.new_sync_state_set_epoch)
    }

    /// A master's epoch history and HA address (GET_BROKER_EPOCH_CACHE on its Remoting port).
    pub async fn epoch_cache(
        &self,
        broker_addr: &str,
    ) -> Result<(EpochEntryCache, String), String> {
        let r = self
            .client
            .invoke(
                broker_addr,
                RemotingCommand::request(RequestCode::GetBrokerEpochCache),
                self.timeout,
            )
            .await
            .map_err(|e| format!("{broker_addr}: {e}"))?;
        if !ok(&r) {
            return Err(failed("epoch cache", &r));
        }
        let ha = r
            .ext("haServerAddr")
            .map(str::to_string)
            .ok_or_else(|| format!("{broker_addr} did not say its HA address"))?;
        let cache = EpochEntryCache::decode(&r.body.to_bytes()).map_err(|e| e.to_string())?;
        Ok((cache, ha))
    }
}
