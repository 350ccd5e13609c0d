//! [`TimerService`]: the tasks that move timer messages from `rmq_sys_wheel_timer` to their real
//! topic at their delivery time.
//!
//! - **enqueue** tails queue 0 of the timer topic from `enqueueOffset`, reads each record's
//!   TIMER_OUT_MS and appends a log entry linked into the wheel slot of that time — or, for a time
//!   more than `timerRollWindowSlot` slots ahead of the dequeue cursor, into the window's last
//!   slot, from where it rolls (is re-linked further on) when that slot comes; a time before the
//!   cursor goes into the cursor's slot (delivered at once).
//! - **dequeue** walks the slots in order. At the start of a slot it takes the slot's new entries
//!   (the chain from the newest back to the last one handled, at most [`BATCH_MAX`] at a time),
//!   sorts them by delivery time and re-puts each for REAL_TOPIC / REAL_QID no sooner than its
//!   exact time. It keeps watching the slot until the slot's period is over and nothing new came,
//!   then moves on. Progress within a slot is the newest log position handled.
//! - **checkpoint** every `timerFlushIntervalMs`: msync the log up to its end, then write
//!   `timercheck` (enqueue offset, dequeue slot + position, log end, all read under one lock),
//!   then delete log segments holding only delivered slots.
//!
//! Restart: the log is cut back to the checkpointed end and the wheel rebuilt from it; enqueue
//! resumes at the checkpointed offset (re-enqueueing what was not in the synced log), dequeue at
//! the checkpointed slot and position. A clean shutdown checkpoints after the last delivery, so
//! nothing is delivered twice. After a crash, deliveries made since the last checkpoint (at most
//! `timerFlushIntervalMs` plus one batch) may be made again: at-least-once, never lost.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sluice_remoting::message::{check_record, RecordCheck};
use sluice_remoting::message::{property, MessageRecord, Properties};
use sluice_store::PutStatus;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::{BrokerError, Result};
use crate::state::BrokerState;
use crate::timer::checkpoint::{TimerCheckpoint, TIMER_CHECK_FILE};
use crate::timer::log::{create_segment, segment_size, TimerEntry, TimerLog, ENTRY_SIZE};
use crate::timer::wheel::TimerWheel;
use crate::timer::TIMER_TOPIC;
use crate::topic_config::{now_ms, TRANS_HALF_TOPIC};

/// Most entries one dequeue batch holds in memory (a slot with more is taken in several batches).
pub const BATCH_MAX: usize = 32 * 1024;
/// Parallel delivery tasks for a large group of messages due at once.
const DELIVERY_LANES: usize = 2;
/// Messages due at once from which they are delivered in parallel (and per lane per round).
const LANE_GROUP: usize = 64;
/// ConsumeQueue units the enqueue task reads per round.
const UNITS_PER_BATCH: usize = 256;
/// Pause before retrying a failed put or an unreadable queue.
const RETRY_AFTER_FAILURE: Duration = Duration::from_millis(100);
/// Longest single sleep (wall-clock changes are noticed at least this often).
const MAX_SLEEP: Duration = Duration::from_secs(1);

/// Counters of a running timer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimerStats {
    /// Entries appended by the enqueue task since start.
    pub enqueued: u64,
    /// Messages put into their real topic since start.
    pub delivered: u64,
    /// Entries re-linked further on because their time was beyond the window.
    pub rolled: u64,
    /// Timer records that could not be delivered (no TIMER_OUT_MS, no real topic, refused).
    pub dropped: u64,
    /// Next timer-topic queue offset to enqueue.
    pub enqueue_offset: u64,
    /// Start of the slot being delivered.
    pub done_slot_ms: i64,
    /// Timer log bytes held (from the oldest kept segment to the end) and segment files mapped.
    pub log_bytes: u64,
    pub log_segments: usize,
}

