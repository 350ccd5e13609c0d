//! Retention: expired CommitLog files deleted oldest-first (never the last, stop at the first
//! unexpired, batch limit), triggers (deleteWhen hour, disk ratio, manual), forced cleaning, the
//! disk-full state, and ConsumeQueue/index cleanup after the CommitLog.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use sluice_store::checkpoint::StoreCheckpoint;
use sluice_store::cleanup::{CleanupConfig, CleanupService, Clock};
use sluice_store::consume_queue::CqUnit;
use sluice_store::consume_queue_store::ConsumeQueueStore;
use sluice_store::disk::DiskUsage;
use sluice_store::index_service::{IndexConfig, IndexRequest, IndexService};
use sluice_store::{MappedFileQueue, OsFs, StoreFs};

const SEG: u64 = 4096;
const HOUR_MS: i64 = 3_600_000;

struct FakeClock {
    now: i64,
    hour: u32,
}
impl Clock for FakeClock {
    fn now_millis(&self) -> i64 {
        self.now
    }
    fn local_hour(&self) -> u32 {
        self.hour
    }
}

#[derive(Default)]
struct FakeDisk {
    permille: AtomicU64,
}
impl FakeDisk {
    fn set(&self, ratio: f64) {
        self.permille
            .store((ratio * 1000.0) as u64, Ordering::Release);
    }
}
impl DiskUsage for FakeDisk {
    fn used_ratio(&self, _path: &Path) -> std::io::Result<f64> {
        Ok(self.permille.load(Ordering::Acquire) as f64 / 1000.0)
    }
}

fn fs() -> Arc<dyn StoreFs> {
    Arc::new(OsFs)
}

struct Store {
    _dir: tempfile::TempDir,
    commit_log: MappedFileQueue,
    cqs: ConsumeQueueStore,
    index: IndexService,
}

/// A CommitLog of `files` full 4 KiB segments (plus nothing in the last beyond one record), one CQ
/// unit and one index key per 1 KiB "record".
fn store(files: u64) -> Store {
    let dir = tempfile::tempdir().unwrap();
    let commit_log = MappedFileQueue::open(dir.path().join("commitlog"), SEG, fs(), false).unwrap();
    let cqs = ConsumeQueueStore::load(dir.path().join("consumequeue"), 5 * 20, fs()).unwrap();
    let cp = Arc::new(StoreCheckpoint::open(dir.path().join("checkpoint")).unwrap());
    let cfg = IndexConfig {
        hash_slot_num: 8,
        index_num: 5,
        max_msgs_num_batch: 64,
    };
    let index = IndexService::load(dir.path().join("index"), cfg, cp, true).unwrap();
    let cq = cqs.find_or_create("T", 0).unwrap();
    let record = vec![7u8; 1024];
    for i in 0..files * 4 {
        let off = commit_log.append(&record).unwrap();
        cq.put(
            CqUnit {
                phy_offset: off as i64,
                size: 1024,
                tags_code: 0,
            },
            i,
        )
        .unwrap();
        let key = format!("k{i}");
        index
            .build_index(&IndexRequest {
                topic: "T",
                keys: Some(&key),
                uniq_key: None,
                commit_log_offset: off as i64,
                store_timestamp: 1_700_000_000_000 + i as i64,
                sys_flag: 0,
            })
            .unwrap();
    }
    commit_log.flush(0).unwrap();
    Store {
        _dir: dir,
        commit_log,
        cqs,
        index,
    }
}

/// Sets each CommitLog file's mtime to `now - age_hours[i]` hours.
fn age_files(s: &Store, now: i64, age_hours: &[i64]) {
    let segs = s.commit_log.segments();
    assert_eq!(segs.len(), age_hours.len());
    for (seg, age) in segs.iter().zip(age_hours) {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis((now - age * HOUR_MS) as u64);
        std::fs::File::options()
            .write(true)
            .open(&seg.path)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }
}

