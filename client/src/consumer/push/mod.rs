//! [`PushConsumer`]: subscribes, shares the topics' queues with the group's other members
//! (average allocation, every 20 s and when the broker says the membership changed), pulls every
//! assigned queue with long polling and hands the messages to a concurrent listener (failed
//! batches go back to the broker for a later retry) or an orderly one (queue locks, one batch
//! at a time per queue); offsets are stored every 5 s and at shutdown, on the broker or
//! (broadcasting) in a local file.

mod builder;
mod consume;
mod listener;
mod local_offsets;
mod orderly;
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
use super::group::{consumer_data, consumer_ids};
use super::offset;
use crate::error::{ClientError, Result};
use crate::instance::ClientInstance;
use crate::producer::RETRY_GROUP_TOPIC_PREFIX;

pub use builder::{PushConsumerBuilder, PushOptions};
pub use listener::{
    ConsumeContext, ConsumeStatus, MessageListener, MessageListenerOrderly, OrderlyFn,
    OrderlyStatus,
};
pub use process_queue::{OffsetTable, ProcessQueue};

/// What the pull loops, listener tasks and background tasks of one push consumer share.
pub struct PushShared {
    pub(crate) group: String,
    pub(crate) instance: Arc<ClientInstance>,
    owns_instance: bool,
    pub(crate) options: PushOptions,
    pub(crate) listener: Option<Arc<dyn MessageListener>>,
    pub(crate) orderly: Option<Arc<dyn MessageListenerOrderly>>,
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
        if self.orderly.is_some() && !removed.is_empty() {
            let queues: Vec<MessageQueue> = removed.iter().map(|(q, _)| q.clone()).collect();
            orderly::unlock(self, &queues).await;
        }
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
        if self.orderly.is_some() {
            self.relock().await;
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Restarts the given assigned queues at new offsets (the broker's
    /// RESET_CONSUMER_CLIENT_OFFSET after an admin reset).
    async fn reset_offsets(self: Arc<Self>, offsets: Vec<(MessageQueue, i64)>) {
        for (queue, offset) in offsets {
            let old = lock(&self.queues).remove(&queue);
            let Some(old) = old else {
                continue;
            };
            old.dropped.cancel();
            self.offsets.update(&queue, offset, true);
            if self.token.is_cancelled() {
                return;
            }
            let pq = Arc::new(ProcessQueue::new(offset, &self.token));
            lock(&self.queues).insert(queue.clone(), pq.clone());
            tracing::info!(%queue, offset, "queue restarted at a reset offset");
            tokio::spawn(pull_loop::run(self.clone(), queue, pq, offset));
        }
    }

    /// Locks one queue (orderly consumption, before its first pull).
    pub(crate) async fn relock_queue(&self, queue: &MessageQueue, pq: &ProcessQueue) {
        if orderly::lock(self, std::slice::from_ref(queue))
            .await
            .contains(queue)
        {
            pq.mark_locked();
        }
    }

    /// Renews the broker locks of every assigned queue (orderly consumption).
    pub(crate) async fn relock(&self) {
        let assigned: Vec<(MessageQueue, Arc<ProcessQueue>)> = lock(&self.queues)
            .iter()
            .map(|(q, pq)| (q.clone(), pq.clone()))
            .collect();
        let queues: Vec<MessageQueue> = assigned.iter().map(|(q, _)| q.clone()).collect();
        let locked = orderly::lock(self, &queues).await;
        for (queue, pq) in assigned {
            if locked.contains(&queue) {
                pq.mark_locked();
            }
        }
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
        let weak_reset: Weak<PushShared> = Arc::downgrade(shared);
        shared.instance.register_offset_resetter(
            &shared.group,
            Arc::new(move |_topic: String, offsets: Vec<(MessageQueue, i64)>| {
                if let Some(shared) = weak_reset.upgrade() {
                    tokio::spawn(async move { shared.reset_offsets(offsets).await });
                }
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
        shared.instance.unregister_offset_resetter(&shared.group);
        shared.persist_all().await;
        if shared.orderly.is_some() {
            let queues: Vec<MessageQueue> = lock(&shared.queues).keys().cloned().collect();
            orderly::unlock(shared, &queues).await;
        }
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
