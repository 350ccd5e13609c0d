//! The store API the broker uses: open (recover and start the background threads), put, put_batch, shutdown.
//! Reads (get_messages, lookups, queries, long-poll waits) are in `message_store_read`.
//!
//! Threads: `store-allocator` (next CommitLog segment, pre-faulted), `store-flush-commitlog` (ASYNC periodic flush
//! or SYNC group commit), `store-dispatch` (ConsumeQueue and IndexFile building), `StoreFlushLogics` (ConsumeQueue
//! flush and checkpoint), `StoreCleanup` (retention). Async callers never block on any of them: a SYNC_FLUSH put
//! awaits a oneshot.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use sluice_remoting::message::{msgid, record_crc, MessageRecord};

use crate::checkpoint::{self, StoreCheckpoint, StoreLock};
use crate::cleanup::{CleanupConfig, CleanupService, PeriodicTask};
use crate::commit_log::{Appended, CommitLog};
use crate::config::{FlushDiskType, MessageStoreConfig};
use crate::consume_queue_store::ConsumeQueueStore;
use crate::dispatch::{ArrivalNotifier, DispatchService, Dispatcher};
use crate::error::{Result, StoreError};
use crate::flush::{FlushOutcome, FlushService};
use crate::fs::{OsFs, StoreFs};
use crate::index_service::{IndexConfig, IndexService};
use crate::mapped_file_queue::MappedFileQueue;
use crate::put_checks::{check_batch, check_message, msg_wants_wait};
pub use crate::put_result::{PutResult, PutStatus};
use crate::recovery::{self, CrcCheck, ScanOutcome, ScanStart};
use crate::store_dispatchers::{parse_delay_levels, ConsumeQueueBuilder, IndexBuilder};

/// How the last start went.
#[derive(Debug, Clone)]
pub struct RecoveryReport {
    /// The abort file was present: the previous run did not shut down cleanly.
    pub abnormal: bool,
    pub scan: ScanOutcome,
    /// Where dispatch resumed.
    pub reput_from: u64,
    pub elapsed: Duration,
}

/// Counters for `stats()`.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub puts: AtomicU64,
    pub put_bytes: AtomicU64,
    pub put_failures: AtomicU64,
    pub gets: AtomicU64,
    pub got_messages: AtomicU64,
}

/// The message store.
pub struct MessageStore {
    pub config: MessageStoreConfig,
    pub commit_log: Arc<CommitLog>,
    pub consume_queues: Arc<ConsumeQueueStore>,
    /// `None` when `messageIndexEnable` is false.
    pub index: Option<Arc<IndexService>>,
    pub checkpoint: Arc<StoreCheckpoint>,
    pub cleanup: Arc<CleanupService>,
    pub recovery: RecoveryReport,
    pub(crate) flush: FlushService,
    pub(crate) dispatch: DispatchService,
    pub(crate) notifier: Arc<ArrivalNotifier>,
    pub(crate) counters: Counters,
    background: Mutex<Vec<PeriodicTask>>,
    lock: Mutex<Option<StoreLock>>,
    shut_down: AtomicBool,
    /// A slave's store: puts are refused, only `append_replicated` writes.
    slave_mode: AtomicBool,
    /// Puts between their shutdown check and the end of their append; shutdown waits for them to finish so no
    /// record lands after the final flush.
    appending: AtomicUsize,
}

impl std::fmt::Debug for MessageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageStore")
            .field("root", &self.config.store_path_root_dir)
            .field("commit_log", &self.commit_log)
            .finish()
    }
}

fn io_err(context: &str) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |e| StoreError::io(context, e)
}

impl MessageStore {
    /// Opens the store with the real file system. Blocking (recovery, waiting for dispatch to catch up): call it
    /// before starting the runtime or from `spawn_blocking`.
    pub fn open(config: MessageStoreConfig) -> Result<Arc<MessageStore>> {
        Self::open_with_fs(config, Arc::new(OsFs))
    }

