//! IndexFile / IndexService: on-disk format byte for byte, chain walking, time range, rolling, cleanup.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use sluice_store::checkpoint::StoreCheckpoint;
use sluice_store::index_file::{index_file_size, index_key_hash, IndexFile, INDEX_HEADER_SIZE};
use sluice_store::index_service::{IndexConfig, IndexRequest, IndexService};

fn be_i64(b: &[u8], pos: usize) -> i64 {
    i64::from_be_bytes(b[pos..pos + 8].try_into().unwrap())
}
fn be_i32(b: &[u8], pos: usize) -> i32 {
    i32::from_be_bytes(b[pos..pos + 4].try_into().unwrap())
}

const BASE_TS: i64 = 1_700_000_000_000;

#[test]
fn header_and_entry_bytes_at_rocketmq_positions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("20231114221320000");
    let slots = 100u32;
    let entries = 10u32;
    let file = IndexFile::create(&path, slots, entries, 0, 0).unwrap();
    let hash = index_key_hash("TopicA", "order-1");
    assert!(file.put_key(hash, 4096, BASE_TS));
    assert!(file.put_key(hash, 8192, BASE_TS + 2_500));
    file.flush().unwrap();

    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len() as u64, index_file_size(slots, entries));
    assert_eq!(bytes.len(), 40 + 100 * 4 + 10 * 20);
    // Header.
    assert_eq!(be_i64(&bytes, 0), BASE_TS, "beginTimestamp");
    assert_eq!(be_i64(&bytes, 8), BASE_TS + 2_500, "endTimestamp");
    assert_eq!(be_i64(&bytes, 16), 4096, "beginPhyOffset");
    assert_eq!(be_i64(&bytes, 24), 8192, "endPhyOffset");
    assert_eq!(be_i32(&bytes, 32), 1, "hashSlotCount: one bucket used");
    assert_eq!(
        be_i32(&bytes, 36),
        3,
        "indexCount starts at 1 and counts two puts"
    );
    // Slot holds the newest index number.
    let slot_pos = INDEX_HEADER_SIZE + (hash as usize % 100) * 4;
    assert_eq!(be_i32(&bytes, slot_pos), 2);
    // Entry 0 is never written.
    let entries_start = 40 + 100 * 4;
    assert!(bytes[entries_start..entries_start + 20]
        .iter()
        .all(|&b| b == 0));
    // Entry 1: first put, no predecessor, timeDiff 0 (header begin was 0).
    let e1 = entries_start + 20;
    assert_eq!(be_i32(&bytes, e1), hash);
    assert_eq!(be_i64(&bytes, e1 + 4), 4096);
    assert_eq!(be_i32(&bytes, e1 + 12), 0);
    assert_eq!(be_i32(&bytes, e1 + 16), 0);
    // Entry 2: timeDiff in whole seconds, prevIndex = 1.
    let e2 = entries_start + 40;
    assert_eq!(be_i32(&bytes, e2), hash);
    assert_eq!(be_i64(&bytes, e2 + 4), 8192);
    assert_eq!(be_i32(&bytes, e2 + 12), 2);
    assert_eq!(be_i32(&bytes, e2 + 16), 1);

    // Reopening reads the same header.
    drop(file);
    let reopened = IndexFile::open(&path, slots, entries).unwrap();
    let h = reopened.header();
    assert_eq!((h.index_count, h.hash_slot_count), (3, 1));
    assert_eq!((h.begin_phy_offset, h.end_phy_offset), (4096, 8192));
}

#[test]
fn key_hash_is_java_string_hash_code_of_topic_hash_key() {
    // "TopicA#order-1".hashCode() computed by hand over UTF-16 units.
    use sluice_remoting::message::java_string_hash;
    for (topic, key) in [("TopicA", "order-1"), ("T", ""), ("主题", "键\u{1F600}")] {
        let expected = java_string_hash(&format!("{topic}#{key}"))
            .wrapping_abs()
            .max(0);
        assert_eq!(index_key_hash(topic, key), expected, "{topic}#{key}");
    }
}

