//! Queue locks of orderly consumers (LOCK_BATCH_MQ / UNLOCK_BATCH_MQ): per consumer group, each
//! queue is held by at most one clientId. A lock is a lease: the holder renews it by locking
//! again (Java clients do every 20 s); one not renewed for 60 s (Apache
//! `rocketmq.broker.rebalance.lockMaxLiveTime`) may be taken by another client.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sluice_remoting::body::MessageQueue;

/// Apache's default lease.
pub const DEFAULT_LOCK_MAX_LIVE_TIME: Duration = Duration::from_secs(60);

#[derive(Clone, Debug)]
struct LockEntry {
    client_id: String,
    last_update: Instant,
}

/// Group → queue → holder.
pub struct RebalanceLockManager {
    pub lock_max_live_time: Duration,
    table: Mutex<HashMap<String, HashMap<MessageQueue, LockEntry>>>,
}

impl RebalanceLockManager {
    pub fn new(lock_max_live_time: Duration) -> Self {
        Self {
            lock_max_live_time,
            table: Mutex::new(HashMap::new()),
        }
    }

    fn table(&self) -> MutexGuard<'_, HashMap<String, HashMap<MessageQueue, LockEntry>>> {
        // Each update is a single insert/remove: the table stays valid across a panic.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Locks what it can of `queues` for `client_id` and returns the queues the client now holds:
    /// free ones, ones it already held (lease renewed), and ones whose lease expired.
    pub fn try_lock_batch(
        &self,
        group: &str,
        queues: &BTreeSet<MessageQueue>,
        client_id: &str,
    ) -> BTreeSet<MessageQueue> {
        self.try_lock_batch_at(group, queues, client_id, Instant::now())
    }

    /// [`try_lock_batch`](Self::try_lock_batch) at a given instant.
    pub fn try_lock_batch_at(
        &self,
        group: &str,
        queues: &BTreeSet<MessageQueue>,
        client_id: &str,
        now: Instant,
    ) -> BTreeSet<MessageQueue> {
        let mut table = self.table();
        let locks = table.entry(group.to_owned()).or_default();
        let mut granted = BTreeSet::new();
        for mq in queues {
            let take = match locks.get(mq) {
                None => true,
                Some(e) if e.client_id == client_id => true,
                Some(e) => now.saturating_duration_since(e.last_update) > self.lock_max_live_time,
            };
            if take {
                if let Some(old) = locks.get(mq).filter(|e| e.client_id != client_id) {
                    tracing::info!(group, %mq, old = %old.client_id, new = client_id, "queue lock lease expired; given to a new client");
                }
                locks.insert(
                    mq.clone(),
                    LockEntry {
                        client_id: client_id.to_owned(),
                        last_update: now,
                    },
                );
                granted.insert(mq.clone());
            }
        }
        granted
    }

    /// Releases the queues `client_id` holds among `queues` (others' locks are left alone).
    /// Drops every lock `client_id` holds in `group` (the client unregistered: it said it is
    /// gone, so its queues need not wait for the lease to run out). Returns how many.
    pub fn release_client(&self, group: &str, client_id: &str) -> usize {
        let mut table = self.table();
        let Some(locks) = table.get_mut(group) else {
            return 0;
        };
        let before = locks.len();
        locks.retain(|_, e| e.client_id != client_id);
        before - locks.len()
    }

    pub fn unlock_batch(&self, group: &str, queues: &BTreeSet<MessageQueue>, client_id: &str) {
        let mut table = self.table();
        let Some(locks) = table.get_mut(group) else {
            return;
        };
        for mq in queues {
            if locks.get(mq).is_some_and(|e| e.client_id == client_id) {
                locks.remove(mq);
            }
        }
        if locks.is_empty() {
            table.remove(group);
        }
    }

    /// Whether `client_id` holds a live lock on `mq` at `now`.
    pub fn is_locked_at(
        &self,
        group: &str,
        mq: &MessageQueue,
        client_id: &str,
        now: Instant,
    ) -> bool {
        self.table()
            .get(group)
            .and_then(|locks| locks.get(mq))
            .is_some_and(|e| {
                e.client_id == client_id
                    && now.saturating_duration_since(e.last_update) <= self.lock_max_live_time
            })
    }
}

