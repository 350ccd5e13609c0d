//! Brokers in controller mode against a real controller (in process): the first replica leads
//! and writes only while the controller confirms it (its lease), a silent controller fences it,
//! and when the master stops the in-sync replica takes over with a new epoch while the old one
//! rejoins as its slave.

mod bsend_common;

use std::path::Path;
use std::time::Duration;

use bsend_common::{props, send_v2};
use sluice_broker::failover::supervisor;
use sluice_broker::BrokerConfig;
use sluice_controller::{Controller, ControllerConfig};
use sluice_remoting::body::{EpochEntryCache, JsonBody};
use sluice_remoting::net::{ClientConfig, ProcessorTable, RemotingClient};
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const T: Duration = Duration::from_secs(5);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn controller_config(dir: &Path, port: u16) -> ControllerConfig {
    ControllerConfig {
        listen_port: port,
        bind_address: "127.0.0.1".into(),
        controller_store_path: dir.to_path_buf(),
        // Brokers send their own timeout with each heartbeat; this is the default for others.
        broker_not_active_timeout: Duration::from_millis(1_500),
        scan_not_active_broker_interval: Duration::from_millis(100),
        ..ControllerConfig::default()
    }
}

fn broker_config(dir: &Path, id: i64, controller: &str) -> BrokerConfig {
    let mut c = BrokerConfig {
        broker_name: "broker-a".into(),
        broker_id: id,
        broker_ip1: "127.0.0.1".into(),
        broker_ip2: "127.0.0.1".into(),
        listen_port: free_port(),
        ha_listen_port: free_port(),
        namesrv_addr: None,
        metrics_prom_exporter_port: 0,
        enable_controller_mode: true,
        controller_addr: controller.to_string(),
        broker_heartbeat_interval: 100,
        controller_heart_beat_timeout_mills: 1_500,
        store: sluice_store::MessageStoreConfig::with_root(dir),
        ..BrokerConfig::default()
    };
    c.store.mapped_file_size_commit_log = 4 * 1024 * 1024;
    c.store.mapped_file_size_consume_queue = 60_000;
    c
}

/// A supervised replica: its task, its stop switch, and each (re)start's (address, role).
struct Replica {
    stop: CancellationToken,
    task: JoinHandle<sluice_broker::error::Result<()>>,
    starts: mpsc::UnboundedReceiver<(String, String)>,
}

fn run(config: BrokerConfig) -> Replica {
    let stop = CancellationToken::new();
    let (tx, rx) = mpsc::unbounded_channel();
    let s = stop.clone();
    let task = tokio::spawn(async move {
        supervisor::run(config, s, move |b| {
            let _ = tx.send((
                b.broker_addr(),
                b.state().config().broker_role.name().to_string(),
            ));
        })
        .await
    });
    Replica {
        stop,
        task,
        starts: rx,
    }
}

impl Replica {
    async fn next_start(&mut self) -> (String, String) {
        tokio::time::timeout(Duration::from_secs(20), self.starts.recv())
            .await
            .expect("no (re)start within 20 s")
            .expect("the supervisor ended")
    }

    async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap().expect("clean stop");
    }
}

async fn send(client: &RemotingClient, addr: &str, body: &str) -> RemotingCommand {
    client
        .invoke(
            addr,
            send_v2("FailoverTopic", 0, &props(&[]), body.as_bytes()),
            T,
        )
        .await
        .expect("the broker answers")
}

