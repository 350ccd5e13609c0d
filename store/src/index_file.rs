//! One RocketMQ IndexFile (`store/.../index/IndexFile.java`): a persistent hash table from message key
//! hashes to CommitLog offsets.
//!
//! Layout (big-endian):
//! - header, 40 bytes: beginTimestamp @0, endTimestamp @8, beginPhyOffset @16, endPhyOffset @24,
//!   hashSlotCount (i32) @32, indexCount (i32) @36;
//! - `hash_slot_num` slots of 4 bytes: the index number of the newest entry of that bucket (0 = empty);
//! - `index_num` entries of 20 bytes: keyHash (i32), phyOffset (i64), timeDiff in seconds from
//!   beginTimestamp (i32), prevIndex (i32) — the previous entry of the same bucket.
//!
//! Index numbers start at 1 (entry slot 0 is never written). Keys are not stored, only their hash, so a
//! query may return offsets of other keys that share the hash; callers re-check the message.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use memmap2::MmapMut;

/// Size of the file header.
pub const INDEX_HEADER_SIZE: usize = 40;
/// Size of one hash slot.
pub const HASH_SLOT_SIZE: usize = 4;
/// Size of one index entry.
pub const INDEX_ENTRY_SIZE: usize = 20;
/// RocketMQ's default `maxHashSlotNum`.
pub const DEFAULT_HASH_SLOT_NUM: u32 = 5_000_000;
/// RocketMQ's default `maxIndexNum`.
pub const DEFAULT_INDEX_NUM: u32 = 20_000_000;

const INVALID_INDEX: i32 = 0;

/// Continues Java's `String.hashCode()` over `s` (UTF-16 code units, wrapping 32-bit arithmetic).
fn java_hash_continue(mut h: i32, s: &str) -> i32 {
    for unit in s.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(unit as i32);
    }
    h
}

/// The hash RocketMQ stores for the index key `topic#key`: `abs(("topic#key").hashCode())`, with
/// `Integer.MIN_VALUE` (whose absolute value is still negative) mapped to 0. Computed without building
/// the key string.
pub fn index_key_hash(topic: &str, key: &str) -> i32 {
    let h = java_hash_continue(java_hash_continue(0, topic), "#");
    let h = java_hash_continue(h, key);
    let abs = h.wrapping_abs();
    if abs < 0 {
        0
    } else {
        abs
    }
}

/// Size of an index file with the given geometry.
pub fn index_file_size(hash_slot_num: u32, index_num: u32) -> u64 {
    INDEX_HEADER_SIZE as u64
        + hash_slot_num as u64 * HASH_SLOT_SIZE as u64
        + index_num as u64 * INDEX_ENTRY_SIZE as u64
}

/// The header values (kept in memory and mirrored into the first 40 bytes on every change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndexHeader {
    pub begin_timestamp: i64,
    pub end_timestamp: i64,
    pub begin_phy_offset: i64,
    pub end_phy_offset: i64,
    pub hash_slot_count: i32,
    /// The next index number to write; starts at 1.
    pub index_count: i32,
}

impl IndexHeader {
    fn read_from(bytes: &[u8]) -> IndexHeader {
        let index_count = read_i32(bytes, 36);
        IndexHeader {
            begin_timestamp: read_i64(bytes, 0),
            end_timestamp: read_i64(bytes, 8),
            begin_phy_offset: read_i64(bytes, 16),
            end_phy_offset: read_i64(bytes, 24),
            hash_slot_count: read_i32(bytes, 32),
            // A never-written header (0) means "empty", which is index count 1.
            index_count: if index_count <= 0 { 1 } else { index_count },
        }
    }

    fn write_to(&self, bytes: &mut [u8]) {
        bytes[0..8].copy_from_slice(&self.begin_timestamp.to_be_bytes());
        bytes[8..16].copy_from_slice(&self.end_timestamp.to_be_bytes());
        bytes[16..24].copy_from_slice(&self.begin_phy_offset.to_be_bytes());
        bytes[24..32].copy_from_slice(&self.end_phy_offset.to_be_bytes());
        bytes[32..36].copy_from_slice(&self.hash_slot_count.to_be_bytes());
        bytes[36..40].copy_from_slice(&self.index_count.to_be_bytes());
    }