/// The running timer of one (master) broker.
pub struct TimerService {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

struct Shared {
    state: Arc<BrokerState>,
    precision: i64,
    /// The roll window in ms: entries are linked at most this far beyond the dequeue cursor.
    window_ms: i64,
    flush_every: Duration,
    checkpoint_path: PathBuf,
    inner: Mutex<Inner>,
    /// Enqueue → dequeue: an entry landed in the slot being delivered.
    wake: Notify,
    stop: CancellationToken,
    enqueued: AtomicU64,
    delivered: AtomicU64,
    rolled: AtomicU64,
    dropped: AtomicU64,
}

struct Inner {
    log: TimerLog,
    wheel: TimerWheel,
    enqueue_offset: u64,
    /// The slot being delivered; every earlier slot is done.
    done_ms: i64,
    /// Within `done_ms`: entries at positions <= this are delivered (−1: none).
    done_up_to: i64,
    /// The log is msynced up to here.
    synced_end: u64,
}

/// What the dequeue task takes from the slot being delivered.
enum Take {
    /// New entries, oldest-first in log order, and the newest position among them.
    Batch(Vec<TimerEntry>, i64),
    /// Nothing new and the slot's period is over: moved to the next slot.
    Advanced,
    /// Nothing new yet; the slot's period lasts until this time.
    Wait(i64),
    /// The cursor's slot has not begun; it does at this time.
    NotYet(i64),
}

/// An entry in the delivery heap (ordered by position as a tie-break; positions are unique).
#[derive(Clone, Copy, Debug)]
struct Pending(TimerEntry);

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Pending {}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.0.phy_offset, self.0.prev).cmp(&(other.0.phy_offset, other.0.prev))
    }
}

/// Outcome of one delivery.
enum Handled {
    Delivered,
    Dropped,
    Failed,
}

fn floor_to(ms: i64, precision: i64) -> i64 {
    ms - ms.rem_euclid(precision)
}

impl Inner {
    /// The slot an entry due at `deliver_ms` is linked into now.
    fn target_slot(&self, deliver_ms: i64, precision: i64, window_ms: i64) -> i64 {
        floor_to(deliver_ms, precision).clamp(self.done_ms, self.done_ms + window_ms)
    }

    /// Appends an entry due at `deliver_ms` and links it; `None` when a log segment is missing.
    fn link(
        &mut self,
        deliver_ms: i64,
        phy_offset: i64,
        size: i32,
        precision: i64,
        window_ms: i64,
    ) -> Option<i64> {
        let slot_ms = self.target_slot(deliver_ms, precision, window_ms);
        let prev = self.wheel.get(slot_ms).map(|s| s.last).unwrap_or(-1);
        let pos = self.log.append(&TimerEntry {
            prev,
            slot_ms,
            deliver_ms,
            phy_offset,
            size,
        })?;
        self.wheel.link(slot_ms, pos);
        Some(slot_ms)
    }

    /// Takes the entries of the cursor's slot after `done_up_to`, at most [`BATCH_MAX`] (the
    /// oldest ones), or moves the cursor on when there are none and the slot is over.
    fn take(&mut self, now: i64, precision: i64) -> Take {
        let slot_ms = self.done_ms;
        if now < slot_ms {
            return Take::NotYet(slot_ms);
        }
        let (batch, newest) = self.collect(self.done_up_to, BATCH_MAX);
        if batch.is_empty() {
            if now >= slot_ms + precision {
                self.done_ms = slot_ms + precision;
                self.done_up_to = -1;
                return Take::Advanced;
            }
            return Take::Wait(slot_ms + precision);
        }
        Take::Batch(batch, newest)
    }

    /// The entries of the cursor's slot at positions after `after`, at most `max` (the oldest
    /// ones), oldest first, and the newest position among them (−1 when none).
    fn collect(&self, after: i64, max: usize) -> (Vec<TimerEntry>, i64) {
        let slot_ms = self.done_ms;
        // Walked newest → oldest; when the chain is longer than `max`, the newest are dropped
        // (taken later), so that what is handed out is a contiguous oldest run.
        let mut batch: VecDeque<(i64, TimerEntry)> = VecDeque::new();
        if let Some(slot) = self.wheel.get(slot_ms) {
            let mut pos = slot.last;
            let mut walked = 0i64;
            while pos > after && walked <= slot.count as i64 && max > 0 {
                walked += 1;
                let Some(entry) = self.log.read(pos as u64) else {
                    tracing::error!(
                        pos,
                        slot_ms,
                        "timer log entry unreadable; the rest of its slot is skipped"
                    );
                    break;
                };
                batch.push_back((pos, entry));
                if batch.len() > max {
                    batch.pop_front();
                }
                pos = entry.prev;
            }
        }
        let newest = batch.front().map(|(pos, _)| *pos).unwrap_or(-1);
        (batch.into_iter().rev().map(|(_, e)| e).collect(), newest)
    }

    fn checkpoint(&self) -> TimerCheckpoint {
        TimerCheckpoint {
            enqueue_offset: self.enqueue_offset,
            done_slot_ms: self.done_ms,
            done_up_to_pos: self.done_up_to,
            log_end: self.log.end(),
            precision_ms: 0,
        }
    }
}

