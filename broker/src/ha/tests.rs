//! In-process HA tests: the wire format a raw slave sees, SYNC_MASTER's wait, a slave ahead of its master, and a
//! real slave broker replicating and dispatching.

use std::time::{Duration, Instant};

use bytes::Bytes;
use sluice_remoting::message::MessageRecord;
use sluice_store::PutStatus;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::{BrokerConfig, BrokerRole};
use crate::Broker;

fn config(dir: &std::path::Path, role: BrokerRole) -> BrokerConfig {
    let mut c = BrokerConfig {
        broker_cluster_name: "HaCluster".into(),
        broker_name: "broker-ha".into(),
        listen_port: 0,
        broker_ip1: "127.0.0.1".into(),
        broker_ip2: "127.0.0.1".into(),
        metrics_exporter_type: "NONE".into(),
        broker_role: role,
        namesrv_addr: None,
        ..Default::default()
    };
    c.store.store_path_root_dir = dir.to_path_buf();
    c.store.mapped_file_size_commit_log = 1024 * 1024;
    c.store.mapped_file_size_consume_queue = 20 * 1000;
    c
}

fn msg(i: usize) -> MessageRecord {
    MessageRecord {
        topic: "HaUnit".into(),
        queue_id: (i % 2) as i32,
        body: Bytes::from(format!("message-{i}")),
        born_timestamp: 1_700_000_000_000,
        born_host: "127.0.0.1:50000".parse().unwrap(),
        store_host: "127.0.0.1:10911".parse().unwrap(),
        ..MessageRecord::default()
    }
}

async fn ha_connect(broker: &Broker) -> TcpStream {
    let port = broker.state().config().ha_listen_port;
    TcpStream::connect(("127.0.0.1", port)).await.unwrap()
}

