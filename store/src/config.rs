//! `MessageStoreConfig`: Apache RocketMQ's store keys (`MessageStoreConfig.java`) with the same defaults, as plain
//! snake_case fields. [`MessageStoreConfig::set`] applies a `broker.conf` key in Apache's camelCase spelling.

use std::path::PathBuf;

use crate::error::{Result, StoreError};

/// How the CommitLog is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushDiskType {
    /// Periodic flush by a background thread; a put is answered once it is in the page cache.
    AsyncFlush,
    /// Group commit: a put is answered once its record is on disk (or after `sync_flush_timeout`).
    SyncFlush,
}

impl std::str::FromStr for FlushDiskType {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "ASYNC_FLUSH" => Ok(FlushDiskType::AsyncFlush),
            "SYNC_FLUSH" => Ok(FlushDiskType::SyncFlush),
            other => Err(StoreError::BadConfig(format!(
                "flushDiskType `{other}`: expected ASYNC_FLUSH or SYNC_FLUSH"
            ))),
        }
    }
}

/// Store configuration. Field names are Apache's keys in snake_case; defaults are Apache's.
#[derive(Debug, Clone)]
pub struct MessageStoreConfig {
    /// `storePathRootDir`, default `~/store`.
    pub store_path_root_dir: PathBuf,
    /// `storePathCommitLog`; `None` means `{root}/commitlog`.
    pub store_path_commit_log: Option<PathBuf>,
    /// `mappedFileSizeCommitLog`, 1 GiB.
    pub mapped_file_size_commit_log: u64,
    /// `mappedFileSizeConsumeQueue`, 300,000 units × 20 bytes (rounded up to a multiple of 20 when used).
    pub mapped_file_size_consume_queue: u64,
    /// `flushDiskType`, ASYNC_FLUSH.
    pub flush_disk_type: FlushDiskType,
    /// `flushIntervalCommitLog` (ms), 500.
    pub flush_interval_commit_log: u64,
    /// `flushCommitLogLeastPages`, 4 pages of 4 KiB.
    pub flush_commit_log_least_pages: u32,
    /// `flushCommitLogThoroughInterval` (ms), 10,000.
    pub flush_commit_log_thorough_interval: u64,
    /// `syncFlushTimeout` (ms), 5,000.
    pub sync_flush_timeout: u64,
    /// `flushIntervalConsumeQueue` (ms), 1,000.
    pub flush_interval_consume_queue: u64,
    /// `flushConsumeQueueLeastPages`, 2.
    pub flush_consume_queue_least_pages: u32,
    /// `flushConsumeQueueThoroughInterval` (ms), 60,000.
    pub flush_consume_queue_thorough_interval: u64,
    /// `maxMessageSize`, 4 MiB (body limit; the whole record may be up to this + 64 KiB).
    pub max_message_size: usize,
    /// `fileReservedTime` (hours), 72.
    pub file_reserved_time: u64,
    /// `deleteWhen`, "04": `;`-separated hours of the day at which expired files are deleted.
    pub delete_when: String,
    /// `diskMaxUsedSpaceRatio` (%), 75, clamped to [10, 95] when used.
    pub disk_max_used_space_ratio: u32,
    /// `diskSpaceCleanForciblyRatio` (%), 85.
    pub disk_space_clean_forcibly_ratio: u32,
    /// `diskSpaceWarningLevelRatio` (%), 90: above it writes are refused.
    pub disk_space_warning_level_ratio: u32,
    /// `cleanResourceInterval` (ms), 10,000.
    pub clean_resource_interval: u64,
    /// `deleteCommitLogFilesInterval` (ms), 100.
    pub delete_commit_log_files_interval: u64,
    /// `deleteConsumeQueueFilesInterval` (ms), 100.
    pub delete_consume_queue_files_interval: u64,
    /// `destroyMapedFileIntervalForcibly` (ms), 120,000.
    pub destroy_mapped_file_interval_forcibly: u64,
    /// `cleanFileForciblyEnable`, true.
    pub clean_file_forcibly_enable: bool,
    /// `checkCRCOnRecover`, true.
    pub check_crc_on_recover: bool,
    /// `enabledAppendPropCRC` (5.x), false: every record carries a whole-record CRC in its last 20 property bytes.
    pub enabled_append_prop_crc: bool,
    /// `forceVerifyPropCRC` (5.x), false: recovery checks that whole-record CRC instead of BODYCRC.
    pub force_verify_prop_crc: bool,
    /// `messageIndexEnable`, true.
    pub message_index_enable: bool,
    /// `messageIndexSafe`, false.
    pub message_index_safe: bool,
    /// `maxHashSlotNum`, 5,000,000.
    pub max_hash_slot_num: u32,
    /// `maxIndexNum`, 20,000,000.
    pub max_index_num: u32,
    /// `maxMsgsNumBatch`, 64: cap on results of one key query.
    pub max_msgs_num_batch: usize,
    /// `defaultQueryMaxNum`, 32.
    pub default_query_max_num: usize,
    /// `maxTransferBytesOnMessageInMemory`, 256 KiB: pull byte budget.
    pub max_transfer_bytes_on_message_in_memory: usize,
    /// `maxTransferCountOnMessageInMemory`, 32: pull message budget.
    pub max_transfer_count_on_message_in_memory: usize,
    /// `messageDelayLevel`, "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h".
    pub message_delay_level: String,
    /// `warmMapedFileEnable` (Apache's spelling): CommitLog segments are pre-written with zeros (and synced) by the
    /// allocator thread before use, and appends reach them with `pwrite` instead of stores into the mapping. Then an
    /// fdatasync only writes data: no unwritten-extent conversion, no journal commit, so it neither waits for the
    /// file system's journal thread nor slows down when the CPUs are busy (ext4 on this project's machines: 65 µs
    /// instead of 180 µs idle, 70 µs instead of 3 ms with both cores loaded). Costs one extra write of every segment.
    /// Sluice's default (`None`) is on for SYNC_FLUSH, off for ASYNC_FLUSH; see [`Self::write_through`].
    pub warm_mapped_file_enable: Option<bool>,
}

