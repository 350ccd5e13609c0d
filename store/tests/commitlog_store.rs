//! Black-box tests of the store API: the record layout as stored, pulls through the ConsumeQueue, the end-of-file
//! blank, batches, restarts, SYNC_FLUSH, key queries and long-poll wake-ups.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sluice_remoting::message::{tags_code, MessageRecord};
use sluice_store::{
    AcceptAll, FlushDiskType, GetStatus, MessageStore, MessageStoreConfig, PutStatus, TagCodes,
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

fn msg(topic: &str, queue_id: i32, body: &[u8], props: &str) -> MessageRecord {
    MessageRecord {
        topic: topic.to_string(),
        queue_id,
        flag: 7,
        body: Bytes::copy_from_slice(body),
        properties: props.to_string(),
        born_timestamp: 1_700_000_000_123,
        born_host: "10.0.0.1:50000".parse::<SocketAddr>().unwrap(),
        store_host: "192.168.1.2:10911".parse::<SocketAddr>().unwrap(),
        ..MessageRecord::default()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn wait_dispatched(store: &MessageStore, topic: &str, queue_id: i32, n: u64) {
    for _ in 0..2000 {
        if store.max_offset(topic, queue_id) >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("dispatch did not reach {n} for {topic}-{queue_id}");
}

#[test]
fn record_is_stored_byte_for_byte_as_section_1_2() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    let rt = rt();
    let first = rt.block_on(store.put(&msg("T", 3, b"hello", "TAGS\u{1}a\u{2}")));
    assert_eq!(first.status, PutStatus::PutOk);
    let r = rt.block_on(store.put(&msg("T", 3, b"hello", "TAGS\u{1}a\u{2}")));
    assert_eq!(r.status, PutStatus::PutOk);
    assert_eq!(r.queue_offset, 1);
    let len = 91 + 5 + 1 + 7;
    assert_eq!(r.physical_offset, len as u64);
    assert_eq!(r.wrote_bytes, len as u64);
    store.shutdown().unwrap();

    // Read the CommitLog file itself and build the expected bytes by hand from the table in §1.2.
    let file = std::fs::read(dir.path().join("commitlog").join("00000000000000000000")).unwrap();
    assert_eq!(file.len(), 64 * 1024);
    let rec = &file[len..2 * len];
    let mut want = Vec::new();
    want.extend_from_slice(&(len as i32).to_be_bytes()); // TOTALSIZE
    want.extend_from_slice(&0xDAA3_20A7u32.to_be_bytes()); // MAGICCODE V1
    let crc = crc32fast::hash(b"hello") & 0x7FFF_FFFF;
    want.extend_from_slice(&crc.to_be_bytes()); // BODYCRC
    want.extend_from_slice(&3i32.to_be_bytes()); // QUEUEID
    want.extend_from_slice(&7i32.to_be_bytes()); // FLAG
    want.extend_from_slice(&1i64.to_be_bytes()); // QUEUEOFFSET
    want.extend_from_slice(&(len as i64).to_be_bytes()); // PHYSICALOFFSET
    want.extend_from_slice(&0i32.to_be_bytes()); // SYSFLAG
    want.extend_from_slice(&1_700_000_000_123i64.to_be_bytes()); // BORNTIMESTAMP
    want.extend_from_slice(&[10, 0, 0, 1]);
    want.extend_from_slice(&50000i32.to_be_bytes()); // BORNHOST
    want.extend_from_slice(&r.store_timestamp.to_be_bytes()); // STORETIMESTAMP
    want.extend_from_slice(&[192, 168, 1, 2]);
    want.extend_from_slice(&10911i32.to_be_bytes()); // STOREHOSTADDRESS
    want.extend_from_slice(&0i32.to_be_bytes()); // RECONSUMETIMES
    want.extend_from_slice(&0i64.to_be_bytes()); // PREPARED TRANSACTION OFFSET
    want.extend_from_slice(&5i32.to_be_bytes());
    want.extend_from_slice(b"hello"); // BODY
    want.push(1);
    want.extend_from_slice(b"T"); // TOPIC (V1)
    want.extend_from_slice(&7i16.to_be_bytes());
    want.extend_from_slice(b"TAGS\x01a\x02"); // PROPERTIES
    assert_eq!(rec, &want[..]);
    assert!(r.store_timestamp >= first.store_timestamp);
    // msgId: store host IP + port + physical offset, upper-case hex.
    assert_eq!(r.msg_id, format!("C0A8010200002A9F{:016X}", len));
    // The ConsumeQueue unit: offset, size, tags hash.
    let cq = std::fs::read(dir.path().join("consumequeue/T/3/00000000000000000000")).unwrap();
    assert_eq!(&cq[20..28], &(len as i64).to_be_bytes());
    assert_eq!(&cq[28..32], &(len as i32).to_be_bytes());
    assert_eq!(&cq[32..40], &tags_code("a").to_be_bytes());
}

#[test]
fn pulls_filter_by_tag_and_report_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    let rt = rt();
    for i in 0..10 {
        let tag = if i % 2 == 0 { "even" } else { "odd" };
        let r = rt.block_on(store.put(&msg(
            "Pull",
            0,
            format!("m{i}").as_bytes(),
            &format!("TAGS\u{1}{tag}\u{2}"),
        )));
        assert_eq!(r.status, PutStatus::PutOk);
        assert_eq!(r.queue_offset, i);
    }
    wait_dispatched(&store, "Pull", 0, 10);
    let all = store.get_messages("Pull", 0, 0, 32, &AcceptAll);
    assert_eq!(all.status, GetStatus::Found);
    assert_eq!(all.records.len(), 10);
    assert_eq!(
        (all.next_begin_offset, all.min_offset, all.max_offset),
        (10, 0, 10)
    );
    let odd = store.get_messages("Pull", 0, 0, 3, &TagCodes(vec![tags_code("odd")]));
    assert_eq!(odd.records.len(), 3);
    assert_eq!(odd.next_begin_offset, 6);
    let none = store.get_messages("Pull", 0, 9, 3, &TagCodes(vec![tags_code("zzz")]));
    assert_eq!(none.status, GetStatus::NoMatchedMessage);
    assert_eq!(none.next_begin_offset, 10);
    assert_eq!(
        store.get_messages("Pull", 0, 10, 3, &AcceptAll).status,
        GetStatus::OffsetOverflowOne
    );
    assert_eq!(
        store.get_messages("Pull", 0, 11, 3, &AcceptAll).status,
        GetStatus::OffsetOverflowBadly
    );
    assert_eq!(
        store.get_messages("Nope", 0, 0, 3, &AcceptAll).status,
        GetStatus::NoMessageInQueue
    );
    // The records are whole stored records: body at 84+4 for IPv4 hosts.
    let rec = &all.records[3];
    assert_eq!(&rec[88..90], b"m3");
    let looked = store
        .lookup_by_physical_offset(all.records.iter().take(3).map(|r| r.len() as u64).sum())
        .unwrap();
    assert_eq!(looked, all.records[3]);
}

#[test]
fn records_roll_over_with_a_blank_and_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let body = vec![b'x'; 1000];
    let mut offsets = Vec::new();
    {
        let store = MessageStore::open(config(dir.path())).unwrap();
        let rt = rt();
        for _ in 0..200 {
            let r = rt.block_on(store.put(&msg("Roll", 1, &body, "")));
            assert_eq!(r.status, PutStatus::PutOk);
            offsets.push(r.physical_offset);
        }
        store.shutdown().unwrap();
    }
    // Every record fits in one segment with at least 8 bytes after it.
    let seg = 64 * 1024u64;
    let rec_len = offsets[1] - offsets[0];
    for &o in &offsets {
        assert!(
            o % seg + rec_len + 8 <= seg,
            "record at {o} breaks the 8-byte rule"
        );
    }
    let first_in_second = offsets.iter().copied().find(|&o| o >= seg).unwrap();
    assert_eq!(first_in_second, seg);
    let file = std::fs::read(dir.path().join("commitlog/00000000000000000000")).unwrap();
    let last = offsets.iter().copied().filter(|&o| o < seg).max().unwrap();
    let blank_at = (last + rec_len) as usize;
    assert_eq!(
        &file[blank_at..blank_at + 4],
        &((seg as usize - blank_at) as i32).to_be_bytes()
    );
    assert_eq!(
        &file[blank_at + 4..blank_at + 8],
        &0xCBD4_3194u32.to_be_bytes()
    );

    let store = MessageStore::open(config(dir.path())).unwrap();
    assert!(!store.recovery.abnormal);
    assert_eq!(store.max_offset("Roll", 1), 200);
    let rt = rt();
    let r = rt.block_on(store.put(&msg("Roll", 1, &body, "")));
    assert_eq!(
        r.queue_offset, 200,
        "queue offsets continue after a restart"
    );
    wait_dispatched(&store, "Roll", 1, 201);
    // A pull stops at the end of a ConsumeQueue file (100 units here) and continues from the next one.
    let got = store.get_messages("Roll", 1, 195, 32, &AcceptAll);
    assert_eq!((got.records.len(), got.next_begin_offset), (5, 200));
    assert!(got.records.iter().all(|r| r[88..1088] == body[..]));
    let rest = store.get_messages("Roll", 1, 200, 32, &AcceptAll);
    assert_eq!((rest.records.len(), rest.next_begin_offset), (1, 201));
}

#[test]
fn batches_get_consecutive_queue_offsets_and_reject_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    let rt = rt();
    rt.block_on(store.put(&msg("B", 0, b"single", "")));
    let batch: Vec<_> = (0..5)
        .map(|i| msg("B", 0, format!("b{i}").as_bytes(), ""))
        .collect();
    let r = rt.block_on(store.put_batch(&batch));
    assert_eq!(r.status, PutStatus::PutOk);
    assert_eq!((r.queue_offset, r.msg_num), (1, 5));
    assert_eq!(r.msg_id.split(',').count(), 5);
    wait_dispatched(&store, "B", 0, 6);
    let got = store.get_messages("B", 0, 1, 32, &AcceptAll);
    let bodies: Vec<_> = got.records.iter().map(|r| r[88..90].to_vec()).collect();
    assert_eq!(
        bodies,
        vec![
            b"b0".to_vec(),
            b"b1".to_vec(),
            b"b2".to_vec(),
            b"b3".to_vec(),
            b"b4".to_vec()
        ]
    );
    let mut tx = batch.clone();
    tx[2].sysflag = 0x4;
    assert_eq!(
        rt.block_on(store.put_batch(&tx)).status,
        PutStatus::MessageIllegal
    );
    let mixed = vec![msg("B", 0, b"a", ""), msg("B", 1, b"b", "")];
    assert_eq!(
        rt.block_on(store.put_batch(&mixed)).status,
        PutStatus::MessageIllegal
    );
}

