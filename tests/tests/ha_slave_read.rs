//! `slaveReadEnable`: a master sends a consumer that is behind to the slave (`suggestWhichBrokerId` = the group's
//! `whichBrokerWhenConsumeSlowly`, 1), and Sluice's client follows the suggestion: the pulls land on the slave
//! while the master is up. `accessMessageInMemoryMaxRatio=0` makes any backlog count as "behind".
#![cfg(feature = "broker")]

mod ha_common;

use std::collections::HashMap;
use std::time::Duration;

use ha_common::{consume_all, master_spec, slave_spec, Group};
use sluice_client::{Message, Producer, SendStatus};

const TOPIC: &str = "HaSlaveReadTopic";

async fn gets(group: &Group, addr: &str) -> i64 {
    let info = group.admin.broker_runtime_info(addr).await.unwrap();
    info.table
        .get("msgGetTotalTodayNow")
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_behind_is_sent_to_the_slave() {
    let read_from_slave = |spec: sluice_tests::BrokerSpec| {
        spec.with("slaveReadEnable", "true")
            .with("accessMessageInMemoryMaxRatio", "0")
    };
    let group = Group::start(
        read_from_slave(master_spec("ASYNC_MASTER", "ASYNC_FLUSH")),
        Some(read_from_slave(slave_spec("ASYNC_FLUSH"))),
    )
    .await;
    group.create_topic(TOPIC, 1).await;
    let ns = group.ns.addr();
    let producer = Producer::builder("ha-read-producer")
        .namesrv_addr(ns.as_str())
        .build()
        .unwrap();
    producer.start().await.unwrap();
    for i in 0..200 {
        let r = producer
            .send(Message::new(TOPIC, format!("m{i}")), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(r.status, SendStatus::SendOk);
    }
    producer.shutdown().await;
    let slave_before = gets(&group, &group.slave().addr()).await;

    // Small batches so the consumer needs many pulls, each with a backlog behind it.
    let want = |got: &HashMap<String, usize>| got.len() == 200;
    let got = consume_all(
        &ns,
        "ha-read-consumer",
        TOPIC,
        &want,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(got.len(), 200, "{}", group.logs());
    let from_slave = gets(&group, &group.slave().addr()).await - slave_before;
    let from_master = gets(&group, &group.master.addr()).await;
    println!("messages served: {from_master} by the master, {from_slave} by the slave");
    assert!(
        from_slave > 0,
        "the slave served no pull (master served {from_master})\n{}",
        group.logs()
    );
}
