//! Classic master/slave replication (Apache's `DefaultHAService`, broker-internals §7), see
//! `docs/replication.md` for the contract.
//!
//! - [`master`]: the HA listener on `haListenPort`; one connection per slave streams CommitLog bytes
//!   (12-byte header: physical offset + body size, then the raw bytes) from where the slave asks.
//! - [`slave`]: the HA client: connects to the master's HA address, reports its max offset (8 bytes), appends
//!   what arrives with [`MessageStore::append_replicated`] (the store's own dispatch builds ConsumeQueue and
//!   IndexFile), reconnects.
//! - [`sync`]: a slave's periodic copy of topics, subscription groups, consumer and delay offsets from its master.
//! - [`processor`]: GET_BROKER_HA_STATUS, GET_ALL_CONSUMER_OFFSET, GET_ALL_DELAY_OFFSET.
//!
//! The send path uses [`after_put`] (SYNC_MASTER waits for a slave's acknowledgement) and
//! [`refuse_write_on_slave`].

pub mod master;
pub mod processor;
pub mod slave;
pub mod sync;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use bytes::Bytes;
use sluice_remoting::body::broker_status::{HAClientRuntimeInfo, HAConnectionRuntimeInfo};
use sluice_remoting::body::HARuntimeInfo;
use sluice_remoting::header::RegisterBrokerResponseHeader;
use sluice_remoting::message::property;
use sluice_remoting::RemotingCommand;
use sluice_store::{MessageStore, PutResult, PutStatus};
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{BrokerConfig, BrokerRole};
use crate::state::BrokerState;

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    crate::topic_config::now_ms()
}

/// Bytes per second, over the last whole second.
#[derive(Default)]
pub(crate) struct RateMeter {
    inner: Mutex<(i64, u64, u64)>,
}

impl RateMeter {
    pub(crate) fn add(&self, n: u64) {
        let sec = now_ms() / 1000;
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if g.0 != sec {
            g.2 = if g.0 == sec - 1 { g.1 } else { 0 };
            g.0 = sec;
            g.1 = 0;
        }
        g.1 += n;
    }

    pub(crate) fn per_second(&self) -> i64 {
        let sec = now_ms() / 1000;
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if g.0 == sec {
            g.2 as i64
        } else if g.0 == sec - 1 {
            g.1 as i64
        } else {
            0
        }
    }
}

/// The acknowledged offset and the sends waiting for it, by the end offset of their record.
#[derive(Default)]
struct AckWaiters {
    acked: u64,
    waiting: BTreeMap<u64, Vec<oneshot::Sender<()>>>,
}

/// One slave connection as the master sees it.
pub struct SlaveConnection {
    pub addr: String,
    /// Last offset the slave reported (-1 before its first report).
    pub ack_offset: AtomicI64,
    /// Where the transfer started (-1 before the slave's first report).
    pub transfer_from: AtomicI64,
    pub(crate) rate: RateMeter,
}

/// A slave's view of its master.
#[derive(Default)]
pub struct ClientRuntime {
    pub connected_to: RwLock<Option<String>>,
    pub last_read_ms: AtomicI64,
    pub last_write_ms: AtomicI64,
    /// The master's offset in its last header.
    pub master_offset: AtomicI64,
    pub(crate) rate: RateMeter,
}

/// Replication state shared by the send path, the HA tasks and the status request.
pub struct HaService {
    store: Arc<MessageStore>,
    role: BrokerRole,
    /// Highest offset any slave acknowledged (Apache's push2SlaveMaxOffset) and the sends waiting for it.
    ack: Mutex<AckWaiters>,
    /// Woken when the CommitLog grew (sends call [`HaService::wake`]); transfers also poll.
    new_data: Notify,
    connections: Mutex<Vec<Arc<SlaveConnection>>>,
    /// Slave: the master's HA address from the NameServer's register answer (`haServerAddr`).
    master_ha_addr: RwLock<Option<String>>,
    /// Slave: the master's Remoting address from the register answer (`masterAddr`), for config sync.
    master_addr: RwLock<Option<String>>,
    pub client: ClientRuntime,
    fallbehind_max: u64,
}