async fn read_transfer(s: &mut TcpStream) -> (u64, Vec<u8>) {
    let mut header = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut header))
        .await
        .expect("a transfer header")
        .unwrap();
    let offset = u64::from_be_bytes(header[..8].try_into().unwrap());
    let size = u32::from_be_bytes(header[8..].try_into().unwrap()) as usize;
    let mut body = vec![0u8; size];
    s.read_exact(&mut body).await.unwrap();
    (offset, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_slave_gets_apache_framed_commit_log_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(config(dir.path(), BrokerRole::AsyncMaster))
        .await
        .unwrap();
    let state = broker.state().clone();
    for i in 0..3 {
        assert_eq!(state.store.put(&msg(i)).await.status, PutStatus::PutOk);
    }
    let max = state.store.commit_log.max_offset();
    let mut slave = ha_connect(&broker).await;
    slave.write_all(&0u64.to_be_bytes()).await.unwrap();
    let (offset, body) = read_transfer(&mut slave).await;
    assert_eq!(offset, 0);
    assert_eq!(body.len() as u64, max);
    assert_eq!(
        &body[..],
        &state.store.commit_log.read_raw(0, max as usize).unwrap()[..]
    );

    // The acknowledgement shows in haStatus.
    slave.write_all(&max.to_be_bytes()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let info = state.ha.runtime_info();
        if info.ha_connection_info.first().map(|c| c.slave_ack_offset) == Some(max as i64) {
            assert_eq!(info.in_sync_slave_nums, 1);
            assert_eq!(info.ha_connection_info[0].diff, 0);
            break;
        }
        assert!(Instant::now() < deadline, "{info:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The next put arrives as the next transfer, right after the first.
    let put = state.store.put(&msg(3)).await;
    crate::ha::after_put(&state, "", put).await;
    let (offset, body) = read_transfer(&mut slave).await;
    assert_eq!(offset, max);
    assert_eq!(body.len() as u64, state.store.commit_log.max_offset() - max);
    drop(slave);
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slave_ahead_of_its_master_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(config(dir.path(), BrokerRole::AsyncMaster))
        .await
        .unwrap();
    let state = broker.state().clone();
    state.store.put(&msg(0)).await;
    let ahead = state.store.commit_log.max_offset() + 4096;
    let mut slave = ha_connect(&broker).await;
    slave.write_all(&ahead.to_be_bytes()).await.unwrap();
    let mut buf = [0u8; 12];
    let read = tokio::time::timeout(Duration::from_secs(10), slave.read(&mut buf))
        .await
        .expect("the master closes the connection");
    assert_eq!(read.unwrap_or(0), 0, "no transfer for a diverged slave");
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_master_answers_after_the_slave_acknowledges() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), BrokerRole::SyncMaster);
    c.slave_timeout = 3_000;
    let broker = Broker::start(c).await.unwrap();
    let state = broker.state().clone();

    // No slave: SLAVE_NOT_AVAILABLE at once.
    let put = state.store.put(&msg(0)).await;
    let r = crate::ha::after_put(&state, "", put).await;
    assert_eq!(r.status, PutStatus::SlaveNotAvailable);

    let mut slave = ha_connect(&broker).await;
    let start = state.store.commit_log.max_offset();
    slave.write_all(&start.to_be_bytes()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while state.ha.acked_offset() < start {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // A put waits for the acknowledgement of its end offset, not less.
    let st = state.clone();
    let waiting = tokio::spawn(async move {
        let put = st.store.put(&msg(1)).await;
        crate::ha::after_put(&st, "", put).await
    });
    let (offset, body) = read_transfer(&mut slave).await;
    assert_eq!(offset, start);
    let end = start + body.len() as u64;
    slave.write_all(&(end - 1).to_be_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "answered before the slave had the whole record"
    );
    slave.write_all(&end.to_be_bytes()).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(2), waiting)
        .await
        .expect("answered once acknowledged")
        .unwrap();
    assert_eq!(r.status, PutStatus::PutOk);

    // WAIT=false opts out.
    let put = state.store.put(&msg(2)).await;
    let r = crate::ha::after_put(&state, "WAIT\u{1}false\u{2}", put).await;
    assert_eq!(r.status, PutStatus::PutOk);
    drop(slave);
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slave_broker_replicates_and_dispatches() {
    let mdir = tempfile::tempdir().unwrap();
    let sdir = tempfile::tempdir().unwrap();
    let master = Broker::start(config(mdir.path(), BrokerRole::AsyncMaster))
        .await
        .unwrap();
    let ms = master.state().clone();
    for i in 0..10 {
        ms.store.put(&msg(i)).await;
    }
    let mut sc = config(sdir.path(), BrokerRole::Slave);
    sc.broker_id = 1;
    sc.ha_master_address = Some(format!("127.0.0.1:{}", ms.config().ha_listen_port));
    let slave = Broker::start(sc).await.unwrap();
    let ss = slave.state().clone();
    for i in 10..20 {
        let put = ms.store.put(&msg(i)).await;
        crate::ha::after_put(&ms, "", put).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let caught_up = ss.store.commit_log.max_offset() == ms.store.commit_log.max_offset();
        let dispatched =
            ss.store.max_offset("HaUnit", 0) == 10 && ss.store.max_offset("HaUnit", 1) == 10;
        if caught_up && dispatched {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "slave at {} of {}; queues {} {}",
            ss.store.commit_log.max_offset(),
            ms.store.commit_log.max_offset(),
            ss.store.max_offset("HaUnit", 0),
            ss.store.max_offset("HaUnit", 1)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Nothing but replication writes to a slave's store.
    let refused = ss.store.put(&msg(99)).await;
    assert_eq!(refused.status, PutStatus::ServiceNotAvailable);
    let info = ss.ha.runtime_info();
    assert!(!info.master);
    assert_eq!(
        info.ha_client_runtime_info.max_offset as u64,
        ms.store.commit_log.max_offset()
    );
    slave.shutdown().await.unwrap();
    master.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_slave_recovers_and_resumes() {
    let mdir = tempfile::tempdir().unwrap();
    let sdir = tempfile::tempdir().unwrap();
    let master = Broker::start(config(mdir.path(), BrokerRole::AsyncMaster))
        .await
        .unwrap();
    let ms = master.state().clone();
    let slave_config = || {
        let mut sc = config(sdir.path(), BrokerRole::Slave);
        sc.broker_id = 1;
        sc.ha_master_address = Some(format!("127.0.0.1:{}", ms.config().ha_listen_port));
        sc
    };
    let wait_caught_up = |ss: std::sync::Arc<crate::BrokerState>, per_queue: u64| {
        let ms = ms.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let same = ss.store.commit_log.max_offset() == ms.store.commit_log.max_offset();
                let queues = ss.store.max_offset("HaUnit", 0) == per_queue
                    && ss.store.max_offset("HaUnit", 1) == per_queue;
                if same && queues {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "slave at {} of {}, queues {} {}",
                    ss.store.commit_log.max_offset(),
                    ms.store.commit_log.max_offset(),
                    ss.store.max_offset("HaUnit", 0),
                    ss.store.max_offset("HaUnit", 1)
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    for i in 0..10 {
        ms.store.put(&msg(i)).await;
    }
    let slave = Broker::start(slave_config()).await.unwrap();
    wait_caught_up(slave.state().clone(), 5).await;
    // A crash: no flush, no checkpoint, abort file left behind.
    slave.state().store.halt();
    drop(slave);
    for i in 10..20 {
        ms.store.put(&msg(i)).await;
    }
    let slave = Broker::start(slave_config()).await.unwrap();
    assert!(slave.state().store.recovery.abnormal);
    wait_caught_up(slave.state().clone(), 10).await;
    let ss = slave.state().clone();
    let last = ss
        .store
        .get_messages("HaUnit", 1, 9, 1, &sluice_store::AcceptAll);
    let (record, _) = MessageRecord::decode(&last.records[0]).unwrap();
    assert_eq!(&record.body[..], b"message-19");
    slave.shutdown().await.unwrap();
    master.shutdown().await.unwrap();
}
