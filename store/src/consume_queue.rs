//! One ConsumeQueue (RocketMQ's simple CQ, `store/.../ConsumeQueue.java`): the per-(topic, queueId) index
//! of CommitLog records, 20-byte units of CommitLog offset (i64), record size (i32) and tags code (i64),
//! big-endian, in files of `units_per_file × 20` bytes named by their 20-digit starting *byte* offset.
//!
//! The logical offset of a message is its unit's index; its byte position is `index × 20`. One
//! dispatcher writes (through [`MappedFileQueue`]'s tail lock); any number of readers get zero-copy
//! slices of the mapped files.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use crate::error::{Result, StoreError};
use crate::fs::StoreFs;
use crate::mapped_file::MappedFile;
use crate::mapped_file_queue::MappedFileQueue;

/// Size of one unit.
pub const CQ_STORE_UNIT_SIZE: u64 = 20;
/// RocketMQ's default units per file (file size 6,000,000 bytes).
pub const DEFAULT_UNITS_PER_FILE: u64 = 300_000;
/// The size field of the pre-blank units written before the first unit of a queue that starts at a
/// non-zero offset.
pub const PRE_BLANK_SIZE: i32 = i32::MAX;

/// One 20-byte unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CqUnit {
    /// CommitLog offset of the record.
    pub phy_offset: i64,
    /// Size of the record in bytes.
    pub size: i32,
    /// Java `String.hashCode()` of TAGS (sign-extended), 0 without tags; for `SCHEDULE_TOPIC_XXXX` the
    /// delivery time in ms.
    pub tags_code: i64,
}

impl CqUnit {
    /// The filler RocketMQ writes for missing slots before a queue's first unit.
    pub const PRE_BLANK: CqUnit = CqUnit {
        phy_offset: 0,
        size: PRE_BLANK_SIZE,
        tags_code: 0,
    };

    /// The unit's on-disk bytes.
    pub fn encode(&self) -> [u8; 20] {
        let mut b = [0u8; 20];
        b[0..8].copy_from_slice(&self.phy_offset.to_be_bytes());
        b[8..12].copy_from_slice(&self.size.to_be_bytes());
        b[12..20].copy_from_slice(&self.tags_code.to_be_bytes());
        b
    }

    /// Reads a unit from the first 20 bytes of `b` (which must hold at least 20 bytes).
    pub fn decode(b: &[u8]) -> CqUnit {
        let mut phy = [0u8; 8];
        let mut size = [0u8; 4];
        let mut tags = [0u8; 8];
        phy.copy_from_slice(&b[0..8]);
        size.copy_from_slice(&b[8..12]);
        tags.copy_from_slice(&b[12..20]);
        CqUnit {
            phy_offset: i64::from_be_bytes(phy),
            size: i32::from_be_bytes(size),
            tags_code: i64::from_be_bytes(tags),
        }
    }

    /// RocketMQ's recovery rule for a written unit: `offset >= 0 && size > 0`.
    pub fn is_written(&self) -> bool {
        self.phy_offset >= 0 && self.size > 0
    }

    /// Whether this is pre-blank filler rather than a message.
    pub fn is_pre_blank(&self) -> bool {
        *self == CqUnit::PRE_BLANK
    }

    /// CommitLog offset one past the record.
    pub fn end_phy_offset(&self) -> i64 {
        self.phy_offset + self.size as i64
    }
}

/// A run of consecutive units: a zero-copy slice of one ConsumeQueue file.
#[derive(Debug, Clone)]
pub struct CqUnits {
    /// Logical offset of the first unit.
    pub start_index: u64,
    bytes: Bytes,
}

impl CqUnits {
    /// Number of units.
    pub fn len(&self) -> usize {
        self.bytes.len() / CQ_STORE_UNIT_SIZE as usize
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The `i`-th unit of the run.
    pub fn get(&self, i: usize) -> Option<CqUnit> {
        let at = i.checked_mul(CQ_STORE_UNIT_SIZE as usize)?;
        let b = self.bytes.get(at..at + CQ_STORE_UNIT_SIZE as usize)?;
        Some(CqUnit::decode(b))
    }

    /// `(logical offset, unit)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (u64, CqUnit)> + '_ {
        self.bytes
            .chunks_exact(CQ_STORE_UNIT_SIZE as usize)
            .enumerate()
            .map(|(i, b)| (self.start_index + i as u64, CqUnit::decode(b)))
    }

