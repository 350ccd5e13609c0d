//! [`PushConsumer`]: subscribes, shares the topics' queues with the group's other members
//! (average allocation, every 20 s and when the broker says the membership changed), pulls every
//! assigned queue with long polling and hands the messages to a concurrent listener; failed
//! batches go back to the broker for a later retry; offsets are stored every 5 s and at shutdown.

mod consume;
mod listener;
mod local_offsets;
mod process_queue;
mod pull_loop;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use sluice_remoting::body::{
    ConsumeFromWhere, ConsumeType, MessageModel, MessageQueue, SubscriptionData,
};
use tokio::sync::{broadcast, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::allocate::allocate_average;
use super::group::{consumer_data, consumer_ids, now_ms};
use super::offset;
use crate::config::ClientConfig;
use crate::error::{ClientError, Result};
use crate::instance::ClientInstance;
use crate::producer::RETRY_GROUP_TOPIC_PREFIX;

pub use listener::{ConsumeContext, ConsumeStatus, MessageListener};
pub use process_queue::{OffsetTable, ProcessQueue};

/// Push-consumer settings; defaults are the Java client's.
#[derive(Clone, Debug)]
pub struct PushOptions {
    pub message_model: MessageModel,
    pub consume_from_where: ConsumeFromWhere,
    pub consume_timestamp: i64,
    /// Messages per listener call (`consumeMessageBatchMaxSize`, 1).
    pub consume_batch_size: usize,
    /// Messages per pull (`pullBatchSize`, 32).
    pub pull_batch_size: i32,
    /// Listener calls running at once (`consumeThreadMax`, 20).
    pub concurrency: usize,
    /// Pulled-but-unfinished messages per queue before pulling pauses (1000).
    pub pull_threshold_for_queue: usize,
    /// Pulled-but-unfinished body bytes per queue before pulling pauses (100 MiB).
    pub pull_threshold_size_for_queue: usize,
    /// Offset distance between the oldest unfinished and newest pulled message before pulling
    /// pauses (`consumeConcurrentlyMaxSpan`, 2000).
    pub consume_concurrently_max_span: i64,
    /// Deliveries before a message goes to the DLQ (16).
    pub max_reconsume_times: i32,
    /// How long the broker may hold a pull (15 s).
    pub long_poll: Duration,
    /// Round-trip limit of a pull (30 s).
    pub pull_timeout: Duration,
    pub rebalance_interval: Duration,
    /// How often changed offsets are sent to the broker (5 s).
    pub persist_interval: Duration,
    /// Where a broadcasting consumer keeps its offsets (`~/.rocketmq_offsets`).
    pub local_offset_dir: std::path::PathBuf,
}

impl Default for PushOptions {
    fn default() -> Self {
        Self {
            message_model: MessageModel::Clustering,
            consume_from_where: ConsumeFromWhere::ConsumeFromLastOffset,
            consume_timestamp: offset::default_consume_timestamp(),
            consume_batch_size: 1,
            pull_batch_size: 32,
            concurrency: 20,
            pull_threshold_for_queue: 1000,
            pull_threshold_size_for_queue: 100 * 1024 * 1024,
            consume_concurrently_max_span: 2000,
            max_reconsume_times: 16,
            long_poll: Duration::from_secs(15),
            pull_timeout: Duration::from_secs(30),
            rebalance_interval: Duration::from_secs(20),
            persist_interval: Duration::from_secs(5),
            local_offset_dir: local_offsets::default_dir(),
        }
    }
}

/// Builds a [`PushConsumer`].
pub struct PushConsumerBuilder {
    group: String,
    config: Option<ClientConfig>,
    namesrv_addr: Option<String>,
    instance: Option<Arc<ClientInstance>>,
    /// (topic, expression, is SQL92).
    subscriptions: Vec<(String, String, bool)>,
    listener: Option<Arc<dyn MessageListener>>,
    options: PushOptions,
}

impl PushConsumerBuilder {
    pub fn namesrv_addr(mut self, addrs: impl Into<String>) -> Self {
        self.namesrv_addr = Some(addrs.into());
        self
    }

    pub fn config(mut self, config: ClientConfig) -> Self {
        self.config = Some(config);
        self
    }

    pub fn instance(mut self, instance: Arc<ClientInstance>) -> Self {
        self.instance = Some(instance);
        self
    }

    /// Subscribes to `topic` with a tag expression (`*`, `TagA || TagB`).
    pub fn subscribe(mut self, topic: impl Into<String>, expression: impl Into<String>) -> Self {
        self.subscriptions
            .push((topic.into(), expression.into(), false));
        self
    }

    /// Subscribes to `topic` with an SQL92 expression over message properties.
    pub fn subscribe_sql92(
        mut self,
        topic: impl Into<String>,
        expression: impl Into<String>,
    ) -> Self {
        self.subscriptions
            .push((topic.into(), expression.into(), true));
        self
    }

    /// The listener; a closure `|msgs, ctx| async { ConsumeStatus::ConsumeSuccess }` will do.
    pub fn listener(mut self, listener: impl MessageListener) -> Self {
        self.listener = Some(Arc::new(listener));
        self
    }

    pub fn message_model(mut self, model: MessageModel) -> Self {
        self.options.message_model = model;
        self
    }

    pub fn consume_from_where(mut self, from: ConsumeFromWhere) -> Self {
        self.options.consume_from_where = from;
        self
    }

    pub fn consume_timestamp(mut self, millis: i64) -> Self {
        self.options.consume_timestamp = millis;
        self
    }

    /// Where a broadcasting consumer keeps its offsets (default `~/.rocketmq_offsets`).
    pub fn local_offset_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.options.local_offset_dir = dir.into();
        self
    }

    /// Every setting at once.
    pub fn options(mut self, options: PushOptions) -> Self {
        self.options = options;
        self
    }

    pub fn build(self) -> Result<PushConsumer> {
        crate::message::validate_topic(&self.group)
            .map_err(|_| ClientError::Config(format!("invalid consumer group {:?}", self.group)))?;
        let listener = self
            .listener
            .ok_or_else(|| ClientError::Config("a push consumer needs a listener".into()))?;
        if self.subscriptions.is_empty() {
            return Err(ClientError::Config(
                "a push consumer needs at least one subscription".into(),
            ));
        }
        let version = now_ms();
        let mut subscriptions = BTreeMap::new();
        for (topic, expression, sql92) in &self.subscriptions {
            crate::message::validate_topic(topic)?;
            let data = if *sql92 {
                super::group::sql92_subscription(topic, expression, version)
            } else {
                SubscriptionData::by_tags(topic.as_str(), expression, version)
            };
            subscriptions.insert(topic.clone(), data);
        }
        if self.options.message_model == MessageModel::Clustering {
            let retry = format!("{RETRY_GROUP_TOPIC_PREFIX}{}", self.group);
            subscriptions
                .entry(retry.clone())
                .or_insert_with(|| SubscriptionData::by_tags(retry, "*", version));
        }
        let owns_instance = self.instance.is_none();
        let instance = match self.instance {
            Some(instance) => instance,
            None => {
                let mut config = match self.config {
                    Some(config) => config,
                    None if self.namesrv_addr.is_some() => ClientConfig::default(),
                    None => ClientConfig::from_env()?,
                };
                if let Some(addrs) = &self.namesrv_addr {
                    config.namesrv_addrs = crate::config::parse_namesrv_addrs(addrs)?;
                }
                ClientInstance::new(config)?
            }
        };
        let token = instance.shutdown_token().child_token();
        Ok(PushConsumer {
            shared: Arc::new(PushShared {
                group: self.group,
                instance,
                owns_instance,
                permits: Arc::new(Semaphore::new(self.options.concurrency.max(1))),
                options: self.options,
                listener,
                subscriptions,
                offsets: OffsetTable::default(),
                queues: Mutex::new(BTreeMap::new()),
                token,
                tasks: Mutex::new(Vec::new()),
            }),
        })
    }
}

