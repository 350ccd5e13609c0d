//! Queue allocation of a subscribing [`PullConsumer`]: on subscription changes, on the
//! broker's NOTIFY_CONSUMER_IDS_CHANGED and every `rebalance_interval`, checked at each poll.

use std::collections::BTreeSet;

use sluice_remoting::body::MessageQueue;
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::{lock, PullConsumer, QueueState};
use crate::consumer::allocate::allocate_average;
use crate::consumer::group::consumer_ids;
use crate::error::{ClientError, Result};

impl PullConsumer {
    fn rebalance_wanted(&self) -> bool {
        let inner = &self.inner;
        let mut due = false;
        {
            let mut rx = lock(&inner.notifications);
            loop {
                match rx.try_recv() {
                    Ok(group) => due |= group == inner.group,
                    Err(broadcast::error::TryRecvError::Lagged(_)) => due = true,
                    Err(_) => break,
                }
            }
        }
        let mut state = lock(&inner.state);
        if state.subscriptions.is_empty() && state.assigned.is_some() {
            return false;
        }
        let stale = state
            .last_rebalance
            .is_none_or(|at| at.elapsed() >= inner.rebalance_interval);
        if due {
            state.rebalance_due = true;
        }
        state.rebalance_due || stale
    }

    pub(super) async fn rebalance_if_due(&self) -> Result<()> {
        let inner = &self.inner;
        let heartbeat = std::mem::take(&mut lock(&inner.state).heartbeat_due);
        if !self.rebalance_wanted() {
            if heartbeat {
                inner.instance.send_heartbeat_to_all().await;
            }
            return Ok(());
        }
        self.rebalance(heartbeat).await
    }

    /// Reallocates the subscribed topics' queues among the group's members.
    pub async fn rebalance(&self, heartbeat_first: bool) -> Result<()> {
        let inner = &self.inner;
        let topics: Vec<String> = {
            let mut state = lock(&inner.state);
            state.rebalance_due = false;
            state.last_rebalance = Some(Instant::now());
            state.subscriptions.keys().cloned().collect()
        };
        let mut wanted = BTreeSet::new();
        let mut first_error = None;
        let mut all_queues = Vec::new();
        for topic in &topics {
            match inner.instance.update_route(topic).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    first_error.get_or_insert(ClientError::NoRoute {
                        topic: topic.clone(),
                        reason: "the NameServer answered TOPIC_NOT_EXIST".into(),
                    });
                    continue;
                }
                Err(error) => {
                    first_error.get_or_insert(error);
                    continue;
                }
            }
            match inner.instance.subscribe_queues(topic).await {
                Ok(queues) => all_queues.push((topic.clone(), queues)),
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        if heartbeat_first {
            inner.instance.send_heartbeat_to_all().await;
        }
        let mut failed_topics = BTreeSet::new();
        for (topic, queues) in all_queues {
            match consumer_ids(&inner.instance, &topic, &inner.group).await {
                Ok(members) => {
                    let mine = allocate_average(&inner.instance.client_id, &queues, &members);
                    if mine.is_empty() && !members.contains(&inner.instance.client_id) {
                        tracing::info!(%topic, group = %inner.group, "this client is not yet in the group's member list");
                    }
                    wanted.extend(mine);
                }
                Err(error) => {
                    failed_topics.insert(topic);
                    first_error.get_or_insert(error);
                }
            }
        }
        let released: Vec<(MessageQueue, i64)> = {
            let mut state = lock(&inner.state);
            let mut released = Vec::new();
            state.queues.retain(|q, s| {
                // A topic whose member list could not be read keeps its queues.
                let keep = wanted.contains(q) || failed_topics.contains(&q.topic);
                if !keep {
                    if let Some(p) = s.position {
                        released.push((q.clone(), p));
                    }
                }
                keep
            });
            for q in wanted {
                state.queues.entry(q).or_insert_with(QueueState::new);
            }
            released
        };
        if !released.is_empty() {
            if let Err(error) = self.commit_positions(released).await {
                tracing::warn!(%error, "committing released queues failed");
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