impl HaService {
    pub fn new(config: &BrokerConfig, store: Arc<MessageStore>) -> HaService {
        // Whatever path tries to write on a slave (sends, send-backs, transactions), its store refuses.
        store.set_slave_mode(config.broker_role == BrokerRole::Slave);
        HaService {
            store,
            role: config.broker_role,
            ack: Mutex::new(AckWaiters::default()),
            new_data: Notify::new(),
            connections: Mutex::new(Vec::new()),
            master_ha_addr: RwLock::new(None),
            master_addr: RwLock::new(None),
            client: ClientRuntime::default(),
            fallbehind_max: config.ha_slave_fallbehind_max,
        }
    }

    pub fn role(&self) -> BrokerRole {
        self.role
    }

    /// Tells the transfers that the CommitLog grew.
    pub fn wake(&self) {
        self.new_data.notify_waiters();
    }

    /// Highest offset a slave acknowledged.
    pub fn acked_offset(&self) -> u64 {
        self.lock_ack().acked
    }

    fn lock_ack(&self) -> std::sync::MutexGuard<'_, AckWaiters> {
        self.ack.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slave acknowledged `offset`: wake every send whose record ends at or below it (each exactly once, like
    /// Apache's GroupTransferService).
    pub(crate) fn record_ack(&self, offset: u64) {
        let ready = {
            let mut g = self.lock_ack();
            if offset <= g.acked {
                return;
            }
            g.acked = offset;
            let rest = g.waiting.split_off(&(offset + 1));
            std::mem::replace(&mut g.waiting, rest)
        };
        for tx in ready.into_values().flatten() {
            let _ = tx.send(());
        }
    }

    pub fn connection_count(&self) -> usize {
        self.lock_connections().len()
    }

    fn lock_connections(&self) -> std::sync::MutexGuard<'_, Vec<Arc<SlaveConnection>>> {
        self.connections.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn add_connection(&self, c: Arc<SlaveConnection>) {
        self.lock_connections().push(c);
    }

    pub(crate) fn remove_connection(&self, c: &Arc<SlaveConnection>) {
        self.lock_connections().retain(|x| !Arc::ptr_eq(x, c));
    }

    /// Apache's `isSlaveOK`: a slave is connected and the best acknowledgement is within `haSlaveFallbehindMax`.
    pub fn is_slave_ok(&self, master_offset: u64) -> bool {
        self.connection_count() > 0
            && master_offset.saturating_sub(self.acked_offset()) < self.fallbehind_max
    }

    /// Waits until a slave acknowledged `end` (true) or `timeout` passed (false).
    pub async fn wait_for_ack(&self, end: u64, timeout: Duration) -> bool {
        let rx = {
            let mut g = self.lock_ack();
            if g.acked >= end {
                return true;
            }
            // Drop the senders of sends that timed out long ago, so a stalled slave cannot make this grow.
            if g.waiting.len() > 10_000 {
                g.waiting.retain(|_, v| {
                    v.retain(|tx| !tx.is_closed());
                    !v.is_empty()
                });
            }
            let (tx, rx) = oneshot::channel();
            g.waiting.entry(end).or_default().push(tx);
            rx
        };
        matches!(tokio::time::timeout(timeout, rx).await, Ok(Ok(())))
    }

    /// The HA address a slave should connect to: `haMasterAddress` when set, else what the NameServer said.
    pub fn master_ha_address(&self, config: &BrokerConfig) -> Option<String> {
        if let Some(a) = config
            .ha_master_address
            .as_deref()
            .map(str::trim)
            .filter(|a| a.len() >= 6)
        {
            return Some(a.to_string());
        }
        self.master_ha_addr
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The master's Remoting address, as the NameServer last reported it.
    pub fn master_addr(&self) -> Option<String> {
        self.master_addr
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Takes `haServerAddr` / `masterAddr` from a REGISTER_BROKER answer (a slave's only way to find its master
    /// when `haMasterAddress` is not set). Empty values keep the last known address, so a slave keeps trying its
    /// master while the NameServer has forgotten it.
    pub fn note_register_response(&self, response: &RemotingCommand) {
        if self.role != BrokerRole::Slave {
            return;
        }
        let Ok(h) = response.decode_header::<RegisterBrokerResponseHeader>() else {
            return;
        };
        if let Some(a) = h.ha_server_addr.filter(|a| !a.is_empty()) {
            *self
                .master_ha_addr
                .write()
                .unwrap_or_else(|p| p.into_inner()) = Some(a);
        }
        if let Some(a) = h.master_addr.filter(|a| !a.is_empty()) {
            *self.master_addr.write().unwrap_or_else(|p| p.into_inner()) = Some(a);
        }
    }

    /// GET_BROKER_HA_STATUS's body.
    pub fn runtime_info(&self) -> HARuntimeInfo {
        let max = self.store.commit_log.max_offset() as i64;
        if self.role != BrokerRole::Slave {
            let conns = self.lock_connections().clone();
            let infos: Vec<HAConnectionRuntimeInfo> = conns
                .iter()
                .map(|c| {
                    let ack = c.ack_offset.load(Ordering::Acquire).max(0);
                    let diff = (max - ack).max(0);
                    HAConnectionRuntimeInfo {
                        addr: c.addr.clone(),
                        slave_ack_offset: ack,
                        diff,
                        in_sync: (diff as u64) < self.fallbehind_max
                            && c.ack_offset.load(Ordering::Acquire) >= 0,
                        transfer_from_where: c.transfer_from.load(Ordering::Acquire),
                        transferred_byte_in_second: c.rate.per_second(),
                    }
                })
                .collect();
            HARuntimeInfo {
                master: true,
                master_commit_log_max_offset: max,
                in_sync_slave_nums: infos.iter().filter(|i| i.in_sync).count() as i32,
                ha_connection_info: infos,
                ..Default::default()
            }
        } else {
            let c = &self.client;
            HARuntimeInfo {
                master: false,
                master_commit_log_max_offset: 0,
                ha_client_runtime_info: HAClientRuntimeInfo {
                    master_addr: c
                        .connected_to
                        .read()
                        .unwrap_or_else(|p| p.into_inner())
                        .clone(),
                    max_offset: max,
                    last_read_timestamp: c.last_read_ms.load(Ordering::Acquire),
                    last_write_timestamp: c.last_write_ms.load(Ordering::Acquire),
                    master_flush_offset: c.master_offset.load(Ordering::Acquire),
                    transferred_byte_in_second: c.rate.per_second(),
                },
                ..Default::default()
            }
        }
    }
}

/// Starts the role's HA task: the listener on a master, the client and config sync on a slave.
pub async fn start(
    state: &Arc<BrokerState>,
    stop: CancellationToken,
) -> crate::error::Result<Vec<JoinHandle<()>>> {
    let config = state.config();
    if config.is_master() {
        match master::start(state.clone(), stop).await {
            Ok(task) => Ok(vec![task]),
            // SYNC_MASTER cannot keep its promise without slaves: refuse to start.
            Err(e) if config.broker_role == BrokerRole::SyncMaster => Err(e),
            Err(e) => {
                tracing::error!(error = %e, "HA: no slave can replicate from this ASYNC_MASTER");
                Ok(Vec::new())
            }
        }
    } else {
        Ok(vec![
            slave::spawn(state.clone(), stop.clone()),
            sync::spawn(state.clone(), stop),
        ])
    }
}

/// The send path's hook after the put: under SYNC_MASTER, a stored message (WAIT not false) waits until a slave
/// acknowledged its end offset: SLAVE_NOT_AVAILABLE at once when no slave is in sync, FLUSH_SLAVE_TIMEOUT after
/// `slaveTimeout`. Other roles only wake the transfers.
pub async fn after_put(state: &BrokerState, properties: &str, mut result: PutResult) -> PutResult {
    let ha = &state.ha;
    if !result.status.is_stored() {
        return result;
    }
    ha.wake();
    if ha.role != BrokerRole::SyncMaster
        || result.status != PutStatus::PutOk
        || property::find(properties, property::WAIT) == Some("false")
    {
        return result;
    }
    // Controller mode: with no other replica in the SyncStateSet there is nobody to wait for.
    if state.failover.acks_alone() {
        return result;
    }
    let end = result.physical_offset + result.wrote_bytes;
    if !ha.is_slave_ok(end) {
        result.status = PutStatus::SlaveNotAvailable;
        return result;
    }
    let timeout = Duration::from_millis(state.config().slave_timeout.max(1));
    if !ha.wait_for_ack(end, timeout).await {
        tracing::warn!(
            end,
            acked = ha.acked_offset(),
            "SYNC_MASTER: no slave acknowledged in time"
        );
        result.status = PutStatus::FlushSlaveTimeout;
    }
    result
}

/// A slave refuses writes (Apache's store: SERVICE_NOT_AVAILABLE, "message store is slave mode").
pub fn refuse_write_on_slave(state: &BrokerState) -> Option<String> {
    (state.ha.role == BrokerRole::Slave).then(|| {
        format!(
            "the broker[{}] is a slave (brokerRole=SLAVE): message store is slave mode, so putMessage is forbidden",
            state.config().broker_addr()
        )
    })
}

/// Physical RAM in bytes (from /proc/meminfo; 8 GiB when unknown).
fn total_physical_memory() -> u64 {
    static MEM: OnceLock<u64> = OnceLock::new();
    *MEM.get_or_init(|| {
        std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<u64>().ok())
            })
            .map_or(8 << 30, |kb| kb * 1024)
    })
}

/// Offset of PHYSICALOFFSET in a stored record.
const PHYSICAL_OFFSET_AT: usize = 28;

/// The pull response's `suggestWhichBrokerId` (Apache `PullMessageProcessor`): with `slaveReadEnable`, the group's
/// `whichBrokerWhenConsumeSlowly` when the consumer is further behind the CommitLog's end than
/// `accessMessageInMemoryMaxRatio` % of RAM, else the group's `brokerId`; without it, always 0 (the master).
/// The ratio 0 sends every consumer with a backlog to the slave.
pub fn suggest_broker_id(state: &BrokerState, group: &str, records: &[Bytes]) -> i64 {
    let config = state.config();
    // A slave answers the same way from its own config, so a consumer goes back to the master once caught up
    // (or at once when the slave has no slaveReadEnable).
    if !config.slave_read_enable {
        return 0;
    }
    let group_cfg = state.subscription_groups.get(group);
    let (normal, slow) = group_cfg
        .map(|g| (g.broker_id, g.which_broker_when_consume_slowly))
        .unwrap_or((0, 1));
    let pulled_to = records.last().and_then(|r| {
        r.get(PHYSICAL_OFFSET_AT..PHYSICAL_OFFSET_AT + 8)
            .map(|b| u64::from_be_bytes(b.try_into().unwrap_or([0; 8])))
    });
    let Some(pulled_to) = pulled_to else {
        return normal;
    };
    let behind = state
        .store
        .commit_log
        .max_offset()
        .saturating_sub(pulled_to);
    let memory =
        total_physical_memory() / 100 * u64::from(config.access_message_in_memory_max_ratio);
    if behind > memory {
        slow
    } else {
        normal
    }
}
