//! [`ClientInstance`]: what producers and consumers of one client id share: the connection pool,
//! the NameServer list, the route cache, the broker address table, heartbeats and the background
//! route refresh (`MQClientInstance` in the Java client).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use sluice_remoting::body::{ConsumerData, JsonBody, MessageQueue, TopicRouteData};
use sluice_remoting::header::{
    CheckTransactionStateRequestHeader, GetRouteInfoRequestHeader,
    NotifyConsumerIdsChangedRequestHeader,
};
use sluice_remoting::message::MessageExt;
use sluice_remoting::net::{Channel, ProcessorTable, RemotingClient};
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::ClientConfig;
use crate::error::{ClientError, Result};
use crate::route::{subscribe_queues, TopicPublishInfo};

mod membership;

/// Template topic whose route a producer borrows for a topic that does not exist yet.
pub const AUTO_CREATE_TOPIC: &str = "TBW102";

/// Produces a consumer group's current heartbeat entry (its subscriptions may change).
pub type ConsumerDataFn = Arc<dyn Fn() -> ConsumerData + Send + Sync>;

/// Applies a broker's RESET_CONSUMER_CLIENT_OFFSET for one consumer group: the topic and the
/// new offset of each queue.
pub type OffsetResetFn = Arc<dyn Fn(String, Vec<(MessageQueue, i64)>) + Send + Sync>;

/// Answers a broker's CHECK_TRANSACTION_STATE for one producer group: gets the connection it
/// came on (the answer goes back there), the request header and the half message.
pub type TransactionCheckFn =
    Arc<dyn Fn(Channel, CheckTransactionStateRequestHeader, MessageExt) + Send + Sync>;

