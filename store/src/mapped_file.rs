//! One memory-mapped segment file of fixed size, named by the 20-digit global offset of its first byte.
//!
//! Each segment is mapped twice: a read-only view shared with readers as [`Bytes`] (so a read hands out a slice of
//! the mapping, no copy), and a writable map held by exactly one writer (the queue's tail lock, see
//! `mapped_file_queue`). Bytes below the published write position are never written again, so readers never see a
//! byte change under them; the position is published with Release and read with Acquire.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use memmap2::{Mmap, MmapMut, MmapOptions};

use crate::error::{Result, StoreError};
use crate::fs::StoreFs;

/// The page size used to count dirty pages for `flush*LeastPages`.
pub const OS_PAGE_SIZE: u64 = 4096;

/// The file name of a segment starting at `offset`: 20 decimal digits, zero-padded.
pub fn segment_file_name(offset: u64) -> String {
    format!("{offset:020}")
}

/// Parses a segment file name back into its start offset; `None` for anything that is not 20 digits.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    if name.len() != 20 || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

/// One segment file.
pub struct MappedFile {
    pub path: PathBuf,
    /// Global offset of the first byte of the file (its name).
    pub start_offset: u64,
    /// File size (every segment of a queue has the same size).
    pub size: u64,
    file: File,
    /// Read-only mapping of the whole file; readers get `slice`s of it.
    view: Bytes,
    /// Published write position inside the file: bytes below it are complete and immutable.
    wrote: AtomicU64,
    /// Position up to which the data is known durable.
    flushed: AtomicU64,
    fs: Arc<dyn StoreFs>,
}

impl std::fmt::Debug for MappedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedFile")
            .field("path", &self.path)
            .field("start_offset", &self.start_offset)
            .field("size", &self.size)
            .field("wrote", &self.wrote_position())
            .field("flushed", &self.flushed_position())
            .finish()
    }
}

fn map_len(size: u64, path: &Path) -> Result<usize> {
    usize::try_from(size)
        .map_err(|_| StoreError::BadConfig(format!("segment {} too large to map", path.display())))
}

impl MappedFile {
    /// Creates a new segment `{dir}/{start:020}` of `size` bytes with its blocks reserved. With `prefault`, both
    /// mappings are populated (MAP_POPULATE) so the first writes and reads do not take major page faults: callers on
    /// the hot path get their segments from the allocator thread, which passes `true`.
    /// With `prewrite`, the file is first filled with zeros and synced ([`StoreFs::prewrite_segment`]).
    /// Returns the segment (write position 0) and its writable map.
    pub fn create(
        fs: &Arc<dyn StoreFs>,
        dir: &Path,
        start_offset: u64,
        size: u64,
        prefault: bool,
        prewrite: bool,
    ) -> Result<(Arc<MappedFile>, MmapMut)> {
        let path = dir.join(segment_file_name(start_offset));
        let file = fs
            .create_segment(&path, size)
            .map_err(|e| StoreError::io(format!("creating segment {}", path.display()), e))?;
        if prewrite {
            if let Err(e) = fs.prewrite_segment(&file, size) {
                drop(file);
                let _ = fs.remove(&path);
                return Err(StoreError::io(
                    format!("pre-writing segment {}", path.display()),
                    e,
                ));
            }
        }
        let len = map_len(size, &path)?;
        let mut opts = MmapOptions::new();
        opts.len(len);
        // A pre-written segment is appended to with `pwrite`: its writable map is only for rare
        // fix-ups (recovery), so it is not worth populating.
        if prefault && !prewrite {
            opts.populate();
        }
        // SAFETY: the file is ours, sized to `len` above; other processes must not truncate store files (the store
        // directory is locked). Writes go only through this single writable map, under the queue's tail lock.
        let map = unsafe { opts.map_mut(&file) }
            .map_err(|e| StoreError::io(format!("mapping {}", path.display()), e))?;
        let segment = Self::with_view(fs, path, file, start_offset, size, prefault, 0)?;
        Ok((segment, map))
    }