impl TimerService {
    /// Loads `timercheck`, opens the log (cut to the checkpoint) and rebuilds the wheel from it,
    /// then starts the enqueue, dequeue and checkpoint tasks.
    pub async fn start(state: Arc<BrokerState>) -> Result<TimerService> {
        let config = state.config();
        let precision = config.timer_precision_ms as i64;
        if !(1..=60_000).contains(&precision) {
            return Err(BrokerError::Config(format!(
                "timerPrecisionMs = {precision}: expected 1 to 60000"
            )));
        }
        let window_slots = config.timer_roll_window_slot.clamp(2, 10_000_000) as i64;
        let window_ms = window_slots * precision;
        let root = state.store.config.store_path_root_dir.clone();
        let checkpoint_path = config.config_dir().join(TIMER_CHECK_FILE);
        let seg_size = segment_size(config.mapped_file_size_timer_log);
        let (min, max) = (
            state.store.min_offset(TIMER_TOPIC, 0),
            state.store.max_offset(TIMER_TOPIC, 0),
        );
        let ck_path = checkpoint_path.clone();
        let inner = tokio::task::spawn_blocking(move || -> Result<Inner> {
            let saved =
                TimerCheckpoint::load(&ck_path).map_err(|problem| BrokerError::MetadataFile {
                    path: ck_path.display().to_string(),
                    problem,
                })?;
            let io = |what: &str, e: std::io::Error| {
                BrokerError::Config(format!("timer: cannot open the {what}: {e}"))
            };
            let log_end = saved
                .map(|c| c.log_end - c.log_end % ENTRY_SIZE)
                .unwrap_or(0);
            let log = TimerLog::open(&root.join("timerlog"), seg_size, log_end)
                .map_err(|e| io("timer log", e))?;
            let wheel = TimerWheel::open(
                &root.join("timerwheel"),
                (window_slots as u64 + 1) * 2,
                precision,
            )
            .map_err(|e| io("timer wheel", e))?;
            let (done_ms, done_up_to, enqueue_offset) = match saved {
                Some(c) => {
                    let done = floor_to(c.done_slot_ms, precision);
                    // A changed precision moves slots: redo the slot rather than skip part of it.
                    let up_to = if done == c.done_slot_ms && c.precision_ms == precision {
                        c.done_up_to_pos
                    } else {
                        -1
                    };
                    (done, up_to, c.enqueue_offset)
                }
                None => (floor_to(now_ms(), precision), -1, min),
            };
            let offset = enqueue_offset.clamp(min, max.max(min));
            if offset != enqueue_offset {
                tracing::warn!(
                    saved = enqueue_offset,
                    corrected = offset,
                    "timer enqueue offset outside its queue's range; corrected"
                );
            }
            let synced_end = log.end();
            let mut inner = Inner {
                log,
                wheel,
                enqueue_offset: offset,
                done_ms,
                done_up_to,
                synced_end,
            };
            let pending = rebuild(&mut inner, precision, window_ms);
            tracing::info!(
                pending,
                log_start = inner.log.start(),
                log_end = inner.log.end(),
                enqueue_offset = inner.enqueue_offset,
                done_slot_ms = inner.done_ms,
                "timer wheel rebuilt from the timer log"
            );
            Ok(inner)
        })
        .await
        .map_err(|e| BrokerError::Config(format!("timer start-up failed: {e}")))??;
        let shared = Arc::new(Shared {
            state,
            precision,
            window_ms,
            flush_every: Duration::from_millis(config.timer_flush_interval_ms.clamp(10, 60_000)),
            checkpoint_path,
            inner: Mutex::new(inner),
            wake: Notify::new(),
            stop: CancellationToken::new(),
            enqueued: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            rolled: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        });
        let tasks = vec![
            tokio::spawn(run_enqueue(shared.clone())),
            tokio::spawn(run_dequeue(shared.clone())),
            tokio::spawn(run_checkpoint(shared.clone())),
        ];
        tracing::info!(precision, window_slots, "timer started");
        Ok(TimerService { shared, tasks })
    }

    pub fn stats(&self) -> TimerStats {
        let inner = self.shared.lock();
        TimerStats {
            enqueued: self.shared.enqueued.load(Ordering::Relaxed),
            delivered: self.shared.delivered.load(Ordering::Relaxed),
            rolled: self.shared.rolled.load(Ordering::Relaxed),
            dropped: self.shared.dropped.load(Ordering::Relaxed),
            enqueue_offset: inner.enqueue_offset,
            done_slot_ms: inner.done_ms,
            log_bytes: inner.log.end() - inner.log.start(),
            log_segments: inner.log.segment_count(),
        }
    }

