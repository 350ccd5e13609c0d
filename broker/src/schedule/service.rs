//! [`ScheduleService`]: moves delayed messages from `SCHEDULE_TOPIC_XXXX` to their real topic
//! and queue when their delivery time comes (Apache's `ScheduleMessageService`).
//!
//! One tokio task per level walks the level's queue from its saved offset. The unit's tag slot
//! holds the delivery time (store time + level delay, written by the store's dispatch). A unit
//! not yet due makes the task sleep until exactly that time, so a message is never delivered
//! early and is late only by scheduling noise; a due unit's record is re-put for REAL_TOPIC /
//! REAL_QID and the level offset advances. A failed put is retried after 100 ms. Offsets go to
//! `delayOffset.json` every 10 s and at shutdown.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sluice_remoting::message::{property, MessageRecord, Properties};
use sluice_store::consume_queue::CqUnit;
use sluice_store::PutStatus;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::{BrokerError, Result};
use crate::schedule::levels::parse_delay_levels;
use crate::schedule::offsets::{DelayOffsetTable, DELAY_OFFSET_FILE};
use crate::state::BrokerState;
use crate::topic_config::{now_ms, SCHEDULE_TOPIC, TRANS_HALF_TOPIC};

/// Offsets are written this often (Apache's `flushDelayOffsetInterval`).
pub const FLUSH_DELAY_OFFSET_INTERVAL: Duration = Duration::from_secs(10);
/// Pause before retrying a level whose put failed (Apache: 100 ms).
const RETRY_AFTER_FAILURE: Duration = Duration::from_millis(100);
/// Longest single sleep: a due time further out is re-checked then (wall-clock changes).
const MAX_SLEEP: Duration = Duration::from_secs(1);
/// The group deliveries are counted under (Apache's `MixAll.SCHEDULE_CONSUMER_GROUP`).
pub const SCHEDULE_CONSUMER_GROUP: &str = "SCHEDULE_CONSUMER";
/// ConsumeQueue units read per batch.
const UNITS_PER_BATCH: usize = 64;

/// The running delay-level delivery of one (master) broker.
pub struct ScheduleService {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

/// What the level tasks share.
struct Shared {
    state: Arc<BrokerState>,
    /// Delay of each level in ms (index = level − 1 = queue id).
    levels: Vec<i64>,
    /// Next queue offset to deliver, per level.
    offsets: Vec<AtomicU64>,
    path: PathBuf,
    stop: CancellationToken,
}

/// What a level task does after one pass over its queue.
enum Next {
    /// Nothing left to read at this offset: wait for the queue to grow.
    Idle(u64),
    /// The head unit is due in this long.
    Sleep(Duration),
    /// A put failed or the queue could not be read.
    Retry,
    /// More units are ready: go on at once.
    Continue,
}

/// Outcome of handling one due unit.
enum Handled {
    /// Put into its real topic.
    Delivered,
    /// Not deliverable (gone, corrupt, half-transaction, no real topic): skipped for good.
    Dropped,
    /// The put failed: try again later.
    Failed,
}

impl ScheduleService {
    /// Parses `messageDelayLevel`, loads `delayOffset.json` (offsets clamped into each level
    /// queue's [min, max]) and starts one task per level plus the periodic offset writer.
    pub async fn start(state: Arc<BrokerState>) -> Result<ScheduleService> {
        let levels = parse_delay_levels(&state.store.config.message_delay_level)
            .map_err(|e| BrokerError::Config(e.to_string()))?;
        let path = state.config().config_dir().join(DELAY_OFFSET_FILE);
        let load_path = path.clone();
        let table = tokio::task::spawn_blocking(move || DelayOffsetTable::load(&load_path))
            .await
            .map_err(|e| BrokerError::Config(format!("loading {DELAY_OFFSET_FILE} failed: {e}")))?
            .map_err(|problem| BrokerError::MetadataFile {
                path: path.display().to_string(),
                problem,
            })?;
        let offsets = (0..levels.len())
            .map(|i| {
                let queue_id = i as i32;
                let (min, max) = (
                    state.store.min_offset(SCHEDULE_TOPIC, queue_id),
                    state.store.max_offset(SCHEDULE_TOPIC, queue_id),
                );
                let saved = table.offsets.get(&(queue_id + 1)).copied().unwrap_or(0);
                let offset = (saved.max(0) as u64).clamp(min, max.max(min));
                if saved >= 0 && offset != saved as u64 {
                    tracing::warn!(
                        level = queue_id + 1,
                        saved,
                        corrected = offset,
                        "delay offset outside its queue's range; corrected"
                    );
                }
                AtomicU64::new(offset)
            })
            .collect();
        let shared = Arc::new(Shared {
            state,
            levels,
            offsets,
            path,
            stop: CancellationToken::new(),
        });
        let mut tasks: Vec<JoinHandle<()>> = (0..shared.levels.len())
            .map(|index| tokio::spawn(run_level(shared.clone(), index)))
            .collect();
        tasks.push(tokio::spawn(run_persistence(shared.clone())));
        tracing::info!(levels = shared.levels.len(), "delay-level delivery started");
        Ok(ScheduleService { shared, tasks })
    }

