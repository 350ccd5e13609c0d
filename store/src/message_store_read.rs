//! The read side of [`MessageStore`]: pulls through the ConsumeQueue (records as zero-copy slices of the
//! CommitLog mapping), lookups by physical offset, key queries, offsets by time, long-poll waits, statistics.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use sluice_remoting::message::{check_record, RecordCheck};

use crate::consume_queue::BoundaryType;
use crate::message_store::MessageStore;

/// Apache's `GetMessageStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetStatus {
    Found,
    NoMatchedMessage,
    MessageWasRemoving,
    OffsetFoundNull,
    OffsetOverflowBadly,
    OffsetOverflowOne,
    OffsetTooSmall,
    NoMatchedLogicQueue,
    NoMessageInQueue,
}

/// What a pull gets.
#[derive(Debug, Clone)]
pub struct GetResult {
    pub status: GetStatus,
    /// Whole stored records, each a slice of the mapped CommitLog (no copy): the pull response body is these back
    /// to back.
    pub records: Vec<Bytes>,
    /// Queue offset the consumer should ask for next.
    pub next_begin_offset: u64,
    pub min_offset: u64,
    pub max_offset: u64,
    /// Sum of the records' sizes.
    pub total_bytes: usize,
}

/// Selects messages during a pull: first by the ConsumeQueue tag code, then (optionally) on the record itself
/// (SQL92 on properties, done by the broker).
pub trait MessageFilter {
    fn matches_tags_code(&self, tags_code: i64) -> bool;
    fn matches_record(&self, _record: &[u8]) -> bool {
        true
    }
}

/// Accepts every message.
pub struct AcceptAll;

impl MessageFilter for AcceptAll {
    fn matches_tags_code(&self, _tags_code: i64) -> bool {
        true
    }
}

/// Accepts messages whose tag code is one of these (a `TagA || TagB` subscription's hash codes).
pub struct TagCodes(pub Vec<i64>);

impl MessageFilter for TagCodes {
    fn matches_tags_code(&self, tags_code: i64) -> bool {
        self.0.contains(&tags_code)
    }
}

/// Result of a key query.
#[derive(Debug, Clone, Default)]
pub struct QueryResult {
    pub records: Vec<Bytes>,
    pub index_last_update_timestamp: i64,
    pub index_last_update_phy_offset: i64,
}

/// A snapshot of the store's state and counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreStats {
    pub commit_log_min_offset: u64,
    pub commit_log_max_offset: u64,
    pub commit_log_flushed_offset: u64,
    pub dispatch_behind_bytes: u64,
    pub consume_queues: usize,
    pub puts: u64,
    pub put_bytes: u64,
    pub put_failures: u64,
    pub gets: u64,
    pub got_messages: u64,
    pub disk_full: bool,
    pub last_store_timestamp: i64,
}

/// ConsumeQueue units scanned at most per pull when a filter rejects messages (Apache: 16,000 bytes of units).
const MAX_FILTER_SCAN_UNITS: usize = 800;

