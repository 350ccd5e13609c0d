//! [`Controller`]: the replica table behind a Remoting server, the live-replica table fed by
//! heartbeats, the scan that replaces dead masters, and the notifications of master changes.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_remoting::body::{
    BrokerReplicasInfo, JsonBody, ReplicaIdentity, ReplicasInfo, SyncStateSet,
};
use sluice_remoting::header::{
    AlterSyncStateSetRequestHeader, AlterSyncStateSetResponseHeader, BrokerHeartbeatRequestHeader,
    ElectMasterRequestHeader, ElectMasterResponseHeader, GetReplicaInfoRequestHeader,
    GetReplicaInfoResponseHeader, NotifyBrokerRoleChangedRequestHeader,
    RegisterBrokerToControllerRequestHeader, RegisterBrokerToControllerResponseHeader,
};
use sluice_remoting::net::{Channel, ProcessorTable, RemotingServer, ServerConfig};
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::ControllerConfig;
use crate::error::{ControllerError, Result};
use crate::replicas::{GroupState, Liveness, Outcome, Refusal, ReplicaProgress, ReplicaTable};
use crate::store::ReplicaFile;

/// One replica's last heartbeat.
#[derive(Clone)]
struct LiveReplica {
    address: String,
    last_seen: Instant,
    timeout: Duration,
    progress: ReplicaProgress,
    /// The connection it heartbeats on: where role changes are pushed.
    channel: Option<Channel>,
}

/// Heartbeats by (brokerName, brokerId).
#[derive(Default)]
struct LiveTable {
    replicas: HashMap<(String, i64), LiveReplica>,
}

/// A snapshot of liveness at one instant, for the state machine.
struct LiveView<'a> {
    table: &'a LiveTable,
    now: Instant,
}

impl<'a> LiveView<'a> {
    fn now(table: &'a LiveTable) -> Self {
        LiveView {
            table,
            now: Instant::now(),
        }
    }
}

impl Liveness for LiveView<'_> {
    fn is_alive(&self, group: &str, id: i64) -> bool {
        self.table
            .replicas
            .get(&(group.to_string(), id))
            .is_some_and(|r| self.now.duration_since(r.last_seen) < r.timeout)
    }

    fn progress(&self, group: &str, id: i64) -> Option<ReplicaProgress> {
        self.table
            .replicas
            .get(&(group.to_string(), id))
            .map(|r| r.progress)
    }
}

/// The shared core: the table, its file, the live replicas.
pub struct ControllerCore {
    config: ControllerConfig,
    /// The replica table; changes are made and saved under this lock (in order).
    table: tokio::sync::Mutex<ReplicaTable>,
    file: Arc<ReplicaFile>,
    live: Mutex<LiveTable>,
    local_addr: Mutex<String>,
}

impl ControllerCore {
    fn live(&self) -> std::sync::MutexGuard<'_, LiveTable> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of one group's state.
    pub async fn group(&self, name: &str) -> Option<GroupState> {
        self.table.lock().await.group(name).cloned()
    }

    /// Whether a heartbeat of `name`/`id` is recent enough.
    pub fn is_alive(&self, name: &str, id: i64) -> bool {
        LiveView::now(&self.live()).is_alive(name, id)
    }

    /// The last progress `name`/`id` reported.
    pub fn progress(&self, name: &str, id: i64) -> Option<ReplicaProgress> {
        LiveView::now(&self.live()).progress(name, id)
    }

    fn touch(
        &self,
        name: &str,
        id: i64,
        address: &str,
        timeout: Option<Duration>,
        progress: Option<ReplicaProgress>,
        channel: &Channel,
    ) {
        let mut live = self.live();
        let entry = live
            .replicas
            .entry((name.to_string(), id))
            .or_insert_with(|| LiveReplica {
                address: address.to_string(),
                last_seen: Instant::now(),
                timeout: self.config.broker_not_active_timeout,
                progress: ReplicaProgress::default(),
                channel: None,
            });
        entry.address = address.to_string();
        entry.last_seen = Instant::now();
        if let Some(t) = timeout {
            entry.timeout = t;
        }
        if let Some(p) = progress {
            entry.progress = p;
        }
        entry.channel = Some(channel.clone());
    }

