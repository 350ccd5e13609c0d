//! The timer log: `{root}/timerlog/`, an append-only sequence of fixed-size entries in segment
//! files named by their start position (20 digits, like CommitLog segments).
//!
//! Entry (40 bytes, big-endian like every RocketMQ file):
//! `prev (i64) | slot_ms (i64) | deliver_ms (i64) | phy_offset (i64) | size (i32) | magic (u32)`.
//! `prev` is the position of the previous entry linked into the same wheel slot (−1: first);
//! `slot_ms` is the start of the slot the entry is linked into (the delivery second, or an
//! earlier slot for an entry that will roll); `deliver_ms` is the exact delivery time;
//! `phy_offset`/`size` locate the message in the CommitLog.
//!
//! Segments are mapped shared (`MmapRaw`) and pre-faulted when created. Only one writer (under the
//! timer's lock) appends; the checkpoint task msyncs written ranges through its own handle
//! without that lock. Creating and deleting segments are blocking and run off the async threads.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::{MmapOptions, MmapRaw};

/// Bytes per entry.
pub const ENTRY_SIZE: u64 = 40;
/// Marks a written entry ("TIML").
const MAGIC: u32 = 0x5449_4D4C;

/// One timer log entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerEntry {
    pub prev: i64,
    pub slot_ms: i64,
    pub deliver_ms: i64,
    pub phy_offset: i64,
    pub size: i32,
}

impl TimerEntry {
    fn encode(&self) -> [u8; ENTRY_SIZE as usize] {
        let mut b = [0u8; ENTRY_SIZE as usize];
        b[0..8].copy_from_slice(&self.prev.to_be_bytes());
        b[8..16].copy_from_slice(&self.slot_ms.to_be_bytes());
        b[16..24].copy_from_slice(&self.deliver_ms.to_be_bytes());
        b[24..32].copy_from_slice(&self.phy_offset.to_be_bytes());
        b[32..36].copy_from_slice(&self.size.to_be_bytes());
        b[36..40].copy_from_slice(&MAGIC.to_be_bytes());
        b
    }

    /// `None` when the bytes are not a written entry (zeroes, garbage).
    fn decode(b: &[u8]) -> Option<TimerEntry> {
        let i64_at = |at: usize| i64::from_be_bytes(b[at..at + 8].try_into().unwrap());
        if u32::from_be_bytes(b[36..40].try_into().unwrap()) != MAGIC {
            return None;
        }
        Some(TimerEntry {
            prev: i64_at(0),
            slot_ms: i64_at(8),
            deliver_ms: i64_at(16),
            phy_offset: i64_at(24),
            size: i32::from_be_bytes(b[32..36].try_into().unwrap()),
        })
    }
}

/// One mapped segment file.
pub struct Segment {
    pub start: u64,
    map: MmapRaw,
    path: PathBuf,
}

impl Segment {
    fn bytes(&self, at: u64, len: usize) -> &[u8] {
        assert!(at as usize + len <= self.map.len());
        // SAFETY: in bounds; the mapping lives as long as self. Bytes being written concurrently
        // are only ever read by the same (locked) writer or below the published end.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(at as usize), len) }
    }

    /// msync of `[from, to)` (segment-relative).
    pub fn flush(&self, from: u64, to: u64) -> io::Result<()> {
        if to > from {
            self.map.flush_range(from as usize, (to - from) as usize)?;
        }
        Ok(())
    }
}

/// The appendable log. Not synchronised: the timer service holds it under its lock.
pub struct TimerLog {
    dir: PathBuf,
    segment_size: u64,
    /// Contiguous segments, oldest first.
    segments: Vec<Arc<Segment>>,
    /// Largest `slot_ms` linked from each segment (parallel to `segments`).
    max_slot: Vec<i64>,
    /// Next write position.
    end: u64,
}

fn file_name(start: u64) -> String {
    format!("{start:020}")
}

/// The segment size actually used: a positive multiple of [`ENTRY_SIZE`].
pub fn segment_size(configured: u64) -> u64 {
    (configured / ENTRY_SIZE).max(1024) * ENTRY_SIZE
}

/// Creates (or reopens) and maps the segment starting at `start` (blocking).
pub fn create_segment(dir: &Path, start: u64, size: u64) -> io::Result<Segment> {
    fs::create_dir_all(dir)?;
    let path = dir.join(file_name(start));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)?;
    if file.metadata()?.len() != size {
        file.set_len(size)?;
    }
    let map = MmapOptions::new()
        .len(size as usize)
        .populate()
        .map_raw(&file)?;
    Ok(Segment { start, map, path })
}