impl MessageStore {
    /// Reads up to `max_count` messages of `topic`/`queue_id` from queue offset `offset` (bounded by
    /// `maxTransferCountOnMessageInMemory` and `maxTransferBytesOnMessageInMemory`), filtered.
    pub fn get_messages(
        &self,
        topic: &str,
        queue_id: i32,
        offset: u64,
        max_count: usize,
        filter: &dyn MessageFilter,
    ) -> GetResult {
        self.counters.gets.fetch_add(1, Ordering::Relaxed);
        let mut out = GetResult {
            status: GetStatus::NoMessageInQueue,
            records: Vec::new(),
            next_begin_offset: 0,
            min_offset: 0,
            max_offset: 0,
            total_bytes: 0,
        };
        let Some(cq) = self.consume_queues.get(topic, queue_id) else {
            return out;
        };
        let (min, max) = (cq.min_offset_in_queue(), cq.max_offset_in_queue());
        out.min_offset = min;
        out.max_offset = max;
        if max == 0 {
            return out;
        }
        if offset < min {
            out.status = GetStatus::OffsetTooSmall;
            out.next_begin_offset = min;
            return out;
        }
        if offset == max {
            out.status = GetStatus::OffsetOverflowOne;
            out.next_begin_offset = offset;
            return out;
        }
        if offset > max {
            out.status = GetStatus::OffsetOverflowBadly;
            out.next_begin_offset = if min == 0 { min } else { max };
            return out;
        }
        let max_count = max_count
            .min(self.config.max_transfer_count_on_message_in_memory)
            .max(1);
        let max_bytes = self.config.max_transfer_bytes_on_message_in_memory;
        let Some(units) = cq.units_from(offset, max_count.max(MAX_FILTER_SCAN_UNITS)) else {
            out.status = GetStatus::OffsetFoundNull;
            out.next_begin_offset = cq.roll_next_file(offset);
            return out;
        };
        let cl_min = self.commit_log.min_offset();
        let mut next = offset;
        let mut filtered = false;
        let mut removed = false;
        out.records.reserve(max_count.min(units.len()));
        for (index, unit) in units.iter() {
            if out.records.len() >= max_count {
                break;
            }
            if unit.is_pre_blank() || unit.size <= 0 || unit.phy_offset < 0 {
                next = index + 1;
                continue;
            }
            let size = unit.size as usize;
            if !out.records.is_empty() && out.total_bytes + size > max_bytes {
                break;
            }
            next = index + 1;
            if (unit.phy_offset as u64) < cl_min {
                removed = true;
                continue;
            }
            if !filter.matches_tags_code(unit.tags_code) {
                filtered = true;
                continue;
            }
            let Some(record) = self
                .commit_log
                .read(unit.phy_offset as u64, unit.size as u32)
            else {
                removed = true;
                continue;
            };
            if !filter.matches_record(&record) {
                filtered = true;
                continue;
            }
            out.total_bytes += size;
            out.records.push(record);
        }
        out.next_begin_offset = next;
        out.status = if !out.records.is_empty() {
            GetStatus::Found
        } else if filtered {
            GetStatus::NoMatchedMessage
        } else if removed {
            GetStatus::MessageWasRemoving
        } else {
            GetStatus::OffsetFoundNull
        };
        self.counters
            .got_messages
            .fetch_add(out.records.len() as u64, Ordering::Relaxed);
        out
    }

    /// The whole record at a physical offset (VIEW_MESSAGE_BY_ID), zero-copy.
    pub fn lookup_by_physical_offset(&self, offset: u64) -> Option<Bytes> {
        let record = self.commit_log.read_record(offset)?;
        match check_record(&record, false) {
            RecordCheck::Message(_) => Some(record),
            _ => None,
        }
    }

    /// Messages whose KEYS contain `key` (or whose UNIQ_KEY is `key`) in `topic`, stored within `[begin, end]` ms,
    /// newest first, at most `max_num` (capped by `maxMsgsNumBatch`). Index hash collisions are filtered out here.
    pub fn query_by_key(
        &self,
        topic: &str,
        key: &str,
        max_num: usize,
        begin: i64,
        end: i64,
    ) -> QueryResult {
        let Some(index) = &self.index else {
            return QueryResult::default();
        };
        let found = index.query_offset(topic, key, max_num, begin, end);
        let mut out = QueryResult {
            records: Vec::with_capacity(found.phy_offsets.len()),
            index_last_update_timestamp: found.index_last_update_timestamp,
            index_last_update_phy_offset: found.index_last_update_phy_offset,
        };
        for off in found.phy_offsets {
            if off < 0 {
                continue;
            }
            let Some(record) = self.commit_log.read_record(off as u64) else {
                continue;
            };
            if let RecordCheck::Message(v) = check_record(&record, false) {
                let key_matches = v.uniq_key() == Some(key)
                    || v.keys().is_some_and(|ks| ks.split(' ').any(|k| k == key));
                if v.topic() == topic && key_matches {
                    out.records.push(record);
                }
            }
        }
        out
    }