    /// Runs one state-machine step against the current liveness, saves the table if it
    /// changed (before anyone hears of the change), and tells the group's replicas when its
    /// master changed.
    async fn step(
        &self,
        f: impl FnOnce(&mut ReplicaTable, &dyn Liveness) -> std::result::Result<Outcome, Refusal>,
    ) -> std::result::Result<Outcome, Refusal> {
        let mut table = self.table.lock().await;
        let mut next = table.clone();
        let outcome = {
            let live = self.live();
            let view = LiveView::now(&live);
            f(&mut next, &view)?
        };
        if outcome.changed {
            let file = self.file.clone();
            let snapshot = next.clone();
            let saved = tokio::task::spawn_blocking(move || file.save(&snapshot)).await;
            match saved {
                Ok(Ok(())) => *table = next,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "cannot save the replica table; the change is dropped");
                    return Err(Refusal {
                        code: ResponseCode::SystemError,
                        remark: format!("the controller cannot save its state: {e}"),
                    });
                }
                Err(e) => {
                    return Err(Refusal {
                        code: ResponseCode::SystemError,
                        remark: format!("the controller's save task failed: {e}"),
                    })
                }
            }
            if outcome.master_changed {
                tracing::info!(
                    group = ?outcome.group.master_address(),
                    master = ?outcome.group.master,
                    epoch = outcome.group.master_epoch,
                    "master changed"
                );
            }
        }
        drop(table);
        if outcome.master_changed && self.config.notify_broker_role_changed {
            self.notify(&outcome);
        }
        Ok(outcome)
    }

    /// NOTIFY_BROKER_ROLE_CHANGED (oneway) to every replica of the group with a live
    /// connection. Lost notifications are repaired by the replicas' own polling.
    fn notify(&self, outcome: &Outcome) {
        let group = &outcome.group;
        let live = self.live();
        for ((name, id), replica) in &live.replicas {
            if !group.brokers.contains_key(id) || group.brokers.get(id) != Some(&replica.address) {
                continue;
            }
            let Some(channel) = &replica.channel else {
                continue;
            };
            let header = NotifyBrokerRoleChangedRequestHeader {
                master_address: group.master_address().map(str::to_string),
                master_epoch: Some(group.master_epoch),
                sync_state_set_epoch: Some(group.sync_state_set_epoch),
                master_broker_id: group.master,
            };
            let request = RemotingCommand::request(RequestCode::NotifyBrokerRoleChanged)
                .with_header(&header)
                .with_body(sync_state_set(group).encode());
            if let Err(e) = channel.send_oneway(request) {
                tracing::debug!(broker = %name, id, error = %e, "role change notification not sent");
            }
        }
    }

    /// One pass of failure detection: every group whose master is dead, or that has no master
    /// while an in-sync replica is alive, gets an election.
    pub async fn scan_once(&self) {
        let names: Vec<String> = {
            let table = self.table.lock().await;
            let live = self.live();
            let view = LiveView::now(&live);
            table
                .groups
                .iter()
                .filter(|(name, g)| match g.master {
                    Some(m) => !view.is_alive(name, m),
                    None => g.sync_state_set.iter().any(|id| view.is_alive(name, *id)),
                })
                .map(|(name, _)| name.clone())
                .collect()
        };
        let unclean = self.config.enable_elect_unclean_master;
        for name in names {
            match self
                .step(|t, live| t.elect(&name, None, live, unclean))
                .await
            {
                Ok(o) => {
                    tracing::info!(group = %name, master = ?o.group.master, epoch = o.group.master_epoch, "election after master failure")
                }
                Err(r) => {
                    tracing::warn!(group = %name, code = ?r.code, "no new master: {}", r.remark)
                }
            }
        }
    }
}

fn sync_state_set(group: &GroupState) -> SyncStateSet {
    SyncStateSet {
        sync_state_set: group.sync_state_set.clone(),
        sync_state_set_epoch: group.sync_state_set_epoch,
    }
}

