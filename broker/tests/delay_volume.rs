//! Many delayed messages at once: every one is delivered exactly once and none early. Prints the
//! delivery rate and the worst lateness (measured, not asserted: the machine may be loaded).

mod delay_common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use delay_common::*;
use sluice_remoting::message::{MessageRecord, Properties};
use sluice_store::AcceptAll;

/// Default count; `DELAY_VOLUME_MESSAGES` overrides it for a bigger measurement.
const DEFAULT_MESSAGES: usize = 20_000;

/// Resident set size of this process in KiB (Linux), for the printed numbers.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_delayed_messages_are_each_delivered_once_never_early() {
    let messages: usize = std::env::var("DELAY_VOLUME_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_MESSAGES);
    let dir = tempfile::tempdir().unwrap();
    let b = start_in(dir.path()).await;
    let store = b.broker.state().store.clone();
    let host: SocketAddr = "127.0.0.1:10911".parse().unwrap();
    // Stored as the send path stores a DELAY=1 message (in-process, to fill quickly).
    let mut stored_at = HashMap::with_capacity(messages);
    let started = Instant::now();
    for i in 0..messages {
        let mut p = Properties::new();
        p.insert("DELAY", "1");
        p.insert("REAL_TOPIC", "VolumeTopic");
        p.insert("REAL_QID", "0");
        p.insert("KEYS", format!("m{i}"));
        let rec = MessageRecord {
            topic: "SCHEDULE_TOPIC_XXXX".into(),
            queue_id: 0,
            born_host: host,
            store_host: host,
            body: bytes::Bytes::from(format!("m{i}")),
            properties: p.encode(),
            ..Default::default()
        };
        let r = store.put(&rec).await;
        assert!(r.status.is_stored(), "{r:?}");
        stored_at.insert(format!("m{i}"), r.store_timestamp);
    }
    println!(
        "stored {messages} delayed messages in {:?}; rss {:?} KiB",
        started.elapsed(),
        rss_kib()
    );

    let mut seen: HashMap<String, i64> = HashMap::with_capacity(messages);
    let mut offset = 0u64;
    let deadline = Instant::now() + POLL_LIMIT;
    let mut worst_late = 0i64;
    while seen.len() < messages {
        let got = store.get_messages("VolumeTopic", 0, offset, 32, &AcceptAll);
        if got.records.is_empty() {
            assert!(
                Instant::now() < deadline,
                "only {} of {messages} delivered",
                seen.len()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            continue;
        }
        offset = got.next_begin_offset;
        for bytes in &got.records {
            let (m, _) = MessageRecord::decode(bytes).unwrap();
            let body = String::from_utf8(m.body.to_vec()).unwrap();
            let original = stored_at[&body];
            let late = m.store_timestamp - (original + 1_000);
            assert!(late >= 0, "{body} delivered {} ms early", -late);
            worst_late = worst_late.max(late);
            assert!(
                seen.insert(body.clone(), m.store_timestamp).is_none(),
                "{body} delivered twice"
            );
        }
    }
    let first = seen.values().min().unwrap();
    let last = seen.values().max().unwrap();
    println!(
        "delivered {messages} in {} ms of store time ({:.0} msg/s); worst lateness {worst_late} ms",
        last - first,
        messages as f64 * 1000.0 / ((last - first).max(1) as f64)
    );
    println!(
        "rss after delivery {:?} KiB (CommitLog mappings included)",
        rss_kib()
    );
    assert_eq!(store.max_offset("VolumeTopic", 0), messages as u64);
    let counted = b
        .broker
        .state()
        .metrics
        .consumes
        .get("SCHEDULE_TOPIC_XXXX")
        .and_then(|g| {
            g.get("SCHEDULE_CONSUMER")
                .map(|c| c.messages_out.load(std::sync::atomic::Ordering::Relaxed))
        });
    assert_eq!(
        counted,
        Some(messages as u64),
        "deliveries counted in metrics"
    );
    b.stop().await;
}