    /// Opens an existing segment. Its write and flush positions start at the file size (Apache's load rule);
    /// recovery moves them back to the last valid byte with [`crate::mapped_file_queue::MappedFileQueue::truncate_dirty`].
    pub fn open(
        fs: &Arc<dyn StoreFs>,
        path: &Path,
        start_offset: u64,
        size: u64,
    ) -> Result<Arc<MappedFile>> {
        let file = fs
            .open_segment(path)
            .map_err(|e| StoreError::io(format!("opening segment {}", path.display()), e))?;
        Self::with_view(
            fs,
            path.to_path_buf(),
            file,
            start_offset,
            size,
            false,
            size,
        )
    }

    fn with_view(
        fs: &Arc<dyn StoreFs>,
        path: PathBuf,
        file: File,
        start_offset: u64,
        size: u64,
        prefault: bool,
        position: u64,
    ) -> Result<Arc<MappedFile>> {
        let len = map_len(size, &path)?;
        let mut opts = MmapOptions::new();
        opts.len(len);
        if prefault {
            opts.populate();
        }
        // SAFETY: read-only shared mapping of a file of `len` bytes that no one truncates while mapped; readers only
        // look below the published write position, which the single writer never changes again.
        let view: Mmap = unsafe { opts.map(&file) }
            .map_err(|e| StoreError::io(format!("mapping {}", path.display()), e))?;
        Ok(Arc::new(MappedFile {
            path,
            start_offset,
            size,
            file,
            view: Bytes::from_owner(view),
            wrote: AtomicU64::new(position),
            flushed: AtomicU64::new(position),
            fs: fs.clone(),
        }))
    }

    /// A fresh writable map of this segment, for the queue's writer when it adopts an existing tail file (after
    /// recovery). Only one may be in use at a time.
    pub(crate) fn map_writable(&self) -> Result<MmapMut> {
        let len = map_len(self.size, &self.path)?;
        // SAFETY: as in `create`: the store owns the file, it is `len` bytes long, and the caller is the single writer.
        unsafe { MmapOptions::new().len(len).map_mut(&self.file) }
            .map_err(|e| StoreError::io(format!("mapping {}", self.path.display()), e))
    }

    /// Global offset one past the last byte of the file.
    pub fn end_offset(&self) -> u64 {
        self.start_offset + self.size
    }

    /// Published write position inside the file.
    pub fn wrote_position(&self) -> u64 {
        self.wrote.load(Ordering::Acquire)
    }

    /// Durable position inside the file.
    pub fn flushed_position(&self) -> u64 {
        self.flushed.load(Ordering::Acquire)
    }

    /// True when nothing more can be appended.
    pub fn is_full(&self) -> bool {
        self.wrote_position() >= self.size
    }

    /// Publishes bytes written below `position` to readers. Called by the single writer only.
    pub(crate) fn publish(&self, position: u64) {
        self.wrote.store(position, Ordering::Release);
    }

    /// Resets both positions (recovery, truncation).
    pub(crate) fn set_positions(&self, wrote: u64, flushed: u64) {
        self.wrote.store(wrote, Ordering::Release);
        self.flushed.store(flushed, Ordering::Release);
    }

    /// `len` bytes at in-file position `pos`, if all of them are published. A slice of the mapping: no copy.
    pub fn slice(&self, pos: u64, len: u64) -> Option<Bytes> {
        let end = pos.checked_add(len)?;
        if end > self.wrote_position() {
            return None;
        }
        Some(self.view.slice(pos as usize..end as usize))
    }

    /// The published bytes from in-file position `pos` to the write position.
    pub fn slice_to_wrote(&self, pos: u64) -> Option<Bytes> {
        let wrote = self.wrote_position();
        if pos > wrote {
            return None;
        }
        Some(self.view.slice(pos as usize..wrote as usize))
    }

    /// The whole file, ignoring the write position. For recovery, which scans files before any writer exists.
    pub fn whole(&self) -> Bytes {
        self.view.clone()
    }

    /// Writes `data` at in-file position `pos` with `pwrite` (write-through appends; see `warmMapedFileEnable`). The
    /// read-only mapping sees the bytes at once: both are the same page-cache pages.
    pub(crate) fn write_at(&self, pos: u64, data: &[u8]) -> Result<()> {
        use std::os::unix::fs::FileExt;
        self.file
            .write_all_at(data, pos)
            .map_err(|e| StoreError::io(format!("writing {}", self.path.display()), e))
    }

