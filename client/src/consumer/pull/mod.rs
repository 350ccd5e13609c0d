//! [`PullConsumer`]: the application asks for messages (`poll`), chooses where to read (`seek`)
//! and when offsets are stored (`commit`). Queues are assigned by hand or, with `subscribe`,
//! shared among the group's members by average allocation.
//!
//! Every assigned queue has at most one pull in flight, held by the broker (long polling) until
//! messages arrive; `poll` waits for the first pull that brings messages. A pull still in
//! flight when `poll` returns is kept for the next `poll`, so nothing is asked twice.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use sluice_remoting::body::{
    ConsumeFromWhere, ConsumeType, MessageModel, MessageQueue, SubscriptionData,
};
use sluice_remoting::message::MessageExt;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use super::group::{consumer_data, now_ms};
use super::offset;
use super::pull_api::{pull, PullRequest, PullResult, PullStatus};
use crate::error::{ClientError, Result};
use crate::instance::ClientInstance;

mod builder;
mod rebalance;

pub use builder::PullConsumerBuilder;

/// How long a queue rests after a failed pull before it is pulled again.
const PULL_ERROR_BACKOFF: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct QueueState {
    /// Next offset to pull; `None` until the group's offset has been looked up.
    position: Option<i64>,
    in_flight: bool,
    /// Bumped by `seek`: answers to older pulls are dropped.
    generation: u64,
    retry_at: Option<Instant>,
}

impl QueueState {
    fn new() -> Self {
        Self {
            position: None,
            in_flight: false,
            generation: 0,
            retry_at: None,
        }
    }

    fn ready(&self, now: Instant) -> bool {
        self.retry_at.is_none_or(|at| now >= at)
    }
}

#[derive(Debug, Default)]
struct State {
    /// Topic → subscription (subscribe mode).
    subscriptions: BTreeMap<String, SubscriptionData>,
    /// Queues given by `assign` (assign mode).
    assigned: Option<BTreeSet<MessageQueue>>,
    queues: BTreeMap<MessageQueue, QueueState>,
    rebalance_due: bool,
    heartbeat_due: bool,
    last_rebalance: Option<Instant>,
}

impl State {
    fn subscription(&self, topic: &str) -> SubscriptionData {
        self.subscriptions
            .get(topic)
            .cloned()
            .unwrap_or_else(|| SubscriptionData::by_tags(topic, "*", 0))
    }
}

struct Outcome {
    queue: MessageQueue,
    generation: u64,
    result: Result<PullResult>,
}

struct Inner {
    group: String,
    instance: Arc<ClientInstance>,
    owns_instance: bool,
    consume_from_where: ConsumeFromWhere,
    consume_timestamp: i64,
    batch_size: i32,
    long_poll: Duration,
    rebalance_interval: Duration,
    state: Mutex<State>,
    outcomes_tx: mpsc::UnboundedSender<Outcome>,
    outcomes_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Outcome>>,
    notifications: Mutex<broadcast::Receiver<String>>,
    running: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Messages from one queue, as one `poll_batch` returns them.
#[derive(Clone, Debug)]
pub struct PolledBatch {
    pub queue: MessageQueue,
    pub messages: Vec<MessageExt>,
    /// The queue's position after these messages.
    pub next_offset: i64,
}

/// A consumer that the application drives. Cheap to clone.
#[derive(Clone)]
pub struct PullConsumer {
    inner: Arc<Inner>,
}

impl PullConsumer {
    pub fn group(&self) -> &str {
        &self.inner.group
    }

    pub fn instance(&self) -> &Arc<ClientInstance> {
        &self.inner.instance
    }

