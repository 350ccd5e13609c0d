//! SYNC_MASTER's answers as a producer sees them, `mqadmin haStatus`, slave refusal of writes, and the slave's
//! copy of the master's metadata:
//! - no slave: SLAVE_NOT_AVAILABLE (the message is stored on the master, but not acknowledged as replicated);
//! - a slave connected and in sync: SEND_OK, and haStatus on both sides shows real offsets;
//! - a slave that stopped acknowledging (SIGSTOP): FLUSH_SLAVE_TIMEOUT after `slaveTimeout`;
//! - a SEND_MESSAGE sent straight to the slave: SERVICE_NOT_AVAILABLE;
//! - a consumer offset committed on the master shows up on the slave.
#![cfg(feature = "broker")]

mod ha_common;

use std::time::{Duration, Instant};

use ha_common::{master_spec, signal, slave_spec, Group};
use sluice_client::{Message, Producer, SendStatus};
use sluice_remoting::body::{JsonBody, SubscriptionGroupConfig, SubscriptionGroupWrapper};
use sluice_remoting::{RemotingCommand, RequestCode};
use sluice_tests::raw::java_header;
use sluice_tests::RawConnection;

const TOPIC: &str = "HaStatusTopic";

async fn send(producer: &Producer, body: &str) -> SendStatus {
    producer
        .send(
            Message::new(TOPIC, body.to_string()),
            Duration::from_secs(5),
        )
        .await
        .unwrap_or_else(|e| panic!("send {body}: {e}"))
        .status
}

async fn mqadmin(args: &[&str]) -> String {
    let mut out = String::new();
    sluice_client::admin::cli::run(args, &mut out)
        .await
        .unwrap_or_else(|e| panic!("mqadmin {args:?}: {e}"));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_master_statuses_ha_status_and_slave_behaviour() {
    let mut group = Group::start(
        master_spec("SYNC_MASTER", "ASYNC_FLUSH").with("slaveTimeout", "1000"),
        None,
    )
    .await;
    group.create_topic(TOPIC, 2).await;
    let ns = group.ns.addr();
    let producer = Producer::builder("ha-status-producer")
        .namesrv_addr(ns.as_str())
        .retry_times(0)
        .build()
        .unwrap();
    producer.start().await.unwrap();

    // No slave at all.
    assert_eq!(
        send(&producer, "alone").await,
        SendStatus::SlaveNotAvailable
    );
    let master_view = group.admin.ha_status(&group.master.addr()).await.unwrap();
    assert!(master_view.master);
    assert!(master_view.ha_connection_info.is_empty());
    assert!(master_view.master_commit_log_max_offset > 0);

    // A slave: found through the NameServer, catches up (including the message above), acknowledges.
    group.start_slave(slave_spec("ASYNC_FLUSH")).await;
    assert_eq!(send(&producer, "replicated").await, SendStatus::SendOk);
    let master_view = group.admin.ha_status(&group.master.addr()).await.unwrap();
    assert_eq!(master_view.in_sync_slave_nums, 1, "{master_view:?}");
    let conn = &master_view.ha_connection_info[0];
    assert!(conn.in_sync);
    assert_eq!(conn.transfer_from_where, 0, "an empty slave copies from 0");
    assert_eq!(
        conn.slave_ack_offset + conn.diff,
        master_view.master_commit_log_max_offset
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let slave_view = loop {
        let v = group.admin.ha_status(&group.slave().addr()).await.unwrap();
        if v.ha_client_runtime_info.max_offset == master_view.master_commit_log_max_offset
            || Instant::now() > deadline
        {
            break v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!slave_view.master);
    let client = &slave_view.ha_client_runtime_info;
    assert_eq!(
        client.master_addr.as_deref(),
        Some(format!("127.0.0.1:{}", group.master.port + 1).as_str()),
        "the slave learnt the master's HA address from the NameServer"
    );
    assert_eq!(client.max_offset, master_view.master_commit_log_max_offset);
    assert!(client.last_read_timestamp > 0);

    // What `mqadmin haStatus` prints for the whole cluster.
    let out = mqadmin(&["haStatus", "-c", "DefaultCluster", "-n", &ns]).await;
    assert!(out.contains("#InSyncSlaveNum\t1"), "{out}");
    let master_addr = format!("#MasterAddr\t{}", group.master.addr());
    assert!(out.contains(&master_addr), "{out}");

    // The slave refuses writes.
    let mut raw = RawConnection::connect(group.slave().socket_addr())
        .await
        .unwrap();
    let header = java_header(
        10,
        479,
        7,
        &[
            ("producerGroup", "raw"),
            ("topic", TOPIC),
            ("defaultTopic", "TBW102"),
            ("defaultTopicQueueNums", "4"),
            ("queueId", "0"),
            ("sysFlag", "0"),
            ("bornTimestamp", "1700000000000"),
            ("flag", "0"),
            ("properties", ""),
            ("reconsumeTimes", "0"),
            ("unitMode", "false"),
        ],
    );
    let answer = raw.request(&header, b"to the slave").await.unwrap();
    assert_eq!(answer.code(), Some(14), "{:?}", answer.remark());
    assert!(
        answer.remark().unwrap_or("").contains("slave"),
        "{:?}",
        answer.remark()
    );

    // Subscription groups and consumer offsets flow from master to slave (every 10 s).
    group
        .admin
        .create_subscription_group(
            &group.master.addr(),
            &SubscriptionGroupConfig::new("ha-group"),
        )
        .await
        .unwrap();
    group
        .admin
        .update_consumer_offset(&group.master.addr(), "ha-group", TOPIC, 1, 42)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(25);
    loop {
        let on_slave = group
            .admin
            .consumer_offset(&group.slave().addr(), "ha-group", TOPIC, 1)
            .await
            .unwrap_or(-1);
        let groups = group
            .admin
            .invoke(
                &group.slave().addr(),
                RemotingCommand::request(RequestCode::GetAllSubscriptiongroupConfig),
            )
            .await
            .unwrap();
        let groups = SubscriptionGroupWrapper::decode(&groups.body.to_bytes()).unwrap();
        if on_slave == 42 && groups.subscription_group_table.contains_key("ha-group") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slave never copied the master's consumer offset (has {on_slave})\n{}",
            group.logs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // A slave that stops acknowledging: FLUSH_SLAVE_TIMEOUT after slaveTimeout (1 s here).
    let pid = group.slave().process.pid().unwrap();
    signal(pid, "STOP");
    let started = Instant::now();
    let status = send(&producer, "stalled").await;
    let waited = started.elapsed();
    signal(pid, "CONT");
    assert_eq!(status, SendStatus::FlushSlaveTimeout);
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "answered after {waited:?}"
    );
    // Once it runs again it catches up and acknowledges.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = send(&producer, "after").await;
        if s == SendStatus::SendOk {
            break;
        }
        assert!(Instant::now() < deadline, "still {s:?}\n{}", group.logs());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    producer.shutdown().await;
}