    /// Stops the tasks (a dequeue batch under way is finished) and writes a last checkpoint.
    pub async fn shutdown(mut self) -> Result<()> {
        self.shared.stop.cancel();
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        self.shared
            .checkpoint_now()
            .await
            .map_err(|e| BrokerError::MetadataFile {
                path: self.shared.checkpoint_path.display().to_string(),
                problem: e,
            })?;
        tracing::info!("timer stopped");
        Ok(())
    }
}

impl Drop for TimerService {
    fn drop(&mut self) {
        self.shared.stop.cancel();
    }
}

/// Re-links every log entry not yet delivered into the (empty) wheel; returns how many.
fn rebuild(inner: &mut Inner, precision: i64, window_ms: i64) -> u64 {
    let mut pending = 0;
    let (start, end) = (inner.log.start(), inner.log.end());
    let mut pos = start;
    while pos < end {
        let Some(e) = inner.log.read(pos) else {
            tracing::error!(
                pos,
                "timer log entry unreadable below the checkpoint; skipped"
            );
            pos += ENTRY_SIZE;
            continue;
        };
        let slot_ms = floor_to(e.slot_ms, precision);
        let delivered = slot_ms < inner.done_ms
            || (slot_ms == inner.done_ms && (pos as i64) <= inner.done_up_to);
        if delivered && slot_ms == e.slot_ms {
            inner.log.note_slot(pos, slot_ms);
        } else {
            // Undelivered entries keep their slot unless it moved (precision change, or a
            // slot left behind); the chain is rebuilt in log order, as it was written.
            let slot_ms = if delivered {
                slot_ms
            } else {
                slot_ms.clamp(inner.done_ms, inner.done_ms + window_ms)
            };
            let prev = if delivered {
                e.prev
            } else {
                pending += 1;
                inner.wheel.link(slot_ms, pos)
            };
            inner.log.relink(pos, prev, slot_ms);
        }
        pos += ENTRY_SIZE;
    }
    pending
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// msyncs the log, writes `timercheck`, then drops log segments holding only delivered slots.
    async fn checkpoint_now(self: &Arc<Self>) -> std::result::Result<(), String> {
        let (mut ck, plan) = {
            let inner = self.lock();
            let ck = inner.checkpoint();
            let plan = inner.log.flush_plan(inner.synced_end, ck.log_end);
            (ck, plan)
        };
        ck.precision_ms = self.precision;
        let path = self.checkpoint_path.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            for (seg, from, to) in plan {
                seg.flush(from, to)?;
            }
            ck.persist(&path)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot write the timer checkpoint: {e}"))?;
        let expired = {
            let mut inner = self.lock();
            inner.synced_end = inner.synced_end.max(ck.log_end);
            inner.log.take_expired(ck.done_slot_ms)
        };
        if !expired.is_empty() {
            let _ = tokio::task::spawn_blocking(move || {
                for path in expired {
                    match std::fs::remove_file(&path) {
                        Ok(()) => tracing::info!(file = %path.display(), "delivered timer log segment deleted"),
                        Err(e) => tracing::warn!(file = %path.display(), error = %e, "cannot delete a timer log segment"),
                    }
                }
            })
            .await;
        }
        Ok(())
    }

    /// Maps the log segment the next append needs (file creation off the async threads).
    async fn ensure_segment(&self) -> std::result::Result<(), String> {
        loop {
            let (start, dir, size) = {
                let inner = self.lock();
                match inner.log.missing_segment() {
                    None => return Ok(()),
                    Some(start) => (start, inner.log.dir().to_owned(), inner.log.segment_size()),
                }
            };
            let seg = tokio::task::spawn_blocking(move || create_segment(&dir, start, size))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("cannot create timer log segment {start}: {e}"))?;
            self.lock().log.install(seg);
        }
    }

    /// Enqueues what is new in the timer queue. `Ok(true)`: more may be there at once.
    async fn enqueue_some(&self) -> std::result::Result<bool, String> {
        let store = &self.state.store;
        let Some(cq) = store.consume_queues.get(TIMER_TOPIC, 0) else {
            return Ok(false);
        };
        let mut offset = self.lock().enqueue_offset;
        let (min, max) = (cq.min_offset_in_queue(), cq.max_offset_in_queue());
        if offset < min {
            tracing::warn!(
                offset,
                min,
                "timer enqueue offset below the queue's min; skipping to it"
            );
            offset = min;
            self.lock().enqueue_offset = min;
        }
        if offset >= max {
            return Ok(false);
        }
        let Some(units) = cq.units_from(offset, UNITS_PER_BATCH) else {
            let next = cq.roll_next_file(offset).min(max);
            if next > offset {
                self.lock().enqueue_offset = next;
                return Ok(true);
            }
            return Err(format!("timer queue unreadable at offset {offset}"));
        };
        for (at, unit) in units.iter() {
            if self.stop.is_cancelled() {
                return Ok(false);
            }
            if unit.is_pre_blank() || !unit.is_written() {
                self.lock().enqueue_offset = at + 1;
                continue;
            }
            let deliver_ms = store
                .commit_log
                .read(unit.phy_offset as u64, unit.size as u32)
                .and_then(|bytes| match check_record(&bytes, false) {
                    RecordCheck::Message(view) => view
                        .property(property::TIMER_OUT_MS)
                        .and_then(|v| v.trim().parse::<i64>().ok()),
                    _ => None,
                });
            let Some(deliver_ms) = deliver_ms else {
                tracing::warn!(
                    queue_offset = at,
                    phy_offset = unit.phy_offset,
                    "timer record missing or without a TIMER_OUT_MS time; skipped"
                );
                self.dropped.fetch_add(1, Ordering::Relaxed);
                self.lock().enqueue_offset = at + 1;
                continue;
            };
            self.ensure_segment().await?;
            let slot = {
                let mut inner = self.lock();
                let Some(slot) = inner.link(
                    deliver_ms,
                    unit.phy_offset,
                    unit.size,
                    self.precision,
                    self.window_ms,
                ) else {
                    // The segment filled up between ensure_segment and here (cannot happen with
                    // one enqueuer, but a roll may append too): go round again.
                    return Ok(true);
                };
                inner.enqueue_offset = at + 1;
                (slot == inner.done_ms).then_some(())
            };
            self.enqueued.fetch_add(1, Ordering::Relaxed);
            if slot.is_some() {
                self.wake.notify_one();
            }
        }
        Ok(true)
    }

    /// Delivers one batch of the cursor's slot, no entry before its time. Entries that land in
    /// the slot while the batch waits for a later entry's time join the batch (so that a late
    /// arrival due now is not held behind the rest of the slot); the slot's progress is recorded
    /// once everything taken is delivered.
    async fn deliver_batch(self: &Arc<Self>, entries: Vec<TimerEntry>, newest: i64) {
        let mut newest = newest;
        let mut heap: BinaryHeap<Reverse<(i64, Pending)>> = entries
            .into_iter()
            .map(|e| Reverse((e.deliver_ms, Pending(e))))
            .collect();
        let slot_end = self.lock().done_ms + self.precision;
        while let Some(Reverse((deliver_ms, Pending(e)))) = heap.peek().copied() {
            if deliver_ms >= slot_end {
                heap.pop();
                self.roll(&e).await;
                continue;
            }
            let now = now_ms();
            if deliver_ms > now {
                let sleep = Duration::from_millis((deliver_ms - now) as u64).min(MAX_SLEEP);
                let woken = tokio::select! {
                    _ = self.wake.notified() => true,
                    _ = tokio::time::sleep(sleep) => false,
                };
                if woken && !self.stop.is_cancelled() && heap.len() < BATCH_MAX {
                    let (more, last) = self.lock().collect(newest, BATCH_MAX - heap.len());
                    if last >= 0 {
                        newest = last;
                    }
                    heap.extend(
                        more.into_iter()
                            .map(|e| Reverse((e.deliver_ms, Pending(e)))),
                    );
                }
                continue;
            }
            // Everything due now goes out; a large group is spread over parallel lanes.
            let mut due = Vec::new();
            while let Some(Reverse((at, Pending(e)))) = heap.peek().copied() {
                if at > now || at >= slot_end || due.len() == LANE_GROUP * DELIVERY_LANES {
                    break;
                }
                heap.pop();
                due.push(e);
            }
            if !self.deliver_all(due).await {
                // Stopped while a put kept failing: this batch's progress is not recorded, so
                // it is redone after the restart.
                return;
            }
        }
        self.lock().done_up_to = newest;
    }

    /// Delivers `due` (all due now): in order on this task when few, else dealt round-robin to
    /// [`DELIVERY_LANES`] tasks (so that decoding and re-putting use every core). `false` when
    /// stopped while a put kept failing.
    async fn deliver_all(self: &Arc<Self>, due: Vec<TimerEntry>) -> bool {
        if due.len() < LANE_GROUP {
            for e in &due {
                if !self.deliver_one(e).await {
                    return false;
                }
            }
            return true;
        }
        let mut lanes: Vec<Vec<TimerEntry>> = vec![Vec::new(); DELIVERY_LANES];
        for (i, e) in due.into_iter().enumerate() {
            lanes[i % DELIVERY_LANES].push(e);
        }
        let tasks: Vec<JoinHandle<bool>> = lanes
            .into_iter()
            .map(|lane| {
                let shared = self.clone();
                tokio::spawn(async move {
                    for e in &lane {
                        if !shared.deliver_one(e).await {
                            return false;
                        }
                    }
                    true
                })
            })
            .collect();
        let mut all = true;
        for t in tasks {
            all &= t.await.unwrap_or(false);
        }
        all
    }

    /// Delivers `e`, retrying a failed put every 100 ms; `false` when stopped meanwhile.
    async fn deliver_one(&self, e: &TimerEntry) -> bool {
        loop {
            match self.deliver(e).await {
                Handled::Delivered => {
                    self.delivered.fetch_add(1, Ordering::Relaxed);
                    return true;
                }
                Handled::Dropped => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    return true;
                }
                Handled::Failed => {
                    if self.stop.is_cancelled() {
                        return false;
                    }
                    tokio::time::sleep(RETRY_AFTER_FAILURE).await;
                }
            }
        }
    }

    /// Links an entry that was beyond the window when it was linked further on.
    async fn roll(&self, e: &TimerEntry) {
        loop {
            let linked = self.lock().link(
                e.deliver_ms,
                e.phy_offset,
                e.size,
                self.precision,
                self.window_ms,
            );
            if linked.is_some() {
                self.rolled.fetch_add(1, Ordering::Relaxed);
                return;
            }
            if let Err(err) = self.ensure_segment().await {
                tracing::error!(error = %err, "cannot roll a timer entry; will retry");
                tokio::time::sleep(RETRY_AFTER_FAILURE).await;
            }
        }
    }

    /// Re-puts the record of `e` for its real topic and queue.
    async fn deliver(&self, e: &TimerEntry) -> Handled {
        let store = &self.state.store;
        let Some(bytes) = store.commit_log.read(e.phy_offset as u64, e.size as u32) else {
            tracing::warn!(
                phy_offset = e.phy_offset,
                "timer message no longer in the CommitLog; skipped"
            );
            return Handled::Dropped;
        };
        let record = match MessageRecord::decode(&bytes) {
            Ok((record, _)) => record,
            Err(err) => {
                tracing::error!(phy_offset = e.phy_offset, error = %err, "timer message unreadable; skipped");
                return Handled::Dropped;
            }
        };
        // The entry must still point at the timer record it was made for (after an OS crash under
        // ASYNC_FLUSH the CommitLog tail may have been rewritten with other messages).
        let out_ms = Properties::decode(&record.properties)
            .get(property::TIMER_OUT_MS)
            .and_then(|v| v.trim().parse::<i64>().ok());
        if record.topic != TIMER_TOPIC || out_ms != Some(e.deliver_ms) {
            tracing::error!(
                phy_offset = e.phy_offset,
                topic = %record.topic,
                "timer log entry does not match the CommitLog record at its offset; skipped"
            );
            return Handled::Dropped;
        }
        let msg = match to_real_destination(record, now_ms()) {
            Ok(msg) => msg,
            Err(why) => {
                tracing::warn!(phy_offset = e.phy_offset, "timer message dropped: {why}");
                return Handled::Dropped;
            }
        };
        let result = store.put(&msg).await;
        if result.status.is_stored() {
            Handled::Delivered
        } else if matches!(
            result.status,
            PutStatus::MessageIllegal | PutStatus::PropertiesSizeExceeded
        ) {
            tracing::error!(topic = %msg.topic, status = ?result.status, remark = ?result.remark, "timer message refused by the store; dropped");
            Handled::Dropped
        } else {
            tracing::warn!(topic = %msg.topic, status = ?result.status, remark = ?result.remark, "delivering a timer message failed; will retry");
            Handled::Failed
        }
    }
}