impl Default for MessageStoreConfig {
    fn default() -> Self {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        MessageStoreConfig {
            store_path_root_dir: home.join("store"),
            store_path_commit_log: None,
            mapped_file_size_commit_log: 1024 * 1024 * 1024,
            mapped_file_size_consume_queue: 300_000 * 20,
            flush_disk_type: FlushDiskType::AsyncFlush,
            flush_interval_commit_log: 500,
            flush_commit_log_least_pages: 4,
            flush_commit_log_thorough_interval: 10_000,
            sync_flush_timeout: 5_000,
            flush_interval_consume_queue: 1_000,
            flush_consume_queue_least_pages: 2,
            flush_consume_queue_thorough_interval: 60_000,
            max_message_size: 4 * 1024 * 1024,
            file_reserved_time: 72,
            delete_when: "04".to_string(),
            disk_max_used_space_ratio: 75,
            disk_space_clean_forcibly_ratio: 85,
            disk_space_warning_level_ratio: 90,
            clean_resource_interval: 10_000,
            delete_commit_log_files_interval: 100,
            delete_consume_queue_files_interval: 100,
            destroy_mapped_file_interval_forcibly: 120_000,
            clean_file_forcibly_enable: true,
            check_crc_on_recover: true,
            enabled_append_prop_crc: false,
            force_verify_prop_crc: false,
            message_index_enable: true,
            message_index_safe: false,
            max_hash_slot_num: 5_000_000,
            max_index_num: 20_000_000,
            max_msgs_num_batch: 64,
            default_query_max_num: 32,
            max_transfer_bytes_on_message_in_memory: 256 * 1024,
            max_transfer_count_on_message_in_memory: 32,
            message_delay_level: "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"
                .to_string(),
            warm_mapped_file_enable: None,
        }
    }
}

impl MessageStoreConfig {
    /// A config rooted at `root` with every other value at its default.
    pub fn with_root(root: impl Into<PathBuf>) -> Self {
        MessageStoreConfig {
            store_path_root_dir: root.into(),
            ..Default::default()
        }
    }

