//! ConsumeQueue: unit format byte for byte, put/dedup/pre-blank, lookups, recovery, truncation,
//! offset-by-time, cleanup, and the ConsumeQueueStore map.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use sluice_store::consume_queue::{
    BoundaryType, ConsumeQueue, CqUnit, PutOutcome, CQ_STORE_UNIT_SIZE,
};
use sluice_store::consume_queue_store::ConsumeQueueStore;
use sluice_store::{OsFs, StoreFs};

const UNITS_PER_FILE: u64 = 5;
const FILE_SIZE: u64 = UNITS_PER_FILE * CQ_STORE_UNIT_SIZE;

fn fs() -> Arc<dyn StoreFs> {
    Arc::new(OsFs)
}

fn open(dir: &Path) -> ConsumeQueue {
    ConsumeQueue::open(dir, "TopicTest", 3, FILE_SIZE, fs()).unwrap()
}

/// Message i lives at CL offset 1000 + 100 i with size 100 and tags code i.
fn unit(i: u64) -> CqUnit {
    CqUnit {
        phy_offset: 1000 + 100 * i as i64,
        size: 100,
        tags_code: i as i64,
    }
}

fn put_n(cq: &ConsumeQueue, range: std::ops::Range<u64>) {
    for i in range {
        assert_eq!(cq.put(unit(i), i).unwrap(), PutOutcome::Appended);
    }
}

#[test]
fn unit_is_twenty_big_endian_bytes_at_index_times_twenty() {
    let dir = tempfile::tempdir().unwrap();
    let cq = open(dir.path());
    put_n(&cq, 0..2);
    let tagged = CqUnit {
        phy_offset: 0x0102030405060708,
        size: 0x0A0B0C0D,
        tags_code: -2,
    };
    cq.put(tagged, 2).unwrap();
    cq.flush(0).unwrap();
    let bytes = std::fs::read(dir.path().join("00000000000000000000")).unwrap();
    assert_eq!(bytes.len() as u64, FILE_SIZE);
    assert_eq!(
        &bytes[40..60],
        &[
            1, 2, 3, 4, 5, 6, 7, 8, 0x0A, 0x0B, 0x0C, 0x0D, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0xFF, 0xFE
        ]
    );
    assert_eq!(&bytes[0..8], &1000i64.to_be_bytes());
    assert_eq!(&bytes[8..12], &100i32.to_be_bytes());
    assert_eq!(&bytes[12..20], &0i64.to_be_bytes());
    assert!(bytes[60..].iter().all(|&b| b == 0));
}

#[test]
fn lookups_across_files_are_bounded_by_file_and_count() {
    let dir = tempfile::tempdir().unwrap();
    let cq = open(dir.path());
    put_n(&cq, 0..12);
    assert_eq!(
        (cq.min_offset_in_queue(), cq.max_offset_in_queue()),
        (0, 12)
    );
    assert_eq!(cq.max_physic_offset(), 1000 + 100 * 12);
    let names: Vec<_> = cq
        .files()
        .segments()
        .iter()
        .map(|s| s.start_offset)
        .collect();
    assert_eq!(names, vec![0, 100, 200], "files named by byte offset");
    assert!(dir.path().join("00000000000000000100").exists());

    let run = cq.units_from(3, 10).unwrap();
    assert_eq!(run.len(), 2, "a run stops at the file end");
    assert_eq!(
        run.iter()
            .map(|(i, u)| (i, u.tags_code))
            .collect::<Vec<_>>(),
        vec![(3, 3), (4, 4)]
    );
    assert_eq!(cq.roll_next_file(3), 5);
    let run = cq.units_from(5, 2).unwrap();
    assert_eq!(run.len(), 2);
    assert_eq!(run.get(1), Some(unit(6)));
    assert_eq!(cq.get(11), Some(unit(11)));
    assert!(cq.get(12).is_none(), "not written yet");
    assert!(cq.units_from(12, 1).is_none());
    assert_eq!(cq.last_unit(), Some(unit(11)));
    // Absurd requests from a client are answered, not panicked on.
    assert_eq!(cq.units_from(10, usize::MAX).unwrap().len(), 2);
    assert!(cq.units_from(u64::MAX, 1).is_none());
    assert!(cq.get(u64::MAX / 2).is_none());
    assert_eq!(cq.roll_next_file(u64::MAX - 1), u64::MAX);
}