    /// Whether `[begin, end]` overlaps this file's time range (RocketMQ's `isTimeMatched`).
    pub fn is_time_matched(&self, begin: i64, end: i64) -> bool {
        (begin < self.begin_timestamp && end > self.end_timestamp)
            || (begin >= self.begin_timestamp && begin <= self.end_timestamp)
            || (end >= self.begin_timestamp && end <= self.end_timestamp)
    }
}

fn read_i64(bytes: &[u8], pos: usize) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[pos..pos + 8]);
    i64::from_be_bytes(b)
}

fn read_i32(bytes: &[u8], pos: usize) -> i32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[pos..pos + 4]);
    i32::from_be_bytes(b)
}

struct Mapped {
    map: MmapMut,
    header: IndexHeader,
}

/// One index file. Writers (the dispatcher) and readers (queries) share it through an internal
/// read-write lock; puts are a handful of stores, so contention is negligible.
pub struct IndexFile {
    path: PathBuf,
    file_name: String,
    hash_slot_num: u32,
    index_num: u32,
    mapped: RwLock<Mapped>,
}

impl std::fmt::Debug for IndexFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexFile")
            .field("path", &self.path)
            .field("header", &self.header())
            .finish()
    }
}

impl IndexFile {
    /// Creates a new (sparse) index file. Like RocketMQ, a file that follows a previous one is seeded
    /// with that file's `end_phy_offset`/`end_timestamp` as both its begin and end values (a value
    /// <= 0 is not written).
    pub fn create(
        path: &Path,
        hash_slot_num: u32,
        index_num: u32,
        prev_end_phy_offset: i64,
        prev_end_timestamp: i64,
    ) -> io::Result<IndexFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        file.set_len(index_file_size(hash_slot_num, index_num))?;
        let mut header = IndexHeader {
            index_count: 1,
            ..IndexHeader::default()
        };
        if prev_end_phy_offset > 0 {
            header.begin_phy_offset = prev_end_phy_offset;
            header.end_phy_offset = prev_end_phy_offset;
        }
        if prev_end_timestamp > 0 {
            header.begin_timestamp = prev_end_timestamp;
            header.end_timestamp = prev_end_timestamp;
        }
        let mut map = map_file(&file, path, hash_slot_num, index_num)?;
        header.write_to(&mut map[..INDEX_HEADER_SIZE]);
        Self::from_parts(path, hash_slot_num, index_num, map, header)
    }

    /// Opens an existing index file and loads its header. The file's length must match the geometry.
    pub fn open(path: &Path, hash_slot_num: u32, index_num: u32) -> io::Result<IndexFile> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let expected = index_file_size(hash_slot_num, index_num);
        let actual = file.metadata()?.len();
        if actual != expected {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "index file {} has {} bytes but maxHashSlotNum={} and maxIndexNum={} need {}; \
                     restore the original settings or remove the index directory to rebuild it",
                    path.display(),
                    actual,
                    hash_slot_num,
                    index_num,
                    expected
                ),
            ));
        }
        let map = map_file(&file, path, hash_slot_num, index_num)?;
        let header = IndexHeader::read_from(&map[..INDEX_HEADER_SIZE]);
        if header.index_count as i64 > index_num as i64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "index file {} is damaged: its header counts {} entries but it holds at most {}; \
                     remove it so recovery rebuilds the index",
                    path.display(),
                    header.index_count,
                    index_num
                ),
            ));
        }
        Self::from_parts(path, hash_slot_num, index_num, map, header)
    }

    fn from_parts(
        path: &Path,
        hash_slot_num: u32,
        index_num: u32,
        map: MmapMut,
        header: IndexHeader,
    ) -> io::Result<IndexFile> {
        if hash_slot_num == 0 || index_num < 2 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "maxHashSlotNum must be >= 1 and maxIndexNum >= 2",
            ));
        }
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(IndexFile {
            path: path.to_path_buf(),
            file_name,
            hash_slot_num,
            index_num,
            mapped: RwLock::new(Mapped { map, header }),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's name (its creation time `yyyyMMddHHmmssSSS`).
    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// Size of the file in bytes.
    pub fn file_size(&self) -> u64 {
        index_file_size(self.hash_slot_num, self.index_num)
    }

    /// A copy of the current header.
    pub fn header(&self) -> IndexHeader {
        self.read().header
    }

    /// Whether no more entries fit.
    pub fn is_write_full(&self) -> bool {
        self.read().header.index_count as i64 >= self.index_num as i64
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Mapped> {
        self.mapped.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Mapped> {
        self.mapped.write().unwrap_or_else(|p| p.into_inner())
    }

    fn slot_pos(&self, key_hash: i32) -> usize {
        INDEX_HEADER_SIZE + (key_hash as u32 % self.hash_slot_num) as usize * HASH_SLOT_SIZE
    }

    fn entry_pos(&self, index: i32) -> usize {
        INDEX_HEADER_SIZE
            + self.hash_slot_num as usize * HASH_SLOT_SIZE
            + index as usize * INDEX_ENTRY_SIZE
    }

    /// Adds an entry for `key_hash` (from [`index_key_hash`]). Returns `false` when the file is full.
    pub fn put_key(&self, key_hash: i32, phy_offset: i64, store_timestamp: i64) -> bool {
        let key_hash = key_hash.max(0);
        let slot_pos = self.slot_pos(key_hash);
        let mut guard = self.write();
        let m = &mut *guard;
        let count = m.header.index_count;
        if count as i64 >= self.index_num as i64 {
            return false;
        }
        let mut slot_value = read_i32(&m.map, slot_pos);
        // Written slots hold an index below `count`; anything else is garbage from a torn write.
        if slot_value <= INVALID_INDEX || slot_value >= count {
            slot_value = INVALID_INDEX;
        }
        // Seconds since the file's begin timestamp; note that for the first entry of a seeded file
        // this is relative to the seed, exactly as RocketMQ computes it before resetting begin.
        let time_diff = if m.header.begin_timestamp <= 0 {
            0
        } else {
            ((store_timestamp - m.header.begin_timestamp) / 1000).clamp(0, i32::MAX as i64) as i32
        };
        let pos = self.entry_pos(count);
        let entry = &mut m.map[pos..pos + INDEX_ENTRY_SIZE];
        entry[0..4].copy_from_slice(&key_hash.to_be_bytes());
        entry[4..12].copy_from_slice(&phy_offset.to_be_bytes());
        entry[12..16].copy_from_slice(&time_diff.to_be_bytes());
        entry[16..20].copy_from_slice(&slot_value.to_be_bytes());
        m.map[slot_pos..slot_pos + 4].copy_from_slice(&count.to_be_bytes());
        if count <= 1 {
            m.header.begin_phy_offset = phy_offset;
            m.header.begin_timestamp = store_timestamp;
        }
        if slot_value == INVALID_INDEX {
            m.header.hash_slot_count += 1;
        }
        m.header.index_count += 1;
        m.header.end_phy_offset = phy_offset;
        m.header.end_timestamp = store_timestamp;
        let header = m.header;
        header.write_to(&mut m.map[..INDEX_HEADER_SIZE]);
        true
    }

    /// Appends to `out` the physical offsets of entries with `key_hash` whose time lies in
    /// `[begin, end]`, newest first, until `out` holds `max_num` offsets. Walks the bucket chain and
    /// stops at an invalid or self-referencing link, or at an entry older than `begin`.
    pub fn select_phy_offsets(
        &self,
        out: &mut Vec<i64>,
        key_hash: i32,
        max_num: usize,
        begin: i64,
        end: i64,
    ) {
        let key_hash = key_hash.max(0);
        let m = self.read();
        let count = m.header.index_count;
        let slot_value = read_i32(&m.map, self.slot_pos(key_hash));
        // Entries below `count` are the written ones (RocketMQ checks `> count`; `>=` also keeps a
        // damaged slot from pointing one past the last entry of a full file).
        if slot_value <= INVALID_INDEX || slot_value >= count || count <= 1 {
            return;
        }
        let mut next = slot_value;
        // Links only ever point backwards, so a chain is at most `count` long; the bound also guards
        // against a corrupted file looping between entries.
        for _ in 0..count {
            if out.len() >= max_num {
                break;
            }
            let pos = self.entry_pos(next);
            let entry = &m.map[pos..pos + INDEX_ENTRY_SIZE];
            let hash_read = read_i32(entry, 0);
            let phy_offset = read_i64(entry, 4);
            let time_diff = read_i32(entry, 12);
            let prev = read_i32(entry, 16);
            if time_diff < 0 {
                break;
            }
            let time_read = m.header.begin_timestamp + time_diff as i64 * 1000;
            if hash_read == key_hash && time_read >= begin && time_read <= end {
                out.push(phy_offset);
            }
            if prev <= INVALID_INDEX || prev >= count || prev == next || time_read < begin {
                break;
            }
            next = prev;
        }
    }

    /// Writes the header and msyncs the whole file. Blocking: call from a dedicated thread.
    pub fn flush(&self) -> io::Result<()> {
        let mut m = self.write();
        let header = m.header;
        header.write_to(&mut m.map[..INDEX_HEADER_SIZE]);
        m.map.flush()
    }

    /// Deletes the file from disk. Readers still holding this `IndexFile` keep a valid mapping.
    pub fn destroy(&self) -> io::Result<()> {
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

fn map_file(
    file: &fs::File,
    path: &Path,
    hash_slot_num: u32,
    index_num: u32,
) -> io::Result<MmapMut> {
    let len = index_file_size(hash_slot_num, index_num);
    let len = usize::try_from(len).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("index file {} is too large to map", path.display()),
        )
    })?;
    // SAFETY: index files are private to this store (guarded by the store `lock` file) and are only
    // modified through this mapping, under the owning IndexFile's write lock.
    unsafe { memmap2::MmapOptions::new().len(len).map_mut(file) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_matches_known_values() {
        // "hello".hashCode() == 99162322 in Java; "Aa" and "BB" collide (2112).
        assert_eq!(java_hash_continue(0, "hello"), 99_162_322);
        assert_eq!(java_hash_continue(0, "Aa"), java_hash_continue(0, "BB"));
        // Non-BMP characters hash as two UTF-16 units.
        assert_eq!(
            java_hash_continue(0, "\u{1F600}"),
            0xD83Di32.wrapping_mul(31).wrapping_add(0xDE00)
        );
    }

    #[test]
    fn key_hash_is_hash_of_joined_key_and_never_negative() {
        assert_eq!(
            index_key_hash("T", "k1"),
            java_hash_continue(0, "T#k1").wrapping_abs()
        );
        // Find a key whose joined hash is negative and check abs() is applied.
        let neg = (0..10_000)
            .map(|i| format!("key{i}"))
            .find(|k| java_hash_continue(0, &format!("T#{k}")) < 0)
            .unwrap();
        let h = index_key_hash("T", &neg);
        assert!(h > 0);
        assert_eq!(h, -java_hash_continue(0, &format!("T#{neg}")));
    }

    #[test]
    fn time_match_overlaps() {
        let h = IndexHeader {
            begin_timestamp: 100,
            end_timestamp: 200,
            ..IndexHeader::default()
        };
        assert!(h.is_time_matched(50, 250));
        assert!(h.is_time_matched(150, 300));
        assert!(h.is_time_matched(0, 100));
        assert!(!h.is_time_matched(0, 99));
        assert!(!h.is_time_matched(201, 300));
    }
}