    /// `{root}/commitlog` unless `storePathCommitLog` is set.
    pub fn commit_log_dir(&self) -> PathBuf {
        self.store_path_commit_log
            .clone()
            .unwrap_or_else(|| self.store_path_root_dir.join("commitlog"))
    }

    /// `{root}/consumequeue`.
    pub fn consume_queue_dir(&self) -> PathBuf {
        self.store_path_root_dir.join("consumequeue")
    }

    /// `{root}/index`.
    pub fn index_dir(&self) -> PathBuf {
        self.store_path_root_dir.join("index")
    }

    /// `{root}/checkpoint`.
    pub fn checkpoint_path(&self) -> PathBuf {
        self.store_path_root_dir.join("checkpoint")
    }

    /// `{root}/abort`.
    pub fn abort_path(&self) -> PathBuf {
        self.store_path_root_dir.join("abort")
    }

    /// `{root}/lock`.
    pub fn lock_path(&self) -> PathBuf {
        self.store_path_root_dir.join("lock")
    }

    /// The consume-queue segment size rounded up to whole 20-byte units, as Apache's getter does.
    pub fn consume_queue_file_size(&self) -> u64 {
        self.mapped_file_size_consume_queue.div_ceil(20) * 20
    }

    /// Whether CommitLog segments are pre-written and appended to with `pwrite` (`warmMapedFileEnable`, by default
    /// on exactly for SYNC_FLUSH, where every put waits for an fdatasync).
    pub fn write_through(&self) -> bool {
        self.warm_mapped_file_enable
            .unwrap_or(self.flush_disk_type == FlushDiskType::SyncFlush)
    }

    /// `diskMaxUsedSpaceRatio` clamped to [10, 95] as Apache's getter does.
    pub fn disk_max_used_space_ratio_clamped(&self) -> u32 {
        self.disk_max_used_space_ratio.clamp(10, 95)
    }

    /// Every store key with its effective value, in broker.conf spelling: the inverse of
    /// [`set`](Self::set), used by `mqbroker -p` and GET_BROKER_CONFIG.
    pub fn to_properties(&self) -> Vec<(&'static str, String)> {
        let s = self;
        let flush = match s.flush_disk_type {
            FlushDiskType::AsyncFlush => "ASYNC_FLUSH",
            FlushDiskType::SyncFlush => "SYNC_FLUSH",
        };
        vec![
            (
                "storePathRootDir",
                s.store_path_root_dir.display().to_string(),
            ),
            (
                "storePathCommitLog",
                s.commit_log_dir().display().to_string(),
            ),
            (
                "mappedFileSizeCommitLog",
                s.mapped_file_size_commit_log.to_string(),
            ),
            (
                "mappedFileSizeConsumeQueue",
                s.mapped_file_size_consume_queue.to_string(),
            ),
            ("flushDiskType", flush.to_string()),
            (
                "flushIntervalCommitLog",
                s.flush_interval_commit_log.to_string(),
            ),
            (
                "flushCommitLogLeastPages",
                s.flush_commit_log_least_pages.to_string(),
            ),
            (
                "flushCommitLogThoroughInterval",
                s.flush_commit_log_thorough_interval.to_string(),
            ),
            ("syncFlushTimeout", s.sync_flush_timeout.to_string()),
            (
                "flushIntervalConsumeQueue",
                s.flush_interval_consume_queue.to_string(),
            ),
            (
                "flushConsumeQueueLeastPages",
                s.flush_consume_queue_least_pages.to_string(),
            ),
            (
                "flushConsumeQueueThoroughInterval",
                s.flush_consume_queue_thorough_interval.to_string(),
            ),
            ("maxMessageSize", s.max_message_size.to_string()),
            ("fileReservedTime", s.file_reserved_time.to_string()),
            ("deleteWhen", s.delete_when.clone()),
            (
                "diskMaxUsedSpaceRatio",
                s.disk_max_used_space_ratio.to_string(),
            ),
            (
                "diskSpaceCleanForciblyRatio",
                s.disk_space_clean_forcibly_ratio.to_string(),
            ),
            (
                "diskSpaceWarningLevelRatio",
                s.disk_space_warning_level_ratio.to_string(),
            ),
            (
                "cleanResourceInterval",
                s.clean_resource_interval.to_string(),
            ),
            (
                "deleteCommitLogFilesInterval",
                s.delete_commit_log_files_interval.to_string(),
            ),
            (
                "deleteConsumeQueueFilesInterval",
                s.delete_consume_queue_files_interval.to_string(),
            ),
            (
                "destroyMapedFileIntervalForcibly",
                s.destroy_mapped_file_interval_forcibly.to_string(),
            ),
            (
                "cleanFileForciblyEnable",
                s.clean_file_forcibly_enable.to_string(),
            ),
            ("checkCRCOnRecover", s.check_crc_on_recover.to_string()),
            ("messageIndexEnable", s.message_index_enable.to_string()),
            ("messageIndexSafe", s.message_index_safe.to_string()),
            ("maxHashSlotNum", s.max_hash_slot_num.to_string()),
            ("maxIndexNum", s.max_index_num.to_string()),
            ("maxMsgsNumBatch", s.max_msgs_num_batch.to_string()),
            ("defaultQueryMaxNum", s.default_query_max_num.to_string()),
            (
                "maxTransferBytesOnMessageInMemory",
                s.max_transfer_bytes_on_message_in_memory.to_string(),
            ),
            (
                "maxTransferCountOnMessageInMemory",
                s.max_transfer_count_on_message_in_memory.to_string(),
            ),
            ("messageDelayLevel", s.message_delay_level.clone()),
            ("warmMapedFileEnable", s.write_through().to_string()),
        ]
    }

