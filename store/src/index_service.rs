//! The set of index files under `{root}/index/` (RocketMQ's `IndexService`): builds entries for
//! dispatched messages, answers key queries, rolls and cleans files.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use crate::checkpoint::StoreCheckpoint;
use crate::index_file::{index_key_hash, IndexFile, DEFAULT_HASH_SLOT_NUM, DEFAULT_INDEX_NUM};
use crate::local_time::{now_millis, LocalTime};

/// Transaction type bits of SYSFLAG and the ROLLBACK value, which is not indexed.
const TRANSACTION_TYPE_MASK: i32 = 0xC;
const TRANSACTION_ROLLBACK_TYPE: i32 = 0xC;

/// Geometry and limits of the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexConfig {
    /// `maxHashSlotNum`, default 5,000,000.
    pub hash_slot_num: u32,
    /// `maxIndexNum`, default 20,000,000.
    pub index_num: u32,
    /// `maxMsgsNumBatch`: cap on the results of one query, default 64.
    pub max_msgs_num_batch: usize,
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            hash_slot_num: DEFAULT_HASH_SLOT_NUM,
            index_num: DEFAULT_INDEX_NUM,
            max_msgs_num_batch: 64,
        }
    }
}

/// What the index needs to know about one dispatched CommitLog record.
#[derive(Debug, Clone, Copy)]
pub struct IndexRequest<'a> {
    pub topic: &'a str,
    /// The KEYS property (space-separated keys), if any.
    pub keys: Option<&'a str>,
    /// The UNIQ_KEY property (client message id), if any.
    pub uniq_key: Option<&'a str>,
    pub commit_log_offset: i64,
    pub store_timestamp: i64,
    pub sys_flag: i32,
}

impl<'a> IndexRequest<'a> {
    /// The index fields of a decoded CommitLog record.
    pub fn from_record(record: &sluice_remoting::message::RecordView<'a>) -> IndexRequest<'a> {
        IndexRequest {
            topic: record.topic(),
            keys: record.keys(),
            uniq_key: record.uniq_key(),
            commit_log_offset: record.physical_offset(),
            store_timestamp: record.store_timestamp(),
            sys_flag: record.sysflag(),
        }
    }
}

/// Result of [`IndexService::query_offset`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryOffsetResult {
    /// CommitLog offsets of candidate messages, newest first. Only the key hash was compared: the
    /// caller must check the message's topic and keys.
    pub phy_offsets: Vec<i64>,
    /// End timestamp of the newest index file.
    pub index_last_update_timestamp: i64,
    /// End physical offset of the newest index file.
    pub index_last_update_phy_offset: i64,
}

/// All index files, oldest first; the last one is written.
pub struct IndexService {
    dir: PathBuf,
    config: IndexConfig,
    checkpoint: Arc<StoreCheckpoint>,
    files: RwLock<Vec<Arc<IndexFile>>>,
}

impl std::fmt::Debug for IndexService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexService")
            .field("dir", &self.dir)
            .field("files", &self.file_count())
            .finish()
    }
}

fn is_index_file_name(name: &str) -> bool {
    name.len() == 17 && name.bytes().all(|b| b.is_ascii_digit())
}

