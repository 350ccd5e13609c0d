//! Retention (RocketMQ's `CleanCommitLogService` + `CleanConsumeQueueService`): deletes expired
//! CommitLog files oldest-first, then the ConsumeQueue and index files that only point below the new
//! CommitLog min offset, and watches disk usage to force cleaning and to mark the store disk-full.
//!
//! One run ([`CleanupService::run_once`]):
//! 1. Deletion is due when the local hour is one of `deleteWhen`, or a partition (CommitLog's, then
//!    ConsumeQueue's) is above `diskMaxUsedSpaceRatio`, or a manual delete was requested.
//! 2. Usage above the force ratio (85 %) deletes without waiting for `fileReservedTime`
//!    ("clean immediately"); above the warning ratio (90 %) the store is also marked disk-full (writes
//!    refused, reads continue) until usage falls back.
//! 3. At most `deleteFileBatchMax` (10) CommitLog files per run, oldest first, never the current (last)
//!    file, stopping at the first file that has not expired.
//! 4. If the CommitLog min offset moved, each ConsumeQueue and then the index drop files below it.
//!
//! "Now", the local hour and disk usage are injected ([`Clock`], [`DiskUsage`]) so tests neither wait
//! hours nor fill a disk.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::MessageStoreConfig;
use crate::consume_queue_store::ConsumeQueueStore;
use crate::disk::{DiskUsage, StatvfsDiskUsage};
use crate::error::{Result, StoreError};
use crate::index_service::IndexService;
use crate::local_time::{now_millis, LocalTime};
use crate::mapped_file_queue::MappedFileQueue;

/// How many runs a manual delete request (admin `deleteExpiredCommitLog`) stays in force.
pub const MANUAL_DELETE_RUNS: u32 = 20;

/// Time source for retention.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_millis(&self) -> i64;
    /// Hour of day (0..=23) in the broker's local time zone.
    fn local_hour(&self) -> u32 {
        LocalTime::from_millis(self.now_millis()).hour
    }
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        now_millis()
    }
}

/// Retention settings (the `MessageStoreConfig` keys of the same names).
#[derive(Debug, Clone, PartialEq)]
pub struct CleanupConfig {
    /// `fileReservedTime`, hours.
    pub file_reserved_time_hours: u64,
    /// `deleteWhen`: `;`-separated hours of the day.
    pub delete_when: String,
    /// `diskMaxUsedSpaceRatio`, percent; clamped to [10, 95] when used.
    pub disk_max_used_space_ratio: u32,
    /// Usage (percent) above which files are deleted regardless of age; clamped to [30, 85].
    pub disk_space_clean_forcibly_ratio: u32,
    /// Usage (percent) above which the store is marked disk-full; clamped to [35, 90].
    pub disk_space_warning_level_ratio: u32,
    /// `cleanFileForciblyEnable`.
    pub clean_file_forcibly_enable: bool,
    /// CommitLog files deleted per run at most.
    pub delete_file_batch_max: usize,
    /// Pause between two CommitLog file deletions (`deleteCommitLogFilesInterval`), to spread the I/O.
    pub delete_commit_log_files_interval: Duration,
}

impl Default for CleanupConfig {
    fn default() -> Self {
        CleanupConfig {
            file_reserved_time_hours: 72,
            delete_when: "04".to_string(),
            disk_max_used_space_ratio: 75,
            disk_space_clean_forcibly_ratio: 85,
            disk_space_warning_level_ratio: 90,
            clean_file_forcibly_enable: true,
            delete_file_batch_max: 10,
            delete_commit_log_files_interval: Duration::from_millis(100),
        }
    }
}

impl From<&MessageStoreConfig> for CleanupConfig {
    fn from(c: &MessageStoreConfig) -> Self {
        CleanupConfig {
            file_reserved_time_hours: c.file_reserved_time,
            delete_when: c.delete_when.clone(),
            disk_max_used_space_ratio: c.disk_max_used_space_ratio,
            disk_space_clean_forcibly_ratio: c.disk_space_clean_forcibly_ratio,
            disk_space_warning_level_ratio: c.disk_space_warning_level_ratio,
            clean_file_forcibly_enable: c.clean_file_forcibly_enable,
            delete_file_batch_max: 10,
            delete_commit_log_files_interval: Duration::from_millis(
                c.delete_commit_log_files_interval,
            ),
        }
    }
}