    /// Applies one `broker.conf` key (Apache's camelCase spelling). Returns `Ok(false)` for a key the store does not
    /// know (the caller warns), an error for a known key with a bad value.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool> {
        fn num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T> {
            value
                .trim()
                .parse()
                .map_err(|_| StoreError::BadConfig(format!("{key} = `{value}` is not a number")))
        }
        fn flag(key: &str, value: &str) -> Result<bool> {
            match value.trim() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(StoreError::BadConfig(format!(
                    "{key} = `{value}`: expected true or false"
                ))),
            }
        }
        match key {
            "storePathRootDir" => self.store_path_root_dir = PathBuf::from(value.trim()),
            "storePathCommitLog" => self.store_path_commit_log = Some(PathBuf::from(value.trim())),
            "mappedFileSizeCommitLog" => self.mapped_file_size_commit_log = num(key, value)?,
            "mappedFileSizeConsumeQueue" => self.mapped_file_size_consume_queue = num(key, value)?,
            "flushDiskType" => self.flush_disk_type = value.parse()?,
            "flushIntervalCommitLog" => self.flush_interval_commit_log = num(key, value)?,
            "flushCommitLogLeastPages" => self.flush_commit_log_least_pages = num(key, value)?,
            "flushCommitLogThoroughInterval" => {
                self.flush_commit_log_thorough_interval = num(key, value)?
            }
            "syncFlushTimeout" => self.sync_flush_timeout = num(key, value)?,
            "flushIntervalConsumeQueue" => self.flush_interval_consume_queue = num(key, value)?,
            "flushConsumeQueueLeastPages" => {
                self.flush_consume_queue_least_pages = num(key, value)?
            }
            "flushConsumeQueueThoroughInterval" => {
                self.flush_consume_queue_thorough_interval = num(key, value)?
            }
            "maxMessageSize" => self.max_message_size = num(key, value)?,
            "fileReservedTime" => self.file_reserved_time = num(key, value)?,
            "deleteWhen" => self.delete_when = value.trim().to_string(),
            "diskMaxUsedSpaceRatio" => self.disk_max_used_space_ratio = num(key, value)?,
            "diskSpaceCleanForciblyRatio" => {
                self.disk_space_clean_forcibly_ratio = num(key, value)?
            }
            "diskSpaceWarningLevelRatio" => self.disk_space_warning_level_ratio = num(key, value)?,
            "cleanResourceInterval" => self.clean_resource_interval = num(key, value)?,
            "deleteCommitLogFilesInterval" => {
                self.delete_commit_log_files_interval = num(key, value)?
            }
            "deleteConsumeQueueFilesInterval" => {
                self.delete_consume_queue_files_interval = num(key, value)?
            }
            "destroyMapedFileIntervalForcibly" => {
                self.destroy_mapped_file_interval_forcibly = num(key, value)?
            }
            "cleanFileForciblyEnable" => self.clean_file_forcibly_enable = flag(key, value)?,
            "checkCRCOnRecover" => self.check_crc_on_recover = flag(key, value)?,
            "enabledAppendPropCRC" => self.enabled_append_prop_crc = flag(key, value)?,
            "forceVerifyPropCRC" => self.force_verify_prop_crc = flag(key, value)?,
            "messageIndexEnable" => self.message_index_enable = flag(key, value)?,
            "messageIndexSafe" => self.message_index_safe = flag(key, value)?,
            "maxHashSlotNum" => self.max_hash_slot_num = num(key, value)?,
            "maxIndexNum" => self.max_index_num = num(key, value)?,
            "maxMsgsNumBatch" => self.max_msgs_num_batch = num(key, value)?,
            "defaultQueryMaxNum" => self.default_query_max_num = num(key, value)?,
            "maxTransferBytesOnMessageInMemory" => {
                self.max_transfer_bytes_on_message_in_memory = num(key, value)?
            }
            "maxTransferCountOnMessageInMemory" => {
                self.max_transfer_count_on_message_in_memory = num(key, value)?
            }
            "messageDelayLevel" => self.message_delay_level = value.trim().to_string(),
            "warmMapedFileEnable" => self.warm_mapped_file_enable = Some(flag(key, value)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Checks the values the store cannot work with.
    pub fn validate(&self) -> Result<()> {
        if self.mapped_file_size_commit_log < 4096 {
            return Err(StoreError::BadConfig(format!(
                "mappedFileSizeCommitLog {} is below 4096 bytes",
                self.mapped_file_size_commit_log
            )));
        }
        if self.consume_queue_file_size() < 20 {
            return Err(StoreError::BadConfig(
                "mappedFileSizeConsumeQueue must hold at least one 20-byte unit".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_apache() {
        let c = MessageStoreConfig::default();
        assert_eq!(c.mapped_file_size_commit_log, 1_073_741_824);
        assert_eq!(c.consume_queue_file_size(), 6_000_000);
        assert_eq!(c.flush_disk_type, FlushDiskType::AsyncFlush);
        assert_eq!(c.flush_commit_log_least_pages, 4);
        assert_eq!(c.sync_flush_timeout, 5000);
        assert_eq!(c.max_message_size, 4_194_304);
        assert_eq!(c.delete_when, "04");
        assert_eq!(c.max_index_num, 20_000_000);
    }

    #[test]
    fn set_applies_camel_case_keys_and_rejects_bad_values() {
        let mut c = MessageStoreConfig::default();
        assert!(c.set("flushDiskType", "SYNC_FLUSH").unwrap());
        assert_eq!(c.flush_disk_type, FlushDiskType::SyncFlush);
        assert!(c.set("mappedFileSizeCommitLog", "65536").unwrap());
        assert_eq!(c.mapped_file_size_commit_log, 65536);
        assert!(!c.set("mapedFileSizeCommitLog", "1").unwrap());
        assert!(c.set("maxMessageSize", "lots").is_err());
        assert!(c.set("flushDiskType", "SOMETIMES").is_err());
        assert!(c.set("checkCRCOnRecover", "false").unwrap());
        assert!(!c.check_crc_on_recover);
    }

    #[test]
    fn consume_queue_size_rounds_up_to_units() {
        let c = MessageStoreConfig {
            mapped_file_size_consume_queue: 101,
            ..Default::default()
        };
        assert_eq!(c.consume_queue_file_size(), 120);
    }
}
