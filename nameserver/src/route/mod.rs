//! The route table (Apache's `RouteInfoManager`): which brokers serve which topics, which
//! brokers form which cluster, and which brokers are alive.
//!
//! One `RwLock` owns all of it: route lookups (every client, every 30 s per topic) far outnumber
//! registrations (every broker, every 30 s), and no critical section awaits or does I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use sluice_remoting::body::{
    BrokerData, ClusterInfo, DataVersion, QueueData, TopicConfigSerializeWrapper, TopicList,
    TopicRouteData,
};
use sluice_remoting::net::Channel;
use tokio::time::Instant;

/// Broker id of a master.
pub const MASTER_ID: i64 = 0;
/// `PermName.PERM_READ`.
pub const PERM_READ: i32 = 4;
/// `PermName.PERM_WRITE`.
pub const PERM_WRITE: i32 = 2;
/// `TopicSysFlag` unit bit.
const FLAG_UNIT: i32 = 1;
/// `TopicSysFlag` unit-subscription bit.
const FLAG_UNIT_SUB: i32 = 2;

/// What the NameServer knows about one live broker process (keyed by its address).
#[derive(Clone, Debug)]
pub struct BrokerLiveInfo {
    pub last_update: Instant,
    /// How long the broker may stay silent before it is dropped.
    pub timeout: Duration,
    pub data_version: DataVersion,
    /// Id of the connection it registered over; closing it removes the broker.
    pub channel_id: u64,
    /// That connection, closed when the broker expires (absent in unit tests).
    pub channel: Option<Channel>,
    pub ha_server_addr: String,
    pub cluster: String,
    pub broker_name: String,
    pub broker_id: i64,
}

/// One REGISTER_BROKER request, decoded.
#[derive(Debug)]
pub struct Registration<'a> {
    pub cluster: &'a str,
    pub broker_addr: &'a str,
    pub broker_name: &'a str,
    pub broker_id: i64,
    pub ha_server_addr: &'a str,
    /// `enableActingMaster` header; absent from brokers before 5.0.
    pub enable_acting_master: Option<bool>,
    /// `__ZONE_NAME` ext field.
    pub zone_name: Option<String>,
    pub topics: &'a TopicConfigSerializeWrapper,
    pub filter_servers: Vec<String>,
    pub timeout: Duration,
    pub channel_id: u64,
    pub channel: Option<Channel>,
}

/// The answer to a registration: for a slave, where its master is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegisterResult {
    pub master_addr: Option<String>,
    pub ha_server_addr: Option<String>,
    /// The channel had not been seen before: the caller should watch it for closing.
    pub new_channel: bool,
}

#[derive(Default)]
struct Tables {
    /// topic -> brokerName -> queues.
    topic_queues: HashMap<String, BTreeMap<String, QueueData>>,
    /// brokerName -> addresses of its members.
    broker_addrs: BTreeMap<String, BrokerData>,
    /// cluster -> brokerNames.
    clusters: BTreeMap<String, BTreeSet<String>>,
    /// brokerAddr -> liveness.
    live: HashMap<String, BrokerLiveInfo>,
    /// brokerAddr -> filter servers.
    filter_servers: HashMap<String, Vec<String>>,
    /// Channels whose closing is already being watched.
    watched_channels: BTreeSet<u64>,
}

#[derive(Default)]
pub struct RouteInfoManager {
    tables: RwLock<Tables>,
}

impl RouteInfoManager {
    pub fn new() -> Self {
        Self::default()
    }

    // A panic while holding the lock cannot leave the tables half-updated in a way later
    // readers could not cope with, so poisoning is ignored.
    fn read(&self) -> RwLockReadGuard<'_, Tables> {
        self.tables.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Tables> {
        self.tables.write().unwrap_or_else(|e| e.into_inner())
    }

