//! ASYNC_MASTER under load, master SIGKILLed mid-load: what the slave had acknowledged just before (haStatus'
//! slaveAckOffset) is all there; every acknowledged message that is lost lies in the replication lag reported
//! just before the kill (or was acknowledged after that report). Lost messages and the lag are printed.
#![cfg(feature = "broker")]

mod ha_common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ha_common::{consume_all, master_spec, run_load, slave_spec, Group};

const TOPIC: &str = "HaAsyncTopic";
/// More than any record these producers write (a ~120-byte body plus headers and properties).
const RECORD_MAX: u64 = 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_is_bounded_by_the_reported_lag() {
    let mut group = Group::start(
        master_spec("ASYNC_MASTER", "ASYNC_FLUSH"),
        Some(slave_spec("ASYNC_FLUSH")),
    )
    .await;
    group.create_topic(TOPIC, 4).await;
    let ns = group.ns.addr();

    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(run_load(ns.clone(), TOPIC, 4, stop.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = group.admin.ha_status(&group.master.addr()).await.unwrap();
    group.master.kill().await.unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let outcome = load.await.unwrap();

    let conn = before
        .ha_connection_info
        .first()
        .unwrap_or_else(|| panic!("no slave connection before the kill: {before:?}"));
    let acked_at = conn.slave_ack_offset as u64;
    let master_max = before.master_commit_log_max_offset as u64;
    let lag = conn.diff as u64;
    assert_eq!(acked_at + lag, master_max);
    assert!(
        outcome.acked.len() >= 50,
        "too little load: {}\n{}",
        outcome.acked.len(),
        group.logs()
    );

    let acked: HashMap<&str, u64> = outcome
        .acked
        .iter()
        .map(|a| (a.body.as_str(), a.physical_offset))
        .collect();
    // Everything the slave had acknowledged must arrive; wait for that, then a little more for the rest.
    let must = |got: &HashMap<String, usize>| {
        acked
            .iter()
            .filter(|(_, off)| **off + RECORD_MAX <= acked_at)
            .all(|(b, _)| got.contains_key(*b))
    };
    let got = consume_all(
        &ns,
        "ha-async-consumer",
        TOPIC,
        &must,
        Duration::from_secs(60),
    )
    .await;
    let lost: Vec<(&str, u64)> = acked
        .iter()
        .filter(|(b, _)| !got.contains_key(**b))
        .map(|(b, o)| (*b, *o))
        .collect();
    let lost_after_report = lost.iter().filter(|(_, o)| *o >= master_max).count();
    let lost_in_lag = lost.len() - lost_after_report;
    let duplicates: usize = got.values().map(|n| n - 1).sum();
    println!(
        "acknowledged {}; lag reported just before the kill: {lag} bytes (slave at {acked_at}, master at \
         {master_max}); lost {} acknowledged messages ({lost_in_lag} within that lag, {lost_after_report} \
         acknowledged after the report); duplicates {duplicates}",
        outcome.acked.len(),
        lost.len()
    );
    for (body, offset) in &lost {
        assert!(
            offset + RECORD_MAX > acked_at,
            "message {body} at offset {offset} was below the slave's acknowledged offset {acked_at} but is lost\n{}",
            group.logs()
        );
    }
}
