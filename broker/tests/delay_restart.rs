//! Delay levels across a restart: a message still pending at shutdown is delivered after the
//! broker starts again, and one already delivered is not delivered again (delayOffset.json).

mod delay_common;

use delay_common::*;

#[tokio::test]
async fn pending_delayed_message_survives_a_restart_and_nothing_is_delivered_twice() {
    let dir = tempfile::tempdir().unwrap();
    let offsets_file = dir.path().join("config").join("delayOffset.json");

    let b = start_in(dir.path()).await;
    // Level 1 (1 s): delivered before the restart.
    let sent_early = b.send_delayed("RestartTopic", 0, 1, "T", b"before").await;
    b.wait_for("RestartTopic", 0, 1).await;
    // Level 2 (3 s): still pending when the broker stops.
    let sent_late = b.send_delayed("RestartTopic", 0, 2, "T", b"after").await;
    let original_late = b.stored(&sent_late.msg_id);
    assert!(
        b.pull_all("RestartTopic", 0).await.len() == 1,
        "the level-2 message must still be pending"
    );
    b.stop().await;
    let saved =
        std::fs::read_to_string(&offsets_file).expect("delayOffset.json written at shutdown");
    assert_eq!(saved, "{\"offsetTable\":{1:1,2:0}}");

    let b = start_in(dir.path()).await;
    let msgs = b.wait_for("RestartTopic", 0, 2).await;
    let bodies: Vec<&[u8]> = msgs.iter().map(|m| &m.body()[..]).collect();
    // A lost level-1 offset would re-deliver "before" at once, well before "after" is due.
    assert_eq!(bodies, vec![&b"before"[..], &b"after"[..]]);
    assert_eq!(
        msgs[0].property("UNIQ_KEY"),
        sent_early.transaction_id.as_deref()
    );
    assert_eq!(
        msgs[1].property("UNIQ_KEY"),
        sent_late.transaction_id.as_deref()
    );
    assert!(
        msgs[1].record.store_timestamp >= original_late.store_timestamp + 3_000,
        "level-2 message delivered early after the restart"
    );
    b.stop().await;
    let saved = std::fs::read_to_string(&offsets_file).unwrap();
    assert_eq!(saved, "{\"offsetTable\":{1:1,2:1}}");

    // A third start delivers nothing more.
    let b = start_in(dir.path()).await;
    assert_eq!(b.pull_all("RestartTopic", 0).await.len(), 2);
    b.stop().await;
}

#[tokio::test]
async fn offsets_outside_the_queue_are_corrected_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let b = start_in(dir.path()).await;
    b.send_delayed("ClampOffsets", 0, 1, "T", b"x").await;
    b.wait_for("ClampOffsets", 0, 1).await;
    b.stop().await;
    // Level 1 far beyond its queue's max, level 2 negative: both clamped into [min, max].
    let path = dir.path().join("config").join("delayOffset.json");
    std::fs::write(&path, "{\"offsetTable\":{1:1000,2:-5}}").unwrap();
    let b = start_in(dir.path()).await;
    let sent = b.send_delayed("ClampOffsets", 0, 1, "T", b"y").await;
    let msgs = b.wait_for("ClampOffsets", 0, 2).await;
    assert_eq!(
        msgs.len(),
        2,
        "the new message is delivered, the old one not again"
    );
    assert_eq!(msgs[1].property("UNIQ_KEY"), sent.transaction_id.as_deref());
    b.stop().await;
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"offsetTable\":{1:2,2:0}}"
    );
}

#[tokio::test]
async fn an_unreadable_offsets_file_stops_the_start_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let b = start_in(dir.path()).await;
    b.stop().await;
    let path = dir.path().join("config").join("delayOffset.json");
    std::fs::write(&path, "not json").unwrap();
    let _ = std::fs::remove_file(dir.path().join("config").join("delayOffset.json.bak"));
    let mut config = sluice_broker::BrokerConfig {
        listen_port: 0,
        namesrv_addr: None,
        store: sluice_store::MessageStoreConfig::with_root(dir.path()),
        ..Default::default()
    };
    config.store.mapped_file_size_commit_log = 4 * 1024 * 1024;
    config.store.mapped_file_size_consume_queue = 6_000;
    config.store.message_delay_level = LEVELS.into();
    let err = match sluice_broker::Broker::start(config).await {
        Ok(b) => {
            b.shutdown().await.unwrap();
            panic!("a garbage delayOffset.json was accepted");
        }
        Err(e) => e.to_string(),
    };
    assert!(err.contains("delayOffset.json"), "{err}");
}

#[tokio::test]
async fn only_masters_run_delay_delivery() {
    let master_dir = tempfile::tempdir().unwrap();
    start_in(master_dir.path()).await.stop().await;
    assert!(master_dir
        .path()
        .join("config")
        .join("delayOffset.json")
        .exists());

    let slave_dir = tempfile::tempdir().unwrap();
    let mut config = sluice_broker::BrokerConfig {
        listen_port: 0,
        namesrv_addr: None,
        broker_role: sluice_broker::config::BrokerRole::Slave,
        broker_id: 1,
        store: sluice_store::MessageStoreConfig::with_root(slave_dir.path()),
        ..Default::default()
    };
    config.store.mapped_file_size_commit_log = 4 * 1024 * 1024;
    config.store.mapped_file_size_consume_queue = 6_000;
    let slave = sluice_broker::Broker::start(config)
        .await
        .expect("slave starts");
    slave.shutdown().await.unwrap();
    assert!(
        !slave_dir
            .path()
            .join("config")
            .join("delayOffset.json")
            .exists(),
        "a slave must not deliver delayed messages nor own their offsets"
    );
}