    /// REGISTER_BROKER: records the broker, and its topics when it is the master (or, for 5.x
    /// brokers, the lowest-id slave while no master is registered) and its data version changed,
    /// it registers for the first time, or a topic of it is missing from the table.
    pub fn register_broker(&self, reg: Registration<'_>) -> RegisterResult {
        let mut t = self.write();
        let t = &mut *t;
        // A process that comes back on the same address under another name or cluster leaves
        // its old group first; otherwise that group would keep a member nothing can expire.
        if let Some(prev) = t.live.get(reg.broker_addr) {
            if prev.broker_name != reg.broker_name || prev.cluster != reg.cluster {
                let (cluster, name) = (prev.cluster.clone(), prev.broker_name.clone());
                tracing::info!(addr = reg.broker_addr, old = %name, new = reg.broker_name, "broker address changed group");
                remove_broker(t, &cluster, reg.broker_addr, &name);
            }
        }
        t.clusters
            .entry(reg.cluster.to_string())
            .or_default()
            .insert(reg.broker_name.to_string());

        let mut register_first = false;
        let broker = t
            .broker_addrs
            .entry(reg.broker_name.to_string())
            .or_insert_with(|| {
                register_first = true;
                BrokerData {
                    cluster: reg.cluster.to_string(),
                    broker_name: reg.broker_name.to_string(),
                    ..Default::default()
                }
            });
        // Brokers before 5.0 do not send enableActingMaster.
        let old_version_broker = reg.enable_acting_master.is_none();
        broker.enable_acting_master = reg.enable_acting_master.unwrap_or(false);
        broker.zone_name = reg.zone_name.clone();
        // The same address under another id: a slave became master (or back); forget the old id.
        broker
            .broker_addrs
            .retain(|&id, addr| addr != reg.broker_addr || id == reg.broker_id);

        let data_version = reg.topics.data_version;
        // Another process holds this id with a newer state version: this one is stale.
        if let Some(old_addr) = broker.broker_addrs.get(&reg.broker_id) {
            if old_addr != reg.broker_addr {
                let newer = t
                    .live
                    .get(old_addr)
                    .is_some_and(|old| old.data_version.state_version > data_version.state_version);
                if newer {
                    tracing::warn!(
                        broker = reg.broker_name,
                        id = reg.broker_id,
                        existing = %old_addr,
                        rejected = reg.broker_addr,
                        "registration conflicts with a newer broker of the same id; ignored"
                    );
                    t.live.remove(reg.broker_addr);
                    return RegisterResult::default();
                }
            }
        }
        let old = broker
            .broker_addrs
            .insert(reg.broker_id, reg.broker_addr.to_string());
        register_first |= old.is_none();

        let is_master = reg.broker_id == MASTER_ID;
        let is_prime_slave = !old_version_broker
            && !is_master
            && broker.broker_addrs.keys().next() == Some(&reg.broker_id);
        let acting_master = broker.enable_acting_master;
        if is_master || is_prime_slave {
            let version_changed = t
                .live
                .get(reg.broker_addr)
                .is_none_or(|live| live.data_version != data_version);
            for topic in reg.topics.topic_config_table.values() {
                let known = t
                    .topic_queues
                    .get(&topic.topic_name)
                    .is_some_and(|q| q.contains_key(reg.broker_name));
                // The common case, a periodic re-registration, allocates nothing.
                if known && !register_first && !version_changed {
                    continue;
                }
                let queues = t.topic_queues.entry(topic.topic_name.clone()).or_default();
                let mut perm = topic.perm;
                if is_prime_slave && acting_master {
                    // The acting master serves reads only.
                    perm &= !PERM_WRITE;
                }
                let queue = QueueData {
                    broker_name: reg.broker_name.to_string(),
                    perm,
                    read_queue_nums: topic.read_queue_nums,
                    topic_sys_flag: topic.topic_sys_flag,
                    write_queue_nums: topic.write_queue_nums,
                };
                match queues.get_mut(reg.broker_name) {
                    Some(existing) if *existing == queue => {}
                    Some(existing) => {
                        tracing::info!(topic = %topic.topic_name, old = ?existing, new = ?queue, "topic queue data changed");
                        *existing = queue;
                    }
                    None => {
                        tracing::info!(topic = %topic.topic_name, ?queue, "topic registered");
                        queues.insert(reg.broker_name.to_string(), queue);
                    }
                }
            }
        }

        let new_channel = t.watched_channels.insert(reg.channel_id);
        let previous = t.live.insert(
            reg.broker_addr.to_string(),
            BrokerLiveInfo {
                last_update: Instant::now(),
                timeout: reg.timeout,
                data_version,
                channel_id: reg.channel_id,
                channel: reg.channel,
                ha_server_addr: reg.ha_server_addr.to_string(),
                cluster: reg.cluster.to_string(),
                broker_name: reg.broker_name.to_string(),
                broker_id: reg.broker_id,
            },
        );
        if previous.is_none() {
            tracing::info!(
                cluster = reg.cluster,
                broker = reg.broker_name,
                id = reg.broker_id,
                addr = reg.broker_addr,
                "new broker registered"
            );
        }

        if reg.filter_servers.is_empty() {
            t.filter_servers.remove(reg.broker_addr);
        } else {
            t.filter_servers
                .insert(reg.broker_addr.to_string(), reg.filter_servers);
        }

        let mut result = RegisterResult {
            new_channel,
            ..Default::default()
        };
        if reg.broker_id != MASTER_ID {
            let master_addr = t
                .broker_addrs
                .get(reg.broker_name)
                .and_then(|b| b.master_addr());
            if let Some(master_addr) = master_addr {
                if let Some(master) = t.live.get(master_addr) {
                    result.master_addr = Some(master_addr.to_string());
                    result.ha_server_addr = Some(master.ha_server_addr.clone());
                }
            }
        }
        result
    }

