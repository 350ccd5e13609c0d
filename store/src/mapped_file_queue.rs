//! A directory of equally sized [`MappedFile`] segments forming one logical byte log (the CommitLog, or one
//! ConsumeQueue). One writer appends at the tail (under the tail lock), any number of readers read published bytes
//! as zero-copy [`Bytes`] slices, a flusher makes them durable without taking the tail lock.
//!
//! With pre-allocation on (the CommitLog), a dedicated allocator thread creates, reserves and pre-faults the next
//! segment as soon as a new tail is installed, so rolling over never waits for file creation or page faults on
//! the append path (unless the writer outruns the allocator, in which case it waits for it).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use bytes::Bytes;
use memmap2::MmapMut;

use crate::error::{Result, StoreError};
use crate::fs::StoreFs;
use crate::mapped_file::{parse_segment_file_name, segment_file_name, MappedFile, OS_PAGE_SIZE};
use crate::segment_allocator::Allocator;

/// What happens when a record does not fit in the rest of the tail segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndOfSegment {
    /// Leave the rest of the segment as it is (zeros) and continue in a new one. For fixed-unit logs whose segment
    /// size is a multiple of the unit, this never leaves a gap.
    Roll,
    /// The CommitLog rule: a record must leave at least 8 free bytes behind it; otherwise write an 8-byte blank
    /// record (TOTALSIZE = remaining bytes, MAGICCODE = the given magic) and continue in a new segment.
    Blank { magic: u32 },
}

/// The minimum free space a CommitLog record must leave behind it (room for the blank record).
pub const END_FILE_MIN_BLANK_LENGTH: u64 = 8;

struct TailWriter {
    file: Arc<MappedFile>,
    map: MmapMut,
    /// Write position inside `file`; equals its published position between appends.
    pos: u64,
}

struct TailState {
    writer: Option<TailWriter>,
    /// Where the first segment starts (and its write position) when the queue has no segment yet.
    empty_queue_offset: u64,
}

/// Where to append and how the next segment is obtained.
pub struct MappedFileQueue {
    pub dir: PathBuf,
    pub segment_size: u64,
    fs: Arc<dyn StoreFs>,
    segments: RwLock<Vec<Arc<MappedFile>>>,
    tail: Mutex<TailState>,
    allocator: Option<Allocator>,
    flushed_where: AtomicU64,
    /// Appends go to the file with `pwrite` (segments pre-written by the allocator) instead of into the mapping.
    write_through: bool,
}

/// Capacity a thread's write-through buffer keeps between appends.
const SCRATCH_KEEP: usize = 256 * 1024;

thread_local! {
    /// Where write-through appends are assembled before their `pwrite`.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl std::fmt::Debug for MappedFileQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedFileQueue")
            .field("dir", &self.dir)
            .field("segment_size", &self.segment_size)
            .field("min_offset", &self.min_offset())
            .field("max_offset", &self.max_offset())
            .finish()
    }
}

impl MappedFileQueue {
    /// Opens (creating the directory if needed) the segments in `dir`. Every segment must be `segment_size` bytes and
    /// the segments must be contiguous; a zero-length last file (a crash during creation) is deleted. Existing
    /// segments are considered fully written until [`Self::truncate_dirty`] says where the valid data ends.
    /// `preallocate` starts the allocator thread that prepares the next segment ahead of time.
    pub fn open(
        dir: impl Into<PathBuf>,
        segment_size: u64,
        fs: Arc<dyn StoreFs>,
        preallocate: bool,
    ) -> Result<Self> {
        Self::open_with(dir, segment_size, fs, preallocate, false)
    }

