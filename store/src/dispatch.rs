//! Dispatch (RocketMQ's ReputMessageService): one thread tails the CommitLog from the reput offset, hands every
//! record to the dispatchers (ConsumeQueue builder, IndexFile builder), and wakes the long-polling waiters of the
//! queues that advanced. Recovery re-runs it from an earlier offset to rebuild what a crash lost.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use sluice_remoting::message::{check_record, RecordCheck, RecordView};
use tokio::sync::Notify;

use crate::commit_log::CommitLog;
use crate::error::{Result, StoreError};

/// Something built from every CommitLog record.
pub trait Dispatcher: Send + Sync {
    /// Called once per record, in CommitLog order, from the dispatch thread. Must tolerate seeing a record
    /// again after a restart (dedup by physical offset).
    fn dispatch(&self, record: &RecordView<'_>, physical_offset: u64) -> Result<()>;
}

/// Per-queue wake-ups for long polling.
#[derive(Default)]
pub struct ArrivalNotifier {
    queues: Mutex<HashMap<String, HashMap<i32, Arc<Notify>>>>,
    /// Number of futures currently waiting: when 0, dispatch skips notification entirely.
    waiting: AtomicUsize,
}

impl ArrivalNotifier {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, HashMap<i32, Arc<Notify>>>> {
        self.queues.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The `Notify` of a queue (created on first use).
    pub fn handle(&self, topic: &str, queue_id: i32) -> Arc<Notify> {
        let mut queues = self.lock();
        if let Some(n) = queues.get(topic).and_then(|q| q.get(&queue_id)) {
            return n.clone();
        }
        let n = Arc::new(Notify::new());
        queues
            .entry(topic.to_string())
            .or_default()
            .insert(queue_id, n.clone());
        n
    }

    /// Marks one more waiter; the guard unmarks it. The caller must check the queue's max offset only after this
    /// (the fence pairs with the one in dispatch: either dispatch sees the waiter, or the waiter sees the new max).
    pub fn enter(self: &Arc<Self>) -> WaitingGuard {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        std::sync::atomic::fence(Ordering::SeqCst);
        WaitingGuard(self.clone())
    }

    fn has_waiters(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) > 0
    }

    fn notify(&self, topic: &str, queue_id: i32) {
        if let Some(n) = self.lock().get(topic).and_then(|q| q.get(&queue_id)) {
            n.notify_waiters();
        }
    }