    /// UNREGISTER_BROKER (and expiry, and a closed connection).
    pub fn unregister_broker(&self, cluster: &str, broker_addr: &str, broker_name: &str) {
        let mut t = self.write();
        remove_broker(&mut t, cluster, broker_addr, broker_name);
    }

    /// The broker connection `channel_id` closed: remove every broker that registered over it.
    pub fn on_channel_closed(&self, channel_id: u64) {
        let mut t = self.write();
        t.watched_channels.remove(&channel_id);
        let gone: Vec<(String, BrokerLiveInfo)> = t
            .live
            .iter()
            .filter(|(_, live)| live.channel_id == channel_id)
            .map(|(addr, live)| (addr.clone(), live.clone()))
            .collect();
        for (addr, live) in gone {
            tracing::info!(addr = %addr, broker = %live.broker_name, "broker connection closed; removing its routes");
            remove_broker(&mut t, &live.cluster, &addr, &live.broker_name);
        }
    }

    /// Removes brokers silent for longer than their timeout; returns how many. Their
    /// connections are closed, as Apache does, so a zombie broker has to reconnect.
    pub fn scan_not_active_brokers(&self, now: Instant) -> usize {
        let mut t = self.write();
        let expired: Vec<(String, BrokerLiveInfo)> = t
            .live
            .iter()
            .filter(|(_, live)| now.saturating_duration_since(live.last_update) > live.timeout)
            .map(|(addr, live)| (addr.clone(), live.clone()))
            .collect();
        for (addr, live) in &expired {
            tracing::warn!(
                addr = %addr,
                broker = %live.broker_name,
                silent_ms = now.saturating_duration_since(live.last_update).as_millis() as u64,
                "broker expired; removing its routes"
            );
            remove_broker(&mut t, &live.cluster, addr, &live.broker_name);
        }
        drop(t);
        for channel in expired.iter().filter_map(|(_, live)| live.channel.as_ref()) {
            channel.close();
        }
        expired.len()
    }

    /// BROKER_HEARTBEAT and an unchanged QUERY_DATA_VERSION: the broker is still there.
    pub fn touch_broker(&self, broker_addr: &str) -> bool {
        let mut t = self.write();
        match t.live.get_mut(broker_addr) {
            Some(live) => {
                live.last_update = Instant::now();
                true
            }
            None => false,
        }
    }

    /// The DataVersion last registered by `broker_addr`.
    pub fn broker_data_version(&self, broker_addr: &str) -> Option<DataVersion> {
        self.read().live.get(broker_addr).map(|l| l.data_version)
    }