impl CleanupConfig {
    fn max_used_ratio(&self) -> f64 {
        self.disk_max_used_space_ratio.clamp(10, 95) as f64 / 100.0
    }

    fn forcibly_ratio(&self) -> f64 {
        self.disk_space_clean_forcibly_ratio.clamp(30, 85) as f64 / 100.0
    }

    fn warning_ratio(&self) -> f64 {
        self.disk_space_warning_level_ratio.clamp(35, 90) as f64 / 100.0
    }

    /// Whether `hour` is one of the `deleteWhen` hours (tokens that are not numbers are ignored).
    pub fn is_delete_hour(&self, hour: u32) -> bool {
        self.delete_when
            .split(';')
            .filter_map(|w| w.trim().parse::<u32>().ok())
            .any(|h| h == hour)
    }
}

/// Whether the store may accept writes as far as disk space goes. Shared between the cleanup service
/// (which sets it) and the put path (which checks it).
#[derive(Debug, Default)]
pub struct DiskSpaceState {
    full: AtomicBool,
    /// Last measured CommitLog partition usage, in per-mille (for statistics).
    last_usage_permille: AtomicU32,
}

impl DiskSpaceState {
    /// Whether usage is above the warning ratio.
    pub fn is_full(&self) -> bool {
        self.full.load(Ordering::Acquire)
    }

    /// Last measured usage of the CommitLog partition, as a fraction (negative when unmeasurable).
    pub fn last_usage(&self) -> f64 {
        self.last_usage_permille.load(Ordering::Acquire) as i32 as f64 / 1000.0
    }

    /// `Ok` when writes may proceed; the put path calls this first and maps the error to
    /// SERVICE_NOT_AVAILABLE. Reads never consult it.
    pub fn check_writable(&self) -> Result<()> {
        if self.is_full() {
            return Err(StoreError::DiskFull(format!(
                "disk usage {:.0} % is above the warning level, new messages are refused until retention frees space",
                self.last_usage() * 100.0
            )));
        }
        Ok(())
    }

    fn set_full(&self, full: bool, ratio: f64) {
        let was = self.full.swap(full, Ordering::AcqRel);
        if full && !was {
            tracing::error!(
                usage = ratio,
                "disk almost full: marking the store disk-full, writes are refused"
            );
        } else if !full && was {
            tracing::info!(usage = ratio, "disk space OK again: accepting writes");
        }
    }
}

/// What one run did.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CleanupReport {
    /// Deletion was due (time, space or manual).
    pub triggered: bool,
    /// Files were deleted regardless of age because usage was above the force ratio.
    pub cleaned_immediately: bool,
    pub commit_log_files_deleted: usize,
    pub consume_queue_files_deleted: usize,
    pub index_files_deleted: usize,
}

/// The retention service. Cheap to share (`Arc`); one run at a time is expected (its own thread).
pub struct CleanupService {
    pub config: CleanupConfig,
    /// Disk-full state, shared with the put path.
    pub disk_state: Arc<DiskSpaceState>,
    clock: Arc<dyn Clock>,
    disk: Arc<dyn DiskUsage>,
    manual_delete_runs: AtomicU32,
    /// CommitLog min offset at the last ConsumeQueue/index cleanup.
    last_physical_min_offset: AtomicI64,
    runs: AtomicU64,
}

impl std::fmt::Debug for CleanupService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CleanupService")
            .field("config", &self.config)
            .field("disk_full", &self.disk_state.is_full())
            .finish()
    }
}

impl CleanupService {
    /// A service using the system clock and `statvfs`.
    pub fn new(config: CleanupConfig) -> Self {
        Self::with_sources(config, Arc::new(SystemClock), Arc::new(StatvfsDiskUsage))
    }

    /// A service with injected time and disk usage (tests).
    pub fn with_sources(
        config: CleanupConfig,
        clock: Arc<dyn Clock>,
        disk: Arc<dyn DiskUsage>,
    ) -> Self {
        CleanupService {
            config,
            disk_state: Arc::new(DiskSpaceState::default()),
            clock,
            disk,
            manual_delete_runs: AtomicU32::new(0),
            last_physical_min_offset: AtomicI64::new(0),
            runs: AtomicU64::new(0),
        }
    }