    /// Wakes everything (shutdown).
    pub fn notify_all(&self) {
        for q in self.lock().values() {
            for n in q.values() {
                n.notify_waiters();
            }
        }
    }
}

/// Keeps [`ArrivalNotifier`]'s waiter count up while a long poll waits.
pub struct WaitingGuard(Arc<ArrivalNotifier>);

impl Drop for WaitingGuard {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How far dispatch may read: the CommitLog max offset (ASYNC_FLUSH) or its flushed offset (SYNC_FLUSH, so a
/// consumer never sees a message that a crash could still lose).
pub type DispatchLimit = Box<dyn Fn(&CommitLog) -> u64 + Send + Sync>;

struct Shared {
    reput_offset: AtomicU64,
    stop: AtomicBool,
    sleeping: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
    /// Set when the dispatcher caught up with its limit; `wait_caught_up` waits on it.
    caught_up: Condvar,
    /// Threads in `wait_caught_up`: the dispatcher signals `caught_up` only when there are some (a condvar signal
    /// is a syscall even with nobody waiting).
    caught_up_waiters: AtomicUsize,
}

/// The dispatch thread.
pub struct DispatchService {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    commit_log: Arc<CommitLog>,
    limit: Arc<DispatchLimit>,
    notifier: Arc<ArrivalNotifier>,
}

impl DispatchService {
    /// Starts dispatching from `reput_offset`.
    pub fn start(
        commit_log: Arc<CommitLog>,
        reput_offset: u64,
        dispatchers: Vec<Arc<dyn Dispatcher>>,
        notifier: Arc<ArrivalNotifier>,
        limit: DispatchLimit,
    ) -> Result<Self> {
        let shared = Arc::new(Shared {
            reput_offset: AtomicU64::new(reput_offset),
            stop: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
            lock: Mutex::new(()),
            wake: Condvar::new(),
            caught_up: Condvar::new(),
            caught_up_waiters: AtomicUsize::new(0),
        });
        let limit = Arc::new(limit);
        let worker = Worker {
            retry: Mutex::new(None),
            shared: shared.clone(),
            commit_log: commit_log.clone(),
            dispatchers,
            notifier: notifier.clone(),
            limit: limit.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("store-dispatch".into())
            .spawn(move || worker.run())
            .map_err(|e| StoreError::io("starting the dispatch thread", e))?;
        Ok(DispatchService {
            shared,
            thread: Mutex::new(Some(thread)),
            commit_log,
            limit,
            notifier,
        })
    }

    /// CommitLog offset up to which every record has been dispatched.
    pub fn reput_offset(&self) -> u64 {
        self.shared.reput_offset.load(Ordering::Acquire)
    }

    /// Bytes appended (up to the limit) but not dispatched yet.
    pub fn behind_bytes(&self) -> u64 {
        (self.limit)(&self.commit_log).saturating_sub(self.reput_offset())
    }

    /// Wakes the thread if it sleeps (cheap when it does not: a shared read, no syscall).
    pub fn wake(&self) {
        if self.shared.sleeping.load(Ordering::Acquire)
            && self.shared.sleeping.swap(false, Ordering::AcqRel)
        {
            self.shared.wake.notify_one();
        }
    }

    /// What a put calls: wakes the thread only when a long poll waits for an arrival. Otherwise the thread's own
    /// 1 ms poll picks the record up (RocketMQ's reput loop never gets woken at all), which saves a futex wake and
    /// a context switch per put when messages arrive faster than one per millisecond.
    pub fn wake_for_waiters(&self) {
        if self.notifier.has_waiters() {
            self.wake();
        }
    }

    /// Blocks until everything up to the current limit is dispatched, or `timeout` passes. Start-up uses it (not on
    /// an async runtime thread).
    pub fn wait_caught_up(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        self.shared.caught_up_waiters.fetch_add(1, Ordering::SeqCst);
        let caught_up = self.wait_caught_up_inner(deadline);
        self.shared.caught_up_waiters.fetch_sub(1, Ordering::SeqCst);
        caught_up
    }

    fn wait_caught_up_inner(&self, deadline: std::time::Instant) -> bool {
        let mut guard = self.shared.lock.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if self.behind_bytes() == 0 {
                return true;
            }
            let now = std::time::Instant::now();
            if now >= deadline || self.shared.stop.load(Ordering::Acquire) {
                return false;
            }
            self.wake();
            guard = self
                .shared
                .caught_up
                .wait_timeout(guard, (deadline - now).min(Duration::from_millis(5)))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Stops the thread. Idempotent.
    pub fn shutdown(&self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.wake.notify_all();
        let handle = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

impl Drop for DispatchService {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct Worker {
    /// The record being retried and how many tries it had.
    retry: Mutex<Option<(u64, u32)>>,
    shared: Arc<Shared>,
    commit_log: Arc<CommitLog>,
    dispatchers: Vec<Arc<dyn Dispatcher>>,
    notifier: Arc<ArrivalNotifier>,
    limit: Arc<DispatchLimit>,
}

impl Worker {
    fn run(self) {
        while !self.shared.stop.load(Ordering::Acquire) {
            if !self.dispatch_available() {
                self.idle();
            }
        }
    }

    fn idle(&self) {
        let guard = self.shared.lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.shared.caught_up_waiters.load(Ordering::SeqCst) > 0 {
            self.shared.caught_up.notify_all();
        }
        self.shared.sleeping.store(true, Ordering::Release);
        // The 1 ms bound covers a wake-up racing with going to sleep (RocketMQ's reput loop sleeps 1 ms too).
        let _ = self
            .shared
            .wake
            .wait_timeout(guard, Duration::from_millis(1))
            .unwrap_or_else(|p| p.into_inner());
        self.shared.sleeping.store(false, Ordering::Release);
    }

    /// Hands one record to every dispatcher. A failure (a full disk while creating a queue file...) is retried
    /// after a pause, like RocketMQ's 30 tries one second apart; after `MAX_TRIES` the record is skipped with an
    /// error so one bad record cannot stall every queue forever. Returns false when the caller should retry later.
    fn dispatch_one(&self, view: &RecordView<'_>, phys: u64) -> bool {
        const MAX_TRIES: u32 = 30;
        let mut failed = None;
        for d in &self.dispatchers {
            if let Err(e) = d.dispatch(view, phys) {
                failed = Some(e);
            }
        }
        let mut retry = self.retry.lock().unwrap_or_else(|p| p.into_inner());
        match failed {
            None => {
                *retry = None;
                true
            }
            Some(e @ StoreError::InvalidOffset(_)) => {
                // A logical problem (a unit that would leave a gap in its queue...): retrying cannot fix it.
                tracing::error!(error = %e, offset = phys, "record cannot be dispatched; skipped");
                *retry = None;
                true
            }
            Some(e) => {
                let tries = match *retry {
                    Some((at, n)) if at == phys => n + 1,
                    _ => 1,
                };
                if tries >= MAX_TRIES {
                    tracing::error!(error = %e, offset = phys, tries, "dispatch keeps failing; skipping the record");
                    *retry = None;
                    return true;
                }
                tracing::warn!(error = %e, offset = phys, tries, "dispatch failed; retrying");
                *retry = Some((phys, tries));
                drop(retry);
                std::thread::sleep(Duration::from_millis(100));
                false
            }
        }
    }

    /// Dispatches what is readable in the segment at the reput offset. Returns false when there was nothing.
    fn dispatch_available(&self) -> bool {
        let offset = self.shared.reput_offset.load(Ordering::Acquire);
        let limit = (self.limit)(&self.commit_log);
        if offset >= limit {
            return false;
        }
        if offset < self.commit_log.min_offset() {
            // Retention removed what we had not dispatched (should not happen): skip forward.
            let min = self.commit_log.min_offset();
            tracing::warn!(
                offset,
                min,
                "dispatch offset below the CommitLog min offset; skipping ahead"
            );
            self.shared.reput_offset.store(min, Ordering::Release);
            return true;
        }
        let Some(mut buf) = self.commit_log.log.read_to_segment_end(offset) else {
            return false;
        };
        buf.truncate((limit - offset) as usize);
        let notify = self.notifier.has_waiters();
        let mut touched: Vec<(String, i32)> = Vec::new();
        let mut pos = 0usize;
        let mut progressed = false;
        while pos < buf.len() {
            match check_record(&buf[pos..], false) {
                RecordCheck::Message(view) => {
                    let phys = offset + pos as u64;
                    if !self.dispatch_one(&view, phys) {
                        // Retry later from this record (dispatchers dedup what already succeeded).
                        break;
                    }
                    if notify
                        && !touched
                            .iter()
                            .any(|(t, q)| t == view.topic() && *q == view.queue_id())
                    {
                        touched.push((view.topic().to_string(), view.queue_id()));
                    }
                    pos += view.total_size();
                    self.shared
                        .reput_offset
                        .store(offset + pos as u64, Ordering::Release);
                    progressed = true;
                }
                RecordCheck::Blank { .. } => {
                    let next = self.commit_log.roll_next_segment(offset + pos as u64);
                    self.shared.reput_offset.store(next, Ordering::Release);
                    progressed = true;
                    break;
                }
                RecordCheck::End | RecordCheck::Incomplete { .. } => break,
                RecordCheck::Corrupt { reason } => {
                    tracing::error!(offset = offset + pos as u64, %reason, "corrupt record at the dispatch offset; waiting");
                    std::thread::sleep(Duration::from_millis(100));
                    break;
                }
            }
        }
        // Pairs with the fence in `ArrivalNotifier::enter`: a waiter that arrived during this batch may have read
        // the old max offset, so it must be woken even though its queue was not tracked.
        std::sync::atomic::fence(Ordering::SeqCst);
        if notify {
            for (topic, queue_id) in &touched {
                self.notifier.notify(topic, *queue_id);
            }
        } else if progressed && self.notifier.has_waiters() {
            self.notifier.notify_all();
        }
        progressed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::OsFs;
    use crate::mapped_file_queue::MappedFileQueue;
    use bytes::Bytes;
    use sluice_remoting::message::MessageRecord;
    use std::sync::atomic::AtomicU32;

    /// Records what it saw; fails the first `fail_first` calls.
    #[derive(Default)]
    struct Recorder {
        seen: Mutex<Vec<(u64, i64)>>,
        fail_first: AtomicU32,
    }

    impl Dispatcher for Recorder {
        fn dispatch(&self, record: &RecordView<'_>, physical_offset: u64) -> Result<()> {
            if self
                .fail_first
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(StoreError::DiskFull("injected".into()));
            }
            let mut seen = self.seen.lock().unwrap();
            if !seen.iter().any(|(p, _)| *p == physical_offset) {
                seen.push((physical_offset, record.queue_offset()));
            }
            Ok(())
        }
    }

    fn append(cl: &CommitLog, n: u8) -> Vec<u64> {
        (0..n)
            .map(|i| {
                let r = MessageRecord {
                    topic: "D".into(),
                    body: Bytes::from(vec![i; 150]),
                    ..MessageRecord::default()
                };
                cl.append(&r.to_bytes(), 1, "D", 0, 0)
                    .unwrap()
                    .physical_offset
            })
            .collect()
    }

    #[test]
    fn dispatches_in_order_across_blanks_and_retries_failures() {
        let dir = tempfile::tempdir().unwrap();
        let cl = Arc::new(CommitLog::new(Arc::new(
            MappedFileQueue::open(dir.path(), 1024, Arc::new(OsFs), false).unwrap(),
        )));
        let offsets = append(&cl, 20);
        let recorder = Arc::new(Recorder {
            fail_first: AtomicU32::new(2),
            ..Default::default()
        });
        let svc = DispatchService::start(
            cl.clone(),
            0,
            vec![recorder.clone()],
            Arc::new(ArrivalNotifier::default()),
            Box::new(|cl: &CommitLog| cl.max_offset()),
        )
        .unwrap();
        assert!(svc.wait_caught_up(Duration::from_secs(20)));
        let more = append(&cl, 5);
        assert!(svc.wait_caught_up(Duration::from_secs(20)));
        let seen = recorder.seen.lock().unwrap().clone();
        let want: Vec<(u64, i64)> = offsets
            .iter()
            .chain(more.iter())
            .enumerate()
            .map(|(i, &p)| (p, i as i64))
            .collect();
        assert_eq!(seen, want);
        assert_eq!(svc.reput_offset(), cl.max_offset());
        svc.shutdown();
    }

    #[test]
    fn the_limit_holds_dispatch_back() {
        let dir = tempfile::tempdir().unwrap();
        let cl = Arc::new(CommitLog::new(Arc::new(
            MappedFileQueue::open(dir.path(), 1 << 16, Arc::new(OsFs), false).unwrap(),
        )));
        let offsets = append(&cl, 4);
        let recorder = Arc::new(Recorder::default());
        let limit = offsets[2];
        let svc = DispatchService::start(
            cl.clone(),
            0,
            vec![recorder.clone()],
            Arc::new(ArrivalNotifier::default()),
            Box::new(move |_: &CommitLog| limit),
        )
        .unwrap();
        assert!(svc.wait_caught_up(Duration::from_secs(20)));
        assert_eq!(recorder.seen.lock().unwrap().len(), 2);
        assert_eq!(svc.reput_offset(), limit);
    }
}