#[test]
fn limits_give_clear_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = MessageStoreConfig {
        max_message_size: 1024,
        ..config(dir.path())
    };
    let store = MessageStore::open(cfg).unwrap();
    let rt = rt();
    let big = rt.block_on(store.put(&msg("L", 0, &[0u8; 1025], "")));
    assert_eq!(big.status, PutStatus::MessageIllegal);
    assert!(big.remark.unwrap().contains("maxMessageSize"));
    let props = format!("K\u{1}{}\u{2}", "v".repeat(40_000));
    assert_eq!(
        rt.block_on(store.put(&msg("L", 0, b"x", &props))).status,
        PutStatus::PropertiesSizeExceeded
    );
    let long_topic = "t".repeat(128);
    assert_eq!(
        rt.block_on(store.put(&msg(&long_topic, 0, b"x", "")))
            .status,
        PutStatus::MessageIllegal
    );
    assert_eq!(
        rt.block_on(store.put(&msg("L", 0, b"ok", ""))).status,
        PutStatus::PutOk
    );
    assert_eq!(store.stats().put_failures, 3);
}

#[test]
fn sync_flush_acknowledges_durable_messages() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = MessageStoreConfig {
        flush_disk_type: FlushDiskType::SyncFlush,
        ..config(dir.path())
    };
    let store = MessageStore::open(cfg).unwrap();
    let rt = rt();
    let results: Vec<_> = rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..32 {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                s.put(&msg("S", i % 4, b"durable", "")).await
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    for r in &results {
        assert_eq!(r.status, PutStatus::PutOk);
        assert!(store.commit_log.flushed_offset() >= r.physical_offset + r.wrote_bytes);
    }
}