    /// The raw bytes (20 per unit).
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
}

/// What [`ConsumeQueue::put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The unit was appended.
    Appended,
    /// The unit was already there (re-dispatch after a restart) and was skipped.
    Duplicate,
}

/// Which end of a run of equal timestamps [`ConsumeQueue::offset_by_time`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BoundaryType {
    /// The first unit stored at or after the time (RocketMQ's default for `searchOffset`).
    #[default]
    Lower,
    /// The last unit stored at or before the time.
    Upper,
}

/// Gives the store timestamp of the CommitLog record at a physical offset (RocketMQ's
/// `CommitLog.pickupStoreTimestamp`). `None` when the record cannot be read (deleted, not written).
pub trait StoreTimestampLookup {
    fn store_timestamp(&self, phy_offset: i64, size: i32) -> Option<i64>;
}

impl<F: Fn(i64, i32) -> Option<i64>> StoreTimestampLookup for F {
    fn store_timestamp(&self, phy_offset: i64, size: i32) -> Option<i64> {
        self(phy_offset, size)
    }
}

/// One queue's files and state.
pub struct ConsumeQueue {
    pub topic: String,
    pub queue_id: i32,
    queue: MappedFileQueue,
    /// CommitLog offset one past the newest record in this queue (the dedup bound).
    max_physic_offset: AtomicI64,
    /// Byte offset of the first unit that still points at a live record.
    min_logic_offset: AtomicU64,
}

impl std::fmt::Debug for ConsumeQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumeQueue")
            .field("topic", &self.topic)
            .field("queue_id", &self.queue_id)
            .field("min_offset", &self.min_offset_in_queue())
            .field("max_offset", &self.max_offset_in_queue())
            .field("max_physic_offset", &self.max_physic_offset())
            .finish()
    }
}

fn unit_err(topic: &str, queue_id: i32, what: String) -> StoreError {
    StoreError::InvalidOffset(format!("consume queue {topic}-{queue_id}: {what}"))
}

impl ConsumeQueue {
    /// Opens the queue in `dir` (`{root}/consumequeue/{topic}/{queueId}`), creating the directory if
    /// needed. `file_size` must be a positive multiple of 20. Existing files count as fully written
    /// until [`recover`](Self::recover) finds where the units end; call it before writing.
    pub fn open(
        dir: impl Into<std::path::PathBuf>,
        topic: impl Into<String>,
        queue_id: i32,
        file_size: u64,
        fs: Arc<dyn StoreFs>,
    ) -> Result<ConsumeQueue> {
        if file_size == 0 || file_size.checked_rem(CQ_STORE_UNIT_SIZE) != Some(0) {
            return Err(StoreError::BadConfig(format!(
                "mappedFileSizeConsumeQueue {file_size} must be a positive multiple of 20"
            )));
        }
        let queue = MappedFileQueue::open(dir, file_size, fs, false)?;
        let min = queue.min_offset();
        Ok(ConsumeQueue {
            topic: topic.into(),
            queue_id,
            queue,
            max_physic_offset: AtomicI64::new(-1),
            min_logic_offset: AtomicU64::new(min),
        })
    }

    /// Size of each file in bytes.
    pub fn file_size(&self) -> u64 {
        self.queue.segment_size
    }

    /// Units per file.
    pub fn units_per_file(&self) -> u64 {
        self.queue.segment_size / CQ_STORE_UNIT_SIZE
    }

    /// The underlying file queue (flushed offsets, segment list, statistics).
    pub fn files(&self) -> &MappedFileQueue {
        &self.queue
    }

    /// Logical offset of the first live unit.
    pub fn min_offset_in_queue(&self) -> u64 {
        self.min_logic_offset.load(Ordering::Acquire) / CQ_STORE_UNIT_SIZE
    }

    /// Logical offset one past the last unit (the next message's queue offset).
    pub fn max_offset_in_queue(&self) -> u64 {
        self.queue.max_offset() / CQ_STORE_UNIT_SIZE
    }

    /// Number of units between min and max.
    pub fn message_total(&self) -> u64 {
        self.max_offset_in_queue()
            .saturating_sub(self.min_offset_in_queue())
    }

