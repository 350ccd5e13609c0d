//! SYNC_MASTER + SYNC_FLUSH under load, master SIGKILLed mid-load: every message the producers saw SEND_OK for
//! is consumed afterwards, through the NameServer, from the slave (the consumer finds it on its own); duplicates
//! are counted and printed; the slave's CommitLog is byte-identical to the dead master's up to the slave's end,
//! which covers every acknowledged record.
#![cfg(feature = "broker")]

mod ha_common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ha_common::{commit_log_bytes, consume_all, master_spec, run_load, slave_spec, Group};

const TOPIC: &str = "HaSyncTopic";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_master_sigkill() {
    let mut group = Group::start(
        master_spec("SYNC_MASTER", "SYNC_FLUSH"),
        Some(slave_spec("SYNC_FLUSH")),
    )
    .await;
    group.create_topic(TOPIC, 4).await;
    let ns = group.ns.addr();

    // Load: 4 producers for ~4 s; the master is killed after ~2 s.
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(run_load(ns.clone(), TOPIC, 4, stop.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    group.master.kill().await.unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let outcome = load.await.unwrap();
    println!(
        "acknowledged {} messages; not-OK statuses {:?}; send errors {}",
        outcome.acked.len(),
        outcome.not_ok,
        outcome.errors
    );
    assert!(
        outcome.acked.len() >= 50,
        "too little load to mean anything: {} acknowledged\n{}",
        outcome.acked.len(),
        group.logs()
    );

    // Every acknowledged message, from the slave.
    let acked: HashMap<&str, u64> = outcome
        .acked
        .iter()
        .map(|a| (a.body.as_str(), a.physical_offset))
        .collect();
    let want = |got: &HashMap<String, usize>| acked.keys().all(|b| got.contains_key(*b));
    let got = consume_all(
        &ns,
        "ha-sync-consumer",
        TOPIC,
        &want,
        Duration::from_secs(60),
    )
    .await;
    let missing: Vec<&&str> = acked.keys().filter(|b| !got.contains_key(**b)).collect();
    let duplicates: usize = got.values().map(|n| n - 1).sum();
    let extra = got
        .keys()
        .filter(|b| !acked.contains_key(b.as_str()))
        .count();
    println!(
        "consumed {} distinct messages from the slave: {} acknowledged ones missing, {} duplicates, \
         {} stored without SEND_OK (timeouts/errors at the kill)",
        got.len(),
        missing.len(),
        duplicates,
        extra
    );
    assert!(
        missing.is_empty(),
        "{} acknowledged messages lost, e.g. {:?}\n{}",
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>(),
        group.logs()
    );

    // The slave's CommitLog is the master's, byte for byte, as far as the slave has it; that covers every
    // acknowledged record.
    let slave_max = group
        .admin
        .ha_status(&group.slave().addr())
        .await
        .unwrap()
        .ha_client_runtime_info
        .max_offset as u64;
    let last_acked = outcome
        .acked
        .iter()
        .map(|a| a.physical_offset)
        .max()
        .unwrap();
    assert!(
        slave_max > last_acked,
        "slave ends at {slave_max}, before the last acknowledged record at {last_acked}"
    );
    let slave_store = group.slave().store_dir();
    let master_store = group.master.store_dir();
    let slave_bytes = commit_log_bytes(&slave_store, slave_max);
    let master_bytes = commit_log_bytes(&master_store, slave_max);
    assert_eq!(slave_bytes.len() as u64, slave_max);
    assert_eq!(master_bytes.len() as u64, slave_max);
    if let Some(at) = (0..slave_bytes.len()).find(|&i| slave_bytes[i] != master_bytes[i]) {
        panic!("the slave's CommitLog differs from the master's at byte {at} (of {slave_max})");
    }

    // The old master, restarted on its store, takes its slave back: the slave reconnects, fetches what it
    // missed, and acknowledges new sends again.
    group
        .master
        .process
        .restart()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    group.wait_slave_connected().await;
    let producer = sluice_client::Producer::builder("ha-after-restart")
        .namesrv_addr(ns.as_str())
        .build()
        .unwrap();
    producer.start().await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = producer
            .send(
                sluice_client::Message::new(TOPIC, "after-restart"),
                Duration::from_secs(5),
            )
            .await;
        match r {
            Ok(r) if r.status == sluice_client::SendStatus::SendOk => break,
            other => assert!(
                std::time::Instant::now() < deadline,
                "no SEND_OK after the master's restart: {other:?}\n{}",
                group.logs()
            ),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    producer.shutdown().await;
    let master_view = group.admin.ha_status(&group.master.addr()).await.unwrap();
    let conn = &master_view.ha_connection_info[0];
    assert!(
        conn.transfer_from_where as u64 == slave_max,
        "the slave resumed from its own end ({slave_max}), not from {}",
        conn.transfer_from_where
    );
}