/// What the pull loops, listener tasks and background tasks of one push consumer share.
pub struct PushShared {
    pub(crate) group: String,
    pub(crate) instance: Arc<ClientInstance>,
    owns_instance: bool,
    pub(crate) options: PushOptions,
    pub(crate) listener: Arc<dyn MessageListener>,
    subscriptions: BTreeMap<String, SubscriptionData>,
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) offsets: OffsetTable,
    queues: Mutex<BTreeMap<MessageQueue, Arc<ProcessQueue>>>,
    token: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PushShared {
    pub(crate) fn subscription_for(&self, topic: &str) -> SubscriptionData {
        self.subscriptions
            .get(topic)
            .cloned()
            .unwrap_or_else(|| SubscriptionData::by_tags(topic, "*", 0))
    }

    fn clustering(&self) -> bool {
        self.options.message_model == MessageModel::Clustering
    }

    /// The queues this member should own now; topics whose lookup failed are left out of the
    /// returned set and listed in the second value.
    async fn wanted_queues(
        &self,
    ) -> (
        BTreeSet<MessageQueue>,
        BTreeSet<String>,
        Option<ClientError>,
    ) {
        let mut wanted = BTreeSet::new();
        let mut failed = BTreeSet::new();
        let mut first_error = None;
        for topic in self.subscriptions.keys() {
            let queues = match self.instance.update_route(topic).await {
                Ok(Some(route)) => crate::route::subscribe_queues(topic, &route),
                Ok(None) => {
                    // The retry topic appears once the broker saw our heartbeat.
                    if !topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
                        first_error.get_or_insert(ClientError::NoRoute {
                            topic: topic.clone(),
                            reason: "the NameServer answered TOPIC_NOT_EXIST".into(),
                        });
                    }
                    continue;
                }
                Err(error) => {
                    failed.insert(topic.clone());
                    first_error.get_or_insert(error);
                    continue;
                }
            };
            if !self.clustering() {
                wanted.extend(queues);
                continue;
            }
            match consumer_ids(&self.instance, topic, &self.group).await {
                Ok(members) => wanted.extend(allocate_average(
                    &self.instance.client_id,
                    &queues,
                    &members,
                )),
                Err(error) => {
                    failed.insert(topic.clone());
                    first_error.get_or_insert(error);
                }
            }
        }
        (wanted, failed, first_error)
    }

    /// Reallocates queues: drops the ones no longer ours (storing their offsets) and starts a
    /// pull loop for each new one.
    async fn rebalance(self: &Arc<Self>) -> Result<()> {
        let (wanted, failed, error) = self.wanted_queues().await;
        let removed: Vec<(MessageQueue, Arc<ProcessQueue>)> = {
            let mut queues = lock(&self.queues);
            let gone: Vec<MessageQueue> = queues
                .keys()
                .filter(|q| !wanted.contains(*q) && !failed.contains(&q.topic))
                .cloned()
                .collect();
            gone.into_iter()
                .filter_map(|q| queues.remove(&q).map(|pq| (q, pq)))
                .collect()
        };
        for (queue, pq) in removed {
            pq.dropped.cancel();
            let safe = pq.consumed_offset();
            self.offsets.update(&queue, safe, false);
            if !self.clustering() {
                continue;
            }
            if let Some(offset) = self.offsets.remove(&queue) {
                {
                    if let Err(error) =
                        offset::update_consumer_offset(&self.instance, &self.group, &queue, offset)
                            .await
                    {
                        tracing::warn!(%queue, %error, "storing the offset of a released queue failed");
                    }
                }
            }
            tracing::info!(%queue, group = %self.group, "queue released");
        }
        let added: Vec<MessageQueue> = {
            let queues = lock(&self.queues);
            wanted
                .into_iter()
                .filter(|q| !queues.contains_key(q))
                .collect()
        };
        let mut first_error = error;
        for queue in added {
            let start = match self.start_offset(&queue).await {
                Ok(start) => start,
                Err(error) => {
                    tracing::warn!(%queue, %error, "cannot find where to start; next rebalance retries");
                    first_error.get_or_insert(error);
                    continue;
                }
            };
            if self.token.is_cancelled() {
                break;
            }
            let pq = Arc::new(ProcessQueue::new(start, &self.token));
            self.offsets.update(&queue, start, true);
            lock(&self.queues).insert(queue.clone(), pq.clone());
            tracing::info!(%queue, group = %self.group, start, "queue assigned");
            tokio::spawn(pull_loop::run(self.clone(), queue, pq, start));
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn start_offset(&self, queue: &MessageQueue) -> Result<i64> {
        if self.clustering() {
            return offset::initial_offset(
                &self.instance,
                &self.group,
                queue,
                self.options.consume_from_where,
                self.options.consume_timestamp,
            )
            .await;
        }
        // Broadcasting: offsets live with this client only.
        if let Some(known) = self.offsets.get(queue) {
            return Ok(known);
        }
        match self.options.consume_from_where {
            ConsumeFromWhere::ConsumeFromFirstOffset | ConsumeFromWhere::ConsumeFromMinOffset => {
                Ok(0)
            }
            ConsumeFromWhere::ConsumeFromTimestamp => {
                offset::search_offset(&self.instance, queue, self.options.consume_timestamp).await
            }
            _ => offset::max_offset(&self.instance, queue).await,
        }
    }

    /// Sends the offsets changed since the last persist (oneway, as Java).
    async fn persist_dirty(&self) {
        if !self.clustering() {
            if !self.offsets.take_dirty().is_empty() {
                self.persist_local().await;
            }
            return;
        }
        for (queue, offset) in self.offsets.take_dirty() {
            if let Err(error) =
                offset::update_consumer_offset_oneway(&self.instance, &self.group, &queue, offset)
                    .await
            {
                tracing::warn!(%queue, %error, "persisting the consumer offset failed");
                self.offsets.update(&queue, offset, true);
            }
        }
    }

    fn local_offsets_path(&self) -> std::path::PathBuf {
        local_offsets::file_for(&self.options.local_offset_dir, &self.group)
    }

    async fn persist_local(&self) {
        let path = self.local_offsets_path();
        if let Err(error) = local_offsets::store(&path, &self.offsets.all()).await {
            tracing::warn!(%error, "persisting broadcasting offsets failed");
        }
    }

    /// Stores every offset and waits for the answers (shutdown).
    async fn persist_all(&self) {
        for (queue, pq) in lock(&self.queues).iter() {
            self.offsets.update(queue, pq.consumed_offset(), false);
        }
        if !self.clustering() {
            self.persist_local().await;
            return;
        }
        let all = self.offsets.all();
        let sends = all.iter().map(|(queue, offset)| {
            offset::update_consumer_offset(&self.instance, &self.group, queue, *offset)
        });
        for (result, (queue, _)) in futures::future::join_all(sends).await.into_iter().zip(&all) {
            if let Err(error) = result {
                tracing::warn!(%queue, %error, "storing the consumer offset at shutdown failed");
            }
        }
    }
}

/// A consumer that calls its listener for every message of its subscriptions. Cheap to clone.
#[derive(Clone)]
pub struct PushConsumer {
    shared: Arc<PushShared>,
}

impl PushConsumer {
    pub fn builder(group: impl Into<String>) -> PushConsumerBuilder {
        PushConsumerBuilder {
            group: group.into(),
            config: None,
            namesrv_addr: None,
            instance: None,
            subscriptions: Vec::new(),
            listener: None,
            options: PushOptions::default(),
        }
    }

    pub fn group(&self) -> &str {
        &self.shared.group
    }

    pub fn instance(&self) -> &Arc<ClientInstance> {
        &self.shared.instance
    }

    /// The queues this member consumes now.
    pub fn assignment(&self) -> Vec<MessageQueue> {
        lock(&self.shared.queues).keys().cloned().collect()
    }

    /// The offset this client will store for `queue` at the next persist.
    pub fn offset(&self, queue: &MessageQueue) -> Option<i64> {
        self.shared.offsets.get(queue)
    }

    /// Registers the group, heartbeats, takes its share of the queues and starts pulling;
    /// then rebalances every `rebalance_interval` and on membership changes, and stores
    /// offsets every `persist_interval`.
    pub async fn start(&self) -> Result<()> {
        let shared = &self.shared;
        if shared.token.is_cancelled() {
            return Err(ClientError::NotRunning("the push consumer is shut down"));
        }
        let weak: Weak<PushShared> = Arc::downgrade(shared);
        let (group, model, from) = (
            shared.group.clone(),
            shared.options.message_model,
            shared.options.consume_from_where,
        );
        shared.instance.register_consumer(
            &shared.group,
            Arc::new(move || {
                let subs = weak
                    .upgrade()
                    .map(|s| s.subscriptions.values().cloned().collect())
                    .unwrap_or_default();
                consumer_data(&group, ConsumeType::ConsumePassively, model, from, subs)
            }),
        );
        shared.instance.start();
        if !shared.clustering() {
            for (queue, offset) in local_offsets::load(&shared.local_offsets_path()).await? {
                shared.offsets.update(&queue, offset, true);
            }
            shared.offsets.take_dirty();
        }
        for topic in shared.subscriptions.keys() {
            if let Err(error) = shared.instance.update_route(topic).await {
                tracing::warn!(%topic, %error, "route lookup at start failed");
            }
        }
        shared.instance.send_heartbeat_to_all().await;
        if let Err(error) = shared.rebalance().await {
            if matches!(error, ClientError::NoRoute { .. }) {
                return Err(error);
            }
            tracing::warn!(%error, "first rebalance failed; retrying in the background");
        }
        let rebalancer = tokio::spawn(rebalance_task(
            Arc::downgrade(shared),
            shared.token.clone(),
            shared.instance.rebalance_notifications(),
            shared.options.rebalance_interval,
        ));
        let persister = tokio::spawn(persist_task(
            Arc::downgrade(shared),
            shared.token.clone(),
            shared.options.persist_interval,
        ));
        lock(&shared.tasks).extend([rebalancer, persister]);
        Ok(())
    }

    /// Stops pulling, stores the offsets and unregisters (shutting the instance down if the
    /// builder made it). Listener calls already running finish on their own.
    pub async fn shutdown(&self) {
        let shared = &self.shared;
        if shared.token.is_cancelled() && lock(&shared.tasks).is_empty() {
            return;
        }
        shared.token.cancel();
        let tasks: Vec<JoinHandle<()>> = lock(&shared.tasks).drain(..).collect();
        for task in tasks {
            let _ = task.await;
        }
        shared.persist_all().await;
        lock(&shared.queues).clear();
        if shared.owns_instance {
            shared.instance.shutdown().await;
        } else {
            shared.instance.unregister_consumer(&shared.group);
        }
    }
}

async fn rebalance_task(
    shared: Weak<PushShared>,
    token: CancellationToken,
    mut notifications: broadcast::Receiver<String>,
    every: Duration,
) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        let run = tokio::select! {
            _ = token.cancelled() => return,
            _ = ticker.tick() => true,
            note = notifications.recv() => match note {
                Ok(group) => shared.upgrade().is_some_and(|s| s.group == group),
                Err(broadcast::error::RecvError::Lagged(_)) => true,
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        if !run {
            continue;
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        tokio::select! {
            _ = token.cancelled() => return,
            result = shared.rebalance() => {
                if let Err(error) = result {
                    tracing::warn!(group = %shared.group, %error, "rebalance failed");
                }
            }
        }
    }
}

async fn persist_task(shared: Weak<PushShared>, token: CancellationToken, every: Duration) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        shared.persist_dirty().await;
    }
}