#[test]
fn open_rejects_wrong_geometry_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("20231114221320000");
    IndexFile::create(&path, 10, 10, 0, 0).unwrap();
    let err = IndexFile::open(&path, 20, 10).unwrap_err();
    assert!(err.to_string().contains("maxHashSlotNum"), "{err}");
}

fn service(
    dir: &std::path::Path,
    slots: u32,
    entries: u32,
) -> (IndexService, Arc<StoreCheckpoint>) {
    let cp = Arc::new(StoreCheckpoint::open(dir.join("checkpoint")).unwrap());
    let cfg = IndexConfig {
        hash_slot_num: slots,
        index_num: entries,
        max_msgs_num_batch: 64,
    };
    (
        IndexService::load(dir.join("index"), cfg, Arc::clone(&cp), true).unwrap(),
        cp,
    )
}

fn req<'a>(
    topic: &'a str,
    keys: Option<&'a str>,
    uniq: Option<&'a str>,
    off: i64,
    ts: i64,
) -> IndexRequest<'a> {
    IndexRequest {
        topic,
        keys,
        uniq_key: uniq,
        commit_log_offset: off,
        store_timestamp: ts,
        sys_flag: 0,
    }
}

#[test]
fn keys_and_uniq_key_are_indexed_and_collisions_resolve_through_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    // One slot: every key lands in the same bucket, so lookups must walk the chain.
    let (idx, _) = service(dir.path(), 1, 100);
    idx.build_index(&req("T", Some("a  b"), Some("U1"), 100, BASE_TS))
        .unwrap();
    idx.build_index(&req("T", Some("c"), None, 200, BASE_TS + 1000))
        .unwrap();
    idx.build_index(&req("T", Some("a"), Some("U2"), 300, BASE_TS + 2000))
        .unwrap();
    let all = (0, i64::MAX);
    assert_eq!(
        idx.query_offset("T", "a", 10, all.0, all.1).phy_offsets,
        vec![300, 100]
    );
    assert_eq!(
        idx.query_offset("T", "b", 10, all.0, all.1).phy_offsets,
        vec![100]
    );
    assert_eq!(
        idx.query_offset("T", "c", 10, all.0, all.1).phy_offsets,
        vec![200]
    );
    assert_eq!(
        idx.query_offset("T", "U1", 10, all.0, all.1).phy_offsets,
        vec![100]
    );
    assert_eq!(
        idx.query_offset("T", "U2", 10, all.0, all.1).phy_offsets,
        vec![300]
    );
    assert!(idx
        .query_offset("T", "zzz", 10, all.0, all.1)
        .phy_offsets
        .is_empty());
    assert!(idx
        .query_offset("Other", "a", 10, all.0, all.1)
        .phy_offsets
        .is_empty());
    let r = idx.query_offset("T", "a", 10, all.0, all.1);
    assert_eq!(r.index_last_update_phy_offset, 300);
    assert_eq!(r.index_last_update_timestamp, BASE_TS + 2000);
}

#[test]
fn rollback_records_and_already_indexed_offsets_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let (idx, _) = service(dir.path(), 16, 100);
    let mut rollback = req("T", Some("k"), None, 100, BASE_TS);
    rollback.sys_flag = 0xC;
    idx.build_index(&rollback).unwrap();
    let mut prepared = req("T", Some("k"), None, 200, BASE_TS);
    prepared.sys_flag = 0x4;
    idx.build_index(&prepared).unwrap();
    // Below endPhyOffset (200): a re-dispatch after restart, not indexed again.
    idx.build_index(&req("T", Some("k"), None, 150, BASE_TS))
        .unwrap();
    assert_eq!(
        idx.query_offset("T", "k", 10, 0, i64::MAX).phy_offsets,
        vec![200]
    );
}