    /// Makes the next [`MANUAL_DELETE_RUNS`] runs delete expired files whatever the hour.
    pub fn request_manual_delete(&self) {
        self.manual_delete_runs
            .store(MANUAL_DELETE_RUNS, Ordering::Release);
    }

    /// Number of completed runs.
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Acquire)
    }

    fn usage(&self, path: &Path) -> f64 {
        match self.disk.used_ratio(path) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot measure disk usage");
                -1.0
            }
        }
    }

    /// Checks the CommitLog partition, then the ConsumeQueue partition: updates the disk-full state and
    /// returns (space says delete, clean immediately).
    fn check_space(&self, commit_log_dir: &Path, consume_queue_dir: &Path) -> (bool, bool) {
        let max = self.config.max_used_ratio();
        let forcibly = self.config.forcibly_ratio();
        let warning = self.config.warning_ratio();
        let mut clean_immediately = false;
        let classify = |ratio: f64, clean_immediately: &mut bool| {
            if ratio > warning {
                self.disk_state.set_full(true, ratio);
                *clean_immediately = true;
            } else if ratio > forcibly {
                *clean_immediately = true;
            } else {
                self.disk_state.set_full(false, ratio);
            }
            ratio < 0.0 || ratio > max
        };
        let physic = self.usage(commit_log_dir);
        self.disk_state
            .last_usage_permille
            .store((physic * 1000.0).round() as i32 as u32, Ordering::Release);
        if classify(physic, &mut clean_immediately) {
            return (true, clean_immediately);
        }
        let logics = self.usage(consume_queue_dir);
        let delete = classify(logics, &mut clean_immediately);
        (delete, clean_immediately)
    }

    /// One retention pass over the CommitLog files, every ConsumeQueue and (if enabled) the index.
    /// Blocking (file deletion, pauses between deletions): run it on a dedicated thread.
    pub fn run_once(
        &self,
        commit_log: &MappedFileQueue,
        consume_queues: &ConsumeQueueStore,
        index: Option<&IndexService>,
    ) -> Result<CleanupReport> {
        let mut report = CleanupReport::default();
        let time_up = self.config.is_delete_hour(self.clock.local_hour());
        let (space, clean_immediately) = self.check_space(&commit_log.dir, &consume_queues.dir);
        let manual = self
            .manual_delete_runs
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok();
        if time_up || space || manual {
            report.triggered = true;
            report.cleaned_immediately =
                self.config.clean_file_forcibly_enable && clean_immediately;
            report.commit_log_files_deleted =
                self.delete_expired_commit_log_files(commit_log, report.cleaned_immediately)?;
            if report.commit_log_files_deleted == 0 && space {
                tracing::warn!("disk space is running out but no CommitLog file could be deleted");
            }
        }
        let min_offset = commit_log.min_offset() as i64;
        if min_offset > self.last_physical_min_offset.load(Ordering::Acquire) {
            report.consume_queue_files_deleted = consume_queues.delete_expired_files(min_offset)?;
            if let Some(index) = index {
                report.index_files_deleted = index
                    .delete_expired_files(min_offset)
                    .map_err(|e| StoreError::io("deleting expired index files", e))?;
            }
            self.last_physical_min_offset
                .store(min_offset, Ordering::Release);
        }
        self.runs.fetch_add(1, Ordering::AcqRel);
        Ok(report)
    }

    /// Deletes expired CommitLog files oldest first: a file expires `fileReservedTime` after its last
    /// modification, or at once with `clean_immediately`. Never the last file, at most the batch limit,
    /// and never past the first unexpired file.
    fn delete_expired_commit_log_files(
        &self,
        commit_log: &MappedFileQueue,
        clean_immediately: bool,
    ) -> Result<usize> {
        let reserved_ms = self
            .config
            .file_reserved_time_hours
            .saturating_mul(3_600_000)
            .min(i64::MAX as u64) as i64;
        let now = self.clock.now_millis();
        let mut deleted = 0;
        while deleted < self.config.delete_file_batch_max {
            if deleted > 0 && !self.config.delete_commit_log_files_interval.is_zero() {
                std::thread::sleep(self.config.delete_commit_log_files_interval);
            }
            let n = commit_log.delete_oldest_while(1, |seg| {
                if clean_immediately {
                    return true;
                }
                match seg.last_modified() {
                    Ok(mtime) => millis_of(mtime).saturating_add(reserved_ms) <= now,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read a CommitLog file's age; keeping it");
                        false
                    }
                }
            })?;
            if n == 0 {
                break;
            }
            deleted += n;
        }
        if deleted > 0 {
            tracing::info!(
                deleted,
                clean_immediately,
                min_offset = commit_log.min_offset(),
                "retention deleted CommitLog files"
            );
        }
        Ok(deleted)
    }
}