    /// Opens the store with an injected file system (failure-injection tests).
    pub fn open_with_fs(
        config: MessageStoreConfig,
        fs: Arc<dyn StoreFs>,
    ) -> Result<Arc<MessageStore>> {
        let started = Instant::now();
        config.validate()?;
        let root = config.store_path_root_dir.clone();
        let lock = StoreLock::acquire(&root).map_err(|e| {
            if e.kind() == std::io::ErrorKind::WouldBlock {
                StoreError::Locked(root.clone())
            } else {
                StoreError::io(format!("locking {}", root.display()), e)
            }
        })?;
        let abnormal = checkpoint::abort_file_exists(&root);
        let checkpoint = Arc::new(
            StoreCheckpoint::open(config.checkpoint_path())
                .map_err(io_err("opening the checkpoint"))?,
        );
        let log = Arc::new(MappedFileQueue::open_with(
            config.commit_log_dir(),
            config.mapped_file_size_commit_log,
            fs.clone(),
            true,
            config.write_through(),
        )?);
        let mut commit_log = CommitLog::new(log.clone());
        commit_log.seal_record_crc = config.enabled_append_prop_crc;
        let commit_log = Arc::new(commit_log);
        let consume_queues = Arc::new(ConsumeQueueStore::load(
            config.consume_queue_dir(),
            config.consume_queue_file_size(),
            fs.clone(),
        )?);
        consume_queues.recover_all()?;
        let index = if config.message_index_enable {
            let index_config = IndexConfig {
                hash_slot_num: config.max_hash_slot_num,
                index_num: config.max_index_num,
                max_msgs_num_batch: config.max_msgs_num_batch,
            };
            Some(Arc::new(
                IndexService::load(
                    config.index_dir(),
                    index_config,
                    checkpoint.clone(),
                    !abnormal,
                )
                .map_err(io_err("loading the index"))?,
            ))
        } else {
            None
        };

        // Recover the CommitLog, then cut the queues to match it.
        if log.segments().is_empty() {
            consume_queues.destroy_all()?;
            if let Some(index) = &index {
                index.destroy().map_err(io_err("deleting the index"))?;
            }
        }
        let start = if abnormal {
            ScanStart::Abnormal {
                min_timestamp: if config.message_index_enable && config.message_index_safe {
                    checkpoint.min_timestamp_index()
                } else {
                    checkpoint.min_timestamp()
                },
            }
        } else {
            ScanStart::Normal
        };
        // With no CommitLog at all this is a fresh store (or one whose log was removed on purpose): nothing to
        // hold the durable offset against.
        let durable = if log.segments().is_empty() {
            0
        } else {
            checkpoint
                .master_flushed_offset
                .load(Ordering::Acquire)
                .max(0) as u64
        };
        let crc = CrcCheck::from_config(config.check_crc_on_recover, config.force_verify_prop_crc);
        let scan = recovery::recover(&commit_log, start, crc, durable)?;
        consume_queues.truncate_dirty(scan.end_offset as i64)?;
        consume_queues.correct_min_offsets(commit_log.min_offset() as i64);
        let reput_from = if abnormal {
            scan.start_offset
        } else {
            let cq_max = consume_queues.max_physic_offset();
            if cq_max < 0 {
                commit_log.min_offset()
            } else {
                (cq_max as u64).clamp(commit_log.min_offset(), scan.end_offset)
            }
        };

        // Dispatch what the queues miss, before any put (queue offsets come from the queues).
        let last_dispatched = Arc::new(AtomicI64::new(
            checkpoint.logics_msg_timestamp.load(Ordering::Acquire),
        ));
        let mut dispatchers: Vec<Arc<dyn Dispatcher>> = vec![Arc::new(ConsumeQueueBuilder {
            queues: consume_queues.clone(),
            delay_levels: parse_delay_levels(&config.message_delay_level)?,
            last_dispatched_timestamp: last_dispatched.clone(),
        })];
        if let Some(index) = &index {
            dispatchers.push(Arc::new(IndexBuilder {
                index: index.clone(),
            }));
        }
        let notifier = Arc::new(ArrivalNotifier::default());
        let limit: crate::dispatch::DispatchLimit = match config.flush_disk_type {
            FlushDiskType::AsyncFlush => Box::new(|cl: &CommitLog| cl.max_offset()),
            FlushDiskType::SyncFlush => Box::new(|cl: &CommitLog| cl.flushed_offset()),
        };
        let dispatch = DispatchService::start(
            commit_log.clone(),
            reput_from,
            dispatchers,
            notifier.clone(),
            limit,
        )?;
        while !dispatch.wait_caught_up(Duration::from_secs(10)) {
            tracing::info!(
                behind = dispatch.behind_bytes(),
                "recovery: dispatch still catching up"
            );
        }
        for cq in consume_queues.all() {
            commit_log.set_next_queue_offset(
                &cq.topic,
                cq.queue_id,
                cq.max_offset_in_queue() as i64,
            );
        }

        let flush = {
            let ts_source = commit_log.clone();
            let cp = checkpoint.clone();
            FlushService::start(
                log.clone(),
                &config,
                Box::new(move || ts_source.last_store_timestamp()),
                Box::new(move |flushed, ts| {
                    cp.master_flushed_offset
                        .fetch_max(flushed as i64, Ordering::AcqRel);
                    if ts > 0 {
                        cp.physic_msg_timestamp.fetch_max(ts, Ordering::AcqRel);
                    }
                }),
            )?
        };
        // The flushed offset after recovery is durable by definition: record it before anything else happens.
        checkpoint
            .master_flushed_offset
            .store(commit_log.flushed_offset() as i64, Ordering::Release);
        if scan.last_store_timestamp > 0 {
            checkpoint
                .physic_msg_timestamp
                .fetch_max(scan.last_store_timestamp, Ordering::AcqRel);
        }
        checkpoint
            .flush()
            .map_err(io_err("writing the checkpoint"))?;

        let cleanup = Arc::new(CleanupService::new(CleanupConfig::from(&config)));
        let mut background = Vec::new();
        background.push(spawn_logics_flush(
            &config,
            consume_queues.clone(),
            checkpoint.clone(),
            last_dispatched,
        )?);

        // The first put must not wait for a segment to be created and faulted in: do it here (open is blocking).
        log.prepare_next_segment();
        if let Err(e) = log.warm_tail() {
            // Not fatal: reads work without a tail, and the first put retries (and reports) the creation.
            tracing::error!(error = %e, "cannot prepare the CommitLog tail segment; puts will fail until this is fixed");
        }
        checkpoint::create_abort_file(&root).map_err(io_err("creating the abort file"))?;
        let store = Arc::new(MessageStore {
            config,
            commit_log,
            consume_queues,
            index,
            checkpoint,
            cleanup,
            recovery: RecoveryReport {
                abnormal,
                scan,
                reput_from,
                elapsed: started.elapsed(),
            },
            flush,
            dispatch,
            notifier,
            counters: Counters::default(),
            background: Mutex::new(Vec::new()),
            lock: Mutex::new(Some(lock)),
            shut_down: AtomicBool::new(false),
            slave_mode: AtomicBool::new(false),
            appending: AtomicUsize::new(0),
        });
        // Retention holds only a weak reference so dropping the store is not prevented by its own thread.
        let weak = Arc::downgrade(&store);
        let clean_interval = Duration::from_millis(store.config.clean_resource_interval.max(100));
        let task = PeriodicTask::spawn(
            "StoreCleanup",
            Duration::from_secs(60),
            clean_interval,
            move || {
                if let Some(s) = weak.upgrade() {
                    s.run_cleanup_once();
                }
            },
        )
        .map_err(io_err("starting the retention thread"))?;
        background.push(task);
        *store.background.lock().unwrap_or_else(|p| p.into_inner()) = background;
        tracing::info!(
            abnormal = store.recovery.abnormal,
            end = store.recovery.scan.end_offset,
            elapsed_ms = store.recovery.elapsed.as_millis() as u64,
            "store opened"
        );
        Ok(store)
    }

