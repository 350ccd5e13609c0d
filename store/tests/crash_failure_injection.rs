//! Failure injection: a torn write at the tail, a zeroed region in the middle, a full disk, a failing fsync.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sluice_remoting::message::{check_record, record_crc, MessageRecord, RecordCheck};
use sluice_store::{
    AcceptAll, FaultyFs, FlushDiskType, GetStatus, MessageStore, MessageStoreConfig, PutStatus,
    StoreError,
};

fn config(dir: &std::path::Path) -> MessageStoreConfig {
    MessageStoreConfig {
        mapped_file_size_commit_log: 32 * 1024,
        mapped_file_size_consume_queue: 20 * 1000,
        max_hash_slot_num: 64,
        max_index_num: 1024,
        flush_interval_commit_log: 10,
        ..MessageStoreConfig::with_root(dir)
    }
}

fn msg(queue_id: i32, body: &[u8]) -> MessageRecord {
    MessageRecord {
        topic: "F".to_string(),
        queue_id,
        body: Bytes::copy_from_slice(body),
        born_host: "127.0.0.1:1".parse::<SocketAddr>().unwrap(),
        store_host: "127.0.0.1:10911".parse::<SocketAddr>().unwrap(),
        ..MessageRecord::default()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn wait_until(mut f: impl FnMut() -> bool) {
    for _ in 0..5000 {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("condition not reached");
}

#[test]
fn torn_write_at_the_tail_is_truncated_on_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let (last_phys, last_len) = {
        let store = MessageStore::open(config(dir.path())).unwrap();
        let mut last = None;
        for i in 0..10u8 {
            let r = rt.block_on(store.put(&msg(0, &[i; 300])));
            assert_eq!(r.status, PutStatus::PutOk);
            last = Some((r.physical_offset, r.wrote_bytes));
        }
        wait_until(|| store.max_offset("F", 0) == 10);
        store.halt();
        last.unwrap()
    };
    // Tear the last record: its second half never reached the disk.
    let path = dir.path().join("commitlog/00000000000000000000");
    let mut file = std::fs::read(&path).unwrap();
    let half = (last_phys + last_len / 2) as usize;
    file[half..(last_phys + last_len) as usize].fill(0);
    std::fs::write(&path, &file).unwrap();
    assert!(dir.path().join("abort").exists());

    let store = MessageStore::open(config(dir.path())).unwrap();
    assert!(store.recovery.abnormal);
    assert_eq!(store.commit_log.max_offset(), last_phys);
    assert_eq!(
        store.max_offset("F", 0),
        9,
        "the torn record's queue unit is cut too"
    );
    let got = store.get_messages("F", 0, 0, 32, &AcceptAll);
    assert_eq!(got.records.len(), 9);
    // The torn bytes are zeroed and new records go where the torn one was.
    let r = rt.block_on(store.put(&msg(0, b"after")));
    assert_eq!((r.physical_offset, r.queue_offset), (last_phys, 9));
}

#[test]
fn zeroed_region_in_the_middle_refuses_to_start_naming_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    {
        let store = MessageStore::open(config(dir.path())).unwrap();
        for i in 0..150u32 {
            let r = rt.block_on(store.put(&msg(1, &i.to_be_bytes().repeat(100))));
            assert_eq!(r.status, PutStatus::PutOk);
        }
        store.shutdown().unwrap();
    }
    let path = dir.path().join("commitlog/00000000000000032768");
    let mut file = std::fs::read(&path).unwrap();
    file[8192..12288].fill(0);
    std::fs::write(&path, &file).unwrap();
    let err = MessageStore::open(config(dir.path())).unwrap_err();
    match &err {
        StoreError::Corrupt { file, offset, .. } => {
            assert_eq!(file, &path);
            assert!((32768..32768 + 12288).contains(offset), "offset {offset}");
        }
        other => panic!("expected Corrupt, got {other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("00000000000000032768") && text.contains("offset"),
        "{text}"
    );
}

#[test]
fn full_disk_refuses_writes_clearly_and_reads_continue() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFs::new();
    let store = MessageStore::open_with_fs(config(dir.path()), fs.clone()).unwrap();
    let rt = rt();
    for i in 0..5u8 {
        assert_eq!(
            rt.block_on(store.put(&msg(2, &[i; 500]))).status,
            PutStatus::PutOk
        );
    }
    wait_until(|| store.max_offset("F", 2) == 5);
    fs.no_space.store(true, Ordering::SeqCst);
    let mut refused = None;
    for i in 0..500u32 {
        let r = rt.block_on(store.put(&msg(2, &i.to_be_bytes().repeat(125))));
        if r.status != PutStatus::PutOk {
            refused = Some(r);
            break;
        }
    }
    let refused = refused.expect("a full disk must refuse writes");
    assert_eq!(refused.status, PutStatus::ServiceNotAvailable);
    assert!(
        refused
            .remark
            .as_deref()
            .unwrap_or("")
            .contains("disk full"),
        "{refused:?}"
    );
    let stored = store.commit_log.max_offset();
    wait_until(|| store.dispatch_caught_up());
    let n = store.max_offset("F", 2);
    let got = store.get_messages("F", 2, 0, 32, &AcceptAll);
    assert_eq!(got.status, GetStatus::Found);
    assert_eq!(got.records.len() as u64, n.min(32));
    assert_eq!(
        store.commit_log.max_offset(),
        stored,
        "a refused put writes nothing"
    );
    fs.no_space.store(false, Ordering::SeqCst);
    assert_eq!(
        rt.block_on(store.put(&msg(2, b"space again"))).status,
        PutStatus::PutOk
    );
}

#[test]
fn failing_fsync_under_sync_flush_times_out_but_keeps_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFs::new();
    let cfg = MessageStoreConfig {
        flush_disk_type: FlushDiskType::SyncFlush,
        sync_flush_timeout: 100,
        ..config(dir.path())
    };
    let store = MessageStore::open_with_fs(cfg, fs.clone()).unwrap();
    let rt = rt();
    fs.fail_sync.store(true, Ordering::SeqCst);
    let r = rt.block_on(store.put(&msg(3, b"maybe durable")));
    assert_eq!(r.status, PutStatus::FlushDiskTimeout);
    assert!(store.lookup_by_physical_offset(r.physical_offset).is_some());
    fs.fail_sync.store(false, Ordering::SeqCst);
    assert_eq!(
        rt.block_on(store.put(&msg(3, b"durable"))).status,
        PutStatus::PutOk
    );
    let _ = Arc::clone(&store);
}