/// The message to put when a timer record is due (as Apache's `TimerMessageStore.convert`):
/// topic REAL_TOPIC and queue REAL_QID (both properties removed), TIMER_ENQUEUE_MS = the timer
/// record's store time, TIMER_DEQUEUE_MS = `now`, WAIT=false; body, flag, sysflag, born and store
/// hosts, born time, reconsume times and the other properties (TIMER_OUT_MS too, which keeps a
/// re-sent copy from being timed again) kept. `Err` says why it cannot be delivered.
pub fn to_real_destination(
    record: MessageRecord,
    now: i64,
) -> std::result::Result<MessageRecord, String> {
    let mut props = Properties::decode(&record.properties);
    let topic = props
        .remove(property::REAL_TOPIC)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "no REAL_TOPIC property".to_owned())?;
    if topic == TRANS_HALF_TOPIC {
        return Err(format!("its real topic is {TRANS_HALF_TOPIC}"));
    }
    let queue_id = props
        .remove(property::REAL_QID)
        .ok_or_else(|| "no REAL_QID property".to_owned())?;
    let queue_id: i32 = queue_id
        .trim()
        .parse()
        .ok()
        .filter(|q| *q >= 0)
        .ok_or_else(|| format!("REAL_QID `{queue_id}` is not a queue id"))?;
    props.insert(
        property::TIMER_ENQUEUE_MS,
        record.store_timestamp.to_string(),
    );
    props.insert(property::TIMER_DEQUEUE_MS, now.to_string());
    props.insert(property::WAIT, "false");
    Ok(MessageRecord {
        queue_id,
        flag: record.flag,
        sysflag: record.sysflag,
        born_timestamp: record.born_timestamp,
        born_host: record.born_host,
        store_host: record.store_host,
        reconsume_times: record.reconsume_times,
        body: record.body,
        topic,
        properties: props.encode(),
        ..Default::default()
    })
}