    /// The current offsets (level → next queue offset).
    pub fn offsets(&self) -> DelayOffsetTable {
        self.shared.table()
    }

    /// Stops the level tasks (a put under way finishes and its offset is counted) and writes
    /// `delayOffset.json`.
    pub async fn shutdown(mut self) -> Result<()> {
        self.shared.stop.cancel();
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || shared.persist())
            .await
            .map_err(|e| {
                BrokerError::Config(format!("writing {DELAY_OFFSET_FILE} failed: {e}"))
            })??;
        tracing::info!("delay-level delivery stopped");
        Ok(())
    }
}

impl Drop for ScheduleService {
    fn drop(&mut self) {
        self.shared.stop.cancel();
    }
}

impl Shared {
    fn table(&self) -> DelayOffsetTable {
        DelayOffsetTable {
            offsets: self
                .offsets
                .iter()
                .enumerate()
                .map(|(i, o)| (i as i32 + 1, o.load(Ordering::Acquire) as i64))
                .collect(),
        }
    }

    /// Writes the offsets file (blocking).
    fn persist(&self) -> Result<()> {
        self.table()
            .persist(&self.path)
            .map_err(|e| BrokerError::MetadataFile {
                path: self.path.display().to_string(),
                problem: e.to_string(),
            })
    }

    /// Delivers every due unit of level `index` from its offset, in order.
    async fn deliver_due(&self, index: usize) -> Next {
        let queue_id = index as i32;
        let store = &self.state.store;
        let Some(cq) = store.consume_queues.get(SCHEDULE_TOPIC, queue_id) else {
            return Next::Idle(self.offsets[index].load(Ordering::Acquire));
        };
        let mut offset = self.offsets[index].load(Ordering::Acquire);
        let (min, max) = (cq.min_offset_in_queue(), cq.max_offset_in_queue());
        if offset < min {
            // Expired files were cleaned up under us.
            tracing::warn!(
                level = index + 1,
                offset,
                min,
                "delay offset below the queue's min; skipping to it"
            );
            offset = min;
            self.offsets[index].store(offset, Ordering::Release);
        }
        if offset >= max {
            return Next::Idle(offset);
        }
        let Some(units) = cq.units_from(offset, UNITS_PER_BATCH) else {
            // The offset's file ends before it: go on in the next file.
            let next = cq.roll_next_file(offset).min(max);
            if next > offset {
                self.offsets[index].store(next, Ordering::Release);
                return Next::Continue;
            }
            return Next::Retry;
        };
        let level_delay = self.levels[index];
        for (at, unit) in units.iter() {
            if self.stop.is_cancelled() {
                return Next::Continue;
            }
            if unit.is_pre_blank() || !unit.is_written() {
                self.offsets[index].store(at + 1, Ordering::Release);
                continue;
            }
            let now = now_ms();
            let mut deliver_at = unit.tags_code;
            // A due time further out than the level's delay (clock moved back, or a unit
            // written with another level table) is treated as due now, as Apache does.
            if deliver_at > now.saturating_add(level_delay) {
                deliver_at = now;
            }
            if deliver_at > now {
                return Next::Sleep(Duration::from_millis((deliver_at - now) as u64));
            }
            match self.deliver(index, unit).await {
                Handled::Delivered | Handled::Dropped => {
                    self.offsets[index].store(at + 1, Ordering::Release)
                }
                Handled::Failed => return Next::Retry,
            }
        }
        Next::Continue
    }