fn service(hour: u32, disk: Arc<FakeDisk>, now: i64) -> CleanupService {
    let config = CleanupConfig {
        file_reserved_time_hours: 72,
        delete_when: "04".into(),
        delete_commit_log_files_interval: Duration::ZERO,
        ..CleanupConfig::default()
    };
    CleanupService::with_sources(config, Arc::new(FakeClock { now, hour }), disk)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn starts(s: &Store) -> Vec<u64> {
    s.commit_log
        .segments()
        .iter()
        .map(|f| f.start_offset)
        .collect()
}

#[test]
fn at_delete_hour_expired_files_go_oldest_first_stopping_at_the_first_unexpired() {
    let s = store(5);
    let now = now();
    // Files 0 and 1 expired, 2 is fresh, 3 and 4 expired again.
    age_files(&s, now, &[100, 80, 1, 90, 90]);
    let disk = Arc::new(FakeDisk::default());
    disk.set(0.30);
    let svc = service(4, disk, now);
    let report = svc.run_once(&s.commit_log, &s.cqs, Some(&s.index)).unwrap();
    assert!(report.triggered);
    assert!(!report.cleaned_immediately);
    assert_eq!(report.commit_log_files_deleted, 2);
    assert_eq!(starts(&s), vec![2 * SEG, 3 * SEG, 4 * SEG]);
    assert!(!s.commit_log.dir.join("00000000000000000000").exists());
    assert!(!s.commit_log.dir.join("00000000000000004096").exists());

    // Then the ConsumeQueue: CQ files hold 5 units; units 0..=7 point below 8192, so the first
    // CQ file (units 0..5) goes and the min offset moves to unit 8.
    let cq = s.cqs.get("T", 0).unwrap();
    assert_eq!(report.consume_queue_files_deleted, 1);
    assert_eq!(cq.min_offset_in_queue(), 8);
    assert!(cq.get(7).is_none());
    assert_eq!(cq.get(8).unwrap().phy_offset, 2 * SEG as i64);
    // And the index: 4 entries per file, ending at CL offsets 3072, 7168, 11264, ...; the first two
    // end below 8192.
    assert_eq!(report.index_files_deleted, 2);
    assert!(s
        .index
        .query_offset("T", "k7", 10, 0, i64::MAX)
        .phy_offsets
        .is_empty());
    assert_eq!(
        s.index.query_offset("T", "k8", 10, 0, i64::MAX).phy_offsets,
        vec![2 * SEG as i64]
    );
}

#[test]
fn outside_the_delete_hour_with_room_on_disk_nothing_is_deleted() {
    let s = store(3);
    let now = now();
    age_files(&s, now, &[500, 500, 500]);
    let disk = Arc::new(FakeDisk::default());
    disk.set(0.50);
    let svc = service(5, disk, now);
    let report = svc.run_once(&s.commit_log, &s.cqs, Some(&s.index)).unwrap();
    assert!(!report.triggered);
    assert_eq!(starts(&s).len(), 3);
}

#[test]
fn the_last_file_is_never_deleted_and_at_most_ten_go_per_run() {
    let s = store(13);
    let now = now();
    age_files(&s, now, &[200; 13]);
    let disk = Arc::new(FakeDisk::default());
    disk.set(0.10);
    let svc = service(4, disk, now);
    let first = svc.run_once(&s.commit_log, &s.cqs, Some(&s.index)).unwrap();
    assert_eq!(first.commit_log_files_deleted, 10);
    let second = svc.run_once(&s.commit_log, &s.cqs, Some(&s.index)).unwrap();
    assert_eq!(second.commit_log_files_deleted, 2);
    assert_eq!(starts(&s), vec![12 * SEG], "only the current file is left");
    let third = svc.run_once(&s.commit_log, &s.cqs, Some(&s.index)).unwrap();
    assert_eq!(third.commit_log_files_deleted, 0);
    assert_eq!(s.index.file_count(), 1, "the last index file stays too");
}

#[test]
fn usage_above_the_max_ratio_triggers_deletion_of_expired_files_only() {
    let s = store(4);
    let now = now();
    age_files(&s, now, &[100, 10, 10, 10]);
    let disk = Arc::new(FakeDisk::default());
    disk.set(0.80); // > 75 %, < 85 %
    let svc = service(12, disk, now);
    let report = svc.run_once(&s.commit_log, &s.cqs, None).unwrap();
    assert!(report.triggered);
    assert!(!report.cleaned_immediately);
    assert_eq!(report.commit_log_files_deleted, 1);
}

#[test]
fn usage_above_the_force_ratio_deletes_unexpired_files_too() {
    let s = store(4);
    let now = now();
    age_files(&s, now, &[1, 1, 1, 1]);
    let disk = Arc::new(FakeDisk::default());
    disk.set(0.86);
    let svc = service(12, disk, now);
    let report = svc.run_once(&s.commit_log, &s.cqs, None).unwrap();
    assert!(report.cleaned_immediately);
    assert_eq!(report.commit_log_files_deleted, 3);
    assert!(!svc.disk_state.is_full(), "86 % is below the warning level");
}

#[test]
fn above_the_warning_ratio_writes_are_refused_and_reads_continue_until_space_returns() {
    let s = store(3);
    let now = now();
    age_files(&s, now, &[1, 1, 1]);
    let disk = Arc::new(FakeDisk::default());
    disk.set(0.93);
    let svc = service(12, Arc::clone(&disk), now);
    svc.disk_state.check_writable().unwrap();
    svc.run_once(&s.commit_log, &s.cqs, None).unwrap();
    assert!(svc.disk_state.is_full());
    let err = svc.disk_state.check_writable().unwrap_err();
    assert!(err.is_disk_full());
    assert!(err.to_string().contains("93 %"), "{err}");
    // Reads still work: the live ConsumeQueue units and the CommitLog bytes they point at.
    let cq = s.cqs.get("T", 0).unwrap();
    let unit = cq.get(cq.min_offset_in_queue()).unwrap();
    let record = s
        .commit_log
        .read(unit.phy_offset as u64, unit.size as u64)
        .unwrap();
    assert!(record.iter().all(|&b| b == 7));
    // Usage falls: writable again.
    disk.set(0.40);
    svc.run_once(&s.commit_log, &s.cqs, None).unwrap();
    assert!(!svc.disk_state.is_full());
    svc.disk_state.check_writable().unwrap();
}

#[test]
fn manual_delete_triggers_outside_the_delete_hour() {
    let s = store(3);
    let now = now();
    age_files(&s, now, &[100, 100, 100]);
    let disk = Arc::new(FakeDisk::default());
    disk.set(0.10);
    let svc = service(12, disk, now);
    assert_eq!(
        svc.run_once(&s.commit_log, &s.cqs, None)
            .unwrap()
            .commit_log_files_deleted,
        0
    );
    svc.request_manual_delete();
    assert_eq!(
        svc.run_once(&s.commit_log, &s.cqs, None)
            .unwrap()
            .commit_log_files_deleted,
        2
    );
}

#[test]
fn the_periodic_runner_calls_the_service() {
    let s = Arc::new(Mutex::new(store(2)));
    let now = now();
    age_files(&s.lock().unwrap(), now, &[100, 100]);
    let disk = Arc::new(FakeDisk::default());
    disk.set(0.10);
    let svc = Arc::new(service(4, disk, now));
    let state = Arc::clone(&s);
    let runner = Arc::clone(&svc);
    let mut task = sluice_store::cleanup::PeriodicTask::spawn(
        "cleanup-test",
        Duration::ZERO,
        Duration::from_millis(5),
        move || {
            let st = state.lock().unwrap();
            runner
                .run_once(&st.commit_log, &st.cqs, Some(&st.index))
                .unwrap();
        },
    )
    .unwrap();
    while svc.runs() < 2 {
        std::thread::sleep(Duration::from_millis(5));
    }
    task.stop();
    assert_eq!(starts(&s.lock().unwrap()), vec![SEG]);
}