    /// Registers the group (heartbeats carry its subscriptions) and starts the instance.
    pub async fn start(&self) -> Result<()> {
        let inner = &self.inner;
        if inner.instance.is_shut_down() {
            return Err(ClientError::NotRunning(
                "the consumer's client instance is shut down",
            ));
        }
        let weak: Weak<Inner> = Arc::downgrade(inner);
        let group = inner.group.clone();
        let from = inner.consume_from_where;
        inner.instance.register_consumer(
            &inner.group,
            Arc::new(move || {
                let subscriptions = weak.upgrade().map_or_else(Vec::new, |inner| {
                    let state = lock(&inner.state);
                    let mut subs: Vec<SubscriptionData> =
                        state.subscriptions.values().cloned().collect();
                    if let Some(assigned) = &state.assigned {
                        let topics: BTreeSet<&str> =
                            assigned.iter().map(|q| q.topic.as_str()).collect();
                        subs.extend(topics.into_iter().map(|t| state.subscription(t)));
                    }
                    subs
                });
                consumer_data(
                    &group,
                    ConsumeType::ConsumeActively,
                    MessageModel::Clustering,
                    from,
                    subscriptions,
                )
            }),
        );
        let weak_reset: Weak<Inner> = Arc::downgrade(inner);
        inner.instance.register_offset_resetter(
            &inner.group,
            Arc::new(move |_topic: String, offsets: Vec<(MessageQueue, i64)>| {
                if let Some(inner) = weak_reset.upgrade() {
                    let consumer = PullConsumer { inner };
                    for (queue, offset) in offsets {
                        // Queues not assigned here are someone else's.
                        let _ = consumer.seek(&queue, offset);
                    }
                }
            }),
        );
        inner.instance.start();
        inner.running.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Commits the positions, then stops (and shuts down the instance if the builder made it).
    pub async fn shutdown(&self) {
        if !self.inner.running.swap(false, Ordering::SeqCst) {
            return;
        }
        if let Err(error) = self.commit().await {
            tracing::warn!(%error, "committing offsets at shutdown failed");
        }
        self.inner.instance.unregister_consumer(&self.inner.group);
        self.inner
            .instance
            .unregister_offset_resetter(&self.inner.group);
        if self.inner.owns_instance {
            self.inner.instance.shutdown().await;
        }
    }

    fn check_running(&self) -> Result<()> {
        if self.inner.running.load(Ordering::SeqCst) && !self.inner.instance.is_shut_down() {
            Ok(())
        } else {
            Err(ClientError::NotRunning(
                "the consumer is not started (call start) or is shut down",
            ))
        }
    }

    /// Reads exactly `queues` (no group rebalancing); replaces an earlier assignment.
    pub fn assign(&self, queues: impl IntoIterator<Item = MessageQueue>) -> Result<()> {
        let mut state = lock(&self.inner.state);
        if !state.subscriptions.is_empty() {
            return Err(ClientError::Config(
                "this consumer subscribes to topics; assign and subscribe cannot be mixed".into(),
            ));
        }
        let wanted: BTreeSet<MessageQueue> = queues.into_iter().collect();
        state.queues.retain(|q, _| wanted.contains(q));
        for q in &wanted {
            state
                .queues
                .entry(q.clone())
                .or_insert_with(QueueState::new);
        }
        state.assigned = Some(wanted);
        state.heartbeat_due = true;
        Ok(())
    }

    /// Subscribes to `topic` with a tag expression (`*`, `TagA || TagB`); the group's members
    /// share its queues.
    pub fn subscribe(&self, topic: &str, expression: &str) -> Result<()> {
        crate::message::validate_topic(topic)?;
        let mut state = lock(&self.inner.state);
        if state.assigned.is_some() {
            return Err(ClientError::Config(
                "this consumer has assigned queues; assign and subscribe cannot be mixed".into(),
            ));
        }
        state.subscriptions.insert(
            topic.to_string(),
            SubscriptionData::by_tags(topic, expression, now_ms()),
        );
        state.rebalance_due = true;
        state.heartbeat_due = true;
        Ok(())
    }

    /// Subscribes to `topic` with an SQL92 expression over message properties.
    pub fn subscribe_sql92(&self, topic: &str, expression: &str) -> Result<()> {
        crate::message::validate_topic(topic)?;
        let mut state = lock(&self.inner.state);
        if state.assigned.is_some() {
            return Err(ClientError::Config(
                "this consumer has assigned queues; assign and subscribe cannot be mixed".into(),
            ));
        }
        state.subscriptions.insert(
            topic.to_string(),
            super::group::sql92_subscription(topic, expression, now_ms()),
        );
        state.rebalance_due = true;
        state.heartbeat_due = true;
        Ok(())
    }

    pub fn unsubscribe(&self, topic: &str) {
        let mut state = lock(&self.inner.state);
        state.subscriptions.remove(topic);
        state.rebalance_due = true;
        state.heartbeat_due = true;
    }

    /// The queues this consumer reads now.
    pub fn assignment(&self) -> Vec<MessageQueue> {
        lock(&self.inner.state).queues.keys().cloned().collect()
    }

    /// The next offset `poll` reads from `queue` (`None` before the first poll looked it up).
    pub fn position(&self, queue: &MessageQueue) -> Option<i64> {
        lock(&self.inner.state)
            .queues
            .get(queue)
            .and_then(|q| q.position)
    }

    /// Makes the next `poll` read `queue` from `offset`.
    pub fn seek(&self, queue: &MessageQueue, offset: i64) -> Result<()> {
        let mut state = lock(&self.inner.state);
        let qs = state.queues.get_mut(queue).ok_or_else(|| {
            ClientError::Config(format!("{queue} is not assigned to this consumer"))
        })?;
        qs.position = Some(offset.max(0));
        qs.generation += 1;
        qs.in_flight = false;
        qs.retry_at = None;
        Ok(())
    }

    /// Seeks `queue` to its oldest stored message.
    pub async fn seek_to_begin(&self, queue: &MessageQueue) -> Result<()> {
        let min = offset::min_offset(&self.inner.instance, queue).await?;
        self.seek(queue, min)
    }

    /// Seeks `queue` past its last message.
    pub async fn seek_to_end(&self, queue: &MessageQueue) -> Result<()> {
        let max = offset::max_offset(&self.inner.instance, queue).await?;
        self.seek(queue, max)
    }

    /// Stores every known position as the group's offset (UPDATE_CONSUMER_OFFSET); every
    /// queue is tried, the first error is returned.
    pub async fn commit(&self) -> Result<()> {
        let positions: Vec<(MessageQueue, i64)> = lock(&self.inner.state)
            .queues
            .iter()
            .filter_map(|(q, s)| s.position.map(|p| (q.clone(), p)))
            .collect();
        self.commit_positions(positions).await
    }

    async fn commit_positions(&self, positions: Vec<(MessageQueue, i64)>) -> Result<()> {
        let inner = &self.inner;
        let updates = positions.iter().map(|(queue, position)| {
            offset::update_consumer_offset(&inner.instance, &inner.group, queue, *position)
        });
        let results = futures::future::join_all(updates).await;
        results.into_iter().collect::<Result<Vec<()>>>().map(drop)
    }

    /// The group's offset of `queue` as stored on the broker.
    pub async fn committed(&self, queue: &MessageQueue) -> Result<Option<i64>> {
        offset::query_consumer_offset(&self.inner.instance, &self.inner.group, queue).await
    }

    /// Waits up to `timeout` for messages; returns those of the first queue that has some
    /// (empty when none arrived in time).
    pub async fn poll(&self, timeout: Duration) -> Result<Vec<MessageExt>> {
        Ok(self
            .poll_batch(timeout)
            .await?
            .map(|b| b.messages)
            .unwrap_or_default())
    }

    /// [`Self::poll`], saying which queue the messages come from.
    pub async fn poll_batch(&self, timeout: Duration) -> Result<Option<PolledBatch>> {
        self.check_running()?;
        let deadline = Instant::now() + timeout;
        let mut last_error = None;
        if let Err(error) = self.rebalance_if_due().await {
            tracing::warn!(group = %self.inner.group, %error, "rebalance failed");
            last_error = Some(error);
        }
        let mut outcomes = self.inner.outcomes_rx.lock().await;
        loop {
            if let Err(error) = self.resolve_positions().await {
                last_error = Some(error);
            }
            let wake = self.fire_pulls().map_or(deadline, |at| at.min(deadline));
            let outcome = match tokio::time::timeout_at(wake, outcomes.recv()).await {
                Ok(Some(outcome)) => outcome,
                Ok(None) => return Ok(None),
                Err(_) if Instant::now() >= deadline => {
                    return match last_error {
                        Some(error) => Err(error),
                        None => Ok(None),
                    }
                }
                Err(_) => continue,
            };
            match self.apply(outcome) {
                Ok(Some(batch)) => return Ok(Some(batch)),
                Ok(None) => {}
                Err(error) => last_error = Some(error),
            }
        }
    }

    /// Looks up the start offset of queues that have none yet.
    async fn resolve_positions(&self) -> Result<()> {
        let inner = &self.inner;
        let now = Instant::now();
        let missing: Vec<MessageQueue> = lock(&inner.state)
            .queues
            .iter()
            .filter(|(_, s)| s.position.is_none() && s.ready(now))
            .map(|(q, _)| q.clone())
            .collect();
        let mut first_error = None;
        for queue in missing {
            let found = offset::initial_offset(
                &inner.instance,
                &inner.group,
                &queue,
                inner.consume_from_where,
                inner.consume_timestamp,
            )
            .await;
            let mut state = lock(&inner.state);
            let Some(qs) = state.queues.get_mut(&queue) else {
                continue;
            };
            match found {
                Ok(offset) if qs.position.is_none() => qs.position = Some(offset),
                Ok(_) => {}
                Err(error) => {
                    qs.retry_at = Some(Instant::now() + PULL_ERROR_BACKOFF);
                    first_error.get_or_insert(error);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Starts a pull for every idle queue; returns when the next resting queue may be pulled.
    fn fire_pulls(&self) -> Option<Instant> {
        let inner = &self.inner;
        let now = Instant::now();
        let mut state = lock(&inner.state);
        let mut next_wake: Option<Instant> = None;
        let mut starts = Vec::new();
        for (queue, qs) in &state.queues {
            if !qs.ready(now) {
                next_wake = Some(next_wake.map_or(qs.retry_at.unwrap_or(now), |w| {
                    w.min(qs.retry_at.unwrap_or(now))
                }));
                continue;
            }
            if qs.in_flight {
                continue;
            }
            if let Some(position) = qs.position {
                starts.push((queue.clone(), position, qs.generation));
            }
        }
        for (queue, position, generation) in starts {
            let subscription = state.subscription(&queue.topic);
            if let Some(qs) = state.queues.get_mut(&queue) {
                qs.in_flight = true;
            }
            let instance = inner.instance.clone();
            let group = inner.group.clone();
            let tx = inner.outcomes_tx.clone();
            let (batch_size, hold) = (inner.batch_size, inner.long_poll);
            tokio::spawn(async move {
                let request = PullRequest {
                    group: &group,
                    queue: &queue,
                    offset: position,
                    subscription: &subscription,
                    batch_size,
                    suspend: Some(hold),
                    commit_offset: None,
                    broker_id: 0,
                    // The broker may answer a held pull up to ~5 s late (§7.2).
                    timeout: hold + Duration::from_secs(15),
                };
                let result = pull(&instance, &request).await;
                let _ = tx.send(Outcome {
                    queue,
                    generation,
                    result,
                });
            });
        }
        next_wake
    }

    /// Applies one pull answer to its queue; returns the messages it brought.
    fn apply(&self, outcome: Outcome) -> Result<Option<PolledBatch>> {
        let mut state = lock(&self.inner.state);
        let Some(qs) = state.queues.get_mut(&outcome.queue) else {
            return Ok(None);
        };
        if qs.generation != outcome.generation {
            return Ok(None);
        }
        qs.in_flight = false;
        let result = match outcome.result {
            Ok(result) => result,
            Err(error) => {
                qs.retry_at = Some(Instant::now() + PULL_ERROR_BACKOFF);
                drop(state);
                tracing::warn!(queue = %outcome.queue, %error, "pull failed");
                self.inner.instance.refresh_route_soon(&outcome.queue.topic);
                return Err(error);
            }
        };
        qs.retry_at = None;
        qs.position = Some(result.next_begin_offset);
        match result.status {
            PullStatus::Found if !result.messages.is_empty() => Ok(Some(PolledBatch {
                queue: outcome.queue,
                messages: result.messages,
                next_offset: result.next_begin_offset,
            })),
            PullStatus::OffsetIllegal => {
                tracing::warn!(
                    queue = %outcome.queue,
                    next = result.next_begin_offset,
                    "pull offset out of range; continuing from the broker's offset"
                );
                Ok(None)
            }
            _ => Ok(None),
        }
    }
}