impl TimerLog {
    /// Opens `dir` with the log ending at `end` (the checkpointed position): segment files that
    /// start beyond it are deleted, and so are files of another size. Blocking.
    pub fn open(dir: &Path, segment_size: u64, end: u64) -> io::Result<TimerLog> {
        fs::create_dir_all(dir)?;
        let mut starts = Vec::new();
        for dirent in fs::read_dir(dir)? {
            let dirent = dirent?;
            let name = dirent.file_name();
            let Some(start) = name.to_str().and_then(|n| n.parse::<u64>().ok()) else {
                continue;
            };
            let path = dirent.path();
            let len = dirent.metadata()?.len();
            if start % segment_size != 0 || len != segment_size || start > end {
                tracing::warn!(file = %path.display(), "timer log file beyond the checkpoint or of another size; removed");
                fs::remove_file(&path)?;
                continue;
            }
            starts.push(start);
        }
        starts.sort_unstable();
        // Keep only the contiguous run that ends at `end`.
        let mut kept: Vec<u64> = Vec::new();
        for s in starts.iter().rev() {
            let expected = kept
                .last()
                .map(|k| k - segment_size)
                .unwrap_or(end - end % segment_size);
            if *s == expected || (kept.is_empty() && *s + segment_size == end) {
                kept.push(*s);
            } else {
                tracing::warn!(
                    start = s,
                    "timer log segment not contiguous with the checkpoint; removed"
                );
                fs::remove_file(dir.join(file_name(*s)))?;
            }
        }
        kept.reverse();
        let mut segments = Vec::with_capacity(kept.len());
        for s in kept {
            segments.push(Arc::new(create_segment(dir, s, segment_size)?));
        }
        let max_slot = vec![i64::MIN; segments.len()];
        Ok(TimerLog {
            dir: dir.to_owned(),
            segment_size,
            segments,
            max_slot,
            end,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn segment_size(&self) -> u64 {
        self.segment_size
    }

    /// First position held (= `end` when the log holds nothing).
    pub fn start(&self) -> u64 {
        self.segments.first().map(|s| s.start).unwrap_or(self.end)
    }

    pub fn end(&self) -> u64 {
        self.end
    }

    /// Segment files currently mapped.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// The start of the segment an append needs, when it is not mapped yet.
    pub fn missing_segment(&self) -> Option<u64> {
        match self.segments.last() {
            Some(last) if self.end < last.start + self.segment_size => None,
            _ => Some(self.end - self.end % self.segment_size),
        }
    }

    /// Installs a segment made by [`create_segment`] for [`missing_segment`](Self::missing_segment).
    pub fn install(&mut self, segment: Segment) {
        if self.missing_segment() == Some(segment.start) {
            if let Some(last) = self.segments.last() {
                debug_assert_eq!(last.start + self.segment_size, segment.start);
            }
            self.segments.push(Arc::new(segment));
            self.max_slot.push(i64::MIN);
        }
    }

    fn locate(&self, pos: u64) -> Option<(usize, u64)> {
        let first = self.segments.first()?.start;
        if pos < first {
            return None;
        }
        let index = ((pos - first) / self.segment_size) as usize;
        let seg = self.segments.get(index)?;
        Some((index, pos - seg.start))
    }

    /// Appends `entry`; `None` when the segment it needs is not installed yet.
    pub fn append(&mut self, entry: &TimerEntry) -> Option<u64> {
        if self.missing_segment().is_some() {
            return None;
        }
        let pos = self.end;
        let (index, rel) = self.locate(pos)?;
        let seg = &self.segments[index];
        let bytes = entry.encode();
        // SAFETY: in bounds (the segment covers [start, start + size) and pos + 40 fits because
        // the size is a multiple of 40); only this (locked) writer writes.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                seg.map.as_mut_ptr().add(rel as usize),
                bytes.len(),
            );
        }
        self.max_slot[index] = self.max_slot[index].max(entry.slot_ms);
        self.end += ENTRY_SIZE;
        Some(pos)
    }

    /// The entry at `pos` (below the end), if it is a written entry.
    pub fn read(&self, pos: u64) -> Option<TimerEntry> {
        if pos + ENTRY_SIZE > self.end {
            return None;
        }
        let (index, rel) = self.locate(pos)?;
        TimerEntry::decode(self.segments[index].bytes(rel, ENTRY_SIZE as usize))
    }

    /// Sets the `prev` and `slot_ms` of the entry at `pos` (the rebuild at start re-chains entries
    /// whose slot moved, e.g. after a `timerPrecisionMs` change) and notes the slot for expiry.
    pub fn relink(&mut self, pos: u64, prev: i64, slot_ms: i64) {
        if pos + ENTRY_SIZE > self.end {
            return;
        }
        let Some((index, rel)) = self.locate(pos) else {
            return;
        };
        let seg = &self.segments[index];
        let mut b = [0u8; 16];
        b[0..8].copy_from_slice(&prev.to_be_bytes());
        b[8..16].copy_from_slice(&slot_ms.to_be_bytes());
        if seg.bytes(rel, 16) != b {
            // SAFETY: in bounds (below the end); only this (locked) writer writes.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    b.as_ptr(),
                    seg.map.as_mut_ptr().add(rel as usize),
                    16,
                );
            }
        }
        self.max_slot[index] = self.max_slot[index].max(slot_ms);
    }

    /// Notes that the entry at `pos` links into `slot_ms` (for the rebuild at start).
    pub fn note_slot(&mut self, pos: u64, slot_ms: i64) {
        if let Some((index, _)) = self.locate(pos) {
            self.max_slot[index] = self.max_slot[index].max(slot_ms);
        }
    }

    /// Handles to msync `[from, to)`: (segment, segment-relative from, to).
    pub fn flush_plan(&self, from: u64, to: u64) -> Vec<(Arc<Segment>, u64, u64)> {
        self.segments
            .iter()
            .filter_map(|s| {
                let (a, b) = (from.max(s.start), to.min(s.start + self.segment_size));
                (a < b).then(|| (s.clone(), a - s.start, b - s.start))
            })
            .collect()
    }

    /// Unmaps the oldest segments whose every entry links into a slot before `done_ms` (all
    /// delivered), never the one being written. Returns their paths for deletion off the lock.
    pub fn take_expired(&mut self, done_ms: i64) -> Vec<PathBuf> {
        let mut gone = Vec::new();
        while self.segments.len() > 1 && self.max_slot[0] < done_ms {
            let seg = self.segments.remove(0);
            self.max_slot.remove(0);
            gone.push(seg.path.clone());
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: i64) -> TimerEntry {
        TimerEntry {
            prev: i - 1,
            slot_ms: i * 1000,
            deliver_ms: i * 1000 + 7,
            phy_offset: i * 100,
            size: 99,
        }
    }

    fn fill(log: &mut TimerLog, n: i64) -> Vec<u64> {
        (0..n)
            .map(|i| loop {
                if let Some(start) = log.missing_segment() {
                    let seg = create_segment(log.dir(), start, log.segment_size()).unwrap();
                    log.install(seg);
                }
                if let Some(pos) = log.append(&entry(i)) {
                    break pos;
                }
            })
            .collect()
    }

    #[test]
    fn entries_round_trip_across_segments_and_reopen_at_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let size = segment_size(0);
        let per = (size / ENTRY_SIZE) as i64;
        let mut log = TimerLog::open(dir.path(), size, 0).unwrap();
        let positions = fill(&mut log, per * 2 + 5);
        assert_eq!(log.segment_count(), 3);
        for (i, pos) in positions.iter().enumerate() {
            assert_eq!(log.read(*pos), Some(entry(i as i64)));
        }
        // Reopen with a checkpoint inside the second segment: the third file goes.
        let end = positions[per as usize + 3];
        drop(log);
        let log = TimerLog::open(dir.path(), size, end).unwrap();
        assert_eq!(log.segment_count(), 2);
        assert_eq!(log.end(), end);
        assert_eq!(log.read(positions[per as usize + 2]), Some(entry(per + 2)));
        assert_eq!(log.read(end), None, "nothing beyond the end");
    }

    #[test]
    fn expired_segments_leave_but_never_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let size = segment_size(0);
        let per = (size / ENTRY_SIZE) as i64;
        let mut log = TimerLog::open(dir.path(), size, 0).unwrap();
        fill(&mut log, per * 2 + 1);
        // Segment 0 holds slots up to (per − 1) s.
        assert!(log.take_expired((per - 1) * 1000).is_empty());
        let gone = log.take_expired(per * 1000);
        assert_eq!(gone.len(), 1);
        assert_eq!(log.start(), size);
        let gone = log.take_expired(i64::MAX);
        assert_eq!(gone.len(), 1, "the segment being written stays");
        assert_eq!(log.segment_count(), 1);
    }
}