impl Default for RebalanceLockManager {
    fn default() -> Self {
        Self::new(DEFAULT_LOCK_MAX_LIVE_TIME)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qs(ids: &[i32]) -> BTreeSet<MessageQueue> {
        ids.iter()
            .map(|&i| MessageQueue::new("T", "b", i))
            .collect()
    }

    #[test]
    fn an_unregistered_client_frees_its_queues_at_once() {
        let m = RebalanceLockManager::new(Duration::from_secs(60));
        let t0 = Instant::now();
        m.try_lock_batch_at("g", &qs(&[0, 1]), "c1", t0);
        m.try_lock_batch_at("other", &qs(&[0]), "c1", t0);
        assert_eq!(m.try_lock_batch_at("g", &qs(&[0, 1]), "c2", t0), qs(&[]));
        assert_eq!(m.release_client("g", "c1"), 2);
        assert_eq!(
            m.try_lock_batch_at("g", &qs(&[0, 1]), "c2", t0),
            qs(&[0, 1])
        );
        // Only that group's locks go.
        assert_eq!(m.try_lock_batch_at("other", &qs(&[0]), "c2", t0), qs(&[]));
    }

    #[test]
    fn free_queue_granted_held_one_refused_until_lease_expires() {
        let m = RebalanceLockManager::new(Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(
            m.try_lock_batch_at("g", &qs(&[0, 1]), "c1", t0),
            qs(&[0, 1])
        );
        // Another client gets only the free queue.
        assert_eq!(m.try_lock_batch_at("g", &qs(&[1, 2]), "c2", t0), qs(&[2]));
        // The holder renews.
        let t30 = t0 + Duration::from_secs(30);
        assert_eq!(m.try_lock_batch_at("g", &qs(&[0]), "c1", t30), qs(&[0]));
        // Queue 1 was not renewed: expired at t0 + 61 s; queue 0 was renewed at t30.
        let t61 = t0 + Duration::from_secs(61);
        assert_eq!(m.try_lock_batch_at("g", &qs(&[0, 1]), "c2", t61), qs(&[1]));
        assert!(m.is_locked_at("g", &MessageQueue::new("T", "b", 1), "c2", t61));
        // Other groups are independent.
        assert_eq!(m.try_lock_batch_at("g2", &qs(&[0]), "c2", t0), qs(&[0]));
    }

    #[test]
    fn unlock_releases_only_own_locks() {
        let m = RebalanceLockManager::default();
        let t = Instant::now();
        m.try_lock_batch_at("g", &qs(&[0, 1]), "c1", t);
        m.unlock_batch("g", &qs(&[0, 1]), "c2");
        assert!(m.try_lock_batch_at("g", &qs(&[0]), "c2", t).is_empty());
        m.unlock_batch("g", &qs(&[0]), "c1");
        assert_eq!(m.try_lock_batch_at("g", &qs(&[0]), "c2", t), qs(&[0]));
    }

    /// Random lock/unlock/time steps checked against a simple model: a queue is granted only
    /// when free, held by the asker, or its holder's lease has lapsed.
    #[test]
    fn random_operations_never_grant_a_live_lock_to_two_clients() {
        use rand::{Rng, SeedableRng};
        let seed: u64 = rand::random();
        println!("seed {seed}");
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let lease = Duration::from_secs(60);
        let m = RebalanceLockManager::new(lease);
        let mut now = Instant::now();
        // queue id -> (holder, last renewal)
        let mut model: HashMap<i32, (String, Instant)> = HashMap::new();
        for _ in 0..5_000 {
            let client = format!("c{}", rng.gen_range(0..4));
            let ids: Vec<i32> = (0..rng.gen_range(1..4))
                .map(|_| rng.gen_range(0..6))
                .collect();
            match rng.gen_range(0..10) {
                0..=5 => {
                    let granted = m.try_lock_batch_at("g", &qs(&ids), &client, now);
                    for id in qs(&ids).iter().map(|q| q.queue_id) {
                        let free = match model.get(&id) {
                            None => true,
                            Some((holder, at)) => {
                                *holder == client || now.saturating_duration_since(*at) > lease
                            }
                        };
                        let got = granted.contains(&MessageQueue::new("T", "b", id));
                        assert_eq!(got, free, "seed {seed}: queue {id} for {client}");
                        if got {
                            model.insert(id, (client.clone(), now));
                        }
                    }
                }
                6..=7 => {
                    m.unlock_batch("g", &qs(&ids), &client);
                    for id in &ids {
                        if model.get(id).is_some_and(|(h, _)| *h == client) {
                            model.remove(id);
                        }
                    }
                }
                _ => now += Duration::from_secs(rng.gen_range(0..40)),
            }
        }
    }
}