impl IndexService {
    /// Loads the index files in `dir` (created if missing). After an abnormal exit
    /// (`last_exit_ok == false`), files whose endTimestamp is newer than the checkpoint's
    /// indexMsgTimestamp may be incomplete and are deleted, so recovery's re-dispatch rebuilds them.
    pub fn load(
        dir: impl AsRef<Path>,
        config: IndexConfig,
        checkpoint: Arc<StoreCheckpoint>,
        last_exit_ok: bool,
    ) -> io::Result<IndexService> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir)?;
        let mut names = Vec::new();
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_index_file_name(&name) {
                names.push(name);
            } else {
                tracing::warn!(file = %entry.path().display(), "ignoring unexpected file in index directory");
            }
        }
        names.sort();
        let index_msg_timestamp = checkpoint.index_msg_timestamp.load(Ordering::Acquire);
        let mut files = Vec::with_capacity(names.len());
        for name in names {
            let path = dir.join(&name);
            let file = IndexFile::open(&path, config.hash_slot_num, config.index_num)?;
            if !last_exit_ok && file.header().end_timestamp > index_msg_timestamp {
                tracing::info!(file = %path.display(), "abnormal exit: destroying index file newer than the checkpoint");
                file.destroy()?;
                continue;
            }
            files.push(Arc::new(file));
        }
        Ok(IndexService {
            dir,
            config,
            checkpoint,
            files: RwLock::new(files),
        })
    }

    /// The index directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Number of index files.
    pub fn file_count(&self) -> usize {
        self.read_files().len()
    }

    /// Bytes on disk taken by index files.
    pub fn total_size(&self) -> u64 {
        self.read_files().iter().map(|f| f.file_size()).sum()
    }

    /// The index files, oldest first (a snapshot).
    pub fn files(&self) -> Vec<Arc<IndexFile>> {
        self.read_files().clone()
    }

    fn read_files(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<IndexFile>>> {
        self.files.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_files(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Arc<IndexFile>>> {
        self.files.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Indexes one dispatched record under `topic#UNIQ_KEY` and `topic#k` for every non-empty
    /// space-separated token of KEYS. Records below the current file's endPhyOffset (already indexed
    /// before a restart) and ROLLBACK transaction records are skipped. Rolls to a new file when the
    /// current one is full; the full file is flushed on a background thread.
    ///
    /// Called by the dispatcher thread (not an async task: it may create a file).
    pub fn build_index(&self, req: &IndexRequest<'_>) -> io::Result<()> {
        if req.uniq_key.is_none() && req.keys.is_none_or(|k| k.trim_matches(' ').is_empty()) {
            return Ok(());
        }
        let mut file = self.writable_file()?;
        if req.commit_log_offset < file.header().end_phy_offset {
            return Ok(());
        }
        if req.sys_flag & TRANSACTION_TYPE_MASK == TRANSACTION_ROLLBACK_TYPE {
            return Ok(());
        }
        if let Some(uniq) = req.uniq_key {
            file = self.put_key(file, index_key_hash(req.topic, uniq), req)?;
        }
        if let Some(keys) = req.keys {
            for key in keys.split(' ').filter(|k| !k.is_empty()) {
                file = self.put_key(file, index_key_hash(req.topic, key), req)?;
            }
        }
        Ok(())
    }

    fn put_key(
        &self,
        mut file: Arc<IndexFile>,
        key_hash: i32,
        req: &IndexRequest<'_>,
    ) -> io::Result<Arc<IndexFile>> {
        // A fresh file always has room, so the second attempt succeeds unless index_num is absurd.
        for _ in 0..2 {
            if file.put_key(key_hash, req.commit_log_offset, req.store_timestamp) {
                return Ok(file);
            }
            file = self.writable_file()?;
        }
        Err(io::Error::other(format!(
            "index file {} refused an entry right after creation",
            file.path().display()
        )))
    }

    /// The last file if it has room, else a new one seeded from the full one (which is then flushed
    /// in the background and its endTimestamp recorded as the checkpoint's indexMsgTimestamp).
    fn writable_file(&self) -> io::Result<Arc<IndexFile>> {
        if let Some(last) = self.read_files().last() {
            if !last.is_write_full() {
                return Ok(Arc::clone(last));
            }
        }
        let mut files = self.write_files();
        // Re-check under the write lock: another caller may have rolled already.
        let prev = files.last().cloned();
        if let Some(last) = &prev {
            if !last.is_write_full() {
                return Ok(Arc::clone(last));
            }
        }
        let (prev_end_phy, prev_end_ts) = prev
            .as_ref()
            .map(|f| {
                let h = f.header();
                (h.end_phy_offset, h.end_timestamp)
            })
            .unwrap_or((0, 0));
        let path = self.new_file_path(prev.as_deref());
        let file = Arc::new(IndexFile::create(
            &path,
            self.config.hash_slot_num,
            self.config.index_num,
            prev_end_phy,
            prev_end_ts,
        )?);
        files.push(Arc::clone(&file));
        drop(files);
        if let Some(full) = prev {
            let checkpoint = Arc::clone(&self.checkpoint);
            let spawned = std::thread::Builder::new()
                .name("FlushIndexFile".into())
                .spawn(move || {
                    if let Err(e) = flush_full_file(&full, &checkpoint) {
                        tracing::error!(file = %full.path().display(), error = %e, "flushing a full index file failed");
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start the index flush thread");
            }
        }
        Ok(file)
    }

    /// A file name from the current local time. Names must sort in creation order (load order is
    /// name order), so when the clock gives a name that is not after the newest file's (two files in
    /// one millisecond, or the clock stepped back) the newest name plus one is used instead.
    fn new_file_path(&self, prev: Option<&IndexFile>) -> PathBuf {
        let mut name = LocalTime::from_millis(now_millis()).human_string();
        if let Some(prev) = prev {
            if name.as_str() <= prev.file_name() {
                let next = prev.file_name().parse::<u64>().map_or(0, |n| n + 1);
                name = format!("{next:017}");
            }
        }
        loop {
            let path = self.dir.join(&name);
            if !path.exists() {
                return path;
            }
            let next = name.parse::<u64>().map_or(0, |n| n + 1);
            name = format!("{next:017}");
        }
    }

    /// Offsets of messages indexed under `topic#key` stored within `[begin, end]` (ms), newest first,
    /// at most `min(max_num, maxMsgsNumBatch)`. Files are scanned newest to oldest; the scan stops at
    /// the first file that begins before `begin`.
    pub fn query_offset(
        &self,
        topic: &str,
        key: &str,
        max_num: usize,
        begin: i64,
        end: i64,
    ) -> QueryOffsetResult {
        let max_num = max_num.min(self.config.max_msgs_num_batch);
        let key_hash = index_key_hash(topic, key);
        let mut result = QueryOffsetResult {
            phy_offsets: Vec::with_capacity(max_num),
            ..QueryOffsetResult::default()
        };
        let files = self.read_files();
        for (i, file) in files.iter().enumerate().rev() {
            let header = file.header();
            if i + 1 == files.len() {
                result.index_last_update_timestamp = header.end_timestamp;
                result.index_last_update_phy_offset = header.end_phy_offset;
            }
            if header.is_time_matched(begin, end) {
                file.select_phy_offsets(&mut result.phy_offsets, key_hash, max_num, begin, end);
            }
            if header.begin_timestamp < begin || result.phy_offsets.len() >= max_num {
                break;
            }
        }
        result
    }

    /// Deletes the oldest files (never the last) whose endPhyOffset < `cl_min_offset`, stopping at the
    /// first that is still needed. Returns how many were deleted.
    pub fn delete_expired_files(&self, cl_min_offset: i64) -> io::Result<usize> {
        let mut files = self.write_files();
        let mut deleted = 0;
        while files.len() > 1 && files[0].header().end_phy_offset < cl_min_offset {
            files[0].destroy()?;
            files.remove(0);
            deleted += 1;
        }
        Ok(deleted)
    }

    /// Flushes every file (shutdown). Blocking.
    pub fn flush_all(&self) -> io::Result<()> {
        for file in self.files() {
            file.flush()?;
        }
        Ok(())
    }

    /// Deletes all index files (used when the CommitLog is gone and everything is rebuilt).
    pub fn destroy(&self) -> io::Result<()> {
        let mut files = self.write_files();
        for file in files.drain(..) {
            file.destroy()?;
        }
        Ok(())
    }
}

fn flush_full_file(file: &IndexFile, checkpoint: &StoreCheckpoint) -> io::Result<()> {
    let index_msg_timestamp = if file.is_write_full() {
        file.header().end_timestamp
    } else {
        0
    };
    file.flush()?;
    if index_msg_timestamp > 0 {
        // Two flush threads may finish out of order; the checkpoint must never move backwards.
        checkpoint
            .index_msg_timestamp
            .fetch_max(index_msg_timestamp, Ordering::AcqRel);
        checkpoint.flush()?;
    }
    Ok(())
}
