//! Cutting a closed store back to an offset (a replica rejoining with a diverged tail): after
//! the reopen, the ConsumeQueue ends where the CommitLog does, the kept messages read back, the
//! cut ones are gone (also from key queries), and new puts continue at the cut.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use sluice_remoting::message::MessageRecord;
use sluice_store::{
    truncate_commit_log, AcceptAll, GetStatus, MessageStore, MessageStoreConfig, PutStatus,
    StoreError,
};

fn config(dir: &std::path::Path) -> MessageStoreConfig {
    MessageStoreConfig {
        mapped_file_size_commit_log: 64 * 1024,
        mapped_file_size_consume_queue: 20 * 100,
        max_hash_slot_num: 64,
        max_index_num: 256,
        flush_interval_commit_log: 10,
        ..MessageStoreConfig::with_root(dir)
    }
}

fn msg(i: usize) -> MessageRecord {
    MessageRecord {
        topic: "Cut".to_string(),
        queue_id: 0,
        body: Bytes::from(format!("body-{i:04}-{}", "x".repeat(700))),
        properties: format!("KEYS\u{1}k{i}\u{2}"),
        born_host: "10.0.0.1:50000".parse::<SocketAddr>().unwrap(),
        store_host: "192.168.1.2:10911".parse::<SocketAddr>().unwrap(),
        ..MessageRecord::default()
    }
}

fn wait_dispatched(store: &MessageStore, n: u64) {
    for _ in 0..5000 {
        if store.max_offset("Cut", 0) >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("dispatch did not reach {n}");
}

#[test]
fn a_truncated_store_reopens_consistent_and_continues_at_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut starts = Vec::new();
    {
        let store = MessageStore::open(config(dir.path())).unwrap();
        for i in 0..300 {
            let r = rt.block_on(store.put(&msg(i)));
            assert_eq!(r.status, PutStatus::PutOk);
            starts.push(r.physical_offset);
        }
        wait_dispatched(&store, 300);
        store.shutdown().unwrap();
    }
    // Cut in the middle of the second-to-last segment region: messages 0..=199 stay.
    let cut = starts[200];
    let t = truncate_commit_log(&config(dir.path()), cut).unwrap();
    assert_eq!(t.new_max_offset, cut);
    assert!(t.old_max_offset > cut);

    let store = MessageStore::open(config(dir.path())).unwrap();
    assert_eq!(store.commit_log.max_offset(), cut);
    assert_eq!(
        store.max_offset("Cut", 0),
        200,
        "the ConsumeQueue must end at the cut"
    );
    let got = store.get_messages("Cut", 0, 195, 32, &AcceptAll);
    assert_eq!(got.status, GetStatus::Found);
    assert_eq!(got.records.len(), 5);
    let beyond = store.get_messages("Cut", 0, 200, 32, &AcceptAll);
    assert_ne!(beyond.status, GetStatus::Found);
    // Key queries no longer return cut messages.
    let q = store.query_by_key("Cut", "k250", 10, 0, i64::MAX);
    assert!(q.records.is_empty(), "a cut message is still found by key");
    let q = store.query_by_key("Cut", "k150", 10, 0, i64::MAX);
    assert_eq!(q.records.len(), 1);
    // New puts continue at the cut with the next queue offset.
    let r = rt.block_on(store.put(&msg(1000)));
    assert_eq!(r.status, PutStatus::PutOk);
    assert_eq!(r.physical_offset, cut);
    assert_eq!(r.queue_offset, 200);
    store.shutdown().unwrap();
}

#[test]
fn truncation_refuses_an_open_store_and_a_cut_below_the_oldest_byte() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for i in 0..10 {
        rt.block_on(store.put(&msg(i)));
    }
    let err = truncate_commit_log(&config(dir.path()), 0).unwrap_err();
    assert!(matches!(err, StoreError::Locked(_)), "{err}");
    store.shutdown().unwrap();
    // A cut at or past the end changes nothing.
    let max = {
        let s = MessageStore::open(config(dir.path())).unwrap();
        let m = s.commit_log.max_offset();
        s.shutdown().unwrap();
        m
    };
    let t = truncate_commit_log(&config(dir.path()), max + 100).unwrap();
    assert_eq!((t.old_max_offset, t.new_max_offset), (max, max));
}
