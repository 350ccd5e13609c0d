//! The broker's table of connected clients: producer groups and consumer groups, each mapping a
//! connection to the client behind it (clientId, language, version, last heartbeat).
//!
//! Registrations come from HEART_BEAT and leave through UNREGISTER_CLIENT, the connection closing
//! (a watcher task per registered connection) or 120 s without a heartbeat (a periodic scan).
//! Whenever the membership or the subscriptions of a clustering consumer group change, every
//! member is told with a oneway NOTIFY_CONSUMER_IDS_CHANGED so it rebalances at once instead of
//! waiting for its next 20 s rebalance.
//!
//! State lives behind two short-held mutexes; nothing is awaited or sent while a lock is held.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use sluice_remoting::body::admin::Connection;
use sluice_remoting::body::{
    ConsumeFromWhere, ConsumeType, ConsumerConnection, MessageModel, ProducerConnection,
    SubscriptionData,
};
use sluice_remoting::header::NotifyConsumerIdsChangedRequestHeader;
use sluice_remoting::net::Channel;
use sluice_remoting::{LanguageCode, RemotingCommand, RequestCode};

use crate::config::BrokerConfig;

/// Apache's `channelExpiredTimeout`: a client silent for this long is dropped.
pub const DEFAULT_CHANNEL_EXPIRED_TIMEOUT: Duration = Duration::from_secs(120);
/// How often the expiry scan runs (Apache `ClientHousekeepingService`: every 10 s).
pub const DEFAULT_SCAN_INTERVAL: Duration = Duration::from_secs(10);

/// One client connection registered in a group.
#[derive(Clone, Debug)]
pub struct ClientChannelInfo {
    pub channel: Channel,
    pub client_id: String,
    /// From the heartbeat request's header, not the body.
    pub language: LanguageCode,
    pub version: i32,
    pub last_update: Instant,
}

impl ClientChannelInfo {
    pub fn new(channel: Channel, client_id: String, language: LanguageCode, version: i32) -> Self {
        Self {
            channel,
            client_id,
            language,
            version,
            last_update: Instant::now(),
        }
    }

    fn connection(&self) -> Connection {
        Connection {
            client_addr: self.channel.remote_addr().to_string(),
            client_id: self.client_id.clone(),
            language: self.language,
            version: self.version,
        }
    }
}

/// A consumer group's members and what they subscribe to.
#[derive(Clone, Debug)]
pub struct ConsumerGroupInfo {
    pub group_name: String,
    /// Channel id → member.
    pub channels: HashMap<u64, ClientChannelInfo>,
    pub consume_type: ConsumeType,
    pub message_model: MessageModel,
    pub consume_from_where: ConsumeFromWhere,
    /// Topic → subscription (the newest `subVersion` wins).
    pub subscriptions: HashMap<String, SubscriptionData>,
    /// Whether members are told about membership changes (the group's
    /// `notifyConsumerIdsChangedEnable`, as last given at registration).
    pub notify_enabled: bool,
}

impl ConsumerGroupInfo {
    fn new(group_name: &str, registration: &ConsumerRegistration) -> Self {
        Self {
            group_name: group_name.to_owned(),
            channels: HashMap::new(),
            consume_type: registration.consume_type,
            message_model: registration.message_model,
            consume_from_where: registration.consume_from_where,
            subscriptions: HashMap::new(),
            notify_enabled: registration.notify_enabled,
        }
    }

    /// Client ids of the members, sorted (clients sort them again before allocating queues).
    pub fn client_ids(&self) -> Vec<String> {
        let ids: BTreeSet<&str> = self
            .channels
            .values()
            .map(|c| c.client_id.as_str())
            .collect();
        ids.into_iter().map(str::to_owned).collect()
    }

    fn members(&self) -> Vec<Channel> {
        self.channels.values().map(|c| c.channel.clone()).collect()
    }