fn millis_of(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis().min(i64::MAX as u128) as i64,
        Err(e) => -(e.duration().as_millis().min(i64::MAX as u128) as i64),
    }
}

/// A background thread that calls a function at a fixed interval until stopped (the store runs
/// retention every `cleanResourceInterval`, 10 s, first after 60 s).
pub struct PeriodicTask {
    stop: Arc<(Mutex<bool>, Condvar)>,
    handle: Option<JoinHandle<()>>,
}

impl PeriodicTask {
    /// Starts thread `name` calling `tick` after `first_delay` and then every `interval`.
    pub fn spawn(
        name: &str,
        first_delay: Duration,
        interval: Duration,
        mut tick: impl FnMut() + Send + 'static,
    ) -> std::io::Result<PeriodicTask> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let mut wait = first_delay;
                loop {
                    let (lock, cvar) = &*signal;
                    let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
                    let (guard, _) = cvar
                        .wait_timeout_while(guard, wait, |stopped| !*stopped)
                        .unwrap_or_else(|p| p.into_inner());
                    if *guard {
                        return;
                    }
                    drop(guard);
                    tick();
                    wait = interval;
                }
            })?;
        Ok(PeriodicTask {
            stop,
            handle: Some(handle),
        })
    }

    /// Stops the thread and waits for the current tick to finish.
    pub fn stop(&mut self) {
        let (lock, cvar) = &*self.stop;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cvar.notify_all();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for PeriodicTask {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs [`CleanupService::run_once`] on its own thread every `interval` (first after `first_delay`),
/// logging failures. `targets` yields the CommitLog's file queue, the ConsumeQueues and the index.
pub fn spawn_cleanup<T: Send + 'static>(
    service: Arc<CleanupService>,
    first_delay: Duration,
    interval: Duration,
    state: T,
    targets: impl Fn(&T) -> (&MappedFileQueue, &ConsumeQueueStore, Option<&IndexService>)
        + Send
        + 'static,
) -> std::io::Result<PeriodicTask> {
    PeriodicTask::spawn("StoreCleanup", first_delay, interval, move || {
        let (commit_log, cqs, index) = targets(&state);
        if let Err(e) = service.run_once(commit_log, cqs, index) {
            tracing::error!(error = %e, "retention run failed");
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_when_hours() {
        let c = CleanupConfig {
            delete_when: "04;13; 22;x".into(),
            ..CleanupConfig::default()
        };
        assert!(c.is_delete_hour(4));
        assert!(c.is_delete_hour(13));
        assert!(c.is_delete_hour(22));
        assert!(!c.is_delete_hour(5));
    }

    #[test]
    fn ratios_are_clamped() {
        let c = CleanupConfig {
            disk_max_used_space_ratio: 99,
            disk_space_clean_forcibly_ratio: 99,
            disk_space_warning_level_ratio: 10,
            ..CleanupConfig::default()
        };
        assert_eq!(c.max_used_ratio(), 0.95);
        assert_eq!(c.forcibly_ratio(), 0.85);
        assert_eq!(c.warning_ratio(), 0.35);
        let low = CleanupConfig {
            disk_max_used_space_ratio: 1,
            ..CleanupConfig::default()
        };
        assert_eq!(low.max_used_ratio(), 0.10);
    }

    #[test]
    fn periodic_task_ticks_and_stops() {
        let count = Arc::new(AtomicU64::new(0));
        let c = Arc::clone(&count);
        let mut task =
            PeriodicTask::spawn("t", Duration::ZERO, Duration::from_millis(1), move || {
                c.fetch_add(1, Ordering::AcqRel);
            })
            .unwrap();
        while count.load(Ordering::Acquire) < 3 {
            std::thread::sleep(Duration::from_millis(1));
        }
        task.stop();
        let after = count.load(Ordering::Acquire);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(count.load(Ordering::Acquire), after);
    }
}