    /// CommitLog offset one past the newest record indexed here (-1 for a queue never written).
    pub fn max_physic_offset(&self) -> i64 {
        self.max_physic_offset.load(Ordering::Acquire)
    }

    /// Appends the unit for the message with queue offset `cq_offset`.
    ///
    /// Skipped as [`PutOutcome::Duplicate`] when `unit.phy_offset + unit.size` is not beyond this
    /// queue's max physical offset, or when a unit already sits at `cq_offset` (re-dispatch). The first
    /// unit of a queue at a non-zero offset gets its file created around it, with the preceding slots of
    /// that file filled with pre-blank units `(0, i32::MAX, 0)` and the min offset set to `cq_offset`.
    /// A gap (a `cq_offset` beyond the next slot) is refused: writing it elsewhere would shift every
    /// later message's queue offset.
    pub fn put(&self, unit: CqUnit, cq_offset: u64) -> Result<PutOutcome> {
        if unit.end_phy_offset() <= self.max_physic_offset() {
            return Ok(PutOutcome::Duplicate);
        }
        let expect = cq_offset.checked_mul(CQ_STORE_UNIT_SIZE).ok_or_else(|| {
            unit_err(
                &self.topic,
                self.queue_id,
                format!("queue offset {cq_offset} too large"),
            )
        })?;
        if self.queue.last_segment().is_none() && cq_offset != 0 {
            self.fill_pre_blank(expect)?;
            self.min_logic_offset.store(expect, Ordering::Release);
        }
        let current = self.queue.max_offset();
        if expect < current {
            tracing::warn!(topic = %self.topic, queue_id = self.queue_id, expect, current, "consume queue unit built again, skipped");
            return Ok(PutOutcome::Duplicate);
        }
        if expect > current {
            return Err(unit_err(
                &self.topic,
                self.queue_id,
                format!(
                    "unit for queue offset {cq_offset} would leave a gap after offset {}",
                    current / CQ_STORE_UNIT_SIZE
                ),
            ));
        }
        self.queue.append(&unit.encode())?;
        self.max_physic_offset
            .store(unit.end_phy_offset(), Ordering::Release);
        Ok(PutOutcome::Appended)
    }

    /// Creates the first file around byte offset `expect` and fills the slots from the file's start up to
    /// `expect` with pre-blank units.
    fn fill_pre_blank(&self, expect: u64) -> Result<()> {
        let file_start = expect - expect % self.file_size();
        let blanks = (expect - file_start) / CQ_STORE_UNIT_SIZE;
        // Positions the (empty) queue at the file start; then the blanks go in reasonably sized chunks.
        self.queue.append_at(file_start, &[])?;
        const CHUNK_UNITS: u64 = 4096;
        let blank = CqUnit::PRE_BLANK.encode();
        let chunk: Vec<u8> = blank
            .iter()
            .copied()
            .cycle()
            .take((CHUNK_UNITS.min(blanks) * CQ_STORE_UNIT_SIZE) as usize)
            .collect();
        let mut left = blanks;
        while left > 0 {
            let n = left.min(CHUNK_UNITS);
            self.queue
                .append(&chunk[..(n * CQ_STORE_UNIT_SIZE) as usize])?;
            left -= n;
        }
        Ok(())
    }

    /// Up to `max_count` consecutive units starting at logical offset `start`, as a slice of one file
    /// (so possibly fewer when the file ends first; continue at [`roll_next_file`](Self::roll_next_file)).
    /// `None` when `start` is below the min offset or not yet written.
    pub fn units_from(&self, start: u64, max_count: usize) -> Option<CqUnits> {
        if start < self.min_offset_in_queue() || max_count == 0 {
            return None;
        }
        let pos = start.checked_mul(CQ_STORE_UNIT_SIZE)?;
        let seg = self.queue.find_segment(pos)?;
        let in_file = pos - seg.start_offset;
        let wrote = seg.wrote_position();
        if in_file >= wrote {
            return None;
        }
        let len = (wrote - in_file).min((max_count as u64).saturating_mul(CQ_STORE_UNIT_SIZE));
        let bytes = seg.slice(in_file, len)?;
        Some(CqUnits {
            start_index: start,
            bytes,
        })
    }

    /// The unit at logical offset `index`, if it is live and written.
    pub fn get(&self, index: u64) -> Option<CqUnit> {
        self.units_from(index, 1).and_then(|u| u.get(0))
    }

