//! Per-queue bookkeeping of a push consumer: the messages pulled but not yet consumed (for
//! flow control and for the offset that is safe to store) and the group's offsets.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use sluice_remoting::body::MessageQueue;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How long a client trusts its queue lock (`rocketmq.client.rebalance.lockMaxLiveTime`).
const LOCK_VALID_FOR: std::time::Duration = std::time::Duration::from_secs(30);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug, Default)]
struct Pending {
    /// Queue offset → body size of every message handed to the listener and not finished.
    offsets: BTreeMap<i64, usize>,
    bytes: usize,
    /// The offset after the last message pulled so far.
    next_after_pulled: i64,
}

/// One assigned queue of a push consumer.
#[derive(Debug)]
pub struct ProcessQueue {
    pending: Mutex<Pending>,
    /// Cancelled when the queue is taken away (rebalance, shutdown).
    pub dropped: CancellationToken,
    /// Signalled whenever messages finish, so a throttled pull loop can go on.
    pub room: Notify,
    /// Orderly consumption: until when this client's broker lock counts as held.
    locked_until: Mutex<Option<tokio::time::Instant>>,
}

impl ProcessQueue {
    pub fn new(start_offset: i64, parent: &CancellationToken) -> Self {
        Self {
            pending: Mutex::new(Pending {
                next_after_pulled: start_offset,
                ..Default::default()
            }),
            dropped: parent.child_token(),
            room: Notify::new(),
            locked_until: Mutex::new(None),
        }
    }

    /// Notes a successful LOCK_BATCH_MQ: the lock counts for 30 s (the broker keeps it 60 s).
    pub fn mark_locked(&self) {
        *lock(&self.locked_until) = Some(tokio::time::Instant::now() + LOCK_VALID_FOR);
    }

    pub fn is_locked(&self) -> bool {
        lock(&self.locked_until).is_some_and(|until| tokio::time::Instant::now() < until)
    }

    /// Records pulled messages (queue offset, body size) and the offset after them.
    pub fn put(&self, messages: impl IntoIterator<Item = (i64, usize)>, next_offset: i64) {
        let mut p = lock(&self.pending);
        for (offset, size) in messages {
            if p.offsets.insert(offset, size).is_none() {
                p.bytes += size;
            }
        }
        p.next_after_pulled = p.next_after_pulled.max(next_offset);
    }

    /// Notes that nothing was pulled up to `next_offset` (no new or no matching message).
    pub fn skip_to(&self, next_offset: i64) {
        let mut p = lock(&self.pending);
        p.next_after_pulled = p.next_after_pulled.max(next_offset);
    }

    /// Removes finished messages; returns the offset now safe to store: the smallest
    /// unfinished one, or the offset after everything pulled when nothing is left.
    pub fn remove(&self, offsets: impl IntoIterator<Item = i64>) -> i64 {
        let safe = {
            let mut p = lock(&self.pending);
            for offset in offsets {
                if let Some(size) = p.offsets.remove(&offset) {
                    p.bytes -= size;
                }
            }
            Self::safe_offset(&p)
        };
        self.room.notify_waiters();
        safe
    }

    fn safe_offset(p: &Pending) -> i64 {
        p.offsets
            .keys()
            .next()
            .copied()
            .unwrap_or(p.next_after_pulled)
    }

    /// The offset safe to store now.
    pub fn consumed_offset(&self) -> i64 {
        Self::safe_offset(&lock(&self.pending))
    }

    /// Messages and body bytes still unfinished.
    pub fn backlog(&self) -> (usize, usize) {
        let p = lock(&self.pending);
        (p.offsets.len(), p.bytes)
    }

    /// Distance between the oldest unfinished message and the newest pulled one.
    pub fn span(&self) -> i64 {
        let p = lock(&self.pending);
        match (p.offsets.keys().next(), p.offsets.keys().next_back()) {
            (Some(first), Some(last)) => last - first,
            _ => 0,
        }
    }
}

/// The group's offsets per queue as this client knows them, with what changed since the last
/// persist.
#[derive(Debug, Default)]
pub struct OffsetTable {
    offsets: Mutex<HashMap<MessageQueue, (i64, bool)>>,
}

impl OffsetTable {
    /// Sets the offset of `queue` (never moving it backwards unless `force`).
    pub fn update(&self, queue: &MessageQueue, offset: i64, force: bool) {
        let mut map = lock(&self.offsets);
        let entry = map.entry(queue.clone()).or_insert((offset, true));
        if force || offset > entry.0 {
            *entry = (offset, true);
        }
    }

    pub fn get(&self, queue: &MessageQueue) -> Option<i64> {
        lock(&self.offsets).get(queue).map(|(o, _)| *o)
    }

    pub fn remove(&self, queue: &MessageQueue) -> Option<i64> {
        lock(&self.offsets).remove(queue).map(|(o, _)| o)
    }

    /// The offsets changed since the last call (and marks them clean).
    pub fn take_dirty(&self) -> Vec<(MessageQueue, i64)> {
        lock(&self.offsets)
            .iter_mut()
            .filter(|(_, (_, dirty))| *dirty)
            .map(|(q, (o, dirty))| {
                *dirty = false;
                (q.clone(), *o)
            })
            .collect()
    }

    pub fn all(&self) -> Vec<(MessageQueue, i64)> {
        lock(&self.offsets)
            .iter()
            .map(|(q, (o, _))| (q.clone(), *o))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_offset_is_the_oldest_unfinished_message() {
        let pq = ProcessQueue::new(10, &CancellationToken::new());
        assert_eq!(pq.consumed_offset(), 10);
        pq.put([(10, 5), (11, 5), (12, 5)], 13);
        assert_eq!(pq.backlog(), (3, 15));
        assert_eq!(pq.span(), 2);
        // Finishing out of order does not move past an unfinished message.
        assert_eq!(pq.remove([11, 12]), 10);
        assert_eq!(pq.remove([10]), 13);
        assert_eq!(pq.backlog(), (0, 0));
        pq.skip_to(20);
        assert_eq!(pq.consumed_offset(), 20);
        // Removing twice is harmless.
        assert_eq!(pq.remove([10]), 20);
    }

    #[test]
    fn offset_table_tracks_dirty_entries_and_never_goes_back() {
        let table = OffsetTable::default();
        let q = MessageQueue::new("T", "b", 0);
        table.update(&q, 5, false);
        table.update(&q, 3, false);
        assert_eq!(table.get(&q), Some(5));
        assert_eq!(table.take_dirty(), vec![(q.clone(), 5)]);
        assert!(table.take_dirty().is_empty());
        table.update(&q, 2, true);
        assert_eq!(table.take_dirty(), vec![(q.clone(), 2)]);
        assert_eq!(table.remove(&q), Some(2));
        assert!(table.all().is_empty());
    }
}
