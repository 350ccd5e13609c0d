//! Broker liveness: expiry after silence, removal when the connection closes, coming back on
//! re-registration; several NameServers side by side.

mod common;

use common::*;
use sluice_remoting::header::{BrokerHeartbeatRequestHeader, UnregisterBrokerRequestHeader};
use sluice_remoting::{RemotingCommand, RequestCode};

#[tokio::test]
async fn a_silent_broker_expires_and_comes_back_on_registration() {
    let ns = start_namesrv(|c| {
        c.broker_channel_expired_time = 300;
        c.scan_not_active_broker_interval = 50;
    })
    .await;
    let broker_conn = client();
    let asker = client();
    let broker = Broker::master("broker-a", "127.0.0.1:10911", &[("T", 4)]);
    assert_eq!(register(&broker_conn, &ns.addr, &broker).await.code, 0);
    assert_eq!(route(&asker, &ns.addr, "T", 479).await.code, 0);

    // The broker keeps its connection open but stops registering.
    eventually("the silent broker expires", || async {
        route(&asker, &ns.addr, "T", 479).await.code == 17
    })
    .await;
    assert_eq!(ns.server.state().routes.live_brokers(), 0);

    // The NameServer closed the zombie's connection; the next registration reconnects.
    assert_eq!(register(&broker_conn, &ns.addr, &broker).await.code, 0);
    assert_eq!(route(&asker, &ns.addr, "T", 479).await.code, 0);
}

#[tokio::test]
async fn heartbeats_keep_a_broker_alive() {
    let ns = start_namesrv(|c| {
        c.broker_channel_expired_time = 2_000;
        c.scan_not_active_broker_interval = 50;
    })
    .await;
    let c = client();
    let broker = Broker::master("broker-a", "127.0.0.1:10911", &[("T", 4)]);
    assert_eq!(register(&c, &ns.addr, &broker).await.code, 0);
    // BROKER_HEARTBEAT (oneway, as 5.x brokers send it) every 200 ms, far within the expiry
    // even on a loaded machine, for longer than one expiry period.
    for _ in 0..15 {
        let heartbeat = RemotingCommand::request(RequestCode::BrokerHeartbeat).with_header(
            &BrokerHeartbeatRequestHeader {
                cluster_name: "DefaultCluster".into(),
                broker_addr: "127.0.0.1:10911".into(),
                broker_name: "broker-a".into(),
                broker_id: Some(0),
                ..Default::default()
            },
        );
        c.invoke_oneway(&ns.addr, heartbeat).await.unwrap();
        assert_eq!(route(&c, &ns.addr, "T", 479).await.code, 0);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Silence: now it goes (and its connection with it, so ask over another one).
    let asker = client();
    eventually("the broker expires once the heartbeats stop", || async {
        route(&asker, &ns.addr, "T", 479).await.code == 17
    })
    .await;
}

#[tokio::test]
async fn a_closed_connection_removes_the_broker_at_once() {
    // The default 120 s expiry: only the closed connection can explain the removal.
    let ns = start_namesrv(|_| {}).await;
    let broker_conn = client();
    let asker = client();
    let a = Broker::master("broker-a", "127.0.0.1:10911", &[("T", 4), ("OnlyA", 1)]);
    let b = Broker::master("broker-b", "127.0.0.1:20911", &[("T", 2)]);
    assert_eq!(register(&broker_conn, &ns.addr, &a).await.code, 0);
    assert_eq!(register(&asker, &ns.addr, &b).await.code, 0);

    broker_conn.close_all();
    eventually("broker-a's routes disappear", || async {
        route(&asker, &ns.addr, "OnlyA", 479).await.code == 17
    })
    .await;
    let r = route(&asker, &ns.addr, "T", 333).await;
    assert_eq!(r.code, 0);
    assert!(!body_text(&r).contains("broker-a"), "{}", body_text(&r));

    // Back on re-registration over a new connection.
    assert_eq!(register(&broker_conn, &ns.addr, &a).await.code, 0);
    assert_eq!(route(&asker, &ns.addr, "OnlyA", 479).await.code, 0);
}

#[tokio::test]
async fn two_nameservers_are_independent() {
    let first = start_namesrv(|_| {}).await;
    let second = start_namesrv(|_| {}).await;
    assert_ne!(first.addr, second.addr);
    let c = client();
    let broker = Broker::master("broker-a", "127.0.0.1:10911", &[("T", 4)]);

    assert_eq!(register(&c, &first.addr, &broker).await.code, 0);
    assert_eq!(route(&c, &first.addr, "T", 479).await.code, 0);
    assert_eq!(route(&c, &second.addr, "T", 479).await.code, 17);

    // The broker registers with both; unregistering from one leaves the other alone.
    assert_eq!(register(&c, &second.addr, &broker).await.code, 0);
    let unregister = RemotingCommand::request(RequestCode::UnregisterBroker).with_header(
        &UnregisterBrokerRequestHeader {
            broker_name: "broker-a".into(),
            broker_addr: "127.0.0.1:10911".into(),
            cluster_name: "DefaultCluster".into(),
            broker_id: 0,
        },
    );
    assert_eq!(
        c.invoke(&first.addr, unregister, TIMEOUT)
            .await
            .unwrap()
            .code,
        0
    );
    assert_eq!(route(&c, &first.addr, "T", 479).await.code, 17);
    assert_eq!(route(&c, &second.addr, "T", 479).await.code, 0);

    // Shutting one down does not disturb the other.
    first
        .server
        .shutdown(std::time::Duration::from_secs(1))
        .await;
    assert_eq!(route(&c, &second.addr, "T", 479).await.code, 0);
}