fn answer_refusal(request: &RemotingCommand, r: Refusal) -> RemotingCommand {
    RemotingCommand::response_to(request, r.code).with_remark(r.remark)
}

fn bad_request(request: &RemotingCommand, e: impl std::fmt::Display) -> RemotingCommand {
    RemotingCommand::response_to(request, ResponseCode::ControllerInvalidRequest)
        .with_remark(e.to_string())
}

async fn process(
    core: Arc<ControllerCore>,
    channel: Channel,
    request: RemotingCommand,
) -> RemotingCommand {
    let unclean = core.config.enable_elect_unclean_master;
    match RequestCode::from_i32(request.code) {
        Some(RequestCode::BrokerHeartbeat) => {
            let h: BrokerHeartbeatRequestHeader = match request.decode_header() {
                Ok(h) => h,
                Err(e) => return bad_request(&request, e),
            };
            let id = h.broker_id.unwrap_or(-1);
            let timeout = h
                .heartbeat_timeout_millis
                .filter(|t| *t > 0)
                .map(|t| Duration::from_millis(t as u64));
            core.touch(
                &h.broker_name,
                id,
                &h.broker_addr,
                timeout,
                Some(ReplicaProgress {
                    epoch: h.epoch.unwrap_or(0),
                    max_offset: h.max_offset.unwrap_or(0),
                    election_priority: h.election_priority.unwrap_or(i32::MAX),
                }),
                &channel,
            );
            RemotingCommand::response_to(&request, ResponseCode::Success)
        }
        Some(RequestCode::ControllerRegisterBroker) => {
            let h: RegisterBrokerToControllerRequestHeader = match request.decode_header() {
                Ok(h) => h,
                Err(e) => return bad_request(&request, e),
            };
            core.touch(
                &h.broker_name,
                h.broker_id,
                &h.broker_address,
                None,
                None,
                &channel,
            );
            match core
                .step(|t, live| {
                    t.register(
                        &h.cluster_name,
                        &h.broker_name,
                        h.broker_id,
                        &h.broker_address,
                        live,
                        unclean,
                    )
                })
                .await
            {
                Ok(o) => {
                    let g = &o.group;
                    let header = RegisterBrokerToControllerResponseHeader {
                        cluster_name: Some(h.cluster_name.clone()),
                        broker_name: Some(h.broker_name.clone()),
                        master_broker_id: g.master,
                        master_address: g.master_address().map(str::to_string),
                        master_epoch: Some(g.master_epoch),
                        sync_state_set_epoch: Some(g.sync_state_set_epoch),
                    };
                    RemotingCommand::response_to(&request, ResponseCode::Success)
                        .with_header(&header)
                        .with_body(sync_state_set(g).encode())
                }
                Err(r) => answer_refusal(&request, r),
            }
        }
        Some(RequestCode::ControllerGetReplicaInfo) => {
            let h: GetReplicaInfoRequestHeader = match request.decode_header() {
                Ok(h) => h,
                Err(e) => return bad_request(&request, e),
            };
            match core.group(&h.broker_name).await {
                Some(g) => {
                    let header = GetReplicaInfoResponseHeader {
                        master_broker_id: g.master,
                        master_address: g.master_address().map(str::to_string),
                        master_epoch: Some(g.master_epoch),
                    };
                    RemotingCommand::response_to(&request, ResponseCode::Success)
                        .with_header(&header)
                        .with_body(sync_state_set(&g).encode())
                }
                None => RemotingCommand::response_to(
                    &request,
                    ResponseCode::ControllerBrokerMetadataNotExist,
                )
                .with_remark(format!(
                    "broker group `{}` has not registered with this controller",
                    h.broker_name
                )),
            }
        }
        Some(RequestCode::ControllerAlterSyncStateSet) => {
            let h: AlterSyncStateSetRequestHeader = match request.decode_header() {
                Ok(h) => h,
                Err(e) => return bad_request(&request, e),
            };
            let proposal = match SyncStateSet::decode(&request.body.to_bytes()) {
                Ok(s) => s,
                Err(e) => return bad_request(&request, format!("bad SyncStateSet body: {e}")),
            };
            match core
                .step(|t, live| {
                    t.alter_sync_state_set(
                        &h.broker_name,
                        h.master_broker_id,
                        h.master_epoch,
                        &proposal.sync_state_set,
                        proposal.sync_state_set_epoch,
                        live,
                    )
                })
                .await
            {
                Ok(o) => {
                    let header = AlterSyncStateSetResponseHeader {
                        new_sync_state_set_epoch: o.group.sync_state_set_epoch,
                    };
                    RemotingCommand::response_to(&request, ResponseCode::Success)
                        .with_header(&header)
                        .with_body(sync_state_set(&o.group).encode())
                }
                Err(r) => answer_refusal(&request, r),
            }
        }
        Some(RequestCode::ControllerElectMaster) => {
            let h: ElectMasterRequestHeader = match request.decode_header() {
                Ok(h) => h,
                Err(e) => return bad_request(&request, e),
            };
            let prefer = h
                .broker_id
                .filter(|id| *id >= 0 && h.designate_elect.unwrap_or(false));
            match core
                .step(|t, live| t.elect(&h.broker_name, prefer, live, unclean))
                .await
            {
                Ok(o) => {
                    let g = &o.group;
                    let header = ElectMasterResponseHeader {
                        master_broker_id: g.master,
                        master_address: g.master_address().map(str::to_string),
                        master_epoch: Some(g.master_epoch),
                        sync_state_set_epoch: Some(g.sync_state_set_epoch),
                    };
                    let code = if g.master.is_some() {
                        ResponseCode::Success
                    } else {
                        ResponseCode::ControllerMasterNotAvailable
                    };
                    RemotingCommand::response_to(&request, code).with_header(&header)
                }
                Err(r) => answer_refusal(&request, r),
            }
        }
        Some(RequestCode::ControllerGetSyncStateData) => {
            let names: Vec<String> = if request.body.to_bytes().is_empty() {
                Vec::new()
            } else {
                match serde_json::from_slice(&request.body.to_bytes()) {
                    Ok(n) => n,
                    Err(e) => {
                        return bad_request(
                            &request,
                            format!("body must be a JSON array of broker names: {e}"),
                        )
                    }
                }
            };
            let table = core.table.lock().await.clone();
            let mut info = BrokerReplicasInfo::default();
            for (name, g) in &table.groups {
                if !names.is_empty() && !names.contains(name) {
                    continue;
                }
                let identity = |id: &i64, addr: &String| {
                    let progress = core.progress(name, *id).unwrap_or_default();
                    ReplicaIdentity {
                        broker_name: name.clone(),
                        broker_id: *id,
                        broker_address: addr.clone(),
                        alive: core.is_alive(name, *id),
                        epoch: progress.epoch,
                        max_offset: progress.max_offset,
                    }
                };
                let (in_sync, not_in_sync): (Vec<_>, Vec<_>) = g
                    .brokers
                    .iter()
                    .partition(|(id, _)| g.sync_state_set.contains(id));
                info.replicas_info_table.insert(
                    name.clone(),
                    ReplicasInfo {
                        master_broker_id: g.master.unwrap_or(-1),
                        master_address: g.master_address().unwrap_or("").to_string(),
                        master_epoch: g.master_epoch,
                        sync_state_set_epoch: g.sync_state_set_epoch,
                        in_sync_replicas: in_sync
                            .into_iter()
                            .map(|(i, a)| identity(i, a))
                            .collect(),
                        not_in_sync_replicas: not_in_sync
                            .into_iter()
                            .map(|(i, a)| identity(i, a))
                            .collect(),
                    },
                );
            }
            RemotingCommand::response_to(&request, ResponseCode::Success).with_body(info.encode())
        }
        Some(RequestCode::ControllerGetMetadataInfo) => {
            let addr = core
                .local_addr
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            let mut response = RemotingCommand::response_to(&request, ResponseCode::Success);
            for (k, v) in [
                ("group", "sluice-controller".to_string()),
                ("controllerLeaderId", "0".to_string()),
                ("controllerLeaderAddress", addr.clone()),
                ("isLeader", "true".to_string()),
                ("peers", addr),
            ] {
                response.ext_fields.insert(k.into(), v);
            }
            response
        }
        _ => RemotingCommand::response_to(&request, ResponseCode::RequestCodeNotSupported)
            .with_remark(format!(
                "request code {} not supported by the controller",
                request.code
            )),
    }
}