    /// Makes the published bytes durable if at least `least_pages` 4 KiB pages are dirty, or the file is full, or
    /// `least_pages` is 0. Returns the flushed position. Runs on the flush thread; never takes the tail lock.
    pub fn flush(&self, least_pages: u32) -> Result<u64> {
        let wrote = self.wrote_position();
        let flushed = self.flushed_position();
        if wrote <= flushed {
            return Ok(flushed);
        }
        let dirty_pages = wrote / OS_PAGE_SIZE - flushed / OS_PAGE_SIZE;
        if least_pages > 0 && wrote < self.size && dirty_pages < u64::from(least_pages) {
            return Ok(flushed);
        }
        // `wrote` was loaded with Acquire before the sync, so every byte below it is in the page cache and covered.
        self.fs
            .sync_data(&self.file)
            .map_err(|e| StoreError::io(format!("flushing {}", self.path.display()), e))?;
        self.flushed.fetch_max(wrote, Ordering::AcqRel);
        Ok(wrote)
    }

    /// Last modification time of the file (retention uses it).
    pub fn last_modified(&self) -> Result<SystemTime> {
        self.file
            .metadata()
            .and_then(|m| m.modified())
            .map_err(|e| StoreError::io(format!("reading mtime of {}", self.path.display()), e))
    }

    /// Removes the file from disk. Slices handed out earlier stay valid (the mapping lives until they drop).
    pub fn destroy(&self) -> Result<()> {
        self.fs
            .remove(&self.path)
            .map_err(|e| StoreError::io(format!("deleting {}", self.path.display()), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::OsFs;

    fn fs() -> Arc<dyn StoreFs> {
        Arc::new(OsFs)
    }

    #[test]
    fn file_names_are_twenty_digits() {
        assert_eq!(segment_file_name(0), "00000000000000000000");
        assert_eq!(segment_file_name(1_073_741_824), "00000000001073741824");
        assert_eq!(
            parse_segment_file_name("00000000001073741824"),
            Some(1_073_741_824)
        );
        assert_eq!(parse_segment_file_name("0000000000107374182"), None);
        assert_eq!(parse_segment_file_name("0000000000107374182x"), None);
    }

    #[test]
    fn readers_see_only_published_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (seg, mut map) =
            MappedFile::create(&fs(), dir.path(), 4096, 8192, true, false).unwrap();
        assert_eq!(seg.path.file_name().unwrap(), "00000000000000004096");
        assert_eq!(std::fs::metadata(&seg.path).unwrap().len(), 8192);
        map[..5].copy_from_slice(b"hello");
        assert!(
            seg.slice(0, 5).is_none(),
            "unpublished bytes must not be readable"
        );
        seg.publish(5);
        assert_eq!(&seg.slice(0, 5).unwrap()[..], b"hello");
        assert_eq!(&seg.slice_to_wrote(1).unwrap()[..], b"ello");
        assert!(seg.slice(3, 3).is_none());
    }

    #[test]
    fn flush_respects_least_pages_and_reopen_sees_data() {
        let dir = tempfile::tempdir().unwrap();
        let (seg, mut map) =
            MappedFile::create(&fs(), dir.path(), 0, 64 * 1024, false, false).unwrap();
        map[..100].fill(7);
        seg.publish(100);
        assert_eq!(
            seg.flush(4).unwrap(),
            0,
            "one dirty page is below least pages"
        );
        assert_eq!(seg.flush(0).unwrap(), 100);
        assert_eq!(seg.flushed_position(), 100);
        drop(map);
        let path = seg.path.clone();
        drop(seg);
        let again = MappedFile::open(&fs(), &path, 0, 64 * 1024).unwrap();
        assert_eq!(again.wrote_position(), 64 * 1024);
        assert!(again.slice(0, 100).unwrap().iter().all(|&b| b == 7));
    }

    #[test]
    fn slices_outlive_a_destroyed_file() {
        let dir = tempfile::tempdir().unwrap();
        let (seg, mut map) = MappedFile::create(&fs(), dir.path(), 0, 4096, false, false).unwrap();
        map[..3].copy_from_slice(b"abc");
        seg.publish(3);
        let bytes = seg.slice(0, 3).unwrap();
        seg.destroy().unwrap();
        drop(map);
        drop(seg);
        assert_eq!(&bytes[..], b"abc");
    }
}