#[test]
fn key_queries_find_keys_and_unique_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    let rt = rt();
    rt.block_on(store.put(&msg(
        "Q",
        0,
        b"one",
        "KEYS\u{1}order-1 order-2\u{2}UNIQ_KEY\u{1}ABC\u{2}",
    )));
    rt.block_on(store.put(&msg("Q", 0, b"two", "KEYS\u{1}order-2\u{2}")));
    rt.block_on(store.put(&msg("Other", 0, b"three", "KEYS\u{1}order-2\u{2}")));
    wait_dispatched(&store, "Other", 0, 1);
    let q = store.query_by_key("Q", "order-2", 32, 0, i64::MAX);
    assert_eq!(q.records.len(), 2);
    assert_eq!(&q.records[0][88..91], b"two", "newest first");
    assert_eq!(
        store
            .query_by_key("Q", "ABC", 32, 0, i64::MAX)
            .records
            .len(),
        1
    );
    assert!(store
        .query_by_key("Q", "order-3", 32, 0, i64::MAX)
        .records
        .is_empty());
    let t0 = store.earliest_message_time("Q", 0).unwrap();
    assert_eq!(store.offset_by_time("Q", 0, t0), 0);
    assert_eq!(store.offset_by_time("Q", 0, i64::MAX), 2);
}

