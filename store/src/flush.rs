//! Making the CommitLog durable, on a dedicated thread so no async runtime thread ever waits for fdatasync.
//!
//! - ASYNC_FLUSH: every `flushIntervalCommitLog` ms, flush when at least `flushCommitLogLeastPages` pages are
//!   dirty, and regardless of that every `flushCommitLogThoroughInterval` ms.
//! - SYNC_FLUSH (group commit): a put registers its record's end offset and a oneshot sender, then awaits the
//!   receiver. The flush thread takes every pending waiter at once, does one sync for all of them, and resolves each
//!   waiter whose end offset the flushed offset has passed. Waiters arriving during a sync form the next batch. The
//!   `syncFlushTimeout` deadline is enforced by the waiting future, not by the thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::config::{FlushDiskType, MessageStoreConfig};
use crate::error::{Result, StoreError};
use crate::mapped_file_queue::MappedFileQueue;

/// Called after each successful flush with the flushed offset and the store timestamp of a record known to be
/// below it (0 if none), so the checkpoint can record them.
pub type FlushedHook = Box<dyn Fn(u64, i64) + Send + Sync>;

/// A source of "store timestamp of the newest appended record" read before each flush.
pub type LastStoreTimestamp = Box<dyn Fn() -> i64 + Send + Sync>;

struct Waiter {
    end_offset: u64,
    done: oneshot::Sender<()>,
}

#[derive(Default)]
struct Pending {
    waiters: Vec<Waiter>,
    stop: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    stopped: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The CommitLog flush thread and the group-commit entry point.
pub struct FlushService {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    log: Arc<MappedFileQueue>,
    mode: FlushDiskType,
}

/// How a durability wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushOutcome {
    Flushed,
    TimedOut,
}

impl FlushService {
    /// Starts the flush thread for `log`.
    pub fn start(
        log: Arc<MappedFileQueue>,
        config: &MessageStoreConfig,
        last_store_timestamp: LastStoreTimestamp,
        on_flushed: FlushedHook,
    ) -> Result<Self> {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            stopped: AtomicBool::new(false),
        });
        let worker = FlushWorker {
            shared: shared.clone(),
            log: log.clone(),
            mode: config.flush_disk_type,
            interval: Duration::from_millis(config.flush_interval_commit_log.max(1)),
            least_pages: config.flush_commit_log_least_pages,
            thorough: Duration::from_millis(config.flush_commit_log_thorough_interval),
            last_store_timestamp,
            on_flushed,
        };
        let thread = std::thread::Builder::new()
            .name("store-flush-commitlog".into())
            .spawn(move || worker.run())
            .map_err(|e| StoreError::io("starting the CommitLog flush thread", e))?;
        Ok(FlushService {
            shared,
            thread: Mutex::new(Some(thread)),
            log,
            mode: config.flush_disk_type,
        })
    }

    pub fn mode(&self) -> FlushDiskType {
        self.mode
    }

    /// Waits (asynchronously) until the CommitLog is durable up to `end_offset`, or `timeout` passes. The record
    /// is stored either way; a timeout becomes `FlushDiskTimeout` for the producer.
    pub async fn wait_durable(&self, end_offset: u64, timeout: Duration) -> FlushOutcome {
        if self.log.flushed_offset() >= end_offset {
            return FlushOutcome::Flushed;
        }
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.shared.lock();
            if pending.stop {
                return FlushOutcome::TimedOut;
            }
            pending.waiters.push(Waiter {
                end_offset,
                done: tx,
            });
        }
        self.shared.wake.notify_one();
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(())) => FlushOutcome::Flushed,
            _ => FlushOutcome::TimedOut,
        }
    }

    /// Wakes the thread (ASYNC_FLUSH puts may call it; it is cheap).
    pub fn wake(&self) {
        self.shared.wake.notify_one();
    }

    /// Stops the thread after a last full flush. Idempotent.
    pub fn shutdown(&self) -> Result<()> {
        {
            let mut pending = self.shared.lock();
            pending.stop = true;
        }
        self.shared.wake.notify_all();
        let handle = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle {
            let _ = h.join();
        }
        self.shared.stopped.store(true, Ordering::SeqCst);
        // The thread did a final flush; one more makes an error visible to the caller.
        self.log.flush(0).map(|_| ())
    }

    /// Stops the thread without flushing (crash simulation in tests).
    pub fn halt(&self) {
        self.shared.lock().stop = true;
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.shared.wake.notify_all();
    }
}

