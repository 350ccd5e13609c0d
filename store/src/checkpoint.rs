//! The `checkpoint`, `abort` and `lock` files under the store root (RocketMQ's `StoreCheckpoint`,
//! `StorePathConfigHelper`).
//!
//! `checkpoint` is one 4 KiB page holding five big-endian `i64`s:
//! physicMsgTimestamp @0, logicsMsgTimestamp @8, indexMsgTimestamp @16, masterFlushedOffset @24,
//! confirmPhyOffset @32. The values live in atomics (several services update them) and are written to
//! the page only by [`StoreCheckpoint::flush`], like the Java broker.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use memmap2::MmapMut;

/// Size of the checkpoint file: one OS page.
pub const CHECKPOINT_FILE_SIZE: usize = 4096;
/// Byte positions of the checkpoint fields.
pub const PHYSIC_MSG_TIMESTAMP_POS: usize = 0;
pub const LOGICS_MSG_TIMESTAMP_POS: usize = 8;
pub const INDEX_MSG_TIMESTAMP_POS: usize = 16;
pub const MASTER_FLUSHED_OFFSET_POS: usize = 24;
pub const CONFIRM_PHY_OFFSET_POS: usize = 32;

/// Recovery looks this far (ms) before the older of the CommitLog and ConsumeQueue timestamps.
const MIN_TIMESTAMP_SAFETY_MS: i64 = 3000;

/// The `{root}/checkpoint` file.
#[derive(Debug)]
pub struct StoreCheckpoint {
    /// Store time of the last flushed CommitLog message (set by the CommitLog flush services).
    pub physic_msg_timestamp: AtomicI64,
    /// Store time of the last dispatched ConsumeQueue unit (persisted on the thorough CQ flush).
    pub logics_msg_timestamp: AtomicI64,
    /// End timestamp of the last *full* index file that was flushed.
    pub index_msg_timestamp: AtomicI64,
    /// Replication: the master's flushed offset (5.x).
    pub master_flushed_offset: AtomicI64,
    /// Start offset of the last valid record found by recovery (5.x).
    pub confirm_phy_offset: AtomicI64,
    path: PathBuf,
    page: Mutex<MmapMut>,
}

impl StoreCheckpoint {
    /// Opens `path`, creating a zeroed 4 KiB file if it does not exist, and loads the stored values.
    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        if file.metadata()?.len() < CHECKPOINT_FILE_SIZE as u64 {
            file.set_len(CHECKPOINT_FILE_SIZE as u64)?;
        }
        // SAFETY: the checkpoint file is private to this store (the `lock` file keeps other stores
        // out) and is only ever written through this mapping, under `page`'s mutex.
        let page = unsafe {
            memmap2::MmapOptions::new()
                .len(CHECKPOINT_FILE_SIZE)
                .map_mut(&file)?
        };
        let read = |pos: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&page[pos..pos + 8]);
            AtomicI64::new(i64::from_be_bytes(b))
        };
        Ok(StoreCheckpoint {
            physic_msg_timestamp: read(PHYSIC_MSG_TIMESTAMP_POS),
            logics_msg_timestamp: read(LOGICS_MSG_TIMESTAMP_POS),
            index_msg_timestamp: read(INDEX_MSG_TIMESTAMP_POS),
            master_flushed_offset: read(MASTER_FLUSHED_OFFSET_POS),
            confirm_phy_offset: read(CONFIRM_PHY_OFFSET_POS),
            path,
            page: Mutex::new(page),
        })
    }

    /// The file this checkpoint lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the five values into the page and msyncs it. Blocking: call from a dedicated thread.
    pub fn flush(&self) -> io::Result<()> {
        let mut page = self
            .page
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let fields = [
            (PHYSIC_MSG_TIMESTAMP_POS, &self.physic_msg_timestamp),
            (LOGICS_MSG_TIMESTAMP_POS, &self.logics_msg_timestamp),
            (INDEX_MSG_TIMESTAMP_POS, &self.index_msg_timestamp),
            (MASTER_FLUSHED_OFFSET_POS, &self.master_flushed_offset),
            (CONFIRM_PHY_OFFSET_POS, &self.confirm_phy_offset),
        ];
        for (pos, value) in fields {
            page[pos..pos + 8].copy_from_slice(&value.load(Ordering::Acquire).to_be_bytes());
        }
        page.flush()
    }

    /// Where abnormal recovery may start: min(physic, logics) − 3 s, floored at 0.
    pub fn min_timestamp(&self) -> i64 {
        let physic = self.physic_msg_timestamp.load(Ordering::Acquire);
        let logics = self.logics_msg_timestamp.load(Ordering::Acquire);
        (physic.min(logics) - MIN_TIMESTAMP_SAFETY_MS).max(0)
    }

    /// Like [`min_timestamp`](Self::min_timestamp) but also no later than indexMsgTimestamp, used when
    /// the index must be rebuilt safely (`messageIndexSafe`).
    pub fn min_timestamp_index(&self) -> i64 {
        self.min_timestamp()
            .min(self.index_msg_timestamp.load(Ordering::Acquire))
    }
}