    /// One retention run (the background thread calls it every `cleanResourceInterval`).
    pub fn run_cleanup_once(&self) {
        if let Err(e) = self.cleanup.run_once(
            &self.commit_log.log,
            &self.consume_queues,
            self.index.as_deref(),
        ) {
            tracing::error!(error = %e, "retention run failed");
        }
    }

    /// Registers an append in progress (see `appending`). SeqCst on both sides: either shutdown sees the count, or
    /// the put sees the flag.
    fn begin_append(&self) -> Result<AppendGuard<'_>> {
        self.appending.fetch_add(1, Ordering::SeqCst);
        if self.shut_down.load(Ordering::SeqCst) {
            self.appending.fetch_sub(1, Ordering::SeqCst);
            return Err(StoreError::ShutDown);
        }
        Ok(AppendGuard(&self.appending))
    }

    fn check_writable(&self) -> Result<()> {
        if self.shut_down.load(Ordering::Acquire) {
            return Err(StoreError::ShutDown);
        }
        self.cleanup.disk_state.check_writable()
    }

    /// Stores one message. The record's offsets and store time are assigned by the store; everything else is
    /// written as given. Under SYNC_FLUSH the future resolves once the record is durable (or `FlushDiskTimeout`).
    pub async fn put(&self, msg: &MessageRecord) -> PutResult {
        if self.config.enabled_append_prop_crc {
            // Rare configuration: pay for a copy of the properties to reserve the CRC placeholder.
            let mut owned = msg.clone();
            record_crc::reserve(&mut owned.properties);
            return self.put_prepared(&owned).await;
        }
        self.put_prepared(msg).await
    }

    async fn put_prepared(&self, msg: &MessageRecord) -> PutResult {
        if let Some(refused) = self.refuse_in_slave_mode() {
            return refused;
        }
        if let Err(e) = self
            .check_writable()
            .and_then(|_| check_message(&self.config, msg))
        {
            self.counters.put_failures.fetch_add(1, Ordering::Relaxed);
            return PutResult::from_error(&e);
        }
        let appended = self
            .begin_append()
            .and_then(|_guard| self.commit_log.append_record(msg));
        let wait = msg_wants_wait(&msg.properties);
        self.finish_put(appended, msg, 1, wait).await
    }

    /// Stores a batch: every message for the same topic and queue, none transactional or delayed. Queue offsets
    /// are consecutive and the batch lands in one CommitLog segment.
    pub async fn put_batch(&self, msgs: &[MessageRecord]) -> PutResult {
        if self.config.enabled_append_prop_crc {
            let owned: Vec<MessageRecord> = msgs
                .iter()
                .map(|m| {
                    let mut m = m.clone();
                    record_crc::reserve(&mut m.properties);
                    m
                })
                .collect();
            return self.put_batch_prepared(&owned).await;
        }
        self.put_batch_prepared(msgs).await
    }

    async fn put_batch_prepared(&self, msgs: &[MessageRecord]) -> PutResult {
        if let Some(refused) = self.refuse_in_slave_mode() {
            return refused;
        }
        let checked = self
            .check_writable()
            .and_then(|_| check_batch(msgs))
            .and_then(|_| msgs.iter().try_for_each(|m| check_message(&self.config, m)));
        if let Err(e) = checked {
            self.counters.put_failures.fetch_add(1, Ordering::Relaxed);
            return PutResult::from_error(&e);
        }
        let first = &msgs[0];
        let total: usize = msgs.iter().map(MessageRecord::encoded_len).sum();
        let mut buf = BytesMut::with_capacity(total);
        for m in msgs {
            m.encode(&mut buf);
        }
        let appended = self.begin_append().and_then(|_guard| {
            self.commit_log.append(
                &buf,
                msgs.len() as u32,
                &first.topic,
                first.queue_id,
                first.sysflag,
            )
        });
        let wait = msg_wants_wait(&first.properties);
        self.finish_put(appended, first, msgs.len() as u32, wait)
            .await
    }

    async fn finish_put(
        &self,
        appended: Result<Appended>,
        first: &MessageRecord,
        count: u32,
        wait: bool,
    ) -> PutResult {
        let appended = match appended {
            Ok(a) => a,
            Err(e) => {
                self.counters.put_failures.fetch_add(1, Ordering::Relaxed);
                if e.is_disk_full() {
                    tracing::error!(error = %e, "put refused");
                }
                return PutResult::from_error(&e);
            }
        };
        self.dispatch.wake_for_waiters();
        self.counters
            .puts
            .fetch_add(u64::from(count), Ordering::Relaxed);
        self.counters
            .put_bytes
            .fetch_add(appended.wrote_bytes, Ordering::Relaxed);
        let msg_id = self.msg_ids(first, &appended);
        let mut status = PutStatus::PutOk;
        if self.flush.mode() == FlushDiskType::SyncFlush && wait {
            let timeout = Duration::from_millis(self.config.sync_flush_timeout);
            if self
                .flush
                .wait_durable(appended.end_offset(), timeout)
                .await
                == FlushOutcome::TimedOut
            {
                status = PutStatus::FlushDiskTimeout;
            }
        }
        PutResult {
            status,
            physical_offset: appended.physical_offset,
            queue_offset: appended.queue_offset,
            msg_id,
            wrote_bytes: appended.wrote_bytes,
            msg_num: count,
            store_timestamp: appended.store_timestamp,
            remark: None,
        }
    }

    /// Offset message ids: store host + physical offset of each record.
    fn msg_ids(&self, first: &MessageRecord, appended: &Appended) -> String {
        if appended.count == 1 {
            return msgid::create_offset_msg_id(first.store_host, appended.physical_offset as i64);
        }
        let mut ids = String::new();
        let mut at = appended.physical_offset;
        let end = appended.end_offset();
        while at < end {
            let Some(head) = self.commit_log.log.read(at, 4) else {
                break;
            };
            let size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
            if !ids.is_empty() {
                ids.push(',');
            }
            ids.push_str(&msgid::create_offset_msg_id(first.store_host, at as i64));
            at += u64::from(size.max(1));
        }
        ids
    }

    /// Slave mode (replication): every put is refused with SERVICE_NOT_AVAILABLE, so nothing but the master's
    /// bytes (`append_replicated`) ever lands in a slave's CommitLog, whichever broker path tries to write.
    pub fn set_slave_mode(&self, on: bool) {
        self.slave_mode.store(on, Ordering::Release);
    }

    fn refuse_in_slave_mode(&self) -> Option<PutResult> {
        self.slave_mode.load(Ordering::Acquire).then(|| {
            self.counters.put_failures.fetch_add(1, Ordering::Relaxed);
            PutResult::failed(
                PutStatus::ServiceNotAvailable,
                "message store is slave mode, so putMessage is forbidden",
            )
        })
    }

    /// Replication: appends raw CommitLog bytes from a master at `offset` (must equal the max offset).
    pub fn append_replicated(&self, offset: u64, data: &[u8]) -> Result<()> {
        self.check_writable()?;
        let _guard = self.begin_append()?;
        self.commit_log.append_raw(offset, data)?;
        self.dispatch.wake();
        Ok(())
    }

    /// True once `shutdown` started.
    pub fn is_shut_down(&self) -> bool {
        self.shut_down.load(Ordering::Acquire)
    }

    /// Clean shutdown: refuse new puts, let dispatch catch up, flush CommitLog, queues, index and checkpoint,
    /// then delete the abort file (so the next start recovers normally) and release the directory lock.
    pub fn shutdown(&self) -> Result<()> {
        if self.shut_down.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.appending.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        for task in self
            .background
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter_mut()
        {
            task.stop();
        }
        self.flush.shutdown()?;
        let caught_up = self.dispatch.wait_caught_up(Duration::from_secs(30));
        self.dispatch.shutdown();
        self.notifier.notify_all();
        self.consume_queues.flush_all(0)?;
        if let Some(index) = &self.index {
            index.flush_all().map_err(io_err("flushing the index"))?;
        }
        self.checkpoint
            .master_flushed_offset
            .fetch_max(self.commit_log.flushed_offset() as i64, Ordering::AcqRel);
        let last = self.commit_log.last_store_timestamp();
        if last > 0 {
            self.checkpoint
                .physic_msg_timestamp
                .fetch_max(last, Ordering::AcqRel);
            self.checkpoint
                .logics_msg_timestamp
                .fetch_max(last, Ordering::AcqRel);
        }
        self.checkpoint
            .flush()
            .map_err(io_err("writing the checkpoint"))?;
        if caught_up {
            checkpoint::delete_abort_file(&self.config.store_path_root_dir)
                .map_err(io_err("deleting the abort file"))?;
        } else {
            tracing::warn!(
                "dispatch did not catch up; keeping the abort file so the next start re-dispatches"
            );
        }
        self.lock.lock().unwrap_or_else(|p| p.into_inner()).take();
        Ok(())
    }

    /// Stops every thread without flushing anything or deleting the abort file: what a crash leaves behind (minus
    /// the page cache loss). For tests.
    pub fn halt(&self) {
        self.shut_down.store(true, Ordering::Release);
        for task in self
            .background
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter_mut()
        {
            task.stop();
        }
        self.flush.halt();
        self.dispatch.shutdown();
        self.notifier.notify_all();
        self.lock.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

impl Drop for MessageStore {
    fn drop(&mut self) {
        if !self.shut_down.load(Ordering::Acquire) {
            if let Err(e) = self.shutdown() {
                tracing::error!(error = %e, "store shutdown on drop failed");
            }
        }
    }
}

/// Decrements the in-progress append count on drop.
struct AppendGuard<'a>(&'a AtomicUsize);