    /// Reads any written unit (ignoring the min offset), for internal searches.
    fn unit_at(&self, index: u64) -> Option<CqUnit> {
        let bytes = self
            .queue
            .read(index.checked_mul(CQ_STORE_UNIT_SIZE)?, CQ_STORE_UNIT_SIZE)?;
        Some(CqUnit::decode(&bytes))
    }

    /// The newest unit.
    pub fn last_unit(&self) -> Option<CqUnit> {
        let max = self.max_offset_in_queue();
        if max == 0 || max <= self.min_offset_in_queue() {
            return None;
        }
        self.unit_at(max - 1)
    }

    /// The logical offset at which the file after the one holding `index` starts.
    pub fn roll_next_file(&self, index: u64) -> u64 {
        let per_file = self.units_per_file();
        index.saturating_add(per_file - index % per_file)
    }

    /// The logical offset for a store time (ms): with [`BoundaryType::Lower`] the first unit stored at or
    /// after `timestamp` (the max offset if all are older); with [`BoundaryType::Upper`] the last unit
    /// stored at or before it (the min offset if all are newer). Units whose record is below
    /// `cl_min_offset` or unreadable count as older than any time. Binary search: O(log n) lookups.
    pub fn offset_by_time(
        &self,
        timestamp: i64,
        boundary: BoundaryType,
        cl_min_offset: i64,
        lookup: &impl StoreTimestampLookup,
    ) -> u64 {
        let min = self.min_offset_in_queue();
        let max = self.max_offset_in_queue();
        let time_of = |i: u64| -> Option<i64> {
            let u = self.unit_at(i)?;
            if u.is_pre_blank() || u.phy_offset < cl_min_offset {
                return None;
            }
            lookup.store_timestamp(u.phy_offset, u.size)
        };
        // First index in [min, max) for which `pred` fails; pred must be true then false.
        let partition = |pred: &dyn Fn(u64) -> bool| -> u64 {
            let (mut lo, mut hi) = (min, max);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if pred(mid) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            lo
        };
        match boundary {
            BoundaryType::Lower => partition(&|i| time_of(i).is_none_or(|t| t < timestamp)),
            BoundaryType::Upper => {
                let first_after = partition(&|i| time_of(i).is_none_or(|t| t <= timestamp));
                if first_after > min {
                    first_after - 1
                } else {
                    min
                }
            }
        }
    }

    /// Makes written units durable when at least `least_pages` 4 KiB pages are dirty (0 = always).
    /// Blocking: call from the flush thread. Returns the flushed byte offset.
    pub fn flush(&self, least_pages: u32) -> Result<u64> {
        self.queue.flush(least_pages)
    }

    /// Recovery after load: scans from the third-last file while units satisfy
    /// `offset >= 0 && size > 0`, cuts the queue after the last such unit (a torn or zeroed tail goes)
    /// and restores the max physical offset and min offset.
    pub fn recover(&self) -> Result<()> {
        let segments = self.queue.segments();
        if segments.is_empty() {
            return Ok(());
        }
        let first_scanned = segments.len().saturating_sub(3);
        let mut process_offset = segments[first_scanned].start_offset;
        let mut max_physic = -1i64;
        for seg in &segments[first_scanned..] {
            let whole = seg.whole();
            let mut valid = 0u64;
            for chunk in whole.chunks_exact(CQ_STORE_UNIT_SIZE as usize) {
                let unit = CqUnit::decode(chunk);
                if !unit.is_written() {
                    break;
                }
                if !unit.is_pre_blank() {
                    max_physic = unit.end_phy_offset();
                }
                valid += CQ_STORE_UNIT_SIZE;
            }
            process_offset = seg.start_offset + valid;
            if valid < seg.size {
                break;
            }
        }
        if max_physic < 0 {
            // Everything scanned was filler (or nothing): the files before, if any, say more.
            max_physic = self.scan_back_for_max_physic(&segments[..first_scanned]);
        }
        self.queue.truncate_dirty(process_offset)?;
        self.max_physic_offset.store(max_physic, Ordering::Release);
        self.min_logic_offset
            .store(self.first_real_unit_offset(i64::MIN), Ordering::Release);
        Ok(())
    }