    /// Store timestamp of the record at a physical offset.
    pub fn store_timestamp_at(&self, phy_offset: i64, size: i32) -> Option<i64> {
        if phy_offset < 0 || size <= 0 {
            return None;
        }
        let record = self.commit_log.read(phy_offset as u64, size as u32)?;
        match check_record(&record, false) {
            RecordCheck::Message(v) => Some(v.store_timestamp()),
            _ => None,
        }
    }

    /// The queue offset of the first message stored at or after `timestamp` (SEARCH_OFFSET_BY_TIMESTAMP).
    pub fn offset_by_time(&self, topic: &str, queue_id: i32, timestamp: i64) -> u64 {
        let Some(cq) = self.consume_queues.get(topic, queue_id) else {
            return 0;
        };
        let lookup = |phy: i64, size: i32| self.store_timestamp_at(phy, size);
        cq.offset_by_time(
            timestamp,
            BoundaryType::Lower,
            self.commit_log.min_offset() as i64,
            &lookup,
        )
    }

    /// The queue's min offset (0 for an unknown queue).
    pub fn min_offset(&self, topic: &str, queue_id: i32) -> u64 {
        self.consume_queues
            .get(topic, queue_id)
            .map_or(0, |cq| cq.min_offset_in_queue())
    }

    /// The queue's max offset: the next message's queue offset (0 for an unknown queue).
    pub fn max_offset(&self, topic: &str, queue_id: i32) -> u64 {
        self.consume_queues
            .get(topic, queue_id)
            .map_or(0, |cq| cq.max_offset_in_queue())
    }

    /// Store time of the message at `offset` in the queue.
    pub fn message_store_timestamp(&self, topic: &str, queue_id: i32, offset: u64) -> Option<i64> {
        let unit = self.consume_queues.get(topic, queue_id)?.get(offset)?;
        self.store_timestamp_at(unit.phy_offset, unit.size)
    }

    /// Store time of the oldest message still in the queue.
    pub fn earliest_message_time(&self, topic: &str, queue_id: i32) -> Option<i64> {
        self.message_store_timestamp(topic, queue_id, self.min_offset(topic, queue_id))
    }

    /// Resolves when the queue's max offset passes `offset` (a message at `offset` exists) or the store shuts down.
    /// Long polling wraps it in its own timeout.
    pub async fn wait_for_new(&self, topic: &str, queue_id: i32, offset: u64) {
        let notify = self.notifier.handle(topic, queue_id);
        let _waiting = self.notifier.enter();
        loop {
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.max_offset(topic, queue_id) > offset || self.is_shut_down() {
                return;
            }
            notified.await;
        }
    }

    pub fn stats(&self) -> StoreStats {
        StoreStats {
            commit_log_min_offset: self.commit_log.min_offset(),
            commit_log_max_offset: self.commit_log.max_offset(),
            commit_log_flushed_offset: self.commit_log.flushed_offset(),
            dispatch_behind_bytes: self.dispatch.behind_bytes(),
            consume_queues: self.consume_queues.all().len(),
            puts: self.counters.puts.load(Ordering::Relaxed),
            put_bytes: self.counters.put_bytes.load(Ordering::Relaxed),
            put_failures: self.counters.put_failures.load(Ordering::Relaxed),
            gets: self.counters.gets.load(Ordering::Relaxed),
            got_messages: self.counters.got_messages.load(Ordering::Relaxed),
            disk_full: self.cleanup.disk_state.is_full(),
            last_store_timestamp: self.commit_log.last_store_timestamp(),
        }
    }
}

impl MessageStore {
    /// True when every appended record (up to the dispatch limit) has reached the ConsumeQueues and index.
    pub fn dispatch_caught_up(&self) -> bool {
        self.dispatch.behind_bytes() == 0
    }
}