    /// GET_ROUTEINFO_BY_TOPIC: `None` when no live broker group serves the topic.
    pub fn topic_route(&self, topic: &str) -> Option<TopicRouteData> {
        let t = self.read();
        let queues = t.topic_queues.get(topic)?;
        let mut route = TopicRouteData::default();
        for (broker_name, queue) in queues {
            route.queue_datas.push(queue.clone());
            if let Some(broker) = t.broker_addrs.get(broker_name) {
                for addr in broker.broker_addrs.values() {
                    if let Some(filters) = t.filter_servers.get(addr) {
                        route
                            .filter_server_table
                            .insert(addr.clone(), filters.clone());
                    }
                }
                route.broker_datas.push(broker.clone());
            }
        }
        if route.queue_datas.is_empty() || route.broker_datas.is_empty() {
            return None;
        }
        Some(route)
    }

    /// GET_BROKER_MEMBER_GROUP: the addresses of one group's members (empty when unknown).
    pub fn broker_members(&self, broker_name: &str) -> BTreeMap<i64, String> {
        self.read()
            .broker_addrs
            .get(broker_name)
            .map(|b| b.broker_addrs.clone())
            .unwrap_or_default()
    }

    /// GET_BROKER_CLUSTER_INFO.
    pub fn cluster_info(&self) -> ClusterInfo {
        let t = self.read();
        ClusterInfo {
            broker_addr_table: t.broker_addrs.clone(),
            cluster_addr_table: t.clusters.clone(),
        }
    }

    /// GET_ALL_TOPIC_LIST_FROM_NAMESERVER.
    pub fn all_topics(&self) -> TopicList {
        TopicList {
            broker_addr: None,
            topic_list: self.read().topic_queues.keys().cloned().collect(),
        }
    }

    /// GET_TOPICS_BY_CLUSTER: topics served by any broker of `cluster`.
    pub fn topics_of_cluster(&self, cluster: &str) -> TopicList {
        let t = self.read();
        let mut list = TopicList::default();
        if let Some(brokers) = t.clusters.get(cluster) {
            for (topic, queues) in &t.topic_queues {
                if queues.keys().any(|b| brokers.contains(b)) {
                    list.topic_list.insert(topic.clone());
                }
            }
        }
        list
    }

    /// GET_SYSTEM_TOPIC_LIST_FROM_NS: every cluster and broker name (brokers create topics
    /// named after both), plus one broker address to ask for details.
    pub fn system_topics(&self) -> TopicList {
        let t = self.read();
        let mut list = TopicList::default();
        for (cluster, brokers) in &t.clusters {
            list.topic_list.insert(cluster.clone());
            list.topic_list.extend(brokers.iter().cloned());
        }
        list.broker_addr = t
            .broker_addrs
            .values()
            .find_map(|b| b.broker_addrs.values().next().cloned());
        list
    }

    /// The unit-topic lists (GET_UNIT_TOPIC_LIST & co), selected by their topic sys flags.
    pub fn topics_by_sys_flag(&self, keep: impl Fn(i32) -> bool) -> TopicList {
        let t = self.read();
        let topic_list = t
            .topic_queues
            .iter()
            .filter(|(_, queues)| {
                queues
                    .values()
                    .next()
                    .is_some_and(|q| keep(q.topic_sys_flag))
            })
            .map(|(topic, _)| topic.clone())
            .collect();
        TopicList {
            broker_addr: None,
            topic_list,
        }
    }

    pub fn unit_topics(&self) -> TopicList {
        self.topics_by_sys_flag(|f| f & FLAG_UNIT != 0)
    }

    pub fn unit_sub_topics(&self) -> TopicList {
        self.topics_by_sys_flag(|f| f & FLAG_UNIT_SUB != 0)
    }

    pub fn unit_sub_ununit_topics(&self) -> TopicList {
        self.topics_by_sys_flag(|f| f & FLAG_UNIT == 0 && f & FLAG_UNIT_SUB != 0)
    }