async fn run_enqueue(shared: Arc<Shared>) {
    while !shared.stop.is_cancelled() {
        let offset = shared.lock().enqueue_offset;
        let store = shared.state.store.clone();
        let outcome = shared.enqueue_some().await;
        let pause = async move {
            match outcome {
                Ok(true) => tokio::task::yield_now().await,
                Ok(false) => {
                    let _ =
                        tokio::time::timeout(MAX_SLEEP, store.wait_for_new(TIMER_TOPIC, 0, offset))
                            .await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "timer enqueue failed; will retry");
                    tokio::time::sleep(RETRY_AFTER_FAILURE).await;
                }
            }
        };
        tokio::select! {
            _ = shared.stop.cancelled() => return,
            _ = pause => {}
        }
    }
}

async fn run_dequeue(shared: Arc<Shared>) {
    let mut advanced = 0u32;
    while !shared.stop.is_cancelled() {
        let take = shared.lock().take(now_ms(), shared.precision);
        let wait_until = match take {
            Take::Batch(entries, newest) => {
                shared.deliver_batch(entries, newest).await;
                continue;
            }
            Take::Advanced => {
                // Catching up on past slots: yield now and then.
                advanced += 1;
                if advanced.is_multiple_of(1024) {
                    tokio::task::yield_now().await;
                }
                continue;
            }
            Take::Wait(until) | Take::NotYet(until) => until,
        };
        let now = now_ms();
        let sleep = Duration::from_millis((wait_until - now).max(0) as u64).min(MAX_SLEEP);
        tokio::select! {
            _ = shared.stop.cancelled() => return,
            _ = shared.wake.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
        }
    }
}