#[test]
fn long_poll_wakes_when_dispatch_advances_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    let rt = rt();
    rt.block_on(async {
        let waiter = {
            let s = store.clone();
            tokio::spawn(async move { s.wait_for_new("W", 2, 0).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        store.put(&msg("W", 2, b"wake", "")).await;
        tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .unwrap()
            .unwrap();
    });
    assert_eq!(store.max_offset("W", 2), 1);
}

#[test]
fn second_store_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _store = MessageStore::open(config(dir.path())).unwrap();
    let err = MessageStore::open(config(dir.path())).unwrap_err();
    assert!(err.to_string().contains("locked"), "{err}");
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<Arc<MessageStore>>();
}

#[test]
fn lost_consume_queues_are_rebuilt_from_the_commit_log() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    {
        let store = MessageStore::open(config(dir.path())).unwrap();
        for i in 0..50 {
            rt.block_on(store.put(&msg(
                "Re",
                i % 3,
                format!("r{i}").as_bytes(),
                "KEYS\u{1}kk\u{2}",
            )));
        }
        store.shutdown().unwrap();
    }
    std::fs::remove_dir_all(dir.path().join("consumequeue")).unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    assert!(!store.recovery.abnormal);
    assert_eq!(
        (0..3)
            .map(|q| store.max_offset("Re", q))
            .collect::<Vec<_>>(),
        vec![17, 17, 16]
    );
    let got = store.get_messages("Re", 1, 0, 32, &AcceptAll);
    assert_eq!(got.records.len(), 17);
    assert_eq!(&got.records[0][88..90], b"r1");
    let r = rt.block_on(store.put(&msg("Re", 2, b"next", "")));
    assert_eq!(r.queue_offset, 16);
}

#[test]
fn delayed_messages_carry_their_delivery_time_in_the_tag_slot() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    let rt = rt();
    // Level 3 = 10 s in the default messageDelayLevel; queue id = level - 1 as the broker does.
    let r = rt.block_on(store.put(&msg(
        "SCHEDULE_TOPIC_XXXX",
        2,
        b"later",
        "DELAY\u{1}3\u{2}TAGS\u{1}x\u{2}",
    )));
    assert_eq!(r.status, PutStatus::PutOk);
    wait_dispatched(&store, "SCHEDULE_TOPIC_XXXX", 2, 1);
    store.shutdown().unwrap();
    let cq = std::fs::read(
        dir.path()
            .join("consumequeue/SCHEDULE_TOPIC_XXXX/2/00000000000000000000"),
    )
    .unwrap();
    assert_eq!(&cq[12..20], &(r.store_timestamp + 10_000).to_be_bytes());
}