#[test]
fn a_store_opened_on_a_full_disk_starts_and_refuses_writes_until_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFs::new();
    fs.no_space.store(true, Ordering::SeqCst);
    let store = MessageStore::open_with_fs(config(dir.path()), fs.clone()).unwrap();
    let rt = rt();
    let r = rt.block_on(store.put(&msg(4, b"no room")));
    assert_eq!(r.status, PutStatus::ServiceNotAvailable);
    assert_eq!(
        store.get_messages("F", 4, 0, 32, &AcceptAll).status,
        GetStatus::NoMessageInQueue
    );
    fs.no_space.store(false, Ordering::SeqCst);
    let r = rt.block_on(store.put(&msg(4, b"room")));
    assert_eq!(r.status, PutStatus::PutOk);
}

#[test]
fn whole_record_crc_catches_damage_the_body_crc_cannot_see() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = MessageStoreConfig {
        enabled_append_prop_crc: true,
        force_verify_prop_crc: true,
        ..config(dir.path())
    };
    let rt = rt();
    let mut offsets = Vec::new();
    {
        let store = MessageStore::open(cfg.clone()).unwrap();
        for i in 0..6u8 {
            let r = rt.block_on(store.put(&msg(5, &[i; 64])));
            assert_eq!(r.status, PutStatus::PutOk);
            offsets.push(r.physical_offset);
        }
        let rec = store.lookup_by_physical_offset(offsets[0]).unwrap();
        let RecordCheck::Message(v) = check_record(&rec, true) else {
            panic!("stored record invalid");
        };
        assert_eq!(record_crc::verify(&v), Some(true));
        store.shutdown().unwrap();
    }
    // A clean reopen verifies every record's whole-record CRC.
    {
        let store = MessageStore::open(cfg.clone()).unwrap();
        assert_eq!(store.recovery.scan.records, 6);
        store.halt();
    }
    // Flip a BORNTIMESTAMP byte of record 4: BODYCRC still matches, the whole-record CRC does not.
    let path = dir.path().join("commitlog/00000000000000000000");
    let mut file = std::fs::read(&path).unwrap();
    file[offsets[4] as usize + 45] ^= 0x55;
    std::fs::write(&path, &file).unwrap();
    let err = MessageStore::open(cfg).unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { offset, .. } if *offset == offsets[4]),
        "{err}"
    );
    assert!(err.to_string().contains("whole-record CRC"), "{err}");
}