impl Drop for FlushService {
    fn drop(&mut self) {
        if !self.shared.stopped.load(Ordering::SeqCst) {
            self.halt();
        }
        let handle = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

struct FlushWorker {
    shared: Arc<Shared>,
    log: Arc<MappedFileQueue>,
    mode: FlushDiskType,
    interval: Duration,
    least_pages: u32,
    thorough: Duration,
    last_store_timestamp: LastStoreTimestamp,
    on_flushed: FlushedHook,
}

impl FlushWorker {
    fn run(self) {
        match self.mode {
            FlushDiskType::AsyncFlush => self.run_periodic(),
            FlushDiskType::SyncFlush => self.run_group_commit(),
        }
    }

    fn flush(&self, least_pages: u32) -> Result<u64> {
        let ts = (self.last_store_timestamp)();
        let before = self.log.flushed_offset();
        let flushed = self.log.flush(least_pages)?;
        if flushed > before {
            (self.on_flushed)(flushed, ts);
        }
        Ok(flushed)
    }

    fn run_periodic(self) {
        let mut last_thorough = Instant::now();
        loop {
            {
                let pending = self.shared.lock();
                if pending.stop {
                    break;
                }
                let (pending, _) = self
                    .shared
                    .wake
                    .wait_timeout(pending, self.interval)
                    .unwrap_or_else(|p| p.into_inner());
                if pending.stop {
                    break;
                }
            }
            let mut least = self.least_pages;
            if last_thorough.elapsed() >= self.thorough {
                last_thorough = Instant::now();
                least = 0;
            }
            if let Err(e) = self.flush(least) {
                tracing::error!(error = %e, "CommitLog flush failed; retrying");
            }
            // Waiters are only registered in SYNC_FLUSH mode; resolve any anyway so nobody hangs.
            self.resolve_waiters();
        }
        self.final_flush();
    }

    fn resolve_waiters(&self) {
        let flushed = self.log.flushed_offset();
        let mut pending = self.shared.lock();
        pending.waiters.retain(|w| !w.done.is_closed());
        let (done, keep): (Vec<_>, Vec<_>) = pending
            .waiters
            .drain(..)
            .partition(|w| w.end_offset <= flushed);
        pending.waiters = keep;
        drop(pending);
        for w in done {
            let _ = w.done.send(());
        }
    }

    fn run_group_commit(self) {
        // Without waiters, still flush every 10 ms (as Apache's GroupCommitService does).
        let idle = Duration::from_millis(10);
        let mut batch: Vec<Waiter> = Vec::new();
        let mut last_batch = 0usize;
        let mut last_sync = Duration::ZERO;
        loop {
            {
                let mut pending = self.shared.lock();
                if pending.waiters.is_empty() && batch.is_empty() && !pending.stop {
                    pending = self
                        .shared
                        .wake
                        .wait_timeout(pending, idle)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
                if pending.stop {
                    batch.append(&mut pending.waiters);
                    drop(pending);
                    self.final_flush();
                    let flushed = self.log.flushed_offset();
                    for w in batch.drain(..) {
                        if w.end_offset <= flushed {
                            let _ = w.done.send(());
                        }
                    }
                    return;
                }
                batch.append(&mut pending.waiters);
                // Gather window: producers resolved by the previous sync are usually about to come back. Syncing
                // at once with a fraction of them makes the rest wait a whole extra sync, so wait (at most half
                // a sync's duration) until the batch is as large as the previous one.
                if !batch.is_empty() && batch.len() < last_batch {
                    let deadline = Instant::now() + (last_sync / 2).min(Duration::from_millis(2));
                    while batch.len() < last_batch && !pending.stop {
                        let now = Instant::now();
                        if now >= deadline {
                            break;
                        }
                        pending = self
                            .shared
                            .wake
                            .wait_timeout(pending, deadline - now)
                            .unwrap_or_else(|p| p.into_inner())
                            .0;
                        batch.append(&mut pending.waiters);
                    }
                }
            }
            last_batch = batch.len();
            // One sync for the whole batch: the leader is this thread.
            let sync_started = Instant::now();
            let result = self.flush(0);
            last_sync = sync_started.elapsed();
            let flushed = match result {
                Ok(f) => f,
                Err(e) => {
                    tracing::error!(error = %e, "CommitLog group commit failed; waiters will time out unless a retry succeeds");
                    std::thread::sleep(Duration::from_millis(1));
                    self.log.flushed_offset()
                }
            };
            batch.retain(|w| !w.done.is_closed());
            let mut i = 0;
            while i < batch.len() {
                if batch[i].end_offset <= flushed {
                    let w = batch.swap_remove(i);
                    let _ = w.done.send(());
                } else {
                    i += 1;
                }
            }
        }
    }

    fn final_flush(&self) {
        for attempt in 0..10 {
            match self.flush(0) {
                Ok(_) => return,
                Err(e) => tracing::error!(error = %e, attempt, "final CommitLog flush failed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::FaultyFs;
    use std::sync::atomic::AtomicU64;

    fn setup(
        mode: FlushDiskType,
    ) -> (
        tempfile::TempDir,
        Arc<FaultyFs>,
        Arc<MappedFileQueue>,
        FlushService,
        Arc<AtomicU64>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let fs = FaultyFs::new();
        let log = Arc::new(MappedFileQueue::open(dir.path(), 1 << 20, fs.clone(), false).unwrap());
        let config = MessageStoreConfig {
            flush_disk_type: mode,
            flush_interval_commit_log: 10,
            ..MessageStoreConfig::with_root(dir.path())
        };
        let seen = Arc::new(AtomicU64::new(0));
        let hook_seen = seen.clone();
        let svc = FlushService::start(
            log.clone(),
            &config,
            Box::new(|| 0),
            Box::new(move |off, _| hook_seen.store(off, Ordering::SeqCst)),
        )
        .unwrap();
        (dir, fs, log, svc, seen)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn group_commit_resolves_many_waiters_with_few_syncs() {
        let (_dir, fs, log, svc, seen) = setup(FlushDiskType::SyncFlush);
        let svc = Arc::new(svc);
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let end = log.append(&[7u8; 100]).unwrap() + 100;
            let svc = svc.clone();
            tasks.push(tokio::spawn(async move {
                svc.wait_durable(end, Duration::from_secs(30)).await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), FlushOutcome::Flushed);
        }
        assert!(log.flushed_offset() >= 6400);
        assert_eq!(seen.load(Ordering::SeqCst), log.flushed_offset());
        let syncs = fs.syncs.load(Ordering::Relaxed);
        assert!(
            syncs < 64,
            "group commit should batch: {syncs} syncs for 64 waiters"
        );
        svc.shutdown().unwrap();
    }

    #[tokio::test]
    async fn failing_sync_times_out_but_keeps_data() {
        let (_dir, fs, log, svc, _) = setup(FlushDiskType::SyncFlush);
        fs.fail_sync.store(true, Ordering::SeqCst);
        let end = log.append(&[1u8; 10]).unwrap() + 10;
        let out = svc.wait_durable(end, Duration::from_millis(50)).await;
        assert_eq!(out, FlushOutcome::TimedOut);
        assert_eq!(&log.read(0, 10).unwrap()[..], &[1u8; 10]);
        fs.fail_sync.store(false, Ordering::SeqCst);
        let out = svc.wait_durable(end, Duration::from_secs(30)).await;
        assert_eq!(out, FlushOutcome::Flushed);
        svc.shutdown().unwrap();
    }

    #[tokio::test]
    async fn async_flush_reaches_the_tail_and_shutdown_flushes_the_rest() {
        let (_dir, _fs, log, svc, _) = setup(FlushDiskType::AsyncFlush);
        log.append(&[1u8; 10]).unwrap();
        svc.shutdown().unwrap();
        assert_eq!(log.flushed_offset(), 10);
    }
}
