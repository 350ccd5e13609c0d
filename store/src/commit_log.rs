//! The CommitLog: every message of every queue appended to one [`MappedFileQueue`] in RocketMQ's record layout.
//!
//! Records are encoded by the caller outside any lock (the shared codec, `sluice_remoting::message`). Under the
//! append lock the CommitLog assigns the queue offset (per topic and queue) and the physical offset, stamps the store
//! time, copies the bytes into the mapped tail and patches those three fields there. One lock for both offsets means
//! each queue's order equals CommitLog order. A record that would leave fewer than 8 bytes in its segment is placed
//! at the start of the next one, behind a BLANK record.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use sluice_remoting::message::{
    body_crc, patch_record, record_crc, sysflag, MessageRecord, BLANK_MAGIC, MIN_RECORD_LEN,
};

use crate::error::{Result, StoreError};
use crate::mapped_file_queue::{EndOfSegment, MappedFileQueue};

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Physical offset of the first record.
    pub physical_offset: u64,
    /// Bytes written (all records; the blank that may precede them is not counted).
    pub wrote_bytes: u64,
    /// Queue offset of the first record (0 for prepared/rollback transactional messages).
    pub queue_offset: i64,
    /// Number of records.
    pub count: u32,
    /// The store timestamp written into every record.
    pub store_timestamp: i64,
}

impl Appended {
    /// Offset one past the last record: what SYNC_FLUSH waits for.
    pub fn end_offset(&self) -> u64 {
        self.physical_offset + self.wrote_bytes
    }
}

/// A multiply-rotate hasher (FxHash) for the queue-offset table: SipHash showed up in append profiles, and the
/// keys are topic names the broker has already validated, so flooding resistance is not needed here.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let v = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FxBuild = BuildHasherDefault<FxHasher>;

/// Next queue offset per topic and queue id. Nested maps so a lookup borrows the topic (no allocation per put).
#[derive(Debug, Default)]
struct QueueOffsets {
    topics: HashMap<String, HashMap<i32, i64, FxBuild>, FxBuild>,
}

impl QueueOffsets {
    fn next(&self, topic: &str, queue_id: i32) -> i64 {
        self.topics
            .get(topic)
            .and_then(|q| q.get(&queue_id))
            .copied()
            .unwrap_or(0)
    }

    fn set(&mut self, topic: &str, queue_id: i32, next: i64) {
        match self.topics.get_mut(topic) {
            Some(q) => {
                q.insert(queue_id, next);
            }
            None => {
                let mut queues = HashMap::default();
                queues.insert(queue_id, next);
                self.topics.insert(topic.to_string(), queues);
            }
        }
    }
}

/// The CommitLog.
pub struct CommitLog {
    pub log: Arc<MappedFileQueue>,
    /// `enabledAppendPropCRC`: seal each record's whole-record CRC after patching (its properties must end with
    /// the placeholder `record_crc::reserve` adds).
    pub seal_record_crc: bool,
    offsets: Mutex<QueueOffsets>,
    last_store_timestamp: AtomicI64,
}

impl std::fmt::Debug for CommitLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitLog").field("log", &self.log).finish()
    }
}