    fn scan_back_for_max_physic(&self, segments: &[Arc<MappedFile>]) -> i64 {
        for seg in segments.iter().rev() {
            let whole = seg.whole();
            for chunk in whole.rchunks_exact(CQ_STORE_UNIT_SIZE as usize) {
                let unit = CqUnit::decode(chunk);
                if unit.is_written() && !unit.is_pre_blank() {
                    return unit.end_phy_offset();
                }
            }
        }
        -1
    }

    /// Byte offset of the first unit that is not pre-blank and points at or beyond `cl_min_offset`
    /// (the max offset if there is none).
    fn first_real_unit_offset(&self, cl_min_offset: i64) -> u64 {
        let first = self.queue.min_offset() / CQ_STORE_UNIT_SIZE;
        let (mut lo, mut hi) = (first, self.max_offset_in_queue());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let dead = self
                .unit_at(mid)
                .is_none_or(|u| u.is_pre_blank() || u.phy_offset < cl_min_offset);
            if dead {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo * CQ_STORE_UNIT_SIZE
    }

    /// Removes units pointing at or beyond CommitLog offset `phy_offset` (recovery cut the CommitLog
    /// there). Files that would start after the cut are deleted.
    pub fn truncate_dirty(&self, phy_offset: i64) -> Result<()> {
        let first = self.queue.min_offset() / CQ_STORE_UNIT_SIZE;
        let max = self.max_offset_in_queue();
        // Units are in CommitLog order (pre-blanks, at the front, have offset 0).
        let (mut lo, mut hi) = (first, max);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let keep = self.unit_at(mid).is_some_and(|u| u.phy_offset < phy_offset);
            if keep {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if lo == max {
            return Ok(());
        }
        self.queue.truncate_dirty(lo * CQ_STORE_UNIT_SIZE)?;
        let max_physic = match lo.checked_sub(1).and_then(|i| self.unit_at(i)) {
            Some(u) if !u.is_pre_blank() && lo > first => u.end_phy_offset(),
            _ => phy_offset,
        };
        self.max_physic_offset.store(max_physic, Ordering::Release);
        let min = self.min_logic_offset.load(Ordering::Acquire);
        if min > lo * CQ_STORE_UNIT_SIZE {
            self.min_logic_offset
                .store(lo * CQ_STORE_UNIT_SIZE, Ordering::Release);
        }
        Ok(())
    }

    /// Retention: deletes the oldest files (never the last) whose last unit points below
    /// `cl_min_offset`, then moves the min offset to the first unit at or beyond it. Returns the number
    /// of files deleted.
    pub fn delete_expired_files(&self, cl_min_offset: i64) -> Result<usize> {
        let deleted = self.queue.delete_oldest_while(usize::MAX, |seg| {
            seg.slice(seg.size - CQ_STORE_UNIT_SIZE, CQ_STORE_UNIT_SIZE)
                .map(|b| CqUnit::decode(&b))
                .is_some_and(|u| u.phy_offset < cl_min_offset)
        })?;
        self.correct_min_offset(cl_min_offset);
        Ok(deleted)
    }

    /// Moves the min offset to the first unit pointing at or beyond `cl_min_offset` (after the
    /// CommitLog's oldest files were deleted), never backwards.
    pub fn correct_min_offset(&self, cl_min_offset: i64) {
        let found = self.first_real_unit_offset(cl_min_offset);
        self.min_logic_offset.fetch_max(found, Ordering::AcqRel);
    }

    /// Empties the queue (the CommitLog is gone): every file is deleted except one starting at offset
    /// 0, which is kept zeroed, so the queue restarts at offset 0.
    pub fn destroy(&self) -> Result<()> {
        self.queue.truncate_dirty(0)?;
        self.max_physic_offset.store(-1, Ordering::Release);
        self.min_logic_offset.store(0, Ordering::Release);
        Ok(())
    }

    /// Bytes taken on disk.
    pub fn total_size(&self) -> u64 {
        self.queue.segments().len() as u64 * self.file_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_round_trips_through_its_twenty_bytes() {
        let u = CqUnit {
            phy_offset: -5,
            size: 123,
            tags_code: i64::MIN + 7,
        };
        assert_eq!(CqUnit::decode(&u.encode()), u);
        assert!(CqUnit::PRE_BLANK.is_written());
        assert!(CqUnit::PRE_BLANK.is_pre_blank());
        assert!(!CqUnit::decode(&[0u8; 20]).is_written());
    }
}