#[derive(Default)]
struct Tables {
    routes: HashMap<String, Arc<TopicRouteData>>,
    publish: HashMap<String, Arc<TopicPublishInfo>>,
    /// Broker name → broker id → address, merged from every route seen.
    brokers: HashMap<String, BTreeMap<i64, String>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The tables are replaced entry by entry; a panic elsewhere leaves them consistent.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// One client identity towards the cluster. Create it with [`ClientInstance::new`], share it
/// (`Arc`) between producers and consumers, [`start`](Self::start) it once and
/// [`shutdown`](Self::shutdown) it at the end.
pub struct ClientInstance {
    pub config: ClientConfig,
    /// `ip@instanceName`.
    pub client_id: String,
    remoting: RemotingClient,
    namesrv_index: AtomicUsize,
    tables: Mutex<Tables>,
    /// Topics with a refresh after an error under way.
    refreshing: Mutex<BTreeSet<String>>,
    producer_groups: Mutex<BTreeSet<String>>,
    consumers: Mutex<BTreeMap<String, ConsumerDataFn>>,
    transaction_checkers: Mutex<HashMap<String, TransactionCheckFn>>,
    offset_resetters: Mutex<HashMap<String, OffsetResetFn>>,
    /// Group names whose membership changed (NOTIFY_CONSUMER_IDS_CHANGED).
    rebalance_tx: broadcast::Sender<String>,
    shutdown: CancellationToken,
    started: AtomicBool,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl ClientInstance {
    /// A new instance; nothing is connected until it is used.
    pub fn new(config: ClientConfig) -> Result<Arc<Self>> {
        config.validate()?;
        let (rebalance_tx, _) = broadcast::channel(64);
        Ok(Arc::new_cyclic(|weak: &Weak<ClientInstance>| {
            let on_notify = weak.clone();
            let on_check = weak.clone();
            let on_reset = weak.clone();
            let processors = ProcessorTable::new().with(
                RequestCode::NotifyConsumerIdsChanged,
                move |_channel: Channel, request: RemotingCommand| {
                    let instance = on_notify.upgrade();
                    async move {
                        if let (Some(instance), Ok(header)) = (
                            instance,
                            request.decode_header::<NotifyConsumerIdsChangedRequestHeader>(),
                        ) {
                            tracing::debug!(group = %header.consumer_group, "consumer ids changed");
                            let _ = instance.rebalance_tx.send(header.consumer_group);
                        }
                        None
                    }
                },
            ).with(
                RequestCode::ResetConsumerClientOffset,
                move |_channel: Channel, request: RemotingCommand| {
                    if let Some(instance) = on_reset.upgrade() {
                        instance.on_reset_offset(&request);
                    }
                    async { None }
                },
            ).with(
                RequestCode::CheckTransactionState,
                move |channel: Channel, request: RemotingCommand| {
                    if let Some(instance) = on_check.upgrade() {
                        instance.on_check_transaction(channel, &request);
                    }
                    async { None }
                },
            );
            ClientInstance {
                client_id: config.client_id(),
                remoting: RemotingClient::new(config.remoting.clone(), processors),
                config,
                namesrv_index: AtomicUsize::new(0),
                tables: Mutex::new(Tables::default()),
                refreshing: Mutex::new(BTreeSet::new()),
                producer_groups: Mutex::new(BTreeSet::new()),
                consumers: Mutex::new(BTreeMap::new()),
                transaction_checkers: Mutex::new(HashMap::new()),
                offset_resetters: Mutex::new(HashMap::new()),
                rebalance_tx,
                shutdown: CancellationToken::new(),
                started: AtomicBool::new(false),
                tasks: Mutex::new(Vec::new()),
            }
        }))
    }

    /// Starts the route refresh and heartbeat tasks (idempotent).
    pub fn start(self: &Arc<Self>) {
        if self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let refresh = spawn_periodic(
            Arc::downgrade(self),
            self.shutdown.clone(),
            self.config.poll_name_server_interval,
            |instance| async move { instance.refresh_all_routes().await },
        );
        let heartbeat = spawn_periodic(
            Arc::downgrade(self),
            self.shutdown.clone(),
            self.config.heartbeat_interval,
            |instance| async move {
                instance.send_heartbeat_to_all().await;
            },
        );
        lock(&self.tasks).extend([refresh, heartbeat]);
    }

    pub fn is_shut_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Stops the background tasks, unregisters every group from every known broker and closes
    /// the connections.
    pub async fn shutdown(&self) {
        if self.shutdown.is_cancelled() {
            return;
        }
        self.shutdown.cancel();
        let tasks: Vec<JoinHandle<()>> = lock(&self.tasks).drain(..).collect();
        for task in tasks {
            let _ = task.await;
        }
        self.unregister_all().await;
        self.remoting.close_all();
    }

    /// The shared connection pool.
    pub fn remoting(&self) -> &RemotingClient {
        &self.remoting
    }

    /// A token cancelled at shutdown, for tasks of producers and consumers built on this
    /// instance.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Receives the names of groups whose membership changed.
    pub fn rebalance_notifications(&self) -> broadcast::Receiver<String> {
        self.rebalance_tx.subscribe()
    }

    // ---- requests ----

    /// Sends `request` to `addr`, failing with [`ClientError::Remoting`] on transport errors
    /// (the response may still carry an error code: see [`Self::invoke_ok`]).
    pub async fn invoke(
        &self,
        addr: &str,
        request: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand> {
        Ok(self.remoting.invoke(addr, request, timeout).await?)
    }

    /// [`Self::invoke`], turning any code but SUCCESS into [`ClientError::Broker`].
    pub async fn invoke_ok(
        &self,
        addr: &str,
        request: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand> {
        let code = request.code;
        let response = self.invoke(addr, request, timeout).await?;
        if response.code != ResponseCode::Success.as_i32() {
            return Err(ClientError::from_response(addr, code, &response));
        }
        Ok(response)
    }

    pub async fn invoke_oneway(&self, addr: &str, request: RemotingCommand) -> Result<()> {
        Ok(self.remoting.invoke_oneway(addr, request).await?)
    }

    /// Sends `request` to a NameServer, moving on to the next one when one cannot be reached
    /// (and remembering which one answered). Returns the answering address and the response.
    pub async fn invoke_namesrv(
        &self,
        request: RemotingCommand,
    ) -> Result<(String, RemotingCommand)> {
        let addrs = &self.config.namesrv_addrs;
        let start = self.namesrv_index.load(Ordering::Relaxed);
        let mut last_error = None;
        for step in 0..addrs.len() {
            let index = (start + step) % addrs.len();
            let addr = &addrs[index];
            match self
                .remoting
                .invoke(addr, request.clone(), self.config.request_timeout)
                .await
            {
                Ok(response) => {
                    self.namesrv_index.store(index, Ordering::Relaxed);
                    return Ok((addr.clone(), response));
                }
                Err(error) => {
                    tracing::warn!(%addr, %error, "NameServer request failed; trying the next one");
                    last_error = Some(error);
                }
            }
        }
        self.namesrv_index
            .store((start + 1) % addrs.len().max(1), Ordering::Relaxed);
        Err(last_error
            .map(ClientError::from)
            .unwrap_or_else(|| ClientError::Config("no NameServer address".into())))
    }

    // ---- routes ----

    /// Asks the NameServers for `topic`'s route; `None` when the topic does not exist.
    pub async fn fetch_route(&self, topic: &str) -> Result<Option<TopicRouteData>> {
        let header = GetRouteInfoRequestHeader {
            topic: topic.to_string(),
            ..Default::default()
        };
        let request =
            RemotingCommand::request(RequestCode::GetRouteinfoByTopic).with_header(&header);
        let (addr, response) = self.invoke_namesrv(request).await?;
        match ResponseCode::from_i32(response.code) {
            Some(ResponseCode::Success) => {
                let route = TopicRouteData::decode(&response.body.to_bytes()).map_err(|e| {
                    ClientError::Protocol {
                        addr: addr.clone(),
                        request: "GET_ROUTEINFO_BY_TOPIC",
                        reason: e.to_string(),
                    }
                })?;
                Ok(Some(route))
            }
            Some(ResponseCode::TopicNotExist) => Ok(None),
            _ => Err(ClientError::from_response(
                &addr,
                RequestCode::GetRouteinfoByTopic.as_i32(),
                &response,
            )),
        }
    }

    /// Fetches `topic`'s route and updates the caches (route, broker addresses, publish info).
    /// Returns the new route, or `None` when the topic does not exist.
    pub async fn update_route(&self, topic: &str) -> Result<Option<Arc<TopicRouteData>>> {
        let Some(route) = self.fetch_route(topic).await? else {
            return Ok(None);
        };
        let route = Arc::new(route);
        let mut tables = lock(&self.tables);
        for broker in &route.broker_datas {
            let entry = tables
                .brokers
                .entry(broker.broker_name.clone())
                .or_default();
            *entry = broker.broker_addrs.clone();
        }
        let changed = tables.routes.get(topic).is_none_or(|old| **old != *route);
        if changed {
            tables.routes.insert(topic.to_string(), route.clone());
        }
        // The template topic gets publish info only when someone sends to it by name.
        let publishable = topic != AUTO_CREATE_TOPIC || tables.publish.contains_key(topic);
        let stale = tables
            .publish
            .get(topic)
            .is_none_or(|p| p.auto_create || changed);
        if publishable && stale {
            let info = TopicPublishInfo::from_route(topic, route.clone());
            tables.publish.insert(topic.to_string(), Arc::new(info));
        }
        Ok(Some(route))
    }

    /// The cached route of `topic`, fetching it if unknown.
    pub async fn route(&self, topic: &str) -> Result<Arc<TopicRouteData>> {
        if let Some(route) = lock(&self.tables).routes.get(topic).cloned() {
            return Ok(route);
        }
        self.update_route(topic)
            .await?
            .ok_or_else(|| ClientError::NoRoute {
                topic: topic.to_string(),
                reason: "the NameServer answered TOPIC_NOT_EXIST".into(),
            })
    }

    /// Where a producer may send `topic`. When the topic does not exist and
    /// `auto_create_queue_nums` is set, the template topic's (TBW102) queues are used, so the
    /// broker creates the topic on the first send, as the Java producer does.
    pub async fn publish_info(
        &self,
        topic: &str,
        auto_create_queue_nums: Option<i32>,
    ) -> Result<Arc<TopicPublishInfo>> {
        if let Some(info) = lock(&self.tables).publish.get(topic) {
            if !info.is_empty() {
                return Ok(info.clone());
            }
        }
        let route = match self.update_route(topic).await? {
            Some(route) => route,
            None => {
                let Some(queue_nums) = auto_create_queue_nums else {
                    return Err(ClientError::NoRoute {
                        topic: topic.to_string(),
                        reason: "the NameServer answered TOPIC_NOT_EXIST".into(),
                    });
                };
                let template = self.route(AUTO_CREATE_TOPIC).await.map_err(|e| {
                    ClientError::NoRoute {
                        topic: topic.to_string(),
                        reason: format!(
                            "the topic does not exist and auto-creation through {AUTO_CREATE_TOPIC} is not possible: {e}"
                        ),
                    }
                })?;
                let info = Arc::new(TopicPublishInfo::from_template(topic, template, queue_nums));
                if info.is_empty() {
                    return Err(ClientError::NoRoute {
                        topic: topic.to_string(),
                        reason: format!(
                            "the topic does not exist and {AUTO_CREATE_TOPIC} has no writable queue"
                        ),
                    });
                }
                lock(&self.tables)
                    .publish
                    .insert(topic.to_string(), info.clone());
                return Ok(info);
            }
        };
        let info = lock(&self.tables)
            .publish
            .get(topic)
            .cloned()
            .unwrap_or_else(|| Arc::new(TopicPublishInfo::from_route(topic, route)));
        if info.is_empty() {
            return Err(ClientError::NoRoute {
                topic: topic.to_string(),
                reason: "no writable queue on a broker with a master".into(),
            });
        }
        Ok(info)
    }

    /// The readable queues of `topic`, sorted.
    pub async fn subscribe_queues(&self, topic: &str) -> Result<Vec<MessageQueue>> {
        let route = self.route(topic).await?;
        Ok(subscribe_queues(topic, &route))
    }

    /// Fetches every cached topic's route again (the 30 s refresh); errors are logged and the
    /// old route kept.
    pub async fn refresh_all_routes(&self) {
        let topics: BTreeSet<String> = {
            let tables = lock(&self.tables);
            tables
                .routes
                .keys()
                .chain(tables.publish.keys())
                .cloned()
                .collect()
        };
        for topic in topics {
            if let Err(error) = self.update_route(&topic).await {
                tracing::warn!(%topic, %error, "route refresh failed; keeping the old route");
            }
        }
    }

    /// Refreshes `topic`'s route in the background (after a send or pull failed).
    /// At most one such refresh per topic runs at a time.
    pub fn refresh_route_soon(self: &Arc<Self>, topic: &str) {
        if !lock(&self.refreshing).insert(topic.to_string()) {
            return;
        }
        let instance = Arc::downgrade(self);
        let topic = topic.to_string();
        tokio::spawn(async move {
            if let Some(instance) = instance.upgrade() {
                if let Err(error) = instance.update_route(&topic).await {
                    tracing::debug!(%topic, %error, "route refresh after an error failed");
                }
                lock(&instance.refreshing).remove(&topic);
            }
        });
    }

    /// The master address (broker id 0) of `broker_name`.
    pub fn master_addr(&self, broker_name: &str) -> Option<String> {
        lock(&self.tables)
            .brokers
            .get(broker_name)
            .and_then(|addrs| addrs.get(&0).cloned())
    }

    /// The address of broker `broker_id` of `broker_name`, else the master, else any member.
    pub fn broker_addr(&self, broker_name: &str, broker_id: i64) -> Option<String> {
        let tables = lock(&self.tables);
        let addrs = tables.brokers.get(broker_name)?;
        addrs
            .get(&broker_id)
            .or_else(|| addrs.get(&0))
            .or_else(|| addrs.values().next())
            .cloned()
    }

    /// [`Self::master_addr`], refreshing `topic`'s route once if the broker is unknown.
    pub async fn find_master_addr(&self, topic: &str, broker_name: &str) -> Result<String> {
        if let Some(addr) = self.master_addr(broker_name) {
            return Ok(addr);
        }
        self.update_route(topic).await?;
        self.master_addr(broker_name)
            .ok_or_else(|| ClientError::BrokerNotFound {
                broker_name: broker_name.to_string(),
            })
    }

    /// [`Self::broker_addr`], refreshing `topic`'s route once if the broker is unknown.
    pub async fn find_broker_addr(
        &self,
        topic: &str,
        broker_name: &str,
        broker_id: i64,
    ) -> Result<String> {
        if let Some(addr) = self.broker_addr(broker_name, broker_id) {
            return Ok(addr);
        }
        self.update_route(topic).await?;
        self.broker_addr(broker_name, broker_id)
            .ok_or_else(|| ClientError::BrokerNotFound {
                broker_name: broker_name.to_string(),
            })
    }
}

/// Runs `work` every `period` (first after one period: starting producers and consumers do
/// their first heartbeat and route lookup themselves) until `shutdown` or the instance is
/// dropped.
fn spawn_periodic<F, Fut>(
    instance: Weak<ClientInstance>,
    shutdown: CancellationToken,
    period: Duration,
    work: F,
) -> JoinHandle<()>
where
    F: Fn(Arc<ClientInstance>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let Some(instance) = instance.upgrade() else {
                return;
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = work(instance) => {}
            }
        }
    })
}

impl std::fmt::Debug for ClientInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientInstance")
            .field("client_id", &self.client_id)
            .field("namesrv_addrs", &self.config.namesrv_addrs)
            .finish_non_exhaustive()
    }
}

impl Drop for ClientInstance {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
