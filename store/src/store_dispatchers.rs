//! The two dispatchers the store runs on every CommitLog record: the ConsumeQueue builder and the IndexFile
//! builder.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use sluice_remoting::message::{property, RecordView};

use crate::commit_log::takes_queue_offset;
use crate::consume_queue::CqUnit;
use crate::consume_queue_store::ConsumeQueueStore;
use crate::dispatch::Dispatcher;
use crate::error::{Result, StoreError};
use crate::index_service::{IndexRequest, IndexService};

/// The topic delayed messages wait in.
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";

/// Parses `messageDelayLevel` ("1s 5s 10s 30s 1m ... 2h") into milliseconds per level (level 1 first).
pub fn parse_delay_levels(spec: &str) -> Result<Vec<i64>> {
    spec.split_whitespace()
        .map(|item| {
            let (num, unit) = item.split_at(item.len().saturating_sub(1));
            let factor = match unit {
                "s" => 1_000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                _ => 0,
            };
            match num.parse::<i64>() {
                Ok(n) if factor > 0 && n >= 0 => Ok(n * factor),
                _ => Err(StoreError::BadConfig(format!(
                    "messageDelayLevel item `{item}`: expected a number followed by s, m, h or d"
                ))),
            }
        })
        .collect()
}

/// Builds the 20-byte ConsumeQueue units.
pub struct ConsumeQueueBuilder {
    pub queues: Arc<ConsumeQueueStore>,
    pub delay_levels: Vec<i64>,
    /// Store timestamp of the newest dispatched unit (the checkpoint's logicsMsgTimestamp once flushed).
    pub last_dispatched_timestamp: Arc<AtomicI64>,
}

impl ConsumeQueueBuilder {
    /// The tag slot: the TAGS hash, or for a delayed message in the schedule topic its delivery time
    /// (store time + the level's delay; level clamped to the highest; an unknown level gives +1 s).
    fn tags_code(&self, record: &RecordView<'_>) -> i64 {
        if record.topic() == SCHEDULE_TOPIC {
            if let Some(level) = record
                .property(property::DELAY)
                .and_then(|d| d.parse::<i64>().ok())
                .filter(|l| *l > 0)
            {
                let max = self.delay_levels.len() as i64;
                let delay = if max == 0 {
                    1000
                } else {
                    self.delay_levels[(level.min(max) - 1) as usize]
                };
                return record.store_timestamp() + delay;
            }
        }
        record.tags_code()
    }
}

impl Dispatcher for ConsumeQueueBuilder {
    fn dispatch(&self, record: &RecordView<'_>, physical_offset: u64) -> Result<()> {
        if !takes_queue_offset(record.sysflag()) {
            return Ok(());
        }
        let cq = self
            .queues
            .find_or_create(record.topic(), record.queue_id())?;
        let unit = CqUnit {
            phy_offset: physical_offset as i64,
            size: record.total_size() as i32,
            tags_code: self.tags_code(record),
        };
        let queue_offset = u64::try_from(record.queue_offset()).map_err(|_| {
            StoreError::InvalidOffset(format!(
                "record at {physical_offset} has negative queue offset {}",
                record.queue_offset()
            ))
        })?;
        cq.put(unit, queue_offset)?;
        self.last_dispatched_timestamp
            .fetch_max(record.store_timestamp(), Ordering::AcqRel);
        Ok(())
    }
}

/// Builds IndexFile entries (`topic#key` for each KEYS token, `topic#UNIQ_KEY`).
pub struct IndexBuilder {
    pub index: Arc<IndexService>,
}

impl Dispatcher for IndexBuilder {
    fn dispatch(&self, record: &RecordView<'_>, physical_offset: u64) -> Result<()> {
        let req = IndexRequest {
            topic: record.topic(),
            keys: record.keys(),
            uniq_key: record.uniq_key(),
            commit_log_offset: physical_offset as i64,
            store_timestamp: record.store_timestamp(),
            sys_flag: record.sysflag(),
        };
        self.index
            .build_index(&req)
            .map_err(|e| StoreError::io("writing the index", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_levels_parse_like_apache() {
        let levels =
            parse_delay_levels("1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h")
                .unwrap();
        assert_eq!(levels.len(), 18);
        assert_eq!(levels[0], 1000);
        assert_eq!(levels[4], 60_000);
        assert_eq!(levels[17], 7_200_000);
        assert!(parse_delay_levels("1x").is_err());
        assert!(parse_delay_levels("s").is_err());
    }
}