    /// Adds or refreshes a member; true when it is new.
    fn update_channel(
        &mut self,
        info: ClientChannelInfo,
        registration: &ConsumerRegistration,
    ) -> bool {
        self.consume_type = registration.consume_type;
        self.message_model = registration.message_model;
        self.consume_from_where = registration.consume_from_where;
        self.notify_enabled = registration.notify_enabled;
        let id = info.channel.id();
        match self.channels.get_mut(&id) {
            Some(old) => {
                if old.client_id != info.client_id {
                    tracing::warn!(
                        group = %self.group_name,
                        old = %old.client_id,
                        new = %info.client_id,
                        "a connection changed its clientId"
                    );
                }
                *old = info;
                false
            }
            None => {
                self.channels.insert(id, info);
                true
            }
        }
    }

    /// Replaces the subscription set; true when a topic was added or removed. A newer
    /// `subVersion` of an existing topic replaces it without counting as a change, as in Apache.
    fn update_subscriptions(&mut self, subscriptions: &[SubscriptionData]) -> bool {
        let mut changed = false;
        let topics: HashSet<&str> = subscriptions.iter().map(|s| s.topic.as_str()).collect();
        for sub in subscriptions {
            match self.subscriptions.get(&sub.topic) {
                None => {
                    self.subscriptions.insert(sub.topic.clone(), sub.clone());
                    changed = true;
                }
                Some(old) if sub.sub_version > old.sub_version => {
                    self.subscriptions.insert(sub.topic.clone(), sub.clone());
                }
                Some(_) => {}
            }
        }
        let before = self.subscriptions.len();
        self.subscriptions
            .retain(|topic, _| topics.contains(topic.as_str()));
        changed || self.subscriptions.len() != before
    }
}

/// What a heartbeat says about one consumer group of a client.
#[derive(Clone, Debug)]
pub struct ConsumerRegistration {
    pub consume_type: ConsumeType,
    pub message_model: MessageModel,
    pub consume_from_where: ConsumeFromWhere,
    pub subscriptions: Vec<SubscriptionData>,
    /// Tell the group's members when it changes (group config and broker config both allow it).
    pub notify_enabled: bool,
}