impl Drop for AppendGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// ConsumeQueue flushing (every `flushIntervalConsumeQueue`, fully every `flushConsumeQueueThoroughInterval`) and
/// checkpoint writing. logicsMsgTimestamp only advances after a full queue flush, so the checkpoint never claims
/// more than is on disk.
fn spawn_logics_flush(
    config: &MessageStoreConfig,
    queues: Arc<ConsumeQueueStore>,
    checkpoint: Arc<StoreCheckpoint>,
    last_dispatched: Arc<AtomicI64>,
) -> Result<PeriodicTask> {
    let interval = Duration::from_millis(config.flush_interval_consume_queue.max(1));
    let thorough = Duration::from_millis(config.flush_consume_queue_thorough_interval);
    let least = config.flush_consume_queue_least_pages;
    let mut last_thorough = Instant::now();
    PeriodicTask::spawn("StoreFlushLogics", interval, interval, move || {
        let full = last_thorough.elapsed() >= thorough;
        let ts = last_dispatched.load(Ordering::Acquire);
        match queues.flush_all(if full { 0 } else { least }) {
            Ok(()) if full => {
                last_thorough = Instant::now();
                checkpoint
                    .logics_msg_timestamp
                    .fetch_max(ts, Ordering::AcqRel);
            }
            Ok(()) => {}
            Err(e) => tracing::error!(error = %e, "ConsumeQueue flush failed"),
        }
        if let Err(e) = checkpoint.flush() {
            tracing::error!(error = %e, "checkpoint flush failed");
        }
    })
    .map_err(io_err("starting the ConsumeQueue flush thread"))
}