/// Sends until one is accepted (the lease comes with the first answered heartbeat).
async fn eventually_accepted(client: &RemotingClient, addr: &str) {
    for i in 0..200 {
        let r = send(client, addr, &format!("probe-{i}")).await;
        if r.code == ResponseCode::Success.as_i32() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{addr} never accepted a write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_writes_only_while_the_controller_confirms_it() {
    let cdir = tempfile::tempdir().unwrap();
    let port = free_port();
    let controller = Controller::start(controller_config(cdir.path(), port))
        .await
        .unwrap();
    let caddr = format!("127.0.0.1:{port}");
    let bdir = tempfile::tempdir().unwrap();
    let mut replica = run(broker_config(bdir.path(), 1, &caddr));
    let (addr, role) = replica.next_start().await;
    assert_eq!(
        role, "ASYNC_MASTER",
        "the first replica of a new group leads"
    );
    let client = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
    eventually_accepted(&client, &addr).await;

    // Its epoch history is on disk and served to replicas.
    let r = client
        .invoke(
            &addr,
            RemotingCommand::request(RequestCode::GetBrokerEpochCache),
            T,
        )
        .await
        .unwrap();
    let cache = EpochEntryCache::decode(&r.body.to_bytes()).unwrap();
    assert_eq!(cache.epoch_list.len(), 1);
    assert_eq!(cache.epoch_list[0].epoch, 1);
    assert!(r.ext("haServerAddr").is_some());
    assert!(bdir.path().join("epochFileCheckpoint").exists());

    // The controller goes away: within the lease the master stops writing.
    controller.shutdown(Duration::from_millis(200)).await;
    let mut fenced = None;
    for _ in 0..100 {
        let r = send(&client, &addr, "during-outage").await;
        if r.code == ResponseCode::ServiceNotAvailable.as_i32() {
            fenced = r.remark;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let remark = fenced.expect("the master kept writing without the controller");
    assert!(remark.contains("lease"), "{remark}");
    // Reads go on meanwhile; when the controller is back (same state), so do writes.
    let controller = Controller::start(controller_config(cdir.path(), port))
        .await
        .unwrap();
    eventually_accepted(&client, &addr).await;
    replica.stop().await;
    controller.shutdown(Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_sync_replica_takes_over_and_the_old_master_rejoins_as_slave() {
    let cdir = tempfile::tempdir().unwrap();
    let port = free_port();
    let controller = Controller::start(controller_config(cdir.path(), port))
        .await
        .unwrap();
    let caddr = format!("127.0.0.1:{port}");
    let dir1 = tempfile::tempdir().unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    let cfg1 = broker_config(dir1.path(), 1, &caddr);
    let mut r1 = run(cfg1.clone());
    let (addr1, role1) = r1.next_start().await;
    assert_eq!(role1, "ASYNC_MASTER");
    let mut r2 = run(broker_config(dir2.path(), 2, &caddr));
    let (addr2, role2) = r2.next_start().await;
    assert_eq!(role2, "SLAVE");
    // The master takes replica 2 into its SyncStateSet once it has caught up.
    let mut in_sync = false;
    for _ in 0..100 {
        let groups = controller.masters().await;
        if groups
            .iter()
            .any(|(n, m, _, set)| n == "broker-a" && *m == Some(1) && set.contains(&2))
        {
            in_sync = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        in_sync,
        "replica 2 never joined the SyncStateSet: {:?}",
        controller.masters().await
    );
    let client = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());

    // The master stops: replica 2 restarts as master with epoch 2 and accepts writes.
    let started = std::time::Instant::now();
    r1.stop().await;
    let (addr2b, role2b) = r2.next_start().await;
    assert_eq!(addr2b, addr2);
    assert_eq!(role2b, "ASYNC_MASTER");
    eventually_accepted(&client, &addr2).await;
    println!(
        "replica 2 accepted writes {:?} after the master stopped",
        started.elapsed()
    );
    let groups = controller.masters().await;
    assert!(
        groups
            .iter()
            .any(|(n, m, e, _)| n == "broker-a" && *m == Some(2) && *e == 2),
        "{groups:?}"
    );

    // The old master comes back: it follows the new one.
    let mut r1 = run(cfg1);
    let (addr1b, role1b) = r1.next_start().await;
    assert_eq!(addr1b, addr1);
    assert_eq!(role1b, "SLAVE");
    let r = client
        .invoke(
            &addr1,
            RemotingCommand::request(RequestCode::GetBrokerEpochCache),
            T,
        )
        .await
        .unwrap();
    let cache = EpochEntryCache::decode(&r.body.to_bytes()).unwrap();
    assert_eq!(
        cache.epoch_list.iter().map(|e| e.epoch).collect::<Vec<_>>(),
        vec![1, 2],
        "the rejoined replica adopts the new master's history"
    );
    r1.stop().await;
    r2.stop().await;
    controller.shutdown(Duration::from_millis(200)).await;
}