#[test]
fn duplicates_are_skipped_and_gaps_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cq = open(dir.path());
    put_n(&cq, 0..3);
    // Same record again (re-dispatch): its end is not beyond the max physical offset.
    assert_eq!(cq.put(unit(2), 2).unwrap(), PutOutcome::Duplicate);
    assert_eq!(cq.put(unit(0), 0).unwrap(), PutOutcome::Duplicate);
    // A newer record claiming an already used queue offset.
    assert_eq!(cq.put(unit(9), 1).unwrap(), PutOutcome::Duplicate);
    assert_eq!(cq.max_offset_in_queue(), 3);
    let err = cq.put(unit(10), 5).unwrap_err();
    assert!(err.to_string().contains("gap"), "{err}");
    assert_eq!(cq.max_offset_in_queue(), 3);
}

#[test]
fn first_unit_at_nonzero_offset_is_preceded_by_pre_blank_units() {
    let dir = tempfile::tempdir().unwrap();
    let cq = open(dir.path());
    assert_eq!(cq.put(unit(7), 7).unwrap(), PutOutcome::Appended);
    assert_eq!((cq.min_offset_in_queue(), cq.max_offset_in_queue()), (7, 8));
    assert!(cq.get(6).is_none(), "below the min offset");
    assert_eq!(cq.get(7), Some(unit(7)));
    cq.flush(0).unwrap();
    // File 5..10 holds units 5 and 6 as (0, Integer.MAX_VALUE, 0) then unit 7.
    let bytes = std::fs::read(dir.path().join("00000000000000000100")).unwrap();
    let blank = CqUnit::PRE_BLANK.encode();
    assert_eq!(&bytes[0..20], &blank);
    assert_eq!(&bytes[20..40], &blank);
    assert_eq!(
        &bytes[20..40],
        &[0, 0, 0, 0, 0, 0, 0, 0, 0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(&bytes[40..60], &unit(7).encode());
    assert!(!dir.path().join("00000000000000000000").exists());
    put_n(&cq, 8..11);
    drop(cq);

    // After a restart the min offset skips the filler again.
    let cq = open(dir.path());
    cq.recover().unwrap();
    assert_eq!(
        (cq.min_offset_in_queue(), cq.max_offset_in_queue()),
        (7, 11)
    );
    assert_eq!(cq.max_physic_offset(), unit(10).end_phy_offset());
}

#[test]
fn recovery_truncates_a_torn_last_unit() {
    let dir = tempfile::tempdir().unwrap();
    {
        let cq = open(dir.path());
        put_n(&cq, 0..8);
        cq.flush(0).unwrap();
    }
    // Unit 8 was half written when the process died: its offset is there, its size is not.
    let path = dir.path().join("00000000000000000100");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[60..68].copy_from_slice(&unit(8).phy_offset.to_be_bytes());
    std::fs::write(&path, &bytes).unwrap();

    let cq = open(dir.path());
    cq.recover().unwrap();
    assert_eq!(cq.max_offset_in_queue(), 8);
    assert_eq!(cq.max_physic_offset(), unit(7).end_phy_offset());
    assert!(cq.get(8).is_none());
    // The torn bytes are gone and the queue continues where the valid units end.
    assert_eq!(cq.put(unit(7), 7).unwrap(), PutOutcome::Duplicate);
    assert_eq!(cq.put(unit(8), 8).unwrap(), PutOutcome::Appended);
    assert_eq!(cq.get(8), Some(unit(8)));
}

#[test]
fn recovery_of_a_zeroed_middle_file_drops_everything_after_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let cq = open(dir.path());
        put_n(&cq, 0..14);
        cq.flush(0).unwrap();
    }
    // Units 7.. of the second file never reached the disk (zeros); the third file has stale data.
    let path = dir.path().join("00000000000000000100");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[40..].fill(0);
    std::fs::write(&path, &bytes).unwrap();
    let cq = open(dir.path());
    cq.recover().unwrap();
    assert_eq!(cq.max_offset_in_queue(), 7);
    assert!(!dir.path().join("00000000000000000200").exists());
}

#[test]
fn truncate_dirty_removes_units_at_or_beyond_a_commit_log_offset() {
    let dir = tempfile::tempdir().unwrap();
    let cq = open(dir.path());
    put_n(&cq, 0..12);
    // The CommitLog was cut inside message 6.
    cq.truncate_dirty(unit(6).phy_offset + 10).unwrap();
    assert_eq!(cq.max_offset_in_queue(), 7);
    assert_eq!(cq.max_physic_offset(), unit(6).end_phy_offset());
    assert!(!dir.path().join("00000000000000000200").exists());
    // Beyond everything: nothing changes.
    cq.truncate_dirty(1_000_000).unwrap();
    assert_eq!(cq.max_offset_in_queue(), 7);
    // Re-dispatch of the lost records goes back in at the right offsets.
    put_n(&cq, 7..9);
    assert_eq!(cq.get(8), Some(unit(8)));
}

