//! Connection limit and idle timeout, with small configured values. No durations are asserted:
//! only "eventually closed" and "still open".

mod net_common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use net_common::*;
use sluice_remoting::net::{ClientConfig, ProcessorTable, RemotingClient};
use tokio::net::TcpStream;

#[tokio::test]
async fn connections_beyond_the_limit_are_closed_at_once() {
    let mut config = local_config();
    config.max_connections = 2;
    let server = start(config, echo_table()).await;
    let addr = server.local_addr();

    let first = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
    let second = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
    for client in [&first, &second] {
        client
            .invoke(&addr.to_string(), echo_request("in"), RPC_TIMEOUT)
            .await
            .unwrap();
    }
    assert_eq!(server.active_connections(), 2);

    let mut third = TcpStream::connect(addr).await.unwrap();
    assert_eventually_closed(&mut third).await;
    assert_eq!(
        server.stats().connections_rejected.load(Ordering::Relaxed),
        1
    );

    // The admitted ones are unaffected.
    for client in [&first, &second] {
        let response = client
            .invoke(&addr.to_string(), echo_request("still"), RPC_TIMEOUT)
            .await
            .unwrap();
        assert_eq!(response.body.to_bytes(), Bytes::from("still"));
    }

    // Once one leaves, a newcomer gets its place.
    first.close(&addr.to_string());
    eventually("the server counted the departure", || {
        server.active_connections() == 1
    })
    .await;
    assert_served(addr).await;
}

#[tokio::test]
async fn silent_connection_is_closed_after_the_idle_timeout() {
    let mut config = local_config();
    config.idle_timeout = Duration::from_millis(200);
    let server = start(config, echo_table()).await;
    let mut silent = TcpStream::connect(server.local_addr()).await.unwrap();
    assert_eventually_closed(&mut silent).await;
    assert!(server.stats().closed_idle.load(Ordering::Relaxed) >= 1);
    eventually("the idle connection is forgotten", || {
        server.active_connections() == 0
    })
    .await;
}

#[tokio::test]
async fn busy_connection_is_not_idle() {
    let mut config = local_config();
    // Requests come ten times more often than the idle timeout.
    config.idle_timeout = Duration::from_secs(1);
    let server = start(config, echo_table()).await;
    let addr = server.local_addr().to_string();
    let client = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
    for i in 0..15 {
        let body = format!("tick-{i}");
        let response = client
            .invoke(&addr, echo_request(body.clone()), RPC_TIMEOUT)
            .await
            .unwrap();
        assert_eq!(response.body.to_bytes(), Bytes::from(body));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(server.stats().closed_idle.load(Ordering::Relaxed), 0);
    assert_eq!(
        server.stats().connections_accepted.load(Ordering::Relaxed),
        1
    );
}

#[tokio::test]
async fn client_side_idle_timeout_closes_and_next_use_reconnects() {
    let server = start(local_config(), echo_table()).await;
    let addr = server.local_addr().to_string();
    let config = ClientConfig {
        idle_timeout: Duration::from_millis(200),
        ..ClientConfig::default()
    };
    let client = RemotingClient::new(config, ProcessorTable::new());
    client
        .invoke(&addr, echo_request("first"), RPC_TIMEOUT)
        .await
        .unwrap();
    eventually("the client dropped its idle connection", || {
        !client.is_connected(&addr)
    })
    .await;
    let response = client
        .invoke(&addr, echo_request("again"), RPC_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(response.body.to_bytes(), Bytes::from("again"));
    assert_eq!(
        server.stats().connections_accepted.load(Ordering::Relaxed),
        2
    );
}

#[tokio::test]
async fn requests_beyond_the_in_flight_limit_get_system_busy() {
    use sluice_remoting::net::Channel;
    use sluice_remoting::{RemotingCommand, ResponseCode};
    const HELD: i32 = 1001;
    let mut config = local_config();
    config.max_in_flight_per_connection = 2;
    let table = echo_table().with(HELD, |_c: Channel, _r: RemotingCommand| async {
        std::future::pending::<()>().await;
        None
    });
    let server = start(config, table).await;
    let addr = server.local_addr().to_string();
    let client = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
    let held: Vec<_> = (0..2)
        .map(|_| {
            let client = client.clone();
            let addr = addr.clone();
            tokio::spawn(async move {
                client
                    .invoke(&addr, RemotingCommand::request(HELD), RPC_TIMEOUT)
                    .await
            })
        })
        .collect();
    eventually("both held", || server.in_flight_requests() == 2).await;
    let response = client
        .invoke(&addr, echo_request("third"), RPC_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(response.code, ResponseCode::SystemBusy.as_i32());
    assert!(response.remark.unwrap().starts_with("[OVERLOAD]"));
    assert_eq!(
        server.stats().requests_overloaded.load(Ordering::Relaxed),
        1
    );
    // Another connection has its own budget.
    assert_served(server.local_addr()).await;
    for handle in held {
        handle.abort();
    }
}