/// Milliseconds since the epoch.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Whether a record with this sysflag gets a queue offset (only non-transactional and committed messages do).
pub fn takes_queue_offset(flag: i32) -> bool {
    matches!(
        flag & sysflag::TRANSACTION_TYPE_MASK,
        sysflag::TRANSACTION_NOT | sysflag::TRANSACTION_COMMIT
    )
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl CommitLog {
    pub fn new(log: Arc<MappedFileQueue>) -> Self {
        CommitLog {
            log,
            seal_record_crc: false,
            offsets: Mutex::new(QueueOffsets::default()),
            last_store_timestamp: AtomicI64::new(0),
        }
    }

    fn lock_offsets(&self) -> MutexGuard<'_, QueueOffsets> {
        self.offsets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends encoded records (one, or a batch back to back: all for `topic`/`queue_id` with the same
    /// transaction type, each starting with its TOTALSIZE). Queue offsets are consecutive; the whole batch lands in
    /// one segment. The records' QUEUEOFFSET, PHYSICALOFFSET and STORETIMESTAMP are overwritten.
    pub fn append(
        &self,
        encoded: &[u8],
        count: u32,
        topic: &str,
        queue_id: i32,
        flag: i32,
    ) -> Result<Appended> {
        check_layout(encoded, count)?;
        self.append_filled(encoded.len(), count, topic, queue_id, flag, |buf| {
            buf.copy_from_slice(encoded)
        })
    }

    /// Appends one message, encoding it straight into the log (no intermediate buffer): the body CRC is computed
    /// before the lock, the bytes are written under it. The record's offsets and store time are assigned here.
    pub fn append_record(&self, msg: &MessageRecord) -> Result<Appended> {
        let crc = body_crc(&msg.body);
        self.append_filled(
            msg.encoded_len(),
            1,
            &msg.topic,
            msg.queue_id,
            msg.sysflag,
            |buf| msg.encode_into(buf, crc),
        )
    }

    /// The common part of the appends: `write` fills the `len` reserved bytes with `count` records back to back,
    /// which then get their offsets and store time.
    fn append_filled(
        &self,
        len: usize,
        count: u32,
        topic: &str,
        queue_id: i32,
        flag: i32,
        write: impl FnOnce(&mut [u8]),
    ) -> Result<Appended> {
        let assigns = takes_queue_offset(flag);
        let mut offsets = self.lock_offsets();
        let first_queue_offset = if assigns {
            offsets.next(topic, queue_id)
        } else {
            0
        };
        let now = now_millis();
        let seal = self.seal_record_crc;
        let (physical_offset, ()) = self.log.append_with(
            len,
            EndOfSegment::Blank {
                magic: BLANK_MAGIC as u32,
            },
            |phys, buf| {
                write(buf);
                let mut pos = 0usize;
                let mut qo = first_queue_offset;
                while pos < buf.len() {
                    let size = be_u32(buf, pos) as usize;
                    let record = &mut buf[pos..pos + size];
                    patch_record(
                        record,
                        if assigns { qo } else { 0 },
                        (phys + pos as u64) as i64,
                        now,
                    );
                    if seal {
                        if let Err(e) = record_crc::seal(record) {
                            tracing::error!(error = %e, "cannot seal the whole-record CRC");
                        }
                    }
                    qo += 1;
                    pos += size;
                }
            },
        )?;
        if assigns {
            offsets.set(topic, queue_id, first_queue_offset + i64::from(count));
        }
        drop(offsets);
        self.last_store_timestamp.fetch_max(now, Ordering::AcqRel);
        Ok(Appended {
            physical_offset,
            wrote_bytes: len as u64,
            queue_offset: first_queue_offset,
            count,
            store_timestamp: now,
        })
    }

    /// The next queue offset the CommitLog will assign for `topic`/`queue_id`.
    pub fn next_queue_offset(&self, topic: &str, queue_id: i32) -> i64 {
        self.lock_offsets().next(topic, queue_id)
    }

    /// Sets the next queue offset (start-up: from each ConsumeQueue's max offset; admin resets).
    pub fn set_next_queue_offset(&self, topic: &str, queue_id: i32, next: i64) {
        self.lock_offsets().set(topic, queue_id, next);
    }

    /// Forgets a topic's queue offsets (topic deleted).
    pub fn remove_topic(&self, topic: &str) {
        self.lock_offsets().topics.remove(topic);
    }

    /// Store timestamp of the newest appended record.
    pub fn last_store_timestamp(&self) -> i64 {
        self.last_store_timestamp.load(Ordering::Acquire)
    }

    pub(crate) fn set_last_store_timestamp(&self, ts: i64) {
        self.last_store_timestamp.fetch_max(ts, Ordering::AcqRel);
    }

    /// The whole record at `offset` (zero-copy), if one is published there.
    pub fn read_record(&self, offset: u64) -> Option<Bytes> {
        let head = self.log.read(offset, 4)?;
        let size = be_u32(&head, 0);
        if size < 8 {
            return None;
        }
        self.log.read(offset, u64::from(size))
    }

    /// `size` bytes at `offset` (a record whose size is known from a ConsumeQueue unit).
    pub fn read(&self, offset: u64, size: u32) -> Option<Bytes> {
        self.log.read(offset, u64::from(size))
    }

    /// Raw CommitLog bytes from `offset` to the end of the data written in its segment, at most `max_len` bytes
    /// (replication: a master ships these to a slave).
    pub fn read_raw(&self, offset: u64, max_len: usize) -> Option<Bytes> {
        let mut bytes = self.log.read_to_segment_end(offset)?;
        bytes.truncate(max_len);
        Some(bytes)
    }

    /// Appends raw bytes copied from a master at `offset`, which must be the current max offset (replication).
    pub fn append_raw(&self, offset: u64, data: &[u8]) -> Result<()> {
        self.log.append_raw(offset, data)
    }

    pub fn min_offset(&self) -> u64 {
        self.log.min_offset()
    }

    pub fn max_offset(&self) -> u64 {
        self.log.max_offset()
    }

    pub fn flushed_offset(&self) -> u64 {
        self.log.flushed_offset()
    }

    /// Start of the segment after the one holding `offset` (dispatch jumps there after a BLANK).
    pub fn roll_next_segment(&self, offset: u64) -> u64 {
        let size = self.log.segment_size;
        offset + size - offset % size
    }
}

/// Checks that `encoded` is exactly `count` records as their TOTALSIZE fields say, so patching stays in bounds.
fn check_layout(encoded: &[u8], count: u32) -> Result<()> {
    let mut pos = 0usize;
    let mut n = 0u32;
    while pos < encoded.len() {
        if encoded.len() - pos < MIN_RECORD_LEN {
            break;
        }
        // Every record is at least MIN_RECORD_LEN (91) bytes, which covers the patched fields even with an IPv6
        // born host (STORETIMESTAMP at 68..76), so patching can never index out of bounds.
        let size = be_u32(encoded, pos) as usize;
        if size < MIN_RECORD_LEN || pos + size > encoded.len() {
            break;
        }
        pos += size;
        n += 1;
    }
    if pos != encoded.len() || n != count || count == 0 {
        return Err(StoreError::MessageIllegal {
            reason: format!(
                "encoded batch does not hold {count} whole records ({n} records, {pos} of {} bytes)",
                encoded.len()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::OsFs;
    use bytes::BytesMut;
    use sluice_remoting::message::{check_record, MessageRecord, RecordCheck};

    fn log(dir: &std::path::Path, size: u64) -> CommitLog {
        CommitLog::new(Arc::new(
            MappedFileQueue::open(dir, size, Arc::new(OsFs), false).unwrap(),
        ))
    }

    fn record(topic: &str, queue_id: i32, flag: i32, body: &[u8]) -> MessageRecord {
        MessageRecord {
            topic: topic.into(),
            queue_id,
            sysflag: flag,
            body: Bytes::copy_from_slice(body),
            ..MessageRecord::default()
        }
    }

    fn view_at(cl: &CommitLog, offset: u64) -> (i64, i64, i64) {
        let bytes = cl.read_record(offset).unwrap();
        match check_record(&bytes, true) {
            RecordCheck::Message(v) => (v.queue_offset(), v.physical_offset(), v.store_timestamp()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn queue_offsets_are_per_queue_and_skip_prepared_transactions() {
        let dir = tempfile::tempdir().unwrap();
        let cl = log(dir.path(), 1 << 16);
        let a0 = cl
            .append(&record("A", 0, 0, b"x").to_bytes(), 1, "A", 0, 0)
            .unwrap();
        let b0 = cl
            .append(&record("B", 0, 0, b"x").to_bytes(), 1, "B", 0, 0)
            .unwrap();
        let prepared = record("A", 0, sysflag::TRANSACTION_PREPARED, b"half");
        let p = cl
            .append(
                &prepared.to_bytes(),
                1,
                "A",
                0,
                sysflag::TRANSACTION_PREPARED,
            )
            .unwrap();
        let a1 = cl
            .append(&record("A", 0, 0, b"y").to_bytes(), 1, "A", 0, 0)
            .unwrap();
        let a_q1 = cl
            .append(&record("A", 1, 0, b"z").to_bytes(), 1, "A", 1, 0)
            .unwrap();
        assert_eq!(
            (
                a0.queue_offset,
                b0.queue_offset,
                p.queue_offset,
                a1.queue_offset,
                a_q1.queue_offset
            ),
            (0, 0, 0, 1, 0)
        );
        let (qo, phys, ts) = view_at(&cl, a1.physical_offset);
        assert_eq!(
            (qo, phys as u64, ts),
            (1, a1.physical_offset, a1.store_timestamp)
        );
        assert_eq!(cl.next_queue_offset("A", 0), 2);
        cl.set_next_queue_offset("A", 0, 100);
        let a100 = cl
            .append(&record("A", 0, 0, b"w").to_bytes(), 1, "A", 0, 0)
            .unwrap();
        assert_eq!(a100.queue_offset, 100);
    }

    #[test]
    fn batches_are_patched_record_by_record() {
        let dir = tempfile::tempdir().unwrap();
        let cl = log(dir.path(), 1 << 16);
        cl.append(&record("T", 2, 0, b"first").to_bytes(), 1, "T", 2, 0)
            .unwrap();
        let mut buf = BytesMut::new();
        for i in 0..3u8 {
            record("T", 2, 0, &[i; 10]).encode(&mut buf);
        }
        let a = cl.append(&buf, 3, "T", 2, 0).unwrap();
        assert_eq!((a.queue_offset, a.count), (1, 3));
        let mut at = a.physical_offset;
        for i in 0..3 {
            let (qo, phys, _) = view_at(&cl, at);
            assert_eq!((qo, phys as u64), (1 + i, at));
            at += cl.read_record(at).unwrap().len() as u64;
        }
        assert_eq!(at, a.end_offset());
        assert_eq!(cl.next_queue_offset("T", 2), 4);
        assert!(
            cl.append(&buf, 2, "T", 2, 0).is_err(),
            "count must match the records"
        );
        assert!(cl.append(&buf[..buf.len() - 1], 3, "T", 2, 0).is_err());
        let mut short = vec![0u8; 60];
        short[..4].copy_from_slice(&60u32.to_be_bytes());
        short[36..40].copy_from_slice(&0x10i32.to_be_bytes());
        assert!(
            cl.append(&short, 1, "T", 2, 0).is_err(),
            "too short to patch: an error, not a panic"
        );
    }

    #[test]
    fn raw_reads_and_appends_copy_a_log_verbatim() {
        let dir = tempfile::tempdir().unwrap();
        let master = log(&dir.path().join("m"), 4096);
        for i in 0..60u8 {
            master
                .append(&record("R", 0, 0, &[i; 40]).to_bytes(), 1, "R", 0, 0)
                .unwrap();
        }
        let slave = log(&dir.path().join("s"), 4096);
        let mut offset = 0;
        while offset < master.max_offset() {
            let chunk = master.read_raw(offset, 1000).unwrap();
            slave.append_raw(offset, &chunk).unwrap();
            offset += chunk.len() as u64;
        }
        assert_eq!(slave.max_offset(), master.max_offset());
        for seg in 0..master.log.segments().len() as u64 {
            let m = master.read_raw(seg * 4096, 4096).unwrap();
            let s = slave.read_raw(seg * 4096, 4096).unwrap();
            assert_eq!(m, s);
        }
        assert!(slave.append_raw(5, b"x").is_err());
    }
}