#[test]
fn offset_by_time_binary_search_with_both_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let cq = open(dir.path());
    put_n(&cq, 0..12);
    // Store times: 10, 20, 20, 20, 50, 60, ... (i*10 with a run of equal times at 1..=3).
    let times: HashMap<i64, i64> = (0..12u64)
        .map(|i| {
            let t = if (1..=3).contains(&i) {
                20
            } else {
                i as i64 * 10 + 10
            };
            (unit(i).phy_offset, t)
        })
        .collect();
    let lookup = |phy: i64, _size: i32| times.get(&phy).copied();
    let lower = |ts| cq.offset_by_time(ts, BoundaryType::Lower, 0, &lookup);
    let upper = |ts| cq.offset_by_time(ts, BoundaryType::Upper, 0, &lookup);
    assert_eq!(lower(20), 1, "first of the equal run");
    assert_eq!(upper(20), 3, "last of the equal run");
    assert_eq!(lower(55), 5);
    assert_eq!(upper(55), 4);
    assert_eq!(lower(0), 0);
    assert_eq!(upper(0), 0, "all newer: the min offset");
    assert_eq!(lower(1_000), 12, "all older: the max offset");
    assert_eq!(upper(1_000), 11);
    // Records below the CommitLog min offset count as older than anything.
    assert_eq!(
        cq.offset_by_time(0, BoundaryType::Lower, unit(4).phy_offset, &lookup),
        4
    );
}

#[test]
fn expired_files_are_deleted_by_commit_log_min_offset_and_min_offset_corrected() {
    let dir = tempfile::tempdir().unwrap();
    let cq = open(dir.path());
    put_n(&cq, 0..12); // files [0..5), [5..10), [10..12)
                       // CL min offset inside message 7: file 0 (last unit 4) goes, file 1 (last unit 9) stays.
    let deleted = cq.delete_expired_files(unit(7).phy_offset).unwrap();
    assert_eq!(deleted, 1);
    assert!(!dir.path().join("00000000000000000000").exists());
    assert_eq!(cq.min_offset_in_queue(), 7);
    assert!(cq.get(6).is_none());
    assert_eq!(cq.get(7), Some(unit(7)));
    // Even when everything is old, the last file stays.
    cq.delete_expired_files(i64::MAX).unwrap();
    assert_eq!(cq.files().segments().len(), 1);
    assert_eq!(cq.min_offset_in_queue(), 12, "no live unit left");
}

#[test]
fn store_loads_every_topic_and_queue_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = ConsumeQueueStore::load(dir.path(), FILE_SIZE, fs()).unwrap();
        let a0 = store.find_or_create("A", 0).unwrap();
        let a1 = store.find_or_create("A", 1).unwrap();
        let b7 = store.find_or_create("%RETRY%g", 7).unwrap();
        put_n(&a0, 0..3);
        a1.put(unit(20), 0).unwrap();
        put_n(&b7, 0..1);
        assert!(Arc::ptr_eq(&a0, &store.find_or_create("A", 0).unwrap()));
        store.flush_all(0).unwrap();
    }
    std::fs::write(dir.path().join("stray-file"), b"x").unwrap();
    let store = ConsumeQueueStore::load(dir.path(), FILE_SIZE, fs()).unwrap();
    store.recover_all().unwrap();
    let mut topics = store.topics();
    topics.sort();
    assert_eq!(topics, vec!["%RETRY%g".to_string(), "A".to_string()]);
    assert_eq!(store.get("A", 0).unwrap().max_offset_in_queue(), 3);
    assert_eq!(store.get("A", 1).unwrap().get(0), Some(unit(20)));
    assert!(store.get("A", 2).is_none());
    assert_eq!(store.max_physic_offset(), unit(20).end_phy_offset());
    assert!(dir
        .path()
        .join("A")
        .join("1")
        .join("00000000000000000000")
        .exists());
    store.truncate_dirty(unit(1).phy_offset).unwrap();
    assert_eq!(store.get("A", 0).unwrap().max_offset_in_queue(), 1);
    assert_eq!(store.get("A", 1).unwrap().max_offset_in_queue(), 0);
    for bad in ["", "..", "a/b", "../x"] {
        let err = store.find_or_create(bad, 0).unwrap_err();
        assert!(err.to_string().contains("ConsumeQueue directory"), "{err}");
        assert!(store.remove_topic(bad).is_err());
    }
    assert!(dir.path().exists());
    store.remove_topic("A").unwrap();
    assert!(store.get("A", 0).is_none());
    assert!(!dir.path().join("A").exists());
}
