//! The controller over the wire: registration, heartbeats, a dead master replaced by the in-sync
//! replica with a higher epoch, the role change pushed to the survivors, the deposed master
//! fenced, and the table surviving a controller restart.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use sluice_controller::{Controller, ControllerConfig};
use sluice_remoting::body::{JsonBody, SyncStateSet};
use sluice_remoting::header::{
    AlterSyncStateSetRequestHeader, BrokerHeartbeatRequestHeader, ElectMasterRequestHeader,
    GetReplicaInfoRequestHeader, GetReplicaInfoResponseHeader,
    NotifyBrokerRoleChangedRequestHeader, RegisterBrokerToControllerRequestHeader,
    RegisterBrokerToControllerResponseHeader,
};
use sluice_remoting::net::{Channel, ClientConfig, ProcessorTable, RemotingClient};
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const T: Duration = Duration::from_secs(3);

fn config(dir: &std::path::Path) -> ControllerConfig {
    ControllerConfig {
        listen_port: 0,
        bind_address: "127.0.0.1".into(),
        controller_store_path: dir.to_path_buf(),
        broker_not_active_timeout: Duration::from_millis(800),
        scan_not_active_broker_interval: Duration::from_millis(100),
        ..ControllerConfig::default()
    }
}

/// A broker's controller session: its connection, and the role changes pushed to it.
struct FakeBroker {
    id: i64,
    addr: String,
    client: RemotingClient,
    notified: mpsc::UnboundedReceiver<NotifyBrokerRoleChangedRequestHeader>,
    heartbeat: CancellationToken,
}

impl FakeBroker {
    fn new(id: i64) -> FakeBroker {
        let (tx, rx) = mpsc::unbounded_channel();
        let table = ProcessorTable::new().with(
            RequestCode::NotifyBrokerRoleChanged,
            move |_c: Channel, req: RemotingCommand| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(
                        req.decode_header::<NotifyBrokerRoleChangedRequestHeader>()
                            .unwrap(),
                    );
                    None
                }
            },
        );
        FakeBroker {
            id,
            addr: format!("10.0.0.{id}:10911"),
            client: RemotingClient::new(ClientConfig::default(), table),
            notified: rx,
            heartbeat: CancellationToken::new(),
        }
    }

    async fn register(&self, controller: &str) -> RegisterBrokerToControllerResponseHeader {
        let h = RegisterBrokerToControllerRequestHeader {
            cluster_name: "c".into(),
            broker_name: "broker-a".into(),
            broker_id: self.id,
            broker_address: self.addr.clone(),
            invoke_time: None,
        };
        let r = self
            .client
            .invoke(
                controller,
                RemotingCommand::request(RequestCode::ControllerRegisterBroker).with_header(&h),
                T,
            )
            .await
            .unwrap();
        assert_eq!(r.code, i32::from(ResponseCode::Success), "{:?}", r.remark);
        r.decode_header().unwrap()
    }

    /// Heartbeats every 100 ms until `stop_heartbeat`.
    fn start_heartbeat(&self, controller: &str, max_offset: i64) {
        let client = self.client.clone();
        let controller = controller.to_string();
        let stop = self.heartbeat.clone();
        let h = BrokerHeartbeatRequestHeader {
            cluster_name: "c".into(),
            broker_addr: self.addr.clone(),
            broker_name: "broker-a".into(),
            broker_id: Some(self.id),
            epoch: Some(1),
            max_offset: Some(max_offset),
            ..Default::default()
        };
        tokio::spawn(async move {
            loop {
                let req = RemotingCommand::request(RequestCode::BrokerHeartbeat).with_header(&h);
                let _ = client.invoke(&controller, req, T).await;
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        });
    }

    fn stop_heartbeat(&self) {
        self.heartbeat.cancel();
    }

    async fn alter(
        &self,
        controller: &str,
        epoch: i32,
        set: &[i64],
        set_epoch: i32,
    ) -> RemotingCommand {
        let h = AlterSyncStateSetRequestHeader {
            broker_name: "broker-a".into(),
            master_broker_id: self.id,
            master_epoch: epoch,
            invoke_time: None,
        };
        let body = SyncStateSet {
            sync_state_set: set.iter().copied().collect(),
            sync_state_set_epoch: set_epoch,
        };
        self.client
            .invoke(
                controller,
                RemotingCommand::request(RequestCode::ControllerAlterSyncStateSet)
                    .with_header(&h)
                    .with_body(body.encode()),
                T,
            )
            .await
            .unwrap()
    }
}