    /// [`Self::open`], and with `write_through` the allocator pre-writes every new segment and appends use `pwrite`
    /// (the CommitLog under `warmMapedFileEnable`). Needs `preallocate`.
    pub fn open_with(
        dir: impl Into<PathBuf>,
        segment_size: u64,
        fs: Arc<dyn StoreFs>,
        preallocate: bool,
        write_through: bool,
    ) -> Result<Self> {
        let dir = dir.into();
        if segment_size == 0 {
            return Err(StoreError::BadConfig(format!(
                "segment size of {} must not be 0",
                dir.display()
            )));
        }
        std::fs::create_dir_all(&dir)
            .map_err(|e| StoreError::io(format!("creating {}", dir.display()), e))?;
        let mut found = Vec::new();
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| StoreError::io(format!("listing {}", dir.display()), e))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| StoreError::io(format!("listing {}", dir.display()), e))?;
            let name = entry.file_name();
            let Some(start) = name.to_str().and_then(parse_segment_file_name) else {
                tracing::warn!(file = ?entry.path(), "ignoring a file that is not a segment");
                continue;
            };
            let len = entry
                .metadata()
                .map_err(|e| StoreError::io(format!("stat {}", entry.path().display()), e))?
                .len();
            found.push((start, entry.path(), len));
        }
        found.sort_by_key(|(start, _, _)| *start);
        if let Some((_, path, 0)) = found.last() {
            tracing::warn!(file = %path.display(), "deleting an empty last segment left by a crash");
            fs.remove(path)
                .map_err(|e| StoreError::io(format!("deleting {}", path.display()), e))?;
            found.pop();
        }
        let mut segments = Vec::with_capacity(found.len());
        let mut expected_start: Option<u64> = None;
        for (start, path, len) in found {
            if len != segment_size {
                return Err(StoreError::Corrupt {
                    file: path,
                    offset: 0,
                    reason: format!("segment is {len} bytes, expected {segment_size}"),
                });
            }
            if start % segment_size != 0 || expected_start.is_some_and(|e| e != start) {
                return Err(StoreError::Corrupt {
                    file: path,
                    offset: 0,
                    reason: format!(
                        "segment does not follow the previous one (expected start {})",
                        expected_start.unwrap_or(0)
                    ),
                });
            }
            expected_start = Some(start + segment_size);
            segments.push(MappedFile::open(&fs, &path, start, segment_size)?);
        }
        let flushed = segments.last().map_or(0, |s| s.end_offset());
        let empty_queue_offset = segments.first().map_or(0, |s| s.start_offset);
        let allocator = if preallocate {
            Some(Allocator::start(
                fs.clone(),
                dir.clone(),
                segment_size,
                write_through,
            )?)
        } else {
            None
        };
        Ok(MappedFileQueue {
            dir,
            segment_size,
            fs,
            segments: RwLock::new(segments),
            tail: Mutex::new(TailState {
                writer: None,
                empty_queue_offset,
            }),
            allocator,
            flushed_where: AtomicU64::new(flushed),
            write_through: write_through && preallocate,
        })
    }

    fn read_segments(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<MappedFile>>> {
        // A poisoned lock only means a panic elsewhere while holding it; the Vec itself is always consistent.
        self.segments.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_segments(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Arc<MappedFile>>> {
        self.segments.write().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_tail(&self) -> MutexGuard<'_, TailState> {
        self.tail.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A snapshot of the segments, oldest first.
    pub fn segments(&self) -> Vec<Arc<MappedFile>> {
        self.read_segments().clone()
    }

    pub fn first_segment(&self) -> Option<Arc<MappedFile>> {
        self.read_segments().first().cloned()
    }

    pub fn last_segment(&self) -> Option<Arc<MappedFile>> {
        self.read_segments().last().cloned()
    }

    /// The segment holding global `offset`.
    pub fn find_segment(&self, offset: u64) -> Option<Arc<MappedFile>> {
        let segs = self.read_segments();
        let idx = segs.partition_point(|s| s.start_offset <= offset);
        let seg = segs.get(idx.checked_sub(1)?)?;
        (offset < seg.end_offset()).then(|| seg.clone())
    }

    /// Global offset of the first byte still on disk.
    pub fn min_offset(&self) -> u64 {
        match self.first_segment() {
            Some(s) => s.start_offset,
            None => self.lock_tail().empty_queue_offset,
        }
    }

    /// Global offset one past the last published byte.
    pub fn max_offset(&self) -> u64 {
        match self.last_segment() {
            Some(s) => s.start_offset + s.wrote_position(),
            None => self.lock_tail().empty_queue_offset,
        }
    }

    /// Global offset up to which data is durable.
    pub fn flushed_offset(&self) -> u64 {
        self.flushed_where.load(Ordering::Acquire)
    }

    /// `len` published bytes at global `offset`, as a slice of the mapping (no copy). `None` if they are not all
    /// published or would cross a segment boundary.
    pub fn read(&self, offset: u64, len: u64) -> Option<Bytes> {
        let seg = self.find_segment(offset)?;
        seg.slice(offset - seg.start_offset, len)
    }

    /// The published bytes from global `offset` to the end of what is written in its segment (replication and
    /// dispatch read the log this way, one segment at a time).
    pub fn read_to_segment_end(&self, offset: u64) -> Option<Bytes> {
        let seg = self.find_segment(offset)?;
        seg.slice_to_wrote(offset - seg.start_offset)
    }

    /// Appends `data` at the tail, rolling to a new segment when it does not fit (`EndOfSegment::Roll`). Returns the
    /// global offset of its first byte.
    pub fn append(&self, data: &[u8]) -> Result<u64> {
        self.append_with(data.len(), EndOfSegment::Roll, |_, buf| {
            buf.copy_from_slice(data)
        })
        .map(|(offset, ())| offset)
    }

    /// Appends at global `offset`. On an empty queue, the first segment is created around `offset` (the bytes of it
    /// before `offset` stay zero); otherwise `offset` must equal [`Self::max_offset`].
    pub fn append_at(&self, offset: u64, data: &[u8]) -> Result<()> {
        {
            let mut tail = self.lock_tail();
            if self.read_segments().is_empty() && tail.writer.is_none() {
                tail.empty_queue_offset = offset;
            }
        }
        let max = self.max_offset();
        if max != offset {
            return Err(StoreError::InvalidOffset(format!(
                "append at {offset} but {} ends at {max}",
                self.dir.display()
            )));
        }
        self.append(data).map(|_| ())
    }

    /// Reserves `len` bytes at the tail and lets `fill` write them, given their global offset. Everything happens
    /// under the tail lock, so callers can assign sequence numbers inside `fill` in log order. The bytes are published
    /// to readers when `fill` returns. `end` says what to do when they do not fit in the tail segment.
    pub fn append_with<R>(
        &self,
        len: usize,
        end: EndOfSegment,
        fill: impl FnOnce(u64, &mut [u8]) -> R,
    ) -> Result<(u64, R)> {
        let len = len as u64;
        let reserve = match end {
            EndOfSegment::Roll => 0,
            EndOfSegment::Blank { .. } => END_FILE_MIN_BLANK_LENGTH,
        };
        if len + reserve > self.segment_size {
            return Err(StoreError::RecordLargerThanSegment {
                len: len as usize,
                segment: self.segment_size,
            });
        }
        let mut tail = self.lock_tail();
        let mut writer = self.take_writer(&mut tail)?;
        if writer.pos + len + reserve > self.segment_size {
            let remaining = self.segment_size - writer.pos;
            // Every record leaves at least 8 bytes, so the blank fits; raw replicated bytes could break that, and
            // then the segment is simply closed.
            if let (EndOfSegment::Blank { magic }, true) =
                (end, remaining >= END_FILE_MIN_BLANK_LENGTH)
            {
                let mut blank = [0u8; 8];
                blank[..4].copy_from_slice(&(remaining as u32).to_be_bytes());
                blank[4..].copy_from_slice(&magic.to_be_bytes());
                if let Err(e) = self.write(&mut writer, &blank) {
                    tail.writer = Some(writer);
                    return Err(e);
                }
            }
            writer.pos = self.segment_size;
            writer.file.publish(self.segment_size);
            // Keep the full segment's writer until a new one exists, so a failed roll leaves the state consistent.
            tail.writer = Some(writer);
            writer = self.roll(&mut tail)?;
        }
        let at = writer.pos as usize;
        let offset = writer.file.start_offset + writer.pos;
        let out = if self.write_through {
            let written = SCRATCH.with(|cell| {
                let mut buf = cell.borrow_mut();
                buf.clear();
                buf.resize(len as usize, 0);
                let out = fill(offset, &mut buf);
                let written = writer.file.write_at(writer.pos, &buf).map(|()| out);
                // Do not keep a multi-MiB batch's buffer around on every thread that ever sent one.
                if buf.capacity() > SCRATCH_KEEP {
                    buf.clear();
                    buf.shrink_to(SCRATCH_KEEP);
                }
                written
            });
            match written {
                Ok(out) => out,
                Err(e) => {
                    // Nothing was published; the next append writes over whatever part reached the file.
                    tail.writer = Some(writer);
                    return Err(e);
                }
            }
        } else {
            fill(offset, &mut writer.map[at..at + len as usize])
        };
        writer.pos += len;
        writer.file.publish(writer.pos);
        tail.writer = Some(writer);
        Ok((offset, out))
    }

    /// Appends raw bytes (replication: bytes copied verbatim from a master) at global `offset`, which must equal the
    /// current max offset. The bytes may span segments; they already contain the master's blank records.
    pub fn append_raw(&self, offset: u64, mut data: &[u8]) -> Result<()> {
        let mut tail = self.lock_tail();
        let mut writer = self.take_writer(&mut tail)?;
        let max = writer.file.start_offset + writer.pos;
        if offset != max {
            tail.writer = Some(writer);
            return Err(StoreError::InvalidOffset(format!(
                "raw append at {offset} but {} ends at {max}",
                self.dir.display()
            )));
        }
        while !data.is_empty() {
            if writer.pos == self.segment_size {
                tail.writer = Some(writer);
                writer = self.roll(&mut tail)?;
            }
            let room = (self.segment_size - writer.pos) as usize;
            let n = room.min(data.len());
            if let Err(e) = self.write(&mut writer, &data[..n]) {
                tail.writer = Some(writer);
                return Err(e);
            }
            writer.pos += n as u64;
            writer.file.publish(writer.pos);
            data = &data[n..];
        }
        tail.writer = Some(writer);
        Ok(())
    }

    /// Writes `data` at the writer's position (not published, position not moved): into the mapping, or with
    /// `pwrite` when writing through.
    fn write(&self, writer: &mut TailWriter, data: &[u8]) -> Result<()> {
        if self.write_through {
            return writer.file.write_at(writer.pos, data);
        }
        let at = writer.pos as usize;
        writer.map[at..at + data.len()].copy_from_slice(data);
        Ok(())
    }

    /// The writer for the tail segment: the existing one, one adopted from the last segment on disk (after
    /// recovery), or a new segment if the queue is empty or the last one is full.
    fn take_writer(&self, tail: &mut TailState) -> Result<TailWriter> {
        if let Some(w) = tail.writer.take() {
            if w.pos < self.segment_size {
                return Ok(w);
            }
            tail.writer = Some(w);
            return self.roll(tail);
        }
        if let Some(last) = self.last_segment() {
            let pos = last.wrote_position();
            if pos < self.segment_size {
                let map = last.map_writable()?;
                // Start reading the rest of the adopted segment into the page cache now (asynchronous readahead),
                // so appends do not take major faults on it.
                let rest = (self.segment_size - pos) as usize;
                if let Err(e) = map.advise_range(memmap2::Advice::WillNeed, pos as usize, rest) {
                    tracing::debug!(error = %e, "madvise(WILLNEED) on the adopted tail failed");
                }
                return Ok(TailWriter {
                    file: last,
                    map,
                    pos,
                });
            }
        }
        self.roll(tail)
    }

    /// Installs a new tail segment after the last one (or the first one of an empty queue).
    fn roll(&self, tail: &mut TailState) -> Result<TailWriter> {
        let (start, pos) = match self.last_segment() {
            Some(last) => (last.end_offset(), 0),
            None => {
                let at = tail.empty_queue_offset;
                let start = at - at % self.segment_size;
                (start, at - start)
            }
        };
        let prepared = match &self.allocator {
            Some(alloc) => alloc.take(start),
            None => None,
        };
        let (file, map) = match prepared {
            Some(ready) => ready?,
            None => MappedFile::create(
                &self.fs,
                &self.dir,
                start,
                self.segment_size,
                false,
                self.write_through,
            )?,
        };
        if pos > 0 {
            file.set_positions(pos, pos);
        }
        self.write_segments().push(file.clone());
        tail.writer = None;
        if let Some(alloc) = &self.allocator {
            alloc.request(start + self.segment_size);
        }
        Ok(TailWriter { file, map, pos })
    }

    /// Installs the tail writer now (adopting the last segment, or taking a new one from the allocator, waiting
    /// for it), so the first append does not. Blocking: the store calls it from `open`.
    pub fn warm_tail(&self) -> Result<()> {
        let mut tail = self.lock_tail();
        let writer = self.take_writer(&mut tail)?;
        tail.writer = Some(writer);
        Ok(())
    }

    /// Asks the allocator to prepare the segment after the current last one now (at start-up, so the first roll
    /// does not wait).
    pub fn prepare_next_segment(&self) {
        if let Some(alloc) = &self.allocator {
            // Always the segment right after the last one on disk: preparing one further ahead would leave a gap
            // on disk (and a store that refuses to load) if the process died before the one in between existed.
            let next = match self.last_segment() {
                Some(last) => last.end_offset(),
                None => {
                    let at = self.lock_tail().empty_queue_offset;
                    at - at % self.segment_size
                }
            };
            alloc.request(next);
        }
    }

    /// Makes published data durable: every segment from the flushed offset to the tail is synced when it has at
    /// least `least_pages` dirty pages (0 = always). Never holds the tail lock while syncing. Returns the new flushed
    /// offset.
    pub fn flush(&self, least_pages: u32) -> Result<u64> {
        let mut flushed = self.flushed_offset();
        let segs: Vec<Arc<MappedFile>> = self
            .read_segments()
            .iter()
            .filter(|s| s.end_offset() > flushed)
            .cloned()
            .collect();
        for seg in segs {
            // Segments before the tail are full; flush them completely whatever `least_pages` says.
            let pos = seg.flush(if seg.is_full() { 0 } else { least_pages })?;
            flushed = flushed.max(seg.start_offset + pos);
            if pos < seg.size {
                break;
            }
        }
        self.flushed_where.fetch_max(flushed, Ordering::AcqRel);
        Ok(self.flushed_offset())
    }

    /// Number of 4 KiB pages published but not yet durable (for `flush*LeastPages` decisions and stats).
    pub fn dirty_pages(&self) -> u64 {
        (self.max_offset() / OS_PAGE_SIZE).saturating_sub(self.flushed_offset() / OS_PAGE_SIZE)
    }

    /// Cuts the log at global `offset`: the segment holding it becomes the tail with its write position there (stale
    /// bytes after it are zeroed so they can never be mistaken for records later), later segments are deleted.
    /// Used by recovery (torn tail) and by ConsumeQueue repair.
    pub fn truncate_dirty(&self, offset: u64) -> Result<()> {
        let mut tail = self.lock_tail();
        tail.writer = None;
        let mut segs = self.write_segments();
        let mut keep = Vec::with_capacity(segs.len());
        for seg in segs.drain(..) {
            if seg.end_offset() <= offset {
                keep.push(seg);
            } else if seg.start_offset <= offset {
                let pos = offset - seg.start_offset;
                zero_stale_tail(&seg, pos)?;
                seg.set_positions(pos, pos);
                keep.push(seg);
            } else {
                seg.destroy()?;
            }
        }
        *segs = keep;
        if segs.is_empty() {
            tail.empty_queue_offset = offset;
        }
        self.flushed_where.store(offset, Ordering::Release);
        Ok(())
    }

    /// Deletes segments from the oldest while `expired` says so, never the last one and at most `max` of them.
    /// Returns how many were deleted.
    pub fn delete_oldest_while(
        &self,
        max: usize,
        mut expired: impl FnMut(&MappedFile) -> bool,
    ) -> Result<usize> {
        let victims: Vec<Arc<MappedFile>> = {
            let segs = self.read_segments();
            let candidates = segs.len().saturating_sub(1);
            segs.iter()
                .take(candidates.min(max))
                .take_while(|s| expired(s))
                .cloned()
                .collect()
        };
        let mut deleted = 0;
        for seg in victims {
            {
                let mut segs = self.write_segments();
                if segs.len() <= 1 || !Arc::ptr_eq(&segs[0], &seg) {
                    break;
                }
                segs.remove(0);
            }
            seg.destroy()?;
            deleted += 1;
        }
        Ok(deleted)
    }

    /// The path a segment starting at `offset` has in this queue.
    pub fn segment_path(&self, offset: u64) -> PathBuf {
        self.dir.join(segment_file_name(offset))
    }
}

/// Zeroes bytes after `pos` in `seg` until a long run of zeros (or the end of the segment) shows the stale region is
/// over. Appends are sequential, so stale bytes from before a crash form one region right after the cut; the run of
/// 8 MiB outlasts any record (4 MiB body + 64 KiB) the kernel may have written back out of order.
fn zero_stale_tail(seg: &MappedFile, pos: u64) -> Result<()> {
    const ZERO_RUN_END: u64 = 8 * 1024 * 1024;
    let whole = seg.whole();
    let mut at = pos;
    let mut zero_run = 0;
    let mut map: Option<MmapMut> = None;
    while at < seg.size && zero_run < ZERO_RUN_END {
        let chunk_end = ((at / OS_PAGE_SIZE + 1) * OS_PAGE_SIZE).min(seg.size);
        let chunk = &whole[at as usize..chunk_end as usize];
        if chunk.iter().all(|&b| b == 0) {
            zero_run += chunk_end - at;
        } else {
            if map.is_none() {
                map = Some(seg.map_writable()?);
            }
            if let Some(m) = map.as_mut() {
                m[at as usize..chunk_end as usize].fill(0);
            }
            zero_run = 0;
        }
        at = chunk_end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{FaultyFs, OsFs};

    const BLANK: u32 = 0xCBD4_3194;

    fn os() -> Arc<dyn StoreFs> {
        Arc::new(OsFs)
    }

    #[test]
    fn append_rolls_over_and_reads_back_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let q = MappedFileQueue::open(dir.path(), 100, os(), false).unwrap();
        assert_eq!((q.min_offset(), q.max_offset()), (0, 0));
        for i in 0..25u8 {
            let off = q.append(&[i; 20]).unwrap();
            assert_eq!(off, u64::from(i) * 20);
        }
        assert_eq!(q.segments().len(), 5);
        assert_eq!(q.max_offset(), 500);
        assert_eq!(&q.read(180, 20).unwrap()[..], &[9u8; 20]);
        assert!(q.read(90, 20).is_none(), "a read must not cross segments");
        assert!(q.read(500, 1).is_none());
        let names: Vec<_> = q
            .segments()
            .iter()
            .map(|s| s.path.file_name().unwrap().to_owned())
            .collect();
        assert_eq!(names[1], "00000000000000000100");
    }

    #[test]
    fn write_through_appends_reach_file_and_readers_across_rolls() {
        let dir = tempfile::tempdir().unwrap();
        let fs = FaultyFs::new();
        let q = MappedFileQueue::open_with(dir.path(), 4096, fs.clone(), true, true).unwrap();
        q.warm_tail().unwrap();
        // Pre-writing synced each segment the allocator prepared before any append.
        assert!(fs.syncs.load(Ordering::Relaxed) >= 1);
        let mut offsets = Vec::new();
        for i in 0..30u8 {
            let (off, ()) = q
                .append_with(300, EndOfSegment::Blank { magic: BLANK }, |_, buf| {
                    buf.fill(i + 1)
                })
                .unwrap();
            offsets.push(off);
        }
        // 13 records of 300 bytes fit in 4096 (leaving >= 8 bytes), then a blank.
        assert_eq!(offsets[13], 4096);
        for (i, off) in offsets.iter().enumerate() {
            assert_eq!(&q.read(*off, 300).unwrap()[..], &[i as u8 + 1; 300][..]);
        }
        // The bytes are in the files themselves (pwrite), the blank included.
        let first = std::fs::read(q.segment_path(0)).unwrap();
        assert_eq!(first.len(), 4096);
        assert_eq!(&first[300..600], &[2u8; 300][..]);
        assert_eq!(&first[3900..3904], &196u32.to_be_bytes());
        assert_eq!(&first[3904..3908], &BLANK.to_be_bytes());
        let third = std::fs::read(q.segment_path(8192)).unwrap();
        assert_eq!(&third[..300], &[27u8; 300][..]);
        // Past the tail the pre-written segment holds zeros, which recovery reads as the end of data.
        assert!(third[4 * 300..].iter().all(|b| *b == 0));
    }

    #[test]
    fn write_through_segment_creation_failure_is_an_error_not_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let fs = FaultyFs::new();
        let q = MappedFileQueue::open_with(dir.path(), 4096, fs.clone(), true, true).unwrap();
        q.warm_tail().unwrap();
        fs.no_space.store(true, Ordering::SeqCst);
        let mut refused = None;
        for _ in 0..40 {
            if let Err(e) = q.append(&[7u8; 512]) {
                refused = Some(e);
                break;
            }
        }
        let e = refused.expect("appends past the first segment must fail without space");
        assert!(e.is_disk_full(), "{e}");
        fs.no_space.store(false, Ordering::SeqCst);
        // Space is back: appending resumes where it stopped, nothing published was lost.
        let max = q.max_offset();
        let off = q.append(&[9u8; 512]).unwrap();
        assert!(off >= max);
        assert_eq!(&q.read(off, 512).unwrap()[..], &[9u8; 512][..]);
    }

    #[test]
    fn blank_rule_keeps_eight_free_bytes_and_marks_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let q = MappedFileQueue::open(dir.path(), 64, os(), true).unwrap();
        let end = EndOfSegment::Blank { magic: BLANK };
        let (a, _) = q.append_with(40, end, |_, b| b.fill(1)).unwrap();
        // 40 + 20 + 8 > 64: the second record goes to the next segment behind a 24-byte blank.
        let (b, _) = q.append_with(20, end, |_, b| b.fill(2)).unwrap();
        assert_eq!((a, b), (0, 64));
        let blank = q.read(40, 8).unwrap();
        assert_eq!(&blank[..4], &24u32.to_be_bytes());
        assert_eq!(&blank[4..], &BLANK.to_be_bytes());
        // Exactly 8 bytes left is allowed.
        let (c, _) = q.append_with(36, end, |_, b| b.fill(3)).unwrap();
        assert_eq!(c, 84);
        assert!(
            q.append_with(57, end, |_, _| ()).is_err(),
            "larger than a segment"
        );
    }

    #[test]
    fn blank_rule_after_raw_bytes_left_less_than_a_blank_closes_the_segment() {
        let dir = tempfile::tempdir().unwrap();
        let q = MappedFileQueue::open(dir.path(), 64, os(), false).unwrap();
        q.append_raw(0, &[7; 57]).unwrap();
        // 7 bytes remain: an 8-byte blank does not fit, so nothing is written there and the record rolls over.
        let end = EndOfSegment::Blank { magic: BLANK };
        let (off, _) = q.append_with(10, end, |_, b| b.fill(1)).unwrap();
        assert_eq!(off, 64);
        assert_eq!(&q.read(57, 7).unwrap()[..], &[0; 7]);
        assert_eq!(&q.read(64, 10).unwrap()[..], &[1; 10]);
    }

    #[test]
    fn reopen_then_truncate_dirty_zeroes_stale_bytes_and_appends_there() {
        let dir = tempfile::tempdir().unwrap();
        {
            let q = MappedFileQueue::open(dir.path(), 100, os(), false).unwrap();
            for i in 0..7u8 {
                q.append(&[i + 1; 20]).unwrap();
            }
            q.flush(0).unwrap();
        }
        let q = MappedFileQueue::open(dir.path(), 100, os(), false).unwrap();
        assert_eq!(
            q.max_offset(),
            200,
            "existing segments count as full until recovery"
        );
        q.truncate_dirty(120).unwrap();
        assert_eq!(q.max_offset(), 120);
        assert_eq!(q.segments().len(), 2);
        assert!(q.segments()[1].whole()[20..].iter().all(|&b| b == 0));
        assert_eq!(q.append(&[9; 20]).unwrap(), 120);
        assert_eq!(&q.read(120, 20).unwrap()[..], &[9; 20]);
        q.truncate_dirty(40).unwrap();
        assert_eq!(q.segments().len(), 1);
        assert_eq!(q.max_offset(), 40);
    }

    #[test]
    fn append_at_positions_an_empty_queue() {
        let dir = tempfile::tempdir().unwrap();
        let q = MappedFileQueue::open(dir.path(), 100, os(), false).unwrap();
        q.append_at(260, &[5; 20]).unwrap();
        assert_eq!((q.min_offset(), q.max_offset()), (200, 280));
        assert!(q.append_at(300, &[5; 20]).is_err());
        assert_eq!(
            q.segments()[0].path.file_name().unwrap(),
            "00000000000000000200"
        );
    }

    #[test]
    fn raw_append_spans_segments_and_checks_the_offset() {
        let dir = tempfile::tempdir().unwrap();
        let q = MappedFileQueue::open(dir.path(), 64, os(), true).unwrap();
        let data: Vec<u8> = (0..150u8).collect();
        q.append_raw(0, &data).unwrap();
        assert_eq!(q.max_offset(), 150);
        assert_eq!(&q.read(64, 64).unwrap()[..], &data[64..128]);
        assert!(q.append_raw(10, b"x").is_err());
    }

    #[test]
    fn flush_tracks_least_pages_and_delete_oldest_keeps_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let fs = FaultyFs::new();
        let q = MappedFileQueue::open(dir.path(), 8192, fs.clone(), false).unwrap();
        q.append(&[1; 100]).unwrap();
        assert_eq!(q.flush(4).unwrap(), 0);
        assert_eq!(q.flush(0).unwrap(), 100);
        fs.fail_sync.store(true, Ordering::SeqCst);
        q.append(&[1; 100]).unwrap();
        assert!(q.flush(0).is_err());
        assert_eq!(q.flushed_offset(), 100);
        fs.fail_sync.store(false, Ordering::SeqCst);
        for _ in 0..200 {
            q.append(&[2; 100]).unwrap();
        }
        let n = q.segments().len();
        assert_eq!(n, 3);
        assert_eq!(q.delete_oldest_while(10, |_| true).unwrap(), 2);
        assert_eq!(q.segments().len(), 1);
        assert_eq!(q.min_offset(), 16384);
    }

    #[test]
    fn disk_full_on_roll_is_a_clear_error_and_reads_continue() {
        let dir = tempfile::tempdir().unwrap();
        let fs = FaultyFs::new();
        let q = MappedFileQueue::open(dir.path(), 100, fs.clone(), true).unwrap();
        q.append(&[1; 50]).unwrap();
        fs.no_space.store(true, Ordering::SeqCst);
        // The allocator may already have prepared the next segment; fill past it.
        let mut err = None;
        for _ in 0..10 {
            if let Err(e) = q.append(&[2; 50]) {
                err = Some(e);
                break;
            }
        }
        let err = err.expect("appends must fail once no segment can be created");
        assert!(err.is_disk_full(), "{err}");
        assert_eq!(&q.read(0, 50).unwrap()[..], &[1; 50]);
        fs.no_space.store(false, Ordering::SeqCst);
        q.append(&[3; 50]).unwrap();
    }

    #[test]
    fn preparing_after_a_full_last_segment_never_leaves_a_gap() {
        let dir = tempfile::tempdir().unwrap();
        {
            let q = MappedFileQueue::open(dir.path(), 100, os(), false).unwrap();
            q.append(&[1; 100]).unwrap();
        }
        let q = MappedFileQueue::open(dir.path(), 100, os(), true).unwrap();
        assert!(q.last_segment().unwrap().is_full());
        q.prepare_next_segment();
        let next = dir.path().join(segment_file_name(100));
        for _ in 0..5000 {
            if next.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(next.exists());
        assert!(!dir.path().join(segment_file_name(200)).exists());
        drop(q);
        let again = MappedFileQueue::open(dir.path(), 100, os(), false).unwrap();
        assert_eq!(again.segments().len(), 2);
    }

    #[test]
    fn load_rejects_wrong_sizes_and_gaps_and_drops_empty_last_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(segment_file_name(0)), [0u8; 100]).unwrap();
        std::fs::write(dir.path().join(segment_file_name(100)), []).unwrap();
        let q = MappedFileQueue::open(dir.path(), 100, os(), false).unwrap();
        assert_eq!(q.segments().len(), 1);
        drop(q);
        std::fs::write(dir.path().join(segment_file_name(300)), [0u8; 100]).unwrap();
        let err = MappedFileQueue::open(dir.path(), 100, os(), false).unwrap_err();
        assert!(err.to_string().contains("00000000000000000300"), "{err}");
        std::fs::write(dir.path().join(segment_file_name(300)), [0u8; 99]).unwrap();
        assert!(MappedFileQueue::open(dir.path(), 100, os(), false).is_err());
    }
}
