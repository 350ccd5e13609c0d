//! Delay levels over a real socket: a DELAY=n message reaches its real topic only once its
//! level's delay has passed since it was stored, with REAL_TOPIC kept and DELAY gone.

mod delay_common;

use delay_common::*;
use sluice_broker::{Broker, BrokerConfig};

#[tokio::test]
async fn delayed_message_arrives_in_its_real_topic_no_sooner_than_its_level() {
    let dir = tempfile::tempdir().unwrap();
    let b = start_in(dir.path()).await;
    let sent1 = b
        .send_delayed("DelayTopic", 1, 1, "TagA", b"one second")
        .await;
    let sent2 = b
        .send_delayed("DelayTopic", 2, 2, "TagB", b"three seconds")
        .await;
    // Stored in the schedule topic, queue = level - 1.
    let original1 = b.stored(&sent1.msg_id);
    let original2 = b.stored(&sent2.msg_id);
    assert_eq!(original1.topic, "SCHEDULE_TOPIC_XXXX");
    assert_eq!((original1.queue_id, original2.queue_id), (0, 1));

    // Poll the real queue: whatever is there is never early.
    let deadline = tokio::time::Instant::now() + POLL_LIMIT;
    let delivered1 = loop {
        let msgs = b.pull_all("DelayTopic", 1).await;
        if let Some(m) = msgs.first() {
            assert_eq!(msgs.len(), 1, "delivered more than once");
            break m.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "level-1 message never delivered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let early_by = original1.store_timestamp + 1_000 - delivered1.record.store_timestamp;
    assert!(
        early_by <= 0,
        "level-1 message delivered {early_by} ms early"
    );
    println!(
        "level 1 (1 s): delivered {} ms after the original was stored",
        delivered1.record.store_timestamp - original1.store_timestamp
    );
    assert_eq!(&delivered1.body()[..], b"one second");
    assert_eq!(delivered1.topic(), "DelayTopic");
    assert_eq!(delivered1.record.queue_id, 1);
    assert_eq!(delivered1.property("DELAY"), None);
    assert_eq!(delivered1.property("REAL_TOPIC"), Some("DelayTopic"));
    assert_eq!(delivered1.property("REAL_QID"), Some("1"));
    assert_eq!(delivered1.tags(), Some("TagA"));
    assert_eq!(delivered1.keys().collect::<Vec<_>>(), vec!["k1", "k2"]);
    // The client-visible message id (UNIQ_KEY) and born info survive the move.
    assert_eq!(
        delivered1.property("UNIQ_KEY"),
        sent1.transaction_id.as_deref()
    );
    assert_eq!(delivered1.record.born_timestamp, original1.born_timestamp);
    assert_eq!(delivered1.record.flag, original1.flag);

    let delivered2 = b.wait_for("DelayTopic", 2, 1).await;
    assert_eq!(delivered2.len(), 1);
    let d2 = &delivered2[0];
    assert!(
        d2.record.store_timestamp >= original2.store_timestamp + 3_000,
        "level-2 message delivered {} ms after store (level is 3 s)",
        d2.record.store_timestamp - original2.store_timestamp
    );
    println!(
        "level 2 (3 s): delivered {} ms after the original was stored",
        d2.record.store_timestamp - original2.store_timestamp
    );
    assert_eq!(&d2.body()[..], b"three seconds");
    assert_eq!(d2.property("DELAY"), None);
    b.stop().await;
}

#[tokio::test]
async fn default_level_two_waits_five_seconds() {
    let dir = tempfile::tempdir().unwrap();
    // Apache's 18 default levels: level 2 is 5 s.
    let b = start_with_levels(
        dir.path(),
        &sluice_store::MessageStoreConfig::default().message_delay_level,
    )
    .await;
    let sent = b.send_delayed("DefaultLevels", 0, 2, "T", b"five").await;
    let original = b.stored(&sent.msg_id);
    assert_eq!(original.queue_id, 1);
    let got = b.wait_for("DefaultLevels", 0, 1).await;
    let after = got[0].record.store_timestamp - original.store_timestamp;
    assert!(
        after >= 5_000,
        "level 2 delivered after {after} ms, before its 5 s"
    );
    println!("default level 2 (5 s): delivered {after} ms after the original was stored");
    b.stop().await;
}

#[tokio::test]
async fn a_level_above_the_last_is_clamped_to_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let b = start_in(dir.path()).await;
    let sent = b.send_delayed("ClampTopic", 0, 9, "T", b"clamped").await;
    let original = b.stored(&sent.msg_id);
    assert_eq!(
        original.queue_id, 1,
        "level 9 of 2 levels waits in the last level's queue"
    );
    let got = b.wait_for("ClampTopic", 0, 1).await;
    assert!(got[0].record.store_timestamp >= original.store_timestamp + 3_000);
    b.stop().await;
}

#[tokio::test]
async fn a_bad_delay_level_table_is_refused_at_start() {
    for bad in ["1s 5x", "1s -2m", "", "1.5s"] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = BrokerConfig {
            listen_port: 0,
            namesrv_addr: None,
            store: sluice_store::MessageStoreConfig::with_root(dir.path()),
            ..BrokerConfig::default()
        };
        config.store.mapped_file_size_commit_log = 1024 * 1024;
        config.store.message_delay_level = bad.into();
        let err = match Broker::start(config).await {
            Ok(b) => {
                b.shutdown().await.unwrap();
                panic!("messageDelayLevel `{bad}` was accepted");
            }
            Err(e) => e.to_string(),
        };
        assert!(err.contains("messageDelayLevel"), "`{bad}`: {err}");
    }
}