#[test]
fn query_honours_time_range_and_max_count() {
    let dir = tempfile::tempdir().unwrap();
    let (idx, _) = service(dir.path(), 16, 100);
    for i in 0..5i64 {
        idx.build_index(&req(
            "T",
            Some("k"),
            None,
            100 * (i + 1),
            BASE_TS + i * 10_000,
        ))
        .unwrap();
    }
    let q = |max, b, e| idx.query_offset("T", "k", max, b, e).phy_offsets;
    assert_eq!(
        q(10, BASE_TS, BASE_TS + 40_000),
        vec![500, 400, 300, 200, 100]
    );
    assert_eq!(q(2, BASE_TS, BASE_TS + 40_000), vec![500, 400]);
    assert_eq!(q(10, BASE_TS + 5_000, BASE_TS + 25_000), vec![300, 200]);
    assert!(q(10, BASE_TS + 41_000, BASE_TS + 50_000).is_empty());
    // maxMsgsNumBatch caps the request.
    let dir2 = tempfile::tempdir().unwrap();
    let cp = Arc::new(StoreCheckpoint::open(dir2.path().join("checkpoint")).unwrap());
    let cfg = IndexConfig {
        hash_slot_num: 16,
        index_num: 100,
        max_msgs_num_batch: 3,
    };
    let capped = IndexService::load(dir2.path().join("index"), cfg, cp, true).unwrap();
    for i in 0..5i64 {
        capped
            .build_index(&req("T", Some("k"), None, 100 * (i + 1), BASE_TS))
            .unwrap();
    }
    assert_eq!(
        capped
            .query_offset("T", "k", 50, 0, i64::MAX)
            .phy_offsets
            .len(),
        3
    );
}

#[test]
fn full_file_rolls_seeds_the_next_and_queries_span_files() {
    let dir = tempfile::tempdir().unwrap();
    // index_num 4 → 3 usable entries per file (numbering starts at 1).
    let (idx, cp) = service(dir.path(), 8, 4);
    for i in 0..7i64 {
        idx.build_index(&req("T", Some("k"), None, 1000 + i, BASE_TS + i * 1000))
            .unwrap();
    }
    let files = idx.files();
    assert_eq!(files.len(), 3);
    let h0 = files[0].header();
    let h1 = files[1].header();
    assert_eq!(h0.end_phy_offset, 1002);
    assert_eq!(
        h1.begin_phy_offset, 1003,
        "first entry resets begin of the seeded file"
    );
    assert!(files[0].file_name() < files[1].file_name());
    let r = idx.query_offset("T", "k", 64, 0, i64::MAX);
    assert_eq!(
        r.phy_offsets,
        vec![1006, 1005, 1004, 1003, 1002, 1001, 1000]
    );
    // The full files are flushed in the background and their end time lands in the checkpoint.
    let want = files[1].header().end_timestamp;
    let mut seen = 0;
    for _ in 0..500 {
        seen = cp.index_msg_timestamp.load(Ordering::Acquire);
        if seen == want {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(seen, want);
}

#[test]
fn cleanup_deletes_files_below_cl_min_offset_but_never_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let (idx, _) = service(dir.path(), 8, 3); // 2 entries per file
    for i in 0..6i64 {
        idx.build_index(&req("T", Some("k"), None, 100 * (i + 1), BASE_TS))
            .unwrap();
    }
    assert_eq!(idx.file_count(), 3); // ends 200, 400, 600
    assert_eq!(idx.delete_expired_files(300).unwrap(), 1);
    assert_eq!(idx.file_count(), 2);
    assert_eq!(
        idx.delete_expired_files(10_000).unwrap(),
        1,
        "the last file stays"
    );
    assert_eq!(idx.file_count(), 1);
    assert_eq!(
        std::fs::read_dir(dir.path().join("index")).unwrap().count(),
        1
    );
}

#[test]
fn reload_keeps_files_and_abnormal_exit_drops_those_newer_than_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (idx, cp) = service(dir.path(), 8, 3);
        for i in 0..4i64 {
            idx.build_index(&req(
                "T",
                Some("k"),
                None,
                100 * (i + 1),
                BASE_TS + i * 1000,
            ))
            .unwrap();
        }
        idx.flush_all().unwrap();
        // Only the first (full) file is known complete: the background flush of that file records
        // the same value, so writing it here races with nothing.
        cp.index_msg_timestamp
            .store(BASE_TS + 1000, Ordering::Release);
        cp.flush().unwrap();
    }
    let cp = Arc::new(StoreCheckpoint::open(dir.path().join("checkpoint")).unwrap());
    let cfg = IndexConfig {
        hash_slot_num: 8,
        index_num: 3,
        max_msgs_num_batch: 64,
    };
    let normal = IndexService::load(dir.path().join("index"), cfg, Arc::clone(&cp), true).unwrap();
    assert_eq!(normal.file_count(), 2);
    assert_eq!(
        normal.query_offset("T", "k", 64, 0, i64::MAX).phy_offsets,
        vec![400, 300, 200, 100]
    );
    drop(normal);
    let abnormal = IndexService::load(dir.path().join("index"), cfg, cp, false).unwrap();
    assert_eq!(abnormal.file_count(), 1);
    assert_eq!(
        abnormal.query_offset("T", "k", 64, 0, i64::MAX).phy_offsets,
        vec![200, 100]
    );
}