    /// Re-puts the record of `unit` for its real topic and queue.
    async fn deliver(&self, index: usize, unit: CqUnit) -> Handled {
        let store = &self.state.store;
        let Some(bytes) = store
            .commit_log
            .read(unit.phy_offset as u64, unit.size as u32)
        else {
            tracing::warn!(
                level = index + 1,
                phy_offset = unit.phy_offset,
                "delayed message no longer in the CommitLog; skipped"
            );
            return Handled::Dropped;
        };
        let record = match MessageRecord::decode(&bytes) {
            Ok((record, _)) => record,
            Err(e) => {
                tracing::error!(level = index + 1, phy_offset = unit.phy_offset, error = %e, "delayed message unreadable; skipped");
                return Handled::Dropped;
            }
        };
        let msg = match restore_real_destination(record) {
            Ok(msg) => msg,
            Err(why) => {
                tracing::warn!(
                    level = index + 1,
                    phy_offset = unit.phy_offset,
                    "delayed message dropped: {why}"
                );
                return Handled::Dropped;
            }
        };
        let result = store.put(&msg).await;
        if result.status.is_stored() {
            // Counted as a read of the schedule topic by Apache's SCHEDULE_CONSUMER group: the
            // send already counted the message into its real topic.
            self.state.metrics.record_messages_out(
                SCHEDULE_TOPIC,
                SCHEDULE_CONSUMER_GROUP,
                1,
                msg.body.len() as u64,
            );
            Handled::Delivered
        } else if matches!(
            result.status,
            PutStatus::MessageIllegal | PutStatus::PropertiesSizeExceeded
        ) {
            // Retrying cannot help and would hold up every later message of the level.
            tracing::error!(
                level = index + 1,
                topic = %msg.topic,
                status = ?result.status,
                remark = ?result.remark,
                "delayed message refused by the store; dropped"
            );
            Handled::Dropped
        } else {
            tracing::warn!(
                level = index + 1,
                topic = %msg.topic,
                status = ?result.status,
                remark = ?result.remark,
                "delivering a delayed message failed; will retry"
            );
            Handled::Failed
        }
    }
}

/// The message to put when a delayed record is due: topic REAL_TOPIC, queue REAL_QID, DELAY
/// (and the 5.x timer properties) removed, WAIT=false; body, flag, sysflag, born and store
/// hosts, born time and reconsume times kept. REAL_TOPIC / REAL_QID stay, as in Apache.
/// `Err` says why the record cannot be delivered (it is then dropped).
pub fn restore_real_destination(
    record: MessageRecord,
) -> std::result::Result<MessageRecord, String> {
    let mut props = Properties::decode(&record.properties);
    let topic = props
        .get(property::REAL_TOPIC)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "no REAL_TOPIC property".to_owned())?
        .to_owned();
    if topic == TRANS_HALF_TOPIC {
        return Err(format!("its real topic is {TRANS_HALF_TOPIC}"));
    }
    let queue_id = props
        .get(property::REAL_QID)
        .ok_or_else(|| "no REAL_QID property".to_owned())?;
    let queue_id: i32 = queue_id
        .trim()
        .parse()
        .ok()
        .filter(|q| *q >= 0)
        .ok_or_else(|| format!("REAL_QID `{queue_id}` is not a queue id"))?;
    props.remove(property::DELAY);
    props.remove(property::TIMER_DELIVER_MS);
    props.remove(property::TIMER_DELAY_SEC);
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