/// Producer and consumer group tables.
pub struct ClientRegistry {
    producers: Mutex<HashMap<String, HashMap<u64, ClientChannelInfo>>>,
    consumers: Mutex<HashMap<String, ConsumerGroupInfo>>,
    /// Channels that already have a close watcher.
    watched: Mutex<HashSet<u64>>,
    /// Set once the periodic expiry scan runs (started with the first registration, so that
    /// it needs no runtime at construction).
    scan_started: std::sync::atomic::AtomicBool,
    pub channel_expired_timeout: Duration,
    pub scan_interval: Duration,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The tables stay consistent across a panic in another holder (every update is one insert
    // or remove), so keep using them.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ClientRegistry {
    /// A registry with Apache's timings (120 s expiry, scanned every 10 s).
    pub fn new(_config: &BrokerConfig) -> ClientRegistry {
        Self::with_expiry(DEFAULT_CHANNEL_EXPIRED_TIMEOUT, DEFAULT_SCAN_INTERVAL)
    }

    pub fn with_expiry(
        channel_expired_timeout: Duration,
        scan_interval: Duration,
    ) -> ClientRegistry {
        Self {
            producers: Mutex::new(HashMap::new()),
            consumers: Mutex::new(HashMap::new()),
            watched: Mutex::new(HashSet::new()),
            scan_started: std::sync::atomic::AtomicBool::new(false),
            channel_expired_timeout,
            scan_interval,
        }
    }

    /// Registers (or refreshes) a producer connection in `group`.
    pub fn register_producer(self: &Arc<Self>, group: &str, info: ClientChannelInfo) {
        let channel = info.channel.clone();
        let is_new = {
            let mut producers = lock(&self.producers);
            match producers.get_mut(group) {
                Some(members) => members.insert(info.channel.id(), info).is_none(),
                None => {
                    producers.insert(group.to_owned(), HashMap::from([(info.channel.id(), info)]));
                    true
                }
            }
        };
        if is_new {
            tracing::info!(group, addr = %channel.remote_addr(), "new producer connected");
        }
        self.watch(&channel);
    }

    /// Removes a producer connection from `group`; true if it was there.
    pub fn unregister_producer(&self, group: &str, channel_id: u64) -> bool {
        let mut producers = lock(&self.producers);
        let Some(members) = producers.get_mut(group) else {
            return false;
        };
        let removed = members.remove(&channel_id).is_some();
        if members.is_empty() {
            producers.remove(group);
        }
        removed
    }

    /// Registers (or refreshes) a consumer connection in `group`; true when the group changed
    /// (new member or new/removed topic). Members are notified when it did.
    pub fn register_consumer(
        self: &Arc<Self>,
        group: &str,
        info: ClientChannelInfo,
        registration: ConsumerRegistration,
    ) -> bool {
        let channel = info.channel.clone();
        let (changed, notify) = {
            let mut consumers = lock(&self.consumers);
            // Heartbeats mostly refresh existing groups: look up before allocating a key.
            if !consumers.contains_key(group) {
                consumers.insert(
                    group.to_owned(),
                    ConsumerGroupInfo::new(group, &registration),
                );
            }
            let Some(group_info) = consumers.get_mut(group) else {
                return false;
            };
            let new_member = group_info.update_channel(info, &registration);
            let new_topics = group_info.update_subscriptions(&registration.subscriptions);
            let changed = new_member || new_topics;
            let notify = if changed && Self::should_notify(group_info) {
                group_info.members()
            } else {
                Vec::new()
            };
            (changed, notify)
        };
        if changed {
            tracing::info!(group, addr = %channel.remote_addr(), "consumer group changed");
        }
        self.watch(&channel);
        notify_consumer_ids_changed(group, &notify);
        changed
    }

    /// Removes a consumer connection from `group`; the remaining members are notified.
    pub fn unregister_consumer(&self, group: &str, channel_id: u64) -> bool {
        let (removed, notify) = {
            let mut consumers = lock(&self.consumers);
            let Some(group_info) = consumers.get_mut(group) else {
                return false;
            };
            let removed = group_info.channels.remove(&channel_id).is_some();
            let notify = if removed && Self::should_notify(group_info) {
                group_info.members()
            } else {
                Vec::new()
            };
            if group_info.channels.is_empty() {
                consumers.remove(group);
                tracing::info!(group, "last consumer left; group removed");
            }
            (removed, notify)
        };
        notify_consumer_ids_changed(group, &notify);
        removed
    }

    /// Drops every registration of a connection (it closed or expired); returns the number of
    /// groups it left.
    pub fn remove_channel(&self, channel_id: u64) -> usize {
        lock(&self.watched).remove(&channel_id);
        let mut left = 0;
        {
            let mut producers = lock(&self.producers);
            producers.retain(|_, members| {
                if members.remove(&channel_id).is_some() {
                    left += 1;
                }
                !members.is_empty()
            });
        }
        let mut notifications = Vec::new();
        {
            let mut consumers = lock(&self.consumers);
            consumers.retain(|group, info| {
                if info.channels.remove(&channel_id).is_some() {
                    left += 1;
                    if Self::should_notify(info) && !info.channels.is_empty() {
                        notifications.push((group.clone(), info.members()));
                    }
                }
                !info.channels.is_empty()
            });
        }
        for (group, members) in notifications {
            notify_consumer_ids_changed(&group, &members);
        }
        left
    }

    /// Closes and removes every connection whose last heartbeat is older than the expiry
    /// timeout at `now`; returns how many connections were dropped.
    pub fn scan_expired(&self, now: Instant) -> usize {
        let timeout = self.channel_expired_timeout;
        let expired =
            |info: &ClientChannelInfo| now.saturating_duration_since(info.last_update) > timeout;
        let mut stale: HashMap<u64, Channel> = HashMap::new();
        for members in lock(&self.producers).values() {
            for info in members.values().filter(|i| expired(i)) {
                stale.insert(info.channel.id(), info.channel.clone());
            }
        }
        for group in lock(&self.consumers).values() {
            for info in group.channels.values().filter(|i| expired(i)) {
                stale.insert(info.channel.id(), info.channel.clone());
            }
        }
        for (id, channel) in &stale {
            tracing::warn!(
                addr = %channel.remote_addr(),
                timeout_ms = timeout.as_millis() as u64,
                "client sent no heartbeat in time; closing its connection"
            );
            self.remove_channel(*id);
            channel.close();
        }
        stale.len()
    }

    /// Runs [`scan_expired`](Self::scan_expired) every `interval` until the registry is dropped.
    pub fn spawn_expiry_scan(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let Some(registry) = weak.upgrade() else {
                    return;
                };
                registry.scan_expired(Instant::now());
            }
        })
    }

    /// Spawns a watcher that drops the connection's registrations as soon as it closes.
    fn watch(self: &Arc<Self>, channel: &Channel) {
        if !self
            .scan_started
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            self.spawn_expiry_scan(self.scan_interval);
        }
        if !lock(&self.watched).insert(channel.id()) {
            return;
        }
        let weak = Arc::downgrade(self);
        let closed = channel.closed();
        let id = channel.id();
        tokio::spawn(async move {
            closed.await;
            if let Some(registry) = weak.upgrade() {
                let groups = registry.remove_channel(id);
                tracing::debug!(channel = id, groups, "client connection closed");
            }
        });
        // A connection that closed before the watcher was registered is handled by the watcher
        // too: `closed()` completes at once for an already-cancelled token.
    }

    fn should_notify(info: &ConsumerGroupInfo) -> bool {
        info.notify_enabled && info.message_model != MessageModel::Broadcasting
    }

    // ---- queries used by the processors ----

    /// The group's subscription to `topic`, as last sent in a heartbeat (the pull processor's
    /// source for consumers that do not post their subscription on each pull).
    pub fn find_subscription(&self, group: &str, topic: &str) -> Option<SubscriptionData> {
        lock(&self.consumers)
            .get(group)
            .and_then(|g| g.subscriptions.get(topic).cloned())
    }

    /// Whether the group has live members (cheap, for the pull path: no copy of the group).
    pub fn has_consumer_group(&self, group: &str) -> bool {
        lock(&self.consumers).contains_key(group)
    }

    /// One lookup for the pull path: `None` when the group has no live members, else its
    /// subscription to `topic` if it has one.
    pub fn lookup_subscription(
        &self,
        group: &str,
        topic: &str,
    ) -> Option<Option<SubscriptionData>> {
        lock(&self.consumers)
            .get(group)
            .map(|g| g.subscriptions.get(topic).cloned())
    }

    /// The message model of a consumer group with live members (cheap: no copy of the group).
    pub fn consumer_message_model(&self, group: &str) -> Option<MessageModel> {
        lock(&self.consumers).get(group).map(|g| g.message_model)
    }

    /// A copy of a consumer group's state, if it has live members (copies every member: not for
    /// per-request paths; see [`has_consumer_group`](Self::has_consumer_group)).
    pub fn consumer_group(&self, group: &str) -> Option<ConsumerGroupInfo> {
        lock(&self.consumers).get(group).cloned()
    }

    /// Sorted client ids of a consumer group's live members.
    pub fn consumer_ids(&self, group: &str) -> Vec<String> {
        lock(&self.consumers)
            .get(group)
            .map(ConsumerGroupInfo::client_ids)
            .unwrap_or_default()
    }

    /// Member connections of a consumer group.
    pub fn consumer_channels(&self, group: &str) -> Vec<ClientChannelInfo> {
        lock(&self.consumers)
            .get(group)
            .map(|g| g.channels.values().cloned().collect())
            .unwrap_or_default()
    }

    /// GET_CONSUMER_CONNECTION_LIST body, if the group has live members.
    pub fn consumer_connection(&self, group: &str) -> Option<ConsumerConnection> {
        let consumers = lock(&self.consumers);
        let info = consumers.get(group)?;
        let mut connection_set: Vec<Connection> = info
            .channels
            .values()
            .map(ClientChannelInfo::connection)
            .collect();
        connection_set.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        Some(ConsumerConnection {
            connection_set,
            consume_from_where: info.consume_from_where,
            consume_type: info.consume_type,
            message_model: info.message_model,
            subscription_table: info
                .subscriptions
                .iter()
                .map(|(t, s)| (t.clone(), s.clone()))
                .collect::<BTreeMap<_, _>>(),
        })
    }

    /// GET_PRODUCER_CONNECTION_LIST body, if the group has live members.
    pub fn producer_connection(&self, group: &str) -> Option<ProducerConnection> {
        let producers = lock(&self.producers);
        let members = producers.get(group)?;
        let mut connection_set: Vec<Connection> = members
            .values()
            .map(ClientChannelInfo::connection)
            .collect();
        connection_set.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        Some(ProducerConnection { connection_set })
    }

    /// The connections of producer group `group` (empty when it has none).
    pub fn producer_channels(&self, group: &str) -> Vec<ClientChannelInfo> {
        lock(&self.producers)
            .get(group)
            .map(|members| members.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Consumer groups with a live member subscribed to `topic`.
    pub fn groups_subscribing(&self, topic: &str) -> BTreeSet<String> {
        lock(&self.consumers)
            .iter()
            .filter(|(_, g)| g.subscriptions.contains_key(topic))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Topics a consumer group's live members subscribe to.
    pub fn subscribed_topics(&self, group: &str) -> BTreeSet<String> {
        lock(&self.consumers)
            .get(group)
            .map(|g| g.subscriptions.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Live producer and consumer connections (counted per group membership), for runtime info.
    pub fn connection_counts(&self) -> (usize, usize) {
        (
            self.producer_connection_count(),
            self.consumer_connection_count(),
        )
    }

    /// Producer connections now (`rocketmq_producer_connections`).
    pub fn producer_connection_count(&self) -> usize {
        lock(&self.producers).values().map(HashMap::len).sum()
    }

    /// Consumer connections now (`rocketmq_consumer_connections`).
    pub fn consumer_connection_count(&self) -> usize {
        lock(&self.consumers)
            .values()
            .map(|g| g.channels.len())
            .sum()
    }
}

/// Tells each member of `group` to rebalance now (oneway). A member whose outbound queue is
/// full or whose connection just closed is skipped: it rebalances on its own within 20 s.
pub fn notify_consumer_ids_changed(group: &str, members: &[Channel]) {
    if members.is_empty() {
        return;
    }
    let header = NotifyConsumerIdsChangedRequestHeader {
        consumer_group: group.to_owned(),
        ..Default::default()
    };
    for channel in members {
        let request =
            RemotingCommand::request(RequestCode::NotifyConsumerIdsChanged).with_header(&header);
        if let Err(e) = channel.send_oneway(request) {
            tracing::debug!(group, addr = %channel.remote_addr(), error = %e, "cannot notify consumer");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_remoting::net::{
        ClientConfig, ProcessorTable, RemotingClient, RemotingServer, ServerConfig,
    };
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A server plus `n` client connections to it: real Channels for the registry.
    async fn channels(n: usize) -> (RemotingServer, Vec<RemotingClient>, Vec<Channel>) {
        let server = RemotingServer::start(
            ServerConfig::new(([127, 0, 0, 1], 0).into()),
            ProcessorTable::new(),
        )
        .await
        .unwrap();
        let addr = server.local_addr().to_string();
        let mut clients = Vec::new();
        let mut chans = Vec::new();
        for _ in 0..n {
            let c = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
            chans.push(c.channel(&addr).await.unwrap());
            clients.push(c);
        }
        (server, clients, chans)
    }

    fn reg(topics: &[(&str, i64)], notify: bool) -> ConsumerRegistration {
        ConsumerRegistration {
            consume_type: ConsumeType::ConsumePassively,
            message_model: MessageModel::Clustering,
            consume_from_where: ConsumeFromWhere::ConsumeFromFirstOffset,
            subscriptions: topics
                .iter()
                .map(|(t, v)| SubscriptionData::by_tags(*t, "*", *v))
                .collect(),
            notify_enabled: notify,
        }
    }

    fn registry(expiry: Duration) -> Arc<ClientRegistry> {
        Arc::new(ClientRegistry::with_expiry(expiry, DEFAULT_SCAN_INTERVAL))
    }

    fn info(ch: &Channel, id: &str) -> ClientChannelInfo {
        ClientChannelInfo::new(ch.clone(), id.to_owned(), LanguageCode::Java, 479)
    }

    #[tokio::test]
    async fn consumers_register_refresh_and_leave() {
        let (_s, _c, ch) = channels(2).await;
        let r = registry(DEFAULT_CHANNEL_EXPIRED_TIMEOUT);
        assert!(r.register_consumer("g", info(&ch[0], "c0"), reg(&[("T", 1)], false)));
        // Same member, same topics: no change.
        assert!(!r.register_consumer("g", info(&ch[0], "c0"), reg(&[("T", 1)], false)));
        // Newer subVersion replaces the subscription without counting as a change.
        let mut newer = reg(&[("T", 2)], false);
        newer.subscriptions[0] = SubscriptionData::by_tags("T", "TagA", 2);
        assert!(!r.register_consumer("g", info(&ch[0], "c0"), newer));
        assert_eq!(r.find_subscription("g", "T").unwrap().sub_string, "TagA");
        assert!(r.has_consumer_group("g") && !r.has_consumer_group("other"));
        assert_eq!(r.lookup_subscription("g", "U"), Some(None));
        assert_eq!(r.lookup_subscription("other", "T"), None);
        assert!(r.register_consumer("g", info(&ch[1], "c1"), reg(&[("T", 2), ("U", 2)], false)));
        assert_eq!(r.consumer_ids("g"), vec!["c0", "c1"]);
        assert_eq!(
            r.groups_subscribing("U").into_iter().collect::<Vec<_>>(),
            vec!["g"]
        );
        assert!(r.unregister_consumer("g", ch[0].id()));
        assert!(!r.unregister_consumer("g", ch[0].id()));
        assert_eq!(r.consumer_ids("g"), vec!["c1"]);
        assert!(r.unregister_consumer("g", ch[1].id()));
        assert!(r.consumer_group("g").is_none());
    }

    #[tokio::test]
    async fn expiry_scan_drops_silent_clients_only() {
        let (_s, _c, ch) = channels(2).await;
        let r = registry(Duration::from_secs(120));
        r.register_producer("pg", info(&ch[0], "p0"));
        r.register_consumer("g", info(&ch[1], "c1"), reg(&[("T", 1)], false));
        let now = Instant::now();
        assert_eq!(r.scan_expired(now + Duration::from_secs(119)), 0);
        assert_eq!(r.connection_counts(), (1, 1));
        assert_eq!(r.scan_expired(now + Duration::from_secs(121)), 2);
        assert_eq!(r.connection_counts(), (0, 0));
        assert!(ch[0].is_closed() || r.producer_connection("pg").is_none());
    }

    #[tokio::test]
    async fn closing_a_connection_removes_it() {
        let (_s, _c, ch) = channels(1).await;
        let r = registry(DEFAULT_CHANNEL_EXPIRED_TIMEOUT);
        r.register_producer("pg", info(&ch[0], "p0"));
        r.register_consumer("g", info(&ch[0], "p0"), reg(&[("T", 1)], false));
        ch[0].close();
        for _ in 0..200 {
            if r.connection_counts() == (0, 0) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(r.connection_counts(), (0, 0));
        assert!(r.producer_connection("pg").is_none());
    }

    #[tokio::test]
    async fn new_member_triggers_notification_to_existing_members() {
        let hits = Arc::new(AtomicUsize::new(0));
        let seen = hits.clone();
        // The "consumer" side: a server whose processor counts notifications; the registry holds
        // the client-side channels of connections to it, which is where oneway requests go.
        let table = ProcessorTable::new().with(
            RequestCode::NotifyConsumerIdsChanged,
            move |_c: Channel, req: RemotingCommand| {
                let seen = seen.clone();
                async move {
                    assert_eq!(req.ext("consumerGroup"), Some("g"));
                    seen.fetch_add(1, Ordering::SeqCst);
                    None
                }
            },
        );
        let server = RemotingServer::start(ServerConfig::new(([127, 0, 0, 1], 0).into()), table)
            .await
            .unwrap();
        let addr = server.local_addr().to_string();
        let c0 = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
        let c1 = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
        let ch0 = c0.channel(&addr).await.unwrap();
        let ch1 = c1.channel(&addr).await.unwrap();
        let r = registry(DEFAULT_CHANNEL_EXPIRED_TIMEOUT);
        r.register_consumer("g", info(&ch0, "c0"), reg(&[("T", 1)], true));
        r.register_consumer("g", info(&ch1, "c1"), reg(&[("T", 1)], true));
        // First registration notifies c0; the second notifies c0 and c1.
        for _ in 0..200 {
            if hits.load(Ordering::SeqCst) >= 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(hits.load(Ordering::SeqCst), 3);
    }
}