#[test]
fn a_stored_record_is_indexed_by_its_keys_and_uniq_key() {
    use sluice_remoting::message::{check_record, MessageRecord, RecordCheck};
    let record = MessageRecord {
        topic: "OrderTopic".into(),
        physical_offset: 77_000,
        store_timestamp: BASE_TS,
        // KEYS "a b", UNIQ_KEY "ID1" in RocketMQ's property encoding.
        properties: "KEYS\u{1}a b\u{2}UNIQ_KEY\u{1}ID1\u{2}".into(),
        body: bytes::Bytes::from_static(b"hello"),
        ..MessageRecord::default()
    };
    let bytes = record.to_bytes();
    let RecordCheck::Message(view) = check_record(&bytes, true) else {
        panic!("record does not decode");
    };
    let dir = tempfile::tempdir().unwrap();
    let (idx, _) = service(dir.path(), 64, 100);
    idx.build_index(&IndexRequest::from_record(&view)).unwrap();
    for key in ["a", "b", "ID1"] {
        assert_eq!(
            idx.query_offset("OrderTopic", key, 10, 0, i64::MAX)
                .phy_offsets,
            vec![77_000],
            "{key}"
        );
    }
    assert!(idx
        .query_offset("OrderTopic", "a b", 10, 0, i64::MAX)
        .phy_offsets
        .is_empty());
}

#[test]
fn damaged_files_give_errors_or_empty_results_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("20231114221320000");
    let file = IndexFile::create(&path, 4, 4, 0, 0).unwrap();
    let hash = index_key_hash("T", "k");
    assert!(file.put_key(hash, 100, BASE_TS));
    assert!(file.put_key(hash, 200, BASE_TS));
    assert!(file.put_key(hash, 300, BASE_TS));
    assert!(
        !file.put_key(hash, 400, BASE_TS),
        "full: 3 entries for maxIndexNum 4"
    );
    file.flush().unwrap();
    drop(file);

    // Every slot points one past the last entry, and entry 3's back link at itself.
    let mut bytes = std::fs::read(&path).unwrap();
    for slot in 0..4 {
        bytes[40 + slot * 4..44 + slot * 4].copy_from_slice(&4i32.to_be_bytes());
    }
    std::fs::write(&path, &bytes).unwrap();
    let file = IndexFile::open(&path, 4, 4).unwrap();
    let mut out = Vec::new();
    file.select_phy_offsets(&mut out, hash, 10, 0, i64::MAX);
    assert!(out.is_empty());

    // A self-referencing chain stops.
    let mut bytes = std::fs::read(&path).unwrap();
    let slot = 40 + (hash as usize % 4) * 4;
    bytes[slot..slot + 4].copy_from_slice(&3i32.to_be_bytes());
    let e3 = 40 + 16 + 3 * 20;
    bytes[e3 + 16..e3 + 20].copy_from_slice(&3i32.to_be_bytes());
    std::fs::write(&path, &bytes).unwrap();
    drop(file);
    let file = IndexFile::open(&path, 4, 4).unwrap();
    out.clear();
    file.select_phy_offsets(&mut out, hash, 10, 0, i64::MAX);
    assert_eq!(out, vec![300]);
    drop(file);

    // A header claiming more entries than the file holds is refused with a clear error.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[36..40].copy_from_slice(&99i32.to_be_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let err = IndexFile::open(&path, 4, 4).unwrap_err();
    assert!(err.to_string().contains("damaged"), "{err}");
}