/// Path of the abort file under the store root.
pub fn abort_file_path(root: &Path) -> PathBuf {
    root.join("abort")
}

/// Creates `{root}/abort` holding this process's PID as text (5.x content). Its presence at the next
/// start means the store was not shut down cleanly.
pub fn create_abort_file(root: &Path) -> io::Result<()> {
    fs::create_dir_all(root)?;
    let mut file = File::create(abort_file_path(root))?;
    file.write_all(std::process::id().to_string().as_bytes())?;
    file.sync_all()
}

/// Whether `{root}/abort` exists (the previous run ended abnormally).
pub fn abort_file_exists(root: &Path) -> bool {
    abort_file_path(root).exists()
}

/// Removes `{root}/abort` at clean shutdown; a missing file is not an error.
pub fn delete_abort_file(root: &Path) -> io::Result<()> {
    match fs::remove_file(abort_file_path(root)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// An exclusive `flock` on `{root}/lock`, held for the life of the store so a second store on the same
/// directory fails to open. Released when dropped (closing the descriptor drops the lock).
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
    path: PathBuf,
}

impl StoreLock {
    /// Takes the lock without waiting. Fails with `WouldBlock` and a message naming the directory when
    /// another store (in this or another process) holds it.
    pub fn acquire(root: &Path) -> io::Result<StoreLock> {
        fs::create_dir_all(root)?;
        let path = root.join("lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        // SAFETY: flock on a descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::WouldBlock {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!(
                        "store directory {} is locked by another running store ({}); stop it or use another storePathRootDir",
                        root.display(),
                        path.display()
                    ),
                ));
            }
            return Err(err);
        }
        file.write_all(b"lock")?;
        Ok(StoreLock { _file: file, path })
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_timestamp_rules() {
        let dir = tempfile::tempdir().unwrap();
        let cp = StoreCheckpoint::open(dir.path().join("checkpoint")).unwrap();
        assert_eq!(cp.min_timestamp(), 0, "floored at zero");
        cp.physic_msg_timestamp.store(10_000, Ordering::Release);
        cp.logics_msg_timestamp.store(8_000, Ordering::Release);
        cp.index_msg_timestamp.store(9_000, Ordering::Release);
        assert_eq!(cp.min_timestamp(), 5_000);
        assert_eq!(cp.min_timestamp_index(), 5_000);
        cp.index_msg_timestamp.store(1_000, Ordering::Release);
        assert_eq!(cp.min_timestamp_index(), 1_000);
    }

    #[test]
    fn abort_file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!abort_file_exists(dir.path()));
        create_abort_file(dir.path()).unwrap();
        assert!(abort_file_exists(dir.path()));
        let text = fs::read_to_string(abort_file_path(dir.path())).unwrap();
        assert_eq!(text, std::process::id().to_string());
        delete_abort_file(dir.path()).unwrap();
        assert!(!abort_file_exists(dir.path()));
        delete_abort_file(dir.path()).unwrap();
    }
}
