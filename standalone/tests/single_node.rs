//! The single-node mode: one call starts a NameServer and a broker that clients find through it.

use std::time::Duration;

use sluice_remoting::header::GetRouteInfoRequestHeader;
use sluice_remoting::net::{ClientConfig, ProcessorTable, RemotingClient};
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};
use sluice_standalone::{start, Args};

#[tokio::test]
async fn single_node_serves_routes_for_the_default_topics() {
    let dir = tempfile::tempdir().unwrap();
    let args = Args {
        data: dir.path().join("data"),
        namesrv_port: 0,
        broker_port: 0,
        broker_ip: "127.0.0.1".into(),
        metrics_port: 0,
        config_file: None,
    };
    let node = start(&args).await.unwrap();
    node.broker.register_now().await;
    let client = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
    let header = GetRouteInfoRequestHeader {
        topic: "TBW102".into(),
        ..Default::default()
    };
    let request = RemotingCommand::request(RequestCode::GetRouteinfoByTopic).with_header(&header);
    let response = client
        .invoke(
            &node.namesrv_addr().to_string(),
            request,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(
        response.code,
        ResponseCode::Success.as_i32(),
        "{:?}",
        response.remark
    );
    let body = String::from_utf8(response.body.to_bytes().to_vec()).unwrap();
    assert!(body.contains(&node.broker.broker_addr()), "{body}");
    assert!(dir.path().join("data/broker/config/topics.json").exists());
    node.shutdown().await.unwrap();
}