async fn replica_info(
    client: &RemotingClient,
    controller: &str,
) -> (GetReplicaInfoResponseHeader, SyncStateSet) {
    let h = GetReplicaInfoRequestHeader {
        broker_name: "broker-a".into(),
    };
    let r = client
        .invoke(
            controller,
            RemotingCommand::request(RequestCode::ControllerGetReplicaInfo).with_header(&h),
            T,
        )
        .await
        .unwrap();
    assert_eq!(r.code, i32::from(ResponseCode::Success), "{:?}", r.remark);
    (
        r.decode_header().unwrap(),
        SyncStateSet::decode(&r.body.to_bytes()).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_master_is_replaced_by_its_in_sync_replica_and_fenced() {
    let dir = tempfile::tempdir().unwrap();
    let controller = Controller::start(config(dir.path())).await.unwrap();
    let addr = controller.local_addr().to_string();

    let mut b0 = FakeBroker::new(0);
    let mut b1 = FakeBroker::new(1);
    let r0 = b0.register(&addr).await;
    assert_eq!(
        r0.master_broker_id,
        Some(0),
        "the first broker of a new group leads"
    );
    assert_eq!(r0.master_epoch, Some(1));
    b0.start_heartbeat(&addr, 1000);
    let r1 = b1.register(&addr).await;
    assert_eq!(r1.master_broker_id, Some(0));
    assert_eq!(r1.master_address.as_deref(), Some("10.0.0.0:10911"));
    b1.start_heartbeat(&addr, 1000);
    // A stray broker-initiated election while the master lives changes nothing.
    let elect = RemotingCommand::request(RequestCode::ControllerElectMaster).with_header(
        &ElectMasterRequestHeader {
            broker_name: "broker-a".into(),
            ..Default::default()
        },
    );
    let r = b1.client.invoke(&addr, elect, T).await.unwrap();
    assert_eq!(r.code, i32::from(ResponseCode::ControllerMasterStillExist));

    // The master takes replica 1 into its SyncStateSet.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = b0.alter(&addr, 1, &[0, 1], 1).await;
    assert_eq!(r.code, i32::from(ResponseCode::Success), "{:?}", r.remark);
    let (_, set) = replica_info(&b1.client, &addr).await;
    assert_eq!(set.sync_state_set, BTreeSet::from([0, 1]));
    assert_eq!(set.sync_state_set_epoch, 2);

    // The master goes silent: replica 1 is elected and told so.
    b0.stop_heartbeat();
    let notice = tokio::time::timeout(Duration::from_secs(10), b1.notified.recv())
        .await
        .expect("no role change within 10 s")
        .unwrap();
    assert_eq!(notice.master_broker_id, Some(1));
    assert_eq!(notice.master_epoch, Some(2));
    assert_eq!(notice.master_address.as_deref(), Some("10.0.0.1:10911"));
    let (info, set) = replica_info(&b1.client, &addr).await;
    assert_eq!(info.master_broker_id, Some(1));
    assert_eq!(info.master_epoch, Some(2));
    assert_eq!(set.sync_state_set, BTreeSet::from([1]));
    // The old master still has its connection open: it was told too.
    let told = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(n) = b0.notified.recv().await {
            if n.master_broker_id == Some(1) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        told,
        Ok(true),
        "the deposed master was not told of its successor"
    );

    // The deposed master can no longer shape the set.
    let r = b0.alter(&addr, 1, &[0, 1], 2).await;
    assert_eq!(
        r.code,
        i32::from(ResponseCode::ControllerInvalidMaster),
        "{:?}",
        r.remark
    );
    // It comes back (heartbeats and registers again): it stays a replica.
    b0.heartbeat = CancellationToken::new();
    b0.start_heartbeat(&addr, 1000);
    let r = b0.register(&addr).await;
    assert_eq!(r.master_broker_id, Some(1));
    assert_eq!(r.master_epoch, Some(2));

    // A restarted controller remembers masters and epochs.
    controller.shutdown(Duration::from_secs(1)).await;
    let controller = Controller::start(config(dir.path())).await.unwrap();
    let addr = controller.local_addr().to_string();
    let fresh = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
    let (info, set) = replica_info(&fresh, &addr).await;
    assert_eq!(info.master_broker_id, Some(1));
    assert_eq!(info.master_epoch, Some(2));
    assert_eq!(set.sync_state_set_epoch, 3);
    controller.shutdown(Duration::from_secs(1)).await;
    let _ = Arc::new(());
}

#[tokio::test]
async fn bad_requests_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let controller = Controller::start(config(dir.path())).await.unwrap();
    let addr = controller.local_addr().to_string();
    let client = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
    // Missing header fields.
    let r = client
        .invoke(
            &addr,
            RemotingCommand::request(RequestCode::ControllerRegisterBroker),
            T,
        )
        .await
        .unwrap();
    assert_eq!(r.code, i32::from(ResponseCode::ControllerInvalidRequest));
    let remark = r.remark.unwrap_or_default();
    assert!(remark.contains("clusterName"), "{remark}");
    // An unknown group.
    let h = GetReplicaInfoRequestHeader {
        broker_name: "nobody".into(),
    };
    let r = client
        .invoke(
            &addr,
            RemotingCommand::request(RequestCode::ControllerGetReplicaInfo).with_header(&h),
            T,
        )
        .await
        .unwrap();
    assert_eq!(
        r.code,
        i32::from(ResponseCode::ControllerBrokerMetadataNotExist)
    );
    // A malformed SyncStateSet body.
    let h = AlterSyncStateSetRequestHeader {
        broker_name: "nobody".into(),
        master_broker_id: 0,
        master_epoch: 1,
        invoke_time: None,
    };
    let r = client
        .invoke(
            &addr,
            RemotingCommand::request(RequestCode::ControllerAlterSyncStateSet)
                .with_header(&h)
                .with_body(b"{not json".to_vec()),
            T,
        )
        .await
        .unwrap();
    assert_eq!(r.code, i32::from(ResponseCode::ControllerInvalidRequest));
    controller.shutdown(Duration::from_secs(1)).await;
}