const CODES: &[RequestCode] = &[
    RequestCode::BrokerHeartbeat,
    RequestCode::ControllerRegisterBroker,
    RequestCode::ControllerGetReplicaInfo,
    RequestCode::ControllerAlterSyncStateSet,
    RequestCode::ControllerElectMaster,
    RequestCode::ControllerGetSyncStateData,
    RequestCode::ControllerGetMetadataInfo,
];

/// A running controller.
pub struct Controller {
    core: Arc<ControllerCore>,
    server: RemotingServer,
    stop: CancellationToken,
    scan: Option<JoinHandle<()>>,
}

impl Controller {
    /// Loads the replica table and starts serving on `bindAddress:listenPort`.
    pub async fn start(config: ControllerConfig) -> Result<Controller> {
        let ip: IpAddr = config
            .bind_address
            .parse()
            .map_err(|_| ControllerError::Config {
                key: "bindAddress".into(),
                problem: format!("`{}` is not an IP address", config.bind_address),
            })?;
        let file = Arc::new(ReplicaFile::new(&config.controller_store_path));
        let loader = file.clone();
        let table = tokio::task::spawn_blocking(move || loader.load())
            .await
            .map_err(|e| ControllerError::Config {
                key: "controllerStorePath".into(),
                problem: format!("loading failed: {e}"),
            })??;
        tracing::info!(groups = table.groups.len(), file = %file.path().display(), "replica table loaded");
        let core = Arc::new(ControllerCore {
            config: config.clone(),
            table: tokio::sync::Mutex::new(table),
            file,
            live: Mutex::new(LiveTable::default()),
            local_addr: Mutex::new(String::new()),
        });
        let mut processors = ProcessorTable::new();
        for &code in CODES {
            let core = core.clone();
            processors.register(
                code,
                Arc::new(move |channel: Channel, request: RemotingCommand| {
                    let core = core.clone();
                    async move { Some(process(core, channel, request).await) }
                }),
            );
        }
        let server = RemotingServer::start(
            ServerConfig::new(SocketAddr::new(ip, config.listen_port)),
            processors,
        )
        .await?;
        *core.local_addr.lock().unwrap_or_else(|e| e.into_inner()) =
            server.local_addr().to_string();
        let stop = CancellationToken::new();
        let scan = {
            let core = core.clone();
            let stop = stop.clone();
            // Right after a restart nobody has had time to heartbeat: wait one timeout before
            // declaring any master dead.
            let grace = config.broker_not_active_timeout;
            let every = config.scan_not_active_broker_interval;
            tokio::spawn(async move {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(grace) => {}
                }
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tick.tick() => core.scan_once().await,
                    }
                }
            })
        };
        tracing::info!(addr = %server.local_addr(), "controller started");
        Ok(Controller {
            core,
            server,
            stop,
            scan: Some(scan),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    pub fn core(&self) -> &Arc<ControllerCore> {
        &self.core
    }

    /// Group names with their master ids (for logs and tests).
    pub async fn masters(&self) -> Vec<(String, Option<i64>, i32, BTreeSet<i64>)> {
        let table = self.core.table.lock().await;
        table
            .groups
            .iter()
            .map(|(n, g)| {
                (
                    n.clone(),
                    g.master,
                    g.master_epoch,
                    g.sync_state_set.clone(),
                )
            })
            .collect()
    }

    pub async fn shutdown(mut self, grace: Duration) {
        self.stop.cancel();
        if let Some(scan) = self.scan.take() {
            let _ = scan.await;
        }
        self.server.shutdown(grace).await;
        tracing::info!("controller stopped");
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