/// One level's loop: deliver what is due, then wait as [`Next`] says, until stopped.
async fn run_level(shared: Arc<Shared>, index: usize) {
    let queue_id = index as i32;
    while !shared.stop.is_cancelled() {
        let next = shared.deliver_due(index).await;
        let store = shared.state.store.clone();
        let pause = async move {
            match next {
                Next::Continue => tokio::task::yield_now().await,
                Next::Retry => tokio::time::sleep(RETRY_AFTER_FAILURE).await,
                Next::Sleep(d) => tokio::time::sleep(d.min(MAX_SLEEP)).await,
                Next::Idle(offset) => {
                    // The queue may not exist yet; re-check now and then regardless.
                    let _ = tokio::time::timeout(
                        MAX_SLEEP,
                        store.wait_for_new(SCHEDULE_TOPIC, queue_id, offset),
                    )
                    .await;
                }
            }
        };
        tokio::select! {
            _ = shared.stop.cancelled() => return,
            _ = pause => {}
        }
    }
}

/// Writes the offsets every [`FLUSH_DELAY_OFFSET_INTERVAL`] (first after one interval).
async fn run_persistence(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(FLUSH_DELAY_OFFSET_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = shared.stop.cancelled() => return,
            _ = tick.tick() => {
                let s = shared.clone();
                match tokio::task::spawn_blocking(move || s.persist()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "cannot write delayOffset.json; will retry"),
                    Err(e) => tracing::error!(error = %e, "delayOffset.json writer failed; will retry"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delayed(props: &[(&str, &str)]) -> MessageRecord {
        let mut p = Properties::new();
        for (k, v) in props {
            p.insert(k, v);
        }
        MessageRecord {
            topic: SCHEDULE_TOPIC.into(),
            queue_id: 1,
            flag: 7,
            sysflag: 0,
            born_timestamp: 1234,
            reconsume_times: 3,
            body: bytes::Bytes::from_static(b"hello"),
            properties: p.encode(),
            ..Default::default()
        }
    }

    #[test]
    fn restores_topic_and_queue_and_drops_delay() {
        let rec = delayed(&[
            (property::TAGS, "TagA"),
            (property::DELAY, "2"),
            (property::REAL_TOPIC, "Orders"),
            (property::REAL_QID, "3"),
            (property::UNIQ_KEY, "ABC"),
        ]);
        let msg = restore_real_destination(rec).unwrap();
        assert_eq!(msg.topic, "Orders");
        assert_eq!(msg.queue_id, 3);
        assert_eq!(
            (msg.flag, msg.born_timestamp, msg.reconsume_times),
            (7, 1234, 3)
        );
        assert_eq!(&msg.body[..], b"hello");
        let p = Properties::decode(&msg.properties);
        assert_eq!(p.get(property::DELAY), None);
        assert_eq!(p.get(property::WAIT), Some("false"));
        assert_eq!(p.get(property::TAGS), Some("TagA"));
        assert_eq!(p.get(property::UNIQ_KEY), Some("ABC"));
        assert_eq!(p.get(property::REAL_TOPIC), Some("Orders"));
    }

    #[test]
    fn undeliverable_records_say_why() {
        let half = delayed(&[
            (property::REAL_TOPIC, TRANS_HALF_TOPIC),
            (property::REAL_QID, "0"),
        ]);
        assert!(restore_real_destination(half)
            .unwrap_err()
            .contains(TRANS_HALF_TOPIC));
        let no_topic = delayed(&[(property::REAL_QID, "0")]);
        assert!(restore_real_destination(no_topic)
            .unwrap_err()
            .contains("REAL_TOPIC"));
        let bad_qid = delayed(&[(property::REAL_TOPIC, "T"), (property::REAL_QID, "x")]);
        assert!(restore_real_destination(bad_qid)
            .unwrap_err()
            .contains("`x`"));
        let no_qid = delayed(&[(property::REAL_TOPIC, "T")]);
        assert!(restore_real_destination(no_qid)
            .unwrap_err()
            .contains("REAL_QID"));
    }
}