async fn run_checkpoint(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(shared.flush_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = shared.stop.cancelled() => return,
            _ = tick.tick() => {
                if let Err(e) = shared.checkpoint_now().await {
                    tracing::error!(error = %e, "timer checkpoint failed; will retry");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivered_copy_goes_to_the_real_queue_and_keeps_the_timer_mark() {
        let mut p = Properties::new();
        for (k, v) in [
            ("TAGS", "T"),
            ("TIMER_DELAY_SEC", "3"),
            ("TIMER_OUT_MS", "5000"),
            ("REAL_TOPIC", "Orders"),
            ("REAL_QID", "2"),
            ("UNIQ_KEY", "U"),
        ] {
            p.insert(k, v);
        }
        let rec = MessageRecord {
            topic: TIMER_TOPIC.into(),
            flag: 3,
            store_timestamp: 1234,
            body: bytes::Bytes::from_static(b"b"),
            properties: p.encode(),
            ..Default::default()
        };
        let msg = to_real_destination(rec, 9999).unwrap();
        assert_eq!(
            (msg.topic.as_str(), msg.queue_id, msg.flag),
            ("Orders", 2, 3)
        );
        let p = Properties::decode(&msg.properties);
        assert_eq!(p.get("REAL_TOPIC"), None);
        assert_eq!(p.get("TIMER_OUT_MS"), Some("5000"));
        assert_eq!(p.get("TIMER_ENQUEUE_MS"), Some("1234"));
        assert_eq!(p.get("TIMER_DEQUEUE_MS"), Some("9999"));
        assert_eq!(p.get("UNIQ_KEY"), Some("U"));
        assert_eq!(p.get("WAIT"), Some("false"));
    }

    #[test]
    fn take_hands_out_new_entries_in_order_and_advances_when_the_slot_is_over() {
        let dir = tempfile::tempdir().unwrap();
        let seg = segment_size(0);
        let mut inner = Inner {
            log: TimerLog::open(&dir.path().join("timerlog"), seg, 0).unwrap(),
            wheel: TimerWheel::open(&dir.path().join("timerwheel"), 100, 1000).unwrap(),
            enqueue_offset: 0,
            done_ms: 10_000,
            done_up_to: -1,
            synced_end: 0,
        };
        let s = create_segment(inner.log.dir(), 0, seg).unwrap();
        inner.log.install(s);
        // Past → cursor slot; within window → own slot; far → window's last slot.
        assert_eq!(inner.link(3_000, 1, 10, 1000, 50_000), Some(10_000));
        assert_eq!(inner.link(10_500, 2, 10, 1000, 50_000), Some(10_000));
        assert_eq!(inner.link(12_345, 3, 10, 1000, 50_000), Some(12_000));
        assert_eq!(inner.link(999_999, 4, 10, 1000, 50_000), Some(60_000));
        assert!(matches!(inner.take(9_000, 1000), Take::NotYet(10_000)));
        let Take::Batch(batch, newest) = inner.take(10_100, 1000) else {
            panic!("a batch")
        };
        assert_eq!(
            batch.iter().map(|e| e.phy_offset).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(newest, ENTRY_SIZE as i64);
        inner.done_up_to = newest;
        assert!(matches!(inner.take(10_200, 1000), Take::Wait(11_000)));
        // A late arrival for the running slot is handed out next.
        inner.link(10_900, 5, 10, 1000, 50_000);
        let Take::Batch(batch, _) = inner.take(10_300, 1000) else {
            panic!("the late entry")
        };
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].phy_offset, 5);
        inner.done_up_to = 4 * ENTRY_SIZE as i64;
        assert!(matches!(inner.take(11_000, 1000), Take::Advanced));
        assert_eq!(inner.done_ms, 11_000);
    }

    #[test]
    fn rebuild_restores_pending_chains_only() {
        let dir = tempfile::tempdir().unwrap();
        let seg = segment_size(0);
        let open = |end| Inner {
            log: TimerLog::open(&dir.path().join("timerlog"), seg, end).unwrap(),
            wheel: TimerWheel::open(&dir.path().join("timerwheel"), 100, 1000).unwrap(),
            enqueue_offset: 0,
            done_ms: 10_000,
            done_up_to: -1,
            synced_end: 0,
        };
        let mut inner = open(0);
        let s = create_segment(inner.log.dir(), 0, seg).unwrap();
        inner.log.install(s);
        for (t, phy) in [(10_100, 1), (10_200, 2), (11_100, 3), (11_200, 4)] {
            inner.link(t, phy, 10, 1000, 50_000).unwrap();
        }
        let end = inner.log.end();
        drop(inner);
        let mut inner = open(end);
        // Slot 10 s done up to its first entry; slot 11 s pending.
        inner.done_up_to = 0;
        assert_eq!(rebuild(&mut inner, 1000, 50_000), 3);
        let Take::Batch(batch, _) = inner.take(10_500, 1000) else {
            panic!("slot 10")
        };
        assert_eq!(
            batch.iter().map(|e| e.phy_offset).collect::<Vec<_>>(),
            vec![2]
        );
    }

    #[test]
    fn a_slot_longer_than_a_batch_is_taken_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let seg = segment_size(0);
        let mut inner = Inner {
            log: TimerLog::open(&dir.path().join("timerlog"), seg, 0).unwrap(),
            wheel: TimerWheel::open(&dir.path().join("timerwheel"), 100, 1000).unwrap(),
            enqueue_offset: 0,
            done_ms: 10_000,
            done_up_to: -1,
            synced_end: 0,
        };
        let n = BATCH_MAX + 10;
        for i in 0..n {
            if let Some(start) = inner.log.missing_segment() {
                let s = create_segment(inner.log.dir(), start, seg).unwrap();
                inner.log.install(s);
            }
            inner.link(10_000, i as i64, 1, 1000, 50_000).unwrap();
        }
        let Take::Batch(first, newest) = inner.take(10_001, 1000) else {
            panic!("batch 1")
        };
        assert_eq!(first.len(), BATCH_MAX);
        assert_eq!(first[0].phy_offset, 0);
        assert_eq!(first[BATCH_MAX - 1].phy_offset, BATCH_MAX as i64 - 1);
        assert_eq!(newest, (BATCH_MAX as i64 - 1) * ENTRY_SIZE as i64);
        inner.done_up_to = newest;
        let Take::Batch(rest, _) = inner.take(10_002, 1000) else {
            panic!("batch 2")
        };
        assert_eq!(
            rest.iter().map(|e| e.phy_offset).collect::<Vec<_>>(),
            (BATCH_MAX as i64..n as i64).collect::<Vec<_>>()
        );
    }
}