#[test]
fn retention_deletes_old_files_and_pulls_report_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = MessageStoreConfig {
        file_reserved_time: 0,
        mapped_file_size_consume_queue: 20 * 10,
        ..config(dir.path())
    };
    let store = MessageStore::open(cfg).unwrap();
    let rt = rt();
    let body = vec![b'o'; 2000];
    for _ in 0..100 {
        rt.block_on(store.put(&msg("Old", 0, &body, "")));
    }
    wait_dispatched(&store, "Old", 0, 100);
    let segments_before = store.commit_log.log.segments().len();
    assert!(segments_before > 2);
    store.cleanup.request_manual_delete();
    store.run_cleanup_once();
    let segments_after = store.commit_log.log.segments().len();
    assert!(
        segments_after < segments_before,
        "{segments_before} -> {segments_after}"
    );
    assert!(store.commit_log.min_offset() > 0);
    let min = store.min_offset("Old", 0);
    assert!(min > 0, "the queue's min offset follows the CommitLog");
    let old = store.get_messages("Old", 0, 0, 32, &AcceptAll);
    assert_eq!(old.status, GetStatus::OffsetTooSmall);
    assert_eq!(old.next_begin_offset, min);
    let live = store.get_messages("Old", 0, 99, 32, &AcceptAll);
    assert_eq!(live.status, GetStatus::Found);
}

#[test]
fn ipv6_hosts_shift_the_layout_and_offsets_are_patched_in_the_right_place() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    let rt = rt();
    let mut m = msg("Six", 0, b"v6", "");
    m.born_host = "[2001:db8::1]:5000".parse().unwrap();
    m.store_host = "[2001:db8::2]:10911".parse().unwrap();
    rt.block_on(store.put(&msg("Six", 0, b"v4", "")));
    let r = rt.block_on(store.put(&m));
    assert_eq!(r.status, PutStatus::PutOk);
    assert_eq!(r.wrote_bytes, 91 + 24 + 2 + 3);
    assert_eq!(r.msg_id.len(), 56, "IPv6 offset msgId is 56 hex chars");
    wait_dispatched(&store, "Six", 0, 2);
    let got = store.get_messages("Six", 0, 1, 1, &AcceptAll);
    let rec = &got.records[0];
    assert_eq!(
        &rec[36..40],
        &0x30i32.to_be_bytes(),
        "BORNHOST_V6 | STOREHOST_V6"
    );
    assert_eq!(&rec[20..28], &1i64.to_be_bytes());
    assert_eq!(&rec[28..36], &(r.physical_offset as i64).to_be_bytes());
    // STORETIMESTAMP follows the 20-byte born host: 48 + 20.
    assert_eq!(&rec[68..76], &r.store_timestamp.to_be_bytes());
}

#[test]
fn concurrent_producers_keep_queue_order_equal_to_commit_log_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    let rt = rt();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for t in 0..8 {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..200 {
                    let r = s
                        .put(&msg("Ord", i % 2, format!("t{t}-{i}").as_bytes(), ""))
                        .await;
                    assert_eq!(r.status, PutStatus::PutOk);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    for q in 0..2 {
        wait_dispatched(&store, "Ord", q, 800);
        let mut offset = 0;
        let mut last_phys = None;
        while offset < 800 {
            let got = store.get_messages("Ord", q, offset, 32, &AcceptAll);
            for rec in &got.records {
                let qo = i64::from_be_bytes(rec[20..28].try_into().unwrap());
                let phys = i64::from_be_bytes(rec[28..36].try_into().unwrap());
                assert_eq!(qo as u64, offset);
                assert!(
                    last_phys.is_none_or(|p| p < phys),
                    "queue {q}: offset {qo} stored before its predecessor"
                );
                last_phys = Some(phys);
                offset += 1;
            }
        }
    }
}