    /// DELETE_TOPIC_IN_NAMESRV: from every broker, or only from `cluster`'s brokers.
    pub fn delete_topic(&self, topic: &str, cluster: Option<&str>) {
        let mut t = self.write();
        let t = &mut *t;
        match cluster.filter(|c| !c.is_empty()) {
            None => {
                t.topic_queues.remove(topic);
            }
            Some(cluster) => {
                let Some(brokers) = t.clusters.get(cluster) else {
                    return;
                };
                if let Some(queues) = t.topic_queues.get_mut(topic) {
                    queues.retain(|broker, _| !brokers.contains(broker));
                    if queues.is_empty() {
                        t.topic_queues.remove(topic);
                    }
                }
            }
        }
    }

    /// REGISTER_TOPIC_IN_NAMESRV: all or nothing, and only for known broker groups. Returns the
    /// number of queue data entries stored.
    pub fn register_topic(&self, topic: &str, queue_datas: Vec<QueueData>) -> usize {
        let mut t = self.write();
        let t = &mut *t;
        if let Some(unknown) = queue_datas
            .iter()
            .find(|q| !t.broker_addrs.contains_key(&q.broker_name))
        {
            tracing::warn!(topic, broker = %unknown.broker_name, "register topic names an unknown broker; ignored");
            return 0;
        }
        let added = queue_datas.len();
        if added > 0 {
            let queues = t.topic_queues.entry(topic.to_string()).or_default();
            for queue in queue_datas {
                queues.insert(queue.broker_name.clone(), queue);
            }
        }
        added
    }

    /// WIPE_WRITE_PERM_OF_BROKER (`add == false`) / ADD_WRITE_PERM_OF_BROKER (`add == true`):
    /// returns the number of topics changed.
    pub fn set_write_perm_of_broker(&self, broker_name: &str, add: bool) -> i32 {
        let mut t = self.write();
        let mut count = 0;
        for queues in t.topic_queues.values_mut() {
            if let Some(q) = queues.get_mut(broker_name) {
                q.perm = if add {
                    PERM_READ | PERM_WRITE
                } else {
                    q.perm & !PERM_WRITE
                };
                count += 1;
            }
        }
        count
    }

    /// Number of live broker processes (for logs and tests).
    pub fn live_brokers(&self) -> usize {
        self.read().live.len()
    }
}

/// Removes one broker process; when it was the last member of its group, the group leaves its
/// cluster and its topics (topics left without queues disappear). A 5.x acting-master group
/// left without a master keeps serving reads only.
fn remove_broker(t: &mut Tables, cluster: &str, broker_addr: &str, broker_name: &str) {
    // An unregistration naming the wrong group must not orphan the address's real group.
    if t.live
        .get(broker_addr)
        .is_some_and(|live| live.broker_name != broker_name)
    {
        tracing::warn!(
            addr = broker_addr,
            broker = broker_name,
            "unregistration names a group this address does not belong to; ignored"
        );
        return;
    }
    t.live.remove(broker_addr);
    t.filter_servers.remove(broker_addr);

    let mut group_gone = None;
    let mut read_only = false;
    if let Some(broker) = t.broker_addrs.get_mut(broker_name) {
        // By address, as Apache does: the id may have changed since.
        broker.broker_addrs.retain(|_, addr| addr != broker_addr);
        if broker.broker_addrs.is_empty() {
            group_gone = t.broker_addrs.remove(broker_name).map(|b| b.cluster);
        } else {
            read_only = broker.enable_acting_master && broker.master_addr().is_none();
        }
    }
    if let Some(group_cluster) = group_gone {
        // The request's cluster and the group's own (they differ only for a confused caller).
        for cluster in [cluster, group_cluster.as_str()] {
            if let Some(brokers) = t.clusters.get_mut(cluster) {
                brokers.remove(broker_name);
                if brokers.is_empty() {
                    t.clusters.remove(cluster);
                }
            }
        }
        t.topic_queues.retain(|_, queues| {
            queues.remove(broker_name);
            !queues.is_empty()
        });
    } else if read_only {
        for queues in t.topic_queues.values_mut() {
            if let Some(q) = queues.get_mut(broker_name) {
                q.perm &= !PERM_WRITE;
            }
        }
    }
}

#[cfg(test)]
mod tests;
